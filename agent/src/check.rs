//! `centinela-agent check`: every probe once, printed as evidence for a technician, in Spanish, or
//! as JSON for machines. Formatting is pure so it is tested on fixed samples.

use centinela_shared::{
    AdminAppV1, AmiState, AsteriskV1, AtaDiskV1, Body, DatabaseV1, DiskAccess, EndpointV1, Envelope, Level, NvmeDiskV1,
    Outcome, Reading, RegistrationV1, ShippingV1, SmartStatus, Verdict,
};
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

/// The Spanish word for a verdict level, as the glossary has it.
pub fn level_es(level: Level) -> &'static str {
    match level {
        Level::Ok => "correcto",
        Level::Warning => "ADVERTENCIA",
        Level::Critical => "CRÍTICO",
    }
}

fn verdict_es(v: &Verdict) -> String {
    if v.reasons.is_empty() {
        level_es(v.level).to_string()
    } else {
        format!("{}: {}", level_es(v.level), v.reasons.join("; "))
    }
}

/// A value with its unit, or a dash when it is unknown.
pub fn opt_num<T: std::fmt::Display>(v: Option<T>, unit: &str) -> String {
    v.map(|x| format!("{x}{unit}")).unwrap_or_else(|| "—".into())
}

/// What a disk's access state means, in Spanish; `None` when its data was read.
pub fn access_es(a: &DiskAccess) -> Option<String> {
    match a {
        DiskAccess::Read => None,
        DiskAccess::Standby => Some("en reposo, no se despertó".into()),
        DiskAccess::NotSupported(why) => Some(format!("no soportado ({why})")),
        DiskAccess::PermissionDenied(why) => Some(format!("permiso denegado ({why})")),
        DiskAccess::Error(why) => Some(format!("error ({why})")),
    }
}

/// The key figures of an ATA disk, as one line.
pub fn ata_summary(d: &AtaDiskV1) -> String {
    let status = match d.smart_status {
        Some(SmartStatus::Passed) => "SMART correcto",
        Some(SmartStatus::Failing) => "SMART EN FALLA",
        Some(SmartStatus::Unknown) => "SMART desconocido",
        None => "SMART sin leer",
    };
    format!(
        "{status}, {}, reasignados {}, pendientes {}, incorregibles {}, CRC {}, {} h",
        opt_num(d.temperature_c, " °C"),
        opt_num(d.reallocated, ""),
        opt_num(d.pending, ""),
        opt_num(d.offline_uncorrectable, ""),
        opt_num(d.udma_crc_errors, ""),
        opt_num(d.power_on_hours, "")
    )
}

/// The key figures of an NVMe controller, as one line.
pub fn nvme_summary(d: &NvmeDiskV1) -> String {
    format!(
        "{}, repuesto {} (umbral {}), uso {}, errores de medio {}, apagados inseguros {}, {} h",
        opt_num(d.temperature_c, " °C"),
        opt_num(d.available_spare_pct, " %"),
        opt_num(d.spare_threshold_pct, " %"),
        opt_num(d.percentage_used, " %"),
        opt_num(d.media_errors, ""),
        opt_num(d.unsafe_shutdowns, ""),
        opt_num(d.power_on_hours, "")
    )
}

/// How AMI answered, in Spanish.
pub fn ami_es(state: &AmiState) -> String {
    match state {
        AmiState::Up => "conectado".into(),
        AmiState::Down(why) => format!("Asterisk no responde ({why})"),
        AmiState::LoginRefused(why) => format!("acceso AMI rechazado ({why})"),
        AmiState::Wedged(why) => format!("AMI bloqueado: conecta pero no contesta ({why})"),
        AmiState::Error(why) => format!("error de AMI ({why})"),
    }
}

fn render_asterisk(out: &mut String, a: &AsteriskV1) {
    let dur = |s: Option<u64>| s.map(human_duration_s).unwrap_or_else(|| "—".into());
    let _ = writeln!(out);
    let _ = writeln!(out, "ASTERISK  {}", verdict_es(&a.verdict));
    let _ = writeln!(out, "  AMI:                 {}", ami_es(&a.ami));
    let _ = writeln!(out, "  Versión:             {}", a.version.as_deref().unwrap_or("—"));
    let _ = writeln!(out, "  Encendido:           {} (última recarga hace {})", dur(a.uptime_s), dur(a.since_reload_s));
    let _ = writeln!(
        out,
        "  Canales / llamadas:  {} / {} activas, {} procesadas",
        opt_num(a.active_channels, ""),
        opt_num(a.active_calls, ""),
        opt_num(a.calls_processed, "")
    );
    if let Some(name) = &a.longest_channel {
        let _ = writeln!(out, "  Canal más antiguo:   {name} ({})", dur(a.longest_channel_s));
    }
    if !a.queues.is_empty() {
        let _ = writeln!(out, "  COLAS");
        for q in &a.queues {
            let _ = writeln!(
                out,
                "    {:<14} {} en espera (máx. {} s), agentes {} conectados / {} disponibles / {} en pausa  {}",
                q.name,
                q.callers,
                q.longest_wait_s,
                q.members_logged_in,
                q.members_available,
                q.members_paused,
                verdict_es(&q.verdict)
            );
        }
    }
    let regs: Vec<&RegistrationV1> = a.registrations.iter().chain(a.sip_registry.iter().flatten()).collect();
    if !regs.is_empty() {
        let _ = writeln!(out, "  TRONCALES (registro)");
        for r in regs {
            let _ = writeln!(out, "    {:<14} {:<14} {}  {}", r.name, r.status, r.server_uri, verdict_es(&r.verdict));
        }
    }
    let eps: Vec<&EndpointV1> = a.endpoints.iter().chain(a.sip_peers.iter().flatten()).collect();
    if !eps.is_empty() {
        let _ = writeln!(out, "  ENDPOINTS");
        for e in eps {
            let kind = if e.trunk { "troncal" } else { "extensión" };
            let _ = writeln!(
                out,
                "    {:<14} {:<9} {:<14} contactos {}/{}  {}",
                e.name,
                kind,
                e.device_state,
                e.contacts_reachable,
                e.contacts_total,
                verdict_es(&e.verdict)
            );
        }
    }
}

/// The CDR database's figures, as one line.
pub fn database_summary(d: &DatabaseV1) -> String {
    if let Some(e) = d.error.as_ref().filter(|_| !d.connected) {
        return format!("sin conexión: {e}");
    }
    format!(
        "conexión {}, consulta {}, última fila {} (hace {}), {} filas en la última hora",
        opt_num(d.connect_ms, " ms"),
        opt_num(d.query_ms, " ms"),
        d.newest_calldate.as_deref().unwrap_or("—"),
        d.newest_age_s.map(human_duration_s).unwrap_or_else(|| "—".into()),
        opt_num(d.rows_last_hour, "")
    )
}

/// A shipper's progress, as one line.
pub fn shipping_summary(s: &ShippingV1) -> String {
    let position = s.position.as_deref().unwrap_or("nada aún");
    let mut line = if s.what == "cdr" {
        format!("enviado hasta la llamada del {position}; {} filas desde el arranque del agente", s.shipped)
    } else {
        format!("leído hasta {position}; {} líneas desde el arranque del agente", s.shipped)
    };
    if s.catching_up {
        line.push_str("; poniéndose al día con el historial");
    }
    if let Some(e) = &s.error {
        line.push_str(&format!("; último error: {e}"));
    }
    line
}

/// The admin application's answer and certificate, as one line.
pub fn admin_app_summary(a: &AdminAppV1) -> String {
    let Some(status) = a.status.filter(|_| a.reachable) else {
        return format!("sin respuesta: {}", a.error.as_deref().unwrap_or("—"));
    };
    let mut line = format!("HTTP {status}");
    if matches!(status, 401 | 403) {
        line.push_str(" (pide iniciar sesión)");
    }
    if let Some(l) = &a.location {
        let _ = write!(line, " → {l}");
    }
    let _ = write!(line, " en {}", opt_num(a.latency_ms, " ms"));
    if let Some(c) = &a.tls {
        let left = if c.days_left < 0 { "vencido".to_string() } else { format!("quedan {} d", c.days_left) };
        let flags = [
            (c.self_signed, "autofirmado"),
            (!c.trusted, "no confiable para este equipo"),
            (!c.hostname_matches, "no cubre el nombre de url"),
        ];
        let flags: Vec<&str> = flags.iter().filter(|(on, _)| *on).map(|(_, w)| *w).collect();
        let flags = if flags.is_empty() { String::new() } else { format!(", {}", flags.join(", ")) };
        let _ = write!(line, "; certificado {} hasta {} ({left}{flags})", c.subject, c.not_after);
    }
    line
}

fn render_hardware(out: &mut String, readings: &[Reading]) {
    for r in readings {
        match r {
            Reading::AsteriskV1(a) => render_asterisk(out, a),
            Reading::DatabaseV1(d) => {
                let _ = writeln!(out);
                let _ = writeln!(out, "BASE DE DATOS CDR  {}", verdict_es(&d.verdict));
                let _ = writeln!(out, "  {} {}", d.backend, d.target);
                let _ = writeln!(out, "  {}", database_summary(d));
            }
            Reading::AdminAppV1(a) => {
                let _ = writeln!(out);
                let _ = writeln!(out, "APLICACIÓN DE ADMINISTRACIÓN  {}", verdict_es(&a.verdict));
                let _ = writeln!(out, "  {}", a.url);
                let _ = writeln!(out, "  {}", admin_app_summary(a));
            }
            _ => {}
        }
    }
    let mut disks = Vec::new();
    for r in readings {
        let (device, identity, figures, access, verdict) = match r {
            Reading::AtaDiskV1(d) => {
                (&d.device, identity(&d.model, &d.serial, &d.firmware), ata_summary(d), &d.access, &d.verdict)
            }
            Reading::NvmeDiskV1(d) => {
                (&d.device, identity(&d.model, &d.serial, &d.firmware), nvme_summary(d), &d.access, &d.verdict)
            }
            _ => continue,
        };
        let figures = access_es(access).unwrap_or(figures);
        disks.push(format!("  {device:<8} {identity}\n           {figures}\n           {}", verdict_es(verdict)));
    }
    if !disks.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "DISCOS (SMART)");
        for d in disks {
            let _ = writeln!(out, "{d}");
        }
    }
    let arrays: Vec<_> =
        readings.iter().filter_map(|r| if let Reading::RaidArrayV1(a) = r { Some(a) } else { None }).collect();
    if !arrays.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "ARREGLOS RAID");
        for a in arrays {
            let in_sync = a.working_members();
            let _ = writeln!(
                out,
                "  {:<8} {:<7} {:<10} [{}/{}]  {}",
                a.name,
                a.level,
                a.array_state,
                a.raid_disks,
                in_sync,
                verdict_es(&a.verdict)
            );
            let members: Vec<String> = a.members.iter().map(|m| m.describe()).collect();
            if !members.is_empty() {
                let _ = writeln!(out, "           miembros: {}", members.join(", "));
            }
        }
    }
    let temps: Vec<_> =
        readings.iter().filter_map(|r| if let Reading::TemperatureV1(t) = r { Some(t) } else { None }).collect();
    if !temps.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "TEMPERATURAS");
        for t in temps {
            let _ = writeln!(
                out,
                "  {:<10} {:<16} {:>9}  (máx {}, crít {})  {}",
                t.chip,
                t.label,
                opt_num(t.celsius.map(|c| format!("{c:.1}")), " °C"),
                opt_num(t.max, ""),
                opt_num(t.crit, ""),
                verdict_es(&t.verdict)
            );
        }
    }
    let fans: Vec<_> = readings.iter().filter_map(|r| if let Reading::FanV1(f) = r { Some(f) } else { None }).collect();
    if !fans.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "VENTILADORES");
        for f in fans {
            let _ = writeln!(
                out,
                "  {:<10} {:<16} {:>9}  (mín {})  {}",
                f.chip,
                f.label,
                opt_num(f.rpm, " rpm"),
                opt_num(f.min, ""),
                verdict_es(&f.verdict)
            );
        }
    }
}

/// `model, serie X, firmware Y`, leaving out what is unknown.
pub fn identity(model: &Option<String>, serial: &Option<String>, firmware: &Option<String>) -> String {
    let mut parts = Vec::new();
    if let Some(m) = model {
        parts.push(m.clone());
    }
    if let Some(s) = serial {
        parts.push(format!("serie {s}"));
    }
    if let Some(f) = firmware {
        parts.push(format!("firmware {f}"));
    }
    if parts.is_empty() { "—".into() } else { parts.join(", ") }
}

/// The readable table.
pub fn render_table(env: &Envelope) -> String {
    let mut out = String::new();
    let when = chrono::DateTime::from_timestamp_millis(env.taken_ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default();
    let Body::SampleV1(s) = &env.body else {
        let _ = writeln!(
            out,
            "El mensaje {} de {} no es una muestra (es un lote de registros de llamadas).",
            env.seq, env.agent
        );
        return out;
    };
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
    render_hardware(&mut out, &s.readings);
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
    fn hardware_sections_show_verdicts_in_the_glossary_words() {
        let mut degraded = Verdict::ok();
        degraded.raise(Level::Critical, "arreglo RAID degradado: falta 1 de 2 miembros");
        let mut stopped = Verdict::ok();
        stopped.raise(Level::Critical, "ventilador detenido");
        let readings = vec![
            Reading::RaidArrayV1(RaidArrayV1 {
                name: "md0".into(),
                level: "raid1".into(),
                array_state: "clean".into(),
                raid_disks: 2,
                degraded: 1,
                sync_action: "idle".into(),
                sync_completed: None,
                sync_speed_kib: None,
                mismatch_cnt: Some(0),
                members: vec![
                    RaidMemberV1 {
                        device: "sda1".into(),
                        slot: Some(0),
                        state: vec!["in_sync".into()],
                        errors: Some(0),
                    },
                    RaidMemberV1 { device: "sdb1".into(), slot: None, state: vec!["faulty".into()], errors: Some(0) },
                ],
                from_mdstat: false,
                verdict: degraded,
            }),
            Reading::TemperatureV1(TemperatureV1 {
                chip: "coretemp".into(),
                device: "platform/coretemp.0".into(),
                label: "Package id 0".into(),
                celsius: Some(45.0),
                max: Some(80.0),
                crit: Some(100.0),
                alarm: false,
                verdict: Verdict::ok(),
            }),
            Reading::FanV1(FanV1 {
                chip: "nct6775".into(),
                device: "platform/nct6775.656".into(),
                label: "fan2".into(),
                rpm: Some(0),
                min: Some(600),
                alarm: true,
                verdict: stopped,
            }),
        ];
        let mut out = String::new();
        render_hardware(&mut out, &readings);
        assert!(
            out.contains("md0") && out.contains("[2/1]") && out.contains("CRÍTICO: arreglo RAID degradado"),
            "{out}"
        );
        assert!(out.contains("sdb1 (faulty)"), "{out}");
        assert!(out.contains("Package id 0") && out.contains("45.0 °C") && out.contains("correcto"), "{out}");
        assert!(out.contains("0 rpm") && out.contains("(mín 600)") && out.contains("ventilador detenido"), "{out}");
    }

    #[test]
    fn disks_show_identity_key_figures_and_why_they_were_not_read() {
        let mut failing = Verdict::ok();
        failing.raise(Level::Critical, "el disco se declara en falla (SMART FAILING)");
        let ata = AtaDiskV1 {
            device: "sda".into(),
            model: Some("QEMU HARDDISK".into()),
            serial: Some("HWLAB-SATA-0001".into()),
            firmware: Some("2.5+".into()),
            capacity_bytes: Some(67_108_864),
            rotational: None,
            access: DiskAccess::Read,
            smart_status: Some(SmartStatus::Failing),
            attributes: vec![],
            reallocated: Some(8),
            pending: Some(0),
            offline_uncorrectable: Some(0),
            reported_uncorrectable: None,
            command_timeout: None,
            udma_crc_errors: Some(0),
            power_on_hours: Some(1),
            temperature_c: Some(31),
            errors: vec![],
            verdict: failing,
        };
        let bridge = AtaDiskV1 {
            device: "sdb".into(),
            model: None,
            serial: None,
            firmware: None,
            access: DiskAccess::NotSupported("sense key 5, ASC/ASCQ 20/00".into()),
            smart_status: None,
            verdict: Verdict::ok(),
            ..ata.clone()
        };
        let mut out = String::new();
        render_hardware(&mut out, &[Reading::AtaDiskV1(ata), Reading::AtaDiskV1(bridge)]);
        assert!(
            out.contains("DISCOS (SMART)") && out.contains("QEMU HARDDISK, serie HWLAB-SATA-0001, firmware 2.5+"),
            "{out}"
        );
        assert!(out.contains("SMART EN FALLA") && out.contains("31 °C") && out.contains("reasignados 8"), "{out}");
        assert!(out.contains("CRÍTICO: el disco se declara en falla"), "{out}");
        assert!(out.contains("no soportado (sense key 5, ASC/ASCQ 20/00)"), "{out}");
    }

    fn asterisk_reading() -> AsteriskV1 {
        let mut critical = Verdict::ok();
        critical.raise(Level::Critical, "troncal no registrada: backup-reg (Rejected)");
        AsteriskV1 {
            ami: AmiState::Up,
            version: Some("22.10.1".into()),
            uptime_s: Some(90_061),
            since_reload_s: Some(3_660),
            active_channels: Some(16),
            active_calls: Some(10),
            calls_processed: Some(42),
            longest_channel: Some("PJSIP/carrier-00000001".into()),
            longest_channel_s: Some(125),
            queues: vec![QueueV1 {
                name: "support".into(),
                callers: 2,
                longest_wait_s: 31,
                members_logged_in: 3,
                members_available: 1,
                members_paused: 1,
                verdict: Verdict::ok(),
            }],
            registrations: vec![RegistrationV1 {
                name: "backup-reg".into(),
                server_uri: "sip:backup.example:5060".into(),
                status: "Rejected".into(),
                verdict: critical.clone(),
            }],
            endpoints: vec![EndpointV1 {
                name: "carrier".into(),
                device_state: "In use".into(),
                contacts_total: 1,
                contacts_reachable: 1,
                trunk: true,
                verdict: Verdict::ok(),
            }],
            sip_peers: None,
            sip_registry: None,
            verdict: critical,
        }
    }

    #[test]
    fn the_asterisk_section_shows_channels_queues_and_trunks() {
        let mut out = String::new();
        render_hardware(&mut out, &[Reading::AsteriskV1(asterisk_reading())]);
        assert!(out.contains("ASTERISK  CRÍTICO: troncal no registrada: backup-reg (Rejected)"), "{out}");
        assert!(out.contains("AMI:                 conectado") && out.contains("22.10.1"), "{out}");
        assert!(out.contains("16 / 10 activas, 42 procesadas"), "{out}");
        assert!(out.contains("support") && out.contains("2 en espera (máx. 31 s)"), "{out}");
        assert!(out.contains("backup-reg") && out.contains("Rejected"), "{out}");
        assert!(out.contains("carrier") && out.contains("troncal") && out.contains("contactos 1/1"), "{out}");
        let down = AsteriskV1 { ami: AmiState::Down("connection refused".into()), ..asterisk_reading() };
        let mut out = String::new();
        render_hardware(&mut out, &[Reading::AsteriskV1(down)]);
        assert!(out.contains("Asterisk no responde (connection refused)"), "{out}");
    }

    #[test]
    fn the_database_section_shows_freshness_or_why_there_is_no_connection() {
        let mut stale = Verdict::ok();
        stale.raise(Level::Critical, "CDR desactualizado (no se registran llamadas)");
        let d = DatabaseV1 {
            backend: "mariadb".into(),
            target: "127.0.0.1:3306/asteriskcdrdb".into(),
            connected: true,
            error: None,
            connect_ms: Some(3),
            query_ms: Some(1),
            newest_calldate: Some("2026-11-27 09:55:20".into()),
            newest_age_s: Some(2_520),
            rows_last_hour: Some(0),
            verdict: stale,
        };
        let mut out = String::new();
        render_hardware(&mut out, &[Reading::DatabaseV1(d.clone())]);
        let shipping = ShippingV1 {
            what: "cdr".into(),
            source: "mariadb 127.0.0.1:3306/asteriskcdrdb cdr".into(),
            position: Some("2026-11-27 10:01:00".into()),
            shipped: 76,
            error: None,
            catching_up: true,
            held_back: false,
            verdict: Verdict::ok(),
        };
        assert_eq!(
            shipping_summary(&shipping),
            "enviado hasta la llamada del 2026-11-27 10:01:00; 76 filas desde el arranque del agente; poniéndose al día con el historial"
        );
        assert!(out.contains("BASE DE DATOS CDR  CRÍTICO: CDR desactualizado"), "{out}");
        assert!(out.contains("última fila 2026-11-27 09:55:20 (hace 42 min 0 s)"), "{out}");
        let down = DatabaseV1 { connected: false, error: Some("acceso denegado".into()), ..d };
        assert_eq!(database_summary(&down), "sin conexión: acceso denegado");
    }

    #[test]
    fn the_admin_app_section_shows_status_latency_and_the_certificate() {
        let mut expiring = Verdict::ok();
        expiring.raise(Level::Warning, "el certificado TLS de la aplicación de administración vence en 4 días");
        let a = AdminAppV1 {
            url: "https://127.0.0.1/admin".into(),
            reachable: true,
            error: None,
            status: Some(302),
            latency_ms: Some(35),
            location: Some("/admin/config.php".into()),
            tls: Some(TlsCertV1 {
                subject: "CN=pbx.example".into(),
                issuer: "CN=pbx.example".into(),
                not_after: "2026-12-02 12:00:00 UTC".into(),
                days_left: 4,
                self_signed: true,
                trusted: false,
                hostname_matches: true,
            }),
            verdict: expiring,
        };
        let mut out = String::new();
        render_hardware(&mut out, &[Reading::AdminAppV1(a.clone())]);
        assert!(out.contains("APLICACIÓN DE ADMINISTRACIÓN  ADVERTENCIA: el certificado TLS"), "{out}");
        assert!(out.contains("  https://127.0.0.1/admin\n"), "{out}");
        assert_eq!(
            admin_app_summary(&a),
            "HTTP 302 → /admin/config.php en 35 ms; certificado CN=pbx.example hasta 2026-12-02 12:00:00 UTC \
             (quedan 4 d, autofirmado, no confiable para este equipo)"
        );
        let login = AdminAppV1 { status: Some(401), location: None, tls: None, ..a.clone() };
        assert_eq!(admin_app_summary(&login), "HTTP 401 (pide iniciar sesión) en 35 ms");
        let down = AdminAppV1 {
            reachable: false,
            status: None,
            error: Some("la aplicación de administración no responde en https://127.0.0.1: conexión rechazada".into()),
            ..a
        };
        assert!(admin_app_summary(&down).starts_with("sin respuesta: la aplicación de administración no responde"));
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
