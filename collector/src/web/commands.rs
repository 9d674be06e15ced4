//! `POST /api/v1/servers/{id}/verify`: "verificar ahora" over the JSON API. The agent runs every
//! probe at once and the answer carries its full sample, or the reason there is none, in Spanish.
//!
//! Invariants:
//! - Only UACT staff (`jefe_uact`, `tecnico`, who do the preventive maintenance) may ask; a caller
//!   with a session cookie sends its CSRF token in the JSON body, as on the other API POSTs.
//! - Nothing is stored here: a page that keeps the sample as evidence stores it itself.

use super::auth::{ApiUser, check_csrf};
use super::{AppState, WebError};
use crate::auth::Role;
use crate::commands::CommandError;
use crate::store::read;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use centinela_shared::{AgentId, Outcome};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// How long the agent has to answer when the caller does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a caller may wait (each network probe alone may take 30 s).
pub const MAX_TIMEOUT_S: u64 = 300;

#[derive(Debug, Default, Deserialize)]
pub struct VerifyForm {
    /// The session's CSRF token (callers with a bearer token leave it out).
    #[serde(default)]
    pub csrf: String,
    /// Seconds to wait for the agent, 1 to [`MAX_TIMEOUT_S`]; default [`DEFAULT_TIMEOUT`].
    pub timeout_s: Option<u64>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The status code of each way a command can fail.
fn status_of(e: &CommandError) -> StatusCode {
    match e {
        CommandError::NotConnected => StatusCode::SERVICE_UNAVAILABLE,
        CommandError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        CommandError::Refused(_) | CommandError::RecordingRefused { .. } => StatusCode::CONFLICT,
        CommandError::Unexpected(_) => StatusCode::BAD_GATEWAY,
    }
}

pub async fn verify(
    State(st): State<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<String>,
    form: Option<Json<VerifyForm>>,
) -> Response {
    let form = form.map(|Json(f)| f).unwrap_or_default();
    if !matches!(c.user.role, Role::JefeUact | Role::Tecnico) {
        return error(StatusCode::FORBIDDEN, "solo el personal de UACT (jefe o técnico) puede verificar un servidor");
    }
    if c.csrf.is_some()
        && let Err(WebError::Forbidden(m)) = check_csrf(&c, &form.csrf)
    {
        return error(StatusCode::FORBIDDEN, m);
    }
    let timeout = match form.timeout_s {
        None => DEFAULT_TIMEOUT,
        Some(s) if (1..=MAX_TIMEOUT_S).contains(&s) => Duration::from_secs(s),
        Some(s) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("timeout_s = {s} no es válido; indique entre 1 y {MAX_TIMEOUT_S} segundos"),
            );
        }
    };
    let not_found = || error(StatusCode::NOT_FOUND, format!("no se encontró el servidor «{id}»"));
    let Ok(agent) = AgentId::new(id.clone()) else { return not_found() };
    let lookup = id.clone();
    match st.db.with(move |conn| read::server(conn, &lookup)).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(),
        Err(e) => return e.into_response(),
    }
    let who = c.user.username.as_str();
    match st.commands.verify_now(&agent, timeout).await {
        Ok(v) => {
            let failed = v.sample.probes.iter().filter(|p| matches!(p.outcome, Outcome::Failed(_))).count();
            tracing::info!(user = who, agent = %agent, request_id = v.request_id, elapsed = ?v.elapsed, failed, "server verified on demand");
            Json(json!({
                "server": agent.as_str(),
                // As a string: JavaScript numbers lose precision above 2^53.
                "request_id": v.request_id.to_string(),
                "taken_ms": v.taken_ms,
                "elapsed_ms": u64::try_from(v.elapsed.as_millis()).unwrap_or(u64::MAX),
                "probes": v.sample.probes.len(),
                "probes_failed": failed,
                "readings": v.sample.readings.len(),
                "sample": v.envelope(),
            }))
            .into_response()
        }
        Err(e) => {
            tracing::info!(user = who, agent = %agent, error = %e, "on-demand verification failed");
            error(status_of(&e), e.user_message())
        }
    }
}
