//! CDR shipping against the real MariaDB and PostgreSQL on this machine (CI's .ci/run starts them)
//! and SQLite files, loaded with the captured FreePBX CDR (see `cdrdb`). The shipper writes into a
//! real outbox; the tests decode what it stored, as the collector would.

use centinela_agent::cdr::{CdrShipper, ShipSettings};
use centinela_agent::config::{DatabaseConfig, DatabaseTarget};
use centinela_agent::outbox::Outbox;
use centinela_shared::{AgentId, Body, CdrRowV1, decode_envelope};
use mysql_async::prelude::Queryable;
use std::collections::HashSet;
use std::time::Duration;

mod cdrdb;
use cdrdb::*;

fn config(target: DatabaseTarget) -> DatabaseConfig {
    DatabaseConfig {
        target,
        password: None,
        cdr_table: "cdr".into(),
        stale_after: Duration::from_secs(900),
        ship: None,
    }
}

/// Ten years back, so the captured rows are inside the backfill whenever the test runs.
fn settings(page: usize) -> ShipSettings {
    let mut s = ShipSettings::default();
    s.plan.backfill = chrono::TimeDelta::days(3650);
    s.plan.page = page;
    s
}

fn agent() -> AgentId {
    AgentId::new("pbx-test").expect("valid id")
}

/// Every CDR row in the outbox, in order.
fn shipped(outbox: &Outbox) -> Vec<CdrRowV1> {
    let mut rows = Vec::new();
    for r in outbox.after(0, 100_000).expect("outbox") {
        match decode_envelope(&r.payload).expect("decodes").body {
            Body::CdrBatchV1(b) => rows.extend(b.rows),
            other => panic!("only CDR batches expected: {other:?}"),
        }
    }
    rows
}

fn keys(rows: &[CdrRowV1]) -> HashSet<[u8; 16]> {
    rows.iter().map(CdrRowV1::key).collect()
}

/// The shipped rows are exactly the rows of cdr.csv, compared on the columns the reports use.
fn assert_matches_the_capture(rows: &[CdrRowV1]) {
    let (header, csv) = csv_rows();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    assert_eq!(rows.len(), csv.len(), "every captured row shipped once");
    assert_eq!(keys(rows).len(), csv.len(), "every row has its own identity");
    for line in &csv {
        let sequence: i64 = line[col("sequence")].parse().expect("sequence");
        let r = rows
            .iter()
            .find(|r| r.uniqueid == line[col("uniqueid")] && r.sequence == Some(sequence))
            .unwrap_or_else(|| panic!("row {} / {sequence} not shipped", line[col("uniqueid")]));
        assert_eq!(r.calldate, line[col("calldate")]);
        assert_eq!(r.clid, line[col("clid")]);
        assert_eq!(r.disposition, line[col("disposition")]);
        assert_eq!(r.billsec.to_string(), line[col("billsec")]);
        assert_eq!(r.duration.to_string(), line[col("duration")]);
        assert_eq!(r.dstchannel, line[col("dstchannel")]);
        assert_eq!(r.did.as_deref(), Some(line[col("did")].as_str()));
        assert_eq!(r.linkedid.as_deref(), Some(line[col("linkedid")].as_str()));
        assert_eq!(r.outbound_cnum.as_deref(), Some(line[col("outbound_cnum")].as_str()));
    }
}

#[tokio::test]
async fn mariadb_ships_every_captured_row_once_and_a_second_poll_ships_nothing() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut outbox = Outbox::open(dir.path(), 64 << 20).expect("outbox");
            let target = mariadb_target(&db, MARIADB.1, "root");
            let mut shipper = CdrShipper::new(config(target), settings(1000), &mut outbox).expect("shipper");
            let s = shipper.poll(&mut outbox, &agent()).await.expect("poll");
            assert_eq!((s.read, s.new, s.batches, s.more), (76, 76, 1, false), "{s:?}");
            assert_matches_the_capture(&shipped(&outbox));
            assert_eq!(shipper.high().map(|h| h.to_string()), Some(fixture_newest()));
            let s = shipper.poll(&mut outbox, &agent()).await.expect("poll");
            assert_eq!(s.new, 0, "rows read again inside the late window are not shipped again: {s:?}");
            assert!(s.read > 0, "the late window is read again: {s:?}");
            let reading = shipper.reading();
            assert_eq!((reading.shipped, reading.error.as_deref()), (76, None));
            assert_eq!(reading.source, format!("mariadb 127.0.0.1:3306/{db} cdr"));
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn the_cursor_survives_an_agent_restart_and_a_row_written_late_is_still_shipped() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = mariadb_target(&db, MARIADB.1, "root");
            {
                let mut outbox = Outbox::open(dir.path(), 64 << 20).expect("outbox");
                let mut shipper =
                    CdrShipper::new(config(target.clone()), settings(1000), &mut outbox).expect("shipper");
                assert_eq!(shipper.poll(&mut outbox, &agent()).await.expect("poll").new, 76);
            } // the agent stops
            let mut conn = mariadb_admin(Some(&db)).await;
            // A call that started an hour before the newest shipped row and ended after the
            // restart, and two new calls.
            for (calldate, uniqueid) in [
                (format!("'{}' - INTERVAL 1 HOUR", fixture_newest()), "1795770000.1"),
                (format!("'{}' + INTERVAL 1 MINUTE", fixture_newest()), "1795779000.1"),
                (format!("'{}' + INTERVAL 2 MINUTE", fixture_newest()), "1795779000.2"),
            ] {
                conn.query_drop(format!(
                    "INSERT INTO cdr (calldate, uniqueid, linkedid, disposition, duration, billsec, sequence) \
                     VALUES ({calldate}, '{uniqueid}', '{uniqueid}', 'ANSWERED', 3700, 3600, 900)"
                ))
                .await
                .expect("insert");
            }
            conn.disconnect().await.ok();
            let mut outbox = Outbox::open(dir.path(), 64 << 20).expect("outbox");
            let mut shipper = CdrShipper::new(config(target), settings(1000), &mut outbox).expect("shipper");
            let s = shipper.poll(&mut outbox, &agent()).await.expect("poll");
            assert_eq!(s.new, 3, "only the three new rows: {s:?}");
            let all = shipped(&outbox);
            assert_eq!(all.len(), 79);
            assert_eq!(keys(&all).len(), 79, "no row twice across the restart");
            let late: Vec<_> = all.iter().filter(|r| r.uniqueid == "1795770000.1").collect();
            assert_eq!(late.len(), 1);
            assert_eq!((late[0].billsec, late[0].sequence), (3600, Some(900)));
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn small_pages_over_rows_that_share_a_second_ship_each_row_once() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut outbox = Outbox::open(dir.path(), 64 << 20).expect("outbox");
            let target = mariadb_target(&db, MARIADB.1, "root");
            let mut settings = settings(4);
            settings.max_pages = 1000;
            let mut shipper = CdrShipper::new(config(target), settings, &mut outbox).expect("shipper");
            let s = shipper.poll(&mut outbox, &agent()).await.expect("poll");
            assert_eq!(s.new, 76, "{s:?}");
            assert!(s.read > 76, "pages overlap on their boundary second: {s:?}");
            assert_matches_the_capture(&shipped(&outbox));
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn a_poll_limited_to_a_few_pages_says_there_is_more_and_the_next_poll_goes_on() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut outbox = Outbox::open(dir.path(), 64 << 20).expect("outbox");
            let target = mariadb_target(&db, MARIADB.1, "root");
            let mut settings = settings(10);
            settings.max_pages = 2;
            let mut shipper = CdrShipper::new(config(target), settings, &mut outbox).expect("shipper");
            let first = shipper.poll(&mut outbox, &agent()).await.expect("poll");
            assert!(first.more && first.new < 76, "{first:?}");
            for _ in 0..40 {
                if !shipper.poll(&mut outbox, &agent()).await.expect("poll").more {
                    break;
                }
            }
            assert_matches_the_capture(&shipped(&outbox));
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn postgresql_and_sqlite_ship_the_same_rows_with_the_same_identities_as_mariadb() {
    let (maria, pg) = (mariadb_fixture().await, postgres_fixture().await);
    let (m, p) = (maria.clone(), pg.clone());
    let cleanup = async move {
        mariadb_drop(maria).await;
        postgres_drop(pg).await;
    };
    with_cleanup(
        async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut from_maria = Outbox::open(&dir.path().join("m"), 64 << 20).expect("outbox");
            let mut from_pg = Outbox::open(&dir.path().join("p"), 64 << 20).expect("outbox");
            let mut from_sqlite = Outbox::open(&dir.path().join("s"), 64 << 20).expect("outbox");
            let user = postgres_user().await;
            let targets = [
                (mariadb_target(&m, MARIADB.1, "root"), &mut from_maria),
                (postgres_target(&p, POSTGRES.1, &user), &mut from_pg),
                (DatabaseTarget::Sqlite { path: sqlite_fixture(dir.path()) }, &mut from_sqlite),
            ];
            for (target, outbox) in targets {
                let shown = target.describe();
                let mut shipper = CdrShipper::new(config(target), settings(1000), outbox).expect("shipper");
                let s = shipper.poll(outbox, &agent()).await.unwrap_or_else(|e| panic!("{shown}: {e}"));
                assert_eq!(s.new, 76, "{shown}: {s:?}");
            }
            let rows = shipped(&from_maria);
            for other in [&from_pg, &from_sqlite] {
                let other = shipped(other);
                assert_matches_the_capture(&other);
                assert_eq!(keys(&other), keys(&rows), "the collector sees one row whatever the backend");
            }
        },
        cleanup,
    )
    .await;
}

#[tokio::test]
async fn a_table_without_uniqueid_is_refused_with_the_key_to_fix_and_nothing_is_shipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .expect("sqlite")
        .execute_batch(
            "CREATE TABLE cdr (calldate TEXT, src TEXT); INSERT INTO cdr VALUES ('2026-11-27 10:00:00', '1001');",
        )
        .expect("ddl");
    let mut outbox = Outbox::open(&dir.path().join("ob"), 1 << 20).expect("outbox");
    let mut shipper =
        CdrShipper::new(config(DatabaseTarget::Sqlite { path }), settings(1000), &mut outbox).expect("shipper");
    let e = shipper.poll(&mut outbox, &agent()).await.unwrap_err();
    assert!(e.contains("no tiene la columna uniqueid") && e.contains("cdr_table"), "{e}");
    assert_eq!(outbox.stats().backlog, 0);
    assert_eq!(shipper.reading().verdict.level, centinela_shared::Level::Warning);
}

/// queue_log lines of the captured run's calls, in Asterisk's documented format (no queue_log was
/// captured): `(time, callid, queuename, agent, event, data)`.
const QUEUE_LOG: [(&str, &str, &str, &str, &str, &str); 4] = [
    ("2026-11-27 09:51:38.120000", "1795773098.1", "sales", "NONE", "ENTERQUEUE", "|3105550123|1"),
    ("2026-11-27 09:51:41.004000", "1795773098.1", "sales", "Local/1002@from-queue/n", "CONNECT", "3|1795773098.9|2"),
    ("2026-11-27 09:52:21.350000", "1795773098.1", "sales", "Local/1002@from-queue/n", "COMPLETECALLER", "3|40|1"),
    ("2026-11-27 09:53:00.000000", "NONE", "NONE", "Local/1003@from-queue/n", "PAUSE", "lunch"),
];

fn queue_log_settings() -> ShipSettings {
    settings(1000)
}

fn queue_log_entries(outbox: &Outbox) -> Vec<centinela_shared::QueueLogEntryV1> {
    let mut out = Vec::new();
    for r in outbox.after(0, 1000).expect("outbox") {
        if let Body::QueueLogBatchV1(b) = decode_envelope(&r.payload).expect("decodes").body {
            out.extend(b.entries);
        }
    }
    out
}

fn assert_queue_log(entries: &[centinela_shared::QueueLogEntryV1]) {
    let seen: Vec<(&str, &str, Vec<String>)> =
        entries.iter().map(|e| (e.callid.as_str(), e.event.as_str(), e.data.clone())).collect();
    let expected: Vec<(&str, &str, Vec<String>)> =
        QUEUE_LOG.iter().map(|q| (q.1, q.4, q.5.split('|').map(str::to_string).collect())).collect();
    assert_eq!(seen, expected);
    assert!(entries.iter().all(|e| e.time > 1_795_000_000), "times read: {entries:?}");
    assert_eq!(keys_of(entries).len(), 4);
}

fn keys_of(entries: &[centinela_shared::QueueLogEntryV1]) -> HashSet<[u8; 16]> {
    entries.iter().map(centinela_shared::QueueLogEntryV1::key).collect()
}

#[tokio::test]
async fn a_realtime_queue_log_table_ships_once_from_mariadb_and_postgresql() {
    use centinela_agent::cdr::QueueLogTableShipper;
    let (maria, pg) = (mariadb_fixture().await, postgres_fixture().await);
    let (m, p) = (maria.clone(), pg.clone());
    let cleanup = async move {
        mariadb_drop(maria).await;
        postgres_drop(pg).await;
    };
    with_cleanup(
        async move {
            // MariaDB: the QueueMetrics/Asterisk realtime layout, time as text, data1..data5.
            let mut conn = mariadb_admin(Some(&m)).await;
            conn.query_drop(
                "CREATE TABLE queue_log (id bigint AUTO_INCREMENT PRIMARY KEY, time varchar(26) NOT NULL DEFAULT '', \
                 callid varchar(40) NOT NULL DEFAULT '', queuename varchar(20) NOT NULL DEFAULT '', \
                 agent varchar(40) NOT NULL DEFAULT '', event varchar(20) NOT NULL DEFAULT '', \
                 data1 varchar(100) NOT NULL DEFAULT '', data2 varchar(100) NOT NULL DEFAULT '', \
                 data3 varchar(100) NOT NULL DEFAULT '', data4 varchar(100) NOT NULL DEFAULT '', \
                 data5 varchar(100) NOT NULL DEFAULT '', KEY time (time))",
            )
            .await
            .expect("queue_log table");
            for (time, callid, queue, agent, event, data) in QUEUE_LOG {
                let mut d: Vec<&str> = data.split('|').collect();
                d.resize(5, "");
                conn.exec_drop(
                    "INSERT INTO queue_log (time, callid, queuename, agent, event, data1, data2, data3, data4, data5) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (time, callid, queue, agent, event, d[0], d[1], d[2], d[3], d[4]),
                )
                .await
                .expect("insert");
            }
            conn.disconnect().await.ok();
            // PostgreSQL: time as a timestamp, one `data` column with bars.
            let client = postgres_connect(&p).await;
            client
                .batch_execute(
                    "CREATE TABLE queue_log (time timestamp NOT NULL, callid text NOT NULL, queuename text NOT NULL, \
                     agent text NOT NULL, event text NOT NULL, data text NOT NULL)",
                )
                .await
                .expect("queue_log table");
            for (time, callid, queue, agent, event, data) in QUEUE_LOG {
                client
                    .execute(
                        "INSERT INTO queue_log VALUES ($1::text::timestamp, $2, $3, $4, $5, $6)",
                        &[&time, &callid, &queue, &agent, &event, &data],
                    )
                    .await
                    .expect("insert");
            }
            let user = postgres_user().await;
            let dir = tempfile::tempdir().expect("tempdir");
            for target in [mariadb_target(&m, MARIADB.1, "root"), postgres_target(&p, POSTGRES.1, &user)] {
                let shown = target.describe();
                let mut outbox =
                    Outbox::open(&dir.path().join(shown.replace(['/', ':'], "_")), 1 << 20).expect("outbox");
                let mut q = QueueLogTableShipper::open(
                    config(target.clone()),
                    "queue_log".into(),
                    queue_log_settings(),
                    &mut outbox,
                )
                .expect("shipper");
                let s = q.poll(&mut outbox, &agent()).await.unwrap_or_else(|e| panic!("{shown}: {e}"));
                assert_eq!(s.new, 4, "{shown}: {s:?}");
                assert_queue_log(&queue_log_entries(&outbox));
                drop(q);
                let mut q =
                    QueueLogTableShipper::open(config(target), "queue_log".into(), queue_log_settings(), &mut outbox)
                        .expect("shipper");
                assert_eq!(
                    q.poll(&mut outbox, &agent()).await.expect("poll").new,
                    0,
                    "{shown}: nothing twice after a restart"
                );
                assert_eq!(q.reading().what, "queue_log");
            }
        },
        cleanup,
    )
    .await;
}
