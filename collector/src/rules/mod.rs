//! Alert rules: the collector's judgement of samples and presence into problems that open and
//! close tickets (issue 5). Pure: no SQLite, no async, no clock; every entry point takes `now`.
//!
//! Parts: [`config`] (the rule set: embedded `defaults.toml` merged with the `[rules]` section),
//! `eval` (one condition on one sample, plus the bounded history growth rules need) and [`engine`]
//! (the per-problem state machine, its transitions and its snapshot).
//!
//! Invariants:
//! - A problem is one (server, key); the key is the rule id, or `rule:subject` for a rule that
//!   watches many things (`raid_degraded:md0`, `filesystem_usage:/var`). Rule ids hold only
//!   `[a-z0-9_]`, so the first `:` separates them from the subject. Keys are stable across samples.
//! - A problem goes Pending → Firing → resolved, Prometheus-style: it fires once its condition has
//!   held for `for`, and resolves once the condition has been false for `keep_firing_for` since it
//!   was last true. One episode gives exactly one [`Transition::Fired`] and at most one
//!   [`Transition::Resolved`]; a condition false while Pending drops it silently.
//! - "Unknown" is not "false": a probe that failed or did not run, an AMI that is down (for the
//!   trunks, queues and channels it would have listed), a disk in standby, a sensor without a value
//!   leave their problems exactly as they were.
//! - Sample conditions are judged only when a sample arrives. A silent server's sample problems stay
//!   as they were (neither fire nor resolve); "agente sin reportar" ([`Condition::AgentSilent`],
//!   driven by presence and by [`Engine::on_tick`]) is the problem that covers silence.
//! - Memory is bounded per server: at most [`engine::MAX_SUBJECTS`] subjects per rule and sample,
//!   and history series of bounded length that expire with their window.
//! - Suppression (silences, maintenance windows) is the caller's job: every transition carries the
//!   server id and the stable key to match against.

pub mod config;
pub mod engine;
mod eval;

#[cfg(test)]
mod tests;

pub use config::{AmiWord, Condition, DEFAULTS_TOML, RawRule, RawRules, ReadingKind, Rule, Rules};
pub use engine::{ActiveProblem, Engine, EngineState, Phase, Transition};

use serde::{Deserialize, Serialize};

/// How urgent a problem is: the priority of the ticket it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Low, Severity::Medium, Severity::High, Severity::Critical];

    /// The ticket priority word users see (GLOSARIO): baja, media, alta, crítica.
    pub fn es(self) -> &'static str {
        match self {
            Severity::Low => "baja",
            Severity::Medium => "media",
            Severity::High => "alta",
            Severity::Critical => "crítica",
        }
    }

    /// The Spanish word (also without the accent), or the English one.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "baja" | "low" => Some(Severity::Low),
            "media" | "medium" => Some(Severity::Medium),
            "alta" | "high" => Some(Severity::High),
            "crítica" | "critica" | "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.es())
    }
}

/// A server's presence as the writer knows it: the agent's retained status topic (`online`,
/// `offline` from the MQTT Last Will, `stopped` on a clean shutdown) or the writer's own `stale`
/// (no sample for several intervals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Online,
    Offline,
    Stopped,
    Stale,
}

impl AgentStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "online" => Some(AgentStatus::Online),
            "offline" => Some(AgentStatus::Offline),
            "stopped" => Some(AgentStatus::Stopped),
            "stale" => Some(AgentStatus::Stale),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
            AgentStatus::Stopped => "stopped",
            AgentStatus::Stale => "stale",
        }
    }
}
