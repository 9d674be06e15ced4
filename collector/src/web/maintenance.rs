//! Preventive maintenance on the web (stage 2 and the annual plan): the plan of a year with its
//! compliance, as a list or a month calendar, printable and as CSV; the chief's generate and adjust
//! forms; the monthly software check of one server ("verificar ahora", the checklist, attachments,
//! the report to the chief and the chief's analysis). The provider's visits are in
//! [`super::hardware`]; the attachments here serve both.
//!
//! Invariants:
//! - Every action asks [`crate::maintenance::may`] on the server, whatever the page showed, and
//!   runs in one writer transaction with its audit entry and history event.
//! - A `jefe_centro` sees only their centers' instances; lists are filtered in SQL, pages refuse.
//! - Evidence is stored as the agent sent it, with its SHA-256, and never changes (migration 0008
//!   refuses updates); a missing answer is stored too, as what it is.
//! - An attachment is accepted only within [`MAX_ATTACHMENT_BYTES`] and when its bytes are of the
//!   type it claims ([`sniff`]); it is stored once under `attachments/<sha256>` in the data directory
//!   and served only to those who may see its instance.

use super::auth::{ApiUser, Credentials, PageUser, check_csrf};
use super::pages::{Me, SampleView};
use super::{AppState, WebError};
use crate::auth::Role;
use crate::commands::CommandError;
use crate::maintenance::software::{self, Item, Mark, Report};
use crate::maintenance::store::{self as mstore, Compliance, Filter, Instance, month_name};
use crate::maintenance::{Act, Kind, State, Who, may, plan};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The largest attachment accepted (a screenshot, a PDF export, a log).
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// How long "verificar ahora" waits for the agent.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(20);

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn today(st: &AppState) -> NaiveDate {
    st.workflow.calendar.local_date(Utc::now())
}

fn who(c: &Credentials) -> Who {
    Who::from(&c.user)
}

fn refused(r: crate::maintenance::Refused) -> WebError {
    WebError::Forbidden(r.0)
}

fn conflict(r: crate::maintenance::Refused) -> WebError {
    WebError::Conflict(r.0)
}

fn local(st: &AppState, ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| st.workflow.calendar.format_local(t)).unwrap_or_default()
}

fn fmt_date(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

fn state_css(s: State) -> &'static str {
    match s {
        State::Programado => "muted",
        State::EnCurso | State::Observado => "warn",
        State::Informado | State::Firmado => "info",
        State::Analizado | State::Autorizado => "ok",
        State::Anulado => "muted",
    }
}

/// Where an instance's page is.
pub fn href(m: &Instance) -> String {
    match m.kind {
        Kind::Software => format!("/mantenimiento/{}", m.id),
        Kind::Hardware => format!("/mantenimiento/visitas/{}", m.id),
    }
}

/// One instance as a row of the plan.
pub struct Row {
    pub id: i64,
    pub href: String,
    pub kind: &'static str,
    pub server: String,
    pub center: String,
    pub technician: String,
    pub scheduled: String,
    pub due: String,
    pub state: &'static str,
    pub state_css: &'static str,
    /// "vencido", "a tiempo", "con atraso", or empty.
    pub timing: &'static str,
    pub timing_css: &'static str,
    pub provider: String,
    pub day: NaiveDate,
}

fn row(st: &AppState, m: &Instance, today: NaiveDate) -> Row {
    let cal = &st.workflow.calendar;
    let (timing, timing_css) = if m.overdue(today) {
        ("vencido", "crit")
    } else if m.on_time(cal) {
        ("a tiempo", "ok")
    } else if m.state.is_done() {
        ("con atraso", "warn")
    } else {
        ("", "")
    };
    Row {
        id: m.id,
        href: href(m),
        kind: match m.kind {
            Kind::Software => "Software",
            Kind::Hardware => "Hardware",
        },
        server: m.agent_id.clone(),
        center: if m.center.is_empty() { "sin centro".into() } else { m.center.clone() },
        technician: m.technician.clone().unwrap_or_else(|| "sin asignar".into()),
        scheduled: fmt_date(m.scheduled_on),
        due: fmt_date(m.due_on),
        state: m.state.label(m.kind),
        state_css: state_css(m.state),
        timing,
        timing_css,
        provider: m.provider.clone().unwrap_or_default(),
        day: if m.kind == Kind::Hardware { m.scheduled_on } else { m.due_on },
    }
}

/// A server's maintenance from six months back to two months ahead, for its page.
pub async fn server_rows(st: &AppState, agent: String) -> Result<Vec<Row>, WebError> {
    let today = today(st);
    let found = st
        .db
        .with(move |conn| {
            let Some(server) = crate::store::rollup::server_key(conn, &agent)? else { return Ok(vec![]) };
            mstore::list(conn, &Filter { server: Some(server), ..Default::default() })
        })
        .await?;
    let (from, to) = (today - chrono::Days::new(183), today + chrono::Days::new(62));
    Ok(found.iter().filter(|m| m.due_on >= from && m.scheduled_on <= to).map(|m| row(st, m, today)).collect())
}

#[derive(Debug, Default, Deserialize, Serialize, Clone)]
pub struct PlanQuery {
    pub anio: Option<String>,
    pub mes: Option<String>,
    pub tecnico: Option<String>,
    pub centro: Option<String>,
    pub tipo: Option<String>,
    /// "lista" (default) or "calendario".
    pub vista: Option<String>,
}

fn num<T: std::str::FromStr>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|s| s.trim().parse().ok())
}

impl PlanQuery {
    fn year(&self, today: NaiveDate) -> i32 {
        num::<i32>(&self.anio).filter(|y| (2000..=2100).contains(y)).unwrap_or(today.year())
    }

    fn month(&self) -> Option<u32> {
        num::<u32>(&self.mes).filter(|m| (1..=12).contains(m))
    }

    fn filter(&self, c: &Credentials, today: NaiveDate, with_month: bool) -> Filter {
        Filter {
            year: Some(self.year(today)),
            month: if with_month { self.month() } else { None },
            kind: self.tipo.as_deref().and_then(Kind::parse),
            technician: num(&self.tecnico),
            center: num(&self.centro),
            server: None,
            centers: (c.user.role == Role::JefeCentro).then(|| c.user.centers.clone()),
        }
    }

    fn selected(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "mes" => &self.mes,
            "tecnico" => &self.tecnico,
            "centro" => &self.centro,
            "tipo" => &self.tipo,
            "vista" => &self.vista,
            _ => &None,
        };
        v.as_deref() == Some(value)
    }

    /// The same query with another year/month, as a URL query string.
    fn with(&self, year: i32, month: Option<u32>) -> String {
        let mut q = self.clone();
        q.anio = Some(year.to_string());
        q.mes = month.map(|m| m.to_string());
        serde_urlencoded::to_string(&q).unwrap_or_default()
    }
}

/// One month's compliance line.
pub struct MonthLine {
    pub month: u32,
    pub name: &'static str,
    pub software: Compliance,
    pub hardware: Compliance,
    pub all: Compliance,
}

/// A day of the calendar view.
pub struct Day {
    pub date: Option<NaiveDate>,
    pub number: u32,
    pub today: bool,
    pub off: bool,
    pub rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "maint_plan.html")]
pub struct PlanPage {
    pub me: Me,
    pub q: PlanQuery,
    pub year: i32,
    pub month: Option<u32>,
    pub month_label: String,
    pub rows: Vec<Row>,
    pub months: Vec<MonthLine>,
    pub total: Compliance,
    pub per_technician: Vec<(String, Compliance)>,
    pub weeks: Vec<Vec<Day>>,
    pub calendar: bool,
    pub centers: Vec<crate::org::Center>,
    pub technicians: Vec<(i64, String)>,
    pub can_plan: bool,
    pub message: Option<String>,
    pub prev: String,
    pub next: String,
    pub query: String,
}

impl PlanPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        self.q.selected(field, value)
    }
}

fn technicians(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    Ok(crate::auth::store::list_users(conn)?
        .into_iter()
        .filter(|(u, active)| *active && matches!(u.role, Role::Tecnico | Role::JefeUact))
        .map(|(u, _)| (u.id, u.display().to_string()))
        .collect())
}

fn compliance_lines(st: &AppState, all: &[Instance], today: NaiveDate) -> (Vec<MonthLine>, Compliance) {
    let cal = &st.workflow.calendar;
    let months = (1..=12)
        .map(|month| {
            let of = |k: Option<Kind>| {
                Compliance::of(all.iter().filter(|m| m.month == month && k.is_none_or(|k| m.kind == k)), cal, today)
            };
            MonthLine {
                month,
                name: month_name(month),
                software: of(Some(Kind::Software)),
                hardware: of(Some(Kind::Hardware)),
                all: of(None),
            }
        })
        .collect();
    (months, Compliance::of(all, cal, today))
}

fn weeks(year: i32, month: u32, rows: &mut Vec<Row>, st: &AppState, today: NaiveDate) -> Vec<Vec<Day>> {
    let Some(first) = NaiveDate::from_ymd_opt(year, month, 1) else { return vec![] };
    let lead = first.weekday().num_days_from_monday();
    let mut days: Vec<Day> =
        (0..lead).map(|_| Day { date: None, number: 0, today: false, off: true, rows: vec![] }).collect();
    let mut d = first;
    while d.month() == month {
        let mut mine = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            if rows[i].day == d { mine.push(rows.remove(i)) } else { i += 1 }
        }
        days.push(Day {
            date: Some(d),
            number: d.day(),
            today: d == today,
            off: !st.workflow.calendar.is_working_day(d),
            rows: mine,
        });
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    while !days.len().is_multiple_of(7) {
        days.push(Day { date: None, number: 0, today: false, off: true, rows: vec![] });
    }
    let mut out = Vec::new();
    let mut it = days.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(7).collect());
    }
    out
}

async fn plan_page(
    st: &AppState,
    c: &Credentials,
    q: PlanQuery,
    message: Option<String>,
) -> Result<Response, WebError> {
    let today = today(st);
    let (year, month) = (q.year(today), q.month());
    let calendar = q.vista.as_deref() == Some("calendario");
    let (all, listed, centers, techs) = {
        let (fy, fl) = (q.filter(c, today, false), q.filter(c, today, true));
        st.db
            .with(move |conn| {
                let all = mstore::list(conn, &fy)?;
                let listed = mstore::list(conn, &fl)?;
                Ok((all, listed, crate::org::centers(conn)?, technicians(conn)?))
            })
            .await?
    };
    let (months, total) = compliance_lines(st, &all, today);
    let mut per_technician: Vec<(String, Compliance)> = Vec::new();
    let mut names: Vec<String> =
        all.iter().map(|m| m.technician.clone().unwrap_or_else(|| "sin asignar".into())).collect();
    names.sort();
    names.dedup();
    for n in names {
        let mine = all.iter().filter(|m| m.technician.as_deref().unwrap_or("sin asignar") == n);
        let c = Compliance::of(mine, &st.workflow.calendar, today);
        per_technician.push((n, c));
    }
    let mut rows: Vec<Row> = listed.iter().map(|m| row(st, m, today)).collect();
    let cal_month = month.unwrap_or(if year == today.year() { today.month() } else { 1 });
    let weeks = if calendar { weeks(year, cal_month, &mut rows, st, today) } else { vec![] };
    let (prev, next) = match month {
        Some(1) => (q.with(year - 1, Some(12)), q.with(year, Some(2))),
        Some(12) => (q.with(year, Some(11)), q.with(year + 1, Some(1))),
        Some(m) => (q.with(year, Some(m - 1)), q.with(year, Some(m + 1))),
        None => (q.with(year - 1, None), q.with(year + 1, None)),
    };
    let page = PlanPage {
        me: Me::from(c),
        month_label: match (month, calendar) {
            (Some(m), _) => format!("{} {year}", month_name(m)),
            (None, true) => format!("{} {year}", month_name(cal_month)),
            (None, false) => format!("todo {year}"),
        },
        query: serde_urlencoded::to_string(&q).unwrap_or_default(),
        q,
        year,
        month,
        rows,
        months,
        total,
        per_technician,
        weeks,
        calendar,
        centers,
        technicians: techs,
        can_plan: may(&who(c), Act::Plan, None, None).is_ok(),
        message,
        prev,
        next,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /mantenimiento`: the plan of a year (or a month), its compliance, list or calendar.
pub async fn plan(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    plan_page(&st, &c, q, None).await
}

fn pairs_get<'a>(pairs: &'a [(String, String)], key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

/// `POST /mantenimiento/plan`: the chief generates (or completes) a year's plan. Fields: `csrf`,
/// `anio`, and `tecnicos` (repeated user ids; none: keep each server's technician, or unassigned).
pub async fn generate(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    check_csrf(&c, pairs_get(&pairs, "csrf"))?;
    may(&who(&c), Act::Plan, None, None).map_err(refused)?;
    let year: i32 = pairs_get(&pairs, "anio")
        .trim()
        .parse()
        .ok()
        .filter(|y| (2000..=2100).contains(y))
        .ok_or_else(|| WebError::Invalid("indique el año del plan, por ejemplo 2027".into()))?;
    let chosen: Vec<i64> = pairs.iter().filter(|(k, _)| k == "tecnicos").filter_map(|(_, v)| v.parse().ok()).collect();
    let (cal, actor) = (st.workflow.calendar.clone(), c.user.username.clone());
    let done = st
        .writer
        .run(move |tx| {
            let valid: Vec<i64> = technicians(tx)?.into_iter().map(|(id, _)| id).collect();
            if let Some(bad) = chosen.iter().find(|t| !valid.contains(t)) {
                return Err(WebError::Invalid(format!("el usuario {bad} no es técnico ni Jefe de UACT activo")));
            }
            let servers = mstore::plan_servers(tx)?;
            if servers.is_empty() {
                return Err(WebError::Invalid(
                    "no hay servidores: el plan se genera para los servidores cuyos agentes ya reportaron".into(),
                ));
            }
            let contracts = mstore::plan_contracts(tx)?;
            let p = plan::generate(&cal, year, &servers, &chosen, &contracts);
            Ok(mstore::insert_plan(tx, &p, &actor, now_ms())?)
        })
        .await;
    let q = PlanQuery { anio: Some(year.to_string()), ..Default::default() };
    match done {
        Ok(d) => {
            let msg = format!(
                "Plan {year}: {} mantenimientos de software y {} visitas de hardware agregados; {} ya estaban y no se tocaron.",
                d.software, d.hardware, d.kept
            );
            plan_page(&st, &c, q, Some(msg)).await
        }
        Err(WebError::Invalid(m)) => {
            let mut r = plan_page(&st, &c, q, Some(m)).await?;
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r)
        }
        Err(e) => Err(e),
    }
}

fn csv_field(s: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet: quote it with a leading apostrophe.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

/// `GET /mantenimiento.csv`: the plan as listed, one line per instance.
pub async fn csv(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let today = today(&st);
    let f = q.filter(&c, today, true);
    let items = st.db.with(move |conn| mstore::list(conn, &f)).await?;
    let mut out = String::from(
        "id,tipo,anio,mes,servidor,centro,tecnico,programado,vence,estado,cumplimiento,realizado,proveedor,contrato,resultado\n",
    );
    for m in &items {
        let r = row(&st, m, today);
        let fields = [
            m.id.to_string(),
            m.kind.as_str().to_string(),
            m.year.to_string(),
            m.month.to_string(),
            m.agent_id.clone(),
            m.center.clone(),
            m.technician.clone().unwrap_or_default(),
            m.scheduled_on.to_string(),
            m.due_on.to_string(),
            m.state.as_str().to_string(),
            r.timing.to_string(),
            m.done_at.map(|t| local(&st, t)).unwrap_or_default(),
            m.provider.clone().unwrap_or_default(),
            m.contract.clone().unwrap_or_default(),
            m.outcome.clone().unwrap_or_default(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    let name = format!("plan-mantenimiento-{}.csv", q.year(today));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        out,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "maint_print.html")]
pub struct PrintPage {
    pub year: i32,
    pub label: String,
    pub rows: Vec<Row>,
    pub months: Vec<MonthLine>,
    pub total: Compliance,
    pub printed: String,
    pub by: String,
}

/// `GET /mantenimiento/imprimir`: the plan and its compliance on paper.
pub async fn print(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let today = today(&st);
    let (fy, fl) = (q.filter(&c, today, false), q.filter(&c, today, true));
    let (all, listed) = st.db.with(move |conn| Ok((mstore::list(conn, &fy)?, mstore::list(conn, &fl)?))).await?;
    let (months, total) = compliance_lines(&st, &all, today);
    let year = q.year(today);
    let page = PrintPage {
        year,
        label: q.month().map_or(format!("año {year}"), |m| format!("{} {year}", month_name(m))),
        rows: listed.iter().map(|m| row(&st, m, today)).collect(),
        months,
        total,
        printed: st.workflow.calendar.format_local(Utc::now()),
        by: c.user.display().to_string(),
    };
    Ok(Html(page.render()?).into_response())
}

// ---- one software instance ----

/// An evidence row as the page shows it.
pub struct EvidenceView {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub outcome: &'static str,
    pub css: &'static str,
    pub detail: String,
    pub sha256: String,
}

/// An attachment as the page shows it.
pub struct AttachmentView {
    pub id: i64,
    pub filename: String,
    pub size: String,
    pub content_type: String,
    pub at: String,
    pub actor: String,
    pub sha256: String,
}

pub struct LineView {
    pub item: &'static str,
    pub label: &'static str,
    pub auto: Option<(&'static str, &'static str, String)>,
    pub mark: Option<&'static str>,
    pub confirmed: bool,
    pub note: String,
}

pub struct EventView {
    pub at: String,
    pub actor: String,
    pub kind: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "maint_software.html")]
pub struct SoftwarePage {
    pub me: Me,
    pub m: Instance,
    pub title: String,
    pub state: &'static str,
    pub state_css: &'static str,
    pub timing: &'static str,
    pub timing_css: &'static str,
    pub report: Report,
    pub lines: Vec<LineView>,
    pub marks: Vec<(&'static str, &'static str)>,
    pub evidence: Vec<EvidenceView>,
    pub attachments: Vec<AttachmentView>,
    pub events: Vec<EventView>,
    pub technicians: Vec<(i64, String)>,
    pub can_work: bool,
    pub can_decide: bool,
    pub can_plan: bool,
    pub editable: bool,
    pub message: Option<String>,
    pub max_mb: usize,
}

impl SoftwarePage {
    fn is_technician(&self, id: &i64) -> bool {
        self.m.technician_id == Some(*id)
    }
}

fn human_size(n: i64) -> String {
    if n >= 1024 * 1024 {
        format!("{:.1} MiB", n as f64 / 1048576.0)
    } else if n >= 1024 {
        format!("{:.0} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn hex(h: &[u8]) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

struct Loaded {
    m: Instance,
    evidence: Vec<mstore::Evidence>,
    attachments: Vec<mstore::Attachment>,
    events: Vec<mstore::Event>,
    technicians: Vec<(i64, String)>,
}

fn load(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<Loaded>> {
    let Some(m) = mstore::get(conn, id)? else { return Ok(None) };
    let evidence = mstore::evidence(conn, id)?;
    let attachments = mstore::attachments(conn, id)?;
    Ok(Some(Loaded { m, evidence, attachments, events: mstore::events(conn, id)?, technicians: technicians(conn)? }))
}

fn view_check(c: &Credentials, m: &Instance) -> Result<(), WebError> {
    may(&who(c), Act::View, m.center_id, m.technician_id)
        .map_err(|_| WebError::NotFound(format!("el mantenimiento {}", m.id)))
}

fn evidence_outcome(o: &str) -> (&'static str, &'static str) {
    match o {
        "respuesta" => ("Respuesta del agente", "ok"),
        "sin_respuesta" => ("El agente no respondió", "crit"),
        "rechazado" => ("El agente rechazó la orden", "crit"),
        _ => ("Verificación manual", "warn"),
    }
}

/// Lists attachments for either kind of instance (the visit page uses it too).
pub fn attachment_views(st: &AppState, rows: &[mstore::Attachment]) -> Vec<AttachmentView> {
    rows.iter()
        .map(|a| AttachmentView {
            id: a.id,
            filename: a.filename.clone(),
            size: human_size(a.size),
            content_type: a.content_type.clone(),
            at: local(st, a.at),
            actor: a.actor.clone(),
            sha256: hex(&a.sha256),
        })
        .collect()
}

async fn software_page(st: &AppState, c: &Credentials, id: i64, message: Option<String>) -> Result<Response, WebError> {
    let Some(l) = st.db.with(move |conn| load(conn, id)).await? else {
        return Err(WebError::NotFound(format!("el mantenimiento {id}")));
    };
    if l.m.kind == Kind::Hardware {
        return Ok(Redirect::to(&href(&l.m)).into_response());
    }
    view_check(c, &l.m)?;
    let report =
        Report::parse(&l.m.data).map_err(|e| WebError::Internal(format!("maintenance {id}: bad data: {e}")))?;
    let today = today(st);
    let r = row(st, &l.m, today);
    let w = who(c);
    let lines = report
        .lines
        .iter()
        .map(|line| LineView {
            item: line.item.as_str(),
            label: line.item.label(),
            auto: line.auto.as_ref().map(|f| (f.mark.label(), f.mark.css(), f.why.join("; "))),
            mark: line.mark.map(|m| m.as_str()),
            confirmed: line.confirmed,
            note: line.note.clone(),
        })
        .collect();
    let evidence = l
        .evidence
        .iter()
        .map(|e| {
            let (label, css) = evidence_outcome(&e.outcome);
            EvidenceView {
                id: e.id,
                at: local(st, e.at),
                actor: e.actor.clone(),
                outcome: label,
                css,
                detail: e.detail.clone(),
                sha256: e.sha256.as_deref().map(hex).unwrap_or_default(),
            }
        })
        .collect();
    let page = SoftwarePage {
        me: Me::from(c),
        title: format!("{} · {}", l.m.agent_id, format_args!("{} {}", month_name(l.m.month), l.m.year)),
        state: l.m.state.label(Kind::Software),
        state_css: state_css(l.m.state),
        timing: r.timing,
        timing_css: r.timing_css,
        lines,
        marks: Mark::ALL.iter().map(|m| (m.as_str(), m.label())).collect(),
        evidence,
        attachments: attachment_views(st, &l.attachments),
        events: l
            .events
            .iter()
            .map(|e| EventView {
                at: local(st, e.at),
                actor: e.actor.clone(),
                kind: event_label(&e.kind),
                text: e.text.clone(),
            })
            .collect(),
        technicians: l.technicians,
        can_work: may(&w, Act::Work, l.m.center_id, l.m.technician_id).is_ok(),
        can_decide: may(&w, Act::Decide, l.m.center_id, l.m.technician_id).is_ok(),
        can_plan: may(&w, Act::Plan, None, None).is_ok(),
        editable: matches!(l.m.state, State::Programado | State::EnCurso),
        report,
        m: l.m,
        message,
        max_mb: MAX_ATTACHMENT_BYTES / (1024 * 1024),
    };
    Ok(Html(page.render()?).into_response())
}

/// The history's words for people.
pub fn event_label(kind: &str) -> String {
    match kind {
        "programado" => "Programado en el plan",
        "verify" => "Verificar ahora",
        "manual" => "Verificación manual",
        "checklist" => "Lista de verificación",
        "submit" => "Informado al Jefe de UACT",
        "analyse" => "Analizado por el Jefe de UACT",
        "adjust" => "Plan ajustado",
        "cancel" => "Anulado",
        "attach" => "Archivo adjunto",
        other => other,
    }
    .to_string()
}

/// `GET /mantenimiento/{id}`.
pub async fn software(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    software_page(&st, &c, id, None).await
}

/// Shows the page again with the refusal, with its status, or passes other errors on.
async fn after(st: &AppState, c: &Credentials, id: i64, r: Result<(), WebError>) -> Result<Response, WebError> {
    let (status, msg) = match r {
        Ok(()) => return Ok(Redirect::to(&format!("/mantenimiento/{id}")).into_response()),
        Err(WebError::Forbidden(m)) => (StatusCode::FORBIDDEN, m),
        Err(WebError::Conflict(m)) => (StatusCode::CONFLICT, m),
        Err(WebError::Invalid(m)) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        Err(e) => return Err(e),
    };
    let mut resp = software_page(st, c, id, Some(msg.clone())).await?;
    if resp.status().is_redirection() {
        // A hardware visit (an attachment refused): its page is elsewhere, so the error page says
        // why, with the link back.
        return Err(match status {
            StatusCode::FORBIDDEN => WebError::Forbidden(msg),
            StatusCode::CONFLICT => WebError::Conflict(format!("{msg}. Vuelva a /mantenimiento/visitas/{id}")),
            _ => WebError::Invalid(format!("{msg}. Vuelva a /mantenimiento/visitas/{id}")),
        });
    }
    *resp.status_mut() = status;
    Ok(resp)
}

/// One action on a software instance: the CSRF check, `f` on the instance and its report in one
/// writer transaction after the role check for `act`, then the page again (or the refusal on it).
async fn software_action(
    st: &AppState,
    c: &Credentials,
    id: i64,
    csrf: &str,
    act: Act,
    f: impl FnOnce(&rusqlite::Transaction, Instance, Report, &crate::auth::User) -> Result<(), WebError> + Send + 'static,
) -> Result<Response, WebError> {
    check_csrf(c, csrf)?;
    let (w, user) = (who(c), c.user.clone());
    let r = st
        .writer
        .run(move |tx| {
            let (m, report) = software_for(tx, id, &w, act)?;
            f(tx, m, report, &user)
        })
        .await;
    after(st, c, id, r).await
}

/// Loads a software instance inside a transaction and checks `act`.
fn software_for(tx: &rusqlite::Connection, id: i64, w: &Who, act: Act) -> Result<(Instance, Report), WebError> {
    let m = mstore::get(tx, id)?.ok_or_else(|| WebError::NotFound(format!("el mantenimiento {id}")))?;
    if m.kind != Kind::Software {
        return Err(WebError::Conflict("esta acción es del mantenimiento de software".into()));
    }
    may(w, act, m.center_id, m.technician_id).map_err(refused)?;
    let r = Report::parse(&m.data).map_err(|e| WebError::Internal(format!("maintenance {id}: bad data: {e}")))?;
    Ok((m, r))
}

#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// `POST /mantenimiento/{id}/verificar`: asks the agent for a full sample now and stores it as
/// evidence (or its absence, which is a finding).
pub async fn verify(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    let w = who(&c);
    let m = st.db.with(move |conn| mstore::get(conn, id)).await?;
    let Some(m) = m else { return Err(WebError::NotFound(format!("el mantenimiento {id}"))) };
    let r = async {
        may(&w, Act::Work, m.center_id, m.technician_id).map_err(refused)?;
        if !matches!(m.state, State::Programado | State::EnCurso) {
            return Err(WebError::Conflict("el informe ya fue enviado; la evidencia ya no cambia".into()));
        }
        let agent = centinela_shared::AgentId::new(m.agent_id.clone())
            .map_err(|e| WebError::Internal(format!("stored agent id is invalid: {e}")))?;
        let answer = take_evidence(&st, &agent).await;
        let actor = c.user.username.clone();
        st.writer
            .run(move |tx| {
                let (mut m, report) = software_for(tx, id, &w, Act::Work)?;
                let old = m.state;
                let now = now_ms();
                let (outcome, detail, sha, payload) = match &answer {
                    Ok(ev) => ("respuesta", String::new(), Some(ev.sha256.to_vec()), Some(ev.payload.clone())),
                    Err(e) => (no_evidence_outcome(e), e.user_message(), None, None),
                };
                tx.execute(
                    "INSERT INTO maintenance_evidence (maintenance_id, at, actor, outcome, detail, sha256, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![id, now, actor, outcome, detail, sha, payload],
                )?;
                let eid = tx.last_insert_rowid();
                let (state, report) = match &answer {
                    Ok(ev) => software::apply_evidence(m.state, report, eid, &ev.sample).map_err(conflict)?,
                    Err(e) => software::no_answer(m.state, report, &e.user_message()).map_err(conflict)?,
                };
                m.state = state;
                m.data = report.to_json();
                let text = match &answer {
                    Ok(ev) => format!("evidencia {} (sha256 {})", eid, crate::maintenance::short_hash(&ev.sha256)),
                    Err(e) => e.user_message(),
                };
                mstore::save(
                    tx,
                    &m,
                    old,
                    &actor,
                    now,
                    mstore::Step { action: "maintenance.verify", text: &text, form_hash: None },
                )?;
                Ok(())
            })
            .await
    }
    .await;
    after(&st, &c, id, r).await
}

/// The agent's answer to "verificar ahora", as it is kept.
struct Evidence {
    sha256: [u8; 32],
    /// The postcard envelope of the sample.
    payload: Vec<u8>,
    sample: centinela_shared::SampleV1,
}

async fn take_evidence(st: &AppState, agent: &centinela_shared::AgentId) -> Result<Evidence, CommandError> {
    let v = st.commands.verify_now(agent, VERIFY_TIMEOUT).await?;
    let payload = centinela_shared::encode_envelope(&v.envelope());
    Ok(Evidence { sha256: Sha256::digest(&payload).into(), payload, sample: v.sample })
}

/// The stored word for a missing answer.
fn no_evidence_outcome(e: &CommandError) -> &'static str {
    match e {
        CommandError::Refused(_) => "rechazado",
        _ => "sin_respuesta",
    }
}

#[derive(Debug, Deserialize)]
pub struct ManualForm {
    pub csrf: String,
    pub nota: String,
}

/// `POST /mantenimiento/{id}/manual`: the technician records a check done by hand (when the agent
/// does not answer, or for what it does not measure).
pub async fn manual(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<ManualForm>,
) -> Result<Response, WebError> {
    let csrf = f.csrf.clone();
    software_action(&st, &c, id, &csrf, Act::Work, move |tx, mut m, _, user| {
        let actor = &user.username;
        if !matches!(m.state, State::Programado | State::EnCurso) {
            return Err(WebError::Conflict("el informe ya fue enviado; la evidencia ya no cambia".into()));
        }
        let note = f.nota.trim();
        if note.is_empty() {
            return Err(WebError::Invalid("describa qué verificó y cómo".into()));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO maintenance_evidence (maintenance_id, at, actor, outcome, detail) VALUES (?1, ?2, ?3, 'manual', ?4)",
            rusqlite::params![id, now, actor, note],
        )?;
        let old = m.state;
        m.state = State::EnCurso;
        mstore::save(tx, &m, old, actor, now, mstore::Step { action: "maintenance.manual", text: note, form_hash: None })?;
        Ok(())
    })
    .await
}

/// `POST /mantenimiento/{id}/lista`: the checklist; fields `marca_<item>` and `nota_<item>`.
pub async fn checklist(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let csrf = pairs_get(&pairs, "csrf").to_string();
    software_action(&st, &c, id, &csrf, Act::Work, move |tx, mut m, mut report, user| {
        let actor = &user.username;
        if !matches!(m.state, State::Programado | State::EnCurso) {
            return Err(WebError::Conflict("el informe ya fue enviado al Jefe de UACT; la lista ya no cambia".into()));
        }
        let old = m.state;
        let mut state = m.state;
        let mut changed = Vec::new();
        for item in Item::ALL {
            let raw = pairs_get(&pairs, &format!("marca_{}", item.as_str()));
            if raw.is_empty() {
                continue;
            }
            let mk = Mark::parse(raw)
                .ok_or_else(|| WebError::Invalid(format!("«{}»: marca desconocida «{raw}»", item.label())))?;
            let note = pairs_get(&pairs, &format!("nota_{}", item.as_str()));
            let line = report.line(item).cloned();
            if line.as_ref().is_some_and(|l| l.confirmed && l.mark == Some(mk) && l.note == note.trim()) {
                continue;
            }
            (state, report) = software::mark(state, report, item, mk, note).map_err(|r| WebError::Invalid(r.0))?;
            changed.push(format!("{}: {}", item.label(), mk.label()));
        }
        if changed.is_empty() {
            return Ok(());
        }
        m.state = state;
        m.data = report.to_json();
        let text = changed.join("; ");
        let step = mstore::Step { action: "maintenance.checklist", text: &text, form_hash: None };
        mstore::save(tx, &m, old, actor, now_ms(), step)?;
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct SubmitForm {
    pub csrf: String,
    #[serde(default)]
    pub resumen: String,
}

/// `POST /mantenimiento/{id}/informar`: the technician reports to the chief.
pub async fn submit(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<SubmitForm>,
) -> Result<Response, WebError> {
    let csrf = f.csrf.clone();
    software_action(&st, &c, id, &csrf, Act::Work, move |tx, mut m, report, user| {
        let actor = &user.username;
        let has_evidence: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM maintenance_evidence WHERE maintenance_id = ?1)", [id], |r| {
                r.get(0)
            })?;
        if !has_evidence {
            return Err(WebError::Conflict(
                "deje evidencia antes de informar: «Verificar ahora», o una verificación manual".into(),
            ));
        }
        let old = m.state;
        let (state, report) = software::submit(m.state, report, &f.resumen).map_err(|r| WebError::Conflict(r.0))?;
        let now = now_ms();
        m.state = state;
        m.done_at = Some(now);
        m.data = report.to_json();
        let faults = report.faults().len();
        let text = format!("{faults} punto(s) con falla. {}", report.summary);
        mstore::save(
            tx,
            &m,
            old,
            actor,
            now,
            mstore::Step { action: "maintenance.submit", text: text.trim(), form_hash: None },
        )?;
        Ok(())
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct AnalyseForm {
    pub csrf: String,
    /// "sin_novedad" or "falla".
    pub resultado: String,
    #[serde(default)]
    pub accion: String,
}

/// `POST /mantenimiento/{id}/analizar`: the chief's analysis; "falla" opens a corrective ticket
/// linked to the maintenance record.
pub async fn analyse(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<AnalyseForm>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    let (w, user, ctx) = (who(&c), c.user.clone(), st.workflow.ctx.clone());
    let r = st
        .writer
        .run(move |tx| {
            let (mut m, report) = software_for(tx, id, &w, Act::Decide)?;
            let fault = match f.resultado.as_str() {
                "falla" => true,
                "sin_novedad" => false,
                _ => return Err(WebError::Invalid("elija «sin novedad» o «falla detectada»".into())),
            };
            let old = m.state;
            let (state, report) = software::analyse(m.state, report, fault, &f.accion).map_err(|r| {
                if r.0.contains("defina") { WebError::Invalid(r.0) } else { WebError::Conflict(r.0) }
            })?;
            let now = Utc::now();
            if fault {
                let Some(center_id) = m.center_id else {
                    return Err(WebError::Conflict(
                        "el servidor no está ubicado en un centro telefónico; ubíquelo en Organización para abrir el requerimiento".into(),
                    ));
                };
                let faults: Vec<String> = report
                    .faults()
                    .iter()
                    .map(|l| format!("- {}: {}", l.item.label(), if l.note.is_empty() { l.auto.as_ref().map(|a| a.why.join("; ")).unwrap_or_default() } else { l.note.clone() }))
                    .collect();
                let form = crate::tickets::NewTicket {
                    center_id,
                    server_id: Some(m.server_id),
                    title: format!("Falla en mantenimiento preventivo de {} ({} {})", m.agent_id, month_name(m.month), m.year),
                    description: format!(
                        "Detectada en el mantenimiento preventivo de software #{id}.\nAcción definida: {}\n{}",
                        f.accion.trim(),
                        faults.join("\n")
                    ),
                    channel: crate::tickets::Channel::Web,
                    requester: crate::tickets::Requester::User(user.id),
                };
                let (t, entries) = crate::tickets::file(
                    crate::tickets::store::next_id(tx)?,
                    form,
                    &crate::tickets::Actor::from(&user),
                    now,
                )
                .map_err(|d| WebError::Conflict(d.message().to_string()))?;
                crate::tickets::store::insert(tx, &t, &entries, &user.username)?;
                crate::tickets::store::notify(tx, &ctx, &t, "creado", now)?;
                m.ticket_id = Some(t.id);
            }
            m.state = state;
            m.outcome = Some(if fault { "falla" } else { "sin_novedad" }.into());
            m.data = report.to_json();
            let text = if fault {
                format!("falla detectada; acción: {}; requerimiento #{}", f.accion.trim(), m.ticket_id.unwrap_or_default())
            } else {
                "sin novedad".into()
            };
            mstore::save(tx, &m, old, &user.username, now.timestamp_millis(), mstore::Step { action: "maintenance.analyse", text: &text, form_hash: None })?;
            Ok(())
        })
        .await;
    if r.is_ok()
        && let Some(w) = &st.workflow.waker
    {
        w.wake();
    }
    after(&st, &c, id, r).await
}

#[derive(Debug, Deserialize)]
pub struct AdjustForm {
    pub csrf: String,
    #[serde(default)]
    pub tecnico: String,
    #[serde(default)]
    pub programado: String,
    #[serde(default)]
    pub vence: String,
    /// "1": cancel, with `motivo`.
    #[serde(default)]
    pub anular: String,
    #[serde(default)]
    pub motivo: String,
}

fn parse_date(s: &str, what: &str) -> Result<NaiveDate, WebError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| WebError::Invalid(format!("{what}: use una fecha AAAA-MM-DD")))
}

/// `POST /mantenimiento/{id}/ajustar`: the chief changes a software instance's technician or
/// dates, or cancels it with a reason.
pub async fn adjust(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<AdjustForm>,
) -> Result<Response, WebError> {
    let csrf = f.csrf.clone();
    software_action(&st, &c, id, &csrf, Act::Plan, move |tx, mut m, _, user| {
        let actor = &user.username;
        let old = m.state;
        if m.state == State::Anulado {
            return Err(WebError::Conflict("este mantenimiento ya fue anulado".into()));
        }
        if f.anular == "1" {
            if m.state.is_done() {
                return Err(WebError::Conflict("un mantenimiento ya informado no se anula".into()));
            }
            let why = f.motivo.trim();
            if why.is_empty() {
                return Err(WebError::Invalid("anote el motivo de la anulación".into()));
            }
            m.state = State::Anulado;
            mstore::save(
                tx,
                &m,
                old,
                actor,
                now_ms(),
                mstore::Step { action: "maintenance.cancel", text: why, form_hash: None },
            )?;
            return Ok(());
        }
        let mut what = Vec::new();
        let tech = match f.tecnico.trim() {
            "" => None,
            t => Some(t.parse::<i64>().map_err(|_| WebError::Invalid("elija un técnico de la lista".into()))?),
        };
        if tech != m.technician_id {
            if let Some(t) = tech
                && !technicians(tx)?.iter().any(|(id, _)| *id == t)
            {
                return Err(WebError::Invalid("elija un técnico activo de la lista".into()));
            }
            m.technician_id = tech;
            what.push("técnico".to_string());
        }
        if !f.programado.trim().is_empty() {
            let d = parse_date(&f.programado, "programado")?;
            if d != m.scheduled_on {
                m.scheduled_on = d;
                what.push(format!("programado {}", fmt_date(d)));
            }
        }
        if !f.vence.trim().is_empty() {
            let d = parse_date(&f.vence, "vence")?;
            if d != m.due_on {
                m.due_on = d;
                what.push(format!("vence {}", fmt_date(d)));
            }
        }
        if m.due_on < m.scheduled_on {
            return Err(WebError::Invalid("la fecha de vencimiento no puede ser anterior a la programada".into()));
        }
        if what.is_empty() {
            return Ok(());
        }
        let text = f.motivo.trim();
        let text = if text.is_empty() { what.join(", ") } else { format!("{}: {text}", what.join(", ")) };
        mstore::save(
            tx,
            &m,
            old,
            actor,
            now_ms(),
            mstore::Step { action: "maintenance.adjust", text: &text, form_hash: None },
        )?;
        Ok(())
    })
    .await
}

// ---- attachments (both kinds) ----

/// What an upload's bytes are, by their first bytes; `None`: not a type we keep.
pub fn sniff(bytes: &[u8], claimed: &str) -> Option<&'static str> {
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"%PDF-") {
        Some("application/pdf")
    } else if starts(b"PK\x03\x04") {
        Some("application/zip")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if std::str::from_utf8(bytes).is_ok() && !bytes.contains(&0) {
        // Text: logs, CSV exports, configuration dumps.
        Some(if claimed == "text/csv" { "text/csv" } else { "text/plain" })
    } else {
        None
    }
}

fn safe_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base.chars().filter(|c| !c.is_control() && *c != '"').take(120).collect();
    if clean.trim().is_empty() { "adjunto".into() } else { clean.trim().to_string() }
}

/// Where attachments live: `<data_dir>/attachments/<sha256>`.
fn attachment_path(st: &AppState, sha: &[u8]) -> std::path::PathBuf {
    st.db.data_dir().join("attachments").join(hex(sha))
}

/// `POST /mantenimiento/{id}/adjuntos` (multipart: `csrf`, then `archivo`).
pub async fn upload(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    mut mp: Multipart,
) -> Result<Response, WebError> {
    let mut csrf = String::new();
    let mut file: Option<(String, String, Bytes)> = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(WebError::Invalid(format!(
                    "no se pudo leer el archivo ({}); el máximo es {} MiB",
                    e.body_text(),
                    MAX_ATTACHMENT_BYTES / 1048576
                )));
            }
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("archivo") => {
                let name = safe_filename(field.file_name().unwrap_or("adjunto"));
                let ct = field.content_type().unwrap_or("application/octet-stream").to_string();
                let data = field.bytes().await.map_err(|_| {
                    WebError::Invalid(format!("el archivo supera el máximo de {} MiB", MAX_ATTACHMENT_BYTES / 1048576))
                })?;
                file = Some((name, ct, data));
            }
            _ => {}
        }
    }
    check_csrf(&c, &csrf)?;
    let w = who(&c);
    let r = async {
        let Some((name, claimed, data)) = file else {
            return Err(WebError::Invalid("elija un archivo".into()));
        };
        if data.is_empty() {
            return Err(WebError::Invalid("el archivo está vacío".into()));
        }
        if data.len() > MAX_ATTACHMENT_BYTES {
            return Err(WebError::Invalid(format!("el archivo supera el máximo de {} MiB", MAX_ATTACHMENT_BYTES / 1048576)));
        }
        let Some(ct) = sniff(&data, &claimed) else {
            return Err(WebError::Invalid(
                "tipo de archivo no admitido: adjunte imágenes (PNG, JPEG, GIF, WebP), PDF, ZIP o texto (CSV, registros)".into(),
            ));
        };
        let sha: [u8; 32] = Sha256::digest(&data).into();
        let path = attachment_path(&st, &sha);
        let size = data.len() as i64;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if path.exists() {
                return Ok(());
            }
            let dir = path.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!(".tmp-{}", std::process::id()));
            std::fs::write(&tmp, &data)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
        .map_err(|e| WebError::Internal(format!("cannot store the attachment: {e}")))?;
        let actor = c.user.username.clone();
        st.writer
            .run(move |tx| {
                let m = mstore::get(tx, id)?.ok_or_else(|| WebError::NotFound(format!("el mantenimiento {id}")))?;
                may(&w, Act::Work, m.center_id, m.technician_id).map_err(refused)?;
                if matches!(m.state, State::Anulado | State::Analizado | State::Autorizado | State::Informado) {
                    return Err(WebError::Conflict("este mantenimiento ya no admite adjuntos".into()));
                }
                let now = now_ms();
                tx.execute(
                    "INSERT INTO maintenance_attachments (maintenance_id, at, actor, filename, content_type, size, sha256)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    rusqlite::params![id, now, actor, name, ct, size, sha.to_vec()],
                )?;
                crate::audit::append(
                    tx,
                    now,
                    &crate::audit::Entry {
                        actor: &actor,
                        action: "maintenance.attach",
                        object: &m.object(),
                        old: None,
                        new: Some(&format!("{name} ({ct}, {size} B, sha256 {})", hex(&sha))),
                    },
                )?;
                mstore::event(tx, id, now, &actor, "attach", &name, None)?;
                Ok(m.kind)
            })
            .await
    }
    .await;
    match r {
        Ok(Kind::Hardware) => Ok(Redirect::to(&format!("/mantenimiento/visitas/{id}")).into_response()),
        Ok(Kind::Software) => Ok(Redirect::to(&format!("/mantenimiento/{id}")).into_response()),
        Err(e) => after(&st, &c, id, Err(e)).await,
    }
}

/// `GET /mantenimiento/{id}/adjuntos/{aid}`: the file, to those who may see its instance.
pub async fn download(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let found = st
        .db
        .with(move |conn| {
            let Some(m) = mstore::get(conn, id)? else { return Ok(None) };
            let a = conn
                .query_row(
                    "SELECT filename, content_type, sha256 FROM maintenance_attachments WHERE id = ?1 AND maintenance_id = ?2",
                    rusqlite::params![aid, id],
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?)),
                )
                .ok();
            Ok(a.map(|a| (m, a)))
        })
        .await?;
    let Some((m, (name, ct, sha))) = found else { return Err(WebError::NotFound(format!("el adjunto {aid}"))) };
    view_check(&c, &m)?;
    let path = attachment_path(&st, &sha);
    let data =
        tokio::fs::read(&path).await.map_err(|e| WebError::Internal(format!("attachment {}: {e}", path.display())))?;
    if <[u8; 32]>::from(Sha256::digest(&data)).as_slice() != sha.as_slice() {
        return Err(WebError::Internal(format!("attachment {} does not match its sha256", path.display())));
    }
    Ok((
        [
            (header::CONTENT_TYPE, ct),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", name.replace('"', ""))),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        data,
    )
        .into_response())
}

// ---- evidence ----

#[derive(Template)]
#[template(path = "maint_evidence.html")]
pub struct EvidencePage {
    pub me: Me,
    pub m: Instance,
    pub ev: EvidenceView,
    pub sample: SampleView,
}

/// `GET /mantenimiento/{id}/evidencia/{eid}`: the full sample the agent returned, as the server
/// page shows readings, with its hash.
pub async fn evidence(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path((id, eid)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let found = st
        .db
        .with(move |conn| {
            let Some(m) = mstore::get(conn, id)? else { return Ok(None) };
            let e = conn
                .query_row(
                    "SELECT at, actor, outcome, detail, sha256, payload FROM maintenance_evidence WHERE id = ?1 AND maintenance_id = ?2",
                    rusqlite::params![eid, id],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<Vec<u8>>>(4)?,
                            r.get::<_, Option<Vec<u8>>>(5)?,
                        ))
                    },
                )
                .ok();
            Ok(e.map(|e| (m, e)))
        })
        .await?;
    let Some((m, (at, actor, outcome, detail, sha, payload))) = found else {
        return Err(WebError::NotFound(format!("la evidencia {eid}")));
    };
    view_check(&c, &m)?;
    let (label, css) = evidence_outcome(&outcome);
    let sample = match payload {
        None => super::pages::SampleView::Missing,
        Some(p) => match centinela_shared::decode_envelope(&p) {
            Ok(env) => super::pages::LatestView::new(&env)
                .map(|v| super::pages::SampleView::Ok(Box::new(v)))
                .unwrap_or(super::pages::SampleView::Missing),
            Err(e) => super::pages::SampleView::Undecodable(e.to_string()),
        },
    };
    let page = EvidencePage {
        me: Me::from(&c),
        ev: EvidenceView {
            id: eid,
            at: local(&st, at),
            actor,
            outcome: label,
            css,
            detail,
            sha256: sha.as_deref().map(hex).unwrap_or_default(),
        },
        m,
        sample,
    };
    Ok(Html(page.render()?).into_response())
}

// ---- JSON API ----

#[derive(Serialize)]
struct ApiInstance {
    #[serde(flatten)]
    m: Instance,
    state_label: &'static str,
    overdue: bool,
    on_time: bool,
    url: String,
}

/// `GET /api/v1/maintenance?anio=&mes=&tipo=&tecnico=&centro=`: the plan as JSON, with the
/// compliance of the year.
pub async fn api_list(
    AxState(st): AxState<AppState>,
    ApiUser(c): ApiUser,
    Query(q): Query<PlanQuery>,
) -> Result<Response, WebError> {
    let today = today(&st);
    let (fy, fl) = (q.filter(&c, today, false), q.filter(&c, today, true));
    let (all, listed) = st.db.with(move |conn| Ok((mstore::list(conn, &fy)?, mstore::list(conn, &fl)?))).await?;
    let (months, total) = compliance_lines(&st, &all, today);
    let items: Vec<ApiInstance> = listed
        .into_iter()
        .map(|m| ApiInstance {
            state_label: m.state.label(m.kind),
            overdue: m.overdue(today),
            on_time: m.on_time(&st.workflow.calendar),
            url: href(&m),
            m,
        })
        .collect();
    let months: Vec<serde_json::Value> = months
        .iter()
        .map(|l| serde_json::json!({ "month": l.month, "software": l.software, "hardware": l.hardware, "all": l.all, "percent": l.all.percent() }))
        .collect();
    Ok(Json(serde_json::json!({
        "year": q.year(today),
        "compliance": { "year": total, "percent": total.percent(), "months": months },
        "items": items,
    }))
    .into_response())
}

/// `GET /api/v1/maintenance/{id}`: one instance with its data, evidence list and history.
pub async fn api_get(
    AxState(st): AxState<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let Some(l) = st.db.with(move |conn| load(conn, id)).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no existe el mantenimiento {id}") })),
        )
            .into_response());
    };
    if view_check(&c, &l.m).is_err() {
        return Ok((
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("no existe el mantenimiento {id}") })),
        )
            .into_response());
    }
    let data: serde_json::Value = serde_json::from_str(&l.m.data).unwrap_or(serde_json::Value::Null);
    let evidence: Vec<serde_json::Value> = l
        .evidence
        .iter()
        .map(|e| {
            serde_json::json!({ "id": e.id, "at": e.at, "actor": e.actor, "outcome": e.outcome, "detail": e.detail,
                                "sha256": e.sha256.as_deref().map(hex) })
        })
        .collect();
    let attachments: Vec<serde_json::Value> = l
        .attachments
        .iter()
        .map(|a| {
            serde_json::json!({ "id": a.id, "at": a.at, "actor": a.actor, "filename": a.filename,
                                "content_type": a.content_type, "size": a.size, "sha256": hex(&a.sha256) })
        })
        .collect();
    let today = today(&st);
    Ok(Json(serde_json::json!({
        "instance": ApiInstance {
            state_label: l.m.state.label(l.m.kind),
            overdue: l.m.overdue(today),
            on_time: l.m.on_time(&st.workflow.calendar),
            url: href(&l.m),
            m: l.m.clone(),
        },
        "data": data,
        "evidence": evidence,
        "attachments": attachments,
        "history": l.events,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_recognised_by_their_bytes_not_by_what_the_browser_claims() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....", "application/pdf"), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7\n", "image/png"), Some("application/pdf"));
        assert_eq!(sniff(b"fecha,llamadas\n2026-11-01,12\n", "text/csv"), Some("text/csv"));
        assert_eq!(sniff(b"MZ\x90\x00\x03\x00\x00\x00", "image/png"), None, "a Windows executable");
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\x00", "text/plain"), None, "not valid text");
        assert_eq!(sniff(b"texto\0con nulo", "text/plain"), None);
    }

    #[test]
    fn a_filename_keeps_only_its_last_component_and_printable_characters() {
        assert_eq!(safe_filename("../../etc/passwd"), "passwd");
        assert_eq!(safe_filename("C:\\fotos\\consola \"1\".png"), "consola 1.png");
        assert_eq!(safe_filename("\n\t"), "adjunto");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("Renta, San Salvador"), "\"Renta, San Salvador\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("pbx-01"), "pbx-01");
    }
}
