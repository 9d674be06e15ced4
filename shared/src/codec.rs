//! Encoding and bounded decoding of everything in [`crate::sample`].
//!
//! Invariant: decoding never panics and never allocates in proportion to an attacker's claim; the
//! payload size is checked before postcard sees a byte, and any failure is a [`DecodeError`] value.

use crate::sample::{BirthMsg, Envelope, WIRE_VERSION};

/// The largest payload either side accepts. A sample with dozens of disks and filesystems is a few
/// KiB; anything near this bound is a bug or an attack, and is rejected before decoding.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("payload is {len} bytes, above the {max}-byte limit; it was not decoded")]
    TooLarge { len: usize, max: usize },
    #[error("payload is empty")]
    Empty,
    #[error("payload is not a valid postcard {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("payload has {0} unexpected trailing bytes after a complete {1}")]
    TrailingBytes(usize, &'static str),
    #[error(
        "envelope wire version {found} is not supported (this collector reads {supported}); upgrade the collector before the agents"
    )]
    UnsupportedVersion { found: u8, supported: u8 },
}

pub fn encode_envelope(envelope: &Envelope) -> Vec<u8> {
    // Serialising plain owned data into a Vec cannot fail: postcard only errors on a full buffer or
    // on serde types it cannot represent (maps with unknown length), neither of which exists here.
    postcard::to_stdvec(envelope).unwrap_or_default()
}

pub fn encode_birth(birth: &BirthMsg) -> Vec<u8> {
    postcard::to_stdvec(birth).unwrap_or_default()
}

/// Decodes a `T` from the start of `bytes` (at most `max` of them), returning what follows it.
pub(crate) fn decode_prefix<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
    max: usize,
) -> Result<(T, &'a [u8]), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.len() > max {
        return Err(DecodeError::TooLarge { len: bytes.len(), max });
    }
    postcard::take_from_bytes::<T>(bytes).map_err(|e| DecodeError::Malformed { what, reason: e.to_string() })
}

/// Decodes exactly one `T` from `bytes` (at most `max` of them).
pub(crate) fn decode_bounded<'a, T: serde::Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
    max: usize,
) -> Result<T, DecodeError> {
    let (value, rest) = decode_prefix(bytes, what, max)?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len(), what));
    }
    Ok(value)
}

/// Decodes a sample envelope, checking size, structure and wire version.
pub fn decode_envelope(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let env: Envelope = decode_bounded(bytes, "envelope", MAX_PAYLOAD_BYTES)?;
    if env.v != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: env.v, supported: WIRE_VERSION });
    }
    Ok(env)
}

/// Decodes a birth message.
pub fn decode_birth(bytes: &[u8]) -> Result<BirthMsg, DecodeError> {
    decode_bounded(bytes, "birth message", MAX_PAYLOAD_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::*;

    fn sample() -> Envelope {
        Envelope {
            v: WIRE_VERSION,
            agent: "pbx-01".into(),
            seq: 42,
            taken_ms: 1_790_000_000_000,
            body: Body::SampleV1(SampleV1 {
                agent_version: "0.1.0".into(),
                interval_ms: 10_000,
                outbox: OutboxStats { backlog: 3, dropped_total: 1 },
                probes: vec![ProbeReport { probe: "host".into(), outcome: Outcome::Ok, duration_us: 120 }],
                readings: vec![Reading::FilesystemV1(FilesystemV1 {
                    mount_point: "/var/spool/asterisk".into(),
                    device: "/dev/md1".into(),
                    fs_type: "ext4".into(),
                    total_bytes: 1000,
                    available_bytes: 100,
                    read_only: false,
                })],
            }),
        }
    }

    #[test]
    fn an_envelope_survives_a_round_trip() {
        let env = sample();
        assert_eq!(decode_envelope(&encode_envelope(&env)), Ok(env));
    }

    #[test]
    fn every_truncation_of_a_valid_envelope_is_an_error_not_a_panic() {
        let bytes = encode_envelope(&sample());
        for cut in 0..bytes.len() {
            assert!(decode_envelope(&bytes[..cut]).is_err(), "prefix of {cut} bytes decoded");
        }
    }

    #[test]
    fn an_oversized_payload_is_refused_before_decoding() {
        let bytes = vec![0u8; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(
            decode_envelope(&bytes),
            Err(DecodeError::TooLarge { len: MAX_PAYLOAD_BYTES + 1, max: MAX_PAYLOAD_BYTES })
        );
    }

    #[test]
    fn trailing_garbage_after_an_envelope_is_refused() {
        let mut bytes = encode_envelope(&sample());
        bytes.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode_envelope(&bytes), Err(DecodeError::TrailingBytes(3, "envelope")));
    }

    #[test]
    fn an_unknown_wire_version_names_the_upgrade_order() {
        let mut env = sample();
        env.v = 9;
        let err = decode_envelope(&encode_envelope(&env)).unwrap_err();
        assert_eq!(err, DecodeError::UnsupportedVersion { found: 9, supported: WIRE_VERSION });
        assert!(err.to_string().contains("upgrade the collector"));
    }

    #[test]
    fn random_bytes_never_panic_the_decoder() {
        // A small xorshift generator keeps this deterministic without a dependency.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let bytes: Vec<u8> = (0..len % 300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode_envelope(&bytes);
            let _ = decode_birth(&bytes);
        }
        // A huge claimed string length inside a tiny payload is an error, not an allocation.
        assert!(decode_envelope(&[1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]).is_err());
    }
}
