//! The probes: one file each, one closed enum, one `match` that builds and runs them.
//!
//! Invariants: a probe never panics the agent (a panic is caught and reported as `failed`), and
//! "absent" is reported as not applicable, never as failed. Every run yields one [`ProbeReport`] per
//! probe, in [`ProbeKind::ALL`] order, with its duration.

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
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 5] =
        [ProbeKind::Host, ProbeKind::Filesystems, ProbeKind::Raid, ProbeKind::Sensors, ProbeKind::Smart];

    /// The wire name: the same word as the file name and the log field.
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Host => "host",
            ProbeKind::Filesystems => "filesystems",
            ProbeKind::Raid => "raid",
            ProbeKind::Sensors => "sensors",
            ProbeKind::Smart => "smart",
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
}

impl Probe {
    pub fn build(kind: ProbeKind) -> Self {
        match kind {
            ProbeKind::Host => Probe::Host(Box::default()),
            ProbeKind::Filesystems => Probe::Filesystems(filesystems::Filesystems::new()),
            ProbeKind::Raid => Probe::Raid(raid::Raid::default()),
            ProbeKind::Sensors => Probe::Sensors(sensors::Sensors::default()),
            ProbeKind::Smart => Probe::Smart(smart::Smart::default()),
        }
    }

    pub fn kind(&self) -> ProbeKind {
        match self {
            Probe::Host(_) => ProbeKind::Host,
            Probe::Filesystems(_) => ProbeKind::Filesystems,
            Probe::Raid(_) => ProbeKind::Raid,
            Probe::Sensors(_) => ProbeKind::Sensors,
            Probe::Smart(_) => ProbeKind::Smart,
        }
    }

    fn collect(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        match self {
            Probe::Host(p) => p.collect(paths, out),
            Probe::Filesystems(p) => p.collect(paths, out),
            Probe::Raid(p) => p.collect(paths, out),
            Probe::Sensors(p) => p.collect(paths, out),
            Probe::Smart(p) => p.collect(paths, out),
        }
    }
}

/// Every probe, built once and kept between samples.
pub struct ProbeSet {
    probes: Vec<Probe>,
}

impl ProbeSet {
    pub fn all() -> Self {
        Self { probes: ProbeKind::ALL.into_iter().map(Probe::build).collect() }
    }

    pub fn names(&self) -> Vec<String> {
        self.probes.iter().map(|p| p.kind().name().to_string()).collect()
    }

    /// Runs every probe once.
    pub fn run(&mut self, paths: &HostPaths) -> (Vec<ProbeReport>, Vec<Reading>) {
        let mut reports = Vec::with_capacity(self.probes.len());
        let mut readings = Vec::new();
        for probe in &mut self.probes {
            let name = probe.kind().name();
            let started = Instant::now();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.collect(paths, &mut readings)))
                .unwrap_or_else(|_| {
                    Err(ProbeError::Failed("the probe panicked; this is a bug, please report it".into()))
                });
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
