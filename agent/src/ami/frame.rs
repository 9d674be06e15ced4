//! AMI framing as pure functions of bytes: the greeting banner, then messages of `Key: Value` lines
//! closed by an empty line. Each parser answers `Complete(value, bytes consumed)`, `Incomplete` (read
//! more and call again with the grown buffer) or `Invalid(reason)` (the stream cannot be resynced:
//! drop the connection), like mini-redis's `Frame::check`/`Frame::parse`.
//!
//! Invariants:
//! - Nothing here panics or allocates in proportion to hostile input beyond [`MAX_MESSAGE_BYTES`]:
//!   a message whose closing empty line is not within that many bytes is `Invalid`, even if more
//!   bytes would complete it.
//! - Headers keep their order and duplicates (`Output:` repeats once per CLI line in Asterisk 22).
//! - Values are decoded lossily: a `CallerIDName` written in Latin-1 by an old desk phone must not
//!   take the monitor down, so a non-UTF-8 byte becomes U+FFFD instead of an error.
//! - Lines end in CRLF on the wire (Asterisk's `astman_append`); a bare LF is tolerated.

use std::fmt;

/// The largest message accepted, closing empty line included. The biggest captured message (a
/// `Command: core show channels` answer during 16 calls) is 2.6 KB; 1 MiB leaves room for a CLI
/// table of thousands of channels while bounding what a broken peer can make the agent buffer.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The largest greeting line accepted (`Asterisk Call Manager/11.0.0\r\n` is 30 bytes).
pub const MAX_BANNER_BYTES: usize = 256;

/// What every AMI greeting starts with, whatever the protocol version after the slash.
pub const BANNER_PREFIX: &str = "Asterisk Call Manager/";

/// The result of looking at the front of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parse<T> {
    /// A whole value, and how many bytes of the buffer it used (drop them before the next call).
    Complete(T, usize),
    /// The buffer holds the start of a value: read more bytes and call again.
    Incomplete,
    /// The bytes cannot be AMI; the connection should be dropped.
    Invalid(InvalidFrame),
}

/// Why bytes are not AMI. The messages name what was seen, so a log line is enough to diagnose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidFrame {
    #[error(
        "the greeting is {line:?}, not `{BANNER_PREFIX}<version>`: the address is not an Asterisk manager port \
         (5038 by default, `port` in manager.conf)"
    )]
    NotAmi { line: String },
    #[error("message longer than {limit} bytes without its closing empty line: refusing to buffer more")]
    TooLarge { limit: usize },
    #[error(
        "line {line_no} of a message has no ':' ({line}): expected `Key: Value` (Asterisk before 14 sent \
         Command output as raw lines ending in --END COMMAND--, which this client does not speak)"
    )]
    NoColon { line_no: usize, line: String },
    #[error("line {line_no} of a message has an empty header name ({line})")]
    EmptyKey { line_no: usize, line: String },
    #[error("the stream ends with {bytes} bytes of an unfinished message")]
    Truncated { bytes: usize },
}

/// The greeting line sent on connect, e.g. `Asterisk Call Manager/11.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    /// The AMI protocol version after the slash (`11.0.0` on Asterisk 22), not Asterisk's version.
    pub version: String,
}

/// One AMI message: a response to an action, an event, or (on the server side) an action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    headers: Vec<(String, String)>,
}

/// What a message is, from its first identifying header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// `Response: Success | Error | Goodbye | ...`
    Response(&'a str),
    /// `Event: <name>`
    Event(&'a str),
    /// `Action: <name>` (what a client sends)
    Action(&'a str),
    /// None of the three headers.
    Other,
}

impl Message {
    /// A message with these headers, in this order.
    pub fn from_headers(headers: Vec<(String, String)>) -> Self {
        Self { headers }
    }

    /// Every header, in wire order, duplicates kept.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of `key`. Keys compare ASCII case-insensitively, as Asterisk's
    /// `astman_get_header` does.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }

    pub fn kind(&self) -> Kind<'_> {
        for (k, v) in &self.headers {
            if k.eq_ignore_ascii_case("Response") {
                return Kind::Response(v);
            }
            if k.eq_ignore_ascii_case("Event") {
                return Kind::Event(v);
            }
            if k.eq_ignore_ascii_case("Action") {
                return Kind::Action(v);
            }
        }
        Kind::Other
    }

    pub fn response(&self) -> Option<&str> {
        self.get("Response")
    }

    pub fn event(&self) -> Option<&str> {
        self.get("Event")
    }

    pub fn action_id(&self) -> Option<&str> {
        self.get("ActionID")
    }

    /// `Message:`, the human text of a response.
    pub fn message(&self) -> Option<&str> {
        self.get("Message")
    }

    /// The `Output:` lines of a `Command` answer, one per CLI line, empty ones included.
    pub fn output(&self) -> Vec<String> {
        self.get_all("Output").map(str::to_owned).collect()
    }

    /// `EventList: start` on the response that opens a list.
    pub fn is_list_start(&self) -> bool {
        self.get("EventList").is_some_and(|v| v.eq_ignore_ascii_case("start"))
    }

    /// `EventList: Complete` on the `<Name>Complete` event that closes a list.
    pub fn is_list_complete(&self) -> bool {
        self.get("EventList").is_some_and(|v| v.eq_ignore_ascii_case("Complete"))
    }

    /// The wire form: `Key: Value` lines in CRLF and the closing empty line.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

impl fmt::Display for Message {
    /// One line for logs: `Response: Error ActionID: x Message: ...` (every header).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.headers.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

/// A short, printable rendering of raw bytes for error messages.
fn show(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let cut = &bytes[..bytes.len().min(MAX)];
    let mut s = cut.escape_ascii().to_string();
    if bytes.len() > MAX {
        s.push_str("...");
    }
    s
}

/// Strips the line terminator's `\r` (the `\n` is already excluded).
fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The greeting: one line starting with [`BANNER_PREFIX`], with no empty line after it.
pub fn parse_banner(buf: &[u8]) -> Parse<Banner> {
    let window = &buf[..buf.len().min(MAX_BANNER_BYTES)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        // Fail early on a peer that is visibly something else (an SSH or HTTP server).
        let n = window.len().min(BANNER_PREFIX.len());
        if window[..n] != BANNER_PREFIX.as_bytes()[..n] || buf.len() >= MAX_BANNER_BYTES {
            return Parse::Invalid(InvalidFrame::NotAmi { line: show(window) });
        }
        return Parse::Incomplete;
    };
    let line = trim_cr(&window[..nl]);
    match line.strip_prefix(BANNER_PREFIX.as_bytes()) {
        Some(version) => {
            Parse::Complete(Banner { version: String::from_utf8_lossy(version).trim().to_owned() }, nl + 1)
        }
        None => Parse::Invalid(InvalidFrame::NotAmi { line: show(line) }),
    }
}

/// One message from the front of `buf`. Empty lines before it (none in the captures, but harmless)
/// are skipped and counted in the bytes consumed.
pub fn parse_message(buf: &[u8]) -> Parse<Message> {
    let window = &buf[..buf.len().min(MAX_MESSAGE_BYTES)];
    // First pass without allocating: find the line ranges and the closing empty line, so that a
    // message arriving in many reads is not re-parsed into Strings each time.
    let mut start = 0;
    let mut body_start = None;
    let mut end = None;
    while let Some(nl) = window[start..].iter().position(|&b| b == b'\n') {
        let line = trim_cr(&window[start..start + nl]);
        let next = start + nl + 1;
        if line.is_empty() {
            if let Some(body) = body_start {
                end = Some((body, start, next));
                break;
            }
        } else if body_start.is_none() {
            body_start = Some(start);
        }
        start = next;
    }
    let Some((body, body_end, consumed)) = end else {
        if buf.len() >= MAX_MESSAGE_BYTES {
            return Parse::Invalid(InvalidFrame::TooLarge { limit: MAX_MESSAGE_BYTES });
        }
        return Parse::Incomplete;
    };
    let mut headers = Vec::new();
    for (i, raw) in window[body..body_end].split(|&b| b == b'\n').enumerate() {
        let line = trim_cr(raw);
        if line.is_empty() {
            continue; // the split leaves one empty piece after the last '\n'
        }
        let line_no = i + 1;
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Parse::Invalid(InvalidFrame::NoColon { line_no, line: show(line) });
        };
        let key = String::from_utf8_lossy(&line[..colon]).trim().to_owned();
        if key.is_empty() {
            return Parse::Invalid(InvalidFrame::EmptyKey { line_no, line: show(line) });
        }
        // Exactly one space goes: CLI tables in `Output:` lines keep their leading spaces.
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        headers.push((key, String::from_utf8_lossy(value).into_owned()));
    }
    Parse::Complete(Message { headers }, consumed)
}

/// A whole captured stream: an optional banner, then messages, every byte used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    pub banner: Option<Banner>,
    pub messages: Vec<Message>,
}

/// Parses a complete byte stream (a fixture file, a test transcript). A banner is recognised only
/// at the very start; bytes left after the last message are [`InvalidFrame::Truncated`].
pub fn parse_stream(bytes: &[u8]) -> Result<Stream, InvalidFrame> {
    let mut rest = bytes;
    let mut banner = None;
    if rest.starts_with(BANNER_PREFIX.as_bytes()) {
        match parse_banner(rest) {
            Parse::Complete(b, n) => {
                banner = Some(b);
                rest = &rest[n..];
            }
            Parse::Incomplete => return Err(InvalidFrame::Truncated { bytes: rest.len() }),
            Parse::Invalid(e) => return Err(e),
        }
    }
    let mut messages = Vec::new();
    while !rest.is_empty() {
        match parse_message(rest) {
            Parse::Complete(m, n) => {
                messages.push(m);
                rest = &rest[n..];
            }
            // Trailing empty lines only: nothing unfinished.
            Parse::Incomplete if rest.iter().all(|&b| b == b'\r' || b == b'\n') => break,
            Parse::Incomplete => return Err(InvalidFrame::Truncated { bytes: rest.len() }),
            Parse::Invalid(e) => return Err(e),
        }
    }
    Ok(Stream { banner, messages })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN_OK: &[u8] = b"Response: Success\r\nActionID: lab-1\r\nMessage: Authentication accepted\r\n\r\n";

    fn complete(buf: &[u8]) -> (Message, usize) {
        match parse_message(buf) {
            Parse::Complete(m, n) => (m, n),
            other => panic!("expected a complete message, got {other:?}"),
        }
    }

    #[test]
    fn banner_is_one_line_and_leaves_the_next_bytes_alone() {
        let buf = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\n";
        assert_eq!(parse_banner(buf), Parse::Complete(Banner { version: "11.0.0".into() }, 30));
    }

    #[test]
    fn banner_split_across_reads_is_incomplete_until_its_line_ends() {
        assert_eq!(parse_banner(b""), Parse::Incomplete);
        assert_eq!(parse_banner(b"Asterisk Call"), Parse::Incomplete);
        assert_eq!(parse_banner(b"Asterisk Call Manager/11.0"), Parse::Incomplete);
    }

    #[test]
    fn another_service_on_the_port_is_not_ami_before_its_line_ends() {
        let Parse::Invalid(e) = parse_banner(b"SSH-2.0-OpenSSH_9.2") else { panic!("expected invalid") };
        assert!(matches!(e, InvalidFrame::NotAmi { .. }));
        assert!(e.to_string().contains("5038"), "{e}");
        assert!(matches!(parse_banner(b"HTTP/1.1 400 Bad Request\r\n"), Parse::Invalid(InvalidFrame::NotAmi { .. })));
    }

    #[test]
    fn banner_without_newline_is_bounded() {
        let long = [b"Asterisk Call Manager/".as_slice(), &[b'1'; MAX_BANNER_BYTES]].concat();
        assert!(matches!(parse_banner(&long), Parse::Invalid(InvalidFrame::NotAmi { .. })));
    }

    #[test]
    fn every_prefix_of_a_message_is_incomplete_and_the_whole_is_complete() {
        for cut in 0..LOGIN_OK.len() {
            assert_eq!(parse_message(&LOGIN_OK[..cut]), Parse::Incomplete, "cut at {cut}");
        }
        let (m, n) = complete(LOGIN_OK);
        assert_eq!(n, LOGIN_OK.len());
        assert_eq!(m.kind(), Kind::Response("Success"));
        assert_eq!(m.action_id(), Some("lab-1"));
        assert_eq!(m.message(), Some("Authentication accepted"));
    }

    #[test]
    fn only_the_first_message_is_consumed() {
        let two = [LOGIN_OK, b"Event: FullyBooted\r\nStatus: Fully Booted\r\n\r\n"].concat();
        let (m, n) = complete(&two);
        assert_eq!(n, LOGIN_OK.len());
        assert_eq!(m.response(), Some("Success"));
        let (e, _) = complete(&two[n..]);
        assert_eq!(e.kind(), Kind::Event("FullyBooted"));
    }

    #[test]
    fn repeated_output_headers_are_kept_in_order_with_their_spaces() {
        let buf = b"Response: Success\r\nOutput: Channel   State\r\nOutput:  indented\r\nOutput: \r\n\r\n";
        let (m, _) = complete(buf);
        assert_eq!(m.output(), vec!["Channel   State", " indented", ""]);
    }

    #[test]
    fn keys_are_case_insensitive_and_empty_values_are_empty() {
        let (m, _) = complete(b"Event: CoreShowChannel\r\nACTIONID: x\r\nAccountCode: \r\n\r\n");
        assert_eq!(m.action_id(), Some("x"));
        assert_eq!(m.get("accountcode"), Some(""));
    }

    #[test]
    fn bare_lf_line_endings_are_tolerated() {
        let (m, n) = complete(b"Response: Success\nPing: Pong\n\nrest");
        assert_eq!(n, 30);
        assert_eq!(m.get("Ping"), Some("Pong"));
    }

    #[test]
    fn leading_empty_lines_are_skipped() {
        let (m, n) = complete(b"\r\n\r\nResponse: Goodbye\r\n\r\n");
        assert_eq!(n, 25);
        assert_eq!(m.kind(), Kind::Response("Goodbye"));
    }

    #[test]
    fn a_line_without_colon_is_invalid_and_says_which() {
        let Parse::Invalid(e) = parse_message(b"Response: Follows\r\nuptime 35\r\n--END COMMAND--\r\n\r\n") else {
            panic!("expected invalid")
        };
        assert_eq!(e, InvalidFrame::NoColon { line_no: 2, line: "uptime 35".into() });
        assert!(e.to_string().contains("END COMMAND"), "{e}");
    }

    #[test]
    fn an_empty_header_name_is_invalid() {
        assert!(matches!(parse_message(b": value\r\n\r\n"), Parse::Invalid(InvalidFrame::EmptyKey { line_no: 1, .. })));
    }

    #[test]
    fn latin1_caller_name_is_decoded_lossily_not_rejected() {
        let (m, _) = complete(b"Event: Newchannel\r\nCallerIDName: Mart\xednez\r\n\r\n");
        assert_eq!(m.get("CallerIDName"), Some("Mart\u{fffd}nez"));
    }

    #[test]
    fn binary_garbage_is_invalid_with_escaped_bytes_in_the_reason() {
        let Parse::Invalid(e) = parse_message(b"\xff\xfe\x00\x80\r\n\r\n") else { panic!("expected invalid") };
        assert_eq!(e.to_string().split(" (").nth(1).map(|s| s.starts_with("\\xff\\xfe\\x00\\x80")), Some(true));
    }

    #[test]
    fn a_message_without_end_is_invalid_once_it_passes_the_limit() {
        let mut buf = b"Response: Success\r\n".to_vec();
        while buf.len() < MAX_MESSAGE_BYTES - 100 {
            buf.extend_from_slice(b"Output: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
        }
        assert_eq!(parse_message(&buf), Parse::Incomplete);
        buf.resize(MAX_MESSAGE_BYTES + 10, b'x');
        assert_eq!(parse_message(&buf), Parse::Invalid(InvalidFrame::TooLarge { limit: MAX_MESSAGE_BYTES }));
    }

    #[test]
    fn the_end_must_lie_within_the_limit_even_when_it_follows() {
        let mut buf = b"Response: Success\r\nOutput: ".to_vec();
        buf.resize(MAX_MESSAGE_BYTES + 1, b'x');
        buf.extend_from_slice(b"\r\n\r\n");
        assert!(matches!(parse_message(&buf), Parse::Invalid(InvalidFrame::TooLarge { .. })));
    }

    #[test]
    fn stream_reports_unfinished_tail_as_truncated() {
        let s = [b"Asterisk Call Manager/11.0.0\r\n".as_slice(), LOGIN_OK].concat();
        let parsed = parse_stream(&s).map_err(|e| e.to_string());
        assert_eq!(parsed.map(|p| (p.banner.is_some(), p.messages.len())), Ok((true, 1)));
        assert_eq!(parse_stream(&LOGIN_OK[..20]), Err(InvalidFrame::Truncated { bytes: 20 }));
    }

    #[test]
    fn to_bytes_round_trips() {
        let (m, _) = complete(LOGIN_OK);
        assert_eq!(m.to_bytes(), LOGIN_OK);
    }
}
