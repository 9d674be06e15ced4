//! Golden files: bytes encoded by earlier releases must keep decoding to the same values.
//!
//! The `.bin` files under `tests/golden/` are never rewritten. A missing file is created only when
//! `CENTINELA_BLESS=1` is set (when a new variant is added); a change to the wire format that breaks
//! an existing file fails here, in CI.

use centinela_shared::*;
use std::path::PathBuf;

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn check_golden(name: &str, encoded_now: &[u8], decode_ok: impl Fn(&[u8]) -> bool) {
    let path = golden_path(name);
    if !path.exists() && std::env::var("CENTINELA_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, encoded_now).unwrap();
    }
    let old = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run once with CENTINELA_BLESS=1 to create it", path.display()));
    assert!(decode_ok(&old), "{name}: bytes from an earlier release no longer decode to the same value");
    assert_eq!(
        old, encoded_now,
        "{name}: the encoding of the same value changed; old agents and collectors would disagree"
    );
}

fn sample_v1() -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        agent: "pbx-rentas-01".into(),
        seq: 1234,
        taken_ms: 1_795_000_000_123,
        body: Body::SampleV1(SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats { backlog: 2, dropped_total: 7 },
            probes: vec![
                ProbeReport { probe: "host".into(), outcome: Outcome::Ok, duration_us: 850 },
                ProbeReport {
                    probe: "filesystems".into(),
                    outcome: Outcome::Failed("statvfs /mnt/nfs: timed out".into()),
                    duration_us: 2_000_000,
                },
                ProbeReport {
                    probe: "raid".into(),
                    outcome: Outcome::NotApplicable("no md arrays in /sys/block".into()),
                    duration_us: 40,
                },
            ],
            readings: vec![
                Reading::HostV1(HostV1 {
                    hostname: "pbx-rentas-01".into(),
                    kernel: "6.1.0-26-amd64".into(),
                    os: "Debian GNU/Linux 12 (bookworm)".into(),
                    uptime_s: 864_000,
                    cpu_percent: 12.5,
                    cpu_count: 4,
                    load1: 0.42,
                    load5: 0.38,
                    load15: 0.30,
                    mem_total_bytes: 8_000_000_000,
                    mem_available_bytes: 5_000_000_000,
                    swap_total_bytes: 2_000_000_000,
                    swap_used_bytes: 0,
                }),
                Reading::FilesystemV1(FilesystemV1 {
                    mount_point: "/var/spool/asterisk/monitor".into(),
                    device: "/dev/md2".into(),
                    fs_type: "ext4".into(),
                    total_bytes: 500_000_000_000,
                    available_bytes: 25_000_000_000,
                    read_only: false,
                }),
            ],
        }),
    }
}

fn birth_v1() -> BirthMsg {
    BirthMsg::V1(BirthV1 {
        agent: "pbx-rentas-01".into(),
        agent_version: "0.1.0".into(),
        hostname: "pbx-rentas-01".into(),
        probes: vec!["host".into(), "filesystems".into()],
        config_hash: "5d41402abc4b2a76b9719d911017c592".into(),
        interval_ms: 10_000,
        started_ms: 1_795_000_000_000,
    })
}

#[test]
fn sample_v1_bytes_from_release_0_1_still_decode() {
    let value = sample_v1();
    check_golden("sample_v1.bin", &encode_envelope(&value), |b| decode_envelope(b) == Ok(value.clone()));
}

#[test]
fn birth_v1_bytes_from_release_0_1_still_decode() {
    let value = birth_v1();
    check_golden("birth_v1.bin", &encode_birth(&value), |b| decode_birth(b) == Ok(value.clone()));
}

/// The hardware readings added with the raid and sensors probes (release 0.2 of the wire).
fn sample_v1_hardware() -> Envelope {
    let mut degraded = Verdict::ok();
    degraded.raise(Level::Critical, "arreglo RAID degradado: falta 1 de 2 miembros");
    degraded.raise(Level::Critical, "miembro fallido: sdb1");
    let mut hot = Verdict::ok();
    hot.raise(Level::Warning, "temperatura 52.0 °C ≥ máxima 50.0 °C");
    Envelope {
        v: WIRE_VERSION,
        agent: "pbx-aduanas-02".into(),
        seq: 99,
        taken_ms: 1_795_000_100_000,
        body: Body::SampleV1(SampleV1 {
            agent_version: "0.2.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats::default(),
            probes: vec![ProbeReport { probe: "raid".into(), outcome: Outcome::Ok, duration_us: 120 }],
            readings: vec![
                Reading::RaidArrayV1(RaidArrayV1 {
                    name: "md0".into(),
                    level: "raid1".into(),
                    array_state: "clean".into(),
                    raid_disks: 2,
                    degraded: 1,
                    sync_action: "recover".into(),
                    sync_completed: Some((1024, 65_536)),
                    sync_speed_kib: Some(2000),
                    mismatch_cnt: Some(0),
                    members: vec![
                        RaidMemberV1 {
                            device: "sda1".into(),
                            slot: Some(0),
                            state: vec!["in_sync".into()],
                            errors: Some(0),
                        },
                        RaidMemberV1 {
                            device: "sdb1".into(),
                            slot: None,
                            state: vec!["faulty".into()],
                            errors: Some(12),
                        },
                    ],
                    from_mdstat: false,
                    verdict: degraded,
                }),
                Reading::TemperatureV1(TemperatureV1 {
                    chip: "drivetemp".into(),
                    device: "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0".into(),
                    label: "temp1".into(),
                    celsius: Some(52.0),
                    max: Some(50.0),
                    crit: None,
                    alarm: false,
                    verdict: hot,
                }),
                Reading::FanV1(FanV1 {
                    chip: "nct6775".into(),
                    device: "platform/nct6775.656".into(),
                    label: "fan1".into(),
                    rpm: Some(1200),
                    min: Some(300),
                    alarm: false,
                    verdict: Verdict::ok(),
                }),
            ],
        }),
    }
}

#[test]
fn hardware_readings_from_release_0_2_still_decode() {
    let value = sample_v1_hardware();
    check_golden("sample_v1_hardware.bin", &encode_envelope(&value), |b| decode_envelope(b) == Ok(value.clone()));
}

#[test]
fn postcard_is_several_times_smaller_than_json_for_the_same_sample() {
    let value = sample_v1();
    let postcard = encode_envelope(&value).len();
    let json = serde_json::to_vec(&value).unwrap().len();
    assert!(postcard * 2 < json, "postcard {postcard} B vs JSON {json} B");
}
