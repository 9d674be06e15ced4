//! The writer thread: the only code that writes to the database.
//!
//! Messages are applied in arrival order and committed in batches (everything queued, up to
//! [`MAX_BATCH`], per transaction). Each message carries a token; tokens go back to the ingest task
//! only after their transaction committed, and the ingest task acknowledges the broker then.

use centinela_shared::{BirthMsg, Presence, Topic, TopicKind, decode_birth, decode_envelope};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot};

pub const MAX_BATCH: usize = 4096;

/// One MQTT message to store.
#[derive(Debug)]
pub struct Inbound<T> {
    pub topic: String,
    pub payload: Vec<u8>,
    pub received_ms: i64,
    /// Handed back after commit (the ingest task's acknowledgement).
    pub token: T,
}

#[derive(Debug)]
pub enum Op<T> {
    Message(Inbound<T>),
    /// The staleness timer: servers silent for 3 intervals become `stale`.
    Tick {
        now_ms: i64,
    },
    /// Answered once everything queued before it has committed.
    Flush(oneshot::Sender<()>),
}

/// What the writer reports back.
#[derive(Debug)]
pub enum Committed<T> {
    /// These messages are durable: acknowledge them.
    Durable(Vec<T>),
    /// A transaction failed; its messages were not stored and must be redelivered.
    Failed(String),
}

/// Ingest counters, shared with the web layer.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub presence_changes: AtomicU64,
}

/// What happened to one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Stored,
    Duplicate,
    Presence,
    Birth,
    Rejected(String),
}

pub struct WriterHandle<T> {
    pub tx: mpsc::Sender<Op<T>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl<T> WriterHandle<T> {
    /// Waits for the thread to finish after every sender is gone.
    pub fn join(self) {
        let WriterHandle { tx, thread } = self;
        drop(tx);
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

/// Starts the writer thread. `started_ms` is when the collector started: a server is never marked
/// stale for silence that happened while the collector itself was down.
pub fn spawn<T: Send + 'static>(
    mut conn: Connection,
    started_ms: i64,
    committed: mpsc::UnboundedSender<Committed<T>>,
    stats: Arc<IngestStats>,
    queue: usize,
    workflow: Option<Workflow>,
) -> WriterHandle<T> {
    let (tx, mut rx) = mpsc::channel::<Op<T>>(queue);
    let thread = std::thread::Builder::new()
        .name("sqlite-writer".into())
        .spawn(move || {
            let mut applier = Applier { workflow, ..Applier::default() };
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(op) => batch.push(op),
                        Err(_) => break,
                    }
                }
                let mut tokens = Vec::with_capacity(batch.len());
                let mut flushes = Vec::new();
                let result = (|| {
                    // IMMEDIATE: the web layer writes too (tickets, people); a deferred
                    // transaction that read first could not upgrade after its commit.
                    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    for op in batch {
                        match op {
                            Op::Message(m) => {
                                let applied = applier.apply(&tx, &m.topic, &m.payload, m.received_ms)?;
                                count(&stats, &m.topic, &applied);
                                tokens.push(m.token);
                            }
                            Op::Tick { now_ms } => {
                                applier.flush(&tx)?;
                                let stale = mark_stale(&tx, now_ms, started_ms)?;
                                applier.on_tick(&tx, now_ms, &stale)?;
                            }
                            Op::Flush(done) => flushes.push(done),
                        }
                    }
                    applier.flush(&tx)?;
                    tx.commit()
                })();
                if result.is_err() {
                    // The transaction rolled back: what the applier cached about it is not true.
                    applier.forget();
                }
                if result.is_ok() {
                    applier.wake_notifier();
                }
                match result {
                    Ok(()) => {
                        if !tokens.is_empty() {
                            let _ = committed.send(Committed::Durable(tokens));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot store a batch; it will be redelivered by the broker");
                        let _ = committed.send(Committed::Failed(e.to_string()));
                    }
                }
                for f in flushes {
                    let _ = f.send(());
                }
            }
        })
        .ok();
    WriterHandle { tx, thread }
}

fn count(stats: &IngestStats, topic: &str, applied: &Applied) {
    match applied {
        Applied::Stored => stats.stored.fetch_add(1, Ordering::Relaxed),
        Applied::Duplicate => stats.duplicates.fetch_add(1, Ordering::Relaxed),
        Applied::Presence | Applied::Birth => stats.presence_changes.fetch_add(1, Ordering::Relaxed),
        Applied::Rejected(error) => {
            tracing::warn!(topic, error = error.as_str(), "payload rejected and kept in `rejected`");
            stats.rejected.fetch_add(1, Ordering::Relaxed)
        }
    };
}

fn reject(tx: &Transaction, topic: &str, payload: &[u8], now: i64, error: String) -> rusqlite::Result<Applied> {
    tx.prepare_cached("INSERT INTO rejected (received_ms, topic, payload, error) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![now, topic, payload, error])?;
    Ok(Applied::Rejected(error))
}

/// Registers a server on first contact and returns its integer id.
fn insert_server(tx: &Transaction, agent: &str, now: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO servers (agent_id, first_seen, status, status_since) VALUES (?1, ?2, 'online', ?2)
         ON CONFLICT (agent_id) DO NOTHING",
    )?
    .execute(params![agent, now])?;
    tx.prepare_cached("SELECT id FROM servers WHERE agent_id = ?1")?.query_row([agent], |r| r.get(0))
}

/// Counters of the samples of one server stored since the last [`Applier::flush`].
#[derive(Debug)]
struct Delta {
    stored: i64,
    max_seq: i64,
    last_seen: i64,
    interval_ms: u32,
}

/// The rule engine and the automatic tickets, run by the writer on every stored sample, presence
/// change and tick, in the same transaction as the message that caused them.
pub struct Workflow {
    pub engine: crate::rules::Engine,
    pub ctx: crate::tickets::store::Context,
    /// Told after a commit that queued notifications.
    pub waker: Option<crate::notify::Waker>,
    saved_ms: i64,
    notified: bool,
}

/// How often the engine's state is saved (a restart loses at most this much pending time).
const SAVE_EVERY_MS: i64 = 30_000;

impl Workflow {
    /// The engine restored from its saved state (if any), so a restart neither re-fires nor forgets.
    pub fn load(
        conn: &Connection,
        rules: crate::rules::Rules,
        ctx: crate::tickets::store::Context,
    ) -> rusqlite::Result<Self> {
        let saved: Option<String> =
            conn.query_row("SELECT state FROM engine_state WHERE id = 1", [], |r| r.get(0)).optional()?;
        let engine = match saved.map(|s| serde_json::from_str::<crate::rules::EngineState>(&s)) {
            Some(Ok(state)) => crate::rules::Engine::restore(rules, state),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the saved rule engine state does not parse; starting fresh");
                crate::rules::Engine::new(rules)
            }
            None => crate::rules::Engine::new(rules),
        };
        Ok(Self { engine, ctx, waker: None, saved_ms: 0, notified: false })
    }

    fn apply(&mut self, tx: &Transaction, transitions: Vec<crate::rules::Transition>) -> rusqlite::Result<()> {
        for t in &transitions {
            match t {
                crate::rules::Transition::Fired { server, key, .. } => tracing::warn!(server, key, "problem fired"),
                crate::rules::Transition::Resolved { server, key, .. } => {
                    tracing::info!(server, key, "problem resolved")
                }
            }
            self.notified |= crate::tickets::store::on_transition(tx, &self.ctx, t)?;
        }
        Ok(())
    }

    fn save(&mut self, tx: &Transaction, now_ms: i64) -> rusqlite::Result<()> {
        if now_ms - self.saved_ms < SAVE_EVERY_MS {
            return Ok(());
        }
        let state = serde_json::to_string(&self.engine.snapshot())
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.prepare_cached(
            "INSERT INTO engine_state (id, saved_at, state) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET saved_at = ?1, state = ?2",
        )?
        .execute(params![now_ms, state])?;
        self.saved_ms = now_ms;
        Ok(())
    }
}

fn utc(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The writer's per-transaction state: which servers exist, and per-server counters of the samples
/// stored since the last flush, so a batch costs one `UPDATE servers` per server, not per sample.
/// Invariant: [`Applier::flush`] runs before anything that reads those counters (a status or birth
/// message, the staleness timer) and before every commit.
#[derive(Default)]
pub struct Applier {
    /// agent id → servers.id
    known: HashMap<String, i64>,
    /// servers.id → counters
    deltas: HashMap<i64, Delta>,
    workflow: Option<Workflow>,
}

impl Applier {
    fn register(&mut self, tx: &Transaction, agent: &str, now: i64) -> rusqlite::Result<i64> {
        if let Some(id) = self.known.get(agent) {
            return Ok(*id);
        }
        let id = insert_server(tx, agent, now)?;
        self.known.insert(agent.to_string(), id);
        Ok(id)
    }

    /// An applier that also runs the rule engine and the automatic tickets.
    pub fn with_workflow(workflow: Workflow) -> Self {
        Self { workflow: Some(workflow), ..Self::default() }
    }

    /// Forgets everything cached; call after a rolled-back transaction.
    pub fn forget(&mut self) {
        self.known.clear();
        self.deltas.clear();
        if let Some(w) = &mut self.workflow {
            w.notified = false;
        }
    }

    /// After a commit: wakes the notification workers if the transaction queued anything.
    fn wake_notifier(&mut self) {
        if let Some(w) = &mut self.workflow
            && std::mem::take(&mut w.notified)
            && let Some(waker) = &w.waker
        {
            waker.wake();
        }
    }

    /// The timer: servers just marked stale, time passing for `for` and `keep_firing_for`, and
    /// the engine's state saved now and then.
    pub fn on_tick(&mut self, tx: &Transaction, now_ms: i64, stale: &[String]) -> rusqlite::Result<()> {
        let Some(w) = &mut self.workflow else { return Ok(()) };
        let now = utc(now_ms);
        let mut transitions = Vec::new();
        for agent in stale {
            transitions.extend(w.engine.on_presence(agent, now, "stale"));
        }
        transitions.extend(w.engine.on_tick(now));
        w.apply(tx, transitions)?;
        // A problem that fired during a silence or maintenance window and outlasted it.
        w.notified |= crate::tickets::store::resume_after_silences(tx, &w.ctx, now)?;
        w.save(tx, now_ms)
    }

    /// Writes the pending per-server counters.
    pub fn flush(&mut self, tx: &Transaction) -> rusqlite::Result<()> {
        for (server, d) in self.deltas.drain() {
            tx.prepare_cached(
                "UPDATE servers SET samples = samples + ?2, last_seq = max(last_seq, ?3), last_seen = max(coalesce(last_seen, 0), ?4),
                        interval_ms = ?5,
                        status = CASE WHEN status = 'stale' THEN 'online' ELSE status END,
                        status_since = CASE WHEN status = 'stale' THEN ?4 ELSE status_since END
                 WHERE id = ?1",
            )?
            .execute(params![server, d.stored, d.max_seq, d.last_seen, d.interval_ms.max(1)])?;
        }
        Ok(())
    }

    /// Applies one message inside the writer's transaction.
    pub fn apply(&mut self, tx: &Transaction, topic: &str, payload: &[u8], now: i64) -> rusqlite::Result<Applied> {
        let Some(t) = Topic::parse(topic) else {
            return reject(
                tx,
                topic,
                payload,
                now,
                "topic is not centinela/v1/<agent-id>/<sample|status|birth>".into(),
            );
        };
        let agent = t.agent.as_str();
        match t.kind {
            TopicKind::Sample => {
                let env = match decode_envelope(payload) {
                    Ok(env) => env,
                    Err(e) => return reject(tx, topic, payload, now, e.to_string()),
                };
                if env.agent != agent {
                    let msg = format!("envelope is from agent {:?} but was published on {topic}", env.agent);
                    return reject(tx, topic, payload, now, msg);
                }
                if env.seq == 0 || env.seq > i64::MAX as u64 {
                    return reject(tx, topic, payload, now, format!("seq {} is outside 1..2^63", env.seq));
                }
                let server = self.register(tx, agent, now)?;
                let s = match &env.body {
                    centinela_shared::Body::SampleV1(s) => s,
                    centinela_shared::Body::CdrBatchV1(b) => return store_cdr(tx, server, b, now),
                    centinela_shared::Body::QueueLogBatchV1(b) => return store_queue_log(tx, server, b, now),
                };
                let inserted = tx
                .prepare_cached(
                    "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (server_id, seq) DO NOTHING",
                )?
                .execute(params![server, env.seq as i64, env.taken_ms, now, payload])?;
                if inserted == 0 {
                    return Ok(Applied::Duplicate);
                }
                let d = self.deltas.entry(server).or_insert(Delta {
                    stored: 0,
                    max_seq: 0,
                    last_seen: now,
                    interval_ms: 1,
                });
                d.stored += 1;
                d.max_seq = d.max_seq.max(env.seq as i64);
                d.last_seen = d.last_seen.max(now);
                d.interval_ms = s.interval_ms;
                if let Some(w) = &mut self.workflow {
                    let transitions = w.engine.on_sample(agent, utc(now), s);
                    if !transitions.is_empty() {
                        // Tickets read the servers row: bring its counters up to date first.
                        self.flush(tx)?;
                        if let Some(w) = &mut self.workflow {
                            w.apply(tx, transitions)?;
                        }
                    }
                }
                Ok(Applied::Stored)
            }
            TopicKind::Status => {
                self.flush(tx)?;
                let Some(p) = Presence::parse(payload) else {
                    return reject(tx, topic, payload, now, "status payload is not online, offline or stopped".into());
                };
                self.register(tx, agent, now)?;
                let status = match p {
                    Presence::Online => "online",
                    Presence::Offline => "offline",
                    Presence::Stopped => "stopped",
                };
                let prev: Option<String> =
                    tx.query_row("SELECT status FROM servers WHERE agent_id = ?1", [agent], |r| r.get(0)).optional()?;
                if prev.as_deref() != Some(status) {
                    tx.prepare_cached("UPDATE servers SET status = ?2, status_since = ?3 WHERE agent_id = ?1")?
                        .execute(params![agent, status, now])?;
                    tracing::info!(agent, status, "server presence changed");
                }
                if let Some(w) = &mut self.workflow {
                    let transitions = w.engine.on_presence(agent, utc(now), status);
                    w.apply(tx, transitions)?;
                }
                Ok(Applied::Presence)
            }
            TopicKind::Birth => {
                self.flush(tx)?;
                let BirthMsg::V1(b) = match decode_birth(payload) {
                    Ok(b) => b,
                    Err(e) => return reject(tx, topic, payload, now, e.to_string()),
                };
                if b.agent != agent {
                    let msg = format!("birth message is from agent {:?} but was published on {topic}", b.agent);
                    return reject(tx, topic, payload, now, msg);
                }
                self.register(tx, agent, now)?;
                tx.prepare_cached(
                "UPDATE servers SET hostname = ?2, agent_version = ?3, config_hash = ?4, probes = ?5, interval_ms = ?6
                 WHERE agent_id = ?1",
            )?
            .execute(params![agent, b.hostname, b.agent_version, b.config_hash, b.probes.join(","), b.interval_ms.max(1)])?;
                Ok(Applied::Birth)
            }
            // Ingest never subscribes to commands and hands replies to `crate::commands`; if one
            // reaches the writer anyway, it is not data.
            TopicKind::Cmd | TopicKind::Reply => {
                reject(tx, topic, payload, now, "commands and their replies are not stored as samples".into())
            }
        }
    }
}

/// Stores a batch of CDR rows, each once: a row already stored (same server, same
/// [`CdrRowV1::key`](centinela_shared::CdrRowV1::key)) is skipped. `Duplicate` when nothing was new.
fn store_cdr(
    tx: &Transaction,
    server: i64,
    batch: &centinela_shared::CdrBatchV1,
    now: i64,
) -> rusqlite::Result<Applied> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                          lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield,
                          linkedid, sequence, peeraccount, did, recordingfile, cnum, cnam, outbound_cnum,
                          outbound_cnam, dst_cnam, extra, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21,
                 ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
         ON CONFLICT (server_id, row_key) DO NOTHING",
    )?;
    let mut stored = 0i64;
    let mut newest: Option<&str> = None;
    for r in &batch.rows {
        let extra = (!r.extra.is_empty()).then(|| {
            serde_json::Value::Object(
                r.extra.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
            )
            .to_string()
        });
        let n = insert.execute(params![
            server,
            r.key().as_slice(),
            r.calldate,
            r.clid,
            r.src,
            r.dst,
            r.dcontext,
            r.channel,
            r.dstchannel,
            r.lastapp,
            r.lastdata,
            r.duration,
            r.billsec,
            r.disposition,
            r.amaflags,
            r.accountcode,
            r.uniqueid,
            r.userfield,
            r.linkedid,
            r.sequence,
            r.peeraccount,
            r.did,
            r.recordingfile,
            r.cnum,
            r.cnam,
            r.outbound_cnum,
            r.outbound_cnam,
            r.dst_cnam,
            extra,
            now
        ])?;
        if n > 0 {
            stored += 1;
            newest = Some(newest.map_or(r.calldate.as_str(), |n| n.max(r.calldate.as_str())));
        }
    }
    if stored == 0 {
        return Ok(Applied::Duplicate);
    }
    tx.prepare_cached(
        "UPDATE servers SET cdr_rows = cdr_rows + ?2,
                cdr_newest = CASE WHEN cdr_newest IS NULL OR cdr_newest < ?3 THEN ?3 ELSE cdr_newest END
         WHERE id = ?1",
    )?
    .execute(params![server, stored, newest])?;
    Ok(Applied::Stored)
}

/// Stores a batch of `queue_log` lines, each once (same server, same file and offset).
fn store_queue_log(
    tx: &Transaction,
    server: i64,
    batch: &centinela_shared::QueueLogBatchV1,
    now: i64,
) -> rusqlite::Result<Applied> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO queue_log (server_id, row_key, time, callid, queue, agent, event, data, received_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (server_id, row_key) DO NOTHING",
    )?;
    let mut stored = 0i64;
    for e in &batch.entries {
        let data = serde_json::Value::from(e.data.clone()).to_string();
        stored += insert.execute(params![
            server,
            e.key().as_slice(),
            e.time,
            e.callid,
            e.queue,
            e.agent,
            e.event,
            data,
            now
        ])? as i64;
    }
    if stored == 0 {
        return Ok(Applied::Duplicate);
    }
    tx.prepare_cached("UPDATE servers SET queue_log_rows = queue_log_rows + ?2 WHERE id = ?1")?
        .execute(params![server, stored])?;
    Ok(Applied::Stored)
}

/// Marks online servers that have been silent for more than 3 intervals as stale. Silence is counted
/// from the later of the last sample and the collector's start.
pub fn mark_stale(tx: &Transaction, now_ms: i64, started_ms: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt = tx.prepare_cached(
        "UPDATE servers SET status = 'stale', status_since = ?1
         WHERE status = 'online' AND max(coalesce(last_seen, first_seen), ?2) + 3 * interval_ms < ?1
         RETURNING agent_id",
    )?;
    let stale: Vec<String> = stmt.query_map(params![now_ms, started_ms], |r| r.get(0))?.collect::<Result<_, _>>()?;
    for agent in &stale {
        tracing::warn!(agent = agent.as_str(), "server stopped reporting (no sample for 3 intervals)");
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        (dir, conn)
    }

    fn sample(agent: &str, seq: u64) -> Vec<u8> {
        encode_envelope(&Envelope {
            v: WIRE_VERSION,
            agent: agent.into(),
            seq,
            taken_ms: 1000 + seq as i64,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 1000,
                outbox: OutboxStats::default(),
                probes: vec![],
                readings: vec![],
            }),
        })
    }

    /// One message through a fresh applier, flushed, as if it were alone in its batch.
    fn apply(tx: &Transaction, topic: &str, payload: &[u8], now: i64) -> rusqlite::Result<Applied> {
        let mut ap = Applier::default();
        let r = ap.apply(tx, topic, payload, now)?;
        ap.flush(tx)?;
        Ok(r)
    }

    fn status(conn: &Connection, agent: &str) -> String {
        conn.query_row("SELECT status FROM servers WHERE agent_id = ?1", [agent], |r| r.get(0)).unwrap()
    }

    fn cdr_batch(agent: &str, seq: u64, uniqueids: &[&str]) -> Vec<u8> {
        let rows = uniqueids
            .iter()
            .map(|u| CdrRowV1 {
                calldate: format!("2026-11-27 09:5{}:00", u.len() % 10),
                uniqueid: u.to_string(),
                disposition: "ANSWERED".into(),
                billsec: 40,
                linkedid: Some(u.to_string()),
                sequence: Some(1),
                extra: vec![("tag".into(), "vip".into())],
                ..CdrRowV1::default()
            })
            .collect();
        encode_envelope(&Envelope {
            v: WIRE_VERSION,
            agent: agent.into(),
            seq,
            taken_ms: 1000,
            body: Body::CdrBatchV1(CdrBatchV1 { source: "mariadb 127.0.0.1:3306/asteriskcdrdb cdr".into(), rows }),
        })
    }

    #[test]
    fn cdr_rows_are_stored_once_whatever_batch_brings_them_again() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let t = "centinela/v1/a/sample";
        assert_eq!(apply(&tx, t, &cdr_batch("a", 1, &["1795773098.0", "1795773098.1"]), 10).unwrap(), Applied::Stored);
        assert_eq!(
            apply(&tx, t, &cdr_batch("a", 1, &["1795773098.0", "1795773098.1"]), 11).unwrap(),
            Applied::Duplicate
        );
        // The agent lost its ledger and shipped one row again, with a new one, under a new seq.
        assert_eq!(apply(&tx, t, &cdr_batch("a", 2, &["1795773098.1", "1795773098.22"]), 12).unwrap(), Applied::Stored);
        // The same row from another server is another row.
        assert_eq!(
            apply(&tx, "centinela/v1/b/sample", &cdr_batch("b", 1, &["1795773098.0"]), 13).unwrap(),
            Applied::Stored
        );
        tx.commit().unwrap();
        let (rows, newest, samples): (i64, String, i64) = conn
            .query_row("SELECT cdr_rows, cdr_newest, samples FROM servers WHERE agent_id='a'", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((rows, newest.as_str(), samples), (3, "2026-11-27 09:53:00", 0));
        let stored: i64 = conn.query_row("SELECT count(*) FROM cdr", [], |r| r.get(0)).unwrap();
        assert_eq!(stored, 4);
        let (linkedid, extra): (String, String) = conn
            .query_row("SELECT linkedid, extra FROM cdr WHERE uniqueid = '1795773098.22'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((linkedid.as_str(), extra.as_str()), ("1795773098.22", r#"{"tag":"vip"}"#));
    }

    #[test]
    fn queue_log_lines_are_stored_once_by_file_and_offset() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let batch = |seq| {
            encode_envelope(&Envelope {
                v: WIRE_VERSION,
                agent: "a".into(),
                seq,
                taken_ms: 1000,
                body: Body::QueueLogBatchV1(QueueLogBatchV1 {
                    source: "/var/log/asterisk/queue_log".into(),
                    entries: vec![QueueLogEntryV1 {
                        time: 1795773101,
                        callid: "1795773098.1".into(),
                        queue: "sales".into(),
                        agent: "Local/1002@from-queue/n".into(),
                        event: "CONNECT".into(),
                        data: vec!["3".into(), "1795773098.9".into(), "2".into()],
                        offset: 62,
                        file_id: "2049:131:9f86d081".into(),
                    }],
                }),
            })
        };
        assert_eq!(apply(&tx, "centinela/v1/a/sample", &batch(1), 10).unwrap(), Applied::Stored);
        assert_eq!(apply(&tx, "centinela/v1/a/sample", &batch(2), 11).unwrap(), Applied::Duplicate);
        tx.commit().unwrap();
        let (n, data): (i64, String) = conn
            .query_row("SELECT queue_log_rows, (SELECT data FROM queue_log) FROM servers", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((n, data.as_str()), (1, r#"["3","1795773098.9","2"]"#));
    }

    #[test]
    fn a_redelivered_sample_is_stored_once() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        assert_eq!(apply(&tx, "centinela/v1/a/sample", &sample("a", 1), 10).unwrap(), Applied::Stored);
        assert_eq!(apply(&tx, "centinela/v1/a/sample", &sample("a", 1), 11).unwrap(), Applied::Duplicate);
        assert_eq!(apply(&tx, "centinela/v1/a/sample", &sample("a", 2), 12).unwrap(), Applied::Stored);
        tx.commit().unwrap();
        let (n, last, seen): (i64, i64, i64) = conn
            .query_row("SELECT samples, last_seq, last_seen FROM servers WHERE agent_id='a'", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((n, last, seen), (2, 2, 12));
    }

    #[test]
    fn garbage_truncation_and_impostors_land_in_rejected_with_their_bytes() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let good = sample("a", 1);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("centinela/v1/a/sample", b"\xde\xad\xbe\xef garbage".to_vec()),
            ("centinela/v1/a/sample", good[..good.len() / 2].to_vec()),
            ("centinela/v1/b/sample", good.clone()),
            ("centinela/v1/a/status", b"half-online".to_vec()),
            ("centinela/v1/a/birth", vec![]),
            ("centinela/v1/not valid!/sample", good.clone()),
        ];
        for (topic, payload) in &cases {
            assert!(matches!(apply(&tx, topic, payload, 5).unwrap(), Applied::Rejected(_)), "{topic}");
        }
        tx.commit().unwrap();
        let stored: Vec<(String, Vec<u8>)> = conn
            .prepare("SELECT topic, payload FROM rejected ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<(String, Vec<u8>)> = cases.iter().map(|(t, p)| (t.to_string(), p.clone())).collect();
        assert_eq!(stored, expected);
        let servers: i64 = conn.query_row("SELECT count(*) FROM servers", [], |r| r.get(0)).unwrap();
        assert_eq!(servers, 0, "rejected payloads register no server");
    }

    #[test]
    fn a_batch_of_samples_updates_each_server_once_with_the_right_totals() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let mut ap = Applier::default();
        for seq in [3, 1, 2] {
            ap.apply(&tx, "centinela/v1/a/sample", &sample("a", seq), 100 + seq as i64).unwrap();
        }
        ap.apply(&tx, "centinela/v1/b/sample", &sample("b", 7), 50).unwrap();
        ap.apply(&tx, "centinela/v1/a/sample", &sample("a", 2), 200).unwrap();
        ap.flush(&tx).unwrap();
        let rows: Vec<(String, i64, i64, i64)> = tx
            .prepare("SELECT agent_id, samples, last_seq, last_seen FROM servers ORDER BY agent_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![("a".into(), 3, 3, 103), ("b".into(), 1, 7, 50)]);
    }

    #[test]
    fn presence_follows_the_status_topic_and_staleness_follows_the_clock() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        apply(&tx, "centinela/v1/a/sample", &sample("a", 1), 10_000).unwrap();
        // interval 1000 ms: silent for more than 3 s since the last sample.
        mark_stale(&tx, 12_999, 0).unwrap();
        assert_eq!(status(&tx, "a"), "online");
        mark_stale(&tx, 13_001, 0).unwrap();
        assert_eq!(status(&tx, "a"), "stale");
        apply(&tx, "centinela/v1/a/sample", &sample("a", 2), 14_000).unwrap();
        assert_eq!(status(&tx, "a"), "online", "a fresh sample revives a stale server");
        apply(&tx, "centinela/v1/a/status", b"offline", 15_000).unwrap();
        assert_eq!(status(&tx, "a"), "offline");
        mark_stale(&tx, 99_000, 0).unwrap();
        assert_eq!(status(&tx, "a"), "offline", "offline is not overwritten by stale");
        apply(&tx, "centinela/v1/a/status", b"stopped", 16_000).unwrap();
        assert_eq!(status(&tx, "a"), "stopped");
        tx.commit().unwrap();
    }

    #[test]
    fn silence_while_the_collector_was_down_does_not_count() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        apply(&tx, "centinela/v1/a/sample", &sample("a", 1), 10_000).unwrap();
        mark_stale(&tx, 100_000, 99_000).unwrap();
        assert_eq!(status(&tx, "a"), "online");
        tx.commit().unwrap();
    }

    #[test]
    fn a_birth_message_fills_in_the_server_facts() {
        let (_d, mut conn) = db();
        let tx = conn.transaction().unwrap();
        let birth = encode_birth(&BirthMsg::V1(BirthV1 {
            agent: "a".into(),
            agent_version: "9.9.9".into(),
            hostname: "pbx-a".into(),
            probes: vec!["host".into(), "filesystems".into()],
            config_hash: "abc".into(),
            interval_ms: 5000,
            started_ms: 1,
        }));
        assert_eq!(apply(&tx, "centinela/v1/a/birth", &birth, 1).unwrap(), Applied::Birth);
        let (h, v, p, i): (String, String, String, i64) = tx
            .query_row("SELECT hostname, agent_version, probes, interval_ms FROM servers", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap();
        assert_eq!((h.as_str(), v.as_str(), p.as_str(), i), ("pbx-a", "9.9.9", "host,filesystems", 5000));
    }
}
