//! Corrective maintenance tickets ("requerimientos", stage 1 of the procedure): the state machine
//! and its permission matrix ([`model`]), what Centinela does when a rule fires or clears
//! ([`auto`]), and the time targets on the business calendar ([`targets`]). All pure: the store
//! and the web layer do the I/O and pass the time in.
//!
//! Configuration, in the collector's TOML:
//!
//! ```toml
//! [tickets]
//! reopen_window = "24h"   # a failure back within this after closing reopens the ticket
//! [tickets.targets]       # see `targets`
//! ```

pub mod auto;
pub mod model;
pub mod store;
pub mod targets;

pub use auto::{AutoDecision, Problem, on_problem_fired, on_problem_resolved};
pub use model::{
    Action, ActionKind, Actor, Assignee, Automatic, By, Channel, Denied, Event, NewTicket, Priority, Requester, State,
    Ticket, TimelineEntry, apply, check, check_file, file, permitted,
};
pub use targets::{Due, Overdue, RawTargets, Step, Targets, due, overdue};

use centinela_agent::config::{ConfigError, parse_duration};
use serde::Deserialize;
use std::time::Duration;

/// Default reopen window: a failure that returns within a day of the close is the same problem.
pub const DEFAULT_REOPEN_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `[tickets]` as written in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTickets {
    /// A failure detected again less than this after its ticket was closed reopens that ticket;
    /// later, a new ticket linked to it is opened. "0s" never reopens. Default "24h".
    pub reopen_window: Option<String>,
    /// Time to assign and to close, per priority.
    pub targets: Option<RawTargets>,
}

/// The validated `[tickets]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketsConfig {
    pub reopen_window: Duration,
    pub targets: Targets,
}

impl Default for TicketsConfig {
    fn default() -> Self {
        Self { reopen_window: DEFAULT_REOPEN_WINDOW, targets: Targets::default() }
    }
}

impl TicketsConfig {
    /// Validates `[tickets]`; every error names its key and the fix.
    pub fn from_raw(raw: RawTickets) -> Result<Self, ConfigError> {
        let reopen_window = match raw.reopen_window.as_deref() {
            Some(s) => parse_duration("tickets.reopen_window", s, Duration::ZERO, Duration::from_secs(30 * 86_400))?,
            None => DEFAULT_REOPEN_WINDOW,
        };
        Ok(Self { reopen_window, targets: Targets::from_raw(raw.targets.unwrap_or_default())? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TicketsConfig, String> {
        let raw: RawTickets = toml::from_str(text).map_err(|e| e.to_string())?;
        TicketsConfig::from_raw(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn the_tickets_section_defaults_to_a_one_day_reopen_window_and_the_default_targets() {
        assert_eq!(parse("").unwrap(), TicketsConfig::default());
        assert_eq!(TicketsConfig::default().reopen_window, Duration::from_secs(86_400));
    }

    #[test]
    fn the_tickets_section_reads_its_window_and_targets() {
        let c = parse("reopen_window = \"0s\"\n[targets.alta]\nassign = \"1h\"").unwrap();
        assert_eq!(c.reopen_window, Duration::ZERO);
        assert_eq!(c.targets.high.assign, crate::calendar::Span::Business(Duration::from_secs(3600)));
    }

    #[test]
    fn tickets_errors_name_the_key() {
        for (text, needle) in [
            ("reopen_window = \"45d\"", "`tickets.reopen_window`: \"45d\" is out of range"),
            ("reopen_window = \"ayer\"", "`tickets.reopen_window`"),
            ("ventana = \"1h\"", "unknown field `ventana`"),
            ("[targets.media]\nclose = \"x\"", "`tickets.targets.media.close`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
