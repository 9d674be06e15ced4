//! Silences and maintenance windows: for a while, a server's problems (all, or one rule's) open no
//! ticket. The problem is still recorded, with the reason it was not turned into a ticket, so the
//! dashboard shows that it is suppressed and why. Maintenance windows are also what the provider's
//! hardware maintenance (stage 3) will create.
//!
//! Invariants: creating and ending one is audited in its transaction; a window's end is after its
//! start and at most [`MAX_LENGTH`] later; nothing is deleted (an early end sets `ended_at`).

use crate::audit::{self, Entry};
use rusqlite::{Connection, OptionalExtension, params};

/// The longest silence or window accepted (a forgotten one must not hide failures for months).
pub const MAX_LENGTH: std::time::Duration = std::time::Duration::from_secs(31 * 86_400);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    pub kind: String,
    pub rule: Option<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub reason: String,
    pub created_by: String,
}

/// A problem the rule engine reports firing now on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveProblem {
    pub key: String,
    pub rule: String,
    pub severity: String,
    pub summary: String,
    pub since: i64,
    pub ticket_id: Option<i64>,
    pub suppressed: Option<String>,
}

fn server_id(conn: &Connection, agent: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM servers WHERE agent_id = ?1")?.query_row([agent], |r| r.get(0)).optional()
}

/// Silences not over at `now` (current and future).
pub fn current(conn: &Connection, agent: &str, now_ms: i64) -> rusqlite::Result<Vec<Silence>> {
    let Some(id) = server_id(conn, agent)? else { return Ok(vec![]) };
    conn.prepare_cached(
        "SELECT id, kind, rule, starts_at, ends_at, reason, created_by FROM silences
         WHERE server_id = ?1 AND ends_at > ?2 AND ended_at IS NULL ORDER BY starts_at",
    )?
    .query_map(params![id, now_ms], |r| {
        Ok(Silence {
            id: r.get(0)?,
            kind: r.get(1)?,
            rule: r.get(2)?,
            starts_at: r.get(3)?,
            ends_at: r.get(4)?,
            reason: r.get(5)?,
            created_by: r.get(6)?,
        })
    })?
    .collect()
}

pub fn problems(conn: &Connection, agent: &str) -> rusqlite::Result<Vec<ActiveProblem>> {
    let Some(id) = server_id(conn, agent)? else { return Ok(vec![]) };
    conn.prepare_cached(
        "SELECT key, rule, severity, summary, since, ticket_id, suppressed FROM problems WHERE server_id = ?1
         ORDER BY since",
    )?
    .query_map([id], |r| {
        Ok(ActiveProblem {
            key: r.get(0)?,
            rule: r.get(1)?,
            severity: r.get(2)?,
            summary: r.get(3)?,
            since: r.get(4)?,
            ticket_id: r.get(5)?,
            suppressed: r.get(6)?,
        })
    })?
    .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("no existe el servidor «{0}»")]
    NoServer(String),
    #[error("el motivo es obligatorio")]
    NoReason,
    #[error("la duración debe ser de 1 minuto a 31 días")]
    BadLength,
    #[error("base de datos: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A new silence (`kind` "silencio") or maintenance window ("mantenimiento") from `starts_at` to
/// `ends_at` (ms); `rule`: only that rule's problems.
#[allow(clippy::too_many_arguments)]
pub fn create(
    conn: &Connection,
    actor: &str,
    now_ms: i64,
    agent: &str,
    kind: &str,
    rule: Option<&str>,
    starts_at: i64,
    ends_at: i64,
    reason: &str,
) -> Result<i64, SilenceError> {
    let Some(server) = server_id(conn, agent)? else { return Err(SilenceError::NoServer(agent.to_string())) };
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(SilenceError::NoReason);
    }
    let length = ends_at - starts_at;
    if length < 60_000 || length > MAX_LENGTH.as_millis() as i64 {
        return Err(SilenceError::BadLength);
    }
    let kind = if kind == "mantenimiento" { "mantenimiento" } else { "silencio" };
    conn.execute(
        "INSERT INTO silences (server_id, kind, rule, starts_at, ends_at, reason, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![server, kind, rule, starts_at, ends_at, reason, actor, now_ms],
    )?;
    let id = conn.last_insert_rowid();
    let new =
        serde_json::json!({ "kind": kind, "rule": rule, "starts_at": starts_at, "ends_at": ends_at, "reason": reason });
    audit::append(
        conn,
        now_ms,
        &Entry {
            actor,
            action: "silence.create",
            object: &format!("server:{agent}"),
            old: None,
            new: Some(&new.to_string()),
        },
    )?;
    Ok(id)
}

/// Ends a silence now.
pub fn end(conn: &Connection, actor: &str, now_ms: i64, id: i64) -> rusqlite::Result<bool> {
    let n =
        conn.execute("UPDATE silences SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL", params![id, now_ms])?;
    if n > 0 {
        audit::append(
            conn,
            now_ms,
            &Entry {
                actor,
                action: "silence.end",
                object: &format!("silence:{id}"),
                old: None,
                new: Some("terminado"),
            },
        )?;
    }
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silence_suppresses_only_its_server_rule_and_time_and_ends_early_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        conn.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES ('pbx', 0, 0)", []).unwrap();
        let t = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap();
        let id =
            create(&conn, "jefe", 0, "pbx", "mantenimiento", None, 1_000_000, 5_000_000, "cambio de disco").unwrap();
        let suppressed = |rule: &str, at: i64| crate::tickets::store::suppression(&conn, 1, rule, t(at)).unwrap();
        assert!(suppressed("raid_degraded", 2_000_000).unwrap().starts_with("en mantenimiento hasta"));
        assert!(suppressed("raid_degraded", 999_999).is_none(), "not before it starts");
        assert!(suppressed("raid_degraded", 5_000_000).is_none(), "not after it ends");
        create(&conn, "jefe", 0, "pbx", "silencio", Some("cert_expiring"), 0, 9_000_000, "certificado en trámite")
            .unwrap();
        assert!(suppressed("cert_expiring", 6_000_000).unwrap().contains("certificado en trámite"));
        assert!(suppressed("raid_degraded", 6_000_000).is_none(), "only that rule");
        assert!(end(&conn, "jefe", 3_000_000, id).unwrap());
        assert!(suppressed("raid_degraded", 4_000_000).is_none(), "ended early");
        assert_eq!(current(&conn, "pbx", 3_000_000).unwrap().len(), 1);
        assert!(matches!(create(&conn, "j", 0, "pbx", "silencio", None, 0, 30_000, "x"), Err(SilenceError::BadLength)));
        assert!(matches!(create(&conn, "j", 0, "pbx", "silencio", None, 0, 90_000, " "), Err(SilenceError::NoReason)));
        assert_eq!(crate::audit::verify(&conn), Ok(3));
    }
}
