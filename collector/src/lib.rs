//! The Centinela collector as a library: [`serve`] wires the parts together, `main.rs` only parses
//! arguments.
//!
//! Data flow: MQTT ([`ingest`]) → writer thread ([`store::writer`], one SQLite transaction per batch)
//! → acknowledgement back to the broker; the web layer ([`web`]) reads with its own connections.

pub mod audit;
pub mod auth;
pub mod broker;
pub mod calendar;
pub mod cli;
pub mod commands;
pub mod config;
pub mod enroll;
pub mod ingest;
pub mod maintenance;
pub mod notify;
pub mod org;
pub mod reports;
pub mod rules;
pub mod silences;
pub mod store;
pub mod tickets;
pub mod web;

use anyhow::Context;
use centinela_agent::config::{MqttConfig, MqttUrl};
use config::{Broker, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Options that are not configuration: how this process is run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Also run an agent for this machine inside the process.
    pub local_agent: bool,
    /// The local agent's sampling interval (default 10 s).
    pub local_agent_interval: Option<Duration>,
    /// systemd's notification socket (`Type=notify`, `WatchdogSec=`), when run by systemd.
    pub notify: Option<Arc<centinela_agent::sdnotify::Notify>>,
}

/// Where the embedded broker ended up, or the external broker's settings.
fn resolve_broker(config: &Config, opts: &ServeOptions) -> anyhow::Result<MqttConfig> {
    match &config.broker {
        Broker::External(m) => Ok(m.clone()),
        Broker::Embedded { listen } => {
            let listen: SocketAddr = match broker::probe_listen(*listen) {
                Ok(_) => *listen,
                Err(e) if opts.local_agent => {
                    let free = broker::probe_listen(SocketAddr::new(listen.ip(), 0))?;
                    tracing::warn!(
                        taken = %listen,
                        using = %free,
                        reason = %e,
                        "port for the embedded broker is taken; using a free port for this process and its local agent. Agents on other servers cannot find it there: point `[mqtt] url` at the broker on {listen} instead"
                    );
                    free
                }
                Err(e) => return Err(e.into()),
            };
            let addr = broker::start(listen)?;
            Ok(MqttConfig {
                url: MqttUrl { host: addr.ip().to_string(), port: addr.port(), tls: false },
                ca_file: None,
                username: None,
                password: None,
            })
        }
    }
}

/// On the very first start (no user at all), creates the user `admin` with a one-time password and
/// prints it once, on stderr and in the log: there is no default password to forget to change.
fn first_admin(conn: &rusqlite::Connection, config: &Config) -> anyhow::Result<()> {
    if auth::store::count_users(conn)? > 0 {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    let now = chrono::Utc::now().timestamp_millis();
    let (user, otp) =
        auth::store::create_user(&tx, audit::SYSTEM_ACTOR, now, "admin", auth::Role::Admin, "Administrador", &[])
            .map_err(|e| anyhow::anyhow!("cannot create the first admin: {e}"))?;
    tx.commit()?;
    let url = &config.http.public_url;
    eprintln!(
        "\nPrimer arranque: usuario «{}», contraseña de un solo uso: {otp}\nInicie sesión en {url}/login y cámbiela. \
         Otros usuarios: centinela-collector user add NOMBRE --role ROL\n",
        user.username
    );
    tracing::warn!(
        user = user.username.as_str(),
        "first start: created the admin user with a one-time password (printed on stderr)"
    );
    Ok(())
}

/// systemd's watchdog: pinged once a round trip through the writer thread, the heart of ingest and
/// of the alert rules, comes back; a writer that hangs stops the pings and systemd restarts the
/// collector. (A writer that fails its transactions still answers: that is an error to log, which
/// a restart would not cure.)
fn spawn_watchdog(
    notify: Arc<centinela_agent::sdnotify::Notify>,
    every: Duration,
    writer: mpsc::Sender<store::writer::Op<ingest::AckToken>>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {
                    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                    if writer.send(store::writer::Op::Flush(done_tx)).await.is_err() {
                        return;
                    }
                    tokio::select! {
                        _ = stop.changed() => return,
                        done = done_rx => if done.is_ok() { notify.watchdog() },
                    }
                }
            }
        }
    })
}

/// Runs the collector until `shutdown` resolves.
pub async fn serve(
    config: Config,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started_ms = chrono::Utc::now().timestamp_millis();
    let conn = store::open_writer(&config.data_dir)?;
    first_admin(&conn, &config)?;
    let stats = Arc::new(store::writer::IngestStats::default());
    let (committed_tx, committed_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let notifier = notify::spawn(&config.data_dir, config.notify.clone(), notify::Options::default(), stop_rx.clone())
        .context("cannot start the notification workers")?;
    let ticket_ctx = tickets::store::Context {
        tickets: config.tickets.clone(),
        notify: config.notify.clone(),
        public_url: config.http.public_url.clone(),
    };
    let mut workflow = store::writer::Workflow::load(&conn, config.rules.clone(), ticket_ctx.clone())?;
    workflow.waker = Some(notifier.waker());
    let writer = store::writer::spawn::<ingest::AckToken>(
        conn,
        started_ms,
        committed_tx,
        Arc::clone(&stats),
        65_536,
        Some(workflow),
    );

    // History for the charts: rollups and retention in the background, on their own connection.
    let rollup = store::rollup::spawn(store::open_writer(&config.data_dir)?, config.retention, stop_rx.clone())
        .context("cannot start the rollup thread")?;
    // Monthly reports: the previous month's drafts on the 1st (and at start, when missing).
    let drafter =
        reports::store::spawn_drafter(store::open_writer(&config.data_dir)?, config.calendar.clone(), stop_rx.clone())
            .context("cannot start the report drafter")?;

    let mqtt = resolve_broker(&config, &opts)?;
    let listener = tokio::net::TcpListener::bind(config.http_listen).await.with_context(|| {
        format!("cannot listen on {} for the dashboard; set `[http] listen` to a free address", config.http_listen)
    })?;
    let http_addr = listener.local_addr()?;

    let ingest_status = Arc::new(ingest::IngestStatus::default());
    // Commands to agents go out through the ingest task's MQTT session.
    let commands = commands::Commands::new();
    // Ingest runs on its own thread and current-thread runtime: the MQTT event loop task and the
    // ingest task then hand every message over without cross-thread wake-ups (measured: +40 %).
    let ingest_fut = ingest::run(
        mqtt.clone(),
        config.client_id.clone(),
        writer.tx.clone(),
        committed_rx,
        Arc::clone(&ingest_status),
        commands.clone(),
        stop_rx.clone(),
    );
    let ingest_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let ingest_thread =
        std::thread::Builder::new().name("mqtt-ingest".into()).spawn(move || ingest_rt.block_on(ingest_fut))?;

    let ticker_tx = writer.tx.clone();
    let mut ticker_stop = stop_rx.clone();
    let ticker = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = ticker_stop.changed() => return,
                _ = every.tick() => {
                    let op = store::writer::Op::Tick { now_ms: chrono::Utc::now().timestamp_millis() };
                    if ticker_tx.send(op).await.is_err() { return; }
                }
            }
        }
    });

    // The local agent stops first, on its own signal, so that its retained `stopped` is still
    // ingested before the rest shuts down.
    let (agent_stop_tx, agent_stop_rx) = watch::channel(false);
    let agent_thread = if opts.local_agent {
        Some(start_local_agent(&config, &mqtt, opts.local_agent_interval, agent_stop_rx)?)
    } else {
        None
    };

    let stats_for_drain = Arc::clone(&stats);
    let app = web::make_app(web::AppState {
        db: Arc::new(web::ReaderPool::new(config.data_dir.clone())),
        writer: Arc::new(web::WebWriter::open(&config.data_dir)?),
        http: config.http.clone(),
        workflow: Arc::new(web::WorkflowEnv {
            ctx: ticket_ctx,
            calendar: config.calendar.clone(),
            waker: Some(notifier.waker()),
            reports: config.reports.clone(),
        }),
        stats,
        ingest: ingest_status,
        commands,
    });
    tracing::info!(dashboard = %format!("http://{http_addr}/"), broker = %mqtt.url, data_dir = %config.data_dir.display(), "collector running");
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = http_stop.changed().await;
            })
            .await
    });

    let watchdog = opts
        .notify
        .as_ref()
        .and_then(|n| Some(spawn_watchdog(Arc::clone(n), n.watchdog_every()?, writer.tx.clone(), stop_rx.clone())));
    if let Some(n) = &opts.notify {
        n.ready(&format!("recibiendo muestras; panel en http://{http_addr}/"));
    }

    shutdown.await;
    tracing::info!("shutting down");
    if let Some(n) = &opts.notify {
        n.stopping();
    }
    let _ = agent_stop_tx.send(true);
    if let Some(t) = agent_thread {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    // Drain: with the embedded broker, whatever it has acknowledged lives only in this process, so
    // keep ingesting until the traffic has been quiet for a moment (at most 3 s).
    drain_quiet(&stats_for_drain, Duration::from_millis(300), Duration::from_secs(3)).await;
    let _ = stop_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || ingest_thread.join()).await;
    let _ = ticker.await;
    if let Some(w) = watchdog {
        let _ = w.await;
    }
    let _ = http.await;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    if writer.tx.send(store::writer::Op::Flush(done_tx)).await.is_ok() {
        let _ = done_rx.await;
    }
    tokio::task::spawn_blocking(move || writer.join()).await?;
    tokio::task::spawn_blocking(move || rollup.join()).await?;
    let _ = tokio::task::spawn_blocking(move || drafter.join()).await;
    tokio::task::spawn_blocking(move || notifier.join()).await?;
    Ok(())
}

/// Waits until no message has been ingested for `quiet`, or `max` has passed.
async fn drain_quiet(stats: &store::writer::IngestStats, quiet: Duration, max: Duration) {
    use std::sync::atomic::Ordering::Relaxed;
    let total = || {
        stats.stored.load(Relaxed)
            + stats.duplicates.load(Relaxed)
            + stats.rejected.load(Relaxed)
            + stats.presence_changes.load(Relaxed)
    };
    let deadline = tokio::time::Instant::now() + max;
    let mut last = total();
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(quiet).await;
        let now = total();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Runs an agent for this machine on its own thread and current-thread runtime, exactly as the
/// packaged agent runs, publishing to the same broker.
fn start_local_agent(
    config: &Config,
    mqtt: &MqttConfig,
    interval: Option<Duration>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let host = centinela_agent::config::hostname();
    let id = centinela_shared::AgentId::new(host.clone())
        .or_else(|_| centinela_shared::AgentId::new("local"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let agent = centinela_agent::Config {
        client_id: format!("centinela-agent-{id}"),
        asterisk: None,
        database: None,
        admin_app: None,
        queue_log: None,
        recordings: None,
        id,
        interval: interval.unwrap_or(Duration::from_secs(10)),
        state_dir: config.data_dir.join("local-agent"),
        outbox_max_bytes: 64 * 1024 * 1024,
        mqtt: mqtt.clone(),
        hash: centinela_agent::config::sha256_hex(b"local-agent"),
    };
    let state_dir: PathBuf = agent.state_dir.clone();
    tracing::info!(agent = %agent.id, state_dir = %state_dir.display(), "starting the local agent");
    let handle = std::thread::Builder::new().name("local-agent".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "local agent: cannot start its runtime");
                return;
            }
        };
        let shutdown = async move {
            let _ = stop.changed().await;
        };
        if let Err(e) = rt.block_on(centinela_agent::run(agent, centinela_agent::HostPaths::live(), shutdown)) {
            tracing::error!(error = %format!("{e:#}"), "local agent stopped");
        }
    })?;
    Ok(handle)
}
