//! Notifications (issue 5): an email to the people concerned and a JSON webhook call to the service
//! desk when a ticket is created, assigned or closed.
//!
//! Invariants:
//! - A notification is a row in `notifications`, written by [`enqueue`] inside the ticket change's
//!   own transaction: it exists if and only if that change committed. Enqueueing is one INSERT; no
//!   network I/O ever happens on the caller's path, so a dead mail server cannot block a ticket.
//! - Delivery is at least once: a worker records the attempt *before* it is made, and success after.
//!   A crash in between means one more attempt at the retry time (emails keep their Message-ID,
//!   webhook calls their `Idempotency-Key`, so duplicates can be recognised).
//! - Each channel has its own thread, connection and runtime ([`spawn`]): a slow SMTP server never
//!   delays the webhook, nor the reverse. Rows of one channel go out one at a time, oldest due first.
//! - A failed attempt is retried on [`Schedule`] (1 min, 5 min, 15 min, 1 h, then every 6 h) until
//!   2 days after enqueueing, then marked given up. Nothing is deleted: failures stay visible
//!   ([`recent`], [`counts`]), with the last error in Spanish for the people who read it.
//! - After the INSERT, only the workers write a row, and only its delivery columns, each on its
//!   own connection; SQLite (WAL, busy timeout) serialises them with the store's other writers.
//! - Secrets (SMTP password, webhook token, the URL's query) are never in logs, errors or `Debug`.

pub mod config;
pub mod email;
pub mod message;
pub mod queue;
pub mod webhook;
mod worker;

pub use config::{EmailConfig, Notify, RawEmail, RawNotify, RawWebhook, Security, WebhookConfig};
pub use message::{SERVICE_DESK_WEBHOOK, TicketEvent, email_body, email_subject, for_ticket_event, webhook_payload};
pub use queue::{
    Channel, Counts, NewNotification, NotificationRow, Schedule, Status, counts, enqueue, recent, retry_now,
};
pub use worker::{Notifier, Options, SpawnError, Waker, spawn};

/// Enqueues the notifications for `e` on the configured channels (see [`for_ticket_event`]) in
/// `tx`, the ticket change's transaction. Call [`Waker::wake`] after the commit.
pub fn enqueue_ticket_event(
    tx: &rusqlite::Connection,
    notify: &Notify,
    e: &TicketEvent,
    also_to: &[&str],
) -> rusqlite::Result<Vec<i64>> {
    for_ticket_event(notify, e, also_to).iter().map(|n| enqueue(tx, n)).collect()
}
