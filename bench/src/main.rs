//! Benchmark helpers used by `bench/run.sh` (not a test: it prints measurements).
//!
//! - `sizes`: one real sample of this machine, encoded with postcard and as JSON.
//! - `publish URL AGENTS SAMPLES`: a simulated fleet of AGENTS servers publishing SAMPLES
//!   real-shaped envelopes in total, QoS 1, waiting for every PUBACK.
//! - `cdr-ship DB_URL STATE_DIR`: the CDR shipper's backfill of a whole table into a fresh outbox,
//!   then one steady-state poll (the late window read again).
//! - `history DIR [SERVERS]`: chart history and retention (issue 6), see [`history`].
//! - `reports DIR [ROWS] [RUNS]`: a call center's monthly figures over ROWS CDR rows (issue 8), see
//!   [`reports`].

mod history;
mod reports;

use centinela_agent::probes::ProbeSet;
use centinela_agent::{HostPaths, runner::build_envelope};
use centinela_shared::{AgentId, OutboxStats, Topic, TopicKind, encode_envelope};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};
use std::time::{Duration, Instant};

fn real_sample(id: &str, seq: u64) -> centinela_shared::Envelope {
    let id = AgentId::new(id).expect("valid id");
    let mut probes = ProbeSet::all();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(build_envelope(
        &id,
        Duration::from_secs(10),
        &mut probes,
        &HostPaths::live(),
        seq,
        OutboxStats::default(),
    ))
}

/// Counts allocations, so `hw-sample` can report them per sample.
struct CountingAlloc;

static ALLOCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ALLOC_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[allow(unsafe_code)]
// SAFETY: forwards every call unchanged to the system allocator; only counts.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, std::sync::atomic::Ordering::Relaxed);
        // SAFETY: same layout, same contract as the caller's.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// One full sample of every probe, N times after a warm-up: wall time and allocations per sample,
/// and each probe's own duration.
fn hw_sample(root: Option<&str>, n: u32) {
    use std::sync::atomic::Ordering::Relaxed;
    let paths = root.map(|r| HostPaths::under(std::path::Path::new(r))).unwrap_or_else(HostPaths::live);
    let mut probes = ProbeSet::all();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
    let _ = rt.block_on(probes.run(&paths)); // warm-up: first-time discovery and CPU baseline
    let (a0, b0) = (ALLOCS.load(Relaxed), ALLOC_BYTES.load(Relaxed));
    let started = Instant::now();
    let mut per_probe: std::collections::BTreeMap<String, u64> = Default::default();
    for _ in 0..n {
        let (reports, readings) = rt.block_on(probes.run(&paths));
        std::hint::black_box(&readings);
        for r in reports {
            *per_probe.entry(r.probe).or_default() += u64::from(r.duration_us);
        }
    }
    let n64 = u64::from(n.max(1));
    let wall = started.elapsed().as_secs_f64() * 1000.0 / f64::from(n.max(1));
    let allocs = (ALLOCS.load(Relaxed) - a0) / n64;
    let bytes = (ALLOC_BYTES.load(Relaxed) - b0) / n64;
    let probes: Vec<String> =
        per_probe.iter().map(|(p, us)| format!("{p} {:.2} ms", *us as f64 / 1000.0 / n64 as f64)).collect();
    println!(
        "hw-sample: {n} samples, {wall:.2} ms and {allocs} allocations ({bytes} bytes) per sample; {}",
        probes.join(", ")
    );
}

/// Ships a whole CDR table into a fresh outbox and times it, then times one more poll.
fn cdr_ship(url: &str, state: &str) -> anyhow::Result<()> {
    use centinela_agent::cdr::{CdrShipper, ShipSettings};
    use centinela_agent::config::{DatabaseConfig, DatabaseTarget};
    let target = DatabaseTarget::parse(url).map_err(anyhow::Error::msg)?;
    let db = DatabaseConfig {
        target,
        password: None,
        cdr_table: "cdr".into(),
        stale_after: Duration::from_secs(900),
        ship: None,
    };
    let mut settings = ShipSettings::default();
    settings.plan.backfill = centinela_agent::cdr::window::days(3650);
    let mut outbox = centinela_agent::outbox::Outbox::open(std::path::Path::new(state), 1 << 40)?;
    let mut shipper = CdrShipper::new(db, settings, &mut outbox)?;
    let agent = AgentId::new("pbx-bench").expect("valid id");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let started = Instant::now();
    let (mut rows, mut polls, mut batches) = (0usize, 0usize, 0usize);
    loop {
        let s = rt.block_on(shipper.poll(&mut outbox, &agent)).map_err(anyhow::Error::msg)?;
        rows += s.new;
        batches += s.batches;
        polls += 1;
        if !s.more {
            break;
        }
    }
    let backfill = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let s = rt.block_on(shipper.poll(&mut outbox, &agent)).map_err(anyhow::Error::msg)?;
    let steady = started.elapsed().as_secs_f64() * 1000.0;
    println!(
        "cdr-ship: backfill {rows} rows in {backfill:.2} s ({:.0} rows/s, {polls} polls, {batches} envelopes, \
         outbox {} MiB); steady poll read {} rows of the late window, shipped {}, in {steady:.1} ms",
        rows as f64 / backfill.max(1e-9),
        outbox.bytes() / (1 << 20),
        s.read,
        s.new
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sizes") => {
            let env = real_sample("pbx-rentas-01", 123_456);
            let postcard = encode_envelope(&env).len();
            let json = serde_json::to_vec(&env)?.len();
            println!("postcard_bytes={postcard} json_bytes={json} ratio={:.2}", json as f64 / postcard as f64);
        }
        Some("publish") => {
            let url = centinela_agent::config::MqttUrl::parse(
                args.get(2).map(String::as_str).unwrap_or("mqtt://127.0.0.1:1883"),
            )
            .map_err(anyhow::Error::msg)?;
            let agents: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
            let total: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            // The template sample is taken before entering the runtime (taking it starts its own).
            let template = real_sample("pbx-00000", 1);
            rt.block_on(publish(template, url, agents.max(1), total))?;
        }
        Some("hw-sample") => {
            let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
            hw_sample(args.get(3).map(String::as_str), n);
        }
        Some("wait-stored") => {
            // Polls the collector's /healthz every 10 ms until `stored` reaches N, cheaply (a shell
            // loop of curl and python would steal the CPU it measures), and prints the seconds.
            let port: u16 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8080);
            let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
            let started = Instant::now();
            while stored(port).unwrap_or(0) < n {
                std::thread::sleep(Duration::from_millis(10));
            }
            println!("{:.3}", started.elapsed().as_secs_f64());
        }
        Some("history") => {
            let dir = args.get(2).ok_or_else(|| anyhow::anyhow!("usage: history DIR [SERVERS]"))?;
            let servers = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(10);
            history::run(std::path::Path::new(dir), servers)?;
        }
        Some("reports") => {
            let dir = args.get(2).ok_or_else(|| anyhow::anyhow!("usage: reports DIR [ROWS] [RUNS]"))?;
            let rows = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(1_000_000);
            let runs = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(5);
            reports::run(std::path::Path::new(dir), rows, runs)?;
        }
        Some("cdr-ship") => {
            let url = args.get(2).map(String::as_str).unwrap_or("mysql://root@127.0.0.1:3306/centinela_bench_cdr");
            cdr_ship(url, args.get(3).map(String::as_str).unwrap_or("/tmp/centinela-bench-cdr"))?;
        }
        _ => anyhow::bail!(
            "usage: centinela-bench sizes | publish URL AGENTS SAMPLES | wait-stored HTTP_PORT N | hw-sample [N [ROOT]] | cdr-ship DB_URL STATE_DIR | history DIR [SERVERS] | reports DIR [ROWS] [RUNS]"
        ),
    }
    Ok(())
}

fn stored(port: u16) -> Option<u64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let json = body.split_once("\r\n\r\n")?.1;
    serde_json::from_str::<serde_json::Value>(json).ok()?["stored"].as_u64()
}

async fn publish(
    template: centinela_shared::Envelope,
    url: centinela_agent::config::MqttUrl,
    agents: u64,
    total: u64,
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new("centinela-bench-fleet", url.host.clone(), url.port);
    opts.set_inflight(200);
    opts.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut el) = AsyncClient::new(opts, 1000);
    let producer = tokio::spawn(async move {
        for i in 0..total {
            let agent = format!("pbx-{:05}", i % agents);
            let mut env = template.clone();
            env.agent = agent.clone();
            env.seq = i / agents + 1;
            let topic = Topic::new(&AgentId::new(agent).expect("valid id"), TopicKind::Sample).to_string();
            client.publish(topic, QoS::AtLeastOnce, false, encode_envelope(&env)).await?;
        }
        anyhow::Ok(client)
    });
    let started = Instant::now();
    let mut acked = 0u64;
    while acked < total {
        if let Event::Incoming(Incoming::PubAck(_)) = el.poll().await? {
            acked += 1;
        }
    }
    let client = producer.await??;
    let _ = client.disconnect().await;
    let secs = started.elapsed().as_secs_f64();
    eprintln!("published {total} samples from {agents} agents in {secs:.2} s ({:.0}/s)", total as f64 / secs);
    Ok(())
}
