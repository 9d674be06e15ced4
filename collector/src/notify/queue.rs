//! The `notifications` table as a durable queue, and the retry schedule as a pure function.
//!
//! A row's life: enqueued (due at once) → claimed (`attempts` + 1, `next_attempt_at` pushed to the
//! retry time *before* any I/O) → delivered (`delivered_at`) or failed (`last_error`, retried at
//! `next_attempt_at`) → … → given up (`given_up_at`) once [`Schedule::give_up_after`] has passed
//! since it was enqueued. Rows are never deleted here: delivered and given-up rows stay visible.

use rusqlite::{Connection, OptionalExtension, params};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Webhook];

    /// The word stored in the `channel` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A notification to store; see [`NewNotification::email`] and [`NewNotification::webhook`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    pub channel: Channel,
    /// Email address, or the webhook's name.
    pub recipient: String,
    pub subject: String,
    /// The email's plain text (`None` for a webhook).
    pub body: Option<String>,
    /// The webhook's JSON (`None` for an email).
    pub payload: Option<String>,
    pub ticket_id: Option<i64>,
    pub event: String,
}

/// Where a row stands, for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for its first attempt, or being attempted.
    Pending,
    /// Failed at least once; will be tried again at `next_attempt_at`.
    Retrying,
    Delivered,
    GivenUp,
}

impl Status {
    /// The word the page shows.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pending => "pendiente",
            Status::Retrying => "reintentando",
            Status::Delivered => "entregada",
            Status::GivenUp => "abandonada",
        }
    }
}

/// A row as the page shows it (without the body and payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    pub id: i64,
    pub created_at: i64,
    pub channel: Channel,
    pub recipient: String,
    pub subject: String,
    pub ticket_id: Option<i64>,
    pub event: String,
    pub attempts: u32,
    pub last_attempt_at: Option<i64>,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
    pub given_up_at: Option<i64>,
}

impl NotificationRow {
    pub fn status(&self) -> Status {
        match (self.delivered_at, self.given_up_at, &self.last_error) {
            (Some(_), _, _) => Status::Delivered,
            (None, Some(_), _) => Status::GivenUp,
            (None, None, Some(_)) => Status::Retrying,
            (None, None, None) => Status::Pending,
        }
    }
}

/// How many rows are not delivered, by why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Not attempted yet, or being attempted, with no failure so far.
    pub pending: u64,
    /// Failed at least once and will be tried again.
    pub failed_retrying: u64,
    /// No more attempts: the schedule ran out, or the notification can never be delivered.
    pub given_up: u64,
}

/// When to try again after a failure, and when to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Wait after the 1st, 2nd… failed attempt; the last entry repeats.
    pub backoff: Vec<Duration>,
    /// No attempt starts later than this after the row was enqueued.
    pub give_up_after: Duration,
}

impl Default for Schedule {
    /// 1 min, 5 min, 15 min, 1 h, then every 6 h, for 2 days: a mail server down over a weekend
    /// night is caught up on, a wrong address does not keep failing for ever.
    fn default() -> Self {
        Self {
            backoff: [60, 300, 900, 3600, 6 * 3600].map(Duration::from_secs).to_vec(),
            give_up_after: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Schedule {
    /// The wait after the `attempt`-th attempt (1-based) failed.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) - 1) as usize;
        self.backoff.get(i).or(self.backoff.last()).copied().unwrap_or(Duration::from_secs(60))
    }

    /// After attempt number `attempt` failed at `now_ms`: `Some(next attempt)`, or `None` to give up.
    /// The last attempt falls exactly on the deadline rather than being skipped.
    pub fn next_attempt(&self, created_at: i64, attempt: u32, now_ms: i64) -> Option<i64> {
        let deadline = created_at.saturating_add(ms(self.give_up_after));
        if now_ms >= deadline {
            return None;
        }
        Some(now_ms.saturating_add(ms(self.delay_after(attempt))).min(deadline))
    }
}

/// Stores `n`, due at once, and returns its id. Call it inside the transaction that makes the
/// change it tells about: the notification then exists if and only if that change committed.
pub fn enqueue(tx: &Connection, n: &NewNotification) -> rusqlite::Result<i64> {
    enqueue_at(tx, n, chrono::Utc::now().timestamp_millis())
}

/// [`enqueue`] at a given time.
pub fn enqueue_at(tx: &Connection, n: &NewNotification, now_ms: i64) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO notifications (created_at, channel, recipient, subject, body, payload, ticket_id, event, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?1)",
    )?
    .execute(params![now_ms, n.channel.as_str(), n.recipient, n.subject, n.body, n.payload, n.ticket_id, n.event])?;
    Ok(tx.last_insert_rowid())
}

/// A row taken for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: i64,
    pub created_at: i64,
    pub recipient: String,
    pub subject: String,
    pub body: Option<String>,
    pub payload: Option<String>,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// Takes the oldest due row of `channel`, if any, and records the attempt before it is made: if the
/// process dies during delivery, the row comes due again at its retry time, not in a tight loop.
/// One write transaction, so two workers on one database can never take the same row.
pub fn claim_due(
    conn: &Connection,
    channel: Channel,
    schedule: &Schedule,
    now_ms: i64,
) -> rusqlite::Result<Option<Claimed>> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let row = tx
        .prepare_cached(
            "SELECT id, created_at, recipient, subject, body, payload, attempts FROM notifications
             WHERE channel = ?1 AND delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= ?2
             ORDER BY next_attempt_at, id LIMIT 1",
        )?
        .query_row(params![channel.as_str(), now_ms], |r| {
            Ok(Claimed {
                id: r.get(0)?,
                created_at: r.get(1)?,
                recipient: r.get(2)?,
                subject: r.get(3)?,
                body: r.get(4)?,
                payload: r.get(5)?,
                attempt: r.get::<_, u32>(6)?.saturating_add(1),
            })
        })
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let lease = now_ms.saturating_add(ms(schedule.delay_after(row.attempt)));
    tx.prepare_cached(
        "UPDATE notifications SET attempts = ?2, last_attempt_at = ?3, next_attempt_at = ?4 WHERE id = ?1",
    )?
    .execute(params![row.id, row.attempt, now_ms, lease])?;
    tx.commit()?;
    Ok(Some(row))
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Worth trying again (server down, timeout, 5xx…). The text is shown to people, in Spanish.
    Failed(String),
    /// Can never succeed as stored (an address that is not one): given up at once.
    Permanent(String),
}

/// What [`record`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    RetryAt(i64),
    GivenUp,
}

/// Records how the attempt on `row` ended.
pub fn record(
    conn: &Connection,
    row: &Claimed,
    outcome: &Outcome,
    schedule: &Schedule,
    now_ms: i64,
) -> rusqlite::Result<Recorded> {
    let (recorded, error) = match outcome {
        Outcome::Delivered => (Recorded::Delivered, None),
        Outcome::Failed(e) => match schedule.next_attempt(row.created_at, row.attempt, now_ms) {
            Some(at) => (Recorded::RetryAt(at), Some(e)),
            None => (Recorded::GivenUp, Some(e)),
        },
        Outcome::Permanent(e) => (Recorded::GivenUp, Some(e)),
    };
    match recorded {
        Recorded::Delivered => conn
            .prepare_cached("UPDATE notifications SET delivered_at = ?2 WHERE id = ?1")?
            .execute(params![row.id, now_ms])?,
        Recorded::RetryAt(at) => conn
            .prepare_cached("UPDATE notifications SET last_error = ?2, next_attempt_at = ?3 WHERE id = ?1")?
            .execute(params![row.id, error, at])?,
        Recorded::GivenUp => conn
            .prepare_cached("UPDATE notifications SET last_error = ?2, given_up_at = ?3 WHERE id = ?1")?
            .execute(params![row.id, error, now_ms])?,
    };
    Ok(recorded)
}

/// When the next row of `channel` comes due, if any is waiting.
pub fn next_due(conn: &Connection, channel: Channel) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT min(next_attempt_at) FROM notifications
         WHERE channel = ?1 AND delivered_at IS NULL AND given_up_at IS NULL",
    )?
    .query_row([channel.as_str()], |r| r.get(0))
}

/// Makes a row that is not delivered due now, given up or not: the page's "reintentar" once the
/// cause is fixed. A row past its deadline gets this one attempt only. Returns whether there was
/// such a row.
pub fn retry_now(conn: &Connection, id: i64, now_ms: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE notifications SET given_up_at = NULL, next_attempt_at = ?2
         WHERE id = ?1 AND delivered_at IS NULL",
        params![id, now_ms],
    )?;
    Ok(n == 1)
}

/// The newest `limit` rows, newest first.
pub fn recent(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<NotificationRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, created_at, channel, recipient, subject, ticket_id, event, attempts, last_attempt_at,
                next_attempt_at, last_error, delivered_at, given_up_at
         FROM notifications ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
        let channel: String = r.get(2)?;
        Ok(NotificationRow {
            id: r.get(0)?,
            created_at: r.get(1)?,
            channel: Channel::parse(&channel).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, "unknown channel".into())
            })?,
            recipient: r.get(3)?,
            subject: r.get(4)?,
            ticket_id: r.get(5)?,
            event: r.get(6)?,
            attempts: r.get(7)?,
            last_attempt_at: r.get(8)?,
            next_attempt_at: r.get(9)?,
            last_error: r.get(10)?,
            delivered_at: r.get(11)?,
            given_up_at: r.get(12)?,
        })
    })?;
    rows.collect()
}

/// Rows not delivered, by why (for a badge on the dashboard).
pub fn counts(conn: &Connection) -> rusqlite::Result<Counts> {
    conn.query_row(
        "SELECT
            count(*) FILTER (WHERE given_up_at IS NULL AND last_error IS NULL),
            count(*) FILTER (WHERE given_up_at IS NULL AND last_error IS NOT NULL),
            count(*) FILTER (WHERE given_up_at IS NOT NULL)
         FROM notifications WHERE delivered_at IS NULL",
        [],
        |r| {
            let n = |i| r.get::<_, i64>(i).map(|n| n.unsigned_abs());
            Ok(Counts { pending: n(0)?, failed_retrying: n(1)?, given_up: n(2)? })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open_writer(dir.path()).unwrap();
        (dir, conn)
    }

    fn webhook(ticket: i64) -> NewNotification {
        NewNotification {
            channel: Channel::Webhook,
            recipient: "mesa de servicio".into(),
            subject: format!("[Centinela] Ticket #{ticket} creado: x"),
            body: None,
            payload: Some("{}".into()),
            ticket_id: Some(ticket),
            event: "creado".into(),
        }
    }

    #[test]
    fn the_default_schedule_backs_off_then_repeats_every_six_hours() {
        let s = Schedule::default();
        let waits: Vec<u64> = (1..=7).map(|a| s.delay_after(a).as_secs() / 60).collect();
        assert_eq!(waits, [1, 5, 15, 60, 360, 360, 360]);
    }

    #[test]
    fn the_last_attempt_falls_on_the_deadline_and_then_the_schedule_gives_up() {
        let s = Schedule::default();
        let two_days = 2 * 24 * 60 * MIN;
        assert_eq!(s.next_attempt(0, 1, 0), Some(MIN));
        assert_eq!(s.next_attempt(0, 9, two_days - MIN), Some(two_days));
        assert_eq!(s.next_attempt(0, 10, two_days), None);
    }

    #[test]
    fn a_row_is_due_at_once_and_claiming_it_pushes_it_to_its_retry_time() {
        let (_d, conn) = db();
        let s = Schedule::default();
        let id = enqueue_at(&conn, &webhook(1), 1000).unwrap();
        assert_eq!(claim_due(&conn, Channel::Email, &s, 1000).unwrap(), None, "other channel");
        let c = claim_due(&conn, Channel::Webhook, &s, 1000).unwrap().unwrap();
        assert_eq!((c.id, c.attempt), (id, 1));
        // Claimed but not yet recorded (as after a crash): not due again until the retry time.
        assert_eq!(claim_due(&conn, Channel::Webhook, &s, 1000 + MIN - 1).unwrap(), None);
        assert_eq!(next_due(&conn, Channel::Webhook).unwrap(), Some(1000 + MIN));
        assert_eq!(claim_due(&conn, Channel::Webhook, &s, 1000 + MIN).unwrap().unwrap().attempt, 2);
    }

    #[test]
    fn failures_stay_visible_until_delivery_and_counts_follow_them() {
        let (_d, conn) = db();
        let s = Schedule::default();
        enqueue_at(&conn, &webhook(1), 0).unwrap();
        enqueue_at(&conn, &webhook(2), 0).unwrap();
        assert_eq!(counts(&conn).unwrap(), Counts { pending: 2, failed_retrying: 0, given_up: 0 });

        let c = claim_due(&conn, Channel::Webhook, &s, 0).unwrap().unwrap();
        let r = record(&conn, &c, &Outcome::Failed("el webhook respondió 500".into()), &s, 10).unwrap();
        assert_eq!(r, Recorded::RetryAt(10 + MIN));
        assert_eq!(counts(&conn).unwrap(), Counts { pending: 1, failed_retrying: 1, given_up: 0 });
        let rows = recent(&conn, 10).unwrap();
        assert_eq!(rows[1].status(), Status::Retrying);
        assert_eq!(rows[1].last_error.as_deref(), Some("el webhook respondió 500"));

        let c = claim_due(&conn, Channel::Webhook, &s, 20).unwrap().unwrap();
        assert_eq!(c.ticket_id_for_test(&conn), 2);
        record(&conn, &c, &Outcome::Permanent("dirección no válida".into()), &s, 20).unwrap();
        let c = claim_due(&conn, Channel::Webhook, &s, 10 + MIN).unwrap().unwrap();
        assert_eq!(record(&conn, &c, &Outcome::Delivered, &s, 11 + MIN).unwrap(), Recorded::Delivered);
        assert_eq!(counts(&conn).unwrap(), Counts { pending: 0, failed_retrying: 0, given_up: 1 });
        let rows = recent(&conn, 10).unwrap();
        assert_eq!((rows[0].status(), rows[1].status()), (Status::GivenUp, Status::Delivered));
        assert_eq!(rows[1].attempts, 2);
        assert_eq!(next_due(&conn, Channel::Webhook).unwrap(), None);
    }

    #[test]
    fn a_given_up_row_can_be_retried_from_the_page() {
        let (_d, conn) = db();
        let s = Schedule::default();
        let id = enqueue_at(&conn, &webhook(1), 0).unwrap();
        let c = claim_due(&conn, Channel::Webhook, &s, 0).unwrap().unwrap();
        record(&conn, &c, &Outcome::Permanent("x".into()), &s, 0).unwrap();
        assert!(retry_now(&conn, id, 5).unwrap());
        assert_eq!(claim_due(&conn, Channel::Webhook, &s, 5).unwrap().map(|c| c.id), Some(id));
        assert!(!retry_now(&conn, 999, 5).unwrap());
    }

    impl Claimed {
        fn ticket_id_for_test(&self, conn: &Connection) -> i64 {
            conn.query_row("SELECT ticket_id FROM notifications WHERE id = ?1", [self.id], |r| r.get(0)).unwrap()
        }
    }
}
