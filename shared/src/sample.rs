//! The sample envelope and everything it carries.
//!
//! Invariants (postcard has no field names and no tags, see `rust-stack.md` §3):
//! - A field is never added to, removed from or moved inside an existing struct. A new shape is a new
//!   enum variant appended at the end ([`Body`], [`Reading`], [`Outcome`], [`BirthMsg`]).
//! - [`Envelope::v`] is [`WIRE_VERSION`]; a collector refuses versions it does not know instead of
//!   misreading them.
//! - `seq` is per agent, starts at 1 and increases by one per sample; `(agent, seq)` identifies a
//!   sample for ever, which is what makes redelivery harmless.

use serde::{Deserialize, Serialize};

/// The envelope format version. Bumped only for a change old collectors cannot read at all.
pub const WIRE_VERSION: u8 = 1;

/// One message on `centinela/v1/<agent>/sample`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`WIRE_VERSION`] of the agent that wrote it.
    pub v: u8,
    /// The agent id, the same as in the topic.
    pub agent: String,
    /// Per-agent sequence number, 1, 2, 3, ... with no gaps unless the outbox dropped records.
    pub seq: u64,
    /// When the sample was taken, milliseconds since the Unix epoch (UTC).
    pub taken_ms: i64,
    /// What was sampled.
    pub body: Body,
}

/// The envelope's payload. Append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Body {
    /// A periodic (or on-demand) sample of every probe.
    SampleV1(SampleV1),
}

/// A periodic sample: the agent's own state, what each probe did, and what each probe read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleV1 {
    /// The agent's package version, e.g. `0.1.0`.
    pub agent_version: String,
    /// The configured sampling interval, in milliseconds (the collector derives staleness from it).
    pub interval_ms: u32,
    /// The agent's store-and-forward outbox at the time the sample was taken.
    pub outbox: OutboxStats,
    /// One entry per probe that ran, in a stable order.
    pub probes: Vec<ProbeReport>,
    /// What the probes read. Append-only enum; one probe can contribute several readings.
    pub readings: Vec<Reading>,
}

/// Self-observation of the agent's outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OutboxStats {
    /// Records waiting for a broker acknowledgement (before this sample was added).
    pub backlog: u64,
    /// Records discarded because the outbox was full, counted since the state directory was created.
    pub dropped_total: u64,
}

/// What one probe did during one sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The probe's wire name, the same word as its file, config section and log field (`host`, ...).
    pub probe: String,
    /// Whether it worked, did not apply to this host, or broke.
    pub outcome: Outcome,
    /// How long it took, in microseconds.
    pub duration_us: u32,
}

/// A probe's outcome. "Absent" is not "failed": a host without md arrays is not applicable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// The thing probed does not exist on this host; the reason says what was looked for.
    NotApplicable(String),
    /// The probe broke; the reason says what failed and, where known, how to fix it.
    Failed(String),
}

/// One reading. Append-only: a new probe adds a variant at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Reading {
    /// CPU, memory, load and uptime (probe `host`).
    HostV1(HostV1),
    /// One mounted filesystem (probe `filesystems`).
    FilesystemV1(FilesystemV1),
}

/// Host basics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostV1 {
    pub hostname: String,
    pub kernel: String,
    pub os: String,
    /// Seconds since boot.
    pub uptime_s: u64,
    /// Average CPU busy share across all cores since the previous sample, in percent (0..=100).
    pub cpu_percent: f32,
    pub cpu_count: u16,
    pub load1: f32,
    pub load5: f32,
    pub load15: f32,
    pub mem_total_bytes: u64,
    pub mem_available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
}

/// One mounted filesystem with its usage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilesystemV1 {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub read_only: bool,
}

impl FilesystemV1 {
    /// Used share in percent, 0 for an empty (zero-sized) filesystem.
    pub fn used_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        let used = self.total_bytes.saturating_sub(self.available_bytes);
        used as f64 * 100.0 / self.total_bytes as f64
    }
}

/// The retained message on `centinela/v1/<agent>/birth`: who the agent is and how it is configured.
/// Append-only enum, like [`Body`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BirthMsg {
    V1(BirthV1),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BirthV1 {
    pub agent: String,
    pub agent_version: String,
    pub hostname: String,
    /// Wire names of the probes this agent runs.
    pub probes: Vec<String>,
    /// SHA-256 (hex) of the configuration file as read, so a changed config is visible centrally.
    pub config_hash: String,
    pub interval_ms: u32,
    /// When the agent (re)connected, milliseconds since the Unix epoch.
    pub started_ms: i64,
}
