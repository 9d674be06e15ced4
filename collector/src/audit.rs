//! The audit log: every change of workflow state (tickets, people, the organisation, silences), who
//! made it, when, and the value before and after, in an append-only table whose rows are chained by
//! hash, so that editing or deleting a row is detectable by [`verify`] (`centinela-collector audit
//! verify`).
//!
//! Invariants:
//! - Rows are only inserted, by [`append`], in the same transaction as the change they describe
//!   (triggers refuse `UPDATE` and `DELETE`). Callers run that transaction `BEGIN IMMEDIATE`, so two
//!   writers can never chain onto the same previous row.
//! - `hash = SHA-256(prev_hash ‖ id ‖ at ‖ actor ‖ action ‖ object ‖ old ‖ new)`, every text
//!   length-prefixed and an absent value distinct from an empty one; the first row's `prev_hash` is
//!   32 zero bytes. The id is part of the hash, so deleting a row and renumbering is detected too.
//! - What the log does not cover: monitoring state that changes by itself (a server going offline,
//!   a sample stored). Its automatic consequences (a ticket opened by a rule) are logged, with the
//!   actor `centinela`.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// The actor of automatic changes.
pub const SYSTEM_ACTOR: &str = "centinela";

/// One change.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub actor: &'a str,
    /// What was done, `object.verb`: `ticket.assign`, `user.create`, `center.rename`...
    pub action: &'a str,
    /// What it was done to: `ticket:12`, `user:ana`, `server:pbx-rentas-01`.
    pub object: &'a str,
    pub old: Option<&'a str>,
    pub new: Option<&'a str>,
}

fn text(h: &mut Sha256, t: Option<&str>) {
    match t {
        None => h.update([0]),
        Some(t) => {
            h.update([1]);
            h.update((t.len() as u64).to_le_bytes());
            h.update(t.as_bytes());
        }
    }
}

/// The hash of a row.
pub fn row_hash(prev: &[u8], id: i64, at_ms: i64, e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(id.to_le_bytes());
    h.update(at_ms.to_le_bytes());
    for t in [Some(e.actor), Some(e.action), Some(e.object), e.old, e.new] {
        text(&mut h, t);
    }
    h.finalize().into()
}

/// Appends a row, chained to the last one. Call inside the transaction of the change.
pub fn append(conn: &Connection, at_ms: i64, e: &Entry) -> rusqlite::Result<i64> {
    let last: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (id, prev) = match last {
        Some((id, hash)) => (id + 1, hash),
        None => (1, vec![0u8; 32]),
    };
    let hash = row_hash(&prev, id, at_ms, e);
    conn.prepare_cached(
        "INSERT INTO audit (id, at, actor, action, object, old, new, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![id, at_ms, e.actor, e.action, e.object, e.old, e.new, prev, hash.as_slice()])?;
    Ok(id)
}

/// Where the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Broken {
    #[error("audit row {id}: its content does not match its hash (the row was edited)")]
    Edited { id: i64 },
    #[error("audit row {id}: it does not follow row {expected_prev} (a row was deleted or inserted)")]
    Unchained { id: i64, expected_prev: i64 },
    #[error("audit: {0}")]
    Read(String),
}

/// Checks the whole chain; returns how many rows it holds.
pub fn verify(conn: &Connection) -> Result<u64, Broken> {
    let read = |e: rusqlite::Error| Broken::Read(e.to_string());
    let mut stmt = conn
        .prepare("SELECT id, at, actor, action, object, old, new, prev_hash, hash FROM audit ORDER BY id")
        .map_err(read)?;
    let mut rows = stmt.query([]).map_err(read)?;
    let mut prev_hash = vec![0u8; 32];
    let mut prev_id = 0i64;
    let mut n = 0u64;
    while let Some(r) = rows.next().map_err(read)? {
        let id: i64 = r.get(0).map_err(read)?;
        let (actor, action, object): (String, String, String) =
            (r.get(2).map_err(read)?, r.get(3).map_err(read)?, r.get(4).map_err(read)?);
        let (old, new): (Option<String>, Option<String>) = (r.get(5).map_err(read)?, r.get(6).map_err(read)?);
        let stored_prev: Vec<u8> = r.get(7).map_err(read)?;
        let stored: Vec<u8> = r.get(8).map_err(read)?;
        if id != prev_id + 1 || stored_prev != prev_hash {
            return Err(Broken::Unchained { id, expected_prev: prev_id });
        }
        let e = Entry { actor: &actor, action: &action, object: &object, old: old.as_deref(), new: new.as_deref() };
        let computed = row_hash(&prev_hash, id, r.get(1).map_err(read)?, &e);
        if computed.as_slice() != stored.as_slice() {
            return Err(Broken::Edited { id });
        }
        prev_hash = stored;
        prev_id = id;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        (dir, conn)
    }

    fn entry<'a>(object: &'a str, old: Option<&'a str>, new: Option<&'a str>) -> Entry<'a> {
        Entry { actor: "jefe", action: "ticket.assign", object, old, new }
    }

    fn three_rows(conn: &Connection) {
        append(conn, 1000, &entry("ticket:1", Some("solicitado"), Some("asignado"))).unwrap();
        append(conn, 2000, &entry("ticket:1", Some("asignado"), Some("en_atencion"))).unwrap();
        append(conn, 3000, &entry("ticket:2", None, Some("solicitado"))).unwrap();
    }

    /// Edits the table the way an intruder with the database file would: triggers dropped.
    fn tamper(conn: &Connection, sql: &str) {
        conn.execute_batch(&format!(
            "DROP TRIGGER audit_is_append_only_update; DROP TRIGGER audit_is_append_only_delete; {sql}"
        ))
        .unwrap();
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let (_d, conn) = db();
        assert_eq!(verify(&conn), Ok(0), "an empty log is a valid chain");
        three_rows(&conn);
        assert_eq!(verify(&conn), Ok(3));
    }

    #[test]
    fn the_database_refuses_to_update_or_delete_a_row() {
        let (_d, conn) = db();
        three_rows(&conn);
        let e = conn.execute("UPDATE audit SET new = 'cerrado' WHERE id = 2", []).unwrap_err();
        assert!(e.to_string().contains("append-only"), "{e}");
        assert!(conn.execute("DELETE FROM audit WHERE id = 3", []).is_err());
    }

    #[test]
    fn an_edited_row_is_detected() {
        let (_d, conn) = db();
        three_rows(&conn);
        tamper(&conn, "UPDATE audit SET new = 'cerrado' WHERE id = 2");
        assert_eq!(verify(&conn), Err(Broken::Edited { id: 2 }));
    }

    #[test]
    fn a_deleted_row_is_detected_even_when_the_ids_are_renumbered() {
        let (_d, conn) = db();
        three_rows(&conn);
        tamper(&conn, "DELETE FROM audit WHERE id = 2");
        assert_eq!(verify(&conn), Err(Broken::Unchained { id: 3, expected_prev: 1 }));
        tamper_renumber(&conn);
        assert!(verify(&conn).is_err(), "renumbering row 3 as 2 does not fix the chain");
    }

    fn tamper_renumber(conn: &Connection) {
        conn.execute_batch("UPDATE audit SET id = 2 WHERE id = 3").unwrap();
    }

    #[test]
    fn an_absent_value_and_an_empty_one_hash_differently() {
        let a = row_hash(&[0; 32], 1, 5, &entry("x", None, Some("")));
        let b = row_hash(&[0; 32], 1, 5, &entry("x", Some(""), None));
        assert_ne!(a, b);
    }
}
