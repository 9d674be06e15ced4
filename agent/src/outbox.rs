//! The store-and-forward outbox: every sample is written here before anything else happens to it.
//!
//! Invariants:
//! - A sample is durable (SQLite, WAL, `synchronous=FULL`) before the agent tries to publish it, and
//!   its `seq` is assigned in the same transaction that stores it, so `seq` never repeats and never
//!   skips, even across `kill -9`.
//! - A record is deleted only by [`Outbox::ack`], which the publisher calls when the broker's PUBACK
//!   for that record arrives; nothing else deletes records except the size cap.
//! - The size cap drops the oldest records first, and adds what it dropped to `dropped_total`, which
//!   is persisted in the same transaction and reported in every later sample.
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
    dropped_total: u64,
    last_id: i64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, so ids only grow (delivery relies on it)
    seq     INTEGER NOT NULL UNIQUE,
    payload BLOB NOT NULL
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
        let (count, bytes): (i64, i64) = conn
            .query_row("SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(wrap)?;
        let dropped_total = meta_get(&conn, "dropped_total").map_err(wrap)?;
        let last_id: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM outbox", [], |r| r.get(0)).map_err(wrap)?;
        Ok(Self { conn, path, max_bytes, bytes: bytes as u64, count: count as u64, dropped_total, last_id })
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

    /// Stores a new sample. `build` receives the sample's `seq` and the outbox's state and returns the
    /// encoded payload; seq assignment and storage are one transaction. Returns the seq.
    pub fn push_with(&mut self, build: impl FnOnce(u64, OutboxStats) -> Vec<u8>) -> Result<u64, OutboxError> {
        let stats = self.stats();
        let path = self.path.clone();
        let wrap = |source| OutboxError::Sqlite { path: path.clone(), source };
        let (bytes_before, count_before, max_bytes) = (self.bytes, self.count, self.max_bytes);
        let tx = self.conn.transaction().map_err(wrap)?;
        let result = (|| {
            let seq = meta_get(&tx, "next_seq")?;
            let payload = build(seq, stats);
            let len = payload.len() as u64;
            tx.execute("INSERT INTO outbox (seq, payload) VALUES (?1, ?2)", params![seq as i64, payload])?;
            let id = tx.last_insert_rowid();
            tx.execute("UPDATE meta SET value = ?1 WHERE key = 'next_seq'", [seq as i64 + 1])?;
            // Enforce the cap inside the same transaction, oldest first, never the record just added.
            let mut bytes = bytes_before + len;
            let mut count = count_before + 1;
            let mut dropped = 0u64;
            while bytes > max_bytes && count > 1 {
                let oldest: Option<(i64, i64)> = tx
                    .query_row("SELECT id, length(payload) FROM outbox ORDER BY id LIMIT 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                let Some((id, size)) = oldest else { break };
                tx.execute("DELETE FROM outbox WHERE id = ?1", [id])?;
                bytes = bytes.saturating_sub(size as u64);
                count -= 1;
                dropped += 1;
            }
            if dropped > 0 {
                tx.execute("UPDATE meta SET value = value + ?1 WHERE key = 'dropped_total'", [dropped as i64])?;
            }
            Ok::<_, rusqlite::Error>((seq, id, bytes, count, dropped))
        })();
        let (seq, id, bytes, count, dropped) = result.map_err(wrap)?;
        tx.commit().map_err(wrap)?;
        self.bytes = bytes;
        self.count = count;
        self.last_id = id;
        if dropped > 0 {
            self.dropped_total += dropped;
            crate::events::OutboxFull { dropped, max_bytes: self.max_bytes }.emit();
        }
        Ok(seq)
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
        let size: Option<i64> = self
            .conn
            .query_row("DELETE FROM outbox WHERE id = ?1 RETURNING length(payload)", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
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
    fn an_unwritable_state_dir_names_the_key_to_change() {
        let e = Outbox::open(Path::new("/proc/centinela-cannot-exist"), 1).err().unwrap();
        assert!(e.to_string().contains("state_dir"), "{e}");
    }
}
