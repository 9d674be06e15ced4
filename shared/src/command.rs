//! Commands from the collector to one agent, and the agent's replies, correlated by request id:
//! [`CommandV1`] on `centinela/v1/<agent>/cmd`, [`ReplyV1`] on `centinela/v1/<agent>/reply`.
//!
//! Invariants:
//! - The wire rules of [`crate::sample`] hold: fields never move, and [`CommandKind`] and
//!   [`ReplyBody`] only ever get variants appended (see `tests/golden.rs`).
//! - Every command starts with the four fields of [`CommandHeader`] and ends with its kind, so an
//!   agent older than the collector can still read who asked, and refuse a kind it does not know
//!   instead of leaving the collector waiting for its timeout.
//! - A command carries its deadline (`expires_ms`, on the collector's clock): an agent never runs
//!   one past it, since a broker may deliver a command long after it was sent.
//! - Decoding is bounded like [`crate::codec`]: a command above [`MAX_COMMAND_BYTES`], a reply
//!   above [`MAX_REPLY_BYTES`] is refused before postcard sees a byte; a reply carrying a sample is
//!   held to [`MAX_PAYLOAD_BYTES`], as the sample on its own topic is.
//! - A recording crosses the wire only in pieces of at most [`MAX_CHUNK_BYTES`], each asked for on
//!   its own ([`CommandKind::RecordingChunk`]): no message ever holds a whole recording, and a reply
//!   stays far below the 1 MiB MQTT packet limit of both sides.

use crate::codec::{DecodeError, MAX_PAYLOAD_BYTES, decode_bounded, decode_prefix};
use crate::sample::{Body, Envelope, WIRE_VERSION};
use serde::{Deserialize, Serialize};

/// The largest command either side accepts. A command is a few dozen bytes; later kinds carry at
/// most a path and an offset.
pub const MAX_COMMAND_BYTES: usize = 4 * 1024;

/// The most recording data one [`ReplyBody::Chunk`] carries; an agent clamps a larger
/// `max_len` to it.
pub const MAX_CHUNK_BYTES: u32 = 256 * 1024;

/// The largest reply either side accepts: a full chunk and its framing (a few dozen bytes and the
/// content type), with room to spare. A quarter of the MQTT packet limit (1 MiB).
pub const MAX_REPLY_BYTES: usize = MAX_CHUNK_BYTES as usize + 8 * 1024;

/// One message on `centinela/v1/<agent>/cmd`, published by the collector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandV1 {
    /// Chosen by the collector, unique among its pending commands; the reply carries it back.
    pub request_id: u64,
    /// The agent the command is for, the same as in the topic.
    pub agent_id: String,
    /// When the collector sent it, milliseconds since the Unix epoch (UTC).
    pub issued_ms: i64,
    /// After this instant (by the agent's clock) the command is refused, not run: the collector
    /// has stopped waiting for it.
    pub expires_ms: i64,
    /// What to do. Last field, see the module invariants.
    pub kind: CommandKind,
}

/// What a command asks for. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandKind {
    /// Run every probe now and reply with the full sample ("verificar ahora").
    VerifyNow,
    /// Read at most `max_len` bytes (clamped to [`MAX_CHUNK_BYTES`]) of a call recording from
    /// `offset`, answered with [`ReplyBody::Chunk`] or [`ReplyBody::RecordingRefused`].
    RecordingChunk {
        /// The CDR row's `recordingfile` as the PBX wrote it: a bare file name (FreePBX, under
        /// `YYYY/MM/DD/` of the call's date) or a path; the agent decides whether it may be read.
        recordingfile: String,
        /// The CDR row's `calldate` as shipped ("2026-11-27 09:51:38"), for the dated directory.
        calldate: String,
        offset: u64,
        max_len: u32,
    },
}

/// The fields every command starts with, readable from a command whose kind this build does not
/// know ([`decode_command_header`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandHeader {
    pub request_id: u64,
    pub agent_id: String,
    pub issued_ms: i64,
    pub expires_ms: i64,
}

/// One message on `centinela/v1/<agent>/reply`, published by the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyV1 {
    /// The [`CommandV1::request_id`] this answers.
    pub request_id: u64,
    /// The agent that answers, the same as in the topic.
    pub agent_id: String,
    /// When the agent sent the reply, milliseconds since the Unix epoch (UTC).
    pub replied_ms: i64,
    pub body: ReplyBody,
}

/// What the agent answers. Append-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ReplyBody {
    /// [`CommandKind::VerifyNow`]: the full sample, built exactly like a periodic one (every probe,
    /// every reading, the outbox of that moment), with `seq` 0: it is not part of the periodic
    /// series, which starts at 1 (the collector refuses seq 0 on the sample topic).
    Sample(Envelope),
    /// The command was not run; why, in words the collector shows to people (expired, meant for
    /// another agent, a kind this agent does not know).
    Refused(String),
    /// [`CommandKind::RecordingChunk`]: `data` is the recording's bytes from `offset` (empty at or
    /// past the end); `total_len` is the whole file's size, `content_type` its media type.
    Chunk { total_len: u64, offset: u64, data: Vec<u8>, content_type: String },
    /// [`CommandKind::RecordingChunk`] not answered: what kind of refusal (so the collector can
    /// say 404 or 413), and why in Spanish, for people.
    RecordingRefused { refusal: RecordingRefusal, why: String },
}

/// Why an agent does not hand out a recording. Append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordingRefusal {
    /// The agent has no `[recordings]` section, or its directory is not there.
    NotConfigured,
    /// No such file where the agent looked.
    NotFound,
    /// The file is bigger than the agent's `recordings.max_bytes`.
    TooLarge { total_len: u64, max_bytes: u64 },
    /// The name may not be read: it leaves the recordings directory, is not a regular file, or is
    /// not an audio type the agent serves.
    NotAllowed,
}

pub fn encode_command(command: &CommandV1) -> Vec<u8> {
    // As `encode_envelope`: serialising plain owned data into a Vec cannot fail.
    postcard::to_stdvec(command).unwrap_or_default()
}

pub fn encode_reply(reply: &ReplyV1) -> Vec<u8> {
    postcard::to_stdvec(reply).unwrap_or_default()
}

/// Decodes a command, checking its size and structure. A kind this build does not know is
/// `Malformed`; [`decode_command_header`] still reads who asked.
pub fn decode_command(bytes: &[u8]) -> Result<CommandV1, DecodeError> {
    decode_bounded(bytes, "command", MAX_COMMAND_BYTES)
}

/// Reads only the fields every command starts with, ignoring what follows.
pub fn decode_command_header(bytes: &[u8]) -> Result<CommandHeader, DecodeError> {
    decode_prefix(bytes, "command header", MAX_COMMAND_BYTES).map(|(header, _rest)| header)
}

/// Decodes a reply, checking its size, structure and the wire version of a sample it carries.
pub fn decode_reply(bytes: &[u8]) -> Result<ReplyV1, DecodeError> {
    let reply: ReplyV1 = decode_bounded(bytes, "reply", MAX_REPLY_BYTES)?;
    if let ReplyBody::Sample(env) = &reply.body {
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_PAYLOAD_BYTES });
        }
        if env.v != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion { found: env.v, supported: WIRE_VERSION });
        }
    }
    Ok(reply)
}

impl ReplyV1 {
    /// The sample's body when this is a [`ReplyBody::Sample`] of a periodic-style sample.
    pub fn sample(&self) -> Option<&crate::sample::SampleV1> {
        match &self.body {
            ReplyBody::Sample(Envelope { body: Body::SampleV1(s), .. }) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::*;

    fn command() -> CommandV1 {
        CommandV1 {
            request_id: 0xDEAD_BEEF_0000_0001,
            agent_id: "pbx-01".into(),
            issued_ms: 1_795_000_000_000,
            expires_ms: 1_795_000_030_000,
            kind: CommandKind::VerifyNow,
        }
    }

    fn reply(body: ReplyBody) -> ReplyV1 {
        ReplyV1 { request_id: 7, agent_id: "pbx-01".into(), replied_ms: 1_795_000_001_000, body }
    }

    fn envelope() -> Envelope {
        Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 0,
            taken_ms: 1_795_000_000_500,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats::default(),
                probes: vec![ProbeReport { probe: "host".into(), outcome: Outcome::Ok, duration_us: 90 }],
                readings: vec![],
            }),
        }
    }

    #[test]
    fn a_command_and_both_kinds_of_reply_survive_a_round_trip() {
        assert_eq!(decode_command(&encode_command(&command())), Ok(command()));
        let sample = reply(ReplyBody::Sample(envelope()));
        assert_eq!(decode_reply(&encode_reply(&sample)), Ok(sample.clone()));
        assert_eq!(sample.sample().map(|s| s.probes.len()), Some(1));
        let refused = reply(ReplyBody::Refused("la orden venció".into()));
        assert_eq!(decode_reply(&encode_reply(&refused)), Ok(refused.clone()));
        assert_eq!(refused.sample(), None);
    }

    #[test]
    fn the_header_of_a_command_of_an_unknown_kind_is_still_readable() {
        let mut bytes = encode_command(&command());
        // The kind is the last field: replace its variant index with one no build knows yet.
        let last = bytes.len() - 1;
        bytes[last] = 99;
        assert!(matches!(decode_command(&bytes), Err(DecodeError::Malformed { what: "command", .. })));
        let h = decode_command_header(&bytes).unwrap();
        assert_eq!(
            (h.request_id, h.agent_id.as_str(), h.expires_ms),
            (0xDEAD_BEEF_0000_0001, "pbx-01", 1_795_000_030_000)
        );
    }

    #[test]
    fn oversized_empty_or_truncated_commands_and_replies_are_errors_not_panics() {
        let big = vec![0u8; MAX_COMMAND_BYTES + 1];
        assert_eq!(
            decode_command(&big),
            Err(DecodeError::TooLarge { len: MAX_COMMAND_BYTES + 1, max: MAX_COMMAND_BYTES })
        );
        assert_eq!(
            decode_command_header(&big).unwrap_err(),
            DecodeError::TooLarge { len: MAX_COMMAND_BYTES + 1, max: MAX_COMMAND_BYTES }
        );
        assert_eq!(decode_command(&[]), Err(DecodeError::Empty));
        let bytes = encode_command(&command());
        for cut in 0..bytes.len() {
            assert!(decode_command(&bytes[..cut]).is_err(), "command prefix of {cut} bytes decoded");
        }
        let bytes = encode_reply(&reply(ReplyBody::Sample(envelope())));
        for cut in 0..bytes.len() {
            assert!(decode_reply(&bytes[..cut]).is_err(), "reply prefix of {cut} bytes decoded");
        }
        let mut trailing = encode_command(&command());
        trailing.push(0);
        assert_eq!(decode_command(&trailing), Err(DecodeError::TrailingBytes(1, "command")));
    }

    #[test]
    fn a_reply_carrying_a_sample_of_an_unknown_wire_version_is_refused() {
        let mut env = envelope();
        env.v = 9;
        let err = decode_reply(&encode_reply(&reply(ReplyBody::Sample(env)))).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { found: 9, supported: WIRE_VERSION });
    }

    fn chunk_command() -> CommandV1 {
        CommandV1 {
            kind: CommandKind::RecordingChunk {
                recordingfile: "in-5000-2125550101-20261127-095138-1795773098.0.wav".into(),
                calldate: "2026-11-27 09:51:38".into(),
                offset: 3 * u64::from(MAX_CHUNK_BYTES),
                max_len: MAX_CHUNK_BYTES,
            },
            ..command()
        }
    }

    #[test]
    fn a_recording_chunk_command_and_its_replies_survive_a_round_trip() {
        assert_eq!(decode_command(&encode_command(&chunk_command())), Ok(chunk_command()));
        let full = reply(ReplyBody::Chunk {
            total_len: 1_000_044,
            offset: 0,
            data: (0..MAX_CHUNK_BYTES).map(|i| i as u8).collect(),
            content_type: "audio/wav".into(),
        });
        let bytes = encode_reply(&full);
        assert!(bytes.len() <= MAX_REPLY_BYTES, "a full chunk fits a reply: {} bytes", bytes.len());
        assert_eq!(decode_reply(&bytes), Ok(full));
        let refused = reply(ReplyBody::RecordingRefused {
            refusal: RecordingRefusal::TooLarge { total_len: 70_000_000, max_bytes: 64 << 20 },
            why: "la grabación es demasiado grande".into(),
        });
        assert_eq!(decode_reply(&encode_reply(&refused)), Ok(refused.clone()));
        assert_eq!(refused.sample(), None);
        for cut in 0..encode_command(&chunk_command()).len() {
            assert!(decode_command(&encode_command(&chunk_command())[..cut]).is_err());
        }
    }

    #[test]
    fn a_chunk_reply_may_exceed_the_sample_limit_but_a_sample_reply_may_not() {
        let chunk = reply(ReplyBody::Chunk {
            total_len: 1 << 30,
            offset: 0,
            data: vec![7; MAX_PAYLOAD_BYTES],
            content_type: "audio/wav".into(),
        });
        assert!(decode_reply(&encode_reply(&chunk)).is_ok());
        let mut env = envelope();
        let Body::SampleV1(s) = &mut env.body else { unreachable!() };
        s.agent_version = "x".repeat(MAX_PAYLOAD_BYTES);
        let bytes = encode_reply(&reply(ReplyBody::Sample(env)));
        assert_eq!(decode_reply(&bytes), Err(DecodeError::TooLarge { len: bytes.len(), max: MAX_PAYLOAD_BYTES }));
        let huge = vec![0u8; MAX_REPLY_BYTES + 1];
        assert_eq!(decode_reply(&huge), Err(DecodeError::TooLarge { len: MAX_REPLY_BYTES + 1, max: MAX_REPLY_BYTES }));
    }

    #[test]
    fn random_bytes_never_panic_the_command_and_reply_decoders() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 200)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_command(&bytes);
            let _ = decode_command_header(&bytes);
            let _ = decode_reply(&bytes);
        }
    }
}
