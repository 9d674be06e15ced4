//! Reports in SQLite: drafting the missing ones (the background drafter and the chief's "generar
//! ahora"), reading them with their center, the append-only history and rounds, the figures'
//! snapshot, and the QA sample and scores.
//!
//! Invariants:
//! - Writers run inside the caller's `IMMEDIATE` transaction and append the audit entry and the
//!   history event of every change in it.
//! - Drafting never touches an existing report: `(center, year, month)` is unique and the insert
//!   is `OR IGNORE`, so the drafter, a restart and the chief's button can all run at once.
//! - The figures a round was sent with are kept in `report_rounds` and their hash in the history;
//!   after the send, migration 0009 refuses any change to the report's figures until the chief
//!   returns it.
//! - A scored QA call is never deleted nor rescored (the score references the call, and scores
//!   refuse updates).

use super::classify::{CallBuilder, Direction as CallDirection, Leg, Outcome, parse_calldate};
use super::figures::Figures;
use super::qa::{Candidate, Direction, Score};
use super::settings::Settings;
use super::workflow::{self, QaProgress, State, Timing};
use crate::audit::{self, Entry};
use crate::calendar::Calendar;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// One report, with the names the pages show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub id: i64,
    pub center_id: i64,
    pub center: String,
    pub dependencia: String,
    pub year: i32,
    pub month: u32,
    pub due_on: NaiveDate,
    pub state: State,
    pub round: u32,
    pub technician_id: Option<i64>,
    pub technician: Option<String>,
    /// The figures' JSON as stored (`None`: never computed).
    pub figures: Option<String>,
    pub figures_at: Option<i64>,
    #[serde(skip)]
    pub figures_hash: Option<Vec<u8>>,
    pub outbound_ok: Option<bool>,
    pub outbound_notes: String,
    pub outbound_at: Option<i64>,
    pub summary: String,
    pub qa_seed: i64,
    pub qa_proposed_at: Option<i64>,
    pub qa_sampled: usize,
    pub qa_evaluated: usize,
    pub submitted_at: Option<i64>,
    pub approved_at: Option<i64>,
    pub forwarded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Row {
    /// The audit log's object.
    pub fn object(&self) -> String {
        format!("report:{}", self.id)
    }

    /// "Centro Renta · noviembre 2026".
    pub fn title(&self) -> String {
        format!("{} · {} {}", self.center, month_name(self.month), self.year)
    }

    /// The figures as stored, if any and readable.
    pub fn figures(&self) -> Option<Figures> {
        self.figures.as_deref().and_then(|f| serde_json::from_str(f).ok())
    }

    /// What the pure transitions need.
    pub fn workflow(&self) -> workflow::Report {
        workflow::Report {
            state: self.state,
            center_id: self.center_id,
            round: self.round,
            has_figures: self.figures.is_some(),
            outbound_ok: self.outbound_ok,
            outbound_notes: self.outbound_notes.clone(),
            qa: QaProgress {
                proposed: self.qa_proposed_at.is_some(),
                sampled: self.qa_sampled,
                evaluated: self.qa_evaluated,
            },
            submitted_at: self.submitted_at,
        }
    }

    /// Against its due date, on `today` (local).
    pub fn timing(&self, cal: &Calendar, today: NaiveDate) -> Timing {
        let sent = self.submitted_at.and_then(DateTime::<Utc>::from_timestamp_millis).map(|t| cal.local_date(t));
        Timing::of(self.due_on, sent, today)
    }
}

/// The Spanish month name, lower case.
pub fn month_name(month: u32) -> &'static str {
    crate::maintenance::store::month_name(month)
}

/// The hex SHA-256 of a figures JSON.
pub fn hash_of(json: &str) -> [u8; 32] {
    Sha256::digest(json.as_bytes()).into()
}

const SELECT: &str = "SELECT r.id, r.center_id, c.name, d.name, r.year, r.month, r.due_on, r.state, r.round,
        r.technician_id, CASE WHEN u.id IS NULL THEN NULL WHEN u.full_name = '' THEN u.username ELSE u.full_name END,
        r.figures, r.figures_at, r.figures_hash, r.outbound_ok, r.outbound_notes, r.outbound_at, r.summary,
        r.qa_seed, r.qa_proposed_at,
        (SELECT COUNT(*) FROM report_qa_calls q WHERE q.report_id = r.id),
        (SELECT COUNT(*) FROM report_qa_calls q JOIN report_qa_scores s ON s.qa_call_id = q.id WHERE q.report_id = r.id),
        r.submitted_at, r.approved_at, r.forwarded_at, r.created_at, r.updated_at
    FROM reports r
    JOIN centers c ON c.id = r.center_id
    JOIN dependencias d ON d.id = c.dependencia_id
    LEFT JOIN users u ON u.id = r.technician_id";

fn conversion(what: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into())
}

fn date(s: String) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| conversion(format!("bad date {s:?}: {e}")))
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    let state: String = r.get(7)?;
    Ok(Row {
        id: r.get(0)?,
        center_id: r.get(1)?,
        center: r.get(2)?,
        dependencia: r.get(3)?,
        year: r.get(4)?,
        month: r.get(5)?,
        due_on: date(r.get(6)?)?,
        state: State::parse(&state).ok_or_else(|| conversion(format!("unknown report state {state:?}")))?,
        round: r.get(8)?,
        technician_id: r.get(9)?,
        technician: r.get(10)?,
        figures: r.get(11)?,
        figures_at: r.get(12)?,
        figures_hash: r.get(13)?,
        outbound_ok: r.get(14)?,
        outbound_notes: r.get(15)?,
        outbound_at: r.get(16)?,
        summary: r.get(17)?,
        qa_seed: r.get(18)?,
        qa_proposed_at: r.get(19)?,
        qa_sampled: r.get::<_, i64>(20)? as usize,
        qa_evaluated: r.get::<_, i64>(21)? as usize,
        submitted_at: r.get(22)?,
        approved_at: r.get(23)?,
        forwarded_at: r.get(24)?,
        created_at: r.get(25)?,
        updated_at: r.get(26)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Row>> {
    conn.prepare_cached(&format!("{SELECT} WHERE r.id = ?1"))?.query_row([id], row).optional()
}

/// What a list shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub center: Option<i64>,
    pub state: Option<State>,
    /// Only these centers' reports that reached them (a `jefe_centro`'s scope).
    pub remitted_to: Option<Vec<i64>>,
}

/// Reports matching `f`, newest month first, then by center.
pub fn list(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<Row>> {
    let mut q = crate::store::filter::Filtered::new(SELECT);
    q.eq("r.year", f.year)
        .eq("r.month", f.month)
        .eq("r.center_id", f.center)
        .eq("r.state", f.state.map(|s| s.as_str().to_string()));
    if let Some(cs) = &f.remitted_to {
        q.within("r.center_id", Some(cs)).and("r.state IN ('aprobado', 'remitido')");
    }
    q.rows(conn, "r.year DESC, r.month DESC, d.name, c.name, r.id", row)
}

// ---- Drafting ----

/// The call centers a report is drafted for: those with at least one server placed in them.
pub fn draft_centers(conn: &Connection) -> rusqlite::Result<Vec<i64>> {
    conn.prepare_cached("SELECT DISTINCT center_id FROM servers WHERE center_id IS NOT NULL ORDER BY center_id")?
        .query_map([], |r| r.get(0))?
        .collect()
}

/// The reports that exist for a month, as (center, year, month).
pub fn existing(conn: &Connection, year: i32, month: u32) -> rusqlite::Result<Vec<(i64, i32, u32)>> {
    conn.prepare_cached("SELECT center_id FROM reports WHERE year = ?1 AND month = ?2")?
        .query_map(params![year, month], |r| Ok((r.get(0)?, year, month)))?
        .collect()
}

/// Appends a history event (numbered per report).
#[allow(clippy::too_many_arguments)]
pub fn event(
    conn: &Connection,
    id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    round: u32,
    text: &str,
    figures_hash: Option<&[u8]>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO report_events (report_id, n, at, actor, kind, round, text, figures_hash)
         VALUES (?1, (SELECT COALESCE(MAX(n), 0) + 1 FROM report_events WHERE report_id = ?1),
                 ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, at, actor, kind, round, text, figures_hash],
    )?;
    Ok(())
}

/// Drafts the report of a center's month unless it exists; returns the new report's id.
pub fn insert_draft(
    conn: &Connection,
    center: i64,
    year: i32,
    month: u32,
    actor: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    // The seed needs the id, which the insert gives: insert with a placeholder, then set it.
    let n = conn.execute(
        "INSERT OR IGNORE INTO reports (center_id, year, month, due_on, state, qa_seed, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'borrador', 0, ?5, ?5)",
        params![center, year, month, workflow::due_on(year, month).to_string(), now],
    )?;
    if n == 0 {
        return Ok(None);
    }
    let id = conn.last_insert_rowid();
    let seed = super::qa::seed_for(id, center, year, month) as i64;
    conn.execute("UPDATE reports SET qa_seed = ?2 WHERE id = ?1", params![id, seed])?;
    let object = format!("report:{id}");
    let new = format!("borrador: centro {center}, {} {year}", month_name(month));
    audit::append(conn, now, &Entry { actor, action: "report.draft", object: &object, old: None, new: Some(&new) })?;
    event(conn, id, now, actor, "borrador", 0, "", None)?;
    Ok(Some(id))
}

/// Drafts, in `conn`'s transaction, the month's missing reports of every center with servers.
pub fn draft_month(conn: &Connection, year: i32, month: u32, actor: &str, now: i64) -> rusqlite::Result<Vec<i64>> {
    let have = existing(conn, year, month)?;
    let mut ids = Vec::new();
    for c in draft_centers(conn)? {
        if !have.contains(&(c, year, month))
            && let Some(id) = insert_draft(conn, c, year, month, actor, now)?
        {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// The drafter's step at `now` (the injected clock): drafts the previous month's missing reports
/// ([`workflow::due_drafts`]). Reads first, and takes the write lock only when something is due.
pub fn draft_due(conn: &mut Connection, cal: &Calendar, now: DateTime<Utc>) -> rusqlite::Result<Vec<i64>> {
    let today = cal.local_date(now);
    let (year, month) = workflow::previous_month(today);
    let due = workflow::due_drafts(today, &draft_centers(conn)?, &existing(conn, year, month)?);
    if due.is_empty() {
        return Ok(vec![]);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut ids = Vec::new();
    for (center, y, m) in due {
        if let Some(id) = insert_draft(&tx, center, y, m, audit::SYSTEM_ACTOR, now.timestamp_millis())? {
            ids.push(id);
        }
    }
    tx.commit()?;
    Ok(ids)
}

/// How often the drafter looks (a cheap read when nothing is due).
pub const DRAFT_EVERY: Duration = Duration::from_secs(60);

/// Runs [`draft_due`] at start and every [`DRAFT_EVERY`] on its own thread and connection, until
/// `stop` says so (or its sender is gone).
pub fn spawn_drafter(
    mut conn: Connection,
    cal: Calendar,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let stopped = move || *stop.borrow() || stop.has_changed().is_err();
    std::thread::Builder::new().name("report-drafts".into()).spawn(move || {
        loop {
            match draft_due(&mut conn, &cal, Utc::now()) {
                Ok(ids) if !ids.is_empty() => tracing::info!(reports = ids.len(), "drafted the monthly reports"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot draft the monthly reports; retrying in a minute"),
            }
            let until = Instant::now() + DRAFT_EVERY;
            while Instant::now() < until {
                if stopped() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100).min(until - Instant::now()));
            }
        }
    })
}

// ---- The workflow's writes ----

/// Writes a step's result (state, round, verification, dates), with the audit entry (old state →
/// new) and the history event, bumping `updated_at` and recording who worked on it.
pub fn save(
    conn: &Connection,
    before: &Row,
    change: &workflow::Change,
    actor: (i64, &str),
    now: i64,
    figures_hash: Option<&[u8]>,
) -> rusqlite::Result<()> {
    let r = &change.report;
    let (user_id, actor) = actor;
    let (approved, forwarded) = match r.state {
        State::Aprobado if before.state != State::Aprobado => (Some(now), before.forwarded_at),
        State::Remitido if before.state != State::Remitido => (before.approved_at, Some(now)),
        _ => (before.approved_at, before.forwarded_at),
    };
    let outbound_at = if change.action == "report.outbound" { Some(now) } else { before.outbound_at };
    let preparing = matches!(change.action, "report.outbound" | "report.send" | "report.resend");
    conn.execute(
        "UPDATE reports SET state = ?2, round = ?3, outbound_ok = ?4, outbound_notes = ?5, outbound_at = ?6,
            submitted_at = ?7, approved_at = ?8, forwarded_at = ?9, updated_at = ?10,
            technician_id = CASE WHEN ?11 THEN ?12 ELSE technician_id END
         WHERE id = ?1",
        params![
            before.id,
            r.state.as_str(),
            r.round,
            r.outbound_ok,
            r.outbound_notes,
            outbound_at,
            r.submitted_at,
            approved,
            forwarded,
            now,
            preparing,
            user_id
        ],
    )?;
    let new = if change.text.is_empty() {
        r.state.as_str().to_string()
    } else {
        format!("{}: {}", r.state.as_str(), change.text)
    };
    audit::append(
        conn,
        now,
        &Entry {
            actor,
            action: change.action,
            object: &before.object(),
            old: Some(before.state.as_str()),
            new: Some(&new),
        },
    )?;
    let kind = change.action.rsplit('.').next().unwrap_or(change.action);
    event(conn, before.id, now, actor, kind, r.round, &change.text, figures_hash)
}

/// Stores freshly computed figures as the report's working snapshot; returns its hash.
pub fn store_figures(
    conn: &Connection,
    before: &Row,
    figures: &Figures,
    actor: (i64, &str),
    now: i64,
) -> rusqlite::Result<[u8; 32]> {
    let json = serde_json::to_string(figures).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let hash = hash_of(&json);
    conn.execute(
        "UPDATE reports SET figures = ?2, figures_at = ?3, figures_hash = ?4, updated_at = ?3, technician_id = ?5
         WHERE id = ?1",
        params![before.id, json, now, hash.as_slice(), actor.0],
    )?;
    let text = format!(
        "{} llamadas recibidas, {} realizadas ({} filas de CDR)",
        figures.received.calls, figures.made.calls, figures.cdr_rows
    );
    audit::append(
        conn,
        now,
        &Entry {
            actor: actor.1,
            action: "report.recalculate",
            object: &before.object(),
            old: before.figures_hash.as_deref().map(crate::auth::hex).as_deref(),
            new: Some(&crate::auth::hex(&hash)),
        },
    )?;
    event(conn, before.id, now, actor.1, "recalculate", before.round, &text, Some(&hash))?;
    Ok(hash)
}

/// The technician's conclusions (shown with the figures, sent with the round).
pub fn set_summary(conn: &Connection, before: &Row, text: &str, actor: (i64, &str), now: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE reports SET summary = ?2, updated_at = ?3, technician_id = ?4 WHERE id = ?1",
        params![before.id, text, now, actor.0],
    )?;
    audit::append(
        conn,
        now,
        &Entry {
            actor: actor.1,
            action: "report.summary",
            object: &before.object(),
            old: Some(&before.summary),
            new: Some(text),
        },
    )?;
    event(conn, before.id, now, actor.1, "summary", before.round, "", None)
}

/// What a round carried besides the figures.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RoundContent {
    pub outbound_ok: Option<bool>,
    pub outbound_notes: String,
    pub summary: String,
    pub qa: super::qa::Summary,
}

/// Keeps a round as it was sent (the table refuses updates and deletes).
#[allow(clippy::too_many_arguments)]
pub fn insert_round(
    conn: &Connection,
    id: i64,
    round: u32,
    at: i64,
    actor: &str,
    figures: &str,
    hash: &[u8],
    content: &RoundContent,
) -> rusqlite::Result<()> {
    let content = serde_json::to_string(content).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO report_rounds (report_id, round, at, actor, figures, figures_hash, content)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, round, at, actor, figures, hash, content],
    )?;
    Ok(())
}

/// One sent round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    pub round: u32,
    pub at: i64,
    pub actor: String,
    pub figures_hash: String,
    pub content: Option<RoundContent>,
}

pub fn rounds(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Round>> {
    conn.prepare_cached(
        "SELECT round, at, actor, figures_hash, content FROM report_rounds WHERE report_id = ?1 ORDER BY round",
    )?
    .query_map([id], |r| {
        let h: Vec<u8> = r.get(3)?;
        let c: String = r.get(4)?;
        Ok(Round {
            round: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            figures_hash: crate::auth::hex(&h),
            content: serde_json::from_str(&c).ok(),
        })
    })?
    .collect()
}

/// One step of a report's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub n: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub round: u32,
    pub text: String,
    pub figures_hash: Option<String>,
}

pub fn events(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Event>> {
    conn.prepare_cached(
        "SELECT n, at, actor, kind, round, text, figures_hash FROM report_events WHERE report_id = ?1 ORDER BY n",
    )?
    .query_map([id], |r| {
        let h: Option<Vec<u8>> = r.get(6)?;
        Ok(Event {
            n: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            kind: r.get(3)?,
            round: r.get(4)?,
            text: r.get(5)?,
            figures_hash: h.map(|h| crate::maintenance::short_hash(&h)),
        })
    })?
    .collect()
}

// ---- QA ----

/// One CDR row while the month's calls are gathered.
struct Gathered {
    builder: CallBuilder,
    agent: String,
    /// The earliest row's: calldate, uniqueid, src, dst.
    first: (String, String, String, String),
    /// The first row with a recording: (uniqueid, file).
    recording: Option<(String, String)>,
}

/// The month's received and made calls of a center's servers, one per call
/// ([`super::classify::Leg::call_id`]), classified by the server's rules
/// ([`super::classify`]); internal calls are left out. As the figures do, a call belongs to the
/// month of its first leg, and rows [`super::source::SPAN_S`] on each side are read for its legs.
pub fn candidates(
    conn: &Connection,
    center: i64,
    year: i32,
    month: u32,
    settings: &Settings,
) -> rusqlite::Result<Vec<Candidate>> {
    let Some(first_day) = NaiveDate::from_ymd_opt(year, month, 1) else { return Ok(vec![]) };
    let next = first_day.checked_add_months(chrono::Months::new(1)).unwrap_or(first_day);
    let span = chrono::Duration::seconds(super::source::SPAN_S);
    let text = |d: chrono::NaiveDateTime| d.format("%Y-%m-%d %H:%M:%S").to_string();
    let (start, end) = (first_day.and_time(chrono::NaiveTime::MIN), next.and_time(chrono::NaiveTime::MIN));
    let (from, to) = (text(start - span), text(end + span));
    let (month_start, month_end) = (parse_calldate(&text(start)), parse_calldate(&text(end)));
    let servers: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, agent_id FROM servers WHERE center_id = ?1 ORDER BY agent_id")?
        .query_map([center], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for (server_id, agent) in servers {
        let rules = settings.rules_for(&agent);
        let mut calls: std::collections::HashMap<String, Gathered> = std::collections::HashMap::new();
        let mut stmt = conn.prepare_cached(
            "SELECT calldate, src, dst, dcontext, channel, dstchannel, lastapp, lastdata, billsec, disposition,
                    uniqueid, linkedid, did, outbound_cnum, recordingfile
             FROM cdr WHERE server_id = ?1 AND calldate >= ?2 AND calldate < ?3
             ORDER BY calldate, COALESCE(sequence, 0), uniqueid",
        )?;
        let mut rows = stmt.query(params![server_id, from, to])?;
        while let Some(r) = rows.next()? {
            let (calldate, src, dst): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (dcontext, channel, dstchannel): (String, String, String) = (r.get(3)?, r.get(4)?, r.get(5)?);
            let (lastapp, lastdata, billsec, disposition): (String, String, i64, String) =
                (r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
            let (uniqueid, linkedid, did, ocnum, recording): (
                String,
                Option<String>,
                Option<String>,
                Option<String>,
                Option<String>,
            ) = (r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?, r.get(14)?);
            let leg = Leg {
                calldate: &calldate,
                dst: &dst,
                dcontext: &dcontext,
                channel: &channel,
                dstchannel: &dstchannel,
                lastapp: &lastapp,
                lastdata: &lastdata,
                billsec,
                disposition: &disposition,
                uniqueid: &uniqueid,
                linkedid: linkedid.as_deref(),
                did: did.as_deref(),
                outbound_cnum: ocnum.as_deref(),
            };
            let Some(id) = leg.call_id() else { continue };
            let g = calls.entry(id.to_string()).or_insert_with(|| Gathered {
                builder: CallBuilder::new(),
                agent: agent.clone(),
                first: (calldate.clone(), uniqueid.clone(), src.clone(), dst.clone()),
                recording: None,
            });
            g.builder.add(&leg, rules);
            let file = recording.unwrap_or_default();
            if g.recording.is_none() && !file.trim().is_empty() {
                g.recording = Some((uniqueid.clone(), file.trim().to_string()));
            }
        }
        for (call_id, g) in calls {
            let Some(call) = g.builder.finish() else { continue };
            if month_start.is_some_and(|s| call.start < s) || month_end.is_some_and(|e| call.start >= e) {
                continue;
            }
            let direction = match call.direction {
                CallDirection::Inbound => Direction::Recibida,
                CallDirection::Outbound => Direction::Realizada,
                CallDirection::Internal => continue,
            };
            let (calldate, first_uniqueid, src, dst) = g.first;
            let hour = calldate.get(11..13).and_then(|h| h.parse().ok()).filter(|h| *h < 24).unwrap_or(0);
            let (uniqueid, recordingfile) = g.recording.unwrap_or((first_uniqueid, String::new()));
            out.push(Candidate {
                server_id,
                agent_id: g.agent,
                call_id,
                uniqueid,
                calldate,
                direction,
                hour,
                src,
                dst: call.destination.unwrap_or(dst),
                disposition: match call.outcome {
                    Outcome::Answered => "ANSWERED",
                    Outcome::NoAnswer => "NO ANSWER",
                    Outcome::Busy => "BUSY",
                    Outcome::Failed => "FAILED",
                }
                .into(),
                billsec: call.talk_s as i64,
                recordingfile,
            });
        }
    }
    out.sort_by(|a, b| (&a.calldate, a.server_id, &a.call_id).cmp(&(&b.calldate, b.server_id, &b.call_id)));
    Ok(out)
}

/// Whether any call of the report's sample is already evaluated.
pub fn any_scored(conn: &Connection, report: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM report_qa_calls q JOIN report_qa_scores s ON s.qa_call_id = q.id
                        WHERE q.report_id = ?1)",
    )?
    .query_row([report], |r| r.get(0))
}

/// Replaces the report's (unscored) sample with `calls`, recording the proposal.
pub fn replace_sample(
    conn: &Connection,
    before: &Row,
    calls: &[Candidate],
    actor: (i64, &str),
    now: i64,
) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM report_qa_calls WHERE report_id = ?1", [before.id])?;
    for (i, c) in calls.iter().enumerate() {
        conn.execute(
            "INSERT INTO report_qa_calls (report_id, position, server_id, call_id, uniqueid, calldate, direction,
                hour, src, dst, disposition, billsec, recordingfile)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                before.id,
                i as i64 + 1,
                c.server_id,
                c.call_id,
                c.uniqueid,
                c.calldate,
                c.direction.as_str(),
                c.hour,
                c.src,
                c.dst,
                c.disposition,
                c.billsec,
                c.recordingfile
            ],
        )?;
    }
    conn.execute(
        "UPDATE reports SET qa_proposed_at = ?2, updated_at = ?2, technician_id = ?3 WHERE id = ?1",
        params![before.id, now, actor.0],
    )?;
    let received = calls.iter().filter(|c| c.direction == Direction::Recibida).count();
    let text = format!("{} llamadas ({} recibidas, {} realizadas)", calls.len(), received, calls.len() - received);
    audit::append(
        conn,
        now,
        &Entry {
            actor: actor.1,
            action: "report.sample",
            object: &before.object(),
            old: None,
            new: Some(&format!("{text}; semilla {}", before.qa_seed)),
        },
    )?;
    event(conn, before.id, now, actor.1, "sample", before.round, &text, None)
}

/// A submitted evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredScore {
    pub at: i64,
    pub actor: String,
    pub score: Score,
}

/// A sampled call, with its evaluation if submitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QaCall {
    pub id: i64,
    pub position: i64,
    pub call: Candidate,
    pub score: Option<StoredScore>,
}

const QA_SELECT: &str = "SELECT q.id, q.position, q.server_id, s.agent_id, q.call_id, q.uniqueid, q.calldate,
        q.direction, q.hour, q.src, q.dst, q.disposition, q.billsec, q.recordingfile, sc.at, sc.actor, sc.score
    FROM report_qa_calls q JOIN servers s ON s.id = q.server_id
    LEFT JOIN report_qa_scores sc ON sc.qa_call_id = q.id";

fn qa_row(r: &rusqlite::Row) -> rusqlite::Result<QaCall> {
    let dir: String = r.get(7)?;
    let score: Option<String> = r.get(16)?;
    let score = match score {
        None => None,
        Some(json) => Some(StoredScore {
            at: r.get(14)?,
            actor: r.get(15)?,
            score: serde_json::from_str(&json).map_err(|e| conversion(format!("bad QA score: {e}")))?,
        }),
    };
    Ok(QaCall {
        id: r.get(0)?,
        position: r.get(1)?,
        call: Candidate {
            server_id: r.get(2)?,
            agent_id: r.get(3)?,
            call_id: r.get(4)?,
            uniqueid: r.get(5)?,
            calldate: r.get(6)?,
            direction: Direction::parse(&dir).ok_or_else(|| conversion(format!("bad direction {dir:?}")))?,
            hour: r.get(8)?,
            src: r.get(9)?,
            dst: r.get(10)?,
            disposition: r.get(11)?,
            billsec: r.get(12)?,
            recordingfile: r.get(13)?,
        },
        score,
    })
}

pub fn qa_calls(conn: &Connection, report: i64) -> rusqlite::Result<Vec<QaCall>> {
    conn.prepare_cached(&format!("{QA_SELECT} WHERE q.report_id = ?1 ORDER BY q.position"))?
        .query_map([report], qa_row)?
        .collect()
}

pub fn qa_call(conn: &Connection, report: i64, id: i64) -> rusqlite::Result<Option<QaCall>> {
    conn.prepare_cached(&format!("{QA_SELECT} WHERE q.report_id = ?1 AND q.id = ?2"))?
        .query_row(params![report, id], qa_row)
        .optional()
}

/// Stores an evaluation (once: the call's score is unique and immutable).
pub fn insert_score(
    conn: &Connection,
    report: &Row,
    call: &QaCall,
    score: &Score,
    actor: (i64, &str),
    now: i64,
) -> rusqlite::Result<()> {
    let json = serde_json::to_string(score).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO report_qa_scores (qa_call_id, at, actor, assessable, points, max_points, falta_grave, passed,
            score, observations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            call.id,
            now,
            actor.1,
            score.assessable,
            score.points,
            score.max_points,
            score.falta_grave,
            score.passed,
            json,
            score.observations
        ],
    )?;
    conn.execute(
        "UPDATE reports SET updated_at = ?2, technician_id = ?3 WHERE id = ?1",
        params![report.id, now, actor.0],
    )?;
    let text = if score.assessable {
        format!("{}: {} de {} puntos", score.verdict(), score.points, score.max_points)
    } else {
        format!("{}: {}", score.verdict(), score.observations)
    };
    audit::append(
        conn,
        now,
        &Entry {
            actor: actor.1,
            action: "report.qa_score",
            object: &format!("report:{}:call:{}", report.id, call.call.call_id),
            old: None,
            new: Some(&text),
        },
    )?;
    event(
        conn,
        report.id,
        now,
        actor.1,
        "qa_score",
        report.round,
        &format!("Llamada {} ({}): {text}", call.position, call.call.calldate),
        None,
    )
}

/// One CDR row of a call, for its detail view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CdrRow {
    pub calldate: String,
    pub clid: String,
    pub src: String,
    pub dst: String,
    pub dcontext: String,
    pub channel: String,
    pub dstchannel: String,
    pub lastapp: String,
    pub duration: i64,
    pub billsec: i64,
    pub disposition: String,
    pub uniqueid: String,
    pub linkedid: Option<String>,
    pub did: Option<String>,
    pub recordingfile: Option<String>,
}

/// The CDR rows of a call (`COALESCE(linkedid, uniqueid) = call_id` on that server), in order.
/// Two index lookups (migration 0011), named because without `ANALYZE` statistics SQLite prefers
/// reading the server's whole time-ordered range to skip the sort.
pub fn cdr_rows(conn: &Connection, server: i64, call_id: &str) -> rusqlite::Result<Vec<CdrRow>> {
    conn.prepare_cached(&cdr_rows_query())?
        .query_map(params![server, call_id], |r| {
            Ok(CdrRow {
                calldate: r.get(0)?,
                clid: r.get(1)?,
                src: r.get(2)?,
                dst: r.get(3)?,
                dcontext: r.get(4)?,
                channel: r.get(5)?,
                dstchannel: r.get(6)?,
                lastapp: r.get(7)?,
                duration: r.get(8)?,
                billsec: r.get(9)?,
                disposition: r.get(10)?,
                uniqueid: r.get(11)?,
                linkedid: r.get(12)?,
                did: r.get(13)?,
                recordingfile: r.get(14)?,
            })
        })?
        .collect()
}

fn cdr_rows_query() -> String {
    const COLUMNS: &str = "calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp, duration, billsec, \
                           disposition, uniqueid, linkedid, did, recordingfile, COALESCE(sequence, 0) AS seq";
    format!(
        "SELECT {COLUMNS} FROM cdr INDEXED BY cdr_by_linkedid WHERE server_id = ?1 AND linkedid = ?2
         UNION ALL
         SELECT {COLUMNS} FROM cdr INDEXED BY cdr_by_uniqueid
         WHERE server_id = ?1 AND linkedid IS NULL AND uniqueid = ?2
         ORDER BY calldate, seq, uniqueid"
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A database with two centers (servers in both) and a third without servers.
    pub(crate) fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        conn.execute_batch(
            "INSERT INTO dependencias (id, name) VALUES (1, 'Ministerio');
             INSERT INTO centers (id, dependencia_id, name) VALUES (1, 1, 'Renta'), (2, 1, 'Aduanas'), (3, 1, 'Vacío');
             INSERT INTO servers (id, agent_id, center_id, first_seen, status_since) VALUES
                (1, 'pbx-renta', 1, 0, 0), (2, 'pbx-aduanas', 2, 0, 0), (3, 'pbx-suelto', NULL, 0, 0);
             INSERT INTO users (id, username, role, password_hash, created_at) VALUES (1, 'tec', 'tecnico', 'x', 0);",
        )
        .unwrap();
        (dir, conn)
    }

    /// A CDR row: (uniqueid, linkedid, dcontext, dst, channel, dstchannel).
    pub(crate) fn cdr(
        conn: &Connection,
        server: i64,
        key: &str,
        calldate: &str,
        cols: (&str, &str, &str, &str, &str, &str),
    ) {
        let (uniqueid, linkedid, dcontext, dst, channel, dstchannel) = cols;
        conn.execute(
            "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield, linkedid, did,
                recordingfile, received_ms)
             VALUES (?1, ?2, ?3, '', '2201', ?4, ?5, ?6, ?7, 'Dial', '', 60, 45, 'ANSWERED', '', '', ?8,
                     '', ?9, NULL, ?10, 0)",
            params![
                server,
                key.as_bytes(),
                calldate,
                dst,
                dcontext,
                channel,
                dstchannel,
                uniqueid,
                linkedid,
                format!("q-{uniqueid}.wav")
            ],
        )
        .unwrap();
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_calls_rows_come_in_order_through_its_identity_indexes_with_or_without_linkedid() {
        let (_dir, conn) = db();
        let leg = |key, date, uniqueid, linkedid| {
            cdr(&conn, 1, key, date, (uniqueid, linkedid, "from-internal", "2202", "SIP/2201-1", "SIP/2202-2"))
        };
        leg("a2", "2026-10-01 10:00:05", "100.2", "100.1");
        leg("a1", "2026-10-01 10:00:00", "100.1", "100.1");
        leg("other", "2026-10-01 10:00:01", "101.1", "101.1");
        leg("old-pbx", "2026-10-01 11:00:00", "200.1", "x");
        conn.execute("UPDATE cdr SET linkedid = NULL WHERE row_key = CAST('old-pbx' AS BLOB)", []).unwrap();
        cdr(&conn, 2, "elsewhere", "2026-10-01 10:00:00", ("100.1", "100.1", "", "", "", ""));

        let uniqueids = |call| cdr_rows(&conn, 1, call).unwrap().into_iter().map(|r| r.uniqueid).collect::<Vec<_>>();
        assert_eq!(uniqueids("100.1"), ["100.1", "100.2"], "both legs, in time order, of server 1 only");
        assert_eq!(uniqueids("200.1"), ["200.1"], "a PBX without linkedid: the call is its uniqueid");
        assert!(uniqueids("100.2").is_empty(), "a second leg's uniqueid is no call of its own");

        // Two index lookups, never the server's whole CDR.
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", cdr_rows_query()))
            .unwrap()
            .query_map(params![1, "x"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().any(|p| p.contains("cdr_by_linkedid (server_id=? AND linkedid=?)")), "{plan:?}");
        assert!(plan.iter().any(|p| p.contains("cdr_by_uniqueid (server_id=? AND uniqueid=?)")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.contains("PRIMARY KEY")), "{plan:?}");
    }

    #[test]
    fn the_drafter_drafts_last_month_once_for_centers_with_servers() {
        let (_d, mut conn) = db();
        let cal = Calendar::default();
        // 30 November 23:30 in El Salvador is already 1 December in UTC: not yet the 1st locally,
        // so November is not drafted (October is: a new collector catches up on last month).
        let eve = draft_due(&mut conn, &cal, utc("2026-12-01T05:30:00Z")).unwrap();
        let months: Vec<u32> = eve.iter().map(|id| get(&conn, *id).unwrap().unwrap().month).collect();
        assert_eq!(months, [10, 10]);
        let before: i64 = conn.query_row("SELECT COUNT(*) FROM reports", [], |r| r.get(0)).unwrap();
        let on_first = draft_due(&mut conn, &cal, utc("2026-12-01T06:01:00Z")).unwrap();
        assert_eq!(on_first.len(), 2);
        let all: Vec<(i64, i32, u32, String, String)> = conn
            .prepare("SELECT center_id, year, month, due_on, state FROM reports WHERE month = 11 ORDER BY center_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(all.contains(&(1, 2026, 11, "2026-12-03".into(), "borrador".into())), "{all:?}");
        assert!(all.contains(&(2, 2026, 11, "2026-12-03".into(), "borrador".into())), "{all:?}");
        assert!(!all.iter().any(|r| r.0 == 3), "a center without servers has no calls to report");
        assert_eq!(before, 2);
        assert!(draft_due(&mut conn, &cal, utc("2026-12-01T07:00:00Z")).unwrap().is_empty(), "idempotent");
        assert!(draft_due(&mut conn, &cal, utc("2026-12-20T07:00:00Z")).unwrap().is_empty());
        let r = get(&conn, on_first[0]).unwrap().unwrap();
        assert_eq!(r.qa_seed, crate::reports::qa::seed_for(r.id, r.center_id, 2026, 11) as i64);
        assert_eq!(events(&conn, r.id).unwrap()[0].kind, "borrador");
        let audited: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit WHERE action = 'report.draft' AND actor = 'centinela'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(audited, 4);
        assert!(crate::audit::verify(&conn).is_ok());
    }

    #[test]
    fn a_month_with_calls_gives_one_candidate_per_call_classified_by_the_servers_rules() {
        let (_d, conn) = db();
        // A received call in two rows (trunk, then the agent's phone), a made call through the
        // carrier, an internal call, a call of another center, one of the next month, and a
        // received call of the 30th whose second leg is past midnight.
        let trunk = "PJSIP/carrier-0001";
        cdr(&conn, 1, "a", "2026-11-03 09:15:00", ("100.1", "100.1", "from-trunk", "s", trunk, "PJSIP/2201-1"));
        cdr(
            &conn,
            1,
            "b",
            "2026-11-03 09:15:07",
            ("100.2", "100.1", "from-internal", "2201", "Local/2201", "PJSIP/2201-2"),
        );
        cdr(
            &conn,
            1,
            "c",
            "2026-11-04 15:40:00",
            ("200.1", "200.1", "from-internal", "77001234", "PJSIP/2201-3", trunk),
        );
        cdr(
            &conn,
            1,
            "d",
            "2026-11-05 10:00:00",
            ("300.1", "300.1", "from-internal", "2202", "PJSIP/2201-4", "PJSIP/2202-1"),
        );
        cdr(&conn, 2, "e", "2026-11-05 10:00:00", ("400.1", "400.1", "from-trunk", "s", trunk, "PJSIP/3301-1"));
        cdr(&conn, 1, "f", "2026-12-01 08:00:00", ("500.1", "500.1", "from-trunk", "s", trunk, "PJSIP/2201-5"));
        cdr(&conn, 1, "g", "2026-11-30 23:59:50", ("600.1", "600.1", "from-trunk", "s", trunk, "PJSIP/2201-6"));
        cdr(
            &conn,
            1,
            "h",
            "2026-12-01 00:00:05",
            ("600.2", "600.1", "from-internal", "2201", "Local/2201", "PJSIP/2201-7"),
        );
        let c = candidates(&conn, 1, 2026, 11, &Settings::default()).unwrap();
        let ids: Vec<&str> = c.iter().map(|c| c.call_id.as_str()).collect();
        assert_eq!(ids, ["100.1", "200.1", "600.1"], "{c:#?}");
        assert_eq!((c[0].direction, c[0].hour, c[0].disposition.as_str()), (Direction::Recibida, 9, "ANSWERED"));
        assert_eq!(c[0].recordingfile, "q-100.1.wav");
        assert_eq!((c[1].direction, c[1].hour, c[1].dst.as_str()), (Direction::Realizada, 15, "77001234"));
        let rows = cdr_rows(&conn, 1, "100.1").unwrap();
        assert_eq!(rows.iter().map(|r| r.uniqueid.as_str()).collect::<Vec<_>>(), ["100.1", "100.2"]);
    }

    #[test]
    fn a_submitted_score_and_a_sent_round_cannot_be_changed_or_deleted() {
        let (_d, conn) = db();
        let id = insert_draft(&conn, 1, 2026, 11, "t", 1).unwrap().unwrap();
        cdr(
            &conn,
            1,
            "a",
            "2026-11-03 09:15:00",
            ("100.1", "100.1", "from-trunk", "s", "PJSIP/carrier-1", "PJSIP/2201-1"),
        );
        let r = get(&conn, id).unwrap().unwrap();
        replace_sample(&conn, &r, &candidates(&conn, 1, 2026, 11, &Settings::default()).unwrap(), (1, "tec"), 2)
            .unwrap();
        let call = qa_calls(&conn, id).unwrap().remove(0);
        let s = crate::reports::qa::not_assessable("sin grabación").unwrap();
        insert_score(&conn, &r, &call, &s, (1, "tec"), 3).unwrap();
        assert!(insert_score(&conn, &r, &call, &s, (1, "tec"), 4).is_err(), "one score per call");
        for sql in ["UPDATE report_qa_scores SET points = 99", "DELETE FROM report_qa_scores"] {
            let e = conn.execute(sql, []).unwrap_err().to_string();
            assert!(e.contains("immutable"), "{sql}: {e}");
        }
        assert!(conn.execute("DELETE FROM report_qa_calls", []).is_err(), "a scored call stays");
        assert!(any_scored(&conn, id).unwrap());
        insert_round(
            &conn,
            id,
            1,
            5,
            "tec",
            "{}",
            &[0; 32],
            &RoundContent {
                outbound_ok: Some(true),
                outbound_notes: String::new(),
                summary: String::new(),
                qa: Default::default(),
            },
        )
        .unwrap();
        assert!(conn.execute("UPDATE report_rounds SET figures = '{\"x\":1}'", []).is_err());
        assert!(conn.execute("DELETE FROM report_events", []).is_err());
        conn.execute("UPDATE reports SET state = 'enviado', figures = '{}' WHERE id = ?1", [id]).unwrap();
        let e = conn.execute("UPDATE reports SET figures = '{\"otra\":1}' WHERE id = ?1", [id]).unwrap_err();
        assert!(e.to_string().contains("frozen"), "{e}");
    }
}
