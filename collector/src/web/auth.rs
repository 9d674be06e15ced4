//! Who is asking: the session cookie or an API token turned into a [`User`], login and logout,
//! the forced change of a one-time password, and CSRF checks.
//!
//! Invariants:
//! - Every page and `/api/v1/…` route takes [`PageUser`] or [`ApiUser`]; only `/login`, `/healthz`
//!   and the static assets do not. Without credentials a page redirects to `/login`, the API
//!   answers 401.
//! - The cookie is `HttpOnly; SameSite=Strict; Path=/` (and `Secure` when `[http] public_url` is
//!   https); it carries a random token whose SHA-256 is the session's key.
//! - Every form that changes something carries the session's CSRF token and is refused with 403
//!   without it ([`check_csrf`]); API calls with a bearer token need none (no cookie is involved).
//! - A user whose password is a one-time password can only reach the change-password page.

use super::{AppState, WebError};
use crate::auth::{User, password, store, throttle};
use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use std::net::SocketAddr;

pub const COOKIE: &str = "centinela_session";
/// Where a user with a one-time password is sent.
pub const CHANGE_PASSWORD: &str = "/cuenta/contrasena";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The session token in the `Cookie` header, if any.
fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE && !v.is_empty()).then(|| v.to_string())
    })
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

/// How the request identified itself.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    /// The session's CSRF token; `None` for an API token (no cookie, no CSRF).
    pub csrf: Option<String>,
    /// The session token, to end it at logout.
    pub session: Option<String>,
}

async fn identify(parts: &Parts, st: &AppState) -> Result<Option<Credentials>, WebError> {
    let (idle, now) = (st.http.session_idle.as_millis() as i64, now_ms());
    if let Some(token) = bearer(&parts.headers) {
        let user = st.writer.run(move |c| Ok(store::token_user(c, &token, now)?)).await?;
        // A one-time password is about logging in with it; a token is its own credential, made
        // by an admin (a service-desk account may never log in at all).
        return Ok(user.map(|user| Credentials {
            user: User { must_change: false, ..user },
            csrf: None,
            session: None,
        }));
    }
    let Some(token) = cookie_token(&parts.headers) else { return Ok(None) };
    let t = token.clone();
    let found = st.writer.run(move |c| Ok(store::session_user(c, &t, now, idle)?)).await?;
    Ok(found.map(|(user, csrf)| Credentials { user, csrf: Some(csrf), session: Some(token) }))
}

/// A person on a page. Without a session: a redirect to `/login`; with a one-time password: a
/// redirect to the change-password page.
#[derive(Debug, Clone)]
pub struct PageUser(pub Credentials);

impl FromRequestParts<AppState> for PageUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        match identify(parts, st).await {
            Ok(Some(c)) if c.user.must_change && parts.uri.path() != CHANGE_PASSWORD => {
                Err(Redirect::to(CHANGE_PASSWORD).into_response())
            }
            Ok(Some(c)) => Ok(PageUser(c)),
            Ok(None) => {
                let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                Err(Redirect::to(&format!("/login?next={}", encode(next))).into_response())
            }
            Err(e) => Err(e.into_response()),
        }
    }
}

/// A caller of the JSON API: a session or `Authorization: Bearer <token>`; 401 otherwise.
#[derive(Debug, Clone)]
pub struct ApiUser(pub Credentials);

impl FromRequestParts<AppState> for ApiUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Self::Rejection> {
        match identify(parts, st).await {
            Ok(Some(c)) if !c.user.must_change => Ok(ApiUser(c)),
            Ok(Some(_)) => Err((
                StatusCode::FORBIDDEN,
                Json(serde_json::json!({ "error": "change the one-time password first, at /cuenta/contrasena" })),
            )
                .into_response()),
            Ok(None) => Err((
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
                Json(serde_json::json!({
                    "error": "authentication required: log in, or send Authorization: Bearer <token> (centinela-collector token create NAME)"
                })),
            )
                .into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Constant-time comparison of the form's token with the session's.
pub fn check_csrf(c: &Credentials, sent: &str) -> Result<(), WebError> {
    match &c.csrf {
        // A bearer token has no cookie a third-party page could ride on.
        None => Ok(()),
        Some(expected) => {
            let (a, b) = (expected.as_bytes(), sent.as_bytes());
            let same = a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
            if same {
                Ok(())
            } else {
                Err(WebError::Forbidden(
                    "el formulario caducó o no viene de Centinela (CSRF): recargue la página e inténtelo de nuevo"
                        .into(),
                ))
            }
        }
    }
}

/// Percent-encodes a path for `?next=`.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only a local path may be a redirect target (no `//host`, no scheme).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn session_cookie(st: &AppState, token: &str) -> String {
    let secure = if st.http.secure_cookies { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", st.http.session_max.as_secs())
}

fn clear_cookie(st: &AppState) -> String {
    let secure = if st.http.secure_cookies { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub next: String,
    pub username: String,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub next: Option<String>,
}

pub async fn login_form(Query(q): Query<NextQuery>) -> Result<Html<String>, WebError> {
    Ok(Html(LoginPage { next: safe_next(q.next.as_deref()), username: String::new(), error: None }.render()?))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    pub next: Option<String>,
}

/// What a login attempt came to.
enum Outcome {
    Ok { token: String, must_change: bool },
    Refused,
    Locked { minutes: i64 },
}

pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let ip = peer.ip().to_string();
    let username = form.username.trim().to_string();
    let (name, pass) = (username.clone(), form.password);
    let ttl = st.http.session_max.as_millis() as i64;
    let outcome = st
        .writer
        .run(move |c| {
            let now = now_ms();
            if let Some(until) = throttle::check(c, &name, &ip, now)? {
                return Ok(Outcome::Locked { minutes: ((until - now) / 60_000).max(1) });
            }
            let found = store::find_user(c, &name)?;
            let verified = match &found {
                Some((user, hash, true)) => password::verify(&pass, hash).then_some(user),
                Some((_, hash, false)) => {
                    let _ = password::verify(&pass, hash);
                    None
                }
                None => {
                    password::dummy_verify(&pass);
                    None
                }
            };
            match verified {
                Some(user) => {
                    throttle::clear_user(c, &name)?;
                    let (token, _) =
                        store::create_session(c, user.id, now, ttl).map_err(|e| WebError::Internal(e.to_string()))?;
                    tracing::info!(user = user.username.as_str(), "login");
                    Ok(Outcome::Ok { token, must_change: user.must_change })
                }
                None => {
                    throttle::record_failure(c, &name, &ip, now)?;
                    tracing::warn!(user = name.as_str(), ip = ip.as_str(), "failed login");
                    Ok(Outcome::Refused)
                }
            }
        })
        .await?;
    let next = safe_next(form.next.as_deref());
    let page = |error: String| LoginPage { next: next.clone(), username: username.clone(), error: Some(error) };
    match outcome {
        Outcome::Ok { token, must_change } => {
            let to = if must_change { CHANGE_PASSWORD.to_string() } else { next.clone() };
            Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, session_cookie(&st, &token)), (header::LOCATION, to)])
                .into_response())
        }
        Outcome::Refused => Ok((
            StatusCode::UNAUTHORIZED,
            Html(page("Usuario o contraseña incorrectos.".into()).render()?),
        )
            .into_response()),
        Outcome::Locked { minutes } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            Html(
                page(format!(
                    "Demasiados intentos fallidos. Espere {minutes} min antes de volver a intentarlo, o pida al administrador que restablezca su contraseña."
                ))
                .render()?,
            ),
        )
            .into_response()),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn logout(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    if let Some(token) = c.session.clone() {
        st.writer.run(move |conn| Ok(store::delete_session(conn, &token)?)).await?;
    }
    Ok((StatusCode::SEE_OTHER, [(header::SET_COOKIE, clear_cookie(&st)), (header::LOCATION, "/login".to_string())])
        .into_response())
}

#[derive(Template)]
#[template(path = "password.html")]
pub struct PasswordPage {
    pub me: super::pages::Me,
    pub forced: bool,
    pub error: Option<String>,
}

pub async fn password_form(PageUser(c): PageUser) -> Result<Html<String>, WebError> {
    let forced = c.user.must_change;
    Ok(Html(PasswordPage { me: super::pages::Me::from(&c), forced, error: None }.render()?))
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    pub csrf: String,
    pub current: String,
    pub new: String,
    pub confirm: String,
}

pub async fn change_password(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Form(f): Form<PasswordForm>,
) -> Result<Response, WebError> {
    check_csrf(&c, &f.csrf)?;
    let me = super::pages::Me::from(&c);
    let forced = c.user.must_change;
    let refuse = |error: String| -> Result<Response, WebError> {
        let page = PasswordPage { me: me.clone(), forced, error: Some(error) };
        Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response())
    };
    if f.new != f.confirm {
        return refuse("La nueva contraseña y su confirmación no coinciden.".into());
    }
    if f.new == f.current {
        return refuse("La nueva contraseña debe ser distinta de la actual.".into());
    }
    if let Err(e) = password::check_policy(&c.user.username, &f.new) {
        return refuse(format!("No se puede usar esa contraseña: {e}."));
    }
    let (user, session) = (c.user.clone(), c.session.clone());
    let changed = st
        .writer
        .run(move |conn| {
            let Some((_, stored, true)) = store::find_user(conn, &user.username)? else { return Ok(false) };
            if !password::verify(&f.current, &stored) {
                return Ok(false);
            }
            let hash = password::hash(&f.new).map_err(|e| WebError::Internal(e.to_string()))?;
            store::set_password(conn, &user.username, now_ms(), &user, &hash, false)
                .map_err(|e| WebError::Internal(e.to_string()))?;
            store::delete_other_sessions(conn, user.id, session.as_deref())?;
            Ok(true)
        })
        .await?;
    if !changed {
        return refuse("La contraseña actual no es correcta.".into());
    }
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/server/pbx-01?x=1")), "/server/pbx-01?x=1");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("theme=dark; centinela_session=abc123; lang=es"));
        assert_eq!(cookie_token(&h).as_deref(), Some("abc123"));
        h.insert(header::COOKIE, HeaderValue::from_static("centinela_session="));
        assert_eq!(cookie_token(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer cnt_xyz"));
        assert_eq!(bearer(&h).as_deref(), Some("cnt_xyz"));
    }

    #[test]
    fn a_wrong_or_missing_csrf_token_is_forbidden_and_a_bearer_token_needs_none() {
        let user = User {
            id: 1,
            username: "ana".into(),
            full_name: String::new(),
            email: None,
            role: crate::auth::Role::Tecnico,
            centers: vec![],
            must_change: false,
        };
        let c = Credentials { user: user.clone(), csrf: Some("a".repeat(64)), session: Some("s".into()) };
        assert!(check_csrf(&c, &"a".repeat(64)).is_ok());
        assert!(matches!(check_csrf(&c, &"b".repeat(64)), Err(WebError::Forbidden(_))));
        assert!(matches!(check_csrf(&c, ""), Err(WebError::Forbidden(_))));
        let api = Credentials { user, csrf: None, session: None };
        assert!(check_csrf(&api, "").is_ok());
    }
}
