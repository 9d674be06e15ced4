//! The delivery workers: one thread per channel, each with its own SQLite connection and its own
//! current-thread runtime, so a slow mail server never delays the webhook nor the reverse, and no
//! delivery runs on the web server's threads.

use super::config::Notify;
use super::email::EmailSender;
use super::queue::{self, Channel, Claimed, Outcome, Recorded, Schedule};
use super::webhook::WebhookSender;
use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Timing of the workers; tests shorten it.
#[derive(Debug, Clone)]
pub struct Options {
    pub schedule: Schedule,
    /// Longest sleep between looks at the queue when nobody calls [`Waker::wake`].
    pub poll: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { schedule: Schedule::default(), poll: Duration::from_secs(5) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot start the notification thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Tells the workers that rows were committed, so they look now instead of at their next poll.
#[derive(Clone, Default)]
pub struct Waker(Arc<[tokio::sync::Notify; 2]>);

impl Waker {
    /// Call after the transaction that enqueued notifications committed. Never blocks.
    pub fn wake(&self) {
        self.0.iter().for_each(tokio::sync::Notify::notify_one);
    }
}

/// The running workers.
pub struct Notifier {
    waker: Waker,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Notifier {
    pub fn waker(&self) -> Waker {
        self.waker.clone()
    }

    /// Waits for the workers to stop (after `shutdown` turned true). Blocks: call it off the runtime.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts one worker per channel on the database in `data_dir` (migrated if needed). A channel
/// without configuration still runs: its rows (enqueued while it was configured) fail visibly,
/// and are delivered if the configuration comes back before they are given up.
pub fn spawn(
    data_dir: &Path,
    config: Notify,
    options: Options,
    shutdown: watch::Receiver<bool>,
) -> Result<Notifier, SpawnError> {
    let waker = Waker::default();
    let mut threads = Vec::new();
    for (i, channel) in Channel::ALL.into_iter().enumerate() {
        let conn = crate::store::open_writer(data_dir)?;
        let (config, options, shutdown, waker) = (config.clone(), options.clone(), shutdown.clone(), waker.clone());
        let thread = std::thread::Builder::new().name(format!("notify-{}", channel.as_str())).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(channel = channel.as_str(), error = %e, "notifications: cannot start a runtime");
                    return;
                }
            };
            let sender = Sender::new(channel, &config);
            rt.block_on(run(conn, channel, sender, options, &waker.0[i], shutdown));
        })?;
        threads.push(thread);
    }
    Ok(Notifier { waker, threads })
}

/// A channel's client, or why there is none (recorded on each of its rows).
enum Sender {
    Email(Box<EmailSender>),
    Webhook(WebhookSender),
    Missing(String),
}

impl Sender {
    fn new(channel: Channel, config: &Notify) -> Self {
        let built = match channel {
            Channel::Email => match &config.email {
                Some(c) => EmailSender::new(c.clone()).map(|s| Sender::Email(Box::new(s))),
                None => Err("no hay sección [notify.email] en la configuración; añádala para enviar correos".into()),
            },
            Channel::Webhook => match &config.webhook {
                Some(c) => WebhookSender::new(c.clone()).map(Sender::Webhook),
                None => Err(
                    "no hay sección [notify.webhook] en la configuración; añádala para avisar a la mesa de servicio"
                        .into(),
                ),
            },
        };
        built.unwrap_or_else(Sender::Missing)
    }

    async fn send(&self, row: &Claimed) -> Outcome {
        match self {
            Sender::Email(s) => s.send(row).await,
            Sender::Webhook(s) => s.send(row).await,
            Sender::Missing(why) => Outcome::Failed(why.clone()),
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Delivers `channel`'s due rows one at a time until `shutdown` turns true.
async fn run(
    conn: Connection,
    channel: Channel,
    sender: Sender,
    options: Options,
    wake: &tokio::sync::Notify,
    mut shutdown: watch::Receiver<bool>,
) {
    let ch = channel.as_str();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let wait = match queue::claim_due(&conn, channel, &options.schedule, now_ms()) {
            Ok(Some(row)) => {
                let outcome = tokio::select! {
                    o = sender.send(&row) => o,
                    // Left claimed: it comes due again at its retry time after the restart.
                    _ = shutdown.changed() => return,
                };
                match queue::record(&conn, &row, &outcome, &options.schedule, now_ms()) {
                    Ok(r) => log(ch, &row, &outcome, r),
                    Err(e) => {
                        tracing::error!(channel = ch, id = row.id, error = %e, "notifications: cannot record a delivery")
                    }
                }
                continue;
            }
            Ok(None) => match queue::next_due(&conn, channel) {
                Ok(Some(at)) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(options.poll),
                Ok(None) => options.poll,
                Err(e) => {
                    tracing::error!(channel = ch, error = %e, "notifications: cannot read the queue");
                    options.poll
                }
            },
            Err(e) => {
                tracing::error!(channel = ch, error = %e, "notifications: cannot read the queue");
                options.poll
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

fn log(channel: &str, row: &Claimed, outcome: &Outcome, recorded: Recorded) {
    let (id, attempt) = (row.id, row.attempt);
    match (outcome, recorded) {
        (Outcome::Delivered, _) => tracing::info!(channel, id, attempt, "notification delivered"),
        (Outcome::Failed(error) | Outcome::Permanent(error), Recorded::GivenUp) => {
            tracing::error!(channel, id, attempt, error = %error, "notification given up")
        }
        (Outcome::Failed(error) | Outcome::Permanent(error), _) => {
            let retry_in = match recorded {
                Recorded::RetryAt(at) => Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)),
                _ => Duration::ZERO,
            };
            tracing::warn!(channel, id, attempt, error = %error, retry_in = %humantime::format_duration(retry_in), "notification failed; will retry")
        }
    }
}
