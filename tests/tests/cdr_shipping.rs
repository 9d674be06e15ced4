//! CDR shipping end to end: the real MariaDB loaded with the captured FreePBX CDR, a real agent
//! process, a real Mosquitto and a real collector. A broker outage and an agent `kill -9` in the
//! middle leave the collector with exactly the rows of the database, each once.

use centinela_e2e::*;
use mysql_async::prelude::Queryable;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);
const CDR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/cdr");

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

async fn mariadb(db: Option<&str>) -> mysql_async::Conn {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(3306)
        .user(Some("root"))
        .db_name(db)
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.unwrap_or_else(|e| {
        panic!("MariaDB is not reachable on 127.0.0.1:3306 as root ({e}): start it (CI's .ci/run does)")
    })
}

/// `(uniqueid, sequence)` of every row in the database, sorted like `Collector::cdr_ids`.
async fn database_ids(db: &str) -> Vec<(String, Option<i64>)> {
    let mut c = mariadb(Some(db)).await;
    let rows: Vec<(String, i64)> =
        c.query("SELECT uniqueid, sequence FROM cdr ORDER BY uniqueid, sequence").await.expect("select");
    c.disconnect().await.ok();
    rows.into_iter().map(|(u, s)| (u, Some(s))).collect()
}

async fn run_sql(db: Option<&str>, statements: &[String]) {
    let mut c = mariadb(db).await;
    for s in statements {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.ok();
}

struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let stmt = vec![format!("DROP DATABASE IF EXISTS {}", self.0)];
        block_on(run_sql(None, &stmt));
    }
}

#[test]
fn a_broker_outage_and_an_agent_crash_leave_every_cdr_row_at_the_collector_exactly_once() {
    let db = format!("centinela_e2e_{}", std::process::id());
    block_on(run_sql(None, &[format!("CREATE DATABASE {db}")]));
    let _cleanup = DropDatabase(db.clone());
    let ddl = std::fs::read_to_string(format!("{CDR}/cdr-show-create-table.sql")).expect("ddl");
    let dump = std::fs::read_to_string(format!("{CDR}/cdr-dump.sql")).expect("dump");
    let mut load = vec![ddl.trim().trim_end_matches(';').to_string()];
    load.extend(dump.lines().filter(|l| l.starts_with("INSERT INTO")).map(str::to_string));
    block_on(run_sql(Some(&db), &load));

    let tmp = test_dir();
    let mut broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let database =
        format!("[database]\nurl = \"mysql://root@127.0.0.1:3306/{db}\"\nship_every = \"1s\"\nbackfill = \"3650d\"\n");
    let mut agent =
        Agent::start_with_sections(&tmp.path().join("agent"), "pbx-cdr", &broker.url(), "500ms", "", &database);
    wait_until("the 76 captured rows at the collector", T, || collector.cdr_ids("pbx-cdr").len() >= 76);
    assert_eq!(collector.cdr_ids("pbx-cdr"), block_on(database_ids(&db)));

    // The broker goes away while calls go on: the new rows wait in the agent's outbox.
    broker.stop();
    let newest = "(SELECT MAX(calldate) FROM cdr AS c)";
    let inserts: Vec<String> = (1..=5)
        .map(|i| {
            format!(
                "INSERT INTO cdr (calldate, uniqueid, linkedid, disposition, duration, billsec, sequence) \
                 SELECT {newest} + INTERVAL {i} MINUTE, '1795779{i:03}.1', '1795779{i:03}.1', 'ANSWERED', 30, 25, {i} + 1000"
            )
        })
        .collect();
    block_on(run_sql(Some(&db), &inserts));
    wait_until("the new rows in the agent's outbox", T, || agent.records_backlog() >= 1);
    broker.restart();
    wait_until("the 81 rows at the collector", T, || collector.cdr_ids("pbx-cdr").len() >= 81);

    // A crash and a restart: the ledger in the outbox keeps the agent from shipping anything again.
    agent.proc().kill9();
    agent.restart();
    let seq = agent.last_seq();
    wait_until("a few polls after the restart", T, || agent.last_seq() >= seq + 6);
    assert_eq!(agent.proc().terminate(), Some(0));
    assert_eq!(agent.records_backlog(), 0, "every batch was acknowledged");
    assert_eq!(collector.cdr_ids("pbx-cdr"), block_on(database_ids(&db)), "each database row once, nothing else");
    let (code, page) = collector.get("/server/pbx-cdr");
    assert_eq!(code, 200);
    assert!(page.contains("Filas de CDR recibidas</dt><dd>81"), "the server page counts the rows");
}
