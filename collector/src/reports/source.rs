//! Reads one call center's month from SQLite into its [`Figures`]: each of its servers' CDR rows in
//! `calldate` order and its `queue_log` lines in time order, streamed and folded call by call;
//! nothing but the open calls is held.
//!
//! Both tables are stored in that order (primary keys `(server_id, calldate, row_key)` and
//! `(server_id, time, row_key)`, migration 0010), so a month is one contiguous range of each: the
//! secondary indexes `cdr_by_calldate` and `queue_log_by_time` they replaced cost a random table
//! lookup per row, 5 s instead of 0.7 s for a month of a million rows.
//!
//! Invariants:
//! - Only the month's rows are read, plus [`SPAN_S`] on each side: a call whose first leg is on
//!   the month's last evening may have legs after midnight, and one that started the evening
//!   before must not count again. A call counts in the month of its first leg ([`MonthTally`]).
//! - A call is finished once rows [`SPAN_S`] newer than its first leg have been read: no call of
//!   a call center has legs further apart (a leg starts when its channel does).
//! - Read-only; the same rows and settings give the same figures.

use super::classify::{CallBuilder, Leg, Rules, parse_calldate};
use super::figures::{Figures, MonthTally};
use super::queues::{EVENTS, QueueCall, QueueTally};
use super::settings::Settings;
use chrono::{LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rusqlite::types::{FromSqlError, Type, ValueRef};
use rusqlite::{Connection, Row, params};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// How far apart in time the rows of one call may be (see the module's invariants).
pub const SPAN_S: i64 = 6 * 3600;

/// Rows between two looks for finished calls (each look visits every open call).
const EXPIRE_EVERY: u32 = 16_384;

/// The figures of call center `center_id` for `year`-`month`: the CDR and `queue_log` of every
/// server placed in it. A month that does not exist is an error
/// ([`rusqlite::Error::InvalidParameterName`] naming it); a center without servers gives zeros.
///
/// On a database file, the month is read in parts (runs of whole days, and each server's
/// `queue_log`) by one thread per core, each on a read-only connection of its own; otherwise, on
/// `conn` alone. Parts read while rows are being written may see the writer a few milliseconds
/// apart; a month being reported is over, its rows no longer change.
pub fn month(
    conn: &Connection,
    center_id: i64,
    year: i32,
    month: u32,
    settings: &Settings,
) -> rusqlite::Result<Figures> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_WORKERS);
    read(conn, center_id, year, month, settings, workers)
}

/// [`month`] on `workers` threads (1: on `conn` alone).
fn read(
    conn: &Connection,
    center_id: i64,
    year: i32,
    month: u32,
    settings: &Settings,
    workers: usize,
) -> rusqlite::Result<Figures> {
    let Some(mut tally) = MonthTally::new(center_id, year, month, settings.service_level_s) else {
        return Err(rusqlite::Error::InvalidParameterName(format!("{year}-{month:02} is not a month")));
    };
    let servers: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, agent_id FROM servers WHERE center_id = ?1 ORDER BY agent_id")?
        .query_map([center_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let (start, end) = tally.bounds();
    let (start_utc, end_utc) = (epoch_of_wall(settings.tz, start), epoch_of_wall(settings.tz, end));
    let mut queues = QueueTally::new(start_utc, end_utc, settings.service_level_s);
    let path = conn.path().filter(|p| !p.is_empty()).map(str::to_string);
    let mut jobs = Vec::new();
    // The queue_log reads first: they are the longest single jobs, and the runs of days after
    // them even out the threads' ends.
    for (id, _) in &servers {
        jobs.push(Job::QueueLog { server: *id, from: start_utc - SPAN_S, to: end_utc + SPAN_S });
    }
    let parts = if path.is_some() && workers > 1 { PARTS_PER_WORKER * workers } else { 1 };
    for (id, agent) in &servers {
        for (from, to) in day_runs(start, end, parts) {
            jobs.push(Job::Cdr { server: *id, rules: settings.rules_for(agent), from, to });
        }
    }
    let empty = || (tally.part(start, end), QueueTally::new(start_utc, end_utc, settings.service_level_s));
    let results = match path {
        Some(path) if workers > 1 && jobs.len() > 1 => in_parallel(&path, &jobs, workers, empty)?,
        _ => {
            let (mut t, mut q) = empty();
            for job in &jobs {
                job.run(conn, &mut t, &mut q)?;
            }
            vec![(t, q)]
        }
    };
    for (t, q) in results {
        tally.merge(t);
        queues.merge(q);
    }
    Ok(tally.finish(servers.into_iter().map(|(_, a)| a).collect(), queues.finish()))
}

/// More threads than this gain nothing on a month: SQLite's page reads are then the limit.
const MAX_WORKERS: usize = 4;

/// Runs of days per thread and server: small enough for the threads to end together.
const PARTS_PER_WORKER: usize = 3;

/// One piece of a month's reading.
enum Job<'a> {
    /// A server's calls that started in `[from, to)` (wall-clock seconds), read with [`SPAN_S`]
    /// on each side.
    Cdr { server: i64, rules: &'a Rules, from: i64, to: i64 },
    /// A server's `queue_log` lines in `[from, to)` (epoch seconds).
    QueueLog { server: i64, from: i64, to: i64 },
}

impl Job<'_> {
    fn run(&self, conn: &Connection, tally: &mut MonthTally, queues: &mut QueueTally) -> rusqlite::Result<()> {
        match *self {
            Job::Cdr { server, rules, from, to } => {
                let mut part = tally.part(from, to);
                cdr(conn, server, &wall_text(from - SPAN_S), &wall_text(to + SPAN_S), rules, &mut part)?;
                tally.merge(part);
                Ok(())
            }
            Job::QueueLog { server, from, to } => queue_log(conn, server, from, to, queues),
        }
    }
}

/// `[start, end)` cut into at most `n` runs of whole days (the cuts at midnight, when a call
/// center is quiet, so the [`SPAN_S`] read around each cut costs least).
fn day_runs(start: i64, end: i64, n: usize) -> Vec<(i64, i64)> {
    let days = ((end - start) / 86_400).max(1);
    let n = (n as i64).clamp(1, days);
    (0..n)
        .map(|i| (start + days * i / n * 86_400, if i + 1 == n { end } else { start + days * (i + 1) / n * 86_400 }))
        .collect()
}

/// Runs `jobs` on `workers` threads, each with a read-only connection to `path`, taking the next
/// job as it finishes one; each thread's partial tallies.
fn in_parallel(
    path: &str,
    jobs: &[Job],
    workers: usize,
    empty: impl Fn() -> (MonthTally, QueueTally) + Sync,
) -> rusqlite::Result<Vec<(MonthTally, QueueTally)>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(jobs.len()))
            .map(|_| {
                scope.spawn(|| -> rusqlite::Result<(MonthTally, QueueTally)> {
                    let conn = Connection::open_with_flags(
                        path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    conn.pragma_update(None, "busy_timeout", 5000)?;
                    let (mut tally, mut queues) = empty();
                    while let Some(job) = jobs.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        job.run(&conn, &mut tally, &mut queues)?;
                    }
                    Ok((tally, queues))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(rusqlite::Error::InvalidParameterName("a thread reading the month panicked".into()))
                })
            })
            .collect()
    })
}

/// Calls being folded, with the time of the first row read of each.
struct Open<V> {
    calls: HashMap<Key, (i64, V), BuildHasherDefault<Fx>>,
}

impl<V: Default> Open<V> {
    fn new() -> Self {
        Open { calls: HashMap::default() }
    }

    fn with(&mut self, key: &str, t: i64, f: impl FnOnce(&mut V)) {
        match self.calls.get_mut(key.as_bytes()) {
            Some((_, v)) => f(v),
            None => {
                let mut v = V::default();
                f(&mut v);
                self.calls.insert(Key::new(key.as_bytes()), (t, v));
            }
        }
    }

    /// Hands over every call first seen before `t` (all of them for `i64::MAX`), in no order.
    fn expire(&mut self, t: i64, mut f: impl FnMut(&str, V)) {
        for (key, (_, v)) in self.calls.extract_if(|_, (first, _)| *first < t) {
            f(std::str::from_utf8(key.bytes()).unwrap_or(""), v);
        }
    }
}

/// A call id, without a heap allocation when it is short (`epoch.seq` ids are about 20 bytes).
enum Key {
    Inline(u8, [u8; 46]),
    Heap(Box<[u8]>),
}

impl Key {
    fn new(bytes: &[u8]) -> Key {
        let mut inline = [0u8; 46];
        match inline.get_mut(..bytes.len()) {
            Some(head) => {
                head.copy_from_slice(bytes);
                Key::Inline(bytes.len() as u8, inline)
            }
            None => Key::Heap(bytes.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline(len, b) => &b[..usize::from(*len)],
            Key::Heap(b) => b,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.bytes().hash(h);
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

/// FxHash (rustc's): the call ids hashed once per row are short and come from the ministry's own
/// PBXs, so SipHash's resistance to crafted keys buys nothing here (it was 2 % of a month's read).
#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn text<'r>(row: &'r Row, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| conversion(i, e))
}

fn opt_text<'r>(row: &'r Row, i: usize) -> rusqlite::Result<Option<&'r str>> {
    row.get_ref(i)?.as_str_or_null().map_err(|e| conversion(i, e))
}

fn conversion(i: usize, e: FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))
}

/// One server's CDR rows with `calldate` in `[from, to)`, folded into calls counted by `tally`.
fn cdr(
    conn: &Connection,
    server: i64,
    from: &str,
    to: &str,
    rules: &Rules,
    tally: &mut MonthTally,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT calldate, dst, dcontext, channel, dstchannel, lastapp, lastdata, billsec, disposition, uniqueid,
                linkedid, did, outbound_cnum
         FROM cdr
         WHERE server_id = ?1 AND calldate >= ?2 AND calldate < ?3
         ORDER BY calldate",
    )?;
    let mut rows = stmt.query(params![server, from, to])?;
    let mut open: Open<CallBuilder> = Open::new();
    let mut finish = |_: &str, b: CallBuilder| {
        if let Some(call) = b.finish() {
            tally.add(&call);
        }
    };
    let (mut newest, mut since) = (i64::MIN, 0u32);
    while let Some(row) = rows.next()? {
        let leg = Leg {
            calldate: text(row, 0)?,
            dst: text(row, 1)?,
            dcontext: text(row, 2)?,
            channel: text(row, 3)?,
            dstchannel: text(row, 4)?,
            lastapp: text(row, 5)?,
            lastdata: text(row, 6)?,
            billsec: match row.get_ref(7)? {
                ValueRef::Integer(n) => n,
                _ => 0,
            },
            disposition: text(row, 8)?,
            uniqueid: text(row, 9)?,
            linkedid: opt_text(row, 10)?,
            did: opt_text(row, 11)?,
            outbound_cnum: opt_text(row, 12)?,
        };
        let Some(id) = leg.call_id() else { continue };
        // Rows come in `calldate` order; one whose date cannot be read sits where it sorted.
        newest = newest.max(parse_calldate(leg.calldate).unwrap_or(newest));
        open.with(id, newest, |b| b.add(&leg, rules));
        since += 1;
        if since == EXPIRE_EVERY {
            since = 0;
            open.expire(newest.saturating_sub(SPAN_S), &mut finish);
        }
    }
    open.expire(i64::MAX, &mut finish);
    Ok(())
}

/// One server's `queue_log` lines with `time` in `[from, to)`, folded into queue calls (a
/// `callid` in a queue) counted by `tally`. Only the data field a figure uses is extracted, in SQL.
fn queue_log(conn: &Connection, server: i64, from: i64, to: i64, tally: &mut QueueTally) -> rusqlite::Result<()> {
    let events = EVENTS.iter().map(|e| format!("'{e}'")).collect::<Vec<_>>().join(", ");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT time, callid, queue, event,
                CASE WHEN NOT json_valid(data) THEN NULL
                     WHEN event = 'CONNECT' THEN CAST(json_extract(data, '$[0]') AS INTEGER)
                     WHEN event IN ('COMPLETECALLER', 'COMPLETEAGENT') THEN CAST(json_extract(data, '$[1]') AS INTEGER)
                     WHEN event IN ('BLINDTRANSFER', 'ATTENDEDTRANSFER') THEN CAST(json_extract(data, '$[#-2]') AS INTEGER)
                     WHEN event = 'TRANSFER' THEN CAST(json_extract(data, '$[3]') AS INTEGER)
                END
         FROM queue_log
         WHERE server_id = ?1 AND time >= ?2 AND time < ?3 AND event IN ({events})
         ORDER BY time"
    ))?;
    let mut rows = stmt.query(params![server, from, to])?;
    let mut open: Open<QueueCall> = Open::new();
    let mut finish = |key: &str, c: QueueCall| {
        let queue = key.split_once('\0').map_or(key, |(_, q)| q);
        tally.add(queue, &c);
    };
    let (mut key, mut since) = (String::new(), 0u32);
    while let Some(row) = rows.next()? {
        let time: i64 = row.get(0)?;
        let event = text(row, 3)?;
        let value: Option<i64> = row.get(4)?;
        key.clear();
        key.push_str(text(row, 1)?);
        key.push('\0');
        key.push_str(text(row, 2)?);
        open.with(&key, time, |c| c.add(time, event, value));
        since += 1;
        if since == EXPIRE_EVERY {
            since = 0;
            open.expire(time.saturating_sub(SPAN_S), &mut finish);
        }
    }
    open.expire(i64::MAX, &mut finish);
    Ok(())
}

/// Wall-clock seconds as `YYYY-MM-DD HH:MM:SS`, the text `calldate` is compared with.
fn wall_text(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

/// The instant of a wall-clock time in `tz`: the earlier of a repeated hour, the first instant
/// after a skipped one.
fn epoch_of_wall(tz: Tz, secs: i64) -> i64 {
    let Some(naive) = chrono::DateTime::from_timestamp(secs, 0).map(|t| t.naive_utc()) else { return secs };
    let mut probe: NaiveDateTime = naive;
    for _ in 0..4 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp(),
            LocalResult::None => probe += chrono::TimeDelta::minutes(30),
        }
    }
    secs
}

#[cfg(test)]
mod tests;
