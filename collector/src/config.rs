//! The collector's configuration, in two phases like the agent's: [`RawConfig`] mirrors the TOML
//! file (unknown keys are errors), [`Config`] is validated. Every error names the key and the fix.

use centinela_agent::config::{ConfigError, MqttConfig, MqttUrl, RawMqtt, invalid, validate_client_id};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Directory for the SQLite database. Default "/var/lib/centinela-collector".
    pub data_dir: Option<PathBuf>,
    /// The MQTT broker. Without `url`, the collector runs its own embedded broker.
    pub mqtt: Option<RawMqtt>,
    /// The embedded broker (used only when `[mqtt] url` is absent).
    pub embedded_broker: Option<RawEmbeddedBroker>,
    /// The dashboard and API.
    pub http: Option<RawHttp>,
    /// Email and webhook notifications about tickets (`[notify.email]`, `[notify.webhook]`).
    pub notify: Option<crate::notify::RawNotify>,
    /// The collector's time zone, working hours and holidays (`[calendar]`).
    pub calendar: Option<crate::calendar::RawCalendar>,
    /// Reopen window and time targets of corrective tickets (`[tickets]`).
    pub tickets: Option<crate::tickets::RawTickets>,
    /// Alert rules: overrides of the defaults by id, and new rules (`[rules.<id>]`).
    pub rules: Option<crate::rules::RawRules>,
    /// How long raw samples and the chart rollups are kept (`[retention]`).
    pub retention: Option<crate::store::rollup::RawRetention>,
    /// Monthly reports: how calls are classified per server, the queues' service level (`[reports]`).
    pub reports: Option<crate::reports::settings::RawReports>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmbeddedBroker {
    /// Address the embedded broker listens on. Default "127.0.0.1:1883".
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Address the dashboard listens on. Default "127.0.0.1:8080".
    pub listen: Option<String>,
    /// The address people use, e.g. "https://centinela.hacienda.gob.sv" (behind a TLS proxy): links
    /// in notifications, and `Secure` cookies when it is https. Default: http://<listen>.
    pub public_url: Option<String>,
    /// A session unused for this long ends. Default "12h" (a working day with breaks).
    pub session_idle: Option<String>,
    /// A session ends this long after login whatever happens. Default "7d".
    pub session_max: Option<String>,
    /// File whose first line is the bearer token Prometheus must send to `GET /metrics`
    /// (root-readable). Absent: /metrics is off (404).
    pub metrics_token_file: Option<PathBuf>,
}

/// The validated `[http]` settings beyond the address.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Without a trailing slash.
    pub public_url: String,
    pub secure_cookies: bool,
    pub session_idle: std::time::Duration,
    pub session_max: std::time::Duration,
    /// The bearer token of `GET /metrics`; `None`: metrics are off. Never logged (see `Debug`).
    pub metrics_token: Option<String>,
}

impl std::fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSettings")
            .field("public_url", &self.public_url)
            .field("secure_cookies", &self.secure_cookies)
            .field("session_idle", &self.session_idle)
            .field("session_max", &self.session_max)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where samples come from.
#[derive(Debug, Clone)]
pub enum Broker {
    /// An external broker (production: Mosquitto).
    External(MqttConfig),
    /// A broker inside this process, listening here.
    Embedded { listen: SocketAddr },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub broker: Broker,
    pub client_id: String,
    pub http_listen: SocketAddr,
    pub http: HttpSettings,
    pub notify: crate::notify::Notify,
    pub calendar: crate::calendar::Calendar,
    pub tickets: crate::tickets::TicketsConfig,
    pub rules: crate::rules::Rules,
    pub retention: crate::store::rollup::Retention,
    pub reports: crate::reports::settings::Settings,
}

pub const DEFAULT_DATA_DIR: &str = "/var/lib/centinela-collector";

fn parse_addr(key: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| invalid(key, format!("{s:?} is not an address; write it like \"127.0.0.1:8080\"")))
}

/// Reads `[http] metrics_token_file`. Errors name the file, never its content.
fn metrics_token(path: &Path) -> Result<String, ConfigError> {
    const KEY: &str = "http.metrics_token_file";
    let token = centinela_agent::config::read_secret(KEY, path)?;
    // It travels as `Authorization: Bearer <token>`: visible ASCII without spaces, as RFC 6750 asks.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            KEY,
            format!(
                "the token in {} has spaces or characters that cannot travel in an HTTP header; \
                 write one such as the output of `openssl rand -hex 32` on its first line",
                path.display()
            ),
        ));
    }
    Ok(token)
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let raw: RawConfig =
            toml::from_str(&text).map_err(|e| ConfigError::Syntax { path: path.into(), message: e.to_string() })?;
        Self::from_raw(raw)
    }

    /// The defaults: embedded broker, `data_dir` as given.
    pub fn defaults(data_dir: PathBuf) -> Result<Self, ConfigError> {
        Self::from_raw(RawConfig { data_dir: Some(data_dir), ..Default::default() })
    }

    pub fn from_raw(raw: RawConfig) -> Result<Self, ConfigError> {
        let data_dir = raw.data_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(invalid(
                "data_dir",
                "is empty; give a writable directory such as /var/lib/centinela-collector",
            ));
        }
        let mqtt = raw.mqtt.unwrap_or_default();
        let client_id = validate_client_id(mqtt.client_id.clone().unwrap_or_else(|| "centinela-collector".into()))?;
        let broker = match mqtt.url {
            Some(url) => {
                let url = MqttUrl::parse(&url).map_err(|m| invalid("mqtt.url", m))?;
                if raw.embedded_broker.is_some() {
                    return Err(invalid(
                        "embedded_broker",
                        "is set together with mqtt.url; remove [embedded_broker] to use the external broker, or remove mqtt.url to embed one",
                    ));
                }
                Broker::External(MqttConfig::validate(url, mqtt.ca_file, mqtt.username, mqtt.password_file.as_deref())?)
            }
            None => {
                if mqtt.ca_file.is_some() || mqtt.username.is_some() || mqtt.password_file.is_some() {
                    return Err(invalid(
                        "mqtt.url",
                        "is required when mqtt.ca_file, mqtt.username or mqtt.password_file is set",
                    ));
                }
                let listen = raw.embedded_broker.and_then(|b| b.listen).unwrap_or_else(|| "127.0.0.1:1883".into());
                Broker::Embedded { listen: parse_addr("embedded_broker.listen", &listen)? }
            }
        };
        let raw_http = raw.http.unwrap_or_default();
        let http_listen = parse_addr("http.listen", raw_http.listen.as_deref().unwrap_or("127.0.0.1:8080"))?;
        let public_url = raw_http.public_url.unwrap_or_else(|| format!("http://{http_listen}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        let secure_cookies = match public_url.split_once("://") {
            Some(("https", rest)) if !rest.is_empty() => true,
            Some(("http", rest)) if !rest.is_empty() => false,
            _ => {
                return Err(invalid(
                    "http.public_url",
                    format!("{public_url:?} must start with https:// or http://, like \"https://centinela.example\""),
                ));
            }
        };
        let duration = |key, text: Option<String>, default: &str| {
            centinela_agent::config::parse_duration(
                key,
                text.as_deref().unwrap_or(default),
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(90 * 86_400),
            )
        };
        let http = HttpSettings {
            public_url,
            secure_cookies,
            session_idle: duration("http.session_idle", raw_http.session_idle, "12h")?,
            session_max: duration("http.session_max", raw_http.session_max, "7d")?,
            metrics_token: match raw_http.metrics_token_file {
                Some(path) => Some(metrics_token(&path)?),
                None => None,
            },
        };
        let notify = crate::notify::Notify::from_raw(raw.notify.unwrap_or_default())?;
        let calendar = crate::calendar::Calendar::from_raw(raw.calendar.unwrap_or_default())?;
        let tickets = crate::tickets::TicketsConfig::from_raw(raw.tickets.unwrap_or_default())?;
        let rules = crate::rules::Rules::from_raw(raw.rules)?;
        let retention = crate::store::rollup::Retention::from_raw(raw.retention.unwrap_or_default())?;
        let reports = crate::reports::settings::Settings::from_raw(raw.reports.unwrap_or_default(), calendar.tz())?;
        Ok(Self {
            data_dir,
            broker,
            client_id,
            http_listen,
            http,
            notify,
            calendar,
            tickets,
            rules,
            retention,
            reports,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        Config::from_raw(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn without_an_mqtt_url_the_broker_is_embedded_on_1883() {
        let c = parse("").unwrap();
        assert!(matches!(c.broker, Broker::Embedded { listen } if listen.port() == 1883));
        assert_eq!(c.http_listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }

    #[test]
    fn an_mqtt_url_selects_the_external_broker() {
        let c =
            parse("data_dir = \"/tmp/c\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[http]\nlisten = \"0.0.0.0:80\"")
                .unwrap();
        assert!(matches!(c.broker, Broker::External(ref m) if m.url.port == 1883));
        assert_eq!(c.http_listen.port(), 80);
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[http]\nlisten = \"localhost\"", "`http.listen`"),
            ("[mqtt]\nurl = \"tcp://x\"", "`mqtt.url`"),
            ("[mqtt]\nusername = \"u\"", "`mqtt.url`"),
            ("[mqtt]\nclient_id = \"a/b\"", "`mqtt.client_id`"),
            ("[embedded_broker]\nlisten = \"nope\"", "`embedded_broker.listen`"),
            ("[mqtt]\nurl = \"mqtt://h\"\n[embedded_broker]\nlisten = \"127.0.0.1:1\"", "`embedded_broker`"),
            ("dta_dir = \"/x\"", "unknown field `dta_dir`"),
            ("[reports]\nservice_level = \"ya\"", "`reports.service_level`"),
            ("[reports.servers.\"pbx-1\"]\ntrunks = [\"*\"]", "`reports.servers`"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
    }

    #[test]
    fn the_metrics_token_is_read_from_its_file_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metrics-token");
        let with = |file: &Path| format!("[http]\nmetrics_token_file = {:?}", file.display().to_string());
        assert_eq!(parse("").unwrap().http.metrics_token, None, "off unless configured");
        std::fs::write(&file, "tok-3f9a1c\nignored\n").unwrap();
        let c = parse(&with(&file)).unwrap();
        assert_eq!(c.http.metrics_token.as_deref(), Some("tok-3f9a1c"));
        assert!(!format!("{c:?}").contains("tok-3f9a1c"), "Debug redacts the token");
        std::fs::write(&file, "tok with spaces\n").unwrap();
        let e = parse(&with(&file)).unwrap_err();
        assert!(e.contains("`http.metrics_token_file`") && !e.contains("tok with"), "{e}");
        let e = parse(&with(&dir.path().join("missing"))).unwrap_err();
        assert!(e.contains("`http.metrics_token_file`"), "{e}");
    }
}

#[cfg(test)]
mod reference_config {
    use super::*;

    #[test]
    fn the_packaged_reference_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/collector.toml");
        let c = Config::load(&path).unwrap();
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(c.client_id, "centinela-collector");
        assert!(matches!(c.broker, Broker::External(ref m) if m.url.port == 1883));
        assert_eq!(c.calendar.tz().name(), "America/El_Salvador");
        assert_eq!(c.tickets.reopen_window, std::time::Duration::from_secs(24 * 3600));
        assert_eq!(c.reports, crate::reports::settings::Settings::default(), "the file states the defaults");
    }

    /// Every commented key line of the reference file, uncommented, still parses (placeholders
    /// for secrets point at a temp file).
    #[test]
    fn the_commented_examples_parse_once_uncommented() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config/collector.toml");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let uncommented: Vec<String> = text
            .lines()
            .map(|l| match l.strip_prefix("# ") {
                // A commented key or table, not prose: `key = ...` or `[table]`.
                Some(rest)
                    if rest.starts_with('[') || rest.split_once(" = ").is_some_and(|(k, _)| !k.contains(' ')) =>
                {
                    rest.to_string()
                }
                _ => l.to_string(),
            })
            // The embedded broker is the alternative to [mqtt] url, and ca_file needs mqtts://.
            .filter(|l| !l.starts_with("[embedded_broker]") && !l.starts_with("listen = \"127.0.0.1:1883\""))
            .filter(|l| !l.starts_with("ca_file = \"/etc/centinela/ca.pem\""))
            .map(|l| l.replace("/etc/centinela/smtp-password", &secret.display().to_string()))
            .map(|l| l.replace("/etc/centinela/mesa-token", &secret.display().to_string()))
            .map(|l| l.replace("/etc/centinela/mqtt-password", &secret.display().to_string()))
            .map(|l| l.replace("/etc/centinela/metrics-token", &secret.display().to_string()))
            .collect();
        let raw: RawConfig =
            toml::from_str(&uncommented.join("\n")).unwrap_or_else(|e| panic!("{e}\n{}", uncommented.join("\n")));
        let c = Config::from_raw(raw).unwrap();
        assert!(c.notify.email.is_some() && c.notify.webhook.is_some());
        assert!(c.http.secure_cookies, "an https public_url makes the cookie Secure");
        assert_eq!(c.http.metrics_token.as_deref(), Some("s3cret"));
        assert_eq!(c.rules.get("asterisk_restarted").map(|r| r.enabled), Some(false));
        let issabel = c.reports.rules_for("pbx-issabel-01");
        assert!(issabel.trunks.iter().any(|p| p.matches("SIP/movistar-00000001")), "{issabel:?}");
        assert_eq!(c.reports.rules_for("otro"), &crate::reports::classify::Rules::default());
    }
}
