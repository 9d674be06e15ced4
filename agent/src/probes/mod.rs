//! The probes: one file each, one closed enum, one `match` that builds and runs them.
//!
//! Invariants: a probe never panics the agent (a panic is caught and reported as `failed`), and
//! "absent" is reported as not applicable, never as failed. Every run yields one [`ProbeReport`] per
//! probe, in [`ProbeKind::ALL`] order, with its duration.

pub mod admin_app;
pub mod asterisk;
pub mod database;
pub mod filesystems;
pub mod host;
pub mod raid;
pub mod sensors;
pub mod smart;

use crate::host::HostPaths;
use centinela_shared::{Outcome, ProbeReport, Reading};
use std::time::Instant;

/// Why a probe produced no reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// What was probed is not on this host (no md arrays, no Asterisk...).
    NotApplicable(String),
    /// The probe broke; the message says what and, where known, how to fix it.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    Host,
    Filesystems,
    Raid,
    Sensors,
    Smart,
    Asterisk,
    Database,
    AdminApp,
}

impl ProbeKind {
    /// In run order: `database` follows `asterisk`, whose calls-processed counter it compares with.
    pub const ALL: [ProbeKind; 8] = [
        ProbeKind::Host,
        ProbeKind::Filesystems,
        ProbeKind::Raid,
        ProbeKind::Sensors,
        ProbeKind::Smart,
        ProbeKind::Asterisk,
        ProbeKind::Database,
        ProbeKind::AdminApp,
    ];

    /// The wire name: the same word as the file name and the log field.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Host => "host",
            ProbeKind::Filesystems => "filesystems",
            ProbeKind::Raid => "raid",
            ProbeKind::Sensors => "sensors",
            ProbeKind::Smart => "smart",
            ProbeKind::Asterisk => "asterisk",
            ProbeKind::Database => "database",
            ProbeKind::AdminApp => "admin_app",
        }
    }
}

/// A built probe with whatever state it keeps between samples.
pub enum Probe {
    Host(Box<host::Host>),
    Filesystems(filesystems::Filesystems),
    Raid(raid::Raid),
    Sensors(sensors::Sensors),
    Smart(smart::Smart),
    Asterisk(asterisk::Asterisk),
    Database(database::Database),
    AdminApp(admin_app::AdminApp),
}

impl Probe {
    pub fn build(kind: ProbeKind, config: &ProbeConfig) -> Self {
        match kind {
            ProbeKind::Host => Probe::Host(Box::default()),
            ProbeKind::Filesystems => Probe::Filesystems(filesystems::Filesystems::new()),
            ProbeKind::Raid => Probe::Raid(raid::Raid::default()),
            ProbeKind::Sensors => Probe::Sensors(sensors::Sensors::default()),
            ProbeKind::Smart => Probe::Smart(smart::Smart::default()),
            ProbeKind::Asterisk => Probe::Asterisk(asterisk::Asterisk::new(config.asterisk.clone())),
            ProbeKind::Database => Probe::Database(database::Database::new(config.database.clone())),
            ProbeKind::AdminApp => Probe::AdminApp(admin_app::AdminApp::new(config.admin_app.clone())),
        }
    }

    pub fn kind(&self) -> ProbeKind {
        match self {
            Probe::Host(_) => ProbeKind::Host,
            Probe::Filesystems(_) => ProbeKind::Filesystems,
            Probe::Raid(_) => ProbeKind::Raid,
            Probe::Sensors(_) => ProbeKind::Sensors,
            Probe::Smart(_) => ProbeKind::Smart,
            Probe::Asterisk(_) => ProbeKind::Asterisk,
            Probe::Database(_) => ProbeKind::Database,
            Probe::AdminApp(_) => ProbeKind::AdminApp,
        }
    }

    /// The probes that only read files and ioctls, run inline (and guarded by `catch_unwind`).
    fn collect_sync(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        match self {
            Probe::Host(p) => p.collect(paths, out),
            Probe::Filesystems(p) => p.collect(paths, out),
            Probe::Raid(p) => p.collect(paths, out),
            Probe::Sensors(p) => p.collect(paths, out),
            Probe::Smart(p) => p.collect(paths, out),
            Probe::Asterisk(_) | Probe::Database(_) | Probe::AdminApp(_) => Ok(()),
        }
    }
}

/// Every probe, built once and kept between samples.
pub struct ProbeSet {
    probes: Vec<Probe>,
}

/// What probes need from the configuration.
#[derive(Debug, Clone, Default)]
pub struct ProbeConfig {
    /// `None`: no `[asterisk]` section, the asterisk probe is not applicable.
    pub asterisk: Option<crate::config::AsteriskConfig>,
    /// `None`: no `[database]` section, the database probe is not applicable.
    pub database: Option<crate::config::DatabaseConfig>,
    /// `None`: no `[admin_app]` section, the admin_app probe is not applicable.
    pub admin_app: Option<crate::config::AdminAppConfig>,
}

impl ProbeConfig {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            asterisk: config.asterisk.clone(),
            database: config.database.clone(),
            admin_app: config.admin_app.clone(),
        }
    }
}

/// The longest a network probe may take before the sample goes on without it.
pub const NETWORK_PROBE_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

impl ProbeSet {
    pub fn new(config: &ProbeConfig) -> Self {
        Self { probes: ProbeKind::ALL.into_iter().map(|k| Probe::build(k, config)).collect() }
    }

    /// Every probe with the defaults (no network probe configured).
    pub fn all() -> Self {
        Self::new(&ProbeConfig::default())
    }

    pub fn names(&self) -> Vec<String> {
        self.probes.iter().map(|p| p.kind().name().to_string()).collect()
    }

    /// Runs every probe once. File probes run inline; network probes are awaited, each within
    /// [`NETWORK_PROBE_LIMIT`].
    pub async fn run(&mut self, paths: &HostPaths) -> (Vec<ProbeReport>, Vec<Reading>) {
        let mut reports = Vec::with_capacity(self.probes.len());
        let mut readings = Vec::new();
        for probe in &mut self.probes {
            let name = probe.kind().name();
            let started = Instant::now();
            let result = match probe {
                Probe::Asterisk(p) => tokio::time::timeout(NETWORK_PROBE_LIMIT, p.collect(&mut readings))
                    .await
                    .unwrap_or_else(|_| Err(ProbeError::Failed(format!("no terminó en {NETWORK_PROBE_LIMIT:?}")))),
                Probe::Database(p) => {
                    // Asterisk's counter from this same sample: CDR freshness compares the two.
                    let calls_processed = readings.iter().find_map(|r| match r {
                        Reading::AsteriskV1(a) => a.calls_processed,
                        _ => None,
                    });
                    tokio::time::timeout(NETWORK_PROBE_LIMIT, p.collect(calls_processed, &mut readings))
                        .await
                        .unwrap_or_else(|_| Err(ProbeError::Failed(format!("no terminó en {NETWORK_PROBE_LIMIT:?}"))))
                }
                Probe::AdminApp(p) => tokio::time::timeout(NETWORK_PROBE_LIMIT, p.collect(&mut readings))
                    .await
                    .unwrap_or_else(|_| Err(ProbeError::Failed(format!("no terminó en {NETWORK_PROBE_LIMIT:?}")))),
                _ => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.collect_sync(paths, &mut readings)))
                        .unwrap_or_else(|_| {
                            Err(ProbeError::Failed(
                                "la sonda falló por un error interno (panic); es un defecto, por favor repórtelo"
                                    .into(),
                            ))
                        })
                }
            };
            let outcome = match result {
                Ok(()) => Outcome::Ok,
                // A failed probe's partial readings are kept: what was read is still true.
                Err(ProbeError::NotApplicable(why)) => Outcome::NotApplicable(why),
                Err(ProbeError::Failed(why)) => {
                    crate::events::ProbeFailed { probe: name, reason: &why }.emit();
                    Outcome::Failed(why)
                }
            };
            let duration_us = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
            reports.push(ProbeReport { probe: name.to_string(), outcome, duration_us });
        }
        (reports, readings)
    }
}
