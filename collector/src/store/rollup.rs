//! History for the charts: samples rolled up into 5-minute, hourly and 6-hour buckets (min, max, sum
//! and count per series), the purge of whatever is older than its `[retention]` window, and the
//! series query the charts read. The job runs on its own thread with its own connection, in short
//! `IMMEDIATE` transactions of bounded size, so ingest waits for it at most one small chunk.
//!
//! Invariants:
//! - A server's samples are rolled up in `seq` order. `rollup_cursor.seq` advances in the same
//!   transaction as the buckets it accounts for: a crash mid-chunk rolls both back, and the rerun
//!   produces the same rollups (each sample is counted exactly once).
//! - A sample is rolled up once it is [`SETTLE_MS`] old by receive time, so that samples redelivered
//!   slightly out of order are still counted. One that arrives later than that with a `seq` below
//!   the cursor is stored raw but is not in the charts.
//! - A sample is purged only after it was rolled up, and each server's newest sample is never purged
//!   (the server page shows it). Purged samples are subtracted from `servers.samples`, which keeps
//!   meaning "rows in `samples`".
//! - Buckets are keyed by when the sample was taken (the agent's clock), except when that clock is
//!   more than [`FUTURE_SLACK_MS`] ahead of the collector's: then by when it was received.
//! - Hourly and 6-hour buckets are computed from the samples, not from the finer tables, so each
//!   table is purged on its own schedule. The exception is the history from before migration 0007:
//!   the migration merged those 6-hour buckets exactly out of the hourly ones, once. Points are
//!   finite: NaN and infinities are skipped.
//! - The three tables are written in the same transaction, so they account for the same samples.
//!   `rollup_6h` keeps the hourly window (`[retention] hourly`), so the 1-year chart reaches as far
//!   back as when it read `rollup_1h`, with no new setting to keep in step.

use centinela_agent::config::{ConfigError, parse_duration};
use centinela_shared::{Body, Reading, SampleV1, decode_envelope};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How old (by receive time) a sample must be before it is rolled up.
pub const SETTLE_MS: i64 = 30_000;
/// An agent clock further ahead than this is not trusted for bucketing.
pub const FUTURE_SLACK_MS: i64 = 5 * 60_000;
/// Samples per rollup transaction.
pub const ROLL_CHUNK: usize = 2_000;
/// Rows deleted per purge transaction (at most, roughly).
pub const PURGE_CHUNK: usize = 5_000;
/// The job wakes up this often to roll up what arrived.
const TICK: Duration = Duration::from_secs(5);
/// Purge passes run this often.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// Pause between two chunks of a backlog, so the writer thread gets the database in between.
const PAUSE: Duration = Duration::from_millis(20);

/// The 5-minute bucket width, in seconds.
pub const FIVE_MINUTES_S: i64 = 300;
/// The hourly bucket width, in seconds.
pub const HOUR_S: i64 = 3600;
/// The 6-hour bucket width, in seconds (buckets start at 00, 06, 12 and 18 h UTC).
pub const SIX_HOURS_S: i64 = 6 * HOUR_S;

// ---------------------------------------------------------------------------------------------
// Configuration

/// `[retention]` as written in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    /// Raw samples (the newest sample of each server is always kept). Default "14d".
    pub raw: Option<String>,
    /// 5-minute rollups, read by the charts of 6 h, 24 h and 7 d. Default "90d".
    pub five_minutes: Option<String>,
    /// Hourly rollups, read by the chart of 30 d, and the 6-hour ones, read by the chart of 1 year.
    /// Default "730d".
    pub hourly: Option<String>,
}

/// The validated `[retention]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub five_minutes: Duration,
    pub hourly: Duration,
}

const DAY: Duration = Duration::from_secs(86_400);

impl Default for Retention {
    fn default() -> Self {
        Self { raw: DAY * 14, five_minutes: DAY * 90, hourly: DAY * 730 }
    }
}

impl Retention {
    /// Validates `[retention]`; every error names its key and the fix.
    pub fn from_raw(raw: RawRetention) -> Result<Self, ConfigError> {
        let d = Self::default();
        let read = |key, text: Option<String>, default: Duration, min: Duration| match text {
            Some(s) => parse_duration(key, &s, min, DAY * 3650),
            None => Ok(default),
        };
        Ok(Self {
            raw: read("retention.raw", raw.raw, d.raw, Duration::from_secs(3600))?,
            five_minutes: read("retention.five_minutes", raw.five_minutes, d.five_minutes, DAY)?,
            hourly: read("retention.hourly", raw.hourly, d.hourly, DAY)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// What is charted: the pure extractor

/// One charted metric: its wire-stable name, and how people read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Metric {
    pub name: &'static str,
    /// Spanish, for chart legends.
    pub title: &'static str,
    /// "°C", "rpm", "%", "B" or "" for a count.
    pub unit: &'static str,
}

pub const TEMPERATURE: &str = "temperature";
pub const FAN_RPM: &str = "fan_rpm";
pub const FS_USED_PERCENT: &str = "fs_used_percent";
pub const FS_FREE_BYTES: &str = "fs_free_bytes";
pub const ASTERISK_CHANNELS: &str = "asterisk_channels";
pub const ASTERISK_CALLS: &str = "asterisk_calls";
pub const ASTERISK_CALLS_PROCESSED: &str = "asterisk_calls_processed";
pub const QUEUE_CALLERS: &str = "queue_callers";
pub const REGISTRATION: &str = "registration";
pub const CDR_ROWS_LAST_HOUR: &str = "cdr_rows_last_hour";
pub const SMART_REALLOCATED: &str = "smart_reallocated";
pub const SMART_PENDING: &str = "smart_pending";
pub const SMART_OFFLINE_UNCORRECTABLE: &str = "smart_offline_uncorrectable";
pub const NVME_MEDIA_ERRORS: &str = "nvme_media_errors";
pub const OUTBOX_BACKLOG: &str = "outbox_backlog";

/// Every metric [`points`] produces, in the order the API lists them.
pub const METRICS: &[Metric] = &[
    Metric { name: TEMPERATURE, title: "Temperatura", unit: "°C" },
    Metric { name: FAN_RPM, title: "Ventilador", unit: "rpm" },
    Metric { name: FS_USED_PERCENT, title: "Uso del sistema de archivos", unit: "%" },
    Metric { name: FS_FREE_BYTES, title: "Espacio libre", unit: "B" },
    Metric { name: ASTERISK_CALLS, title: "Llamadas activas", unit: "" },
    Metric { name: ASTERISK_CHANNELS, title: "Canales activos", unit: "" },
    Metric { name: ASTERISK_CALLS_PROCESSED, title: "Llamadas procesadas (contador de Asterisk)", unit: "" },
    Metric { name: QUEUE_CALLERS, title: "Llamantes en espera", unit: "" },
    Metric { name: REGISTRATION, title: "Registro de troncal (1 = registrada)", unit: "" },
    Metric { name: CDR_ROWS_LAST_HOUR, title: "Filas de CDR en la última hora", unit: "" },
    Metric { name: SMART_REALLOCATED, title: "Sectores reasignados", unit: "" },
    Metric { name: SMART_PENDING, title: "Sectores pendientes", unit: "" },
    Metric { name: SMART_OFFLINE_UNCORRECTABLE, title: "Sectores no corregibles", unit: "" },
    Metric { name: NVME_MEDIA_ERRORS, title: "Errores de medio NVMe", unit: "" },
    Metric { name: OUTBOX_BACKLOG, title: "Pendientes de envío en el agente", unit: "" },
];

/// The metric of that name.
pub fn metric(name: &str) -> Option<&'static Metric> {
    METRICS.iter().find(|m| m.name == name)
}

/// One value of one series in one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: &'static str,
    /// Which sensor, mount point, queue, registration or disk; "" for a per-server value.
    pub subject: String,
    pub value: f64,
}

/// A hwmon input as people name it: `coretemp.0: Package id 0`, `nvme0: Composite`. The chip's
/// device (last path component) tells two chips of the same driver apart; hwmonN is never used
/// (it changes across boots).
fn sensor_subject(chip: &str, device: &str, label: &str) -> String {
    let dev = device.rsplit('/').next().unwrap_or(device);
    if dev.is_empty() || dev == chip {
        format!("{chip}: {label}")
    } else if dev.starts_with(chip) {
        format!("{dev}: {label}")
    } else {
        format!("{chip} {dev}: {label}")
    }
}

/// The charted values of one sample. Pure: no I/O, no clock.
pub fn points(sample: &SampleV1) -> Vec<Point> {
    let mut out = Vec::new();
    let mut push = |metric: &'static str, subject: String, value: f64| {
        if value.is_finite() {
            out.push(Point { metric, subject, value });
        }
    };
    push(OUTBOX_BACKLOG, String::new(), sample.outbox.backlog as f64);
    for r in &sample.readings {
        match r {
            Reading::TemperatureV1(t) => {
                if let Some(c) = t.celsius {
                    push(TEMPERATURE, sensor_subject(&t.chip, &t.device, &t.label), f64::from(c));
                }
            }
            Reading::FanV1(f) => {
                if let Some(rpm) = f.rpm {
                    push(FAN_RPM, sensor_subject(&f.chip, &f.device, &f.label), f64::from(rpm));
                }
            }
            Reading::FilesystemV1(fs) => {
                push(FS_USED_PERCENT, fs.mount_point.clone(), fs.used_percent());
                push(FS_FREE_BYTES, fs.mount_point.clone(), fs.available_bytes as f64);
            }
            Reading::AsteriskV1(a) => {
                if let Some(n) = a.active_channels {
                    push(ASTERISK_CHANNELS, String::new(), f64::from(n));
                }
                if let Some(n) = a.active_calls {
                    push(ASTERISK_CALLS, String::new(), f64::from(n));
                }
                if let Some(n) = a.calls_processed {
                    push(ASTERISK_CALLS_PROCESSED, String::new(), n as f64);
                }
                for q in &a.queues {
                    push(QUEUE_CALLERS, q.name.clone(), f64::from(q.callers));
                }
                let registered = |status: &str| if status.eq_ignore_ascii_case("registered") { 1.0 } else { 0.0 };
                for reg in &a.registrations {
                    push(REGISTRATION, reg.name.clone(), registered(&reg.status));
                }
                for reg in a.sip_registry.iter().flatten() {
                    push(REGISTRATION, format!("{} (chan_sip)", reg.name), registered(&reg.status));
                }
            }
            Reading::DatabaseV1(d) => {
                if let Some(n) = d.rows_last_hour {
                    push(CDR_ROWS_LAST_HOUR, String::new(), n as f64);
                }
            }
            Reading::AtaDiskV1(d) => {
                for (metric, v) in [
                    (SMART_REALLOCATED, d.reallocated),
                    (SMART_PENDING, d.pending),
                    (SMART_OFFLINE_UNCORRECTABLE, d.offline_uncorrectable),
                ] {
                    if let Some(v) = v {
                        push(metric, d.device.clone(), v as f64);
                    }
                }
            }
            Reading::NvmeDiskV1(d) => {
                if let Some(v) = d.media_errors {
                    push(NVME_MEDIA_ERRORS, d.device.clone(), v as f64);
                }
            }
            Reading::HostV1(_) | Reading::RaidArrayV1(_) | Reading::AdminAppV1(_) | Reading::ShippingV1(_) => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Buckets

/// The min, max, sum and count of the values that fell in one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub count: i64,
}

impl Agg {
    pub fn one(v: f64) -> Self {
        Self { min: v, max: v, sum: v, count: 1 }
    }

    pub fn add(&mut self, v: f64) {
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
        self.count += 1;
    }

    pub fn avg(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }
}

/// The start (seconds since the epoch) of the `width_s` bucket holding `ts_ms`.
pub fn bucket_start(ts_ms: i64, width_s: i64) -> i64 {
    ts_ms.div_euclid(width_s * 1000) * width_s
}

/// The time a sample is bucketed at: when it was taken, unless the agent's clock is ahead.
pub fn bucket_time(taken_ms: i64, received_ms: i64) -> i64 {
    if taken_ms > received_ms + FUTURE_SLACK_MS { received_ms } else { taken_ms }
}

/// A chunk's buckets before they are written: (series id, bucket start) → aggregate.
type Buckets = HashMap<(i64, i64), Agg>;

fn add_to(buckets: &mut Buckets, series: i64, bucket: i64, v: f64) {
    buckets.entry((series, bucket)).and_modify(|a| a.add(v)).or_insert_with(|| Agg::one(v));
}

fn upsert(tx: &Transaction, table: &str, buckets: &Buckets) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(&format!(
        "INSERT INTO {table} (series_id, bucket, min, max, sum, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (series_id, bucket) DO UPDATE SET
            min = min({table}.min, excluded.min), max = max({table}.max, excluded.max),
            sum = {table}.sum + excluded.sum, count = {table}.count + excluded.count"
    ))?;
    for ((series, bucket), a) in buckets {
        stmt.execute(params![series, bucket, a.min, a.max, a.sum, a.count])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The job

/// The rollup and purge job's state between chunks: the retention windows and a cache of series
/// ids (cleared whenever a transaction fails, since the ids it learnt may have been rolled back).
pub struct Job {
    retention: Retention,
    series: HashMap<(i64, &'static str, String), i64>,
}

impl Job {
    pub fn new(retention: Retention) -> Self {
        Self { retention, series: HashMap::new() }
    }

    /// Rolls up at most `limit` settled samples in one `IMMEDIATE` transaction. Returns how many
    /// samples it consumed: fewer than `limit` means it has caught up.
    pub fn roll_chunk(&mut self, conn: &mut Connection, now_ms: i64, limit: usize) -> rusqlite::Result<usize> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let r = self.roll_in(&tx, now_ms, limit).and_then(|n| tx.commit().map(|()| n));
        if r.is_err() {
            self.series.clear();
        }
        r
    }

    /// Deletes at most about `budget` rows past their retention window in one `IMMEDIATE`
    /// transaction. Returns how many (possibly one more than `budget`): fewer than `budget` means it
    /// has caught up.
    pub fn purge_chunk(&mut self, conn: &mut Connection, now_ms: i64, budget: usize) -> rusqlite::Result<usize> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = self.purge_in(&tx, now_ms, budget)?;
        tx.commit()?;
        Ok(n)
    }

    fn series_id(
        &mut self,
        tx: &Transaction,
        server: i64,
        metric: &'static str,
        subject: String,
    ) -> rusqlite::Result<i64> {
        let key = (server, metric, subject);
        if let Some(id) = self.series.get(&key) {
            return Ok(*id);
        }
        tx.prepare_cached(
            "INSERT INTO series (server_id, metric, subject) VALUES (?1, ?2, ?3)
             ON CONFLICT (server_id, metric, subject) DO NOTHING",
        )?
        .execute(params![server, metric, key.2])?;
        let id = tx
            .prepare_cached("SELECT id FROM series WHERE server_id = ?1 AND metric = ?2 AND subject = ?3")?
            .query_row(params![server, metric, key.2], |r| r.get(0))?;
        if self.series.len() > 100_000 {
            self.series.clear();
        }
        self.series.insert(key, id);
        Ok(id)
    }

    /// The body of [`Job::roll_chunk`], inside the caller's transaction.
    pub fn roll_in(&mut self, tx: &Transaction, now_ms: i64, limit: usize) -> rusqlite::Result<usize> {
        let pending: Vec<(i64, i64)> = tx
            .prepare_cached(
                "SELECT s.id, coalesce(c.seq, 0) FROM servers s LEFT JOIN rollup_cursor c ON c.server_id = s.id
                 WHERE s.last_seq > coalesce(c.seq, 0) ORDER BY s.id",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let settled = now_ms - SETTLE_MS;
        let (mut five, mut hourly, mut six) = (Buckets::new(), Buckets::new(), Buckets::new());
        let mut consumed = 0usize;
        for (server, cursor) in pending {
            if consumed >= limit {
                break;
            }
            let rows: Vec<(i64, i64, i64, Vec<u8>)> = tx
                .prepare_cached(
                    "SELECT seq, taken_ms, received_ms, payload FROM samples
                     WHERE server_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![server, cursor, (limit - consumed) as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<_, _>>()?;
            let mut last = None;
            for (seq, taken_ms, received_ms, payload) in rows {
                if received_ms > settled {
                    break;
                }
                last = Some(seq);
                consumed += 1;
                // The writer only stores samples it could decode; one it cannot read now (a newer
                // wire version after a downgrade) is skipped, not retried for ever.
                let Ok(env) = decode_envelope(&payload) else { continue };
                let Body::SampleV1(sample) = &env.body else { continue };
                let at = bucket_time(taken_ms, received_ms);
                let (b5, b1, b6) =
                    (bucket_start(at, FIVE_MINUTES_S), bucket_start(at, HOUR_S), bucket_start(at, SIX_HOURS_S));
                for p in points(sample) {
                    let id = self.series_id(tx, server, p.metric, p.subject)?;
                    add_to(&mut five, id, b5, p.value);
                    add_to(&mut hourly, id, b1, p.value);
                    add_to(&mut six, id, b6, p.value);
                }
            }
            if let Some(seq) = last {
                tx.prepare_cached(
                    "INSERT INTO rollup_cursor (server_id, seq) VALUES (?1, ?2)
                     ON CONFLICT (server_id) DO UPDATE SET seq = excluded.seq",
                )?
                .execute(params![server, seq])?;
            }
        }
        upsert(tx, "rollup_5m", &five)?;
        upsert(tx, "rollup_1h", &hourly)?;
        upsert(tx, "rollup_6h", &six)?;
        Ok(consumed)
    }

    /// The body of [`Job::purge_chunk`], inside the caller's transaction.
    pub fn purge_in(&mut self, tx: &Transaction, now_ms: i64, budget: usize) -> rusqlite::Result<usize> {
        let mut deleted = 0usize;
        let raw_cutoff = now_ms - self.retention.raw.as_millis() as i64;
        let cursors: Vec<(i64, i64)> = tx
            .prepare_cached("SELECT server_id, seq FROM rollup_cursor ORDER BY server_id")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (server, cursor) in cursors {
            if deleted >= budget {
                return Ok(deleted);
            }
            let newest: Option<i64> = tx
                .prepare_cached("SELECT max(seq) FROM samples WHERE server_id = ?1")?
                .query_row([server], |r| r.get(0))?;
            let Some(newest) = newest else { continue };
            // Only what was rolled up, and never the newest sample.
            let cap = cursor.min(newest - 1);
            let rows: Vec<(i64, i64)> = tx
                .prepare_cached(
                    "SELECT seq, received_ms FROM samples WHERE server_id = ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                )?
                .query_map(params![server, cap, (budget - deleted) as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let Some(last) = rows.iter().take_while(|(_, received)| *received < raw_cutoff).map(|(seq, _)| *seq).last()
            else {
                continue;
            };
            let n = tx
                .prepare_cached("DELETE FROM samples WHERE server_id = ?1 AND seq <= ?2")?
                .execute(params![server, last])?;
            tx.prepare_cached("UPDATE servers SET samples = max(samples - ?2, 0) WHERE id = ?1")?
                .execute(params![server, n as i64])?;
            deleted += n;
        }
        let series: Vec<i64> = tx
            .prepare_cached("SELECT id FROM series ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for (table, width, keep) in [
            ("rollup_5m", FIVE_MINUTES_S, self.retention.five_minutes),
            ("rollup_1h", HOUR_S, self.retention.hourly),
            ("rollup_6h", SIX_HOURS_S, self.retention.hourly),
        ] {
            // A bucket goes once all of it is older than the window.
            let cutoff = (now_ms - keep.as_millis() as i64).div_euclid(1000) - width;
            for &id in &series {
                // Each round deletes at least the oldest bucket, and at most about the budget left.
                loop {
                    if deleted >= budget {
                        return Ok(deleted);
                    }
                    let first: Option<i64> = tx
                        .prepare_cached(&format!("SELECT min(bucket) FROM {table} WHERE series_id = ?1"))?
                        .query_row([id], |r| r.get(0))?;
                    let Some(first) = first.filter(|f| *f <= cutoff) else { break };
                    let upto = cutoff.min(first + (budget - deleted) as i64 * width);
                    deleted += tx
                        .prepare_cached(&format!("DELETE FROM {table} WHERE series_id = ?1 AND bucket <= ?2"))?
                        .execute(params![id, upto])?;
                }
            }
        }
        Ok(deleted)
    }
}

/// The running job's thread.
pub struct Handle {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    /// Waits for the thread to finish (after `stop` turned true).
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Starts the rollup and purge thread on `conn`, its own connection ([`super::open_writer`]); it
/// stops when `stop` turns true.
pub fn spawn(
    mut conn: Connection,
    retention: Retention,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<Handle> {
    // Asked to stop, or the sender is gone (serve returned early on an error).
    let stopped = move || *stop.borrow() || stop.has_changed().is_err();
    let thread = std::thread::Builder::new().name("rollup".into()).spawn(move || {
        let mut job = Job::new(retention);
        let mut last_purge: Option<Instant> = None;
        // Sleeps `d` in short slices; false once asked to stop.
        let wait = |d: Duration| {
            let until = Instant::now() + d;
            while Instant::now() < until {
                if stopped() {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
            }
            !stopped()
        };
        loop {
            loop {
                match job.roll_chunk(&mut conn, now_ms(), ROLL_CHUNK) {
                    Ok(n) if n >= ROLL_CHUNK => {
                        if !wait(PAUSE) {
                            return;
                        }
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "rollup: a chunk failed; it will be retried");
                        break;
                    }
                }
            }
            if last_purge.is_none_or(|t| t.elapsed() >= PURGE_EVERY) {
                last_purge = Some(Instant::now());
                let mut total = 0;
                loop {
                    match job.purge_chunk(&mut conn, now_ms(), PURGE_CHUNK) {
                        Ok(n) => {
                            total += n;
                            if n < PURGE_CHUNK {
                                break;
                            }
                            if !wait(PAUSE) {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "retention: a purge chunk failed; it will be retried");
                            break;
                        }
                    }
                }
                if total > 0 {
                    tracing::info!(rows = total, "retention: purged rows past their window");
                }
            }
            if !wait(TICK) {
                return;
            }
        }
    })?;
    Ok(Handle { thread: Some(thread) })
}

// ---------------------------------------------------------------------------------------------
// Reading series

/// A chart's time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    H6,
    H24,
    D7,
    D30,
    Y1,
}

impl Range {
    pub const ALL: [Range; 5] = [Range::H6, Range::H24, Range::D7, Range::D30, Range::Y1];

    /// `6h`, `24h`, `7d`, `30d` or `1y`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Range::H6 => "6h",
            Range::H24 => "24h",
            Range::D7 => "7d",
            Range::D30 => "30d",
            Range::Y1 => "1y",
        }
    }

    pub fn span_ms(self) -> i64 {
        const H: i64 = 3_600_000;
        match self {
            Range::H6 => 6 * H,
            Range::H24 => 24 * H,
            Range::D7 => 7 * 24 * H,
            Range::D30 => 30 * 24 * H,
            Range::Y1 => 365 * 24 * H,
        }
    }

    /// The bucket width read from the database: 5 minutes up to 7 days, hourly for 30 days, 6 hours
    /// for a year.
    pub fn source_step_s(self) -> i64 {
        self.source().1
    }

    /// The width of a point drawn: the source buckets merged exactly (min of mins, max of maxes,
    /// sums and counts added), so that no chart has more than about 1,500 points per line (a year
    /// of hourly points is 8,760, more than a screen has pixels, and 12 MB of JSON per page).
    pub fn step_s(self) -> i64 {
        match self {
            Range::H6 | Range::H24 => FIVE_MINUTES_S,
            Range::D7 => 6 * FIVE_MINUTES_S,
            Range::D30 => HOUR_S,
            Range::Y1 => SIX_HOURS_S,
        }
    }

    /// The table read and its bucket width. A year reads `rollup_6h` rather than merging six hourly
    /// rows into each point: 1,460 rows a line instead of 8,760 (bench/RESULTS.md, issue 6).
    fn source(self) -> (&'static str, i64) {
        match self {
            Range::H6 | Range::H24 | Range::D7 => ("rollup_5m", FIVE_MINUTES_S),
            Range::D30 => ("rollup_1h", HOUR_S),
            Range::Y1 => ("rollup_6h", SIX_HOURS_S),
        }
    }

    fn table(self) -> &'static str {
        self.source().0
    }
}

/// A linear trend over the range (least squares of the bucket averages).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trend {
    /// Change per day, in the metric's unit.
    pub per_day: f64,
    /// When the fitted line reaches the limit (100 % for a filesystem); `None` if it does not rise.
    pub full_at_ms: Option<i64>,
}

/// The least-squares line through `(ts_ms, avg)` and when it reaches `limit`. Pure.
pub fn trend(points: &[(i64, f64, f64, f64)], limit: f64) -> Option<Trend> {
    if points.len() < 2 {
        return None;
    }
    let t0 = points[0].0;
    let day = 86_400_000.0;
    let n = points.len() as f64;
    let xs = points.iter().map(|p| (p.0 - t0) as f64 / day);
    let (sx, sy) = (xs.clone().sum::<f64>(), points.iter().map(|p| p.3).sum::<f64>());
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, p) in xs.zip(points) {
        sxy += (x - mx) * (p.3 - my);
        sxx += (x - mx) * (x - mx);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let full_at_ms = (slope > 1e-9).then(|| {
        let x = mx + (limit - my) / slope;
        t0 + (x * day) as i64
    });
    Some(Trend { per_day: slope, full_at_ms })
}

/// One line of a chart: a subject's buckets in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub metric: &'static str,
    pub subject: String,
    /// `[bucket start in ms, min, max, avg]`.
    pub points: Vec<(i64, f64, f64, f64)>,
    /// For filesystem usage: the trend to full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend: Option<Trend>,
}

/// The numeric id of a server by its agent id.
pub fn server_key(conn: &Connection, agent_id: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM servers WHERE agent_id = ?1")?.query_row([agent_id], |r| r.get(0)).optional()
}

/// The series of `metric` for the server `server` (see [`server_key`]) over `range` ending at `now_ms`.
pub fn series(
    conn: &Connection,
    server: i64,
    metric: &'static Metric,
    range: Range,
    now_ms: i64,
) -> rusqlite::Result<Vec<Series>> {
    let step = range.step_s();
    let from = bucket_start(now_ms - range.span_ms(), step);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT s.subject, r.bucket, r.min, r.max, r.sum, r.count
         FROM series s JOIN {} r ON r.series_id = s.id
         WHERE s.server_id = ?1 AND s.metric = ?2 AND r.bucket >= ?3
         ORDER BY s.subject, r.bucket",
        range.table()
    ))?;
    let mut rows = stmt.query(params![server, metric.name, from])?;
    let mut merged: Vec<(String, Vec<(i64, Agg)>)> = Vec::new();
    while let Some(r) = rows.next()? {
        let subject: String = r.get(0)?;
        let at = r.get::<_, i64>(1)?.div_euclid(step) * step;
        let agg = Agg { min: r.get(2)?, max: r.get(3)?, sum: r.get(4)?, count: r.get(5)? };
        if merged.last().is_none_or(|(s, _)| *s != subject) {
            merged.push((subject, Vec::new()));
        }
        let Some((_, points)) = merged.last_mut() else { continue };
        match points.last_mut() {
            Some((t, a)) if *t == at => {
                a.min = a.min.min(agg.min);
                a.max = a.max.max(agg.max);
                a.sum += agg.sum;
                a.count += agg.count;
            }
            _ => points.push((at, agg)),
        }
    }
    let mut out: Vec<Series> = merged
        .into_iter()
        .map(|(subject, points)| Series {
            metric: metric.name,
            subject,
            points: points.into_iter().map(|(t, a)| (t * 1000, a.min, a.max, a.avg())).collect(),
            trend: None,
        })
        .collect();
    if metric.name == FS_USED_PERCENT {
        for s in &mut out {
            s.trend = trend(&s.points, 100.0);
        }
    }
    Ok(out)
}

/// The metrics a server has history for, with their subjects, in [`METRICS`] order.
pub fn available(conn: &Connection, server: i64) -> rusqlite::Result<Vec<(&'static Metric, Vec<String>)>> {
    let rows: Vec<(String, String)> = conn
        .prepare_cached("SELECT metric, subject FROM series WHERE server_id = ?1 ORDER BY metric, subject")?
        .query_map([server], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(METRICS
        .iter()
        .filter_map(|m| {
            let subjects: Vec<String> = rows.iter().filter(|(n, _)| n == m.name).map(|(_, s)| s.clone()).collect();
            (!subjects.is_empty()).then_some((m, subjects))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::*;

    const MIN: i64 = 60_000;
    /// 2026-11-27 00:00:00 UTC, a bucket boundary for every width.
    const T0: i64 = 1_795_737_600_000;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        (dir, conn)
    }

    fn sample_with(readings: Vec<Reading>, backlog: u64) -> SampleV1 {
        SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 60_000,
            outbox: OutboxStats { backlog, dropped_total: 0 },
            probes: vec![],
            readings,
        }
    }

    fn fs(mount: &str, total: u64, available: u64) -> Reading {
        Reading::FilesystemV1(FilesystemV1 {
            mount_point: mount.into(),
            device: "/dev/sda1".into(),
            fs_type: "ext4".into(),
            total_bytes: total,
            available_bytes: available,
            read_only: false,
        })
    }

    fn temp(celsius: Option<f32>) -> Reading {
        Reading::TemperatureV1(TemperatureV1 {
            chip: "coretemp".into(),
            device: "platform/coretemp.0".into(),
            label: "Package id 0".into(),
            celsius,
            max: None,
            crit: None,
            alarm: false,
            verdict: Verdict::ok(),
        })
    }

    /// Stores a sample the way the writer does: in `samples`, with `servers.last_seq` and `samples`.
    fn store(conn: &Connection, agent: &str, seq: u64, taken_ms: i64, received_ms: i64, s: SampleV1) {
        let payload =
            encode_envelope(&Envelope { v: WIRE_VERSION, agent: agent.into(), seq, taken_ms, body: Body::SampleV1(s) });
        conn.execute(
            "INSERT INTO servers (agent_id, first_seen, status_since) VALUES (?1, ?2, ?2) ON CONFLICT DO NOTHING",
            params![agent, received_ms],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload)
             VALUES ((SELECT id FROM servers WHERE agent_id = ?1), ?2, ?3, ?4, ?5)",
            params![agent, seq as i64, taken_ms, received_ms, payload],
        )
        .unwrap();
        conn.execute(
            "UPDATE servers SET last_seq = max(last_seq, ?2), samples = samples + 1 WHERE agent_id = ?1",
            params![agent, seq as i64],
        )
        .unwrap();
    }

    /// A sample whose only charted value (besides the outbox backlog) is `temperature = v`.
    fn store_temp(conn: &Connection, agent: &str, seq: u64, at_ms: i64, v: f32) {
        store(conn, agent, seq, at_ms, at_ms, sample_with(vec![temp(Some(v))], 0));
    }

    fn rollups(conn: &Connection, table: &str, metric: &str) -> Vec<(String, i64, f64, f64, f64, i64)> {
        conn.prepare(&format!(
            "SELECT s.subject, r.bucket, r.min, r.max, r.sum, r.count FROM {table} r JOIN series s ON s.id = r.series_id
             WHERE s.metric = ?1 ORDER BY s.server_id, s.subject, r.bucket"
        ))
        .unwrap()
        .query_map([metric], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    }

    fn run_all(job: &mut Job, conn: &mut Connection, now_ms: i64) {
        while job.roll_chunk(conn, now_ms, 7).unwrap() == 7 {}
    }

    #[test]
    fn points_cover_every_charted_reading_and_skip_missing_and_non_finite_values() {
        let asterisk = AsteriskV1 {
            ami: AmiState::Up,
            version: None,
            uptime_s: None,
            since_reload_s: None,
            active_channels: Some(7),
            active_calls: Some(3),
            calls_processed: Some(1234),
            longest_channel: None,
            longest_channel_s: None,
            queues: vec![QueueV1 {
                name: "ventas".into(),
                callers: 2,
                longest_wait_s: 40,
                members_logged_in: 3,
                members_available: 1,
                members_paused: 0,
                verdict: Verdict::ok(),
            }],
            registrations: vec![
                RegistrationV1 {
                    name: "claro".into(),
                    server_uri: "sip:x".into(),
                    status: "Registered".into(),
                    verdict: Verdict::ok(),
                },
                RegistrationV1 {
                    name: "tigo".into(),
                    server_uri: "sip:y".into(),
                    status: "Rejected".into(),
                    verdict: Verdict::ok(),
                },
            ],
            endpoints: vec![],
            sip_peers: None,
            sip_registry: None,
            verdict: Verdict::ok(),
        };
        let s = sample_with(
            vec![
                temp(Some(51.5)),
                temp(None),
                temp(Some(f32::NAN)),
                Reading::FanV1(FanV1 {
                    chip: "nct6775".into(),
                    device: "platform/nct6775.656".into(),
                    label: "fan1".into(),
                    rpm: Some(1200),
                    min: None,
                    alarm: false,
                    verdict: Verdict::ok(),
                }),
                fs("/var", 1000, 250),
                Reading::AsteriskV1(asterisk),
            ],
            4,
        );
        let got: Vec<String> = points(&s).iter().map(|p| format!("{}|{}|{}", p.metric, p.subject, p.value)).collect();
        assert_eq!(
            got,
            [
                "outbox_backlog||4",
                "temperature|coretemp.0: Package id 0|51.5",
                "fan_rpm|nct6775.656: fan1|1200",
                "fs_used_percent|/var|75",
                "fs_free_bytes|/var|250",
                "asterisk_channels||7",
                "asterisk_calls||3",
                "asterisk_calls_processed||1234",
                "queue_callers|ventas|2",
                "registration|claro|1",
                "registration|tigo|0",
            ]
        );
        for p in points(&s) {
            assert!(metric(p.metric).is_some(), "{} is listed in METRICS", p.metric);
        }
    }

    #[test]
    fn a_bucket_holds_the_exact_min_max_and_average_of_its_values() {
        let (_d, mut conn) = db();
        // Values 1..=5 one minute apart inside one 5-minute bucket, then 10 in the next one.
        for i in 1..=5u64 {
            store_temp(&conn, "a", i, T0 + (i as i64 - 1) * MIN, i as f32);
        }
        store_temp(&conn, "a", 6, T0 + 5 * MIN, 10.0);
        let mut job = Job::new(Retention::default());
        run_all(&mut job, &mut conn, T0 + 60 * MIN);
        let t0 = T0 / 1000;
        assert_eq!(
            rollups(&conn, "rollup_5m", TEMPERATURE),
            vec![
                ("coretemp.0: Package id 0".into(), t0, 1.0, 5.0, 15.0, 5),
                ("coretemp.0: Package id 0".into(), t0 + 300, 10.0, 10.0, 10.0, 1),
            ]
        );
        for table in ["rollup_1h", "rollup_6h"] {
            assert_eq!(
                rollups(&conn, table, TEMPERATURE),
                vec![("coretemp.0: Package id 0".into(), t0, 1.0, 10.0, 25.0, 6)],
                "{table}"
            );
        }
        let server = server_key(&conn, "a").unwrap().unwrap();
        let s = series(&conn, server, metric(TEMPERATURE).unwrap(), Range::H6, T0 + 60 * MIN).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points, vec![(T0, 1.0, 5.0, 3.0), (T0 + 300_000, 10.0, 10.0, 10.0)]);
        // A week is drawn in 30-minute points: both buckets merged exactly.
        let s = series(&conn, server, metric(TEMPERATURE).unwrap(), Range::D7, T0 + 60 * MIN).unwrap();
        assert_eq!(s[0].points, vec![(T0, 1.0, 10.0, 25.0 / 6.0)]);
        let s = series(&conn, server, metric(TEMPERATURE).unwrap(), Range::Y1, T0 + 60 * MIN).unwrap();
        assert_eq!(s[0].points, vec![(T0, 1.0, 10.0, 25.0 / 6.0)], "a year reads the 6-hour bucket");
    }

    /// The exact aggregates of `values` (taken at `(ms, v)`) per `width_s` bucket, in time order.
    fn expected(values: &[(i64, f64)], width_s: i64) -> Vec<(i64, f64, f64, f64, i64)> {
        let mut out: std::collections::BTreeMap<i64, Agg> = std::collections::BTreeMap::new();
        for &(at, v) in values {
            out.entry(bucket_start(at, width_s)).and_modify(|a| a.add(v)).or_insert_with(|| Agg::one(v));
        }
        out.into_iter().map(|(b, a)| (b, a.min, a.max, a.sum, a.count)).collect()
    }

    #[test]
    fn every_table_holds_the_exact_aggregates_of_two_days_of_generated_samples() {
        let (_d, mut conn) = db();
        // A sample every 7 minutes 13 seconds from 03:00:17 the day before T0, for two days: bucket
        // edges of every width fall between samples at shifting offsets. Whole values, so the sums
        // are exact whatever order the chunks add them in.
        let start = T0 - 21 * 60 * MIN + 17_000;
        let values: Vec<(i64, f64)> =
            (0..400i64).map(|i| (start + i * (7 * MIN + 13_000), ((i * 37) % 101) as f64 - 20.0)).collect();
        for (i, &(at, v)) in values.iter().enumerate() {
            store_temp(&conn, "a", i as u64 + 1, at, v as f32);
        }
        let now = values.last().unwrap().0 + 60 * MIN;
        run_all(&mut Job::new(Retention::default()), &mut conn, now);
        for (table, width) in [("rollup_5m", FIVE_MINUTES_S), ("rollup_1h", HOUR_S), ("rollup_6h", SIX_HOURS_S)] {
            let got: Vec<_> =
                rollups(&conn, table, TEMPERATURE).into_iter().map(|r| (r.1, r.2, r.3, r.4, r.5)).collect();
            assert_eq!(got, expected(&values, width), "{table}");
        }
        // 03:00 to 03:00 two days later: 9 six-hour buckets, the first and last partial.
        assert_eq!(expected(&values, SIX_HOURS_S).len(), 9);
        // The year chart draws the 6-hour buckets as they are; the month chart the hourly ones.
        let server = server_key(&conn, "a").unwrap().unwrap();
        for (range, width) in [(Range::Y1, SIX_HOURS_S), (Range::D30, HOUR_S)] {
            let s = series(&conn, server, metric(TEMPERATURE).unwrap(), range, now).unwrap();
            let want: Vec<_> = expected(&values, width)
                .into_iter()
                .map(|(b, min, max, sum, count)| (b * 1000, min, max, sum / count as f64))
                .collect();
            assert_eq!(s[0].points, want, "{range:?}");
        }
    }

    #[test]
    fn upgrading_to_migration_7_fills_the_six_hour_table_from_the_hourly_one() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (_, sql) in &crate::store::MIGRATIONS[..6] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        let (h, six) = (HOUR_S, SIX_HOURS_S);
        let t0 = T0 / 1000;
        // Series 1: hours 00 to 06 (two 6-hour buckets); series 2: one hour.
        for (series, bucket, min, max, sum, count) in [
            (1, t0, 1.0, 2.0, 3.0, 2),
            (1, t0 + h, -4.0, 1.0, -3.0, 2),
            (1, t0 + 5 * h, 0.0, 9.0, 9.0, 1),
            (1, t0 + six, 7.0, 7.0, 14.0, 2),
            (2, t0 + 2 * h, 5.0, 5.0, 5.0, 1),
        ] {
            conn.execute(
                "INSERT INTO rollup_1h (series_id, bucket, min, max, sum, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![series, bucket, min, max, sum, count],
            )
            .unwrap();
        }
        crate::store::migrate(&mut conn).unwrap();
        let rows: Vec<(i64, i64, f64, f64, f64, i64)> = conn
            .prepare("SELECT series_id, bucket, min, max, sum, count FROM rollup_6h ORDER BY series_id, bucket")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(1, t0, -4.0, 9.0, 9.0, 5), (1, t0 + six, 7.0, 7.0, 14.0, 2), (2, t0, 5.0, 5.0, 5.0, 1)]);
    }

    #[test]
    fn values_either_side_of_a_boundary_fall_in_their_own_buckets() {
        let (_d, mut conn) = db();
        let hour = T0 + 3_600_000;
        store_temp(&conn, "a", 1, hour - 1, 1.0); // 00:59:59.999
        store_temp(&conn, "a", 2, hour, 2.0); // 01:00:00.000
        store_temp(&conn, "a", 3, hour + 5 * MIN - 1, 3.0); // 01:04:59.999
        store_temp(&conn, "a", 4, hour + 5 * MIN, 4.0); // 01:05:00.000
        let mut job = Job::new(Retention::default());
        run_all(&mut job, &mut conn, hour + 60 * MIN);
        let h = hour / 1000;
        let five: Vec<(i64, f64, i64)> =
            rollups(&conn, "rollup_5m", TEMPERATURE).into_iter().map(|r| (r.1, r.4, r.5)).collect();
        assert_eq!(five, vec![(h - 300, 1.0, 1), (h, 5.0, 2), (h + 300, 4.0, 1)]);
        let hourly: Vec<(i64, f64, i64)> =
            rollups(&conn, "rollup_1h", TEMPERATURE).into_iter().map(|r| (r.1, r.4, r.5)).collect();
        assert_eq!(hourly, vec![(h - 3600, 1.0, 1), (h, 9.0, 3)]);
        assert_eq!(bucket_start(-1, 300), -300, "before the epoch too");
    }

    #[test]
    fn samples_are_rolled_up_once_settled_and_chunks_add_up_to_the_whole() {
        let (_d, mut conn) = db();
        for i in 1..=20u64 {
            store_temp(&conn, "a", i, T0 + i as i64 * 1000, i as f32);
            store_temp(&conn, "b", i, T0 + i as i64 * 1000, 100.0 + i as f32);
        }
        let mut job = Job::new(Retention::default());
        // Only samples received at least SETTLE_MS ago: seq 1..=5 of each server.
        assert_eq!(job.roll_chunk(&mut conn, T0 + 5_000 + SETTLE_MS, 100).unwrap(), 10);
        let counts =
            |c: &Connection| -> Vec<i64> { rollups(c, "rollup_5m", TEMPERATURE).into_iter().map(|r| r.5).collect() };
        assert_eq!(counts(&conn), vec![5, 5]);
        // Chunks of 3 samples: several transactions, same totals.
        while job.roll_chunk(&mut conn, T0 + 10 * MIN, 3).unwrap() == 3 {}
        let r = rollups(&conn, "rollup_5m", TEMPERATURE);
        assert_eq!(
            r.iter().map(|r| (r.2, r.3, r.4, r.5)).collect::<Vec<_>>(),
            vec![(1.0, 20.0, 210.0, 20), (101.0, 120.0, 2210.0, 20)]
        );
        assert_eq!(job.roll_chunk(&mut conn, T0 + 10 * MIN, 100).unwrap(), 0, "caught up");
        // A new sample later is added to its bucket.
        store_temp(&conn, "a", 21, T0 + 21_000, 0.5);
        assert_eq!(job.roll_chunk(&mut conn, T0 + 10 * MIN, 100).unwrap(), 1);
        assert_eq!(rollups(&conn, "rollup_5m", TEMPERATURE)[0].2, 0.5);
    }

    #[test]
    fn a_crash_mid_chunk_leaves_nothing_behind_and_the_rerun_gives_the_same_rollups() {
        let (_d1, mut crashed) = db();
        let (_d2, mut clean) = db();
        for conn in [&crashed, &clean] {
            for i in 1..=30u64 {
                store_temp(conn, "a", i, T0 + i as i64 * 20_000, (i % 7) as f32);
            }
        }
        let now = T0 + 60 * MIN;
        // The crash: a chunk applied but never committed (the process died before COMMIT).
        {
            let mut job = Job::new(Retention::default());
            job.roll_chunk(&mut crashed, now, 10).unwrap();
            let tx = crashed.transaction().unwrap();
            assert_eq!(job.roll_in(&tx, now, 10).unwrap(), 10);
            drop(tx);
        }
        let cursor: i64 = crashed.query_row("SELECT seq FROM rollup_cursor", [], |r| r.get(0)).unwrap();
        assert_eq!(cursor, 10, "the uncommitted chunk did not move the cursor");
        // Restart: a new job (fresh cache) finishes; a second run changes nothing.
        let mut job = Job::new(Retention::default());
        run_all(&mut job, &mut crashed, now);
        run_all(&mut job, &mut crashed, now);
        run_all(&mut Job::new(Retention::default()), &mut clean, now);
        for table in ["rollup_5m", "rollup_1h", "rollup_6h"] {
            assert_eq!(rollups(&crashed, table, TEMPERATURE), rollups(&clean, table, TEMPERATURE), "{table}");
            let total: i64 = crashed
                .query_row(
                    &format!(
                        "SELECT sum(count) FROM {table} r JOIN series s ON s.id = r.series_id
                         WHERE s.metric = 'temperature'"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(total, 30, "{table}");
        }
    }

    #[test]
    fn purge_keeps_exactly_the_configured_windows_and_each_servers_newest_sample() {
        let (_d, mut conn) = db();
        let retention = Retention { raw: DAY, five_minutes: DAY * 2, hourly: DAY * 3 };
        let now = T0 + 10 * DAY.as_millis() as i64;
        let day = DAY.as_millis() as i64;
        // Server a: one sample every 6 hours for 10 days. Server b: one sample, 9 days old.
        let mut seq = 0;
        let mut t = T0;
        while t < now - 1000 {
            seq += 1;
            store_temp(&conn, "a", seq, t, seq as f32);
            t += 6 * 3_600_000;
        }
        store_temp(&conn, "b", 1, T0 + day, 1.0);
        let mut job = Job::new(retention);
        run_all(&mut job, &mut conn, now);
        while job.purge_chunk(&mut conn, now, 3).unwrap() >= 3 {}
        let kept = |sql: &str| -> Vec<i64> {
            conn.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
        };
        let a_samples = kept("SELECT received_ms FROM samples WHERE server_id = 1 ORDER BY seq");
        assert!(a_samples.iter().all(|t| *t >= now - day), "{a_samples:?}");
        assert_eq!(a_samples.len(), 4, "the last day: 4 samples 6 h apart");
        assert_eq!(kept("SELECT seq FROM samples WHERE server_id = 2"), vec![1], "b's newest sample stays");
        let (count,): (i64,) =
            conn.query_row("SELECT samples FROM servers WHERE id = 1", [], |r| Ok((r.get(0)?,))).unwrap();
        assert_eq!(count, 4, "servers.samples still counts the rows");
        let five = kept(
            "SELECT r.bucket FROM rollup_5m r JOIN series s ON s.id = r.series_id
             WHERE s.server_id = 1 AND s.metric = 'temperature' ORDER BY r.bucket",
        );
        assert_eq!(five.first().copied(), Some((now - 2 * day) / 1000), "{five:?}");
        assert_eq!(five.len(), 8);
        let hourly = kept(
            "SELECT r.bucket FROM rollup_1h r JOIN series s ON s.id = r.series_id
             WHERE s.server_id = 1 AND s.metric = 'temperature' ORDER BY r.bucket",
        );
        assert_eq!(hourly.first().copied(), Some((now - 3 * day) / 1000), "{hourly:?}");
        assert_eq!(hourly.len(), 12);
        // The 6-hour table keeps the hourly window: one sample per 6-hour bucket, the last 3 days.
        let six = kept(
            "SELECT r.bucket FROM rollup_6h r JOIN series s ON s.id = r.series_id
             WHERE s.server_id = 1 AND s.metric = 'temperature' ORDER BY r.bucket",
        );
        assert_eq!(six.first().copied(), Some((now - 3 * day) / 1000), "{six:?}");
        assert_eq!(six.len(), 12);
        assert_eq!(job.purge_chunk(&mut conn, now, 1000).unwrap(), 0, "nothing left to purge");
    }

    #[test]
    fn samples_not_yet_rolled_up_are_never_purged() {
        let (_d, mut conn) = db();
        for i in 1..=5u64 {
            store_temp(&conn, "a", i, T0 + i as i64, 1.0);
        }
        let mut job = Job::new(Retention { raw: DAY, five_minutes: DAY * 3650, hourly: DAY * 3650 });
        let later = T0 + 100 * DAY.as_millis() as i64;
        assert_eq!(job.purge_chunk(&mut conn, later, 1000).unwrap(), 0);
        job.roll_chunk(&mut conn, later, 2).unwrap();
        assert_eq!(job.purge_chunk(&mut conn, later, 1000).unwrap(), 2);
    }

    #[test]
    fn a_filesystem_series_carries_its_projection_to_full() {
        let (_d, mut conn) = db();
        // /var fills 1 % a day from 50 %: full 50 days after the first sample.
        for d in 0..10u64 {
            let used = 500 + d * 10;
            store(
                &conn,
                "a",
                d + 1,
                T0 + d as i64 * 86_400_000,
                T0 + d as i64 * 86_400_000,
                sample_with(vec![fs("/var", 1000, 1000 - used)], 0),
            );
        }
        let now = T0 + 10 * 86_400_000;
        run_all(&mut Job::new(Retention::default()), &mut conn, now);
        let server = server_key(&conn, "a").unwrap().unwrap();
        let s = series(&conn, server, metric(FS_USED_PERCENT).unwrap(), Range::D30, now).unwrap();
        let t = s[0].trend.unwrap();
        assert!((t.per_day - 1.0).abs() < 1e-9, "{t:?}");
        assert_eq!(t.full_at_ms, Some(T0 + 50 * 86_400_000));
        let free = series(&conn, server, metric(FS_FREE_BYTES).unwrap(), Range::D30, now).unwrap();
        assert!(free[0].trend.is_none());
        assert_eq!(trend(&[(0, 1.0, 1.0, 80.0), (86_400_000, 1.0, 1.0, 70.0)], 100.0).unwrap().full_at_ms, None);
        assert_eq!(trend(&[(0, 1.0, 1.0, 80.0)], 100.0), None);
    }

    #[test]
    fn ranges_read_five_minute_buckets_up_to_a_week_hourly_ones_for_a_month_and_six_hourly_for_a_year() {
        assert_eq!(Range::ALL.map(|r| r.source_step_s()), [300, 300, 300, 3600, 21600]);
        assert_eq!(Range::ALL.map(|r| r.table()), ["rollup_5m", "rollup_5m", "rollup_5m", "rollup_1h", "rollup_6h"]);
        assert_eq!(Range::ALL.map(|r| r.step_s()), [300, 300, 1800, 3600, 21600]);
        for r in Range::ALL {
            assert!(r.span_ms() / 1000 / r.step_s() <= 1500, "{r:?} draws at most 1,500 points");
        }
        assert_eq!(Range::parse("1y"), Some(Range::Y1));
        assert_eq!(Range::parse("2y"), None);
        let (_d, conn) = db();
        let listed = available(&conn, 1).unwrap();
        assert!(listed.is_empty());
    }

    #[test]
    fn the_retention_section_defaults_and_errors_name_the_key() {
        let parse = |text: &str| -> Result<Retention, String> {
            let raw: RawRetention = toml::from_str(text).map_err(|e| e.to_string())?;
            Retention::from_raw(raw).map_err(|e| e.to_string())
        };
        assert_eq!(parse("").unwrap(), Retention::default());
        assert_eq!(parse("raw = \"7d\"").unwrap().raw, DAY * 7);
        for (text, needle) in [
            ("raw = \"10m\"", "`retention.raw`"),
            ("five_minutes = \"siempre\"", "`retention.five_minutes`"),
            ("hourly = \"20y\"", "`retention.hourly`"),
            ("daily = \"1y\"", "unknown field `daily`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
