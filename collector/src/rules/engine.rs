//! The rule engine: per (server, problem key) state, moved only by what the caller reports
//! (samples, presence, time). No I/O and no clock, so every transition is a unit test.
//!
//! State of one problem: absent (inactive) → Pending (condition true since `since`) → Firing (after
//! `for`; one [`Transition::Fired`]) → absent again (after `keep_firing_for` of the condition being
//! false since it was last true; one [`Transition::Resolved`]). A Pending problem whose condition
//! turns false is dropped without a transition.
//!
//! Invariants:
//! - Sample conditions move only on samples of their server: [`Engine::on_tick`] never fires or
//!   resolves them, so a silent server's problems stay as they were. Presence conditions
//!   (`agent_silent`) are levels, and ticks let their `for` and `keep_firing_for` elapse.
//! - A sample is proof of life: it sets the server's presence to online.
//! - A problem whose rule is gone or disabled (after a config change and [`Engine::restore`]) is
//!   resolved on the next tick or sample of its server; it never stays firing for ever.
//! - Severity, summary and details are taken when the problem is created and refreshed while its
//!   condition holds (see [`Engine::active`]); the severity is the rule's when it fired. No
//!   transition is emitted for a changed summary: `Fired` and `Resolved` are the only ones.
//! - Everything the engine knows is in [`EngineState`], so a restart neither fires again nor
//!   forgets what was firing.

use super::config::{Condition, Rule, Rules};
use super::eval::{self, History, Hit, Rest, Retention};
use super::{AgentStatus, Severity};
use centinela_shared::SampleV1;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most subjects one rule judges per sample; more (a hostile or broken sample) are ignored.
pub const MAX_SUBJECTS: usize = 256;

/// The [`EngineState`] format this code writes and reads.
pub const STATE_VERSION: u32 = 1;

/// What a sample, a presence change or a tick changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Transition {
    /// The problem's condition has held for the rule's `for`: open a ticket (priority `severity`).
    Fired {
        server: String,
        key: String,
        rule: String,
        severity: Severity,
        /// Spanish, one line: "Arreglo RAID md0 degradado: falta 1 de 2 miembros".
        summary: String,
        /// The verdict reasons or figures behind it.
        details: Vec<String>,
        /// When the condition was first seen true in this episode.
        since: DateTime<Utc>,
        /// When it fired (`since` + at least `for`).
        at: DateTime<Utc>,
    },
    /// The condition has been false for `keep_firing_for` (or its rule was disabled): "Recuperado".
    Resolved { server: String, key: String, rule: String, at: DateTime<Utc> },
}

impl Transition {
    pub fn server(&self) -> &str {
        match self {
            Transition::Fired { server, .. } | Transition::Resolved { server, .. } => server,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Transition::Fired { key, .. } | Transition::Resolved { key, .. } => key,
        }
    }
}

/// Where a live problem is in its episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// True, but not yet for `for`: nothing has been announced.
    Pending,
    /// Announced with [`Transition::Fired`].
    Firing,
}

/// A problem pending or firing now, for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActiveProblem {
    pub server: String,
    pub key: String,
    pub rule: String,
    pub severity: Severity,
    pub phase: Phase,
    /// The latest summary and details while the condition holds.
    pub summary: String,
    pub details: Vec<String>,
    pub since: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    /// The last time the condition was seen true.
    pub last_true: DateTime<Utc>,
    /// The condition was true at the last look (false: firing, waiting out `keep_firing_for`).
    pub holding: bool,
}

/// One live problem. Serialized in [`EngineState`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Problem {
    server: String,
    key: String,
    rule: String,
    severity: Severity,
    summary: String,
    details: Vec<String>,
    since: DateTime<Utc>,
    last_true: DateTime<Utc>,
    holding: bool,
    fired_at: Option<DateTime<Utc>>,
}

/// What the engine remembers about one server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ServerState {
    /// The presence and since when.
    presence: Option<(AgentStatus, DateTime<Utc>)>,
    last_sample: Option<DateTime<Utc>>,
    #[serde(default)]
    history: History,
}

/// Everything the engine knows, to persist (e.g. as JSON) and [`Engine::restore`] after a restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// [`STATE_VERSION`].
    pub version: u32,
    problems: Vec<Problem>,
    servers: BTreeMap<String, ServerState>,
}

/// The rule engine. See the module doc for its states.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Rules,
    retention: Retention,
    /// By (server, key).
    problems: BTreeMap<(String, String), Problem>,
    servers: BTreeMap<String, ServerState>,
}

/// `rule` or `rule:subject`.
pub fn problem_key(rule: &str, subject: &str) -> String {
    if subject.is_empty() { rule.to_string() } else { format!("{rule}:{subject}") }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Whether `d` has passed from `from` to `now` (never, if the clock went backwards past `from`).
fn elapsed(from: DateTime<Utc>, now: DateTime<Utc>, d: Duration) -> bool {
    now.signed_duration_since(from) >= delta(d)
}

fn retention(rules: &Rules) -> Retention {
    let mut r = Retention::default();
    for rule in rules.enabled() {
        match rule.condition {
            Condition::DiskErrorsGrowing { window } | Condition::OutboxDropping { window } => {
                r.counters = r.counters.max(Some(window))
            }
            Condition::FilesystemFilling { window, .. } => r.filesystems = r.filesystems.max(Some(window)),
            _ => {}
        }
    }
    r
}

fn render(rule: &Rule, hit: &Hit) -> String {
    match &rule.summary {
        None => hit.summary.clone(),
        Some(t) => t
            .replace("{name}", &hit.name)
            .replace("{subject}", &hit.subject)
            .replace("{reason}", hit.details.first().map_or(hit.summary.as_str(), String::as_str)),
    }
}

/// The problems, and the transitions they emit. Split from [`Engine`] so the rules can be borrowed
/// while the problems change.
struct Book<'a> {
    problems: &'a mut BTreeMap<(String, String), Problem>,
    out: Vec<Transition>,
}

impl Book<'_> {
    /// One observation of `rule`'s condition for `subject` at `now`: `Some` true, `None` false.
    /// `started` is when a new episode began (now, or when the presence changed).
    fn observe(
        &mut self,
        server: &str,
        rule: &Rule,
        subject: &str,
        hit: Option<&Hit>,
        now: DateTime<Utc>,
        started: DateTime<Utc>,
    ) {
        let k = (server.to_string(), problem_key(&rule.id, subject));
        match (self.problems.get_mut(&k), hit) {
            (None, None) => return,
            (None, Some(hit)) => {
                let p = Problem {
                    server: k.0.clone(),
                    key: k.1.clone(),
                    rule: rule.id.clone(),
                    severity: rule.severity,
                    summary: render(rule, hit),
                    details: hit.details.clone(),
                    since: started.min(now),
                    last_true: now,
                    holding: true,
                    fired_at: None,
                };
                self.problems.insert(k.clone(), p);
            }
            (Some(p), Some(hit)) => {
                p.last_true = p.last_true.max(now);
                p.holding = true;
                p.summary = render(rule, hit);
                p.details = hit.details.clone();
            }
            (Some(p), None) => {
                if p.fired_at.is_none() {
                    self.problems.remove(&k);
                    return;
                }
                p.holding = false;
            }
        }
        self.advance(&k, rule, now);
    }

    /// Lets time act on one problem: fire after `for`, resolve after `keep_firing_for`.
    fn advance(&mut self, k: &(String, String), rule: &Rule, now: DateTime<Utc>) {
        let Some(p) = self.problems.get_mut(k) else { return };
        match p.fired_at {
            None if p.holding && elapsed(p.since, now, rule.for_) => {
                // Nothing was announced yet: the rule's current severity (it may have changed on restore).
                p.severity = rule.severity;
                p.fired_at = Some(now);
                self.out.push(Transition::Fired {
                    server: p.server.clone(),
                    key: p.key.clone(),
                    rule: p.rule.clone(),
                    severity: p.severity,
                    summary: p.summary.clone(),
                    details: p.details.clone(),
                    since: p.since,
                    at: now,
                });
            }
            Some(_) if !p.holding && elapsed(p.last_true, now, rule.keep_firing_for) => self.retire(k, now),
            _ => {}
        }
    }

    /// Removes a problem; a fired one is announced as resolved.
    fn retire(&mut self, k: &(String, String), now: DateTime<Utc>) {
        if let Some(p) = self.problems.remove(k)
            && p.fired_at.is_some()
        {
            self.out.push(Transition::Resolved { server: p.server, key: p.key, rule: p.rule, at: now });
        }
    }

    /// Applies one judgement of `rule` on a sample of `server`.
    fn apply(&mut self, server: &str, rule: &Rule, e: eval::Eval, now: DateTime<Utc>) {
        let mut seen: BTreeMap<String, Option<Hit>> = BTreeMap::new();
        for (subject, hit) in e.seen {
            if seen.len() >= MAX_SUBJECTS && !seen.contains_key(&subject) {
                continue;
            }
            let hit = hit.filter(|_| !rule.exclude.contains(&subject));
            // The same subject twice (a duplicated reading): true wins.
            let slot = seen.entry(subject).or_insert(None);
            if slot.is_none() {
                *slot = hit;
            }
        }
        let held: BTreeSet<String> = e.held.into_iter().take(MAX_SUBJECTS).collect();
        for (subject, hit) in &seen {
            if hit.is_some() || !held.contains(subject) {
                self.observe(server, rule, subject, hit.as_ref(), now, now);
            }
        }
        if e.rest == Rest::False {
            let prefix = problem_key(&rule.id, "");
            let others: Vec<String> = self
                .problems
                .range((server.to_string(), String::new())..)
                .take_while(|((s, _), _)| s == server)
                .filter(|(_, p)| p.rule == rule.id)
                .map(|((_, key), _)| {
                    key.strip_prefix(&prefix).map(|s| s.strip_prefix(':').unwrap_or(s)).unwrap_or("").to_string()
                })
                .filter(|subject| !seen.contains_key(subject) && !held.contains(subject))
                .collect();
            for subject in others {
                self.observe(server, rule, &subject, None, now, now);
            }
        }
    }
}

impl Engine {
    pub fn new(rules: Rules) -> Self {
        Self { retention: retention(&rules), rules, problems: BTreeMap::new(), servers: BTreeMap::new() }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// One decoded sample of `server` received at `now`. Returns the transitions it caused.
    pub fn on_sample(&mut self, server: &str, now: DateTime<Utc>, sample: &SampleV1) -> Vec<Transition> {
        let st = self.servers.entry(server.to_string()).or_default();
        st.last_sample = Some(st.last_sample.map_or(now, |t| t.max(now)));
        st.history.observe(sample, now, self.retention);
        if st.presence.is_none_or(|(p, _)| p != AgentStatus::Online) {
            st.presence = Some((AgentStatus::Online, now));
        }
        let st = &self.servers[server];
        let mut book = Book { problems: &mut self.problems, out: Vec::new() };
        judge_presence(&mut book, &self.rules, server, st, now);
        for rule in self.rules.enabled().filter(|r| !r.condition.is_presence()) {
            let e = eval::evaluate(&rule.condition, sample, &st.history, now);
            book.apply(server, rule, e, now);
        }
        retire_orphans(&mut book, &self.rules, Some(server), now);
        book.out
    }

    /// The server's presence changed or is re-confirmed: "online", "offline", "stopped" (clean
    /// shutdown) or "stale" (no sample for several intervals, decided by the writer). Any other word
    /// changes nothing.
    pub fn on_presence(&mut self, server: &str, now: DateTime<Utc>, status: &str) -> Vec<Transition> {
        let Some(status) = AgentStatus::parse(status) else { return Vec::new() };
        let st = self.servers.entry(server.to_string()).or_default();
        if st.presence.is_none_or(|(p, _)| p != status) {
            st.presence = Some((status, now));
        }
        let st = &self.servers[server];
        let mut book = Book { problems: &mut self.problems, out: Vec::new() };
        judge_presence(&mut book, &self.rules, server, st, now);
        book.out
    }

    /// Time passing: presence problems fire once `for` has passed and resolve once
    /// `keep_firing_for` has; problems of disabled or removed rules resolve. Call every few seconds.
    pub fn on_tick(&mut self, now: DateTime<Utc>) -> Vec<Transition> {
        let mut book = Book { problems: &mut self.problems, out: Vec::new() };
        let presence: Vec<((String, String), &Rule)> = book
            .problems
            .iter()
            .filter_map(|(k, p)| {
                self.rules.get(&p.rule).filter(|r| r.enabled && r.condition.is_presence()).map(|r| (k.clone(), r))
            })
            .collect();
        for (k, rule) in presence {
            book.advance(&k, rule, now);
        }
        retire_orphans(&mut book, &self.rules, None, now);
        book.out
    }

    /// Forgets a server taken out of service: its fired problems resolve, its history goes.
    pub fn forget(&mut self, server: &str, now: DateTime<Utc>) -> Vec<Transition> {
        self.servers.remove(server);
        let keys: Vec<(String, String)> = self
            .problems
            .range((server.to_string(), String::new())..)
            .take_while(|((s, _), _)| s == server)
            .map(|(k, _)| k.clone())
            .collect();
        let mut book = Book { problems: &mut self.problems, out: Vec::new() };
        for k in keys {
            book.retire(&k, now);
        }
        book.out
    }

    /// Everything firing or pending, most severe first, then oldest first.
    pub fn active(&self) -> Vec<ActiveProblem> {
        let mut v: Vec<ActiveProblem> = self
            .problems
            .values()
            .map(|p| ActiveProblem {
                server: p.server.clone(),
                key: p.key.clone(),
                rule: p.rule.clone(),
                severity: p.severity,
                phase: if p.fired_at.is_some() { Phase::Firing } else { Phase::Pending },
                summary: p.summary.clone(),
                details: p.details.clone(),
                since: p.since,
                fired_at: p.fired_at,
                last_true: p.last_true,
                holding: p.holding,
            })
            .collect();
        v.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.since.cmp(&b.since))
                .then(a.server.cmp(&b.server))
                .then(a.key.cmp(&b.key))
        });
        v
    }

    /// The state to persist.
    pub fn snapshot(&self) -> EngineState {
        EngineState {
            version: STATE_VERSION,
            problems: self.problems.values().cloned().collect(),
            servers: self.servers.clone(),
        }
    }

    /// An engine that continues from `state` under `rules` (which may have changed: problems of
    /// rules now gone or disabled resolve on the next tick). A state of another version is not
    /// understood and is ignored: the engine starts empty.
    pub fn restore(rules: Rules, state: EngineState) -> Self {
        let mut engine = Self::new(rules);
        if state.version != STATE_VERSION {
            return engine;
        }
        engine.problems = state.problems.into_iter().map(|p| ((p.server.clone(), p.key.clone()), p)).collect();
        engine.servers = state.servers;
        engine
    }
}

/// Judges the presence rules for `server`.
fn judge_presence(book: &mut Book<'_>, rules: &Rules, server: &str, st: &ServerState, now: DateTime<Utc>) {
    let Some((status, since)) = st.presence else { return };
    for rule in rules.enabled() {
        let Condition::AgentSilent { statuses } = &rule.condition else { continue };
        let hit = statuses.contains(&status).then(|| silent_hit(status, since, st.last_sample));
        book.observe(server, rule, "", hit.as_ref(), now, since);
    }
}

fn when_es(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y %H:%M UTC").to_string()
}

fn silent_hit(status: AgentStatus, since: DateTime<Utc>, last_sample: Option<DateTime<Utc>>) -> Hit {
    let why = match status {
        AgentStatus::Offline => "desconectado: el broker publicó su última voluntad (conexión perdida)",
        AgentStatus::Stale => "no envía muestras",
        AgentStatus::Stopped => "detenido (apagado ordenado del agente)",
        AgentStatus::Online => "en línea",
    };
    let mut details = vec![format!("estado {} desde {}", status.as_str(), when_es(since))];
    details.push(match last_sample {
        Some(t) => format!("última muestra recibida: {}", when_es(t)),
        None => "no se ha recibido ninguna muestra".to_string(),
    });
    Hit { subject: String::new(), name: "agente".into(), summary: format!("Agente sin reportar: {why}"), details }
}

/// Resolves problems whose rule is gone or disabled (of one server, or all).
fn retire_orphans(book: &mut Book<'_>, rules: &Rules, server: Option<&str>, now: DateTime<Utc>) {
    let orphans: Vec<(String, String)> = book
        .problems
        .iter()
        .filter(|((s, _), _)| server.is_none_or(|server| s == server))
        .filter(|(_, p)| rules.get(&p.rule).is_none_or(|r| !r.enabled))
        .map(|(k, _)| k.clone())
        .collect();
    for k in orphans {
        book.retire(&k, now);
    }
}
