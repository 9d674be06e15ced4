//! Times the fleet view (the query and the page fragment) over a generated database of N servers,
//! each with a real-shaped latest sample (this machine's host and filesystem readings plus the
//! agent's captured RAID readings), open tickets and firing problems on some of them. Prints p50,
//! p99 and max over R runs. Usage: `fleet-page [N=1000] [R=200]`. Not a test; asserts nothing.

use centinela_collector::auth::{Role, User};
use centinela_collector::web::auth::Credentials;
use centinela_shared::*;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: i64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let runs: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let conn = centinela_collector::store::open_writer(dir.path())?;
    let raid: Vec<Reading> = serde_json::from_str(&std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../agent/tests/fixtures/raid-raid1-degraded/raid.golden.json"
    ))?)?;
    let mut probes = centinela_agent::probes::ProbeSet::all();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (_, mut readings) = rt.block_on(probes.run(&centinela_agent::HostPaths::live()));
    readings.extend(raid);
    let now = chrono::Utc::now().timestamp_millis();
    let tx = conn.unchecked_transaction()?;
    tx.execute("INSERT INTO dependencias (name) VALUES ('Impuestos Internos'), ('Aduanas'), ('Tesorería')", [])?;
    for c in 0..50 {
        tx.execute(
            "INSERT INTO centers (dependencia_id, name) VALUES (?1, ?2)",
            rusqlite::params![c % 3 + 1, format!("Centro {c:02}")],
        )?;
    }
    for i in 1..=n {
        let agent = format!("pbx-{i:04}");
        tx.execute(
            "INSERT INTO servers (id, agent_id, first_seen, last_seen, status, status_since, center_id) VALUES (?1, ?2, ?3, ?3, ?4, ?3, ?5)",
            rusqlite::params![i, agent, now, if i % 97 == 0 { "offline" } else { "online" }, i % 50 + 1],
        )?;
        let env = Envelope {
            v: WIRE_VERSION,
            agent: agent.clone(),
            seq: 1,
            taken_ms: now,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![],
                readings: readings.clone(),
            }),
        };
        tx.execute(
            "INSERT INTO samples (server_id, seq, taken_ms, received_ms, payload) VALUES (?1, 1, ?2, ?2, ?3)",
            rusqlite::params![i, now, encode_envelope(&env)],
        )?;
        if i % 10 == 0 {
            tx.execute(
                "INSERT INTO problems (server_id, key, rule, severity, summary, details, since, fired_at) VALUES (?1, 'raid_degraded:md0', 'raid_degraded', 'alta', 'Arreglo RAID md0 degradado', '[]', ?2, ?2)",
                rusqlite::params![i, now],
            )?;
        }
    }
    tx.commit()?;
    let state = centinela_collector::web::AppState {
        db: std::sync::Arc::new(centinela_collector::web::ReaderPool::new(dir.path().to_path_buf())),
        writer: std::sync::Arc::new(centinela_collector::web::WebWriter::open(dir.path())?),
        http: centinela_collector::config::Config::defaults(dir.path().to_path_buf())
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .http,
        workflow: std::sync::Arc::new(centinela_collector::web::WorkflowEnv {
            ctx: centinela_collector::tickets::store::Context {
                tickets: Default::default(),
                notify: Default::default(),
                public_url: String::new(),
            },
            calendar: Default::default(),
            waker: None,
            reports: Default::default(),
        }),
        stats: Default::default(),
        ingest: Default::default(),
        commands: Default::default(),
    };
    let user = User {
        id: 1,
        username: "jefe".into(),
        full_name: String::new(),
        email: None,
        role: Role::JefeUact,
        centers: vec![],
        must_change: false,
    };
    let c = Credentials { user, csrf: None, session: None };
    let reader = centinela_collector::store::open_reader(dir.path())?;
    let mut times = Vec::with_capacity(runs);
    let mut bytes = 0;
    for _ in 0..runs {
        let started = Instant::now();
        let fleet = centinela_collector::web::fleet::build(&reader, &c, &state, now)?;
        let html = askama::Template::render(&centinela_collector::web::fleet::FleetBody { fleet })?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        bytes = html.len();
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "fleet page: {n} servers, {runs} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (query, decode and render; {} KiB of HTML)",
        pct(0.50),
        pct(0.99),
        times[times.len() - 1],
        bytes / 1024
    );
    Ok(())
}
