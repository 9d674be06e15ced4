//! `GET /grabaciones/{agent}/{uniqueid}`: a call's recording, played in the browser for the
//! monthly quality review, streamed from the Asterisk server one chunk at a time.
//!
//! Invariants:
//! - Who may listen: `jefe_uact` and `tecnico`, and a `jefe_centro` for the servers of their own
//!   centers; only a call with a CDR row of that server naming a recording (`recordingfile`).
//! - The collector never stores a recording: each chunk ([`MAX_CHUNK_BYTES`] at most) is asked for
//!   when the previous one has gone to the browser, so at most two are held in memory per request,
//!   and a browser that hangs up stops the fetching. Answers say `Cache-Control: private, no-store`.
//! - One `Range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) is answered with 206 and only the chunks
//!   covering it are fetched; several ranges, or `If-Range` (nothing here has a validator), get the
//!   whole recording with 200, as RFC 9110 allows.
//! - What the agent says is checked before it reaches the browser: the media type must be one of
//!   the audio types agents serve (an agent cannot make the dashboard's origin serve HTML), and
//!   every chunk must continue the previous one in a file of unchanged size; otherwise the answer
//!   ends early and the browser sees a broken download, never wrong bytes.
//! - Failures before the first byte get a Spanish page and a status that says what happened:
//!   404 (no such call or file), 413 (above the agent's `max_bytes`), 409 (refused), 416 (range
//!   past the end), 503 (no broker), 504 (agent silent), 502 (agent answered nonsense).

use super::auth::PageUser;
use super::pages::ErrorPage;
use super::{AppState, WebError};
use crate::auth::Role;
use crate::commands::{Chunk, CommandError, Commands};
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use centinela_shared::{AgentId, MAX_CHUNK_BYTES, RecordingRefusal};
use rusqlite::{Connection, OptionalExtension};
use std::time::Duration;

/// How long the agent has to answer each chunk (a read of 256 KiB and a round trip through the
/// broker take well under a second on a healthy server).
pub const CHUNK_TIMEOUT: Duration = Duration::from_secs(20);

/// The media types agents serve (`agent/src/recordings.rs`); anything else is refused.
const AUDIO_TYPES: [&str; 4] = ["audio/wav", "audio/mpeg", "audio/x-gsm", "audio/ogg"];

/// One range of a `Range: bytes=...` header, before the recording's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive).
    FromTo(u64, u64),
    /// `bytes=a-`.
    From(u64),
    /// `bytes=-n`: the last n bytes.
    Suffix(u64),
}

/// The single byte range a `Range` header asks for; `None` (serve everything) for anything else:
/// another unit, several ranges, bad syntax, `a-b` with b < a.
pub fn parse_range(header: &str) -> Option<ByteRange> {
    let spec = header.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => None,
        (true, false) => num(b).map(ByteRange::Suffix),
        (false, true) => num(a).map(ByteRange::From),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            (b >= a).then_some(ByteRange::FromTo(a, b))
        }
    }
}

impl ByteRange {
    /// The first and last byte (inclusive) of this range in a recording of `total` bytes; `None`
    /// when it is not satisfiable (416).
    pub fn within(self, total: u64) -> Option<(u64, u64)> {
        let last = total.checked_sub(1)?;
        match self {
            ByteRange::FromTo(a, b) => (a <= last).then(|| (a, b.min(last))),
            ByteRange::From(a) => (a <= last).then_some((a, last)),
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(n) => Some((total.saturating_sub(n), last)),
        }
    }

    /// Where the first chunk starts, when that does not depend on the size.
    fn start(self) -> Option<u64> {
        match self {
            ByteRange::FromTo(a, _) | ByteRange::From(a) => Some(a),
            ByteRange::Suffix(_) => None,
        }
    }
}

/// The status code of each way fetching a recording can fail.
fn status_of(e: &CommandError) -> StatusCode {
    match e {
        CommandError::NotConnected => StatusCode::SERVICE_UNAVAILABLE,
        CommandError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        CommandError::Refused(_) => StatusCode::CONFLICT,
        CommandError::RecordingRefused { refusal, .. } => match refusal {
            RecordingRefusal::NotFound => StatusCode::NOT_FOUND,
            RecordingRefusal::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            RecordingRefusal::NotConfigured | RecordingRefusal::NotAllowed => StatusCode::CONFLICT,
        },
        CommandError::Unexpected(_) => StatusCode::BAD_GATEWAY,
    }
}

/// The Spanish error page with `status`.
fn page(status: StatusCode, message: String) -> Response {
    let page = ErrorPage { code: status.as_u16(), message };
    let body = askama::Template::render(&page).unwrap_or_else(|_| page.message.clone());
    (status, [(header::CACHE_CONTROL, "private, no-store")], Html(body)).into_response()
}

/// A CDR row's recording: its `recordingfile` and `calldate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub recordingfile: String,
    pub calldate: String,
}

/// The recording of the call `uniqueid` on the server `agent`: the first of its CDR rows that names
/// one (a call's legs share the uniqueid of party A). The index is named (migration 0011): without
/// `ANALYZE` statistics SQLite would read the server's whole CDR to skip sorting a few rows.
pub fn find(conn: &Connection, agent: &str, uniqueid: &str) -> rusqlite::Result<Option<Recording>> {
    conn.query_row(
        "SELECT c.recordingfile, c.calldate FROM cdr c INDEXED BY cdr_by_uniqueid JOIN servers s ON s.id = c.server_id
         WHERE s.agent_id = ?1 AND c.uniqueid = ?2 AND c.recordingfile IS NOT NULL AND c.recordingfile <> ''
         ORDER BY c.calldate, c.sequence LIMIT 1",
        [agent, uniqueid],
        |r| Ok(Recording { recordingfile: r.get(0)?, calldate: r.get(1)? }),
    )
    .optional()
}

/// A file name fit for `Content-Disposition`: the last part of the path, ASCII letters, digits and
/// `.-_` only.
fn download_name(recordingfile: &str) -> String {
    let base = recordingfile.rsplit('/').next().unwrap_or("");
    let clean: String =
        base.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).take(120).collect();
    if clean.trim_matches('.').is_empty() { "grabacion".into() } else { clean }
}

/// What to fetch from one agent.
#[derive(Clone)]
struct Source {
    commands: Commands,
    agent: AgentId,
    recording: Recording,
}

impl Source {
    async fn chunk(&self, offset: u64, max_len: u32) -> Result<Chunk, CommandError> {
        let r = &self.recording;
        self.commands.recording_chunk(&self.agent, &r.recordingfile, &r.calldate, offset, max_len, CHUNK_TIMEOUT).await
    }
}

/// How many bytes to ask for to cover `from..=last`, at most one chunk.
fn want(from: u64, last: Option<u64>) -> u32 {
    match last {
        Some(last) => u32::try_from((last - from).saturating_add(1)).unwrap_or(u32::MAX).min(MAX_CHUNK_BYTES),
        None => MAX_CHUNK_BYTES,
    }
}

pub async fn recording(
    State(st): State<AppState>,
    PageUser(c): PageUser,
    Path((agent, uniqueid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if !matches!(c.user.role, Role::JefeUact | Role::Tecnico | Role::JefeCentro) {
        return Err(WebError::Forbidden(
            "solo el personal de UACT (jefe o técnico) y los jefes de centro escuchan grabaciones".into(),
        ));
    }
    let (c2, a2, u2) = (c.clone(), agent.clone(), uniqueid.clone());
    let found = st
        .db
        .with(move |conn| {
            if let Err(refused) = super::pages::access(conn, &c2, &a2)? {
                return Ok(Err(refused));
            }
            Ok(Ok(find(conn, &a2, &u2)?))
        })
        .await??;
    let not_found = || WebError::NotFound(format!("una grabación de la llamada «{uniqueid}» en el servidor «{agent}»"));
    let (Some(recording), Ok(agent_id)) = (found, AgentId::new(agent.clone())) else { return Err(not_found()) };
    let range = match headers.get(header::IF_RANGE) {
        Some(_) => None,
        None => headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(parse_range),
    };
    let who = c.user.username.clone();
    tracing::info!(user = who, agent, uniqueid, recordingfile = recording.recordingfile, ?range, "recording requested");
    // Recordings hold taxpayers' conversations: who listened to which call is kept in the audit
    // log, once per playback (the request from the start), not per seek.
    if range.is_none_or(|r| r.start() == Some(0)) {
        let (actor, object, file) =
            (who.clone(), format!("server:{agent}/call:{uniqueid}"), recording.recordingfile.clone());
        st.writer
            .run(move |tx| {
                let e = crate::audit::Entry {
                    actor: &actor,
                    action: "recording.listen",
                    object: &object,
                    old: None,
                    new: Some(&file),
                };
                crate::audit::append(tx, chrono::Utc::now().timestamp_millis(), &e)?;
                Ok(())
            })
            .await?;
    }
    let src = Source { commands: st.commands.clone(), agent: agent_id, recording };
    match serve(src, range).await {
        Ok(response) => Ok(response),
        Err(e) => {
            tracing::info!(user = who, agent, uniqueid, error = %e, "recording not served");
            Ok(page(status_of(&e), e.user_message()))
        }
    }
}

/// Fetches the first chunk (so a failure is still a status code), then streams the rest.
async fn serve(src: Source, range: Option<ByteRange>) -> Result<Response, CommandError> {
    let start = match range.map(|r| (r, r.start())) {
        None => 0,
        Some((_, Some(start))) => start,
        // `bytes=-n`: the size first (a chunk of 0 bytes).
        Some((r, None)) => {
            let total = src.chunk(0, 0).await?.total_len;
            r.within(total).map_or(0, |(first, _)| first)
        }
    };
    let known_last = match range {
        Some(ByteRange::FromTo(_, b)) => Some(b),
        _ => None,
    };
    let first = src.chunk(start, want(start, known_last)).await?;
    let total = first.total_len;
    if !AUDIO_TYPES.contains(&first.content_type.as_str()) {
        return Err(CommandError::Unexpected(format!("tipo de archivo «{}»", first.content_type.escape_debug())));
    }
    let (status, from, last) = match range {
        None => (StatusCode::OK, 0, total.checked_sub(1)),
        Some(r) => match r.within(total) {
            Some((from, last)) => (StatusCode::PARTIAL_CONTENT, from, Some(last)),
            None => {
                let mut resp = page(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("la parte pedida no está en la grabación, que ocupa {total} bytes"),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                    resp.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return Ok(resp);
            }
        },
    };
    if from != first.offset {
        // `bytes=-n` and the size changed between the two questions: a recording still being written.
        return Err(CommandError::Unexpected(format!("la grabación cambió de tamaño ({total} bytes ahora)")));
    }
    let length = last.map_or(0, |last| last - from + 1);
    let mut data = first.data;
    data.truncate(usize::try_from(length).unwrap_or(usize::MAX));
    let mut builder = axum::http::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, first.content_type.as_str())
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{}\"", download_name(&src.recording.recordingfile)),
        );
    if let (StatusCode::PARTIAL_CONTENT, Some(last)) = (status, last) {
        builder = builder.header(header::CONTENT_RANGE, format!("bytes {from}-{last}/{total}"));
    }
    let body = match last {
        Some(last) if from + (data.len() as u64) <= last => {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let next = from + data.len() as u64;
            tokio::spawn(pump(src, tx, Bytes::from(data), next, last, total));
            Body::from_stream(ReceiverStream(rx))
        }
        _ => Body::from(data),
    };
    builder.body(body).map_err(|e| CommandError::Unexpected(format!("cabeceras no válidas: {e}")))
}

/// Sends `first`, then fetches and sends `next..=last` chunk by chunk, each only once the previous
/// one was taken. Stops when the browser hangs up (the receiver is dropped) or a chunk is wrong.
async fn pump(
    src: Source,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    first: Bytes,
    mut next: u64,
    last: u64,
    total: u64,
) {
    if tx.send(Ok(first)).await.is_err() {
        return;
    }
    while next <= last {
        let problem = match src.chunk(next, want(next, Some(last))).await {
            Ok(c) if c.total_len != total => format!("the recording changed size from {total} to {}", c.total_len),
            Ok(c) if c.data.is_empty() => format!("no data at byte {next} of {total}"),
            Ok(c) => {
                next += c.data.len() as u64;
                if tx.send(Ok(Bytes::from(c.data))).await.is_err() {
                    return;
                }
                continue;
            }
            Err(e) => e.to_string(),
        };
        tracing::warn!(agent = %src.agent, recordingfile = src.recording.recordingfile, byte = next, error = problem, "recording stream cut short");
        let _ = tx.send(Err(std::io::Error::other(problem))).await;
        return;
    }
}

/// The chunks a [`pump`] sends, as the response body's stream.
struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_byte_range_is_read_and_anything_else_means_the_whole_file() {
        assert_eq!(parse_range("bytes=0-"), Some(ByteRange::From(0)));
        assert_eq!(parse_range("bytes=100-199"), Some(ByteRange::FromTo(100, 199)));
        assert_eq!(parse_range(" bytes=-500 "), Some(ByteRange::Suffix(500)));
        for h in ["bytes=0-1,5-6", "bytes=5-4", "bytes=-", "items=0-1", "bytes=a-b", "bytes=+1-2", "bytes=1-2-3", ""] {
            assert_eq!(parse_range(h), None, "{h}");
        }
    }

    #[test]
    fn a_range_is_clamped_to_the_recording_or_unsatisfiable() {
        assert_eq!(ByteRange::FromTo(100, 199).within(1000), Some((100, 199)));
        assert_eq!(ByteRange::FromTo(900, 5000).within(1000), Some((900, 999)));
        assert_eq!(ByteRange::From(999).within(1000), Some((999, 999)));
        assert_eq!(ByteRange::From(1000).within(1000), None);
        assert_eq!(ByteRange::Suffix(10).within(1000), Some((990, 999)));
        assert_eq!(ByteRange::Suffix(5000).within(1000), Some((0, 999)));
        assert_eq!(ByteRange::Suffix(0).within(1000), None);
        assert_eq!(ByteRange::From(0).within(0), None, "nothing of an empty file");
    }

    #[test]
    fn each_failure_has_its_status() {
        let refused = |refusal| CommandError::RecordingRefused { refusal, why: String::new() };
        assert_eq!(status_of(&CommandError::Timeout { after: CHUNK_TIMEOUT }), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of(&refused(RecordingRefusal::NotFound)), StatusCode::NOT_FOUND);
        let big = RecordingRefusal::TooLarge { total_len: 2, max_bytes: 1 };
        assert_eq!(status_of(&refused(big)), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(status_of(&refused(RecordingRefusal::NotAllowed)), StatusCode::CONFLICT);
        assert_eq!(status_of(&CommandError::Refused("x".into())), StatusCode::CONFLICT);
        assert_eq!(status_of(&CommandError::NotConnected), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn chunks_cover_a_range_without_asking_past_it() {
        assert_eq!(want(0, None), MAX_CHUNK_BYTES);
        assert_eq!(want(100, Some(199)), 100);
        assert_eq!(want(0, Some(10 * u64::from(MAX_CHUNK_BYTES))), MAX_CHUNK_BYTES);
        assert_eq!(want(5, Some(5)), 1);
    }

    #[test]
    fn the_download_name_is_the_files_own_made_safe() {
        assert_eq!(
            download_name("in-5000-2125550101-20261127-095138-1795773098.0.wav"),
            "in-5000-2125550101-20261127-095138-1795773098.0.wav"
        );
        assert_eq!(download_name("/var/spool/asterisk/monitor/2026/11/27/q\"x;\r\n.wav"), "qx.wav");
        assert_eq!(download_name("/"), "grabacion");
    }

    #[test]
    fn a_calls_recording_is_its_first_cdr_row_naming_one() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE servers (id INTEGER PRIMARY KEY, agent_id TEXT);
             CREATE TABLE cdr (server_id INTEGER, uniqueid TEXT, recordingfile TEXT, calldate TEXT, sequence INTEGER);
             CREATE INDEX cdr_by_uniqueid ON cdr (server_id, uniqueid); -- as migration 0011
             INSERT INTO servers VALUES (1, 'pbx-a'), (2, 'pbx-b');
             INSERT INTO cdr VALUES (1, '17.1', '', '2026-11-27 09:51:38', 1),
                                    (1, '17.1', 'in-17.wav', '2026-11-27 09:51:40', 2),
                                    (1, '18.1', NULL, '2026-11-27 09:52:00', 3),
                                    (2, '19.1', 'out-19.wav', '2026-11-27 09:53:00', 1);",
        )
        .unwrap();
        let r = find(&conn, "pbx-a", "17.1").unwrap().unwrap();
        assert_eq!((r.recordingfile.as_str(), r.calldate.as_str()), ("in-17.wav", "2026-11-27 09:51:40"));
        assert_eq!(find(&conn, "pbx-a", "18.1").unwrap(), None, "a call without a recording");
        assert_eq!(find(&conn, "pbx-a", "19.1").unwrap(), None, "another server's call");
    }
}
