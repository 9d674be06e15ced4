//! Commands from the collector on `centinela/v1/<id>/cmd`: which to run and which to refuse,
//! decided without I/O. The runner takes the sample and publishes the reply.
//!
//! Invariants:
//! - A command meant for another agent id, or past its `expires_ms` by this agent's clock, never
//!   runs; it is answered with [`ReplyBody::Refused`] saying why (a late refusal is harmless: the
//!   collector drops replies nobody waits for).
//! - A payload that does not decode never panics the agent: when its header still names this
//!   agent (a kind newer than this build) it is refused, so the collector learns why; otherwise it
//!   is logged and dropped.
//! - Replies never go through the outbox: a late reply is useless (the collector has given up),
//!   and an on-demand sample takes no `seq`, so the periodic series stays 1, 2, 3...

use centinela_shared::{AgentId, CommandKind, Envelope, ReplyBody, ReplyV1, decode_command, decode_command_header};

/// What to do with one message on the command topic.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run every probe now and reply with the sample ([`sample_reply`]).
    VerifyNow { request_id: u64 },
    /// Read one piece of a call recording and reply with it ([`crate::recordings::read_chunk`]).
    RecordingChunk { request_id: u64, recordingfile: String, calldate: String, offset: u64, max_len: u32 },
    /// Reply with [`refused`]: the command is not run, for this reason (in Spanish).
    Refuse { request_id: u64, why: String },
    /// Nothing to answer; log why.
    Ignore(String),
}

/// Why `me` must not run a command for `agent_id` that expires at `expires_ms`, at `now_ms`
/// (this agent's clock); `None` when it may run. In Spanish: the collector shows it.
pub fn refusal(agent_id: &str, expires_ms: i64, me: &AgentId, now_ms: i64) -> Option<String> {
    if agent_id != me.as_str() {
        return Some(format!(
            "la orden es para el agente «{agent_id}» pero llegó al agente «{me}»; revise el `id` en la configuración del agente"
        ));
    }
    if now_ms > expires_ms {
        let late_s = (now_ms - expires_ms).div_euclid(1000);
        return Some(format!(
            "la orden venció hace {late_s} s según el reloj del agente y no se ejecutó; si el colector la acaba de enviar, sincronice la hora de ambos servidores (NTP)"
        ));
    }
    None
}

/// Decides what to do with a payload received on this agent's command topic at `now_ms`.
pub fn decide(payload: &[u8], me: &AgentId, now_ms: i64) -> Action {
    match decode_command(payload) {
        Ok(cmd) => match refusal(&cmd.agent_id, cmd.expires_ms, me, now_ms) {
            Some(why) => Action::Refuse { request_id: cmd.request_id, why },
            None => match cmd.kind {
                CommandKind::VerifyNow => Action::VerifyNow { request_id: cmd.request_id },
                CommandKind::RecordingChunk { recordingfile, calldate, offset, max_len } => {
                    Action::RecordingChunk { request_id: cmd.request_id, recordingfile, calldate, offset, max_len }
                }
            },
        },
        Err(e) => match decode_command_header(payload) {
            // Most likely a kind added after this agent was built.
            Ok(h) if h.agent_id == me.as_str() => {
                let why = format!(
                    "el agente (versión {}) no entiende esta orden ({e}); actualice el agente",
                    crate::runner::VERSION
                );
                Action::Refuse { request_id: h.request_id, why }
            }
            Ok(h) => Action::Ignore(format!("undecodable command for another agent ({:?}): {e}", h.agent_id)),
            Err(_) => Action::Ignore(format!("undecodable command: {e}")),
        },
    }
}

/// A refusal of `request_id`.
pub fn refused(me: &AgentId, request_id: u64, now_ms: i64, why: String) -> ReplyV1 {
    ReplyV1 { request_id, agent_id: me.to_string(), replied_ms: now_ms, body: ReplyBody::Refused(why) }
}

/// Any other answer of `me` to `request_id` (a recording's chunk or its refusal).
pub fn reply(me: &AgentId, request_id: u64, now_ms: i64, body: ReplyBody) -> ReplyV1 {
    ReplyV1 { request_id, agent_id: me.to_string(), replied_ms: now_ms, body }
}

/// The answer to a verify-now: `sample` is the envelope the runner built, its `seq` set to 0 (see
/// [`ReplyBody::Sample`]).
pub fn sample_reply(me: &AgentId, request_id: u64, now_ms: i64, mut sample: Envelope) -> ReplyV1 {
    sample.seq = 0;
    ReplyV1 { request_id, agent_id: me.to_string(), replied_ms: now_ms, body: ReplyBody::Sample(sample) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use centinela_shared::{CommandV1, encode_command};

    const NOW: i64 = 1_795_000_000_000;

    fn me() -> AgentId {
        AgentId::new("pbx-01").unwrap()
    }

    fn command(agent: &str, expires_ms: i64) -> CommandV1 {
        CommandV1 {
            request_id: 42,
            agent_id: agent.into(),
            issued_ms: NOW - 1000,
            expires_ms,
            kind: CommandKind::VerifyNow,
        }
    }

    fn refusal_text(a: Action) -> String {
        match a {
            Action::Refuse { request_id: 42, why } => why,
            other => panic!("expected a refusal of request 42, got {other:?}"),
        }
    }

    #[test]
    fn a_current_command_for_this_agent_runs() {
        let bytes = encode_command(&command("pbx-01", NOW + 30_000));
        assert_eq!(decide(&bytes, &me(), NOW), Action::VerifyNow { request_id: 42 });
        assert_eq!(refusal("pbx-01", NOW, &me(), NOW), None, "the expiry instant itself is still in time");
    }

    #[test]
    fn an_expired_command_is_refused_and_names_the_clock() {
        let bytes = encode_command(&command("pbx-01", NOW - 12_500));
        let why = refusal_text(decide(&bytes, &me(), NOW));
        assert!(why.contains("venció hace 12 s"), "{why}");
        assert!(why.contains("NTP"), "{why}");
    }

    #[test]
    fn a_recording_chunk_command_is_run_with_its_arguments_and_still_refused_when_expired() {
        let kind = CommandKind::RecordingChunk {
            recordingfile: "in-1.wav".into(),
            calldate: "2026-11-27 09:51:38".into(),
            offset: 262_144,
            max_len: 1 << 20,
        };
        let cmd = CommandV1 { kind, ..command("pbx-01", NOW + 20_000) };
        assert_eq!(
            decide(&encode_command(&cmd), &me(), NOW),
            Action::RecordingChunk {
                request_id: 42,
                recordingfile: "in-1.wav".into(),
                calldate: "2026-11-27 09:51:38".into(),
                offset: 262_144,
                max_len: 1 << 20
            }
        );
        let late = CommandV1 { expires_ms: NOW - 1000, ..cmd };
        assert!(refusal_text(decide(&encode_command(&late), &me(), NOW)).contains("venció"));
    }

    #[test]
    fn a_command_for_another_agent_is_refused_and_names_both_ids() {
        let bytes = encode_command(&command("pbx-02", NOW + 30_000));
        let why = refusal_text(decide(&bytes, &me(), NOW));
        assert!(why.contains("«pbx-02»") && why.contains("«pbx-01»"), "{why}");
    }

    #[test]
    fn a_command_of_a_kind_this_agent_does_not_know_is_refused_with_the_fix() {
        let mut bytes = encode_command(&command("pbx-01", NOW + 30_000));
        let last = bytes.len() - 1;
        bytes[last] = 7;
        let why = refusal_text(decide(&bytes, &me(), NOW));
        assert!(why.contains("actualice el agente"), "{why}");
    }

    #[test]
    fn garbage_on_the_command_topic_is_ignored_not_a_panic() {
        for bytes in [&b""[..], b"\xff\xff\xff", b"verificar ahora"] {
            assert!(matches!(decide(bytes, &me(), NOW), Action::Ignore(_)), "{bytes:?}");
        }
        let mut other = encode_command(&command("pbx-02", NOW + 30_000));
        let last = other.len() - 1;
        other[last] = 7;
        assert!(matches!(decide(&other, &me(), NOW), Action::Ignore(_)), "an unreadable command for another agent");
    }

    #[test]
    fn a_refusal_is_signed_by_the_agent_that_refuses() {
        let r = refused(&me(), 42, NOW, "la orden venció".into());
        assert_eq!((r.request_id, r.agent_id.as_str(), r.replied_ms), (42, "pbx-01", NOW));
        assert_eq!(r.body, ReplyBody::Refused("la orden venció".into()));
    }

    #[test]
    fn a_sample_reply_takes_no_seq() {
        let env = Envelope {
            v: centinela_shared::WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 17,
            taken_ms: NOW,
            body: centinela_shared::Body::SampleV1(centinela_shared::SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: Default::default(),
                probes: vec![],
                readings: vec![],
            }),
        };
        let r = sample_reply(&me(), 42, NOW, env);
        let ReplyBody::Sample(env) = r.body else { panic!("a sample") };
        assert_eq!((r.request_id, env.seq), (42, 0));
    }
}
