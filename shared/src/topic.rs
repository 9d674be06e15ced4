//! The MQTT topic layout, built and parsed in one place: `centinela/v1/<agent-id>/<kind>`.
//!
//! Invariants: an [`AgentId`] can never contain `/`, `+`, `#` or whitespace, so every topic built here
//! has exactly four levels and parses back to the same value.

use std::fmt;

pub const PREFIX: &str = "centinela/v1";

/// The collector's retained presence ([`Presence`] words), its Last Will `offline`. Agents send
/// samples only while it reads `online`: a broker that lost the collector's session (a fresh
/// embedded broker, Mosquitto without persistence) would otherwise acknowledge samples nobody
/// will ever receive. `_collector` can never be an [`AgentId`] (ids start with a letter or digit).
pub const COLLECTOR_STATE: &str = "centinela/v1/_collector/state";

/// A validated agent id: 1 to 64 characters from `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentIdError {
    #[error("agent id is empty; set `id` to a short name such as the server's hostname")]
    Empty,
    #[error("agent id {0:?} is longer than 64 characters; choose a shorter `id`")]
    TooLong(String),
    #[error(
        "agent id {0:?} may only use letters, digits, '.', '_' and '-' and must start with a letter or digit; MQTT wildcards and '/' are not allowed"
    )]
    BadCharacters(String),
}

impl AgentId {
    pub fn new(id: impl Into<String>) -> Result<Self, AgentIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(AgentIdError::Empty);
        }
        if id.chars().count() > 64 {
            return Err(AgentIdError::TooLong(id));
        }
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        if !first_ok || !id.chars().all(ok_char) {
            return Err(AgentIdError::BadCharacters(id));
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The last topic level. Who publishes and who subscribes is part of the contract (a broker ACL
/// follows it): agents publish `sample`, `status`, `birth` and `reply` under their own id only, and
/// subscribe only to their own `cmd`; the collector subscribes to [`TopicKind::FROM_AGENTS`] across
/// every agent and is the only publisher on `cmd`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Postcard [`crate::Envelope`], QoS 1, not retained.
    Sample,
    /// Plain UTF-8 presence, retained: see [`Presence`].
    Status,
    /// Postcard [`crate::BirthMsg`], QoS 1, retained.
    Birth,
    /// Postcard [`crate::CommandV1`], collector → this agent, QoS 1, not retained (a command left on
    /// the broker would run again on every reconnect).
    Cmd,
    /// Postcard [`crate::ReplyV1`], this agent → collector, published at QoS 1, not retained. The
    /// collector subscribes at QoS 0 (no acknowledgement to order among its samples' acks, nothing
    /// queued while it is away).
    Reply,
}

impl TopicKind {
    pub const ALL: [TopicKind; 5] =
        [TopicKind::Sample, TopicKind::Status, TopicKind::Birth, TopicKind::Cmd, TopicKind::Reply];

    /// What agents publish: the collector subscribes to each of these across every agent, and
    /// never to [`TopicKind::Cmd`] (it would receive its own commands).
    pub const FROM_AGENTS: [TopicKind; 4] = [TopicKind::Sample, TopicKind::Status, TopicKind::Birth, TopicKind::Reply];

    pub fn as_str(self) -> &'static str {
        match self {
            TopicKind::Sample => "sample",
            TopicKind::Status => "status",
            TopicKind::Birth => "birth",
            TopicKind::Cmd => "cmd",
            TopicKind::Reply => "reply",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The subscription filter for this kind across every agent, e.g. `centinela/v1/+/sample`.
    pub fn filter_all_agents(self) -> String {
        format!("{PREFIX}/+/{}", self.as_str())
    }
}

/// A parsed topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub agent: AgentId,
    pub kind: TopicKind,
}

impl Topic {
    pub fn new(agent: &AgentId, kind: TopicKind) -> Self {
        Self { agent: agent.clone(), kind }
    }

    /// Parses `centinela/v1/<agent>/<kind>`; anything else is `None`.
    pub fn parse(topic: &str) -> Option<Self> {
        let rest = topic.strip_prefix(PREFIX)?.strip_prefix('/')?;
        let (agent, kind) = rest.split_once('/')?;
        Some(Self { agent: AgentId::new(agent).ok()?, kind: TopicKind::parse(kind)? })
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}/{}/{}", self.agent, self.kind.as_str())
    }
}

/// The retained payload of the status topic, plain UTF-8 so `mosquitto_sub -v` is readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Published retained by the agent after every CONNACK.
    Online,
    /// The Last Will: the broker publishes it when the agent vanishes without a DISCONNECT.
    Offline,
    /// Published retained by the agent on a clean shutdown.
    Stopped,
}

impl Presence {
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
            Presence::Stopped => "stopped",
        }
    }

    pub fn parse(payload: &[u8]) -> Option<Self> {
        match std::str::from_utf8(payload).ok()?.trim() {
            "online" => Some(Presence::Online),
            "offline" => Some(Presence::Offline),
            "stopped" => Some(Presence::Stopped),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_kind_round_trips_through_its_string() {
        let id = AgentId::new("pbx-hacienda.01").unwrap();
        for kind in TopicKind::ALL {
            let t = Topic::new(&id, kind);
            assert_eq!(Topic::parse(&t.to_string()), Some(t));
        }
        assert_eq!(Topic::new(&id, TopicKind::Status).to_string(), "centinela/v1/pbx-hacienda.01/status");
    }

    #[test]
    fn command_and_reply_topics_are_per_agent_and_the_collector_never_subscribes_to_commands() {
        let id = AgentId::new("pbx-01").unwrap();
        assert_eq!(Topic::new(&id, TopicKind::Cmd).to_string(), "centinela/v1/pbx-01/cmd");
        assert_eq!(Topic::new(&id, TopicKind::Reply).to_string(), "centinela/v1/pbx-01/reply");
        assert!(!TopicKind::FROM_AGENTS.contains(&TopicKind::Cmd));
        assert!(TopicKind::FROM_AGENTS.contains(&TopicKind::Reply));
        let filters: Vec<String> = TopicKind::FROM_AGENTS.iter().map(|k| k.filter_all_agents()).collect();
        assert_eq!(
            filters,
            ["centinela/v1/+/sample", "centinela/v1/+/status", "centinela/v1/+/birth", "centinela/v1/+/reply"]
        );
    }

    #[test]
    fn foreign_or_malformed_topics_do_not_parse() {
        for t in [
            "centinela/v2/a/sample",
            "centinela/v1/a/sample/extra",
            "centinela/v1//sample",
            "centinela/v1/a/unknown",
            "other/v1/a/sample",
            "centinela/v1/+/sample",
        ] {
            assert_eq!(Topic::parse(t), None, "{t}");
        }
    }

    #[test]
    fn agent_ids_with_wildcards_or_slashes_are_rejected_with_the_rule() {
        for bad in ["a/b", "a+b", "#", "a b", "-a", ".a", "ñandú"] {
            let err = AgentId::new(bad).unwrap_err();
            assert!(matches!(err, AgentIdError::BadCharacters(_)), "{bad}");
        }
        assert_eq!(AgentId::new(""), Err(AgentIdError::Empty));
        assert!(matches!(AgentId::new("a".repeat(65)), Err(AgentIdError::TooLong(_))));
    }

    #[test]
    fn the_collector_state_topic_is_not_an_agent_topic() {
        assert_eq!(Topic::parse(COLLECTOR_STATE), None);
        assert!(AgentId::new("_collector").is_err());
    }

    #[test]
    fn presence_payloads_are_plain_words() {
        for p in [Presence::Online, Presence::Offline, Presence::Stopped] {
            assert_eq!(Presence::parse(p.as_str().as_bytes()), Some(p));
        }
        assert_eq!(Presence::parse(b"\xff"), None);
        assert_eq!(Presence::parse(b"maybe"), None);
    }
}
