//! The shipper's memory, kept in the outbox's database so that it changes in the same transaction
//! as the records it describes: a batch is either in the outbox *and* marked shipped, or neither.
//!
//! Tables, per kind of table shipped (`cdr`, `queue_log`):
//! - `table_cursor (kind, source, high)`: the newest time shipped from the configured source;
//! - `table_shipped (kind, key, at)`: identities of rows shipped whose time (`at`) is still inside
//!   the re-read window ([`super::window`]);
//! - `queue_log_cursor (path, file_id, offset)`: how far a `queue_log` file has been read.
//!
//! Invariants: one source per kind is remembered. When the configured source changes (another
//! database or table), its cursor and identities are forgotten and the new source is read from its
//! backfill; the collector stores each row once whatever the agent sends.

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS table_cursor (
    kind   TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    high   TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS table_shipped (
    kind TEXT NOT NULL,
    key  BLOB NOT NULL,
    at   TEXT NOT NULL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS table_shipped_by_at ON table_shipped (kind, at);
CREATE TABLE IF NOT EXISTS queue_log_cursor (
    path    TEXT PRIMARY KEY,
    file_id TEXT NOT NULL,
    offset  INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Creates the tables and returns the cursor of `kind` if it is for `source` (`None`: nothing
/// shipped from it yet).
pub fn open_table(conn: &Connection, kind: &str, source: &str) -> rusqlite::Result<Option<String>> {
    conn.execute_batch(SCHEMA)?;
    let known: Option<(String, Option<String>)> = conn
        .query_row("SELECT source, high FROM table_cursor WHERE kind = ?1", [kind], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match known {
        Some((s, high)) if s == source => Ok(high),
        Some((old, _)) => {
            tracing::info!(
                kind,
                old = old.as_str(),
                new = source,
                "the shipped source changed; reading it from its backfill"
            );
            conn.execute("DELETE FROM table_cursor WHERE kind = ?1", [kind])?;
            conn.execute("DELETE FROM table_shipped WHERE kind = ?1", [kind])?;
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Records a row as shipped; `false` if it already was.
pub fn mark_shipped(conn: &Connection, kind: &str, key: &[u8], at: &str) -> rusqlite::Result<bool> {
    let n = conn
        .prepare_cached("INSERT INTO table_shipped (kind, key, at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")?
        .execute(params![kind, key, at])?;
    Ok(n == 1)
}

/// Moves the cursor and forgets identities older than `forget_before`.
pub fn advance(conn: &Connection, kind: &str, source: &str, high: &str, forget_before: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO table_cursor (kind, source, high) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind) DO UPDATE SET source = ?2, high = ?3",
    )?
    .execute(params![kind, source, high])?;
    conn.prepare_cached("DELETE FROM table_shipped WHERE kind = ?1 AND at < ?2")?.execute([kind, forget_before])?;
    Ok(())
}

/// Rows of `kind` remembered, for tests and the log.
pub fn shipped_count(conn: &Connection, kind: &str) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM table_shipped WHERE kind = ?1", [kind], |r| r.get(0))
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
    fn a_changed_source_forgets_its_cursor_and_identities_but_not_the_other_kinds() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(open_table(&conn, "cdr", "mariadb a cdr").unwrap(), None);
        assert!(mark_shipped(&conn, "cdr", b"k1", "2026-11-27 09:00:00").unwrap());
        assert!(!mark_shipped(&conn, "cdr", b"k1", "2026-11-27 09:00:00").unwrap(), "a second mark says it was there");
        assert!(mark_shipped(&conn, "queue_log", b"k1", "2026-11-27 09:00:00").unwrap(), "kinds are apart");
        advance(&conn, "cdr", "mariadb a cdr", "2026-11-27 09:00:00", "2026-11-27 05:00:00").unwrap();
        advance(&conn, "queue_log", "mariadb a queue_log", "2026-11-27 09:00:00", "2026-11-27 05:00:00").unwrap();
        assert_eq!(open_table(&conn, "cdr", "mariadb a cdr").unwrap().as_deref(), Some("2026-11-27 09:00:00"));
        assert_eq!(open_table(&conn, "cdr", "postgresql b cdr").unwrap(), None);
        assert_eq!(shipped_count(&conn, "cdr").unwrap(), 0);
        assert_eq!(shipped_count(&conn, "queue_log").unwrap(), 1);
        assert!(open_table(&conn, "queue_log", "mariadb a queue_log").unwrap().is_some());
    }

    #[test]
    fn advancing_forgets_only_identities_before_the_window() {
        let conn = Connection::open_in_memory().unwrap();
        open_table(&conn, "cdr", "s").unwrap();
        mark_shipped(&conn, "cdr", b"old", "2026-11-27 04:59:59").unwrap();
        mark_shipped(&conn, "cdr", b"edge", "2026-11-27 05:00:00").unwrap();
        mark_shipped(&conn, "cdr", b"new", "2026-11-27 09:00:00").unwrap();
        advance(&conn, "cdr", "s", "2026-11-27 09:00:00", "2026-11-27 05:00:00").unwrap();
        assert_eq!(shipped_count(&conn, "cdr").unwrap(), 2);
        assert!(!mark_shipped(&conn, "cdr", b"edge", "2026-11-27 05:00:00").unwrap());
    }

    #[test]
    fn the_queue_log_cursor_is_kept_per_path() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(open_queue_log(&conn, "/var/log/asterisk/queue_log").unwrap(), None);
        set_queue_log(&conn, "/var/log/asterisk/queue_log", "2049:131", 4096).unwrap();
        assert_eq!(open_queue_log(&conn, "/var/log/asterisk/queue_log").unwrap(), Some(("2049:131".into(), 4096)));
    }
}
