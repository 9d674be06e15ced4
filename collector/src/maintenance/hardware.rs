//! The provider's hardware visit (stage 3): the form, the technician's signature, the chief's
//! observations or stamp. Pure: every transition takes the visit as it is and returns the visit as
//! it becomes, or why not; the web layer stores the result.
//!
//! Invariants:
//! - Programada → en verificación (the form is being filled) → firmada → (con observaciones →
//!   firmada)* → autorizada. The form can be edited while programada, en verificación or con
//!   observaciones, never while it waits for the stamp (firmada).
//! - A signature records the hash of the form as signed; the chief may stamp only a form whose
//!   hash is still that one. A stamp keeps the exact form and its hash (`maintenance_stamps`).
//! - A stamp is valid while the form's hash equals the latest stamp's. Editing an authorized form
//!   is allowed, but it invalidates the stamp, visibly, and sends the visit back to en
//!   verificación: it needs a new signature and a new stamp.
//! - Who may do what is [`super::may`]; this module adds only what depends on the visit's state
//!   and content.

use super::{Act, State, Who, form_hash, may};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a page shows when the stamp no longer matches the form.
pub const STAMP_INVALID: &str = "Sello invalidado: el formulario cambió después de la autorización";

/// The longest maintenance window accepted when the chief adjusts a visit (that of a silence).
pub const MAX_WINDOW_MS: i64 = crate::silences::MAX_LENGTH.as_millis() as i64;

/// One point of the checklist, as the technician found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    Ok,
    Falla,
    NoAplica,
}

impl Check {
    pub const ALL: [Check; 3] = [Check::Ok, Check::Falla, Check::NoAplica];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Ok => "ok",
            Check::Falla => "falla",
            Check::NoAplica => "no_aplica",
        }
    }

    pub fn parse(s: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Check::Ok => "Correcto",
            Check::Falla => "Falla",
            Check::NoAplica => "No aplica",
        }
    }
}

/// What the technician verified on the server after the provider's work. `None`: not checked yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checklist {
    pub limpieza: Option<Check>,
    pub ventiladores: Option<Check>,
    pub fuentes: Option<Check>,
    pub discos: Option<Check>,
    pub temperaturas: Option<Check>,
    pub cableado: Option<Check>,
}

impl Checklist {
    /// The points, as (form field, label), in the order the form shows them.
    pub const ITEMS: [(&'static str, &'static str); 6] = [
        ("limpieza", "Limpieza interna y externa"),
        ("ventiladores", "Ventiladores"),
        ("fuentes", "Fuentes de poder"),
        ("discos", "Discos y arreglo RAID"),
        ("temperaturas", "Temperaturas"),
        ("cableado", "Cableado y UPS"),
    ];

    pub fn get(&self, key: &str) -> Option<Check> {
        match key {
            "limpieza" => self.limpieza,
            "ventiladores" => self.ventiladores,
            "fuentes" => self.fuentes,
            "discos" => self.discos,
            "temperaturas" => self.temperaturas,
            "cableado" => self.cableado,
            _ => None,
        }
    }

    /// Sets a point by its form field; an unknown field is ignored.
    pub fn set(&mut self, key: &str, value: Option<Check>) {
        let slot = match key {
            "limpieza" => &mut self.limpieza,
            "ventiladores" => &mut self.ventiladores,
            "fuentes" => &mut self.fuentes,
            "discos" => &mut self.discos,
            "temperaturas" => &mut self.temperaturas,
            "cableado" => &mut self.cableado,
            _ => return,
        };
        *slot = value;
    }

    /// The labels of the points not checked yet.
    pub fn missing(&self) -> Vec<&'static str> {
        Self::ITEMS.iter().filter(|(k, _)| self.get(k).is_none()).map(|(_, l)| *l).collect()
    }
}

/// The maintenance form ("formato de mantenimiento"): what the provider did and what the
/// technician verified. Its canonical JSON (fields in this order) is what is hashed and stamped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisitForm {
    /// The day the provider actually came.
    pub visited_on: Option<NaiveDate>,
    /// The provider's staff who came.
    pub provider_staff: String,
    /// The work the provider did, as their maintenance form says.
    pub work_done: String,
    /// Parts replaced (empty: none).
    pub parts_replaced: String,
    pub checklist: Checklist,
    /// The technician's verification of the provider's work, with their observations.
    pub verification: String,
}

/// Trims and turns CRLF into LF, so that the same text typed in any browser hashes the same.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\r', "\n").trim().to_string()
}

impl VisitForm {
    /// The form as stored: texts trimmed, line ends normalised.
    pub fn normalized(mut self) -> Self {
        for s in [&mut self.provider_staff, &mut self.work_done, &mut self.parts_replaced, &mut self.verification] {
            *s = clean(s);
        }
        self
    }

    pub fn hash(&self) -> [u8; 32] {
        form_hash(self)
    }
}

/// What is kept in `maintenance.data` for a visit: the form, and the hash it had when it was last
/// signed (hex).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisitData {
    pub form: VisitForm,
    pub signed_hash: Option<String>,
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A visit as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    pub state: State,
    pub form: VisitForm,
    pub center: Option<i64>,
    pub technician: Option<i64>,
    /// The form's hash at the latest signature.
    pub signed_hash: Option<[u8; 32]>,
    /// The latest stamp's hash.
    pub stamp_hash: Option<[u8; 32]>,
    /// The first signature (ms UTC).
    pub done_at: Option<i64>,
}

impl Visit {
    /// The visit of a stored instance: its `data` JSON ("{}" when just planned) and the hash of its
    /// latest stamp, if any.
    pub fn from_stored(
        state: State,
        data: &str,
        center: Option<i64>,
        technician: Option<i64>,
        stamp_hash: Option<[u8; 32]>,
        done_at: Option<i64>,
    ) -> Result<Self, serde_json::Error> {
        let d: VisitData = serde_json::from_str(data)?;
        Ok(Visit {
            state,
            form: d.form,
            center,
            technician,
            signed_hash: d.signed_hash.as_deref().and_then(unhex),
            stamp_hash,
            done_at,
        })
    }

    /// What goes back into `maintenance.data`.
    pub fn data(&self) -> String {
        let d = VisitData { form: self.form.clone(), signed_hash: self.signed_hash.map(|h| hex(&h)) };
        serde_json::to_string(&d).unwrap_or_else(|_| "{}".into())
    }

    pub fn stamp_status(&self) -> StampStatus {
        match self.stamp_hash {
            None => StampStatus::None,
            Some(h) if h == self.form.hash() => StampStatus::Valid,
            Some(_) => StampStatus::Invalid,
        }
    }
}

/// Whether the form carries a valid authorization stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampStatus {
    /// Never stamped.
    None,
    /// The latest stamp is of the form as it is.
    Valid,
    /// The form changed after the latest stamp ([`STAMP_INVALID`]).
    Invalid,
}

/// Why a step is refused, in Spanish; the web layer answers 403, 409 and 422.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The person's role (or center) does not allow it.
    #[error("{0}")]
    NotAllowed(String),
    /// Nobody may do it in the visit's current state.
    #[error("{0}")]
    WrongState(String),
    /// The form or the data given is not acceptable; the text names the fix.
    #[error("{0}")]
    Invalid(String),
}

impl From<super::Refused> for Denied {
    fn from(r: super::Refused) -> Self {
        Denied::NotAllowed(r.0)
    }
}

/// A step taken: the visit after it, the audit action, the text kept in the history, and the
/// form's hash after the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub visit: Visit,
    /// `maintenance.edit`, `.sign`, `.resubmit`, `.observe`, `.stamp`.
    pub action: &'static str,
    pub text: String,
    pub hash: [u8; 32],
}

fn wrong_state<T>(s: State) -> Result<T, Denied> {
    let why = match s {
        State::Firmado => "la visita está firmada y espera el sello del Jefe de UACT",
        State::Autorizado => "la visita ya está autorizada",
        State::Anulado => "la visita está anulada",
        State::Programado => "primero llene el formato de mantenimiento",
        State::Observado => "la visita tiene observaciones: el técnico corrige y firma de nuevo",
        State::EnCurso => "el técnico aún no ha firmado la verificación",
        State::Informado | State::Analizado => "ese estado no es de una visita de hardware",
    };
    Err(Denied::WrongState(why.into()))
}

fn editable(s: State) -> bool {
    matches!(s, State::Programado | State::EnCurso | State::Observado | State::Autorizado)
}

/// Whether `who` may edit the form now (for the page's buttons; [`edit`] decides).
pub fn may_edit(v: &Visit, who: &Who) -> bool {
    editable(v.state) && may(who, Act::Work, v.center, v.technician).is_ok()
}

/// Whether the page offers `who` the signature (the form's content is checked by [`sign`]). A
/// programada visit is offered it too: the page saves the form first, which starts the verification.
pub fn may_sign(v: &Visit, who: &Who) -> bool {
    matches!(v.state, State::Programado | State::EnCurso | State::Observado)
        && may(who, Act::Sign, v.center, v.technician).is_ok()
}

/// Whether `who` may send observations or stamp now.
pub fn may_decide(v: &Visit, who: &Who) -> bool {
    v.state == State::Firmado && may(who, Act::Decide, v.center, v.technician).is_ok()
}

/// Whether `who` may change the visit's date, window and technician.
pub fn may_adjust(v: &Visit, who: &Who) -> bool {
    matches!(v.state, State::Programado | State::EnCurso | State::Observado)
        && may(who, Act::Plan, v.center, v.technician).is_ok()
}

/// The technician or the chief saves the form. Programada becomes en verificación; an authorized
/// visit goes back to en verificación with its stamp invalidated; con observaciones stays so until
/// it is signed again.
pub fn edit(v: &Visit, who: &Who, form: VisitForm) -> Result<Change, Denied> {
    may(who, Act::Work, v.center, v.technician)?;
    if !editable(v.state) {
        return wrong_state(v.state);
    }
    let form = form.normalized();
    if form == v.form {
        return Err(Denied::Invalid("el formulario no cambió: no hay nada que guardar".into()));
    }
    let mut next = v.clone();
    next.form = form;
    let hash = next.form.hash();
    let text = match v.state {
        State::Autorizado => STAMP_INVALID.to_string(),
        _ => String::new(),
    };
    next.state = match v.state {
        State::Observado => State::Observado,
        _ => State::EnCurso,
    };
    Ok(Change { visit: next, action: "maintenance.edit", text, hash })
}

/// The assigned technician verifies the provider's work and signs (`today`: the local date, for
/// the visit's date). A visit with observations signed again is a resubmission. The first
/// signature is when the visit counts as done.
pub fn sign(v: &Visit, who: &Who, today: NaiveDate, now_ms: i64) -> Result<Change, Denied> {
    may(who, Act::Sign, v.center, v.technician)?;
    if !matches!(v.state, State::EnCurso | State::Observado) {
        return wrong_state(v.state);
    }
    let f = &v.form;
    let mut missing = Vec::new();
    match f.visited_on {
        None => missing.push("anote la fecha real de la visita".to_string()),
        Some(d) if d > today => {
            missing.push(format!("la fecha de la visita ({}) es posterior a hoy; corríjala", d.format("%d/%m/%Y")))
        }
        Some(_) => {}
    }
    if f.work_done.trim().is_empty() {
        missing.push("anote el trabajo que realizó el proveedor (formato de mantenimiento)".into());
    }
    if f.verification.trim().is_empty() {
        missing.push("anote su verificación del trabajo del proveedor, con sus observaciones".into());
    }
    let unchecked = f.checklist.missing();
    if !unchecked.is_empty() {
        missing.push(format!("marque cada punto de la lista de verificación (falta: {})", unchecked.join(", ")));
    }
    if !missing.is_empty() {
        return Err(Denied::Invalid(format!("Para firmar, {}.", missing.join("; "))));
    }
    let hash = f.hash();
    let mut next = v.clone();
    next.state = State::Firmado;
    next.signed_hash = Some(hash);
    next.done_at = v.done_at.or(Some(now_ms));
    let action = if v.state == State::Observado { "maintenance.resubmit" } else { "maintenance.sign" };
    Ok(Change { visit: next, action, text: String::new(), hash })
}

/// The chief sends observations back to the technician and the provider.
pub fn observe(v: &Visit, who: &Who, text: &str) -> Result<Change, Denied> {
    may(who, Act::Decide, v.center, v.technician)?;
    if v.state != State::Firmado {
        return wrong_state(v.state);
    }
    let text = clean(text);
    if text.is_empty() {
        return Err(Denied::Invalid("escriba las observaciones para el técnico y el proveedor".into()));
    }
    let mut next = v.clone();
    next.state = State::Observado;
    Ok(Change { visit: next, action: "maintenance.observe", text, hash: v.form.hash() })
}

/// The chief stamps and authorizes the form as the technician signed it. The caller keeps the
/// form's exact JSON with the hash.
pub fn stamp(v: &Visit, who: &Who) -> Result<Change, Denied> {
    may(who, Act::Decide, v.center, v.technician)?;
    if v.state != State::Firmado {
        return wrong_state(v.state);
    }
    let hash = v.form.hash();
    if v.signed_hash != Some(hash) {
        return Err(Denied::WrongState(
            "el formulario cambió después de la firma del técnico: debe verificarlo y firmar de nuevo".into(),
        ));
    }
    let mut next = v.clone();
    next.state = State::Autorizado;
    next.stamp_hash = Some(hash);
    Ok(Change { visit: next, action: "maintenance.stamp", text: String::new(), hash })
}

/// Checks that the chief may move the visit to a new window `[start, end)` (ms UTC).
pub fn adjust(v: &Visit, who: &Who, window: (i64, i64)) -> Result<(), Denied> {
    may(who, Act::Plan, v.center, v.technician)?;
    if !matches!(v.state, State::Programado | State::EnCurso | State::Observado) {
        return Err(Denied::WrongState(
            "solo se ajusta la fecha de una visita que aún no está firmada ni autorizada".into(),
        ));
    }
    let (start, end) = window;
    if end <= start {
        return Err(Denied::Invalid("el fin de la ventana de mantenimiento debe ser posterior a su inicio".into()));
    }
    if end - start < 60_000 {
        return Err(Denied::Invalid("la ventana de mantenimiento debe durar al menos un minuto".into()));
    }
    if end - start > MAX_WINDOW_MS {
        return Err(Denied::Invalid("la ventana de mantenimiento no puede durar más de 31 días".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    const TECH: i64 = 7;

    fn tech() -> Who {
        Who { user_id: TECH, role: Role::Tecnico, centers: vec![] }
    }

    fn chief() -> Who {
        Who { user_id: 1, role: Role::JefeUact, centers: vec![] }
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 2, d).unwrap()
    }

    fn planned() -> Visit {
        Visit::from_stored(State::Programado, "{}", Some(2), Some(TECH), None, None).unwrap()
    }

    fn filled() -> VisitForm {
        let mut checklist = Checklist::default();
        for (k, _) in Checklist::ITEMS {
            checklist.set(k, Some(Check::Ok));
        }
        checklist.set("cableado", Some(Check::NoAplica));
        VisitForm {
            visited_on: Some(day(16)),
            provider_staff: "Carlos Méndez (Servicios Técnicos SA)".into(),
            work_done: "Limpieza interna, cambio de ventilador trasero\r\n".into(),
            parts_replaced: "Ventilador 80 mm".into(),
            checklist,
            verification: "  Verificado: el servidor arranca y el RAID está sincronizado.  ".into(),
        }
    }

    #[test]
    fn the_whole_loop_sign_observe_resubmit_stamp_keeps_every_round() {
        let v = planned();
        let e = edit(&v, &tech(), filled()).unwrap();
        assert_eq!(e.visit.state, State::EnCurso);
        assert_eq!(e.visit.form.work_done, "Limpieza interna, cambio de ventilador trasero", "normalised");
        let s = sign(&e.visit, &tech(), day(16), 1_000).unwrap();
        assert_eq!((s.visit.state, s.action), (State::Firmado, "maintenance.sign"));
        assert_eq!(s.visit.done_at, Some(1_000));
        assert_eq!(s.visit.signed_hash, Some(s.visit.form.hash()));

        let o = observe(&s.visit, &chief(), "Falta el número de serie del ventilador").unwrap();
        assert_eq!(o.visit.state, State::Observado);
        assert_eq!(o.text, "Falta el número de serie del ventilador");

        let mut corrected = o.visit.form.clone();
        corrected.parts_replaced = "Ventilador 80 mm, serie FN-20931".into();
        let e2 = edit(&o.visit, &tech(), corrected).unwrap();
        assert_eq!(e2.visit.state, State::Observado, "stays with observations until signed again");
        let r = sign(&e2.visit, &tech(), day(17), 2_000).unwrap();
        assert_eq!((r.visit.state, r.action), (State::Firmado, "maintenance.resubmit"));
        assert_eq!(r.visit.done_at, Some(1_000), "done at the first signature");
        assert_ne!(r.hash, s.hash, "each round has the hash of the form as it was");

        let st = stamp(&r.visit, &chief()).unwrap();
        assert_eq!(st.visit.state, State::Autorizado);
        assert_eq!(st.hash, r.hash, "the stamp is of the form as signed");
        assert_eq!(st.visit.stamp_status(), StampStatus::Valid);
    }

    #[test]
    fn an_edit_after_the_stamp_invalidates_it_and_needs_a_new_signature_and_stamp() {
        let v = planned();
        let v = edit(&v, &tech(), filled()).unwrap().visit;
        let v = sign(&v, &tech(), day(16), 1).unwrap().visit;
        let v = stamp(&v, &chief()).unwrap().visit;
        let mut changed = v.form.clone();
        changed.verification.push_str(" Se revisó de nuevo el UPS.");
        let e = edit(&v, &chief(), changed).unwrap();
        assert_eq!(e.visit.state, State::EnCurso);
        assert_eq!(e.text, STAMP_INVALID);
        assert_eq!(e.visit.stamp_status(), StampStatus::Invalid);
        assert!(stamp(&e.visit, &chief()).is_err(), "not signed again yet");
        let s = sign(&e.visit, &tech(), day(16), 5).unwrap().visit;
        let again = stamp(&s, &chief()).unwrap().visit;
        assert_eq!(again.stamp_status(), StampStatus::Valid);
        // The stored form round-trips, with the hash of its signature.
        let back = Visit::from_stored(again.state, &again.data(), Some(2), Some(TECH), again.stamp_hash, again.done_at)
            .unwrap();
        assert_eq!(back, again);
    }

    #[test]
    fn signing_names_every_missing_part_of_the_form() {
        let v = edit(&planned(), &tech(), VisitForm { provider_staff: "Carlos".into(), ..Default::default() })
            .unwrap()
            .visit;
        let Err(Denied::Invalid(why)) = sign(&v, &tech(), day(16), 1) else { panic!("an empty form is signed") };
        for part in ["fecha real", "trabajo que realizó el proveedor", "verificación", "Ventiladores", "Cableado"] {
            assert!(why.contains(part), "{part} not named in: {why}");
        }
        let mut future = filled();
        future.visited_on = Some(day(20));
        let v = edit(&planned(), &tech(), future).unwrap().visit;
        let Err(Denied::Invalid(why)) = sign(&v, &tech(), day(16), 1) else { panic!("a future date is signed") };
        assert!(why.contains("20/02/2027") && why.contains("posterior a hoy"), "{why}");
        assert!(matches!(sign(&planned(), &tech(), day(16), 1), Err(Denied::WrongState(_))), "nothing filled yet");
    }

    #[test]
    fn roles_are_refused_by_the_rules_of_maintenance() {
        let v = edit(&planned(), &tech(), filled()).unwrap().visit;
        let other = Who { user_id: 99, ..tech() };
        assert!(matches!(sign(&v, &other, day(16), 1), Err(Denied::NotAllowed(_))), "another technician");
        assert!(matches!(sign(&v, &chief(), day(16), 1), Err(Denied::NotAllowed(_))), "the chief does not sign");
        let signed = sign(&v, &tech(), day(16), 1).unwrap().visit;
        let Err(Denied::NotAllowed(why)) = stamp(&signed, &tech()) else { panic!("a technician stamped") };
        assert!(why.contains("sello"), "{why}");
        assert!(matches!(observe(&signed, &tech(), "x"), Err(Denied::NotAllowed(_))));
        let center_chief = Who { user_id: 3, role: Role::JefeCentro, centers: vec![2] };
        assert!(matches!(edit(&v, &center_chief, filled()), Err(Denied::NotAllowed(_))));
        assert!(matches!(adjust(&v, &center_chief, (0, 3_600_000)), Err(Denied::NotAllowed(_))));
        assert!(matches!(adjust(&v, &tech(), (0, 3_600_000)), Err(Denied::NotAllowed(_))));
        assert!(!may_decide(&signed, &tech()) && may_decide(&signed, &chief()));
        assert!(may_sign(&v, &tech()) && !may_sign(&v, &chief()));
    }

    #[test]
    fn a_signed_form_waits_for_the_chief_and_cannot_be_edited_or_stamped_if_changed() {
        let v = edit(&planned(), &tech(), filled()).unwrap().visit;
        let signed = sign(&v, &tech(), day(16), 1).unwrap().visit;
        assert!(matches!(edit(&signed, &tech(), VisitForm::default()), Err(Denied::WrongState(_))));
        assert!(matches!(observe(&signed, &chief(), " \r\n "), Err(Denied::Invalid(_))), "text required");
        // The form changed behind the signature (not through `edit`): no stamp.
        let mut tampered = signed.clone();
        tampered.form.work_done.push('!');
        let Err(Denied::WrongState(why)) = stamp(&tampered, &chief()) else { panic!("stamped a changed form") };
        assert!(why.contains("firmar de nuevo"), "{why}");
        assert!(matches!(stamp(&v, &chief()), Err(Denied::WrongState(_))), "not signed");
        assert!(matches!(edit(&v, &tech(), v.form.clone()), Err(Denied::Invalid(_))), "nothing changed");
    }

    #[test]
    fn an_adjusted_window_ends_after_it_starts_and_lasts_at_most_31_days() {
        let v = planned();
        assert!(adjust(&v, &chief(), (1_000, 3_601_000)).is_ok());
        for bad in [(5, 5), (10, 5), (0, 30_000), (0, MAX_WINDOW_MS + 1)] {
            assert!(matches!(adjust(&v, &chief(), bad), Err(Denied::Invalid(_))), "{bad:?}");
        }
        let signed = sign(&edit(&v, &tech(), filled()).unwrap().visit, &tech(), day(16), 1).unwrap().visit;
        assert!(matches!(adjust(&signed, &chief(), (0, 3_600_000)), Err(Denied::WrongState(_))));
        assert!(!may_adjust(&signed, &chief()) && may_adjust(&v, &chief()));
    }

    #[test]
    fn the_form_hash_is_that_of_its_canonical_json_and_survives_storage() {
        let f = filled().normalized();
        let stored = Visit { form: f.clone(), ..planned() }.data();
        let back = Visit::from_stored(State::EnCurso, &stored, None, None, None, None).unwrap();
        assert_eq!(back.form.hash(), f.hash());
        assert_eq!(unhex(&hex(&f.hash())), Some(f.hash()));
        assert_eq!(Check::parse("no_aplica"), Some(Check::NoAplica));
        assert!(serde_json::to_string(&f).unwrap().contains("\"cableado\":\"no_aplica\""));
    }
}
