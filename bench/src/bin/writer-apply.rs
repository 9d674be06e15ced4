//! The writer's cost per sample with and without the rule engine: N real-shaped samples (this
//! machine's readings plus the agent's captured RAID readings) from S servers applied through the
//! collector's `Applier` in batches of 4,096, as the writer thread does. Prints samples/s for both.
//! Usage: `writer-apply [N=100000] [S=1000]`. Not a test; asserts nothing.

use centinela_collector::store::writer::{Applier, Workflow};
use centinela_shared::*;
use std::time::Instant;

fn run(n: u64, servers: u64, readings: &[Reading], with_rules: bool) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let mut conn = centinela_collector::store::open_writer(dir.path())?;
    let mut applier = if with_rules {
        let ctx = centinela_collector::tickets::store::Context {
            tickets: Default::default(),
            notify: Default::default(),
            public_url: String::new(),
        };
        Applier::with_workflow(Workflow::load(&conn, centinela_collector::rules::Rules::defaults(), ctx)?)
    } else {
        Applier::default()
    };
    let payloads: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let agent = format!("pbx-{:04}", i % servers);
            let env = Envelope {
                v: WIRE_VERSION,
                agent: agent.clone(),
                seq: i / servers + 1,
                taken_ms: 0,
                body: Body::SampleV1(SampleV1 {
                    agent_version: "0.1.0".into(),
                    interval_ms: 10_000,
                    outbox: OutboxStats::default(),
                    probes: vec![],
                    readings: readings.to_vec(),
                }),
            };
            (format!("centinela/v1/{agent}/sample"), encode_envelope(&env))
        })
        .collect();
    let started = Instant::now();
    for (i, chunk) in payloads.chunks(4096).enumerate() {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (j, (topic, payload)) in chunk.iter().enumerate() {
            let now = 1_795_000_000_000 + ((i * 4096 + j) as i64) * 10;
            applier.apply(&tx, topic, payload, now)?;
        }
        applier.flush(&tx)?;
        tx.commit()?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let servers: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let mut probes = centinela_agent::probes::ProbeSet::all();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (_, mut readings) = rt.block_on(probes.run(&centinela_agent::HostPaths::live()));
    readings.extend(serde_json::from_str::<Vec<Reading>>(&std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../agent/tests/fixtures/raid-raid1-healthy/raid.golden.json"
    ))?)?);
    let without = run(n, servers, &readings, false)?;
    let with = run(n, servers, &readings, true)?;
    println!(
        "writer: {n} samples from {servers} servers: {without:.0} samples/s without the rule engine, {with:.0} with it ({:.1} µs per sample for the rules)",
        1e6 / with - 1e6 / without
    );
    Ok(())
}
