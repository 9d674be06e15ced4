//! Probe `database`: one [`DatabaseV1`] per sample saying whether the CDR database (MariaDB/MySQL,
//! PostgreSQL or SQLite) answers and whether calls are still being written to it. The I/O
//! ([`visit`]) yields a [`Visit`]; the pure [`Freshness`] and [`build`] turn it into the reading.
//!
//! Invariants:
//! - Not applicable only without a `[database]` section. Otherwise exactly one reading is pushed and
//!   `collect` returns `Ok`: an unreachable database or a refused login is a reading with a Critical
//!   verdict, not a probe failure.
//! - One connection per sample, closed at the end. Deadlines: [`CONNECT_TIMEOUT`] for connect and
//!   login, [`QUERY_TIMEOUT`] per query. Only `SELECT`s are sent; the table name is a validated plain
//!   identifier ([`crate::config::DatabaseConfig::cdr_table`]); the password never leaves the config.
//! - The age of the newest row is computed by the database with its own clock (`NOW()`,
//!   `now()`, `datetime('now','localtime')`), because Asterisk writes `calldate` in its local time
//!   without a zone: comparing it with the agent's clock would add the zone and the clock skew.
//!
//! Queries: `SELECT 1` (its latency is `query_ms`), then `MAX(calldate)`, its age in seconds and the
//! rows whose `calldate` is within the last hour, in one statement.
//!
//! Verdict ([`build`], [`Freshness::observe`]), in Spanish because technicians read it:
//! - Critical: the database does not answer, refuses the login, the database or the table does not
//!   exist (the error says which key to fix).
//! - Critical, freshness: Asterisk's `calls_processed` grew since the previous sample, but the newest
//!   CDR row is older than `stale_after`, or it has not changed across samples spanning `stale_after`
//!   (or the table is empty): "CDR desactualizado (no se registran llamadas): la última fila es de
//!   hace 42 min y Asterisk procesó 7 llamadas desde entonces". The count is calls processed since
//!   the sample where the current newest row was first seen. A new row ends it at once.
//! - Warning: without Asterisk figures (no `[asterisk]`, or AMI down), a newest row older than
//!   `stale_after` or an empty table is only a Warning: quiet hours are normal.
//! - Warning: `SELECT 1` took longer than [`SLOW_QUERY`] (1 s).
//! - Asterisk figures present but no new calls: Ok, however old the newest row is.

use super::ProbeError;
use super::asterisk::human;
use crate::config::{DatabaseConfig, DatabaseTarget};
use centinela_shared::{DatabaseV1, Level, Reading, Verdict};
use std::time::{Duration, Instant};

/// Connect and login deadline.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline of each query.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// A `SELECT 1` slower than this is a Warning.
pub const SLOW_QUERY: Duration = Duration::from_secs(1);

/// The CDR figures read in one visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdrFigures {
    /// `MAX(calldate)` as rendered by the database; `None` for an empty table.
    pub newest_calldate: Option<String>,
    /// Age of that row by the database's clock (negative ages, rows from the future, are 0).
    pub newest_age_s: Option<u64>,
    pub rows_last_hour: u64,
}

/// What one visit to the database found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Visit {
    /// Why the visit stopped, in Spanish with the fix. `None`: everything was read.
    pub error: Option<String>,
    pub connect_ms: Option<u32>,
    pub query_ms: Option<u32>,
    pub cdr: Option<CdrFigures>,
}

impl Visit {
    fn failed(error: String) -> Self {
        Self { error: Some(error), ..Self::default() }
    }
}

/// Freshness state kept between samples. `now` is any monotonic clock (the probe uses the time since
/// it was built; tests pass literal values).
#[derive(Debug, Clone, Default)]
pub struct Freshness {
    /// The newest calldate seen at the last successful visit (`Some(None)`: the table was empty).
    newest: Option<Option<String>>,
    /// When `newest` last changed.
    changed_at: Duration,
    /// Asterisk's counter when `newest` last changed (or when figures first appeared, or after
    /// Asterisk restarted and the counter went back).
    calls_at_change: Option<u64>,
    /// Asterisk's counter at the previous successful visit.
    prev_calls: Option<u64>,
}

impl Freshness {
    /// Takes one visit's figures and says what is wrong with the freshness, if anything.
    pub fn observe(
        &mut self,
        now: Duration,
        cdr: &CdrFigures,
        calls: Option<u64>,
        stale_after: Duration,
    ) -> Option<(Level, String)> {
        let changed = self.newest.as_ref() != Some(&cdr.newest_calldate);
        if changed {
            self.newest = Some(cdr.newest_calldate.clone());
            self.changed_at = now;
            self.calls_at_change = calls;
        }
        if let Some(c) = calls
            && self.calls_at_change.is_none_or(|at| c < at)
        {
            self.calls_at_change = Some(c);
        }
        let grew = matches!((calls, self.prev_calls), (Some(c), Some(p)) if c > p);
        self.prev_calls = calls;
        let unchanged_for = now.saturating_sub(self.changed_at);
        let old = cdr.newest_age_s.is_none_or(|a| a > stale_after.as_secs());
        let stuck = !changed && unchanged_for >= stale_after;
        let stale = cdr.newest_calldate.is_none() || old || stuck;
        if !stale {
            return None;
        }
        let age = cdr.newest_age_s.unwrap_or(unchanged_for.as_secs());
        match calls {
            Some(c) if grew => {
                let since = c.saturating_sub(self.calls_at_change.unwrap_or(c));
                let row = match cdr.newest_calldate {
                    Some(_) => format!("la última fila es de hace {}", human(age)),
                    None => "la tabla está vacía".to_string(),
                };
                Some((
                    Level::Critical,
                    format!(
                        "CDR desactualizado (no se registran llamadas): {row} y Asterisk procesó {since} {} desde entonces",
                        if since == 1 { "llamada" } else { "llamadas" }
                    ),
                ))
            }
            Some(_) => None,
            None if cdr.newest_calldate.is_none() => Some((
                Level::Warning,
                "la tabla CDR está vacía (sin cifras de Asterisk para saber si hubo llamadas)".to_string(),
            )),
            None if old => Some((
                Level::Warning,
                format!(
                    "la última fila del CDR es de hace {} (sin cifras de Asterisk: normal si no hubo llamadas)",
                    human(age)
                ),
            )),
            None => None,
        }
    }
}

/// The reading from a visit and the freshness judgement.
pub fn build(target: &DatabaseTarget, visit: Visit, freshness: Option<(Level, String)>) -> DatabaseV1 {
    let mut verdict = Verdict::ok();
    let connected = visit.error.is_none() && visit.cdr.is_some();
    if let Some(e) = &visit.error {
        verdict.raise(Level::Critical, e.clone());
    }
    if let Some(q) = visit.query_ms
        && u128::from(q) > SLOW_QUERY.as_millis()
    {
        verdict.raise(Level::Warning, format!("la base de datos del CDR responde despacio: SELECT 1 tardó {q} ms"));
    }
    if let Some((level, reason)) = freshness {
        verdict.raise(level, reason);
    }
    let cdr = visit.cdr;
    DatabaseV1 {
        backend: target.backend().to_string(),
        target: target.describe(),
        connected,
        error: visit.error,
        connect_ms: visit.connect_ms,
        query_ms: visit.query_ms,
        newest_calldate: cdr.as_ref().and_then(|c| c.newest_calldate.clone()),
        newest_age_s: cdr.as_ref().and_then(|c| c.newest_age_s),
        rows_last_hour: cdr.as_ref().map(|c| c.rows_last_hour),
        verdict,
    }
}

pub struct Database {
    config: Option<DatabaseConfig>,
    freshness: Freshness,
    origin: Instant,
}

impl Database {
    pub fn new(config: Option<DatabaseConfig>) -> Self {
        Self { config, freshness: Freshness::default(), origin: Instant::now() }
    }

    /// `calls_processed`: Asterisk's counter from this same sample, when the asterisk probe has one.
    /// Not applicable without config; otherwise pushes exactly one `Reading::DatabaseV1` and returns
    /// `Ok`.
    pub async fn collect(&mut self, calls_processed: Option<u64>, out: &mut Vec<Reading>) -> Result<(), ProbeError> {
        let Some(config) = &self.config else {
            return Err(ProbeError::NotApplicable("sin sección [database] en la configuración".into()));
        };
        let visit = visit(config).await;
        let freshness = match (&visit.error, &visit.cdr) {
            (None, Some(cdr)) => {
                self.freshness.observe(self.origin.elapsed(), cdr, calls_processed, config.stale_after)
            }
            _ => None,
        };
        out.push(Reading::DatabaseV1(build(&config.target, visit, freshness)));
        Ok(())
    }
}

fn ms(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_millis()).unwrap_or(u32::MAX)
}

fn age(seconds: Option<i64>) -> Option<u64> {
    seconds.map(|s| u64::try_from(s.max(0)).unwrap_or(0))
}

pub(crate) fn timed_out(what: &str, target: &str, d: Duration) -> String {
    format!("{what} con {target} no terminó en {} s: la base de datos no responde o está sobrecargada", d.as_secs())
}

/// Connects, queries and disconnects, within the deadlines.
pub async fn visit(config: &DatabaseConfig) -> Visit {
    let table = &config.cdr_table;
    let password = config.password.as_deref();
    match &config.target {
        DatabaseTarget::Mariadb { host, port, user, database } => {
            visit_mariadb(host, *port, user, database, password, table).await
        }
        DatabaseTarget::Postgresql { host, port, user, database } => {
            visit_postgresql(host, *port, user, database, password, table).await
        }
        DatabaseTarget::Sqlite { path } => {
            let (path, table) = (path.clone(), table.clone());
            let task = tokio::task::spawn_blocking(move || visit_sqlite(&path, &table));
            match tokio::time::timeout(CONNECT_TIMEOUT + QUERY_TIMEOUT, task).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => Visit::failed(format!("la consulta SQLite falló por un error interno: {e}")),
                Err(_) => {
                    Visit::failed(timed_out("la consulta", &config.target.describe(), CONNECT_TIMEOUT + QUERY_TIMEOUT))
                }
            }
        }
    }
}

/// A MariaDB/MySQL error in Spanish, with the fix.
pub(crate) fn mariadb_error(
    e: &mysql_async::Error,
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    table: &str,
) -> String {
    match e {
        mysql_async::Error::Server(s) => match s.code {
            1045 => format!(
                "acceso denegado para el usuario {user}: revise password_file en [database] y el usuario en url"
            ),
            1044 => format!(
                "el usuario {user} no tiene acceso a la base de datos {database}: GRANT SELECT ON {database}.* TO '{user}'"
            ),
            1049 => format!("la base de datos {database} no existe en {host}:{port}: revise url en [database]"),
            1146 => format!("la tabla {table} no existe en {database}: revise cdr_table en [database]"),
            1142 => format!("el usuario {user} no puede leer la tabla {table}: GRANT SELECT ON {database}.{table}"),
            1054 => format!("la tabla {table} no tiene la columna calldate: revise cdr_table en [database]"),
            code => format!("MariaDB respondió con el error {code}: {}", s.message),
        },
        other => format!(
            "no se puede conectar a MariaDB en {host}:{port} ({other}): compruebe que el servicio está en marcha y escucha en ese puerto"
        ),
    }
}

/// Connection options for the CDR database on MariaDB/MySQL.
pub(crate) fn mariadb_opts(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user))
        .pass(password)
        .db_name(Some(database))
        // Stay on the TCP address configured: switching to the unix socket would change how the
        // server authenticates the user (unix_socket plugin for root on Debian).
        .prefer_socket(false)
}

async fn visit_mariadb(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
    table: &str,
) -> Visit {
    use mysql_async::prelude::Queryable;
    let target = format!("{host}:{port}/{database}");
    let err = |e: &mysql_async::Error| mariadb_error(e, host, port, user, database, table);
    let opts = mariadb_opts(host, port, user, database, password);
    let started = Instant::now();
    let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Visit::failed(err(&e)),
        Err(_) => return Visit::failed(timed_out("la conexión", &target, CONNECT_TIMEOUT)),
    };
    let mut visit = Visit { connect_ms: Some(ms(started)), ..Visit::default() };
    let started = Instant::now();
    match tokio::time::timeout(QUERY_TIMEOUT, conn.query_drop("SELECT 1")).await {
        Ok(Ok(())) => visit.query_ms = Some(ms(started)),
        Ok(Err(e)) => visit.error = Some(err(&e)),
        Err(_) => visit.error = Some(timed_out("SELECT 1", &target, QUERY_TIMEOUT)),
    }
    if visit.error.is_none() {
        let sql = format!(
            "SELECT CAST(MAX(calldate) AS CHAR), TIMESTAMPDIFF(SECOND, MAX(calldate), NOW()), \
             (SELECT COUNT(*) FROM {table} WHERE calldate >= NOW() - INTERVAL 1 HOUR) FROM {table}"
        );
        let query = conn.query_first::<(Option<String>, Option<i64>, i64), _>(sql);
        match tokio::time::timeout(QUERY_TIMEOUT, query).await {
            Ok(Ok(Some((newest, age_s, rows)))) => {
                visit.cdr = Some(CdrFigures {
                    newest_calldate: newest,
                    newest_age_s: age(age_s),
                    rows_last_hour: u64::try_from(rows).unwrap_or(0),
                })
            }
            Ok(Ok(None)) => visit.error = Some(format!("la consulta de {table} no devolvió ninguna fila")),
            Ok(Err(e)) => visit.error = Some(err(&e)),
            Err(_) => visit.error = Some(timed_out("la consulta del CDR", &target, QUERY_TIMEOUT)),
        }
    }
    // A clean goodbye; if it hangs the connection is dropped anyway.
    let _ = tokio::time::timeout(QUERY_TIMEOUT, conn.disconnect()).await;
    visit
}

/// A PostgreSQL error in Spanish, with the fix.
pub(crate) fn postgresql_error(
    e: &tokio_postgres::Error,
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    table: &str,
) -> String {
    use tokio_postgres::error::SqlState;
    let Some(db) = e.as_db_error() else {
        return format!(
            "no se puede conectar a PostgreSQL en {host}:{port} ({e}): compruebe que el servicio está en marcha y escucha en ese puerto"
        );
    };
    let code = db.code();
    if *code == SqlState::INVALID_PASSWORD {
        format!("acceso denegado para el usuario {user}: revise password_file en [database] y el usuario en url")
    } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
        format!("PostgreSQL rechazó al usuario {user} ({}): revise el usuario en url y pg_hba.conf", db.message())
    } else if *code == SqlState::INVALID_CATALOG_NAME {
        format!("la base de datos {database} no existe en {host}:{port}: revise url en [database]")
    } else if *code == SqlState::UNDEFINED_TABLE {
        format!("la tabla {table} no existe en {database}: revise cdr_table en [database]")
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        format!("el usuario {user} no puede leer la tabla {table}: GRANT SELECT ON {table} TO {user}")
    } else if *code == SqlState::UNDEFINED_COLUMN {
        format!("la tabla {table} no tiene la columna calldate: revise cdr_table en [database]")
    } else {
        format!("PostgreSQL respondió con el error {}: {}", code.code(), db.message())
    }
}

/// Connection settings for the CDR database on PostgreSQL.
pub(crate) fn postgresql_config(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    config.host(host).port(port).user(user).dbname(database).connect_timeout(CONNECT_TIMEOUT);
    config.application_name("centinela-agent");
    if let Some(p) = password {
        config.password(p);
    }
    config
}

async fn visit_postgresql(
    host: &str,
    port: u16,
    user: &str,
    database: &str,
    password: Option<&str>,
    table: &str,
) -> Visit {
    let target = format!("{host}:{port}/{database}");
    let err = |e: &tokio_postgres::Error| postgresql_error(e, host, port, user, database, table);
    let config = postgresql_config(host, port, user, database, password);
    let started = Instant::now();
    let (client, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tokio_postgres::NoTls)).await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Visit::failed(err(&e)),
        Err(_) => return Visit::failed(timed_out("la conexión", &target, CONNECT_TIMEOUT)),
    };
    // The connection task ends when `client` is dropped at the end of this function.
    let driver = tokio::spawn(connection);
    let mut visit = Visit { connect_ms: Some(ms(started)), ..Visit::default() };
    let started = Instant::now();
    match tokio::time::timeout(QUERY_TIMEOUT, client.simple_query("SELECT 1")).await {
        Ok(Ok(_)) => visit.query_ms = Some(ms(started)),
        Ok(Err(e)) => visit.error = Some(err(&e)),
        Err(_) => visit.error = Some(timed_out("SELECT 1", &target, QUERY_TIMEOUT)),
    }
    if visit.error.is_none() {
        // `now() - calldate` works for `timestamp` (read in the session's time zone) and
        // `timestamptz` columns alike.
        let sql = format!(
            "SELECT MAX(calldate)::text, EXTRACT(EPOCH FROM (now() - MAX(calldate)))::bigint, \
             (SELECT COUNT(*) FROM {table} WHERE calldate >= now() - INTERVAL '1 hour') FROM {table}"
        );
        match tokio::time::timeout(QUERY_TIMEOUT, client.query_one(sql.as_str(), &[])).await {
            Ok(Ok(row)) => {
                let figures = (|| -> Result<CdrFigures, tokio_postgres::Error> {
                    Ok(CdrFigures {
                        newest_calldate: row.try_get::<_, Option<String>>(0)?,
                        newest_age_s: age(row.try_get::<_, Option<i64>>(1)?),
                        rows_last_hour: u64::try_from(row.try_get::<_, i64>(2)?).unwrap_or(0),
                    })
                })();
                match figures {
                    Ok(f) => visit.cdr = Some(f),
                    Err(e) => visit.error = Some(format!("respuesta inesperada de PostgreSQL al leer {table}: {e}")),
                }
            }
            Ok(Err(e)) => visit.error = Some(err(&e)),
            Err(_) => visit.error = Some(timed_out("la consulta del CDR", &target, QUERY_TIMEOUT)),
        }
    }
    drop(client);
    let _ = tokio::time::timeout(QUERY_TIMEOUT, driver).await;
    visit
}

/// SQLite (Asterisk's `cdr_sqlite3_custom`, calldate as local-time text), opened read-only.
fn visit_sqlite(path: &std::path::Path, table: &str) -> Visit {
    use rusqlite::OpenFlags;
    let shown = path.display();
    let started = Instant::now();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match rusqlite::Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        Err(e) => return Visit::failed(format!("no se puede abrir {shown} ({e}): revise url en [database]")),
    };
    // Asterisk may hold a write lock for a moment.
    let _ = conn.busy_timeout(QUERY_TIMEOUT);
    let sql_error = |e: rusqlite::Error| {
        let text = e.to_string();
        if text.contains("no such table") {
            format!("la tabla {table} no existe en {shown}: revise cdr_table en [database]")
        } else if text.contains("no such column") {
            format!("la tabla {table} no tiene la columna calldate: revise cdr_table en [database]")
        } else {
            format!("no se puede leer {shown} ({text}): ¿es la base SQLite del CDR?")
        }
    };
    // Opening is lazy: the first query is where a file that is not a database fails.
    if let Err(e) = conn.query_row("SELECT 1", [], |_| Ok(())) {
        return Visit::failed(sql_error(e));
    }
    let mut visit = Visit { connect_ms: Some(ms(started)), ..Visit::default() };
    let started = Instant::now();
    match conn.query_row("SELECT 1", [], |_| Ok(())) {
        Ok(()) => visit.query_ms = Some(ms(started)),
        Err(e) => {
            visit.error = Some(sql_error(e));
            return visit;
        }
    }
    let sql = format!(
        "SELECT MAX(calldate), CAST(strftime('%s', 'now', 'localtime') AS INTEGER) - \
         CAST(strftime('%s', MAX(calldate)) AS INTEGER), \
         (SELECT COUNT(*) FROM {table} WHERE calldate >= datetime('now', 'localtime', '-1 hour')) FROM {table}"
    );
    let read = conn.query_row(&sql, [], |row| {
        Ok(CdrFigures {
            newest_calldate: row.get::<_, Option<String>>(0)?,
            newest_age_s: age(row.get::<_, Option<i64>>(1)?),
            rows_last_hour: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        })
    });
    match read {
        Ok(f) => visit.cdr = Some(f),
        Err(e) => visit.error = Some(sql_error(e)),
    }
    visit
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALE: Duration = Duration::from_secs(15 * 60);

    fn cdr(newest: Option<&str>, age_s: Option<u64>) -> CdrFigures {
        CdrFigures { newest_calldate: newest.map(str::to_string), newest_age_s: age_s, rows_last_hour: 0 }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn calls_growing_while_the_newest_row_is_old_is_critical_with_the_count_since_then() {
        let mut f = Freshness::default();
        let row = cdr(Some("2026-11-27 09:00:00"), Some(30 * 60));
        assert_eq!(f.observe(secs(0), &row, Some(100), STALE), None, "first sample: nothing to compare");
        let row = cdr(Some("2026-11-27 09:00:00"), Some(42 * 60));
        let (level, reason) = f.observe(secs(12 * 60), &row, Some(107), STALE).unwrap();
        assert_eq!(level, Level::Critical);
        assert_eq!(
            reason,
            "CDR desactualizado (no se registran llamadas): la última fila es de hace 42 min y Asterisk procesó 7 llamadas desde entonces"
        );
    }

    #[test]
    fn a_new_row_ends_the_staleness_at_once() {
        let mut f = Freshness::default();
        f.observe(secs(0), &cdr(Some("a"), Some(3600)), Some(1), STALE);
        assert!(f.observe(secs(10), &cdr(Some("a"), Some(3610)), Some(2), STALE).is_some());
        assert_eq!(f.observe(secs(20), &cdr(Some("b"), Some(0)), Some(3), STALE), None);
        assert_eq!(f.observe(secs(30), &cdr(Some("b"), Some(10)), Some(4), STALE), None);
    }

    #[test]
    fn a_row_unchanged_across_samples_spanning_stale_after_is_stale_even_if_its_age_looks_young() {
        // A database clock behind Asterisk's makes the age look small; the observation still counts.
        let mut f = Freshness::default();
        f.observe(secs(0), &cdr(Some("a"), Some(5)), Some(10), STALE);
        assert_eq!(f.observe(secs(14 * 60), &cdr(Some("a"), Some(5)), Some(11), STALE), None);
        let (level, reason) = f.observe(secs(16 * 60), &cdr(Some("a"), Some(5)), Some(12), STALE).unwrap();
        assert_eq!(level, Level::Critical);
        assert!(reason.contains("procesó 2 llamadas"), "{reason}");
    }

    #[test]
    fn without_asterisk_figures_an_old_row_is_only_a_warning() {
        let mut f = Freshness::default();
        let (level, reason) = f.observe(secs(0), &cdr(Some("a"), Some(3 * 3600)), None, STALE).unwrap();
        assert_eq!(level, Level::Warning);
        assert!(reason.contains("hace 3 h"), "{reason}");
        assert_eq!(f.observe(secs(0), &cdr(Some("b"), Some(60)), None, STALE), None);
    }

    #[test]
    fn an_idle_asterisk_with_an_old_row_is_ok() {
        let mut f = Freshness::default();
        f.observe(secs(0), &cdr(Some("a"), Some(8 * 3600)), Some(50), STALE);
        assert_eq!(f.observe(secs(600), &cdr(Some("a"), Some(8 * 3600 + 600)), Some(50), STALE), None);
    }

    #[test]
    fn an_asterisk_restart_resets_the_count_instead_of_underflowing() {
        let mut f = Freshness::default();
        f.observe(secs(0), &cdr(Some("a"), Some(3600)), Some(500), STALE);
        f.observe(secs(10), &cdr(Some("a"), Some(3610)), Some(3), STALE);
        let (_, reason) = f.observe(secs(20), &cdr(Some("a"), Some(3620)), Some(5), STALE).unwrap();
        assert!(reason.contains("procesó 2 llamadas"), "{reason}");
    }

    #[test]
    fn an_empty_table_while_calls_are_processed_is_critical() {
        let mut f = Freshness::default();
        f.observe(secs(0), &cdr(None, None), Some(1), STALE);
        let (level, reason) = f.observe(secs(10), &cdr(None, None), Some(2), STALE).unwrap();
        assert_eq!(level, Level::Critical);
        assert!(reason.contains("la tabla está vacía y Asterisk procesó 1 llamada desde"), "{reason}");
        assert_eq!(f.observe(secs(0), &cdr(None, None), None, STALE).map(|r| r.0), Some(Level::Warning));
    }

    #[test]
    fn an_error_is_critical_and_a_slow_select_is_a_warning() {
        let t = DatabaseTarget::Sqlite { path: "/var/log/asterisk/master.db".into() };
        let r = build(&t, Visit::failed("no se puede abrir".into()), None);
        assert_eq!((r.connected, r.verdict.level), (false, Level::Critical));
        assert_eq!((r.backend.as_str(), r.target.as_str()), ("sqlite", "/var/log/asterisk/master.db"));
        let slow = Visit { error: None, connect_ms: Some(3), query_ms: Some(1500), cdr: Some(cdr(Some("a"), Some(1))) };
        let r = build(&t, slow, None);
        assert!(r.connected);
        assert_eq!(r.verdict.level, Level::Warning);
        assert!(r.verdict.reasons[0].contains("1500 ms"), "{:?}", r.verdict);
    }

    #[tokio::test]
    async fn without_a_section_the_probe_is_not_applicable() {
        let mut out = Vec::new();
        let e = Database::new(None).collect(Some(1), &mut out).await.unwrap_err();
        assert!(matches!(e, ProbeError::NotApplicable(_)));
        assert!(out.is_empty());
    }
}
