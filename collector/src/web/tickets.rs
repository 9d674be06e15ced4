//! Corrective tickets on the web: the list with filters, the detail with its timeline and the
//! actions the user may take, the new-request form, and the same under `/api/v1/tickets` as JSON.
//!
//! Invariants:
//! - Who may see a ticket: everyone but a `jefe_centro`, who sees only their centers' tickets
//!   ([`can_view`]); who may change it: [`crate::tickets::check`], called for every action on the
//!   server, whatever buttons the page showed. A refusal is 403 (role), 409 (state) or 422 (data).
//! - Every change is one writer transaction: the ticket, its timeline, the audit row and the
//!   notifications ([`crate::tickets::store`]); the notification workers are woken after it.

use super::auth::{ApiUser, Credentials, PageUser, check_csrf};
use super::pages::Me;
use super::{AppState, WebError};
use crate::auth::Role;
use crate::tickets::model::TicketId;
use crate::tickets::store::{self as tstore, Filter};
use crate::tickets::{
    Action, ActionKind, Actor, Assignee, Channel, Denied, NewTicket, Priority, Requester, State, Ticket, TimelineEntry,
    due, overdue,
};
use askama::Template;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

/// Whether the user may see the ticket at all.
pub fn can_view(c: &Credentials, t: &Ticket) -> bool {
    c.user.role != Role::JefeCentro || t.center_id.is_some_and(|id| c.user.centers.contains(&id))
}

fn denied(d: Denied) -> WebError {
    match d {
        Denied::NotAllowed(m) => WebError::Forbidden(m),
        Denied::WrongState(m) => WebError::Conflict(m),
        Denied::Invalid(m) => WebError::Invalid(m),
    }
}

fn status_of(e: &WebError) -> StatusCode {
    match e {
        WebError::Forbidden(_) => StatusCode::FORBIDDEN,
        WebError::Conflict(_) => StatusCode::CONFLICT,
        WebError::Invalid(_) | WebError::BadRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
        WebError::NotFound(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A refusal the user can act on (403, 409, 422) as its status and Spanish message, to show on
/// the page they came from; any other error goes on to the error page.
fn refusal(e: WebError) -> Result<(StatusCode, String), WebError> {
    let status = status_of(&e);
    match e {
        WebError::Forbidden(m) | WebError::Conflict(m) | WebError::Invalid(m) => Ok((status, m)),
        other => Err(other),
    }
}

/// People a ticket may be assigned to: active technicians and UACT chiefs.
fn assignable(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<(i64, String, Role)>> {
    Ok(crate::auth::store::list_users(conn)?
        .into_iter()
        .filter(|(u, active)| *active && matches!(u.role, Role::Tecnico | Role::JefeUact))
        .map(|(u, _)| (u.id, u.display().to_string(), u.role))
        .collect())
}

/// One ticket as a row of the list.
pub struct Row {
    pub id: i64,
    pub title: String,
    pub state: &'static str,
    pub state_css: &'static str,
    pub priority: String,
    pub center: String,
    pub server: String,
    pub assignee: String,
    pub created: String,
    pub automatic: bool,
    pub overdue: Option<String>,
}

fn state_css(s: State) -> &'static str {
    match s {
        State::Solicitado => "crit",
        State::Asignado | State::EnAtencion => "warn",
        State::Cerrado => "ok",
        State::Cancelado => "muted",
    }
}

fn row(
    conn: &rusqlite::Connection,
    st: &AppState,
    t: &Ticket,
    at: chrono::DateTime<chrono::Utc>,
) -> rusqlite::Result<Row> {
    let w = &st.workflow;
    Ok(Row {
        id: t.id,
        title: t.title.clone(),
        state: t.state.label(),
        state_css: state_css(t.state),
        priority: t.priority.map_or("sin evaluar".into(), |p| p.label().to_string()),
        center: tstore::center_name(conn, t.center_id)?,
        server: tstore::server_name(conn, t.server_id)?.unwrap_or_else(|| "—".into()),
        assignee: match t.assignee {
            Some(a) => tstore::user_name(conn, a)?.map_or(format!("usuario {a}"), |u| u.0),
            None => "—".into(),
        },
        created: w.calendar.format_local(t.created_at),
        automatic: t.automatic.is_some(),
        overdue: overdue(t, at, &w.calendar, &w.ctx.tickets.targets).map(|o| o.describe()),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// A state's stored name, "abiertos" (default) or "todos".
    pub estado: Option<String>,
    pub centro: Option<String>,
    pub tecnico: Option<String>,
    pub prioridad: Option<String>,
    /// "1": only overdue ones.
    pub vencidos: Option<String>,
    /// A server's agent id.
    pub servidor: Option<String>,
}

fn id(s: &Option<String>) -> Option<i64> {
    s.as_deref().and_then(|s| s.trim().parse().ok())
}

impl ListQuery {
    fn filter(&self, c: &Credentials) -> Filter {
        let (state, all) = match self.estado.as_deref() {
            Some("todos") => (None, true),
            Some(s) => (State::parse(s), false),
            None => (None, false),
        };
        Filter {
            state,
            all,
            center: id(&self.centro),
            centers: (c.user.role == Role::JefeCentro).then(|| c.user.centers.clone()),
            assignee: id(&self.tecnico),
            priority: self.prioridad.as_deref().and_then(Priority::parse),
            server: None,
            server_agent: self.servidor.clone().filter(|s| !s.is_empty()),
        }
    }
}

#[derive(Template)]
#[template(path = "tickets.html")]
pub struct ListPage {
    pub me: Me,
    pub rows: Vec<Row>,
    pub q: ListQuery,
    pub centers: Vec<crate::org::Center>,
    pub technicians: Vec<(i64, String, Role)>,
    pub states: Vec<(&'static str, &'static str)>,
    pub priorities: Vec<(&'static str, &'static str)>,
    pub can_file: bool,
}

impl ListPage {
    fn selected(&self, field: &str, value: &str) -> bool {
        let v = match field {
            "estado" => &self.q.estado,
            "centro" => &self.q.centro,
            "tecnico" => &self.q.tecnico,
            "prioridad" => &self.q.prioridad,
            _ => &None,
        };
        v.as_deref() == Some(value)
    }
}

/// Rows for the list, filtered (overdue is computed here, on the calendar).
async fn list_rows(st: &AppState, c: &Credentials, q: &ListQuery) -> Result<Vec<Row>, WebError> {
    let filter = q.filter(c);
    let only_overdue = q.vencidos.as_deref() == Some("1");
    let st2 = st.clone();
    st.db
        .with(move |conn| {
            let at = now();
            let mut rows = Vec::new();
            for t in tstore::list(conn, &filter, 500)? {
                let r = row(conn, &st2, &t, at)?;
                if !only_overdue || r.overdue.is_some() {
                    rows.push(r);
                }
            }
            Ok(rows)
        })
        .await
}

pub async fn list(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Query(q): Query<ListQuery>,
) -> Result<Html<String>, WebError> {
    let rows = list_rows(&st, &c, &q).await?;
    let (centers, technicians) = st.db.with(|conn| Ok((crate::org::centers(conn)?, assignable(conn)?))).await?;
    let centers = match c.user.role {
        Role::JefeCentro => centers.into_iter().filter(|x| c.user.centers.contains(&x.id)).collect(),
        _ => centers,
    };
    let page = ListPage {
        me: Me::from(&c),
        rows,
        q,
        centers,
        technicians,
        states: State::ALL.iter().map(|s| (s.as_str(), s.label())).collect(),
        priorities: Priority::ALL.iter().map(|p| (p.as_str(), p.label())).collect(),
        can_file: matches!(c.user.role, Role::JefeUact | Role::Tecnico | Role::JefeCentro),
    };
    Ok(Html(page.render()?))
}

/// A timeline entry as shown.
pub struct EntryView {
    pub at: String,
    pub by: String,
    pub label: &'static str,
    pub change: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "ticket.html")]
pub struct DetailPage {
    pub me: Me,
    pub t: Row,
    pub description: String,
    pub channel: &'static str,
    pub requester: String,
    pub resolution: Option<String>,
    pub automatic: Option<String>,
    pub linked_to: Option<i64>,
    pub due: Vec<(&'static str, String)>,
    pub timeline: Vec<EntryView>,
    /// The problem that opened it, if it is still firing: (summary, details, suppressed).
    pub problem: Option<(String, Vec<String>)>,
    pub actions: Vec<ActionKind>,
    pub technicians: Vec<(i64, String, Role)>,
    pub priorities: Vec<(&'static str, &'static str)>,
    pub error: Option<String>,
}

async fn detail_page(
    st: &AppState,
    c: &Credentials,
    id: TicketId,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let st2 = st.clone();
    let found = st
        .db
        .with(move |conn| {
            let Some(t) = tstore::get(conn, id)? else { return Ok(None) };
            let entries = tstore::timeline(conn, id)?;
            let problem: Option<(String, String)> = match (&t.automatic, t.server_id) {
                (Some(a), Some(server)) => conn
                    .query_row(
                        "SELECT summary, details FROM problems WHERE server_id = ?1 AND key = ?2",
                        rusqlite::params![server, a.problem_key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .ok(),
                _ => None,
            };
            let at = now();
            let r = row(conn, &st2, &t, at)?;
            let mut names = std::collections::HashMap::new();
            let mut timeline = Vec::new();
            for e in &entries {
                timeline.push(entry_view(conn, &st2, e, &mut names)?);
            }
            let requester = tstore::requester_name(conn, &t.requester)?;
            Ok(Some((t, r, timeline, problem, requester, assignable(conn)?)))
        })
        .await?;
    let Some((t, r, timeline, problem, requester, technicians)) = found else {
        return Err(WebError::NotFound(format!("el requerimiento {id}")));
    };
    if !can_view(c, &t) {
        return Err(WebError::Forbidden("este requerimiento es de otro centro telefónico".into()));
    }
    let actor = Actor::from(&c.user);
    let actions = ActionKind::ALL.into_iter().filter(|k| crate::tickets::permitted(*k, &actor, &t).is_ok()).collect();
    let w = &st.workflow;
    let d = due(&t, &w.calendar, &w.ctx.tickets.targets);
    let mut due_rows = Vec::new();
    if let Some(a) = d.assign_by {
        due_rows.push(("Asignar antes de", w.calendar.format_local(a)));
    }
    if let Some(cl) = d.close_by {
        due_rows.push(("Cerrar antes de", w.calendar.format_local(cl)));
    }
    let page = DetailPage {
        me: Me::from(c),
        description: t.description.clone(),
        channel: t.channel.label(),
        requester,
        resolution: t.resolution.clone(),
        automatic: t.automatic.as_ref().map(|a| {
            let mut s = format!(
                "Regla «{}», falla «{}», detectada {} {}",
                a.rule,
                a.problem_key,
                a.occurrences,
                if a.occurrences == 1 { "vez" } else { "veces" }
            );
            if let Some(rec) = a.recovered_at {
                s.push_str(&format!("; recuperada el {}", w.calendar.format_local(rec)));
            }
            s
        }),
        linked_to: t.linked_to,
        due: due_rows,
        timeline,
        problem: problem.map(|(s, d)| (s, serde_json::from_str(&d).unwrap_or_default())),
        actions,
        technicians,
        priorities: Priority::ALL.iter().map(|p| (p.as_str(), p.label())).collect(),
        error,
        t: r,
    };
    Ok(Html(page.render()?))
}

fn entry_view(
    conn: &rusqlite::Connection,
    st: &AppState,
    e: &TimelineEntry,
    names: &mut std::collections::HashMap<i64, String>,
) -> rusqlite::Result<EntryView> {
    let by = match e.by {
        crate::tickets::By::Centinela => "Centinela".to_string(),
        crate::tickets::By::User(u) => match names.get(&u) {
            Some(n) => n.clone(),
            None => {
                let n = tstore::user_name(conn, u)?.map_or(format!("usuario {u}"), |x| x.0);
                names.insert(u, n.clone());
                n
            }
        },
    };
    let change = match e.from {
        Some(f) if f != e.to => format!("{} → {}", f.label(), e.to.label()),
        None => e.to.label().to_string(),
        _ => String::new(),
    };
    Ok(EntryView {
        at: st.workflow.calendar.format_local(e.at),
        by,
        label: e.event.label(),
        change,
        text: e.text.clone(),
    })
}

pub async fn detail(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<TicketId>,
) -> Result<Html<String>, WebError> {
    detail_page(&st, &c, id, None).await
}

/// The fields any action form may carry.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub csrf: String,
    /// asignar, reasignar, contacto, cerrar, cancelar, comentar, reabrir.
    pub accion: String,
    pub prioridad: Option<String>,
    pub tecnico: Option<String>,
    #[serde(default)]
    pub texto: String,
}

/// The action a form asks for; the assignee's role is looked up.
fn to_action(conn: &rusqlite::Connection, f: &ActionForm) -> Result<Action, WebError> {
    let text = f.texto.clone();
    let assignment = || -> Result<(Priority, Assignee), WebError> {
        let priority = f
            .prioridad
            .as_deref()
            .and_then(Priority::parse)
            .ok_or_else(|| WebError::Invalid("elija la prioridad".into()))?;
        let user_id = id(&f.tecnico).ok_or_else(|| WebError::Invalid("elija el técnico".into()))?;
        let user = crate::auth::store::user_by_id(conn, user_id)?
            .ok_or_else(|| WebError::Invalid("el técnico elegido no existe o está desactivado".into()))?;
        Ok((priority, Assignee { user_id, role: user.role }))
    };
    Ok(match f.accion.as_str() {
        "asignar" => {
            let (priority, assignee) = assignment()?;
            Action::Assign { priority, assignee, note: text }
        }
        "reasignar" => {
            let (priority, assignee) = assignment()?;
            Action::Reassign { priority, assignee, note: text }
        }
        "contacto" => Action::RecordContact { note: text },
        "cerrar" => Action::Close { resolution: text },
        "cancelar" => Action::Cancel { reason: text },
        "comentar" => Action::Comment { text },
        "reabrir" => Action::Reopen { reason: text },
        other => return Err(WebError::Invalid(format!("acción desconocida «{other}»"))),
    })
}

/// The notification word of an action, if it notifies.
fn notifies(kind: ActionKind) -> Option<&'static str> {
    match kind {
        ActionKind::Assign | ActionKind::Reassign => Some("asignado"),
        ActionKind::Close => Some("cerrado"),
        ActionKind::Cancel => Some("cancelado"),
        ActionKind::Reopen => Some("reabierto"),
        ActionKind::RecordContact | ActionKind::Comment => None,
    }
}

/// Checks and applies an action in one writer transaction; returns the new ticket.
async fn act(st: &AppState, c: &Credentials, id: TicketId, f: ActionForm) -> Result<Ticket, WebError> {
    let (user, ctx) = (c.user.clone(), st.workflow.ctx.clone());
    let can_see = {
        let c = c.clone();
        move |t: &Ticket| can_view(&c, t)
    };
    let t = st
        .writer
        .run(move |tx| {
            let Some(old) = tstore::get(tx, id)? else {
                return Err(WebError::NotFound(format!("el requerimiento {id}")));
            };
            if !can_see(&old) {
                return Err(WebError::Forbidden("este requerimiento es de otro centro telefónico".into()));
            }
            let action = to_action(tx, &f)?;
            let kind = action.kind();
            let at = now();
            let (new, entries) = crate::tickets::apply(&old, action, &Actor::from(&user), at).map_err(denied)?;
            tstore::update(tx, &old, &new, &entries, &user.username, &format!("ticket.{}", kind.name()), at)?;
            if let Some(word) = notifies(kind) {
                tstore::notify(tx, &ctx, &new, word, at)?;
            }
            Ok(new)
        })
        .await?;
    if let Some(w) = &st.workflow.waker {
        w.wake();
    }
    Ok(t)
}

pub async fn action(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<TicketId>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    match act(&st, &c, id, f).await {
        Ok(_) => Ok(Redirect::to(&format!("/tickets/{id}")).into_response()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            Ok((status, detail_page(&st, &c, id, Some(message)).await?).into_response())
        }
    }
}

#[derive(Template)]
#[template(path = "ticket_new.html")]
pub struct NewPage {
    pub me: Me,
    pub centers: Vec<crate::org::Center>,
    /// UACT files on behalf of a center: it chooses the channel and names the requester.
    pub on_behalf: bool,
    pub error: Option<String>,
}

async fn new_page(st: &AppState, c: &Credentials, error: Option<String>) -> Result<Html<String>, WebError> {
    let centers = st.db.with(crate::org::centers).await?;
    let centers = match c.user.role {
        Role::JefeCentro => centers.into_iter().filter(|x| c.user.centers.contains(&x.id)).collect(),
        _ => centers,
    };
    Ok(Html(NewPage { me: Me::from(c), centers, on_behalf: c.user.role != Role::JefeCentro, error }.render()?))
}

pub async fn new_form(AxState(st): AxState<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    new_page(&st, &c, None).await
}

#[derive(Debug, Default, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    pub csrf: String,
    pub centro: String,
    #[serde(default)]
    pub servidor: String,
    #[serde(default)]
    pub titulo: String,
    #[serde(default)]
    pub descripcion: String,
    /// telefono, mesa_de_servicio (UACT on behalf); a jefe_centro's requests are "centinela".
    #[serde(default)]
    pub canal: String,
    /// The requester's name, for a request taken by phone.
    #[serde(default)]
    pub solicitante: String,
}

/// Files a request; returns its id.
async fn file(st: &AppState, c: &Credentials, f: NewForm) -> Result<TicketId, WebError> {
    let center_id =
        f.centro.trim().parse::<i64>().map_err(|_| WebError::Invalid("elija el centro telefónico".into()))?;
    let (user, ctx) = (c.user.clone(), st.workflow.ctx.clone());
    let id = st
        .writer
        .run(move |tx| {
            let Some(center) = crate::org::center(tx, center_id)? else {
                return Err(WebError::Invalid("el centro telefónico elegido no existe".into()));
            };
            let server_id = match f.servidor.trim() {
                "" => None,
                agent => {
                    if !center.servers.iter().any(|s| s == agent) {
                        return Err(WebError::Invalid(format!("el servidor «{agent}» no pertenece a {}", center.name)));
                    }
                    tx.query_row("SELECT id FROM servers WHERE agent_id = ?1", [agent], |r| r.get::<_, i64>(0)).ok()
                }
            };
            let (channel, requester) = if user.role == Role::JefeCentro {
                (Channel::Web, Requester::User(user.id))
            } else {
                let channel = Channel::parse(f.canal.trim())
                    .ok_or_else(|| WebError::Invalid("elija el canal: teléfono o mesa de servicio".into()))?;
                let who = f.solicitante.trim();
                if who.is_empty() {
                    return Err(WebError::Invalid("anote quién hizo la solicitud".into()));
                }
                (channel, Requester::Name(who.to_string()))
            };
            let form =
                NewTicket { center_id, server_id, title: f.titulo, description: f.descripcion, channel, requester };
            let at = now();
            let (t, entries) =
                crate::tickets::file(tstore::next_id(tx)?, form, &Actor::from(&user), at).map_err(denied)?;
            tstore::insert(tx, &t, &entries, &user.username)?;
            tstore::notify(tx, &ctx, &t, "creado", at)?;
            Ok(t.id)
        })
        .await?;
    if let Some(w) = &st.workflow.waker {
        w.wake();
    }
    Ok(id)
}

pub async fn create(
    AxState(st): AxState<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<NewForm>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    match file(&st, &c, f).await {
        Ok(id) => Ok(Redirect::to(&format!("/tickets/{id}")).into_response()),
        Err(e) => {
            let (status, message) = refusal(e)?;
            Ok((status, new_page(&st, &c, Some(message)).await?).into_response())
        }
    }
}

// ---- JSON API ----

fn api_error(e: WebError) -> Response {
    let status = status_of(&e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return e.into_response();
    }
    let message = match &e {
        WebError::Forbidden(m)
        | WebError::Conflict(m)
        | WebError::Invalid(m)
        | WebError::BadRequest(m)
        | WebError::NotFound(m) => m.clone(),
        other => other.to_string(),
    };
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

pub async fn api_list(AxState(st): AxState<AppState>, ApiUser(c): ApiUser, Query(q): Query<ListQuery>) -> Response {
    let filter = q.filter(&c);
    let only_overdue = q.vencidos.as_deref() == Some("1");
    let st2 = st.clone();
    let result = st
        .db
        .with(move |conn| {
            let at = now();
            let w = &st2.workflow;
            let mut out = Vec::new();
            for t in tstore::list(conn, &filter, 1000)? {
                let late = overdue(&t, at, &w.calendar, &w.ctx.tickets.targets);
                if only_overdue && late.is_none() {
                    continue;
                }
                let mut v = serde_json::to_value(&t).unwrap_or_default();
                v["overdue"] = serde_json::json!(late.map(|o| o.describe()));
                out.push(v);
            }
            Ok(out)
        })
        .await;
    match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => api_error(e),
    }
}

pub async fn api_get(AxState(st): AxState<AppState>, ApiUser(c): ApiUser, Path(id): Path<TicketId>) -> Response {
    let found = st.db.with(move |conn| Ok(tstore::get(conn, id)?.map(|t| (t, tstore::timeline(conn, id))))).await;
    match found {
        Ok(Some((t, Ok(timeline)))) if can_view(&c, &t) => {
            Json(serde_json::json!({ "ticket": t, "timeline": timeline })).into_response()
        }
        Ok(Some((_, Ok(_)))) => {
            api_error(WebError::Forbidden("este requerimiento es de otro centro telefónico".into()))
        }
        Ok(Some((_, Err(e)))) => api_error(e.into()),
        Ok(None) => api_error(WebError::NotFound(format!("el requerimiento {id}"))),
        Err(e) => api_error(e),
    }
}

pub async fn api_create(AxState(st): AxState<AppState>, ApiUser(c): ApiUser, Json(f): Json<NewForm>) -> Response {
    match file(&st, &c, f).await {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id, "url": format!("/tickets/{id}") })))
            .into_response(),
        Err(e) => api_error(e),
    }
}

pub async fn api_action(
    AxState(st): AxState<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<TicketId>,
    Json(f): Json<ActionForm>,
) -> Response {
    if c.csrf.is_some() {
        // A session cookie on a JSON POST: only same-site pages could send it (SameSite=Strict),
        // but insist on the token as forms do.
        if let Err(e) = check_csrf(&c, &f.csrf) {
            return api_error(e);
        }
    }
    match act(&st, &c, id, f).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => api_error(e),
    }
}
