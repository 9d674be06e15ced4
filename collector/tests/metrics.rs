//! `GET /metrics` over real HTTP against the collector's own router on 127.0.0.1: off without a
//! token, 401 without the right one, and with it a text that an independent Prometheus parser
//! (`prometheus-parse`) reads line by line, holding the series of a server whose newest stored
//! sample carries the agent's captured readings
//! (agent/tests/fixtures/{raid-raid1-degraded,sensors-coretemp-nct6775}/*.golden.json).

mod web;

use centinela_agent::probes::smart::verdict::{ata_verdict, nvme_verdict};
use centinela_shared::*;
use prometheus_parse::{LineInfo, Scrape, Value};
use web::Server;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/tests/fixtures");
const TOKEN: &str = "tok-metrics-7c1e9b";
const T0: i64 = 1_795_000_000_000;
const GIB: u64 = 1 << 30;

fn golden(file: &str) -> Vec<Reading> {
    let text = std::fs::read_to_string(format!("{FIXTURES}/{file}")).expect("golden readings");
    serde_json::from_str(&text).expect("readings decode")
}

fn ok() -> Verdict {
    Verdict::ok()
}

/// What the probes without captured goldens read: a filesystem, two disks, Asterisk, the CDR
/// database and the admin application.
fn other_readings() -> Vec<Reading> {
    let mut ata = AtaDiskV1 {
        device: "sda".into(),
        model: Some("WDC WD10EZEX".into()),
        serial: Some("WD-1".into()),
        firmware: None,
        capacity_bytes: Some(1_000_204_886_016),
        rotational: Some(true),
        access: DiskAccess::Read,
        smart_status: Some(SmartStatus::Passed),
        attributes: vec![],
        reallocated: Some(8),
        pending: Some(2),
        offline_uncorrectable: Some(0),
        reported_uncorrectable: Some(0),
        command_timeout: Some(0),
        udma_crc_errors: Some(0),
        power_on_hours: Some(20_000),
        temperature_c: Some(35),
        errors: vec![],
        verdict: ok(),
    };
    ata.verdict = ata_verdict(&ata, None);
    let mut nvme = NvmeDiskV1 {
        device: "nvme0".into(),
        model: Some("Samsung SSD 980".into()),
        serial: None,
        firmware: None,
        access: DiskAccess::Read,
        critical_warning: Some(0x04),
        critical_warnings: vec!["reliability".into()],
        temperature_c: Some(40),
        available_spare_pct: Some(100),
        spare_threshold_pct: Some(10),
        percentage_used: Some(3),
        media_errors: Some(0),
        unsafe_shutdowns: Some(4),
        power_on_hours: Some(900),
        data_written_bytes: None,
        errors: vec![],
        verdict: ok(),
    };
    nvme.verdict = nvme_verdict(&nvme, None, None);
    let registration = |name: &str, status: &str| RegistrationV1 {
        name: name.into(),
        server_uri: "sip:sip.carrier.example:5060".into(),
        status: status.into(),
        verdict: ok(),
    };
    vec![
        Reading::FilesystemV1(FilesystemV1 {
            mount_point: "/".into(),
            device: "/dev/mapper/vg-root".into(),
            fs_type: "ext4".into(),
            total_bytes: 100 * GIB,
            available_bytes: 25 * GIB,
            read_only: false,
        }),
        Reading::AtaDiskV1(ata),
        Reading::NvmeDiskV1(nvme),
        Reading::AsteriskV1(AsteriskV1 {
            ami: AmiState::Up,
            version: Some("20.5.0".into()),
            uptime_s: Some(86_400),
            since_reload_s: Some(3600),
            active_channels: Some(12),
            active_calls: Some(6),
            calls_processed: Some(5000),
            longest_channel: None,
            longest_channel_s: None,
            queues: vec![QueueV1 {
                name: "ventas".into(),
                callers: 3,
                longest_wait_s: 40,
                members_logged_in: 2,
                members_available: 0,
                members_paused: 0,
                verdict: ok(),
            }],
            registrations: vec![registration("carrier", "Registered")],
            endpoints: vec![],
            sip_peers: Some(vec![]),
            sip_registry: Some(vec![registration("old-carrier", "Rejected")]),
            verdict: ok(),
        }),
        Reading::DatabaseV1(DatabaseV1 {
            backend: "mariadb".into(),
            target: "127.0.0.1:3306/asteriskcdrdb".into(),
            connected: true,
            error: None,
            connect_ms: Some(2),
            query_ms: Some(1),
            newest_calldate: Some("2026-11-27 08:00:00".into()),
            newest_age_s: Some(120),
            rows_last_hour: Some(40),
            verdict: ok(),
        }),
        Reading::AdminAppV1(AdminAppV1 {
            url: "https://127.0.0.1/admin".into(),
            reachable: true,
            error: None,
            status: Some(200),
            latency_ms: Some(30),
            location: None,
            tls: Some(TlsCertV1 {
                subject: "CN=pbx".into(),
                issuer: "CN=pbx".into(),
                not_after: "2026-12-17 00:00:00 UTC".into(),
                days_left: 20,
                self_signed: true,
                trusted: false,
                hostname_matches: true,
            }),
            verdict: ok(),
        }),
    ]
}

fn envelope(seq: u64, taken_ms: i64, backlog: u64, readings: Vec<Reading>) -> Vec<u8> {
    encode_envelope(&Envelope {
        v: WIRE_VERSION,
        agent: "pbx-renta".into(),
        seq,
        taken_ms,
        body: Body::SampleV1(SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats { backlog, dropped_total: 2 },
            probes: vec![ProbeReport { probe: "raid".into(), outcome: Outcome::Ok, duration_us: 10 }],
            readings,
        }),
    })
}

/// A collector with /metrics on, one stale server with two stored samples, a firing problem and
/// an overdue ticket, one online server without samples yet, one whose newest sample does not
/// decode, and one rejected payload.
async fn fleet() -> Server {
    let s = Server::start_with_metrics_token(TOKEN).await;
    let mut readings = golden("raid-raid1-degraded/raid.golden.json");
    readings.extend(golden("sensors-coretemp-nct6775/sensors.golden.json"));
    readings.extend(other_readings());
    let older = envelope(41, T0 - 10_000, 99, vec![]);
    let newest = envelope(42, T0, 5, readings);
    s.writer
        .run(move |tx| {
            tx.execute(
                "INSERT INTO servers (agent_id, first_seen, last_seen, last_seq, samples, status, status_since)
                 VALUES ('pbx-renta', ?1, ?2, 42, 2, 'stale', ?2)",
                rusqlite::params![T0 - 86_400_000, T0 + 500],
            )?;
            let server = tx.last_insert_rowid();
            for (seq, payload) in [(41, older), (42, newest)] {
                tx.execute(
                    "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload) VALUES (?1, ?2, ?3, ?3, ?4)",
                    rusqlite::params![server, seq, T0, payload],
                )?;
            }
            tx.execute(
                "INSERT INTO servers (agent_id, first_seen, status, status_since)
                 VALUES ('pbx-nuevo', ?1, 'online', ?1)",
                [T0],
            )?;
            // Its newest sample was accepted by some collector but does not decode here.
            tx.execute(
                "INSERT INTO servers (agent_id, first_seen, last_seen, status, status_since)
                 VALUES ('pbx-viejo', ?1, ?1, 'online', ?1)",
                [T0],
            )?;
            tx.execute(
                "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload) VALUES (?1, 1, ?2, ?2, x'ff00')",
                rusqlite::params![tx.last_insert_rowid(), T0],
            )?;
            tx.execute(
                "INSERT INTO problems (server_id, key, rule, severity, summary, details, since, fired_at)
                 VALUES (?1, 'raid_degraded:md0', 'raid_degraded', 'crítica', 'RAID degradado: md0', '[]', ?2, ?2)",
                rusqlite::params![server, T0],
            )?;
            tx.execute(
                "INSERT INTO rejected (received_ms, topic, payload, error)
                 VALUES (?1, 'centinela/v1/x/sample', x'00', 'bad')",
                [T0],
            )?;
            // A request filed a month ago and never assessed: past its 4 h assignment target.
            let dependencia = centinela_collector::org::create_dependencia(tx, "t", 1, "Impuestos Internos").unwrap();
            let center = centinela_collector::org::create_center(tx, "t", 1, dependencia, "Centro Renta").unwrap();
            let chief = centinela_collector::tickets::Actor {
                user_id: 1,
                role: centinela_collector::auth::Role::JefeUact,
                centers: vec![],
            };
            let form = centinela_collector::tickets::NewTicket {
                center_id: center,
                server_id: Some(server),
                title: "No entran llamadas".into(),
                description: "Desde la mañana".into(),
                channel: centinela_collector::tickets::Channel::Phone,
                requester: centinela_collector::tickets::Requester::Name("Ana".into()),
            };
            let filed = chrono::Utc::now() - chrono::TimeDelta::days(30);
            let id = centinela_collector::tickets::store::next_id(tx)?;
            let (ticket, entries) = centinela_collector::tickets::file(id, form, &chief, filed).unwrap();
            centinela_collector::tickets::store::insert(tx, &ticket, &entries, "t")?;
            Ok(())
        })
        .await
        .expect("fleet");
    s
}

/// The value of the one series `name` with exactly these labels.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| {
            s.metric == name && s.labels.len() == labels.len() && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
        })
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            ref other => panic!("{name}: not a single value: {other:?}"),
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} appears {} times", found.len());
    found.first().copied()
}

/// Parses the body, first line by line: a line the parser would silently skip is a failure.
fn parse(body: &str) -> Scrape {
    assert!(body.ends_with('\n'), "the last line ends with a line feed");
    let mut samples = 0;
    for line in body.lines() {
        match LineInfo::parse(line) {
            LineInfo::Doc { .. } | LineInfo::Type { .. } => {
                assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE "))
            }
            LineInfo::Sample { value, .. } => {
                assert!(matches!(value, "NaN" | "+Inf" | "-Inf") || value.parse::<f64>().is_ok(), "value of: {line}");
                samples += 1;
            }
            LineInfo::Empty | LineInfo::Ignored => panic!("a line the parser cannot read: {line:?}"),
        }
    }
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("scrape parses");
    assert_eq!(scrape.samples.len(), samples, "every sample line became a sample");
    for s in &scrape.samples {
        assert!(!matches!(s.value, Value::Untyped(_)), "{} has no TYPE line", s.metric);
        assert!(scrape.docs.contains_key(&s.metric), "{} has no HELP line", s.metric);
        assert!(s.metric.starts_with("centinela_"), "{}", s.metric);
    }
    scrape
}

/// `promtool check metrics`, when the machine has it (not required).
fn promtool(body: &str) {
    use std::io::Write;
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not found: skipped");
        return;
    };
    child.stdin.take().expect("stdin").write_all(body.as_bytes()).expect("write to promtool");
    let out = child.wait_with_output().expect("promtool runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // Lint advice (naming) is printed and allowed; a format error is not.
    assert!(!said.contains("error while linting") && !said.contains("parsing error"), "promtool: {said}");
    eprintln!("promtool: {}", if said.trim().is_empty() { "ok" } else { said.trim() });
}

#[tokio::test]
async fn without_a_configured_token_metrics_answers_404_and_says_how_to_turn_it_on() {
    let s = Server::start().await;
    let r = s.get_bearer("/metrics", TOKEN).await;
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Métricas desactivadas") && r.body.contains("metrics_token_file"), "{}", r.body);
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401() {
    let s = Server::start_with_metrics_token(TOKEN).await;
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", r.headers);
    assert!(r.body.contains("Authorization: Bearer"), "{}", r.body);
    for wrong in ["tok-metrics-7c1e9", "tok-metrics-7c1e9b0", "TOK-METRICS-7C1E9B", ""] {
        let r = s.get_bearer("/metrics", wrong).await;
        assert_eq!(r.status, 401, "{wrong:?}");
        assert!(!r.body.contains(TOKEN), "the token is never echoed");
    }
    let basic = s.request("GET", "/metrics", Some(("Authorization", &format!("Basic {TOKEN}"))), None).await;
    assert_eq!(basic.status, 401);
}

#[tokio::test]
async fn the_exposition_parses_and_holds_the_fleet_its_readings_and_the_collector() {
    let s = fleet().await;
    let r = s.get_bearer("/metrics", TOKEN).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let scrape = parse(&r.body);
    if std::env::var_os("CENTINELA_PRINT_METRICS").is_some() {
        println!("{}", r.body);
    }
    promtool(&r.body);
    let renta = [("server", "pbx-renta")];
    let nuevo = [("server", "pbx-nuevo")];
    let at = |name: &str, labels: &[(&str, &str)]| value(&scrape, name, labels);
    let of = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        [("server", "pbx-renta")].into_iter().chain(extra.iter().copied()).collect()
    };

    // Fleet status.
    assert_eq!(at("centinela_server_up", &renta), Some(0.0), "stale is not up");
    assert_eq!(at("centinela_server_up", &nuevo), Some(1.0));
    for (status, expected) in [("online", 0.0), ("offline", 0.0), ("stopped", 0.0), ("stale", 1.0)] {
        assert_eq!(at("centinela_server_status", &of(&[("status", status)])), Some(expected), "{status}");
    }
    assert_eq!(at("centinela_server_last_seen_timestamp_seconds", &renta), Some(1_795_000_000.5));
    assert_eq!(at("centinela_server_last_seen_timestamp_seconds", &nuevo), None, "never seen");
    assert_eq!(at("centinela_server_open_tickets", &renta), Some(1.0));
    assert_eq!(at("centinela_server_open_tickets", &nuevo), Some(0.0));
    assert_eq!(at("centinela_server_problems", &of(&[("severity", "critical")])), Some(1.0));
    assert_eq!(at("centinela_server_problems", &of(&[("severity", "low")])), Some(0.0));

    // The newest sample (seq 42), not the one before it.
    assert_eq!(at("centinela_server_sample_timestamp_seconds", &renta), Some(1_795_000_000.0));
    assert_eq!(at("centinela_agent_outbox_backlog", &renta), Some(5.0));
    assert_eq!(at("centinela_agent_outbox_dropped_total", &renta), Some(2.0));
    assert_eq!(at("centinela_server_health", &renta), Some(2.0), "the degraded md0 is critical");
    assert_eq!(at("centinela_server_health", &nuevo), None, "no sample, no health");
    assert_eq!(at("centinela_raid_degraded_members", &of(&[("array", "md0")])), Some(1.0));
    assert_eq!(at("centinela_filesystem_used_ratio", &of(&[("mount", "/")])), Some(0.75));
    let nct = [("chip", "nct6775"), ("device", "platform/nct6775.656")];
    let sensor = |label: &'static str| of(&[nct[0], nct[1], ("sensor", label)]);
    assert_eq!(at("centinela_temperature_celsius", &sensor("CPUTIN")), Some(41.5));
    assert_eq!(at("centinela_temperature_celsius", &sensor("AUXTIN")), None, "no value, no sample");
    let core0 = of(&[("chip", "coretemp"), ("device", "platform/coretemp.0"), ("sensor", "Core 0")]);
    assert_eq!(at("centinela_temperature_celsius", &core0), Some(45.0));
    assert_eq!(at("centinela_fan_rpm", &of(&[nct[0], nct[1], ("fan", "fan1")])), Some(1205.0));
    assert_eq!(at("centinela_fan_rpm", &of(&[nct[0], nct[1], ("fan", "fan2")])), Some(0.0));
    assert_eq!(at("centinela_disk_smart_healthy", &of(&[("disk", "sda")])), Some(1.0));
    assert_eq!(at("centinela_disk_smart_healthy", &of(&[("disk", "nvme0")])), Some(0.0), "critical warning");
    assert_eq!(at("centinela_disk_reallocated_sectors", &of(&[("disk", "sda")])), Some(8.0));
    assert_eq!(at("centinela_disk_pending_sectors", &of(&[("disk", "sda")])), Some(2.0));
    assert_eq!(at("centinela_asterisk_up", &renta), Some(1.0));
    assert_eq!(at("centinela_asterisk_active_channels", &renta), Some(12.0));
    assert_eq!(at("centinela_asterisk_active_calls", &renta), Some(6.0));
    assert_eq!(at("centinela_asterisk_queue_callers", &of(&[("queue", "ventas")])), Some(3.0));
    let reg = |channel, name| of(&[("channel", channel), ("registration", name)]);
    assert_eq!(at("centinela_asterisk_registration_registered", &reg("pjsip", "carrier")), Some(1.0));
    assert_eq!(at("centinela_asterisk_registration_registered", &reg("sip", "old-carrier")), Some(0.0));
    assert_eq!(at("centinela_cdr_newest_age_seconds", &renta), Some(120.0));
    assert_eq!(at("centinela_admin_app_up", &renta), Some(1.0));
    assert_eq!(at("centinela_admin_app_cert_days_left", &renta), Some(20.0));

    // The collector itself.
    assert_eq!(at("centinela_tickets_open", &[]), Some(1.0));
    assert_eq!(at("centinela_tickets_overdue", &[]), Some(1.0));
    assert_eq!(at("centinela_rejected_payloads", &[]), Some(1.0));
    assert_eq!(at("centinela_undecodable_latest_samples", &[]), Some(1.0));
    assert_eq!(at("centinela_server_health", &[("server", "pbx-viejo")]), None, "what cannot be read is not judged");
    assert_eq!(at("centinela_server_up", &[("server", "pbx-viejo")]), Some(1.0));
    for state in ["pending", "retrying", "given_up"] {
        assert_eq!(at("centinela_notifications_undelivered", &[("state", state)]), Some(0.0), "{state}");
    }
    for counter in [
        "centinela_ingest_samples_stored_total",
        "centinela_ingest_samples_duplicate_total",
        "centinela_ingest_messages_rejected_total",
    ] {
        assert_eq!(at(counter, &[]), Some(0.0), "{counter}: nothing came over MQTT in this test");
        assert!(matches!(scrape.samples.iter().find(|s| s.metric == counter).unwrap().value, Value::Counter(_)));
    }
    assert_eq!(at("centinela_mqtt_connected", &[]), Some(0.0));
    assert_eq!(at("centinela_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
}
