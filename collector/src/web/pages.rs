//! Server-rendered Spanish pages. View models turn stored rows and samples into the words and
//! numbers a UACT chief reads; templates only lay them out.

use super::auth::{Credentials, PageUser};
use super::{AppState, WebError};
use crate::store::read::{self, ServerRow, rfc3339};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse};
use centinela_agent::check::{
    access_es, admin_app_summary, ami_es, ata_summary, database_summary, human_bytes, human_duration_s, identity,
    nvme_summary, opt_num, shipping_summary,
};
use centinela_shared::{AsteriskV1, Body, EndpointV1, Envelope, Level, Outcome, Reading, RegistrationV1, Verdict};
use rusqlite::{Connection, OptionalExtension};

/// The Spanish word and CSS class for a server status.
pub fn status_words(status: &str) -> (&'static str, &'static str) {
    match status {
        "online" => ("En línea", "ok"),
        "stale" => ("Sin reportar", "warn"),
        "offline" => ("Desconectado", "crit"),
        "stopped" => ("Detenido", "muted"),
        _ => ("Desconocido", "muted"),
    }
}

/// The Spanish name of a probe, by its wire name.
pub fn probe_label(wire: &str) -> String {
    match wire {
        "host" => "Sistema (CPU, memoria, carga)".into(),
        "filesystems" => "Sistemas de archivos".into(),
        "raid" => "Arreglos RAID (md)".into(),
        "sensors" => "Temperaturas y ventiladores".into(),
        "smart" => "Discos (SMART)".into(),
        "asterisk" => "Asterisk (AMI)".into(),
        "database" => "Base de datos CDR".into(),
        "admin_app" => "Aplicación de administración (web)".into(),
        other => other.to_string(),
    }
}

pub struct ServerView {
    pub id: String,
    pub hostname: Option<String>,
    pub status: String,
    pub label: &'static str,
    pub css: &'static str,
    pub status_since: String,
    pub last_seen: Option<String>,
    pub first_seen: String,
    pub samples: i64,
    pub last_seq: i64,
    pub agent_version: Option<String>,
    pub probes: String,
    pub config_hash: String,
    pub cdr_rows: i64,
    pub cdr_newest: String,
    pub queue_log_rows: i64,
    /// Open corrective tickets of this server.
    pub open_tickets: i64,
    /// Problems firing now, and how many of them a silence or maintenance window suppresses.
    pub problems: i64,
    pub suppressed: i64,
}

impl From<ServerRow> for ServerView {
    fn from(r: ServerRow) -> Self {
        let (label, css) = status_words(&r.status);
        Self {
            label,
            css,
            probes: if r.probes.is_empty() { "—".into() } else { r.probes.join(", ") },
            config_hash: r.config_hash.unwrap_or_else(|| "—".into()),
            id: r.id,
            hostname: r.hostname,
            status: r.status,
            status_since: r.status_since,
            last_seen: r.last_seen,
            first_seen: r.first_seen,
            samples: r.samples,
            last_seq: r.last_seq,
            agent_version: r.agent_version,
            cdr_rows: r.cdr_rows,
            cdr_newest: r.cdr_newest.unwrap_or_else(|| "—".into()),
            queue_log_rows: r.queue_log_rows,
            open_tickets: 0,
            problems: 0,
            suppressed: 0,
        }
    }
}

#[derive(Default)]
pub struct Counts {
    pub online: usize,
    pub stale: usize,
    pub offline: usize,
    pub stopped: usize,
}

/// The signed-in person, for the header of every page.
#[derive(Debug, Clone)]
pub struct Me {
    pub name: String,
    pub role: &'static str,
    pub csrf: String,
    pub admin: bool,
    /// The UACT chief or the admin: sees notification deliveries.
    pub chief: bool,
    /// Works in UACT (admin, chief, technician): sees providers and contracts.
    pub uact: bool,
    /// The collector's time zone (IANA): app.js shows every time in it, not the browser's.
    pub tz: String,
}

impl From<&super::auth::Credentials> for Me {
    fn from(c: &super::auth::Credentials) -> Self {
        Self {
            name: c.user.display().to_string(),
            role: c.user.role.label(),
            csrf: c.csrf.clone().unwrap_or_default(),
            admin: c.user.role == crate::auth::Role::Admin,
            chief: matches!(c.user.role, crate::auth::Role::Admin | crate::auth::Role::JefeUact),
            uact: matches!(
                c.user.role,
                crate::auth::Role::Admin | crate::auth::Role::JefeUact | crate::auth::Role::Tecnico
            ),
            tz: super::time_zone().to_string(),
        }
    }
}

pub struct ProbeView {
    pub name: String,
    pub label: &'static str,
    pub css: &'static str,
    pub reason: String,
    pub duration: String,
}

pub struct HostView {
    pub hostname: String,
    pub os: String,
    pub kernel: String,
    pub uptime: String,
    pub cpu: String,
    pub load: String,
    pub memory: String,
    pub swap: String,
}

pub struct FsView {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub size: String,
    pub free: String,
    pub used_pct: String,
    pub read_only: bool,
}

/// The Spanish word and CSS class of a verdict level.
pub fn level_words(level: Level) -> (&'static str, &'static str) {
    match level {
        Level::Ok => ("Correcto", "ok"),
        Level::Warning => ("Advertencia", "warn"),
        Level::Critical => ("Crítico", "crit"),
    }
}

/// One hardware reading as a row: what it is, its value, and its verdict.
pub struct HardwareRow {
    pub name: String,
    pub detail: String,
    pub value: String,
    pub label: &'static str,
    pub css: &'static str,
    pub reasons: String,
}

impl HardwareRow {
    fn new(name: String, detail: String, value: String, v: &Verdict) -> Self {
        let (label, css) = level_words(v.level);
        Self { name, detail, value, label, css, reasons: v.reasons.join("; ") }
    }
}

pub struct AsteriskView {
    pub ami: String,
    pub label: &'static str,
    pub css: &'static str,
    pub reasons: String,
    pub facts: Vec<(&'static str, String)>,
    pub groups: Vec<HardwareGroup>,
}

impl AsteriskView {
    pub fn new(a: &AsteriskV1) -> Self {
        let (label, css) = level_words(a.verdict.level);
        let dur = |s: Option<u64>| s.map(human_duration_s).unwrap_or_else(|| "—".into());
        let mut facts = vec![
            ("Versión", a.version.clone().unwrap_or_else(|| "—".into())),
            ("Encendido desde hace", dur(a.uptime_s)),
            ("Última recarga hace", dur(a.since_reload_s)),
            ("Canales activos", opt_num(a.active_channels, "")),
            ("Llamadas activas", opt_num(a.active_calls, "")),
            ("Llamadas procesadas", opt_num(a.calls_processed, "")),
        ];
        if let Some(name) = &a.longest_channel {
            facts.push(("Canal más antiguo", format!("{name} ({})", dur(a.longest_channel_s))));
        }
        let queues = a
            .queues
            .iter()
            .map(|q| {
                HardwareRow::new(
                    q.name.clone(),
                    format!(
                        "agentes: {} conectados, {} disponibles, {} en pausa",
                        q.members_logged_in, q.members_available, q.members_paused
                    ),
                    format!("{} en espera (máx. {} s)", q.callers, q.longest_wait_s),
                    &q.verdict,
                )
            })
            .collect();
        let regs = |v: &[RegistrationV1]| -> Vec<HardwareRow> {
            v.iter()
                .map(|r| HardwareRow::new(r.name.clone(), r.server_uri.clone(), r.status.clone(), &r.verdict))
                .collect()
        };
        let eps = |v: &[EndpointV1]| -> Vec<HardwareRow> {
            v.iter()
                .map(|e| {
                    HardwareRow::new(
                        e.name.clone(),
                        if e.trunk { "troncal".into() } else { "extensión".into() },
                        format!(
                            "{} · contactos alcanzables {}/{}",
                            e.device_state, e.contacts_reachable, e.contacts_total
                        ),
                        &e.verdict,
                    )
                })
                .collect()
        };
        let mut groups = vec![
            ("Colas", queues),
            ("Registros de troncales (PJSIP)", regs(&a.registrations)),
            ("Endpoints (PJSIP)", eps(&a.endpoints)),
        ];
        if let Some(p) = &a.sip_peers {
            groups.push(("Peers chan_sip", eps(p)));
        }
        if let Some(r) = &a.sip_registry {
            groups.push(("Registros chan_sip", regs(r)));
        }
        Self {
            ami: ami_es(&a.ami),
            label,
            css,
            reasons: a.verdict.reasons.join("; "),
            facts,
            groups: groups
                .into_iter()
                .filter(|(_, rows)| !rows.is_empty())
                .map(|(title, rows)| HardwareGroup { title, rows })
                .collect(),
        }
    }
}

pub struct LatestView {
    pub seq: u64,
    pub taken: String,
    pub agent_version: String,
    pub interval: String,
    pub backlog: u64,
    pub dropped: u64,
    pub probes: Vec<ProbeView>,
    pub host: Option<HostView>,
    pub filesystems: Vec<FsView>,
    /// Non-empty groups only: disks, RAID arrays, temperatures, fans.
    pub hardware: Vec<HardwareGroup>,
    pub asterisk: Option<AsteriskView>,
    pub database: Option<HardwareGroup>,
    /// The VoIP admin web application (FreePBX, Issabel).
    pub admin_app: Option<HardwareGroup>,
}

pub struct HardwareGroup {
    pub title: &'static str,
    pub rows: Vec<HardwareRow>,
}

pub enum SampleView {
    Missing,
    Undecodable(String),
    Ok(Box<LatestView>),
}

impl LatestView {
    /// `None` for an envelope that is not a sample (a CDR batch).
    pub fn new(env: &Envelope) -> Option<Self> {
        let Body::SampleV1(s) = &env.body else { return None };
        let probes = s
            .probes
            .iter()
            .map(|p| {
                let (label, css, reason) = match &p.outcome {
                    Outcome::Ok => ("correcto", "ok", String::new()),
                    Outcome::NotApplicable(why) => ("no aplica", "muted", why.clone()),
                    Outcome::Failed(why) => ("falló", "crit", why.clone()),
                };
                ProbeView {
                    name: probe_label(&p.probe),
                    label,
                    css,
                    reason,
                    duration: format!("{:.1} ms", p.duration_us as f64 / 1000.0),
                }
            })
            .collect();
        let mut host = None;
        let mut asterisk = None;
        let mut databases = Vec::new();
        let mut admin_apps = Vec::new();
        let mut filesystems = Vec::new();
        let (mut disks, mut raid, mut temperatures, mut fans) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for r in &s.readings {
            match r {
                Reading::HostV1(h) => {
                    host = Some(HostView {
                        hostname: h.hostname.clone(),
                        os: h.os.clone(),
                        kernel: h.kernel.clone(),
                        uptime: human_duration_s(h.uptime_s),
                        cpu: format!("{:.1} % de {} núcleos", h.cpu_percent, h.cpu_count),
                        load: format!("{:.2} · {:.2} · {:.2}", h.load1, h.load5, h.load15),
                        memory: format!("{} de {}", human_bytes(h.mem_available_bytes), human_bytes(h.mem_total_bytes)),
                        swap: format!("{} de {}", human_bytes(h.swap_used_bytes), human_bytes(h.swap_total_bytes)),
                    })
                }
                Reading::AsteriskV1(a) => asterisk = Some(AsteriskView::new(a)),
                Reading::DatabaseV1(d) => databases.push(HardwareRow::new(
                    d.backend.clone(),
                    d.target.clone(),
                    database_summary(d),
                    &d.verdict,
                )),
                Reading::ShippingV1(sh) => databases.push(HardwareRow::new(
                    if sh.what == "cdr" { "Envío del CDR".into() } else { "Envío de queue_log".into() },
                    sh.source.clone(),
                    shipping_summary(sh),
                    &sh.verdict,
                )),
                Reading::AdminAppV1(a) => admin_apps.push(HardwareRow::new(
                    a.url.clone(),
                    match &a.tls {
                        Some(c) => format!("certificado emitido por {}", c.issuer),
                        None => "sin TLS".into(),
                    },
                    admin_app_summary(a),
                    &a.verdict,
                )),
                Reading::RaidArrayV1(a) => {
                    let in_sync = a.working_members();
                    let members: Vec<String> = a.members.iter().map(|m| m.describe()).collect();
                    let progress = a
                        .sync_completed
                        .filter(|(_, total)| *total > 0)
                        .map(|(done, total)| format!(", {} {:.1} %", a.sync_action, done as f64 * 100.0 / total as f64))
                        .unwrap_or_default();
                    raid.push(HardwareRow::new(
                        a.name.clone(),
                        format!("{} · {} · miembros: {}", a.level, a.array_state, members.join(", ")),
                        format!("[{}/{}]{progress}", a.raid_disks, in_sync),
                        &a.verdict,
                    ));
                }
                Reading::AtaDiskV1(d) => disks.push(HardwareRow::new(
                    d.device.clone(),
                    identity(&d.model, &d.serial, &d.firmware),
                    access_es(&d.access).unwrap_or_else(|| ata_summary(d)),
                    &d.verdict,
                )),
                Reading::NvmeDiskV1(d) => disks.push(HardwareRow::new(
                    d.device.clone(),
                    identity(&d.model, &d.serial, &d.firmware),
                    access_es(&d.access).unwrap_or_else(|| nvme_summary(d)),
                    &d.verdict,
                )),
                Reading::TemperatureV1(t) => temperatures.push(HardwareRow::new(
                    t.label.clone(),
                    format!("{} {}", t.chip, t.device),
                    format!(
                        "{} (máx {}, crít {})",
                        opt_num(t.celsius.map(|c| format!("{c:.1}")), " °C"),
                        opt_num(t.max, " °C"),
                        opt_num(t.crit, " °C")
                    ),
                    &t.verdict,
                )),
                Reading::FanV1(f) => fans.push(HardwareRow::new(
                    f.label.clone(),
                    format!("{} {}", f.chip, f.device),
                    format!("{} (mín {})", opt_num(f.rpm, " rpm"), opt_num(f.min, " rpm")),
                    &f.verdict,
                )),
                Reading::FilesystemV1(f) => filesystems.push(FsView {
                    mount_point: f.mount_point.clone(),
                    device: f.device.clone(),
                    fs_type: f.fs_type.clone(),
                    size: human_bytes(f.total_bytes),
                    free: human_bytes(f.available_bytes),
                    used_pct: format!("{:.1}", f.used_percent()),
                    read_only: f.read_only,
                }),
            }
        }
        Some(Self {
            seq: env.seq,
            taken: rfc3339(env.taken_ms),
            agent_version: s.agent_version.clone(),
            interval: humantime::format_duration(std::time::Duration::from_millis(u64::from(s.interval_ms)))
                .to_string(),
            backlog: s.outbox.backlog,
            dropped: s.outbox.dropped_total,
            probes,
            host,
            asterisk,
            database: (!databases.is_empty()).then_some(HardwareGroup { title: "Base de datos CDR", rows: databases }),
            admin_app: (!admin_apps.is_empty())
                .then_some(HardwareGroup { title: "Aplicación de administración", rows: admin_apps }),
            filesystems,
            hardware: [
                ("Discos (SMART)", disks),
                ("Arreglos RAID", raid),
                ("Temperaturas", temperatures),
                ("Ventiladores", fans),
            ]
            .into_iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(title, rows)| HardwareGroup { title, rows })
            .collect(),
        })
    }
}

/// A problem firing now, as the server page shows it.
pub struct ProblemView {
    pub summary: String,
    pub severity: String,
    pub since: String,
    pub ticket: Option<i64>,
    pub suppressed: Option<String>,
}

/// A current silence or maintenance window.
pub struct SilenceView {
    pub id: i64,
    pub what: &'static str,
    pub rule: String,
    pub from: String,
    pub until: String,
    pub reason: String,
    pub by: String,
}

/// The parts of a server's page that change as samples arrive (`server_live.html`): the page
/// renders them in place, and the stream sends them again, together, whenever one changes.
#[derive(Template)]
#[template(path = "server_live.html", blocks = ["cabecera", "problemas", "lecturas", "registro"])]
pub struct ServerLive {
    pub s: ServerView,
    /// The server's status as the fleet view shows it (health, not only presence).
    pub card: Option<super::fleet::Card>,
    pub sample: SampleView,
    pub problems: Vec<ProblemView>,
    pub silences: Vec<SilenceView>,
    /// (id, title, state label) of the server's open tickets.
    pub tickets: Vec<(i64, String, &'static str)>,
    /// Technicians and the UACT chief may silence (and end a silence); others only see.
    pub can_silence: bool,
    /// The session's CSRF token, for the silences' "Terminar ahora" forms.
    pub csrf: String,
}

/// A [`ServerLive`] rendered, part by part (each part is one `data-live-part` element).
pub struct LiveParts {
    pub cabecera: String,
    pub problemas: String,
    pub lecturas: String,
    pub registro: String,
}

impl ServerLive {
    pub fn render_parts(&self) -> askama::Result<LiveParts> {
        Ok(LiveParts {
            cabecera: self.as_cabecera().render()?,
            problemas: self.as_problemas().render()?,
            lecturas: self.as_lecturas().render()?,
            registro: self.as_registro().render()?,
        })
    }
}

impl LiveParts {
    /// What the stream sends: every part, in the page's order.
    pub fn joined(&self) -> String {
        [&self.cabecera, &self.problemas, &self.lecturas, &self.registro].into_iter().map(String::as_str).collect()
    }
}

/// The server page: its live parts, and around them what a swap must not touch (the silence form,
/// which may be half filled in, and the charts).
#[derive(Template)]
#[template(path = "server.html")]
pub struct ServerPage {
    pub me: Me,
    pub id: String,
    pub live: LiveParts,
    /// The live parts' [`super::live::version`], for the stream.
    pub version: String,
    pub live_every_ms: u128,
    pub can_silence: bool,
    pub error: Option<String>,
    /// This server's preventive maintenance around today (not live: it changes by people's hands).
    pub maintenance: Vec<super::maintenance::Row>,
}

impl ServerPage {
    pub fn new(me: Me, live: &ServerLive, error: Option<String>) -> askama::Result<Self> {
        let parts = live.render_parts()?;
        Ok(Self {
            me,
            id: live.s.id.clone(),
            version: super::live::version(&parts.joined()),
            live: parts,
            live_every_ms: super::live::LIVE_EVERY.as_millis(),
            can_silence: live.can_silence,
            error,
            maintenance: Vec::new(),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub code: u16,
    pub message: String,
}

/// Whether the server `agent` is there for `c`: `Ok`, or the refusal to show (404; 403 for a
/// `jefe_centro`, who sees only the servers of their own centers, here as on the fleet view).
/// Whether `c` may see the server `agent`: 404 for an unknown one, 403 for a `jefe_centro`
/// outside their centers (pages; the JSON API answers both as 404).
pub(super) fn access(conn: &Connection, c: &Credentials, agent: &str) -> rusqlite::Result<Result<(), WebError>> {
    let center: Option<Option<i64>> =
        conn.query_row("SELECT center_id FROM servers WHERE agent_id = ?1", [agent], |r| r.get(0)).optional()?;
    Ok(match center {
        None => Err(WebError::NotFound(format!("el servidor «{agent}»"))),
        Some(center) if !super::fleet::may_see_center(c, center) => {
            Err(WebError::Forbidden("este servidor no es de ninguno de sus centros telefónicos".into()))
        }
        Some(_) => Ok(()),
    })
}

pub async fn server(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    server_page(&st, &c, id, None).await
}

pub async fn server_page(
    st: &AppState,
    c: &Credentials,
    id: String,
    error: Option<String>,
) -> Result<Html<String>, WebError> {
    let live = server_live(st, c, &id).await?;
    let mut page = ServerPage::new(Me::from(c), &live, error)?;
    page.maintenance = super::maintenance::server_rows(st, id).await?;
    Ok(Html(page.render()?))
}

/// Server-sent events for the server page: its live parts whenever one changes (see
/// [`super::live`]). Refused as the page is, before any event: a 404 or 403 stops the browser's
/// `EventSource` for good.
pub async fn server_stream(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(since): Query<super::live::Since>,
) -> Result<Sse<impl futures_core::Stream<Item = Result<Event, std::convert::Infallible>>>, WebError> {
    let (c2, agent) = (c.clone(), id.clone());
    st.db.with(move |conn| access(conn, &c2, &agent)).await??;
    Ok(super::live::stream(super::live::known(&headers, since), move || {
        let (st, c, id) = (st.clone(), c.clone(), id.clone());
        async move { Ok(server_live(&st, &c, &id).await?.render_parts()?.joined()) }
    }))
}

/// Everything the live parts of `id`'s page show, as `c` may see it.
async fn server_live(st: &AppState, c: &Credentials, id: &str) -> Result<ServerLive, WebError> {
    let (lookup, st2, c2) = (id.to_string(), st.clone(), c.clone());
    let found = st
        .db
        .with(move |conn| {
            if let Err(refused) = access(conn, &c2, &lookup)? {
                return Ok(Err(refused));
            }
            let now = chrono::Utc::now().timestamp_millis();
            let card = super::fleet::card(conn, &c2, &st2, now, &lookup)?;
            let cal = &st2.workflow.calendar;
            let at =
                |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| cal.format_local(t)).unwrap_or_default();
            let problems = crate::silences::problems(conn, &lookup)?
                .into_iter()
                .map(|p| ProblemView {
                    summary: p.summary,
                    severity: p.severity,
                    since: at(p.since),
                    ticket: p.ticket_id,
                    suppressed: p.suppressed,
                })
                .collect();
            let silences = crate::silences::current(conn, &lookup, now)?
                .into_iter()
                .map(|x| SilenceView {
                    id: x.id,
                    what: if x.kind == "mantenimiento" { "Mantenimiento" } else { "Silencio" },
                    rule: x.rule.unwrap_or_else(|| "todas las reglas".into()),
                    from: at(x.starts_at),
                    until: at(x.ends_at),
                    reason: x.reason,
                    by: x.created_by,
                })
                .collect();
            let server_id: Option<i64> =
                conn.query_row("SELECT id FROM servers WHERE agent_id = ?1", [&lookup], |r| r.get(0)).ok();
            let tickets = match server_id {
                Some(sid) => crate::tickets::store::list(
                    conn,
                    &crate::tickets::store::Filter { server: Some(sid), ..Default::default() },
                    50,
                )?
                .into_iter()
                .map(|t| (t.id, t.title, t.state.label()))
                .collect(),
                None => vec![],
            };
            let row = read::server(conn, &lookup)?;
            Ok(Ok((card, row, read::latest_sample(conn, &lookup)?, problems, silences, tickets)))
        })
        .await?;
    let (card, row, latest, problems, silences, tickets) = found?;
    let row = row.ok_or_else(|| WebError::NotFound(format!("el servidor «{id}»")))?;
    let sample = match latest {
        None => SampleView::Missing,
        Some(Err(e)) => SampleView::Undecodable(e.to_string()),
        Some(Ok(env)) => match LatestView::new(&env) {
            Some(view) => SampleView::Ok(Box::new(view)),
            None => SampleView::Undecodable(format!("el mensaje {} no es una muestra", env.seq)),
        },
    };
    Ok(ServerLive {
        s: row.into(),
        card,
        sample,
        problems,
        silences,
        tickets,
        can_silence: matches!(c.user.role, crate::auth::Role::JefeUact | crate::auth::Role::Tecnico),
        csrf: c.csrf.clone().unwrap_or_default(),
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct SilenceForm {
    pub csrf: String,
    /// "silencio" or "mantenimiento".
    pub tipo: String,
    /// A rule id; empty: every rule.
    #[serde(default)]
    pub regla: String,
    /// How long from now, e.g. "2h", "1d".
    pub duracion: String,
    pub motivo: String,
}

pub async fn silence(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Path(id): Path<String>,
    axum::Form(f): axum::Form<SilenceForm>,
) -> Result<axum::response::Response, WebError> {
    use axum::response::IntoResponse;
    super::auth::check_csrf(&c, &f.csrf)?;
    if !matches!(c.user.role, crate::auth::Role::JefeUact | crate::auth::Role::Tecnico) {
        return Err(WebError::Forbidden("solo el personal de UACT puede silenciar un servidor".into()));
    }
    let Ok(length) = humantime::parse_duration(f.duracion.trim()) else {
        let msg = format!("la duración «{}» no se entiende; escríbala como 2h, 30m o 1d", f.duracion.trim());
        return Ok(
            (axum::http::StatusCode::UNPROCESSABLE_ENTITY, server_page(&st, &c, id, Some(msg)).await?).into_response()
        );
    };
    let (actor, agent) = (c.user.username.clone(), id.clone());
    let created = st
        .writer
        .run(move |tx| {
            let now = chrono::Utc::now().timestamp_millis();
            let rule = Some(f.regla.trim()).filter(|r| !r.is_empty());
            Ok(crate::silences::create(
                tx,
                &actor,
                now,
                &agent,
                &f.tipo,
                rule,
                now,
                now + length.as_millis() as i64,
                &f.motivo,
            ))
        })
        .await?;
    match created {
        Ok(_) => Ok(axum::response::Redirect::to(&format!("/server/{id}")).into_response()),
        Err(e) => {
            let msg = e.to_string();
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, server_page(&st, &c, id, Some(msg)).await?)
                .into_response())
        }
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct EndSilenceForm {
    pub csrf: String,
}

pub async fn end_silence(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Path((id, silence)): Path<(String, i64)>,
    axum::Form(f): axum::Form<EndSilenceForm>,
) -> Result<axum::response::Response, WebError> {
    use axum::response::IntoResponse;
    super::auth::check_csrf(&c, &f.csrf)?;
    if !matches!(c.user.role, crate::auth::Role::JefeUact | crate::auth::Role::Tecnico) {
        return Err(WebError::Forbidden("solo el personal de UACT puede terminar un silencio".into()));
    }
    let actor = c.user.username.clone();
    st.writer
        .run(move |tx| Ok(crate::silences::end(tx, &actor, chrono::Utc::now().timestamp_millis(), silence)?))
        .await?;
    Ok(axum::response::Redirect::to(&format!("/server/{id}")).into_response())
}

pub async fn not_found() -> WebError {
    WebError::NotFound("la página solicitada".into())
}

pub async fn css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../assets/app.css"))
}

pub async fn js() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/app.js"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::*;

    pub(super) fn live(s: ServerView, sample: SampleView) -> ServerLive {
        ServerLive {
            s,
            card: None,
            sample,
            problems: vec![],
            silences: vec![],
            tickets: vec![],
            can_silence: false,
            csrf: "c".repeat(64),
        }
    }

    pub(super) fn page(s: ServerView, sample: SampleView) -> ServerPage {
        ServerPage::new(me(), &live(s, sample), None).unwrap()
    }

    pub(super) fn me() -> Me {
        Me {
            name: "Ana López".into(),
            role: "Técnico de UACT",
            csrf: "c".repeat(64),
            admin: false,
            chief: false,
            uact: true,
            tz: "America/El_Salvador".into(),
        }
    }

    fn row(status: &str) -> ServerRow {
        ServerRow {
            id: "pbx-01".into(),
            status: status.into(),
            last_seen: Some("2026-11-27T10:00:00Z".into()),
            last_seq: 7,
            samples: 7,
            hostname: Some("pbx-01".into()),
            agent_version: Some("0.1.0".into()),
            config_hash: None,
            probes: vec!["host".into(), "raid".into()],
            interval_ms: 10_000,
            first_seen: "2026-11-27T09:00:00Z".into(),
            status_since: "2026-11-27T09:00:00Z".into(),
            cdr_rows: 76,
            cdr_newest: Some("2026-11-27 10:01:00".into()),
            queue_log_rows: 0,
        }
    }

    #[test]
    fn the_server_page_shows_a_degraded_array_and_a_stopped_fan_in_spanish() {
        let mut degraded = Verdict::ok();
        degraded.raise(Level::Critical, "arreglo RAID degradado: falta 1 de 2 miembros");
        let mut stopped = Verdict::ok();
        stopped.raise(Level::Critical, "ventilador detenido");
        let env = Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 7,
            taken_ms: 1_795_000_000_000,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![ProbeReport { probe: "raid".into(), outcome: Outcome::Ok, duration_us: 90 }],
                readings: vec![
                    Reading::RaidArrayV1(RaidArrayV1 {
                        name: "md0".into(),
                        level: "raid1".into(),
                        array_state: "clean".into(),
                        raid_disks: 2,
                        degraded: 1,
                        sync_action: "idle".into(),
                        sync_completed: None,
                        sync_speed_kib: None,
                        mismatch_cnt: None,
                        members: vec![RaidMemberV1 {
                            device: "sdb1".into(),
                            slot: None,
                            state: vec!["faulty".into()],
                            errors: None,
                        }],
                        from_mdstat: false,
                        verdict: degraded,
                    }),
                    Reading::FanV1(FanV1 {
                        chip: "nct6775".into(),
                        device: "platform/nct6775.656".into(),
                        label: "fan2".into(),
                        rpm: Some(0),
                        min: Some(600),
                        alarm: true,
                        verdict: stopped,
                    }),
                ],
            }),
        };
        let html =
            page(row("online").into(), SampleView::Ok(Box::new(LatestView::new(&env).unwrap()))).render().unwrap();
        assert!(html.contains("<h2>Hardware</h2>") && html.contains("Arreglos RAID") && html.contains("Ventiladores"));
        assert!(html.contains("md0") && html.contains("sdb1 (faulty)") && html.contains("arreglo RAID degradado"));
        assert!(html.contains("badge crit\">Crítico") && html.contains("ventilador detenido"));
        assert!(html.contains("Arreglos RAID (md)"), "probe names are shown in Spanish");
        // The charts section has a "Temperaturas" heading of its own; the empty hardware group
        // (a heading followed by its table) must not be there.
        assert!(!html.contains("<h3>Temperaturas</h3>\n<div class=\"table-scroll\">"), "empty groups are left out");
    }
}

#[cfg(test)]
mod live_tests {
    use super::tests::{live, me};
    use super::*;
    use crate::auth::{Role, User};
    use crate::web::fleet::Card;

    fn row() -> ServerRow {
        ServerRow {
            id: "pbx-01".into(),
            status: "online".into(),
            last_seen: Some("2026-11-27T10:00:00Z".into()),
            last_seq: 7,
            samples: 7,
            hostname: Some("pbx-01".into()),
            agent_version: Some("0.1.0".into()),
            config_hash: None,
            probes: vec!["raid".into()],
            interval_ms: 10_000,
            first_seen: "2026-11-27T09:00:00Z".into(),
            status_since: "2026-11-27T09:00:00Z".into(),
            cdr_rows: 0,
            cdr_newest: None,
            queue_log_rows: 0,
        }
    }

    fn card(status: &'static str, label: &'static str, css: &'static str, why: &[&str]) -> Card {
        Card {
            id: "pbx-01".into(),
            status,
            label,
            css,
            since: "2026-11-27T09:00:00Z".into(),
            why: why.iter().map(|w| w.to_string()).collect(),
            facts: vec![],
            open_tickets: 0,
        }
    }

    /// The `data-live-part` names in `html`, in order.
    fn part_names(html: &str) -> Vec<&str> {
        html.split("data-live-part=\"").skip(1).filter_map(|rest| rest.split('"').next()).collect()
    }

    #[test]
    fn the_stream_sends_every_live_part_in_page_order_each_one_element() {
        let parts = live(row().into(), SampleView::Missing).render_parts().unwrap();
        assert_eq!(part_names(&parts.joined()), ["cabecera", "problemas", "lecturas", "registro"]);
        for part in [&parts.cabecera, &parts.problemas, &parts.lecturas, &parts.registro] {
            let part = part.trim();
            assert!(part.starts_with("<div data-live-part=") && part.ends_with("</div>"), "{part}");
            assert_eq!(part_names(part).len(), 1, "{part}");
        }
    }

    #[test]
    fn the_page_shows_the_parts_as_sent_and_keeps_the_silence_form_and_the_charts_outside_them() {
        let mut view = live(row().into(), SampleView::Missing);
        view.can_silence = true;
        let parts = view.render_parts().unwrap();
        let html = ServerPage::new(me(), &view, None).unwrap().render().unwrap();
        for part in [&parts.cabecera, &parts.problemas, &parts.lecturas, &parts.registro] {
            assert!(html.contains(part.as_str()), "the page holds the part the stream would send: {part}");
            assert!(!part.contains("/silencios\""), "the silence form is never swapped: {part}");
            assert!(!part.contains("id=\"historial\""), "nor are the charts: {part}");
        }
        assert!(html.contains(r#"<form method="post" action="/server/pbx-01/silencios" class="stacked silence">"#));
        assert!(html.contains(r#"<section class="charts" id="historial" data-server="pbx-01">"#));
        let stream =
            format!(r#"data-live="/eventos/servidor/pbx-01?v={}""#, super::super::live::version(&parts.joined()));
        assert!(html.contains(&stream), "the page names its stream and the version it shows: {html}");
        assert!(!html.contains("http-equiv=\"refresh\""), "the page no longer reloads itself");
    }

    #[test]
    fn a_server_turning_critical_changes_the_fragment_and_its_version_and_a_quiet_one_does_not() {
        let render = |c: Card| {
            let mut view = live(row().into(), SampleView::Missing);
            view.card = Some(c);
            view.render_parts().unwrap().joined()
        };
        let ok = render(card("ok", "Correcto", "ok", &[]));
        assert_eq!(
            super::super::live::version(&ok),
            super::super::live::version(&render(card("ok", "Correcto", "ok", &[])))
        );
        let critical = render(card("critical", "Crítico", "crit", &["arreglo RAID degradado: falta 1 de 2 miembros"]));
        assert_ne!(super::super::live::version(&ok), super::super::live::version(&critical));
        assert!(critical.contains(r#"<span class="badge crit" id="salud">Crítico</span>"#), "{critical}");
        assert!(critical.contains("<li>arreglo RAID degradado: falta 1 de 2 miembros</li>"), "the header says why");
    }

    fn credentials(role: Role, centers: Vec<i64>) -> Credentials {
        let user = User {
            id: 1,
            username: "quien".into(),
            full_name: String::new(),
            email: None,
            role,
            centers,
            must_change: false,
        };
        Credentials { user, csrf: Some("c".repeat(64)), session: None }
    }

    #[test]
    fn a_jefe_centro_may_open_only_the_servers_of_their_own_centers() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        conn.execute_batch(
            "INSERT INTO dependencias (id, name) VALUES (1, 'Renta');
             INSERT INTO centers (id, dependencia_id, name) VALUES (1, 1, 'Centro A'), (2, 1, 'Centro B');
             INSERT INTO servers (agent_id, first_seen, status_since, center_id)
             VALUES ('pbx-a', 0, 0, 1), ('pbx-b', 0, 0, 2), ('pbx-sin-centro', 0, 0, NULL);",
        )
        .unwrap();
        let jefe = credentials(Role::JefeCentro, vec![1]);
        assert!(access(&conn, &jefe, "pbx-a").unwrap().is_ok());
        for other in ["pbx-b", "pbx-sin-centro"] {
            assert!(matches!(access(&conn, &jefe, other).unwrap(), Err(WebError::Forbidden(_))), "{other}");
        }
        assert!(matches!(access(&conn, &jefe, "pbx-no-existe").unwrap(), Err(WebError::NotFound(_))));
        let tecnico = credentials(Role::Tecnico, vec![]);
        for any in ["pbx-a", "pbx-b", "pbx-sin-centro"] {
            assert!(access(&conn, &tecnico, any).unwrap().is_ok(), "UACT sees every server: {any}");
        }
    }
}

#[cfg(test)]
mod asterisk_tests {
    use super::*;
    use centinela_shared::*;

    #[test]
    fn the_asterisk_section_lists_queues_trunks_and_endpoints_with_their_verdicts() {
        let mut no_agents = Verdict::ok();
        no_agents.raise(Level::Critical, "cola con llamadas en espera y sin agentes disponibles: sales (2 en espera)");
        let a = AsteriskV1 {
            ami: AmiState::Up,
            version: Some("22.10.1".into()),
            uptime_s: Some(3_600),
            since_reload_s: Some(600),
            active_channels: Some(4),
            active_calls: Some(2),
            calls_processed: Some(17),
            longest_channel: None,
            longest_channel_s: None,
            queues: vec![QueueV1 {
                name: "sales".into(),
                callers: 2,
                longest_wait_s: 40,
                members_logged_in: 2,
                members_available: 0,
                members_paused: 1,
                verdict: no_agents.clone(),
            }],
            registrations: vec![],
            endpoints: vec![EndpointV1 {
                name: "1004".into(),
                device_state: "Unavailable".into(),
                contacts_total: 0,
                contacts_reachable: 0,
                trunk: false,
                verdict: Verdict::ok(),
            }],
            sip_peers: None,
            sip_registry: None,
            verdict: no_agents,
        };
        let v = AsteriskView::new(&a);
        assert_eq!((v.label, v.css), ("Crítico", "crit"));
        assert_eq!(v.ami, "conectado");
        let titles: Vec<&str> = v.groups.iter().map(|g| g.title).collect();
        assert_eq!(titles, vec!["Colas", "Endpoints (PJSIP)"], "empty groups and chan_sip (not loaded) are left out");
        assert_eq!(v.groups[0].rows[0].value, "2 en espera (máx. 40 s)");
        assert!(v.facts.iter().any(|(k, val)| *k == "Llamadas procesadas" && val == "17"));
    }
}

#[cfg(test)]
mod admin_app_tests {
    use super::*;
    use centinela_shared::*;

    #[test]
    fn the_server_page_shows_the_admin_app_status_and_an_expiring_certificate() {
        let mut expiring = Verdict::ok();
        expiring.raise(Level::Warning, "el certificado TLS de la aplicación de administración vence en 4 días");
        let env = Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 8,
            taken_ms: 1_795_000_000_000,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![ProbeReport { probe: "admin_app".into(), outcome: Outcome::Ok, duration_us: 9_000 }],
                readings: vec![Reading::AdminAppV1(AdminAppV1 {
                    url: "https://127.0.0.1/admin".into(),
                    reachable: true,
                    error: None,
                    status: Some(200),
                    latency_ms: Some(42),
                    location: None,
                    tls: Some(TlsCertV1 {
                        subject: "CN=pbx-01".into(),
                        issuer: "CN=pbx-01".into(),
                        not_after: "2026-12-02 12:00:00 UTC".into(),
                        days_left: 4,
                        self_signed: true,
                        trusted: false,
                        hostname_matches: false,
                    }),
                    verdict: expiring,
                })],
            }),
        };
        let view = LatestView::new(&env).unwrap();
        let s = ServerRow {
            id: "pbx-01".into(),
            status: "online".into(),
            last_seen: Some("2026-11-27T10:00:00Z".into()),
            last_seq: 8,
            samples: 8,
            hostname: Some("pbx-01".into()),
            agent_version: Some("0.1.0".into()),
            config_hash: None,
            probes: vec!["admin_app".into()],
            interval_ms: 10_000,
            first_seen: "2026-11-27T09:00:00Z".into(),
            status_since: "2026-11-27T09:00:00Z".into(),
            cdr_rows: 76,
            cdr_newest: Some("2026-11-27 10:01:00".into()),
            queue_log_rows: 0,
        };
        let html = tests::page(s.into(), SampleView::Ok(Box::new(view))).render().unwrap();
        assert!(html.contains("<h2>Aplicación de administración</h2>"), "{html}");
        assert!(html.contains("https://127.0.0.1/admin") && html.contains("HTTP 200 en 42 ms"), "{html}");
        assert!(html.contains("certificado emitido por CN=pbx-01") && html.contains("autofirmado"), "{html}");
        assert!(html.contains("badge warn\">Advertencia") && html.contains("vence en 4 días"), "{html}");
        assert!(html.contains("Aplicación de administración (web)"), "the probe name is shown in Spanish");
    }
}
