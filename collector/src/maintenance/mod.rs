//! Preventive maintenance, stages 2 and 3 of the procedure: the annual plan of dated instances
//! ([`plan`]), the monthly software check with the agent's evidence ([`software`]), and the
//! provider's hardware visits with the technician's signature and the chief's stamp
//! ([`hardware`]). [`store`] keeps them in SQLite.
//!
//! Invariants:
//! - An instance is planned ahead and never deleted: a cancelled one stays, `anulado`, with why.
//! - Who may do what is decided here, by pure functions over the person and the instance
//!   ([`may`]); the pages and the API only ask.
//! - Every step is kept in `maintenance_events` (append-only) and in the audit log, in the
//!   transaction of the change.
//! - A form's hash ([`form_hash`]) is the SHA-256 of its canonical JSON: the same content always
//!   gives the same hash, and any change to it gives another.

pub mod contracts;
pub mod hardware;
pub mod plan;
pub mod software;
pub mod store;

use crate::auth::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The monthly check of Asterisk, the database and the admin application (stage 2).
    Software,
    /// The provider's visit under a contract (stage 3).
    Hardware,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Software => "software",
            Kind::Hardware => "hardware",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Software, Kind::Hardware].into_iter().find(|k| k.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Software => "Mantenimiento de software",
            Kind::Hardware => "Mantenimiento de hardware",
        }
    }
}

/// Where an instance is in its workflow. Software: programado → en curso → informado → analizado.
/// Hardware: programada → en verificación → firmada → (observada → firmada)* → autorizada.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Planned, nothing done yet.
    Programado,
    /// Software: evidence taken or the checklist started. Hardware: the form is being filled.
    EnCurso,
    /// Software: the technician reported to the chief.
    Informado,
    /// Software: the chief analysed the report (sin novedad, or falla with the action defined).
    Analizado,
    /// Hardware: the technician verified the provider's work and signed; awaiting the stamp.
    Firmado,
    /// Hardware: the chief sent observations back to the technician and the provider.
    Observado,
    /// Hardware: the chief stamped the form and authorized it.
    Autorizado,
    /// Cancelled by the chief, with a reason; not counted as planned.
    Anulado,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Programado,
        State::EnCurso,
        State::Informado,
        State::Analizado,
        State::Firmado,
        State::Observado,
        State::Autorizado,
        State::Anulado,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Programado => "programado",
            State::EnCurso => "en_curso",
            State::Informado => "informado",
            State::Analizado => "analizado",
            State::Firmado => "firmado",
            State::Observado => "observado",
            State::Autorizado => "autorizado",
            State::Anulado => "anulado",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The Spanish label, in the gender of the instance ("la visita", "el mantenimiento").
    pub fn label(self, kind: Kind) -> &'static str {
        let hw = kind == Kind::Hardware;
        match self {
            State::Programado if hw => "Programada",
            State::Programado => "Programado",
            State::EnCurso if hw => "En verificación",
            State::EnCurso => "En curso",
            State::Informado => "Informado al jefe",
            State::Analizado => "Analizado",
            State::Firmado => "Firmada, espera sello",
            State::Observado => "Con observaciones",
            State::Autorizado => "Autorizada (sellada)",
            State::Anulado if hw => "Anulada",
            State::Anulado => "Anulado",
        }
    }

    /// Whether the technician's part is done (what compliance counts).
    pub fn is_done(self) -> bool {
        matches!(self, State::Informado | State::Analizado | State::Firmado | State::Observado | State::Autorizado)
    }
}

/// What someone wants to do to maintenance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Generate or adjust the plan (technician, dates, cancel), manage providers and contracts.
    Plan,
    /// See an instance.
    View,
    /// Software: "verificar ahora", the checklist, attachments, submit. Hardware: fill the form.
    Work,
    /// Hardware: the technician's sign-off.
    Sign,
    /// Software: analyse the report. Hardware: observations or the stamp.
    Decide,
}

/// The person acting, as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Who {
    pub user_id: i64,
    pub role: Role,
    pub centers: Vec<i64>,
}

impl From<&crate::auth::User> for Who {
    fn from(u: &crate::auth::User) -> Self {
        Who { user_id: u.id, role: u.role, centers: u.centers.clone() }
    }
}

/// Why something is refused, in Spanish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refuse<T>(why: &str) -> Result<T, Refused> {
    Err(Refused(why.to_string()))
}

/// Whether `who` may `act` on an instance of a server in `center` assigned to `technician`.
/// `None` for the center: the server is not placed in one.
pub fn may(who: &Who, act: Act, center: Option<i64>, technician: Option<i64>) -> Result<(), Refused> {
    match (who.role, act) {
        (Role::JefeUact, _) if act != Act::Sign => Ok(()),
        (Role::JefeUact, Act::Sign) => refuse("la firma de verificación corresponde al técnico asignado"),
        (Role::Admin | Role::Director, Act::View) => Ok(()),
        (Role::JefeCentro, Act::View) if center.is_some_and(|c| who.centers.contains(&c)) => Ok(()),
        (Role::JefeCentro, Act::View) => refuse("solo puede ver el mantenimiento de sus centros telefónicos"),
        (Role::Tecnico, Act::View | Act::Work) => Ok(()),
        (Role::Tecnico, Act::Sign) if technician.is_none_or(|t| t == who.user_id) => Ok(()),
        (Role::Tecnico, Act::Sign) => refuse("solo el técnico asignado puede firmar la verificación"),
        (Role::Tecnico, Act::Decide) => {
            refuse("solo el Jefe de UACT analiza informes y coloca el sello de autorización")
        }
        (_, Act::Plan) => refuse("solo el Jefe de UACT elabora y ajusta el plan anual"),
        _ => refuse("su rol no permite esta acción de mantenimiento"),
    }
}

/// The SHA-256 of `form`'s canonical JSON (struct fields in declaration order, no whitespace).
pub fn form_hash<T: Serialize>(form: &T) -> [u8; 32] {
    let json = serde_json::to_vec(form).unwrap_or_default();
    Sha256::digest(&json).into()
}

/// A hash for people: the first 16 hex digits, enough to compare by eye on a printed form.
pub fn short_hash(h: &[u8]) -> String {
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role) -> Who {
        Who { user_id: 5, role, centers: vec![2] }
    }

    #[test]
    fn a_technician_works_and_signs_but_cannot_decide_or_plan() {
        let t = who(Role::Tecnico);
        assert!(may(&t, Act::Work, Some(1), Some(9)).is_ok());
        assert!(may(&t, Act::Sign, Some(1), Some(5)).is_ok());
        assert!(may(&t, Act::Sign, Some(1), None).is_ok(), "unassigned: any technician signs");
        assert!(may(&t, Act::Sign, Some(1), Some(9)).is_err(), "another technician's visit");
        assert!(may(&t, Act::Decide, Some(1), Some(5)).unwrap_err().0.contains("sello"));
        assert!(may(&t, Act::Plan, None, None).is_err());
    }

    #[test]
    fn the_chief_plans_and_decides_but_does_not_sign_for_the_technician() {
        let j = who(Role::JefeUact);
        for act in [Act::Plan, Act::View, Act::Work, Act::Decide] {
            assert!(may(&j, act, None, None).is_ok(), "{act:?}");
        }
        assert!(may(&j, Act::Sign, Some(1), Some(5)).is_err());
    }

    #[test]
    fn a_center_chief_only_sees_their_own_centers_and_changes_nothing() {
        let c = who(Role::JefeCentro);
        assert!(may(&c, Act::View, Some(2), None).is_ok());
        assert!(may(&c, Act::View, Some(3), None).is_err());
        assert!(may(&c, Act::View, None, None).is_err());
        for act in [Act::Plan, Act::Work, Act::Sign, Act::Decide] {
            assert!(may(&c, act, Some(2), None).is_err(), "{act:?}");
        }
        let d = who(Role::Director);
        assert!(may(&d, Act::View, Some(3), None).is_ok());
        assert!(may(&d, Act::Work, Some(3), None).is_err());
    }

    #[test]
    fn the_form_hash_changes_with_any_field_and_only_then() {
        #[derive(Serialize)]
        struct F<'a> {
            a: &'a str,
            b: u32,
        }
        assert_eq!(form_hash(&F { a: "x", b: 1 }), form_hash(&F { a: "x", b: 1 }));
        assert_ne!(form_hash(&F { a: "x", b: 1 }), form_hash(&F { a: "x ", b: 1 }));
        assert_ne!(form_hash(&F { a: "x", b: 1 }), form_hash(&F { a: "x", b: 2 }));
        assert_eq!(short_hash(&[0xab; 32]).len(), 16);
    }

    #[test]
    fn states_and_kinds_round_trip_through_their_stored_words() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(Kind::parse("hardware"), Some(Kind::Hardware));
        assert_eq!(State::EnCurso.label(Kind::Hardware), "En verificación");
    }
}
