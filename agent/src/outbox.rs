//! The store-and-forward outbox: every sample is written here before anything else happens to it.
//!
//! Invariants:
//! - A sample is durable (SQLite, WAL, `synchronous=FULL`) before the agent tries to publish it, and
//!   its `seq` is assigned in the same transaction that stores it, so `seq` never repeats and never
//!   skips, even across `kill -9`.
//! - A record is deleted only by [`Outbox::ack`], which the publisher calls when the broker's PUBACK
//!   for that record arrives; nothing else deletes records except the size cap.
//! - The size cap drops the oldest *samples* first, and adds what it dropped to `dropped_total`,
//!   which is persisted in the same transaction and reported in every later sample. Call-record
//!   batches ([`Kind::Records`]) are never dropped: the CDR shipper stops reading instead (see
//!   [`Outbox::records_bytes`]), and the rows wait in the PBX's database.
//! - [`Outbox::batch`] stores several records and whatever else its caller writes (the CDR cursor)
//!   in one transaction: either all of it is durable or none of it.
//! - After a crash, everything still in the table is sent again; the collector deduplicates on
//!   `(agent, seq)`.

use centinela_shared::OutboxStats;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot create the state directory {path}: {source}; set `state_dir` to a writable directory")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("outbox database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
}

/// One stored sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub seq: u64,
    pub payload: Vec<u8>,
}

pub struct Outbox {
    conn: Connection,
    path: PathBuf,
    max_bytes: u64,
    bytes: u64,
    count: u64,
    /// Bytes of [`Kind::Records`] records (part of `bytes`).
    records_bytes: u64,
    dropped_total: u64,
    last_id: i64,
}

/// What a record holds, which decides whether the size cap may drop it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A periodic sample: the cap may drop the oldest.
    Sample = 0,
    /// A batch of call records: never dropped.
    Records = 1,
}

/// One transaction of [`Outbox::batch`]: records pushed here and the caller's own writes through
/// [`Batch::sql`] commit together.
pub struct Batch<'a> {
    tx: rusqlite::Transaction<'a>,
    stats: OutboxStats,
    added: Vec<(i64, u64, Kind)>,
}

impl Batch<'_> {
    /// Stores a record; `build` receives its `seq` and the outbox's state. Returns the seq.
    pub fn push(&mut self, kind: Kind, build: impl FnOnce(u64, OutboxStats) -> Vec<u8>) -> rusqlite::Result<u64> {
        let seq = meta_get(&self.tx, "next_seq")?;
        let payload = build(seq, self.stats);
        let len = payload.len() as u64;
        self.tx.execute(
            "INSERT INTO outbox (seq, payload, kind) VALUES (?1, ?2, ?3)",
            params![seq as i64, payload, kind as i64],
        )?;
        self.added.push((self.tx.last_insert_rowid(), len, kind));
        self.tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq as i64 + 1])?;
        Ok(seq)
    }

    /// The transaction, for the caller's own tables in the same database.
    pub fn sql(&self) -> &Connection {
        &self.tx
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so ids only grow (delivery relies on it)
    seq     INTEGER NOT NULL UNIQUE,
    payload BLOB NOT NULL,
    kind    INTEGER NOT NULL DEFAULT 0     -- Kind: 0 sample, 1 call records
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_seq', 1), ('dropped_total', 0);
";

impl Outbox {
    /// Opens (or creates) `outbox.db` in `dir`.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Self, OutboxError> {
        std::fs::create_dir_all(dir).map_err(|source| OutboxError::StateDir { path: dir.into(), source })?;
        let path = dir.join("outbox.db");
        let wrap = |source| OutboxError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(wrap)?;
        conn.pragma_update(None, "busy_timeout", 5000).map_err(wrap)?;
        conn.execute_batch(SCHEMA).map_err(wrap)?;
        // Outboxes written before call records existed have no `kind` column: all their records are
        // samples.
        let has_kind: bool = conn
            .query_row("SELECT count(*) FROM pragma_table_info('outbox') WHERE name = 'kind'", [], |r| r.get(0))
            .map_err(wrap)?;
        if !has_kind {
            conn.execute_batch("ALTER TABLE outbox ADD COLUMN kind INTEGER NOT NULL DEFAULT 0").map_err(wrap)?;
        }
        let (count, bytes, records_bytes): (i64, i64, i64) = conn
            .query_row(
                "SELECT count(*), coalesce(sum(length(payload)), 0),
                        coalesce(sum(CASE WHEN kind = 1 THEN length(payload) END), 0) FROM outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(wrap)?;
        let dropped_total = meta_get(&conn, "dropped_total").map_err(wrap)?;
        let last_id: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0)).map_err(wrap)?;
        Ok(Self {
            conn,
            path,
            max_bytes,
            bytes: bytes as u64,
            count: count as u64,
            records_bytes: records_bytes as u64,
            dropped_total,
            last_id,
        })
    }

    fn err(&self, source: rusqlite::Error) -> OutboxError {
        OutboxError::Sqlite { path: self.path.clone(), source }
    }

    /// Records waiting for a PUBACK, and records ever dropped by the cap.
    pub fn stats(&self) -> OutboxStats {
        OutboxStats { backlog: self.count, dropped_total: self.dropped_total }
    }

    /// The id of the newest record ever stored (0 when empty since creation).
    pub fn last_id(&self) -> i64 {
        self.last_id
    }

    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes of call-record batches waiting for their PUBACK.
    pub fn records_bytes(&self) -> u64 {
        self.records_bytes
    }

    /// The size cap.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Stores a new sample. `build` receives the sample's `seq` and the outbox's state and returns the
    /// encoded payload; seq assignment and storage are one transaction. Returns the seq.
    pub fn push_with(&mut self, build: impl FnOnce(u64, OutboxStats) -> Vec<u8>) -> Result<u64, OutboxError> {
        self.batch(|b| b.push(Kind::Sample, build))
    }

    /// Runs `f` in one transaction: the records it pushes and its own writes through [`Batch::sql`]
    /// commit together, after the size cap has been enforced; an error rolls everything back.
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut Batch) -> rusqlite::Result<R>) -> Result<R, OutboxError> {
        let stats = self.stats();
        let path = self.path.clone();
        let wrap = |source| OutboxError::Sqlite { path: path.clone(), source };
        let (max_bytes, first_new) = (self.max_bytes, self.last_id);
        let tx = self.conn.transaction().map_err(wrap)?;
        let mut batch = Batch { tx, stats, added: Vec::new() };
        let result = f(&mut batch).map_err(wrap)?;
        let Batch { tx, added, .. } = batch;
        let mut bytes = self.bytes + added.iter().map(|a| a.1).sum::<u64>();
        let mut count = self.count + added.len() as u64;
        let records_bytes =
            self.records_bytes + added.iter().filter(|a| a.2 == Kind::Records).map(|a| a.1).sum::<u64>();
        let last_id = added.last().map_or(self.last_id, |a| a.0);
        // Enforce the cap inside the same transaction: oldest samples first, never a record of
        // this batch, never call records.
        let mut dropped = 0u64;
        while bytes > max_bytes {
            let oldest: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT id, length(payload) FROM outbox WHERE kind = 0 AND id <= ?1 ORDER BY id LIMIT 1",
                    [first_new],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(wrap)?;
            let Some((id, size)) = oldest else { break };
            tx.execute("DELETE FROM outbox WHERE id = ?1", [id]).map_err(wrap)?;
            bytes = bytes.saturating_sub(size as u64);
            count -= 1;
            dropped += 1;
        }
        if dropped > 0 {
            tx.execute("UPDATE meta SET value = value + ?1 WHERE key = 'dropped_total'", [dropped as i64])
                .map_err(wrap)?;
        }
        tx.commit().map_err(wrap)?;
        self.bytes = bytes;
        self.count = count;
        self.records_bytes = records_bytes;
        self.last_id = last_id;
        if dropped > 0 {
            self.dropped_total += dropped;
            crate::events::OutboxFull { dropped, max_bytes: self.max_bytes }.emit();
        }
        Ok(result)
    }

    /// Up to `limit` records with an id above `after_id`, oldest first.
    pub fn after(&self, after_id: i64, limit: usize) -> Result<Vec<Record>, OutboxError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, seq, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![after_id, limit as i64], |r| {
                Ok(Record { id: r.get(0)?, seq: r.get::<_, i64>(1)? as u64, payload: r.get(2)? })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Deletes a record whose PUBACK arrived. Acking a record the cap already dropped is harmless.
    pub fn ack(&mut self, id: i64) -> Result<bool, OutboxError> {
        let gone: Option<(i64, i64)> = self
            .conn
            .query_row("DELETE FROM outbox WHERE id = ?1 RETURNING length(payload), kind", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let size = gone.map(|(size, kind)| {
            if kind == Kind::Records as i64 {
                self.records_bytes = self.records_bytes.saturating_sub(size as u64);
            }
            size
        });
        if let Some(size) = size {
            self.bytes = self.bytes.saturating_sub(size as u64);
            self.count = self.count.saturating_sub(1);
        }
        Ok(size.is_some())
    }
}

fn meta_get(conn: &Connection, key: &str) -> rusqlite::Result<u64> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get::<_, i64>(0)).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(seq: u64, size: usize) -> Vec<u8> {
        let mut p = seq.to_le_bytes().to_vec();
        p.resize(size, 0xAB);
        p
    }

    #[test]
    fn seqs_start_at_one_and_continue_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(ob.push_with(|s, _| payload(s, 16)).unwrap(), 1);
        assert_eq!(ob.push_with(|s, _| payload(s, 16)).unwrap(), 2);
        drop(ob);
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(ob.stats(), OutboxStats { backlog: 2, dropped_total: 0 });
        assert_eq!(ob.push_with(|s, _| payload(s, 16)).unwrap(), 3);
    }

    #[test]
    fn a_record_leaves_only_when_acked() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        for _ in 0..3 {
            ob.push_with(|s, _| payload(s, 10)).unwrap();
        }
        let recs = ob.after(0, 10).unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(ob.ack(recs[1].id).unwrap());
        assert!(!ob.ack(recs[1].id).unwrap(), "a second ack of the same record deletes nothing");
        let left: Vec<u64> = ob.after(0, 10).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(left, vec![1, 3]);
        assert_eq!(ob.stats().backlog, 2);
        assert_eq!(ob.bytes(), 20);
        assert_eq!(ob.after(recs[0].id, 10).unwrap().len(), 1, "after() skips what was already sent");
    }

    #[test]
    fn the_cap_drops_the_oldest_first_and_counts_them_in_later_samples() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 300).unwrap();
        let mut seen_stats = Vec::new();
        for _ in 0..5 {
            ob.push_with(|s, st| {
                seen_stats.push(st);
                payload(s, 100)
            })
            .unwrap();
        }
        let left: Vec<u64> = ob.after(0, 10).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(left, vec![3, 4, 5]);
        assert_eq!(ob.stats(), OutboxStats { backlog: 3, dropped_total: 2 });
        // The sample built right after the first drop already reports it.
        assert_eq!(seen_stats[4].dropped_total, 1);
        drop(ob);
        assert_eq!(Outbox::open(dir.path(), 300).unwrap().stats().dropped_total, 2, "the drop count is durable");
    }

    #[test]
    fn ids_keep_growing_after_the_outbox_empties() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        ob.push_with(|s, _| payload(s, 8)).unwrap();
        let first = ob.after(0, 1).unwrap()[0].id;
        ob.ack(first).unwrap();
        ob.push_with(|s, _| payload(s, 8)).unwrap();
        assert!(ob.after(first, 1).unwrap()[0].id > first, "a new record must sort after everything already sent");
        assert_eq!(ob.last_id(), first + 1);
    }

    #[test]
    fn a_single_record_larger_than_the_cap_is_still_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 50).unwrap();
        ob.push_with(|s, _| payload(s, 100)).unwrap();
        assert_eq!(ob.stats().backlog, 1);
    }

    #[test]
    fn the_cap_drops_samples_but_never_call_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 300).unwrap();
        ob.batch(|b| b.push(Kind::Records, |s, _| payload(s, 100))).unwrap();
        for _ in 0..4 {
            ob.push_with(|s, _| payload(s, 100)).unwrap();
        }
        let left: Vec<u64> = ob.after(0, 10).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(left, vec![1, 4, 5], "the records batch (seq 1) stays, samples 2 and 3 went");
        assert_eq!(ob.records_bytes(), 100);
        let id = ob.after(0, 1).unwrap()[0].id;
        ob.ack(id).unwrap();
        assert_eq!(ob.records_bytes(), 0);
        drop(ob);
        ob = Outbox::open(dir.path(), 300).unwrap();
        ob.batch(|b| b.push(Kind::Records, |s, _| payload(s, 50))).unwrap();
        drop(ob);
        assert_eq!(Outbox::open(dir.path(), 300).unwrap().records_bytes(), 50, "recounted on open");
    }

    #[test]
    fn a_failed_batch_leaves_neither_records_nor_the_callers_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        ob.batch(|b| b.sql().execute_batch("CREATE TABLE cursor (v INTEGER)")).unwrap();
        let failed = ob.batch(|b| {
            b.push(Kind::Records, |s, _| payload(s, 10))?;
            b.sql().execute("INSERT INTO cursor VALUES (1)", [])?;
            b.sql().execute("INSERT INTO no_such_table VALUES (1)", [])
        });
        assert!(failed.is_err());
        assert_eq!(ob.stats().backlog, 0);
        assert_eq!(ob.records_bytes(), 0);
        let n: i64 = ob.batch(|b| b.sql().query_row("SELECT count(*) FROM cursor", [], |r| r.get(0))).unwrap();
        assert_eq!(n, 0);
        assert_eq!(ob.push_with(|s, _| payload(s, 10)).unwrap(), 1, "the rolled-back seq is used again");
    }

    #[test]
    fn an_outbox_from_before_call_records_opens_with_its_samples() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("outbox.db")).unwrap();
        conn.execute_batch(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL UNIQUE, payload BLOB NOT NULL);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             INSERT INTO meta VALUES ('next_seq', 8), ('dropped_total', 0);
             INSERT INTO outbox (seq, payload) VALUES (7, x'0102');",
        )
        .unwrap();
        drop(conn);
        let mut ob = Outbox::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(ob.stats().backlog, 1);
        assert_eq!(ob.records_bytes(), 0);
        assert_eq!(ob.push_with(|s, _| payload(s, 10)).unwrap(), 8);
    }

    #[test]
    fn an_unwritable_state_dir_names_the_key_to_change() {
        let e = Outbox::open(Path::new("/proc/centinela-cannot-exist"), 1).err().unwrap();
        assert!(e.to_string().contains("state_dir"), "{e}");
    }
}
