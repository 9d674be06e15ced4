//! Call recordings end to end: CDR rows shipped from the real MariaDB by a real agent name
//! recordings in the agent's spool, and the collector streams one to the browser chunk by chunk
//! through a real Mosquitto, whole or by `Range`, refusing what it must.
//!
//! The CDR rows reach the collector the way they do in production (the agent's `[database]`
//! shipping), so the route reads exactly what the shipper stored: no test-only way into the
//! collector's database is needed.

use centinela_e2e::mariadb::{CDR, Database};
use centinela_e2e::*;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(60);
/// `centinela_shared::MAX_CHUNK_BYTES`.
const CHUNK: u64 = 256 * 1024;
const AGENT: &str = "pbx-grabaciones";
const WAV: &str = "in-5000-2125550101-20261120-100000-1795000001.1.wav";
const BIG: &str = "in-5000-2125550102-20261120-100500-1795000002.1.wav";

/// A PCM WAV file (8 kHz, 16 bit, mono) of `data_len` bytes of pseudo-random samples.
fn wav(data_len: u32) -> Vec<u8> {
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes()); // bytes per second
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    w.extend((0..data_len).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    w
}

/// A response as it came off the socket.
struct Response {
    code: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET path` with a bearer token and an optional `Range` header, body as bytes.
fn get(port: u16, path: &str, token: &str, range: Option<&str>) -> Response {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the collector");
    s.set_read_timeout(Some(Duration::from_secs(90))).ok();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n{range}\r\n")
        .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Response { code, head, body: raw[split + 4..].to_vec() }
}

/// Everything the collector has logged so far.
fn collector_log(dir: &Path) -> String {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("collector dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("collector-"))
        .map(|e| e.path())
        .collect();
    logs.sort();
    logs.iter().map(|p| std::fs::read_to_string(p).unwrap_or_default()).collect()
}

/// `(offset, max_len)` of every recording chunk the collector asked for in `log`, in order.
fn chunks_asked(log: &str) -> Vec<(u64, u64)> {
    let field = |line: &str, name: &str| -> Option<u64> {
        let rest = &line[line.find(name)? + name.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    log.lines()
        .filter(|l| l.contains("command sent") && l.contains("RecordingChunk"))
        .filter_map(|l| Some((field(l, "offset: ")?, field(l, "max_len: ")?)))
        .collect()
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

#[test]
fn a_recording_streams_in_chunks_by_range_and_what_must_be_refused_is() {
    // The PBX's CDR: a recorded call, one with a recording too big, two naming files outside the
    // spool, one not recorded.
    let db = Database::create("centinela_e2e_rec");
    let ddl = std::fs::read_to_string(format!("{CDR}/cdr-show-create-table.sql")).expect("ddl");
    let mut load = vec![ddl.trim().trim_end_matches(';').to_string()];
    let rows = [
        ("2026-11-20 10:00:00", "1795000001.1", WAV),
        ("2026-11-20 10:05:00", "1795000002.1", BIG),
        ("2026-11-20 10:10:00", "1795000003.1", "../../etc/passwd"),
        ("2026-11-20 10:15:00", "1795000004.1", "/etc/passwd"),
        ("2026-11-20 10:20:00", "1795000005.1", ""),
    ];
    for (i, (calldate, uniqueid, file)) in rows.iter().enumerate() {
        load.push(format!(
            "INSERT INTO cdr (calldate, uniqueid, linkedid, recordingfile, disposition, duration, billsec, sequence) \
             VALUES ('{calldate}', '{uniqueid}', '{uniqueid}', '{file}', 'ANSWERED', 60, 55, {i})"
        ));
    }
    db.execute(&load);

    // The agent's spool, FreePBX style: by the call's date.
    let tmp = test_dir();
    let spool = tmp.path().join("monitor");
    let day = spool.join("2026/11/20");
    std::fs::create_dir_all(&day).expect("spool");
    let recording = wav(1_000_000);
    std::fs::write(day.join(WAV), &recording).expect("recording");
    std::fs::write(day.join(BIG), wav(3_000_000)).expect("big recording");

    let broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let cdir = tmp.path().join("collector");
    let collector = Collector::start(&cdir, &broker.url());
    let sections = format!(
        "[database]\nurl = \"{}\"\nship_every = \"1s\"\nbackfill = \"3650d\"\n\
         [recordings]\ndir = \"{}\"\nmax_bytes = 2097152\n",
        db.url(),
        spool.display()
    );
    let mut agent = Agent::start_with_sections(&tmp.path().join("agent"), AGENT, &broker.url(), "1h", "", &sections);
    wait_until("the 5 CDR rows at the collector", T, || collector.cdr_ids(AGENT).len() >= 5);
    let token = collector.user_token("e2e-tecnico", "tecnico");
    let port = collector.http_port;
    let path = |uniqueid: &str| format!("/grabaciones/{AGENT}/{uniqueid}");
    let total = recording.len() as u64;
    // What the collector asks the agent for during `f`.
    let asked = |f: &mut dyn FnMut() -> Response| {
        let before = collector_log(&cdir).len();
        let r = f();
        // The log line of the last command is written before its reply arrives.
        (r, chunks_asked(&collector_log(&cdir)[before..]))
    };

    // The whole recording: several chunks, each asked for in turn, the bytes exactly the file's.
    let (r, chunks) = asked(&mut || get(port, &path("1795000001.1"), &token, None));
    assert_eq!(r.code, 200, "{}\n{}", r.head, r.text());
    assert_eq!(r.body.len() as u64, total);
    assert_eq!(sha256(&r.body), sha256(&recording), "the bytes downloaded are the file's");
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-length"), Some(total.to_string().as_str()));
    assert_eq!(chunks, [(0, CHUNK), (CHUNK, CHUNK), (2 * CHUNK, CHUNK), (3 * CHUNK, total - 3 * CHUNK)]);

    // A seek: exactly the slice, with only the chunk covering it fetched.
    let (r, chunks) = asked(&mut || get(port, &path("1795000001.1"), &token, Some("bytes=300000-300099")));
    assert_eq!(r.code, 206, "{}", r.head);
    assert_eq!(r.header("content-range"), Some(format!("bytes 300000-300099/{total}").as_str()));
    assert_eq!(r.body, recording[300_000..300_100]);
    assert_eq!(chunks, [(300_000, 100)]);
    // Across a chunk boundary, open-ended, and the last bytes.
    let (r, chunks) = asked(&mut || get(port, &path("1795000001.1"), &token, Some("bytes=200000-600000")));
    assert_eq!((r.code, r.body.as_slice()), (206, &recording[200_000..=600_000]));
    assert_eq!(chunks, [(200_000, CHUNK), (200_000 + CHUNK, 600_000 - 200_000 - CHUNK + 1)]);
    let r = get(port, &path("1795000001.1"), &token, Some("bytes=999000-"));
    assert_eq!((r.code, r.body.as_slice()), (206, &recording[999_000..]));
    let r = get(port, &path("1795000001.1"), &token, Some("bytes=-44"));
    assert_eq!((r.code, r.body.as_slice()), (206, &recording[recording.len() - 44..]));
    assert_eq!(r.header("content-range"), Some(format!("bytes {}-{}/{total}", total - 44, total - 1).as_str()));
    // Who listened is audited once per playback (the whole file), not per seek.
    let listened = rusqlite::Connection::open_with_flags(
        collector.dir.join("data/centinela.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("db")
    .query_row("SELECT COUNT(*), MAX(object) FROM audit WHERE action = 'recording.listen'", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
    })
    .expect("audit");
    assert_eq!(listened.0, 1, "one playback, four seeks: {listened:?}");
    assert!(listened.1.unwrap_or_default().ends_with("/call:1795000001.1"));
    let r = get(port, &path("1795000001.1"), &token, Some(&format!("bytes={total}-")));
    assert_eq!(r.code, 416, "{}", r.head);
    assert_eq!(r.header("content-range"), Some(format!("bytes */{total}").as_str()));

    // Above the agent's max_bytes: 413, and the page says which setting.
    let r = get(port, &path("1795000002.1"), &token, None);
    assert_eq!(r.code, 413, "{}", r.text());
    assert!(r.text().contains("recordings.max_bytes"), "{}", r.text());

    // Names leaving the spool: refused by the agent, in words.
    let r = get(port, &path("1795000003.1"), &token, None);
    assert_eq!(r.code, 409, "{}", r.text());
    assert!(r.text().contains("no está permitido") && r.text().contains("«..»"), "{}", r.text());
    let r = get(port, &path("1795000004.1"), &token, None);
    assert_eq!(r.code, 409, "{}", r.text());
    assert!(r.text().contains("fuera del directorio de grabaciones"), "{}", r.text());
    assert!(!r.text().contains("root:"), "nothing of /etc/passwd reached the browser");

    // No recording, no such call: 404 in Spanish, and the agent is not even asked.
    let (r, chunks) = asked(&mut || get(port, &path("1795000005.1"), &token, None));
    assert_eq!(r.code, 404);
    assert!(r.text().contains("No se encontró una grabación de la llamada"), "{}", r.text());
    assert_eq!(chunks, []);
    assert_eq!(get(port, &path("1795999999.9"), &token, None).code, 404);

    // Who may listen: not the admin, not a jefe_centro of other centers.
    assert_eq!(get(port, &path("1795000001.1"), collector.token(), None).code, 403);
    let jefa = collector.user_token("e2e-jefa", "jefe_centro");
    assert_eq!(get(port, &path("1795000001.1"), &jefa, None).code, 403);

    // The agent gone: the first chunk times out, 504.
    assert_eq!(agent.proc().terminate(), Some(0));
    let asked_at = Instant::now();
    let r = get(port, &path("1795000001.1"), &token, None);
    assert_eq!(r.code, 504, "{}", r.text());
    assert!(r.text().contains("el agente no respondió en 20 s"), "{}", r.text());
    assert!(asked_at.elapsed() < Duration::from_secs(40));
}
