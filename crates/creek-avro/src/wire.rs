//! The Confluent wire format of a schema-registry-encoded Kafka key or value:
//! magic byte 0, the schema id as a 4-byte big-endian integer, then the Avro body.

use thiserror::Error;

/// The first byte of every framed payload.
pub const MAGIC: u8 = 0;
/// Magic byte plus schema id.
pub const HEADER_LEN: usize = 5;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WireError {
    #[error("payload of {0} bytes is too short for the Confluent wire format (5-byte header)")]
    TooShort(usize),
    #[error("unknown magic byte {0}; Confluent-framed payloads start with 0")]
    UnknownMagic(u8),
}

/// Appends `avro_body` framed with `id` to `out`.
pub fn frame(id: i32, avro_body: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN + avro_body.len());
    put_header(id, out);
    out.extend_from_slice(avro_body);
}

/// Appends the header for schema `id`; the Avro body is written after it.
#[inline]
pub fn put_header(id: i32, out: &mut Vec<u8>) {
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
}

/// Splits a framed payload into its schema id and Avro body.
pub fn split(payload: &[u8]) -> Result<(i32, &[u8]), WireError> {
    if payload.len() < HEADER_LEN {
        return Err(WireError::TooShort(payload.len()));
    }
    if payload[0] != MAGIC {
        return Err(WireError::UnknownMagic(payload[0]));
    }
    let id = i32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]);
    Ok((id, &payload[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_then_split() {
        let mut out = vec![0xAA];
        frame(258, b"body", &mut out);
        assert_eq!(&out[..6], &[0xAA, 0, 0, 0, 1, 2]);
        assert_eq!(split(&out[1..]).unwrap(), (258, &b"body"[..]));
        assert_eq!(split(&[0, 0, 0, 0, 7]).unwrap(), (7, &[][..]));
        assert_eq!(split(&[0, 1]), Err(WireError::TooShort(2)));
        assert_eq!(split(&[1, 0, 0, 0, 1]), Err(WireError::UnknownMagic(1)));
    }
}
