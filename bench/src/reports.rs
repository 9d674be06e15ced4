//! `reports DIR [ROWS] [RUNS]`: a call center's monthly figures (issue 8) over ROWS CDR rows of one
//! month (default 1,000,000) and the `queue_log` of its queue calls. Prints measurements; asserts
//! nothing.
//!
//! The month is October 2026 on one server (a ministry call center is one Asterisk), generated
//! FreePBX-shaped: ring-all queue calls with `Local/` member legs (answered, abandoned, nobody
//! free), DIDs to extensions, outgoing calls through the trunk (answered, unanswered with their
//! Hangup row, busy, congested) and internal calls, more in office hours, to 5,000 numbers of
//! skewed popularity. Rows are inserted under their real `row_key` (a hash), so the index reads
//! jump around the table as in production. A second server of another center and the neighbouring
//! days of September and November sit in the same tables. Timed: `source::month` on a fresh reader
//! connection, RUNS times (default 5): median and worst.

use centinela_collector::reports::settings::Settings;
use centinela_collector::reports::source;
use rusqlite::{Connection, params};
use std::path::Path;
use std::time::Instant;

/// A deterministic pseudo-random stream (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.next() * n as f64) as u64 % n.max(1)
    }
}

/// One CDR row, as the generator writes it.
#[derive(Default, Clone)]
struct Row {
    calldate: String,
    src: String,
    dst: String,
    dcontext: &'static str,
    channel: String,
    dstchannel: String,
    lastapp: &'static str,
    lastdata: String,
    duration: i64,
    billsec: i64,
    disposition: &'static str,
    uniqueid: String,
    linkedid: String,
    sequence: i64,
    did: &'static str,
    outbound_cnum: &'static str,
}

/// SplitMix64: the row's 16-byte key, spread like the SHA-256 prefix production uses.
fn row_key(n: u64) -> [u8; 16] {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (mix(n.wrapping_mul(2) + 1), mix(n.wrapping_mul(2) + 2));
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&a.to_be_bytes());
    key[8..].copy_from_slice(&b.to_be_bytes());
    key
}

fn text(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

struct Generator {
    rng: Rng,
    rows: Vec<Row>,
    /// `(epoch, callid, queue, event, data JSON)`.
    queue: Vec<(i64, String, &'static str, &'static str, String)>,
    seq: i64,
    channel: u64,
}

impl Generator {
    fn chan(&mut self, tech_name: &str) -> String {
        self.channel += 1;
        format!("{tech_name}-{:08x}", self.channel)
    }

    /// One call starting at wall-clock second `t` (El Salvador time, which is also the calldate).
    fn call(&mut self, t: i64, uid: &str) {
        let r = self.rng.next();
        let cd = |s: i64| text(t + s);
        let ring = 2 + self.rng.below(20) as i64;
        let talk = 20 + self.rng.below(400) as i64;
        let epoch = t + 6 * 3600;
        let mut rows = Vec::new();
        let base = Row { uniqueid: uid.into(), linkedid: uid.into(), src: "2125550101".into(), ..Row::default() };
        if r < 0.40 {
            // Queue call on DID 5000, queue "soporte" (ring-all of two members), or "ventas".
            let queue = if self.rng.next() < 0.7 { "soporte" } else { "ventas" };
            let trunk = self.chan("PJSIP/carrier");
            let wait = ring + self.rng.below(90) as i64;
            let q = |dst: String, disposition: &'static str, billsec: i64, duration: i64| Row {
                calldate: cd(0),
                dst: queue.into(),
                dcontext: "ext-queues",
                channel: trunk.clone(),
                dstchannel: dst,
                lastapp: "Queue",
                lastdata: format!("{queue},t,,,600"),
                duration,
                billsec,
                disposition,
                did: "5000",
                ..base.clone()
            };
            self.queue.push((epoch, uid.into(), queue, "ENTERQUEUE", "[\"\",\"2125550101\",\"1\"]".into()));
            let s = self.rng.next();
            if s < 0.75 {
                let m1 = self.chan("Local/1002@from-queue");
                let m2 = self.chan("Local/1001@from-queue");
                rows.push(q(format!("{m1};1"), "NO ANSWER", ring, ring));
                rows.push(Row {
                    calldate: cd(0),
                    dst: "1002".into(),
                    dcontext: "from-queue",
                    channel: format!("{m1};2"),
                    dstchannel: self.chan("PJSIP/1002"),
                    lastapp: "Dial",
                    lastdata: "PJSIP/1002,,".into(),
                    duration: ring,
                    disposition: "NO ANSWER",
                    uniqueid: format!("{uid}1"),
                    ..base.clone()
                });
                rows.push(Row {
                    calldate: cd(0),
                    dst: "1001".into(),
                    dcontext: "from-queue",
                    channel: format!("{m2};2"),
                    dstchannel: self.chan("PJSIP/1001"),
                    lastapp: "Dial",
                    lastdata: "PJSIP/1001,,".into(),
                    duration: wait + talk,
                    billsec: talk,
                    disposition: "ANSWERED",
                    uniqueid: format!("{uid}2"),
                    ..base.clone()
                });
                rows.push(q(format!("{m2};1"), "ANSWERED", wait + talk, wait + talk));
                self.queue.push((
                    epoch + wait,
                    uid.into(),
                    queue,
                    "CONNECT",
                    format!("[\"{wait}\",\"{uid}2\",\"{ring}\"]"),
                ));
                let end = if self.rng.next() < 0.6 { "COMPLETECALLER" } else { "COMPLETEAGENT" };
                self.queue.push((
                    epoch + wait + talk,
                    uid.into(),
                    queue,
                    end,
                    format!("[\"{wait}\",\"{talk}\",\"1\"]"),
                ));
            } else if s < 0.90 {
                rows.push(q(String::new(), "ANSWERED", wait, wait));
                self.queue.push((epoch + wait, uid.into(), queue, "ABANDON", format!("[\"1\",\"1\",\"{wait}\"]")));
            } else {
                let m1 = self.chan("Local/1002@from-queue");
                rows.push(q(format!("{m1};1"), "NO ANSWER", ring, ring));
                rows.push(Row {
                    calldate: cd(0),
                    dst: "1002".into(),
                    dcontext: "from-queue",
                    channel: format!("{m1};2"),
                    dstchannel: self.chan("PJSIP/1002"),
                    lastapp: "Dial",
                    lastdata: "PJSIP/1002,,".into(),
                    duration: ring,
                    disposition: "NO ANSWER",
                    uniqueid: format!("{uid}1"),
                    ..base.clone()
                });
                rows.push(q(String::new(), "ANSWERED", 300, 300));
                self.queue.push((epoch + 300, uid.into(), queue, "EXITWITHTIMEOUT", "[\"1\",\"1\",\"300\"]".into()));
            }
        } else if r < 0.50 {
            // A DID straight to an extension.
            let trunk = self.chan("PJSIP/carrier");
            let phone = self.chan("PJSIP/1003");
            let s = self.rng.next();
            let (disposition, billsec) = if s < 0.7 {
                ("ANSWERED", talk)
            } else if s < 0.8 {
                ("BUSY", 0)
            } else {
                ("NO ANSWER", 0)
            };
            let row = Row {
                calldate: cd(0),
                dst: "5002".into(),
                dcontext: "ext-did",
                channel: trunk.clone(),
                dstchannel: phone,
                lastapp: "Dial",
                lastdata: "PJSIP/1003,20".into(),
                duration: ring + billsec,
                billsec,
                disposition,
                did: "5002",
                ..base.clone()
            };
            rows.push(row.clone());
            if disposition != "ANSWERED" {
                rows.push(Row {
                    calldate: cd(ring),
                    dstchannel: String::new(),
                    lastapp: "Hangup",
                    lastdata: String::new(),
                    duration: 0,
                    ..row
                });
            }
        } else if r < 0.85 {
            // Outgoing through the carrier, to 5,000 numbers of skewed popularity.
            let number = 22_000_000 + (self.rng.next().powi(3) * 5000.0) as u64;
            let phone = self.chan("PJSIP/1002");
            let trunk = self.chan("PJSIP/carrier");
            let s = self.rng.next();
            let (disposition, billsec) = if s < 0.55 {
                ("ANSWERED", talk)
            } else if s < 0.80 {
                ("NO ANSWER", 0)
            } else if s < 0.92 {
                ("BUSY", 0)
            } else {
                ("CONGESTION", 0)
            };
            let row = Row {
                calldate: cd(0),
                src: "5550100".into(),
                dst: format!("9{number}"),
                dcontext: "from-internal",
                channel: phone,
                dstchannel: trunk,
                lastapp: "Dial",
                lastdata: format!("PJSIP/{number}@carrier,300,Tt"),
                duration: ring + billsec,
                billsec,
                disposition,
                outbound_cnum: "5550100",
                ..base.clone()
            };
            rows.push(row.clone());
            if disposition != "ANSWERED" {
                let at = if disposition == "NO ANSWER" { 20 } else { 0 };
                rows.push(Row {
                    calldate: cd(at),
                    dstchannel: String::new(),
                    lastapp: "Hangup",
                    lastdata: String::new(),
                    duration: 0,
                    ..row
                });
            }
        } else {
            let from = self.chan("PJSIP/1001");
            let to = self.chan("PJSIP/1004");
            rows.push(Row {
                calldate: cd(0),
                src: "1001".into(),
                dst: "1004".into(),
                dcontext: "from-internal",
                channel: from,
                dstchannel: to,
                lastapp: "Dial",
                lastdata: "PJSIP/1004,20".into(),
                duration: ring + talk,
                billsec: talk,
                disposition: "ANSWERED",
                ..base
            });
        }
        for mut row in rows {
            self.seq += 1;
            row.sequence = self.seq;
            self.rows.push(row);
        }
    }
}

/// Calls starting in `[from, to)` (wall-clock seconds) until `rows` rows, office hours weighted.
fn month_of_calls(rng: Rng, from: i64, to: i64, rows: usize) -> Generator {
    let mut g = Generator { rng, rows: Vec::with_capacity(rows + 8), queue: Vec::new(), seq: 0, channel: 0 };
    // Hourly weights: a ministry call center open 7–19 h, a trickle at night.
    let weight = |h: i64| if (7..19).contains(&h) { 10.0 } else { 0.3 };
    let total: f64 = (0..24).map(weight).sum();
    let days = (to - from) / 86_400;
    // 2.16 rows per call on average (measured on this mix), so the month reaches ROWS.
    let per_day = rows as f64 / 2.16 / days as f64;
    'days: for d in 0..days {
        for h in 0..24 {
            let n = (per_day * weight(h) / total).round() as i64;
            for i in 0..n {
                let t =
                    from + d * 86_400 + h * 3600 + i * 3600 / n.max(1) + g.rng.below((3600 / n.max(1)) as u64) as i64;
                let uid = format!("{}.{}", t + 6 * 3600, g.rows.len());
                g.call(t, &uid);
                if g.rows.len() >= rows {
                    break 'days;
                }
            }
        }
    }
    g
}

fn insert(conn: &Connection, server: i64, g: &Generator, key_base: u64) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO cdr (server_id, row_key, calldate, clid, src, dst, dcontext, channel, dstchannel, lastapp,
                              lastdata, duration, billsec, disposition, amaflags, accountcode, uniqueid, userfield,
                              linkedid, sequence, peeraccount, did, recordingfile, cnum, cnam, outbound_cnum,
                              outbound_cnam, dst_cnam, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, '3', '', ?15, '', ?16, ?17, '',
                     ?18, ?19, ?20, '', ?21, '', '', 0)",
        )?;
        for (i, r) in g.rows.iter().enumerate() {
            let recording = if r.disposition == "ANSWERED" {
                format!("q-5000-{}-{}.wav", r.calldate.replace([' ', ':', '-'], ""), r.uniqueid)
            } else {
                String::new()
            };
            stmt.execute(params![
                server,
                row_key(key_base + i as u64).as_slice(),
                r.calldate,
                format!("\"Contribuyente\" <{}>", r.src),
                r.src,
                r.dst,
                r.dcontext,
                r.channel,
                r.dstchannel,
                r.lastapp,
                r.lastdata,
                r.duration,
                r.billsec,
                r.disposition,
                r.uniqueid,
                r.linkedid,
                r.sequence,
                r.did,
                recording,
                if r.outbound_cnum.is_empty() { "" } else { "1002" },
                r.outbound_cnum,
            ])?;
        }
        let mut stmt = tx.prepare(
            "INSERT INTO queue_log (server_id, row_key, time, callid, queue, agent, event, data, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, 'Local/1001@from-queue/n', ?6, ?7, 0)",
        )?;
        for (i, (time, callid, queue, event, data)) in g.queue.iter().enumerate() {
            stmt.execute(params![
                server,
                row_key(key_base + (1 << 40) + i as u64).as_slice(),
                time,
                callid,
                queue,
                event,
                data
            ])?;
        }
    }
    tx.commit()
}

pub fn run(dir: &Path, rows: usize, runs: usize) -> anyhow::Result<()> {
    if dir.join(centinela_collector::store::DB_FILE).exists() {
        println!("reports: reusing the database in {}", dir.display());
    } else {
        generate(dir, rows)?;
    }
    time(dir, runs)
}

fn generate(dir: &Path, rows: usize) -> anyhow::Result<()> {
    let conn = centinela_collector::store::open_writer(dir)?;
    conn.execute_batch(
        "INSERT INTO dependencias (name) VALUES ('Impuestos Internos');
         INSERT INTO centers (dependencia_id, name) VALUES (1, 'Centro de Llamadas DGII'), (1, 'Centro Aduanas');
         INSERT INTO servers (id, agent_id, first_seen, status_since, center_id) VALUES
           (1, 'pbx-dgii-01', 0, 0, 1), (2, 'pbx-aduanas-01', 0, 0, 2);",
    )?;
    let day = |y: i64, m: i64, d: i64| centinela_collector::reports::classify::days_from_civil(y, m, d) * 86_400;
    let started = Instant::now();
    let month = month_of_calls(Rng(0x9e37_79b9_7f4a_7c15), day(2026, 10, 1), day(2026, 11, 1), rows);
    let (n_rows, n_queue) = (month.rows.len(), month.queue.len());
    insert(&conn, 1, &month, 0)?;
    drop(month);
    // Neighbours: the last 3 days of September and the first 3 of November on the same server,
    // and another center's server over the whole month (a tenth of the rows).
    let mut neighbours = 0;
    for (i, (server, from, to, n)) in [
        (1, day(2026, 9, 28), day(2026, 10, 1), rows / 10),
        (1, day(2026, 11, 1), day(2026, 11, 4), rows / 10),
        (2, day(2026, 10, 1), day(2026, 11, 1), rows / 10),
    ]
    .into_iter()
    .enumerate()
    {
        let g = month_of_calls(Rng(0x2545_f491_4f6c_dd1d + i as u64), from, to, n);
        insert(&conn, server, &g, (i as u64 + 1) << 44)?;
        neighbours += g.rows.len();
    }
    conn.execute_batch("ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(conn);
    let generated = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(dir.join(centinela_collector::store::DB_FILE))?.len();
    println!(
        "reports: generated {n_rows} CDR rows and {n_queue} queue_log lines for one center's October 2026 \
         (plus {neighbours} rows of its neighbouring days and of another center), database {} MiB, in {generated:.1} s",
        bytes >> 20
    );
    Ok(())
}

fn time(dir: &Path, runs: usize) -> anyhow::Result<()> {
    let settings = Settings::default();
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs.max(1) {
        let reader = centinela_collector::store::open_reader(dir)?;
        let started = Instant::now();
        let f = source::month(&reader, 1, 2026, 10, &settings)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        last = Some(f);
    }
    let Some(f) = last else { return Ok(()) };
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let worst = sorted[sorted.len() - 1];
    let runs_text: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
    println!(
        "reports: source::month over {} CDR rows ({} calls: {} received, {} made, {} internal; {} queues): \
         median {median:.0} ms, worst {worst:.0} ms ({} runs: {} ms)",
        f.cdr_rows,
        f.calls,
        f.received.calls,
        f.made.calls,
        f.internal,
        f.queues.len(),
        times.len(),
        runs_text.join(", ")
    );
    let q: Vec<String> = f
        .queues
        .iter()
        .map(|q| {
            format!(
                "{} offered {} answered {} SL {:.1} % ASA {:.1} s",
                q.queue,
                q.offered,
                q.answered,
                q.service_level_pct.unwrap_or(0.0),
                q.asa_s.unwrap_or(0.0)
            )
        })
        .collect();
    println!(
        "reports: received answered {} ({:.1} s average talk), made answered {}; {}",
        f.received.answered,
        f.received.avg_talk_s,
        f.made.answered,
        q.join("; ")
    );
    Ok(())
}
