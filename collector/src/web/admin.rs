//! The admin pages: people (create with a one-time password, reset it, roles and call centers)
//! and the organisation (dependencias, centros telefónicos, which server belongs to which center).
//!
//! Invariants: every handler takes [`PageUser`] and refuses anyone but `admin` with 403 before
//! reading the form; every form checks the CSRF token; every change goes through
//! [`crate::auth::store`] / [`crate::org`], which audit it in the same transaction.

use super::auth::{PageUser, check_csrf};
use super::pages::Me;
use super::{AppState, WebError};
use crate::auth::{Role, User, password, store};
use crate::org;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// 403 unless the user is an admin.
pub fn require_admin(c: &super::auth::Credentials) -> Result<(), WebError> {
    if c.user.role == Role::Admin {
        Ok(())
    } else {
        Err(WebError::Forbidden(format!(
            "esta página es solo para el administrador; usted entró como {}",
            c.user.role.label()
        )))
    }
}

pub struct UserRow {
    pub username: String,
    pub full_name: String,
    pub role: &'static str,
    pub centers: String,
    pub active: bool,
    pub must_change: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
pub struct UsersPage {
    pub me: Me,
    pub users: Vec<UserRow>,
    pub centers: Vec<org::Center>,
    pub roles: Vec<(&'static str, &'static str)>,
    /// After a create or reset: who, and the one-time password to hand over (shown once).
    pub issued: Option<(String, String)>,
    pub error: Option<String>,
}

async fn users_page(
    st: &AppState,
    me: Me,
    issued: Option<(String, String)>,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let (users, centers) = st.db.with(|c| Ok((store::list_users(c)?, org::centers(c)?))).await?;
    let name_of = |id: i64| centers.iter().find(|c| c.id == id).map_or(format!("{id}"), |c| c.name.clone());
    let users = users
        .into_iter()
        .map(|(u, active): (User, bool)| UserRow {
            centers: u.centers.iter().map(|c| name_of(*c)).collect::<Vec<_>>().join(", "),
            username: u.username,
            full_name: u.full_name,
            role: u.role.label(),
            active,
            must_change: u.must_change,
        })
        .collect();
    let roles = Role::ALL.iter().map(|r| (r.as_str(), r.label())).collect();
    Ok(Html(UsersPage { me, users, centers, roles, issued, error }.render()?))
}

pub async fn users(State(st): State<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    require_admin(&c)?;
    users_page(&st, Me::from(&c), None, None).await
}

#[derive(Debug, Deserialize)]
pub struct NewUserForm {
    pub csrf: String,
    pub username: String,
    #[serde(default)]
    pub full_name: String,
    pub role: String,
    /// A call center id for a jefe_centro (empty: none).
    #[serde(default)]
    pub center: String,
}

pub async fn create_user(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<NewUserForm>,
) -> Result<Response, WebError> {
    require_admin(&c)?;
    check_csrf(&c, &f.csrf)?;
    let me = Me::from(&c);
    let Some(role) = Role::parse(&f.role) else {
        return Ok(users_page(&st, me, None, Some(format!("rol desconocido «{}»", f.role))).await?.into_response());
    };
    let centers: Vec<i64> = match f.center.trim() {
        "" => vec![],
        n => match n.parse() {
            Ok(id) => vec![id],
            Err(_) => {
                return Ok(users_page(&st, me, None, Some("centro telefónico no válido".into()))
                    .await?
                    .into_response());
            }
        },
    };
    if role == Role::JefeCentro && centers.is_empty() {
        let msg = "un Jefe de Centro Telefónico necesita su centro telefónico".to_string();
        return Ok(users_page(&st, me, None, Some(msg)).await?.into_response());
    }
    let actor = c.user.username.clone();
    let (name, full) = (f.username.trim().to_string(), f.full_name.trim().to_string());
    let created = st
        .writer
        .run(move |tx| {
            Ok(store::create_user(tx, &actor, now_ms(), &name, role, &full, &centers).map(|(u, otp)| (u.username, otp)))
        })
        .await?;
    match created {
        Ok(issued) => Ok(users_page(&st, me, Some(issued), None).await?.into_response()),
        Err(e) => Ok(users_page(&st, me, None, Some(e.to_string())).await?.into_response()),
    }
}

#[derive(Debug, Deserialize)]
pub struct UserActionForm {
    pub csrf: String,
    pub username: String,
}

/// A new one-time password for a user who forgot theirs; their sessions end.
pub async fn reset_password(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<UserActionForm>,
) -> Result<Response, WebError> {
    require_admin(&c)?;
    check_csrf(&c, &f.csrf)?;
    let actor = c.user.username.clone();
    let name = f.username.clone();
    let otp = st
        .writer
        .run(move |tx| {
            let Some((user, _, _)) = store::find_user(tx, &name)? else {
                return Err(WebError::NotFound(format!("el usuario «{name}»")));
            };
            let otp = password::one_time().map_err(|e| WebError::Internal(e.to_string()))?;
            let hash = password::hash(&otp).map_err(|e| WebError::Internal(e.to_string()))?;
            store::set_password(tx, &actor, now_ms(), &user, &hash, true)
                .map_err(|e| WebError::Internal(e.to_string()))?;
            store::delete_other_sessions(tx, user.id, None)?;
            Ok(otp)
        })
        .await?;
    Ok(users_page(&st, Me::from(&c), Some((f.username, otp)), None).await?.into_response())
}

pub struct Placed {
    pub agent: String,
    /// The center's id; 0 when the server is in none.
    pub center: i64,
}

#[derive(Debug, Deserialize)]
pub struct UserChangeForm {
    pub csrf: String,
    pub username: String,
    /// "desactivar", "reactivar" or "rol".
    pub cambio: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub center: String,
}

/// Deactivates or reactivates a user, or changes their role and call center.
pub async fn change_user(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<UserChangeForm>,
) -> Result<Response, WebError> {
    require_admin(&c)?;
    check_csrf(&c, &f.csrf)?;
    let me = Me::from(&c);
    if f.username.eq_ignore_ascii_case(&c.user.username) && f.cambio != "rol" {
        return Ok(users_page(&st, me, None, Some("no puede desactivarse a sí mismo".into())).await?.into_response());
    }
    let actor = c.user.username.clone();
    let centers: Vec<i64> = f.center.trim().parse().ok().into_iter().collect();
    let result = st
        .writer
        .run(move |tx| {
            let now = now_ms();
            Ok(match f.cambio.as_str() {
                "desactivar" => store::set_active(tx, &actor, now, &f.username, false),
                "reactivar" => store::set_active(tx, &actor, now, &f.username, true),
                "rol" => match Role::parse(&f.role) {
                    Some(Role::JefeCentro) if centers.is_empty() => {
                        return Ok(Err("un Jefe de Centro Telefónico necesita su centro telefónico".to_string()));
                    }
                    Some(role) => store::set_role(tx, &actor, now, &f.username, role, &centers),
                    None => return Ok(Err(format!("rol desconocido «{}»", f.role))),
                },
                other => return Ok(Err(format!("cambio desconocido «{other}»"))),
            }
            .map_err(|e| e.to_string()))
        })
        .await?;
    match result {
        Ok(()) => Ok(Redirect::to("/admin/usuarios").into_response()),
        Err(e) => Ok(users_page(&st, me, None, Some(e)).await?.into_response()),
    }
}

#[derive(Template)]
#[template(path = "admin_org.html")]
pub struct OrgPage {
    pub me: Me,
    pub dependencias: Vec<org::Dependencia>,
    pub centers: Vec<org::Center>,
    /// Every server and the center it is in.
    pub servers: Vec<Placed>,
    pub error: Option<String>,
}

async fn org_page(st: &AppState, me: Me, error: Option<String>) -> Result<Html<String>, WebError> {
    let (dependencias, centers, servers) = st
        .db
        .with(|c| {
            let servers = c
                .prepare("SELECT agent_id, center_id FROM servers ORDER BY agent_id")?
                .query_map([], |r| Ok(Placed { agent: r.get(0)?, center: r.get::<_, Option<i64>>(1)?.unwrap_or(0) }))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((org::dependencias(c)?, org::centers(c)?, servers))
        })
        .await?;
    Ok(Html(OrgPage { me, dependencias, centers, servers, error }.render()?))
}

pub async fn organisation(State(st): State<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    require_admin(&c)?;
    org_page(&st, Me::from(&c), None).await
}

#[derive(Debug, Deserialize)]
pub struct OrgForm {
    pub csrf: String,
    /// "dependencia", "center" or "place".
    pub what: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub dependencia: String,
    #[serde(default)]
    pub server: String,
    /// A center id; empty takes the server out of its center.
    #[serde(default)]
    pub center: String,
}

pub async fn change_organisation(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<OrgForm>,
) -> Result<Response, WebError> {
    require_admin(&c)?;
    check_csrf(&c, &f.csrf)?;
    let actor = c.user.username.clone();
    let id = |s: &str| s.trim().parse::<i64>().ok();
    let result = match f.what.as_str() {
        "dependencia" => {
            let name = f.name.clone();
            st.writer.run(move |tx| Ok(org::create_dependencia(tx, &actor, now_ms(), &name).map(|_| ()))).await?
        }
        "center" => {
            let Some(dep) = id(&f.dependencia) else {
                return Ok(org_page(&st, Me::from(&c), Some("elija la dependencia".into())).await?.into_response());
            };
            let name = f.name.clone();
            st.writer.run(move |tx| Ok(org::create_center(tx, &actor, now_ms(), dep, &name).map(|_| ()))).await?
        }
        "place" => {
            let (server, center) = (f.server.clone(), id(&f.center));
            st.writer.run(move |tx| Ok(org::place_server(tx, &actor, now_ms(), &server, center))).await?
        }
        other => return Err(WebError::BadRequest(format!("acción desconocida «{other}»"))),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/organizacion").into_response()),
        Err(e) => Ok(org_page(&st, Me::from(&c), Some(e.to_string())).await?.into_response()),
    }
}

/// A notification as the page shows it.
pub struct NotificationView {
    pub id: i64,
    pub created: String,
    pub channel: &'static str,
    pub recipient: String,
    pub subject: String,
    pub ticket: Option<i64>,
    pub status: &'static str,
    pub css: &'static str,
    pub attempts: u32,
    pub error: String,
    pub retryable: bool,
}

#[derive(Template)]
#[template(path = "notifications.html")]
pub struct NotificationsPage {
    pub me: Me,
    pub counts: crate::notify::Counts,
    pub rows: Vec<NotificationView>,
}

/// Who may see deliveries and retry them: the UACT chief and the admin.
fn require_notifications(c: &super::auth::Credentials) -> Result<(), WebError> {
    match c.user.role {
        Role::Admin | Role::JefeUact => Ok(()),
        _ => Err(WebError::Forbidden("solo el Jefe de UACT y el administrador ven las notificaciones".into())),
    }
}

pub async fn notifications(State(st): State<AppState>, PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    require_notifications(&c)?;
    let st2 = st.clone();
    let (counts, rows) = st
        .db
        .with(move |conn| {
            let cal = &st2.workflow.calendar;
            let rows = crate::notify::recent(conn, 200)?
                .into_iter()
                .map(|n| {
                    let status = n.status();
                    NotificationView {
                        id: n.id,
                        created: chrono::DateTime::from_timestamp_millis(n.created_at)
                            .map(|t| cal.format_local(t))
                            .unwrap_or_default(),
                        channel: match n.channel {
                            crate::notify::Channel::Email => "correo",
                            crate::notify::Channel::Webhook => "mesa de servicio (webhook)",
                        },
                        recipient: n.recipient.clone(),
                        subject: n.subject.clone(),
                        ticket: n.ticket_id,
                        status: status.label(),
                        css: match status {
                            crate::notify::Status::Delivered => "ok",
                            crate::notify::Status::Pending => "muted",
                            crate::notify::Status::Retrying => "warn",
                            crate::notify::Status::GivenUp => "crit",
                        },
                        attempts: n.attempts,
                        error: n.last_error.clone().unwrap_or_default(),
                        retryable: !matches!(status, crate::notify::Status::Delivered),
                    }
                })
                .collect();
            Ok((crate::notify::counts(conn)?, rows))
        })
        .await?;
    Ok(Html(NotificationsPage { me: Me::from(&c), counts, rows }.render()?))
}

#[derive(Debug, Deserialize)]
pub struct RetryForm {
    pub csrf: String,
}

pub async fn retry_notification(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(f): Form<RetryForm>,
) -> Result<Response, WebError> {
    require_notifications(&c)?;
    check_csrf(&c, &f.csrf)?;
    st.writer.run(move |tx| Ok(crate::notify::retry_now(tx, id, now_ms())?)).await?;
    if let Some(w) = &st.workflow.waker {
        w.wake();
    }
    Ok(Redirect::to("/notificaciones").into_response())
}
