//! Maintenance in SQLite: inserting a year's plan, reading instances with their server, center,
//! technician and contract, the append-only history, and the compliance figures.
//!
//! Invariants:
//! - Writers run inside the caller's `IMMEDIATE` transaction and append the audit entry and the
//!   history event of every change in it.
//! - Inserting a plan never touches an existing instance: a regenerated year only adds what is
//!   missing (the unique indexes of migration 0008 decide what "existing" means).
//! - A hardware visit with a window gets a maintenance window (`silences`, kind `mantenimiento`) in
//!   the same transaction, so its alerts are suppressed during the visit.

use super::plan::{PlanContract, PlanServer, Planned};
use super::{Kind, State};
use crate::audit::{self, Entry};
use crate::calendar::Calendar;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

/// One instance, with the names the pages show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub id: i64,
    pub kind: Kind,
    pub year: i32,
    pub month: u32,
    pub server_id: i64,
    pub agent_id: String,
    pub center_id: Option<i64>,
    pub center: String,
    pub contract_id: Option<i64>,
    pub contract: Option<String>,
    pub provider: Option<String>,
    pub technician_id: Option<i64>,
    pub technician: Option<String>,
    pub scheduled_on: NaiveDate,
    pub due_on: NaiveDate,
    pub window_start: Option<i64>,
    pub window_end: Option<i64>,
    pub silence_id: Option<i64>,
    pub state: State,
    pub outcome: Option<String>,
    pub done_at: Option<i64>,
    pub ticket_id: Option<i64>,
    /// The kind's own JSON (the software checklist, the visit form).
    pub data: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Instance {
    /// Not done and past its due date (local `today`).
    pub fn overdue(&self, today: NaiveDate) -> bool {
        self.state != State::Anulado && !self.state.is_done() && today > self.due_on
    }

    /// Done on or before its due date, in the calendar's zone.
    pub fn on_time(&self, cal: &Calendar) -> bool {
        self.state.is_done()
            && self
                .done_at
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .is_some_and(|t| cal.local_date(t) <= self.due_on)
    }

    /// "rentas-pbx-01 · Software · noviembre 2026".
    pub fn title(&self) -> String {
        format!("{} · {} {}", self.agent_id, month_name(self.month), self.year)
    }

    /// The audit log's object for this instance.
    pub fn object(&self) -> String {
        format!("maintenance:{}", self.id)
    }
}

/// The Spanish month name, lower case ("enero"); "?" outside 1–12.
pub fn month_name(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ];
    month.checked_sub(1).and_then(|i| NAMES.get(i as usize)).copied().unwrap_or("?")
}

const SELECT: &str = "SELECT m.id, m.kind, m.year, m.month, m.server_id, s.agent_id, s.center_id,
        COALESCE(ce.name, ''), m.contract_id, co.number, p.name, m.technician_id,
        CASE WHEN u.id IS NULL THEN NULL WHEN u.full_name = '' THEN u.username ELSE u.full_name END,
        m.scheduled_on, m.due_on, m.window_start, m.window_end, m.silence_id, m.state, m.outcome,
        m.done_at, m.ticket_id, m.data, m.created_at, m.updated_at
    FROM maintenance m
    JOIN servers s ON s.id = m.server_id
    LEFT JOIN centers ce ON ce.id = s.center_id
    LEFT JOIN contracts co ON co.id = m.contract_id
    LEFT JOIN providers p ON p.id = co.provider_id
    LEFT JOIN users u ON u.id = m.technician_id";

fn date(s: String) -> rusqlite::Result<NaiveDate> {
    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn bad_word(what: &str, s: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown maintenance {what} {s:?} in the database").into(),
    )
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Instance> {
    let kind: String = r.get(1)?;
    let state: String = r.get(18)?;
    Ok(Instance {
        id: r.get(0)?,
        kind: Kind::parse(&kind).ok_or_else(|| bad_word("kind", &kind))?,
        year: r.get(2)?,
        month: r.get(3)?,
        server_id: r.get(4)?,
        agent_id: r.get(5)?,
        center_id: r.get(6)?,
        center: r.get(7)?,
        contract_id: r.get(8)?,
        contract: r.get(9)?,
        provider: r.get(10)?,
        technician_id: r.get(11)?,
        technician: r.get(12)?,
        scheduled_on: date(r.get(13)?)?,
        due_on: date(r.get(14)?)?,
        window_start: r.get(15)?,
        window_end: r.get(16)?,
        silence_id: r.get(17)?,
        state: State::parse(&state).ok_or_else(|| bad_word("state", &state))?,
        outcome: r.get(19)?,
        done_at: r.get(20)?,
        ticket_id: r.get(21)?,
        data: r.get(22)?,
        created_at: r.get(23)?,
        updated_at: r.get(24)?,
    })
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Instance>> {
    conn.prepare_cached(&format!("{SELECT} WHERE m.id = ?1"))?.query_row([id], row).optional()
}

/// What a list shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub year: Option<i32>,
    pub month: Option<u32>,
    pub kind: Option<Kind>,
    pub technician: Option<i64>,
    pub center: Option<i64>,
    pub server: Option<i64>,
    /// Only these centers (a `jefe_centro`'s scope).
    pub centers: Option<Vec<i64>>,
}

/// Instances matching `f`, by due date, then server.
pub fn list(conn: &Connection, f: &Filter) -> rusqlite::Result<Vec<Instance>> {
    crate::store::filter::Filtered::new(SELECT)
        .eq("m.year", f.year)
        .eq("m.month", f.month)
        .eq("m.kind", f.kind.map(|k| k.as_str().to_string()))
        .eq("m.technician_id", f.technician)
        .eq("s.center_id", f.center)
        .eq("m.server_id", f.server)
        .within("s.center_id", f.centers.as_deref())
        .rows(conn, "m.due_on, m.kind, s.agent_id, m.id", row)
}

/// The servers to plan for, each with the technician of its latest planned instance.
pub fn plan_servers(conn: &Connection) -> rusqlite::Result<Vec<PlanServer>> {
    conn.prepare_cached(
        "SELECT s.id, (SELECT m.technician_id FROM maintenance m WHERE m.server_id = s.id AND m.kind = 'software'
                       ORDER BY m.year DESC, m.month DESC LIMIT 1)
         FROM servers s ORDER BY s.id",
    )?
    .query_map([], |r| Ok(PlanServer { id: r.get(0)?, preferred: r.get(1)? }))?
    .collect()
}

/// Every contract with its servers.
pub fn plan_contracts(conn: &Connection) -> rusqlite::Result<Vec<PlanContract>> {
    let mut out: Vec<PlanContract> = conn
        .prepare_cached("SELECT id, starts_on, ends_on, period_months FROM contracts ORDER BY id")?
        .query_map([], |r| {
            Ok(PlanContract {
                id: r.get(0)?,
                starts_on: date(r.get(1)?)?,
                ends_on: date(r.get(2)?)?,
                period_months: r.get(3)?,
                servers: Vec::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    for c in &mut out {
        c.servers = conn
            .prepare_cached("SELECT server_id FROM contract_servers WHERE contract_id = ?1 ORDER BY server_id")?
            .query_map([c.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(out)
}

/// Appends a history event (numbered per instance).
pub fn event(
    conn: &Connection,
    id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    text: &str,
    form_hash: Option<&[u8]>,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO maintenance_events (maintenance_id, n, at, actor, kind, text, form_hash)
         VALUES (?1, (SELECT COALESCE(MAX(n), 0) + 1 FROM maintenance_events WHERE maintenance_id = ?1),
                 ?2, ?3, ?4, ?5, ?6)",
        params![id, at, actor, kind, text, form_hash],
    )?;
    Ok(())
}

/// One step of an instance's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub n: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub text: String,
    pub form_hash: Option<String>,
}

pub fn events(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Event>> {
    conn.prepare_cached(
        "SELECT n, at, actor, kind, text, form_hash FROM maintenance_events WHERE maintenance_id = ?1 ORDER BY n",
    )?
    .query_map([id], |r| {
        let h: Option<Vec<u8>> = r.get(5)?;
        Ok(Event {
            n: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            kind: r.get(3)?,
            text: r.get(4)?,
            form_hash: h.map(|h| super::short_hash(&h)),
        })
    })?
    .collect()
}

/// One step of the workflow, as the audit log and the history record it.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// The audit action, `maintenance.<verb>`; the history keeps the verb.
    pub action: &'a str,
    pub text: &'a str,
    /// The form's hash at this step (hardware visits).
    pub form_hash: Option<&'a [u8]>,
}

/// Writes the changed workflow columns of `m` back, bumping `updated_at`, with the audit entry
/// (`old_state` → new state) and the history event of `step` in the same transaction.
pub fn save(
    conn: &Connection,
    m: &Instance,
    old_state: State,
    actor: &str,
    now: i64,
    step: Step,
) -> rusqlite::Result<()> {
    let Step { action, text, form_hash } = step;
    conn.execute(
        "UPDATE maintenance SET technician_id = ?2, scheduled_on = ?3, due_on = ?4, window_start = ?5,
            window_end = ?6, silence_id = ?7, state = ?8, outcome = ?9, done_at = ?10, ticket_id = ?11,
            data = ?12, updated_at = ?13
         WHERE id = ?1",
        params![
            m.id,
            m.technician_id,
            m.scheduled_on.to_string(),
            m.due_on.to_string(),
            m.window_start,
            m.window_end,
            m.silence_id,
            m.state.as_str(),
            m.outcome,
            m.done_at,
            m.ticket_id,
            m.data,
            now
        ],
    )?;
    let new = if text.is_empty() { m.state.as_str().to_string() } else { format!("{}: {text}", m.state.as_str()) };
    audit::append(
        conn,
        now,
        &Entry { actor, action, object: &m.object(), old: Some(old_state.as_str()), new: Some(&new) },
    )?;
    let short = action.rsplit('.').next().unwrap_or(action);
    event(conn, m.id, now, actor, short, text, form_hash)
}

/// A file attached to an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: Vec<u8>,
}

pub fn attachments(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Attachment>> {
    conn.prepare_cached(
        "SELECT id, at, actor, filename, content_type, size, sha256 FROM maintenance_attachments
         WHERE maintenance_id = ?1 ORDER BY id",
    )?
    .query_map([id], |r| {
        Ok(Attachment {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            filename: r.get(3)?,
            content_type: r.get(4)?,
            size: r.get(5)?,
            sha256: r.get(6)?,
        })
    })?
    .collect()
}

/// One piece of evidence, without its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    /// `respuesta`, `sin_respuesta`, `rechazado` or `manual`.
    pub outcome: String,
    pub detail: String,
    pub sha256: Option<Vec<u8>>,
}

/// An instance's evidence, newest first.
pub fn evidence(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Evidence>> {
    conn.prepare_cached(
        "SELECT id, at, actor, outcome, detail, sha256 FROM maintenance_evidence WHERE maintenance_id = ?1
         ORDER BY id DESC",
    )?
    .query_map([id], |r| {
        Ok(Evidence {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            outcome: r.get(3)?,
            detail: r.get(4)?,
            sha256: r.get(5)?,
        })
    })?
    .collect()
}

/// Creates the maintenance window that silences a visit's server, returning its id.
pub fn visit_window(
    conn: &Connection,
    actor: &str,
    now: i64,
    agent_id: &str,
    window: (i64, i64),
    reason: &str,
) -> Result<i64, crate::silences::SilenceError> {
    crate::silences::create(conn, actor, now, agent_id, "mantenimiento", None, window.0, window.1, reason)
}

/// What inserting a plan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Inserted {
    pub software: usize,
    pub hardware: usize,
    /// Already in the plan (kept as they are).
    pub kept: usize,
}

/// Inserts the instances of `plan` that are not there yet, with the visits' maintenance windows.
pub fn insert_plan(conn: &Connection, plan: &[Planned], actor: &str, now: i64) -> rusqlite::Result<Inserted> {
    let mut done = Inserted::default();
    for p in plan {
        let n = conn.execute(
            "INSERT OR IGNORE INTO maintenance (kind, year, month, server_id, contract_id, technician_id,
                scheduled_on, due_on, window_start, window_end, state, data, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'programado', '{}', ?11, ?11)",
            params![
                p.kind.as_str(),
                p.year,
                p.month,
                p.server_id,
                p.contract_id,
                p.technician_id,
                p.scheduled_on.to_string(),
                p.due_on.to_string(),
                p.window.map(|w| w.0.timestamp_millis()),
                p.window.map(|w| w.1.timestamp_millis()),
                now
            ],
        )?;
        if n == 0 {
            done.kept += 1;
            continue;
        }
        let id = conn.last_insert_rowid();
        match p.kind {
            Kind::Software => done.software += 1,
            Kind::Hardware => done.hardware += 1,
        }
        event(conn, id, now, actor, "programado", "", None)?;
        if let (Kind::Hardware, Some((start, end))) = (p.kind, p.window)
            && let Some(m) = get(conn, id)?
        {
            let reason = format!(
                "Visita de mantenimiento preventivo de hardware, contrato {}",
                m.contract.as_deref().unwrap_or("?")
            );
            match visit_window(
                conn,
                actor,
                now,
                &m.agent_id,
                (start.timestamp_millis(), end.timestamp_millis()),
                &reason,
            ) {
                Ok(sid) => {
                    conn.execute("UPDATE maintenance SET silence_id = ?2 WHERE id = ?1", params![id, sid])?;
                }
                Err(crate::silences::SilenceError::Sqlite(e)) => return Err(e),
                Err(e) => tracing::warn!(maintenance = id, error = %e, "no maintenance window for this visit"),
            }
        }
    }
    if done.software + done.hardware > 0 {
        let years: std::collections::BTreeSet<i32> = plan.iter().map(|p| p.year).collect();
        let years: Vec<String> = years.iter().map(|y| y.to_string()).collect();
        audit::append(
            conn,
            now,
            &Entry {
                actor,
                action: "plan.generate",
                object: &format!("plan:{}", years.join(",")),
                old: None,
                new: Some(&serde_json::to_string(&done).unwrap_or_default()),
            },
        )?;
    }
    Ok(done)
}

/// Compliance of a set of instances: done on time / planned (cancelled ones are not planned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Compliance {
    pub planned: usize,
    pub on_time: usize,
    pub late: usize,
    pub overdue: usize,
    pub pending: usize,
    pub cancelled: usize,
}

impl Compliance {
    pub fn of<'a>(items: impl IntoIterator<Item = &'a Instance>, cal: &Calendar, today: NaiveDate) -> Self {
        let mut c = Compliance::default();
        for m in items {
            if m.state == State::Anulado {
                c.cancelled += 1;
                continue;
            }
            c.planned += 1;
            if m.on_time(cal) {
                c.on_time += 1;
            } else if m.state.is_done() {
                c.late += 1;
            } else if m.overdue(today) {
                c.overdue += 1;
            } else {
                c.pending += 1;
            }
        }
        c
    }

    /// "83 %", or "—" when nothing is planned.
    pub fn percent(&self) -> String {
        if self.planned == 0 {
            "—".into()
        } else {
            format!("{:.0} %", 100.0 * self.on_time as f64 / self.planned as f64)
        }
    }
}

/// How many instances of this month (local) are not done yet, for the fleet view's counter; only
/// `centers`' servers when given (a `jefe_centro`'s scope).
pub fn due_this_month(conn: &Connection, today: NaiveDate, centers: Option<&[i64]>) -> rusqlite::Result<i64> {
    use chrono::Datelike;
    let scope = match centers {
        None => String::new(),
        Some(cs) => {
            let list: Vec<String> = cs.iter().map(i64::to_string).collect();
            format!(" AND server_id IN (SELECT id FROM servers WHERE center_id IN ({}))", list.join(","))
        }
    };
    conn.prepare_cached(&format!(
        "SELECT COUNT(*) FROM maintenance WHERE year = ?1 AND month = ?2
         AND state IN ('programado', 'en_curso', 'observado'){scope}"
    ))?
    .query_row(params![today.year(), today.month()], |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maintenance::plan;

    pub(crate) fn db() -> Connection {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        std::mem::forget(dir);
        conn.execute_batch(
            "INSERT INTO dependencias (id, name) VALUES (1, 'Ministerio');
             INSERT INTO centers (id, dependencia_id, name) VALUES (1, 1, 'Renta'), (2, 1, 'Aduanas');",
        )
        .unwrap();
        for (i, agent) in ["pbx-renta", "pbx-aduanas", "pbx-tesoreria"].iter().enumerate() {
            conn.execute(
                "INSERT INTO servers (agent_id, center_id, first_seen, status_since) VALUES (?1, ?2, 0, 0)",
                params![agent, if i < 2 { Some(i as i64 + 1) } else { None }],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO providers (id, name, created_at) VALUES (1, 'Servicios Técnicos SA', 0);
             INSERT INTO contracts (id, provider_id, number, starts_on, ends_on, period_months, created_at)
                VALUES (1, 1, 'MH-2026-014', '2026-11-16', '2027-11-15', 3, 0);
             INSERT INTO contract_servers VALUES (1, 1), (1, 2);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn a_generated_year_is_stored_once_and_regenerating_keeps_what_is_there() {
        let conn = db();
        let cal = Calendar::default();
        let servers = plan_servers(&conn).unwrap();
        assert_eq!(servers.len(), 3);
        let contracts = plan_contracts(&conn).unwrap();
        assert_eq!(contracts[0].servers, vec![1, 2]);
        let p = plan::generate(&cal, 2027, &servers, &[], &contracts);
        let first = insert_plan(&conn, &p, "jefe", 1).unwrap();
        assert_eq!(first, Inserted { software: 36, hardware: 6, kept: 0 });
        // Every visit got its maintenance window.
        let windows: i64 = conn
            .query_row("SELECT COUNT(*) FROM maintenance WHERE kind = 'hardware' AND silence_id IS NOT NULL", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(windows, 6);
        let again = insert_plan(&conn, &p, "jefe", 2).unwrap();
        assert_eq!(again, Inserted { software: 0, hardware: 0, kept: 42 });
        let feb = list(&conn, &Filter { year: Some(2027), month: Some(2), ..Default::default() }).unwrap();
        assert_eq!(feb.len(), 5, "3 software + 2 visits");
        let visit = feb.iter().find(|m| m.kind == Kind::Hardware).unwrap();
        assert_eq!(visit.contract.as_deref(), Some("MH-2026-014"));
        assert_eq!(visit.provider.as_deref(), Some("Servicios Técnicos SA"));
        let scoped = list(&conn, &Filter { year: Some(2027), centers: Some(vec![2]), ..Default::default() }).unwrap();
        assert!(scoped.iter().all(|m| m.agent_id == "pbx-aduanas"));
        assert_eq!(scoped.len(), 12 + 3);
        assert_eq!(events(&conn, visit.id).unwrap()[0].kind, "programado");
    }

    #[test]
    fn compliance_counts_done_on_time_over_planned_and_leaves_out_cancelled() {
        let conn = db();
        let cal = Calendar::default();
        let p = plan::generate(&cal, 2027, &plan_servers(&conn).unwrap(), &[], &[]);
        insert_plan(&conn, &p, "jefe", 1).unwrap();
        let jan = list(&conn, &Filter { year: Some(2027), month: Some(1), ..Default::default() }).unwrap();
        let ms = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis();
        let mut a = jan[0].clone();
        a.state = State::Informado;
        a.done_at = Some(ms("2027-01-29T21:59:00-06:00"));
        let mut b = jan[1].clone();
        b.state = State::Analizado;
        b.done_at = Some(ms("2027-01-30T08:00:00-06:00"));
        let mut c = jan[2].clone();
        c.state = State::Anulado;
        let today = NaiveDate::from_ymd_opt(2027, 2, 3).unwrap();
        let got = Compliance::of([&a, &b, &c], &cal, today);
        assert_eq!(got, Compliance { planned: 2, on_time: 1, late: 1, overdue: 0, pending: 0, cancelled: 1 });
        assert_eq!(got.percent(), "50 %");
        let untouched = Compliance::of(&jan, &cal, today);
        assert_eq!(untouched.overdue, 3);
        let jan = NaiveDate::from_ymd_opt(2027, 1, 10).unwrap();
        assert_eq!(due_this_month(&conn, jan, None).unwrap(), 3);
        assert_eq!(due_this_month(&conn, jan, Some(&[2])).unwrap(), 1, "only pbx-aduanas is in center 2");
        assert_eq!(due_this_month(&conn, jan, Some(&[])).unwrap(), 0);
    }
}
