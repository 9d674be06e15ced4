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
    /// CDR rows shipped for the monthly reports.
    CdrBatchV1(crate::cdr::CdrBatchV1),
    /// `queue_log` lines shipped for the monthly reports.
    QueueLogBatchV1(crate::cdr::QueueLogBatchV1),
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
    /// One md software RAID array (probe `raid`).
    RaidArrayV1(RaidArrayV1),
    /// One temperature sensor of a hwmon chip (probe `sensors`).
    TemperatureV1(TemperatureV1),
    /// One fan of a hwmon chip (probe `sensors`).
    FanV1(FanV1),
    /// One ATA disk (SATA, or behind a bridge that passes ATA commands) read through SG_IO
    /// (probe `smart`).
    AtaDiskV1(AtaDiskV1),
    /// One NVMe controller read through NVME_IOCTL_ADMIN_CMD (probe `smart`).
    NvmeDiskV1(NvmeDiskV1),
    /// Asterisk as seen over AMI (probe `asterisk`).
    AsteriskV1(AsteriskV1),
    /// The CDR database: liveness and freshness (probe `database`).
    DatabaseV1(DatabaseV1),
    /// The VoIP admin web application (FreePBX, Issabel) over HTTP(S) (probe `admin_app`).
    AdminAppV1(AdminAppV1),
    /// How far CDR rows or `queue_log` lines have been shipped to the collector (not a probe: the
    /// agent's shippers add it to every sample).
    ShippingV1(ShippingV1),
}

/// Whether Asterisk's manager interface answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AmiState {
    /// Connected and logged in.
    Up,
    /// Nothing listens (connection refused, host unreachable, connect timeout): Asterisk is down.
    Down(String),
    /// AMI answered but refused the login (user, secret or permissions).
    LoginRefused(String),
    /// The TCP connection is up but AMI does not answer in time: Asterisk is wedged.
    Wedged(String),
    /// The conversation broke some other way (protocol error, connection lost mid-way).
    Error(String),
}

/// One queue (QueueSummary plus QueueStatus).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueV1 {
    pub name: String,
    /// Callers waiting now.
    pub callers: u32,
    /// Seconds the longest-waiting caller has waited.
    pub longest_wait_s: u64,
    pub members_logged_in: u32,
    /// Logged in, not paused, and not in a call or unavailable.
    pub members_available: u32,
    pub members_paused: u32,
    pub verdict: Verdict,
}

/// One outbound SIP registration (PJSIP `PJSIPShowRegistrationsOutbound`, or chan_sip registry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationV1 {
    pub name: String,
    /// The registrar, e.g. `sip:sip.carrier.example:5060`.
    pub server_uri: String,
    /// As Asterisk words it: Registered, Unregistered, Rejected, Failed, ...
    pub status: String,
    pub verdict: Verdict,
}

/// One PJSIP endpoint (or chan_sip peer) and the reachability of its contacts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointV1 {
    pub name: String,
    /// Device state as Asterisk reports it: Not in use, In use, Unavailable, ...
    pub device_state: String,
    pub contacts_total: u32,
    /// Contacts whose qualify status is Reachable (or not qualified but present).
    pub contacts_reachable: u32,
    /// An endpoint with an outbound registration or a static contact that is not a desk phone:
    /// a trunk, whose loss is critical.
    pub trunk: bool,
    pub verdict: Verdict,
}

/// Asterisk over AMI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsteriskV1 {
    pub ami: AmiState,
    pub version: Option<String>,
    pub uptime_s: Option<u64>,
    /// Seconds since the last `module reload` / `core reload`.
    pub since_reload_s: Option<u64>,
    pub active_channels: Option<u32>,
    pub active_calls: Option<u32>,
    pub calls_processed: Option<u64>,
    /// The longest-lived channel and its age, for stuck channels.
    pub longest_channel: Option<String>,
    pub longest_channel_s: Option<u64>,
    pub queues: Vec<QueueV1>,
    pub registrations: Vec<RegistrationV1>,
    pub endpoints: Vec<EndpointV1>,
    /// chan_sip peers and registry; `None` where chan_sip is not loaded (not applicable).
    pub sip_peers: Option<Vec<EndpointV1>>,
    pub sip_registry: Option<Vec<RegistrationV1>>,
    pub verdict: Verdict,
}

/// The CDR database (MariaDB/MySQL, PostgreSQL or SQLite): does it answer, and are calls still
/// being written to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseV1 {
    /// "mariadb" (also MySQL), "postgresql" or "sqlite".
    pub backend: String,
    /// `host:port/database` or the SQLite file path; never a password.
    pub target: String,
    /// Connected, logged in and the CDR table could be read.
    pub connected: bool,
    /// Why not, in Spanish, with the fix.
    pub error: Option<String>,
    pub connect_ms: Option<u32>,
    /// Latency of a trivial query (`SELECT 1`).
    pub query_ms: Option<u32>,
    /// `MAX(calldate)` as the database renders it; `None` with an empty table.
    pub newest_calldate: Option<String>,
    /// Age of the newest row by the database's own clock.
    pub newest_age_s: Option<u64>,
    pub rows_last_hour: Option<u64>,
    pub verdict: Verdict,
}

/// The VoIP admin web application (FreePBX, Issabel): does it answer one `GET`, how fast, and the
/// TLS certificate it presents. Redirects are reported, not followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminAppV1 {
    /// The configured url, e.g. `https://127.0.0.1/admin`; never credentials (the config refuses them).
    pub url: String,
    /// An HTTP response head was read (whatever its status).
    pub reachable: bool,
    /// Why not, or what broke after the head, in Spanish, with the fix.
    pub error: Option<String>,
    /// The HTTP status code, e.g. 200, 302, 401.
    pub status: Option<u16>,
    /// Milliseconds from the start of the connection to the end of the response head.
    pub latency_ms: Option<u32>,
    /// The `Location` header of a redirect, as sent.
    pub location: Option<String>,
    /// The server's certificate (`https://` only, once the handshake completed).
    pub tls: Option<TlsCertV1>,
    pub verdict: Verdict,
}

/// The leaf certificate a TLS server presented, read but not required to be valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCertV1 {
    /// Subject distinguished name, RFC 4514 (`CN=pbx.example.com,O=...`).
    pub subject: String,
    /// Issuer distinguished name, RFC 4514.
    pub issuer: String,
    /// notAfter as `YYYY-MM-DD HH:MM:SS UTC`.
    pub not_after: String,
    /// Whole days from the sample to notAfter, rounded down; negative once expired.
    pub days_left: i64,
    /// Subject and issuer are the same name: normal for a PBX's admin app, shown but not judged.
    pub self_signed: bool,
    /// The chain verifies (signatures and dates) up to a root in the agent host's trust store.
    pub trusted: bool,
    /// A subjectAltName of the certificate covers the url's host (name or IP address).
    pub hostname_matches: bool,
}

/// How far a disk could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskAccess {
    /// Its health data was read (possibly partly: see the disk's `errors`).
    Read,
    /// The disk was in standby and was not woken up ("standby, skipped").
    Standby,
    /// The device does not pass the commands through (USB bridge, hardware RAID); the reason names
    /// the sense key and ASC/ASCQ, or what else said no. Not a disk failure.
    NotSupported(String),
    /// The agent lacks the privilege (CAP_SYS_RAWIO for SG_IO, CAP_SYS_ADMIN for NVMe admin).
    PermissionDenied(String),
    /// Opening or talking to the device failed.
    Error(String),
}

/// SMART RETURN STATUS, as the disk's own overall self-assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmartStatus {
    Passed,
    Failing,
    /// Registers that are neither PASSED (0x4F/0xC2) nor FAILING (0xF4/0x2C).
    Unknown,
}

/// One ATA SMART attribute with its threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtaAttributeV1 {
    pub id: u8,
    /// The usual name for well-known ids, else "Unknown_Attribute".
    pub name: String,
    pub flags: u16,
    /// Flag bit 0: a pre-fail attribute (at or below threshold means imminent failure).
    pub prefail: bool,
    pub value: u8,
    pub worst: u8,
    /// From SMART READ THRESHOLDS, when it could be read.
    pub threshold: Option<u8>,
    /// The 48-bit raw value, little-endian as stored.
    pub raw: u64,
    /// A pre-fail attribute whose value is at or below its (non-zero) threshold now.
    pub failing_now: bool,
}

/// One ATA disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtaDiskV1 {
    /// The block device name, e.g. `sda`.
    pub device: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub capacity_bytes: Option<u64>,
    /// `Some(false)` for a solid-state disk (IDENTIFY word 217 = 1), `None` when not reported.
    pub rotational: Option<bool>,
    pub access: DiskAccess,
    pub smart_status: Option<SmartStatus>,
    pub attributes: Vec<AtaAttributeV1>,
    /// Key figures, from the raw values: 5, 197, 198, 187, 188, 199, 9, and 194 (else 190).
    pub reallocated: Option<u64>,
    pub pending: Option<u64>,
    pub offline_uncorrectable: Option<u64>,
    pub reported_uncorrectable: Option<u64>,
    pub command_timeout: Option<u64>,
    pub udma_crc_errors: Option<u64>,
    pub power_on_hours: Option<u64>,
    pub temperature_c: Option<i16>,
    /// What could not be read, disk by disk (the rest is still reported).
    pub errors: Vec<String>,
    pub verdict: Verdict,
}

/// One NVMe controller and its SMART / Health log (page 0x02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NvmeDiskV1 {
    /// The controller, e.g. `nvme0`.
    pub device: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub firmware: Option<String>,
    pub access: DiskAccess,
    /// The critical warning byte, and its set bits by name (spare, temperature, reliability,
    /// read_only, volatile_backup, pmr_read_only).
    pub critical_warning: Option<u8>,
    pub critical_warnings: Vec<String>,
    /// Composite temperature in °C (the log has Kelvin).
    pub temperature_c: Option<i16>,
    pub available_spare_pct: Option<u8>,
    pub spare_threshold_pct: Option<u8>,
    /// May exceed 100.
    pub percentage_used: Option<u8>,
    pub media_errors: Option<u64>,
    pub unsafe_shutdowns: Option<u64>,
    pub power_on_hours: Option<u64>,
    /// Data units written × 512,000 bytes.
    pub data_written_bytes: Option<u64>,
    pub errors: Vec<String>,
    pub verdict: Verdict,
}

/// How serious a reading is, as computed in the agent from documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    Ok,
    Warning,
    Critical,
}

/// A health verdict: the level and the reasons in words (Spanish, as the technician reads them).
/// A warning or critical verdict always has a reason; an ok one only when it explains something
/// (a sync in progress, an unconnected sensor).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub level: Level,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn ok() -> Self {
        Self { level: Level::Ok, reasons: Vec::new() }
    }

    /// Raises the level to at least `level`, adding the reason.
    pub fn raise(&mut self, level: Level, reason: impl Into<String>) {
        self.level = self.level.max(level);
        self.reasons.push(reason.into());
    }
}

/// One member device of an md array (`/sys/block/mdX/md/dev-*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaidMemberV1 {
    /// The block device, e.g. `sda1`.
    pub device: String,
    /// The slot in the array (`rd*`), absent for spares and failed devices.
    pub slot: Option<u32>,
    /// The kernel's state words: in_sync, faulty, spare, write_error, want_replacement, ...
    pub state: Vec<String>,
    /// Corrected read errors (`errors`), if readable.
    pub errors: Option<u64>,
}

impl RaidMemberV1 {
    /// `sda1 (in_sync)`, or just `sda1` when the state is unknown (mdstat-only readings).
    pub fn describe(&self) -> String {
        if self.state.is_empty() { self.device.clone() } else { format!("{} ({})", self.device, self.state.join(", ")) }
    }
}

impl RaidArrayV1 {
    /// Working members as md counts them (`[n/m]` in mdstat): slots minus missing ones. Member
    /// state words alone are not enough (mdstat-only readings may lack them).
    pub fn working_members(&self) -> u32 {
        self.raid_disks.saturating_sub(self.degraded)
    }
}

/// One md array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaidArrayV1 {
    /// e.g. `md0`.
    pub name: String,
    /// e.g. `raid1`.
    pub level: String,
    /// `array_state`: clean, active, degraded arrays still read clean/active; inactive, broken, ...
    pub array_state: String,
    /// Configured number of member slots (`raid_disks`).
    pub raid_disks: u32,
    /// Missing members (`degraded`); 0 when healthy or not a redundant level.
    pub degraded: u32,
    /// `sync_action`: idle, resync, recover, check, repair, reshape, frozen.
    pub sync_action: String,
    /// Progress of the running sync as (done, total) sectors, from `sync_completed`.
    pub sync_completed: Option<(u64, u64)>,
    /// `sync_speed` in KiB/s while a sync runs.
    pub sync_speed_kib: Option<u64>,
    /// Sectors found inconsistent by the last check or repair.
    pub mismatch_cnt: Option<u64>,
    pub members: Vec<RaidMemberV1>,
    /// Whether this came from sysfs or from the /proc/mdstat fallback.
    pub from_mdstat: bool,
    pub verdict: Verdict,
}

/// One temperature input of a hwmon chip. Keyed by `chip` + `device` + `label`, never by hwmonN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemperatureV1 {
    /// The chip's `name`, e.g. `coretemp`, `nct6775`, `drivetemp`, `nvme`.
    pub chip: String,
    /// The chip's device path (the resolved `device` link), e.g. `platform/coretemp.0`.
    pub device: String,
    /// `temp<i>_label`, or `temp<i>` when the chip gives none.
    pub label: String,
    /// Degrees Celsius; absent when the kernel says there is no value (EIO, ENODATA, fault).
    pub celsius: Option<f32>,
    pub max: Option<f32>,
    pub crit: Option<f32>,
    /// `temp<i>_alarm`, `_max_alarm` or `_crit_alarm` set by the chip.
    pub alarm: bool,
    pub verdict: Verdict,
}

/// One fan of a hwmon chip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FanV1 {
    pub chip: String,
    pub device: String,
    /// `fan<i>_label`, or `fan<i>`.
    pub label: String,
    /// Revolutions per minute; absent when the kernel says there is no value.
    pub rpm: Option<u32>,
    /// `fan<i>_min`, when configured (0 means not configured).
    pub min: Option<u32>,
    pub alarm: bool,
    pub verdict: Verdict,
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

/// One shipper's progress: CDR rows or `queue_log` lines on their way to the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingV1 {
    /// "cdr" or "queue_log".
    pub what: String,
    /// Where it reads: `mariadb 127.0.0.1:3306/asteriskcdrdb cdr`, or the file; never a password.
    pub source: String,
    /// How far it has read: the newest `calldate` shipped, or `device:inode@offset` of the file.
    pub position: Option<String>,
    /// Rows or lines put in the outbox since the agent started.
    pub shipped: u64,
    /// The last poll's error, in Spanish with the fix.
    pub error: Option<String>,
    /// The last poll stopped with more to read (a backfill in progress).
    pub catching_up: bool,
    /// The outbox is full of call records (broker or collector away): reading waits.
    pub held_back: bool,
    pub verdict: Verdict,
}
