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

/// The admin application readings added with the admin_app probe: one answering over TLS with a
/// certificate close to expiry, one not answering.
fn sample_v1_admin_app() -> Envelope {
    let mut expiring = Verdict::ok();
    expiring.raise(Level::Warning, "el certificado TLS de la aplicación de administración vence en 4 días");
    let mut down = Verdict::ok();
    down.raise(
        Level::Critical,
        "la aplicación de administración no responde en http://127.0.0.1:8080/: conexión rechazada en 127.0.0.1:8080",
    );
    Envelope {
        v: WIRE_VERSION,
        agent: "pbx-rentas-01".into(),
        seq: 4321,
        taken_ms: 1_795_780_800_000,
        body: Body::SampleV1(SampleV1 {
            agent_version: "0.1.0".into(),
            interval_ms: 10_000,
            outbox: OutboxStats::default(),
            probes: vec![ProbeReport { probe: "admin_app".into(), outcome: Outcome::Ok, duration_us: 12_500 }],
            readings: vec![
                Reading::AdminAppV1(AdminAppV1 {
                    url: "https://127.0.0.1/admin".into(),
                    reachable: true,
                    error: None,
                    status: Some(302),
                    latency_ms: Some(48),
                    location: Some("/admin/config.php".into()),
                    tls: Some(TlsCertV1 {
                        subject: "CN=pbx-rentas-01,O=Rentas".into(),
                        issuer: "CN=pbx-rentas-01,O=Rentas".into(),
                        not_after: "2026-12-02 12:00:00 UTC".into(),
                        days_left: 4,
                        self_signed: true,
                        trusted: false,
                        hostname_matches: false,
                    }),
                    verdict: expiring,
                }),
                Reading::AdminAppV1(AdminAppV1 {
                    url: "http://127.0.0.1:8080/".into(),
                    reachable: false,
                    error: Some(down.reasons[0].clone()),
                    status: None,
                    latency_ms: None,
                    location: None,
                    tls: None,
                    verdict: down,
                }),
            ],
        }),
    }
}

#[test]
fn admin_app_readings_encoded_when_the_probe_was_added_still_decode() {
    let value = sample_v1_admin_app();
    check_golden("sample_v1_admin_app.bin", &encode_envelope(&value), |b| decode_envelope(b) == Ok(value.clone()));
}

/// The call-record batches and the shipping reading added with CDR shipping: a FreePBX row (every
/// optional column present), an Issabel-style row (no linkedid, sequence or peeraccount, one extra
/// column), two queue_log lines and the shipper's progress in a sample.
fn call_records() -> Vec<Envelope> {
    let freepbx = CdrRowV1 {
        calldate: "2026-11-27 09:51:38".into(),
        clid: "\"John Smith\" <3105550123>".into(),
        src: "3105550123".into(),
        dst: "sales".into(),
        dcontext: "ext-queues".into(),
        channel: "PJSIP/carrier-00000001".into(),
        dstchannel: String::new(),
        lastapp: "Queue".into(),
        lastdata: "sales,t,,,900".into(),
        duration: 40,
        billsec: 40,
        disposition: "ANSWERED".into(),
        amaflags: "3".into(),
        accountcode: String::new(),
        uniqueid: "1795773098.1".into(),
        userfield: "queue:sales".into(),
        linkedid: Some("1795773098.1".into()),
        sequence: Some(1),
        peeraccount: Some(String::new()),
        did: Some("5001".into()),
        recordingfile: Some(String::new()),
        cnum: Some(String::new()),
        cnam: Some(String::new()),
        outbound_cnum: Some(String::new()),
        outbound_cnam: Some(String::new()),
        dst_cnam: Some(String::new()),
        extra: vec![],
    };
    let issabel = CdrRowV1 {
        calldate: "2026-11-27 10:02:11".into(),
        src: "1001".into(),
        dst: "95550100".into(),
        dcontext: "from-internal".into(),
        disposition: "BUSY".into(),
        uniqueid: "1700000000.7".into(),
        extra: vec![("campaign".into(), "cobros".into())],
        ..CdrRowV1::default()
    };
    let mut waiting = Verdict::ok();
    waiting.raise(Level::Warning, "el CDR espera: la bandeja de salida está llena de registros sin confirmar");
    vec![
        Envelope {
            v: WIRE_VERSION,
            agent: "pbx-rentas-01".into(),
            seq: 77,
            taken_ms: 1_795_773_200_000,
            body: Body::CdrBatchV1(CdrBatchV1 {
                source: "mariadb 127.0.0.1:3306/asteriskcdrdb cdr".into(),
                rows: vec![freepbx, issabel],
            }),
        },
        Envelope {
            v: WIRE_VERSION,
            agent: "pbx-rentas-01".into(),
            seq: 78,
            taken_ms: 1_795_773_200_001,
            body: Body::QueueLogBatchV1(QueueLogBatchV1 {
                source: "/var/log/asterisk/queue_log".into(),
                entries: vec![
                    QueueLogEntryV1 {
                        time: 1_795_773_101,
                        callid: "1795773098.1".into(),
                        queue: "sales".into(),
                        agent: "Local/1002@from-queue/n".into(),
                        event: "CONNECT".into(),
                        data: vec!["3".into(), "1795773098.9".into(), "2".into()],
                        offset: 62,
                        file_id: "2049:131:9f86d081".into(),
                    },
                    QueueLogEntryV1 {
                        event: "?".into(),
                        data: vec!["garbage".into()],
                        offset: 140,
                        file_id: "2049:131:9f86d081".into(),
                        ..QueueLogEntryV1::default()
                    },
                ],
            }),
        },
        Envelope {
            v: WIRE_VERSION,
            agent: "pbx-rentas-01".into(),
            seq: 79,
            taken_ms: 1_795_773_210_000,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats { backlog: 40, dropped_total: 0 },
                probes: vec![],
                readings: vec![Reading::ShippingV1(ShippingV1 {
                    what: "cdr".into(),
                    source: "mariadb 127.0.0.1:3306/asteriskcdrdb cdr".into(),
                    position: Some("2026-11-27 10:02:11".into()),
                    shipped: 76,
                    error: None,
                    catching_up: false,
                    held_back: true,
                    verdict: waiting,
                })],
            }),
        },
    ]
}

#[test]
fn call_record_batches_encoded_when_shipping_was_added_still_decode() {
    for (i, value) in call_records().into_iter().enumerate() {
        let name = format!("call_records_{i}.bin");
        check_golden(&name, &encode_envelope(&value), |b| decode_envelope(b) == Ok(value.clone()));
    }
}

#[test]
fn a_row_identity_computed_when_shipping_was_added_never_changes() {
    // The collector stores rows by this identity; a change would store every row shipped again
    // after an upgrade a second time.
    let Body::CdrBatchV1(b) = &call_records()[0].body else { unreachable!() };
    let hex: Vec<String> = b.rows.iter().map(|r| r.key().iter().map(|x| format!("{x:02x}")).collect()).collect();
    check_golden("cdr_row_keys.txt", hex.join("\n").as_bytes(), |old| old == hex.join("\n").as_bytes());
}

/// The command channel as first released: "verificar ahora", its reply with the full sample, and a
/// refusal.
fn verify_now_command() -> CommandV1 {
    CommandV1 {
        request_id: 0x5EED_0001_0000_002A,
        agent_id: "pbx-rentas-01".into(),
        issued_ms: 1_795_900_000_000,
        expires_ms: 1_795_900_060_000,
        kind: CommandKind::VerifyNow,
    }
}

fn verify_now_replies() -> [ReplyV1; 2] {
    let mut env = sample_v1();
    env.seq = 0;
    env.taken_ms = 1_795_900_000_400;
    [
        ReplyV1 {
            request_id: 0x5EED_0001_0000_002A,
            agent_id: "pbx-rentas-01".into(),
            replied_ms: 1_795_900_000_450,
            body: ReplyBody::Sample(env),
        },
        ReplyV1 {
            request_id: 0x5EED_0001_0000_002B,
            agent_id: "pbx-rentas-01".into(),
            replied_ms: 1_795_900_000_450,
            body: ReplyBody::Refused("la orden venció hace 12 s según el reloj del agente".into()),
        },
    ]
}

#[test]
fn a_verify_now_command_encoded_when_commands_were_added_still_decodes() {
    let value = verify_now_command();
    check_golden("command_v1_verify_now.bin", &encode_command(&value), |b| decode_command(b) == Ok(value.clone()));
}

#[test]
fn replies_encoded_when_commands_were_added_still_decode() {
    for (name, value) in ["reply_v1_sample.bin", "reply_v1_refused.bin"].into_iter().zip(verify_now_replies()) {
        check_golden(name, &encode_reply(&value), |b| decode_reply(b) == Ok(value.clone()));
    }
}

/// Call recordings fetched in chunks: the command for one chunk, a chunk, and a refusal saying the
/// file is too big.
fn recording_chunk_command() -> CommandV1 {
    CommandV1 {
        request_id: 0x5EED_0002_0000_0001,
        agent_id: "pbx-rentas-01".into(),
        issued_ms: 1_795_950_000_000,
        expires_ms: 1_795_950_020_000,
        kind: CommandKind::RecordingChunk {
            recordingfile: "in-5000-2125550101-20261127-095138-1795773098.0.wav".into(),
            calldate: "2026-11-27 09:51:38".into(),
            offset: 262_144,
            max_len: 262_144,
        },
    }
}

fn recording_chunk_replies() -> [ReplyV1; 2] {
    [
        ReplyV1 {
            request_id: 0x5EED_0002_0000_0001,
            agent_id: "pbx-rentas-01".into(),
            replied_ms: 1_795_950_000_120,
            body: ReplyBody::Chunk {
                total_len: 262_160,
                offset: 262_144,
                data: b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec(),
                content_type: "audio/wav".into(),
            },
        },
        ReplyV1 {
            request_id: 0x5EED_0002_0000_0002,
            agent_id: "pbx-rentas-01".into(),
            replied_ms: 1_795_950_000_130,
            body: ReplyBody::RecordingRefused {
                refusal: RecordingRefusal::TooLarge { total_len: 70_000_000, max_bytes: 67_108_864 },
                why: "la grabación ocupa 70000000 bytes, más que recordings.max_bytes = 67108864".into(),
            },
        },
    ]
}

#[test]
fn a_recording_chunk_command_encoded_when_recordings_were_added_still_decodes() {
    let value = recording_chunk_command();
    check_golden("command_v1_recording_chunk.bin", &encode_command(&value), |b| decode_command(b) == Ok(value.clone()));
}

#[test]
fn recording_replies_encoded_when_recordings_were_added_still_decode() {
    for (name, value) in
        ["reply_v1_chunk.bin", "reply_v1_recording_refused.bin"].into_iter().zip(recording_chunk_replies())
    {
        check_golden(name, &encode_reply(&value), |b| decode_reply(b) == Ok(value.clone()));
    }
}
