//! Test double: an AMI server on `127.0.0.1:0` that replays the transcripts captured from Asterisk 22
//! (`shared/fixtures/asterisk/ami-*.txt`) byte for byte, plus hostile peers for failure tests. It is
//! a normal module so integration tests and the future asterisk probe's tests can share it; nothing
//! in the agent's own runtime uses it.
//!
//! Invariants:
//! - Answers are fixture bytes, never hand-written, with one documented change: every line that is
//!   exactly `ActionID: <id of the fixture's request>` gets the client's ActionID instead (or is
//!   dropped when the client sent none, as Asterisk does). Nothing else is touched, so framing, CRLF
//!   and header order are what Asterisk sent.
//! - A request is answered by the first *unused* fixture of the script whose `.request.txt` has the
//!   same headers apart from `ActionID` (keys case-insensitive, the `Action` value too, other values
//!   exact, order ignored). Each fixture answers once per connection, so a script can hold the
//!   0-channel and 16-channel captures of the same action and serve them in turn. A request that
//!   matches nothing gets `ami-error-invalid-action.txt` (its `Message` names `NoSuchAction` as
//!   captured, whatever was asked).
//! - Like Asterisk, the server closes the connection after `Response: Goodbye` and after a `Login`
//!   answered with `Response: Error`.
//! - Each connection replays the script from its start; dropping the [`ReplayServer`] ends every
//!   connection.

use super::frame::{self, Kind, Message, Parse};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the server does after sending the banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer requests from these fixtures (names without `.txt`, e.g. `ami-login-success`).
    Script(Vec<String>),
    /// Read and ignore every request: TCP is up, AMI answers nothing.
    Wedged,
    /// Close the connection right after the banner.
    CloseAfterBanner,
    /// Answer the first request with the first half of `ami-login-success.txt`, then close.
    Truncated,
    /// Answer the first request with a message that never ends and outgrows
    /// [`frame::MAX_MESSAGE_BYTES`], then keep the connection open.
    Huge,
    /// Answer the first request with binary bytes (not UTF-8, no `Key: Value`) and an empty line.
    NonUtf8,
}

impl Behaviour {
    /// A script from fixture names.
    pub fn script(names: &[&str]) -> Self {
        Behaviour::Script(names.iter().map(|n| (*n).to_owned()).collect())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read fixture {path}: {source} (the shared/ folder must sit beside the repository)")]
    Read { path: PathBuf, source: io::Error },
    #[error("fixture {path} is not a usable AMI transcript: {reason}")]
    BadFixture { path: PathBuf, reason: String },
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(io::Error),
}

/// One captured request and the bytes Asterisk answered.
#[derive(Debug, Clone)]
struct Exchange {
    request: Message,
    response: Vec<u8>,
}

struct Shared {
    banner: Vec<u8>,
    fallback: Exchange,
    script: Vec<Exchange>,
    login_success: Vec<u8>,
    behaviour: Behaviour,
    requests: Mutex<Vec<Message>>,
}

/// A running replay server. Dropping it stops the listener and every connection.
pub struct ReplayServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>, ReplayError> {
    let path = dir.join(file);
    std::fs::read(&path).map_err(|source| ReplayError::Read { path, source })
}

fn load_exchange(dir: &Path, name: &str) -> Result<Exchange, ReplayError> {
    let request_bytes = read(dir, &format!("{name}.request.txt"))?;
    let path = dir.join(format!("{name}.request.txt"));
    let request = match frame::parse_stream(&request_bytes) {
        Ok(s) if s.messages.len() == 1 => s.messages.into_iter().next(),
        Ok(s) => {
            return Err(ReplayError::BadFixture { path, reason: format!("{} requests, expected 1", s.messages.len()) });
        }
        Err(e) => return Err(ReplayError::BadFixture { path, reason: e.to_string() }),
    };
    let response = read(dir, &format!("{name}.txt"))?;
    if let Err(e) = frame::parse_stream(&response) {
        return Err(ReplayError::BadFixture { path: dir.join(format!("{name}.txt")), reason: e.to_string() });
    }
    Ok(Exchange { request: request.unwrap_or_default(), response })
}

/// The headers that identify a request: all but `ActionID`, keys lowercased, the `Action` value
/// lowercased (Asterisk matches action names case-insensitively), sorted.
fn identity(m: &Message) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = m
        .headers()
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("ActionID"))
        .map(|(k, v)| {
            let k = k.to_ascii_lowercase();
            let v = if k == "action" { v.to_ascii_lowercase() } else { v.clone() };
            (k, v)
        })
        .collect();
    out.sort();
    out
}

/// `response` with every line that is exactly `ActionID: <from>` turned into `ActionID: <to>`, or
/// removed when `to` is `None`. Other bytes are copied unchanged.
pub fn rewrite_action_id(response: &[u8], from: &str, to: Option<&str>) -> Vec<u8> {
    let target = format!("ActionID: {from}");
    let mut out = Vec::with_capacity(response.len() + 32);
    for line in response.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == target.as_bytes() {
            if let Some(to) = to {
                out.extend_from_slice(b"ActionID: ");
                out.extend_from_slice(to.as_bytes());
                out.extend_from_slice(&line[content.len()..]);
            }
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

impl ReplayServer {
    /// Loads the fixtures `behaviour` needs from `dir` and starts listening on `127.0.0.1:0`.
    pub async fn start(dir: impl AsRef<Path>, behaviour: Behaviour) -> Result<Self, ReplayError> {
        let dir = dir.as_ref();
        let banner = read(dir, "ami-banner.txt")?;
        let fallback = load_exchange(dir, "ami-error-invalid-action")?;
        let login_success = read(dir, "ami-login-success.txt")?;
        let script = match &behaviour {
            Behaviour::Script(names) => names.iter().map(|n| load_exchange(dir, n)).collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(ReplayError::Bind)?;
        let addr = listener.local_addr().map_err(ReplayError::Bind)?;
        let shared =
            Arc::new(Shared { banner, fallback, script, login_success, behaviour, requests: Mutex::new(Vec::new()) });
        let for_task = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            // Owned here so that aborting this task also aborts every connection.
            let mut connections = JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                connections.spawn(serve(sock, Arc::clone(&for_task)));
            }
        });
        Ok(Self { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `host:port`, as [`super::AmiClient::connect`] takes it.
    pub fn addr_string(&self) -> String {
        self.addr.to_string()
    }

    /// Every request received so far, over all connections, in arrival order.
    pub fn requests(&self) -> Vec<Message> {
        self.shared.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for ReplayServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one request; `None` when the client closed or sent something unparseable.
async fn next_request(sock: &mut TcpStream, buf: &mut Vec<u8>, shared: &Shared) -> Option<Message> {
    loop {
        match frame::parse_message(buf) {
            Parse::Complete(m, n) => {
                buf.drain(..n);
                if let Ok(mut r) = shared.requests.lock() {
                    r.push(m.clone());
                }
                return Some(m);
            }
            Parse::Invalid(_) => return None,
            Parse::Incomplete => {
                let mut chunk = [0u8; 4096];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        }
    }
}

/// Reads and discards until the client goes away.
async fn drain(sock: &mut TcpStream) {
    let mut chunk = [0u8; 4096];
    while let Ok(n) = sock.read(&mut chunk).await {
        if n == 0 {
            break;
        }
    }
}

async fn serve(mut sock: TcpStream, shared: Arc<Shared>) {
    if sock.write_all(&shared.banner).await.is_err() {
        return;
    }
    let mut buf = Vec::new();
    match &shared.behaviour {
        Behaviour::Wedged => while next_request(&mut sock, &mut buf, &shared).await.is_some() {},
        Behaviour::CloseAfterBanner => {}
        Behaviour::Truncated => {
            if next_request(&mut sock, &mut buf, &shared).await.is_some() {
                let half = &shared.login_success[..shared.login_success.len() / 2];
                let _ = sock.write_all(half).await;
            }
        }
        Behaviour::Huge => {
            let Some(req) = next_request(&mut sock, &mut buf, &shared).await else { return };
            let id = req.action_id().unwrap_or("");
            let head = format!("Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\n");
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let line = [b"Output: ".as_slice(), &[b'x'; 1000], b"\r\n"].concat();
            let mut sent = head.len();
            while sent <= frame::MAX_MESSAGE_BYTES + 64 * 1024 {
                if sock.write_all(&line).await.is_err() {
                    return;
                }
                sent += line.len();
            }
            drain(&mut sock).await;
        }
        Behaviour::NonUtf8 => {
            if next_request(&mut sock, &mut buf, &shared).await.is_some() {
                let _ = sock.write_all(b"\xff\xfe\xfd\xfc\x00\x80\x81\xc3\x28 binary\r\n\r\n").await;
                drain(&mut sock).await;
            }
        }
        Behaviour::Script(_) => {
            let mut used = vec![false; shared.script.len()];
            while let Some(req) = next_request(&mut sock, &mut buf, &shared).await {
                let wanted = identity(&req);
                let found =
                    shared.script.iter().enumerate().find(|(i, ex)| !used[*i] && identity(&ex.request) == wanted);
                let exchange = match found {
                    Some((i, ex)) => {
                        used[i] = true;
                        ex
                    }
                    None => &shared.fallback,
                };
                let from = exchange.request.action_id().unwrap_or("");
                let bytes = rewrite_action_id(&exchange.response, from, req.action_id());
                if sock.write_all(&bytes).await.is_err() {
                    return;
                }
                if closes_after(&req, &exchange.response) {
                    let _ = sock.shutdown().await;
                    return;
                }
            }
        }
    }
}

/// Asterisk hangs up after `Response: Goodbye` (Logoff) and after a refused Login.
fn closes_after(request: &Message, response: &[u8]) -> bool {
    let first = match frame::parse_message(response) {
        Parse::Complete(m, _) => m,
        _ => return false,
    };
    match first.kind() {
        Kind::Response(r) if r.eq_ignore_ascii_case("Goodbye") => true,
        Kind::Response(r) if r.eq_ignore_ascii_case("Error") => {
            matches!(request.kind(), Kind::Action(a) if a.eq_ignore_ascii_case("Login"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrite_touches_only_exact_action_id_lines() {
        let bytes = b"Response: Success\r\nActionID: lab-1\r\nMessage: ActionID: lab-1\r\nX-ActionID: lab-1\r\n\r\n";
        let out = rewrite_action_id(bytes, "lab-1", Some("centinela-7"));
        assert_eq!(
            out,
            b"Response: Success\r\nActionID: centinela-7\r\nMessage: ActionID: lab-1\r\nX-ActionID: lab-1\r\n\r\n"
        );
        let dropped = rewrite_action_id(bytes, "lab-1", None);
        assert_eq!(dropped, b"Response: Success\r\nMessage: ActionID: lab-1\r\nX-ActionID: lab-1\r\n\r\n");
    }

    #[test]
    fn request_identity_ignores_action_id_order_and_action_case() {
        let a = Message::from_headers(vec![
            ("Action".into(), "QueueStatus".into()),
            ("ActionID".into(), "lab-9".into()),
            ("Queue".into(), "support".into()),
        ]);
        let b = Message::from_headers(vec![
            ("queue".into(), "support".into()),
            ("action".into(), "queuestatus".into()),
            ("ActionID".into(), "centinela-1".into()),
        ]);
        assert_eq!(identity(&a), identity(&b));
        let c = Message::from_headers(vec![("Action".into(), "QueueStatus".into()), ("Queue".into(), "sales".into())]);
        assert_ne!(identity(&a), identity(&c));
    }

    #[test]
    fn closes_after_goodbye_and_refused_login_only() {
        let login = Message::from_headers(vec![("Action".into(), "Login".into())]);
        let status = Message::from_headers(vec![("Action".into(), "CoreStatus".into())]);
        let error = b"Response: Error\r\nMessage: x\r\n\r\n";
        assert!(closes_after(&login, error));
        assert!(!closes_after(&status, error));
        assert!(closes_after(&status, b"Response: Goodbye\r\n\r\n"));
    }
}
