//! The rule set, in two phases like the rest of the config: [`RawRules`] mirrors the `[rules]`
//! section (one table per rule id, unknown keys are errors), [`Rules`] is validated. The defaults
//! ship in `defaults.toml`, embedded and parsed through the same path, so a test keeps them valid.
//!
//! Merging: a table whose id is a default rule overrides that rule key by key (`severity`, `for`,
//! `keep_firing_for`, thresholds, `enabled = false`); its `condition` cannot change. Any other id
//! adds a rule and must say its `condition` and `severity`. Every error names the key and the fix.

use super::{AgentStatus, Severity};
use centinela_agent::config::{ConfigError, invalid, parse_duration};
use centinela_shared::Level;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The default rules, as shipped.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The `[rules]` section: one table per rule id, e.g. `[rules.raid_degraded]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct RawRules(pub BTreeMap<String, RawRule>);

/// One `[rules.<id>]` table. Which of the condition keys apply depends on `condition`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// What the rule watches (see [`Condition`] for the words). Required for a new rule; a default
    /// rule's cannot change.
    pub condition: Option<String>,
    /// `false` turns the rule off; its firing problems resolve. Default true.
    pub enabled: Option<bool>,
    /// Ticket priority: "baja", "media", "alta" or "crítica". Required for a new rule.
    pub severity: Option<String>,
    /// How long the condition must hold before the problem fires, e.g. "2m". Default "0s" (at once).
    #[serde(rename = "for")]
    pub for_: Option<String>,
    /// How long a firing problem stays firing once its condition is false, so a flapping value does
    /// not open and close tickets. Default "0s".
    pub keep_firing_for: Option<String>,
    /// The Spanish summary, replacing the condition's own: `{name}` (the thing, in words),
    /// `{subject}` (the key part) and `{reason}` (the first detail) are filled in.
    pub summary: Option<String>,
    /// Subjects this rule ignores, exactly as in the problem key: mount points, array names,
    /// devices, trunk or queue names.
    pub exclude: Option<Vec<String>>,
    /// `verdict`: which readings: raid, temperature, fan, disk, asterisk, queue, registration,
    /// endpoint, database, admin_app, shipping.
    pub reading: Option<String>,
    /// `verdict`: the lowest verdict level that matches: "advertencia" or "crítico".
    pub level: Option<String>,
    /// `verdict`: only verdicts with a reason containing this text (ignoring case).
    pub reason_contains: Option<String>,
    /// `filesystem_usage`: the used share, in percent, from which it holds. Default 90.
    pub percent: Option<f64>,
    /// `filesystem_filling`: projected full within this many days (default 7); `cert_expiring`:
    /// the certificate expires within this many days (default 21).
    pub days: Option<u32>,
    /// `disk_errors_growing` (default "24h") and `outbox_dropping` (default "1h"): how far back a
    /// counter's growth is looked for; `filesystem_filling`: the history the trend is fitted on
    /// (default "12h").
    pub window: Option<String>,
    /// `asterisk_restarted`: an uptime under this is a recent restart. Default "10m".
    pub within: Option<String>,
    /// `stuck_channel`: a channel older than this is stuck. Default: the agent's own judgement
    /// (its `[asterisk] stuck_channel_after`, 4 h unless set there).
    pub after: Option<String>,
    /// `ami`: the AMI states that hold: "down", "wedged", "login_refused", "error".
    pub states: Option<Vec<String>>,
    /// `agent_silent`: the presence statuses that hold: "offline", "stale", "stopped". Default
    /// ["offline", "stale"]: a clean `stopped` is a planned stop and opens nothing.
    pub statuses: Option<Vec<String>>,
}

impl RawRule {
    /// `self`'s keys where set, else `base`'s.
    fn over(self, base: &RawRule) -> RawRule {
        let b = base.clone();
        RawRule {
            condition: self.condition.or(b.condition),
            enabled: self.enabled.or(b.enabled),
            severity: self.severity.or(b.severity),
            for_: self.for_.or(b.for_),
            keep_firing_for: self.keep_firing_for.or(b.keep_firing_for),
            summary: self.summary.or(b.summary),
            exclude: self.exclude.or(b.exclude),
            reading: self.reading.or(b.reading),
            level: self.level.or(b.level),
            reason_contains: self.reason_contains.or(b.reason_contains),
            percent: self.percent.or(b.percent),
            days: self.days.or(b.days),
            window: self.window.or(b.window),
            within: self.within.or(b.within),
            after: self.after.or(b.after),
            states: self.states.or(b.states),
            statuses: self.statuses.or(b.statuses),
        }
    }

    /// The condition keys that are set.
    fn params(&self) -> Vec<&'static str> {
        [
            ("reading", self.reading.is_some()),
            ("level", self.level.is_some()),
            ("reason_contains", self.reason_contains.is_some()),
            ("percent", self.percent.is_some()),
            ("days", self.days.is_some()),
            ("window", self.window.is_some()),
            ("within", self.within.is_some()),
            ("after", self.after.is_some()),
            ("states", self.states.is_some()),
            ("statuses", self.statuses.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

/// Readings (and parts of the Asterisk reading) that carry a verdict from the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadingKind {
    Raid,
    Temperature,
    Fan,
    /// ATA and NVMe disks.
    Disk,
    Asterisk,
    Queue,
    /// PJSIP outbound registrations and the chan_sip registry.
    Registration,
    /// PJSIP endpoints and chan_sip peers.
    Endpoint,
    Database,
    AdminApp,
    Shipping,
}

impl ReadingKind {
    pub const ALL: [ReadingKind; 11] = [
        ReadingKind::Raid,
        ReadingKind::Temperature,
        ReadingKind::Fan,
        ReadingKind::Disk,
        ReadingKind::Asterisk,
        ReadingKind::Queue,
        ReadingKind::Registration,
        ReadingKind::Endpoint,
        ReadingKind::Database,
        ReadingKind::AdminApp,
        ReadingKind::Shipping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadingKind::Raid => "raid",
            ReadingKind::Temperature => "temperature",
            ReadingKind::Fan => "fan",
            ReadingKind::Disk => "disk",
            ReadingKind::Asterisk => "asterisk",
            ReadingKind::Queue => "queue",
            ReadingKind::Registration => "registration",
            ReadingKind::Endpoint => "endpoint",
            ReadingKind::Database => "database",
            ReadingKind::AdminApp => "admin_app",
            ReadingKind::Shipping => "shipping",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// An AMI state, as `ami` rules name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmiWord {
    Down,
    Wedged,
    LoginRefused,
    Error,
}

impl AmiWord {
    const ALL: [AmiWord; 4] = [AmiWord::Down, AmiWord::Wedged, AmiWord::LoginRefused, AmiWord::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            AmiWord::Down => "down",
            AmiWord::Wedged => "wedged",
            AmiWord::LoginRefused => "login_refused",
            AmiWord::Error => "error",
        }
    }
}

/// What a rule watches. The TOML word of each variant is in its doc.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `verdict`: an item of `reading` whose agent verdict is at least `level` and, if given, has a
    /// reason containing `reason_contains`. Subject: the item's name (array, sensor, disk, queue...).
    Verdict { reading: ReadingKind, level: Level, reason_contains: Option<String> },
    /// `smart_failing`: an ATA disk says SMART FAILING, or a pre-fail attribute is at its threshold.
    SmartFailing,
    /// `nvme_critical_warning`: an NVMe controller sets a critical warning bit.
    NvmeCriticalWarning,
    /// `disk_errors_growing`: reallocated, pending or offline-uncorrectable sectors (ATA) or media
    /// errors (NVMe) above their lowest value within `window`, from the engine's own history.
    DiskErrorsGrowing { window: Duration },
    /// `raid_degraded`: an active md array missing members or with a failed member.
    RaidDegraded,
    /// `raid_inactive`: an md array inactive or broken.
    RaidInactive,
    /// `fan_stopped`: a fan at 0 rpm that has a minimum configured.
    FanStopped,
    /// `filesystem_usage`: a writable filesystem used at or above `percent`.
    FilesystemUsage { percent: f64 },
    /// `filesystem_filling`: at the growth of a linear fit over `window`, a writable filesystem is
    /// full within `days`.
    FilesystemFilling { days: u32, window: Duration },
    /// `ami`: Asterisk's manager interface is in one of `states`.
    Ami { states: Vec<AmiWord> },
    /// `asterisk_restarted`: Asterisk's uptime is under `within`.
    AsteriskRestarted { within: Duration },
    /// `stuck_channel`: a channel older than `after`, or (without it) the agent says one is stuck.
    StuckChannel { after: Option<Duration> },
    /// `database_down`: the CDR database does not answer or refuses the agent.
    DatabaseDown,
    /// `admin_app_down`: the admin web app does not answer, or answers 5xx.
    AdminAppDown,
    /// `cert_expiring`: the admin app's TLS certificate expires within `days` (or has expired).
    CertExpiring { days: u32 },
    /// `outbox_dropping`: the agent's outbox discarded records within `window`.
    OutboxDropping { window: Duration },
    /// `probe_failed`: a probe reports `Failed`. Subject: the probe's wire name.
    ProbeFailed,
    /// `agent_silent`: the server's presence is one of `statuses` (presence-driven, not samples).
    AgentSilent { statuses: Vec<AgentStatus> },
}

impl Condition {
    /// Driven by presence and ticks rather than by samples.
    pub fn is_presence(&self) -> bool {
        matches!(self, Condition::AgentSilent { .. })
    }

    /// The TOML word.
    pub fn word(&self) -> &'static str {
        match self {
            Condition::Verdict { .. } => "verdict",
            Condition::SmartFailing => "smart_failing",
            Condition::NvmeCriticalWarning => "nvme_critical_warning",
            Condition::DiskErrorsGrowing { .. } => "disk_errors_growing",
            Condition::RaidDegraded => "raid_degraded",
            Condition::RaidInactive => "raid_inactive",
            Condition::FanStopped => "fan_stopped",
            Condition::FilesystemUsage { .. } => "filesystem_usage",
            Condition::FilesystemFilling { .. } => "filesystem_filling",
            Condition::Ami { .. } => "ami",
            Condition::AsteriskRestarted { .. } => "asterisk_restarted",
            Condition::StuckChannel { .. } => "stuck_channel",
            Condition::DatabaseDown => "database_down",
            Condition::AdminAppDown => "admin_app_down",
            Condition::CertExpiring { .. } => "cert_expiring",
            Condition::OutboxDropping { .. } => "outbox_dropping",
            Condition::ProbeFailed => "probe_failed",
            Condition::AgentSilent { .. } => "agent_silent",
        }
    }
}

/// The condition words and the keys each takes.
const CONDITIONS: &[(&str, &[&str])] = &[
    ("verdict", &["reading", "level", "reason_contains"]),
    ("smart_failing", &[]),
    ("nvme_critical_warning", &[]),
    ("disk_errors_growing", &["window"]),
    ("raid_degraded", &[]),
    ("raid_inactive", &[]),
    ("fan_stopped", &[]),
    ("filesystem_usage", &["percent"]),
    ("filesystem_filling", &["days", "window"]),
    ("ami", &["states"]),
    ("asterisk_restarted", &["within"]),
    ("stuck_channel", &["after"]),
    ("database_down", &[]),
    ("admin_app_down", &[]),
    ("cert_expiring", &["days"]),
    ("outbox_dropping", &["window"]),
    ("probe_failed", &[]),
    ("agent_silent", &["statuses"]),
];

/// One validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub id: String,
    pub condition: Condition,
    pub severity: Severity,
    /// The condition must hold this long before the problem fires.
    pub for_: Duration,
    /// A firing problem resolves once its condition has been false this long.
    pub keep_firing_for: Duration,
    pub enabled: bool,
    /// A summary template replacing the condition's own (`{name}`, `{subject}`, `{reason}`).
    pub summary: Option<String>,
    /// Subjects ignored (treated as healthy).
    pub exclude: Vec<String>,
}

/// The validated rule set: the defaults merged with the config, in id order. Disabled rules stay in
/// the set, so the engine knows to resolve what they had fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// The full key of a rule's field for error messages, e.g. `rules.raid_degraded.for`.
///
/// `ConfigError::Invalid` holds a `&'static str` key; a rule's key is built from its id, so it is
/// leaked. This runs only on the error path, which stops the collector at startup.
fn key(id: &str, field: &str) -> &'static str {
    let k = if field.is_empty() { format!("rules.{id}") } else { format!("rules.{id}.{field}") };
    Box::leak(k.into_boxed_str())
}

fn raw_defaults() -> Result<RawRules, String> {
    toml::from_str(DEFAULTS_TOML).map_err(|e| e.to_string())
}

impl Rules {
    /// The shipped defaults. `defaults.toml` is embedded and checked by tests, so this cannot fail
    /// on anything a user wrote.
    pub fn defaults() -> Self {
        Self::from_raw(None).expect("the embedded defaults.toml is valid (checked by tests)")
    }

    /// The defaults merged with the `[rules]` section, validated.
    pub fn from_raw(raw: Option<RawRules>) -> Result<Self, ConfigError> {
        let defaults =
            raw_defaults().map_err(|m| invalid("rules", format!("the embedded defaults are broken: {m}")))?;
        let mut merged: BTreeMap<String, RawRule> = defaults.0.clone();
        for (id, user) in raw.map(|r| r.0).unwrap_or_default() {
            match defaults.0.get(&id) {
                Some(base) => {
                    if let Some(c) = &user.condition
                        && Some(c) != base.condition.as_ref()
                    {
                        return Err(invalid(
                            key(&id, "condition"),
                            format!(
                                "cannot change the condition of the default rule {id:?} (it is {:?}); set `enabled = false` on it and add a rule with another id",
                                base.condition.as_deref().unwrap_or_default()
                            ),
                        ));
                    }
                    merged.insert(id, user.over(base));
                }
                None => {
                    if user.condition.is_none() {
                        let known: Vec<&str> = defaults.0.keys().map(String::as_str).collect();
                        return Err(invalid(
                            key(&id, ""),
                            format!(
                                "is not a default rule, so it needs a `condition`; to tune a default rule use one of its ids: {}",
                                known.join(", ")
                            ),
                        ));
                    }
                    if user.severity.is_none() {
                        return Err(invalid(
                            key(&id, "severity"),
                            "is required for a new rule; set it to \"baja\", \"media\", \"alta\" or \"crítica\"",
                        ));
                    }
                    merged.insert(id, user);
                }
            }
        }
        let rules = merged.into_iter().map(|(id, raw)| validate(id, raw)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { rules })
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.binary_search_by(|r| r.id.as_str().cmp(id)).ok().map(|i| &self.rules[i])
    }

    /// Every rule, enabled or not, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// The enabled rules.
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn duration(
    id: &str,
    field: &str,
    value: Option<&str>,
    default: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) => parse_duration(key(id, field), s, Duration::ZERO, max),
    }
}

fn window(id: &str, value: Option<&str>, default: Duration, min: Duration) -> Result<Duration, ConfigError> {
    match value {
        None => Ok(default),
        Some(s) => parse_duration(key(id, "window"), s, min, 30 * DAY),
    }
}

fn level(id: &str, s: &str) -> Result<Level, ConfigError> {
    match s.trim().to_lowercase().as_str() {
        "advertencia" | "warning" => Ok(Level::Warning),
        "crítico" | "critico" | "critical" => Ok(Level::Critical),
        _ => Err(invalid(key(id, "level"), format!("{s:?} is not a level; write \"advertencia\" or \"crítico\""))),
    }
}

fn validate(id: String, raw: RawRule) -> Result<Rule, ConfigError> {
    if !valid_id(&id) {
        return Err(invalid(
            key(&id, ""),
            format!("{id:?} is not a valid rule id; use 1 to 64 lowercase letters, digits and _ (e.g. \"disk_hot\")"),
        ));
    }
    let word = raw.condition.as_deref().unwrap_or_default().trim();
    let Some((_, takes)) = CONDITIONS.iter().find(|(w, _)| *w == word) else {
        let words: Vec<&str> = CONDITIONS.iter().map(|(w, _)| *w).collect();
        return Err(invalid(
            key(&id, "condition"),
            format!("{word:?} is not a condition; use one of: {}", words.join(", ")),
        ));
    };
    for p in raw.params() {
        if !takes.contains(&p) {
            let hint = match CONDITIONS.iter().filter(|(_, t)| t.contains(&p)).map(|(w, _)| *w).collect::<Vec<_>>() {
                v if v.is_empty() => String::new(),
                v => format!(" (it applies to {})", v.join(", ")),
            };
            return Err(invalid(key(&id, p), format!("does not apply to condition {word:?}; remove it{hint}")));
        }
    }
    let severity = match raw.severity.as_deref() {
        None => Severity::Medium,
        Some(s) => Severity::parse(s).ok_or_else(|| {
            invalid(
                key(&id, "severity"),
                format!("{s:?} is not a priority; write \"baja\", \"media\", \"alta\" or \"crítica\""),
            )
        })?,
    };
    let for_ = duration(&id, "for", raw.for_.as_deref(), Duration::ZERO, 7 * DAY)?;
    let keep_firing_for = duration(&id, "keep_firing_for", raw.keep_firing_for.as_deref(), Duration::ZERO, 7 * DAY)?;
    if let Some(s) = &raw.summary
        && s.trim().is_empty()
    {
        return Err(invalid(key(&id, "summary"), "is empty; remove it to use the condition's own summary"));
    }
    let condition = match word {
        "verdict" => {
            let Some(reading) = raw.reading.as_deref() else {
                return Err(invalid(
                    key(&id, "reading"),
                    "is required for condition \"verdict\"; say which readings, e.g. \"raid\"",
                ));
            };
            let reading = ReadingKind::parse(reading).ok_or_else(|| {
                let all: Vec<&str> = ReadingKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(key(&id, "reading"), format!("{reading:?} is not a reading; use one of: {}", all.join(", ")))
            })?;
            let level = level(&id, raw.level.as_deref().unwrap_or("advertencia"))?;
            let reason_contains = match raw.reason_contains {
                Some(s) if s.trim().is_empty() => {
                    return Err(invalid(key(&id, "reason_contains"), "is empty; remove it to match every reason"));
                }
                other => other,
            };
            Condition::Verdict { reading, level, reason_contains }
        }
        "smart_failing" => Condition::SmartFailing,
        "nvme_critical_warning" => Condition::NvmeCriticalWarning,
        "disk_errors_growing" => {
            Condition::DiskErrorsGrowing { window: window(&id, raw.window.as_deref(), DAY, 10 * MINUTE)? }
        }
        "raid_degraded" => Condition::RaidDegraded,
        "raid_inactive" => Condition::RaidInactive,
        "fan_stopped" => Condition::FanStopped,
        "filesystem_usage" => {
            let percent = raw.percent.unwrap_or(90.0);
            if !(percent > 0.0 && percent <= 100.0) {
                return Err(invalid(
                    key(&id, "percent"),
                    format!("{percent} is out of range; use a share above 0 and up to 100, e.g. 90"),
                ));
            }
            Condition::FilesystemUsage { percent }
        }
        "filesystem_filling" => {
            let days = raw.days.unwrap_or(7);
            if !(1..=365).contains(&days) {
                return Err(invalid(key(&id, "days"), format!("{days} is out of range; use 1 to 365 days, e.g. 7")));
            }
            Condition::FilesystemFilling { days, window: window(&id, raw.window.as_deref(), 12 * HOUR, HOUR)? }
        }
        "ami" => {
            let Some(states) = raw.states else {
                return Err(invalid(
                    key(&id, "states"),
                    "is required for condition \"ami\"; e.g. [\"down\", \"wedged\"]",
                ));
            };
            let mut parsed = Vec::new();
            for s in &states {
                let w = AmiWord::ALL.into_iter().find(|w| w.as_str() == s.trim()).ok_or_else(|| {
                    invalid(
                        key(&id, "states"),
                        format!("{s:?} is not an AMI state; use \"down\", \"wedged\", \"login_refused\" or \"error\""),
                    )
                })?;
                parsed.push(w);
            }
            if parsed.is_empty() {
                return Err(invalid(key(&id, "states"), "is empty; list at least one state, or set `enabled = false`"));
            }
            Condition::Ami { states: parsed }
        }
        "asterisk_restarted" => Condition::AsteriskRestarted {
            within: match raw.within.as_deref() {
                None => 10 * MINUTE,
                Some(s) => parse_duration(key(&id, "within"), s, MINUTE, DAY)?,
            },
        },
        "stuck_channel" => Condition::StuckChannel {
            after: raw.after.as_deref().map(|s| parse_duration(key(&id, "after"), s, MINUTE, 7 * DAY)).transpose()?,
        },
        "database_down" => Condition::DatabaseDown,
        "admin_app_down" => Condition::AdminAppDown,
        "cert_expiring" => {
            let days = raw.days.unwrap_or(21);
            if !(1..=365).contains(&days) {
                return Err(invalid(key(&id, "days"), format!("{days} is out of range; use 1 to 365 days, e.g. 21")));
            }
            Condition::CertExpiring { days }
        }
        "outbox_dropping" => {
            Condition::OutboxDropping { window: window(&id, raw.window.as_deref(), HOUR, 10 * MINUTE)? }
        }
        "probe_failed" => Condition::ProbeFailed,
        "agent_silent" => {
            let words = raw.statuses.unwrap_or_else(|| vec!["offline".into(), "stale".into()]);
            let mut statuses = Vec::new();
            for s in &words {
                match AgentStatus::parse(s) {
                    Some(AgentStatus::Online) | None => {
                        return Err(invalid(
                            key(&id, "statuses"),
                            format!("{s:?} is not a silent status; use \"offline\", \"stale\" or \"stopped\""),
                        ));
                    }
                    Some(st) => statuses.push(st),
                }
            }
            if statuses.is_empty() {
                return Err(invalid(
                    key(&id, "statuses"),
                    "is empty; list at least one status, or set `enabled = false`",
                ));
            }
            Condition::AgentSilent { statuses }
        }
        _ => unreachable!("every word of CONDITIONS has an arm"),
    };
    let exclude = raw.exclude.unwrap_or_default();
    Ok(Rule {
        id,
        condition,
        severity,
        for_,
        keep_firing_for,
        enabled: raw.enabled.unwrap_or(true),
        summary: raw.summary,
        exclude,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Rules, String> {
        let raw: RawRules = toml::from_str(text).map_err(|e| e.to_string())?;
        Rules::from_raw(Some(raw)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_embedded_defaults_parse_and_cover_every_reading_the_probes_produce() {
        let rules = Rules::defaults();
        let words: Vec<&str> = rules.iter().map(|r| r.condition.word()).collect();
        for word in CONDITIONS.iter().map(|(w, _)| *w) {
            assert!(words.contains(&word), "no default rule uses condition {word}");
        }
        let verdict_readings: Vec<ReadingKind> = rules
            .iter()
            .filter_map(|r| match r.condition {
                Condition::Verdict { reading, .. } => Some(reading),
                _ => None,
            })
            .collect();
        for k in [
            ReadingKind::Temperature,
            ReadingKind::Queue,
            ReadingKind::Registration,
            ReadingKind::Endpoint,
            ReadingKind::Database,
            ReadingKind::Shipping,
        ] {
            assert!(verdict_readings.contains(&k), "no default verdict rule on {}", k.as_str());
        }
        assert!(rules.iter().all(|r| r.enabled), "every default is on");
        let silent = rules.get("agent_silent").unwrap();
        assert_eq!(
            silent.condition,
            Condition::AgentSilent { statuses: vec![AgentStatus::Offline, AgentStatus::Stale] }
        );
        assert_eq!(silent.for_, Duration::ZERO, "offline and stale fire at once");
        assert_eq!(Rules::from_raw(None).unwrap(), rules);
    }

    #[test]
    fn a_default_rule_can_be_tuned_or_disabled_by_id() {
        let rules = parse(
            "[raid_degraded]\nseverity = \"crítica\"\nfor = \"2m\"\nkeep_firing_for = \"1h\"\n\
             [filesystem_usage]\npercent = 95\nexclude = [\"/boot/efi\"]\n\
             [asterisk_restarted]\nenabled = false\n\
             [agent_silent]\nstatuses = [\"offline\", \"stale\", \"stopped\"]\nfor = \"5m\"",
        )
        .unwrap();
        let raid = rules.get("raid_degraded").unwrap();
        assert_eq!((raid.severity, raid.for_, raid.keep_firing_for), (Severity::Critical, 2 * MINUTE, HOUR));
        assert_eq!(raid.condition, Condition::RaidDegraded);
        let fs = rules.get("filesystem_usage").unwrap();
        assert_eq!(fs.condition, Condition::FilesystemUsage { percent: 95.0 });
        assert_eq!(fs.exclude, vec!["/boot/efi".to_string()]);
        assert_eq!(
            fs.severity,
            Rules::defaults().get("filesystem_usage").unwrap().severity,
            "untouched keys keep the default"
        );
        assert!(!rules.get("asterisk_restarted").unwrap().enabled);
        assert!(
            matches!(&rules.get("agent_silent").unwrap().condition, Condition::AgentSilent { statuses } if statuses.len() == 3)
        );
    }

    #[test]
    fn a_new_rule_is_added_with_its_condition_and_severity() {
        let rules = parse(
            "[raid_warning]\ncondition = \"verdict\"\nreading = \"raid\"\nlevel = \"advertencia\"\nseverity = \"baja\"\n\
             summary = \"Arreglo {name}: {reason}\"\n\
             [cdr_slow]\ncondition = \"verdict\"\nreading = \"database\"\nreason_contains = \"despacio\"\nseverity = \"media\"\nfor = \"10m\"",
        )
        .unwrap();
        let r = rules.get("raid_warning").unwrap();
        assert_eq!(
            r.condition,
            Condition::Verdict { reading: ReadingKind::Raid, level: Level::Warning, reason_contains: None }
        );
        assert_eq!(r.severity, Severity::Low);
        assert_eq!(rules.get("cdr_slow").unwrap().for_, 10 * MINUTE);
        assert!(rules.get("raid_degraded").is_some(), "the defaults are still there");
    }

    #[test]
    fn bad_values_name_their_key_and_the_fix() {
        for (text, key, fix) in [
            ("[raid_degraded]\nfor = \"soon\"", "`rules.raid_degraded.for`", "write it like"),
            ("[raid_degraded]\nkeep_firing_for = \"30d\"", "`rules.raid_degraded.keep_firing_for`", "use between"),
            ("[raid_degraded]\nseverity = \"urgente\"", "`rules.raid_degraded.severity`", "\"crítica\""),
            ("[raid_degraded]\ncondition = \"fan_stopped\"", "`rules.raid_degraded.condition`", "enabled = false"),
            ("[raid_degraded]\npercent = 80", "`rules.raid_degraded.percent`", "remove it"),
            ("[raid_degradado]\nseverity = \"alta\"", "`rules.raid_degradado`", "raid_degraded"),
            ("[mine]\ncondition = \"verdict\"\nreading = \"raid\"", "`rules.mine.severity`", "\"baja\""),
            ("[mine]\ncondition = \"nope\"\nseverity = \"baja\"", "`rules.mine.condition`", "filesystem_usage"),
            ("[mine]\ncondition = \"verdict\"\nseverity = \"baja\"", "`rules.mine.reading`", "\"raid\""),
            (
                "[mine]\ncondition = \"verdict\"\nreading = \"cpu\"\nseverity = \"baja\"",
                "`rules.mine.reading`",
                "shipping",
            ),
            (
                "[mine]\ncondition = \"verdict\"\nreading = \"raid\"\nlevel = \"ok\"\nseverity = \"baja\"",
                "`rules.mine.level`",
                "advertencia",
            ),
            ("[Mine]\ncondition = \"probe_failed\"\nseverity = \"baja\"", "`rules.Mine`", "lowercase"),
            ("[filesystem_usage]\npercent = 120", "`rules.filesystem_usage.percent`", "up to 100"),
            ("[filesystem_usage]\npercent = nan", "`rules.filesystem_usage.percent`", "out of range"),
            ("[filesystem_filling]\ndays = 0", "`rules.filesystem_filling.days`", "1 to 365"),
            ("[filesystem_filling]\nwindow = \"5m\"", "`rules.filesystem_filling.window`", "use between"),
            ("[agent_silent]\nstatuses = [\"online\"]", "`rules.agent_silent.statuses`", "\"stopped\""),
            ("[agent_silent]\nstatuses = []", "`rules.agent_silent.statuses`", "enabled = false"),
            ("[asterisk_down]\nstates = [\"dead\"]", "`rules.asterisk_down.states`", "\"wedged\""),
            ("[raid_degraded]\nsummary = \" \"", "`rules.raid_degraded.summary`", "remove it"),
            ("[raid_degraded]\nseverit = \"alta\"", "unknown field `severit`", "expected one of"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key) && e.contains(fix), "{text}: {e}");
        }
    }

    #[test]
    fn the_rules_section_nests_in_the_collector_config() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Outer {
            rules: Option<RawRules>,
        }
        let outer: Outer =
            toml::from_str("[rules.raid_degraded]\nfor = \"2m\"\n[rules.cdr_stale]\nenabled = false").unwrap();
        let rules = Rules::from_raw(outer.rules).unwrap();
        assert_eq!(rules.get("raid_degraded").unwrap().for_, 2 * MINUTE);
        assert!(!rules.get("cdr_stale").unwrap().enabled);
        let none: Outer = toml::from_str("").unwrap();
        assert_eq!(Rules::from_raw(none.rules).unwrap(), Rules::defaults());
    }

    #[test]
    fn severity_words_follow_the_glosario() {
        let words: Vec<&str> = Severity::ALL.iter().map(|s| s.es()).collect();
        assert_eq!(words, ["baja", "media", "alta", "crítica"]);
        for s in Severity::ALL {
            assert_eq!(Severity::parse(s.es()), Some(s));
        }
        assert_eq!(Severity::parse("Critica"), Some(Severity::Critical));
        assert_eq!(Severity::parse("high"), Some(Severity::High));
        assert!(Severity::Low < Severity::Critical);
    }
}
