//! Which columns a shipped table has, and how one row of texts becomes a [`CdrRowV1`] (CDR) or a
//! [`QueueLogEntryV1`] (a realtime `queue_log` table). Pure.
//!
//! Invariants:
//! - The table must have its required columns (CDR: `calldate`, the cursor, and `uniqueid`, the
//!   identity; queue_log: `time`, `callid`, `queuename`, `agent`, `event`); without them
//!   [`Columns::detect`] says which column is missing and what to fix.
//! - Every column is read as text (the SQL casts it), in [`Columns::names`] order, so the mapping
//!   is the same for MariaDB, PostgreSQL and SQLite.
//! - Column names reach SQL only if they are plain identifiers (letters, digits, `_`); any other
//!   column is left out and listed in [`Columns::skipped`].
//! - Nothing read is lost: a numeric column whose text is not a number gets 0 and its text goes to
//!   `extra`; unknown columns go to `extra`. Texts longer than [`MAX_FIELD_BYTES`] are cut (at a
//!   character boundary) so one hostile row cannot exceed the payload limit.

use centinela_shared::{CdrRowV1, QueueLogEntryV1};

/// The longest text kept per field.
pub const MAX_FIELD_BYTES: usize = 4096;
/// The most unknown columns carried per row.
pub const MAX_EXTRA: usize = 32;

/// The columns every CDR schema has (Asterisk's `cdr_adaptive_odbc` basics).
const CORE: [&str; 16] = [
    "calldate",
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "uniqueid",
    "userfield",
];

/// Columns some schemas lack (Issabel: no `linkedid`, `sequence`, `peeraccount`).
const OPTIONAL: [&str; 10] = [
    "linkedid",
    "sequence",
    "peeraccount",
    "did",
    "recordingfile",
    "cnum",
    "cnam",
    "outbound_cnum",
    "outbound_cnam",
    "dst_cnam",
];

/// The column plan for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The columns read, lower-cased, in table order.
    pub names: Vec<String>,
    /// Columns left out because their names are not plain identifiers.
    pub skipped: Vec<String>,
}

fn plain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Columns {
    /// From the table's column names, in table order (as `information_schema` or
    /// `pragma_table_info` lists them). `table` and `fix` (the key to revise) are for the error.
    pub fn detect(table: &str, listed: &[String], required: &[&str], fix: &str) -> Result<Self, String> {
        if listed.is_empty() {
            return Err(format!("la tabla {table} no existe o no tiene columnas visibles: revise {fix}"));
        }
        let (names, skipped): (Vec<String>, Vec<String>) =
            listed.iter().map(|n| n.to_ascii_lowercase()).partition(|n| plain(n));
        for required in required {
            if !names.iter().any(|n| n == required) {
                return Err(format!(
                    "la tabla {table} no tiene la columna {required}, necesaria para enviarla al colector: revise {fix}"
                ));
            }
        }
        Ok(Self { names, skipped })
    }

    /// A row of a realtime `queue_log` table (`time, callid, queuename, agent, event` and either
    /// `data` with `|`-separated fields or `data1`..`data5`). `time` is the PBX's local time
    /// (Asterisk writes it so), read with this host's zone; the agent runs on the PBX. The table has
    /// no file offsets: `file_id` is `source` and `offset` is 64 bits of a hash of the row's texts,
    /// so [`QueueLogEntryV1::key`] identifies it.
    pub fn queue_log_entry(&self, values: Vec<Option<String>>, source: &str) -> QueueLogEntryV1 {
        use chrono::TimeZone;
        use sha2::{Digest, Sha256};
        let mut e = QueueLogEntryV1 { file_id: source.to_string(), ..QueueLogEntryV1::default() };
        let mut numbered: Vec<(u8, String)> = Vec::new();
        let mut hash = Sha256::new();
        let mut time_text = String::new();
        for (name, value) in self.names.iter().zip(values) {
            let text = cut(value.unwrap_or_default());
            hash.update((text.len() as u64).to_le_bytes());
            hash.update(text.as_bytes());
            match name.as_str() {
                "time" => time_text = text,
                "callid" => e.callid = text,
                "queuename" => e.queue = text,
                "agent" => e.agent = text,
                "event" => e.event = text,
                "data" => e.data = text.split('|').map(str::to_string).collect(),
                n => {
                    if let Some(i) = n.strip_prefix("data").and_then(|i| i.parse::<u8>().ok()) {
                        numbered.push((i, text));
                    }
                }
            }
        }
        if e.data.is_empty() && !numbered.is_empty() {
            numbered.sort_by_key(|(i, _)| *i);
            e.data = numbered.into_iter().map(|(_, t)| t).collect();
            while e.data.last().is_some_and(String::is_empty) {
                e.data.pop();
            }
        }
        e.time = super::window::parse_calldate(&time_text)
            .and_then(|t| chrono::Local.from_local_datetime(&t).earliest())
            .map_or(0, |t| t.timestamp());
        let digest = hash.finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        e.offset = u64::from_le_bytes(first);
        e
    }

    /// Whether the table has this column.
    pub fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// Builds the row from its texts, one per [`Columns::names`] entry (`None` is SQL NULL).
    pub fn row(&self, values: Vec<Option<String>>) -> CdrRowV1 {
        let mut row = CdrRowV1::default();
        let mut optional: [Option<String>; 10] = Default::default();
        for (name, value) in self.names.iter().zip(values) {
            let text = cut(value.unwrap_or_default());
            match name.as_str() {
                "calldate" => row.calldate = text,
                "clid" => row.clid = text,
                "src" => row.src = text,
                "dst" => row.dst = text,
                "dcontext" => row.dcontext = text,
                "channel" => row.channel = text,
                "dstchannel" => row.dstchannel = text,
                "lastapp" => row.lastapp = text,
                "lastdata" => row.lastdata = text,
                "duration" => row.duration = number(&mut row, name, text),
                "billsec" => row.billsec = number(&mut row, name, text),
                "disposition" => row.disposition = text,
                "amaflags" => row.amaflags = text,
                "accountcode" => row.accountcode = text,
                "uniqueid" => row.uniqueid = text,
                "userfield" => row.userfield = text,
                "sequence" => optional[1] = Some(text),
                other => match OPTIONAL.iter().position(|o| *o == other) {
                    Some(i) => optional[i] = Some(text),
                    None if row.extra.len() < MAX_EXTRA => row.extra.push((other.to_string(), text)),
                    None => {}
                },
            }
        }
        let [linkedid, sequence, peeraccount, did, recordingfile, cnum, cnam, outbound_cnum, outbound_cnam, dst_cnam] =
            optional;
        row.sequence = sequence.map(|text| number(&mut row, "sequence", text));
        row.linkedid = linkedid;
        row.peeraccount = peeraccount;
        row.did = did;
        row.recordingfile = recordingfile;
        row.cnum = cnum;
        row.cnam = cnam;
        row.outbound_cnum = outbound_cnum;
        row.outbound_cnam = outbound_cnam;
        row.dst_cnam = dst_cnam;
        row
    }

    /// Which of the well-known CDR columns the table lacks, for the log line at start.
    pub fn missing_known(&self) -> Vec<&'static str> {
        CORE.iter().chain(OPTIONAL.iter()).copied().filter(|c| !self.has(c)).collect()
    }
}

fn number(row: &mut CdrRowV1, name: &str, text: String) -> i64 {
    match text.trim().parse::<i64>() {
        Ok(n) => n,
        Err(_) => {
            if !text.is_empty() && row.extra.len() < MAX_EXTRA {
                row.extra.push((name.to_string(), text));
            }
            0
        }
    }
}

/// Cuts a text to [`MAX_FIELD_BYTES`] at a character boundary.
fn cut(mut text: String) -> String {
    if text.len() > MAX_FIELD_BYTES {
        let mut end = MAX_FIELD_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_cdr(listed: &[String]) -> Result<Columns, String> {
        Columns::detect("cdr", listed, &["calldate", "uniqueid"], "cdr_table en [database]")
    }

    fn names(list: &str) -> Vec<String> {
        list.split(',').map(|s| s.trim().to_string()).collect()
    }

    /// The column list of the captured FreePBX table (`cdr.csv`'s header, which is table order).
    fn freepbx() -> Vec<String> {
        let csv = include_str!("../../../../shared/fixtures/asterisk/cdr/cdr.csv");
        names(csv.lines().next().unwrap())
    }

    #[test]
    fn the_freepbx_table_maps_every_column_to_a_field() {
        let cols = detect_cdr(&freepbx()).unwrap();
        assert_eq!(cols.names.len(), 26);
        assert!(cols.missing_known().is_empty(), "{:?}", cols.missing_known());
        // The second row of cdr.csv, field by field (the quoted clid unquoted by hand).
        let values = [
            "2026-11-27 09:51:38",
            "\"John Smith\" <3105550123>",
            "3105550123",
            "sales",
            "ext-queues",
            "PJSIP/carrier-00000001",
            "",
            "Queue",
            "sales,t,,,900",
            "40",
            "40",
            "ANSWERED",
            "3",
            "",
            "1795773098.1",
            "queue:sales",
            "5001",
            "",
            "",
            "",
            "",
            "",
            "",
            "1795773098.1",
            "",
            "1",
        ];
        let row = cols.row(values.iter().map(|v| Some(v.to_string())).collect());
        assert_eq!(row.calldate, "2026-11-27 09:51:38");
        assert_eq!(row.clid, "\"John Smith\" <3105550123>");
        assert_eq!((row.duration, row.billsec, row.disposition.as_str()), (40, 40, "ANSWERED"));
        assert_eq!(row.did.as_deref(), Some("5001"));
        assert_eq!(row.linkedid.as_deref(), Some("1795773098.1"));
        assert_eq!(row.sequence, Some(1));
        assert_eq!(row.recordingfile.as_deref(), Some(""), "present but empty");
        assert!(row.extra.is_empty());
    }

    #[test]
    fn an_issabel_table_without_linkedid_and_sequence_is_read_with_those_fields_absent() {
        let cols = detect_cdr(
            &names("calldate,clid,src,dst,dcontext,channel,dstchannel,lastapp,lastdata,duration,billsec,disposition,amaflags,accountcode,uniqueid,userfield,recordingfile,cnum,cnam,outbound_cnum,outbound_cnam,dst_cnam,did"),
        )
        .unwrap();
        assert_eq!(cols.missing_known(), vec!["linkedid", "sequence", "peeraccount"]);
        let mut values: Vec<Option<String>> = vec![Some(String::new()); cols.names.len()];
        values[14] = Some("1700000000.7".into());
        let row = cols.row(values);
        assert_eq!((row.linkedid, row.sequence), (None, None));
        assert_eq!(row.uniqueid, "1700000000.7");
    }

    #[test]
    fn a_table_without_calldate_or_uniqueid_is_refused_with_the_key_to_fix() {
        let e = detect_cdr(&names("eventtime,eventtype,uniqueid")).unwrap_err();
        assert!(e.contains("no tiene la columna calldate") && e.contains("cdr_table"), "{e}");
        let e = detect_cdr(&names("calldate,src")).unwrap_err();
        assert!(e.contains("uniqueid"), "{e}");
        assert!(detect_cdr(&[]).unwrap_err().contains("no existe"));
    }

    #[test]
    fn hostile_names_and_values_are_kept_out_of_sql_and_cut_to_size() {
        let cols = detect_cdr(&names("calldate,uniqueid,duration,sequence,x; DROP TABLE cdr,Custom_Tag")).unwrap();
        assert_eq!(cols.skipped, vec!["x; drop table cdr"]);
        assert_eq!(cols.names, vec!["calldate", "uniqueid", "duration", "sequence", "custom_tag"]);
        let huge = "ñ".repeat(MAX_FIELD_BYTES);
        let row = cols.row(vec![
            Some("2026-11-27 10:00:00".into()),
            Some(huge),
            Some("ten".into()),
            None,
            Some("vip".into()),
        ]);
        assert!(row.uniqueid.len() <= MAX_FIELD_BYTES && row.uniqueid.chars().all(|c| c == 'ñ'));
        assert_eq!(row.duration, 0);
        assert_eq!(row.sequence, Some(0), "NULL in a present column reads as an empty text, so 0");
        assert_eq!(
            row.extra,
            vec![("duration".to_string(), "ten".to_string()), ("custom_tag".to_string(), "vip".to_string())]
        );
    }

    #[test]
    fn a_queue_log_table_row_with_numbered_data_columns_reads_like_a_file_line() {
        let cols = Columns::detect(
            "queue_log",
            &names("id,time,callid,queuename,agent,event,data1,data2,data3,data4,data5"),
            &["time", "callid", "queuename", "agent", "event"],
            "table en [queue_log]",
        )
        .unwrap();
        let row = |data1: &str| {
            [
                "7",
                "2026-11-27 09:51:41.123456",
                "1795773098.1",
                "sales",
                "Local/1002@from-queue/n",
                "CONNECT",
                data1,
                "1795773098.9",
                "2",
                "",
                "",
            ]
            .iter()
            .map(|v| Some(v.to_string()))
            .collect::<Vec<_>>()
        };
        let e = cols.queue_log_entry(row("3"), "mariadb 127.0.0.1:3306/asteriskcdrdb queue_log");
        assert_eq!((e.callid.as_str(), e.queue.as_str(), e.event.as_str()), ("1795773098.1", "sales", "CONNECT"));
        assert_eq!(e.data, vec!["3", "1795773098.9", "2"], "trailing empty data columns dropped");
        let local = chrono::NaiveDateTime::parse_from_str("2026-11-27 09:51:41", "%Y-%m-%d %H:%M:%S").unwrap();
        use chrono::TimeZone;
        assert_eq!(e.time, chrono::Local.from_local_datetime(&local).earliest().unwrap().timestamp());
        assert_eq!(e.file_id, "mariadb 127.0.0.1:3306/asteriskcdrdb queue_log");
        let other = cols.queue_log_entry(row("4"), "mariadb 127.0.0.1:3306/asteriskcdrdb queue_log");
        assert_ne!(e.key(), other.key(), "another row, another identity");
        assert_eq!(e.key(), cols.queue_log_entry(row("3"), &e.file_id).key(), "the same row, the same identity");
    }

    #[test]
    fn a_queue_log_table_with_one_data_column_splits_it_on_bars() {
        let cols =
            Columns::detect("queue_log", &names("time,callid,queuename,agent,event,data"), &["time"], "x").unwrap();
        let values = ["2026-11-27 09:51:41", "NONE", "NONE", "Local/1003@from-queue/n", "PAUSE", "lunch|extra"];
        let e = cols.queue_log_entry(values.iter().map(|v| Some(v.to_string())).collect(), "s");
        assert_eq!(e.data, vec!["lunch", "extra"]);
        let bad = cols.queue_log_entry(vec![Some("ayer".into()), None, None, None, None, None], "s");
        assert_eq!(bad.time, 0, "an unreadable time is 0, the row is still shipped");
    }
}
