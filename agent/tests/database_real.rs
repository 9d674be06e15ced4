//! The `database` probe against the real MariaDB (127.0.0.1:3306, root without password) and
//! PostgreSQL (127.0.0.1:5432, trust auth, user postgres) running on this machine and in CI (`.ci/run`
//! starts them), and against SQLite files. Each test creates its own uniquely named database, loads
//! the captured FreePBX `asteriskcdrdb.cdr` (shared/fixtures/asterisk/cdr) and drops it at the end.
//! A server that is not running fails the test with the service to start; nothing is skipped.
//!
//! DDL mapping for PostgreSQL and SQLite (from `cdr-show-create-table.sql`, MariaDB 10.11):
//! - backquotes removed; `datetime` → `timestamp`; `int(11)` → `integer`; `varchar(n)` kept;
//! - `DEFAULT '0000-00-00 00:00:00'` dropped (a zero date is not a valid timestamp; the column stays
//!   `NOT NULL`);
//! - each `KEY name (col)` becomes `CREATE INDEX`; the prefix index `recordingfile(191)` indexes the
//!   whole column; `ENGINE=... CHARSET=... COLLATE=...` dropped (UTF-8 database default).
//!
//! Rows: MariaDB runs the `INSERT` lines of `cdr-dump.sql` as dumped; PostgreSQL and SQLite get the
//! 76 rows of `cdr.csv` as quoted literals.

use centinela_agent::config::{DatabaseConfig, DatabaseTarget};
use centinela_agent::probes::database::Database;
use centinela_shared::{DatabaseV1, Level, Reading};
use mysql_async::prelude::Queryable;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/cdr");
const MARIADB: (&str, u16) = ("127.0.0.1", 3306);
const POSTGRES: (&str, u16) = ("127.0.0.1", 5432);

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    format!("centinela_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// RFC 4180 fields of one line (the fixture has no newline inside a field).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The fixture rows of `cdr.csv`: header, rows.
fn csv_rows() -> (Vec<String>, Vec<Vec<String>>) {
    let text = fixture("cdr.csv");
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = csv_fields(lines.next().expect("cdr.csv has a header"));
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert!(rows.iter().all(|r| r.len() == header.len()), "cdr.csv: every row has {} fields", header.len());
    (header, rows)
}

/// The newest calldate in the fixture.
fn fixture_newest() -> String {
    csv_rows().1.iter().map(|r| r[0].clone()).max().expect("rows")
}

/// The captured MariaDB DDL, mapped for PostgreSQL and SQLite (see the module doc).
fn portable_ddl(table: &str) -> Vec<String> {
    let text = fixture("cdr-show-create-table.sql").replace('`', "");
    let mut columns = Vec::new();
    let mut indexes = Vec::new();
    for line in text.lines().map(str::trim) {
        let line = line.trim_end_matches(',');
        if let Some(key) = line.strip_prefix("KEY ") {
            let (name, cols) = key.split_once(' ').expect("KEY name (cols)");
            let cols = cols.replace("(191)", "");
            indexes.push(format!("CREATE INDEX {table}_{name} ON {table} {cols}"));
        } else if !line.starts_with("CREATE") && !line.starts_with(')') && !line.is_empty() && line != ";" {
            let col = line
                .replace(" datetime ", " timestamp ")
                .replace("int(11)", "integer")
                .replace(" DEFAULT '0000-00-00 00:00:00'", "");
            columns.push(col);
        }
    }
    assert_eq!(columns.len(), 26, "the FreePBX cdr has 26 columns: {columns:?}");
    let mut ddl = vec![format!("CREATE TABLE {table} (\n  {}\n)", columns.join(",\n  "))];
    ddl.extend(indexes);
    ddl
}

/// One INSERT per `cdr.csv` row, as quoted literals.
fn portable_inserts(table: &str) -> Vec<String> {
    let (header, rows) = csv_rows();
    rows.iter()
        .map(|r| {
            let values: Vec<String> = r.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
            format!("INSERT INTO {table} ({}) VALUES ({})", header.join(", "), values.join(", "))
        })
        .collect()
}

fn config(target: DatabaseTarget, stale_after: Duration) -> DatabaseConfig {
    DatabaseConfig { target, password: None, cdr_table: "cdr".into(), stale_after }
}

async fn sample(probe: &mut Database, calls: Option<u64>) -> DatabaseV1 {
    let mut out = Vec::new();
    probe.collect(calls, &mut out).await.expect("a configured probe always returns Ok");
    match out.as_slice() {
        [Reading::DatabaseV1(d)] => d.clone(),
        other => panic!("exactly one database reading expected: {other:?}"),
    }
}

/// Runs `body` and drops the test database whether it passed or panicked.
async fn with_cleanup<F, C>(body: F, cleanup: C)
where
    F: std::future::Future<Output = ()> + Send + 'static,
    C: std::future::Future<Output = ()>,
{
    let result = tokio::spawn(body).await;
    cleanup.await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// ---- MariaDB ----

fn mariadb_opts(db: Option<&str>) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(MARIADB.0)
        .tcp_port(MARIADB.1)
        .user(Some("root"))
        .db_name(db)
        .prefer_socket(false)
}

async fn mariadb_admin(db: Option<&str>) -> mysql_async::Conn {
    mysql_async::Conn::new(mariadb_opts(db)).await.unwrap_or_else(|e| {
        panic!(
            "MariaDB is not reachable on 127.0.0.1:3306 as root without password ({e}): start it \
             (`service mariadb start`; CI's .ci/run starts it)"
        )
    })
}

/// A fresh database with the captured FreePBX `cdr` table and rows.
async fn mariadb_fixture() -> String {
    let name = unique_name();
    let mut admin = mariadb_admin(None).await;
    admin.query_drop(format!("CREATE DATABASE {name}")).await.expect("create database");
    admin.disconnect().await.ok();
    let mut conn = mariadb_admin(Some(&name)).await;
    let ddl = fixture("cdr-show-create-table.sql");
    conn.query_drop(ddl.trim().trim_end_matches(';')).await.expect("captured DDL");
    for insert in fixture("cdr-dump.sql").lines().filter(|l| l.starts_with("INSERT INTO")) {
        conn.query_drop(insert).await.expect("captured INSERT");
    }
    conn.disconnect().await.ok();
    name
}

async fn mariadb_drop(name: String) {
    let mut admin = mariadb_admin(None).await;
    admin.query_drop(format!("DROP DATABASE IF EXISTS {name}")).await.expect("drop database");
    admin.disconnect().await.ok();
}

fn mariadb_target(database: &str, port: u16, user: &str) -> DatabaseTarget {
    DatabaseTarget::Mariadb { host: MARIADB.0.into(), port, user: user.into(), database: database.into() }
}

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
    let port = free_port();
    let r = sample(&mut Database::new(Some(config(mariadb_target("x", port, "root"), Duration::from_secs(900)))), None)
        .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&format!("no se puede conectar a MariaDB en 127.0.0.1:{port}")));
}

// ---- PostgreSQL ----

async fn postgres_connect(db: &str) -> tokio_postgres::Client {
    let mut last = String::new();
    for user in ["postgres", "root"] {
        let mut c = tokio_postgres::Config::new();
        c.host(POSTGRES.0).port(POSTGRES.1).user(user).dbname(db).connect_timeout(Duration::from_secs(5));
        match c.connect(tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                return client;
            }
            Err(e) => last = e.to_string(),
        }
    }
    panic!(
        "PostgreSQL is not reachable on 127.0.0.1:5432 with trust auth as postgres or root ({last}): start it \
         (`service postgresql start`; CI's .ci/run starts it)"
    )
}

async fn postgres_user() -> String {
    let admin = postgres_connect("test").await;
    admin.query_one("SELECT current_user::text", &[]).await.expect("current_user").get(0)
}

async fn postgres_fixture() -> String {
    let name = unique_name();
    let admin = postgres_connect("test").await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let conn = postgres_connect(&name).await;
    for stmt in portable_ddl("cdr").iter().chain(portable_inserts("cdr").iter()) {
        conn.batch_execute(stmt).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    name
}

async fn postgres_drop(name: String) {
    let admin = postgres_connect("test").await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop database");
}

fn postgres_target(database: &str, port: u16, user: &str) -> DatabaseTarget {
    DatabaseTarget::Postgresql { host: POSTGRES.0.into(), port, user: user.into(), database: database.into() }
}

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

    let port = free_port();
    let r =
        sample(&mut Database::new(Some(config(postgres_target("test", port, &user), Duration::from_secs(900)))), None)
            .await;
    assert_eq!((r.connected, r.verdict.level), (false, Level::Critical), "{r:?}");
    assert!(r.error.unwrap_or_default().contains(&format!("no se puede conectar a PostgreSQL en 127.0.0.1:{port}")));
}

// ---- SQLite ----

fn sqlite_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("Master.db");
    let conn = rusqlite::Connection::open(&path).expect("create sqlite");
    for stmt in portable_ddl("cdr").iter().chain(portable_inserts("cdr").iter()) {
        conn.execute_batch(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    path
}

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
