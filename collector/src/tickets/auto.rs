//! What Centinela does to tickets when a rule detects a failure or sees it clear: one open ticket
//! per (server, problem key), repeated failures counted on it, a recently closed one reopened, an
//! older one followed by a new linked ticket. Pure: the rule engine finds the ticket and stores the
//! result in one transaction with its timeline entries.
//!
//! Invariants:
//! - [`on_problem_fired`] is called once per transition to failing (not per sample), with the
//!   problem's open ticket or, if none is open, its most recent one.
//! - A closed ticket is reopened when the failure returns less than `reopen_window` after the
//!   close (a zero window never reopens); later, a new ticket linked to it is opened. A cancelled
//!   ticket is never reopened by Centinela: the new ticket links to it, so UACT sees the history.
//! - Recovery never closes a ticket: it adds a "Recuperado" entry and the technician still closes
//!   it with the resolution, as the procedure's step 04 says.
//! - Everything here is written `By::Centinela`; permissions ([`super::model::check`]) are for people.

use super::model::{
    Automatic, By, CenterId, Channel, Event, Priority, Requester, ServerId, State, Ticket, TicketId, TimelineEntry,
    reopen,
};
use crate::calendar::format_duration;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A failure a rule detected, as the rule engine describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The server's call center; `None` while an admin has not placed the server in one.
    pub center_id: Option<CenterId>,
    pub server_id: ServerId,
    /// The problem's identity on its server, e.g. "raid:md0".
    pub problem_key: String,
    pub rule: String,
    /// What people read, in Spanish: "Arreglo RAID degradado en md0".
    pub title: String,
    pub description: String,
    /// The rule's suggestion; the UACT chief confirms or changes it when assigning.
    pub priority: Option<Priority>,
}

/// A rule's severity is the priority it suggests for the ticket it opens.
impl From<crate::rules::Severity> for Priority {
    fn from(s: crate::rules::Severity) -> Self {
        use crate::rules::Severity;
        match s {
            Severity::Low => Priority::Low,
            Severity::Medium => Priority::Medium,
            Severity::High => Priority::High,
            Severity::Critical => Priority::Critical,
        }
    }
}

/// What to do when a problem fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoDecision {
    /// No ticket for this problem yet: open one with [`open`].
    Open,
    /// Its ticket is open: one more occurrence (the updated ticket and the entry to append).
    AddOccurrence(Ticket, Vec<TimelineEntry>),
    /// Its ticket was closed less than the reopen window ago: reopened.
    Reopen(Ticket, Vec<TimelineEntry>),
    /// Its ticket was closed longer ago, or cancelled: open a new one with [`open`], linked to it.
    OpenLinked { previous: TicketId },
}

fn entry(now: DateTime<Utc>, event: Event, from: Option<State>, to: State, text: String) -> TimelineEntry {
    TimelineEntry { at: now, by: By::Centinela, event, from, to, text }
}

/// Decides what a new firing of a problem does to `open_or_recent`, the problem's open ticket or,
/// if none is open, its most recent one. A ticket that Centinela did not generate is not the
/// problem's: a new one is opened.
pub fn on_problem_fired(open_or_recent: Option<&Ticket>, now: DateTime<Utc>, reopen_window: Duration) -> AutoDecision {
    let Some(old) = open_or_recent.filter(|t| t.automatic.is_some()) else {
        return AutoDecision::Open;
    };
    let since_close = old.closed_at.map(|c| (now - c).to_std().unwrap_or_default());
    let reopens = match old.state {
        State::Solicitado | State::Asignado | State::EnAtencion => false,
        State::Cerrado if since_close.is_some_and(|s| s < reopen_window) => true,
        State::Cerrado | State::Cancelado => return AutoDecision::OpenLinked { previous: old.id },
    };
    let mut t = old.clone();
    let Some(auto) = t.automatic.as_mut() else {
        return AutoDecision::Open;
    };
    let had_recovered = auto.recovered_at.is_some();
    auto.occurrences = auto.occurrences.saturating_add(1);
    auto.last_fired = now;
    auto.recovered_at = None;
    let count = auto.occurrences;
    if reopens {
        reopen(&mut t, now);
        let text = format!(
            "Reabierto automáticamente: la falla volvió a detectarse {} después del cierre (ocurrencia {count}).",
            format_duration(since_close.unwrap_or_default())
        );
        let e = entry(now, Event::Reopened, Some(old.state), t.state, text);
        return AutoDecision::Reopen(t, vec![e]);
    }
    let text = if had_recovered {
        format!("La falla volvió a detectarse después de recuperarse (ocurrencia {count}).")
    } else {
        format!("La falla se detectó de nuevo (ocurrencia {count}).")
    };
    let e = entry(now, Event::Occurrence { count }, Some(old.state), t.state, text);
    AutoDecision::AddOccurrence(t, vec![e])
}

/// A new generated ticket ("Generado automáticamente") in Solicitado, optionally linked to the
/// problem's earlier ticket. `id` is the id the store will insert it under.
pub fn open(
    id: TicketId,
    problem: Problem,
    linked_to: Option<TicketId>,
    now: DateTime<Utc>,
) -> (Ticket, Vec<TimelineEntry>) {
    let mut text = format!("Regla «{}», falla «{}».", problem.rule, problem.problem_key);
    if let Some(prev) = linked_to {
        text.push_str(&format!(" La misma falla tuvo antes el requerimiento #{prev}."));
    }
    let title = match problem.title.trim() {
        "" => format!("Falla detectada: {}", problem.rule),
        t => t.to_string(),
    };
    let ticket = Ticket {
        id,
        center_id: problem.center_id,
        server_id: Some(problem.server_id),
        title,
        description: problem.description.trim().to_string(),
        channel: Channel::Automatic,
        requester: Requester::Centinela,
        filed_by: By::Centinela,
        state: State::Solicitado,
        priority: problem.priority,
        assignee: None,
        created_at: now,
        assigned_at: None,
        contacted_at: None,
        closed_at: None,
        cancelled_at: None,
        reopened_at: None,
        resolution: None,
        automatic: Some(Automatic {
            problem_key: problem.problem_key,
            rule: problem.rule,
            occurrences: 1,
            last_fired: now,
            recovered_at: None,
        }),
        linked_to,
    };
    let e = entry(now, Event::Filed { channel: Channel::Automatic }, None, State::Solicitado, text);
    (ticket, vec![e])
}

/// The failure cleared: a "Recuperado" entry on the ticket, which stays open for the technician to
/// close. `None` when there is nothing to record (closed, cancelled, not generated, already
/// recovered).
pub fn on_problem_resolved(ticket: &Ticket, now: DateTime<Utc>) -> Option<(Ticket, Vec<TimelineEntry>)> {
    if !ticket.is_open() || ticket.automatic.as_ref()?.recovered_at.is_some() {
        return None;
    }
    let mut t = ticket.clone();
    t.automatic.as_mut()?.recovered_at = Some(now);
    let text = "Centinela ya no detecta la falla. El requerimiento sigue abierto hasta que el técnico lo cierre con la solución aplicada.";
    let e = entry(now, Event::Recovered, Some(t.state), t.state, text.to_string());
    Some((t, vec![e]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::tickets::model::tests::{CENTER, TECH, chief, t0, tech, ticket_in};
    use crate::tickets::model::{Action, Assignee, apply};
    use chrono::TimeDelta;

    const DAY: Duration = Duration::from_secs(86_400);

    fn problem() -> Problem {
        Problem {
            center_id: Some(CENTER),
            server_id: 7,
            problem_key: "raid:md0".into(),
            rule: "raid_degradado".into(),
            title: "Arreglo RAID degradado (md0)".into(),
            description: "Miembro fallido: sdb1".into(),
            priority: Some(Priority::High),
        }
    }

    fn opened() -> Ticket {
        open(5, problem(), None, t0()).0
    }

    /// The generated ticket walked to Cerrado by the chief and the technician, `closed_at` = t0 + 1 h.
    fn closed() -> Ticket {
        let mut t = opened();
        let at = |h| t0() + TimeDelta::hours(h);
        let assign = Action::Assign {
            priority: Priority::High,
            assignee: Assignee { user_id: TECH, role: Role::Tecnico },
            note: String::new(),
        };
        t = apply(&t, assign, &chief(), at(0)).unwrap().0;
        t = apply(&t, Action::RecordContact { note: "llamé".into() }, &tech(), at(0)).unwrap().0;
        apply(&t, Action::Close { resolution: "disco cambiado".into() }, &tech(), at(1)).unwrap().0
    }

    #[test]
    fn a_rule_s_severity_suggests_the_priority_with_the_same_spanish_word() {
        for s in crate::rules::Severity::ALL {
            let p = Priority::from(s);
            assert_eq!(p.label().to_lowercase(), s.es());
        }
    }

    #[test]
    fn a_first_failure_opens_a_generated_ticket_in_solicitado() {
        assert_eq!(on_problem_fired(None, t0(), DAY), AutoDecision::Open);
        let (t, e) = open(5, problem(), None, t0());
        assert_eq!((t.state, t.channel, t.filed_by), (State::Solicitado, Channel::Automatic, By::Centinela));
        assert_eq!(
            (t.requester.clone(), t.priority, t.server_id),
            (Requester::Centinela, Some(Priority::High), Some(7))
        );
        let auto = t.automatic.unwrap();
        assert_eq!((auto.occurrences, auto.last_fired, auto.recovered_at), (1, t0(), None));
        assert_eq!(e[0].event.label(), "Generado automáticamente");
        assert_eq!((e[0].by, e[0].from, e[0].to), (By::Centinela, None, State::Solicitado));
        assert!(e[0].text.contains("raid_degradado"), "{}", e[0].text);
    }

    #[test]
    fn a_repeated_failure_on_an_open_ticket_counts_an_occurrence_and_keeps_the_state() {
        let mut t = opened();
        for n in 2..=4 {
            let now = t0() + TimeDelta::minutes(n);
            let AutoDecision::AddOccurrence(next, e) = on_problem_fired(Some(&t), now, DAY) else {
                panic!("expected an occurrence");
            };
            let auto = next.automatic.as_ref().unwrap();
            assert_eq!((auto.occurrences, auto.last_fired, next.state), (n as u32, now, State::Solicitado));
            assert_eq!(e[0].event, Event::Occurrence { count: n as u32 });
            assert_eq!((e[0].by, e[0].from, e[0].to), (By::Centinela, Some(State::Solicitado), State::Solicitado));
            t = next;
        }
    }

    #[test]
    fn an_occurrence_after_recovery_clears_the_recovery_and_says_so() {
        let (recovered, _) = on_problem_resolved(&opened(), t0() + TimeDelta::minutes(5)).unwrap();
        let AutoDecision::AddOccurrence(t, e) = on_problem_fired(Some(&recovered), t0() + TimeDelta::minutes(9), DAY)
        else {
            panic!("expected an occurrence");
        };
        assert_eq!(t.automatic.unwrap().recovered_at, None);
        assert!(e[0].text.contains("después de recuperarse"), "{}", e[0].text);
    }

    #[test]
    fn a_failure_inside_the_reopen_window_reopens_the_closed_ticket_with_its_technician() {
        let c = closed();
        let now = c.closed_at.unwrap() + TimeDelta::hours(23);
        let AutoDecision::Reopen(t, e) = on_problem_fired(Some(&c), now, DAY) else {
            panic!("expected a reopening");
        };
        assert_eq!((t.state, t.assignee, t.reopened_at, t.closed_at), (State::Asignado, Some(TECH), Some(now), None));
        assert_eq!(t.resolution, None);
        assert_eq!(t.automatic.as_ref().unwrap().occurrences, 2);
        assert_eq!((e[0].event.clone(), e[0].by), (Event::Reopened, By::Centinela));
        assert_eq!((e[0].from, e[0].to), (Some(State::Cerrado), State::Asignado));
        assert!(e[0].text.contains("23 h después del cierre"), "{}", e[0].text);
    }

    #[test]
    fn a_failure_after_the_reopen_window_opens_a_new_ticket_linked_to_the_closed_one() {
        let c = closed();
        for late in [TimeDelta::hours(24), TimeDelta::days(30)] {
            let now = c.closed_at.unwrap() + late;
            assert_eq!(on_problem_fired(Some(&c), now, DAY), AutoDecision::OpenLinked { previous: 5 });
        }
        let (t, e) = open(6, problem(), Some(5), t0() + TimeDelta::days(2));
        assert_eq!((t.linked_to, t.automatic.unwrap().occurrences), (Some(5), 1));
        assert!(e[0].text.contains("requerimiento #5"), "{}", e[0].text);
    }

    #[test]
    fn a_zero_reopen_window_never_reopens() {
        let c = closed();
        assert_eq!(
            on_problem_fired(Some(&c), c.closed_at.unwrap(), Duration::ZERO),
            AutoDecision::OpenLinked { previous: 5 }
        );
    }

    #[test]
    fn a_cancelled_generated_ticket_is_followed_by_a_linked_one_even_inside_the_window() {
        let cancel = Action::Cancel { reason: "falsa alarma".into() };
        let (c, _) = apply(&opened(), cancel, &chief(), t0()).unwrap();
        let now = t0() + TimeDelta::minutes(1);
        assert_eq!(on_problem_fired(Some(&c), now, DAY), AutoDecision::OpenLinked { previous: 5 });
    }

    #[test]
    fn a_ticket_filed_by_people_is_not_the_problem_s_ticket() {
        let manual = ticket_in(State::Asignado);
        assert_eq!(on_problem_fired(Some(&manual), t0(), DAY), AutoDecision::Open);
        assert_eq!(on_problem_resolved(&manual, t0()), None);
    }

    #[test]
    fn recovery_adds_recuperado_and_leaves_the_ticket_open_for_the_technician() {
        for state in [State::Solicitado, State::Asignado, State::EnAtencion] {
            let mut t = opened();
            t.state = state;
            let now = t0() + TimeDelta::minutes(30);
            let (r, e) = on_problem_resolved(&t, now).unwrap();
            assert_eq!(r.state, state);
            assert_eq!(r.automatic.as_ref().unwrap().recovered_at, Some(now));
            assert_eq!((e[0].event.label(), e[0].by), ("Recuperado", By::Centinela));
            assert_eq!((e[0].from, e[0].to), (Some(state), state));
            assert_eq!(on_problem_resolved(&r, now + TimeDelta::minutes(1)), None, "recorded once");
        }
        assert_eq!(on_problem_resolved(&closed(), t0() + TimeDelta::days(1)), None);
    }

    #[test]
    fn the_technician_closes_a_recovered_ticket_as_usual() {
        let (r, _) = on_problem_resolved(&opened(), t0()).unwrap();
        let assign = Action::Assign {
            priority: Priority::Medium,
            assignee: Assignee { user_id: TECH, role: Role::Tecnico },
            note: String::new(),
        };
        let (t, _) = apply(&r, assign, &chief(), t0()).unwrap();
        let (t, _) = apply(&t, Action::RecordContact { note: "avisé al centro".into() }, &tech(), t0()).unwrap();
        let (t, _) =
            apply(&t, Action::Close { resolution: "se recuperó sola; revisado".into() }, &tech(), t0()).unwrap();
        assert_eq!(t.state, State::Cerrado);
    }
}
