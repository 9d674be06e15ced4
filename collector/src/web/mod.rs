//! The web layer: Spanish pages for people, JSON for machines, built by [`make_app`] so tests can
//! serve the very same router on `127.0.0.1:0`.

pub mod admin;
mod api;
pub mod auth;
mod commands;
mod error;
mod figures;
pub mod fleet;
pub mod hardware;
pub mod live;
pub mod maintenance;
mod metrics;
pub mod pages;
mod recordings;
pub mod reports;
pub mod series;
pub mod tickets;

use crate::ingest::IngestStatus;
use crate::store::writer::IngestStats;
use axum::Router;
use axum::routing::get;
use rusqlite::Connection;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use error::WebError;

/// Read-only SQLite connections, reused across requests.
pub struct ReaderPool {
    data_dir: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReaderPool {
    pub fn new(data_dir: PathBuf) -> Self {
        Self { data_dir, idle: Mutex::new(Vec::new()) }
    }

    /// The collector's data directory (attachments live under it).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// Runs `f` on a pooled connection, off the async runtime.
    pub async fn with<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R, WebError> {
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = match pool.idle.lock().ok().and_then(|mut v| v.pop()) {
                Some(c) => c,
                None => crate::store::open_reader(&pool.data_dir)?,
            };
            let out = f(&conn);
            if let Ok(mut idle) = pool.idle.lock()
                && idle.len() < 8
            {
                idle.push(conn);
            }
            Ok(out?)
        })
        .await
        .map_err(|e| WebError::Internal(format!("reader task failed: {e}")))?
    }
}

/// The web layer's one write connection. Changes made by people (tickets, users, the
/// organisation) run here, each in one `BEGIN IMMEDIATE` transaction with its audit row; the
/// ingest writer thread has its own connection, and SQLite serializes the two.
pub struct WebWriter {
    conn: Mutex<Connection>,
}

impl WebWriter {
    pub fn open(data_dir: &std::path::Path) -> Result<Self, crate::store::StoreError> {
        Ok(Self { conn: Mutex::new(crate::store::open_writer(data_dir)?) })
    }

    /// Runs `f` in a transaction off the async runtime: committed if it returns `Ok`, rolled back
    /// otherwise.
    pub async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&rusqlite::Transaction) -> Result<R, WebError> + Send + 'static,
    ) -> Result<R, WebError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = me.conn.lock().map_err(|_| WebError::Internal("the web writer lock is poisoned".into()))?;
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(|e| WebError::Internal(format!("writer task failed: {e}")))?
    }
}

/// What ticket pages need besides the database: the ticket settings, the calendar for due dates,
/// and the notification workers' waker.
pub struct WorkflowEnv {
    pub ctx: crate::tickets::store::Context,
    pub calendar: crate::calendar::Calendar,
    pub waker: Option<crate::notify::Waker>,
    /// `[reports]`: how calls are classified and the service level of the monthly figures.
    pub reports: crate::reports::settings::Settings,
}

#[derive(Clone)]
pub struct AppState {
    pub db: Arc<ReaderPool>,
    pub writer: Arc<WebWriter>,
    pub http: crate::config::HttpSettings,
    pub workflow: Arc<WorkflowEnv>,
    pub stats: Arc<IngestStats>,
    pub ingest: Arc<IngestStatus>,
    /// Commands to agents ("verificar ahora"), through the ingest task's MQTT session.
    pub commands: crate::commands::Commands,
}

static TIME_ZONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The configured time zone's IANA name, for the pages (set by [`make_app`]).
pub fn time_zone() -> &'static str {
    TIME_ZONE.get().map_or(crate::calendar::DEFAULT_TIME_ZONE, String::as_str)
}

pub fn make_app(state: AppState) -> Router {
    let _ = TIME_ZONE.set(state.workflow.calendar.tz().name().to_string());
    Router::new()
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", axum::routing::post(auth::logout))
        .route(auth::CHANGE_PASSWORD, get(auth::password_form).post(auth::change_password))
        .route("/admin/usuarios", get(admin::users).post(admin::create_user))
        .route("/admin/usuarios/restablecer", axum::routing::post(admin::reset_password))
        .route("/admin/usuarios/cambiar", axum::routing::post(admin::change_user))
        .route("/admin/organizacion", get(admin::organisation).post(admin::change_organisation))
        .route("/notificaciones", get(admin::notifications))
        .route("/notificaciones/{id}/reintentar", axum::routing::post(admin::retry_notification))
        .route("/tickets", get(tickets::list).post(tickets::create))
        .route("/tickets/nuevo", get(tickets::new_form))
        .route("/tickets/{id}", get(tickets::detail))
        .route("/tickets/{id}/accion", axum::routing::post(tickets::action))
        .route("/api/v1/tickets", get(tickets::api_list).post(tickets::api_create))
        .route("/api/v1/tickets/{id}", get(tickets::api_get))
        .route("/api/v1/tickets/{id}/actions", axum::routing::post(tickets::api_action))
        .route("/mantenimiento", get(maintenance::plan))
        .route("/mantenimiento/plan", axum::routing::post(maintenance::generate))
        .route("/mantenimiento.csv", get(maintenance::csv))
        .route("/mantenimiento/imprimir", get(maintenance::print))
        .route("/mantenimiento/{id}", get(maintenance::software))
        .route("/mantenimiento/{id}/verificar", axum::routing::post(maintenance::verify))
        .route("/mantenimiento/{id}/manual", axum::routing::post(maintenance::manual))
        .route("/mantenimiento/{id}/lista", axum::routing::post(maintenance::checklist))
        .route("/mantenimiento/{id}/informar", axum::routing::post(maintenance::submit))
        .route("/mantenimiento/{id}/analizar", axum::routing::post(maintenance::analyse))
        .route("/mantenimiento/{id}/ajustar", axum::routing::post(maintenance::adjust))
        .route(
            "/mantenimiento/{id}/adjuntos",
            axum::routing::post(maintenance::upload)
                .layer(axum::extract::DefaultBodyLimit::max(maintenance::MAX_ATTACHMENT_BYTES + 64 * 1024)),
        )
        .route("/mantenimiento/{id}/adjuntos/{aid}", get(maintenance::download))
        .route("/mantenimiento/{id}/evidencia/{eid}", get(maintenance::evidence))
        .route("/api/v1/maintenance", get(maintenance::api_list))
        .route("/api/v1/maintenance/{id}", get(maintenance::api_get))
        .route("/proveedores", get(hardware::providers).post(hardware::create_provider))
        .route("/proveedores/{id}/editar", get(hardware::edit_provider_form).post(hardware::edit_provider))
        .route("/proveedores/contratos", axum::routing::post(hardware::create_contract))
        .route("/proveedores/contratos/{id}/editar", get(hardware::edit_contract_form).post(hardware::edit_contract))
        .route("/mantenimiento/visitas/{id}", get(hardware::visit))
        .route("/mantenimiento/visitas/{id}/imprimir", get(hardware::print))
        .route("/mantenimiento/visitas/{id}/accion", axum::routing::post(hardware::action))
        .route("/reportes", get(reports::list))
        .route("/reportes/generar", axum::routing::post(reports::generate))
        .route("/reportes/{id}", get(reports::report))
        .route("/reportes/{id}/accion", axum::routing::post(reports::action))
        .route("/reportes/{id}/calidad", get(reports::qa_list))
        .route("/reportes/{id}/calidad/{call}", get(reports::qa_call).post(reports::score))
        .route("/reportes/{id}/cifras.csv", get(reports::figures_export))
        .route("/reportes/{id}/calidad.csv", get(reports::qa_export))
        .route("/reportes/{id}/informe.pdf", get(reports::pdf_export))
        .route("/api/v1/reports", get(reports::api_list))
        .route("/api/v1/reports/{id}", get(reports::api_get))
        .route("/static/reports.js", get(reports::charts_js))
        .route("/", get(fleet::page))
        .route("/eventos/flota", get(fleet::stream))
        .route("/api/v1/fleet", get(fleet::api))
        .route("/server/{id}", get(pages::server))
        .route("/eventos/servidor/{id}", get(pages::server_stream))
        .route("/server/{id}/silencios", axum::routing::post(pages::silence))
        .route("/server/{id}/silencios/{silence}/terminar", axum::routing::post(pages::end_silence))
        .route("/static/app.css", get(pages::css))
        .route("/static/app.js", get(pages::js))
        .route("/api/v1/servers", get(api::servers))
        .route("/api/v1/servers/{id}", get(api::server_latest))
        .route("/api/v1/servers/{id}/series", get(series::series))
        .route("/api/v1/servers/{id}/verify", axum::routing::post(commands::verify))
        .route("/api/v1/reports/figures", get(figures::api))
        .route("/grabaciones/{agent}/{uniqueid}", get(recordings::recording))
        .route("/static/charts.js", get(series::charts_js))
        .route("/static/vendor/uplot-1.6.32/uPlot.iife.min.js", get(series::uplot_js))
        .route("/static/vendor/uplot-1.6.32/uPlot.min.css", get(series::uplot_css))
        .route("/static/vendor/uplot-1.6.32/LICENSE", get(series::uplot_license))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(pages::not_found)
        .with_state(state)
}
