//! The `database` probe against the real MariaDB (127.0.0.1:3306, root without password) and
//! PostgreSQL (127.0.0.1:5432, trust auth, user postgres) running on this machine and in CI (`.ci/run`
//! starts them), and against SQLite files. Each test creates its own uniquely named database, loads
//! the captured FreePBX `asteriskcdrdb.cdr` (shared/fixtures/asterisk/cdr) and drops it at the end.
//! A server that is not running fails the test with the service to start; nothing is skipped.
//!
//! The fixtures are loaded by `cdrdb` (see its module doc for the DDL mapping).

use centinela_agent::config::{DatabaseConfig, DatabaseTarget};
use centinela_agent::probes::database::Database;
use centinela_shared::{DatabaseV1, Level, Reading};
use mysql_async::prelude::Queryable;
use std::time::Duration;

mod cdrdb;
mod ports;
use cdrdb::*;
use ports::closed_port;

fn config(target: DatabaseTarget, stale_after: Duration) -> DatabaseConfig {
    DatabaseConfig { target, password: None, cdr_table: "cdr".into(), stale_after, ship: None }
}

async fn sample(probe: &mut Database, calls: Option<u64>) -> DatabaseV1 {
    let mut out = Vec::new();
    probe.collect(calls, &mut out).await.expect("a configured probe always returns Ok");
    match out.as_slice() {
        [Reading::DatabaseV1(d)] => d.clone(),
        other => panic!("exactly one database reading expected: {other:?}"),
    }
}

// ---- MariaDB ----

#[tokio::test]
async fn mariadb_reads_the_captured_freepbx_cdr() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let mut probe =
                Database::new(Some(config(mariadb_target(&db, MARIADB.1, "root"), Duration::from_secs(900))));
            let r = sample(&mut probe, None).await;
            assert!(r.connected, "{r:?}");
            assert_eq!(r.error, None);
            assert_eq!((r.backend.as_str(), r.target.clone()), ("mariadb", format!("127.0.0.1:3306/{db}")));
            assert!(r.connect_ms.is_some() && r.query_ms.is_some(), "{r:?}");
            assert_eq!(r.newest_calldate.as_deref(), Some(fixture_newest().as_str()));
            assert!(r.newest_age_s.is_some() && r.rows_last_hour.is_some(), "{r:?}");
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn mariadb_goes_critical_when_calls_are_processed_but_no_row_arrives_and_recovers() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let mut conn = mariadb_admin(Some(&db)).await;
            let mut probe = Database::new(Some(config(mariadb_target(&db, MARIADB.1, "root"), Duration::from_secs(1))));
            conn.query_drop("INSERT INTO cdr (calldate, uniqueid) VALUES (NOW(), 'probe.1')").await.expect("insert");
            let r = sample(&mut probe, Some(10)).await;
            assert_eq!(r.verdict.level, Level::Ok, "{r:?}");
            assert!(r.newest_age_s.is_some_and(|a| a <= 2), "{r:?}");
            assert!(r.rows_last_hour.is_some_and(|n| n >= 1), "{r:?}");
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let r = sample(&mut probe, Some(17)).await;
            assert_eq!(r.verdict.level, Level::Critical, "{r:?}");
            assert!(
                r.verdict.reasons.iter().any(|x| x.starts_with("CDR desactualizado (no se registran llamadas)")
                    && x.contains("Asterisk procesó 7 llamadas desde entonces")),
                "{r:?}"
            );
            conn.query_drop("INSERT INTO cdr (calldate, uniqueid) VALUES (NOW() + INTERVAL 1 SECOND, 'probe.2')")
                .await
                .expect("insert");
            let r = sample(&mut probe, Some(18)).await;
            assert_eq!(r.verdict.level, Level::Ok, "a new row ends it: {r:?}");
            conn.disconnect().await.ok();
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn mariadb_wrong_password_and_unknown_database_are_critical_with_the_fix() {
    // Make sure the server is up, so the failures below are about the login.
    mariadb_admin(None).await.disconnect().await.ok();
    let mut c = config(mariadb_target("test", MARIADB.1, "root"), Duration::from_secs(900));
    c.password = Some("not-the-password".into());
    let r = sample(&mut Database::new(Some(c)), Some(1)).await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    let e = r.error.clone().unwrap_or_default();
    assert!(e.contains("acceso denegado para el usuario root") && e.contains("password_file"), "{e}");
    assert!(!format!("{r:?}").contains("not-the-password"), "the password must not reach the reading");

    let missing = unique_name();
    let r = sample(
        &mut Database::new(Some(config(mariadb_target(&missing, MARIADB.1, "root"), Duration::from_secs(900)))),
        None,
    )
    .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    let e = r.error.unwrap_or_default();
    assert!(e.contains(&format!("la base de datos {missing} no existe")), "{e}");
}

#[tokio::test]
async fn mariadb_missing_table_names_cdr_table() {
    let name = mariadb_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let mut c = config(mariadb_target(&db, MARIADB.1, "root"), Duration::from_secs(900));
            c.cdr_table = "cdr_missing".into();
            let r = sample(&mut Database::new(Some(c)), None).await;
            assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
            assert!(r.error.unwrap_or_default().contains("revise cdr_table"));
        },
        mariadb_drop(name),
    )
    .await;
}

#[tokio::test]
async fn mariadb_port_with_nothing_listening_is_critical() {
    let (_closed, port) = closed_port();
    let r = sample(&mut Database::new(Some(config(mariadb_target("x", port, "root"), Duration::from_secs(900)))), None)
        .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&format!("no se puede conectar a MariaDB en 127.0.0.1:{port}")));
}

// ---- PostgreSQL ----

#[tokio::test]
async fn postgresql_reads_the_captured_freepbx_cdr_and_goes_critical_when_rows_stop() {
    let user = postgres_user().await;
    let name = postgres_fixture().await;
    let db = name.clone();
    with_cleanup(
        async move {
            let mut probe =
                Database::new(Some(config(postgres_target(&db, POSTGRES.1, &user), Duration::from_secs(1))));
            let r = sample(&mut probe, None).await;
            assert!(r.connected, "{r:?}");
            assert_eq!((r.backend.as_str(), r.target.clone()), ("postgresql", format!("127.0.0.1:5432/{db}")));
            assert!(r.connect_ms.is_some() && r.query_ms.is_some(), "{r:?}");
            assert_eq!(r.newest_calldate.as_deref(), Some(fixture_newest().as_str()));

            let conn = postgres_connect(&db).await;
            conn.batch_execute("INSERT INTO cdr (calldate, uniqueid) VALUES (LOCALTIMESTAMP(0), 'probe.1')")
                .await
                .expect("insert");
            let r = sample(&mut probe, Some(10)).await;
            assert_eq!(r.verdict.level, Level::Ok, "{r:?}");
            assert!(r.newest_age_s.is_some_and(|a| a <= 2), "{r:?}");
            tokio::time::sleep(Duration::from_millis(2200)).await;
            let r = sample(&mut probe, Some(17)).await;
            assert_eq!(r.verdict.level, Level::Critical, "{r:?}");
            assert!(
                r.verdict.reasons.iter().any(|x| x.contains("Asterisk procesó 7 llamadas desde entonces")),
                "{r:?}"
            );
            conn.batch_execute(
                "INSERT INTO cdr (calldate, uniqueid) VALUES (LOCALTIMESTAMP(0) + INTERVAL '1 second', 'probe.2')",
            )
            .await
            .expect("insert");
            let r = sample(&mut probe, Some(18)).await;
            assert_eq!(r.verdict.level, Level::Ok, "a new row ends it: {r:?}");
        },
        postgres_drop(name),
    )
    .await;
}

#[tokio::test]
async fn postgresql_unknown_database_unknown_user_and_closed_port_are_critical() {
    let user = postgres_user().await;
    let missing = unique_name();
    let r = sample(
        &mut Database::new(Some(config(postgres_target(&missing, POSTGRES.1, &user), Duration::from_secs(900)))),
        None,
    )
    .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&format!("la base de datos {missing} no existe")));

    let nobody = unique_name();
    let r = sample(
        &mut Database::new(Some(config(postgres_target("test", POSTGRES.1, &nobody), Duration::from_secs(900)))),
        None,
    )
    .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&nobody), "the refused user is named");

    let (_closed, port) = closed_port();
    let r =
        sample(&mut Database::new(Some(config(postgres_target("test", port, &user), Duration::from_secs(900)))), None)
            .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&format!("no se puede conectar a PostgreSQL en 127.0.0.1:{port}")));
}

// ---- SQLite ----

#[tokio::test]
async fn sqlite_reads_the_captured_cdr_and_goes_critical_when_rows_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = sqlite_fixture(dir.path());
    let mut probe = Database::new(Some(config(DatabaseTarget::Sqlite { path: path.clone() }, Duration::from_secs(1))));
    let r = sample(&mut probe, None).await;
    assert!(r.connected, "{r:?}");
    assert_eq!((r.backend.as_str(), r.target.clone()), ("sqlite", path.display().to_string()));
    assert_eq!(r.newest_calldate.as_deref(), Some(fixture_newest().as_str()));

    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch("INSERT INTO cdr (calldate, uniqueid) VALUES (datetime('now', 'localtime'), 'probe.1')")
        .expect("insert");
    let r = sample(&mut probe, Some(10)).await;
    assert_eq!(r.verdict.level, Level::Ok, "{r:?}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = sample(&mut probe, Some(17)).await;
    assert_eq!(r.verdict.level, Level::Critical, "{r:?}");
    conn.execute_batch(
        "INSERT INTO cdr (calldate, uniqueid) VALUES (datetime('now', 'localtime', '+1 second'), 'probe.2')",
    )
    .expect("insert");
    let r = sample(&mut probe, Some(18)).await;
    assert_eq!(r.verdict.level, Level::Ok, "a new row ends it: {r:?}");
}

#[tokio::test]
async fn sqlite_missing_file_is_critical_and_names_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nonexistent.db");
    let r =
        sample(&mut Database::new(Some(config(DatabaseTarget::Sqlite { path }, Duration::from_secs(900)))), None).await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains("revise url"));
}
