//! Tickets in SQLite: the whole ticket as JSON plus the columns the lists filter on, the timeline
//! one row per entry, and what the rule engine's transitions do to them ([`on_transition`]).
//!
//! Invariants:
//! - Every change of a ticket is one call here inside the caller's `BEGIN IMMEDIATE` transaction:
//!   the row, its new timeline entries, the audit row and the notifications commit together.
//! - At most one open automatic ticket per (server, problem key), checked by
//!   [`super::auto::on_problem_fired`] and enforced by a unique index.
//! - A problem that fires during a silence or maintenance window opens no ticket; it is recorded
//!   in `problems` with the reason, so the dashboard can say it is suppressed and why.

use super::model::{State, Ticket, TimelineEntry};
use super::{AutoDecision, Problem, TicketsConfig, auto};
use crate::audit::{self, Entry, SYSTEM_ACTOR};
use crate::notify::{Notify, TicketEvent};
use crate::rules::Transition;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

fn json<T: serde::Serialize>(v: &T) -> rusqlite::Result<String> {
    serde_json::to_string(v).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

fn parse<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

pub fn next_id(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT coalesce(max(id), 0) + 1 FROM tickets", [], |r| r.get(0))
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Ticket>> {
    let text: Option<String> =
        conn.prepare_cached("SELECT data FROM tickets WHERE id = ?1")?.query_row([id], |r| r.get(0)).optional()?;
    text.map(|t| parse(&t)).transpose()
}

pub fn timeline(conn: &Connection, id: i64) -> rusqlite::Result<Vec<TimelineEntry>> {
    let rows: Vec<String> = conn
        .prepare_cached("SELECT data FROM ticket_timeline WHERE ticket_id = ?1 ORDER BY n")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    rows.iter().map(|t| parse(t)).collect()
}

/// Which tickets a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `None`: open ones (solicitado, asignado, en atención); `Some(s)`: that state.
    pub state: Option<State>,
    /// Every state.
    pub all: bool,
    pub center: Option<i64>,
    /// Only these centers (a jefe_centro's).
    pub centers: Option<Vec<i64>>,
    pub assignee: Option<i64>,
    pub priority: Option<super::Priority>,
    pub server: Option<i64>,
    /// The server by its agent id.
    pub server_agent: Option<String>,
}

/// Tickets matching `f`, newest first, at most `limit`.
pub fn list(conn: &Connection, f: &Filter, limit: usize) -> rusqlite::Result<Vec<Ticket>> {
    let mut sql = String::from("SELECT data FROM tickets WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: rusqlite::types::Value| {
        args.push(v);
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    match (f.all, f.state) {
        (true, _) => {}
        (false, Some(s)) => arg(&mut sql, " AND state = ?", s.as_str().to_string().into()),
        (false, None) => sql.push_str(" AND state IN ('solicitado', 'asignado', 'en_atencion')"),
    }
    if let Some(c) = f.center {
        arg(&mut sql, " AND center_id = ?", c.into());
    }
    if let Some(cs) = &f.centers {
        let list = cs.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        sql.push_str(&format!(" AND center_id IN ({list})"));
    }
    if let Some(a) = f.assignee {
        arg(&mut sql, " AND assignee = ?", a.into());
    }
    if let Some(p) = f.priority {
        arg(&mut sql, " AND priority = ?", p.as_str().to_string().into());
    }
    if let Some(s) = f.server {
        arg(&mut sql, " AND server_id = ?", s.into());
    }
    if let Some(a) = &f.server_agent {
        arg(&mut sql, " AND server_id = (SELECT id FROM servers WHERE agent_id = ?)", a.clone().into());
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut stmt = conn.prepare(&sql)?;
    let rows: Vec<String> =
        stmt.query_map(rusqlite::params_from_iter(args.iter()), |r| r.get(0))?.collect::<Result<_, _>>()?;
    rows.iter().map(|t| parse(t)).collect()
}

/// Open tickets per server (servers.id → count).
pub fn open_by_server(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<i64, i64>> {
    conn.prepare_cached(
        "SELECT server_id, count(*) FROM tickets WHERE server_id IS NOT NULL
         AND state IN ('solicitado', 'asignado', 'en_atencion') GROUP BY server_id",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// The newest ticket of a problem (open or not).
pub fn latest_for_problem(conn: &Connection, server_id: i64, key: &str) -> rusqlite::Result<Option<Ticket>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT data FROM tickets WHERE server_id = ?1 AND problem_key = ?2 ORDER BY id DESC LIMIT 1")?
        .query_row(params![server_id, key], |r| r.get(0))
        .optional()?;
    text.map(|t| parse(&t)).transpose()
}

fn append_timeline(conn: &Connection, id: i64, entries: &[TimelineEntry]) -> rusqlite::Result<()> {
    let n: i64 =
        conn.query_row("SELECT coalesce(max(n), 0) FROM ticket_timeline WHERE ticket_id = ?1", [id], |r| r.get(0))?;
    for (i, e) in entries.iter().enumerate() {
        conn.prepare_cached("INSERT INTO ticket_timeline (ticket_id, n, at, data) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![id, n + 1 + i as i64, e.at.timestamp_millis(), json(e)?])?;
    }
    Ok(())
}

/// Stores a new ticket with its first timeline entries, audited as `ticket.file`.
pub fn insert(conn: &Connection, t: &Ticket, entries: &[TimelineEntry], actor: &str) -> rusqlite::Result<()> {
    let now = t.created_at.timestamp_millis();
    conn.execute(
        "INSERT INTO tickets (id, center_id, server_id, state, priority, assignee, problem_key, created_at, updated_at, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            t.id,
            t.center_id,
            t.server_id,
            t.state.as_str(),
            t.priority.map(|p| p.as_str()),
            t.assignee,
            t.automatic.as_ref().map(|a| a.problem_key.clone()),
            now,
            json(t)?
        ],
    )?;
    append_timeline(conn, t.id, entries)?;
    let new = serde_json::json!({ "state": t.state.as_str(), "title": t.title, "channel": t.channel.as_str() });
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: "ticket.file",
            object: &format!("ticket:{}", t.id),
            old: None,
            new: Some(&new.to_string()),
        },
    )?;
    Ok(())
}

/// What an audit row says about a ticket's state.
fn summary(t: &Ticket) -> String {
    serde_json::json!({
        "state": t.state.as_str(),
        "priority": t.priority.map(|p| p.as_str()),
        "assignee": t.assignee,
    })
    .to_string()
}

/// Stores a changed ticket and its new timeline entries, audited as `action`.
pub fn update(
    conn: &Connection,
    old: &Ticket,
    new: &Ticket,
    entries: &[TimelineEntry],
    actor: &str,
    action: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE tickets SET state = ?2, priority = ?3, assignee = ?4, updated_at = ?5, data = ?6 WHERE id = ?1",
        params![
            new.id,
            new.state.as_str(),
            new.priority.map(|p| p.as_str()),
            new.assignee,
            now.timestamp_millis(),
            json(new)?
        ],
    )?;
    append_timeline(conn, new.id, entries)?;
    audit::append(
        conn,
        now.timestamp_millis(),
        &Entry {
            actor,
            action,
            object: &format!("ticket:{}", new.id),
            old: Some(&summary(old)),
            new: Some(&summary(new)),
        },
    )?;
    Ok(())
}

/// Names for notifications and pages.
pub fn user_name(conn: &Connection, id: i64) -> rusqlite::Result<Option<(String, Option<String>)>> {
    conn.prepare_cached(
        "SELECT CASE WHEN full_name = '' THEN username ELSE full_name END, email FROM users WHERE id = ?1",
    )?
    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
    .optional()
}

/// Who asked, as people read it.
pub fn requester_name(conn: &Connection, r: &super::Requester) -> rusqlite::Result<String> {
    Ok(match r {
        super::Requester::User(id) => user_name(conn, *id)?.map_or(format!("usuario {id}"), |u| u.0),
        super::Requester::Name(n) => n.clone(),
        super::Requester::Centinela => "Centinela (detección automática)".into(),
    })
}

pub fn center_name(conn: &Connection, id: Option<i64>) -> rusqlite::Result<String> {
    let Some(id) = id else { return Ok("(servidor sin centro telefónico asignado)".into()) };
    Ok(conn
        .prepare_cached("SELECT name FROM centers WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .unwrap_or_else(|| format!("centro {id}")))
}

pub fn server_name(conn: &Connection, id: Option<i64>) -> rusqlite::Result<Option<String>> {
    let Some(id) = id else { return Ok(None) };
    conn.prepare_cached("SELECT agent_id FROM servers WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
}

/// Queues the notifications of a ticket event ("creado", "asignado", "cerrado"), in the caller's
/// transaction; the assignee gets the email too when they have an address.
pub fn notify(conn: &Connection, ctx: &Context, t: &Ticket, event: &str, at: DateTime<Utc>) -> rusqlite::Result<()> {
    if ctx.notify.email.is_none() && ctx.notify.webhook.is_none() {
        return Ok(());
    }
    let assignee = t.assignee.map(|a| user_name(conn, a)).transpose()?.flatten();
    let requester = requester_name(conn, &t.requester)?;
    let e = TicketEvent {
        ticket_id: t.id,
        event: event.to_string(),
        title: t.title.clone(),
        center: center_name(conn, t.center_id)?,
        server: server_name(conn, t.server_id)?,
        state: t.state.label().to_string(),
        priority: t.priority.map(|p| p.label().to_string()),
        assignee: assignee.as_ref().map(|a| a.0.clone()),
        requester,
        url: format!("{}/tickets/{}", ctx.public_url, t.id),
        at_ms: at.timestamp_millis(),
    };
    let to: Vec<&str> = assignee.as_ref().and_then(|a| a.1.as_deref()).into_iter().collect();
    crate::notify::enqueue_ticket_event(conn, &ctx.notify, &e, &to)?;
    Ok(())
}

/// Problems still firing whose silence or maintenance window is over (it ran out, or was ended
/// early): each is handled now as if it had just fired, so a failure that outlasts the window opens
/// its ticket instead of staying hidden (a disk the provider left degraded after the visit).
/// Called on the writer's tick. Returns whether notifications were queued.
pub fn resume_after_silences(conn: &Connection, ctx: &Context, at: DateTime<Utc>) -> rusqlite::Result<bool> {
    type Row = (String, i64, String, String, String, String, String, i64);
    let rows: Vec<Row> = conn
        .prepare_cached(
            "SELECT s.agent_id, p.server_id, p.key, p.rule, p.severity, p.summary, p.details, p.since
             FROM problems p JOIN servers s ON s.id = p.server_id WHERE p.suppressed IS NOT NULL",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut notified = false;
    for (server, server_id, key, rule, severity, summary, details, since) in rows {
        if suppression(conn, server_id, &rule, at)?.is_some() {
            continue;
        }
        let Some(severity) = crate::rules::Severity::parse(&severity) else { continue };
        let fired = Transition::Fired {
            server,
            key,
            rule,
            severity,
            summary,
            details: serde_json::from_str(&details).unwrap_or_default(),
            since: DateTime::from_timestamp_millis(since).unwrap_or(at),
            at,
        };
        notified |= on_transition(conn, ctx, &fired)?;
    }
    Ok(notified)
}

/// What the automatic side needs besides the database.
#[derive(Debug, Clone)]
pub struct Context {
    pub tickets: TicketsConfig,
    pub notify: Notify,
    /// `[http] public_url`, for links in notifications.
    pub public_url: String,
}

/// The silence or maintenance window covering `rule` on `server_id` at `at`, as a Spanish reason.
pub fn suppression(
    conn: &Connection,
    server_id: i64,
    rule: &str,
    at: DateTime<Utc>,
) -> rusqlite::Result<Option<String>> {
    let at = at.timestamp_millis();
    conn.prepare_cached(
        "SELECT kind, reason, ends_at, created_by FROM silences
         WHERE server_id = ?1 AND starts_at <= ?2 AND ends_at > ?2 AND ended_at IS NULL AND (rule IS NULL OR rule = ?3)
         ORDER BY ends_at DESC LIMIT 1",
    )?
    .query_row(params![server_id, at, rule], |r| {
        let (kind, reason, ends, by): (String, String, i64, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        let what = if kind == "mantenimiento" { "en mantenimiento" } else { "silenciado" };
        let until = chrono::DateTime::from_timestamp_millis(ends).map(|t| t.to_rfc3339()).unwrap_or_default();
        Ok(format!("{what} hasta {until} por {by}: {reason}"))
    })
    .optional()
}

fn server_ids(conn: &Connection, agent: &str) -> rusqlite::Result<Option<(i64, Option<i64>)>> {
    conn.prepare_cached("SELECT id, center_id FROM servers WHERE agent_id = ?1")?
        .query_row([agent], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Applies one rule-engine transition: record the problem, and open, update, reopen or mark
/// recovered its automatic ticket (unless suppressed). Returns whether notifications were queued.
pub fn on_transition(conn: &Connection, ctx: &Context, t: &Transition) -> rusqlite::Result<bool> {
    match t {
        Transition::Fired { server, key, rule, severity, summary, details, since, at } => {
            let Some((server_id, center_id)) = server_ids(conn, server)? else { return Ok(false) };
            let suppressed = suppression(conn, server_id, rule, *at)?;
            conn.prepare_cached(
                "INSERT INTO problems (server_id, key, rule, severity, summary, details, since, fired_at, suppressed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (server_id, key) DO UPDATE SET rule = ?3, severity = ?4, summary = ?5, details = ?6,
                    since = ?7, fired_at = ?8, suppressed = ?9, ticket_id = NULL",
            )?
            .execute(params![
                server_id,
                key,
                rule,
                severity.es(),
                summary,
                json(details)?,
                since.timestamp_millis(),
                at.timestamp_millis(),
                suppressed
            ])?;
            if suppressed.is_some() {
                return Ok(false);
            }
            let previous = latest_for_problem(conn, server_id, key)?;
            let open = |linked_to: Option<i64>| -> rusqlite::Result<Ticket> {
                let mut description = summary.clone();
                for d in details {
                    description.push_str("\n- ");
                    description.push_str(d);
                }
                let problem = Problem {
                    center_id,
                    server_id,
                    problem_key: key.clone(),
                    rule: rule.clone(),
                    title: format!("{server}: {summary}"),
                    description,
                    priority: Some((*severity).into()),
                };
                let (ticket, entries) = auto::open(next_id(conn)?, problem, linked_to, *at);
                insert(conn, &ticket, &entries, SYSTEM_ACTOR)?;
                notify(conn, ctx, &ticket, "creado", *at)?;
                Ok(ticket)
            };
            let ticket = match auto::on_problem_fired(previous.as_ref(), *at, ctx.tickets.reopen_window) {
                AutoDecision::Open => open(None)?,
                AutoDecision::OpenLinked { previous } => open(Some(previous))?,
                AutoDecision::AddOccurrence(new, entries) | AutoDecision::Reopen(new, entries) => {
                    let old = previous.as_ref().unwrap_or(&new);
                    let action = if new.state != old.state { "ticket.reopen" } else { "ticket.occurrence" };
                    update(conn, old, &new, &entries, SYSTEM_ACTOR, action, *at)?;
                    new
                }
            };
            conn.prepare_cached("UPDATE problems SET ticket_id = ?3 WHERE server_id = ?1 AND key = ?2")?
                .execute(params![server_id, key, ticket.id])?;
            Ok(true)
        }
        Transition::Resolved { server, key, at, .. } => {
            let Some((server_id, _)) = server_ids(conn, server)? else { return Ok(false) };
            conn.prepare_cached("DELETE FROM problems WHERE server_id = ?1 AND key = ?2")?
                .execute(params![server_id, key])?;
            if let Some(ticket) = latest_for_problem(conn, server_id, key)?
                && let Some((new, entries)) = auto::on_problem_resolved(&ticket, *at)
            {
                update(conn, &ticket, &new, &entries, SYSTEM_ACTOR, "ticket.recovered", *at)?;
            }
            Ok(false)
        }
    }
}
