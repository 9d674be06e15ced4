//! CDR shipping end to end: the real MariaDB loaded with the captured FreePBX CDR, a real agent
//! process, a real Mosquitto and a real collector. A broker outage and an agent `kill -9` in the
//! middle leave the collector with exactly the rows of the database, each once.

use centinela_e2e::mariadb::{self, block_on};
use centinela_e2e::*;
use mysql_async::prelude::Queryable;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// `(uniqueid, sequence)` of every row in the database, sorted like `Collector::cdr_ids`.
async fn database_ids(db: &str) -> Vec<(String, Option<i64>)> {
    let mut c = mariadb::connect(Some(db)).await;
    let rows: Vec<(String, i64)> =
        c.query("SELECT uniqueid, sequence FROM cdr ORDER BY uniqueid, sequence").await.expect("select");
    c.disconnect().await.ok();
    rows.into_iter().map(|(u, s)| (u, Some(s))).collect()
}

#[test]
fn a_broker_outage_and_an_agent_crash_leave_every_cdr_row_at_the_collector_exactly_once() {
    let database = mariadb::Database::create("centinela_e2e");
    database.load_captured_cdr();
    let db = database.name.clone();

    let tmp = test_dir();
    let mut broker = Mosquitto::start(&tmp.path().join("mosquitto"));
    let collector = Collector::start(&tmp.path().join("collector"), &broker.url());
    let section = format!("[database]\nurl = \"{}\"\nship_every = \"1s\"\nbackfill = \"3650d\"\n", database.url());
    let mut agent =
        Agent::start_with_sections(&tmp.path().join("agent"), "pbx-cdr", &broker.url(), "500ms", "", &section);
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
    database.execute(&inserts);
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
