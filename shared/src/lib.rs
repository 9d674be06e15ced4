//! Centinela's wire contract: what an agent sends and how a collector reads it.
//!
//! Invariants:
//! - No I/O and no async runtime here; both sides compile this crate as is.
//! - Every struct and enum that crosses the wire is postcard-encoded, so fields are never
//!   reordered, removed or inserted, and enum variants are only ever appended (see
//!   `tests/golden.rs`, which decodes bytes produced by earlier releases).
//! - Every topic is built and parsed in [`topic`]; no other module formats a topic string.

pub mod cdr;
pub mod codec;
pub mod command;
pub mod sample;
pub mod topic;

pub use cdr::{CdrBatchV1, CdrRowV1, QueueLogBatchV1, QueueLogEntryV1, ROW_KEY_LEN};
pub use codec::{DecodeError, MAX_PAYLOAD_BYTES, decode_birth, decode_envelope, encode_birth, encode_envelope};
pub use command::{
    CommandHeader, CommandKind, CommandV1, MAX_CHUNK_BYTES, MAX_COMMAND_BYTES, MAX_REPLY_BYTES, RecordingRefusal,
    ReplyBody, ReplyV1, decode_command, decode_command_header, decode_reply, encode_command, encode_reply,
};
pub use sample::*;
pub use topic::{AgentId, AgentIdError, Presence, Topic, TopicKind};
