//! The JSON API (`/api/v1/...`) and the health check.

use super::auth::ApiUser;
use super::{AppState, WebError};
use crate::store::read;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::Ordering;

/// Every server: id, status, last_seen (RFC 3339), last_seq, samples, and what the agent said of itself.
/// A `jefe_centro` gets only the servers of their own centers.
pub async fn servers(State(st): State<AppState>, ApiUser(c): ApiUser) -> Result<Json<Vec<read::ServerRow>>, WebError> {
    let rows = st
        .db
        .with(move |conn| {
            let mut rows = read::servers(conn)?;
            if c.user.role == crate::auth::Role::JefeCentro {
                let centers: std::collections::HashMap<String, Option<i64>> = conn
                    .prepare("SELECT agent_id, center_id FROM servers")?
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                rows.retain(|s| super::fleet::may_see_center(&c, centers.get(&s.id).copied().flatten()));
            }
            Ok(rows)
        })
        .await?;
    Ok(Json(rows))
}

/// `None` when `c` may see the server `agent`; otherwise the 404 the API answers (a server outside
/// a `jefe_centro`'s centers is not revealed).
pub(super) async fn api_access(
    st: &AppState,
    c: &super::auth::Credentials,
    agent: &str,
) -> Result<Option<Response>, WebError> {
    let (c2, a) = (c.clone(), agent.to_string());
    let found = st.db.with(move |conn| super::pages::access(conn, &c2, &a)).await?;
    Ok(found.err().map(|_| {
        (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no existe el servidor «{agent}»") }))).into_response()
    }))
}

/// The latest sample of one server, decoded.
pub async fn server_latest(
    State(st): State<AppState>,
    ApiUser(c): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    if let Some(refused) = api_access(&st, &c, &id).await? {
        return Ok(refused);
    }
    let lookup = id.clone();
    let latest = st.db.with(move |c| read::latest_sample(c, &lookup)).await?;
    match latest {
        None => Err(WebError::NotFound(format!("muestras del servidor «{id}»"))),
        Some(Ok(env)) => Ok(Json(env).into_response()),
        Some(Err(e)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": format!("the latest stored sample cannot be decoded: {e}") })),
        )
            .into_response()),
    }
}

/// Liveness and the ingest counters. 200 while the database answers; 503 otherwise.
pub async fn healthz(State(st): State<AppState>) -> Response {
    let db = st.db.with(read::rejected_count).await;
    let mqtt = if st.ingest.connected.load(Ordering::Relaxed) { "connected" } else { "disconnected" };
    let body = |status: &str, db: serde_json::Value| {
        json!({
            "status": status,
            "database": db,
            "mqtt": mqtt,
            "stored": st.stats.stored.load(Ordering::Relaxed),
            "duplicates": st.stats.duplicates.load(Ordering::Relaxed),
            "rejected_since_start": st.stats.rejected.load(Ordering::Relaxed),
            "version": env!("CARGO_PKG_VERSION"),
        })
    };
    match db {
        Ok(rejected) => {
            let mut b = body("ok", json!("ok"));
            b["rejected_total"] = json!(rejected);
            (StatusCode::OK, Json(b)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(body("error", json!("unavailable")))).into_response()
        }
    }
}
