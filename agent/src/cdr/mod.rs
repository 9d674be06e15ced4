//! CDR shipping: every row of the PBX's CDR table reaches the collector once, for the monthly
//! service reports. [`queue_log`] does the same for Asterisk's queue log file.
//!
//! Each poll connects to the CDR database, lists the table's columns ([`columns`]), and reads
//! pages by `calldate` from where the cursor says ([`window`]). Rows whose identity
//! ([`CdrRowV1::key`]) the ledger does not hold yet are wrapped in [`CdrBatchV1`] envelopes and
//! stored in the outbox, and the ledger and the cursor move, all in one outbox transaction
//! ([`ledger`]). Delivery is then the outbox's business, like samples.
//!
//! Invariants:
//! - Nothing is lost: a row is marked shipped only in the transaction that puts it in the outbox,
//!   and call-record batches are never dropped by the outbox's size cap. When the outbox already
//!   holds [`HOLD_BACK_FRACTION`] of its cap in call records (a long broker outage), the shipper
//!   stops reading; the rows wait in the PBX's database.
//! - Nothing is duplicated by the agent: after a restart the ledger still knows what the outbox
//!   took. (The collector also stores each row once, so a lost ledger only costs bandwidth.)
//! - A poll reads at most `max_pages` pages, so a years-long backfill is spread over many polls
//!   and never holds up samples for long; the next poll goes on where it stopped, so a window
//!   holding more rows than one poll reads still makes progress.
//! - An envelope carries at most [`MAX_ROWS_PER_BATCH`] rows and about [`BATCH_BYTES`] of text, far
//!   below the wire's payload limit.

pub mod columns;
pub mod ledger;
pub mod queue_log;
pub mod source;
pub mod window;

use crate::config::DatabaseConfig;
use crate::outbox::{Kind, Outbox};
use centinela_shared::{
    AgentId, Body, CdrBatchV1, CdrRowV1, Envelope, Level, QueueLogBatchV1, QueueLogEntryV1, ShippingV1, Verdict,
    WIRE_VERSION, encode_envelope,
};
use columns::Columns;
use source::Source;
use window::{Next, Plan, format_calldate, parse_calldate};

/// Rows per envelope, at most.
pub const MAX_ROWS_PER_BATCH: usize = 500;
/// Approximate bytes of row text per envelope (the payload limit is 256 KiB).
pub const BATCH_BYTES: usize = 96 * 1024;
/// The shipper holds back while call records fill this fraction of the outbox's cap.
pub const HOLD_BACK_FRACTION: f64 = 0.5;

/// The `[database]` shipping settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipSettings {
    pub plan: Plan,
    /// Pages per poll, at most.
    pub max_pages: usize,
}

impl Default for ShipSettings {
    fn default() -> Self {
        Self {
            plan: Plan {
                late: chrono::TimeDelta::hours(4),
                backfill: chrono::TimeDelta::days(62),
                page: 1000,
                max_page: 64_000,
            },
            max_pages: 50,
        }
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shipped {
    /// Rows read from the table (including rows already shipped, read again in the window).
    pub read: usize,
    /// Rows put in the outbox.
    pub new: usize,
    /// Envelopes put in the outbox.
    pub batches: usize,
    /// The poll stopped at `max_pages` with more to read.
    pub more: bool,
    /// The poll did not read because the outbox is full of call records.
    pub held_back: bool,
}

/// A shipper's progress since the agent started, reported in every sample as a [`ShippingV1`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub shipped: u64,
    pub error: Option<String>,
    pub catching_up: bool,
    pub held_back: bool,
}

impl Progress {
    /// Takes one poll's result.
    pub fn observe(&mut self, result: &Result<(usize, bool, bool), String>) {
        match result {
            Ok((new, more, held_back)) => {
                self.shipped += *new as u64;
                self.catching_up = *more;
                self.held_back = *held_back;
                self.error = None;
            }
            Err(e) => self.error = Some(e.clone()),
        }
    }

    /// The reading. Warning when rows cannot be read or must wait: the monthly report would miss
    /// them until it is fixed, but no call is affected.
    pub fn reading(&self, what: &str, source: &str, position: Option<String>) -> ShippingV1 {
        let mut verdict = Verdict::ok();
        let noun = if what == "cdr" { "el CDR" } else { "queue_log" };
        if let Some(e) = &self.error {
            verdict.raise(Level::Warning, format!("{noun} no se está enviando al colector: {e}"));
        }
        if self.held_back {
            verdict.raise(
                Level::Warning,
                format!(
                    "{noun} espera: la bandeja de salida está llena de registros sin confirmar (broker o colector sin conexión)"
                ),
            );
        }
        ShippingV1 {
            what: what.to_string(),
            source: source.to_string(),
            position,
            shipped: self.shipped,
            error: self.error.clone(),
            catching_up: self.catching_up,
            held_back: self.held_back,
            verdict,
        }
    }
}

/// A table shipped row by row: what differs between the CDR and a `queue_log` table.
pub trait Table {
    type Row;
    /// The ledger's and the reading's name: "cdr" or "queue_log".
    const KIND: &'static str;
    /// The column the cursor follows.
    const TIME_COLUMN: &'static str;
    /// The column plan, or why the table cannot be shipped (Spanish, with the key to fix).
    fn columns(table: &str, listed: &[String]) -> Result<Columns, String>;
    fn row(cols: &Columns, values: source::RawRow, source: &str) -> Self::Row;
    fn key(row: &Self::Row) -> [u8; centinela_shared::ROW_KEY_LEN];
    /// A rough size of the row's encoding.
    fn size(row: &Self::Row) -> usize;
    fn body(source: String, rows: Vec<Self::Row>) -> Body;
}

/// The CDR table (`[database] cdr_table`).
pub struct Cdr;

impl Table for Cdr {
    type Row = CdrRowV1;
    const KIND: &'static str = "cdr";
    const TIME_COLUMN: &'static str = "calldate";

    fn columns(table: &str, listed: &[String]) -> Result<Columns, String> {
        Columns::detect(
            table,
            listed,
            &["calldate", "uniqueid"],
            "cdr_table en [database] (debe ser la tabla cdr de Asterisk)",
        )
    }

    fn row(cols: &Columns, values: source::RawRow, _source: &str) -> CdrRowV1 {
        cols.row(values)
    }

    fn key(row: &CdrRowV1) -> [u8; centinela_shared::ROW_KEY_LEN] {
        row.key()
    }

    fn size(row: &CdrRowV1) -> usize {
        approx_size(row)
    }

    fn body(source: String, rows: Vec<CdrRowV1>) -> Body {
        Body::CdrBatchV1(CdrBatchV1 { source, rows })
    }
}

/// A `queue_log` table (Asterisk's realtime `queue_log`, `[queue_log] table`).
pub struct QueueLogTable;

impl Table for QueueLogTable {
    type Row = QueueLogEntryV1;
    const KIND: &'static str = "queue_log";
    const TIME_COLUMN: &'static str = "time";

    fn columns(table: &str, listed: &[String]) -> Result<Columns, String> {
        Columns::detect(
            table,
            listed,
            &["time", "callid", "queuename", "agent", "event"],
            "table en [queue_log] (debe ser la tabla queue_log de Asterisk)",
        )
    }

    fn row(cols: &Columns, values: source::RawRow, source: &str) -> QueueLogEntryV1 {
        cols.queue_log_entry(values, source)
    }

    fn key(row: &QueueLogEntryV1) -> [u8; centinela_shared::ROW_KEY_LEN] {
        row.key()
    }

    fn size(row: &QueueLogEntryV1) -> usize {
        48 + row.callid.len() + row.queue.len() + row.agent.len() + row.data.iter().map(String::len).sum::<usize>()
    }

    fn body(source: String, entries: Vec<QueueLogEntryV1>) -> Body {
        Body::QueueLogBatchV1(QueueLogBatchV1 { source, entries })
    }
}
/// A rough size of a row's encoding: its texts plus a little per field.
fn approx_size(r: &CdrRowV1) -> usize {
    let texts = [
        &r.calldate,
        &r.clid,
        &r.src,
        &r.dst,
        &r.dcontext,
        &r.channel,
        &r.dstchannel,
        &r.lastapp,
        &r.lastdata,
        &r.disposition,
        &r.amaflags,
        &r.accountcode,
        &r.uniqueid,
        &r.userfield,
    ];
    let optional = [
        &r.linkedid,
        &r.peeraccount,
        &r.did,
        &r.recordingfile,
        &r.cnum,
        &r.cnam,
        &r.outbound_cnum,
        &r.outbound_cnam,
        &r.dst_cnam,
    ];
    texts.iter().map(|t| t.len() + 2).sum::<usize>()
        + optional.iter().map(|t| t.as_ref().map_or(1, |t| t.len() + 3)).sum::<usize>()
        + r.extra.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>()
        + 32
}

/// Splits rows into envelope-sized chunks, in order.
pub fn chunks<R>(rows: Vec<R>, size: impl Fn(&R) -> usize) -> Vec<Vec<R>> {
    let mut out = Vec::new();
    let mut chunk = Vec::new();
    let mut bytes = 0;
    for r in rows {
        let n = size(&r);
        if !chunk.is_empty() && (chunk.len() >= MAX_ROWS_PER_BATCH || bytes + n > BATCH_BYTES) {
            out.push(std::mem::take(&mut chunk));
            bytes = 0;
        }
        bytes += n;
        chunk.push(r);
    }
    if !chunk.is_empty() {
        out.push(chunk);
    }
    out
}

/// Ships one table of the `[database]` connection.
pub struct TableShipper<T: Table> {
    progress: Progress,
    db: DatabaseConfig,
    table: String,
    settings: ShipSettings,
    /// `backend target table`: the ledger's source key and the batches' `source`.
    source: String,
    high: Option<chrono::NaiveDateTime>,
    /// Where the next poll goes on when the last one stopped at `max_pages` (in memory: after a
    /// restart the window is read from its start, which only costs reading rows again).
    resume: Option<(chrono::NaiveDateTime, usize)>,
    columns_seen: Option<Vec<String>>,
    kind: std::marker::PhantomData<T>,
}

/// The CDR shipper.
pub type CdrShipper = TableShipper<Cdr>;
/// The `queue_log` table shipper.
pub type QueueLogTableShipper = TableShipper<QueueLogTable>;

impl TableShipper<Cdr> {
    /// Ships `[database] cdr_table`; reads the ledger for it.
    pub fn new(
        db: DatabaseConfig,
        settings: ShipSettings,
        outbox: &mut Outbox,
    ) -> Result<Self, crate::outbox::OutboxError> {
        let table = db.cdr_table.clone();
        Self::open(db, table, settings, outbox)
    }
}

impl<T: Table> TableShipper<T> {
    /// Ships `table` of the `[database]` connection; reads the ledger for it.
    pub fn open(
        db: DatabaseConfig,
        table: String,
        settings: ShipSettings,
        outbox: &mut Outbox,
    ) -> Result<Self, crate::outbox::OutboxError> {
        let source = format!("{} {} {table}", db.target.backend(), db.target.describe());
        let high = outbox.batch(|b| ledger::open_table(b.sql(), T::KIND, &source))?;
        let high = high.as_deref().and_then(parse_calldate);
        Ok(Self {
            progress: Progress::default(),
            db,
            table,
            settings,
            source,
            high,
            resume: None,
            columns_seen: None,
            kind: std::marker::PhantomData,
        })
    }

    /// The newest time shipped.
    pub fn high(&self) -> Option<chrono::NaiveDateTime> {
        self.high
    }

    /// The progress reading for the next sample.
    pub fn reading(&self) -> ShippingV1 {
        self.progress.reading(T::KIND, &self.source, self.high.map(format_calldate))
    }

    /// [`TableShipper::poll_once`], with its result kept for [`TableShipper::reading`].
    pub async fn poll(&mut self, outbox: &mut Outbox, agent: &AgentId) -> Result<Shipped, String> {
        let result = self.poll_once(outbox, agent).await;
        let seen = match &result {
            Ok(s) => Ok((s.new, s.more, s.held_back)),
            Err(e) => Err(e.clone()),
        };
        self.progress.observe(&seen);
        result
    }

    /// Reads what is new and puts it in the outbox. An `Err` is Spanish and names the fix; what
    /// was committed before the error stays committed.
    pub async fn poll_once(&mut self, outbox: &mut Outbox, agent: &AgentId) -> Result<Shipped, String> {
        let mut shipped = Shipped::default();
        if outbox.records_bytes() as f64 > outbox.max_bytes() as f64 * HOLD_BACK_FRACTION {
            shipped.held_back = true;
            return Ok(shipped);
        }
        let mut src = Source::connect(&self.db).await?;
        let result = self.read(&mut src, outbox, agent, &mut shipped).await;
        src.close().await;
        result.map(|()| shipped)
    }

    async fn read(
        &mut self,
        src: &mut Source,
        outbox: &mut Outbox,
        agent: &AgentId,
        shipped: &mut Shipped,
    ) -> Result<(), String> {
        let cols = T::columns(&self.table, &src.columns(&self.table).await?)?;
        if self.columns_seen.as_ref() != Some(&cols.names) {
            tracing::info!(
                source = %self.source,
                columns = cols.names.len(),
                skipped = ?cols.skipped,
                "columns detected"
            );
            self.columns_seen = Some(cols.names.clone());
        }
        let time_at = cols.names.iter().position(|n| n == T::TIME_COLUMN).unwrap_or(0);
        let plan = self.settings.plan;
        let now = src.now().await?;
        let (mut from, mut limit) = self.resume.take().unwrap_or((window::start(self.high, now, &plan), plan.page));
        for page in 0..self.settings.max_pages {
            let raw = src.page(&cols, &self.table, T::TIME_COLUMN, &format_calldate(from), limit).await?;
            shipped.read += raw.len();
            let rows: Vec<(String, T::Row)> = raw
                .into_iter()
                .map(|v| {
                    let time = v.get(time_at).cloned().flatten().unwrap_or_default();
                    (time, T::row(&cols, v, &self.source))
                })
                .collect();
            let times: Vec<_> = rows.iter().map(|(t, _)| parse_calldate(t)).collect();
            if !times.is_empty() && times.iter().all(Option::is_none) {
                return Err(format!(
                    "la columna {} de la tabla {} no tiene fechas legibles (se esperaba AAAA-MM-DD HH:MM:SS)",
                    T::TIME_COLUMN,
                    self.table
                ));
            }
            let (high, next) = window::after_page(from, limit, &times, now, self.high, &plan);
            let (new, batches) = self.commit(outbox, agent, rows, high)?;
            self.high = high;
            shipped.new += new;
            shipped.batches += batches;
            match next {
                Next::Done => return Ok(()),
                Next::Page { from: f, limit: l } => {
                    from = f;
                    limit = l;
                    if page + 1 == self.settings.max_pages {
                        shipped.more = true;
                        self.resume = Some((from, limit));
                    }
                }
            }
        }
        Ok(())
    }

    /// One transaction: the rows not shipped yet go into envelopes, their identities into the
    /// ledger, and the cursor moves. Returns (rows, envelopes) added.
    fn commit(
        &self,
        outbox: &mut Outbox,
        agent: &AgentId,
        rows: Vec<(String, T::Row)>,
        high: Option<chrono::NaiveDateTime>,
    ) -> Result<(usize, usize), String> {
        let source = self.source.clone();
        let plan = self.settings.plan;
        outbox
            .batch(|b| {
                let mut fresh = Vec::new();
                for (time, r) in rows {
                    if ledger::mark_shipped(b.sql(), T::KIND, &T::key(&r), &time)? {
                        fresh.push(r);
                    }
                }
                let new = fresh.len();
                let parts = chunks(fresh, T::size);
                let batches = parts.len();
                let taken_ms = chrono::Utc::now().timestamp_millis();
                for rows in parts {
                    let body = T::body(source.clone(), rows);
                    b.push(Kind::Records, |seq, _| {
                        encode_envelope(&Envelope { v: WIRE_VERSION, agent: agent.to_string(), seq, taken_ms, body })
                    })?;
                }
                if let Some(h) = high {
                    let forget = format_calldate(window::forget_before(h, &plan));
                    ledger::advance(b.sql(), T::KIND, &source, &format_calldate(h), &forget)?;
                }
                Ok((new, batches))
            })
            .map_err(|e| format!("no se puede guardar {} en la bandeja de salida: {e}", T::KIND))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, text: usize) -> CdrRowV1 {
        CdrRowV1 { uniqueid: format!("1795773098.{i}"), lastdata: "x".repeat(text), ..CdrRowV1::default() }
    }

    #[test]
    fn rows_are_split_by_count_and_by_size_in_order() {
        let parts = chunks((0..1200).map(|i| row(i, 10)).collect(), approx_size);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![500, 500, 200]);
        assert_eq!(parts[1][0].uniqueid, "1795773098.500");
        let parts = chunks((0..100).map(|i| row(i, 4000)).collect(), approx_size);
        assert!(parts.len() > 1 && parts.iter().all(|p| p.iter().map(approx_size).sum::<usize>() <= BATCH_BYTES));
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 100);
        assert!(chunks(Vec::new(), approx_size).is_empty());
    }

    #[test]
    fn an_error_or_a_full_outbox_is_a_warning_and_a_good_poll_clears_the_error() {
        let mut p = Progress::default();
        p.observe(&Ok((76, false, false)));
        let r = p.reading("cdr", "mariadb 127.0.0.1:3306/asteriskcdrdb cdr", Some("2026-11-27 10:00:00".into()));
        assert_eq!((r.shipped, r.verdict.level), (76, Level::Ok));
        p.observe(&Err("la tabla cdr no tiene la columna uniqueid".into()));
        let r = p.reading("cdr", "s", None);
        assert_eq!(r.verdict.level, Level::Warning);
        assert_eq!(
            r.verdict.reasons[0],
            "el CDR no se está enviando al colector: la tabla cdr no tiene la columna uniqueid"
        );
        p.observe(&Ok((0, false, true)));
        let r = p.reading("queue_log", "/var/log/asterisk/queue_log", None);
        assert_eq!((r.error, r.held_back, r.shipped), (None, true, 76));
        assert!(r.verdict.reasons[0].starts_with("queue_log espera"), "{:?}", r.verdict);
    }

    #[test]
    fn the_largest_batch_fits_the_wire_limit() {
        let rows: Vec<CdrRowV1> = (0..MAX_ROWS_PER_BATCH).map(|i| row(i, 150)).collect();
        for part in chunks(rows, approx_size) {
            let env = Envelope {
                v: WIRE_VERSION,
                agent: "pbx".into(),
                seq: 1,
                taken_ms: 0,
                body: Body::CdrBatchV1(CdrBatchV1 { source: "s".into(), rows: part }),
            };
            let n = encode_envelope(&env).len();
            assert!(n < centinela_shared::MAX_PAYLOAD_BYTES / 2, "{n} bytes");
        }
    }
}
