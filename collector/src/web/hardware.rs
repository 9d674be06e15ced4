//! Stage 3 on the web: providers and contracts (`/proveedores`), and a provider's visit
//! (`/mantenimiento/visitas/{id}`) with its form, the technician's signature, the chief's
//! observations and stamp, the date adjustment and a printable version.
//!
//! Invariants:
//! - Who may do what is [`crate::maintenance::may`] and the pure transitions of
//!   [`crate::maintenance::hardware`], called on the server for every action, whatever buttons the
//!   page showed. A refusal is 403 (role), 409 (state) or 422 (data), shown on the page.
//! - Every action is one writer transaction: the visit, its history event, the audit row, the
//!   stamp, the maintenance window and the notifications commit together.

use super::auth::{Credentials, PageUser, check_csrf};
use super::pages::Me;
use super::{AppState, WebError};
use crate::auth::Role;
use crate::calendar::Calendar;
use crate::maintenance::contracts::{self as cstore, ContractError, ContractInput, Expiry, Provider, ProviderInput};
use crate::maintenance::hardware::{self as hw, Check, Checklist, Denied, StampStatus, Visit, VisitForm};
use crate::maintenance::store::{self as mstore, Instance};
use crate::maintenance::{Act, Kind, State, Who, may, short_hash};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State as AxState};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Datelike;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;

/// A form's fields as posted, in order (a multi-select repeats its name).
type Fields = Vec<(String, String)>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

fn fields<'a>(f: &'a Fields, name: &str) -> impl Iterator<Item = &'a str> {
    f.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn denied(d: Denied) -> WebError {
    match d {
        Denied::NotAllowed(m) => WebError::Forbidden(m),
        Denied::WrongState(m) => WebError::Conflict(m),
        Denied::Invalid(m) => WebError::Invalid(m),
    }
}

/// A refusal the user can act on, as its status and Spanish message, to show on the page they came
/// from; any other error goes on to the error page.
fn refusal(e: WebError) -> Result<(StatusCode, String), WebError> {
    match e {
        WebError::Forbidden(m) => Ok((StatusCode::FORBIDDEN, m)),
        WebError::Conflict(m) => Ok((StatusCode::CONFLICT, m)),
        WebError::Invalid(m) | WebError::BadRequest(m) => Ok((StatusCode::UNPROCESSABLE_ENTITY, m)),
        other => Err(other),
    }
}

fn contract_error(e: ContractError) -> WebError {
    match e {
        ContractError::Invalid(m) => WebError::Invalid(m),
        ContractError::Missing(what) => WebError::NotFound(what),
        ContractError::Sqlite(e) => WebError::Sqlite(e),
    }
}

fn utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn dmy(d: NaiveDate) -> String {
    d.format("%d/%m/%Y").to_string()
}

/// Everyone in UACT sees providers and contracts (and the admin and the director); a call-center
/// chief does not.
fn require_uact(c: &Credentials) -> Result<(), WebError> {
    if c.user.role == Role::JefeCentro {
        return Err(WebError::Forbidden("los proveedores y contratos los administra la UACT".into()));
    }
    Ok(())
}

fn can_manage(c: &Credentials) -> bool {
    may(&Who::from(&c.user), Act::Plan, None, None).is_ok()
}

fn require_manage(c: &Credentials) -> Result<(), WebError> {
    if !can_manage(c) {
        return Err(WebError::Forbidden("solo el Jefe de UACT registra y edita proveedores y contratos".into()));
    }
    Ok(())
}

// ---- Providers and contracts ----

/// A server for the contract form's multi-select.
pub struct ServerOption {
    pub id: i64,
    pub agent_id: String,
    pub center: String,
}

fn server_options(conn: &Connection) -> rusqlite::Result<Vec<ServerOption>> {
    conn.prepare_cached(
        "SELECT s.id, s.agent_id, COALESCE(c.name, '') FROM servers s LEFT JOIN centers c ON c.id = s.center_id
         ORDER BY s.agent_id",
    )?
    .query_map([], |r| Ok(ServerOption { id: r.get(0)?, agent_id: r.get(1)?, center: r.get(2)? }))?
    .collect()
}

/// A contract as the list shows it.
pub struct ContractRow {
    pub id: i64,
    pub number: String,
    pub provider: String,
    pub starts: String,
    pub ends: String,
    pub period: String,
    pub servers: String,
    pub notes: String,
    /// "vence en N días" / "vencido".
    pub flag: Option<String>,
    pub flag_css: &'static str,
}

fn contract_row(c: &cstore::Contract, today: NaiveDate) -> ContractRow {
    let expiry = c.expiry(today);
    ContractRow {
        id: c.id,
        number: c.number.clone(),
        provider: c.provider.clone(),
        starts: dmy(c.starts_on),
        ends: dmy(c.ends_on),
        period: match c.period_months {
            1 => "cada mes".into(),
            n => format!("cada {n} meses"),
        },
        servers: if c.servers.is_empty() {
            "—".into()
        } else {
            c.servers.iter().map(|s| s.1.as_str()).collect::<Vec<_>>().join(", ")
        },
        notes: c.notes.clone(),
        flag: expiry.label(),
        flag_css: if expiry == Expiry::Ended { "crit" } else { "warn" },
    }
}

/// The contract form's values (blank, as stored, or as posted back with an error).
#[derive(Debug, Clone, Default)]
pub struct ContractDraft {
    pub provider_id: Option<i64>,
    pub number: String,
    pub starts_on: String,
    pub ends_on: String,
    pub period: String,
    pub notes: String,
    pub servers: Vec<i64>,
}

impl ContractDraft {
    fn from_fields(f: &Fields) -> Self {
        ContractDraft {
            provider_id: field(f, "proveedor").trim().parse().ok(),
            number: field(f, "numero").to_string(),
            starts_on: field(f, "inicio").to_string(),
            ends_on: field(f, "fin").to_string(),
            period: field(f, "periodo").to_string(),
            notes: field(f, "notas").to_string(),
            servers: fields(f, "servidores").filter_map(|s| s.trim().parse().ok()).collect(),
        }
    }

    fn of(c: &cstore::Contract) -> Self {
        ContractDraft {
            provider_id: Some(c.provider_id),
            number: c.number.clone(),
            starts_on: c.starts_on.to_string(),
            ends_on: c.ends_on.to_string(),
            period: c.period_months.to_string(),
            notes: c.notes.clone(),
            servers: c.servers.iter().map(|s| s.0).collect(),
        }
    }

    fn input(&self) -> ContractInput {
        ContractInput {
            provider_id: self.provider_id,
            number: self.number.clone(),
            starts_on: self.starts_on.clone(),
            ends_on: self.ends_on.clone(),
            period_months: self.period.clone(),
            notes: self.notes.clone(),
            servers: self.servers.clone(),
        }
    }

    fn covers(&self, server: &i64) -> bool {
        self.servers.contains(server)
    }

    fn is_provider(&self, id: &i64) -> bool {
        self.provider_id == Some(*id)
    }
}

fn provider_input(f: &Fields) -> ProviderInput {
    ProviderInput {
        name: field(f, "nombre").to_string(),
        contact: field(f, "contacto").to_string(),
        phone: field(f, "telefono").to_string(),
        email: field(f, "correo").to_string(),
    }
}

#[derive(Template)]
#[template(path = "providers.html")]
pub struct ProvidersPage {
    pub me: Me,
    pub providers: Vec<Provider>,
    pub contracts: Vec<ContractRow>,
    pub servers: Vec<ServerOption>,
    pub can_edit: bool,
    pub provider_draft: ProviderInput,
    pub contract_draft: ContractDraft,
    pub error: Option<String>,
}

fn today(st: &AppState) -> NaiveDate {
    st.workflow.calendar.local_date(Utc::now())
}

async fn providers_page(
    st: &AppState,
    c: &Credentials,
    provider_draft: ProviderInput,
    contract_draft: ContractDraft,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    require_uact(c)?;
    let today = today(st);
    let (providers, contracts, servers) = st
        .db
        .with(move |conn| {
            let contracts = cstore::contracts(conn)?.iter().map(|k| contract_row(k, today)).collect();
            Ok((cstore::providers(conn)?, contracts, server_options(conn)?))
        })
        .await?;
    let page = ProvidersPage {
        me: Me::from(c),
        providers,
        contracts,
        servers,
        can_edit: can_manage(c),
        provider_draft,
        contract_draft,
        error,
    };
    Ok(Html(page.render()?))
}

pub async fn providers(AxState(st): AxState<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    providers_page(&st, &c, ProviderInput::default(), ContractDraft::default(), None).await
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub async fn create_provider(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    require_manage(&c)?;
    let (actor, input) = (c.user.username.clone(), provider_input(&f));
    let draft = input.clone();
    let done =
        st.writer.run(move |tx| cstore::create_provider(tx, &actor, now_ms(), &input).map_err(contract_error)).await;
    match done {
        Ok(_) => Ok(Redirect::to("/proveedores").into_response()),
        Err(e) => {
            let (status, msg) = refusal(e)?;
            Ok((status, providers_page(&st, &c, draft, ContractDraft::default(), Some(msg)).await?).into_response())
        }
    }
}

pub async fn create_contract(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    require_manage(&c)?;
    let (actor, draft) = (c.user.username.clone(), ContractDraft::from_fields(&f));
    let input = draft.input();
    let done =
        st.writer.run(move |tx| cstore::create_contract(tx, &actor, now_ms(), &input).map_err(contract_error)).await;
    match done {
        Ok(_) => Ok(Redirect::to("/proveedores").into_response()),
        Err(e) => {
            let (status, msg) = refusal(e)?;
            Ok((status, providers_page(&st, &c, ProviderInput::default(), draft, Some(msg)).await?).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "providers_edit.html")]
pub struct ProviderEditPage {
    pub me: Me,
    pub id: i64,
    pub draft: ProviderInput,
    pub error: Option<String>,
}

async fn provider_edit_page(
    st: &AppState,
    c: &Credentials,
    id: i64,
    draft: Option<ProviderInput>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    require_manage(c)?;
    let draft = match draft {
        Some(d) => d,
        None => {
            let p = st.db.with(move |conn| cstore::provider(conn, id)).await?;
            let p = p.ok_or_else(|| WebError::NotFound(format!("el proveedor {id}")))?;
            ProviderInput { name: p.name, contact: p.contact, phone: p.phone, email: p.email }
        }
    };
    Ok(Html(ProviderEditPage { me: Me::from(c), id, draft, error }.render()?))
}

pub async fn edit_provider_form(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    provider_edit_page(&st, &c, id, None, None).await
}

pub async fn edit_provider(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    require_manage(&c)?;
    let (actor, input) = (c.user.username.clone(), provider_input(&f));
    let draft = input.clone();
    let done = st
        .writer
        .run(move |tx| cstore::update_provider(tx, &actor, now_ms(), id, &input).map_err(contract_error))
        .await;
    match done {
        Ok(()) => Ok(Redirect::to("/proveedores").into_response()),
        Err(e) => {
            let (status, msg) = refusal(e)?;
            Ok((status, provider_edit_page(&st, &c, id, Some(draft), Some(msg)).await?).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "providers_contract.html")]
pub struct ContractEditPage {
    pub me: Me,
    pub id: i64,
    pub providers: Vec<Provider>,
    pub servers: Vec<ServerOption>,
    pub draft: ContractDraft,
    pub error: Option<String>,
}

async fn contract_edit_page(
    st: &AppState,
    c: &Credentials,
    id: i64,
    draft: Option<ContractDraft>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    require_manage(c)?;
    let (found, providers, servers) = st
        .db
        .with(move |conn| Ok((cstore::contract(conn, id)?, cstore::providers(conn)?, server_options(conn)?)))
        .await?;
    let found = found.ok_or_else(|| WebError::NotFound(format!("el contrato {id}")))?;
    let draft = draft.unwrap_or_else(|| ContractDraft::of(&found));
    Ok(Html(ContractEditPage { me: Me::from(c), id, providers, servers, draft, error }.render()?))
}

pub async fn edit_contract_form(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    contract_edit_page(&st, &c, id, None, None).await
}

pub async fn edit_contract(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    require_manage(&c)?;
    let (actor, draft) = (c.user.username.clone(), ContractDraft::from_fields(&f));
    let input = draft.input();
    let done = st
        .writer
        .run(move |tx| cstore::update_contract(tx, &actor, now_ms(), id, &input).map_err(contract_error))
        .await;
    match done {
        Ok(()) => Ok(Redirect::to("/proveedores").into_response()),
        Err(e) => {
            let (status, msg) = refusal(e)?;
            Ok((status, contract_edit_page(&st, &c, id, Some(draft), Some(msg)).await?).into_response())
        }
    }
}

// ---- The visit ----

/// The latest authorization stamp of a visit.
#[derive(Debug, Clone)]
struct StampRow {
    at: i64,
    actor: String,
    hash: [u8; 32],
}

fn latest_stamp(conn: &Connection, id: i64) -> rusqlite::Result<Option<StampRow>> {
    let row: Option<(i64, String, Vec<u8>)> = conn
        .prepare_cached(
            "SELECT at, actor, form_hash FROM maintenance_stamps WHERE maintenance_id = ?1 ORDER BY id DESC LIMIT 1",
        )?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(at, actor, h)| Some(StampRow { at, actor, hash: h.try_into().ok()? })))
}

/// Keeps the exact form approved and its hash (the table refuses updates and deletes).
fn insert_stamp(conn: &Connection, id: i64, at: i64, actor: &str, form: &VisitForm) -> rusqlite::Result<()> {
    let json = serde_json::to_string(form).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO maintenance_stamps (maintenance_id, at, actor, form_hash, form) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, at, actor, form.hash().as_slice(), json],
    )?;
    Ok(())
}

fn visit_of(m: &Instance, stamp: Option<&StampRow>) -> rusqlite::Result<Visit> {
    Visit::from_stored(m.state, &m.data, m.center_id, m.technician_id, stamp.map(|s| s.hash), m.done_at)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// A hardware visit, or not found.
fn get_visit(conn: &Connection, id: i64) -> Result<Instance, WebError> {
    match mstore::get(conn, id)? {
        Some(m) if m.kind == Kind::Hardware => Ok(m),
        _ => Err(WebError::NotFound(format!("la visita de mantenimiento {id}"))),
    }
}

/// User names → names to show.
fn people(conn: &Connection) -> rusqlite::Result<HashMap<String, String>> {
    conn.prepare_cached("SELECT username, full_name FROM users")?
        .query_map([], |r| {
            let (u, f): (String, String) = (r.get(0)?, r.get(1)?);
            Ok((u.clone(), if f.is_empty() { u } else { f }))
        })?
        .collect()
}

fn technicians(conn: &Connection) -> rusqlite::Result<Vec<(i64, String)>> {
    Ok(crate::auth::store::list_users(conn)?
        .into_iter()
        .filter(|(u, active)| *active && u.role == Role::Tecnico)
        .map(|(u, _)| (u.id, u.display().to_string()))
        .collect())
}

/// One point of the checklist as the page shows it.
pub struct CheckRow {
    pub key: &'static str,
    pub label: &'static str,
    /// The stored word ("" when not checked).
    pub value: &'static str,
    pub value_label: &'static str,
}

/// One step of the history.
pub struct HistoryRow {
    pub at: String,
    pub who: String,
    pub kind: String,
    pub label: String,
    pub text: String,
    pub hash: String,
}

fn event_label(kind: &str) -> String {
    match kind {
        "programado" => "Programada en el plan anual",
        "edit" => "Formato editado",
        "sign" => "Verificada y firmada por el técnico",
        "resubmit" => "Corregida y firmada de nuevo",
        "observe" => "Observaciones del Jefe de UACT",
        "stamp" => "Sello de autorización",
        "adjust" => "Fecha y ventana ajustadas",
        "aviso" => "Aviso de las observaciones",
        other => other,
    }
    .to_string()
}

/// The latest stamp as shown.
pub struct StampView {
    pub who: String,
    pub at: String,
    pub short: String,
    pub full: String,
    pub valid: bool,
}

/// Everything a visit's page and its printable version show.
pub struct VisitView {
    pub id: i64,
    pub title: String,
    pub server: String,
    pub center: String,
    pub provider: String,
    pub provider_contact: String,
    pub contract: String,
    pub contract_id: Option<i64>,
    pub scheduled: String,
    pub window: String,
    pub in_window: bool,
    pub technician: String,
    pub state: &'static str,
    pub state_word: &'static str,
    pub state_css: &'static str,
    pub due: String,
    pub overdue: bool,
    /// As the date input wants it (YYYY-MM-DD), and for people.
    pub visited_on: String,
    pub visited_on_text: String,
    pub provider_staff: String,
    pub work_done: String,
    pub parts_replaced: String,
    pub verification: String,
    pub checklist: Vec<CheckRow>,
    pub form_hash: String,
    pub history: Vec<HistoryRow>,
    /// The technician's latest signature: (name, time).
    pub signature: Option<(String, String)>,
    pub stamp: Option<StampView>,
    /// [`hw::STAMP_INVALID`] when the form changed after the latest stamp.
    pub stamp_invalid: Option<&'static str>,
}

fn state_css(s: State) -> &'static str {
    match s {
        State::Programado => "muted",
        State::EnCurso | State::Firmado => "warn",
        State::Observado => "crit",
        State::Autorizado => "ok",
        _ => "muted",
    }
}

fn window_text(cal: &Calendar, start: Option<i64>, end: Option<i64>) -> String {
    match (start, end) {
        (Some(s), Some(e)) => {
            let (s, e) = (utc(s), utc(e));
            if cal.local_date(s) == cal.local_date(e) {
                format!("{} – {}", cal.format_local(s), cal.local(e).format("%H:%M"))
            } else {
                format!("{} – {}", cal.format_local(s), cal.format_local(e))
            }
        }
        _ => "sin ventana".into(),
    }
}

/// Ready-to-show data of a visit, read in one connection.
struct Loaded {
    m: Instance,
    visit: Visit,
    view: VisitView,
    technicians: Vec<(i64, String)>,
    attachments: Vec<mstore::Attachment>,
}

fn load(conn: &Connection, cal: &Calendar, id: i64, draft: Option<&VisitForm>) -> Result<Loaded, WebError> {
    let m = get_visit(conn, id)?;
    let stamp = latest_stamp(conn, id)?;
    let visit = visit_of(&m, stamp.as_ref())?;
    let names = people(conn)?;
    let name = |u: &str| names.get(u).cloned().unwrap_or_else(|| u.to_string());
    let provider = match m.contract_id {
        Some(c) => cstore::provider_of_contract(conn, c)?,
        None => None,
    };
    let events = mstore::events(conn, id)?;
    let signature = events
        .iter()
        .rev()
        .find(|e| e.kind == "sign" || e.kind == "resubmit")
        .map(|e| (name(&e.actor), cal.format_local(utc(e.at))));
    let history = events
        .iter()
        .map(|e| HistoryRow {
            at: cal.format_local(utc(e.at)),
            who: name(&e.actor),
            kind: e.kind.clone(),
            label: event_label(&e.kind),
            text: e.text.clone(),
            hash: e.form_hash.clone().unwrap_or_default(),
        })
        .collect();
    let status = visit.stamp_status();
    let stamp_view = stamp.as_ref().map(|s| StampView {
        who: name(&s.actor),
        at: cal.format_local(utc(s.at)),
        short: short_hash(&s.hash),
        full: crate::auth::hex(&s.hash),
        valid: status == StampStatus::Valid,
    });
    let form = draft.unwrap_or(&visit.form);
    let now = Utc::now();
    let now_ms = now.timestamp_millis();
    let view = VisitView {
        id,
        title: m.title(),
        server: m.agent_id.clone(),
        center: if m.center.is_empty() { "sin centro asignado".into() } else { m.center.clone() },
        provider: provider.as_ref().map_or_else(|| m.provider.clone().unwrap_or_default(), |p| p.name.clone()),
        provider_contact: provider
            .as_ref()
            .map(|p| {
                [p.contact.as_str(), p.phone.as_str(), p.email.as_str()]
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" · ")
            })
            .unwrap_or_default(),
        contract: m.contract.clone().unwrap_or_default(),
        contract_id: m.contract_id,
        scheduled: dmy(m.scheduled_on),
        window: window_text(cal, m.window_start, m.window_end),
        in_window: m.window_start.zip(m.window_end).is_some_and(|(s, e)| s <= now_ms && now_ms < e),
        technician: m.technician.clone().unwrap_or_else(|| "sin asignar".into()),
        state: m.state.label(Kind::Hardware),
        state_word: m.state.as_str(),
        state_css: state_css(m.state),
        due: dmy(m.due_on),
        overdue: m.overdue(cal.local_date(now)),
        visited_on: form.visited_on.map(|d| d.to_string()).unwrap_or_default(),
        visited_on_text: form.visited_on.map_or_else(|| "—".to_string(), dmy),
        provider_staff: form.provider_staff.clone(),
        work_done: form.work_done.clone(),
        parts_replaced: form.parts_replaced.clone(),
        verification: form.verification.clone(),
        checklist: Checklist::ITEMS
            .iter()
            .map(|(key, label)| {
                let v = form.checklist.get(key);
                CheckRow {
                    key,
                    label,
                    value: v.map_or("", Check::as_str),
                    value_label: v.map_or("sin revisar", Check::label),
                }
            })
            .collect(),
        form_hash: short_hash(&visit.form.hash()),
        history,
        signature,
        stamp: stamp_view,
        stamp_invalid: (status == StampStatus::Invalid).then_some(hw::STAMP_INVALID),
    };
    Ok(Loaded { m, visit, view, technicians: technicians(conn)?, attachments: mstore::attachments(conn, id)? })
}

#[derive(Template)]
#[template(path = "hw_visit.html")]
pub struct VisitPage {
    pub me: Me,
    pub v: VisitView,
    pub can_edit: bool,
    pub can_sign: bool,
    pub can_decide: bool,
    pub can_adjust: bool,
    /// Editing now would invalidate a valid stamp.
    pub edit_voids_stamp: bool,
    pub technicians: Vec<(i64, String)>,
    pub technician_id: Option<i64>,
    pub adjust_date: String,
    pub adjust_start: String,
    pub adjust_end: String,
    pub checks: Vec<(&'static str, &'static str)>,
    /// The provider's papers, photos...: listed here, uploaded through the plan's attachment route.
    pub attachments: Vec<super::maintenance::AttachmentView>,
    pub can_attach: bool,
    pub max_mb: usize,
    pub error: Option<String>,
}

impl VisitPage {
    fn is_technician(&self, id: &i64) -> bool {
        self.technician_id == Some(*id)
    }
}

fn local_input(cal: &Calendar, ms: Option<i64>) -> String {
    ms.map(|t| cal.local(utc(t)).format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default()
}

async fn visit_page(
    st: &AppState,
    c: &Credentials,
    id: i64,
    draft: Option<VisitForm>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let cal = st.workflow.calendar.clone();
    let (tx_cal, who) = (cal.clone(), Who::from(&c.user));
    let loaded = st.db.with(move |conn| Ok(load(conn, &tx_cal, id, draft.as_ref()))).await??;
    may(&who, Act::View, loaded.m.center_id, loaded.m.technician_id)
        .map_err(|r| WebError::Forbidden(format!("{r}; esta visita es de otro centro telefónico")))?;
    let Loaded { m, visit, view, technicians, attachments } = loaded;
    let can_edit = hw::may_edit(&visit, &who);
    let page = VisitPage {
        me: Me::from(c),
        can_edit,
        can_sign: hw::may_sign(&visit, &who),
        can_decide: hw::may_decide(&visit, &who),
        can_adjust: hw::may_adjust(&visit, &who),
        edit_voids_stamp: can_edit && visit.stamp_status() == StampStatus::Valid,
        technicians,
        technician_id: m.technician_id,
        adjust_date: m.scheduled_on.to_string(),
        adjust_start: local_input(&cal, m.window_start),
        adjust_end: local_input(&cal, m.window_end),
        checks: Check::ALL.iter().map(|c| (c.as_str(), c.label())).collect(),
        attachments: super::maintenance::attachment_views(st, &attachments),
        can_attach: can_edit && m.state != State::Autorizado,
        max_mb: super::maintenance::MAX_ATTACHMENT_BYTES / (1024 * 1024),
        error,
        v: view,
    };
    Ok(Html(page.render()?))
}

pub async fn visit(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    visit_page(&st, &c, id, None, None).await
}

#[derive(Template)]
#[template(path = "hw_print.html")]
pub struct PrintPage {
    pub v: VisitView,
    pub printed: String,
    pub printed_by: String,
}

pub async fn print(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
) -> Result<Html<String>, WebError> {
    let cal = st.workflow.calendar.clone();
    let who = Who::from(&c.user);
    let loaded = st.db.with(move |conn| Ok(load(conn, &cal, id, None))).await??;
    may(&who, Act::View, loaded.m.center_id, loaded.m.technician_id)
        .map_err(|r| WebError::Forbidden(format!("{r}; esta visita es de otro centro telefónico")))?;
    let page = PrintPage {
        v: loaded.view,
        printed: st.workflow.calendar.format_local(Utc::now()),
        printed_by: c.user.display().to_string(),
    };
    Ok(Html(page.render()?))
}

/// The visit form as posted (lenient: a bad date is reported, the rest kept).
fn read_form(f: &Fields) -> (VisitForm, Option<String>) {
    let mut form = VisitForm {
        provider_staff: field(f, "personal").to_string(),
        work_done: field(f, "trabajo").to_string(),
        parts_replaced: field(f, "repuestos").to_string(),
        verification: field(f, "verificacion").to_string(),
        ..VisitForm::default()
    };
    let mut error = None;
    match field(f, "fecha_visita").trim() {
        "" => {}
        s => match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) => form.visited_on = Some(d),
            Err(_) => error = Some(format!("la fecha de la visita «{s}» no es válida; use el formato AAAA-MM-DD")),
        },
    }
    let mut checklist = Checklist::default();
    for (key, _) in Checklist::ITEMS {
        checklist.set(key, Check::parse(field(f, &format!("chk_{key}")).trim()));
    }
    form.checklist = checklist;
    (form.normalized(), error)
}

/// Applies a step's result to the stored instance, with its audit row and history event.
fn save(tx: &Connection, m: &Instance, c: &hw::Change, actor: &str, now_ms: i64) -> rusqlite::Result<Instance> {
    let mut new = m.clone();
    new.state = c.visit.state;
    new.done_at = c.visit.done_at;
    new.data = c.visit.data();
    let step = mstore::Step { action: c.action, text: &c.text, form_hash: Some(&c.hash) };
    mstore::save(tx, &new, m.state, actor, now_ms, step)?;
    Ok(new)
}

/// What an action did, for the answer.
enum Done {
    Ok {
        notified: bool,
    },
    /// The form was saved, but signing was refused (the typing is kept; the reason is shown).
    SavedNotSigned(WebError),
}

fn local_ms(cal: &Calendar, s: &str) -> Option<i64> {
    let s = s.trim();
    let ndt = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    cal.tz().from_local_datetime(&ndt).earliest().map(|t| t.timestamp_millis())
}

/// Queues the observations to the provider's contact and the technician when email is configured,
/// and says in the history who was told (or that it must be done by other means).
fn tell_observations(
    tx: &Connection,
    st: &AppState,
    m: &Instance,
    text: &str,
    actor: &str,
    now_ms: i64,
) -> rusqlite::Result<bool> {
    let provider = match m.contract_id {
        Some(c) => cstore::provider_of_contract(tx, c)?,
        None => None,
    };
    let tech = match m.technician_id {
        Some(t) => crate::auth::store::user_by_id(tx, t)?,
        None => None,
    };
    let mut to: Vec<String> = Vec::new();
    for mail in
        [provider.as_ref().map(|p| p.email.clone()), tech.as_ref().and_then(|t| t.email.clone())].into_iter().flatten()
    {
        let mail = mail.trim().to_string();
        if !mail.is_empty() && !to.iter().any(|t| t.eq_ignore_ascii_case(&mail)) {
            to.push(mail);
        }
    }
    let ctx = &st.workflow.ctx;
    let note = if ctx.notify.email.is_none() {
        "El correo no está configurado en el colector: comunique estas observaciones al técnico y al proveedor por otro medio."
            .to_string()
    } else if to.is_empty() {
        "Ni el proveedor ni el técnico tienen correo registrado: comuníqueles estas observaciones por otro medio."
            .to_string()
    } else {
        let subject = format!(
            "[Centinela] Observaciones a la visita de mantenimiento de {} (contrato {})",
            m.agent_id,
            m.contract.as_deref().unwrap_or("?")
        );
        let body = format!(
            "El Jefe de UACT devolvió con observaciones el formato de mantenimiento preventivo de hardware.\n\n\
             Servidor: {}\nCentro telefónico: {}\nProveedor: {}\nContrato: {}\nFecha programada: {}\n\n\
             Observaciones:\n{}\n\nCorrija el formato y vuelva a firmarlo: {}/mantenimiento/visitas/{}\n",
            m.agent_id,
            if m.center.is_empty() { "—" } else { &m.center },
            provider.as_ref().map_or("—", |p| p.name.as_str()),
            m.contract.as_deref().unwrap_or("—"),
            dmy(m.scheduled_on),
            text,
            ctx.public_url.trim_end_matches('/'),
            m.id
        );
        for mail in &to {
            crate::notify::queue::enqueue_at(
                tx,
                &crate::notify::NewNotification {
                    channel: crate::notify::Channel::Email,
                    recipient: mail.clone(),
                    subject: subject.clone(),
                    body: Some(body.clone()),
                    payload: None,
                    ticket_id: None,
                    event: "observaciones".into(),
                },
                now_ms,
            )?;
        }
        format!("Observaciones enviadas por correo a: {}", to.join(", "))
    };
    mstore::event(tx, m.id, now_ms, actor, "aviso", &note, None)?;
    Ok(ctx.notify.email.is_some() && !to.is_empty())
}

/// The chief moves the visit: date, technician, and its maintenance window (the old window ends and
/// the new one is created in this transaction).
#[allow(clippy::too_many_arguments)]
fn adjust(
    tx: &Connection,
    cal: &Calendar,
    m: &Instance,
    visit: &Visit,
    who: &Who,
    f: &Fields,
    actor: &str,
    now_ms: i64,
) -> Result<(), WebError> {
    may(who, Act::Plan, m.center_id, m.technician_id).map_err(|r| WebError::Forbidden(r.0))?;
    let date_text = field(f, "fecha").trim();
    let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|_| {
        WebError::Invalid(format!("la fecha de la visita «{date_text}» no es válida; use el formato AAAA-MM-DD"))
    })?;
    let (start, end) = (field(f, "ventana_inicio").trim(), field(f, "ventana_fin").trim());
    let window = match (start, end) {
        ("", "") => {
            cal.working_span(date).map(|(s, e)| (s.timestamp_millis(), e.timestamp_millis())).ok_or_else(|| {
                WebError::Invalid(format!(
                    "el {} no es día laboral; indique el inicio y el fin de la ventana de mantenimiento",
                    dmy(date)
                ))
            })?
        }
        (s, e) if !s.is_empty() && !e.is_empty() => {
            let parse = |which: &str, v: &str| {
                local_ms(cal, v).ok_or_else(|| {
                    WebError::Invalid(format!("el {which} de la ventana «{v}» no es válido; use AAAA-MM-DDTHH:MM"))
                })
            };
            (parse("inicio", s)?, parse("fin", e)?)
        }
        _ => {
            return Err(WebError::Invalid(
                "indique el inicio y el fin de la ventana, o deje ambos vacíos para usar el horario laboral del día"
                    .into(),
            ));
        }
    };
    hw::adjust(visit, who, window).map_err(denied)?;
    let technician = match field(f, "tecnico").trim() {
        "" => None,
        t => {
            let id = t.parse::<i64>().ok();
            let user = match id {
                Some(id) => crate::auth::store::user_by_id(tx, id)?,
                None => None,
            };
            match user {
                Some(u) if u.role == Role::Tecnico => Some(u.id),
                _ => return Err(WebError::Invalid("el técnico elegido no existe o no es técnico de UACT".into())),
            }
        }
    };
    let mut new = m.clone();
    new.scheduled_on = date;
    new.technician_id = technician;
    let mut changes = Vec::new();
    if m.scheduled_on != date {
        changes.push(format!("fecha {} → {}", dmy(m.scheduled_on), dmy(date)));
    }
    // A visit moved past its due date is due by the end of its new month, as planned ones are.
    if date > m.due_on {
        let month_end = date
            .with_day(1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
            .and_then(|d| d.pred_opt())
            .unwrap_or(date);
        new.due_on = month_end;
        changes.push(format!("vence {}", dmy(month_end)));
    }
    if (m.window_start, m.window_end) != (Some(window.0), Some(window.1)) || m.silence_id.is_none() {
        if let (Some(old), Some(old_end)) = (m.silence_id, m.window_end)
            && old_end > now_ms
        {
            crate::silences::end(tx, actor, now_ms, old)?;
        }
        let reason = format!(
            "Visita de mantenimiento preventivo de hardware, contrato {}",
            m.contract.as_deref().unwrap_or("?")
        );
        let sid = mstore::visit_window(tx, actor, now_ms, &m.agent_id, window, &reason).map_err(|e| match e {
            crate::silences::SilenceError::Sqlite(e) => WebError::Sqlite(e),
            other => WebError::Invalid(other.to_string()),
        })?;
        new.window_start = Some(window.0);
        new.window_end = Some(window.1);
        new.silence_id = Some(sid);
        changes.push(format!("ventana {}", window_text(cal, Some(window.0), Some(window.1))));
    }
    if m.technician_id != technician {
        let name = technician
            .and_then(|t| crate::auth::store::user_by_id(tx, t).ok().flatten())
            .map_or_else(|| "sin asignar".to_string(), |u| u.display().to_string());
        changes.push(format!("técnico: {name}"));
    }
    if changes.is_empty() {
        return Err(WebError::Invalid("no cambió la fecha, la ventana ni el técnico".into()));
    }
    let (text, hash) = (changes.join("; "), visit.form.hash());
    let step = mstore::Step { action: "maintenance.adjust", text: &text, form_hash: Some(&hash) };
    mstore::save(tx, &new, m.state, actor, now_ms, step)?;
    Ok(())
}

/// Checks and applies an action in one writer transaction.
async fn act(st: &AppState, c: &Credentials, id: i64, f: Fields) -> Result<Done, WebError> {
    let (user, st2) = (c.user.clone(), st.clone());
    st.writer
        .run(move |tx| {
            let cal = &st2.workflow.calendar;
            let m = get_visit(tx, id)?;
            let who = Who::from(&user);
            may(&who, Act::View, m.center_id, m.technician_id)
                .map_err(|r| WebError::Forbidden(format!("{r}; esta visita es de otro centro telefónico")))?;
            let visit = visit_of(&m, latest_stamp(tx, id)?.as_ref())?;
            let now = Utc::now();
            let now_ms = now.timestamp_millis();
            let actor = user.username.as_str();
            match field(&f, "accion") {
                "guardar" => {
                    let (form, bad) = read_form(&f);
                    if let Some(why) = bad {
                        return Err(WebError::Invalid(why));
                    }
                    let change = hw::edit(&visit, &who, form).map_err(denied)?;
                    save(tx, &m, &change, actor, now_ms)?;
                }
                "firmar" => {
                    let (mut m, mut visit, mut saved) = (m, visit, false);
                    if field(&f, "formato") == "1" {
                        let (form, bad) = read_form(&f);
                        if let Some(why) = bad {
                            return Err(WebError::Invalid(why));
                        }
                        if form != visit.form {
                            let change = hw::edit(&visit, &who, form).map_err(denied)?;
                            m = save(tx, &m, &change, actor, now_ms)?;
                            visit = change.visit;
                            saved = true;
                        }
                    }
                    match hw::sign(&visit, &who, cal.local_date(now), now_ms) {
                        Ok(change) => {
                            save(tx, &m, &change, actor, now_ms)?;
                        }
                        Err(d) if saved => return Ok(Done::SavedNotSigned(denied(d))),
                        Err(d) => return Err(denied(d)),
                    }
                }
                "observaciones" => {
                    let change = hw::observe(&visit, &who, field(&f, "texto")).map_err(denied)?;
                    let new = save(tx, &m, &change, actor, now_ms)?;
                    let notified = tell_observations(tx, &st2, &new, &change.text, actor, now_ms)?;
                    return Ok(Done::Ok { notified });
                }
                "sellar" => {
                    let change = hw::stamp(&visit, &who).map_err(denied)?;
                    insert_stamp(tx, id, now_ms, actor, &change.visit.form)?;
                    save(tx, &m, &change, actor, now_ms)?;
                }
                "ajustar" => adjust(tx, cal, &m, &visit, &who, &f, actor, now_ms)?,
                other => return Err(WebError::Invalid(format!("acción desconocida «{other}»"))),
            }
            Ok(Done::Ok { notified: false })
        })
        .await
}

pub async fn action(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<i64>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    check_csrf(&c, field(&f, "csrf"))?;
    let posted_form = matches!(field(&f, "accion"), "guardar" | "firmar") && field(&f, "formato") == "1";
    let draft = posted_form.then(|| read_form(&f).0);
    match act(&st, &c, id, f).await {
        Ok(Done::Ok { notified }) => {
            if notified && let Some(w) = &st.workflow.waker {
                w.wake();
            }
            Ok(Redirect::to(&format!("/mantenimiento/visitas/{id}")).into_response())
        }
        Ok(Done::SavedNotSigned(e)) => {
            let (status, message) = refusal(e)?;
            let msg = format!("Se guardó el formato, pero no se firmó: {message}");
            Ok((status, visit_page(&st, &c, id, None, Some(msg)).await?).into_response())
        }
        Err(e) => {
            let (status, message) = refusal(e)?;
            Ok((status, visit_page(&st, &c, id, draft, Some(message)).await?).into_response())
        }
    }
}
