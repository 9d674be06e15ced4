//! SQLite storage: one writer thread, many readers.
//!
//! Invariants:
//! - Only the writer thread ([`writer`]) writes. It applies messages in arrival order, in batched
//!   transactions, and hands each message's acknowledgement token back only after the transaction
//!   that stored it has committed. A crash before the commit means no ack, so the broker redelivers.
//! - Samples are unique on `(server, seq)` (the server's agent id, as a compact integer key); a redelivered sample is counted as a duplicate and
//!   changes nothing.
//! - Nothing received is dropped: what cannot be decoded is stored whole in `rejected` with the reason.
//! - Migrations are numbered, embedded in the binary and applied in order; `PRAGMA user_version`
//!   records how many have run.

pub mod filter;
pub mod read;
pub mod rollup;
pub mod writer;

use rusqlite::Connection;
use std::path::{Path, PathBuf};

pub const DB_FILE: &str = "centinela.db";

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_initial", include_str!("../../migrations/0001_initial.sql")),
    ("0002_cdr", include_str!("../../migrations/0002_cdr.sql")),
    ("0003_people", include_str!("../../migrations/0003_people.sql")),
    ("0004_notifications", include_str!("../../migrations/0004_notifications.sql")),
    ("0005_tickets", include_str!("../../migrations/0005_tickets.sql")),
    ("0006_rollups", include_str!("../../migrations/0006_rollups.sql")),
    ("0007_rollup_6h", include_str!("../../migrations/0007_rollup_6h.sql")),
    ("0008_maintenance", include_str!("../../migrations/0008_maintenance.sql")),
    ("0009_reports", include_str!("../../migrations/0009_reports.sql")),
    ("0010_cdr_time_order", include_str!("../../migrations/0010_cdr_time_order.sql")),
    ("0011_cdr_call_lookup", include_str!("../../migrations/0011_cdr_call_lookup.sql")),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}; set `data_dir` to a writable directory")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("database {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error(
        "database {path} has schema version {found}, newer than this collector knows ({known}); upgrade the collector"
    )]
    TooNew { path: PathBuf, found: usize, known: usize },
    #[error("database: {0}")]
    Query(#[from] rusqlite::Error),
}

/// Opens the database for writing and brings its schema up to date.
pub fn open_writer(data_dir: &Path) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir { path: data_dir.into(), source })?;
    let path = data_dir.join(DB_FILE);
    let wrap = |source| StoreError::Sqlite { path: path.clone(), source };
    let mut conn = Connection::open(&path).map_err(wrap)?;
    conn.pragma_update(None, "journal_mode", "WAL").map_err(wrap)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(wrap)?;
    conn.pragma_update(None, "busy_timeout", 5000).map_err(wrap)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(wrap)?;
    // A 64 MiB page cache and memory-mapped reads: the writer otherwise spends most of its time
    // copying the same b-tree pages in and out of the kernel with pread/pwrite (measured with perf).
    conn.pragma_update(None, "cache_size", -65536).map_err(wrap)?;
    conn.pragma_update(None, "mmap_size", 256 * 1024 * 1024).map_err(wrap)?;
    // Checkpoint every 32 MiB of WAL instead of 4 MiB: pages rewritten between checkpoints (the
    // servers table, b-tree interior pages) are then copied into the database once, not each time.
    conn.pragma_update(None, "wal_autocheckpoint", 8192).map_err(wrap)?;
    migrate(&mut conn).map_err(|e| match e {
        StoreError::TooNew { found, known, .. } => StoreError::TooNew { path: path.clone(), found, known },
        StoreError::Query(source) => StoreError::Sqlite { path: path.clone(), source },
        other => other,
    })?;
    Ok(conn)
}

/// Opens a read-only connection (WAL lets readers run beside the writer).
pub fn open_reader(data_dir: &Path) -> Result<Connection, StoreError> {
    let path = data_dir.join(DB_FILE);
    let conn = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| StoreError::Sqlite { path: path.clone(), source })?;
    conn.pragma_update(None, "busy_timeout", 5000).map_err(|source| StoreError::Sqlite { path, source })?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if done > MIGRATIONS.len() {
        return Err(StoreError::TooNew { path: PathBuf::new(), found: done, known: MIGRATIONS.len() });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(migration = name, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_run_once_and_reopening_is_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path()).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        drop(conn);
        let conn = open_writer(dir.path()).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN ('servers','samples','rejected')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 3);
    }

    #[test]
    fn a_database_from_a_newer_collector_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_writer(dir.path()).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let e = open_writer(dir.path()).unwrap_err().to_string();
        assert!(e.contains("upgrade the collector"), "{e}");
    }
}
