//! Probe `host`: CPU, memory, swap, load and uptime, read through sysinfo (always the live machine).
//!
//! CPU usage is a difference between two refreshes, so the probe keeps its `System` between samples:
//! each reading is the average since the previous sample.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{HostV1, Reading};
use sysinfo::System;

pub struct Host {
    sys: Option<System>,
}

impl Host {
    pub fn new() -> Self {
        let sys = System::new().ok().map(|mut s| {
            s.refresh_cpu_usage();
            s
        });
        Self { sys }
    }

    pub fn collect(
        &mut self,
        _paths: &HostPaths,
        out: &mut Vec<Reading>,
    ) -> Result<(), ProbeError> {
        let sys = self.sys.as_mut().ok_or_else(|| {
            ProbeError::Failed("sysinfo cannot read this system (is /proc mounted?)".into())
        })?;
        sys.refresh_cpu_usage();
        sys.refresh_memory();
        let load = System::load_average()
            .map_err(|e| ProbeError::Failed(format!("cannot read the load average: {e}")))?;
        let uptime_s = System::uptime()
            .map_err(|e| ProbeError::Failed(format!("cannot read the uptime: {e}")))?;
        out.push(Reading::HostV1(HostV1 {
            hostname: System::host_name().unwrap_or_else(|_| crate::config::hostname()),
            kernel: System::kernel_version().unwrap_or_default(),
            os: System::long_os_version().unwrap_or_default(),
            uptime_s,
            cpu_percent: sys.global_cpu_usage().clamp(0.0, 100.0),
            cpu_count: u16::try_from(sys.cpus().len()).unwrap_or(u16::MAX),
            load1: load.one as f32,
            load5: load.five as f32,
            load15: load.fifteen as f32,
            mem_total_bytes: sys.total_memory(),
            mem_available_bytes: sys.available_memory(),
            swap_total_bytes: sys.total_swap(),
            swap_used_bytes: sys.used_swap(),
        }));
        Ok(())
    }
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}
