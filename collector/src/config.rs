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
}

pub const DEFAULT_DATA_DIR: &str = "/var/lib/centinela-collector";

fn parse_addr(key: &'static str, s: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| invalid(key, format!("{s:?} is not an address; write it like \"127.0.0.1:8080\"")))
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
        let http_listen = raw.http.and_then(|h| h.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
        Ok(Self { data_dir, broker, client_id, http_listen: parse_addr("http.listen", &http_listen)? })
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
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
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
    }
}
