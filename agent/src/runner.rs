//! The agent daemon: sample on every tick into the outbox, and drain the outbox to the broker.
//!
//! One task owns everything (a current-thread runtime is enough): the sampling timer, the outbox,
//! the delivery state machine and the broker session. Samples are taken on schedule whether or not
//! the broker is reachable; delivery catches up after a reconnect, oldest first.
//!
//! Commands from the collector ([`crate::commands`]) are answered in the same loop: "verificar
//! ahora" runs every probe through [`full_sample`], as a tick does, and the reply is published on
//! the same connection at QoS 1, handed to [`Delivery`] as [`Tracked::Control`] so the order-based
//! pairing of publishes with PUBACKs stays exact (a QoS 0 publish would also produce an
//! `Outgoing::Publish`, with pkid 0 and never a PUBACK). It takes no outbox record and no `seq`;
//! the next tick is at most delayed by the run, as by a slow periodic sample. A recording chunk is
//! read off the runtime's thread ([`crate::recordings`]), at most 256 KiB per command.

use crate::config::{Config, QueueLogSource};
use crate::delivery::{Delivery, Tracked};
use crate::host::HostPaths;
use crate::mqtt::{Backoff, Connection};
use crate::outbox::Outbox;
use crate::probes::ProbeSet;
use crate::sdnotify::Notify;
use centinela_shared::topic::COLLECTOR_STATE;
use centinela_shared::{
    AgentId, BirthMsg, BirthV1, Body, Envelope, MAX_PAYLOAD_BYTES, MAX_REPLY_BYTES, OutboxStats, Presence, ReplyBody,
    SampleV1, Topic, TopicKind, WIRE_VERSION, encode_birth, encode_envelope, encode_reply,
};
use rumqttc::{Event, Incoming, LastWill, Outgoing, QoS};
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Records handed to the MQTT client and not yet acknowledged, at most.
pub const WINDOW: usize = 32;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Takes one sample of every probe.
pub struct Taken {
    pub taken_ms: i64,
    pub probes: Vec<centinela_shared::ProbeReport>,
    pub readings: Vec<centinela_shared::Reading>,
}

pub async fn take_sample(probes: &mut ProbeSet, paths: &HostPaths) -> Taken {
    let taken_ms = chrono::Utc::now().timestamp_millis();
    let (probes, readings) = probes.run(paths).await;
    Taken { taken_ms, probes, readings }
}

/// Wraps a sample in its envelope, once the outbox has assigned `seq`.
pub fn envelope(id: &AgentId, interval: Duration, seq: u64, outbox: OutboxStats, taken: Taken) -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        agent: id.to_string(),
        seq,
        taken_ms: taken.taken_ms,
        body: Body::SampleV1(SampleV1 {
            agent_version: VERSION.to_string(),
            interval_ms: u32::try_from(interval.as_millis()).unwrap_or(u32::MAX),
            outbox,
            probes: taken.probes,
            readings: taken.readings,
        }),
    }
}

/// Takes one sample of every probe and wraps it in an envelope (for `check` and benchmarks).
pub async fn build_envelope(
    id: &AgentId,
    interval: Duration,
    probes: &mut ProbeSet,
    paths: &HostPaths,
    seq: u64,
    outbox: OutboxStats,
) -> Envelope {
    envelope(id, interval, seq, outbox, take_sample(probes, paths).await)
}

/// Runs the agent until `shutdown` completes, then publishes a retained `stopped` and disconnects.
pub async fn run(config: Config, paths: HostPaths, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    run_notifying(config, paths, shutdown, &Notify::default()).await
}

/// [`run`], telling systemd through `notify` when it is ready, that its loop still turns (the
/// watchdog, pinged by this loop itself), and when it stops.
pub async fn run_notifying(
    config: Config,
    paths: HostPaths,
    shutdown: impl Future<Output = ()>,
    notify: &Notify,
) -> anyhow::Result<()> {
    let mut outbox = Outbox::open(&config.state_dir, config.outbox_max_bytes)?;
    let mut probes = ProbeSet::new(&crate::probes::ProbeConfig::from_config(&config));
    let mut shippers = Shippers::new(&config, &mut outbox)?;
    let status_topic = Topic::new(&config.id, TopicKind::Status).to_string();
    let sample_topic = Topic::new(&config.id, TopicKind::Sample).to_string();
    let birth_topic = Topic::new(&config.id, TopicKind::Birth).to_string();
    let cmd_topic = Topic::new(&config.id, TopicKind::Cmd).to_string();
    let reply_topic = Topic::new(&config.id, TopicKind::Reply).to_string();
    let mut opts = crate::mqtt::options(&config.client_id, &config.mqtt)?;
    // The outbox is the source of truth, so the broker keeps no session for the agent.
    opts.set_clean_session(true);
    opts.set_last_will(LastWill::new(&status_topic, Presence::Offline.as_str(), QoS::AtLeastOnce, true));
    let hostname = crate::config::hostname();
    let broker = config.mqtt.url.to_string();
    tracing::info!(agent = %config.id, broker = %broker, interval = ?config.interval, state_dir = %config.state_dir.display(), backlog = outbox.stats().backlog, "agent starting");

    let mut delivery = Delivery::new(WINDOW);
    let mut backoff = Backoff::new();
    let mut conn = Some(Connection::start(opts.clone(), WINDOW + 16));
    let mut reconnect_at: Option<Instant> = None;
    let mut ticker = tokio::time::interval(config.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut watchdog_at = notify.watchdog_every().map(|every| Instant::now() + every);
    notify.ready("tomando muestras");

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = sleep_until_opt(watchdog_at), if watchdog_at.is_some() => {
                notify.watchdog();
                watchdog_at = notify.watchdog_every().map(|every| Instant::now() + every);
            }
            _ = ticker.tick() => {
                // Probes first (a network probe may take seconds), then the outbox assigns the seq
                // and stores the sample in one transaction.
                let taken = full_sample(&mut probes, &paths, &shippers).await;
                let (id, interval) = (&config.id, config.interval);
                let pushed = outbox.push_with(|seq, stats| encode_envelope(&envelope(id, interval, seq, stats, taken)));
                match pushed {
                    Ok(seq) => tracing::debug!(seq, backlog = outbox.stats().backlog, "sample stored"),
                    Err(e) => tracing::error!(error = %e, "cannot store the sample; it is lost"),
                }
            }
            ev = next_event(&mut conn), if conn.is_some() => {
                let lost = match on_event(ev, &mut delivery, &mut outbox, &cmd_topic) {
                    Step::Connected => {
                        backoff.reset();
                        tracing::info!(broker = %broker, backlog = outbox.stats().backlog, "connected to the broker");
                        let birth = encode_birth(&BirthMsg::V1(BirthV1 {
                            agent: config.id.to_string(),
                            agent_version: VERSION.to_string(),
                            hostname: hostname.clone(),
                            probes: probes.names(),
                            config_hash: config.hash.clone(),
                            interval_ms: u32::try_from(config.interval.as_millis()).unwrap_or(u32::MAX),
                            started_ms: chrono::Utc::now().timestamp_millis(),
                        }));
                        let topics = Announce { birth: &birth_topic, status: &status_topic, cmd: &cmd_topic };
                        conn.as_ref().and_then(|c| announce(c, &mut delivery, &topics, birth).err())
                    }
                    Step::Command(payload) => {
                        let reply = answer(&payload, &config, &mut probes, &paths, &shippers, &outbox).await;
                        if let (Some(reply), Some(c)) = (reply, &conn) {
                            publish_reply(c, &mut delivery, &reply_topic, reply);
                        }
                        None
                    }
                    Step::Lost(error) => Some(error),
                    Step::Done => None,
                };
                if let Some(error) = lost {
                    delivery.on_disconnected();
                    conn = None;
                    let delay = backoff.next_delay();
                    crate::events::BrokerDisconnected { broker: &broker, error: &error, retry_in_ms: delay.as_millis() as u64 }.emit();
                    reconnect_at = Some(Instant::now() + delay);
                }
            }
            _ = sleep_until_opt(shippers.next_at), if shippers.next_at.is_some() => {
                shippers.poll(&mut outbox, &config.id).await;
            }
            _ = sleep_until_opt(reconnect_at), if reconnect_at.is_some() => {
                reconnect_at = None;
                conn = Some(Connection::start(opts.clone(), WINDOW + 16));
            }
        }
        if let Some(c) = &conn {
            fill_window(&mut delivery, &outbox, c, &sample_topic);
        }
    }

    notify.stopping();
    // Clean shutdown: deliver what is left while the collector listens (up to SHUTDOWN_GRACE),
    // then say `stopped` (the Will only fires on an unclean loss) and disconnect. Whatever could not
    // be delivered stays in the outbox for the next start.
    if let Some(mut c) = conn.take()
        && delivery.is_connected()
    {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut stopped_sent = false;
        loop {
            fill_window(&mut delivery, &outbox, &c, &sample_topic);
            let caught_up = outbox.last_id() <= delivery.sent_up_to() || !delivery.collector_online();
            if caught_up && delivery.is_idle() {
                if stopped_sent {
                    break;
                }
                if c.client
                    .try_publish(status_topic.as_str(), QoS::AtLeastOnce, true, Presence::Stopped.as_str())
                    .is_ok()
                {
                    delivery.on_handed(Tracked::Control);
                }
                stopped_sent = true;
            }
            match tokio::time::timeout_at(deadline, c.events.recv()).await {
                Ok(ev @ Some(_)) => {
                    // A command arriving now is dropped: the collector's timeout covers it.
                    if let Step::Lost(_) = on_event(ev, &mut delivery, &mut outbox, &cmd_topic) {
                        break;
                    }
                }
                _ => break,
            }
        }
        if !stopped_sent {
            let _ = c.client.try_publish(status_topic.as_str(), QoS::AtLeastOnce, true, Presence::Stopped.as_str());
        }
        let _ = c.client.try_disconnect();
        let _ =
            tokio::time::timeout(Duration::from_secs(1), async { while let Some(Ok(_)) = c.events.recv().await {} })
                .await;
    }
    tracing::info!(backlog = outbox.stats().backlog, "agent stopped");
    Ok(())
}

/// The CDR and `queue_log` shippers, polled on their own schedule.
struct Shippers {
    cdr: Option<crate::cdr::CdrShipper>,
    queue_log: Option<crate::cdr::queue_log::QueueLogShipper>,
    queue_log_table: Option<crate::cdr::QueueLogTableShipper>,
    every: Duration,
    /// When to poll next; `None` when nothing is shipped.
    next_at: Option<Instant>,
}

impl Shippers {
    fn new(config: &Config, outbox: &mut Outbox) -> anyhow::Result<Self> {
        let ship = config.database.as_ref().and_then(|d| d.ship.map(|s| (d.clone(), s)));
        let every = ship.as_ref().map_or(Duration::from_secs(60), |(_, s)| s.every);
        let mut settings = crate::cdr::ShipSettings::default();
        if let Some((_, s)) = &ship {
            settings.plan.backfill = chrono::TimeDelta::from_std(s.backfill)?;
            settings.plan.late = chrono::TimeDelta::from_std(s.late_rows)?;
        }
        let cdr = match &ship {
            Some((db, _)) => Some(crate::cdr::CdrShipper::new(db.clone(), settings, outbox)?),
            None => None,
        };
        let (mut queue_log, mut queue_log_table) = (None, None);
        match (&config.queue_log, &config.database) {
            (Some(QueueLogSource::File(path)), _) => {
                queue_log = Some(crate::cdr::queue_log::QueueLogShipper::new(path.clone(), outbox)?);
            }
            (Some(QueueLogSource::Table(table)), Some(db)) => {
                queue_log_table =
                    Some(crate::cdr::QueueLogTableShipper::open(db.clone(), table.clone(), settings, outbox)?);
            }
            _ => {}
        }
        // The first poll waits a little, so the first sample is not held up by a backfill.
        let any = cdr.is_some() || queue_log.is_some() || queue_log_table.is_some();
        let next_at = any.then(|| Instant::now() + Duration::from_secs(2));
        Ok(Self { cdr, queue_log, queue_log_table, every, next_at })
    }

    fn readings(&self) -> Vec<centinela_shared::Reading> {
        let cdr = self.cdr.as_ref().map(|c| c.reading());
        let queue_log = self.queue_log.as_ref().map(|q| q.reading());
        let queue_log_table = self.queue_log_table.as_ref().map(|q| q.reading());
        cdr.into_iter().chain(queue_log).chain(queue_log_table).map(centinela_shared::Reading::ShippingV1).collect()
    }

    /// Polls each shipper once. With more to read (a backfill), the next poll comes at once.
    async fn poll(&mut self, outbox: &mut Outbox, agent: &AgentId) {
        let mut more = false;
        if let Some(c) = &mut self.cdr {
            more |= log_shipped("cdr", c.poll(outbox, agent).await, c.high());
        }
        if let Some(q) = &mut self.queue_log_table {
            more |= log_shipped("queue_log", q.poll(outbox, agent).await, q.high());
        }
        if let Some(q) = &mut self.queue_log {
            match q.poll(outbox, agent) {
                Ok(t) => {
                    more |= t.more;
                    if t.lines > 0 {
                        tracing::info!(lines = t.lines, batches = t.batches, more = t.more, "queue_log shipped");
                    }
                }
                Err(e) => tracing::warn!(error = e.as_str(), "queue_log not shipped"),
            }
        }
        let wait = if more { Duration::from_millis(200) } else { self.every };
        self.next_at = Some(Instant::now() + wait);
    }
}

/// Logs one table poll; `true` when there is more to read.
fn log_shipped(what: &str, result: Result<crate::cdr::Shipped, String>, high: Option<chrono::NaiveDateTime>) -> bool {
    match result {
        Ok(s) => {
            if s.new > 0 || s.held_back {
                tracing::info!(what, new = s.new, read = s.read, batches = s.batches, more = s.more, held_back = s.held_back, high = ?high, "rows shipped");
            }
            s.more
        }
        Err(e) => {
            tracing::warn!(what, error = e.as_str(), "rows not shipped");
            false
        }
    }
}

/// How long a clean stop may take to deliver what is left in the outbox.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// What an MQTT event meant for delivery.
enum Step {
    /// A CONNACK: the session is up (the caller announces the agent).
    Connected,
    /// A message on this agent's command topic (the caller answers it).
    Command(Vec<u8>),
    /// The session is gone.
    Lost(String),
    /// Handled (or irrelevant).
    Done,
}

/// Applies one event of the current broker session to the delivery state and the outbox.
fn on_event(
    ev: Option<Result<Event, rumqttc::ConnectionError>>,
    delivery: &mut Delivery,
    outbox: &mut Outbox,
    cmd_topic: &str,
) -> Step {
    match ev {
        Some(Ok(Event::Incoming(Incoming::ConnAck(_)))) => {
            delivery.on_connected();
            Step::Connected
        }
        Some(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) => match delivery.on_outgoing_publish(pkid) {
            Ok(()) => Step::Done,
            Err(e) => Step::Lost(format!("delivery pairing lost: {e:?}")),
        },
        Some(Ok(Event::Incoming(Incoming::Publish(p)))) if p.topic == COLLECTOR_STATE => {
            let online = Presence::parse(&p.payload) == Some(Presence::Online);
            if online != delivery.collector_online() {
                tracing::info!(collector_online = online, backlog = outbox.stats().backlog, "collector state changed");
            }
            delivery.on_collector_state(online);
            Step::Done
        }
        // rumqttc acknowledges it on its own (no manual acks): an `Outgoing::PubAck`, which the
        // pairing ignores.
        Some(Ok(Event::Incoming(Incoming::Publish(p)))) if p.topic == cmd_topic => Step::Command(p.payload.to_vec()),
        Some(Ok(Event::Incoming(Incoming::PubAck(ack)))) => {
            if let Some(Tracked::Record(id)) = delivery.on_puback(ack.pkid)
                && let Err(e) = outbox.ack(id)
            {
                tracing::error!(error = %e, "cannot delete an acknowledged record; it will be sent again");
            }
            Step::Done
        }
        Some(Ok(_)) => Step::Done,
        Some(Err(e)) => Step::Lost(e.to_string()),
        None => Step::Lost("event loop ended".into()),
    }
}

/// This agent's topics that [`announce`] uses.
struct Announce<'a> {
    birth: &'a str,
    status: &'a str,
    cmd: &'a str,
}

/// After a CONNACK: follow the collector's state and this agent's commands, and publish the
/// retained birth and `online`.
fn announce(c: &Connection, delivery: &mut Delivery, topics: &Announce, birth: Vec<u8>) -> Result<(), String> {
    // Samples flow only once the collector's retained state says it is subscribed (see
    // `Delivery`); the broker replays that retained message on subscribe. Commands: this agent's
    // own topic only (clean session, so nothing sent while it was away is queued for it).
    for filter in [COLLECTOR_STATE, topics.cmd] {
        c.client.try_subscribe(filter, QoS::AtLeastOnce).map_err(|e| format!("cannot subscribe to {filter}: {e}"))?;
    }
    for (topic, payload) in [(topics.birth, birth), (topics.status, Presence::Online.as_str().as_bytes().to_vec())] {
        if c.client.try_publish(topic, QoS::AtLeastOnce, true, payload).is_ok() {
            delivery.on_handed(Tracked::Control);
        }
    }
    Ok(())
}

/// Every probe once, plus the shippers' progress: what a periodic sample and a verify-now carry.
async fn full_sample(probes: &mut ProbeSet, paths: &HostPaths, shippers: &Shippers) -> Taken {
    let mut taken = take_sample(probes, paths).await;
    taken.readings.extend(shippers.readings());
    taken
}

/// An encoded reply and the request it answers.
struct Reply {
    request_id: u64,
    payload: Vec<u8>,
}

/// Answers one command: the reply to publish, or `None` when it is ignored (logged here).
async fn answer(
    payload: &[u8],
    config: &Config,
    probes: &mut ProbeSet,
    paths: &HostPaths,
    shippers: &Shippers,
    outbox: &Outbox,
) -> Option<Reply> {
    use crate::commands::{Action, decide, refused, reply, sample_reply};
    use crate::recordings::{RecordingError, read_chunk, reply_body};
    let now = || chrono::Utc::now().timestamp_millis();
    let refusal = |request_id: u64, why: &str| {
        crate::events::CommandRefused { request_id, reason: why }.emit();
        Reply { request_id, payload: encode_reply(&refused(&config.id, request_id, now(), why.to_string())) }
    };
    match decide(payload, &config.id, now()) {
        Action::VerifyNow { request_id } => {
            tracing::info!(request_id, "command: verify now");
            let taken = full_sample(probes, paths, shippers).await;
            let sample = envelope(&config.id, config.interval, 0, outbox.stats(), taken);
            let payload = encode_reply(&sample_reply(&config.id, request_id, now(), sample));
            if payload.len() > MAX_PAYLOAD_BYTES {
                let why = format!(
                    "la muestra ocupa {} bytes, más que el límite de {MAX_PAYLOAD_BYTES}; no se envió (es un defecto, por favor repórtelo)",
                    payload.len()
                );
                return Some(refusal(request_id, &why));
            }
            Some(Reply { request_id, payload })
        }
        Action::RecordingChunk { request_id, recordingfile, calldate, offset, max_len } => {
            tracing::debug!(request_id, recordingfile, offset, max_len, "command: recording chunk");
            let read = match config.recordings.clone() {
                None => Err(RecordingError::NotConfigured),
                Some(r) => {
                    let name = recordingfile.clone();
                    tokio::task::spawn_blocking(move || read_chunk(&r, &recordingfile, &calldate, offset, max_len))
                        .await
                        .unwrap_or_else(|e| Err(RecordingError::Io { name, error: e.to_string() }))
                }
            };
            let body = reply_body(read);
            if let ReplyBody::RecordingRefused { why, .. } = &body {
                crate::events::CommandRefused { request_id, reason: why }.emit();
            }
            let payload = encode_reply(&reply(&config.id, request_id, now(), body));
            if payload.len() > MAX_REPLY_BYTES {
                let why = format!(
                    "la respuesta ocupa {} bytes, más que el límite de {MAX_REPLY_BYTES}; no se envió (es un defecto, por favor repórtelo)",
                    payload.len()
                );
                return Some(refusal(request_id, &why));
            }
            Some(Reply { request_id, payload })
        }
        Action::Refuse { request_id, why } => Some(refusal(request_id, &why)),
        Action::Ignore(why) => {
            tracing::warn!(reason = why.as_str(), "command ignored");
            None
        }
    }
}

/// Publishes a reply on this connection (QoS 1, not retained; see the module docs), never
/// through the outbox: if the client cannot take it now, it is dropped and the collector times out.
fn publish_reply(c: &Connection, delivery: &mut Delivery, topic: &str, reply: Reply) {
    match c.client.try_publish(topic, QoS::AtLeastOnce, false, reply.payload) {
        Ok(()) => delivery.on_handed(Tracked::Control),
        Err(e) => {
            tracing::warn!(request_id = reply.request_id, error = %e, "cannot publish the command's reply; it is dropped")
        }
    }
}

fn fill_window(delivery: &mut Delivery, outbox: &Outbox, conn: &Connection, topic: &str) {
    let free = delivery.free_slots();
    if free == 0 || outbox.last_id() <= delivery.sent_up_to() {
        return;
    }
    match outbox.after(delivery.sent_up_to(), free) {
        Ok(records) => {
            for r in records {
                if conn.client.try_publish(topic, QoS::AtLeastOnce, false, r.payload).is_err() {
                    break;
                }
                delivery.on_handed(Tracked::Record(r.id));
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
    }
}

async fn next_event(conn: &mut Option<Connection>) -> Option<Result<Event, rumqttc::ConnectionError>> {
    match conn {
        Some(c) => c.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
