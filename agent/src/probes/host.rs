//! Probe `host`: load, uptime, memory and swap from `/proc` (under [`HostPaths`], so fixture trees
//! work), CPU usage and the OS name through sysinfo (always the live machine).
//!
//! CPU usage is a difference between two refreshes, so the probe keeps its `System` between samples:
//! each reading is the average since the previous sample.

use super::ProbeError;
use crate::host::HostPaths;
use centinela_shared::{HostV1, Reading};
use std::path::Path;
use sysinfo::System;

pub struct Host {
    sys: Option<System>,
}

/// `/proc/loadavg`: the 1, 5 and 15 minute load averages.
pub fn parse_loadavg(text: &str) -> Option<(f32, f32, f32)> {
    let mut it = text.split_whitespace().map(|v| v.parse::<f32>().ok().filter(|x| x.is_finite() && *x >= 0.0));
    Some((it.next()??, it.next()??, it.next()??))
}

/// `/proc/uptime`: seconds since boot (the first number).
pub fn parse_uptime(text: &str) -> Option<u64> {
    let secs = text.split_whitespace().next()?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then_some(secs as u64)
}

/// The `/proc/meminfo` figures the host reading needs, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_free: u64,
}

/// `/proc/meminfo`. `MemAvailable` exists since Linux 3.14; older kernels get `MemFree` instead.
pub fn parse_meminfo(text: &str) -> Option<MemInfo> {
    let field = |name: &str| -> Option<u64> {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let mut parts = rest.split_whitespace();
            let value = parts.next()?.parse::<u64>().ok()?;
            match parts.next() {
                Some("kB") => value.checked_mul(1024),
                None => Some(value),
                Some(_) => None,
            }
        })
    };
    let total = field("MemTotal")?;
    let available = field("MemAvailable").or_else(|| field("MemFree"))?.min(total);
    let swap_total = field("SwapTotal").unwrap_or(0);
    let swap_free = field("SwapFree").unwrap_or(swap_total).min(swap_total);
    Some(MemInfo { total, available, swap_total, swap_free })
}

fn read(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path).map_err(|e| ProbeError::Failed(format!("no se puede leer {}: {e}", path.display())))
}

fn parsed<T>(path: &Path, value: Option<T>) -> Result<T, ProbeError> {
    value.ok_or_else(|| ProbeError::Failed(format!("{} tiene un contenido inesperado", path.display())))
}

impl Host {
    pub fn new() -> Self {
        let sys = System::new().ok().map(|mut s| {
            s.refresh_cpu_usage();
            s
        });
        Self { sys }
    }

    pub fn collect(&mut self, paths: &HostPaths, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let p = paths.proc.join("loadavg");
        let (load1, load5, load15) = parsed(&p, parse_loadavg(&read(&p)?))?;
        let p = paths.proc.join("uptime");
        let uptime_s = parsed(&p, parse_uptime(&read(&p)?))?;
        let p = paths.proc.join("meminfo");
        let mem = parsed(&p, parse_meminfo(&read(&p)?))?;
        let kernel_file = |name: &str| {
            std::fs::read_to_string(paths.proc.join("sys/kernel").join(name)).ok().map(|s| s.trim().to_string())
        };
        let (cpu_percent, cpu_count) = match self.sys.as_mut() {
            Some(sys) => {
                sys.refresh_cpu_usage();
                (sys.global_cpu_usage().clamp(0.0, 100.0), u16::try_from(sys.cpus().len()).unwrap_or(u16::MAX))
            }
            None => (0.0, 0),
        };
        out.push(Reading::HostV1(HostV1 {
            hostname: kernel_file("hostname").unwrap_or_else(crate::config::hostname),
            kernel: kernel_file("osrelease").or_else(|| System::kernel_version().ok()).unwrap_or_default(),
            os: System::long_os_version().unwrap_or_default(),
            uptime_s,
            cpu_percent,
            cpu_count,
            load1,
            load5,
            load15,
            mem_total_bytes: mem.total,
            mem_available_bytes: mem.available,
            swap_total_bytes: mem.swap_total,
            swap_used_bytes: mem.swap_total - mem.swap_free,
        }));
        Ok(())
    }
}

impl Default for Host {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/debian12-vm");

    #[test]
    fn the_captured_debian_host_reads_as_captured() {
        let paths = HostPaths::under(Path::new(FIXTURE));
        let mut out = Vec::new();
        Host::new().collect(&paths, &mut out).unwrap();
        let [Reading::HostV1(h)] = out.as_slice() else { panic!("one host reading expected: {out:?}") };
        assert_eq!((h.load1, h.load5, h.load15), (1.23, 1.02, 0.88));
        assert_eq!(h.uptime_s, 1828);
        assert_eq!(h.mem_total_bytes, 24_684_084 * 1024);
        assert_eq!(h.mem_available_bytes, 23_802_664 * 1024);
        assert_eq!((h.swap_total_bytes, h.swap_used_bytes), (0, 0));
        assert_eq!((h.hostname.as_str(), h.kernel.as_str()), ("vm", "6.18.44-fc-v669"));
    }

    #[test]
    fn a_tree_without_proc_fails_with_the_path_it_tried() {
        let dir = tempfile::tempdir().unwrap();
        let err = Host::new().collect(&HostPaths::under(dir.path()), &mut Vec::new()).unwrap_err();
        let ProbeError::Failed(msg) = err else { panic!("failed expected") };
        assert!(msg.contains("proc/loadavg"), "{msg}");
    }

    #[test]
    fn meminfo_from_an_old_kernel_falls_back_to_memfree_and_swap_is_used_minus_free() {
        let m = parse_meminfo("MemTotal: 1000 kB\nMemFree: 200 kB\nSwapTotal: 500 kB\nSwapFree: 100 kB\n").unwrap();
        assert_eq!(m, MemInfo { total: 1_024_000, available: 204_800, swap_total: 512_000, swap_free: 102_400 });
    }

    #[test]
    fn hostile_proc_values_are_rejected_not_trusted() {
        assert_eq!(parse_loadavg("nan 1 1"), None);
        assert_eq!(parse_loadavg("-1 1 1"), None);
        assert_eq!(parse_loadavg("0.5 0.4"), None);
        assert_eq!(parse_uptime("inf 3"), None);
        assert_eq!(parse_uptime(""), None);
        assert_eq!(parse_meminfo("MemTotal: 99999999999999999999 kB\n"), None);
        assert_eq!(
            parse_meminfo("MemTotal: 18446744073709551615 kB\nMemFree: 1 kB\n"),
            None,
            "overflow in kB to bytes"
        );
        assert_eq!(parse_meminfo("MemTotal: 10 MB\n"), None, "unknown unit");
        // Available above total (a racy read) is clamped, swap free above total too.
        let m = parse_meminfo("MemTotal: 10 kB\nMemAvailable: 20 kB\nSwapTotal: 1 kB\nSwapFree: 5 kB\n").unwrap();
        assert_eq!((m.available, m.swap_free), (10 * 1024, 1024));
    }
}
