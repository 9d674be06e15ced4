//! The monthly report's review loop (stage 4, steps 03–05 of the procedure) as plain types: the
//! states, who may do what ([`may`]), the transitions, the due date and which drafts are missing.
//! No I/O: [`super::store`] keeps what these functions decide.
//!
//! Invariants:
//! - Borrador → enviado al Jefe de UACT → (devuelto con observaciones → enviado)* → aprobado y
//!   remitido al jefe de centro → remitido a su jefatura. Nothing goes back from aprobado.
//! - Only a technician prepares and sends; only the Jefe de UACT returns or approves; only the
//!   jefe de centro of the report's center forwards it to their superiors. The admin and the
//!   director read. A jefe de centro sees a report of their own centers once it was remitted to
//!   them (aprobado or later): a draft, with its recordings' observations about their operators,
//!   is UACT's until the chief approves it.
//! - Every send opens a new round (1, 2, ...); what was sent in each round is kept, and so is
//!   each return's observations.
//! - A report is due on day [`DUE_DAY`] of the following month (guideline b: "el tabulado
//!   mensual ... tres días posteriores de finalizado el mes"); it is on time when it was first
//!   sent to the chief on or before that local date.

use crate::auth::Role;
use crate::maintenance::Who;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// The day of the following month a report is due.
pub const DUE_DAY: u32 = 3;

/// Where a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The technician prepares it: figures, outgoing-call verification, recording QA.
    Borrador,
    /// Sent to the Jefe de UACT for review.
    Enviado,
    /// Returned by the chief with observations; the technician adjusts and sends again.
    Devuelto,
    /// Approved by the chief and remitted to the call center's chief.
    Aprobado,
    /// The call center's chief remitted it to their own superiors.
    Remitido,
}

impl State {
    pub const ALL: [State; 5] = [State::Borrador, State::Enviado, State::Devuelto, State::Aprobado, State::Remitido];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Borrador => "borrador",
            State::Enviado => "enviado",
            State::Devuelto => "devuelto",
            State::Aprobado => "aprobado",
            State::Remitido => "remitido",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The words of the procedure, as the pages show them.
    pub fn label(self) -> &'static str {
        match self {
            State::Borrador => "Borrador",
            State::Enviado => "Enviado al Jefe de UACT",
            State::Devuelto => "Devuelto con observaciones",
            State::Aprobado => "Aprobado y remitido al jefe de centro",
            State::Remitido => "Remitido a su jefatura",
        }
    }

    /// The badge's colour class.
    pub fn css(self) -> &'static str {
        match self {
            State::Borrador => "muted",
            State::Enviado => "info",
            State::Devuelto => "warn",
            State::Aprobado | State::Remitido => "ok",
        }
    }

    /// The technician holds it: figures, verification and QA may change.
    pub fn is_open(self) -> bool {
        matches!(self, State::Borrador | State::Devuelto)
    }

    /// The call center's chief has received it.
    pub fn reached_center(self) -> bool {
        matches!(self, State::Aprobado | State::Remitido)
    }
}

/// What someone wants to do to reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// See a report (its page, exports, recordings of its sample).
    View,
    /// Recalculate, the outgoing-call verification, the QA sample and scores, the summary, send.
    Prepare,
    /// Return with observations, or approve and remit.
    Review,
    /// Remit to the center chief's superiors.
    Forward,
    /// Draft the missing reports of a month now, without waiting for the 1st.
    Draft,
}

/// Why something is refused: not this person (403), not now (409), or not with these data (422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    Invalid(String),
}

fn not_allowed<T>(why: &str) -> Result<T, Denied> {
    Err(Denied::NotAllowed(why.to_string()))
}

/// Whether `who` may `act` on a report of `center` in `state` (`None` for acts on no report).
pub fn may(who: &Who, act: Act, center: Option<i64>, state: Option<State>) -> Result<(), Denied> {
    let own = center.is_some_and(|c| who.centers.contains(&c));
    match (who.role, act) {
        (Role::Admin | Role::Director | Role::JefeUact | Role::Tecnico, Act::View) => Ok(()),
        (Role::JefeCentro, Act::View) if !own => not_allowed("solo puede ver los informes de sus centros telefónicos"),
        (Role::JefeCentro, Act::View) if state.is_some_and(State::reached_center) => Ok(()),
        (Role::JefeCentro, Act::View) => {
            not_allowed("este informe aún no le fue remitido: el Jefe de UACT lo remite cuando lo aprueba")
        }
        (Role::Tecnico, Act::Prepare) => Ok(()),
        (_, Act::Prepare) => not_allowed("el informe lo prepara y envía el técnico de UACT"),
        (Role::JefeUact, Act::Review | Act::Draft) => Ok(()),
        (_, Act::Review) => not_allowed("solo el Jefe de UACT revisa, devuelve o aprueba el informe"),
        (_, Act::Draft) => not_allowed("solo el Jefe de UACT genera los borradores de los informes"),
        (Role::JefeCentro, Act::Forward) if own => Ok(()),
        (_, Act::Forward) => {
            not_allowed("solo el jefe del centro telefónico del informe lo remite a su jefatura inmediata")
        }
    }
}

/// The QA of the month as far as sending needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QaProgress {
    /// The sample was proposed (it may be empty: a month without calls).
    pub proposed: bool,
    pub sampled: usize,
    /// Scored, or marked as not assessable with the reason.
    pub evaluated: usize,
}

/// A report as its transitions need it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub state: State,
    pub center_id: i64,
    /// How many times it was sent (0: never).
    pub round: u32,
    /// The figures were computed and stored.
    pub has_figures: bool,
    /// The monthly verification of outgoing calls (guideline a): `Some(true)` the system works,
    /// `Some(false)` a fault was found; `None`: not done yet.
    pub outbound_ok: Option<bool>,
    pub outbound_notes: String,
    pub qa: QaProgress,
    /// When it was first sent (ms UTC).
    pub submitted_at: Option<i64>,
}

/// A step's result: the report as it becomes, and what the audit log and the history record.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub report: Report,
    /// The audit action, `report.<verb>`.
    pub action: &'static str,
    pub text: String,
}

fn wrong_state<T>(s: State) -> Result<T, Denied> {
    let why = match s {
        State::Borrador | State::Devuelto => "el informe está con el técnico: aún no fue enviado al Jefe de UACT",
        State::Enviado => "el informe está en revisión del Jefe de UACT: no se modifica hasta que lo devuelva",
        State::Aprobado => "el informe ya fue aprobado y remitido: ya no cambia",
        State::Remitido => "el informe ya fue remitido a la jefatura: ya no cambia",
    };
    Err(Denied::WrongState(why.to_string()))
}

fn clean(text: &str) -> String {
    text.replace("\r\n", "\n").trim().to_string()
}

/// Whether `who` may change the report's working content now (recalculate, verify, QA, summary).
pub fn check_prepare(r: &Report, who: &Who) -> Result<(), Denied> {
    may(who, Act::Prepare, Some(r.center_id), Some(r.state))?;
    if !r.state.is_open() {
        return wrong_state(r.state);
    }
    Ok(())
}

/// The technician records the monthly verification of outgoing calls. A fault needs its notes.
pub fn verify_outbound(r: &Report, who: &Who, ok: Option<bool>, notes: &str) -> Result<Change, Denied> {
    check_prepare(r, who)?;
    let Some(ok) = ok else {
        return Err(Denied::Invalid(
            "indique el resultado de la verificación de llamadas salientes: funciona correctamente, o falla detectada"
                .into(),
        ));
    };
    let notes = clean(notes);
    if !ok && notes.is_empty() {
        return Err(Denied::Invalid("describa la falla detectada en las llamadas salientes".into()));
    }
    let mut next = r.clone();
    next.outbound_ok = Some(ok);
    next.outbound_notes = notes.clone();
    let word = if ok { "funciona correctamente" } else { "falla detectada" };
    let text = if notes.is_empty() { word.to_string() } else { format!("{word}: {notes}") };
    Ok(Change { report: next, action: "report.outbound", text })
}

/// The technician sends the report to the chief (again, after a return). Everything the chief
/// reviews must be there: the figures, the outgoing-call verification, the QA sample with every
/// call evaluated.
pub fn send(r: &Report, who: &Who, now_ms: i64) -> Result<Change, Denied> {
    may(who, Act::Prepare, Some(r.center_id), Some(r.state))?;
    if !r.state.is_open() {
        return wrong_state(r.state);
    }
    let mut missing = Vec::new();
    if !r.has_figures {
        missing.push("calcule las cifras del mes (Recalcular)".to_string());
    }
    if r.outbound_ok.is_none() {
        missing.push("registre la verificación mensual de las llamadas salientes".to_string());
    }
    if !r.qa.proposed {
        missing.push("proponga la muestra de grabaciones y evalúela".to_string());
    } else if r.qa.evaluated < r.qa.sampled {
        missing.push(format!(
            "evalúe las grabaciones de la muestra (faltan {} de {})",
            r.qa.sampled - r.qa.evaluated,
            r.qa.sampled
        ));
    }
    if !missing.is_empty() {
        return Err(Denied::Invalid(format!("Para enviar el informe, {}.", missing.join("; "))));
    }
    let mut next = r.clone();
    next.state = State::Enviado;
    next.round = r.round + 1;
    next.submitted_at = r.submitted_at.or(Some(now_ms));
    let action = if r.state == State::Devuelto { "report.resend" } else { "report.send" };
    let text = format!("ronda {}", next.round);
    Ok(Change { report: next, action, text })
}

/// The chief returns the report to the technician with observations (required).
pub fn give_back(r: &Report, who: &Who, observations: &str) -> Result<Change, Denied> {
    may(who, Act::Review, Some(r.center_id), Some(r.state))?;
    if r.state != State::Enviado {
        return wrong_state(r.state);
    }
    let text = clean(observations);
    if text.is_empty() {
        return Err(Denied::Invalid("escriba las observaciones para el técnico".into()));
    }
    let mut next = r.clone();
    next.state = State::Devuelto;
    Ok(Change { report: next, action: "report.return", text })
}

/// The chief approves the report as sent and remits it to the call center's chief.
pub fn approve(r: &Report, who: &Who, note: &str) -> Result<Change, Denied> {
    may(who, Act::Review, Some(r.center_id), Some(r.state))?;
    if r.state != State::Enviado {
        return wrong_state(r.state);
    }
    let mut next = r.clone();
    next.state = State::Aprobado;
    Ok(Change { report: next, action: "report.approve", text: clean(note) })
}

/// The call center's chief remits the approved report to their superiors.
pub fn forward(r: &Report, who: &Who, note: &str) -> Result<Change, Denied> {
    may(who, Act::Forward, Some(r.center_id), Some(r.state))?;
    if r.state != State::Aprobado {
        return match r.state {
            State::Remitido => wrong_state(r.state),
            _ => Err(Denied::WrongState("el informe aún no fue aprobado por el Jefe de UACT".into())),
        };
    }
    let mut next = r.clone();
    next.state = State::Remitido;
    Ok(Change { report: next, action: "report.forward", text: clean(note) })
}

/// The month before the one of `today`.
pub fn previous_month(today: NaiveDate) -> (i32, u32) {
    if today.month() == 1 { (today.year() - 1, 12) } else { (today.year(), today.month() - 1) }
}

/// When the report of `year`/`month` is due: day [`DUE_DAY`] of the following month.
pub fn due_on(year: i32, month: u32) -> NaiveDate {
    let (y, m) = if month >= 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(y, m, DUE_DAY).unwrap_or(NaiveDate::MIN)
}

/// How a report stands against its due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Not sent yet, not due yet.
    Pending,
    /// Not sent and past its due date.
    Overdue,
    /// First sent on or before the due date.
    OnTime,
    /// First sent after it.
    Late,
}

impl Timing {
    /// `first_sent`: the local date of the first send.
    pub fn of(due: NaiveDate, first_sent: Option<NaiveDate>, today: NaiveDate) -> Timing {
        match first_sent {
            Some(d) if d <= due => Timing::OnTime,
            Some(_) => Timing::Late,
            None if today > due => Timing::Overdue,
            None => Timing::Pending,
        }
    }

    /// "vence el 03/12", "vencido (vencía el 03/12)", "entregado a tiempo", "entregado con atraso".
    pub fn label(self, due: NaiveDate) -> String {
        let d = due.format("%d/%m");
        match self {
            Timing::Pending => format!("vence el {d}"),
            Timing::Overdue => format!("vencido (vencía el {d})"),
            Timing::OnTime => "entregado a tiempo".into(),
            Timing::Late => format!("entregado con atraso (vencía el {d})"),
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Timing::Pending => "muted",
            Timing::Overdue => "crit",
            Timing::OnTime => "ok",
            Timing::Late => "warn",
        }
    }
}

/// The reports to draft on `today`: the previous month's of every center in `centers` that has
/// none in `existing` (center, year, month). Run on any day, not only the 1st, so that a collector
/// that was down on the 1st catches up; never the current month, which is not over.
pub fn due_drafts(today: NaiveDate, centers: &[i64], existing: &[(i64, i32, u32)]) -> Vec<(i64, i32, u32)> {
    let (year, month) = previous_month(today);
    let mut out: Vec<(i64, i32, u32)> =
        centers.iter().filter(|c| !existing.contains(&(**c, year, month))).map(|c| (*c, year, month)).collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENTER: i64 = 2;

    fn who(role: Role) -> Who {
        Who { user_id: 5, role, centers: if role == Role::JefeCentro { vec![CENTER] } else { vec![] } }
    }

    fn draft() -> Report {
        Report {
            state: State::Borrador,
            center_id: CENTER,
            round: 0,
            has_figures: false,
            outbound_ok: None,
            outbound_notes: String::new(),
            qa: QaProgress::default(),
            submitted_at: None,
        }
    }

    fn ready() -> Report {
        Report {
            has_figures: true,
            outbound_ok: Some(true),
            qa: QaProgress { proposed: true, sampled: 3, evaluated: 3 },
            ..draft()
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn the_whole_loop_send_return_resend_approve_forward_keeps_the_rounds() {
        let (tec, jefe, centro) = (who(Role::Tecnico), who(Role::JefeUact), who(Role::JefeCentro));
        let s = send(&ready(), &tec, 1_000).unwrap();
        assert_eq!((s.report.state, s.report.round, s.action), (State::Enviado, 1, "report.send"));
        assert_eq!(s.report.submitted_at, Some(1_000));
        let d = give_back(&s.report, &jefe, "  Falta explicar la caída del 14.\r\n").unwrap();
        assert_eq!((d.report.state, d.text.as_str()), (State::Devuelto, "Falta explicar la caída del 14."));
        assert!(check_prepare(&d.report, &tec).is_ok(), "returned: the technician adjusts it");
        let r = send(&d.report, &tec, 5_000).unwrap();
        assert_eq!((r.report.state, r.report.round, r.action), (State::Enviado, 2, "report.resend"));
        assert_eq!(r.report.submitted_at, Some(1_000), "on time is judged by the first send");
        let a = approve(&r.report, &jefe, "").unwrap();
        assert_eq!(a.report.state, State::Aprobado);
        let f = forward(&a.report, &centro, "Remitido a la Dirección de Renta").unwrap();
        assert_eq!((f.report.state, f.action), (State::Remitido, "report.forward"));
        assert!(matches!(forward(&f.report, &centro, ""), Err(Denied::WrongState(_))));
        assert!(matches!(give_back(&a.report, &jefe, "x"), Err(Denied::WrongState(_))), "nothing goes back");
    }

    #[test]
    fn sending_names_everything_that_is_missing() {
        let Err(Denied::Invalid(why)) = send(&draft(), &who(Role::Tecnico), 1) else { panic!("sent a bare draft") };
        for part in ["Recalcular", "llamadas salientes", "muestra de grabaciones"] {
            assert!(why.contains(part), "{part}: {why}");
        }
        let half = Report { qa: QaProgress { proposed: true, sampled: 5, evaluated: 3 }, ..ready() };
        let Err(Denied::Invalid(why)) = send(&half, &who(Role::Tecnico), 1) else { panic!("sent unscored calls") };
        assert!(why.contains("faltan 2 de 5"), "{why}");
        let empty_month = Report { qa: QaProgress { proposed: true, sampled: 0, evaluated: 0 }, ..ready() };
        assert!(send(&empty_month, &who(Role::Tecnico), 1).is_ok(), "a month without calls has an empty sample");
    }

    #[test]
    fn each_role_does_only_its_step() {
        let (tec, jefe, centro, admin, dir) =
            (who(Role::Tecnico), who(Role::JefeUact), who(Role::JefeCentro), who(Role::Admin), who(Role::Director));
        for w in [&jefe, &centro, &admin, &dir] {
            assert!(matches!(send(&ready(), w, 1), Err(Denied::NotAllowed(_))), "{:?}", w.role);
        }
        let sent = send(&ready(), &tec, 1).unwrap().report;
        for w in [&tec, &centro, &admin, &dir] {
            assert!(matches!(approve(&sent, w, ""), Err(Denied::NotAllowed(_))), "{:?}", w.role);
            assert!(matches!(give_back(&sent, w, "x"), Err(Denied::NotAllowed(_))), "{:?}", w.role);
        }
        let approved = approve(&sent, &jefe, "").unwrap().report;
        for w in [&tec, &jefe, &admin, &dir] {
            assert!(matches!(forward(&approved, w, ""), Err(Denied::NotAllowed(_))), "{:?}", w.role);
        }
        let other_center = Who { centers: vec![9], ..centro.clone() };
        assert!(matches!(forward(&approved, &other_center, ""), Err(Denied::NotAllowed(_))));
        assert!(matches!(give_back(&sent, &jefe, " \n "), Err(Denied::Invalid(_))), "observations required");
        assert!(matches!(check_prepare(&sent, &tec), Err(Denied::WrongState(_))), "in review: frozen");
        assert!(may(&jefe, Act::Draft, None, None).is_ok() && may(&tec, Act::Draft, None, None).is_err());
    }

    #[test]
    fn a_center_chief_sees_only_their_centers_reports_once_remitted_to_them() {
        let c = who(Role::JefeCentro);
        assert!(may(&c, Act::View, Some(CENTER), Some(State::Aprobado)).is_ok());
        assert!(may(&c, Act::View, Some(CENTER), Some(State::Remitido)).is_ok());
        for s in [State::Borrador, State::Enviado, State::Devuelto] {
            let Err(Denied::NotAllowed(why)) = may(&c, Act::View, Some(CENTER), Some(s)) else { panic!("{s:?}") };
            assert!(why.contains("aún no le fue remitido"), "{why}");
        }
        assert!(may(&c, Act::View, Some(7), Some(State::Aprobado)).is_err(), "another center");
        for r in [Role::Admin, Role::Director, Role::JefeUact, Role::Tecnico] {
            assert!(may(&who(r), Act::View, Some(7), Some(State::Borrador)).is_ok(), "{r:?}");
        }
    }

    #[test]
    fn the_outgoing_call_verification_needs_a_result_and_a_fault_needs_its_notes() {
        let tec = who(Role::Tecnico);
        assert!(matches!(verify_outbound(&draft(), &tec, None, "x"), Err(Denied::Invalid(_))));
        assert!(matches!(verify_outbound(&draft(), &tec, Some(false), "  "), Err(Denied::Invalid(_))));
        let c = verify_outbound(&draft(), &tec, Some(false), "La troncal 2 rechaza llamadas a celulares").unwrap();
        assert_eq!(c.report.outbound_ok, Some(false));
        assert_eq!(c.text, "falla detectada: La troncal 2 rechaza llamadas a celulares");
        let ok = verify_outbound(&draft(), &tec, Some(true), "").unwrap();
        assert_eq!(ok.text, "funciona correctamente");
        assert!(matches!(verify_outbound(&draft(), &who(Role::JefeUact), Some(true), ""), Err(Denied::NotAllowed(_))));
    }

    #[test]
    fn a_report_is_due_on_the_third_of_the_following_month() {
        assert_eq!(due_on(2026, 11), day(2026, 12, 3));
        assert_eq!(due_on(2026, 12), day(2027, 1, 3));
        let due = due_on(2026, 11);
        assert_eq!(Timing::of(due, None, day(2026, 12, 1)), Timing::Pending);
        assert_eq!(Timing::of(due, None, day(2026, 12, 3)), Timing::Pending, "due day itself is not late");
        assert_eq!(Timing::of(due, None, day(2026, 12, 4)), Timing::Overdue);
        assert_eq!(Timing::of(due, Some(day(2026, 12, 3)), day(2026, 12, 20)), Timing::OnTime);
        assert_eq!(Timing::of(due, Some(day(2026, 12, 4)), day(2026, 12, 20)), Timing::Late);
        assert_eq!(Timing::Pending.label(due), "vence el 03/12");
        assert!(Timing::Overdue.label(due).starts_with("vencido"));
    }

    #[test]
    fn drafting_on_the_first_makes_the_previous_months_missing_reports_only() {
        let centers = [1, 2, 3];
        assert_eq!(due_drafts(day(2026, 12, 1), &centers, &[]), vec![(1, 2026, 11), (2, 2026, 11), (3, 2026, 11)]);
        assert_eq!(due_drafts(day(2026, 12, 1), &centers, &[(2, 2026, 11)]), vec![(1, 2026, 11), (3, 2026, 11)]);
        assert_eq!(due_drafts(day(2027, 1, 1), &[4], &[]), vec![(4, 2026, 12)], "January drafts December");
        // A collector that was down on the 1st drafts on the next day it runs; the current month
        // is never drafted, and a month already drafted is not drafted again.
        assert_eq!(due_drafts(day(2026, 12, 17), &[1], &[]), vec![(1, 2026, 11)]);
        assert!(due_drafts(day(2026, 12, 17), &[1], &[(1, 2026, 11)]).is_empty());
        assert!(due_drafts(day(2026, 12, 1), &[], &[]).is_empty());
    }

    #[test]
    fn states_round_trip_through_their_stored_words() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::Aprobado.label(), "Aprobado y remitido al jefe de centro");
    }
}
