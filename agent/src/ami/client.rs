//! An AMI client for one connection: banner, login (plain or MD5 challenge), actions correlated by
//! ActionID, lists, CLI commands, logoff. Generic over the byte stream so tests can use an in-memory
//! duplex; [`AmiClient::connect`] is the TCP entry point.
//!
//! Invariants:
//! - Every wait on the peer has a deadline: the TCP connect ([`ClientConfig::connect_timeout`]) and
//!   each whole exchange, banner included ([`ClientConfig::action_timeout`]). A peer that holds the
//!   TCP connection open and answers nothing ends in [`AmiError::Wedged`], never in a hang.
//! - Failures are classified ([`AmiError::kind`]) so the probe can tell "Asterisk down" from "AMI
//!   wedged" from "login refused" without matching strings.
//! - Messages that are not the answer being waited for (unsolicited events, late answers to an action
//!   that timed out) are skipped and counted, never mistaken for the answer: the ActionID decides.
//! - After any error other than [`AmiError::ActionFailed`], the connection's state is unknown: drop
//!   the client and connect again (the probe owns reconnection).

use super::frame::{self, Banner, InvalidFrame, Message, Parse};
use super::md5;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A list longer than this is refused. The busiest capture has 16 channels; a call centre with a
/// few hundred seats lists a few thousand items at most.
pub const MAX_LIST_ITEMS: usize = 100_000;

/// Deadlines for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// For the TCP connect only.
    pub connect_timeout: Duration,
    /// For each whole exchange: the banner, and each action from sending it to its last list item.
    pub action_timeout: Duration,
}

impl Default for ClientConfig {
    /// 5 s to connect, 10 s per action (Zabbix's Asterisk template alerts when AMI takes over 10 s).
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(5), action_timeout: Duration::from_secs(10) }
    }
}

/// How [`AmiClient::login`] proves the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Auth {
    /// `Secret:` in clear text (what most FreePBX installs use on localhost).
    #[default]
    Plain,
    /// `Action: Challenge` then `Key: md5(challenge + secret)`: the secret never crosses the wire.
    Md5,
}

/// The broad cause of a failure, for the probe's status and alert wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Nothing accepts TCP on the AMI address: Asterisk is not running, or the address is wrong.
    Down,
    /// TCP is up but AMI did not answer in time: Asterisk is alive but stuck ("astman failure").
    Wedged,
    /// AMI answered the login with an error: wrong user, secret or `permit`/`deny`.
    LoginRefused,
    /// AMI answered an action with `Response: Error`; the connection is still usable.
    ActionFailed,
    /// The peer sent something that is not AMI, or not the expected answer.
    Protocol,
    /// The connection closed or broke mid-session (Asterisk restarted or crashed).
    ConnectionLost,
}

#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    #[error(
        "cannot connect to AMI at {addr}: {source} (is Asterisk running, with `enabled = yes`, this port and \
         bindaddr in the [general] section of manager.conf?)"
    )]
    Down {
        addr: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "connecting to AMI at {addr} timed out after {timeout:?} (host down, or a firewall dropping the \
         manager port?)"
    )]
    ConnectTimeout { addr: String, timeout: Duration },
    #[error(
        "AMI accepted the connection but sent no {waiting_for} within {timeout:?}: Asterisk is wedged \
         (check `asterisk -rx 'core show uptime'`; restart it if this persists)"
    )]
    Wedged { waiting_for: String, timeout: Duration },
    #[error(
        "AMI refused login for user {username:?}: {message} (check the user's secret and permit/deny in \
         manager.conf, and the agent's AMI username and secret)"
    )]
    LoginRefused { username: String, message: String },
    #[error("AMI action {action} failed: {message}{}", output_suffix(.output))]
    ActionFailed { action: String, message: String, output: Vec<String> },
    #[error("AMI closed the connection while waiting for {waiting_for}{}", partial_suffix(*.partial_bytes))]
    Closed { waiting_for: String, partial_bytes: usize },
    #[error("AMI sent an invalid message while waiting for {waiting_for}: {reason}")]
    Invalid {
        waiting_for: String,
        #[source]
        reason: InvalidFrame,
    },
    #[error("AMI answered {action} unexpectedly: {reason}")]
    Unexpected { action: String, reason: String },
    #[error("AMI connection broke while {doing}: {source}")]
    Io {
        doing: String,
        #[source]
        source: io::Error,
    },
    #[error("refusing to send AMI action {action:?}: {reason}")]
    BadRequest { action: String, reason: String },
}

fn output_suffix(output: &[String]) -> String {
    if output.is_empty() { String::new() } else { format!(" ({})", output.join(" / ")) }
}

fn partial_suffix(bytes: usize) -> String {
    if bytes == 0 { String::new() } else { format!(", after {bytes} bytes of an unfinished message") }
}

impl AmiError {
    pub fn kind(&self) -> FailureKind {
        match self {
            AmiError::Down { .. } | AmiError::ConnectTimeout { .. } => FailureKind::Down,
            AmiError::Wedged { .. } => FailureKind::Wedged,
            AmiError::LoginRefused { .. } => FailureKind::LoginRefused,
            AmiError::ActionFailed { .. } => FailureKind::ActionFailed,
            AmiError::Invalid { .. } | AmiError::Unexpected { .. } | AmiError::BadRequest { .. } => {
                FailureKind::Protocol
            }
            AmiError::Closed { .. } | AmiError::Io { .. } => FailureKind::ConnectionLost,
        }
    }
}

/// An action to send. The client adds `ActionID`; headers go out in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    name: String,
    headers: Vec<(String, String)>,
}

impl Action {
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), headers: Vec::new() }
    }

    /// Adds `key: value`. Checked when sent: no CR or LF anywhere (they would inject another action),
    /// no ':' in the key, and `Action`/`ActionID` belong to the client.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wire bytes with `action_id`, or why they cannot be sent.
    pub fn to_bytes(&self, action_id: &str) -> Result<Vec<u8>, AmiError> {
        let bad = |reason: String| AmiError::BadRequest { action: self.name.clone(), reason };
        let has_newline = |s: &str| s.contains(['\r', '\n']);
        if self.name.is_empty() || has_newline(&self.name) || self.name.contains(':') {
            return Err(bad("the action name must be one word without ':', CR or LF".into()));
        }
        let mut msg = Message::from_headers(vec![
            ("Action".to_owned(), self.name.clone()),
            ("ActionID".to_owned(), action_id.to_owned()),
        ]);
        let mut headers = msg.headers().to_vec();
        for (k, v) in &self.headers {
            if k.is_empty() || has_newline(k) || k.contains(':') {
                return Err(bad(format!("header name {k:?} must be non-empty, without ':', CR or LF")));
            }
            if k.eq_ignore_ascii_case("Action") || k.eq_ignore_ascii_case("ActionID") {
                return Err(bad(format!("header {k} is set by the client")));
            }
            if has_newline(v) {
                return Err(bad(format!("the value of {k} contains CR or LF, which would inject another action")));
            }
            headers.push((k.clone(), v.clone()));
        }
        msg = Message::from_headers(headers);
        Ok(msg.to_bytes())
    }
}

/// A list action's answer: the opening response, the items (events with the action's ActionID) and
/// the closing `<Name>Complete` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub response: Message,
    /// In arrival order. Some lists mix event types (`QueueParams`/`QueueMember`/`QueueEntry`, or
    /// `OutboundRegistrationDetail` followed by `AuthDetail`), so `items.len()` may exceed the
    /// `ListItems:` count of [`List::complete`].
    pub items: Vec<Message>,
    pub complete: Message,
}

impl List {
    /// The items whose `Event:` is `name`.
    pub fn events<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Message> + 'a {
        self.items.iter().filter(move |m| m.event().is_some_and(|e| e.eq_ignore_ascii_case(name)))
    }
}

/// One logged-in (or about to be) AMI connection.
pub struct AmiClient<S> {
    stream: S,
    buf: Vec<u8>,
    banner: Banner,
    config: ClientConfig,
    next_id: u64,
    skipped: u64,
}

impl AmiClient<TcpStream> {
    /// Connects to `addr` (`host:port`) and reads the banner. Refused or unreachable is
    /// [`AmiError::Down`]; no TCP answer in time is [`AmiError::ConnectTimeout`]; TCP up but no
    /// banner in time is [`AmiError::Wedged`].
    pub async fn connect(addr: &str, config: ClientConfig) -> Result<Self, AmiError> {
        let stream = match tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(AmiError::Down { addr: addr.to_owned(), source }),
            Err(_) => return Err(AmiError::ConnectTimeout { addr: addr.to_owned(), timeout: config.connect_timeout }),
        };
        // Actions are small request/response exchanges: do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        Self::handshake(stream, config).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AmiClient<S> {
    /// Reads the banner from an already connected stream.
    pub async fn handshake(stream: S, config: ClientConfig) -> Result<Self, AmiError> {
        let mut client = Self {
            stream,
            buf: Vec::with_capacity(4096),
            banner: Banner { version: String::new() },
            config,
            next_id: 1,
            skipped: 0,
        };
        let waiting_for = "greeting banner";
        let banner = tokio::time::timeout(config.action_timeout, client.read_banner())
            .await
            .map_err(|_| AmiError::Wedged { waiting_for: waiting_for.into(), timeout: config.action_timeout })??;
        client.banner = banner;
        Ok(client)
    }

    /// The greeting read on connect.
    pub fn banner(&self) -> &Banner {
        &self.banner
    }

    /// How many messages were skipped so far while waiting for answers (unsolicited events, late
    /// answers to actions that timed out).
    pub fn skipped_messages(&self) -> u64 {
        self.skipped
    }

    /// Logs in with `Events: off`, so that no event stream competes with the answers.
    pub async fn login(&mut self, username: &str, secret: &str, auth: Auth) -> Result<(), AmiError> {
        let mut login = Action::new("Login").header("Username", username);
        match auth {
            Auth::Plain => login = login.header("Secret", secret),
            Auth::Md5 => {
                let answer = self.exchange_single(&Action::new("Challenge").header("AuthType", "MD5")).await;
                let challenge = match answer {
                    Ok(m) => m.get("Challenge").map(str::to_owned).ok_or_else(|| AmiError::Unexpected {
                        action: "Challenge".into(),
                        reason: format!("no Challenge header in {m}"),
                    })?,
                    Err(AmiError::ActionFailed { message, .. }) => {
                        return Err(AmiError::LoginRefused { username: username.into(), message });
                    }
                    Err(e) => return Err(e),
                };
                let key = md5::hex_digest(format!("{challenge}{secret}").as_bytes());
                login = login.header("AuthType", "MD5").header("Key", key);
            }
        }
        login = login.header("Events", "off");
        match self.exchange_single(&login).await {
            Ok(_) => Ok(()),
            Err(AmiError::ActionFailed { message, .. }) => {
                Err(AmiError::LoginRefused { username: username.into(), message })
            }
            Err(e) => Err(e),
        }
    }

    /// Sends `action` and returns its response. `Response: Error` is [`AmiError::ActionFailed`].
    pub async fn action(&mut self, action: &Action) -> Result<Message, AmiError> {
        self.exchange_single(action).await
    }

    /// Sends a list action (`CoreShowChannels`, `QueueStatus`, `PJSIPShowEndpoints`...) and collects
    /// its items until the `EventList: Complete` event, skipping unrelated events in between.
    pub async fn list(&mut self, action: &Action) -> Result<List, AmiError> {
        let timeout = self.config.action_timeout;
        let name = action.name().to_owned();
        tokio::time::timeout(timeout, self.exchange_list(action))
            .await
            .map_err(|_| AmiError::Wedged { waiting_for: format!("complete answer to {name}"), timeout })?
    }

    /// Runs a CLI command (`core show uptime seconds`) and returns its `Output:` lines.
    pub async fn command(&mut self, command: &str) -> Result<Vec<String>, AmiError> {
        let response = self.exchange_single(&Action::new("Command").header("Command", command)).await?;
        Ok(response.output())
    }

    /// Sends `Logoff` and waits for `Response: Goodbye`; Asterisk then closes the connection.
    pub async fn logoff(mut self) -> Result<(), AmiError> {
        let response = self.exchange_single(&Action::new("Logoff")).await?;
        if response.response().is_some_and(|r| r.eq_ignore_ascii_case("Goodbye")) {
            let _ = self.stream.shutdown().await;
            Ok(())
        } else {
            Err(AmiError::Unexpected {
                action: "Logoff".into(),
                reason: format!("expected Response: Goodbye, got {response}"),
            })
        }
    }

    fn next_action_id(&mut self) -> String {
        let id = format!("centinela-{}", self.next_id);
        self.next_id += 1;
        id
    }

    async fn exchange_single(&mut self, action: &Action) -> Result<Message, AmiError> {
        let timeout = self.config.action_timeout;
        let name = action.name().to_owned();
        tokio::time::timeout(timeout, self.send_and_await_response(action))
            .await
            .map_err(|_| AmiError::Wedged { waiting_for: format!("answer to {name}"), timeout })?
            .map(|(response, _)| response)
    }

    async fn exchange_list(&mut self, action: &Action) -> Result<List, AmiError> {
        let (response, id) = self.send_and_await_response(action).await?;
        if !response.is_list_start() {
            return Err(AmiError::Unexpected {
                action: action.name().into(),
                reason: format!("expected a list (EventList: start), got {response}"),
            });
        }
        let waiting_for = format!("items of {}", action.name());
        let mut items = Vec::new();
        loop {
            let msg = self.read_message(&waiting_for).await?;
            if msg.action_id() != Some(id.as_str()) || msg.event().is_none() {
                self.skip(&msg);
                continue;
            }
            if msg.is_list_complete() {
                return Ok(List { response, items, complete: msg });
            }
            if items.len() >= MAX_LIST_ITEMS {
                return Err(AmiError::Unexpected {
                    action: action.name().into(),
                    reason: format!("more than {MAX_LIST_ITEMS} list items"),
                });
            }
            items.push(msg);
        }
    }

    /// Sends `action` with a fresh ActionID and reads until the response carrying that ActionID.
    async fn send_and_await_response(&mut self, action: &Action) -> Result<(Message, String), AmiError> {
        let id = self.next_action_id();
        let bytes = action.to_bytes(&id)?;
        let doing = |what: &str| format!("{what} {}", action.name());
        self.stream.write_all(&bytes).await.map_err(|source| AmiError::Io { doing: doing("sending"), source })?;
        self.stream.flush().await.map_err(|source| AmiError::Io { doing: doing("sending"), source })?;
        let waiting_for = format!("answer to {}", action.name());
        loop {
            let msg = self.read_message(&waiting_for).await?;
            if msg.action_id() != Some(id.as_str()) || msg.response().is_none() {
                self.skip(&msg);
                continue;
            }
            if msg.response().is_some_and(|r| r.eq_ignore_ascii_case("Error")) {
                return Err(AmiError::ActionFailed {
                    action: action.name().into(),
                    message: msg.message().unwrap_or("(no Message header)").to_owned(),
                    output: msg.output(),
                });
            }
            return Ok((msg, id));
        }
    }

    fn skip(&mut self, msg: &Message) {
        self.skipped += 1;
        tracing::trace!(event = msg.event(), action_id = msg.action_id(), "ami: skipped message");
    }

    async fn read_banner(&mut self) -> Result<Banner, AmiError> {
        let waiting_for = "greeting banner";
        loop {
            match frame::parse_banner(&self.buf) {
                Parse::Complete(banner, n) => {
                    self.buf.drain(..n);
                    return Ok(banner);
                }
                Parse::Invalid(reason) => return Err(AmiError::Invalid { waiting_for: waiting_for.into(), reason }),
                Parse::Incomplete => self.fill(waiting_for).await?,
            }
        }
    }

    async fn read_message(&mut self, waiting_for: &str) -> Result<Message, AmiError> {
        loop {
            match frame::parse_message(&self.buf) {
                Parse::Complete(msg, n) => {
                    self.buf.drain(..n);
                    return Ok(msg);
                }
                Parse::Invalid(reason) => return Err(AmiError::Invalid { waiting_for: waiting_for.into(), reason }),
                Parse::Incomplete => self.fill(waiting_for).await?,
            }
        }
    }

    /// Appends one read to the buffer. Cancel-safe: a read cut by the deadline loses no bytes.
    async fn fill(&mut self, waiting_for: &str) -> Result<(), AmiError> {
        let mut chunk = [0u8; 8192];
        let n = self
            .stream
            .read(&mut chunk)
            .await
            .map_err(|source| AmiError::Io { doing: format!("waiting for {waiting_for}"), source })?;
        if n == 0 {
            // Empty lines between messages are not an unfinished message.
            let unfinished = self.buf.iter().any(|&b| b != b'\r' && b != b'\n');
            let partial_bytes = if unfinished { self.buf.len() } else { 0 };
            return Err(AmiError::Closed { waiting_for: waiting_for.into(), partial_bytes });
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, DuplexStream, duplex};

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    fn fast() -> ClientConfig {
        ClientConfig { connect_timeout: Duration::from_millis(300), action_timeout: Duration::from_millis(300) }
    }

    /// The test's side of the duplex: reads one request and returns it parsed.
    async fn read_request(server: &mut DuplexStream, buf: &mut Vec<u8>) -> Message {
        loop {
            if let Parse::Complete(m, n) = frame::parse_message(buf) {
                buf.drain(..n);
                return m;
            }
            let mut chunk = [0u8; 1024];
            let n = server.read(&mut chunk).await.expect("read request");
            assert!(n > 0, "client closed");
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn with_id(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
        String::from_utf8(bytes.to_vec())
            .expect("fixture is UTF-8")
            .replace(&format!("ActionID: {from}\r\n"), &format!("ActionID: {to}\r\n"))
            .into_bytes()
    }

    #[test]
    fn action_bytes_put_action_and_id_first_and_end_with_an_empty_line() {
        let bytes = Action::new("QueueStatus").header("Queue", "support").to_bytes("centinela-9");
        assert_eq!(
            bytes.ok(),
            Some(b"Action: QueueStatus\r\nActionID: centinela-9\r\nQueue: support\r\n\r\n".to_vec())
        );
    }

    #[test]
    fn a_value_with_a_newline_is_refused_instead_of_injecting_an_action() {
        let err = Action::new("Command").header("Command", "core show uptime\r\n\r\nAction: Originate").to_bytes("x");
        let err = err.expect_err("must refuse");
        assert_eq!(err.kind(), FailureKind::Protocol);
        assert!(err.to_string().contains("inject"), "{err}");
        assert!(Action::new("Ping").header("ActionID", "mine").to_bytes("x").is_err());
    }

    #[tokio::test]
    async fn md5_login_sends_challenge_then_the_lowercase_hex_key() {
        // No capture of a Challenge exchange exists. The server side below follows manager.c's
        // action_challenge: `astman_start_ack` (Response: Success + ActionID) then
        // `Challenge: <ast_random() as %ld>` and the empty line; authenticate() then compares
        // `Key` with md5(challenge + secret) in lowercase hex. The key below is from md5sum.
        let (client_side, mut server) = duplex(64 * 1024);
        let server_task = tokio::spawn(async move {
            let mut buf = Vec::new();
            server.write_all(&fixture("ami-banner.txt")).await.expect("banner");
            let challenge = read_request(&mut server, &mut buf).await;
            assert_eq!(challenge.kind(), frame::Kind::Action("Challenge"));
            assert_eq!(challenge.get("AuthType"), Some("MD5"));
            let id = challenge.action_id().expect("ActionID").to_owned();
            let answer = format!("Response: Success\r\nActionID: {id}\r\nChallenge: 840450837\r\n\r\n");
            server.write_all(answer.as_bytes()).await.expect("challenge");
            let login = read_request(&mut server, &mut buf).await;
            let id = login.action_id().expect("ActionID").to_owned();
            server.write_all(&with_id(&fixture("ami-login-success.txt"), "lab-1", &id)).await.expect("login");
            login
        });
        let mut client = AmiClient::handshake(client_side, fast()).await.expect("banner");
        client.login("monitor", "monitor", Auth::Md5).await.expect("md5 login");
        let login = server_task.await.expect("server");
        assert_eq!(login.get("AuthType"), Some("MD5"));
        assert_eq!(login.get("Key"), Some("34270b76ed6080098c8db04605581efd"));
        assert_eq!(login.get("Secret"), None, "the secret must not cross the wire");
        assert_eq!(login.get("Events"), Some("off"));
    }

    #[tokio::test]
    async fn list_items_are_collected_when_unrelated_events_arrive_between_them() {
        // The captured list, with the unsolicited events captured after it spliced in between its
        // items: every message is a captured one, only the order is changed.
        let captured =
            frame::parse_stream(&fixture("ami-interleaved-coreshowchannels-with-events.txt")).expect("parse");
        let (list, unsolicited): (Vec<_>, Vec<_>) =
            captured.messages.into_iter().partition(|m| m.action_id() == Some("lab-2"));
        assert_eq!((list.len(), unsolicited.len()), (15, 38));
        let (client_side, mut server) = duplex(256 * 1024);
        let server_task = tokio::spawn(async move {
            let mut buf = Vec::new();
            server.write_all(&fixture("ami-banner.txt")).await.expect("banner");
            let req = read_request(&mut server, &mut buf).await;
            let id = req.action_id().expect("ActionID").to_owned();
            let mut out = Vec::new();
            let mut extra = unsolicited.iter();
            for m in &list {
                out.extend(with_id(&m.to_bytes(), "lab-2", &id));
                for e in extra.by_ref().take(3) {
                    out.extend(e.to_bytes());
                }
            }
            server.write_all(&out).await.expect("list");
            server
        });
        let mut client = AmiClient::handshake(client_side, fast()).await.expect("banner");
        let got = client.list(&Action::new("CoreShowChannels")).await.expect("list");
        assert_eq!(got.items.len(), 13);
        assert_eq!(got.events("CoreShowChannel").count(), 13);
        assert_eq!(got.complete.get("ListItems"), Some("13"));
        assert_eq!(client.skipped_messages(), 38);
        drop(server_task.await);
    }

    #[tokio::test]
    async fn a_late_answer_to_a_timed_out_action_is_not_taken_for_the_next_one() {
        let (client_side, mut server) = duplex(64 * 1024);
        let server_task = tokio::spawn(async move {
            let mut buf = Vec::new();
            server.write_all(&fixture("ami-banner.txt")).await.expect("banner");
            let first = read_request(&mut server, &mut buf).await;
            let second = read_request(&mut server, &mut buf).await; // sent after the first timed out
            let ping = fixture("ami-ping.txt");
            let late = with_id(&ping, "lab-2", first.action_id().expect("id"));
            let due = with_id(&ping, "lab-2", second.action_id().expect("id"));
            server.write_all(&[late, due].concat()).await.expect("answers");
            server
        });
        let mut client = AmiClient::handshake(client_side, fast()).await.expect("banner");
        let err = client.action(&Action::new("Ping")).await.expect_err("first ping must time out");
        assert_eq!(err.kind(), FailureKind::Wedged);
        let pong = client.action(&Action::new("Ping")).await.expect("second ping");
        assert_eq!(pong.get("Ping"), Some("Pong"));
        assert_eq!(client.skipped_messages(), 1);
        drop(server_task.await);
    }

    #[test]
    fn every_error_kind_is_reachable_and_messages_name_the_fix() {
        let down = AmiError::Down { addr: "127.0.0.1:5038".into(), source: io::ErrorKind::ConnectionRefused.into() };
        assert_eq!(down.kind(), FailureKind::Down);
        assert!(down.to_string().contains("manager.conf"), "{down}");
        let login = AmiError::LoginRefused { username: "monitor".into(), message: "Authentication failed".into() };
        assert!(login.to_string().contains("secret"), "{login}");
        let closed = AmiError::Closed { waiting_for: "answer to Login".into(), partial_bytes: 30 };
        assert_eq!(
            closed.to_string(),
            "AMI closed the connection while waiting for answer to Login, after 30 bytes of an unfinished message"
        );
    }
}
