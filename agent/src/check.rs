//! `centinela-agent check`: every probe once, printed as evidence for a technician, in Spanish, or
//! as JSON for machines. Formatting is pure so it is tested on fixed samples.

use centinela_shared::{Body, Envelope, Outcome, Reading};
use std::fmt::Write;

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 { format!("{b} B") } else { format!("{v:.1} {}", UNITS[i]) }
}

pub fn human_duration_s(s: u64) -> String {
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else {
        format!("{m} min {} s", s % 60)
    }
}

fn outcome_es(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "correcto".into(),
        Outcome::NotApplicable(why) => format!("no aplica ({why})"),
        Outcome::Failed(why) => format!("FALLÓ: {why}"),
    }
}

/// The readable table.
pub fn render_table(env: &Envelope) -> String {
    let mut out = String::new();
    let when = chrono::DateTime::from_timestamp_millis(env.taken_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let Body::SampleV1(s) = &env.body;
    let _ = writeln!(out, "Centinela agente {} — servidor {} — {}", s.agent_version, env.agent, when);
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<14} {:>10}  RESULTADO", "SONDA", "DURACIÓN");
    for p in &s.probes {
        let _ = writeln!(out, "{:<14} {:>7.1} ms  {}", p.probe, p.duration_us as f64 / 1000.0, outcome_es(&p.outcome));
    }
    for r in &s.readings {
        if let Reading::HostV1(h) = r {
            let _ = writeln!(out);
            let _ = writeln!(out, "SISTEMA");
            let _ = writeln!(out, "  Equipo:        {} ({}, kernel {})", h.hostname, h.os, h.kernel);
            let _ = writeln!(out, "  Encendido:     {}", human_duration_s(h.uptime_s));
            let _ = writeln!(out, "  CPU:           {:.1} % de {} núcleos", h.cpu_percent, h.cpu_count);
            let _ = writeln!(out, "  Carga:         {:.2} {:.2} {:.2}", h.load1, h.load5, h.load15);
            let _ = writeln!(
                out,
                "  Memoria:       {} disponible de {}",
                human_bytes(h.mem_available_bytes),
                human_bytes(h.mem_total_bytes)
            );
            let _ = writeln!(
                out,
                "  Swap:          {} usada de {}",
                human_bytes(h.swap_used_bytes),
                human_bytes(h.swap_total_bytes)
            );
        }
    }
    let fs: Vec<_> = s
        .readings
        .iter()
        .filter_map(|r| match r {
            Reading::FilesystemV1(f) => Some(f),
            _ => None,
        })
        .collect();
    if !fs.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "SISTEMAS DE ARCHIVOS");
        let _ =
            writeln!(out, "  {:<28} {:<8} {:>11} {:>11} {:>6}", "PUNTO DE MONTAJE", "TIPO", "TAMAÑO", "LIBRE", "USO");
        for f in fs {
            let ro = if f.read_only { "  solo lectura" } else { "" };
            let _ = writeln!(
                out,
                "  {:<28} {:<8} {:>11} {:>11} {:>5.1}%{}",
                f.mount_point,
                f.fs_type,
                human_bytes(f.total_bytes),
                human_bytes(f.available_bytes),
                f.used_percent(),
                ro
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::*;

    #[test]
    fn the_table_shows_each_probe_outcome_and_filesystem_usage_in_spanish() {
        let env = Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 0,
            taken_ms: 1_795_000_000_000,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![
                    ProbeReport { probe: "host".into(), outcome: Outcome::Ok, duration_us: 1500 },
                    ProbeReport {
                        probe: "raid".into(),
                        outcome: Outcome::NotApplicable("sin arreglos md".into()),
                        duration_us: 10,
                    },
                ],
                readings: vec![Reading::FilesystemV1(FilesystemV1 {
                    mount_point: "/var/spool/asterisk".into(),
                    device: "/dev/sda2".into(),
                    fs_type: "ext4".into(),
                    total_bytes: 100 * 1024 * 1024 * 1024,
                    available_bytes: 10 * 1024 * 1024 * 1024,
                    read_only: true,
                })],
            }),
        };
        let t = render_table(&env);
        assert!(t.contains("servidor pbx-01"), "{t}");
        assert!(t.contains("host") && t.contains("1.5 ms  correcto"), "{t}");
        assert!(t.contains("no aplica (sin arreglos md)"), "{t}");
        assert!(t.contains("/var/spool/asterisk") && t.contains("100.0 GiB") && t.contains("90.0%"), "{t}");
        assert!(t.contains("solo lectura"), "{t}");
    }

    #[test]
    fn sizes_and_durations_read_naturally() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_duration_s(90_061), "1 d 1 h");
        assert_eq!(human_duration_s(3_660), "1 h 1 min");
        assert_eq!(human_duration_s(59), "0 min 59 s");
    }
}
