//! `GET /metrics`: the fleet and the collector itself in the Prometheus text exposition format
//! (version 0.0.4), for sites that also run Grafana.
//!
//! Invariants:
//! - Off unless `[http] metrics_token_file` is set (404, saying how to turn it on); then only a
//!   request carrying `Authorization: Bearer <that token>` is answered (401 otherwise), compared in
//!   constant time.
//! - A scrape costs a fixed number of queries whatever the size of the fleet, and decodes only the
//!   newest sample of each server ([`read::latest_samples`]).
//! - [`render`] is a pure function of a [`Snapshot`]: each family once, HELP and TYPE first, its
//!   samples together; label values escaped; a series never twice (Prometheus refuses the whole
//!   scrape over one duplicate, and two mounts or sensors can share a name).

use super::{AppState, WebError, WorkflowEnv};
use crate::store::read;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use centinela_shared::{AmiState, Body, Level, Reading, SampleV1, SmartStatus, Verdict};
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The exposition format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const DISABLED: &str = "Métricas desactivadas: defina `[http] metrics_token_file` en la configuración del colector \
(un archivo legible solo por root con el token en su primera línea) y reinicie el colector.\n\
Metrics are disabled: set `[http] metrics_token_file` in the collector's config (a root-readable file with the \
token on its first line) and restart the collector.\n";

const UNAUTHORIZED: &str = "Falta el token o no es el correcto: envíe `Authorization: Bearer <token>` con el token \
del archivo `[http] metrics_token_file`.\n\
Missing or wrong token: send `Authorization: Bearer <token>` with the token in the `[http] metrics_token_file` file.\n";

/// Everything a scrape shows, as plain data.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// By agent id.
    pub servers: Vec<ServerSnapshot>,
    pub collector: CollectorSnapshot,
}

/// One server: its row, its tickets and problems, and its newest sample.
#[derive(Debug, Clone, Default)]
pub struct ServerSnapshot {
    /// The agent id.
    pub id: String,
    /// online, offline, stopped or stale.
    pub status: String,
    /// Receive time of the newest sample, ms since the epoch.
    pub last_seen_ms: Option<i64>,
    pub open_tickets: u64,
    /// Problems firing now by severity (low, medium, high, critical).
    pub problems: Vec<(String, u64)>,
    /// When the newest sample was taken (ms) and what it said; `None` before the first sample.
    pub latest: Option<(i64, SampleV1)>,
}

/// The collector's own state.
#[derive(Debug, Clone, Default)]
pub struct CollectorSnapshot {
    /// Ingest counters since the collector started ([`crate::store::writer::IngestStats`]).
    pub samples_stored: u64,
    pub samples_duplicate: u64,
    pub messages_rejected: u64,
    /// Rows kept in the `rejected` table.
    pub rejected_rows: u64,
    pub mqtt_connected: bool,
    /// Servers whose newest stored sample this collector cannot decode any more.
    pub undecodable_latest: u64,
    pub tickets_open: u64,
    pub tickets_overdue: u64,
    pub notifications: crate::notify::Counts,
}

/// The handler of `GET /metrics`.
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    let text = HeaderValue::from_static("text/plain; charset=utf-8");
    let Some(expected) = st.http.metrics_token.as_deref() else {
        return Ok((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, text)], DISABLED).into_response());
    };
    if !bearer(&headers).is_some_and(|sent| same_token(sent, expected)) {
        tracing::debug!("metrics: request without the right bearer token");
        let challenge = HeaderValue::from_static("Bearer realm=\"centinela-metrics\"");
        return Ok((
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge), (header::CONTENT_TYPE, text)],
            UNAUTHORIZED,
        )
            .into_response());
    }
    let counters = CollectorSnapshot {
        samples_stored: st.stats.stored.load(Ordering::Relaxed),
        samples_duplicate: st.stats.duplicates.load(Ordering::Relaxed),
        messages_rejected: st.stats.rejected.load(Ordering::Relaxed),
        mqtt_connected: st.ingest.connected.load(Ordering::Relaxed),
        ..Default::default()
    };
    let workflow = Arc::clone(&st.workflow);
    let now = chrono::Utc::now();
    let body = st.db.with(move |conn| Ok(render(&snapshot(conn, now, &workflow, counters)?))).await?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body).into_response())
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let (scheme, token) = headers.get(header::AUTHORIZATION)?.to_str().ok()?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Compares digests, not the tokens: the time taken depends neither on where they first differ nor
/// on the length sent.
fn same_token(sent: &str, expected: &str) -> bool {
    let (a, b) = (Sha256::digest(sent.as_bytes()), Sha256::digest(expected.as_bytes()));
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads what a scrape shows: one query per table, one decoded sample per server, all in one read
/// transaction so the counts agree with each other.
fn snapshot(
    conn: &Connection,
    now: chrono::DateTime<chrono::Utc>,
    workflow: &WorkflowEnv,
    mut collector: CollectorSnapshot,
) -> rusqlite::Result<Snapshot> {
    let conn = &conn.unchecked_transaction()?;
    let open = crate::tickets::store::open_by_server(conn)?;
    let mut problems: HashMap<i64, Vec<(String, u64)>> = HashMap::new();
    let mut stmt = conn.prepare_cached("SELECT server_id, severity, count(*) FROM problems GROUP BY 1, 2")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))? {
        let (server, severity, n) = row?;
        // Stored as people read it (crítica); Prometheus queries are easier in plain ASCII.
        let severity = crate::rules::Severity::parse(&severity).map_or(severity, |s| severity_name(s).to_string());
        problems.entry(server).or_default().push((severity, n.unsigned_abs()));
    }
    let mut latest: HashMap<String, _> = read::latest_samples(conn)?.into_iter().collect();
    let mut servers = Vec::new();
    let mut stmt = conn.prepare_cached("SELECT id, agent_id, status, last_seen FROM servers ORDER BY agent_id")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<i64>>(3)?))
    })?;
    for row in rows {
        let (key, id, status, last_seen_ms) = row?;
        let latest = match latest.remove(&id) {
            Some(Ok(env)) => match env.body {
                Body::SampleV1(s) => Some((env.taken_ms, s)),
                // Call records never go to `samples`.
                Body::CdrBatchV1(_) | Body::QueueLogBatchV1(_) => None,
            },
            Some(Err(_)) => {
                collector.undecodable_latest += 1;
                None
            }
            None => None,
        };
        servers.push(ServerSnapshot {
            open_tickets: open.get(&key).map_or(0, |n| n.unsigned_abs()),
            problems: problems.remove(&key).unwrap_or_default(),
            id,
            status,
            last_seen_ms,
            latest,
        });
    }
    collector.rejected_rows = read::rejected_count(conn)?.unsigned_abs();
    collector.tickets_open = conn
        .query_row("SELECT count(*) FROM tickets WHERE state IN ('solicitado', 'asignado', 'en_atencion')", [], |r| {
            r.get::<_, i64>(0)
        })?
        .unsigned_abs();
    // Overdue needs each ticket and the business calendar; open tickets are few (hundreds).
    let open_tickets = crate::tickets::store::list(conn, &Default::default(), 100_000)?;
    let targets = &workflow.ctx.tickets.targets;
    collector.tickets_overdue =
        open_tickets.iter().filter(|t| crate::tickets::overdue(t, now, &workflow.calendar, targets).is_some()).count()
            as u64;
    collector.notifications = crate::notify::counts(conn)?;
    Ok(Snapshot { servers, collector })
}

fn severity_name(s: crate::rules::Severity) -> &'static str {
    match s {
        crate::rules::Severity::Low => "low",
        crate::rules::Severity::Medium => "medium",
        crate::rules::Severity::High => "high",
        crate::rules::Severity::Critical => "critical",
    }
}

const STATUSES: [&str; 4] = ["online", "offline", "stopped", "stale"];
const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];

/// One metric family: its header and its samples, in the order they were added.
struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    body: String,
    /// Label sets written for the current server (a series can only repeat within one server).
    seen: HashSet<String>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Self {
        Self { name, kind, help, body: String::new(), seen: HashSet::new() }
    }

    /// Adds `name{labels} value`, unless that series is already there (the first one wins).
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut series = String::new();
        if !labels.is_empty() {
            series.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    series.push(',');
                }
                series.push_str(k);
                series.push_str("=\"");
                escape_label_value(&mut series, v);
                series.push('"');
            }
            series.push('}');
        }
        if self.seen.contains(&series) {
            return;
        }
        self.body.push_str(self.name);
        self.body.push_str(&series);
        self.body.push(' ');
        push_value(&mut self.body, value);
        self.body.push('\n');
        self.seen.insert(series);
    }

    fn write(&self, out: &mut String) {
        out.push_str("# HELP ");
        out.push_str(self.name);
        out.push(' ');
        escape_help(out, self.help);
        out.push_str("\n# TYPE ");
        out.push_str(self.name);
        out.push(' ');
        out.push_str(self.kind);
        out.push('\n');
        out.push_str(&self.body);
    }
}

/// Label values escape backslash, double quote and line feed (`\\`, `\"`, `\n`).
fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed.
fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A value as Go's `ParseFloat` reads it: `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// An `f32` reading as the decimal the agent measured (41.5, not 41.5000001...).
fn from_f32(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::NAN)
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn level_value(l: Level) -> f64 {
    match l {
        Level::Ok => 0.0,
        Level::Warning => 1.0,
        Level::Critical => 2.0,
    }
}

/// The families, in the order they are written: `field: type "name" "HELP text"`.
macro_rules! families {
    ($($field:ident: $kind:ident $name:literal $help:literal,)*) => {
        struct Families {
            $($field: Family,)*
        }

        impl Families {
            fn new() -> Self {
                Self { $($field: Family::new($name, stringify!($kind), $help),)* }
            }

            fn all(&self) -> Vec<&Family> {
                vec![$(&self.$field),*]
            }

            fn all_mut(&mut self) -> Vec<&mut Family> {
                vec![$(&mut self.$field),*]
            }
        }
    };
}

families! {
    server_up: gauge "centinela_server_up"
        "1 while the server's agent is online, 0 otherwise.",
    server_status: gauge "centinela_server_status"
        "The agent's presence, one-hot: online, offline (Last Will), stopped (clean stop), stale (silent 3 intervals).",
    server_last_seen: gauge "centinela_server_last_seen_timestamp_seconds"
        "When the collector received the server's newest sample (Unix time).",
    server_open_tickets: gauge "centinela_server_open_tickets"
        "Corrective tickets of the server in solicitado, asignado or en_atencion.",
    server_problems: gauge "centinela_server_problems"
        "Problems the alert rules report firing now on the server, by severity.",
    server_health: gauge "centinela_server_health"
        "Worst verdict in the server's newest sample: 0 ok, 1 warning, 2 critical.",
    server_sample_time: gauge "centinela_server_sample_timestamp_seconds"
        "When the server's newest stored sample was taken, by the agent's clock (Unix time).",
    filesystem_used: gauge "centinela_filesystem_used_ratio"
        "Used share of a mounted filesystem, 0 to 1.",
    temperature: gauge "centinela_temperature_celsius"
        "Temperature of a hwmon sensor in degrees Celsius.",
    fan: gauge "centinela_fan_rpm"
        "Speed of a hwmon fan in revolutions per minute.",
    raid_degraded: gauge "centinela_raid_degraded_members"
        "Missing members of an md RAID array, 0 when healthy.",
    disk_healthy: gauge "centinela_disk_smart_healthy"
        "The disk's own health assessment: 1 passed, 0 failing (ATA SMART status, NVMe critical warning).",
    disk_reallocated: gauge "centinela_disk_reallocated_sectors"
        "Reallocated sectors of an ATA disk (SMART attribute 5, raw).",
    disk_pending: gauge "centinela_disk_pending_sectors"
        "Sectors of an ATA disk waiting to be reallocated (SMART attribute 197, raw).",
    asterisk_up: gauge "centinela_asterisk_up"
        "1 when Asterisk's manager interface answered and accepted the login, 0 otherwise.",
    asterisk_channels: gauge "centinela_asterisk_active_channels"
        "Active Asterisk channels.",
    asterisk_calls: gauge "centinela_asterisk_active_calls"
        "Active Asterisk calls.",
    queue_callers: gauge "centinela_asterisk_queue_callers"
        "Callers waiting in an Asterisk queue.",
    registration: gauge "centinela_asterisk_registration_registered"
        "1 when an outbound SIP registration is Registered, 0 otherwise (channel pjsip or sip).",
    cdr_age: gauge "centinela_cdr_newest_age_seconds"
        "Age of the newest CDR row, by the CDR database's clock.",
    admin_app_up: gauge "centinela_admin_app_up"
        "1 when the VoIP admin web application answered HTTP, 0 otherwise.",
    admin_app_cert: gauge "centinela_admin_app_cert_days_left"
        "Whole days until the admin application's TLS certificate expires, negative once expired.",
    outbox_backlog: gauge "centinela_agent_outbox_backlog"
        "Records in the agent's outbox waiting for the broker's acknowledgement.",
    outbox_dropped: counter "centinela_agent_outbox_dropped_total"
        "Records the agent discarded because its outbox was full, since its state directory was created.",
    samples_stored: counter "centinela_ingest_samples_stored_total"
        "Samples stored since the collector started.",
    samples_duplicate: counter "centinela_ingest_samples_duplicate_total"
        "Redelivered samples that were already stored, since the collector started.",
    messages_rejected: counter "centinela_ingest_messages_rejected_total"
        "MQTT messages rejected (kept in the rejected table) since the collector started.",
    rejected_rows: gauge "centinela_rejected_payloads"
        "Rejected payloads kept in the database, for replay after an upgrade.",
    undecodable: gauge "centinela_undecodable_latest_samples"
        "Servers whose newest stored sample this collector cannot decode (their readings are left out).",
    mqtt_connected: gauge "centinela_mqtt_connected"
        "1 while the collector is connected to the MQTT broker.",
    tickets_open: gauge "centinela_tickets_open"
        "Open corrective tickets (solicitado, asignado, en_atencion).",
    tickets_overdue: gauge "centinela_tickets_overdue"
        "Open tickets past the time target of the step they wait for (Vencido).",
    notifications: gauge "centinela_notifications_undelivered"
        "Notifications not delivered: pending (no failure yet), retrying (failed, tried again later), given_up.",
    build_info: gauge "centinela_build_info"
        "Always 1; the collector's version is a label.",
}

impl Families {
    /// Forgets the label sets seen: series of different servers never collide.
    fn next_server(&mut self) {
        for f in self.all_mut() {
            f.seen.clear();
        }
    }
}

/// The exposition text of `s`.
pub fn render(s: &Snapshot) -> String {
    let mut f = Families::new();
    for server in &s.servers {
        f.next_server();
        server_series(&mut f, server);
    }
    let c = &s.collector;
    f.samples_stored.sample(&[], c.samples_stored as f64);
    f.samples_duplicate.sample(&[], c.samples_duplicate as f64);
    f.messages_rejected.sample(&[], c.messages_rejected as f64);
    f.rejected_rows.sample(&[], c.rejected_rows as f64);
    f.undecodable.sample(&[], c.undecodable_latest as f64);
    f.mqtt_connected.sample(&[], flag(c.mqtt_connected));
    f.tickets_open.sample(&[], c.tickets_open as f64);
    f.tickets_overdue.sample(&[], c.tickets_overdue as f64);
    let n = &c.notifications;
    for (state, count) in [("pending", n.pending), ("retrying", n.failed_retrying), ("given_up", n.given_up)] {
        f.notifications.sample(&[("state", state)], count as f64);
    }
    f.build_info.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    let families = f.all();
    let mut out = String::with_capacity(families.iter().map(|f| f.body.len() + f.help.len() + 64).sum());
    for family in families {
        family.write(&mut out);
    }
    out
}

fn server_series(f: &mut Families, server: &ServerSnapshot) {
    let id = server.id.as_str();
    let sv = [("server", id)];
    f.server_up.sample(&sv, flag(server.status == "online"));
    for status in STATUSES {
        f.server_status.sample(&[("server", id), ("status", status)], flag(server.status == status));
    }
    if let Some(ms) = server.last_seen_ms {
        f.server_last_seen.sample(&sv, ms as f64 / 1000.0);
    }
    f.server_open_tickets.sample(&sv, server.open_tickets as f64);
    // Every known severity, 0 included, so a query for one never finds the series missing.
    let mut by_severity: Vec<(&str, u64)> = SEVERITIES.iter().map(|s| (*s, 0)).collect();
    for (severity, n) in &server.problems {
        match by_severity.iter_mut().find(|(s, _)| s == severity) {
            Some(entry) => entry.1 += n,
            None => by_severity.push((severity, *n)),
        }
    }
    for (severity, n) in by_severity {
        f.server_problems.sample(&[("server", id), ("severity", severity)], n as f64);
    }
    if let Some((taken_ms, sample)) = &server.latest {
        f.server_sample_time.sample(&sv, *taken_ms as f64 / 1000.0);
        readings(f, id, sample);
    }
}

/// The worst level among a reading's verdicts (host and filesystems have none).
fn worst_level(r: &Reading) -> Level {
    let one = |v: &Verdict| v.level;
    match r {
        Reading::HostV1(_) | Reading::FilesystemV1(_) => Level::Ok,
        Reading::RaidArrayV1(a) => one(&a.verdict),
        Reading::TemperatureV1(t) => one(&t.verdict),
        Reading::FanV1(fan) => one(&fan.verdict),
        Reading::AtaDiskV1(d) => one(&d.verdict),
        Reading::NvmeDiskV1(d) => one(&d.verdict),
        Reading::AsteriskV1(a) => std::iter::once(&a.verdict)
            .chain(a.queues.iter().map(|q| &q.verdict))
            .chain(a.registrations.iter().chain(a.sip_registry.iter().flatten()).map(|r| &r.verdict))
            .chain(a.endpoints.iter().chain(a.sip_peers.iter().flatten()).map(|e| &e.verdict))
            .map(one)
            .max()
            .unwrap_or(Level::Ok),
        Reading::DatabaseV1(d) => one(&d.verdict),
        Reading::AdminAppV1(a) => one(&a.verdict),
        Reading::ShippingV1(s) => one(&s.verdict),
    }
}

fn readings(f: &mut Families, id: &str, s: &SampleV1) {
    let sv = [("server", id)];
    f.outbox_backlog.sample(&sv, s.outbox.backlog as f64);
    f.outbox_dropped.sample(&sv, s.outbox.dropped_total as f64);
    let mut worst = Level::Ok;
    for r in &s.readings {
        worst = worst.max(worst_level(r));
        match r {
            Reading::HostV1(_) | Reading::ShippingV1(_) => {}
            Reading::FilesystemV1(fs) => {
                f.filesystem_used.sample(&[("server", id), ("mount", &fs.mount_point)], fs.used_percent() / 100.0);
            }
            Reading::RaidArrayV1(a) => f.raid_degraded.sample(&[("server", id), ("array", &a.name)], a.degraded.into()),
            Reading::TemperatureV1(t) => {
                if let Some(c) = t.celsius {
                    let labels = [("server", id), ("chip", &t.chip), ("device", &t.device), ("sensor", &t.label)];
                    f.temperature.sample(&labels, from_f32(c));
                }
            }
            Reading::FanV1(fan) => {
                if let Some(rpm) = fan.rpm {
                    let labels = [("server", id), ("chip", &fan.chip), ("device", &fan.device), ("fan", &fan.label)];
                    f.fan.sample(&labels, rpm.into());
                }
            }
            Reading::AtaDiskV1(d) => {
                let labels = [("server", id), ("disk", d.device.as_str())];
                match d.smart_status {
                    Some(SmartStatus::Passed) => f.disk_healthy.sample(&labels, 1.0),
                    Some(SmartStatus::Failing) => f.disk_healthy.sample(&labels, 0.0),
                    Some(SmartStatus::Unknown) | None => {}
                }
                if let Some(n) = d.reallocated {
                    f.disk_reallocated.sample(&labels, n as f64);
                }
                if let Some(n) = d.pending {
                    f.disk_pending.sample(&labels, n as f64);
                }
            }
            Reading::NvmeDiskV1(d) => {
                if let Some(w) = d.critical_warning {
                    f.disk_healthy.sample(&[("server", id), ("disk", &d.device)], flag(w == 0));
                }
            }
            Reading::AsteriskV1(a) => {
                f.asterisk_up.sample(&sv, flag(matches!(a.ami, AmiState::Up)));
                if let Some(n) = a.active_channels {
                    f.asterisk_channels.sample(&sv, n.into());
                }
                if let Some(n) = a.active_calls {
                    f.asterisk_calls.sample(&sv, n.into());
                }
                for q in &a.queues {
                    f.queue_callers.sample(&[("server", id), ("queue", &q.name)], q.callers.into());
                }
                let pjsip = a.registrations.iter().map(|r| ("pjsip", r));
                for (channel, r) in pjsip.chain(a.sip_registry.iter().flatten().map(|r| ("sip", r))) {
                    let labels = [("server", id), ("channel", channel), ("registration", &r.name)];
                    f.registration.sample(&labels, flag(r.status.eq_ignore_ascii_case("Registered")));
                }
            }
            Reading::DatabaseV1(d) => {
                if let Some(age) = d.newest_age_s {
                    f.cdr_age.sample(&sv, age as f64);
                }
            }
            Reading::AdminAppV1(a) => {
                f.admin_app_up.sample(&sv, flag(a.reachable));
                if let Some(tls) = &a.tls {
                    f.admin_app_cert.sample(&sv, tls.days_left as f64);
                }
            }
        }
    }
    f.server_health.sample(&sv, level_value(worst));
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::*;

    fn sample(readings: Vec<Reading>) -> SampleV1 {
        SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats { backlog: 3, dropped_total: 7 },
            probes: vec![],
            readings,
        }
    }

    fn server(id: &str, status: &str, readings: Vec<Reading>) -> ServerSnapshot {
        ServerSnapshot {
            id: id.into(),
            status: status.into(),
            last_seen_ms: Some(1_795_000_000_500),
            latest: Some((1_795_000_000_000, sample(readings))),
            ..Default::default()
        }
    }

    fn temperature(label: &str, celsius: Option<f32>, level: Level) -> Reading {
        Reading::TemperatureV1(TemperatureV1 {
            chip: "coretemp".into(),
            device: "platform/coretemp.0".into(),
            label: label.into(),
            celsius,
            max: None,
            crit: None,
            alarm: false,
            verdict: Verdict { level, reasons: vec![] },
        })
    }

    fn filesystem(mount: &str, total: u64, available: u64) -> Reading {
        Reading::FilesystemV1(FilesystemV1 {
            mount_point: mount.into(),
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            total_bytes: total,
            available_bytes: available,
            read_only: false,
        })
    }

    fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.split(['{', ' ']).next() == Some(name)).collect()
    }

    #[test]
    fn label_values_escape_backslash_double_quote_and_line_feed() {
        let s = Snapshot {
            servers: vec![server("pbx\\\"01\"\nx", "online", vec![filesystem("/mnt/a\"b\\c\nd", 100, 25)])],
            ..Default::default()
        };
        let text = render(&s);
        assert!(text.contains(r#"centinela_server_up{server="pbx\\\"01\"\nx"} 1"#), "{text}");
        let fs = r#"centinela_filesystem_used_ratio{server="pbx\\\"01\"\nx",mount="/mnt/a\"b\\c\nd"} 0.75"#;
        assert!(text.contains(fs), "{text}");
        assert!(text.lines().all(|l| l.starts_with("# ") || l.starts_with("centinela_")), "no raw line feed: {text}");
    }

    #[test]
    fn help_text_escapes_backslash_and_line_feed() {
        let mut out = String::new();
        escape_help(&mut out, "a\\b\nc \"d\"");
        assert_eq!(out, "a\\\\b\\nc \"d\"");
    }

    #[test]
    fn non_finite_values_are_written_as_the_format_spells_them() {
        let readings = vec![
            temperature("nan", Some(f32::NAN), Level::Ok),
            temperature("hot", Some(f32::INFINITY), Level::Ok),
            temperature("cold", Some(f32::NEG_INFINITY), Level::Ok),
            temperature("cpu", Some(41.5), Level::Ok),
            temperature("absent", None, Level::Ok),
        ];
        let text = render(&Snapshot { servers: vec![server("pbx", "online", readings)], ..Default::default() });
        let t = lines(&text, "centinela_temperature_celsius");
        let value = |sensor: &str| {
            t.iter().find(|l| l.contains(&format!("sensor=\"{sensor}\""))).map(|l| l.rsplit(' ').next().unwrap())
        };
        assert_eq!(value("nan"), Some("NaN"));
        assert_eq!(value("hot"), Some("+Inf"));
        assert_eq!(value("cold"), Some("-Inf"));
        assert_eq!(value("cpu"), Some("41.5"), "the decimal the sensor gave, not the f32's binary expansion");
        assert_eq!(value("absent"), None, "a sensor without a value has no sample");
    }

    #[test]
    fn status_is_one_hot_and_up_only_when_online() {
        let s = Snapshot {
            servers: vec![server("a", "stale", vec![]), server("b", "online", vec![]), server("c", "weird", vec![])],
            ..Default::default()
        };
        let text = render(&s);
        let status = lines(&text, "centinela_server_status");
        assert_eq!(status.len(), 12, "four statuses per server: {status:?}");
        let ones: Vec<&str> = status.iter().copied().filter(|l| l.ends_with(" 1")).collect();
        assert_eq!(
            ones,
            [
                "centinela_server_status{server=\"a\",status=\"stale\"} 1",
                "centinela_server_status{server=\"b\",status=\"online\"} 1",
            ],
            "an unknown status sets none"
        );
        assert_eq!(
            lines(&text, "centinela_server_up"),
            [
                "centinela_server_up{server=\"a\"} 0",
                "centinela_server_up{server=\"b\"} 1",
                "centinela_server_up{server=\"c\"} 0"
            ]
        );
    }

    #[test]
    fn health_is_the_worst_verdict_and_problems_cover_every_severity() {
        let mut s = server(
            "pbx",
            "online",
            vec![temperature("a", Some(40.0), Level::Warning), temperature("b", Some(90.0), Level::Ok)],
        );
        s.problems = vec![("critical".into(), 2), ("nueva".into(), 1)];
        let text = render(&Snapshot { servers: vec![s], ..Default::default() });
        assert_eq!(lines(&text, "centinela_server_health"), ["centinela_server_health{server=\"pbx\"} 1"]);
        assert_eq!(
            lines(&text, "centinela_server_problems"),
            [
                "centinela_server_problems{server=\"pbx\",severity=\"low\"} 0",
                "centinela_server_problems{server=\"pbx\",severity=\"medium\"} 0",
                "centinela_server_problems{server=\"pbx\",severity=\"high\"} 0",
                "centinela_server_problems{server=\"pbx\",severity=\"critical\"} 2",
                "centinela_server_problems{server=\"pbx\",severity=\"nueva\"} 1",
            ]
        );
    }

    #[test]
    fn a_repeated_series_is_written_once_and_other_servers_keep_theirs() {
        let twice = || vec![filesystem("/", 100, 50), filesystem("/", 100, 10), filesystem("/var", 4, 1)];
        let s = Snapshot {
            servers: vec![server("a", "online", twice()), server("b", "online", twice())],
            ..Default::default()
        };
        let text = render(&s);
        assert_eq!(
            lines(&text, "centinela_filesystem_used_ratio"),
            [
                "centinela_filesystem_used_ratio{server=\"a\",mount=\"/\"} 0.5",
                "centinela_filesystem_used_ratio{server=\"a\",mount=\"/var\"} 0.75",
                "centinela_filesystem_used_ratio{server=\"b\",mount=\"/\"} 0.5",
                "centinela_filesystem_used_ratio{server=\"b\",mount=\"/var\"} 0.75",
            ]
        );
    }

    #[test]
    fn every_family_has_help_and_type_once_before_its_samples_even_on_an_empty_fleet() {
        for s in [Snapshot::default(), Snapshot { servers: vec![server("a", "online", vec![])], ..Default::default() }]
        {
            let text = render(&s);
            let mut seen = HashSet::new();
            let mut current = "";
            for (i, line) in text.lines().enumerate() {
                if let Some(rest) = line.strip_prefix("# HELP ") {
                    current = rest.split(' ').next().unwrap();
                    assert!(seen.insert(current), "{current} twice");
                    let next = text.lines().nth(i + 1).unwrap();
                    assert!(next.starts_with(&format!("# TYPE {current} ")), "{next}");
                } else if !line.starts_with("# TYPE ") {
                    let name = line.split(['{', ' ']).next().unwrap();
                    assert_eq!(name, current, "samples of a family stay together: {line}");
                }
            }
            assert_eq!(seen.len(), Families::new().all().len());
            assert!(text.contains("centinela_tickets_open 0\n") && text.ends_with('\n'));
        }
    }

    #[test]
    fn the_collector_counters_are_rendered() {
        let s = Snapshot {
            collector: CollectorSnapshot {
                samples_stored: 12,
                samples_duplicate: 2,
                messages_rejected: 1,
                rejected_rows: 4,
                tickets_open: 3,
                tickets_overdue: 1,
                notifications: crate::notify::Counts { pending: 5, failed_retrying: 6, given_up: 7 },
                mqtt_connected: true,
                undecodable_latest: 0,
            },
            ..Default::default()
        };
        let text = render(&s);
        for line in [
            "# TYPE centinela_ingest_samples_stored_total counter",
            "centinela_ingest_samples_stored_total 12",
            "centinela_ingest_samples_duplicate_total 2",
            "centinela_ingest_messages_rejected_total 1",
            "centinela_rejected_payloads 4",
            "centinela_tickets_open 3",
            "centinela_tickets_overdue 1",
            "centinela_notifications_undelivered{state=\"pending\"} 5",
            "centinela_notifications_undelivered{state=\"retrying\"} 6",
            "centinela_notifications_undelivered{state=\"given_up\"} 7",
            "centinela_mqtt_connected 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in:\n{text}");
        }
    }

    #[test]
    fn the_token_must_be_the_configured_one_after_bearer() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer  s3cret "));
        assert_eq!(bearer(&h), Some("s3cret"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic s3cret"));
        assert_eq!(bearer(&h), None);
        assert!(same_token("s3cret", "s3cret"));
        assert!(!same_token("s3cre", "s3cret") && !same_token("s3creT", "s3cret") && !same_token("", "s3cret"));
    }
}
