//! Call recordings, read one piece at a time for the collector ([`CommandKind::RecordingChunk`]):
//! which file a CDR row's `recordingfile` names ([`resolve`]) and one range of it ([`read_chunk`]).
//!
//! Invariants:
//! - Nothing outside `[recordings] dir` is opened. A name with `..`, a NUL or a control character is
//!   refused before the file system is asked anything; an absolute path must lie under the
//!   directory as written (or its canonical form) before it is looked at, and every candidate must
//!   still lie under the directory's canonical path once its symbolic links are resolved.
//! - Only regular files with an audio extension are served (wav, mp3, gsm, ogg). The file is opened
//!   with `O_NOFOLLOW | O_NONBLOCK` (a FIFO swapped in never blocks the agent) and must be the very
//!   inode that resolution checked, or the request is refused.
//! - One command reads at most [`MAX_CHUNK_BYTES`], never the whole file; a file above
//!   `recordings.max_bytes` is refused whole, whatever range is asked for.
//! - Every refusal says why in Spanish, with its [`RecordingRefusal`] kind for the collector's
//!   status code.
//!
//! The directory is a value from the configuration, as `queue_log.file` is: `--root` moves only the
//! kernel interfaces ([`crate::HostPaths`]), so tests point `dir` at a temporary directory.
//!
//! [`CommandKind::RecordingChunk`]: centinela_shared::CommandKind::RecordingChunk

use crate::config::RecordingsConfig;
use centinela_shared::{MAX_CHUNK_BYTES, RecordingRefusal, ReplyBody};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Why a recording is not served. The message is what the collector shows, in Spanish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordingError {
    #[error("grabaciones no configuradas en el agente; agregue la sección [recordings] a su configuración")]
    NotConfigured,
    #[error("el directorio de grabaciones {dir} no está disponible en el agente ({error}); revise recordings.dir")]
    DirUnavailable { dir: PathBuf, error: String },
    #[error("el nombre de grabación «{name}» no está permitido: {why}")]
    BadName { name: String, why: &'static str },
    #[error("la grabación «{name}» está fuera del directorio de grabaciones {dir}; no se entrega")]
    Outside { name: String, dir: PathBuf },
    #[error("no se encontró la grabación «{name}» en el agente (se buscó en {looked})")]
    NotFound { name: String, looked: String },
    #[error("«{name}» no es un archivo regular; no se entrega")]
    NotRegularFile { name: String },
    #[error("el tipo de archivo de «{name}» no se entrega (solo .wav, .mp3, .gsm y .ogg)")]
    UnsupportedType { name: String },
    #[error(
        "la grabación ocupa {total_len} bytes, más que el límite del agente ({max_bytes} bytes, recordings.max_bytes)"
    )]
    TooLarge { total_len: u64, max_bytes: u64 },
    #[error("la grabación «{name}» cambió mientras se abría; vuelva a intentarlo")]
    Changed { name: String },
    #[error("no se pudo leer la grabación «{name}»: {error}")]
    Io { name: String, error: String },
}

impl RecordingError {
    /// The kind of refusal on the wire.
    pub fn refusal(&self) -> RecordingRefusal {
        match self {
            RecordingError::NotConfigured | RecordingError::DirUnavailable { .. } => RecordingRefusal::NotConfigured,
            RecordingError::NotFound { .. } => RecordingRefusal::NotFound,
            RecordingError::TooLarge { total_len, max_bytes } => {
                RecordingRefusal::TooLarge { total_len: *total_len, max_bytes: *max_bytes }
            }
            RecordingError::BadName { .. }
            | RecordingError::Outside { .. }
            | RecordingError::NotRegularFile { .. }
            | RecordingError::UnsupportedType { .. }
            | RecordingError::Changed { .. }
            | RecordingError::Io { .. } => RecordingRefusal::NotAllowed,
        }
    }
}

/// A recording that may be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Canonical: no symbolic link, under the recordings directory's canonical path.
    pub path: PathBuf,
    pub content_type: &'static str,
    /// Size when resolved.
    pub len: u64,
    /// The inode resolution checked; the opened file must be this one.
    dev: u64,
    ino: u64,
}

/// One piece of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub total_len: u64,
    pub offset: u64,
    pub data: Vec<u8>,
    pub content_type: &'static str,
}

/// The media type served for a file name's extension (case does not matter: Asterisk's `wav49`
/// format writes `.WAV`); `None` for anything else.
pub fn content_type(name: &Path) -> Option<&'static str> {
    let ext = name.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "wav" => Some("audio/wav"),
        "mp3" => Some("audio/mpeg"),
        "gsm" => Some("audio/x-gsm"),
        "ogg" => Some("audio/ogg"),
        _ => None,
    }
}

/// The name as it may appear in a message: escaped, at most 200 characters.
fn shown(name: &str) -> String {
    let escaped: String = name.escape_debug().collect();
    match escaped.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

/// `YYYY/MM/DD` of a `YYYY-MM-DD...` date, or of an 8-digit `YYYYMMDD` field of the name.
fn day_dir(date: chrono::NaiveDate) -> String {
    date.format("%Y/%m/%d").to_string()
}

/// The dated subdirectories where FreePBX may have put `name` (recorded at `calldate`): the
/// call's date first, then a date written in the name itself (FreePBX names carry `-YYYYMMDD-`),
/// which finds a recording whose CDR row was rewritten by a transfer (`ResetCDR`).
fn dated_dirs(name: &str, calldate: &str) -> Vec<String> {
    let mut dirs = Vec::new();
    if let Some(d) = calldate.get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
        dirs.push(day_dir(d));
    }
    for field in name.split(['-', '.', '_']) {
        if field.len() == 8
            && field.bytes().all(|b| b.is_ascii_digit())
            && let Ok(d) = chrono::NaiveDate::parse_from_str(field, "%Y%m%d")
            && (2000..2100).contains(&chrono::Datelike::year(&d))
        {
            let dir = day_dir(d);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Which file of `dir` the CDR's `recordingfile` names, for a call at `calldate`; see the module
/// invariants for what is refused. A bare name is looked for in `dir/YYYY/MM/DD/` (FreePBX), then
/// in `dir` itself; a relative path under `dir`; an absolute path as it is.
pub fn resolve(dir: &Path, recordingfile: &str, calldate: &str) -> Result<Resolved, RecordingError> {
    let name = shown(recordingfile);
    let bad = |why| Err(RecordingError::BadName { name: name.clone(), why });
    if recordingfile.trim().is_empty() {
        return bad("está vacío");
    }
    if recordingfile.contains('\0') {
        return bad("contiene un carácter NUL");
    }
    if recordingfile.chars().any(char::is_control) {
        return bad("contiene caracteres de control");
    }
    let path = Path::new(recordingfile);
    if path.components().any(|c| c == Component::ParentDir) {
        return bad("contiene «..»");
    }
    let canon_dir = dir
        .canonicalize()
        .map_err(|e| RecordingError::DirUnavailable { dir: dir.to_path_buf(), error: e.to_string() })?;
    let outside = || RecordingError::Outside { name: name.clone(), dir: dir.to_path_buf() };
    // Decided on the name alone: nothing outside the directory is even looked at.
    if path.is_absolute() && !path.starts_with(dir) && !path.starts_with(&canon_dir) {
        return Err(outside());
    }
    if content_type(path).is_none() {
        return Err(RecordingError::UnsupportedType { name });
    }
    let candidates: Vec<PathBuf> = if path.is_absolute() {
        vec![path.to_path_buf()]
    } else if path.components().filter(|c| matches!(c, Component::Normal(_))).count() == 1 {
        let file = path.file_name().unwrap_or(path.as_os_str());
        let mut c: Vec<PathBuf> =
            dated_dirs(recordingfile, calldate).into_iter().map(|d| dir.join(d).join(file)).collect();
        c.push(dir.join(file));
        c
    } else {
        vec![dir.join(path)]
    };
    let io = |e: std::io::Error| RecordingError::Io { name: name.clone(), error: e.to_string() };
    let absent = |e: &std::io::Error| matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory);
    for candidate in &candidates {
        // A dangling symbolic link counts as absent; where it points is never opened.
        let real = match candidate.canonicalize() {
            Ok(real) => real,
            Err(e) if absent(&e) => continue,
            Err(e) => return Err(io(e)),
        };
        if !real.starts_with(&canon_dir) {
            return Err(outside());
        }
        let meta = std::fs::metadata(&real).map_err(io)?;
        if !meta.is_file() {
            return Err(RecordingError::NotRegularFile { name });
        }
        // The link's target decides what is served, not the name in the CDR.
        let Some(content_type) = content_type(&real) else { return Err(RecordingError::UnsupportedType { name }) };
        return Ok(Resolved { path: real, content_type, len: meta.len(), dev: meta.dev(), ino: meta.ino() });
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(RecordingError::NotFound { name, looked: looked.join(", ") })
}

/// Reads at most `max_len` bytes (clamped to [`MAX_CHUNK_BYTES`]) of the recording from `offset`;
/// at or past the end the data is empty (the collector learns the size with `max_len` 0).
pub fn read_chunk(
    config: &RecordingsConfig,
    recordingfile: &str,
    calldate: &str,
    offset: u64,
    max_len: u32,
) -> Result<Chunk, RecordingError> {
    let r = resolve(&config.dir, recordingfile, calldate)?;
    let name = shown(recordingfile);
    let io = |e: std::io::Error| RecordingError::Io { name: name.clone(), error: e.to_string() };
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags.bits()).open(&r.path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if (meta.dev(), meta.ino()) != (r.dev, r.ino) || !meta.is_file() {
        return Err(RecordingError::Changed { name });
    }
    let total_len = meta.len();
    if total_len > config.max_bytes {
        return Err(RecordingError::TooLarge { total_len, max_bytes: config.max_bytes });
    }
    let want = u64::from(max_len.min(MAX_CHUNK_BYTES)).min(total_len.saturating_sub(offset));
    let mut data = vec![0; usize::try_from(want).unwrap_or(0)];
    file.read_exact_at(&mut data, offset).map_err(io)?;
    Ok(Chunk { total_len, offset, data, content_type: r.content_type })
}

/// The reply body for a read: the chunk, or the refusal.
pub fn reply_body(read: Result<Chunk, RecordingError>) -> ReplyBody {
    match read {
        Ok(c) => ReplyBody::Chunk {
            total_len: c.total_len,
            offset: c.offset,
            data: c.data,
            content_type: c.content_type.to_string(),
        },
        Err(e) => ReplyBody::RecordingRefused { refusal: e.refusal(), why: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const CALLDATE: &str = "2026-11-27 09:51:38";
    const NAME: &str = "in-5000-2125550101-20261127-095138-1795773098.0.wav";

    /// A recordings directory with one FreePBX recording in its dated directory, and a secret
    /// beside the directory (outside it).
    struct Spool {
        _tmp: tempfile::TempDir,
        dir: PathBuf,
        secret: PathBuf,
    }

    fn spool() -> Spool {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("monitor");
        std::fs::create_dir_all(dir.join("2026/11/27")).unwrap();
        std::fs::write(dir.join("2026/11/27").join(NAME), b"RIFF....WAVEfmt 0123456789").unwrap();
        let secret = tmp.path().join("secret.wav");
        std::fs::write(&secret, b"not yours").unwrap();
        Spool { _tmp: tmp, dir, secret }
    }

    fn config(s: &Spool, max_bytes: u64) -> RecordingsConfig {
        RecordingsConfig { dir: s.dir.clone(), max_bytes }
    }

    fn refusal(s: &Spool, name: &str) -> RecordingError {
        resolve(&s.dir, name, CALLDATE).unwrap_err()
    }

    #[test]
    fn a_bare_freepbx_name_is_found_under_the_calls_date() {
        let s = spool();
        let r = resolve(&s.dir, NAME, CALLDATE).unwrap();
        assert_eq!(r.path, s.dir.canonicalize().unwrap().join("2026/11/27").join(NAME));
        assert_eq!((r.content_type, r.len), ("audio/wav", 26));
    }

    #[test]
    fn a_bare_name_falls_back_to_the_date_in_the_name_then_to_the_directory_itself() {
        let s = spool();
        // The CDR row was rewritten the next day (a transfer's ResetCDR): the name still dates it.
        assert!(resolve(&s.dir, NAME, "2026-11-28 00:00:05").is_ok());
        std::fs::write(s.dir.join("flat.mp3"), b"ID3").unwrap();
        let r = resolve(&s.dir, "flat.mp3", "no es una fecha").unwrap();
        assert_eq!((r.path.file_name().unwrap().to_str(), r.content_type), (Some("flat.mp3"), "audio/mpeg"));
        assert_eq!(dated_dirs(NAME, CALLDATE), vec!["2026/11/27".to_string()]);
        assert_eq!(dated_dirs("x-22501234-20261126.wav", CALLDATE), vec!["2026/11/27", "2026/11/26"]);
    }

    #[test]
    fn a_full_path_inside_the_directory_is_accepted_as_written_or_canonical() {
        let s = spool();
        let full = s.dir.join("2026/11/27").join(NAME);
        assert!(resolve(&s.dir, full.to_str().unwrap(), "").is_ok());
        let canonical = s.dir.canonicalize().unwrap().join("2026/11/27").join(NAME);
        assert!(resolve(&s.dir, canonical.to_str().unwrap(), "").is_ok());
        assert!(resolve(&s.dir, &format!("2026/11/27/{NAME}"), "").is_ok(), "a relative path under dir");
    }

    #[test]
    fn path_traversal_is_refused_before_the_file_system_is_asked() {
        let s = spool();
        for name in ["../../etc/passwd", "../secret.wav", "2026/../../secret.wav", "/etc/../etc/passwd.wav"] {
            let e = refusal(&s, name);
            assert!(matches!(e, RecordingError::BadName { why: "contiene «..»", .. }), "{name}: {e:?}");
            assert_eq!(e.refusal(), RecordingRefusal::NotAllowed);
            assert!(e.to_string().contains("no está permitido"), "{e}");
        }
        let e = refusal(&s, "in\0.wav");
        assert!(e.to_string().contains("NUL") && e.to_string().contains("in\\0.wav"), "{e}");
        assert!(matches!(refusal(&s, "a\nb.wav"), RecordingError::BadName { .. }));
        assert!(matches!(refusal(&s, " "), RecordingError::BadName { why: "está vacío", .. }));
    }

    #[test]
    fn an_absolute_path_outside_the_directory_is_refused_even_when_it_exists() {
        let s = spool();
        for name in [s.secret.to_str().unwrap(), "/etc/passwd", "/etc/shadow.wav", "/var/spool/asterisk/monitor/x.wav"]
        {
            let e = refusal(&s, name);
            assert!(matches!(e, RecordingError::Outside { .. }), "{name}: {e:?}");
            assert!(e.to_string().contains("fuera del directorio de grabaciones"), "{e}");
            assert_eq!(e.refusal(), RecordingRefusal::NotAllowed);
        }
        // A sibling whose name merely starts like the directory is outside too.
        let sibling = s.dir.with_file_name("monitor2");
        std::fs::create_dir_all(&sibling).unwrap();
        std::fs::write(sibling.join("x.wav"), b"x").unwrap();
        assert!(matches!(refusal(&s, sibling.join("x.wav").to_str().unwrap()), RecordingError::Outside { .. }));
    }

    #[test]
    fn a_symbolic_link_escaping_the_directory_is_refused_and_one_inside_it_is_followed() {
        let s = spool();
        symlink(&s.secret, s.dir.join("escape.wav")).unwrap();
        let e = refusal(&s, "escape.wav");
        assert!(matches!(e, RecordingError::Outside { .. }), "{e:?}");
        // A linked directory leading out.
        symlink(s.secret.parent().unwrap(), s.dir.join("out")).unwrap();
        assert!(matches!(refusal(&s, "out/secret.wav"), RecordingError::Outside { .. }));
        let link_in_path = s.dir.join("out/secret.wav");
        assert!(matches!(refusal(&s, link_in_path.to_str().unwrap()), RecordingError::Outside { .. }));
        // Inside to inside is fine; a dangling link is simply not there.
        symlink(s.dir.join("2026/11/27").join(NAME), s.dir.join("alias.wav")).unwrap();
        assert_eq!(resolve(&s.dir, "alias.wav", "").unwrap().path.file_name().unwrap(), NAME);
        symlink(s.dir.join("gone.wav"), s.dir.join("dangling.wav")).unwrap();
        assert!(matches!(refusal(&s, "dangling.wav"), RecordingError::NotFound { .. }));
        // A link named .wav to something inside that is not audio is judged by its target.
        std::fs::write(s.dir.join("notes.txt"), b"x").unwrap();
        symlink(s.dir.join("notes.txt"), s.dir.join("notes.wav")).unwrap();
        assert!(matches!(refusal(&s, "notes.wav"), RecordingError::UnsupportedType { .. }));
    }

    #[test]
    fn only_regular_audio_files_are_served() {
        let s = spool();
        std::fs::create_dir_all(s.dir.join("dir.wav")).unwrap();
        assert!(matches!(refusal(&s, "dir.wav"), RecordingError::NotRegularFile { .. }));
        nix::unistd::mkfifo(&s.dir.join("fifo.wav"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(refusal(&s, "fifo.wav"), RecordingError::NotRegularFile { .. }));
        for name in ["agent.toml", "x.WAV.txt", "noextension", "x.php"] {
            let e = refusal(&s, name);
            assert!(matches!(e, RecordingError::UnsupportedType { .. }), "{name}: {e:?}");
            assert!(e.to_string().contains(".wav, .mp3, .gsm y .ogg"), "{e}");
        }
        for (name, ct) in [("a.WAV", "audio/wav"), ("a.gsm", "audio/x-gsm"), ("a.ogg", "audio/ogg")] {
            assert_eq!(content_type(Path::new(name)), Some(ct));
        }
    }

    #[test]
    fn a_missing_recording_says_where_it_was_looked_for() {
        let s = spool();
        let e = refusal(&s, "in-1-2-20261127-000000-1.1.wav");
        assert_eq!(e.refusal(), RecordingRefusal::NotFound);
        let text = e.to_string();
        assert!(text.contains("no se encontró") && text.contains("2026/11/27/in-1-2"), "{text}");
        let e = resolve(&s.dir.join("nope"), NAME, CALLDATE).unwrap_err();
        assert!(matches!(e, RecordingError::DirUnavailable { .. }) && e.refusal() == RecordingRefusal::NotConfigured);
        assert!(RecordingError::NotConfigured.to_string().starts_with("grabaciones no configuradas en el agente"));
    }

    #[test]
    fn a_chunk_is_the_requested_range_clamped_to_the_chunk_limit() {
        let s = spool();
        let c = read_chunk(&config(&s, 1000), NAME, CALLDATE, 4, 8).unwrap();
        assert_eq!((c.total_len, c.offset, c.data.as_slice(), c.content_type), (26, 4, &b"....WAVE"[..], "audio/wav"));
        let tail = read_chunk(&config(&s, 1000), NAME, CALLDATE, 20, 100).unwrap();
        assert_eq!(tail.data, b"456789");
        for offset in [26, 27, u64::MAX] {
            let past = read_chunk(&config(&s, 1000), NAME, CALLDATE, offset, 100).unwrap();
            assert_eq!((past.total_len, past.data.len()), (26, 0), "offset {offset}");
        }
        assert!(read_chunk(&config(&s, 1000), NAME, CALLDATE, 0, 0).unwrap().data.is_empty(), "a size query");

        let big = s.dir.join("big.wav");
        std::fs::write(&big, vec![1u8; MAX_CHUNK_BYTES as usize + 10]).unwrap();
        let c = read_chunk(&config(&s, 1 << 30), "big.wav", "", 0, u32::MAX).unwrap();
        assert_eq!(c.data.len(), MAX_CHUNK_BYTES as usize, "max_len is clamped");
    }

    #[test]
    fn a_recording_above_max_bytes_is_refused_whole() {
        let s = spool();
        let e = read_chunk(&config(&s, 25), NAME, CALLDATE, 0, 4).unwrap_err();
        assert_eq!(e, RecordingError::TooLarge { total_len: 26, max_bytes: 25 });
        assert_eq!(e.refusal(), RecordingRefusal::TooLarge { total_len: 26, max_bytes: 25 });
        assert!(e.to_string().contains("recordings.max_bytes"), "{e}");
        let ReplyBody::RecordingRefused { refusal, why } = reply_body(Err(e)) else { panic!("a refusal") };
        assert_eq!(
            (refusal, why.contains("26 bytes")),
            (RecordingRefusal::TooLarge { total_len: 26, max_bytes: 25 }, true)
        );
    }
}
