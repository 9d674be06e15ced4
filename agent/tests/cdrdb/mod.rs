//! The captured FreePBX CDR (shared/fixtures/asterisk/cdr) loaded into the real MariaDB
//! (127.0.0.1:3306, root without password), PostgreSQL (127.0.0.1:5432, trust auth) and SQLite
//! files, for the `database` probe's and the CDR shipper's tests. Each test creates its own uniquely
//! named database and drops it at the end. A server that is not running fails the test with the
//! service to start; nothing is skipped.
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
#![allow(dead_code)] // each test file uses its own subset

use centinela_agent::config::DatabaseTarget;
use mysql_async::prelude::Queryable;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/cdr");
pub const MARIADB: (&str, u16) = ("127.0.0.1", 3306);
pub const POSTGRES: (&str, u16) = ("127.0.0.1", 5432);

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique_name() -> String {
    format!("centinela_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

pub fn fixture(name: &str) -> String {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// RFC 4180 fields of one line (the fixture has no newline inside a field).
pub fn csv_fields(line: &str) -> Vec<String> {
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
pub fn csv_rows() -> (Vec<String>, Vec<Vec<String>>) {
    let text = fixture("cdr.csv");
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = csv_fields(lines.next().expect("cdr.csv has a header"));
    let rows: Vec<Vec<String>> = lines.map(csv_fields).collect();
    assert!(rows.iter().all(|r| r.len() == header.len()), "cdr.csv: every row has {} fields", header.len());
    (header, rows)
}

/// The newest calldate in the fixture.
pub fn fixture_newest() -> String {
    csv_rows().1.iter().map(|r| r[0].clone()).max().expect("rows")
}

/// The captured MariaDB DDL, mapped for PostgreSQL and SQLite (see the module doc).
pub fn portable_ddl(table: &str) -> Vec<String> {
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
pub fn portable_inserts(table: &str) -> Vec<String> {
    let (header, rows) = csv_rows();
    rows.iter()
        .map(|r| {
            let values: Vec<String> = r.iter().map(|v| format!("'{}'", v.replace('\'', "''"))).collect();
            format!("INSERT INTO {table} ({}) VALUES ({})", header.join(", "), values.join(", "))
        })
        .collect()
}

/// Runs `body` and drops the test database whether it passed or panicked.
pub async fn with_cleanup<F, C>(body: F, cleanup: C)
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

pub fn mariadb_opts(db: Option<&str>) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(MARIADB.0)
        .tcp_port(MARIADB.1)
        .user(Some("root"))
        .db_name(db)
        .prefer_socket(false)
}

pub async fn mariadb_admin(db: Option<&str>) -> mysql_async::Conn {
    mysql_async::Conn::new(mariadb_opts(db)).await.unwrap_or_else(|e| {
        panic!(
            "MariaDB is not reachable on 127.0.0.1:3306 as root without password ({e}): start it \
             (`service mariadb start`; CI's .ci/run starts it)"
        )
    })
}

/// A fresh database with the captured FreePBX `cdr` table and rows.
pub async fn mariadb_fixture() -> String {
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

pub async fn mariadb_drop(name: String) {
    let mut admin = mariadb_admin(None).await;
    admin.query_drop(format!("DROP DATABASE IF EXISTS {name}")).await.expect("drop database");
    admin.disconnect().await.ok();
}

pub fn mariadb_target(database: &str, port: u16, user: &str) -> DatabaseTarget {
    DatabaseTarget::Mariadb { host: MARIADB.0.into(), port, user: user.into(), database: database.into() }
}

pub async fn postgres_connect(db: &str) -> tokio_postgres::Client {
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

pub async fn postgres_user() -> String {
    let admin = postgres_connect("test").await;
    admin.query_one("SELECT current_user::text", &[]).await.expect("current_user").get(0)
}

pub async fn postgres_fixture() -> String {
    let name = unique_name();
    let admin = postgres_connect("test").await;
    admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let conn = postgres_connect(&name).await;
    for stmt in portable_ddl("cdr").iter().chain(portable_inserts("cdr").iter()) {
        conn.batch_execute(stmt).await.unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    name
}

pub async fn postgres_drop(name: String) {
    let admin = postgres_connect("test").await;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await.expect("drop database");
}

pub fn postgres_target(database: &str, port: u16, user: &str) -> DatabaseTarget {
    DatabaseTarget::Postgresql { host: POSTGRES.0.into(), port, user: user.into(), database: database.into() }
}

pub fn sqlite_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("Master.db");
    let conn = rusqlite::Connection::open(&path).expect("create sqlite");
    for stmt in portable_ddl("cdr").iter().chain(portable_inserts("cdr").iter()) {
        conn.execute_batch(stmt).unwrap_or_else(|e| panic!("{stmt}: {e}"));
    }
    path
}
