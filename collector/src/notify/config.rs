//! `[notify.email]` and `[notify.webhook]`, in two phases: [`RawNotify`] mirrors the TOML (unknown
//! keys are errors), [`Notify`] is validated. Every error names its key and the fix.
//!
//! Invariant: secrets (the SMTP password, the webhook's bearer token) are read from files and never
//! appear in `Debug`, logs or errors; the webhook URL is shown without its query (it may carry a key).

use centinela_agent::config::{ConfigError, invalid, parse_duration, read_secret};
use lettre::message::Mailbox;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    /// Email through an SMTP server. Absent: no email is sent.
    pub email: Option<RawEmail>,
    /// A JSON POST to the service desk for each ticket event. Absent: no webhook is called.
    pub webhook: Option<RawWebhook>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    /// The SMTP server's name or address. Required.
    pub host: Option<String>,
    /// Default 587 for "starttls", 465 for "tls", 25 for "none".
    pub port: Option<u16>,
    /// "starttls" (default), "tls" (TLS from the first byte) or "none" (only to 127.0.0.1 or ::1).
    pub security: Option<String>,
    /// SMTP login. Requires `password_file`.
    pub username: Option<String>,
    /// File whose first line is the SMTP password (readable by root only).
    pub password_file: Option<PathBuf>,
    /// Sender, e.g. "Centinela UACT <centinela@example.org>". Required.
    pub from: Option<String>,
    /// Addresses that receive every ticket notification (e.g. the service desk's mailbox). Default none.
    pub to: Option<Vec<String>>,
    /// PEM file of extra CAs to trust besides the system store (an internal CA). Default none.
    pub ca_file: Option<PathBuf>,
    /// Limit for each SMTP command and for the whole delivery. Default "30s".
    pub timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    /// http:// or https:// URL that receives the JSON by POST. Required.
    pub url: Option<String>,
    /// File whose first line is sent as `Authorization: Bearer …` (only over https, or to loopback).
    pub bearer_token_file: Option<PathBuf>,
    /// Limit for the whole request. Default "10s".
    pub timeout: Option<String>,
}

/// Validated notification settings; a `None` channel is not configured.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    pub email: Option<EmailConfig>,
    pub webhook: Option<WebhookConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS; refuses to go on if the server does not offer it.
    StartTls,
    /// TLS from the first byte ("SMTPS", port 465).
    Tls,
    /// No encryption: accepted only towards a loopback address (a local relay such as Postfix).
    None,
}

#[derive(Clone)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `(username, password)`.
    pub credentials: Option<(String, String)>,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// PEM text of extra CAs.
    pub ca_pem: Option<Vec<u8>>,
    pub timeout: Duration,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from.to_string())
            .field("to", &self.to.iter().map(ToString::to_string).collect::<Vec<_>>())
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())))
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[derive(Clone)]
pub struct WebhookConfig {
    pub url: hyper::Uri,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub bearer_token: Option<String>,
    pub timeout: Duration,
}

impl WebhookConfig {
    /// The URL for logs and pages: scheme, host, port and path, never the query.
    pub fn display_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{host}:{}{}", self.port, self.url.path())
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.display_url())
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn is_loopback(host: &str) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn mailbox(key: &'static str, s: &str) -> Result<Mailbox, ConfigError> {
    s.parse::<Mailbox>().map_err(|e| {
        invalid(
            key,
            format!("{s:?} is not an email address ({e}); write it like \"Centinela <centinela@example.org>\""),
        )
    })
}

impl Notify {
    /// Validates `[notify]`, reading the secret files it names.
    pub fn from_raw(raw: RawNotify) -> Result<Self, ConfigError> {
        Ok(Self {
            email: raw.email.map(EmailConfig::from_raw).transpose()?,
            webhook: raw.webhook.map(WebhookConfig::from_raw).transpose()?,
        })
    }
}

impl EmailConfig {
    pub fn from_raw(raw: RawEmail) -> Result<Self, ConfigError> {
        let host = raw.host.map(|h| h.trim().to_string()).unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("notify.email.host", "is required; give the SMTP server, e.g. \"smtp.example.org\""));
        }
        let security = match raw.security.as_deref().unwrap_or("starttls") {
            "starttls" => Security::StartTls,
            "tls" => Security::Tls,
            "none" => Security::None,
            other => {
                return Err(invalid(
                    "notify.email.security",
                    format!("{other:?} is not known; use \"starttls\", \"tls\" or \"none\""),
                ));
            }
        };
        if security == Security::None && !is_loopback(&host) {
            return Err(invalid(
                "notify.email.security",
                format!(
                    "\"none\" sends mail and password in clear text, so it is allowed only to 127.0.0.1 or ::1, not {host:?}; \
                     use \"starttls\" or \"tls\", or relay through a local MTA"
                ),
            ));
        }
        let port = raw.port.unwrap_or(match security {
            Security::StartTls => 587,
            Security::Tls => 465,
            Security::None => 25,
        });
        if port == 0 {
            return Err(invalid("notify.email.port", "is 0; give the SMTP server's port, usually 587"));
        }
        let credentials = match (raw.username, raw.password_file) {
            (Some(u), Some(p)) if !u.is_empty() => Some((u, read_secret("notify.email.password_file", &p)?)),
            (Some(_), Some(_)) => return Err(invalid("notify.email.username", "is empty; remove it or fill it in")),
            (Some(_), None) => {
                return Err(invalid("notify.email.password_file", "is required with notify.email.username"));
            }
            (None, Some(_)) => {
                return Err(invalid("notify.email.username", "is required with notify.email.password_file"));
            }
            (None, None) => None,
        };
        let from = match raw.from {
            Some(f) => mailbox("notify.email.from", &f)?,
            None => {
                return Err(invalid(
                    "notify.email.from",
                    "is required; give the sender, e.g. \"Centinela UACT <centinela@example.org>\"",
                ));
            }
        };
        let to = raw.to.unwrap_or_default().iter().map(|t| mailbox("notify.email.to", t)).collect::<Result<_, _>>()?;
        let ca_pem = match raw.ca_file {
            Some(path) => {
                let pem = std::fs::read(&path).map_err(|e| {
                    invalid(
                        "notify.email.ca_file",
                        format!("cannot read {}: {e}; give a readable PEM file", path.display()),
                    )
                })?;
                use rustls::pki_types::{CertificateDer, pem::PemObject};
                let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
                if !certs.is_ok_and(|c| !c.is_empty()) {
                    return Err(invalid(
                        "notify.email.ca_file",
                        format!(
                            "{} holds no PEM certificate; give the CA as \"-----BEGIN CERTIFICATE-----\"",
                            path.display()
                        ),
                    ));
                }
                Some(pem)
            }
            None => None,
        };
        let timeout = parse_duration(
            "notify.email.timeout",
            raw.timeout.as_deref().unwrap_or("30s"),
            Duration::from_secs(1),
            Duration::from_secs(300),
        )?;
        Ok(Self { host, port, security, credentials, from, to, ca_pem, timeout })
    }
}

impl WebhookConfig {
    pub fn from_raw(raw: RawWebhook) -> Result<Self, ConfigError> {
        const KEY: &str = "notify.webhook.url";
        let Some(text) = raw.url else {
            return Err(invalid(
                KEY,
                "is required; give the service desk's URL, e.g. \"https://mesa.example.org/hook\"",
            ));
        };
        // Never echo the URL itself: its query may carry a key.
        let url: hyper::Uri = text
            .trim()
            .parse()
            .map_err(|_| invalid(KEY, "is not a URL; write it like \"https://mesa.example.org/hook\""))?;
        let tls = match url.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid(KEY, "must start with http:// or https://")),
        };
        let Some(authority) = url.authority() else {
            return Err(invalid(KEY, "has no host; write it like \"https://mesa.example.org/hook\""));
        };
        if authority.as_str().contains('@') {
            return Err(invalid(
                KEY,
                "carries credentials before the host; remove them and put a token in notify.webhook.bearer_token_file",
            ));
        }
        let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bearer_token = match raw.bearer_token_file {
            Some(p) => {
                if !tls && !is_loopback(&host) {
                    return Err(invalid(
                        "notify.webhook.bearer_token_file",
                        "would send the token in clear text over http://; use an https:// url",
                    ));
                }
                let token = read_secret("notify.webhook.bearer_token_file", &p)?;
                if hyper::header::HeaderValue::from_str(&format!("Bearer {token}")).is_err() {
                    return Err(invalid(
                        "notify.webhook.bearer_token_file",
                        format!("{}: the token has characters not allowed in a header; check the file", p.display()),
                    ));
                }
                Some(token)
            }
            None => None,
        };
        let timeout = parse_duration(
            "notify.webhook.timeout",
            raw.timeout.as_deref().unwrap_or("10s"),
            Duration::from_secs(1),
            Duration::from_secs(120),
        )?;
        Ok(Self { url, tls, host, port, bearer_token, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Notify, String> {
        let raw: RawNotify = toml::from_str(text).map_err(|e| e.to_string())?;
        Notify::from_raw(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_section_configures_no_channel() {
        let n = parse("").unwrap();
        assert!(n.email.is_none() && n.webhook.is_none());
    }

    #[test]
    fn email_defaults_to_starttls_on_587_and_tls_to_465() {
        let n = parse("[email]\nhost = \"smtp.example.org\"\nfrom = \"Centinela <c@example.org>\"").unwrap();
        let e = n.email.unwrap();
        assert_eq!((e.security, e.port), (Security::StartTls, 587));
        assert_eq!(e.timeout, Duration::from_secs(30));
        let n = parse("[email]\nhost = \"smtp.example.org\"\nsecurity = \"tls\"\nfrom = \"c@example.org\"").unwrap();
        assert_eq!(n.email.unwrap().port, 465);
    }

    #[test]
    fn a_webhook_url_gets_its_default_port_and_timeout() {
        let w = parse("[webhook]\nurl = \"https://mesa.example.org/hook?key=s3cr3t\"").unwrap().webhook.unwrap();
        assert!(w.tls);
        assert_eq!((w.host.as_str(), w.port, w.timeout), ("mesa.example.org", 443, Duration::from_secs(10)));
        assert_eq!(w.display_url(), "https://mesa.example.org:443/hook");
        let w = parse("[webhook]\nurl = \"http://[::1]:8081/x\"").unwrap().webhook.unwrap();
        assert_eq!((w.host.as_str(), w.port), ("::1", 8081));
    }

    #[test]
    fn bad_values_name_their_key_and_the_fix() {
        for (text, key, fix) in [
            ("[email]\nfrom = \"a@b.c\"", "`notify.email.host`", "smtp.example.org"),
            ("[email]\nhost = \"h\"", "`notify.email.from`", "Centinela UACT"),
            ("[email]\nhost = \"h\"\nfrom = \"no es correo\"", "`notify.email.from`", "write it like"),
            ("[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nsecurity = \"ssl\"", "`notify.email.security`", "\"tls\""),
            ("[email]\nhost = \"smtp.example.org\"\nfrom = \"a@b.c\"\nsecurity = \"none\"", "security", "127.0.0.1"),
            ("[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nusername = \"u\"", "`notify.email.password_file`", "required"),
            ("[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nto = [\"x\"]", "`notify.email.to`", "write it like"),
            ("[email]\nhost = \"h\"\nfrom = \"a@b.c\"\ntimeout = \"1h\"", "`notify.email.timeout`", "between"),
            (
                "[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nca_file = \"/nonexistent\"",
                "`notify.email.ca_file`",
                "readable",
            ),
            ("[email]\nhots = \"h\"", "unknown field `hots`", ""),
            ("[webhook]\nurl = \"ftp://x/y\"", "`notify.webhook.url`", "http://"),
            ("[webhook]\nurl = \"https://u:p@x/y\"", "`notify.webhook.url`", "bearer_token_file"),
            ("[webhook]", "`notify.webhook.url`", "required"),
            ("[webhook]\nurl = \"http://mesa.example.org/\"\nbearer_token_file = \"/t\"", "bearer_token_file", "https"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key) && e.contains(fix), "{text}: {e}");
        }
    }

    #[test]
    fn plain_smtp_is_accepted_towards_loopback_only() {
        let n = parse("[email]\nhost = \"127.0.0.1\"\nfrom = \"a@b.c\"\nsecurity = \"none\"").unwrap();
        assert_eq!(n.email.unwrap().port, 25);
        assert!(parse("[email]\nhost = \"::1\"\nfrom = \"a@b.c\"\nsecurity = \"none\"").is_ok());
        assert!(parse("[email]\nhost = \"localhost\"\nfrom = \"a@b.c\"\nsecurity = \"none\"").is_err());
    }

    #[test]
    fn secrets_are_read_from_files_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2\nsecond line ignored\n").unwrap();
        let tok = dir.path().join("tok");
        std::fs::write(&tok, "tok-XYZ\n").unwrap();
        let text = format!(
            "[email]\nhost = \"h\"\nfrom = \"a@b.c\"\nusername = \"u\"\npassword_file = {:?}\n\
             [webhook]\nurl = \"https://h/p?key=qs-secret\"\nbearer_token_file = {:?}",
            pw.display().to_string(),
            tok.display().to_string()
        );
        let n = parse(&text).unwrap();
        assert_eq!(n.email.as_ref().unwrap().credentials.as_ref().unwrap().1, "hunter2");
        assert_eq!(n.webhook.as_ref().unwrap().bearer_token.as_deref(), Some("tok-XYZ"));
        let shown = format!("{n:?}");
        for secret in ["hunter2", "tok-XYZ", "qs-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
