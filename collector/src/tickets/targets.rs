//! Time targets of corrective tickets: time to assign and time to close, per priority, on the
//! business calendar; when a ticket is due and whether it is overdue ("Vencido"). Pure.
//!
//! Invariants:
//! - Both targets count from the start of the ticket's current cycle ([`Ticket::clock_start`]: filing,
//!   or the last reopening), as GLPI and Znuny count time to own and time to resolve.
//! - Until the UACT chief assesses a request it has no priority: its time to assign is
//!   `unassessed_assign`, and it has no close target yet. Once a priority is set, the assignment
//!   target is that priority's (a critical request assigned after an hour is shown as late).
//! - Crítica counts 24×7 by default: a telephony outage does not wait for Monday. The other
//!   priorities count working hours only (see [`crate::calendar`]).
//! - Only the step the ticket is waiting for can be overdue: assignment while Solicitado, closure
//!   while Asignado or En atención; Cerrado and Cancelado are never overdue.
//!
//! Configuration (all keys optional; each priority's missing keys keep their defaults):
//!
//! ```toml
//! [tickets.targets]
//! unassessed_assign = "4h"
//! [tickets.targets.critica]
//! assign = "30m"
//! close = "4h"
//! clock = "24x7"        # or "business"
//! [tickets.targets.alta]
//! assign = "2h"
//! close = "1d"          # on the business clock, "Nd" is N business days
//! ```

use super::model::{Priority, State, Ticket};
use crate::calendar::{Calendar, Clock, Span, format_duration};
use centinela_agent::config::ConfigError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

/// `[tickets.targets]` as written in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTargets {
    /// Time to assign a request the UACT chief has not assessed yet (no priority), in business
    /// time. Default "4h".
    pub unassessed_assign: Option<String>,
    /// Crítica. Default assign "30m", close "4h", clock "24x7".
    pub critica: Option<RawTarget>,
    /// Alta. Default assign "2h", close "1d", clock "business".
    pub alta: Option<RawTarget>,
    /// Media. Default assign "4h", close "3d", clock "business".
    pub media: Option<RawTarget>,
    /// Baja. Default assign "1d", close "5d", clock "business".
    pub baja: Option<RawTarget>,
}

/// One priority's targets.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Time to assign, e.g. "30m", "2h", "1d" (whole business days on the business clock).
    pub assign: Option<String>,
    /// Time to close, counted from filing, e.g. "4h", "3d".
    pub close: Option<String>,
    /// "business" (working hours only) or "24x7".
    pub clock: Option<String>,
}

/// One priority's validated targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub assign: Span,
    pub close: Span,
}

/// The validated targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// Time to assign while there is no priority.
    pub unassessed_assign: Span,
    pub critical: Target,
    pub high: Target,
    pub medium: Target,
    pub low: Target,
}

const HOUR: u64 = 3600;

impl Default for Targets {
    fn default() -> Self {
        let h = |n: u64| Duration::from_secs(n * HOUR);
        Self {
            unassessed_assign: Span::Business(h(4)),
            critical: Target { assign: Span::Wall(Duration::from_secs(30 * 60)), close: Span::Wall(h(4)) },
            high: Target { assign: Span::Business(h(2)), close: Span::BusinessDays(1) },
            medium: Target { assign: Span::Business(h(4)), close: Span::BusinessDays(3) },
            low: Target { assign: Span::BusinessDays(1), close: Span::BusinessDays(5) },
        }
    }
}

/// The config keys of one priority: (assign, close, clock).
fn keys(p: Priority) -> (&'static str, &'static str, &'static str) {
    match p {
        Priority::Critical => {
            ("tickets.targets.critica.assign", "tickets.targets.critica.close", "tickets.targets.critica.clock")
        }
        Priority::High => ("tickets.targets.alta.assign", "tickets.targets.alta.close", "tickets.targets.alta.clock"),
        Priority::Medium => {
            ("tickets.targets.media.assign", "tickets.targets.media.close", "tickets.targets.media.clock")
        }
        Priority::Low => ("tickets.targets.baja.assign", "tickets.targets.baja.close", "tickets.targets.baja.clock"),
    }
}

fn clock_of(span: Span) -> Clock {
    match span {
        Span::Wall(_) => Clock::Wall,
        Span::Business(_) | Span::BusinessDays(_) => Clock::Business,
    }
}

/// A priority's targets from its raw table over its defaults. Changing only `clock` re-reads the
/// defaults on the new clock (crítica on "business" is 30 business minutes / 4 business hours).
fn target(p: Priority, raw: Option<RawTarget>, default: Target) -> Result<Target, ConfigError> {
    let raw = raw.unwrap_or_default();
    let (assign_key, close_key, clock_key) = keys(p);
    let clock = match raw.clock.as_deref() {
        Some(s) => Clock::parse(clock_key, s)?,
        None => clock_of(default.close),
    };
    let convert = |span: Span| match (clock, span) {
        (Clock::Business, Span::Wall(d)) => Span::Business(d),
        (Clock::Wall, Span::Business(d)) => Span::Wall(d),
        (Clock::Wall, Span::BusinessDays(n)) => Span::Wall(Duration::from_secs(u64::from(n) * 24 * HOUR)),
        (_, s) => s,
    };
    let assign = match raw.assign.as_deref() {
        Some(s) => Span::parse(assign_key, s, clock)?,
        None => convert(default.assign),
    };
    let close = match raw.close.as_deref() {
        Some(s) => Span::parse(close_key, s, clock)?,
        None => convert(default.close),
    };
    let longer = match (assign, close) {
        (Span::Wall(a), Span::Wall(c)) | (Span::Business(a), Span::Business(c)) => a > c,
        (Span::BusinessDays(a), Span::BusinessDays(c)) => a > c,
        _ => false,
    };
    if longer {
        return Err(centinela_agent::config::invalid(
            assign_key,
            format!("is longer than `{close_key}`; a ticket must be assigned before it can be closed"),
        ));
    }
    Ok(Target { assign, close })
}

impl Targets {
    /// Validates `[tickets.targets]`; every error names its key and the fix.
    pub fn from_raw(raw: RawTargets) -> Result<Self, ConfigError> {
        let d = Self::default();
        let unassessed_assign = match raw.unassessed_assign.as_deref() {
            Some(s) => Span::parse("tickets.targets.unassessed_assign", s, Clock::Business)?,
            None => d.unassessed_assign,
        };
        Ok(Self {
            unassessed_assign,
            critical: target(Priority::Critical, raw.critica, d.critical)?,
            high: target(Priority::High, raw.alta, d.high)?,
            medium: target(Priority::Medium, raw.media, d.medium)?,
            low: target(Priority::Low, raw.baja, d.low)?,
        })
    }

    pub fn get(&self, p: Priority) -> Target {
        match p {
            Priority::Critical => self.critical,
            Priority::High => self.high,
            Priority::Medium => self.medium,
            Priority::Low => self.low,
        }
    }

    /// The assignment target of a ticket with this priority (or none yet).
    pub fn assign(&self, p: Option<Priority>) -> Span {
        p.map_or(self.unassessed_assign, |p| self.get(p).assign)
    }
}

/// When the current cycle of a ticket is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// `None` when this cycle has no assignment step: reopened with its technician kept.
    pub assign_by: Option<DateTime<Utc>>,
    /// `None` until the ticket has a priority.
    pub close_by: Option<DateTime<Utc>>,
}

/// When `ticket` must be assigned and closed, on `calendar`.
pub fn due(ticket: &Ticket, calendar: &Calendar, targets: &Targets) -> Due {
    let start = ticket.clock_start();
    let reopened_assigned = ticket.reopened_at.is_some() && ticket.assignee.is_some();
    Due {
        assign_by: (!reopened_assigned).then(|| calendar.add_span(start, targets.assign(ticket.priority))),
        close_by: ticket.priority.map(|p| calendar.add_span(start, targets.get(p).close)),
    }
}

/// The step a ticket is late on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Assignment,
    Closure,
}

impl Step {
    /// "asignación" or "cierre".
    pub fn label(self) -> &'static str {
        match self {
            Step::Assignment => "asignación",
            Step::Closure => "cierre",
        }
    }
}

/// A ticket past its due time ("Vencido").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    pub what: Step,
    pub due: DateTime<Utc>,
    /// How late, on the target's clock: business time for business targets, so a request due on
    /// Friday at closing is 0 min late all weekend and 1 h late on Monday at 09:00.
    pub by: Duration,
    pub clock: Clock,
}

impl Overdue {
    /// For people: "Vencido (asignación) hace 2 h 15 min hábiles", or without "hace" while no
    /// time has counted yet.
    pub fn describe(&self) -> String {
        let head = format!("Vencido ({})", self.what.label());
        if self.by < Duration::from_secs(60) {
            return head;
        }
        let unit = match self.clock {
            Clock::Business => " hábiles",
            Clock::Wall => "",
        };
        format!("{head} hace {}{unit}", format_duration(self.by))
    }
}

/// Whether `ticket` is late at `now` on the step it is waiting for.
pub fn overdue(ticket: &Ticket, now: DateTime<Utc>, calendar: &Calendar, targets: &Targets) -> Option<Overdue> {
    let d = due(ticket, calendar, targets);
    let (what, due, span) = match ticket.state {
        State::Solicitado => (Step::Assignment, d.assign_by?, targets.assign(ticket.priority)),
        State::Asignado | State::EnAtencion => (Step::Closure, d.close_by?, targets.get(ticket.priority?).close),
        State::Cerrado | State::Cancelado => return None,
    };
    (now > due).then(|| Overdue { what, due, by: calendar.elapsed(span, due, now), clock: clock_of(span) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tickets::auto::{Problem, on_problem_fired, open};
    use crate::tickets::model::tests::ticket_in;
    use chrono::{NaiveDateTime, TimeZone};

    fn h(n: u64) -> Duration {
        Duration::from_secs(n * HOUR)
    }

    /// Local time in El Salvador (UTC−6).
    fn sv(s: &str) -> DateTime<Utc> {
        let ndt = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::America::El_Salvador.from_local_datetime(&ndt).unwrap().with_timezone(&Utc)
    }

    /// A ticket filed at `filed` (local), in `state`, with `priority`.
    fn ticket(filed: &str, state: State, priority: Option<Priority>) -> Ticket {
        let mut t = ticket_in(state);
        t.created_at = sv(filed);
        t.priority = priority;
        t
    }

    fn parse(text: &str) -> Result<Targets, String> {
        let raw: RawTargets = toml::from_str(text).map_err(|e| e.to_string())?;
        Targets::from_raw(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn default_targets_follow_the_issue() {
        let t = Targets::default();
        assert_eq!(parse("").unwrap(), t);
        let labels: Vec<_> =
            Priority::ALL.iter().map(|p| (t.get(*p).assign.label(), t.get(*p).close.label())).collect();
        assert_eq!(
            labels,
            [
                ("1 día hábil".to_string(), "5 días hábiles".to_string()),
                ("4 h hábiles".to_string(), "3 días hábiles".to_string()),
                ("2 h hábiles".to_string(), "1 día hábil".to_string()),
                ("30 min (24×7)".to_string(), "4 h (24×7)".to_string()),
            ]
        );
        assert_eq!(t.unassessed_assign.label(), "4 h hábiles");
    }

    #[test]
    fn an_unassessed_request_must_be_assigned_within_four_business_hours_and_has_no_close_target() {
        let t = ticket("2026-11-27 15:00", State::Solicitado, None);
        let d = due(&t, &Calendar::default(), &Targets::default());
        assert_eq!(d, Due { assign_by: Some(sv("2026-11-30 11:00")), close_by: None });
    }

    #[test]
    fn a_critical_request_counts_around_the_clock_even_on_a_friday_evening() {
        let t = ticket("2026-11-27 15:00", State::Asignado, Some(Priority::Critical));
        let d = due(&t, &Calendar::default(), &Targets::default());
        assert_eq!(d.assign_by, Some(sv("2026-11-27 15:30")));
        assert_eq!(d.close_by, Some(sv("2026-11-27 19:00")));
    }

    #[test]
    fn business_priorities_skip_the_weekend() {
        let cal = Calendar::default();
        let targets = Targets::default();
        let friday = |p| due(&ticket("2026-11-27 15:00", State::Asignado, Some(p)), &cal, &targets);
        assert_eq!(
            friday(Priority::High),
            Due { assign_by: Some(sv("2026-11-30 09:00")), close_by: Some(sv("2026-11-30 15:00")) }
        );
        assert_eq!(
            friday(Priority::Medium),
            Due { assign_by: Some(sv("2026-11-30 11:00")), close_by: Some(sv("2026-12-02 15:00")) }
        );
        assert_eq!(
            friday(Priority::Low),
            Due { assign_by: Some(sv("2026-11-30 15:00")), close_by: Some(sv("2026-12-04 15:00")) }
        );
    }

    #[test]
    fn a_solicitado_request_past_its_assignment_target_is_overdue_on_assignment() {
        let cal = Calendar::default();
        let targets = Targets::default();
        let t = ticket("2026-11-27 15:00", State::Solicitado, None);
        assert_eq!(overdue(&t, sv("2026-11-30 11:00"), &cal, &targets), None, "due exactly now is not late");
        let o = overdue(&t, sv("2026-11-30 13:15"), &cal, &targets).unwrap();
        assert_eq!((o.what, o.due, o.by), (Step::Assignment, sv("2026-11-30 11:00"), Duration::from_secs(8100)));
        assert_eq!(o.describe(), "Vencido (asignación) hace 2 h 15 min hábiles");
    }

    #[test]
    fn business_lateness_does_not_grow_over_the_weekend() {
        let cal = Calendar::default();
        let targets = Targets::default();
        let t = ticket("2026-11-26 13:00", State::Asignado, Some(Priority::High));
        assert_eq!(due(&t, &cal, &targets).close_by, Some(sv("2026-11-27 13:00")));
        let saturday = overdue(&t, sv("2026-11-28 10:00"), &cal, &targets).unwrap();
        assert_eq!((saturday.what, saturday.by), (Step::Closure, h(3)));
        let monday = overdue(&t, sv("2026-11-30 09:00"), &cal, &targets).unwrap();
        assert_eq!(monday.by, h(4));
        assert_eq!(monday.describe(), "Vencido (cierre) hace 4 h hábiles");
    }

    #[test]
    fn a_business_target_due_at_friday_closing_is_overdue_with_no_time_counted_on_saturday() {
        let cal = Calendar::default();
        let t = ticket("2026-11-27 12:00", State::Solicitado, None);
        let o = overdue(&t, sv("2026-11-28 10:00"), &cal, &Targets::default()).unwrap();
        assert_eq!((o.due, o.by), (sv("2026-11-27 16:00"), Duration::ZERO));
        assert_eq!(o.describe(), "Vencido (asignación)");
    }

    #[test]
    fn critical_lateness_is_counted_in_wall_clock_time() {
        let cal = Calendar::default();
        let t = ticket("2026-11-27 15:00", State::EnAtencion, Some(Priority::Critical));
        let o = overdue(&t, sv("2026-11-28 01:30"), &cal, &Targets::default()).unwrap();
        assert_eq!((o.what, o.by, o.clock), (Step::Closure, Duration::from_secs(6 * 3600 + 1800), Clock::Wall));
        assert_eq!(o.describe(), "Vencido (cierre) hace 6 h 30 min");
    }

    #[test]
    fn an_assigned_ticket_is_judged_on_closure_only_and_finished_tickets_never_are() {
        let cal = Calendar::default();
        let targets = Targets::default();
        let late = sv("2027-01-30 10:00");
        let assigned = ticket("2026-11-27 15:00", State::Asignado, Some(Priority::Low));
        assert_eq!(overdue(&assigned, late, &cal, &targets).unwrap().what, Step::Closure);
        for state in [State::Cerrado, State::Cancelado] {
            assert_eq!(
                overdue(&ticket("2026-11-27 15:00", state, Some(Priority::Critical)), late, &cal, &targets),
                None
            );
        }
        assert_eq!(
            overdue(&ticket("2026-11-27 15:00", State::Solicitado, None), sv("2026-11-27 15:30"), &cal, &targets),
            None
        );
    }

    #[test]
    fn a_generated_critical_ticket_must_be_assigned_within_thirty_minutes_around_the_clock() {
        let problem = Problem {
            center_id: Some(3),
            server_id: 7,
            problem_key: "troncal:sip-claro".into(),
            rule: "troncal_no_registrada".into(),
            title: "Troncal no registrada".into(),
            description: String::new(),
            priority: Some(Priority::Critical),
        };
        let (t, _) = open(9, problem, None, sv("2026-11-28 22:00"));
        let o = overdue(&t, sv("2026-11-28 22:45"), &Calendar::default(), &Targets::default()).unwrap();
        assert_eq!((o.what, o.due, o.by), (Step::Assignment, sv("2026-11-28 22:30"), Duration::from_secs(900)));
    }

    #[test]
    fn a_reopened_ticket_counts_its_close_target_from_the_reopening() {
        let cal = Calendar::default();
        let targets = Targets::default();
        let mut t = ticket("2026-11-02 09:00", State::Cerrado, Some(Priority::Critical));
        t.automatic = Some(crate::tickets::model::Automatic {
            problem_key: "k".into(),
            rule: "r".into(),
            occurrences: 1,
            last_fired: t.created_at,
            recovered_at: None,
        });
        t.closed_at = Some(sv("2026-11-26 10:00"));
        let crate::tickets::auto::AutoDecision::Reopen(r, _) =
            on_problem_fired(Some(&t), sv("2026-11-26 12:00"), Duration::from_secs(86_400))
        else {
            panic!("expected a reopening");
        };
        let d = due(&r, &cal, &targets);
        assert_eq!(d, Due { assign_by: None, close_by: Some(sv("2026-11-26 16:00")) });
        assert_eq!(overdue(&r, sv("2026-11-26 15:00"), &cal, &targets), None);
        assert_eq!(overdue(&r, sv("2026-11-26 17:00"), &cal, &targets).unwrap().by, h(1));
    }

    #[test]
    fn targets_from_config_override_only_what_they_name() {
        let t = parse(
            r#"
            unassessed_assign = "2h"
            [critica]
            clock = "business"
            [media]
            close = "2d"
            [baja]
            assign = "8h"
            clock = "24x7"
            "#,
        )
        .unwrap();
        assert_eq!(t.unassessed_assign, Span::Business(h(2)));
        assert_eq!(
            t.critical,
            Target { assign: Span::Business(Duration::from_secs(1800)), close: Span::Business(h(4)) }
        );
        assert_eq!(t.high, Targets::default().high);
        assert_eq!(t.medium, Target { assign: Span::Business(h(4)), close: Span::BusinessDays(2) });
        assert_eq!(t.low, Target { assign: Span::Wall(h(8)), close: Span::Wall(h(120)) });
    }

    #[test]
    fn target_errors_name_the_key_and_the_fix() {
        for (text, needle) in [
            ("[alta]\nassign = \"pronto\"", "`tickets.targets.alta.assign`: \"pronto\" is not a duration"),
            ("[alta]\nclose = \"1d 4h\"", "`tickets.targets.alta.close`: \"1d 4h\" mixes days with hours"),
            ("[critica]\nclock = \"siempre\"", "`tickets.targets.critica.clock`: \"siempre\" is not a clock"),
            (
                "[media]\nassign = \"5d\"",
                "`tickets.targets.media.assign`: is longer than `tickets.targets.media.close`",
            ),
            ("[baja]\nclose = \"0d\"", "`tickets.targets.baja.close`: \"0d\" is out of range"),
            ("unassessed_assign = \"1d 1h\"", "`tickets.targets.unassessed_assign`"),
            ("[urgente]\nassign = \"1h\"", "unknown field `urgente`"),
            ("[alta]\nasignar = \"1h\"", "unknown field `asignar`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn due_dates_use_the_configured_time_zone() {
        let madrid = Calendar::from_raw(crate::calendar::RawCalendar {
            time_zone: Some("Europe/Madrid".into()),
            ..Default::default()
        })
        .unwrap();
        let mut t = ticket_in(State::Solicitado);
        // Friday 27 Nov 2026 15:00 in Madrid (UTC+1).
        t.created_at = Utc.with_ymd_and_hms(2026, 11, 27, 14, 0, 0).unwrap();
        let d = due(&t, &madrid, &Targets::default());
        assert_eq!(d.assign_by, Some(Utc.with_ymd_and_hms(2026, 11, 30, 10, 0, 0).unwrap()));
        assert_eq!(madrid.format_local(d.assign_by.unwrap()), "lun 30/11/2026 11:00");
    }
}
