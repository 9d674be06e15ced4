//! Reading the CDR table: one connection per poll to MariaDB/MySQL, PostgreSQL or a SQLite file.
//!
//! Invariants:
//! - Only `SELECT`s. Identifiers in SQL are the validated table name and column names that passed
//!   [`super::columns::Columns::detect`], quoted for the backend; values are bound parameters.
//! - Every column is cast to text by the database, and `calldate` is rendered as
//!   `YYYY-MM-DD HH:MM:SS` in the database's session time zone (the PBX's local time), so rows
//!   read the same from every backend.
//! - Every call has a deadline; errors are Spanish and name the fix (the same texts as the
//!   `database` probe).

use super::columns::Columns;
use super::window::parse_calldate;
use crate::config::{DatabaseConfig, DatabaseTarget};
use crate::probes::database::{
    CONNECT_TIMEOUT, mariadb_error, mariadb_opts, postgresql_config, postgresql_error, timed_out,
};
use chrono::NaiveDateTime;
use std::time::Duration;

/// Deadline of one page read.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// One row: the texts of [`Columns::names`], in order (`None` is SQL NULL).
pub type RawRow = Vec<Option<String>>;

pub enum Source {
    Mariadb { conn: mysql_async::Conn, describe: Describe },
    Postgresql { client: tokio_postgres::Client, driver: tokio::task::JoinHandle<()>, describe: Describe },
    Sqlite { conn: Option<rusqlite::Connection>, path: String },
}

/// What the error texts need.
pub struct Describe {
    host: String,
    port: u16,
    user: String,
    database: String,
}

impl Describe {
    fn target(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }
}

async fn deadline<T, E>(
    d: Duration,
    what: &str,
    target: &str,
    f: impl std::future::Future<Output = Result<T, E>>,
    err: impl FnOnce(E) -> String,
) -> Result<T, String> {
    match tokio::time::timeout(d, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(err(e)),
        Err(_) => Err(timed_out(what, target, d)),
    }
}

fn mysql_text(v: mysql_async::Value) -> Option<String> {
    match v {
        mysql_async::Value::NULL => None,
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

fn sqlite_error(e: rusqlite::Error, path: &str, table: &str) -> String {
    let text = e.to_string();
    if text.contains("no such table") {
        format!("la tabla {table} no existe en {path}: revise cdr_table en [database]")
    } else {
        format!("no se puede leer {path} ({text}): ¿es la base SQLite del CDR?")
    }
}

impl Source {
    /// Connects and logs in.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, String> {
        let password = config.password.as_deref();
        match &config.target {
            DatabaseTarget::Mariadb { host, port, user, database } => {
                let describe =
                    Describe { host: host.clone(), port: *port, user: user.clone(), database: database.clone() };
                let opts = mariadb_opts(host, *port, user, database, password);
                let conn =
                    deadline(CONNECT_TIMEOUT, "la conexión", &describe.target(), mysql_async::Conn::new(opts), |e| {
                        describe.mariadb(&e, "")
                    })
                    .await?;
                Ok(Source::Mariadb { conn, describe })
            }
            DatabaseTarget::Postgresql { host, port, user, database } => {
                let describe =
                    Describe { host: host.clone(), port: *port, user: user.clone(), database: database.clone() };
                let config = postgresql_config(host, *port, user, database, password);
                let (client, connection) = deadline(
                    CONNECT_TIMEOUT,
                    "la conexión",
                    &describe.target(),
                    config.connect(tokio_postgres::NoTls),
                    |e| describe.postgresql(&e, ""),
                )
                .await?;
                let driver = tokio::spawn(async move {
                    let _ = connection.await;
                });
                Ok(Source::Postgresql { client, driver, describe })
            }
            DatabaseTarget::Sqlite { path } => {
                let shown = path.display().to_string();
                let path = path.clone();
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let opened = tokio::task::spawn_blocking(move || {
                    let conn = rusqlite::Connection::open_with_flags(&path, flags)?;
                    conn.busy_timeout(PAGE_TIMEOUT)?;
                    Ok::<_, rusqlite::Error>(conn)
                })
                .await
                .map_err(|e| format!("la lectura SQLite falló por un error interno: {e}"))?;
                let conn = opened.map_err(|e| format!("no se puede abrir {shown} ({e}): revise url en [database]"))?;
                Ok(Source::Sqlite { conn: Some(conn), path: shown })
            }
        }
    }

    /// Runs `f` on the SQLite connection in a blocking thread, within [`PAGE_TIMEOUT`].
    async fn sqlite<T: Send + 'static>(
        slot: &mut Option<rusqlite::Connection>,
        path: &str,
        table: &str,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let conn = slot.take().ok_or_else(|| format!("la conexión con {path} se perdió en una lectura anterior"))?;
        let task = tokio::task::spawn_blocking(move || {
            let r = f(&conn);
            (conn, r)
        });
        match tokio::time::timeout(PAGE_TIMEOUT, task).await {
            Ok(Ok((conn, r))) => {
                *slot = Some(conn);
                r.map_err(|e| sqlite_error(e, path, table))
            }
            Ok(Err(e)) => Err(format!("la lectura SQLite falló por un error interno: {e}")),
            Err(_) => Err(timed_out("la lectura", path, PAGE_TIMEOUT)),
        }
    }

    /// The column names of `table`, in table order (empty if the table does not exist).
    pub async fn columns(&mut self, table: &str) -> Result<Vec<String>, String> {
        match self {
            Source::Mariadb { conn, describe } => {
                use mysql_async::prelude::Queryable;
                let sql = "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
                           WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION";
                let rows: Vec<String> = deadline(
                    PAGE_TIMEOUT,
                    "la consulta de columnas",
                    &describe.target(),
                    conn.exec(sql, (table,)),
                    |e| describe.mariadb(&e, table),
                )
                .await?;
                Ok(rows)
            }
            Source::Postgresql { client, describe, .. } => {
                let sql = "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) \
                           AND attnum > 0 AND NOT attisdropped ORDER BY attnum";
                let rows = deadline(
                    PAGE_TIMEOUT,
                    "la consulta de columnas",
                    &describe.target(),
                    client.query(sql, &[&table]),
                    |e| describe.postgresql(&e, table),
                )
                .await?;
                rows.iter()
                    .map(|r| r.try_get::<_, String>(0))
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("respuesta inesperada de PostgreSQL al leer las columnas: {e}"))
            }
            Source::Sqlite { conn, path } => {
                let t = table.to_string();
                Self::sqlite(conn, path, table, move |c| {
                    let mut stmt = c.prepare("SELECT name FROM pragma_table_info(?1)")?;
                    stmt.query_map([t], |r| r.get::<_, String>(0))?.collect()
                })
                .await
            }
        }
    }

    /// The database's clock, in its session time zone (the one `calldate` is written in).
    pub async fn now(&mut self) -> Result<NaiveDateTime, String> {
        let text: Option<String> = match self {
            Source::Mariadb { conn, describe } => {
                use mysql_async::prelude::Queryable;
                deadline(
                    PAGE_TIMEOUT,
                    "la consulta de la hora",
                    &describe.target(),
                    conn.query_first::<String, _>("SELECT DATE_FORMAT(NOW(), '%Y-%m-%d %H:%i:%s')"),
                    |e| describe.mariadb(&e, ""),
                )
                .await?
            }
            Source::Postgresql { client, describe, .. } => {
                let row = deadline(
                    PAGE_TIMEOUT,
                    "la consulta de la hora",
                    &describe.target(),
                    client.query_one("SELECT to_char(localtimestamp, 'YYYY-MM-DD HH24:MI:SS')", &[]),
                    |e| describe.postgresql(&e, ""),
                )
                .await?;
                row.try_get::<_, String>(0).ok()
            }
            Source::Sqlite { conn, path } => Self::sqlite(conn, path, "", |c| {
                c.query_row("SELECT datetime('now', 'localtime')", [], |r| r.get::<_, String>(0))
            })
            .await
            .map(Some)?,
        };
        text.as_deref()
            .and_then(parse_calldate)
            .ok_or_else(|| format!("la base de datos devolvió una hora ilegible: {text:?}"))
    }

    /// Up to `limit` rows of `table` with `time_column >= from`, oldest first. The time column is
    /// rendered `YYYY-MM-DD HH:MM:SS` by MariaDB and PostgreSQL; SQLite gives its text as stored.
    pub async fn page(
        &mut self,
        cols: &Columns,
        table: &str,
        time_column: &str,
        from: &str,
        limit: usize,
    ) -> Result<Vec<RawRow>, String> {
        let limit = limit.clamp(1, 1 << 20);
        match self {
            Source::Mariadb { conn, describe } => {
                use mysql_async::prelude::Queryable;
                let list: Vec<String> = cols
                    .names
                    .iter()
                    .map(|c| {
                        if c == time_column {
                            format!("DATE_FORMAT(`{c}`, '%Y-%m-%d %H:%i:%s')")
                        } else {
                            format!("CAST(`{c}` AS CHAR)")
                        }
                    })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM `{table}` WHERE `{time_column}` >= ? ORDER BY `{time_column}` LIMIT ?",
                    list.join(", "),
                );
                let rows: Vec<mysql_async::Row> = deadline(
                    PAGE_TIMEOUT,
                    "la lectura del CDR",
                    &describe.target(),
                    conn.exec(sql, (from, limit as u64)),
                    |e| describe.mariadb(&e, table),
                )
                .await?;
                Ok(rows.into_iter().map(|r| r.unwrap().into_iter().map(mysql_text).collect()).collect())
            }
            Source::Postgresql { client, describe, .. } => {
                let list: Vec<String> = cols
                    .names
                    .iter()
                    .map(|c| {
                        if c == time_column {
                            format!("to_char(\"{c}\"::timestamp, 'YYYY-MM-DD HH24:MI:SS')")
                        } else {
                            format!("\"{c}\"::text")
                        }
                    })
                    .collect();
                let sql = format!(
                    "SELECT {} FROM {table} WHERE \"{time_column}\"::timestamp >= $1::text::timestamp \
                     ORDER BY \"{time_column}\" LIMIT $2",
                    list.join(", "),
                );
                let rows = deadline(
                    PAGE_TIMEOUT,
                    "la lectura del CDR",
                    &describe.target(),
                    client.query(sql.as_str(), &[&from, &(limit as i64)]),
                    |e| describe.postgresql(&e, table),
                )
                .await?;
                rows.iter()
                    .map(|r| (0..r.len()).map(|i| r.try_get::<_, Option<String>>(i)).collect::<Result<RawRow, _>>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("respuesta inesperada de PostgreSQL al leer el CDR: {e}"))
            }
            Source::Sqlite { conn, path } => {
                let list: Vec<String> = cols.names.iter().map(|c| format!("CAST(\"{c}\" AS TEXT)")).collect();
                let sql = format!(
                    "SELECT {} FROM \"{table}\" WHERE \"{time_column}\" >= ?1 ORDER BY \"{time_column}\" LIMIT ?2",
                    list.join(", "),
                );
                let (from, width) = (from.to_string(), cols.names.len());
                Self::sqlite(conn, path, table, move |c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(rusqlite::params![from, limit as i64], |r| {
                        (0..width).map(|i| r.get::<_, Option<String>>(i)).collect::<Result<RawRow, _>>()
                    })?;
                    rows.collect()
                })
                .await
            }
        }
    }

    /// Says goodbye (best effort, bounded).
    pub async fn close(self) {
        match self {
            Source::Mariadb { conn, .. } => {
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, conn.disconnect()).await;
            }
            Source::Postgresql { client, driver, .. } => {
                drop(client);
                let _ = tokio::time::timeout(CONNECT_TIMEOUT, driver).await;
            }
            Source::Sqlite { .. } => {}
        }
    }
}

impl Describe {
    fn mariadb(&self, e: &mysql_async::Error, table: &str) -> String {
        mariadb_error(e, &self.host, self.port, &self.user, &self.database, table)
    }

    fn postgresql(&self, e: &tokio_postgres::Error, table: &str) -> String {
        postgresql_error(e, &self.host, self.port, &self.user, &self.database, table)
    }
}
