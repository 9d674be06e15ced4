//! Stage 4 on the web (`/reportes`): the monthly reports per call center with their state and due
//! date, one report with its figures and charts, the technician's preparation (recalculate, the
//! outgoing-call verification, the recordings' QA), the chief's review, the center chief's
//! forwarding, and the exports (CSV of the figures, CSV of the QA observations, PDF).
//!
//! Invariants:
//! - Every action asks the pure rules of [`crate::reports::workflow`] on the server, whatever the
//!   page showed, and runs in one writer transaction with its audit entry and history event. A
//!   refusal is 403 (role), 409 (state) or 422 (data), shown on the page.
//! - A `jefe_centro` sees only their centers' reports once remitted to them: lists are filtered in
//!   SQL, pages and exports answer 404 otherwise (a report they may not see does not exist for them).
//! - A report that has figures shows, exports and prints those (the snapshot sent for review); a
//!   draft without them shows figures computed on the fly, marked provisional.

use super::auth::{ApiUser, Credentials, PageUser, check_csrf};
use super::pages::Me;
use super::{AppState, WebError};
use crate::auth::Role;
use crate::maintenance::Who;
use crate::reports::figures::{FORMULAS, Figures};
use crate::reports::pdf::{self, avg_duration, duration, percent};
use crate::reports::qa::{self, Mark, Score, Summary};
use crate::reports::store::{self as rstore, Filter, QaCall, Row, month_name};
use crate::reports::workflow::{self as wf, Act, Denied, State, Timing, may};
use askama::Template;
use axum::Form;
use axum::Json;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

/// A form's fields as posted, in order.
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn today(st: &AppState) -> NaiveDate {
    st.workflow.calendar.local_date(Utc::now())
}

fn who(c: &Credentials) -> Who {
    Who::from(&c.user)
}

fn denied(d: Denied) -> WebError {
    match d {
        Denied::NotAllowed(m) => WebError::Forbidden(m),
        Denied::WrongState(m) => WebError::Conflict(m),
        Denied::Invalid(m) => WebError::Invalid(m),
    }
}

fn local(st: &AppState, ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| st.workflow.calendar.format_local(t)).unwrap_or_default()
}

fn dmy(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// "2026-11-03 09:15:00" → "03/11/2026 09:15:00".
fn calldate(s: &str) -> String {
    match (s.get(0..4), s.get(5..7), s.get(8..10), s.get(11..)) {
        (Some(y), Some(m), Some(d), Some(t)) => format!("{d}/{m}/{y} {t}"),
        _ => s.to_string(),
    }
}

/// A report as the list shows it.
pub struct ListRow {
    pub id: i64,
    pub period: String,
    pub center: String,
    pub dependencia: String,
    pub state: &'static str,
    pub state_word: &'static str,
    pub state_css: &'static str,
    pub round: u32,
    pub timing: String,
    pub timing_css: &'static str,
    pub overdue: bool,
    pub technician: String,
    pub qa: String,
}

fn list_row(st: &AppState, r: &Row, today: NaiveDate) -> ListRow {
    let t = r.timing(&st.workflow.calendar, today);
    ListRow {
        id: r.id,
        period: format!("{} {}", month_name(r.month), r.year),
        center: r.center.clone(),
        dependencia: r.dependencia.clone(),
        state: r.state.label(),
        state_word: r.state.as_str(),
        state_css: r.state.css(),
        round: r.round,
        timing: t.label(r.due_on),
        timing_css: t.css(),
        overdue: t == Timing::Overdue,
        technician: r.technician.clone().unwrap_or_else(|| "—".into()),
        qa: if r.qa_proposed_at.is_none() {
            "sin muestra".into()
        } else {
            format!("{}/{} evaluadas", r.qa_evaluated, r.qa_sampled)
        },
    }
}

#[derive(Debug, Default, Deserialize, Serialize, Clone)]
pub struct ListQuery {
    pub anio: Option<String>,
    pub mes: Option<String>,
    pub centro: Option<String>,
    pub estado: Option<String>,
}

fn num<T: std::str::FromStr>(s: &Option<String>) -> Option<T> {
    s.as_deref().and_then(|s| s.trim().parse().ok())
}

impl ListQuery {
    fn filter(&self, c: &Credentials) -> Filter {
        Filter {
            year: num::<i32>(&self.anio).filter(|y| (2000..=2100).contains(y)),
            month: num::<u32>(&self.mes).filter(|m| (1..=12).contains(m)),
            center: num(&self.centro),
            state: self.estado.as_deref().and_then(State::parse),
            remitted_to: (c.user.role == Role::JefeCentro).then(|| c.user.centers.clone()),
        }
    }

    fn selected(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "mes" => &self.mes,
            "centro" => &self.centro,
            "estado" => &self.estado,
            _ => &None,
        };
        v.as_deref() == Some(value)
    }
}

#[derive(Template)]
#[template(path = "reports.html")]
pub struct ListPage {
    pub me: Me,
    pub q: ListQuery,
    pub year: String,
    pub rows: Vec<ListRow>,
    pub overdue: usize,
    pub centers: Vec<crate::org::Center>,
    pub months: Vec<(u32, &'static str)>,
    pub states: Vec<(&'static str, &'static str)>,
    pub can_draft: bool,
    pub draft_year: i32,
    pub draft_month: u32,
    pub message: Option<String>,
}

impl ListPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        self.q.selected(field, value)
    }
}

async fn list_page(
    st: &AppState,
    c: &Credentials,
    q: ListQuery,
    message: Option<String>,
) -> Result<Response, WebError> {
    let f = q.filter(c);
    let scoped = c.user.role == Role::JefeCentro;
    let mine = c.user.centers.clone();
    let (rows, centers) = st
        .db
        .with(move |conn| {
            let centers = crate::org::centers(conn)?;
            let centers = if scoped { centers.into_iter().filter(|x| mine.contains(&x.id)).collect() } else { centers };
            Ok((rstore::list(conn, &f)?, centers))
        })
        .await?;
    let today = today(st);
    let rows: Vec<ListRow> = rows.iter().map(|r| list_row(st, r, today)).collect();
    let (draft_year, draft_month) = wf::previous_month(today);
    let page = ListPage {
        me: Me::from(c),
        year: q.anio.clone().unwrap_or_default(),
        q,
        overdue: rows.iter().filter(|r| r.overdue).count(),
        rows,
        centers,
        months: (1..=12).map(|m| (m, month_name(m))).collect(),
        states: State::ALL.iter().map(|s| (s.as_str(), s.label())).collect(),
        can_draft: may(&who(c), Act::Draft, None, None).is_ok(),
        draft_year,
        draft_month,
        message,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /reportes`: the reports by month and center, with their state and due date.
pub async fn list(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    list_page(&st, &c, q, None).await
}

/// `POST /reportes/generar`: the chief drafts a month's missing reports now (fields `anio`, `mes`;
/// default the previous month), as the collector does by itself on the 1st.
pub async fn generate(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    may(&who(&c), Act::Draft, None, None).map_err(denied)?;
    let (py, pm) = wf::previous_month(today(&st));
    let year = match field(&f, "anio").trim() {
        "" => py,
        y => y
            .parse::<i32>()
            .ok()
            .filter(|y| (2000..=2100).contains(y))
            .ok_or_else(|| WebError::Invalid(format!("el año «{y}» no es válido; por ejemplo {py}")))?,
    };
    let month = match field(&f, "mes").trim() {
        "" => pm,
        m => m
            .parse::<u32>()
            .ok()
            .filter(|m| (1..=12).contains(m))
            .ok_or_else(|| WebError::Invalid(format!("el mes «{m}» no es válido; use 1 a 12")))?,
    };
    let today = today(&st);
    if (year, month) >= (today.year(), today.month()) {
        let msg = format!(
            "{} {year} aún no termina: el informe de un mes se genera a partir del día 1 del mes siguiente",
            month_name(month)
        );
        let mut r = list_page(&st, &c, ListQuery::default(), Some(msg)).await?;
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    let actor = c.user.username.clone();
    let ids = st.writer.run(move |tx| Ok(rstore::draft_month(tx, year, month, &actor, now_ms())?)).await?;
    let msg = match ids.len() {
        0 => format!("Los informes de {} {year} ya existían: no se agregó ninguno.", month_name(month)),
        1 => format!("Se generó 1 borrador de {} {year}.", month_name(month)),
        n => format!("Se generaron {n} borradores de {} {year}.", month_name(month)),
    };
    let q = ListQuery { anio: Some(year.to_string()), mes: Some(month.to_string()), ..Default::default() };
    list_page(&st, &c, q, Some(msg)).await
}

// ---- One report ----

/// The figures to show: the stored snapshot, or provisional ones computed now.
pub struct Shown {
    pub figures: Option<Figures>,
    pub provisional: bool,
    /// Why there are none (the computation failed).
    pub error: Option<String>,
}

fn compute(conn: &Connection, st: &AppState, r: &Row) -> rusqlite::Result<Figures> {
    crate::reports::source::month(conn, r.center_id, r.year, r.month, &st.workflow.reports)
}

fn shown(conn: &Connection, st: &AppState, r: &Row) -> Shown {
    if let Some(f) = r.figures() {
        return Shown { figures: Some(f), provisional: false, error: None };
    }
    match compute(conn, st, r) {
        Ok(f) => Shown { figures: Some(f), provisional: true, error: None },
        Err(e) => {
            tracing::error!(report = r.id, error = %e, "cannot compute the report's figures");
            Shown {
                figures: None,
                provisional: true,
                error: Some("No se pudieron calcular las cifras; el detalle quedó en el registro del colector.".into()),
            }
        }
    }
}

/// One line of a figures table.
pub struct TotalsLine {
    pub label: &'static str,
    pub received: String,
    pub made: String,
}

fn totals(f: &Figures) -> Vec<TotalsLine> {
    let (r, m) = (&f.received, &f.made);
    let line = |label, a: String, b: String| TotalsLine { label, received: a, made: b };
    vec![
        line("Llamadas", r.calls.to_string(), m.calls.to_string()),
        line("Contestadas", r.answered.to_string(), m.answered.to_string()),
        line("No contestadas", r.no_answer.to_string(), m.no_answer.to_string()),
        line("Ocupado", r.busy.to_string(), m.busy.to_string()),
        line("Fallidas", r.failed.to_string(), m.failed.to_string()),
        line("Tiempo de conversación (total)", duration(r.talk_s), duration(m.talk_s)),
        line("Tiempo de conversación (promedio)", avg_duration(r.avg_talk_s), avg_duration(m.avg_talk_s)),
    ]
}

pub struct QueueLine {
    pub queue: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub timed_out: u64,
    pub service_level: String,
    pub asa: String,
    pub avg_talk: String,
    pub abandon: String,
}

fn queue_lines(f: &Figures) -> Vec<QueueLine> {
    f.queues
        .iter()
        .map(|q| QueueLine {
            queue: q.queue.clone(),
            offered: q.offered,
            answered: q.answered,
            abandoned: q.abandoned,
            timed_out: q.timed_out,
            service_level: percent(q.service_level_pct),
            asa: q.asa_s.map_or("—".into(), avg_duration),
            avg_talk: q.avg_talk_s.map_or("—".into(), avg_duration),
            abandon: percent(q.abandon_rate_pct),
        })
        .collect()
}

/// The figures as the page shows them.
pub struct FiguresView {
    pub totals: Vec<TotalsLine>,
    pub queues: Vec<QueueLine>,
    pub top: Vec<(String, u64, u64)>,
    pub servers: String,
    pub internal: u64,
    pub cdr_rows: u64,
    pub calls: u64,
    pub service_level_s: u32,
    /// `[[day, received, made], ...]` and `[[hour, received, made], ...]` for the charts.
    pub days_json: String,
    pub hours_json: String,
    pub days: Vec<(usize, u64, u64)>,
    pub hours: Vec<(usize, u64, u64)>,
}

fn figures_view(f: &Figures) -> FiguresView {
    let days: Vec<(usize, u64, u64)> = f.by_day.iter().enumerate().map(|(i, (a, b))| (i + 1, *a, *b)).collect();
    let hours: Vec<(usize, u64, u64)> = f.by_hour.iter().enumerate().map(|(i, (a, b))| (i, *a, *b)).collect();
    FiguresView {
        totals: totals(f),
        queues: queue_lines(f),
        top: f.top_destinations.clone(),
        servers: if f.servers.is_empty() { "ninguno".into() } else { f.servers.join(", ") },
        internal: f.internal,
        cdr_rows: f.cdr_rows,
        calls: f.calls,
        service_level_s: f.service_level_s,
        days_json: serde_json::to_string(&days).unwrap_or_default(),
        hours_json: serde_json::to_string(&hours).unwrap_or_default(),
        days,
        hours,
    }
}

/// One step of the history as shown.
pub struct HistoryView {
    pub at: String,
    pub who: String,
    pub kind: String,
    pub label: &'static str,
    pub round: u32,
    pub text: String,
    pub hash: String,
}

fn event_label(kind: &str) -> &'static str {
    match kind {
        "borrador" => "Borrador generado",
        "recalculate" => "Cifras calculadas",
        "outbound" => "Verificación de llamadas salientes",
        "summary" => "Conclusiones anotadas",
        "sample" => "Muestra de grabaciones propuesta",
        "qa_score" => "Grabación evaluada",
        "send" => "Enviado al Jefe de UACT",
        "resend" => "Corregido y enviado de nuevo",
        "return" => "Devuelto con observaciones",
        "approve" => "Aprobado y remitido al jefe de centro",
        "forward" => "Remitido a su jefatura",
        _ => "Paso",
    }
}

fn people(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<String, String>> {
    conn.prepare_cached("SELECT username, full_name FROM users")?
        .query_map([], |r| {
            let (u, f): (String, String) = (r.get(0)?, r.get(1)?);
            Ok((u.clone(), if f.is_empty() { u } else { f }))
        })?
        .collect()
}

fn history(
    st: &AppState,
    events: &[rstore::Event],
    names: &std::collections::HashMap<String, String>,
) -> Vec<HistoryView> {
    events
        .iter()
        .map(|e| HistoryView {
            at: local(st, e.at),
            who: names.get(&e.actor).cloned().unwrap_or_else(|| e.actor.clone()),
            kind: e.kind.clone(),
            label: event_label(&e.kind),
            round: e.round,
            text: e.text.clone(),
            hash: e.figures_hash.clone().unwrap_or_default(),
        })
        .collect()
}

/// Everything a report's page reads, in one connection.
struct Loaded {
    r: Row,
    shown: Shown,
    calls: Vec<QaCall>,
    events: Vec<rstore::Event>,
    rounds: Vec<rstore::Round>,
    names: std::collections::HashMap<String, String>,
}

fn load(conn: &Connection, st: &AppState, id: i64) -> Result<Loaded, WebError> {
    let r = rstore::get(conn, id)?.ok_or_else(|| WebError::NotFound(format!("el informe {id}")))?;
    let shown = shown(conn, st, &r);
    Ok(Loaded {
        calls: rstore::qa_calls(conn, id)?,
        events: rstore::events(conn, id)?,
        rounds: rstore::rounds(conn, id)?,
        names: people(conn)?,
        shown,
        r,
    })
}

/// Loads a report for `c`, as not found when they may not see it.
async fn load_for(st: &AppState, c: &Credentials, id: i64) -> Result<Loaded, WebError> {
    let st2 = st.clone();
    let l = st.db.with(move |conn| Ok(load(conn, &st2, id))).await??;
    may(&who(c), Act::View, Some(l.r.center_id), Some(l.r.state))
        .map_err(|_| WebError::NotFound(format!("el informe {id}")))?;
    Ok(l)
}

fn qa_summary(calls: &[QaCall]) -> Summary {
    Summary::of(calls.len(), calls.iter().filter_map(|c| c.score.as_ref().map(|s| &s.score)))
}

fn qa_summary_text(r: &Row, s: &Summary) -> String {
    if r.qa_proposed_at.is_none() {
        return "La muestra de grabaciones aún no fue propuesta.".into();
    }
    if s.sampled == 0 {
        return "El mes no tuvo llamadas recibidas ni realizadas que muestrear.".into();
    }
    let mut parts = vec![format!("{} llamadas en la muestra, {} evaluadas", s.sampled, s.evaluated)];
    if s.assessable > 0 {
        parts.push(format!("{} de {} cumplen el protocolo", s.passed, s.assessable));
    }
    if s.faltas_graves > 0 {
        parts.push(format!(
            "{} {}",
            s.faltas_graves,
            if s.faltas_graves == 1 { "falta grave" } else { "faltas graves" }
        ));
    }
    if s.evaluated > s.assessable {
        parts.push(format!("{} no evaluables", s.evaluated - s.assessable));
    }
    if let Some(m) = s.mean_percent {
        parts.push(format!("promedio {m:.0} %"));
    }
    format!("{}.", parts.join("; "))
}

fn outbound_text(r: &Row) -> String {
    match r.outbound_ok {
        None => "Aún no registrada.".into(),
        Some(ok) => {
            let word = if ok { "Funciona correctamente" } else { "Falla detectada" };
            if r.outbound_notes.is_empty() { format!("{word}.") } else { format!("{word}: {}", r.outbound_notes) }
        }
    }
}

#[derive(Template)]
#[template(path = "report.html")]
pub struct ReportPage {
    pub me: Me,
    pub id: i64,
    pub title: String,
    pub center: String,
    pub dependencia: String,
    pub period: String,
    pub state: &'static str,
    pub state_word: &'static str,
    pub state_css: &'static str,
    pub timing: String,
    pub timing_css: &'static str,
    pub due: String,
    pub round: u32,
    pub technician: String,
    pub figures: Option<FiguresView>,
    pub provisional: bool,
    pub figures_error: Option<String>,
    pub computed: String,
    pub figures_hash: String,
    pub outbound: String,
    pub outbound_ok: Option<bool>,
    pub outbound_notes: String,
    pub summary: String,
    pub qa: Summary,
    pub qa_text: String,
    pub qa_proposed: bool,
    pub history: Vec<HistoryView>,
    pub rounds: Vec<rstore::Round>,
    pub formulas: &'static [(&'static str, &'static str)],
    pub can_prepare: bool,
    pub can_review: bool,
    pub can_forward: bool,
    pub can_resample: bool,
    pub error: Option<String>,
}

async fn report_page(st: &AppState, c: &Credentials, id: i64, error: Option<String>) -> Result<Response, WebError> {
    let l = load_for(st, c, id).await?;
    let today = today(st);
    let w = who(c);
    let r = &l.r;
    let t = r.timing(&st.workflow.calendar, today);
    let qa = qa_summary(&l.calls);
    let open = wf::check_prepare(&r.workflow(), &w).is_ok();
    let page = ReportPage {
        me: Me::from(c),
        id,
        title: r.title(),
        center: r.center.clone(),
        dependencia: r.dependencia.clone(),
        period: format!("{} {}", month_name(r.month), r.year),
        state: r.state.label(),
        state_word: r.state.as_str(),
        state_css: r.state.css(),
        timing: t.label(r.due_on),
        timing_css: t.css(),
        due: dmy(r.due_on),
        round: r.round,
        technician: r.technician.clone().unwrap_or_else(|| "—".into()),
        figures: l.shown.figures.as_ref().map(figures_view),
        provisional: l.shown.provisional,
        figures_error: l.shown.error.clone(),
        computed: r.figures_at.map(|t| local(st, t)).unwrap_or_default(),
        figures_hash: r.figures_hash.as_deref().map(crate::maintenance::short_hash).unwrap_or_default(),
        outbound: outbound_text(r),
        outbound_ok: r.outbound_ok,
        outbound_notes: r.outbound_notes.clone(),
        summary: r.summary.clone(),
        qa_text: qa_summary_text(r, &qa),
        qa,
        qa_proposed: r.qa_proposed_at.is_some(),
        history: history(st, &l.events, &l.names),
        rounds: l.rounds.clone(),
        formulas: FORMULAS,
        can_prepare: open,
        can_review: r.state == State::Enviado && may(&w, Act::Review, Some(r.center_id), Some(r.state)).is_ok(),
        can_forward: r.state == State::Aprobado && may(&w, Act::Forward, Some(r.center_id), Some(r.state)).is_ok(),
        can_resample: open && !l.calls.iter().any(|q| q.score.is_some()),
        error,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /reportes/{id}`.
pub async fn report(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    report_page(&st, &c, id, None).await
}

/// A refusal the user can act on (status, message), or an error for the error page.
fn refusal(e: WebError) -> Result<(StatusCode, String), WebError> {
    match e {
        WebError::Forbidden(m) => Ok((StatusCode::FORBIDDEN, m)),
        WebError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        WebError::Invalid(m) | WebError::BadRequest(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        other => Err(other),
    }
}

/// Reads the report inside the writer's transaction and checks that `c` may see it.
fn report_in(tx: &Connection, w: &Who, id: i64) -> Result<Row, WebError> {
    let r = rstore::get(tx, id)?.ok_or_else(|| WebError::NotFound(format!("el informe {id}")))?;
    may(w, Act::View, Some(r.center_id), Some(r.state)).map_err(|_| WebError::NotFound(format!("el informe {id}")))?;
    Ok(r)
}

/// Checks and applies an action in one writer transaction.
async fn act(st: &AppState, c: &Credentials, id: i64, f: Fields) -> Result<(), WebError> {
    let (user, st2) = (c.user.clone(), st.clone());
    st.writer
        .run(move |tx| {
            let w = Who::from(&user);
            let r = report_in(tx, &w, id)?;
            let now = now_ms();
            let actor = (user.id, user.username.as_str());
            let wr = r.workflow();
            match field(&f, "accion") {
                "recalcular" => {
                    wf::check_prepare(&wr, &w).map_err(denied)?;
                    let figures = compute(tx, &st2, &r)?;
                    rstore::store_figures(tx, &r, &figures, actor, now)?;
                }
                "salientes" => {
                    let ok = match field(&f, "resultado") {
                        "ok" => Some(true),
                        "falla" => Some(false),
                        _ => None,
                    };
                    let change = wf::verify_outbound(&wr, &w, ok, field(&f, "notas")).map_err(denied)?;
                    rstore::save(tx, &r, &change, actor, now, None)?;
                }
                "conclusiones" => {
                    wf::check_prepare(&wr, &w).map_err(denied)?;
                    let text = field(&f, "texto").replace("\r\n", "\n").trim().to_string();
                    if text == r.summary {
                        return Err(WebError::Invalid("las conclusiones no cambiaron".into()));
                    }
                    rstore::set_summary(tx, &r, &text, actor, now)?;
                }
                "muestra" => {
                    wf::check_prepare(&wr, &w).map_err(denied)?;
                    if rstore::any_scored(tx, id)? {
                        return Err(WebError::Conflict(
                            "la muestra ya tiene grabaciones evaluadas: no se puede reemplazar".into(),
                        ));
                    }
                    let all = rstore::candidates(tx, r.center_id, r.year, r.month, &st2.workflow.reports)?;
                    let picked = qa::sample(&all, st2.workflow.reports.qa.sample_size, r.qa_seed as u64);
                    let chosen: Vec<qa::Candidate> = picked.into_iter().map(|i| all[i].clone()).collect();
                    rstore::replace_sample(tx, &r, &chosen, actor, now)?;
                }
                "enviar" => {
                    // The figures the technician reviewed are the ones sent; computed now if none.
                    let r = if r.figures.is_none() && wf::check_prepare(&wr, &w).is_ok() {
                        let figures = compute(tx, &st2, &r)?;
                        rstore::store_figures(tx, &r, &figures, actor, now)?;
                        rstore::get(tx, id)?.ok_or_else(|| WebError::NotFound(format!("el informe {id}")))?
                    } else {
                        r
                    };
                    let change = wf::send(&r.workflow(), &w, now).map_err(denied)?;
                    let figures = r.figures.clone().unwrap_or_default();
                    let hash = rstore::hash_of(&figures);
                    let calls = rstore::qa_calls(tx, id)?;
                    let content = rstore::RoundContent {
                        outbound_ok: r.outbound_ok,
                        outbound_notes: r.outbound_notes.clone(),
                        summary: r.summary.clone(),
                        qa: qa_summary(&calls),
                    };
                    rstore::insert_round(tx, id, change.report.round, now, actor.1, &figures, &hash, &content)?;
                    rstore::save(tx, &r, &change, actor, now, Some(&hash))?;
                }
                "devolver" => {
                    let change = wf::give_back(&wr, &w, field(&f, "texto")).map_err(denied)?;
                    rstore::save(tx, &r, &change, actor, now, None)?;
                }
                "aprobar" => {
                    let change = wf::approve(&wr, &w, field(&f, "nota")).map_err(denied)?;
                    rstore::save(tx, &r, &change, actor, now, r.figures_hash.as_deref())?;
                }
                "remitir" => {
                    let change = wf::forward(&wr, &w, field(&f, "nota")).map_err(denied)?;
                    rstore::save(tx, &r, &change, actor, now, r.figures_hash.as_deref())?;
                }
                other => return Err(WebError::Invalid(format!("acción desconocida «{other}»"))),
            }
            Ok(())
        })
        .await
}

/// `POST /reportes/{id}/accion`: `accion` = recalcular | salientes (`resultado` ok/falla, `notas`)
/// | conclusiones (`texto`) | muestra | enviar | devolver (`texto`) | aprobar (`nota`) | remitir
/// (`nota`).
pub async fn action(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    let next =
        if field(&f, "accion") == "muestra" { format!("/reportes/{id}/calidad") } else { format!("/reportes/{id}") };
    match act(&st, &c, id, f).await {
        Ok(()) => Ok(Redirect::to(&next).into_response()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let mut page = report_page(&st, &c, id, Some(message)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

// ---- QA ----

/// A sampled call as the QA pages show it.
pub struct CallView {
    pub id: i64,
    pub n: i64,
    pub when: String,
    pub direction: &'static str,
    pub agent: String,
    pub src: String,
    pub dst: String,
    pub disposition: String,
    pub talk: String,
    pub uniqueid: String,
    pub recording: String,
    /// `/grabaciones/{agent}/{uniqueid}`.
    pub audio: String,
    pub verdict: Option<(&'static str, &'static str)>,
    pub points: String,
    pub observations: String,
    pub by: String,
    pub at: String,
}

fn audio_src(agent: &str, uniqueid: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!("/grabaciones/{}/{}", enc(agent), enc(uniqueid))
}

fn call_view(st: &AppState, q: &QaCall, names: &std::collections::HashMap<String, String>) -> CallView {
    let s = q.score.as_ref();
    CallView {
        id: q.id,
        n: q.position,
        when: calldate(&q.call.calldate),
        direction: q.call.direction.label(),
        agent: q.call.agent_id.clone(),
        src: q.call.src.clone(),
        dst: q.call.dst.clone(),
        disposition: q.call.disposition.clone(),
        talk: duration(q.call.billsec.max(0) as u64),
        uniqueid: q.call.uniqueid.clone(),
        recording: q.call.recordingfile.clone(),
        audio: audio_src(&q.call.agent_id, &q.call.uniqueid),
        verdict: s.map(|s| (s.score.verdict(), s.score.css())),
        points: s
            .filter(|s| s.score.assessable)
            .map(|s| {
                if s.score.falta_grave {
                    format!("0 % (anulada; {} / {} puntos)", s.score.points, s.score.max_points)
                } else {
                    format!("{} / {} ({:.0} %)", s.score.points, s.score.max_points, s.score.percent())
                }
            })
            .unwrap_or_default(),
        observations: s.map(|s| s.score.observations.clone()).unwrap_or_default(),
        by: s.map(|s| names.get(&s.actor).cloned().unwrap_or_else(|| s.actor.clone())).unwrap_or_default(),
        at: s.map(|s| local(st, s.at)).unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "report_qa.html")]
pub struct QaPage {
    pub me: Me,
    pub id: i64,
    pub title: String,
    pub state: &'static str,
    pub state_css: &'static str,
    pub calls: Vec<CallView>,
    pub qa_text: String,
    pub proposed: bool,
    pub sample_size: usize,
    pub items: Vec<qa::Item>,
    pub pass_percent: u32,
    pub can_prepare: bool,
    pub can_resample: bool,
    pub can_listen: bool,
}

/// Who may play recordings (as `GET /grabaciones/...` decides): UACT's chief and technicians, and
/// a center chief (for their own centers, the only reports they see).
fn can_listen(c: &Credentials) -> bool {
    matches!(c.user.role, Role::JefeUact | Role::Tecnico | Role::JefeCentro)
}

/// `GET /reportes/{id}/calidad`: the sample of recordings, each with its player and evaluation.
pub async fn qa_list(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let l = load_for(&st, &c, id).await?;
    let open = wf::check_prepare(&l.r.workflow(), &who(&c)).is_ok();
    let s = &st.workflow.reports.qa;
    let page = QaPage {
        me: Me::from(&c),
        id,
        title: l.r.title(),
        state: l.r.state.label(),
        state_css: l.r.state.css(),
        calls: l.calls.iter().map(|q| call_view(&st, q, &l.names)).collect(),
        qa_text: qa_summary_text(&l.r, &qa_summary(&l.calls)),
        proposed: l.r.qa_proposed_at.is_some(),
        sample_size: s.sample_size,
        items: s.items.clone(),
        pass_percent: s.pass_percent,
        can_prepare: open,
        can_resample: open && !l.calls.iter().any(|q| q.score.is_some()),
        can_listen: can_listen(&c),
    };
    Ok(Html(page.render()?).into_response())
}

/// One item of the scorecard form.
pub struct ItemView {
    pub key: String,
    pub label: String,
    pub points: u32,
    pub falta_grave: bool,
    pub choices: Vec<(&'static str, &'static str)>,
    pub chosen: String,
}

#[derive(Template)]
#[template(path = "report_call.html")]
pub struct CallPage {
    pub me: Me,
    pub id: i64,
    pub title: String,
    pub c: CallView,
    pub rows: Vec<rstore::CdrRow>,
    pub items: Vec<ItemView>,
    pub lines: Vec<(String, u32, bool, &'static str)>,
    pub pass_percent: u32,
    pub can_score: bool,
    pub can_listen: bool,
    pub scored: bool,
    pub observations: String,
    pub prev: Option<i64>,
    pub next: Option<i64>,
    pub error: Option<String>,
}

async fn call_page(
    st: &AppState,
    c: &Credentials,
    id: i64,
    qid: i64,
    posted: Option<&Fields>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let l = load_for(st, c, id).await?;
    let Some(pos) = l.calls.iter().position(|q| q.id == qid) else {
        return Err(WebError::NotFound(format!("la llamada {qid} de la muestra del informe {id}")));
    };
    let q = l.calls[pos].clone();
    let (server, call_id) = (q.call.server_id, q.call.call_id.clone());
    let rows = st.db.with(move |conn| rstore::cdr_rows(conn, server, &call_id)).await?;
    let s = &st.workflow.reports.qa;
    let scored = q.score.is_some();
    let page = CallPage {
        me: Me::from(c),
        id,
        title: l.r.title(),
        c: call_view(st, &q, &l.names),
        rows,
        items: s
            .items
            .iter()
            .map(|it| ItemView {
                key: it.key.clone(),
                label: it.label.clone(),
                points: it.points,
                falta_grave: it.falta_grave,
                choices: Mark::choices(it.falta_grave).iter().map(|m| (m.as_str(), m.label())).collect(),
                chosen: posted.map(|f| field(f, &it.key).to_string()).unwrap_or_default(),
            })
            .collect(),
        lines: q
            .score
            .as_ref()
            .map(|s| s.score.lines.iter().map(|l| (l.label.clone(), l.points, l.falta_grave, l.mark.label())).collect())
            .unwrap_or_default(),
        pass_percent: s.pass_percent,
        can_score: !scored && wf::check_prepare(&l.r.workflow(), &who(c)).is_ok(),
        can_listen: can_listen(c),
        scored,
        observations: posted.map(|f| field(f, "observaciones").to_string()).unwrap_or_default(),
        prev: pos.checked_sub(1).map(|p| l.calls[p].id),
        next: l.calls.get(pos + 1).map(|q| q.id),
        error,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /reportes/{id}/calidad/{call}`: one sampled call: its recording, its CDR rows, its
/// scorecard (to fill, or as submitted).
pub async fn qa_call(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path((id, qid)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    call_page(&st, &c, id, qid, None, None).await
}

/// `POST /reportes/{id}/calidad/{call}`: submits the evaluation (`evaluable` = 1 with a mark per
/// item `i0`, `i1`..., or 0 with the reason), with `observaciones`. Final: it cannot be changed.
pub async fn score(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path((id, qid)): Path<(i64, i64)>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    let (user, settings, posted) = (c.user.clone(), st.workflow.reports.qa.clone(), f.clone());
    let done = st
        .writer
        .run(move |tx| {
            let w = Who::from(&user);
            let r = report_in(tx, &w, id)?;
            wf::check_prepare(&r.workflow(), &w).map_err(denied)?;
            let calls = rstore::qa_calls(tx, id)?;
            let pos = calls
                .iter()
                .position(|q| q.id == qid)
                .ok_or_else(|| WebError::NotFound(format!("la llamada {qid} de la muestra del informe {id}")))?;
            let call = &calls[pos];
            if call.score.is_some() {
                return Err(WebError::Conflict("esta llamada ya fue evaluada: la evaluación no se modifica".into()));
            }
            let s: Score = if field(&f, "evaluable") == "0" {
                qa::not_assessable(field(&f, "observaciones")).map_err(WebError::Invalid)?
            } else {
                let marks: Vec<(String, String)> = f.iter().filter(|(k, _)| k.starts_with('i')).cloned().collect();
                qa::score(&settings, &marks, field(&f, "observaciones")).map_err(WebError::Invalid)?
            };
            rstore::insert_score(tx, &r, call, &s, (user.id, &user.username), now_ms())?;
            // The next call still to evaluate, after this one (then from the start).
            let next = calls[pos + 1..].iter().chain(&calls[..pos]).find(|q| q.score.is_none()).map(|q| q.id);
            Ok(next)
        })
        .await;
    match done {
        Ok(Some(next)) => Ok(Redirect::to(&format!("/reportes/{id}/calidad/{next}")).into_response()),
        Ok(None) => Ok(Redirect::to(&format!("/reportes/{id}/calidad")).into_response()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            let mut page = call_page(&st, &c, id, qid, Some(&posted), Some(message)).await?;
            *page.status_mut() = status;
            Ok(page)
        }
    }
}

// ---- Exports ----

fn csv_field(s: &str) -> String {
    // A leading = + - @ would be a formula in a spreadsheet: quote it with a leading apostrophe.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s }
}

fn csv_line(out: &mut String, fields: &[String]) {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&line.join(","));
    out.push('\n');
}

fn attachment(name: &str, content_type: &str, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        body,
    )
        .into_response()
}

fn file_stem(r: &Row) -> String {
    let center: String = r
        .center
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            'ñ' => 'n',
            c if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    format!("informe-{}-{:04}-{:02}", center.trim_matches('-'), r.year, r.month)
}

/// The figures as tidy CSV: `seccion,concepto,serie,valor`, one value per line.
pub fn figures_csv(r: &Row, f: &Figures, provisional: bool) -> String {
    let mut out = String::from("seccion,concepto,serie,valor\n");
    let mut put = |s: &str, c: &str, serie: &str, v: String| csv_line(&mut out, &[s.into(), c.into(), serie.into(), v]);
    put("informe", "centro", "", r.center.clone());
    put("informe", "dependencia", "", r.dependencia.clone());
    put("informe", "anio", "", r.year.to_string());
    put("informe", "mes", "", r.month.to_string());
    put("informe", "estado", "", r.state.as_str().into());
    put("informe", "ronda", "", r.round.to_string());
    put("informe", "cifras", "", if provisional { "provisionales (sin guardar)".into() } else { "guardadas".into() });
    put("informe", "huella_sha256", "", r.figures_hash.as_deref().map(crate::auth::hex).unwrap_or_default());
    put("informe", "servidores", "", f.servers.join(" "));
    put("informe", "filas_cdr", "", f.cdr_rows.to_string());
    put("informe", "llamadas", "", f.calls.to_string());
    put("informe", "internas", "", f.internal.to_string());
    for (serie, t) in [("recibidas", &f.received), ("realizadas", &f.made)] {
        put("totales", "llamadas", serie, t.calls.to_string());
        put("totales", "contestadas", serie, t.answered.to_string());
        put("totales", "no_contestadas", serie, t.no_answer.to_string());
        put("totales", "ocupado", serie, t.busy.to_string());
        put("totales", "fallidas", serie, t.failed.to_string());
        put("totales", "conversacion_s", serie, t.talk_s.to_string());
        put("totales", "conversacion_promedio_s", serie, format!("{:.1}", t.avg_talk_s));
    }
    for (i, (a, b)) in f.by_day.iter().enumerate() {
        let day = format!("{:04}-{:02}-{:02}", r.year, r.month, i + 1);
        put("por_dia", &day, "recibidas", a.to_string());
        put("por_dia", &day, "realizadas", b.to_string());
    }
    for (h, (a, b)) in f.by_hour.iter().enumerate() {
        let hour = format!("{h:02}");
        put("por_hora", &hour, "recibidas", a.to_string());
        put("por_hora", &hour, "realizadas", b.to_string());
    }
    for q in &f.queues {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        put("cola", "ofrecidas", &q.queue, q.offered.to_string());
        put("cola", "contestadas", &q.queue, q.answered.to_string());
        put("cola", "contestadas_dentro_umbral", &q.queue, q.answered_within.to_string());
        put("cola", "abandonadas", &q.queue, q.abandoned.to_string());
        put("cola", "tiempo_agotado", &q.queue, q.timed_out.to_string());
        put("cola", "nivel_servicio_pct", &q.queue, opt(q.service_level_pct));
        put("cola", "espera_promedio_s", &q.queue, opt(q.asa_s));
        put("cola", "conversacion_promedio_s", &q.queue, opt(q.avg_talk_s));
        put("cola", "abandono_pct", &q.queue, opt(q.abandon_rate_pct));
        put("cola", "umbral_nivel_servicio_s", &q.queue, f.service_level_s.to_string());
    }
    for (n, calls, answered) in &f.top_destinations {
        put("destinos", n, "llamadas", calls.to_string());
        put("destinos", n, "contestadas", answered.to_string());
    }
    out
}

/// `GET /reportes/{id}/cifras.csv`.
pub async fn figures_export(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let l = load_for(&st, &c, id).await?;
    let Some(f) = &l.shown.figures else {
        return Err(WebError::Internal(format!("report {id}: no figures to export")));
    };
    let csv = figures_csv(&l.r, f, l.shown.provisional);
    Ok(attachment(&format!("{}-cifras.csv", file_stem(&l.r)), "text/csv; charset=utf-8", csv.into_bytes()))
}

/// The QA observations as CSV, one line per sampled call.
pub fn qa_csv(st: &AppState, calls: &[QaCall]) -> String {
    let mut out = String::from(
        "n,fecha,tipo,servidor,llamada,uniqueid,origen,destino,estado_llamada,conversacion_s,grabacion,\
         evaluada_por,evaluada_el,resultado,puntos,maximo,porcentaje,falta_grave,incumplimientos,observaciones\n",
    );
    for q in calls {
        let s = q.score.as_ref();
        let breaches = s
            .map(|s| {
                s.score
                    .lines
                    .iter()
                    .filter(|l| matches!(l.mark, Mark::NoCumple | Mark::Ocurrio))
                    .map(|l| l.label.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        csv_line(
            &mut out,
            &[
                q.position.to_string(),
                q.call.calldate.clone(),
                q.call.direction.as_str().into(),
                q.call.agent_id.clone(),
                q.call.call_id.clone(),
                q.call.uniqueid.clone(),
                q.call.src.clone(),
                q.call.dst.clone(),
                q.call.disposition.clone(),
                q.call.billsec.to_string(),
                q.call.recordingfile.clone(),
                s.map(|s| s.actor.clone()).unwrap_or_default(),
                s.map(|s| local(st, s.at)).unwrap_or_default(),
                s.map_or("sin evaluar", |s| s.score.verdict()).into(),
                s.filter(|s| s.score.assessable).map(|s| s.score.points.to_string()).unwrap_or_default(),
                s.filter(|s| s.score.assessable).map(|s| s.score.max_points.to_string()).unwrap_or_default(),
                s.filter(|s| s.score.assessable).map(|s| format!("{:.1}", s.score.percent())).unwrap_or_default(),
                s.map(|s| if s.score.falta_grave { "si" } else { "no" }).unwrap_or_default().into(),
                breaches,
                s.map(|s| s.score.observations.clone()).unwrap_or_default(),
            ],
        );
    }
    out
}

/// `GET /reportes/{id}/calidad.csv`.
pub async fn qa_export(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let l = load_for(&st, &c, id).await?;
    let csv = qa_csv(&st, &l.calls);
    Ok(attachment(&format!("{}-calidad.csv", file_stem(&l.r)), "text/csv; charset=utf-8", csv.into_bytes()))
}

/// `GET /reportes/{id}/informe.pdf`: the report as a PDF drawn by the server.
pub async fn pdf_export(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let l = load_for(&st, &c, id).await?;
    let Some(f) = l.shown.figures.clone() else {
        return Err(WebError::Internal(format!("report {id}: no figures for the PDF")));
    };
    let r = &l.r;
    let t = r.timing(&st.workflow.calendar, today(&st));
    let qa = qa_summary(&l.calls);
    let names = &l.names;
    let qa_lines: Vec<pdf::QaLine> = l
        .calls
        .iter()
        .map(|q| {
            let v = call_view(&st, q, names);
            pdf::QaLine {
                n: q.position,
                when: v.when,
                direction: v.direction.to_string(),
                parties: format!("{} → {}", v.src, v.dst),
                verdict: v.verdict.map_or("Sin evaluar".to_string(), |(w, _)| w.to_string()),
                points: v.points,
                observations: v.observations,
                flagged: q.score.as_ref().is_some_and(|s| s.score.assessable && !s.score.passed),
            }
        })
        .collect();
    let history: Vec<pdf::HistoryLine> = history(&st, &l.events, names)
        .into_iter()
        .filter(|h| !matches!(h.kind.as_str(), "qa_score"))
        .map(|h| pdf::HistoryLine {
            when: h.at,
            who: h.who,
            what: if h.round > 0 { format!("{} (ronda {})", h.label, h.round) } else { h.label.to_string() },
            text: h.text,
        })
        .collect();
    let provisional = l.shown.provisional;
    let (center, dependencia) = (r.center.clone(), r.dependencia.clone());
    let period = format!("{} de {}", month_name(r.month), r.year);
    let (state, round) = (r.state.label().to_string(), r.round);
    let due = format!("{} · {}", dmy(r.due_on), t.label(r.due_on));
    let computed_at = if provisional {
        format!("{} (provisionales: aún no guardadas)", st.workflow.calendar.format_local(Utc::now()))
    } else {
        r.figures_at.map(|t| local(&st, t)).unwrap_or_default()
    };
    let figures_hash = r.figures_hash.as_deref().map(crate::auth::hex).unwrap_or_else(|| "—".into());
    let (outbound, summary, qa_summary) = (outbound_text(r), r.summary.clone(), qa_summary_text(r, &qa));
    let generated = format!("{} por {}", st.workflow.calendar.format_local(Utc::now()), c.user.display());
    let bytes = tokio::task::spawn_blocking(move || {
        pdf::render(&pdf::Doc {
            center,
            dependencia,
            period,
            state,
            round,
            due,
            figures: &f,
            computed_at,
            figures_hash,
            outbound,
            summary,
            qa_summary,
            qa: qa_lines,
            history,
            formulas: FORMULAS,
            generated,
        })
    })
    .await
    .map_err(|e| WebError::Internal(format!("pdf task failed: {e}")))?
    .map_err(|e| WebError::Internal(format!("report {id}: {e}")))?;
    Ok(attachment(&format!("{}.pdf", file_stem(r)), "application/pdf", bytes))
}

// ---- JSON API ----

#[derive(Serialize)]
struct ApiReport {
    id: i64,
    center_id: i64,
    center: String,
    dependencia: String,
    year: i32,
    month: u32,
    state: State,
    state_label: &'static str,
    round: u32,
    due_on: NaiveDate,
    timing: Timing,
    timing_label: String,
    submitted_at: Option<i64>,
    approved_at: Option<i64>,
    forwarded_at: Option<i64>,
    qa_sampled: usize,
    qa_evaluated: usize,
    url: String,
}

fn api_report(st: &AppState, r: &Row, today: NaiveDate) -> ApiReport {
    let t = r.timing(&st.workflow.calendar, today);
    ApiReport {
        id: r.id,
        center_id: r.center_id,
        center: r.center.clone(),
        dependencia: r.dependencia.clone(),
        year: r.year,
        month: r.month,
        state: r.state,
        state_label: r.state.label(),
        round: r.round,
        due_on: r.due_on,
        timing: t,
        timing_label: t.label(r.due_on),
        submitted_at: r.submitted_at,
        approved_at: r.approved_at,
        forwarded_at: r.forwarded_at,
        qa_sampled: r.qa_sampled,
        qa_evaluated: r.qa_evaluated,
        url: format!("/reportes/{}", r.id),
    }
}

/// `GET /api/v1/reports?anio=&mes=&centro=&estado=`.
pub async fn api_list(
    AxState(st): AxState<AppState>,
    ApiUser(c): ApiUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let f = q.filter(&c);
    let rows = st.db.with(move |conn| rstore::list(conn, &f)).await?;
    let today = today(&st);
    let items: Vec<ApiReport> = rows.iter().map(|r| api_report(&st, r, today)).collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}

/// `GET /api/v1/reports/{id}`: the report, its figures (stored or provisional), QA and history.
pub async fn api_get(
    AxState(st): AxState<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let Ok(l) = load_for(&st, &c, id).await else {
        return Ok((StatusCode::NOT_FOUND, Json(serde_json::json!({ "error": format!("no existe el informe {id}") })))
            .into_response());
    };
    let today = today(&st);
    Ok(Json(serde_json::json!({
        "report": api_report(&st, &l.r, today),
        "figures": l.shown.figures,
        "figures_provisional": l.shown.provisional,
        "figures_sha256": l.r.figures_hash.as_deref().map(crate::auth::hex),
        "outbound": { "ok": l.r.outbound_ok, "notes": l.r.outbound_notes },
        "summary": l.r.summary,
        "qa": { "summary": qa_summary(&l.calls), "calls": l.calls },
        "rounds": l.rounds,
        "history": l.events,
        "formulas": FORMULAS.iter().map(|(k, v)| serde_json::json!({ "name": k, "formula": v })).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `GET /static/reports.js`: the report page's charts (uPlot).
pub async fn charts_js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/reports.js"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_url_escapes_the_agent_and_the_uniqueid() {
        assert_eq!(audio_src("pbx-renta", "1764000000.12"), "/grabaciones/pbx-renta/1764000000.12");
        assert_eq!(audio_src("pbx/../x", "a b"), "/grabaciones/pbx%2F..%2Fx/a%20b");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_field("Renta, San Salvador"), "\"Renta, San Salvador\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
        assert_eq!(calldate("2026-11-03 09:15:00"), "03/11/2026 09:15:00");
    }
}
