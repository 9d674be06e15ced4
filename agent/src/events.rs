//! Self-observation as named events: each struct both logs (structured, via `tracing`) and counts,
//! so call sites stay one line and the counters can be reported.

use std::sync::atomic::{AtomicU64, Ordering};

pub static PROBE_FAILURES: AtomicU64 = AtomicU64::new(0);
pub static OUTBOX_DROPPED: AtomicU64 = AtomicU64::new(0);
pub static BROKER_DISCONNECTS: AtomicU64 = AtomicU64::new(0);
pub static COMMANDS_REFUSED: AtomicU64 = AtomicU64::new(0);

pub struct ProbeFailed<'a> {
    pub probe: &'a str,
    pub reason: &'a str,
}

impl ProbeFailed<'_> {
    pub fn emit(self) {
        PROBE_FAILURES.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(probe = self.probe, reason = self.reason, "probe failed");
    }
}

pub struct OutboxFull {
    pub dropped: u64,
    pub max_bytes: u64,
}

impl OutboxFull {
    pub fn emit(self) {
        OUTBOX_DROPPED.fetch_add(self.dropped, Ordering::Relaxed);
        tracing::warn!(
            dropped = self.dropped,
            max_bytes = self.max_bytes,
            "outbox full: oldest samples dropped; raise [outbox] max_mb or restore the broker connection"
        );
    }
}

pub struct BrokerDisconnected<'a> {
    pub broker: &'a str,
    pub error: &'a str,
    pub retry_in_ms: u64,
}

impl BrokerDisconnected<'_> {
    pub fn emit(self) {
        BROKER_DISCONNECTS.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            broker = self.broker,
            error = self.error,
            retry_in_ms = self.retry_in_ms,
            "broker unreachable; samples stay in the outbox"
        );
    }
}

/// A command from the collector was not run (expired, for another agent, unknown kind...).
pub struct CommandRefused<'a> {
    pub request_id: u64,
    pub reason: &'a str,
}

impl CommandRefused<'_> {
    pub fn emit(self) {
        COMMANDS_REFUSED.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(request_id = self.request_id, reason = self.reason, "command refused");
    }
}
