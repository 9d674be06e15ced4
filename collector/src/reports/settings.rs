//! The `[reports]` section: the queues' service-level threshold and the call classification rules
//! ([`super::classify`]), FreePBX's by default, with `[reports.servers."<agent-id>"]` for the
//! servers whose PBX differs.
//!
//! ```toml
//! [reports]
//! service_level = "20s"
//! trunks = ["PJSIP/carrier*", "SIP/trunk*", "IAX2/*", "DAHDI/*"]
//! [reports.servers."pbx-issabel-01"]
//! trunks = ["SIP/movistar*"]        # replaces the list above for this server only
//! ```

use super::classify::{RawRules, Rules};
use centinela_agent::config::{ConfigError, invalid, parse_duration};
use chrono_tz::Tz;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// The `[reports]` section as written in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReports {
    /// A queue call answered within this wait counts toward the service level. Default "20s".
    pub service_level: Option<String>,
    /// Trunk channels (`channel` of a call's first leg, `dstchannel` of any leg): globs (`*`, `?`)
    /// over the whole name, or prefixes. Default ["PJSIP/carrier*", "PJSIP/trunk*",
    /// "SIP/carrier*", "SIP/trunk*", "IAX2/*", "DAHDI/*", "Dongle/*"].
    pub trunks: Option<Vec<String>>,
    /// `dcontext` of a call's first leg that makes it inbound. Default ["from-trunk*",
    /// "from-pstn*", "ext-did*", "from-did-direct*"].
    pub inbound_contexts: Option<Vec<String>>,
    /// `dcontext` of a call's first leg that makes it outbound. Default ["outrt-*",
    /// "macro-dialout-trunk*"].
    pub outbound_contexts: Option<Vec<String>>,
    /// A non-empty `did` makes a call inbound. Default true.
    pub did_is_inbound: Option<bool>,
    /// A non-empty `outbound_cnum` makes a call outbound. Default true.
    pub outbound_cnum_is_outbound: Option<bool>,
    /// Per server (agent id): the same five classification keys; each one given replaces the
    /// default's for that server.
    pub servers: Option<BTreeMap<String, RawRules>>,
    /// Recording QA: calls sampled per report and the scorecard (`[reports.qa]`, see
    /// [`super::qa::RawQa`]).
    pub qa: Option<super::qa::RawQa>,
}

/// The validated `[reports]` settings, with the calendar's time zone (`queue_log` times are
/// instants; months are the zone's).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub service_level_s: u32,
    /// The rules of every server not listed in `servers`.
    pub rules: Rules,
    pub servers: BTreeMap<String, Rules>,
    pub tz: Tz,
    /// `[reports.qa]`.
    pub qa: super::qa::QaSettings,
}

impl Default for Settings {
    /// 20 s, FreePBX's conventions, El Salvador.
    fn default() -> Self {
        Settings {
            service_level_s: 20,
            rules: Rules::default(),
            servers: BTreeMap::new(),
            tz: chrono_tz::America::El_Salvador,
            qa: super::qa::QaSettings::default(),
        }
    }
}

impl Settings {
    pub fn from_raw(raw: RawReports, tz: Tz) -> Result<Self, ConfigError> {
        let qa = super::qa::QaSettings::from_raw(raw.qa.clone().unwrap_or_default())?;
        let service_level = parse_duration(
            "reports.service_level",
            raw.service_level.as_deref().unwrap_or("20s"),
            Duration::from_secs(1),
            Duration::from_secs(600),
        )?;
        if service_level.subsec_nanos() != 0 {
            return Err(invalid("reports.service_level", "must be whole seconds, like \"20s\""));
        }
        let defaults = RawRules {
            trunks: raw.trunks,
            inbound_contexts: raw.inbound_contexts,
            outbound_contexts: raw.outbound_contexts,
            did_is_inbound: raw.did_is_inbound,
            outbound_cnum_is_outbound: raw.outbound_cnum_is_outbound,
        };
        let rules = Rules::from_raw(defaults, &Rules::default(), "reports", "")?;
        let mut servers = BTreeMap::new();
        for (id, raw) in raw.servers.unwrap_or_default() {
            if let Err(e) = centinela_shared::AgentId::new(id.as_str()) {
                return Err(invalid(
                    "reports.servers",
                    format!("{id:?} is not an agent id ({e}); write the server's agent id, as in the agent's `id`"),
                ));
            }
            let server = Rules::from_raw(raw, &rules, "reports.servers", &format!("{id:?}."))?;
            servers.insert(id, server);
        }
        Ok(Settings { service_level_s: service_level.as_secs() as u32, rules, servers, tz, qa })
    }

    /// The rules of the server `agent`.
    pub fn rules_for(&self, agent: &str) -> &Rules {
        self.servers.get(agent).unwrap_or(&self.rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::classify::Pattern;

    fn parse(text: &str) -> Result<Settings, String> {
        let raw: RawReports = toml::from_str(text).map_err(|e| e.to_string())?;
        Settings::from_raw(raw, chrono_tz::America::El_Salvador).map_err(|e| e.to_string())
    }

    #[test]
    fn without_a_section_the_defaults_are_freepbxs() {
        assert_eq!(parse("").unwrap(), Settings::default());
    }

    #[test]
    fn a_server_override_starts_from_the_sections_defaults() {
        let s = parse(
            "service_level = \"30s\"\ntrunks = [\"PJSIP/carrier*\"]\ndid_is_inbound = false\n\
             [servers.\"pbx-issabel-01\"]\ntrunks = [\"SIP/movistar\"]\n",
        )
        .unwrap();
        assert_eq!(s.service_level_s, 30);
        assert_eq!(s.rules_for("otro").trunks, vec![Pattern::Prefix("PJSIP/carrier".into())]);
        let issabel = s.rules_for("pbx-issabel-01");
        assert_eq!(issabel.trunks, vec![Pattern::Prefix("SIP/movistar".into())]);
        assert!(!issabel.did_is_inbound, "inherits the section's value, not the built-in default");
    }

    #[test]
    fn mistakes_name_the_key_and_the_fix() {
        for (text, key, fix) in [
            ("service_level = \"pronto\"", "`reports.service_level`", "like \"10s\""),
            ("service_level = \"1h\"", "`reports.service_level`", "between"),
            ("service_level = \"1500ms\"", "`reports.service_level`", "whole seconds"),
            ("trunks = [\"*\"]", "`reports`", "trunks: \"*\" matches everything"),
            ("[servers.\"pbx 1\"]\ntrunks = []", "`reports.servers`", "agent id"),
            ("[servers.\"pbx-1\"]\noutbound_contexts = [\"\"]", "`reports.servers`", "\"pbx-1\".outbound_contexts"),
            ("[servers.\"pbx-1\"]\nservice_level = \"5s\"", "unknown field `service_level`", "expected one of"),
            ("trunk = []", "unknown field `trunk`", "trunks"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(key) && e.contains(fix), "{text}: {e}");
        }
    }
}
