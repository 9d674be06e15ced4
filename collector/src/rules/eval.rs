//! One condition judged on one sample, and the bounded per-server history that growth conditions
//! need. Pure: the engine owns the history and passes `now`.
//!
//! Invariants:
//! - A judgement says, per subject, true (with the Spanish summary and details), false, or unknown
//!   ("held"); subjects it does not mention are false or held as a whole ([`Rest`]), following the
//!   probe's outcome: `Ok`/`NotApplicable` mean the sample lists everything there is, `Failed` or a
//!   probe that did not run mean it may not.
//! - History is bounded: at most [`MAX_SERIES`] series per server, at most [`MAX_POINTS`] points per
//!   series, and points older than the longest window in use are dropped. Counters store only change
//!   points; filesystems at most one point per 1/48 of the window.
//! - Nothing here panics on numbers from the wire: NaN, infinities, zero sizes, counters going
//!   backwards, clocks going backwards and dates out of range are all handled.

use super::config::{AmiWord, Condition, ReadingKind};
use centinela_agent::check::{human_bytes, human_duration_s, level_es};
use centinela_shared::{AmiState, AsteriskV1, DiskAccess, Level, Outcome, Reading, SampleV1, SmartStatus, Verdict};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest series kept per counter or filesystem.
pub const MAX_POINTS: usize = 64;
/// Most series (counters plus filesystems) kept per server.
pub const MAX_SERIES: usize = 512;

/// A condition that holds for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The key part: `md0`, `/var`, `sda`; empty for server-wide problems.
    pub subject: String,
    /// The thing in words, for `{name}` in summaries: "arreglo RAID md0", "nct6775 fan2".
    pub name: String,
    pub summary: String,
    /// The verdict reasons or figures behind it; the first is `{reason}` in summaries.
    pub details: Vec<String>,
}

/// What subjects a judgement does not mention mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    /// The sample lists every subject there is: the others are healthy (or gone).
    False,
    /// The sample may be incomplete: leave the others as they were.
    Hold,
}

/// A judgement of one condition on one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Eval {
    /// Subjects seen, with a hit when the condition holds.
    pub seen: Vec<(String, Option<Hit>)>,
    /// Subjects seen but unreadable this time.
    pub held: Vec<String>,
    pub rest: Rest,
}

impl Eval {
    fn new(rest: Rest) -> Self {
        Self { seen: Vec::new(), held: Vec::new(), rest }
    }

    fn hit(&mut self, hit: Hit) {
        self.seen.push((hit.subject.clone(), Some(hit)));
    }

    fn clear(&mut self, subject: impl Into<String>) {
        self.seen.push((subject.into(), None));
    }

    fn hold(&mut self, subject: impl Into<String>) {
        self.held.push(subject.into());
    }
}

// ------------------------------------------------------------------------------------------------
// History

/// How long each kind of history is kept: the longest window of the enabled rules that use it, or
/// `None` when no rule does (nothing is recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub counters: Option<Duration>,
    pub filesystems: Option<Duration>,
}

/// A counter's change points: (first seen at, value), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Series {
    points: Vec<(DateTime<Utc>, u64)>,
    last_seen: DateTime<Utc>,
}

/// A filesystem's used bytes over time, for the trend, valid for one total size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct FsSeries {
    total: u64,
    points: Vec<(DateTime<Utc>, u64)>,
    last_seen: DateTime<Utc>,
}

/// What one server's growth rules remember between samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default)]
    counters: BTreeMap<String, Series>,
    #[serde(default)]
    filesystems: BTreeMap<String, FsSeries>,
    /// The serial last seen per disk device: another serial is another disk, whose counters start over.
    #[serde(default)]
    serials: BTreeMap<String, String>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// `now - d`, or the earliest representable instant.
fn before(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now.checked_sub_signed(delta(d)).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// One error counter of a disk: its key part, its Spanish words, and its value in this sample.
type DiskCounter = (&'static str, &'static str, Option<u64>);

/// The error counters watched on a disk that was read, with its device name.
fn disk_counters(r: &Reading) -> Option<(&str, Vec<DiskCounter>)> {
    match r {
        Reading::AtaDiskV1(d) if d.access == DiskAccess::Read => Some((
            &d.device,
            vec![
                ("reallocated", "sectores reasignados", d.reallocated),
                ("pending", "sectores pendientes", d.pending),
                ("offline_uncorrectable", "sectores incorregibles", d.offline_uncorrectable),
            ],
        )),
        Reading::NvmeDiskV1(d) if d.access == DiskAccess::Read => {
            Some((&d.device, vec![("media_errors", "errores de medio", d.media_errors)]))
        }
        _ => None,
    }
}

fn disk_serial(r: &Reading) -> Option<&str> {
    match r {
        Reading::AtaDiskV1(d) => d.serial.as_deref(),
        Reading::NvmeDiskV1(d) => d.serial.as_deref(),
        _ => None,
    }
}

const OUTBOX_DROPPED: &str = "outbox/dropped";

fn counter_key(device: &str, field: &str) -> String {
    format!("disk/{device}/{field}")
}

impl History {
    fn series_count(&self) -> usize {
        self.counters.len() + self.filesystems.len()
    }

    /// Records what `sample` says, then forgets what has left the retention.
    pub fn observe(&mut self, sample: &SampleV1, now: DateTime<Utc>, keep: Retention) {
        if let Some(window) = keep.counters {
            self.count(OUTBOX_DROPPED.to_string(), sample.outbox.dropped_total, now);
            for r in &sample.readings {
                let Some((device, counters)) = disk_counters(r) else { continue };
                if let Some(serial) = disk_serial(r) {
                    self.same_disk(device, serial);
                }
                for (field, _, value) in counters {
                    if let Some(v) = value {
                        self.count(counter_key(device, field), v, now);
                    }
                }
            }
            let cutoff = before(now, window);
            self.counters.retain(|_, s| {
                // Keep the last point at or before the cutoff: it is the value the window starts with.
                let start = s.points.iter().rposition(|(t, _)| *t <= cutoff).unwrap_or(0);
                s.points.drain(..start);
                s.last_seen >= cutoff
            });
            let counters = &self.counters;
            self.serials.retain(|device, _| counters.keys().any(|k| k.starts_with(&format!("disk/{device}/"))));
        } else {
            self.counters.clear();
            self.serials.clear();
        }

        if let Some(window) = keep.filesystems {
            let spacing = delta(window / 48);
            for r in &sample.readings {
                let Reading::FilesystemV1(fs) = r else { continue };
                if fs.read_only || fs.total_bytes == 0 {
                    continue;
                }
                if !self.filesystems.contains_key(&fs.mount_point) && self.series_count() >= MAX_SERIES {
                    continue;
                }
                let s = self.filesystems.entry(fs.mount_point.clone()).or_insert_with(|| FsSeries {
                    total: fs.total_bytes,
                    points: Vec::new(),
                    last_seen: now,
                });
                if s.total != fs.total_bytes {
                    // Resized: the old points measure another filesystem.
                    *s = FsSeries { total: fs.total_bytes, points: Vec::new(), last_seen: now };
                }
                s.last_seen = s.last_seen.max(now);
                let used = fs.total_bytes.saturating_sub(fs.available_bytes);
                let due = s.points.last().is_none_or(|(t, _)| t.checked_add_signed(spacing).is_some_and(|d| now >= d));
                if due {
                    s.points.push((now, used));
                    if s.points.len() > MAX_POINTS {
                        s.points.remove(0);
                    }
                }
            }
            let cutoff = before(now, window);
            self.filesystems.retain(|_, s| {
                s.points.retain(|(t, _)| *t >= cutoff);
                s.last_seen >= cutoff
            });
        } else {
            self.filesystems.clear();
        }
    }

    fn count(&mut self, key: String, value: u64, now: DateTime<Utc>) {
        if !self.counters.contains_key(&key) && self.series_count() >= MAX_SERIES {
            return;
        }
        let s = self.counters.entry(key).or_insert_with(|| Series { points: Vec::new(), last_seen: now });
        s.last_seen = s.last_seen.max(now);
        match s.points.last() {
            Some((_, last)) if *last == value => {}
            // A sample older than the newest point (clock stepped back): keep the series ordered.
            Some((t, _)) if now < *t => {}
            _ => {
                s.points.push((now, value));
                if s.points.len() > MAX_POINTS {
                    s.points.remove(0);
                }
            }
        }
    }

    fn same_disk(&mut self, device: &str, serial: &str) {
        if self.serials.get(device).is_some_and(|s| s != serial) {
            let prefix = format!("disk/{device}/");
            self.counters.retain(|k, _| !k.starts_with(&prefix));
        }
        self.serials.insert(device.to_string(), serial.to_string());
    }

    /// The lowest value of a counter within `window` (its value at the window's start included),
    /// never above `current`.
    fn lowest(&self, key: &str, current: u64, now: DateTime<Utc>, window: Duration) -> u64 {
        let Some(s) = self.counters.get(key) else { return current };
        let cutoff = before(now, window);
        let start = s.points.iter().rposition(|(t, _)| *t <= cutoff).unwrap_or(0);
        s.points[start..].iter().map(|(_, v)| *v).min().map_or(current, |m| m.min(current))
    }

    /// When a filesystem will be full at the trend of a least-squares line through its used bytes
    /// within `window` (and now): `None` without enough history, or when it is not growing.
    fn forecast(
        &self,
        mount: &str,
        total: u64,
        used: u64,
        available: u64,
        now: DateTime<Utc>,
        window: Duration,
    ) -> Option<Forecast> {
        let s = self.filesystems.get(mount).filter(|s| s.total == total)?;
        let cutoff = before(now, window);
        let mut points: Vec<(DateTime<Utc>, u64)> =
            s.points.iter().copied().filter(|(t, _)| *t >= cutoff && *t <= now).collect();
        if points.last().is_none_or(|(t, _)| *t < now) {
            points.push((now, used));
        }
        let (t0, y0) = *points.first()?;
        if points.len() < 4 || now.signed_duration_since(t0) < delta(window / 4) {
            return None;
        }
        let xy: Vec<(f64, f64)> = points
            .iter()
            .map(|(t, v)| (t.signed_duration_since(t0).num_milliseconds() as f64 / 1000.0, *v as f64 - y0 as f64))
            .collect();
        let n = xy.len() as f64;
        let (mx, my) = (xy.iter().map(|p| p.0).sum::<f64>() / n, xy.iter().map(|p| p.1).sum::<f64>() / n);
        let sxx: f64 = xy.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
        let sxy: f64 = xy.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
        let slope = sxy / sxx;
        if !(slope.is_finite() && slope > 0.0) {
            return None;
        }
        let secs_left = available as f64 / slope;
        secs_left.is_finite().then_some(Forecast { secs_left, bytes_per_day: slope * 86_400.0 })
    }
}

struct Forecast {
    secs_left: f64,
    bytes_per_day: f64,
}

// ------------------------------------------------------------------------------------------------
// Words

/// The first letter in upper case.
fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A window in words: "24 h", "7 días", "30 min".
pub fn span_es(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 86_400 && s.is_multiple_of(86_400) {
        let n = s / 86_400;
        if n == 1 { "24 h".into() } else { format!("{n} días") }
    } else if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else {
        format!("{} min", s.div_ceil(60))
    }
}

fn days_es(n: u64) -> String {
    if n == 1 { "1 día".into() } else { format!("{n} días") }
}

/// A sensor's stable subject: chip, device path and label (hwmonN numbers are not stable).
fn sensor_subject(chip: &str, device: &str, label: &str) -> String {
    format!("{chip}/{device}/{label}")
}

// ------------------------------------------------------------------------------------------------
// Judgement

/// Unknown when the probe broke or did not run; otherwise the sample lists everything.
fn probe_rest(sample: &SampleV1, probe: &str) -> Rest {
    match sample.probes.iter().find(|p| p.probe == probe).map(|p| &p.outcome) {
        Some(Outcome::Ok | Outcome::NotApplicable(_)) => Rest::False,
        Some(Outcome::Failed(_)) | None => Rest::Hold,
    }
}

fn asterisk_readings(sample: &SampleV1) -> impl Iterator<Item = &AsteriskV1> {
    sample.readings.iter().filter_map(|r| match r {
        Reading::AsteriskV1(a) => Some(a),
        _ => None,
    })
}

/// Trunks, queues and channels are only listed in full while AMI is up.
fn ami_rest(sample: &SampleV1) -> Rest {
    if asterisk_readings(sample).any(|a| a.ami != AmiState::Up) { Rest::Hold } else { probe_rest(sample, "asterisk") }
}

/// One item carrying an agent verdict.
struct Item<'a> {
    subject: String,
    name: String,
    verdict: &'a Verdict,
    /// Its value could not be read this time, so a healthy verdict proves nothing.
    uncertain: bool,
}

fn items(sample: &SampleV1, kind: ReadingKind) -> (Vec<Item<'_>>, Rest) {
    let rest = match kind {
        ReadingKind::Raid => probe_rest(sample, "raid"),
        ReadingKind::Temperature | ReadingKind::Fan => probe_rest(sample, "sensors"),
        ReadingKind::Disk => probe_rest(sample, "smart"),
        ReadingKind::Asterisk => probe_rest(sample, "asterisk"),
        ReadingKind::Queue | ReadingKind::Registration | ReadingKind::Endpoint => ami_rest(sample),
        ReadingKind::Database => probe_rest(sample, "database"),
        ReadingKind::AdminApp => probe_rest(sample, "admin_app"),
        // Not a probe: a shipper that is not configured adds no reading.
        ReadingKind::Shipping => Rest::False,
    };
    let mut out = Vec::new();
    let mut push =
        |subject: String, name: String, verdict, uncertain| out.push(Item { subject, name, verdict, uncertain });
    for r in &sample.readings {
        match (kind, r) {
            (ReadingKind::Raid, Reading::RaidArrayV1(a)) => {
                push(a.name.clone(), format!("arreglo RAID {}", a.name), &a.verdict, false)
            }
            (ReadingKind::Temperature, Reading::TemperatureV1(t)) => push(
                sensor_subject(&t.chip, &t.device, &t.label),
                format!("{} {}", t.chip, t.label),
                &t.verdict,
                t.celsius.is_none_or(|c| !c.is_finite()),
            ),
            (ReadingKind::Fan, Reading::FanV1(f)) => push(
                sensor_subject(&f.chip, &f.device, &f.label),
                format!("{} {}", f.chip, f.label),
                &f.verdict,
                f.rpm.is_none(),
            ),
            (ReadingKind::Disk, Reading::AtaDiskV1(d)) => {
                push(d.device.clone(), format!("disco {}", d.device), &d.verdict, d.access != DiskAccess::Read)
            }
            (ReadingKind::Disk, Reading::NvmeDiskV1(d)) => {
                push(d.device.clone(), format!("disco {}", d.device), &d.verdict, d.access != DiskAccess::Read)
            }
            (ReadingKind::Asterisk, Reading::AsteriskV1(a)) => {
                push(String::new(), "Asterisk".into(), &a.verdict, false)
            }
            (ReadingKind::Queue, Reading::AsteriskV1(a)) => {
                for q in &a.queues {
                    push(q.name.clone(), format!("cola {}", q.name), &q.verdict, false);
                }
            }
            (ReadingKind::Registration, Reading::AsteriskV1(a)) => {
                for g in a.registrations.iter().chain(a.sip_registry.iter().flatten()) {
                    push(g.name.clone(), format!("troncal {}", g.name), &g.verdict, false);
                }
            }
            (ReadingKind::Endpoint, Reading::AsteriskV1(a)) => {
                for e in a.endpoints.iter().chain(a.sip_peers.iter().flatten()) {
                    let name = if e.trunk { format!("troncal {}", e.name) } else { format!("extensión {}", e.name) };
                    push(e.name.clone(), name, &e.verdict, false);
                }
            }
            (ReadingKind::Database, Reading::DatabaseV1(d)) => {
                push(String::new(), "base de datos del CDR".into(), &d.verdict, !d.connected)
            }
            (ReadingKind::AdminApp, Reading::AdminAppV1(a)) => {
                push(String::new(), "aplicación de administración".into(), &a.verdict, false)
            }
            (ReadingKind::Shipping, Reading::ShippingV1(s)) => {
                push(s.what.clone(), format!("envío de {}", s.what), &s.verdict, false)
            }
            _ => {}
        }
    }
    (out, rest)
}

/// `Some(reason)` when the verdict matches: the first reason containing the pattern (or the first
/// reason at all), if any.
fn verdict_match<'a>(v: &'a Verdict, level: Level, pattern: Option<&str>) -> Option<Option<&'a str>> {
    if v.level < level {
        return None;
    }
    match pattern {
        Some(p) => {
            let p = p.to_lowercase();
            v.reasons.iter().find(|r| r.to_lowercase().contains(&p)).map(|r| Some(r.as_str()))
        }
        None => Some(v.reasons.first().map(String::as_str)),
    }
}

/// The reasons with `first` in front.
fn reasons_from(first: Option<&str>, v: &Verdict) -> Vec<String> {
    let mut out: Vec<String> = first.map(str::to_string).into_iter().collect();
    out.extend(v.reasons.iter().filter(|r| Some(r.as_str()) != first).cloned());
    out
}

/// Judges `cond` on `sample`; `hist` already holds this sample.
pub fn evaluate(cond: &Condition, sample: &SampleV1, hist: &History, now: DateTime<Utc>) -> Eval {
    match cond {
        Condition::Verdict { reading, level, reason_contains } => {
            let (items, rest) = items(sample, *reading);
            let mut e = Eval::new(rest);
            for it in items {
                match verdict_match(it.verdict, *level, reason_contains.as_deref()) {
                    Some(reason) => e.hit(Hit {
                        summary: reason
                            .map(cap)
                            .unwrap_or_else(|| format!("{}: {}", cap(&it.name), level_es(it.verdict.level))),
                        details: reasons_from(reason, it.verdict),
                        subject: it.subject,
                        name: it.name,
                    }),
                    None if it.uncertain => e.hold(it.subject),
                    None => e.clear(it.subject),
                }
            }
            e
        }
        Condition::SmartFailing => {
            let mut e = Eval::new(probe_rest(sample, "smart"));
            for r in &sample.readings {
                let Reading::AtaDiskV1(d) = r else { continue };
                if d.access != DiskAccess::Read {
                    e.hold(d.device.clone());
                    continue;
                }
                let attrs: Vec<&str> = d.attributes.iter().filter(|a| a.failing_now).map(|a| a.name.as_str()).collect();
                let model = d.model.as_deref().map(|m| format!(" ({m})")).unwrap_or_default();
                let summary = if d.smart_status == Some(SmartStatus::Failing) {
                    format!("Disco {}{model} en falla: SMART lo declara FAILING", d.device)
                } else if !attrs.is_empty() {
                    format!("Disco {}{model} en falla: atributo SMART en su umbral ({})", d.device, attrs.join(", "))
                } else {
                    e.clear(d.device.clone());
                    continue;
                };
                e.hit(Hit {
                    subject: d.device.clone(),
                    name: format!("disco {}", d.device),
                    summary,
                    details: d.verdict.reasons.clone(),
                });
            }
            e
        }
        Condition::NvmeCriticalWarning => {
            let mut e = Eval::new(probe_rest(sample, "smart"));
            for r in &sample.readings {
                let Reading::NvmeDiskV1(d) = r else { continue };
                match d.critical_warning {
                    _ if d.access != DiskAccess::Read => e.hold(d.device.clone()),
                    Some(cw) if cw != 0 => {
                        let bits = if d.critical_warnings.is_empty() {
                            format!("0x{cw:02X}")
                        } else {
                            d.critical_warnings.join(", ")
                        };
                        e.hit(Hit {
                            subject: d.device.clone(),
                            name: format!("disco {}", d.device),
                            summary: format!("Disco NVMe {} con advertencia crítica: {bits}", d.device),
                            details: d.verdict.reasons.clone(),
                        });
                    }
                    _ => e.clear(d.device.clone()),
                }
            }
            e
        }
        Condition::DiskErrorsGrowing { window } => {
            let mut e = Eval::new(probe_rest(sample, "smart"));
            for r in &sample.readings {
                let (device, verdict) = match r {
                    Reading::AtaDiskV1(d) => (&d.device, &d.verdict),
                    Reading::NvmeDiskV1(d) => (&d.device, &d.verdict),
                    _ => continue,
                };
                let Some((_, counters)) = disk_counters(r) else {
                    e.hold(device.clone());
                    continue;
                };
                let grown: Vec<String> = counters
                    .into_iter()
                    .filter_map(|(field, words, value)| {
                        let v = value?;
                        let low = hist.lowest(&counter_key(device, field), v, now, *window);
                        (v > low).then(|| format!("{words} de {low} a {v}"))
                    })
                    .collect();
                if grown.is_empty() {
                    e.clear(device.clone());
                } else {
                    let mut details = grown.clone();
                    details.extend(verdict.reasons.iter().cloned());
                    e.hit(Hit {
                        subject: device.clone(),
                        name: format!("disco {device}"),
                        summary: format!(
                            "Disco {device}: aumentaron {} (últimas {})",
                            grown.join(", "),
                            span_es(*window)
                        ),
                        details,
                    });
                }
            }
            e
        }
        Condition::RaidDegraded => {
            let mut e = Eval::new(probe_rest(sample, "raid"));
            for r in &sample.readings {
                let Reading::RaidArrayV1(a) = r else { continue };
                let degraded_reason =
                    a.verdict.reasons.iter().find_map(|r| r.strip_prefix("arreglo RAID degradado")).map(str::to_string);
                let mut failed: Vec<String> = a
                    .verdict
                    .reasons
                    .iter()
                    .filter_map(|r| r.strip_prefix("miembro fallido: "))
                    .map(str::to_string)
                    .collect();
                for m in a.members.iter().filter(|m| m.state.iter().any(|w| w == "faulty")) {
                    if !failed.contains(&m.device) {
                        failed.push(m.device.clone());
                    }
                }
                let active = a.array_state != "inactive";
                let summary = match (&degraded_reason, a.degraded) {
                    _ if !active => None,
                    (Some(rest), _) => Some(format!("Arreglo RAID {} degradado{rest}", a.name)),
                    (None, n) if n > 0 => {
                        let falta = if n == 1 { "falta" } else { "faltan" };
                        Some(format!("Arreglo RAID {} degradado: {falta} {n} de {} miembros", a.name, a.raid_disks))
                    }
                    _ if !failed.is_empty() => {
                        Some(format!("Arreglo RAID {} con miembro fallido: {}", a.name, failed.join(", ")))
                    }
                    _ => None,
                };
                match summary {
                    Some(summary) => e.hit(Hit {
                        subject: a.name.clone(),
                        name: format!("arreglo RAID {}", a.name),
                        summary,
                        details: a.verdict.reasons.clone(),
                    }),
                    None => e.clear(a.name.clone()),
                }
            }
            e
        }
        Condition::RaidInactive => {
            let mut e = Eval::new(probe_rest(sample, "raid"));
            for r in &sample.readings {
                let Reading::RaidArrayV1(a) = r else { continue };
                let summary = match a.array_state.as_str() {
                    "inactive" => format!("Arreglo RAID {} inactivo: el kernel no lo puso en servicio", a.name),
                    "broken" => {
                        format!("Arreglo RAID {} roto: perdió miembros imprescindibles y rechaza escrituras", a.name)
                    }
                    _ => {
                        e.clear(a.name.clone());
                        continue;
                    }
                };
                e.hit(Hit {
                    subject: a.name.clone(),
                    name: format!("arreglo RAID {}", a.name),
                    summary,
                    details: a.verdict.reasons.clone(),
                });
            }
            e
        }
        Condition::FanStopped => {
            let mut e = Eval::new(probe_rest(sample, "sensors"));
            for r in &sample.readings {
                let Reading::FanV1(f) = r else { continue };
                let subject = sensor_subject(&f.chip, &f.device, &f.label);
                match (f.rpm, f.min.filter(|m| *m > 0)) {
                    (None, _) => e.hold(subject),
                    (Some(0), Some(min)) => e.hit(Hit {
                        subject,
                        name: format!("{} {}", f.chip, f.label),
                        summary: format!("Ventilador {} {} detenido: 0 rpm (mínimo {min} rpm)", f.chip, f.label),
                        details: f.verdict.reasons.clone(),
                    }),
                    _ => e.clear(subject),
                }
            }
            e
        }
        Condition::FilesystemUsage { percent } => {
            let mut e = Eval::new(probe_rest(sample, "filesystems"));
            for r in &sample.readings {
                let Reading::FilesystemV1(fs) = r else { continue };
                let used_pct = fs.used_percent();
                // `used_percent` comes from integers (never NaN) and `percent` was validated.
                if fs.read_only || fs.total_bytes == 0 || used_pct < *percent {
                    e.clear(fs.mount_point.clone());
                    continue;
                }
                let used = fs.total_bytes.saturating_sub(fs.available_bytes);
                e.hit(Hit {
                    subject: fs.mount_point.clone(),
                    name: format!("sistema de archivos {}", fs.mount_point),
                    summary: format!(
                        "Sistema de archivos {} al {used_pct:.0} % (quedan {} libres)",
                        fs.mount_point,
                        human_bytes(fs.available_bytes.min(fs.total_bytes))
                    ),
                    details: vec![
                        format!("usado {} de {} ({used_pct:.1} %)", human_bytes(used), human_bytes(fs.total_bytes)),
                        format!("dispositivo {} ({})", fs.device, fs.fs_type),
                    ],
                });
            }
            e
        }
        Condition::FilesystemFilling { days, window } => {
            let mut e = Eval::new(probe_rest(sample, "filesystems"));
            for r in &sample.readings {
                let Reading::FilesystemV1(fs) = r else { continue };
                let available = fs.available_bytes.min(fs.total_bytes);
                let used = fs.total_bytes.saturating_sub(fs.available_bytes);
                let forecast = (!fs.read_only && fs.total_bytes > 0)
                    .then(|| hist.forecast(&fs.mount_point, fs.total_bytes, used, available, now, *window))
                    .flatten()
                    .filter(|f| f.secs_left <= f64::from(*days) * 86_400.0);
                let Some(f) = forecast else {
                    e.clear(fs.mount_point.clone());
                    continue;
                };
                let full_at = TimeDelta::try_seconds(f.secs_left.ceil() as i64).and_then(|d| now.checked_add_signed(d));
                let date = full_at.map(|d| format!(" (hacia el {})", d.format("%d/%m/%Y"))).unwrap_or_default();
                let when = if f.secs_left < 86_400.0 {
                    format!("en unas {} h", ((f.secs_left / 3600.0).ceil() as u64).max(1))
                } else {
                    format!("en unos {}", days_es((f.secs_left / 86_400.0).round() as u64))
                };
                let rate = human_bytes(f.bytes_per_day as u64);
                e.hit(Hit {
                    subject: fs.mount_point.clone(),
                    name: format!("sistema de archivos {}", fs.mount_point),
                    summary: format!(
                        "El sistema de archivos {} se llenará {when}{date} al ritmo actual de {rate} por día",
                        fs.mount_point
                    ),
                    details: vec![
                        format!("libres {} de {}", human_bytes(available), human_bytes(fs.total_bytes)),
                        format!("crecimiento {rate} por día (tendencia de las últimas {})", span_es(*window)),
                    ],
                });
            }
            e
        }
        Condition::Ami { states } => {
            let mut e = Eval::new(probe_rest(sample, "asterisk"));
            for a in asterisk_readings(sample) {
                let (word, summary) = match &a.ami {
                    AmiState::Up => {
                        e.clear("");
                        continue;
                    }
                    AmiState::Down(why) => (AmiWord::Down, format!("Asterisk no responde: {why}")),
                    AmiState::Wedged(why) => {
                        (AmiWord::Wedged, format!("Asterisk bloqueado: AMI conecta pero no contesta ({why})"))
                    }
                    AmiState::LoginRefused(why) => (
                        AmiWord::LoginRefused,
                        format!("Centinela no puede leer Asterisk: inicio de sesión AMI rechazado ({why})"),
                    ),
                    AmiState::Error(why) => {
                        (AmiWord::Error, format!("Centinela no puede leer Asterisk: la conversación AMI falló ({why})"))
                    }
                };
                if states.contains(&word) {
                    e.hit(Hit {
                        subject: String::new(),
                        name: "Asterisk".into(),
                        summary,
                        details: a.verdict.reasons.clone(),
                    });
                } else {
                    e.clear("");
                }
            }
            e
        }
        Condition::AsteriskRestarted { within } => {
            let mut e = Eval::new(probe_rest(sample, "asterisk"));
            for a in asterisk_readings(sample) {
                match a.uptime_s {
                    _ if a.ami != AmiState::Up => e.hold(""),
                    None => e.hold(""),
                    Some(up) if up < within.as_secs() => e.hit(Hit {
                        subject: String::new(),
                        name: "Asterisk".into(),
                        summary: format!("Asterisk se reinició hace {}", human_duration_s(up)),
                        details: a.version.iter().map(|v| format!("versión {v}")).collect(),
                    }),
                    Some(_) => e.clear(""),
                }
            }
            e
        }
        Condition::StuckChannel { after } => {
            let mut e = Eval::new(probe_rest(sample, "asterisk"));
            for a in asterisk_readings(sample) {
                if a.ami != AmiState::Up {
                    e.hold("");
                    continue;
                }
                let stuck: Vec<String> =
                    a.verdict.reasons.iter().filter(|r| r.starts_with("canal atascado")).cloned().collect();
                let summary = match (after, a.longest_channel_s) {
                    (Some(after), Some(s)) if s >= after.as_secs() => Some(format!(
                        "Canal atascado: {} {}",
                        a.longest_channel.as_deref().unwrap_or("(sin nombre)"),
                        human_duration_s(s)
                    )),
                    (Some(_), _) => None,
                    (None, _) => stuck.first().map(|r| cap(r)),
                };
                match summary {
                    Some(summary) => {
                        let mut details = stuck;
                        details.extend(
                            a.verdict
                                .reasons
                                .iter()
                                .filter(|r| r.starts_with("y ") && r.contains("atascados"))
                                .cloned(),
                        );
                        if details.is_empty() {
                            details.push(summary.clone());
                        }
                        e.hit(Hit { subject: String::new(), name: "Asterisk".into(), summary, details });
                    }
                    None => e.clear(""),
                }
            }
            e
        }
        Condition::DatabaseDown => {
            let mut e = Eval::new(probe_rest(sample, "database"));
            for r in &sample.readings {
                let Reading::DatabaseV1(d) = r else { continue };
                if d.connected {
                    e.clear("");
                    continue;
                }
                let mut details = vec![format!("{} {}", d.backend, d.target)];
                details.extend(d.verdict.reasons.iter().cloned());
                e.hit(Hit {
                    subject: String::new(),
                    name: "base de datos del CDR".into(),
                    summary: format!(
                        "La base de datos del CDR no responde: {}",
                        d.error.as_deref().unwrap_or("sin detalle del agente")
                    ),
                    details,
                });
            }
            e
        }
        Condition::AdminAppDown => {
            let mut e = Eval::new(probe_rest(sample, "admin_app"));
            for r in &sample.readings {
                let Reading::AdminAppV1(a) = r else { continue };
                let error = a.error.as_deref().unwrap_or("sin detalle del agente");
                let summary = match a.status {
                    _ if !a.reachable => format!("La aplicación de administración no responde: {error}"),
                    Some(s) if s >= 500 => format!("La aplicación de administración responde con error HTTP {s}"),
                    Some(_) => {
                        e.clear("");
                        continue;
                    }
                    None => format!("La aplicación de administración no responde con HTTP: {error}"),
                };
                let mut details = vec![a.url.clone()];
                details.extend(a.verdict.reasons.iter().cloned());
                e.hit(Hit { subject: String::new(), name: "aplicación de administración".into(), summary, details });
            }
            e
        }
        Condition::CertExpiring { days } => {
            let mut e = Eval::new(probe_rest(sample, "admin_app"));
            for r in &sample.readings {
                let Reading::AdminAppV1(a) = r else { continue };
                let Some(t) = &a.tls else {
                    if a.reachable {
                        e.clear("")
                    } else {
                        e.hold("")
                    }
                    continue;
                };
                if t.days_left >= i64::from(*days) {
                    e.clear("");
                    continue;
                }
                let when = match t.days_left {
                    n if n < 0 => format!("venció hace {}", days_es(n.unsigned_abs())),
                    0 => "vence en menos de un día".to_string(),
                    n => format!("vence en {}", days_es(n.unsigned_abs())),
                };
                e.hit(Hit {
                    subject: String::new(),
                    name: "aplicación de administración".into(),
                    summary: format!("El certificado TLS de la aplicación de administración {when} ({})", t.not_after),
                    details: vec![a.url.clone(), format!("emitido para {} por {}", t.subject, t.issuer)],
                });
            }
            e
        }
        Condition::OutboxDropping { window } => {
            let mut e = Eval::new(Rest::False);
            let total = sample.outbox.dropped_total;
            let low = hist.lowest(OUTBOX_DROPPED, total, now, *window);
            if total > low {
                let n = total - low;
                e.hit(Hit {
                    subject: String::new(),
                    name: "agente".into(),
                    summary: format!(
                        "El agente descartó {n} {} de su bandeja de salida llena (últimas {}): se perdieron datos",
                        if n == 1 { "registro" } else { "registros" },
                        span_es(*window)
                    ),
                    details: vec![
                        format!("descartados en total: {total}"),
                        format!("pendientes de confirmación: {}", sample.outbox.backlog),
                    ],
                });
            } else {
                e.clear("");
            }
            e
        }
        Condition::ProbeFailed => {
            let mut e = Eval::new(Rest::False);
            for p in &sample.probes {
                match &p.outcome {
                    Outcome::Failed(why) => e.hit(Hit {
                        subject: p.probe.clone(),
                        name: format!("sonda {}", p.probe),
                        summary: format!("La sonda {} falló: {why}", p.probe),
                        details: vec![why.clone()],
                    }),
                    _ => e.clear(p.probe.clone()),
                }
            }
            e
        }
        // Presence, not samples: the engine judges it.
        Condition::AgentSilent { .. } => Eval::new(Rest::Hold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_as_spanish_spans() {
        assert_eq!(span_es(Duration::from_secs(86_400)), "24 h");
        assert_eq!(span_es(Duration::from_secs(7 * 86_400)), "7 días");
        assert_eq!(span_es(Duration::from_secs(3600)), "1 h");
        assert_eq!(span_es(Duration::from_secs(90)), "2 min");
        assert_eq!(cap("troncal no registrada"), "Troncal no registrada");
        assert_eq!(cap("último"), "Último");
        assert_eq!(cap(""), "");
    }
}
