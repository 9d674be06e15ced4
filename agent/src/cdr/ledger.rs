//! The shipper's memory, kept in the outbox's database so that it changes in the same transaction
//! as the records it describes: a batch is either in the outbox *and* marked shipped, or neither.
//!
//! Tables:
//! - `cdr_cursor (source, high)`: the newest `calldate` shipped from the configured source;
//! - `cdr_shipped (key, calldate)`: identities of rows shipped whose `calldate` is still inside
//!   the re-read window ([`super::window`]);
//! - `queue_log_cursor (path, file_id, offset)`: how far `queue_log` has been read.
//!
//! Invariants: only one CDR source is remembered. When the configured source changes (another
//! database or table), the cursor and the identities are forgotten and the new source is read from
//! its backfill; the collector stores each row once whatever the agent sends.

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cdr_cursor (
    source TEXT PRIMARY KEY,
    high   TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cdr_shipped (
    key      BLOB PRIMARY KEY,
    calldate TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS cdr_shipped_by_calldate ON cdr_shipped (calldate);
CREATE TABLE IF NOT EXISTS queue_log_cursor (
    path    TEXT PRIMARY KEY,
    file_id TEXT NOT NULL,
    offset  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Creates the tables and returns the cursor of `source` (`None`: nothing shipped yet).
pub fn open_cdr(conn: &Connection, source: &str) -> rusqlite::Result<Option<String>> {
    conn.execute_batch(SCHEMA)?;
    let others: i64 = conn.query_row("SELECT count(*) FROM cdr_cursor WHERE source <> ?1", [source], |r| r.get(0))?;
    if others > 0 {
        tracing::info!(source, "the CDR source changed; reading it from its backfill");
        conn.execute("DELETE FROM cdr_cursor WHERE source <> ?1", [source])?;
        conn.execute("DELETE FROM cdr_shipped", [])?;
    }
    conn.query_row("SELECT high FROM cdr_cursor WHERE source = ?1", [source], |r| r.get::<_, Option<String>>(0))
        .optional()
        .map(Option::flatten)
}

/// Records a row as shipped; `false` if it already was.
pub fn mark_shipped(conn: &Connection, key: &[u8], calldate: &str) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("INSERT INTO cdr_shipped (key, calldate) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING")?
        .execute(params![key, calldate])?;
    Ok(n == 1)
}

/// Moves the cursor and forgets identities older than `forget_before`.
pub fn advance(conn: &Connection, source: &str, high: &str, forget_before: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO cdr_cursor (source, high) VALUES (?1, ?2) ON CONFLICT (source) DO UPDATE SET high = ?2",
    )?
    .execute(params![source, high])?;
    conn.prepare_cached("DELETE FROM cdr_shipped WHERE calldate < ?1")?.execute([forget_before])?;
    Ok(())
}

/// Rows remembered, for tests and the log.
pub fn shipped_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM cdr_shipped", [], |r| r.get(0))
}

/// Creates the tables and returns where `queue_log` reading stopped: `(file_id, offset)`.
pub fn open_queue_log(conn: &Connection, path: &str) -> rusqlite::Result<Option<(String, u64)>> {
    conn.execute_batch(SCHEMA)?;
    conn.query_row("SELECT file_id, offset FROM queue_log_cursor WHERE path = ?1", [path], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
    })
    .optional()
}

pub fn set_queue_log(conn: &Connection, path: &str, file_id: &str, offset: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO queue_log_cursor (path, file_id, offset) VALUES (?1, ?2, ?3)
         ON CONFLICT (path) DO UPDATE SET file_id = ?2, offset = ?3",
    )?
    .execute(params![path, file_id, offset as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_source_forgets_the_old_cursor_and_identities() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(open_cdr(&conn, "mariadb a cdr").unwrap(), None);
        assert!(mark_shipped(&conn, b"k1", "2026-11-27 09:00:00").unwrap());
        assert!(!mark_shipped(&conn, b"k1", "2026-11-27 09:00:00").unwrap(), "a second mark says it was there");
        advance(&conn, "mariadb a cdr", "2026-11-27 09:00:00", "2026-11-27 05:00:00").unwrap();
        assert_eq!(open_cdr(&conn, "mariadb a cdr").unwrap().as_deref(), Some("2026-11-27 09:00:00"));
        assert_eq!(open_cdr(&conn, "postgresql b cdr").unwrap(), None);
        assert_eq!(shipped_count(&conn).unwrap(), 0);
    }

    #[test]
    fn advancing_forgets_only_identities_before_the_window() {
        let conn = Connection::open_in_memory().unwrap();
        open_cdr(&conn, "s").unwrap();
        mark_shipped(&conn, b"old", "2026-11-27 04:59:59").unwrap();
        mark_shipped(&conn, b"edge", "2026-11-27 05:00:00").unwrap();
        mark_shipped(&conn, b"new", "2026-11-27 09:00:00").unwrap();
        advance(&conn, "s", "2026-11-27 09:00:00", "2026-11-27 05:00:00").unwrap();
        assert_eq!(shipped_count(&conn).unwrap(), 2);
        assert!(!mark_shipped(&conn, b"edge", "2026-11-27 05:00:00").unwrap());
    }

    #[test]
    fn the_queue_log_cursor_is_kept_per_path() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(open_queue_log(&conn, "/var/log/asterisk/queue_log").unwrap(), None);
        set_queue_log(&conn, "/var/log/asterisk/queue_log", "2049:131", 4096).unwrap();
        assert_eq!(open_queue_log(&conn, "/var/log/asterisk/queue_log").unwrap(), Some(("2049:131".into(), 4096)));
    }
}
