//! Call records shipped from the PBX to the collector: CDR rows and `queue_log` lines, in batches.
//!
//! Invariants:
//! - A row is carried as the PBX's database wrote it: texts unchanged, `calldate` in the PBX's
//!   local time as the database renders it (`YYYY-MM-DD HH:MM:SS`), nothing classified or summed.
//!   Interpretation (inbound/outbound, one call = one `linkedid`) is the collector's job.
//! - Columns that some schemas lack (Issabel has no `linkedid`, `sequence` or `peeraccount`; plain
//!   Asterisk has none of FreePBX's extras) are `Option`: `None` means "the table has no such
//!   column", `Some("")` means "empty in this row". Unknown extra columns travel in `extra`.
//! - [`CdrRowV1::key`] is the row's identity, computed the same way on both sides: the agent uses it
//!   to never ship a row twice, the collector to store it once. It covers only columns every schema
//!   has (plus `sequence` where present), so adding a column to the table does not change the
//!   identity of rows already shipped.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Rows read from the CDR table, oldest `calldate` first (ties in no particular order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CdrBatchV1 {
    /// Where the rows were read, e.g. `mariadb 127.0.0.1:3306/asteriskcdrdb cdr`; never a password.
    pub source: String,
    pub rows: Vec<CdrRowV1>,
}

/// One CDR row. See the module invariants for `Option` fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdrRowV1 {
    /// Start of the call in the PBX's local time, `YYYY-MM-DD HH:MM:SS` (as the database renders it).
    pub calldate: String,
    pub clid: String,
    pub src: String,
    pub dst: String,
    pub dcontext: String,
    pub channel: String,
    pub dstchannel: String,
    pub lastapp: String,
    pub lastdata: String,
    /// Seconds from start to end (includes ringing, IVR and queue wait).
    pub duration: i64,
    /// Seconds from answer to end.
    pub billsec: i64,
    /// ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION (and CANCEL where enabled).
    pub disposition: String,
    /// As stored: a number (3) in SQL tables, a word (DOCUMENTATION) in some backends.
    pub amaflags: String,
    pub accountcode: String,
    pub uniqueid: String,
    pub userfield: String,
    pub linkedid: Option<String>,
    pub sequence: Option<i64>,
    pub peeraccount: Option<String>,
    pub did: Option<String>,
    pub recordingfile: Option<String>,
    pub cnum: Option<String>,
    pub cnam: Option<String>,
    pub outbound_cnum: Option<String>,
    pub outbound_cnam: Option<String>,
    pub dst_cnam: Option<String>,
    /// Other columns of the table, `(name, value)`, in table order; also a known numeric column
    /// whose text was not a number (its field then holds 0), so nothing read is lost.
    pub extra: Vec<(String, String)>,
}

/// Length of [`CdrRowV1::key`].
pub const ROW_KEY_LEN: usize = 16;

impl CdrRowV1 {
    /// The row's identity: the first 16 bytes of SHA-256 over the columns every schema has
    /// (`calldate`, `uniqueid`, `channel`, `dstchannel`, `dcontext`, `dst`, `lastapp`, `lastdata`,
    /// `disposition`, `duration`, `billsec`) and `sequence` where the table has it.
    ///
    /// `uniqueid` alone is not enough: when the dialplan continues after a failed Dial, the same
    /// channel gets a second row. Two rows equal in all of these are the same record.
    pub fn key(&self) -> [u8; ROW_KEY_LEN] {
        let mut h = Sha256::new();
        for text in [
            &self.calldate,
            &self.uniqueid,
            &self.channel,
            &self.dstchannel,
            &self.dcontext,
            &self.dst,
            &self.lastapp,
            &self.lastdata,
            &self.disposition,
        ] {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            h.update((text.len() as u64).to_le_bytes());
            h.update(text.as_bytes());
        }
        h.update(self.duration.to_le_bytes());
        h.update(self.billsec.to_le_bytes());
        match self.sequence {
            Some(s) => {
                h.update([1]);
                h.update(s.to_le_bytes());
            }
            None => h.update([0]),
        }
        let digest = h.finalize();
        let mut key = [0u8; ROW_KEY_LEN];
        key.copy_from_slice(&digest[..ROW_KEY_LEN]);
        key
    }
}

/// Lines read from Asterisk's `queue_log`, in file order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLogBatchV1 {
    /// The file read, e.g. `/var/log/asterisk/queue_log`.
    pub source: String,
    pub entries: Vec<QueueLogEntryV1>,
}

/// One `queue_log` line: `epoch|callid|queue|agent|EVENT|data1|data2|...`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueLogEntryV1 {
    /// Seconds since the Unix epoch (the first field).
    pub time: i64,
    /// The caller channel's uniqueid; `NONE` or `REALTIME` for events not tied to a call.
    pub callid: String,
    pub queue: String,
    pub agent: String,
    /// ENTERQUEUE, CONNECT, COMPLETECALLER, ABANDON, ...
    pub event: String,
    pub data: Vec<String>,
    /// Where the line starts in the file: `(file identity, byte offset)` is the line's identity.
    pub offset: u64,
    /// The file's identity (`device:inode:fingerprint of its first line` when it was read), so a
    /// rotated or truncated file's offsets never collide with the new file's.
    pub file_id: String,
}

impl QueueLogEntryV1 {
    /// The line's identity.
    pub fn key(&self) -> [u8; ROW_KEY_LEN] {
        let mut h = Sha256::new();
        h.update((self.file_id.len() as u64).to_le_bytes());
        h.update(self.file_id.as_bytes());
        h.update(self.offset.to_le_bytes());
        let digest = h.finalize();
        let mut key = [0u8; ROW_KEY_LEN];
        key.copy_from_slice(&digest[..ROW_KEY_LEN]);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> CdrRowV1 {
        CdrRowV1 {
            calldate: "2026-11-27 09:51:38".into(),
            uniqueid: "1795773098.3".into(),
            channel: "Local/1002@from-queue-00000000;2".into(),
            lastapp: "Dial".into(),
            disposition: "NO ANSWER".into(),
            duration: 3,
            sequence: Some(3),
            ..CdrRowV1::default()
        }
    }

    #[test]
    fn a_second_row_of_the_same_channel_has_another_identity() {
        let dial = row();
        let hangup = CdrRowV1 { lastapp: "Hangup".into(), duration: 0, sequence: Some(4), ..row() };
        assert_ne!(dial.key(), hangup.key());
    }

    #[test]
    fn columns_outside_the_identity_do_not_change_it() {
        let a = row();
        let b = CdrRowV1 { recordingfile: Some("q-5000.wav".into()), extra: vec![("x".into(), "1".into())], ..row() };
        assert_eq!(a.key(), b.key());
    }

    #[test]
    fn field_boundaries_are_part_of_the_identity() {
        let a = CdrRowV1 { dst: "ab".into(), dcontext: "c".into(), ..row() };
        let b = CdrRowV1 { dst: "a".into(), dcontext: "bc".into(), ..row() };
        assert_ne!(a.key(), b.key());
        let no_seq = CdrRowV1 { sequence: None, ..row() };
        assert_ne!(no_seq.key(), row().key());
    }

    #[test]
    fn a_queue_log_line_is_identified_by_its_file_and_offset() {
        let a = QueueLogEntryV1 { file_id: "2049:131".into(), offset: 0, ..Default::default() };
        let b = QueueLogEntryV1 { event: "CONNECT".into(), ..a.clone() };
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), QueueLogEntryV1 { offset: 80, ..a.clone() }.key());
    }
}
