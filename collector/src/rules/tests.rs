//! The engine on recorded sample sequences: `for`, hysteresis, growth, presence, silence, restore.
//! Verdicts come from the agent's own verdict functions where they are public (RAID, SMART), so the
//! reasons are the ones a real agent sends.

use super::*;
use centinela_agent::probes::raid::verdict as raid_verdict;
use centinela_agent::probes::smart::verdict::{ata_verdict, nvme_verdict};
use centinela_shared::*;
use chrono::{DateTime, TimeZone, Utc};

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
const GIB: u64 = 1 << 30;

fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
}

const PROBES: [&str; 8] = ["host", "filesystems", "raid", "sensors", "smart", "asterisk", "database", "admin_app"];

/// A sample where every probe worked.
fn sample(readings: Vec<Reading>) -> SampleV1 {
    SampleV1 {
        agent_version: "0.1.0".into(),
        interval_ms: 10_000,
        outbox: OutboxStats::default(),
        probes: PROBES
            .iter()
            .map(|p| ProbeReport { probe: p.to_string(), outcome: Outcome::Ok, duration_us: 10 })
            .collect(),
        readings,
    }
}

fn with_outcome(mut s: SampleV1, probe: &str, outcome: Outcome) -> SampleV1 {
    for p in s.probes.iter_mut().filter(|p| p.probe == probe) {
        p.outcome = outcome.clone();
    }
    s
}

fn verdict(level: Level, reasons: &[&str]) -> Verdict {
    Verdict { level, reasons: reasons.iter().map(|r| r.to_string()).collect() }
}

/// A raid1 of two members; `degraded` of them missing, `state` as `array_state`.
fn raid(name: &str, state: &str, degraded: u32) -> Reading {
    let member = |device: &str, slot: u32, ok: bool| RaidMemberV1 {
        device: device.into(),
        slot: ok.then_some(slot),
        state: vec![if ok { "in_sync" } else { "faulty" }.into()],
        errors: Some(0),
    };
    let mut a = RaidArrayV1 {
        name: name.into(),
        level: "raid1".into(),
        array_state: state.into(),
        raid_disks: 2,
        degraded,
        sync_action: "idle".into(),
        sync_completed: None,
        sync_speed_kib: None,
        mismatch_cnt: Some(0),
        members: vec![member("sda1", 0, true), member("sdb1", 1, degraded == 0)],
        from_mdstat: false,
        verdict: Verdict::ok(),
    };
    a.verdict = raid_verdict(&a);
    Reading::RaidArrayV1(a)
}

fn ata(device: &str, serial: &str, reallocated: u64, failing: bool) -> Reading {
    let mut d = AtaDiskV1 {
        device: device.into(),
        model: Some("WDC WD10EZEX".into()),
        serial: Some(serial.into()),
        firmware: Some("01.01A01".into()),
        capacity_bytes: Some(1_000_204_886_016),
        rotational: Some(true),
        access: DiskAccess::Read,
        smart_status: Some(if failing { SmartStatus::Failing } else { SmartStatus::Passed }),
        attributes: vec![],
        reallocated: Some(reallocated),
        pending: Some(0),
        offline_uncorrectable: Some(0),
        reported_uncorrectable: Some(0),
        command_timeout: Some(0),
        udma_crc_errors: Some(0),
        power_on_hours: Some(20_000),
        temperature_c: Some(35),
        errors: vec![],
        verdict: Verdict::ok(),
    };
    d.verdict = ata_verdict(&d, None);
    Reading::AtaDiskV1(d)
}

fn nvme(device: &str, critical_warning: u8) -> Reading {
    let mut d = NvmeDiskV1 {
        device: device.into(),
        model: Some("Samsung SSD 980".into()),
        serial: Some("S64DNX0R".into()),
        firmware: Some("1B4QFXO7".into()),
        access: DiskAccess::Read,
        critical_warning: Some(critical_warning),
        critical_warnings: if critical_warning & 0x04 != 0 { vec!["reliability".into()] } else { vec![] },
        temperature_c: Some(40),
        available_spare_pct: Some(100),
        spare_threshold_pct: Some(10),
        percentage_used: Some(3),
        media_errors: Some(0),
        unsafe_shutdowns: Some(4),
        power_on_hours: Some(900),
        data_written_bytes: Some(1 << 40),
        errors: vec![],
        verdict: Verdict::ok(),
    };
    d.verdict = nvme_verdict(&d, None, None);
    Reading::NvmeDiskV1(d)
}

fn temp(label: &str, celsius: Option<f32>, crit: Option<f32>) -> Reading {
    let hot = matches!((celsius, crit), (Some(c), Some(k)) if c >= k);
    Reading::TemperatureV1(TemperatureV1 {
        chip: "coretemp".into(),
        device: "platform/coretemp.0".into(),
        label: label.into(),
        celsius,
        max: Some(80.0),
        crit,
        alarm: false,
        verdict: if hot {
            verdict(Level::Critical, &["temperatura 101.0 °C ≥ crítica 100.0 °C"])
        } else {
            Verdict::ok()
        },
    })
}

fn fan(rpm: Option<u32>, min: Option<u32>) -> Reading {
    let stopped = rpm == Some(0) && min.is_some_and(|m| m > 0);
    Reading::FanV1(FanV1 {
        chip: "nct6775".into(),
        device: "platform/nct6775.656".into(),
        label: "fan2".into(),
        rpm,
        min,
        alarm: stopped,
        verdict: if stopped {
            verdict(Level::Critical, &["ventilador detenido: 0 rpm con mínimo de 600 rpm"])
        } else {
            Verdict::ok()
        },
    })
}

fn fs(mount: &str, total: u64, available: u64) -> Reading {
    Reading::FilesystemV1(FilesystemV1 {
        mount_point: mount.into(),
        device: "/dev/mapper/vg-root".into(),
        fs_type: "ext4".into(),
        total_bytes: total,
        available_bytes: available,
        read_only: false,
    })
}

fn registration(name: &str, status: &str) -> RegistrationV1 {
    RegistrationV1 {
        name: name.into(),
        server_uri: "sip:sip.carrier.example:5060".into(),
        status: status.into(),
        verdict: if status == "Registered" {
            Verdict::ok()
        } else {
            verdict(Level::Critical, &[&format!("troncal no registrada: {name} ({status})")])
        },
    }
}

fn queue(name: &str, callers: u32, staffed: bool) -> QueueV1 {
    QueueV1 {
        name: name.into(),
        callers,
        longest_wait_s: 40,
        members_logged_in: u32::from(staffed),
        members_available: 0,
        members_paused: 0,
        verdict: match (callers, staffed) {
            (0, _) => Verdict::ok(),
            (_, true) => verdict(Level::Ok, &["todos los agentes ocupados: 2 en espera, la más larga 40 s"]),
            (n, false) => verdict(
                Level::Critical,
                &[&format!("cola con llamadas en espera y sin agentes disponibles: {name} ({n} en espera)")],
            ),
        },
    }
}

fn asterisk(ami: AmiState, uptime_s: u64) -> AsteriskV1 {
    let up = ami == AmiState::Up;
    let verdict = match &ami {
        AmiState::Up => Verdict::ok(),
        AmiState::Down(w) => verdict(Level::Critical, &[&format!("Asterisk no responde: {w}")]),
        AmiState::Wedged(w) => verdict(Level::Critical, &[&format!("AMI bloqueado: {w}")]),
        AmiState::LoginRefused(w) => verdict(Level::Critical, &[&format!("inicio de sesión AMI rechazado: {w}")]),
        AmiState::Error(w) => verdict(Level::Critical, &[&format!("la conversación AMI falló: {w}")]),
    };
    AsteriskV1 {
        ami,
        version: Some("22.10.1".into()),
        uptime_s: up.then_some(uptime_s),
        since_reload_s: up.then_some(uptime_s),
        active_channels: Some(0),
        active_calls: Some(0),
        calls_processed: Some(100),
        longest_channel: None,
        longest_channel_s: None,
        queues: vec![],
        registrations: vec![],
        endpoints: vec![],
        sip_peers: None,
        sip_registry: None,
        verdict,
    }
}

fn database(connected: bool, stale: bool) -> Reading {
    let mut v = Verdict::ok();
    if !connected {
        v.raise(Level::Critical, "la base de datos no responde en 127.0.0.1:3306: conexión rechazada");
    }
    if stale {
        v.raise(
            Level::Critical,
            "CDR desactualizado (no se registran llamadas): la última fila es de hace 42 min y Asterisk procesó 7 llamadas desde entonces",
        );
    }
    Reading::DatabaseV1(DatabaseV1 {
        backend: "mariadb".into(),
        target: "127.0.0.1:3306/asteriskcdrdb".into(),
        connected,
        error: (!connected).then(|| "la base de datos no responde en 127.0.0.1:3306: conexión rechazada".into()),
        connect_ms: connected.then_some(2),
        query_ms: connected.then_some(1),
        newest_calldate: Some("2026-11-27 09:18:00".into()),
        newest_age_s: Some(if stale { 2520 } else { 30 }),
        rows_last_hour: Some(12),
        verdict: v,
    })
}

fn admin_app(reachable: bool, status: Option<u16>, days_left: i64) -> Reading {
    let mut v = Verdict::ok();
    if !reachable {
        v.raise(
            Level::Critical,
            "la aplicación de administración no responde en https://127.0.0.1/admin: conexión rechazada",
        );
    }
    Reading::AdminAppV1(AdminAppV1 {
        url: "https://127.0.0.1/admin".into(),
        reachable,
        error: (!reachable).then(|| "conexión rechazada".into()),
        status,
        latency_ms: reachable.then_some(40),
        location: None,
        tls: reachable.then(|| TlsCertV1 {
            subject: "CN=pbx-01".into(),
            issuer: "CN=pbx-01".into(),
            not_after: "2026-12-02 12:00:00 UTC".into(),
            days_left,
            self_signed: true,
            trusted: false,
            hostname_matches: false,
        }),
        verdict: v,
    })
}

fn shipping(error: Option<&str>) -> Reading {
    let mut v = Verdict::ok();
    if let Some(e) = error {
        v.raise(Level::Warning, format!("el CDR no se está enviando al colector: {e}"));
    }
    Reading::ShippingV1(ShippingV1 {
        what: "cdr".into(),
        source: "mariadb 127.0.0.1:3306/asteriskcdrdb cdr".into(),
        position: Some("2026-11-27 09:18:00".into()),
        shipped: 76,
        error: error.map(str::to_string),
        catching_up: false,
        held_back: false,
        verdict: v,
    })
}

fn rules(toml_text: &str) -> Rules {
    Rules::from_raw(Some(toml::from_str(toml_text).unwrap())).unwrap()
}

fn fired(ts: &[Transition]) -> Vec<&str> {
    ts.iter().filter(|t| matches!(t, Transition::Fired { .. })).map(Transition::key).collect()
}

fn resolved(ts: &[Transition]) -> Vec<&str> {
    ts.iter().filter(|t| matches!(t, Transition::Resolved { .. })).map(Transition::key).collect()
}

/// Samples from `make(second)` every `step` seconds over `[from, to)`, with a tick between samples.
fn run(
    e: &mut Engine,
    server: &str,
    from: i64,
    to: i64,
    step: i64,
    mut make: impl FnMut(i64) -> SampleV1,
) -> Vec<(i64, Transition)> {
    let mut out = Vec::new();
    let mut s = from;
    while s < to {
        out.extend(e.on_sample(server, t(s), &make(s)).into_iter().map(|tr| (s, tr)));
        out.extend(e.on_tick(t(s + step / 2)).into_iter().map(|tr| (s + step / 2, tr)));
        s += step;
    }
    out
}

fn only(ts: Vec<(i64, Transition)>) -> Vec<Transition> {
    ts.into_iter().map(|(_, t)| t).collect()
}

// ------------------------------------------------------------------------------------------------
// for, keep_firing_for, recovery

#[test]
fn a_condition_true_for_less_than_for_never_fires() {
    let mut e = Engine::new(rules("[raid_degraded]\nfor = \"1m\""));
    let ts = run(&mut e, "pbx-01", 0, 60, 10, |_| sample(vec![raid("md0", "clean", 1)]));
    assert!(ts.is_empty(), "{ts:?}");
    let active = e.active();
    assert_eq!(active.len(), 1);
    assert_eq!((active[0].phase, active[0].key.as_str()), (Phase::Pending, "raid_degraded:md0"));
    let ts = run(&mut e, "pbx-01", 60, 600, 10, |_| sample(vec![raid("md0", "clean", 0)]));
    assert!(ts.is_empty(), "a pending problem that clears is dropped silently: {ts:?}");
    assert!(e.active().is_empty());
}

#[test]
fn a_condition_true_for_for_fires_once() {
    let mut e = Engine::new(rules("[raid_degraded]\nfor = \"1m\""));
    let ts = run(&mut e, "pbx-01", 0, 600, 10, |_| sample(vec![raid("md0", "clean", 1)]));
    assert_eq!(ts.len(), 1, "{ts:?}");
    let (at, Transition::Fired { server, key, rule, severity, summary, details, since, at: fired_at }) = &ts[0] else {
        panic!("{ts:?}")
    };
    assert_eq!(*at, 60);
    assert_eq!((server.as_str(), key.as_str(), rule.as_str()), ("pbx-01", "raid_degraded:md0", "raid_degraded"));
    assert_eq!(*severity, Severity::High);
    assert_eq!(severity.es(), "alta");
    assert_eq!(summary, "Arreglo RAID md0 degradado: falta 1 de 2 miembros");
    assert!(details.iter().any(|d| d == "miembro fallido: sdb1"), "{details:?}");
    assert_eq!((*since, *fired_at), (t(0), t(60)));
}

#[test]
fn a_flapping_value_fires_once_and_resolves_only_after_keep_firing_for() {
    let mut e = Engine::new(rules("[raid_degraded]\nfor = \"0s\"\nkeep_firing_for = \"10m\""));
    // Degraded on even samples, clean on odd ones, every 10 s for two hours.
    let ts = run(&mut e, "pbx-01", 0, 2 * HOUR, 10, |s| sample(vec![raid("md0", "clean", u32::from(s % 20 == 0))]));
    assert_eq!(fired(&only(ts.clone())), vec!["raid_degraded:md0"], "{ts:?}");
    assert!(resolved(&only(ts)).is_empty());
    // Last true at 7180 s; clean from 7200 on: resolved once 10 min have passed since 7180.
    let ts = run(&mut e, "pbx-01", 2 * HOUR, 3 * HOUR, 10, |_| sample(vec![raid("md0", "clean", 0)]));
    assert_eq!(ts.len(), 1, "{ts:?}");
    assert_eq!(ts[0].0, 7180 + 10 * MIN);
    assert!(matches!(&ts[0].1, Transition::Resolved { key, at, .. } if key == "raid_degraded:md0" && *at == t(7780)));
}

#[test]
fn recovery_resolves_once_and_a_relapse_fires_anew() {
    let mut e = Engine::new(Rules::defaults()); // raid_degraded: for 0s, keep_firing_for 10m
    let ts = only(run(&mut e, "pbx-01", 0, 30, 10, |_| sample(vec![raid("md0", "clean", 1)])));
    assert_eq!(fired(&ts), vec!["raid_degraded:md0"]);
    let ts = run(&mut e, "pbx-01", 30, 2 * HOUR, 10, |_| sample(vec![raid("md0", "clean", 0)]));
    assert_eq!(ts.len(), 1, "{ts:?}");
    assert_eq!(ts[0].0, 20 + 10 * MIN, "resolved 10 min after it was last seen degraded");
    assert_eq!(resolved(&only(ts)), vec!["raid_degraded:md0"]);
    let ts = run(&mut e, "pbx-01", 2 * HOUR, 2 * HOUR + 30, 10, |_| sample(vec![raid("md0", "clean", 1)]));
    assert_eq!(ts.len(), 1);
    assert!(matches!(&ts[0].1, Transition::Fired { since, .. } if *since == t(2 * HOUR)), "a new episode: {ts:?}");
}

// ------------------------------------------------------------------------------------------------
// Growth

#[test]
fn reallocated_sectors_growing_fires_and_a_steady_count_eventually_resolves() {
    let mut e = Engine::new(Rules::defaults()); // window 24h, for 0s, keep 1h
    // Every 10 min: 0, 0, 8, 8, 8, ...
    let ts = run(&mut e, "pbx-01", 0, 30 * HOUR, 10 * MIN, |s| {
        sample(vec![ata("sda", "WD-1", if s < 1200 { 0 } else { 8 }, false)])
    });
    assert_eq!(ts.len(), 2, "{ts:?}");
    let (at, Transition::Fired { key, summary, details, .. }) = &ts[0] else { panic!("{ts:?}") };
    assert_eq!((*at, key.as_str()), (1200, "disk_errors_growing:sda"));
    assert_eq!(summary, "Disco sda: aumentaron sectores reasignados de 0 a 8 (últimas 24 h)");
    assert!(details.iter().any(|d| d.contains("8 sectores reasignados")), "the agent's reason is kept: {details:?}");
    // The growth leaves the 24 h window at 1200 + 24 h; last true just before, at 87 000 s; plus 1 h.
    assert_eq!(ts[1].0, 87_000 + HOUR);
    assert_eq!(resolved(&[ts[1].1.clone()]), vec!["disk_errors_growing:sda"]);
    let state = serde_json::to_string(&e.snapshot()).unwrap();
    assert!(state.len() < 2_000, "history holds change points only: {} bytes", state.len());
}

#[test]
fn a_replaced_disk_with_another_serial_starts_its_history_over() {
    let mut e = Engine::new(Rules::defaults());
    let ts = run(&mut e, "pbx-01", 0, HOUR, 10 * MIN, |_| sample(vec![ata("sda", "OLD", 10, false)]));
    assert!(ts.is_empty());
    // The replacement arrives with 50 reallocated sectors of its own: not growth of the old disk.
    let ts = run(&mut e, "pbx-01", HOUR, 2 * HOUR, 10 * MIN, |_| sample(vec![ata("sda", "NEW", 50, false)]));
    assert!(ts.is_empty(), "{ts:?}");
    let ts = only(run(&mut e, "pbx-01", 2 * HOUR, 3 * HOUR, 10 * MIN, |_| sample(vec![ata("sda", "NEW", 53, false)])));
    assert!(matches!(&ts[..], [Transition::Fired { summary, .. }] if summary.contains("de 50 a 53")), "{ts:?}");
}

#[test]
fn a_filesystem_filling_up_fires_with_the_projected_days_and_date() {
    let mut e = Engine::new(Rules::defaults()); // days 7, window 12h, for 30m
    let total = 100 * GIB;
    let free_at = |s: i64| 40 * GIB - (10 * GIB) * s as u64 / DAY as u64; // 10 GiB a day
    let ts = run(&mut e, "pbx-01", 0, 12 * HOUR, 10 * MIN, |s| {
        sample(vec![fs("/var/spool/asterisk", total, free_at(s)), fs("/boot", GIB, GIB / 2)])
    });
    assert_eq!(ts.len(), 1, "only the growing filesystem, once: {ts:?}");
    let (at, Transition::Fired { key, summary, since, .. }) = &ts[0] else { panic!("{ts:?}") };
    assert_eq!(key, "filesystem_filling:/var/spool/asterisk");
    // The fit needs a quarter of the 12 h window (3 h); then `for` is 30 min.
    assert_eq!((*since, *at), (t(3 * HOUR), 3 * HOUR + 30 * MIN));
    let secs_left = free_at(*at) as f64 / (10.0 * GIB as f64 / DAY as f64);
    let date = (t(*at) + chrono::TimeDelta::seconds(secs_left.ceil() as i64)).format("%d/%m/%Y").to_string();
    assert_eq!(
        summary,
        &format!(
            "El sistema de archivos /var/spool/asterisk se llenará en unos 4 días (hacia el {date}) al ritmo actual de 10.0 GiB por día"
        )
    );
}

#[test]
fn a_filesystem_over_ninety_percent_fires_and_an_excluded_mount_does_not() {
    let mut e = Engine::new(rules("[filesystem_usage]\nexclude = [\"/boot/efi\"]"));
    let ts = only(run(&mut e, "pbx-01", 0, 10 * MIN, 30, |_| {
        sample(vec![fs("/", 100 * GIB, 5 * GIB), fs("/boot/efi", 512 << 20, 5 << 20)])
    }));
    assert_eq!(fired(&ts), vec!["filesystem_usage:/"]);
    let Transition::Fired { summary, at, .. } = &ts[0] else { unreachable!() };
    assert_eq!(summary, "Sistema de archivos / al 95 % (quedan 5.0 GiB libres)");
    assert_eq!(*at, t(5 * MIN));
}

#[test]
fn an_outbox_that_drops_records_fires_until_the_drop_leaves_the_window() {
    let mut e = Engine::new(Rules::defaults()); // window 1h, keep 15m
    let ts = run(&mut e, "pbx-01", 0, 3 * HOUR, MIN, |s| {
        let mut x = sample(vec![]);
        x.outbox.dropped_total = if s < 10 * MIN { 0 } else { 120 };
        x
    });
    assert_eq!(ts.len(), 2, "{ts:?}");
    assert!(
        matches!(&ts[0], (600, Transition::Fired { key, summary, .. }) if key == "outbox_dropping" && summary.starts_with("El agente descartó 120 registros"))
    );
    assert_eq!(ts[1].0, 600 + HOUR - MIN + 15 * MIN);
}

// ------------------------------------------------------------------------------------------------
// Presence and silence

#[test]
fn an_offline_agent_fires_agente_sin_reportar_and_a_sample_resolves_it() {
    let mut e = Engine::new(Rules::defaults());
    assert!(e.on_sample("pbx-01", t(0), &sample(vec![])).is_empty());
    let ts = e.on_presence("pbx-01", t(30), "offline");
    assert_eq!(fired(&ts), vec!["agent_silent"]);
    let Transition::Fired { summary, severity, details, .. } = &ts[0] else { unreachable!() };
    assert!(summary.starts_with("Agente sin reportar: desconectado"), "{summary}");
    assert_eq!(*severity, Severity::High);
    assert!(details.iter().any(|d| d.starts_with("última muestra recibida")), "{details:?}");
    assert!(e.on_presence("pbx-01", t(40), "offline").is_empty(), "re-confirmation changes nothing");
    assert!(e.on_tick(t(HOUR)).is_empty());
    assert_eq!(resolved(&e.on_sample("pbx-01", t(2 * HOUR), &sample(vec![]))), vec!["agent_silent"]);
}

#[test]
fn a_stopped_agent_does_not_fire_by_default_but_can_be_configured_to() {
    let mut e = Engine::new(Rules::defaults());
    assert!(e.on_presence("pbx-01", t(0), "stopped").is_empty());
    assert!(e.on_tick(t(DAY)).is_empty());
    assert!(e.active().is_empty());

    let mut e = Engine::new(rules("[agent_silent]\nstatuses = [\"offline\", \"stale\", \"stopped\"]\nfor = \"1h\""));
    assert!(e.on_presence("pbx-01", t(0), "stopped").is_empty());
    assert!(e.on_tick(t(30 * MIN)).is_empty());
    let ts = e.on_tick(t(HOUR));
    assert!(
        matches!(&ts[..], [Transition::Fired { summary, since, .. }] if summary.contains("detenido") && *since == t(0))
    );
}

#[test]
fn a_stale_agent_fires_once_for_has_elapsed_on_ticks() {
    let mut e = Engine::new(rules("[agent_silent]\nfor = \"2m\""));
    assert!(e.on_presence("pbx-01", t(0), "stale").is_empty());
    assert!(e.on_tick(t(60)).is_empty());
    assert!(e.on_presence("pbx-01", t(90), "offline").is_empty(), "still silent, same episode");
    let ts = e.on_tick(t(120));
    assert!(
        matches!(&ts[..], [Transition::Fired { key, since, summary, .. }] if key == "agent_silent" && *since == t(0) && summary.contains("desconectado")),
        "{ts:?}"
    );
    assert_eq!(resolved(&e.on_presence("pbx-01", t(200), "online")), vec!["agent_silent"]);
    assert!(e.on_presence("pbx-01", t(300), "nonsense").is_empty(), "unknown words change nothing");
}

#[test]
fn a_silent_server_keeps_its_sample_problems_as_they_were() {
    let mut e = Engine::new(rules("[fan_stopped]\nfor = \"5m\""));
    let ts = only(run(&mut e, "pbx-01", 0, 30, 10, |_| sample(vec![raid("md0", "clean", 1), fan(Some(0), Some(600))])));
    assert_eq!(fired(&ts), vec!["raid_degraded:md0"]);
    // Two days without a sample: neither the firing RAID problem resolves nor the pending fan fires.
    for h in 1..48 {
        assert!(e.on_tick(t(h * HOUR)).is_empty());
    }
    let phases: Vec<(String, Phase)> = e.active().into_iter().map(|p| (p.key, p.phase)).collect();
    assert!(phases.contains(&("raid_degraded:md0".into(), Phase::Firing)), "{phases:?}");
    assert!(phases.iter().any(|(k, p)| k.starts_with("fan_stopped:") && *p == Phase::Pending), "{phases:?}");
    // The next sample judges again: healthy now, and the RAID's keep_firing_for has long passed.
    let ts = e.on_sample("pbx-01", t(2 * DAY), &sample(vec![raid("md0", "clean", 0), fan(Some(1200), Some(600))]));
    assert_eq!(resolved(&ts), vec!["raid_degraded:md0"]);
    assert!(fired(&ts).is_empty());
}

#[test]
fn a_failed_probe_holds_its_problems_instead_of_resolving_them() {
    let mut e = Engine::new(Rules::defaults());
    let ts = only(run(&mut e, "pbx-01", 0, 30, 10, |_| sample(vec![raid("md0", "clean", 1)])));
    assert_eq!(fired(&ts), vec!["raid_degraded:md0"]);
    let broken = with_outcome(sample(vec![]), "raid", Outcome::Failed("no se pudo leer /proc/mdstat".into()));
    let ts = only(run(&mut e, "pbx-01", 30, 3 * HOUR, 10, |_| broken.clone()));
    assert_eq!(fired(&ts), vec!["probe_failed:raid"], "only the probe failure itself: {ts:?}");
    let Transition::Fired { summary, .. } = &ts[0] else { unreachable!() };
    assert_eq!(summary, "La sonda raid falló: no se pudo leer /proc/mdstat");
    let ts = e.on_sample("pbx-01", t(3 * HOUR), &sample(vec![raid("md0", "clean", 0)]));
    assert_eq!(resolved(&ts), vec!["raid_degraded:md0"], "the RAID's keep_firing_for ran out long ago");
    let ts = run(&mut e, "pbx-01", 3 * HOUR + 10, 4 * HOUR, 10, |_| sample(vec![raid("md0", "clean", 0)]));
    assert!(
        matches!(&ts[..], [(s, Transition::Resolved { key, .. })] if key == "probe_failed:raid" && *s == 3 * HOUR - 10 + 10 * MIN),
        "{ts:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// Asterisk

#[test]
fn an_asterisk_outage_fires_down_holds_the_trunks_and_a_restart_follows() {
    let mut e = Engine::new(Rules::defaults());
    let rejected = |s: i64| {
        let mut a = asterisk(AmiState::Up, 3 * DAY as u64 + s as u64);
        a.registrations = vec![registration("carrier-reg", "Rejected"), registration("backup-reg", "Registered")];
        a.queues = vec![queue("ventas", 2, false), queue("soporte", 3, true)];
        sample(vec![Reading::AsteriskV1(a)])
    };
    let ts = only(run(&mut e, "pbx-01", 0, 5 * MIN, 10, rejected));
    assert_eq!(fired(&ts), vec!["queue_unstaffed:ventas", "trunk_unregistered:carrier-reg"], "rules run in id order");
    let Transition::Fired { summary, severity, .. } = &ts[1] else { unreachable!() };
    assert_eq!((summary.as_str(), *severity), ("Troncal no registrada: carrier-reg (Rejected)", Severity::Critical));

    let down =
        sample(vec![Reading::AsteriskV1(asterisk(AmiState::Down("conexión rechazada en 127.0.0.1:5038".into()), 0))]);
    let ts = only(run(&mut e, "pbx-01", 5 * MIN, 30 * MIN, 10, |_| down.clone()));
    assert_eq!(fired(&ts), vec!["asterisk_down"], "trunks and queues are unknown while AMI is down: {ts:?}");
    let Transition::Fired { summary, at, .. } = &ts[0] else { unreachable!() };
    assert_eq!(summary, "Asterisk no responde: conexión rechazada en 127.0.0.1:5038");
    assert_eq!(*at, t(5 * MIN + 30));

    let back = |s: i64| {
        let mut a = asterisk(AmiState::Up, (s - 30 * MIN) as u64 + 5);
        a.registrations = vec![registration("carrier-reg", "Registered"), registration("backup-reg", "Registered")];
        sample(vec![Reading::AsteriskV1(a)])
    };
    let ts = run(&mut e, "pbx-01", 30 * MIN, 60 * MIN, 10, back);
    let at = |k: &str| {
        ts.iter().find(|(_, tr)| tr.key() == k).map(|(s, tr)| (*s - 30 * MIN, matches!(tr, Transition::Fired { .. })))
    };
    assert_eq!(at("trunk_unregistered:carrier-reg"), Some((0, false)), "last true long ago: resolves at once");
    assert_eq!(at("queue_unstaffed:ventas"), Some((0, false)));
    assert_eq!(at("asterisk_restarted"), Some((0, true)));
    assert_eq!(at("asterisk_down"), Some((5 * MIN - 10, false)), "keep_firing_for 5 min from the last down sample");
    let restarted = ts.iter().filter(|(_, tr)| tr.key() == "asterisk_restarted").count();
    assert_eq!(restarted, 2, "fires on the restart, resolves once uptime passes 10 min: {ts:?}");
}

#[test]
fn a_wedged_ami_and_a_refused_login_are_separate_problems() {
    let mut e = Engine::new(Rules::defaults());
    let wedged = sample(vec![Reading::AsteriskV1(asterisk(AmiState::Wedged("sin respuesta en 10 s".into()), 0))]);
    let ts = only(run(&mut e, "pbx-01", 0, 5 * MIN, 10, |_| wedged.clone()));
    assert_eq!(fired(&ts), vec!["ami_wedged"]);
    let refused =
        sample(vec![Reading::AsteriskV1(asterisk(AmiState::LoginRefused("Authentication failed".into()), 0))]);
    let ts = only(run(&mut e, "pbx-02", 0, 5 * MIN, 10, |_| refused.clone()));
    assert_eq!(fired(&ts), vec!["ami_error"]);
    let Transition::Fired { summary, severity, .. } = &ts[0] else { unreachable!() };
    assert!(summary.contains("inicio de sesión AMI rechazado (Authentication failed)"), "{summary}");
    assert_eq!(*severity, Severity::Medium);
}

#[test]
fn a_stuck_channel_follows_the_agent_or_a_threshold_of_its_own() {
    let stuck = |secs: u64| {
        let mut a = asterisk(AmiState::Up, 9 * DAY as u64);
        a.longest_channel = Some("PJSIP/carrier-00000001".into());
        a.longest_channel_s = Some(secs);
        if secs > 4 * 3600 {
            a.verdict.raise(Level::Critical, "canal atascado: PJSIP/carrier-00000001 5 h");
        }
        sample(vec![Reading::AsteriskV1(a)])
    };
    let mut e = Engine::new(Rules::defaults());
    let ts = e.on_sample("pbx-01", t(0), &stuck(5 * 3600));
    assert!(
        matches!(&ts[..], [Transition::Fired { key, summary, .. }] if key == "stuck_channel" && summary == "Canal atascado: PJSIP/carrier-00000001 5 h"),
        "{ts:?}"
    );
    let mut e = Engine::new(rules("[stuck_channel]\nafter = \"1h\""));
    assert!(e.on_sample("pbx-01", t(0), &stuck(1800)).is_empty());
    let ts = e.on_sample("pbx-01", t(10), &stuck(2 * 3600));
    assert!(
        matches!(&ts[..], [Transition::Fired { summary, .. }] if summary == "Canal atascado: PJSIP/carrier-00000001 2 h 0 min"),
        "{ts:?}"
    );
}

// ------------------------------------------------------------------------------------------------
// Every default, and a healthy server

/// Everything a healthy server reports.
fn healthy(s: i64) -> SampleV1 {
    let mut a = asterisk(AmiState::Up, 9 * DAY as u64 + s as u64);
    a.registrations = vec![registration("carrier-reg", "Registered")];
    a.queues = vec![queue("ventas", 0, true)];
    let mut x = sample(vec![
        Reading::HostV1(HostV1 {
            hostname: "pbx-01".into(),
            kernel: "6.1.0".into(),
            os: "Debian 12".into(),
            uptime_s: 9 * DAY as u64,
            cpu_percent: 4.0,
            cpu_count: 4,
            load1: 0.1,
            load5: 0.1,
            load15: 0.1,
            mem_total_bytes: 8 * GIB,
            mem_available_bytes: 6 * GIB,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
        }),
        fs("/", 100 * GIB, 60 * GIB),
        raid("md0", "clean", 0),
        temp("Package id 0", Some(45.0), Some(100.0)),
        fan(Some(1200), Some(600)),
        ata("sda", "WD-1", 0, false),
        nvme("nvme0", 0),
        Reading::AsteriskV1(a),
        database(true, false),
        admin_app(true, Some(200), 300),
        shipping(None),
    ]);
    x.outbox.dropped_total = 5; // old drops, long before: not growth
    x
}

#[test]
fn a_healthy_server_fires_nothing() {
    let mut e = Engine::new(Rules::defaults());
    let ts = run(&mut e, "pbx-01", 0, 14 * HOUR, 5 * MIN, healthy);
    assert!(ts.is_empty(), "{ts:?}");
    assert!(e.active().is_empty());
}

#[test]
fn every_default_rule_fires_on_a_server_that_breaks_it() {
    let mut e = Engine::new(Rules::defaults());
    let broken = |s: i64| {
        let later = s >= HOUR;
        let mut a = asterisk(AmiState::Up, 120);
        a.registrations = vec![registration("carrier-reg", "Failed")];
        a.endpoints = vec![EndpointV1 {
            name: "carrier".into(),
            device_state: "Unavailable".into(),
            contacts_total: 1,
            contacts_reachable: 0,
            trunk: true,
            verdict: verdict(Level::Critical, &["troncal sin contacto alcanzable: carrier (Unavailable)"]),
        }];
        a.queues = vec![queue("ventas", 4, false)];
        a.verdict.raise(Level::Critical, "canal atascado: PJSIP/carrier-00000001 5 h");
        let mut x = sample(vec![
            fs("/", 100 * GIB, 4 * GIB),
            fs("/var/spool/asterisk", 100 * GIB, 50 * GIB - (20 * GIB) * s as u64 / DAY as u64),
            raid("md0", "clean", 1),
            raid("md1", "inactive", 0),
            temp("Package id 0", Some(101.0), Some(100.0)),
            fan(Some(0), Some(600)),
            ata("sda", "WD-1", if later { 16 } else { 0 }, true),
            nvme("nvme0", 0x04),
            Reading::AsteriskV1(a),
            database(true, true),
            admin_app(true, Some(200), 4),
            shipping(Some("la tabla cdr no existe")),
        ]);
        x.outbox.dropped_total = if later { 300 } else { 0 };
        with_outcome(x, "host", Outcome::Failed("no se pudo leer /proc/stat".into()))
    };
    let mut keys: Vec<String> = only(run(&mut e, "pbx-01", 0, 6 * HOUR, 5 * MIN, broken))
        .iter()
        .filter(|tr| matches!(tr, Transition::Fired { .. }))
        .map(|tr| tr.key().to_string())
        .collect();
    let db_down = sample(vec![database(false, false), admin_app(false, None, 0)]);
    keys.extend(
        only(run(&mut e, "pbx-02", 0, 10 * MIN, 10, |_| db_down.clone())).iter().map(|tr| tr.key().to_string()),
    );
    let down = sample(vec![Reading::AsteriskV1(asterisk(AmiState::Down("conexión rechazada".into()), 0))]);
    keys.extend(only(run(&mut e, "pbx-03", 0, 5 * MIN, 10, |_| down.clone())).iter().map(|tr| tr.key().to_string()));
    let wedged = sample(vec![Reading::AsteriskV1(asterisk(AmiState::Wedged("sin respuesta".into()), 0))]);
    keys.extend(only(run(&mut e, "pbx-04", 0, 5 * MIN, 10, |_| wedged.clone())).iter().map(|tr| tr.key().to_string()));
    let refused = sample(vec![Reading::AsteriskV1(asterisk(AmiState::Error("conexión perdida".into()), 0))]);
    keys.extend(only(run(&mut e, "pbx-05", 0, 5 * MIN, 10, |_| refused.clone())).iter().map(|tr| tr.key().to_string()));
    keys.extend(e.on_presence("pbx-06", t(0), "offline").iter().map(|tr| tr.key().to_string()));

    for expected in [
        "smart_failing:sda",
        "nvme_critical_warning:nvme0",
        "disk_errors_growing:sda",
        "raid_degraded:md0",
        "raid_inactive:md1",
        "temperature_critical:coretemp/platform/coretemp.0/Package id 0",
        "fan_stopped:nct6775/platform/nct6775.656/fan2",
        "filesystem_usage:/",
        "filesystem_filling:/var/spool/asterisk",
        "asterisk_restarted",
        "trunk_unregistered:carrier-reg",
        "trunk_unreachable:carrier",
        "queue_unstaffed:ventas",
        "stuck_channel",
        "cdr_stale",
        "shipping_failing:cdr",
        "cert_expiring",
        "outbox_dropping",
        "probe_failed:host",
        "database_down",
        "admin_app_down",
        "asterisk_down",
        "ami_wedged",
        "ami_error",
        "agent_silent",
    ] {
        assert!(keys.iter().any(|k| k == expected), "{expected} did not fire; fired: {keys:?}");
    }
    let rules_fired: std::collections::BTreeSet<&str> = keys.iter().map(|k| k.split(':').next().unwrap()).collect();
    let defaults = Rules::defaults();
    let all: std::collections::BTreeSet<&str> = defaults.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(rules_fired, all, "every default rule is exercised");
    let summaries: Vec<String> = e.active().into_iter().map(|p| p.summary).collect();
    for s in [
        "Temperatura crítica en coretemp Package id 0: temperatura 101.0 °C ≥ crítica 100.0 °C",
        "Ventilador nct6775 fan2 detenido: 0 rpm (mínimo 600 rpm)",
        "Arreglo RAID md1 inactivo: el kernel no lo puso en servicio",
        "Disco sda (WDC WD10EZEX) en falla: SMART lo declara FAILING",
        "Disco NVMe nvme0 con advertencia crítica: reliability",
        "El certificado TLS de la aplicación de administración vence en 4 días (2026-12-02 12:00:00 UTC)",
        "El CDR no se está enviando al colector: la tabla cdr no existe",
        "La base de datos del CDR no responde: la base de datos no responde en 127.0.0.1:3306: conexión rechazada",
        "La aplicación de administración no responde: conexión rechazada",
    ] {
        assert!(summaries.iter().any(|x| x == s), "missing summary {s:?} in {summaries:#?}");
    }
    assert!(summaries.iter().any(|x| x.starts_with("CDR desactualizado (no se registran llamadas)")), "{summaries:#?}");
}

// ------------------------------------------------------------------------------------------------
// Snapshot, rule changes, hostile input

#[test]
fn snapshot_and_restore_round_trip_without_refiring_or_forgetting() {
    let rules_text = "[agent_silent]\nfor = \"2m\"";
    let mut e = Engine::new(rules(rules_text));
    let ts =
        only(run(&mut e, "pbx-01", 0, 30, 10, |_| sample(vec![raid("md0", "clean", 1), ata("sda", "WD-1", 0, false)])));
    assert_eq!(fired(&ts), vec!["raid_degraded:md0"]);
    assert!(e.on_presence("pbx-02", t(30), "offline").is_empty(), "pending for 2 min");

    let json = serde_json::to_string(&e.snapshot()).unwrap();
    let state: EngineState = serde_json::from_str(&json).unwrap();
    assert_eq!(state, e.snapshot());
    let mut r = Engine::restore(rules(rules_text), state);
    assert_eq!(r.snapshot(), e.snapshot());
    assert_eq!(r.active(), e.active());

    // Still degraded after the restart: no second Fired. The pending silence fires on time.
    assert!(
        r.on_sample("pbx-01", t(60), &sample(vec![raid("md0", "clean", 1), ata("sda", "WD-1", 0, false)])).is_empty()
    );
    let ts = r.on_tick(t(150));
    assert!(
        matches!(&ts[..], [Transition::Fired { server, since, .. }] if server == "pbx-02" && *since == t(30)),
        "{ts:?}"
    );
    // The disk history survived: 0 before the restart, 8 after, is growth.
    let ts = r.on_sample("pbx-01", t(200), &sample(vec![raid("md0", "clean", 0), ata("sda", "WD-1", 8, false)]));
    assert_eq!(fired(&ts), vec!["disk_errors_growing:sda"]);
    let ts = only(run(&mut r, "pbx-01", 210, HOUR, 10, |_| {
        sample(vec![raid("md0", "clean", 0), ata("sda", "WD-1", 8, false)])
    }));
    assert_eq!(resolved(&ts), vec!["raid_degraded:md0"], "the restored firing problem still resolves");

    let mut garbage = serde_json::to_value(e.snapshot()).unwrap();
    garbage["version"] = 99.into();
    let garbage: EngineState = serde_json::from_value(garbage).unwrap();
    assert!(Engine::restore(Rules::defaults(), garbage).active().is_empty(), "an unknown version starts empty");
}

#[test]
fn disabling_a_rule_resolves_what_it_had_fired() {
    let mut e = Engine::new(Rules::defaults());
    assert_eq!(fired(&e.on_sample("pbx-01", t(0), &sample(vec![raid("md0", "clean", 1)]))), vec!["raid_degraded:md0"]);
    let mut r = Engine::restore(rules("[raid_degraded]\nenabled = false"), e.snapshot());
    let ts = r.on_tick(t(10));
    assert!(matches!(&ts[..], [Transition::Resolved { key, at, .. }] if key == "raid_degraded:md0" && *at == t(10)));
    assert!(r.on_sample("pbx-01", t(20), &sample(vec![raid("md0", "clean", 1)])).is_empty());
}

#[test]
fn forgetting_a_server_resolves_its_problems() {
    let mut e = Engine::new(Rules::defaults());
    e.on_sample("pbx-01", t(0), &sample(vec![raid("md0", "clean", 1)]));
    e.on_presence("pbx-01", t(5), "offline");
    assert_eq!(resolved(&e.forget("pbx-01", t(10))), vec!["agent_silent", "raid_degraded:md0"]);
    assert!(e.active().is_empty() && e.on_tick(t(DAY)).is_empty());
}

#[test]
fn hostile_numbers_and_clocks_never_panic() {
    let all_conditions = "\
        [any_verdict]\ncondition = \"verdict\"\nreading = \"temperature\"\nseverity = \"baja\"\nsummary = \"{name} {subject} {reason}\"\n\
        [fast_fill]\ncondition = \"filesystem_filling\"\nseverity = \"baja\"\nwindow = \"1h\"\ndays = 365\n\
        [own_stuck]\ncondition = \"stuck_channel\"\nafter = \"1m\"\nseverity = \"baja\"";
    let mut e = Engine::new(rules(all_conditions));
    let nasty = |s: i64| {
        let mut a = asterisk(AmiState::Up, u64::MAX);
        a.longest_channel_s = Some(u64::MAX);
        a.queues = vec![queue("", u32::MAX, false)];
        let mut x = sample(vec![
            temp("nan", Some(f32::NAN), Some(f32::NAN)),
            temp("inf", Some(f32::INFINITY), Some(f32::NEG_INFINITY)),
            temp("neg", Some(-273.0), Some(-300.0)),
            temp("none", None, None),
            fan(None, Some(u32::MAX)),
            fs("/zero", 0, 0),
            fs("/over", 10, u64::MAX),
            fs("/max", u64::MAX, if s % 2 == 0 { 0 } else { u64::MAX / 2 }),
            fs("/grow", u64::MAX, u64::MAX - (s.unsigned_abs() % 1000) * (u64::MAX / 1000)),
            ata("sda", "X", if s % 3 == 0 { u64::MAX } else { 0 }, false),
            admin_app(true, Some(u16::MAX), if s % 2 == 0 { i64::MIN } else { i64::MAX }),
            admin_app(true, Some(599), -1),
            Reading::AsteriskV1(a),
        ]);
        x.outbox.dropped_total = if s % 2 == 0 { u64::MAX } else { 0 };
        x.interval_ms = 0;
        x
    };
    run(&mut e, "pbx-01", 0, 2 * HOUR, 60, nasty);
    // Clocks going backwards, and the ends of time.
    for when in [t(-10 * DAY), DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC, t(0), DateTime::<Utc>::MIN_UTC] {
        e.on_sample("pbx-01", when, &nasty(when.timestamp()));
        e.on_presence("pbx-01", when, "offline");
        e.on_tick(when);
    }
    let mut dup = nasty(1);
    dup.readings.extend((0..2_000).map(|i| fs(&format!("/m{i}"), 100, 1)));
    let ts = e.on_sample("pbx-02", t(0), &dup);
    let defaults = Rules::defaults();
    assert!(ts.len() <= defaults.iter().count() * engine::MAX_SUBJECTS, "bounded: {}", ts.len());
    let json = serde_json::to_string(&e.snapshot()).unwrap();
    assert!(
        Engine::restore(rules(all_conditions), serde_json::from_str(&json).unwrap()).active().len() == e.active().len()
    );
}
