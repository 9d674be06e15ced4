//! `history DIR SERVERS`: chart history and retention (issue 6). Prints measurements; asserts nothing.
//!
//! 1. Raw: one server's 14 days of real-shaped samples (a PBX with host, 4 filesystems, sensors,
//!    2 ATA disks, an NVMe, Asterisk with queues, trunks and endpoints, the CDR database) at a 10 s
//!    interval are stored as the writer stores them, then rolled up by the collector's own job in
//!    its 2,000-sample chunks: bytes per raw sample and rollup throughput.
//! 2. Rollups: SERVERS servers × the series those samples produce, 90 days of 5-minute buckets and
//!    one year of hourly and of 6-hour buckets, inserted time-major (all series of one bucket, then
//!    the next), as the job inserts them, so the b-tree pages fill as they would in production.
//! 3. The series queries of the server page's default charts, for one server, over 24 h, 7 d and
//!    1 year (queries plus JSON encoding, as the API does): median and worst of 20 runs.
//! 4. Migration 0007 on that history (the 6-hour table filled from the hourly one, as when a
//!    collector is upgraded), in a transaction rolled back: how long the upgrade holds startup.
//!
//! Sizes are SQLite's own page accounting (`dbstat`), extrapolated linearly to 100 servers.

use centinela_collector::store::rollup::{self, FIVE_MINUTES_S, HOUR_S, Job, Range, Retention, SIX_HOURS_S};
use centinela_shared::*;
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::Instant;

const INTERVAL_MS: i64 = 10_000;
const DAY_MS: i64 = 86_400_000;
/// The migration that creates and fills `rollup_6h`, timed in step 4.
const MIGRATION_0007: &str = include_str!("../../collector/migrations/0007_rollup_6h.sql");

/// A deterministic pseudo-random stream (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn verdict() -> Verdict {
    Verdict::ok()
}

/// One sample of a typical PBX at `t_ms` (values drift with the time of day).
fn pbx_sample(t_ms: i64, rng: &mut Rng) -> SampleV1 {
    let hour = (t_ms / 3_600_000 % 24) as f64;
    let busy = (-((hour - 11.0) / 4.0).powi(2)).exp();
    let mut readings = vec![Reading::HostV1(HostV1 {
        hostname: "pbx-bench".into(),
        kernel: "6.1.0-28-amd64".into(),
        os: "Debian GNU/Linux 12 (bookworm)".into(),
        uptime_s: (t_ms / 1000) as u64 % 9_000_000,
        cpu_percent: (5.0 + 30.0 * busy + 3.0 * rng.next()) as f32,
        cpu_count: 8,
        load1: 0.4,
        load5: 0.3,
        load15: 0.2,
        mem_total_bytes: 16 << 30,
        mem_available_bytes: 9 << 30,
        swap_total_bytes: 2 << 30,
        swap_used_bytes: 0,
    })];
    for (i, m) in ["/", "/var", "/var/spool/asterisk", "/boot"].iter().enumerate() {
        readings.push(Reading::FilesystemV1(FilesystemV1 {
            mount_point: (*m).into(),
            device: format!("/dev/md{i}"),
            fs_type: "ext4".into(),
            total_bytes: 500 << 30,
            available_bytes: (200u64 << 30) - (t_ms as u64 / 1000) % (100 << 20) * 1000,
            read_only: false,
        }));
    }
    for (i, label) in ["Package id 0", "Core 0", "Core 1", "Core 2", "Core 3"].iter().enumerate() {
        readings.push(Reading::TemperatureV1(TemperatureV1 {
            chip: "coretemp".into(),
            device: "platform/coretemp.0".into(),
            label: (*label).into(),
            celsius: Some((40.0 + 10.0 * busy + i as f64 + rng.next()) as f32),
            max: Some(80.0),
            crit: Some(100.0),
            alarm: false,
            verdict: verdict(),
        }));
    }
    readings.push(Reading::TemperatureV1(TemperatureV1 {
        chip: "nvme".into(),
        device: "nvme/nvme0".into(),
        label: "Composite".into(),
        celsius: Some((38.0 + rng.next() * 2.0) as f32),
        max: Some(84.8),
        crit: Some(84.8),
        alarm: false,
        verdict: verdict(),
    }));
    for i in 1..=3 {
        readings.push(Reading::FanV1(FanV1 {
            chip: "nct6775".into(),
            device: "platform/nct6775.656".into(),
            label: format!("fan{i}"),
            rpm: Some(1100 + (200.0 * busy) as u32 + (rng.next() * 30.0) as u32),
            min: Some(300),
            alarm: false,
            verdict: verdict(),
        }));
    }
    for dev in ["sda", "sdb"] {
        readings.push(Reading::AtaDiskV1(AtaDiskV1 {
            device: dev.into(),
            model: Some("WDC WD1003FZEX-00K3CA0".into()),
            serial: Some("WD-WCC6Y0000000".into()),
            firmware: Some("01.01A01".into()),
            capacity_bytes: Some(1_000_204_886_016),
            rotational: Some(true),
            access: DiskAccess::Read,
            smart_status: Some(SmartStatus::Passed),
            attributes: [1u8, 3, 4, 5, 7, 9, 10, 12, 192, 193, 194, 196, 197, 198, 199, 200]
                .iter()
                .map(|&id| AtaAttributeV1 {
                    id,
                    name: "Raw_Read_Error_Rate".into(),
                    flags: 0x2f,
                    prefail: id < 10,
                    value: 200,
                    worst: 200,
                    threshold: Some(51),
                    raw: u64::from(id) * 7,
                    failing_now: false,
                })
                .collect(),
            reallocated: Some(0),
            pending: Some(0),
            offline_uncorrectable: Some(0),
            reported_uncorrectable: Some(0),
            command_timeout: Some(0),
            udma_crc_errors: Some(0),
            power_on_hours: Some(40_000),
            temperature_c: Some(36),
            errors: vec![],
            verdict: verdict(),
        }));
    }
    readings.push(Reading::NvmeDiskV1(NvmeDiskV1 {
        device: "nvme0".into(),
        model: Some("Samsung SSD 980 1TB".into()),
        serial: Some("S64ANS0T000000".into()),
        firmware: Some("3B4QFXO7".into()),
        access: DiskAccess::Read,
        critical_warning: Some(0),
        critical_warnings: vec![],
        temperature_c: Some(39),
        available_spare_pct: Some(100),
        spare_threshold_pct: Some(10),
        percentage_used: Some(2),
        media_errors: Some(0),
        unsafe_shutdowns: Some(12),
        power_on_hours: Some(9000),
        data_written_bytes: Some(40 << 40),
        errors: vec![],
        verdict: verdict(),
    }));
    let calls = (40.0 * busy + rng.next() * 3.0) as u32;
    readings.push(Reading::AsteriskV1(AsteriskV1 {
        ami: AmiState::Up,
        version: Some("20.5.2".into()),
        uptime_s: Some(1_000_000),
        since_reload_s: Some(50_000),
        active_channels: Some(calls * 2),
        active_calls: Some(calls),
        calls_processed: Some((t_ms / 60_000) as u64),
        longest_channel: Some("PJSIP/claro-00000a1b".into()),
        longest_channel_s: Some(300),
        queues: ["ventas", "soporte", "cobros"]
            .iter()
            .map(|q| QueueV1 {
                name: (*q).into(),
                callers: (5.0 * busy * rng.next()) as u32,
                longest_wait_s: 30,
                members_logged_in: 8,
                members_available: 3,
                members_paused: 1,
                verdict: verdict(),
            })
            .collect(),
        registrations: ["claro", "tigo", "movistar", "digicel"]
            .iter()
            .map(|r| RegistrationV1 {
                name: (*r).into(),
                server_uri: format!("sip:{r}.carrier.example:5060"),
                status: if rng.next() < 0.995 { "Registered" } else { "Rejected" }.into(),
                verdict: verdict(),
            })
            .collect(),
        endpoints: (0..40)
            .map(|i| EndpointV1 {
                name: format!("{}", 1000 + i),
                device_state: "Not in use".into(),
                contacts_total: 1,
                contacts_reachable: 1,
                trunk: false,
                verdict: verdict(),
            })
            .collect(),
        sip_peers: None,
        sip_registry: None,
        verdict: verdict(),
    }));
    readings.push(Reading::DatabaseV1(DatabaseV1 {
        backend: "mariadb".into(),
        target: "127.0.0.1:3306/asteriskcdrdb".into(),
        connected: true,
        error: None,
        connect_ms: Some(2),
        query_ms: Some(1),
        newest_calldate: Some("2026-11-27 10:00:00".into()),
        newest_age_s: Some(20),
        rows_last_hour: Some((400.0 * busy) as u64),
        verdict: verdict(),
    }));
    SampleV1 {
        agent_version: "0.1.0".into(),
        interval_ms: INTERVAL_MS as u32,
        outbox: OutboxStats::default(),
        probes: vec![],
        readings,
    }
}

/// Bytes per table (and index), from SQLite's page accounting.
fn sizes(conn: &Connection) -> anyhow::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn size_of(sizes: &[(String, i64)], prefix: &str) -> i64 {
    sizes.iter().filter(|(n, _)| n.starts_with(prefix) || n.contains(&format!("_{prefix}_"))).map(|(_, b)| b).sum()
}

fn mib(b: f64) -> String {
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

pub fn run(dir: &Path, servers: usize) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);

    // 1. Raw samples of one server for 14 days, then the job over them.
    let raw_dir = dir.join("raw");
    let mut raw = centinela_collector::store::open_writer(&raw_dir)?;
    raw.execute("INSERT INTO servers (agent_id, first_seen, status_since) VALUES ('pbx-bench', 0, 0)", [])?;
    let n = (14 * DAY_MS / INTERVAL_MS) as u64;
    let start = now - 14 * DAY_MS;
    let mut payload_bytes = 0usize;
    let t = Instant::now();
    {
        let tx = raw.transaction()?;
        {
            let mut ins = tx.prepare(
                "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload) VALUES (1, ?1, ?2, ?2, ?3)",
            )?;
            for seq in 1..=n {
                let at = start + seq as i64 * INTERVAL_MS;
                let payload = encode_envelope(&Envelope {
                    v: WIRE_VERSION,
                    agent: "pbx-bench".into(),
                    seq,
                    taken_ms: at,
                    body: Body::SampleV1(pbx_sample(at, &mut rng)),
                });
                payload_bytes += payload.len();
                ins.execute(params![seq as i64, at, payload])?;
            }
        }
        tx.execute("UPDATE servers SET last_seq = ?1, samples = ?1 WHERE id = 1", [n as i64])?;
        tx.commit()?;
    }
    let stored_s = t.elapsed().as_secs_f64();
    let raw_sizes = sizes(&raw)?;
    let samples_bytes = size_of(&raw_sizes, "samples") as f64;
    let t = Instant::now();
    let mut job = Job::new(Retention::default());
    let mut chunks = 0;
    while job.roll_chunk(&mut raw, now, rollup::ROLL_CHUNK)? == rollup::ROLL_CHUNK {
        chunks += 1;
    }
    let roll_s = t.elapsed().as_secs_f64();
    let series_per_server: i64 = raw.query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
    println!(
        "raw: {n} samples of one PBX (14 d at 10 s), postcard {:.0} B/sample, stored {} in `samples` = {:.0} B/sample on disk ({:.1} s to generate and store)",
        payload_bytes as f64 / n as f64,
        mib(samples_bytes),
        samples_bytes / n as f64,
        stored_s
    );
    println!(
        "rollup job: {n} samples in {} chunks of {} in {roll_s:.2} s = {:.0} samples/s, {:.1} ms per chunk; {series_per_server} series per server",
        chunks + 1,
        rollup::ROLL_CHUNK,
        n as f64 / roll_s,
        roll_s * 1000.0 / (chunks + 1) as f64
    );
    let t = Instant::now();
    let purge_later = now + 90 * DAY_MS;
    let mut purged = 0;
    loop {
        let d = job.purge_chunk(&mut raw, purge_later, rollup::PURGE_CHUNK)?;
        purged += d;
        if d < rollup::PURGE_CHUNK {
            break;
        }
    }
    println!(
        "purge: {purged} rows (all but the newest sample, the 5-minute rollups) in {:.2} s = {:.0} rows/s in chunks of {}",
        t.elapsed().as_secs_f64(),
        purged as f64 / t.elapsed().as_secs_f64(),
        rollup::PURGE_CHUNK
    );
    let subjects: Vec<(String, String)> = raw
        .prepare("SELECT metric, subject FROM series ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    drop(raw);

    // 2. A year of rollups for SERVERS servers, inserted time-major as the job does.
    let hist_dir = dir.join("history");
    let mut conn = centinela_collector::store::open_writer(&hist_dir)?;
    let t = Instant::now();
    {
        let tx = conn.transaction()?;
        for s in 1..=servers {
            tx.execute(
                "INSERT INTO servers (agent_id, first_seen, status_since) VALUES (?1, 0, 0)",
                [format!("pbx-{s:03}")],
            )?;
            for (m, subj) in &subjects {
                tx.execute(
                    "INSERT INTO series (server_id, metric, subject) VALUES (?1, ?2, ?3)",
                    params![s as i64, m, subj],
                )?;
            }
        }
        tx.commit()?;
    }
    let series: Vec<(i64, String)> = conn
        .prepare("SELECT id, metric FROM series ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let fractional = |m: &str| matches!(m, "temperature" | "fs_used_percent");
    for (table, width, days) in
        [("rollup_1h", HOUR_S, 365), ("rollup_6h", SIX_HOURS_S, 365), ("rollup_5m", FIVE_MINUTES_S, 90)]
    {
        let first = rollup::bucket_start(now - days * DAY_MS, width);
        let last = rollup::bucket_start(now, width);
        let count = width * 1000 / INTERVAL_MS;
        let mut bucket = first;
        while bucket <= last {
            let tx = conn.transaction()?;
            {
                let mut ins = tx.prepare_cached(&format!(
                    "INSERT INTO {table} (series_id, bucket, min, max, sum, count) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ))?;
                // One day of buckets per transaction.
                let end = (bucket + 86_400).min(last + width);
                while bucket < end {
                    for (id, m) in &series {
                        let base = 10.0 + (*id % 50) as f64;
                        let (lo, hi, sum) = if fractional(m) {
                            let avg = base + rng.next() * 5.0;
                            (avg - rng.next(), avg + rng.next(), avg * count as f64)
                        } else {
                            let v = (base * rng.next()).round();
                            (v, v + (rng.next() * 3.0).round(), (v + 1.0) * count as f64)
                        };
                        ins.execute(params![id, bucket, lo, hi, sum, count])?;
                    }
                    bucket += width;
                }
            }
            tx.commit()?;
        }
    }
    let gen_s = t.elapsed().as_secs_f64();
    let hist_sizes = sizes(&conn)?;
    let (r5, r1, r6, ser) = (
        size_of(&hist_sizes, "rollup_5m") as f64,
        size_of(&hist_sizes, "rollup_1h") as f64,
        size_of(&hist_sizes, "rollup_6h") as f64,
        size_of(&hist_sizes, "series") as f64,
    );
    let count = |table: &str| conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0));
    let (rows5, rows1, rows6) = (count("rollup_5m")?, count("rollup_1h")?, count("rollup_6h")?);
    println!(
        "rollups: {servers} servers × {series_per_server} series: rollup_5m 90 d {rows5} rows {} ({:.1} B/row), rollup_1h 365 d {rows1} rows {} ({:.1} B/row), rollup_6h 365 d {rows6} rows {} ({:.1} B/row), series {} ({gen_s:.1} s to generate)",
        mib(r5),
        r5 / rows5 as f64,
        mib(r1),
        r1 / rows1 as f64,
        mib(r6),
        r6 / rows6 as f64,
        mib(ser)
    );
    let scale = 100.0 / servers as f64;
    let raw_100 = samples_bytes * 100.0;
    let roll_100 = (r5 + r1 + r6 + ser) * scale;
    println!(
        "estimate, 100 servers at 10 s: raw 14 d {} + 5-minute 90 d {} + hourly 1 y {} + 6-hour 1 y {} + series {} = {} (hourly and 6-hour 2 y add {})",
        mib(raw_100),
        mib(r5 * scale),
        mib(r1 * scale),
        mib(r6 * scale),
        mib(ser * scale),
        mib(raw_100 + roll_100),
        mib((r1 + r6) * scale)
    );

    // 3. The default charts' queries for one server.
    let server = rollup::server_key(&conn, "pbx-001")?.expect("server");
    let groups: &[&[&str]] = &[
        &["temperature"],
        &["fan_rpm"],
        &["fs_used_percent"],
        &["asterisk_calls", "asterisk_channels"],
        &["queue_callers"],
        &["registration"],
        &["cdr_rows_last_hour"],
        &["smart_reallocated", "smart_pending", "smart_offline_uncorrectable", "nvme_media_errors"],
        &["outbox_backlog"],
    ];
    drop(conn);
    let reader = centinela_collector::store::open_reader(&hist_dir)?;
    for range in [Range::H24, Range::D7, Range::Y1] {
        let mut times = Vec::new();
        let mut points = 0usize;
        let mut bytes = 0usize;
        for _ in 0..21 {
            let t = Instant::now();
            points = 0;
            bytes = 0;
            let listed = rollup::available(&reader, server)?;
            bytes += listed.len();
            for g in groups {
                let mut all = Vec::new();
                for m in *g {
                    all.extend(rollup::series(&reader, server, rollup::metric(m).expect("metric"), range, now)?);
                }
                points += all.iter().map(|s| s.points.len()).sum::<usize>();
                bytes += serde_json::to_vec(&all)?.len();
            }
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.remove(0); // the first run warms the page cache
        times.sort_by(f64::total_cmp);
        println!(
            "server page charts, range {}: {} series queries, {points} points, {:.0} KiB of JSON: median {:.1} ms, worst {:.1} ms (20 runs)",
            range.as_str(),
            groups.iter().map(|g| g.len()).sum::<usize>() + 1,
            bytes as f64 / 1024.0,
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    drop(reader);

    // 4. Migration 0007 as an upgrade runs it, on this history, then rolled back.
    let mut conn = centinela_collector::store::open_writer(&hist_dir)?;
    let tx = conn.transaction()?;
    tx.execute_batch("DROP TABLE rollup_6h")?;
    let t = Instant::now();
    tx.execute_batch(MIGRATION_0007)?;
    let migrate_s = t.elapsed().as_secs_f64();
    let filled: i64 = tx.query_row("SELECT count(*) FROM rollup_6h", [], |r| r.get(0))?;
    drop(tx);
    println!(
        "migration 0007: rollup_6h filled with {filled} rows from {rows1} hourly rows in {migrate_s:.2} s ({servers} servers × 1 y; one transaction at startup)"
    );
    Ok(())
}
