//! Read queries for the web layer. Pure SQL over a read-only connection; no writes here.

use centinela_shared::{DecodeError, Envelope, decode_envelope};
use rusqlite::{Connection, OptionalExtension, Row};
use serde::Serialize;

/// A server as the fleet view and the API show it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerRow {
    pub id: String,
    pub status: String,
    /// RFC 3339, UTC; absent before the first sample.
    pub last_seen: Option<String>,
    pub last_seq: i64,
    pub samples: i64,
    pub hostname: Option<String>,
    pub agent_version: Option<String>,
    pub config_hash: Option<String>,
    pub probes: Vec<String>,
    pub interval_ms: i64,
    pub first_seen: String,
    pub status_since: String,
    /// CDR rows stored for this server.
    pub cdr_rows: i64,
    /// The newest `calldate` stored (the PBX's local time).
    pub cdr_newest: Option<String>,
    /// `queue_log` lines stored for this server.
    pub queue_log_rows: i64,
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

const SERVER_COLUMNS: &str = "agent_id, status, last_seen, last_seq, samples, hostname, agent_version, config_hash,
    probes, interval_ms, first_seen, status_since, cdr_rows, cdr_newest, queue_log_rows";

fn server_row(r: &Row) -> rusqlite::Result<ServerRow> {
    let probes: Option<String> = r.get(8)?;
    Ok(ServerRow {
        id: r.get(0)?,
        status: r.get(1)?,
        last_seen: r.get::<_, Option<i64>>(2)?.map(rfc3339),
        last_seq: r.get(3)?,
        samples: r.get(4)?,
        hostname: r.get(5)?,
        agent_version: r.get(6)?,
        config_hash: r.get(7)?,
        probes: probes.map(|p| p.split(',').filter(|s| !s.is_empty()).map(String::from).collect()).unwrap_or_default(),
        interval_ms: r.get(9)?,
        first_seen: rfc3339(r.get(10)?),
        status_since: rfc3339(r.get(11)?),
        cdr_rows: r.get(12)?,
        cdr_newest: r.get(13)?,
        queue_log_rows: r.get(14)?,
    })
}

pub fn servers(conn: &Connection) -> rusqlite::Result<Vec<ServerRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {SERVER_COLUMNS} FROM servers ORDER BY agent_id"))?;
    stmt.query_map([], server_row)?.collect()
}

pub fn server(conn: &Connection, id: &str) -> rusqlite::Result<Option<ServerRow>> {
    conn.prepare_cached(&format!("SELECT {SERVER_COLUMNS} FROM servers WHERE agent_id = ?1"))?
        .query_row([id], server_row)
        .optional()
}

/// The newest stored sample of a server, decoded. A stored sample that no longer decodes (it was
/// accepted by an older collector) is reported as such, not hidden.
pub fn latest_sample(conn: &Connection, id: &str) -> rusqlite::Result<Option<Result<Envelope, DecodeError>>> {
    let payload: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT payload FROM samples WHERE server_id = (SELECT id FROM servers WHERE agent_id = ?1)
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(payload.map(|p| decode_envelope(&p)))
}

/// Every server's newest stored sample, decoded, by agent id, in one query: one primary-key seek
/// per server, nothing older is read (the `/metrics` scrape of a whole fleet). Servers without a
/// sample yet are left out; a sample that no longer decodes is reported, as in [`latest_sample`].
pub fn latest_samples(conn: &Connection) -> rusqlite::Result<Vec<(String, Result<Envelope, DecodeError>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_id, (SELECT payload FROM samples WHERE server_id = servers.id ORDER BY seq DESC LIMIT 1)
         FROM servers ORDER BY agent_id",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<Vec<u8>>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        if let (id, Some(payload)) = row? {
            out.push((id, decode_envelope(&payload)));
        }
    }
    Ok(out)
}

pub fn rejected_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM rejected", [], |r| r.get(0))
}
