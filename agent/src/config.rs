//! The agent's configuration, in two phases: [`RawConfig`] is exactly what the TOML file says
//! (unknown keys are an error), [`Config`] is validated and typed. Every error names the key and
//! the fix.

use centinela_shared::AgentId;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The config file as written. Every key is optional except where [`Config::from_raw`] says.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// This server's id in topics and on the dashboard. Defaults to the hostname.
    pub id: Option<String>,
    /// How often to sample, e.g. "10s", "1m" (100ms to 1h). Default "10s".
    pub interval: Option<String>,
    /// Where the outbox database lives. Default "/var/lib/centinela-agent".
    pub state_dir: Option<PathBuf>,
    /// Store-and-forward limits.
    pub outbox: Option<RawOutbox>,
    /// The MQTT broker.
    pub mqtt: Option<RawMqtt>,
    /// Asterisk's manager interface; absent means the asterisk probe is not applicable.
    pub asterisk: Option<RawAsterisk>,
    /// The CDR database; absent means the database probe is not applicable.
    pub database: Option<RawDatabase>,
    /// The VoIP admin web application (FreePBX, Issabel); absent means the admin_app probe is not
    /// applicable.
    pub admin_app: Option<RawAdminApp>,
    /// Asterisk's queue log file; absent means it is not shipped.
    pub queue_log: Option<RawQueueLog>,
    /// Call recordings the collector may fetch on demand; absent means every request is refused.
    pub recordings: Option<RawRecordings>,
}

/// `[recordings]`: where Asterisk keeps call recordings, for the collector's on-demand playback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecordings {
    /// The recordings directory (FreePBX: by date under it, `YYYY/MM/DD/`). Nothing outside it is
    /// ever read. Default "/var/spool/asterisk/monitor".
    pub dir: Option<PathBuf>,
    /// A recording bigger than this many bytes is refused. Default 67108864 (64 MiB).
    pub max_bytes: Option<u64>,
}

/// The validated `[recordings]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingsConfig {
    /// Absolute; whether it exists is checked at each request (a spool may be mounted late).
    pub dir: PathBuf,
    pub max_bytes: u64,
}

pub const DEFAULT_RECORDINGS_DIR: &str = "/var/spool/asterisk/monitor";
pub const DEFAULT_RECORDINGS_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl RecordingsConfig {
    pub fn from_raw(raw: RawRecordings) -> Result<Self, ConfigError> {
        let dir = raw.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_RECORDINGS_DIR));
        if !dir.is_absolute() {
            return Err(invalid(
                "recordings.dir",
                format!("{} must be an absolute path, like \"{DEFAULT_RECORDINGS_DIR}\"", dir.display()),
            ));
        }
        let max_bytes = raw.max_bytes.unwrap_or(DEFAULT_RECORDINGS_MAX_BYTES);
        // 4 GiB: a WAV header cannot describe more, and hours of 8 kHz audio are a few hundred MB.
        if !(1..=(4u64 << 30)).contains(&max_bytes) {
            return Err(invalid(
                "recordings.max_bytes",
                format!("{max_bytes} is out of range; use 1 to 4294967296 (bytes), e.g. 67108864 for 64 MiB"),
            ));
        }
        Ok(Self { dir, max_bytes })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAsterisk {
    /// AMI address, `host:port`. Default "127.0.0.1:5038".
    pub ami: Option<String>,
    /// AMI user (manager.conf / FreePBX "Asterisk Manager Users"); needs read = system,call,agent,command.
    pub username: Option<String>,
    /// Root-readable file whose first line is the AMI secret.
    pub secret_file: Option<PathBuf>,
    /// "plain" (default) or "md5" (challenge login: the secret never crosses the wire).
    pub auth: Option<String>,
    /// A channel older than this is stuck. Default "4h".
    pub stuck_channel_after: Option<String>,
}

/// The validated `[asterisk]` section. Its `Debug` leaves the secret out.
#[derive(Clone)]
pub struct AsteriskConfig {
    pub ami: String,
    pub username: String,
    pub secret: String,
    pub auth: crate::ami::Auth,
    pub stuck_channel_after: Duration,
}

/// Reads the first line of a secret file for `key`.
pub fn read_secret(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let first = text.lines().next().unwrap_or("").to_string();
    if first.is_empty() {
        return Err(invalid(key, format!("{} is empty; put the secret on its first line", path.display())));
    }
    Ok(first)
}

impl std::fmt::Debug for AsteriskConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsteriskConfig")
            .field("ami", &self.ami)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("stuck_channel_after", &self.stuck_channel_after)
            .finish()
    }
}

impl AsteriskConfig {
    pub fn from_raw(raw: RawAsterisk) -> Result<Self, ConfigError> {
        let ami = raw.ami.unwrap_or_else(|| "127.0.0.1:5038".into());
        let (host, port) = ami
            .rsplit_once(':')
            .ok_or_else(|| invalid("asterisk.ami", format!("{ami:?} needs host:port, like \"127.0.0.1:5038\"")))?;
        if host.is_empty() || port.parse::<u16>().ok().filter(|p| *p != 0).is_none() {
            return Err(invalid("asterisk.ami", format!("{ami:?} needs host:port with a port from 1 to 65535")));
        }
        let username = raw
            .username
            .filter(|u| !u.is_empty())
            .ok_or_else(|| invalid("asterisk.username", "is required in [asterisk]"))?;
        if username.contains(['\r', '\n']) {
            return Err(invalid("asterisk.username", "must be one line"));
        }
        let secret_file = raw.secret_file.ok_or_else(|| {
            invalid("asterisk.secret_file", "is required in [asterisk]: a root-readable file with the AMI secret")
        })?;
        let secret = read_secret("asterisk.secret_file", &secret_file)?;
        let auth = match raw.auth.as_deref().unwrap_or("plain") {
            "plain" => crate::ami::Auth::Plain,
            "md5" => crate::ami::Auth::Md5,
            other => return Err(invalid("asterisk.auth", format!("{other:?} is not plain or md5"))),
        };
        let stuck_channel_after = parse_duration(
            "asterisk.stuck_channel_after",
            raw.stuck_channel_after.as_deref().unwrap_or("4h"),
            Duration::from_secs(60),
            Duration::from_secs(7 * 86_400),
        )?;
        Ok(Self { ami, username, secret, auth, stuck_channel_after })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDatabase {
    /// `mysql://user@host:3306/asteriskcdrdb` (or `mariadb://`), `postgres://user@host:5432/db`
    /// (or `postgresql://`), `sqlite:///var/log/asterisk/master.db`. No password here.
    pub url: Option<String>,
    /// Root-readable file whose first line is the database password. Optional (not for sqlite).
    pub password_file: Option<PathBuf>,
    /// The CDR table. Default "cdr".
    pub cdr_table: Option<String>,
    /// Newest CDR row older than this while Asterisk processes calls: the CDR is stale. Default "15m".
    pub stale_after: Option<String>,
    /// Ship every CDR row to the collector for the monthly reports. Default true.
    pub ship_cdr: Option<bool>,
    /// How often new CDR rows are read and shipped. Default "60s".
    pub ship_every: Option<String>,
    /// How far back the first shipment reaches. Default "62d" (this month and the previous one).
    pub backfill: Option<String>,
    /// How long after a call's start its row may still be written (long calls, `batch=yes` in
    /// cdr.conf). Default "4h".
    pub late_rows: Option<String>,
}

/// `[queue_log]`: Asterisk's queue log, shipped for the queue figures of the monthly reports.
/// Exactly one of `file` and `table`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQueueLog {
    /// The file, e.g. "/var/log/asterisk/queue_log" (FreePBX, Issabel).
    pub file: Option<PathBuf>,
    /// A realtime `queue_log` table in the `[database]` database, e.g. "queue_log".
    pub table: Option<String>,
}

/// Where `queue_log` is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueLogSource {
    File(PathBuf),
    /// A table of the `[database]` connection (a plain identifier).
    Table(String),
}

/// Which database holds the CDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// MariaDB or MySQL (same protocol).
    Mariadb {
        host: String,
        port: u16,
        user: String,
        database: String,
    },
    Postgresql {
        host: String,
        port: u16,
        user: String,
        database: String,
    },
    Sqlite {
        path: PathBuf,
    },
}

impl DatabaseTarget {
    /// The wire name of the backend.
    pub fn backend(&self) -> &'static str {
        match self {
            DatabaseTarget::Mariadb { .. } => "mariadb",
            DatabaseTarget::Postgresql { .. } => "postgresql",
            DatabaseTarget::Sqlite { .. } => "sqlite",
        }
    }

    /// `host:port/database` or the file path, for readings and messages (never the password).
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::Mariadb { host, port, database, .. }
            | DatabaseTarget::Postgresql { host, port, database, .. } => format!("{host}:{port}/{database}"),
            DatabaseTarget::Sqlite { path } => path.display().to_string(),
        }
    }

    /// Parses `database.url`; the error is the message for that key.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} needs a scheme: mysql://, postgres:// or sqlite://"))?;
        if scheme == "sqlite" {
            if !rest.starts_with('/') || rest.len() < 2 {
                return Err(format!("{url:?} needs an absolute path, like \"sqlite:///var/log/asterisk/master.db\""));
            }
            return Ok(DatabaseTarget::Sqlite { path: PathBuf::from(rest) });
        }
        let default_port = match scheme {
            "mysql" | "mariadb" => 3306,
            "postgres" | "postgresql" => 5432,
            other => {
                return Err(format!("unknown scheme {other:?}; use mysql://, mariadb://, postgres:// or sqlite://"));
            }
        };
        let example = if default_port == 3306 {
            "mysql://monitor@127.0.0.1:3306/asteriskcdrdb"
        } else {
            "postgres://monitor@127.0.0.1:5432/asteriskcdrdb"
        };
        let (user, rest) = rest.split_once('@').ok_or_else(|| format!("{url:?} needs a user, like {example:?}"))?;
        if user.contains(':') {
            return Err("must not contain a password; put it on the first line of database.password_file".into());
        }
        if user.is_empty() || user.contains(['/', '?', '#']) || user.chars().any(char::is_whitespace) {
            return Err(format!("{url:?} needs a user, like {example:?}"));
        }
        let (hostport, database) =
            rest.split_once('/').ok_or_else(|| format!("{url:?} needs a database name, like {example:?}"))?;
        let database_ok =
            |d: &str| !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !database_ok(database) {
            return Err(format!("{url:?} needs a database name (letters, digits, _ or -), like {example:?}"));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{url:?} has an invalid port {p:?}; use 1 to 65535"))?;
                (h, port)
            }
            None => (hostport, default_port),
        };
        if host.is_empty() || host.chars().any(char::is_whitespace) {
            return Err(format!("{url:?} needs a host, like {example:?}"));
        }
        let (host, user, database) = (host.to_string(), user.to_string(), database.to_string());
        Ok(if default_port == 3306 {
            DatabaseTarget::Mariadb { host, port, user, database }
        } else {
            DatabaseTarget::Postgresql { host, port, user, database }
        })
    }
}

/// The validated `[database]` section. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct DatabaseConfig {
    pub target: DatabaseTarget,
    pub password: Option<String>,
    /// A plain identifier (`[A-Za-z0-9_]+`), so it can be put in SQL as is.
    pub cdr_table: String,
    pub stale_after: Duration,
    /// CDR shipping; `None` when `ship_cdr = false`.
    pub ship: Option<ShipConfig>,
}

/// The validated CDR shipping keys of `[database]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipConfig {
    pub every: Duration,
    pub backfill: Duration,
    pub late_rows: Duration,
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("target", &self.target)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("cdr_table", &self.cdr_table)
            .field("stale_after", &self.stale_after)
            .field("ship", &self.ship)
            .finish()
    }
}

impl DatabaseConfig {
    pub fn from_raw(raw: RawDatabase) -> Result<Self, ConfigError> {
        let url = raw.url.ok_or_else(|| {
            invalid("database.url", "is required in [database], like \"mysql://monitor@127.0.0.1:3306/asteriskcdrdb\"")
        })?;
        let target = DatabaseTarget::parse(&url).map_err(|m| invalid("database.url", m))?;
        let password = match (&target, raw.password_file) {
            (_, None) => None,
            (DatabaseTarget::Sqlite { .. }, Some(_)) => {
                return Err(invalid("database.password_file", "is not used with sqlite://; remove it"));
            }
            (_, Some(path)) => Some(read_secret("database.password_file", &path)?),
        };
        let cdr_table = raw.cdr_table.unwrap_or_else(|| "cdr".into());
        if cdr_table.is_empty()
            || cdr_table.len() > 64
            || !cdr_table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(invalid(
                "database.cdr_table",
                format!("{cdr_table:?} must be a plain table name (letters, digits and _), like \"cdr\""),
            ));
        }
        let stale_after = parse_duration(
            "database.stale_after",
            raw.stale_after.as_deref().unwrap_or("15m"),
            Duration::from_secs(1),
            Duration::from_secs(7 * 86_400),
        )?;
        let ship = match raw.ship_cdr {
            Some(false) => {
                for (key, set) in [
                    ("database.ship_every", raw.ship_every.is_some()),
                    ("database.backfill", raw.backfill.is_some()),
                    ("database.late_rows", raw.late_rows.is_some()),
                ] {
                    if set {
                        return Err(invalid(key, "has no effect with ship_cdr = false; remove it"));
                    }
                }
                None
            }
            _ => Some(ShipConfig {
                every: parse_duration(
                    "database.ship_every",
                    raw.ship_every.as_deref().unwrap_or("60s"),
                    Duration::from_secs(1),
                    Duration::from_secs(3600),
                )?,
                backfill: parse_duration(
                    "database.backfill",
                    raw.backfill.as_deref().unwrap_or("62d"),
                    Duration::from_secs(0),
                    Duration::from_secs(3660 * 86_400),
                )?,
                late_rows: parse_duration(
                    "database.late_rows",
                    raw.late_rows.as_deref().unwrap_or("4h"),
                    Duration::from_secs(60),
                    Duration::from_secs(7 * 86_400),
                )?,
            }),
        };
        Ok(Self { target, password, cdr_table, stale_after, ship })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdminApp {
    /// The admin application's page, `https://127.0.0.1/admin` or `http://...`. No user or password:
    /// the probe never logs in.
    pub url: Option<String>,
    /// Deadline of the whole request: name lookup, connect, TLS handshake and response head. Default "10s".
    pub timeout: Option<String>,
    /// A certificate that expires within this is a Warning. Default "21d".
    pub cert_warn_before: Option<String>,
}

/// Where the admin application is, split from `admin_app.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminAppUrl {
    /// `https://`.
    pub tls: bool,
    /// A name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/` (the fragment is dropped: it is never sent).
    pub path: String,
}

impl AdminAppUrl {
    /// Parses `admin_app.url`; the error is the message for that key and never repeats the url when
    /// it holds credentials.
    pub fn parse(url: &str) -> Result<Self, String> {
        const EXAMPLE: &str = "\"https://127.0.0.1/admin\"";
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("{url:?} must start with http:// or https://, like {EXAMPLE}"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "https" => true,
            "http" => false,
            _ => return Err(format!("{url:?} must start with http:// or https://, like {EXAMPLE}")),
        };
        // Any '@' before the query: a password may itself hold a '/', so the authority cannot be
        // trusted to end at the first one. Admin app paths have no '@'.
        if rest.split(['?', '#']).next().unwrap_or("").contains('@') {
            return Err("must not contain a user or password: the probe only checks that the page answers and \
                        never logs in; remove the part before @"
                .into());
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii()) {
            return Err(format!(
                "{url:?} must be ASCII without spaces or control characters; percent-encode the rest (%20)"
            ));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) =
                bracketed.split_once(']').ok_or_else(|| format!("{url:?} has an unclosed [ in its IPv6 address"))?;
            match after {
                "" => (host, None),
                p if p.starts_with(':') => (host, Some(&p[1..])),
                _ => {
                    return Err(format!(
                        "{url:?} needs host:port after the IPv6 address, like \"https://[::1]:8443/admin\""
                    ));
                }
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(format!("{url:?}: write an IPv6 address in brackets, like \"https://[::1]/admin\""));
                }
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{url:?} has an invalid port {p:?}; use 1 to 65535"))?,
        };
        let host_ok = |h: &str| {
            !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        };
        if !host_ok(host) {
            return Err(format!("{url:?} needs a host, like {EXAMPLE}"));
        }
        let path = tail.split('#').next().unwrap_or("");
        let path = match path.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path}"),
            Some(_) => path.to_string(),
        };
        Ok(Self { tls, host: host.to_ascii_lowercase(), port, path })
    }

    /// The `Host` header: the port only when it is not the scheme's default, brackets around IPv6.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == if self.tls { 443 } else { 80 } { host } else { format!("{host}:{}", self.port) }
    }
}

/// The validated `[admin_app]` section.
#[derive(Debug, Clone)]
pub struct AdminAppConfig {
    /// As written in the config (it holds no credentials), for readings and messages.
    pub url: String,
    pub target: AdminAppUrl,
    /// At most 25 s, so the probe ends within the agent's 30 s limit for a network probe.
    pub timeout: Duration,
    pub cert_warn_before: Duration,
}

impl AdminAppConfig {
    pub fn from_raw(raw: RawAdminApp) -> Result<Self, ConfigError> {
        let url = raw
            .url
            .map(|u| u.trim().to_string())
            .ok_or_else(|| invalid("admin_app.url", "is required in [admin_app], like \"https://127.0.0.1/admin\""))?;
        let target = AdminAppUrl::parse(&url).map_err(|m| invalid("admin_app.url", m))?;
        let timeout = parse_duration(
            "admin_app.timeout",
            raw.timeout.as_deref().unwrap_or("10s"),
            Duration::from_millis(100),
            Duration::from_secs(25),
        )?;
        let cert_warn_before = parse_duration(
            "admin_app.cert_warn_before",
            raw.cert_warn_before.as_deref().unwrap_or("21d"),
            Duration::ZERO,
            Duration::from_secs(365 * 86_400),
        )?;
        Ok(Self { url, target, timeout, cert_warn_before })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    /// Largest outbox size in MiB before the oldest samples are dropped. Default 64.
    pub max_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMqtt {
    /// `mqtt://host:port` or `mqtts://host:port`. Default "mqtt://127.0.0.1:1883".
    pub url: Option<String>,
    /// PEM file with the CA that signed the broker's certificate (`mqtts://` only).
    pub ca_file: Option<PathBuf>,
    /// Broker user name.
    pub username: Option<String>,
    /// File whose first line is the broker password (kept out of the config file).
    pub password_file: Option<PathBuf>,
    /// The MQTT client id. Agent default "centinela-agent-<id>"; collector default
    /// "centinela-collector" (the broker keeps the collector's persistent session under it).
    pub client_id: Option<String>,
}

/// Checks a client id from `mqtt.client_id`.
pub fn validate_client_id(id: String) -> Result<String, ConfigError> {
    if id.is_empty() || id.len() > 128 || id.contains(['+', '#', '/']) || id.chars().any(char::is_whitespace) {
        return Err(invalid(
            "mqtt.client_id",
            format!("{id:?} must be 1 to 128 characters without '+', '#', '/' or spaces"),
        ));
    }
    Ok(id)
}

/// A broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl MqttUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(format!("{url:?} must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("{url:?} has an invalid port {p:?}; use 1 to 65535"))?;
                (h, port)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(format!("{url:?} needs a host, as in mqtt://127.0.0.1:1883"));
        }
        Ok(Self { host: host.to_string(), port, tls })
    }
}

impl std::fmt::Display for MqttUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Broker connection settings, validated. Its `Debug` leaves the password out.
#[derive(Clone)]
pub struct MqttConfig {
    pub url: MqttUrl,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &self.url)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl MqttConfig {
    /// Checks the TLS and credential keys of an `[mqtt]` section (shared with the collector's config)
    /// and reads the password file.
    pub fn validate(
        url: MqttUrl,
        ca_file: Option<PathBuf>,
        username: Option<String>,
        password_file: Option<&Path>,
    ) -> Result<Self, ConfigError> {
        if ca_file.is_some() && !url.tls {
            return Err(invalid("mqtt.ca_file", "is set but mqtt.url is not mqtts://; use mqtts:// or remove ca_file"));
        }
        if let Some(ca) = &ca_file
            && !ca.is_file()
        {
            return Err(invalid("mqtt.ca_file", format!("{} does not exist or is not a file", ca.display())));
        }
        let password = password_file.map(|p| read_secret("mqtt.password_file", p)).transpose()?;
        if password.is_some() && username.is_none() {
            return Err(invalid("mqtt.username", "is required when mqtt.password_file is set"));
        }
        Ok(Self { url, ca_file, username, password })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub id: AgentId,
    pub interval: Duration,
    pub state_dir: PathBuf,
    pub outbox_max_bytes: u64,
    pub mqtt: MqttConfig,
    pub client_id: String,
    /// `None`: no `[asterisk]` section, the asterisk probe is not applicable.
    pub asterisk: Option<AsteriskConfig>,
    /// `None`: no `[database]` section, the database probe is not applicable.
    pub database: Option<DatabaseConfig>,
    /// `None`: no `[admin_app]` section, the admin_app probe is not applicable.
    pub admin_app: Option<AdminAppConfig>,
    /// `None`: no `[queue_log]` section, queue_log is not shipped.
    pub queue_log: Option<QueueLogSource>,
    /// `None`: no `[recordings]` section, every recording request is refused.
    pub recordings: Option<RecordingsConfig>,
    /// SHA-256 (hex) of the config file's bytes, or of the empty string when there is none.
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: &'static str, message: String },
}

pub fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key, message: message.into() }
}

pub const DEFAULT_STATE_DIR: &str = "/var/lib/centinela-agent";
pub const DEFAULT_MQTT_URL: &str = "mqtt://127.0.0.1:1883";

/// Parses a duration such as "10s" or "1m 30s" for `key`, within `min..=max`.
pub fn parse_duration(key: &'static str, s: &str, min: Duration, max: Duration) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| invalid(key, format!("{s:?} is not a duration ({e}); write it like \"10s\" or \"1m\"")))?;
    if d < min || d > max {
        return Err(invalid(
            key,
            format!(
                "{s:?} is out of range; use between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        ));
    }
    Ok(d)
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| ConfigError::Syntax { path: path.into(), message: "the file is not UTF-8 text".into() })?;
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Syntax { path: path.into(), message: e.to_string() })?;
        Self::from_raw(raw, &bytes)
    }

    /// Validates a parsed config. `source` is the file's bytes, hashed for the birth message.
    pub fn from_raw(raw: RawConfig, source: &[u8]) -> Result<Self, ConfigError> {
        let id = match raw.id {
            Some(id) => AgentId::new(id).map_err(|e| invalid("id", e.to_string()))?,
            None => {
                let host = hostname();
                AgentId::new(host.clone()).map_err(|e| {
                    invalid("id", format!("the hostname {host:?} cannot be used as the id ({e}); set `id` explicitly"))
                })?
            }
        };
        let interval = parse_duration(
            "interval",
            raw.interval.as_deref().unwrap_or("10s"),
            Duration::from_millis(100),
            Duration::from_secs(3600),
        )?;
        let state_dir = raw.state_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        if state_dir.as_os_str().is_empty() {
            return Err(invalid("state_dir", "is empty; give a writable directory such as /var/lib/centinela-agent"));
        }
        let max_mb = raw.outbox.and_then(|o| o.max_mb).unwrap_or(64);
        if !(1..=100_000).contains(&max_mb) {
            return Err(invalid("outbox.max_mb", format!("{max_mb} is out of range; use 1 to 100000 (MiB)")));
        }
        let raw_mqtt = raw.mqtt.unwrap_or_default();
        let url =
            MqttUrl::parse(raw_mqtt.url.as_deref().unwrap_or(DEFAULT_MQTT_URL)).map_err(|m| invalid("mqtt.url", m))?;
        let asterisk = raw.asterisk.map(AsteriskConfig::from_raw).transpose()?;
        let database = raw.database.map(DatabaseConfig::from_raw).transpose()?;
        let admin_app = raw.admin_app.map(AdminAppConfig::from_raw).transpose()?;
        let recordings = raw.recordings.map(RecordingsConfig::from_raw).transpose()?;
        let queue_log = match raw.queue_log {
            None => None,
            Some(RawQueueLog { file: Some(_), table: Some(_) }) => {
                return Err(invalid(
                    "queue_log.table",
                    "and queue_log.file exclude each other; keep the one Asterisk writes",
                ));
            }
            Some(RawQueueLog { file: None, table: None }) => {
                return Err(invalid(
                    "queue_log.file",
                    "or queue_log.table is required in [queue_log], like file = \"/var/log/asterisk/queue_log\"",
                ));
            }
            Some(RawQueueLog { file: Some(f), .. }) if !f.is_absolute() => {
                return Err(invalid("queue_log.file", format!("{} must be an absolute path", f.display())));
            }
            Some(RawQueueLog { file: Some(f), .. }) => Some(QueueLogSource::File(f)),
            Some(RawQueueLog { table: Some(t), .. }) => {
                if database.is_none() {
                    return Err(invalid(
                        "queue_log.table",
                        "needs a [database] section: the table is read from that database",
                    ));
                }
                if t.is_empty() || t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(invalid(
                        "queue_log.table",
                        format!("{t:?} must be a plain table name (letters, digits and _), like \"queue_log\""),
                    ));
                }
                Some(QueueLogSource::Table(t))
            }
        };
        let client_id = validate_client_id(raw_mqtt.client_id.unwrap_or_else(|| format!("centinela-agent-{id}")))?;
        let mqtt = MqttConfig::validate(url, raw_mqtt.ca_file, raw_mqtt.username, raw_mqtt.password_file.as_deref())?;
        Ok(Self {
            id,
            interval,
            state_dir,
            outbox_max_bytes: max_mb * 1024 * 1024,
            mqtt,
            client_id,
            asterisk,
            database,
            admin_app,
            queue_log,
            recordings,
            hash: sha256_hex(source),
        })
    }

    /// The defaults, as if the config file were empty.
    pub fn defaults() -> Result<Self, ConfigError> {
        Self::from_raw(RawConfig::default(), b"")
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// This machine's hostname, or "localhost" if it cannot be read.
pub fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn parse(toml_text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(toml_text)
            .map_err(|e| ConfigError::Syntax { path: "test.toml".into(), message: e.to_string() })?;
        Config::from_raw(raw, toml_text.as_bytes())
    }

    fn err(toml_text: &str) -> String {
        parse(toml_text).unwrap_err().to_string()
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.interval, Duration::from_secs(10));
        assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.mqtt.url.to_string(), DEFAULT_MQTT_URL);
        assert_eq!(c.outbox_max_bytes, 64 * 1024 * 1024);
        assert_eq!(c.id.as_str(), hostname());
    }

    #[test]
    fn a_full_config_is_read_key_by_key() {
        let c = parse(
            "id = \"pbx-01\"\ninterval = \"30s\"\nstate_dir = \"/tmp/x\"\n[outbox]\nmax_mb = 8\n[mqtt]\nurl = \"mqtt://broker.local:1884\"\nusername = \"agent\"\n",
        )
        .unwrap();
        assert_eq!(c.id.as_str(), "pbx-01");
        assert_eq!(c.interval, Duration::from_secs(30));
        assert_eq!(c.outbox_max_bytes, 8 * 1024 * 1024);
        assert_eq!(c.mqtt.url, MqttUrl { host: "broker.local".into(), port: 1884, tls: false });
        assert_eq!(c.mqtt.username.as_deref(), Some("agent"));
    }

    #[test]
    fn an_unknown_key_is_named_in_the_error() {
        assert!(err("intervl = \"10s\"").contains("unknown field `intervl`"));
        assert!(err("[mqtt]\nhost = \"x\"").contains("unknown field `host`"));
    }

    #[test]
    fn a_bad_interval_names_the_key_and_the_format() {
        let e = err("interval = \"ten seconds\"");
        assert!(e.contains("`interval`") && e.contains("\"10s\""), "{e}");
        let e = err("interval = \"0s\"");
        assert!(e.contains("`interval`") && e.contains("out of range"), "{e}");
    }

    #[test]
    fn a_bad_id_names_the_key_and_the_rule() {
        let e = err("id = \"pbx/01\"");
        assert!(e.contains("`id`") && e.contains("letters, digits"), "{e}");
    }

    #[test]
    fn a_bad_mqtt_url_names_the_key() {
        for (url, hint) in [
            ("http://x", "mqtt://"),
            ("mqtt://:1883", "needs a host"),
            ("mqtt://host:0", "invalid port"),
            ("mqtt://host:99999", "invalid port"),
        ] {
            let e = err(&format!("[mqtt]\nurl = \"{url}\""));
            assert!(e.contains("`mqtt.url`") && e.contains(hint), "{url}: {e}");
        }
    }

    #[test]
    fn mqtt_urls_default_their_port_by_scheme() {
        assert_eq!(MqttUrl::parse("mqtt://h").unwrap().port, 1883);
        assert_eq!(MqttUrl::parse("mqtts://h").unwrap().port, 8883);
        assert_eq!(MqttUrl::parse("mqtt://[::1]:1999").unwrap().host, "::1");
    }

    #[test]
    fn a_ca_file_without_tls_or_a_missing_password_file_is_refused() {
        assert!(err("[mqtt]\nca_file = \"/etc/hostname\"").contains("`mqtt.ca_file`"));
        assert!(err("[mqtt]\nusername = \"u\"\npassword_file = \"/nonexistent/pw\"").contains("`mqtt.password_file`"));
        assert!(err("[outbox]\nmax_mb = 0").contains("`outbox.max_mb`"));
    }

    #[test]
    fn an_asterisk_section_reads_its_secret_from_a_file_and_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("ami-secret");
        std::fs::write(&secret, "s3cr3t-ami\n").unwrap();
        let c = parse(&format!(
            "[asterisk]\nami = \"127.0.0.1:5038\"\nusername = \"centinela\"\nsecret_file = \"{}\"\nauth = \"md5\"\nstuck_channel_after = \"2h\"\n",
            secret.display()
        ))
        .unwrap();
        let a = c.asterisk.as_ref().unwrap();
        assert_eq!(
            (a.ami.as_str(), a.username.as_str(), a.secret.as_str()),
            ("127.0.0.1:5038", "centinela", "s3cr3t-ami")
        );
        assert_eq!(a.auth, crate::ami::Auth::Md5);
        assert_eq!(a.stuck_channel_after, Duration::from_secs(7200));
        assert!(!format!("{c:?}").contains("s3cr3t-ami"), "the secret must not reach a log");
        assert!(parse("").unwrap().asterisk.is_none(), "no section: the probe is not applicable");
    }

    #[test]
    fn a_bad_asterisk_section_names_the_key() {
        for (text, key) in [
            ("[asterisk]\nusername = \"u\"\nami = \"localhost\"", "`asterisk.ami`"),
            ("[asterisk]\nsecret_file = \"/x\"", "`asterisk.username`"),
            ("[asterisk]\nusername = \"u\"", "`asterisk.secret_file`"),
            ("[asterisk]\nusername = \"u\"\nsecret_file = \"/nonexistent/s\"", "`asterisk.secret_file`"),
            ("[asterisk]\nusernme = \"u\"", "unknown field `usernme`"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn a_database_section_is_validated_and_its_password_stays_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("db-pass");
        std::fs::write(&pw, "s3cr3t-db\nignored\n").unwrap();
        let c = parse(&format!(
            "[database]\nurl = \"mysql://monitor@10.0.0.5/asteriskcdrdb\"\npassword_file = {:?}\nstale_after = \"5m\"",
            pw.display().to_string()
        ))
        .unwrap();
        let d = c.database.as_ref().unwrap();
        assert_eq!(
            d.target,
            DatabaseTarget::Mariadb {
                host: "10.0.0.5".into(),
                port: 3306,
                user: "monitor".into(),
                database: "asteriskcdrdb".into()
            }
        );
        assert_eq!(d.target.describe(), "10.0.0.5:3306/asteriskcdrdb");
        assert_eq!((d.password.as_deref(), d.cdr_table.as_str()), (Some("s3cr3t-db"), "cdr"));
        assert_eq!(d.stale_after, Duration::from_secs(300));
        assert!(!format!("{c:?}").contains("s3cr3t-db"), "the password must not reach a log");
        let p = parse("[database]\nurl = \"postgresql://postgres@db.lan:6432/cdr\"\ncdr_table = \"cdr_2\"").unwrap();
        assert_eq!(p.database.unwrap().target.describe(), "db.lan:6432/cdr");
        let s = parse("[database]\nurl = \"sqlite:///var/log/asterisk/master.db\"").unwrap();
        assert_eq!(s.database.unwrap().target, DatabaseTarget::Sqlite { path: "/var/log/asterisk/master.db".into() });
        assert!(parse("").unwrap().database.is_none(), "no section: the probe is not applicable");
    }

    #[test]
    fn a_bad_database_section_names_the_key() {
        for (text, key) in [
            ("[database]\ncdr_table = \"cdr\"", "`database.url`"),
            ("[database]\nurl = \"oracle://u@h/db\"", "`database.url`"),
            ("[database]\nurl = \"mysql://h:3306/db\"", "`database.url`"),
            ("[database]\nurl = \"mysql://u@h:0/db\"", "`database.url`"),
            ("[database]\nurl = \"mysql://u@h:3306\"", "`database.url`"),
            ("[database]\nurl = \"sqlite://relative.db\"", "`database.url`"),
            ("[database]\nurl = \"mysql://u:pw@h/db\"", "password_file"),
            ("[database]\nurl = \"mysql://u@h/db\"\ncdr_table = \"cdr; DROP TABLE cdr\"", "`database.cdr_table`"),
            ("[database]\nurl = \"mysql://u@h/db\"\nstale_after = \"0s\"", "`database.stale_after`"),
            ("[database]\nurl = \"mysql://u@h/db\"\nstale_after = \"soon\"", "`database.stale_after`"),
            ("[database]\nurl = \"mysql://u@h/db\"\npassword_file = \"/nonexistent/p\"", "`database.password_file`"),
            ("[database]\nurl = \"sqlite:///x.db\"\npassword_file = \"/etc/hostname\"", "`database.password_file`"),
            ("[database]\nurl = \"mysql://u@h/db\"\npasword_file = \"/x\"", "unknown field `pasword_file`"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
        assert!(
            !err("[database]\nurl = \"mysql://u:hunter2@h/db\"").contains("hunter2"),
            "a password in the url is not echoed"
        );
    }

    #[test]
    fn an_admin_app_section_splits_its_url_and_defaults_its_durations() {
        let a = parse("[admin_app]\nurl = \"https://127.0.0.1/admin\"").unwrap().admin_app.unwrap();
        assert_eq!(a.target, AdminAppUrl { tls: true, host: "127.0.0.1".into(), port: 443, path: "/admin".into() });
        assert_eq!((a.timeout, a.cert_warn_before), (Duration::from_secs(10), Duration::from_secs(21 * 86_400)));
        assert_eq!((a.url.as_str(), a.target.host_header()), ("https://127.0.0.1/admin", "127.0.0.1".into()));
        let text = "[admin_app]\nurl = \"http://[::1]:8080?x=1#top\"\ntimeout = \"2s\"\ncert_warn_before = \"30d\"";
        let a = parse(text).unwrap().admin_app.unwrap();
        assert_eq!(a.target, AdminAppUrl { tls: false, host: "::1".into(), port: 8080, path: "/?x=1".into() });
        assert_eq!(a.target.host_header(), "[::1]:8080");
        assert_eq!((a.timeout, a.cert_warn_before), (Duration::from_secs(2), Duration::from_secs(30 * 86_400)));
        assert!(parse("").unwrap().admin_app.is_none(), "no section: the probe is not applicable");
    }

    #[test]
    fn a_bad_admin_app_section_names_the_key_and_never_echoes_a_password() {
        for (text, key) in [
            ("[admin_app]\ntimeout = \"5s\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"ftp://pbx/admin\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"127.0.0.1/admin\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"https:///admin\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"https://pbx:0/admin\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"https://::1/admin\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"https://pbx/ad min\"", "`admin_app.url`"),
            ("[admin_app]\nurl = \"https://pbx/admin\"\ntimeout = \"1m\"", "`admin_app.timeout`"),
            ("[admin_app]\nurl = \"https://pbx/admin\"\ncert_warn_before = \"soon\"", "`admin_app.cert_warn_before`"),
            ("[admin_app]\nurl = \"https://pbx/admin\"\nverify = false", "unknown field `verify`"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
        for url in ["https://admin:hunter2@pbx/admin", "https://admin:hun/ter2@pbx/admin"] {
            let e = err(&format!("[admin_app]\nurl = \"{url}\""));
            assert!(e.contains("`admin_app.url`") && e.contains("user or password"), "{e}");
            assert!(!e.contains("hunter2") && !e.contains("hun/ter2"), "a password in the url is not echoed: {e}");
        }
    }

    #[test]
    fn a_recordings_section_defaults_to_the_freepbx_spool_and_64_mib() {
        assert_eq!(parse("").unwrap().recordings, None, "no section: every request is refused");
        let r = parse("[recordings]").unwrap().recordings.unwrap();
        assert_eq!(r, RecordingsConfig { dir: DEFAULT_RECORDINGS_DIR.into(), max_bytes: 64 * 1024 * 1024 });
        let r = parse("[recordings]\ndir = \"/srv/rec\"\nmax_bytes = 1000").unwrap().recordings.unwrap();
        assert_eq!(r, RecordingsConfig { dir: "/srv/rec".into(), max_bytes: 1000 });
    }

    #[test]
    fn a_bad_recordings_section_names_the_key() {
        for (text, key) in [
            ("[recordings]\ndir = \"monitor\"", "`recordings.dir`"),
            ("[recordings]\nmax_bytes = 0", "`recordings.max_bytes`"),
            ("[recordings]\nmax_bytes = 5000000000", "`recordings.max_bytes`"),
            ("[recordings]\nmax_mb = 5", "unknown field `max_mb`"),
        ] {
            let e = err(text);
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_config_hash_changes_with_the_file() {
        assert_ne!(parse("interval = \"10s\"").unwrap().hash, parse("interval = \"20s\"").unwrap().hash);
    }
}

#[cfg(test)]
mod reference_config {
    use super::tests::parse;
    use super::*;

    #[test]
    fn the_packaged_reference_config_parses_to_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/agent.toml");
        let c = Config::load(&path).unwrap();
        let d = Config::defaults().unwrap();
        assert_eq!((c.interval, &c.state_dir, c.outbox_max_bytes), (d.interval, &d.state_dir, d.outbox_max_bytes));
        assert_eq!(c.mqtt.url, d.mqtt.url);
    }

    /// The commented section `header` of packaging/config/agent.toml, uncommented.
    fn reference_section(header: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/agent.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let section: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != format!("# {header}"))
            .take_while(|l| l.starts_with("# "))
            .map(|l| &l[2..])
            .collect();
        assert!(!section.is_empty(), "agent.toml has a commented {header} example");
        section.join("\n")
    }

    #[test]
    fn the_commented_database_and_queue_log_examples_parse_once_uncommented() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("cdr-password");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = reference_section("[database]")
            .replace("/etc/centinela/cdr-password", &secret.display().to_string())
            + "\n"
            + &reference_section("[queue_log]");
        let raw: RawConfig = toml::from_str(&text).unwrap();
        let c = Config::from_raw(raw, b"").unwrap();
        let d = c.database.unwrap();
        assert_eq!(d.cdr_table, "cdr");
        assert_eq!(
            d.ship,
            Some(ShipConfig {
                every: Duration::from_secs(60),
                backfill: Duration::from_secs(62 * 86_400),
                late_rows: Duration::from_secs(4 * 3600)
            })
        );
        assert_eq!(c.queue_log, Some(QueueLogSource::File("/var/log/asterisk/queue_log".into())));
    }

    #[test]
    fn cdr_shipping_keys_are_checked_and_can_be_switched_off() {
        let base = "[database]\nurl = \"sqlite:///var/log/asterisk/master.db\"\n";
        assert!(parse(base).unwrap().database.unwrap().ship.is_some(), "shipping is on by default");
        assert_eq!(parse(&format!("{base}ship_cdr = false")).unwrap().database.unwrap().ship, None);
        for (extra, key) in [
            ("ship_cdr = false\nbackfill = \"1d\"", "`database.backfill`"),
            ("ship_every = \"0s\"", "`database.ship_every`"),
            ("late_rows = \"30s\"", "`database.late_rows`"),
            ("backfill = \"mucho\"", "`database.backfill`"),
        ] {
            let e = parse(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(e.contains(key), "{extra}: {e}");
        }
        let e = parse("[queue_log]").unwrap_err().to_string();
        assert!(e.contains("`queue_log.file`") && e.contains("queue_log.table"), "{e}");
        let e = parse("[queue_log]\ntable = \"queue_log\"").unwrap_err().to_string();
        assert!(e.contains("`queue_log.table`") && e.contains("[database]"), "{e}");
        let e = parse(&format!("{base}[queue_log]\ntable = \"queue log\"")).unwrap_err().to_string();
        assert!(e.contains("plain table name"), "{e}");
        let e = parse(&format!("{base}[queue_log]\ntable = \"q\"\nfile = \"/q\"")).unwrap_err().to_string();
        assert!(e.contains("exclude each other"), "{e}");
        let c = parse(&format!("{base}[queue_log]\ntable = \"queue_log\"")).unwrap();
        assert_eq!(c.queue_log, Some(QueueLogSource::Table("queue_log".into())));
        let e = parse("[queue_log]\nfile = \"queue_log\"").unwrap_err().to_string();
        assert!(e.contains("absolute"), "{e}");
    }

    #[test]
    fn the_commented_admin_app_example_parses_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/agent.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let section: Vec<&str> = text
            .lines()
            .skip_while(|l| *l != "# [admin_app]")
            .take_while(|l| l.starts_with("# "))
            .map(|l| &l[2..])
            .collect();
        assert!(!section.is_empty(), "agent.toml has a commented [admin_app] example");
        let raw: RawConfig = toml::from_str(&section.join("\n")).unwrap();
        let a = Config::from_raw(raw, b"").unwrap().admin_app.unwrap();
        assert_eq!((a.url.as_str(), a.timeout), ("https://127.0.0.1/admin", Duration::from_secs(10)));
    }

    #[test]
    fn the_commented_recordings_example_parses_once_uncommented() {
        let raw: RawConfig = toml::from_str(&reference_section("[recordings]")).unwrap();
        let r = Config::from_raw(raw, b"").unwrap().recordings.unwrap();
        assert_eq!((r.dir.to_str(), r.max_bytes), (Some(DEFAULT_RECORDINGS_DIR), DEFAULT_RECORDINGS_MAX_BYTES));
    }
}
