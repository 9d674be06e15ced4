//! The real MariaDB on 127.0.0.1:3306 (root, no password) that CDR tests ship from: a throwaway
//! database per test (dropped when the handle is), and the captured FreePBX `cdr` table.

use mysql_async::prelude::Queryable;

/// The captured FreePBX CDR (`cdr-show-create-table.sql`, `cdr-dump.sql`: 76 rows of 27 Nov 2026).
pub const CDR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/asterisk/cdr");

/// Runs a future to completion on a current-thread runtime of its own.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

/// A connection as root, to `db` or to no database.
pub async fn connect(db: Option<&str>) -> mysql_async::Conn {
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

/// Runs each statement in order on one connection; panics with the statement that failed.
pub async fn run_sql(db: Option<&str>, statements: &[String]) {
    let mut c = connect(db).await;
    for s in statements {
        c.query_drop(s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
    }
    c.disconnect().await.ok();
}

/// A database of this test process, dropped with the handle.
pub struct Database {
    pub name: String,
}

impl Database {
    /// `CREATE DATABASE <prefix>_<pid>`.
    pub fn create(prefix: &str) -> Database {
        let name = format!("{prefix}_{}", std::process::id());
        block_on(run_sql(None, &[format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")]));
        Database { name }
    }

    /// The agent's `[database] url`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:3306/{}", self.name)
    }

    pub fn execute(&self, statements: &[String]) {
        block_on(run_sql(Some(&self.name), statements));
    }

    /// Creates the FreePBX `cdr` table as captured and loads its 76 rows.
    pub fn load_captured_cdr(&self) {
        let ddl = std::fs::read_to_string(format!("{CDR}/cdr-show-create-table.sql")).expect("ddl");
        let dump = std::fs::read_to_string(format!("{CDR}/cdr-dump.sql")).expect("dump");
        let mut load = vec![ddl.trim().trim_end_matches(';').to_string()];
        load.extend(dump.lines().filter(|l| l.starts_with("INSERT INTO")).map(str::to_string));
        self.execute(&load);
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        block_on(run_sql(None, &[format!("DROP DATABASE IF EXISTS {}", self.name)]));
    }
}
