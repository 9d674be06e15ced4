//! Errors of the web layer, mapped to status codes in one exhaustive `match`. Internal details are
//! logged and never shown to the browser.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found: {0}")]
    NotFound(String),
    /// The user may not do this (or the form's CSRF token is wrong); the text says why, in Spanish.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The form's input is wrong; the text says what, in Spanish.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Nobody may do this in the current state (409); the text says why, in Spanish.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The action's data is unacceptable (422); the text says what, in Spanish.
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("template: {0}")]
    Render(#[from] askama::Error),
    #[error("{0}")]
    Internal(String),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            WebError::NotFound(what) => (StatusCode::NOT_FOUND, format!("No se encontró {what}.")),
            WebError::Forbidden(why) => (StatusCode::FORBIDDEN, format!("No permitido: {why}.")),
            WebError::BadRequest(why) => (StatusCode::BAD_REQUEST, format!("Datos no válidos: {why}.")),
            WebError::Conflict(why) => (StatusCode::CONFLICT, why.clone()),
            WebError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.clone()),
            WebError::Store(_) | WebError::Sqlite(_) | WebError::Render(_) | WebError::Internal(_) => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error interno del servidor. El detalle quedó en el registro del colector.".to_string(),
                )
            }
        };
        let page = super::pages::ErrorPage { code: status.as_u16(), message };
        let body = askama::Template::render(&page).unwrap_or_else(|_| page.message.clone());
        (status, Html(body)).into_response()
    }
}
