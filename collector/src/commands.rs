//! Commands to one agent, request and reply ("verificar ahora", one chunk of a call recording):
//! [`Commands`] publishes a
//! [`CommandV1`] on `centinela/v1/<agent>/cmd` and waits for the [`ReplyV1`] with the same request
//! id on `centinela/v1/<agent>/reply`, or gives up after the caller's timeout.
//!
//! Invariants:
//! - The ingest task owns the MQTT session ([`crate::ingest`]). It hands over the session's client
//!   once the subscriptions (`+/reply` among them) are acknowledged, and takes it back when the
//!   session ends; without one a command fails at once with [`CommandError::NotConnected`].
//! - A request is pending from before its command is published until its reply arrives or its
//!   caller stops waiting (timeout, or the caller's future dropped: a guard removes it), so the
//!   map never keeps an abandoned request.
//! - A reply reaches only the request with its id, and only from the agent it was sent to;
//!   anything else (late, duplicate, unknown, from another agent) is dropped with a debug log.
//! - Request ids are random 64-bit values: a reply to a request of an earlier run of the collector
//!   (kept for it by its persistent session) cannot match a request of this one.
//! - Replies are not stored: the caller keeps what it needs as evidence.

use centinela_shared::{
    AgentId, Body, CommandKind, CommandV1, Envelope, RecordingRefusal, ReplyBody, ReplyV1, SampleV1, Topic, TopicKind,
    decode_reply, encode_command,
};
use rumqttc::{AsyncClient, QoS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Why a command got no useful answer. [`CommandError::user_message`] is what a page shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the collector is not connected to the MQTT broker; the command was not sent")]
    NotConnected,
    #[error("the agent did not answer within {after:?}")]
    Timeout { after: Duration },
    #[error("the agent refused the command: {0}")]
    Refused(String),
    /// The agent does not hand out the recording; `why` is its message, in Spanish.
    #[error("the agent refused the recording ({refusal:?}): {why}")]
    RecordingRefused { refusal: RecordingRefusal, why: String },
    /// The agent answered with something that does not answer this command (a newer agent with a
    /// reply this collector cannot use).
    #[error("the agent's reply does not answer the command: {0}")]
    Unexpected(String),
}

impl CommandError {
    /// In Spanish, with what to do about it.
    pub fn user_message(&self) -> String {
        match self {
            CommandError::NotConnected => "el colector no está conectado al broker MQTT y no pudo enviar la orden; \
                 espere unos segundos y vuelva a intentarlo, y si persiste revise el broker"
                .into(),
            CommandError::Timeout { after } => format!(
                "el agente no respondió en {} s; revise que el servidor esté en línea y vuelva a intentarlo",
                after.as_millis().div_ceil(1000)
            ),
            CommandError::Refused(why) => format!("el agente rechazó la orden: {why}"),
            CommandError::RecordingRefused { why, .. } => format!("el agente no entrega la grabación: {why}"),
            CommandError::Unexpected(what) => {
                format!("la respuesta del agente no corresponde a la orden ({what}); actualice el colector")
            }
        }
    }
}

/// A successful "verificar ahora".
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub request_id: u64,
    /// The agent that answered.
    pub agent: AgentId,
    /// When the agent took the sample, milliseconds since the Unix epoch (agent's clock).
    pub taken_ms: i64,
    /// The agent's full sample, as a periodic one: every probe's report and every reading.
    pub sample: SampleV1,
    /// From publishing the command to receiving the reply.
    pub elapsed: Duration,
}

impl Verified {
    /// The sample as the agent sent it, `seq` 0 (see [`ReplyBody::Sample`]), e.g. to keep as
    /// evidence with [`centinela_shared::encode_envelope`].
    pub fn envelope(&self) -> Envelope {
        Envelope {
            v: centinela_shared::WIRE_VERSION,
            agent: self.agent.to_string(),
            seq: 0,
            taken_ms: self.taken_ms,
            body: Body::SampleV1(self.sample.clone()),
        }
    }
}

/// One piece of a call recording, as the agent read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The whole recording's size.
    pub total_len: u64,
    /// Where `data` starts in the recording: the offset asked for.
    pub offset: u64,
    /// At most the `max_len` asked for; empty at or past the end.
    pub data: Vec<u8>,
    /// The recording's media type, from its extension on the agent (`audio/wav`...).
    pub content_type: String,
}

/// Who waits for a request id.
#[derive(Debug)]
struct Waiter {
    agent: AgentId,
    tx: oneshot::Sender<ReplyBody>,
}

/// What became of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routed {
    Delivered,
    /// No pending request has this id (it timed out, or was never ours).
    Unknown,
    /// The request exists but was sent to another agent.
    WrongAgent,
}

/// The pending requests, without I/O.
#[derive(Debug, Default)]
struct Pending {
    waiters: HashMap<u64, Waiter>,
}

impl Pending {
    /// Registers a request under the first id `draw` gives that is not in use.
    fn insert(&mut self, agent: AgentId, tx: oneshot::Sender<ReplyBody>, mut draw: impl FnMut() -> u64) -> u64 {
        let mut id = draw();
        while self.waiters.contains_key(&id) {
            id = draw();
        }
        self.waiters.insert(id, Waiter { agent, tx });
        id
    }

    /// Hands `reply`, received on `from`'s reply topic, to its request.
    fn route(&mut self, from: &AgentId, reply: ReplyV1) -> Routed {
        match self.waiters.get(&reply.request_id) {
            None => Routed::Unknown,
            Some(w) if &w.agent != from || reply.agent_id != from.as_str() => Routed::WrongAgent,
            Some(_) => {
                if let Some(w) = self.waiters.remove(&reply.request_id) {
                    // The caller may have stopped waiting this instant; then nobody wants it.
                    let _ = w.tx.send(reply.body);
                }
                Routed::Delivered
            }
        }
    }

    fn remove(&mut self, id: u64) {
        self.waiters.remove(&id);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The current broker session's client, while subscribed.
    client: Mutex<Option<AsyncClient>>,
    pending: Mutex<Pending>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing here panics while holding a lock; if something did, the map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes its request from the pending map when the caller stops waiting, however it stops.
struct Ticket<'a> {
    inner: &'a Inner,
    id: u64,
    rx: Option<oneshot::Receiver<ReplyBody>>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        lock(&self.inner.pending).remove(self.id);
    }
}

/// Commands to agents; cheap to clone (one shared state). `Default` is a collector that is not
/// connected (every command fails with [`CommandError::NotConnected`]), which suits tests.
#[derive(Debug, Clone, Default)]
pub struct Commands {
    inner: Arc<Inner>,
}

impl Commands {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks `agent` to run every probe now and return the full sample, waiting at most `timeout`
    /// (which is also the command's expiry: the agent refuses it later than that).
    pub async fn verify_now(&self, agent: &AgentId, timeout: Duration) -> Result<Verified, CommandError> {
        let started = Instant::now();
        let (request_id, body) = self.request(agent, CommandKind::VerifyNow, timeout).await?;
        match body {
            ReplyBody::Sample(Envelope { taken_ms, body: Body::SampleV1(sample), .. }) => {
                Ok(Verified { request_id, agent: agent.clone(), taken_ms, sample, elapsed: started.elapsed() })
            }
            ReplyBody::Sample(_) => Err(CommandError::Unexpected("un envío que no es una muestra".into())),
            ReplyBody::Refused(why) => Err(CommandError::Refused(why)),
            ReplyBody::Chunk { .. } | ReplyBody::RecordingRefused { .. } => {
                Err(CommandError::Unexpected("una respuesta sobre una grabación".into()))
            }
        }
    }

    /// Asks `agent` for at most `max_len` bytes of the recording a CDR row names (`recordingfile`
    /// of a call at `calldate`) from `offset`, waiting at most `timeout`. `max_len` 0 asks only
    /// for the size. The agent clamps `max_len` to [`centinela_shared::MAX_CHUNK_BYTES`].
    pub async fn recording_chunk(
        &self,
        agent: &AgentId,
        recordingfile: &str,
        calldate: &str,
        offset: u64,
        max_len: u32,
        timeout: Duration,
    ) -> Result<Chunk, CommandError> {
        let kind = CommandKind::RecordingChunk {
            recordingfile: recordingfile.to_string(),
            calldate: calldate.to_string(),
            offset,
            max_len,
        };
        let (_, body) = self.request(agent, kind, timeout).await?;
        chunk_of(body, offset, max_len)
    }

    /// Whether a command can be sent now.
    pub fn is_connected(&self) -> bool {
        lock(&self.inner.client).is_some()
    }

    /// Requests waiting for a reply now.
    pub fn pending(&self) -> usize {
        lock(&self.inner.pending).waiters.len()
    }

    /// For the ingest task: the session is subscribed; commands go out through `client`.
    pub(crate) fn connected(&self, client: AsyncClient) {
        *lock(&self.inner.client) = Some(client);
    }

    /// For the ingest task: the session ended. Pending requests keep waiting until their timeout
    /// (a reply may still come on the next session).
    pub(crate) fn disconnected(&self) {
        *lock(&self.inner.client) = None;
    }

    /// For the ingest task: a message on `from`'s reply topic.
    pub(crate) fn on_reply(&self, from: &AgentId, payload: &[u8]) {
        let reply = match decode_reply(payload) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(agent = %from, error = %e, "undecodable command reply dropped");
                return;
            }
        };
        let request_id = reply.request_id;
        match lock(&self.inner.pending).route(from, reply) {
            Routed::Delivered => tracing::debug!(agent = %from, request_id, "command reply delivered"),
            Routed::Unknown => {
                tracing::debug!(agent = %from, request_id, "reply for an unknown or expired request dropped")
            }
            Routed::WrongAgent => {
                tracing::debug!(agent = %from, request_id, "reply from another agent than the request's dropped")
            }
        }
    }

    /// Registers a request for `agent` under a fresh id.
    fn register(&self, agent: &AgentId) -> Ticket<'_> {
        let (tx, rx) = oneshot::channel();
        let id = lock(&self.inner.pending).insert(agent.clone(), tx, request_id);
        Ticket { inner: &self.inner, id, rx: Some(rx) }
    }

    /// Publishes `kind` for `agent` and waits for the reply body.
    async fn request(
        &self,
        agent: &AgentId,
        kind: CommandKind,
        timeout: Duration,
    ) -> Result<(u64, ReplyBody), CommandError> {
        let Some(client) = lock(&self.inner.client).clone() else { return Err(CommandError::NotConnected) };
        let mut ticket = self.register(agent);
        let issued_ms = chrono::Utc::now().timestamp_millis();
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        let command = CommandV1 {
            request_id: ticket.id,
            agent_id: agent.to_string(),
            issued_ms,
            expires_ms: issued_ms.saturating_add(timeout_ms),
            kind,
        };
        let topic = Topic::new(agent, TopicKind::Cmd).to_string();
        // Not retained: a command left on the broker would run again at every reconnect.
        if let Err(e) = client.try_publish(topic, QoS::AtLeastOnce, false, encode_command(&command)) {
            tracing::warn!(agent = %agent, error = %e, "cannot publish a command");
            return Err(CommandError::NotConnected);
        }
        tracing::info!(agent = %agent, request_id = ticket.id, kind = ?command.kind, ?timeout, "command sent");
        let Some(rx) = ticket.rx.take() else { return Err(CommandError::NotConnected) };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(body)) => Ok((ticket.id, body)),
            // The sender is only dropped by removing the request, which is this ticket's job.
            Ok(Err(_)) | Err(_) => {
                tracing::info!(agent = %agent, request_id = ticket.id, ?timeout, "command timed out");
                Err(CommandError::Timeout { after: timeout })
            }
        }
    }
}

/// The chunk in the answer to a request for `max_len` bytes from `offset`, checked: it starts where
/// it was asked to, is no longer than asked, and does not run past the size it states.
fn chunk_of(body: ReplyBody, offset: u64, max_len: u32) -> Result<Chunk, CommandError> {
    match body {
        ReplyBody::Chunk { total_len, offset: from, data, content_type } => {
            let len = data.len() as u64;
            if from != offset || len > u64::from(max_len) || from.saturating_add(len) > total_len {
                return Err(CommandError::Unexpected(format!(
                    "{len} bytes desde el byte {from} de {total_len}, cuando se pidieron hasta {max_len} desde el byte {offset}"
                )));
            }
            Ok(Chunk { total_len, offset, data, content_type })
        }
        ReplyBody::RecordingRefused { refusal, why } => Err(CommandError::RecordingRefused { refusal, why }),
        ReplyBody::Refused(why) => Err(CommandError::Refused(why)),
        ReplyBody::Sample(_) => Err(CommandError::Unexpected("una muestra en vez de un fragmento de grabación".into())),
    }
}

/// A random request id; the clock mixed with a counter if the OS has no randomness to give.
fn request_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        (nanos as u64) ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(48)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::{OutboxStats, WIRE_VERSION, encode_reply};

    fn agent(id: &str) -> AgentId {
        AgentId::new(id).unwrap()
    }

    fn reply(request_id: u64, from: &str, body: ReplyBody) -> ReplyV1 {
        ReplyV1 { request_id, agent_id: from.into(), replied_ms: 1, body }
    }

    fn sample(from: &str) -> ReplyBody {
        ReplyBody::Sample(Envelope {
            v: WIRE_VERSION,
            agent: from.into(),
            seq: 0,
            taken_ms: 1,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![],
                readings: vec![],
            }),
        })
    }

    /// A client whose requests queue in a channel nobody reads: publishing succeeds, no reply
    /// ever comes. The event loop must stay alive for the channel to stay open.
    fn silent_client() -> (AsyncClient, rumqttc::EventLoop) {
        AsyncClient::new(rumqttc::MqttOptions::new("test", "127.0.0.1", 1), 16)
    }

    #[test]
    fn a_reply_reaches_only_the_request_with_its_id_from_its_agent() {
        let mut p = Pending::default();
        let mut draws = [7, 7, 9].into_iter();
        let mut draw = move || draws.next().unwrap();
        let (tx, mut rx) = oneshot::channel();
        assert_eq!(p.insert(agent("pbx-01"), tx, &mut draw), 7);
        let (tx2, _rx2) = oneshot::channel();
        assert_eq!(p.insert(agent("pbx-03"), tx2, &mut draw), 9, "an id in use is not handed out twice");
        assert_eq!(p.route(&agent("pbx-01"), reply(8, "pbx-01", sample("pbx-01"))), Routed::Unknown);
        assert_eq!(p.route(&agent("pbx-02"), reply(7, "pbx-02", sample("pbx-02"))), Routed::WrongAgent);
        assert_eq!(
            p.route(&agent("pbx-01"), reply(7, "pbx-02", sample("pbx-02"))),
            Routed::WrongAgent,
            "the reply must be signed by the agent whose topic it came on"
        );
        assert!(rx.try_recv().is_err(), "nothing delivered yet");
        assert_eq!(p.route(&agent("pbx-01"), reply(7, "pbx-01", sample("pbx-01"))), Routed::Delivered);
        assert_eq!(rx.try_recv().ok(), Some(sample("pbx-01")));
        assert_eq!(
            p.route(&agent("pbx-01"), reply(7, "pbx-01", sample("pbx-01"))),
            Routed::Unknown,
            "a duplicate reply finds nobody waiting"
        );
        assert_eq!(p.waiters.len(), 1, "only request 9 still waits");
        p.remove(9);
        assert!(p.waiters.is_empty());
    }

    #[tokio::test]
    async fn without_a_broker_session_a_command_fails_at_once_with_not_connected() {
        let c = Commands::new();
        let err = c.verify_now(&agent("pbx-01"), Duration::from_secs(30)).await.unwrap_err();
        assert_eq!(err, CommandError::NotConnected);
        assert!(err.user_message().contains("no está conectado al broker"));
        assert_eq!(c.pending(), 0);
    }

    #[tokio::test]
    async fn a_request_without_an_answer_times_out_and_leaves_nothing_pending() {
        let c = Commands::new();
        let (client, _eventloop) = silent_client();
        c.connected(client);
        let err = c.verify_now(&agent("pbx-01"), Duration::from_millis(60)).await.unwrap_err();
        assert_eq!(err, CommandError::Timeout { after: Duration::from_millis(60) });
        assert_eq!(
            err.user_message(),
            "el agente no respondió en 1 s; revise que el servidor esté en línea y vuelva a intentarlo"
        );
        assert_eq!(c.pending(), 0, "the timed-out request is removed");
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_leaves_nothing_pending() {
        let c = Commands::new();
        let (client, _eventloop) = silent_client();
        c.connected(client);
        let pbx = agent("pbx-01");
        let waiting = c.verify_now(&pbx, Duration::from_secs(60));
        // The HTTP client hung up: the future is dropped mid-wait.
        assert!(tokio::time::timeout(Duration::from_millis(30), waiting).await.is_err());
        assert_eq!(c.pending(), 0);
    }

    #[tokio::test]
    async fn a_reply_on_the_reply_topic_completes_its_request_and_a_refusal_is_an_error() {
        let c = Commands::new();
        let ticket = c.register(&agent("pbx-01"));
        let id = ticket.id;
        c.on_reply(&agent("pbx-01"), &encode_reply(&reply(id, "pbx-01", sample("pbx-01"))));
        let mut ticket = ticket;
        let body = ticket.rx.take().unwrap().await.unwrap();
        assert_eq!(body, sample("pbx-01"));
        drop(ticket);
        assert_eq!(c.pending(), 0);

        c.on_reply(&agent("pbx-01"), b"\xffnot a reply");
        c.on_reply(&agent("pbx-01"), &encode_reply(&reply(12345, "pbx-01", sample("pbx-01"))));
        assert_eq!(c.pending(), 0, "garbage and strays change nothing");

        let refused = CommandError::Refused("la orden venció".into());
        assert_eq!(refused.user_message(), "el agente rechazó la orden: la orden venció");
    }

    #[test]
    fn a_chunk_must_answer_the_range_it_was_asked_for() {
        let chunk = |offset, data: &[u8], total_len| ReplyBody::Chunk {
            total_len,
            offset,
            data: data.to_vec(),
            content_type: "audio/wav".into(),
        };
        let c = chunk_of(chunk(10, b"abcd", 100), 10, 4).unwrap();
        assert_eq!(
            (c.total_len, c.offset, c.data.as_slice(), c.content_type.as_str()),
            (100, 10, &b"abcd"[..], "audio/wav")
        );
        assert_eq!(chunk_of(chunk(100, b"", 100), 100, 4).unwrap().data, b"", "at the end: empty");
        for (body, offset, max_len, why) in [
            (chunk(0, b"abcd", 100), 10, 8, "another offset"),
            (chunk(10, b"abcde", 100), 10, 4, "longer than asked"),
            (chunk(98, b"abcd", 100), 98, 8, "past the stated size"),
        ] {
            assert!(matches!(chunk_of(body, offset, max_len), Err(CommandError::Unexpected(_))), "{why}");
        }
        let too_big = RecordingRefusal::TooLarge { total_len: 9, max_bytes: 8 };
        let e = chunk_of(ReplyBody::RecordingRefused { refusal: too_big.clone(), why: "grande".into() }, 0, 4);
        assert_eq!(e, Err(CommandError::RecordingRefused { refusal: too_big, why: "grande".into() }));
        assert_eq!(e.unwrap_err().user_message(), "el agente no entrega la grabación: grande");
        assert!(matches!(chunk_of(sample("pbx-01"), 0, 4), Err(CommandError::Unexpected(_))));
        assert_eq!(chunk_of(ReplyBody::Refused("vencida".into()), 0, 4), Err(CommandError::Refused("vencida".into())));
    }

    #[tokio::test]
    async fn a_recording_chunk_without_a_broker_session_fails_at_once() {
        let c = Commands::new();
        let err = c.recording_chunk(&agent("pbx-01"), "x.wav", "", 0, 16, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(err, CommandError::NotConnected);
    }

    #[test]
    fn request_ids_do_not_repeat() {
        let ids: std::collections::HashSet<u64> = (0..1000).map(|_| request_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
