//! `queue_log` shipping: Asterisk's queue log file (`/var/log/asterisk/queue_log`), read
//! incrementally and shipped in [`QueueLogBatchV1`] envelopes through the outbox.
//!
//! The file is `epoch|callid|queue|agent|EVENT|data1|data2|...` per line, appended by Asterisk and
//! rotated by logrotate. The cursor is `(file identity, byte offset)`, where the identity is
//! `device:inode:fingerprint of the first line`, kept in the outbox's database ([`super::ledger`]) and moved in the same
//! transaction that stores the lines.
//!
//! Invariants:
//! - Only whole lines (ending in `\n`) are read; a line being written is read at the next poll.
//! - After a rotation (the path now has another inode), the rest of the old file is read first if
//!   it is still in the same directory under another name (`queue_log.1`, `queue_log-20261127`),
//!   then the new file from its start. A file truncated under the same inode (copytruncate) is
//!   read again from its start: it is shorter than the cursor, or its first line changed.
//! - A line that does not parse is shipped anyway, with event `?` and the raw text as its only data
//!   field, so nothing read is lost; the log says so.
//! - A poll reads at most [`MAX_BYTES_PER_POLL`].

use super::ledger;
use crate::outbox::{Kind, Outbox};
use centinela_shared::{AgentId, Body, Envelope, QueueLogBatchV1, QueueLogEntryV1, WIRE_VERSION, encode_envelope};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const MAX_BYTES_PER_POLL: u64 = 4 << 20;
/// A line longer than this is cut (Asterisk's own limit is far below).
const MAX_LINE: usize = 8192;

/// Parses one line (without its `\n`); `offset` and `file_id` are left empty. `Err` says what is
/// wrong.
pub fn parse_line(line: &[u8]) -> Result<QueueLogEntryV1, String> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    let mut fields = text.split('|');
    let time = fields.next().unwrap_or("");
    let time: i64 = time.parse().map_err(|_| format!("la hora {time:?} no es un número de segundos"))?;
    let mut next = |what: &str| fields.next().map(str::to_string).ok_or_else(|| format!("falta el campo {what}"));
    let callid = next("callid")?;
    let queue = next("queue")?;
    let agent = next("agent")?;
    let event = next("event")?;
    if event.is_empty() {
        return Err("el evento está vacío".into());
    }
    let data = fields.map(str::to_string).collect();
    Ok(QueueLogEntryV1 { time, callid, queue, agent, event, data, ..QueueLogEntryV1::default() })
}

/// The entry for a line at `offset` of the file `file_id`.
pub fn entry(line: &[u8], file_id: &str, offset: u64) -> QueueLogEntryV1 {
    let line = &line[..line.len().min(MAX_LINE)];
    match parse_line(line) {
        Ok(e) => QueueLogEntryV1 { offset, file_id: file_id.to_string(), ..e },
        Err(why) => {
            tracing::warn!(file_id, offset, why = why.as_str(), "queue_log line does not parse; shipped raw");
            QueueLogEntryV1 {
                event: "?".into(),
                data: vec![String::from_utf8_lossy(line).into_owned()],
                offset,
                file_id: file_id.to_string(),
                ..QueueLogEntryV1::default()
            }
        }
    }
}

/// The whole lines of `buf` (which starts at file offset `base`), with their offsets, and the
/// offset just past the last whole line.
pub fn whole_lines(buf: &[u8], base: u64) -> (Vec<(u64, &[u8])>, u64) {
    let mut lines = Vec::new();
    let mut start = 0usize;
    while let Some(nl) = buf[start..].iter().position(|b| *b == b'\n') {
        let line = &buf[start..start + nl];
        if !line.is_empty() {
            lines.push((base + start as u64, line));
        }
        start += nl + 1;
    }
    (lines, base + start as u64)
}

/// `device:inode:fingerprint`, where the fingerprint hashes the file's first whole line (`-` while
/// it has none): a file truncated and written again keeps its inode but not its first line.
fn file_id(path: &Path) -> std::io::Result<(String, u64)> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    let mut head = Vec::with_capacity(512);
    (&mut f).take(MAX_LINE as u64).read_to_end(&mut head)?;
    let fingerprint = match head.iter().position(|b| *b == b'\n') {
        Some(nl) => Sha256::digest(&head[..=nl]).iter().take(4).map(|b| format!("{b:02x}")).collect(),
        None => "-".to_string(),
    };
    Ok((format!("{}:{}:{fingerprint}", meta.dev(), meta.ino()), meta.len()))
}

/// The `device:inode` part of a file id.
fn inode_of(id: &str) -> &str {
    id.rsplit_once(':').map_or(id, |(inode, _)| inode)
}

/// The rotated copy of the file `old_id`, if it is still next to `path`.
fn find_rotated(path: &Path, old_id: &str) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_str()?;
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let p = e.path();
        let n = p.file_name()?.to_str()?;
        let same = std::fs::metadata(&p).ok().is_some_and(|m| format!("{}:{}", m.dev(), m.ino()) == inode_of(old_id));
        (n != name && n.starts_with(name) && same).then_some(p)
    })
}

pub struct QueueLogShipper {
    progress: super::Progress,
    path: PathBuf,
    /// `(file_id, offset)` of the next byte to read.
    cursor: Option<(String, u64)>,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tailed {
    pub lines: usize,
    pub batches: usize,
    pub more: bool,
}

impl QueueLogShipper {
    pub fn new(path: PathBuf, outbox: &mut Outbox) -> Result<Self, crate::outbox::OutboxError> {
        let key = path.display().to_string();
        let cursor = outbox.batch(|b| ledger::open_queue_log(b.sql(), &key))?;
        Ok(Self { progress: super::Progress::default(), path, cursor })
    }

    /// The progress reading for the next sample.
    pub fn reading(&self) -> centinela_shared::ShippingV1 {
        let position = self.cursor.as_ref().map(|(id, off)| format!("{id}@{off}"));
        self.progress.reading("queue_log", &self.path.display().to_string(), position)
    }

    /// [`QueueLogShipper::poll_once`], with its result kept for [`QueueLogShipper::reading`]. Holds
    /// back like the CDR shipper when the outbox is full of call records.
    pub fn poll(&mut self, outbox: &mut Outbox, agent: &AgentId) -> Result<Tailed, String> {
        let held_back = outbox.records_bytes() as f64 > outbox.max_bytes() as f64 * super::HOLD_BACK_FRACTION;
        let result = if held_back { Ok(Tailed::default()) } else { self.poll_once(outbox, agent) };
        let seen = match &result {
            Ok(t) => Ok((t.lines, t.more, held_back)),
            Err(e) => Err(e.clone()),
        };
        self.progress.observe(&seen);
        result
    }

    /// Reads what was appended since the last poll and puts it in the outbox.
    pub fn poll_once(&mut self, outbox: &mut Outbox, agent: &AgentId) -> Result<Tailed, String> {
        let shown = self.path.display().to_string();
        let (current, len) = file_id(&self.path).map_err(|e| {
            format!("no se puede leer {shown} ({e}): revise file en [queue_log] y que el agente pueda leerlo")
        })?;
        let mut tailed = Tailed::default();
        // The rest of a rotated file first.
        if let Some((old, offset)) = self.cursor.clone()
            && inode_of(&old) != inode_of(&current)
        {
            match find_rotated(&self.path, &old) {
                Some(rotated) => {
                    let done = self.read_file(&rotated, &old, offset, outbox, agent, &mut tailed)?;
                    if !done {
                        return Ok(tailed);
                    }
                }
                None => {
                    tracing::warn!(file = %shown, "queue_log was rotated and the old file is gone; reading the new one")
                }
            }
            self.commit(outbox, agent, &current, 0, Vec::new())?;
        }
        // Same file: go on. Same inode with another first line, or shorter: it was truncated.
        let offset = match &self.cursor {
            Some((id, off)) if *id == current && *off <= len => *off,
            _ => 0,
        };
        self.read_file(&self.path.clone(), &current, offset, outbox, agent, &mut tailed)?;
        Ok(tailed)
    }

    /// Reads `path` (identity `id`) from `offset` up to the poll's budget. `true` when it reached
    /// the end of the file.
    fn read_file(
        &mut self,
        path: &Path,
        id: &str,
        offset: u64,
        outbox: &mut Outbox,
        agent: &AgentId,
        tailed: &mut Tailed,
    ) -> Result<bool, String> {
        let shown = path.display().to_string();
        let mut f = std::fs::File::open(path).map_err(|e| format!("no se puede abrir {shown} ({e})"))?;
        let len = f.metadata().map_err(|e| format!("no se puede leer {shown} ({e})"))?.len();
        let budget = MAX_BYTES_PER_POLL;
        f.seek(SeekFrom::Start(offset)).map_err(|e| format!("no se puede leer {shown} ({e})"))?;
        let mut buf = Vec::new();
        f.take(budget).read_to_end(&mut buf).map_err(|e| format!("no se puede leer {shown} ({e})"))?;
        let (lines, end) = whole_lines(&buf, offset);
        let mut end = end;
        // A single line longer than the whole budget: skip past it rather than stall for ever.
        if lines.is_empty() && buf.len() as u64 == budget {
            tracing::warn!(file = %shown, offset, "queue_log line longer than {budget} bytes skipped");
            end = offset + budget;
        }
        let entries: Vec<QueueLogEntryV1> = lines.iter().map(|(off, l)| entry(l, id, *off)).collect();
        tailed.lines += entries.len();
        self.commit(outbox, agent, id, end, entries).map(|batches| tailed.batches += batches)?;
        let at_end = offset + (buf.len() as u64) >= len;
        tailed.more |= !at_end;
        Ok(at_end)
    }

    fn commit(
        &mut self,
        outbox: &mut Outbox,
        agent: &AgentId,
        id: &str,
        offset: u64,
        entries: Vec<QueueLogEntryV1>,
    ) -> Result<usize, String> {
        let key = self.path.display().to_string();
        let parts = super::chunks(entries, <super::QueueLogTable as super::Table>::size);
        let batches = parts.len();
        outbox
            .batch(|b| {
                let taken_ms = chrono::Utc::now().timestamp_millis();
                for entries in parts {
                    let body = Body::QueueLogBatchV1(QueueLogBatchV1 { source: key.clone(), entries });
                    b.push(Kind::Records, |seq, _| {
                        encode_envelope(&Envelope { v: WIRE_VERSION, agent: agent.to_string(), seq, taken_ms, body })
                    })?;
                }
                ledger::set_queue_log(b.sql(), &key, id, offset)
            })
            .map_err(|e| format!("no se puede guardar queue_log en la bandeja de salida: {e}"))?;
        self.cursor = Some((id.to_string(), offset));
        Ok(batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines in the format Asterisk documents for queue_log (`epoch|callid|queue|agent|event|data...`,
    // see workflow-anchors.md §3.3), with the uniqueids, queues and members of the captured run in
    // shared/fixtures/asterisk (no queue_log file was captured there).
    const LINES: &str = "1795773098|1795773098.1|sales|NONE|ENTERQUEUE||3105550123|1\n\
1795773101|1795773098.1|sales|Local/1002@from-queue/n|CONNECT|3|1795773098.9|2\n\
1795773141|1795773098.1|sales|Local/1002@from-queue/n|COMPLETECALLER|3|40|1\n\
1795773200|NONE|NONE|Local/1003@from-queue/n|PAUSE|lunch\n";

    #[test]
    fn documented_lines_parse_into_their_fields() {
        let (lines, end) = whole_lines(LINES.as_bytes(), 0);
        assert_eq!(lines.len(), 4);
        assert_eq!(end, LINES.len() as u64);
        let e = entry(lines[1].1, "2049:131", lines[1].0);
        assert_eq!((e.time, e.callid.as_str(), e.queue.as_str()), (1795773101, "1795773098.1", "sales"));
        assert_eq!((e.agent.as_str(), e.event.as_str()), ("Local/1002@from-queue/n", "CONNECT"));
        assert_eq!(e.data, vec!["3", "1795773098.9", "2"]);
        assert_eq!(e.offset, lines[1].0);
        let pause = entry(lines[3].1, "2049:131", lines[3].0);
        assert_eq!((pause.event.as_str(), pause.data.as_slice()), ("PAUSE", ["lunch".to_string()].as_slice()));
    }

    #[test]
    fn a_line_being_written_waits_for_its_newline() {
        let text = "1795773098|1|q|NONE|ENTERQUEUE||1|1\n1795773099|2|q|NO";
        let (lines, end) = whole_lines(text.as_bytes(), 100);
        assert_eq!(lines.len(), 1);
        assert_eq!(end, 100 + text.find('\n').unwrap() as u64 + 1);
    }

    #[test]
    fn a_broken_line_is_kept_raw_instead_of_lost() {
        for bad in [&b"garbage"[..], b"17957|x", b"abc|1|q|a|EV", b"1795773098|1|q|a|", b"\xff\xfe|1|2|3|4"] {
            let e = entry(bad, "1:2", 7);
            assert_eq!(e.event, "?", "{bad:?}");
            assert_eq!(e.data, vec![String::from_utf8_lossy(bad).into_owned()]);
        }
        assert!(parse_line(b"abc|1|q|a|EV").unwrap_err().contains("no es un número"));
    }
}
