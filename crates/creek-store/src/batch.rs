//! Kafka RecordBatch v2 headers: parsing, validation and the in-place offset patch.
//!
//! The log stores batches byte-for-byte as producers sent them; only the
//! `baseOffset` and `partitionLeaderEpoch` fields are rewritten, and those sit
//! outside the CRC, so a fetch can hand the stored bytes straight back.

use crate::error::LogError;

/// Size of the fixed RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before the `batchLength` field counts (baseOffset + batchLength).
pub const LOG_OVERHEAD: usize = 12;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;

/// The fixed header of one RecordBatch v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Total size of the batch in bytes, including the 12-byte log overhead.
    pub size: usize,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes(b[at..at + 2].try_into().unwrap())
}

impl BatchHeader {
    /// Parses the header at the start of `buf`. Only the fixed header must be present.
    pub fn parse(buf: &[u8]) -> Result<Self, LogError> {
        if buf.len() < HEADER_LEN {
            return Err(LogError::CorruptRecord(format!(
                "record batch header needs {HEADER_LEN} bytes, got {}",
                buf.len()
            )));
        }
        let magic = buf[MAGIC] as i8;
        if magic != 2 {
            return Err(LogError::UnsupportedMessageFormat(magic));
        }
        let batch_length = be_i32(buf, BATCH_LENGTH);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(LogError::CorruptRecord(format!(
                "record batch length {batch_length} is shorter than its header"
            )));
        }
        let header = BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET),
            size: batch_length as usize + LOG_OVERHEAD,
            magic,
            crc: u32::from_be_bytes(buf[CRC..CRC + 4].try_into().unwrap()),
            attributes: be_i16(buf, ATTRIBUTES),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP),
            producer_id: be_i64(buf, PRODUCER_ID),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH),
            base_sequence: be_i32(buf, BASE_SEQUENCE),
            record_count: be_i32(buf, RECORD_COUNT),
        };
        if header.last_offset_delta < 0 || header.record_count < 0 {
            return Err(LogError::CorruptRecord(format!(
                "record batch has negative lastOffsetDelta {} or record count {}",
                header.last_offset_delta, header.record_count
            )));
        }
        Ok(header)
    }

    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// Number of offsets the batch occupies.
    pub fn offset_count(&self) -> i64 {
        self.last_offset_delta as i64 + 1
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_LOG_APPEND_TIME != 0
    }

    /// Sequence number of the last record (sequences wrap at i32::MAX like Kafka's).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = self.base_sequence as i64 + self.last_offset_delta as i64;
        if last > i32::MAX as i64 {
            (last - i32::MAX as i64 - 1) as i32
        } else {
            last as i32
        }
    }
}

/// Checks the CRC-32C over `attributes..end` of a complete batch.
pub fn crc_matches(batch: &[u8], header: &BatchHeader) -> bool {
    batch.len() >= header.size && crc32c::crc32c(&batch[ATTRIBUTES..header.size]) == header.crc
}

/// Rewrites the broker-owned fields (base offset, leader epoch) of a batch in place.
pub fn assign_offset(batch: &mut [u8], base_offset: i64) {
    let fields = broker_fields(base_offset, batch_length(batch));
    batch[..LOG_OVERHEAD + 4].copy_from_slice(&fields);
}

fn batch_length(batch: &[u8]) -> i32 {
    be_i32(batch, BATCH_LENGTH)
}

/// The first 16 bytes of a stored batch: base offset, batch length, leader epoch (0).
pub fn broker_fields(base_offset: i64, batch_length: i32) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    out[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    out[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&0i32.to_be_bytes());
    out
}

/// Splits a produce payload into its batches, validating length, magic and CRC of each.
pub fn validate_batches(data: &[u8]) -> Result<Vec<BatchHeader>, LogError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let header = BatchHeader::parse(rest)?;
        if rest.len() < header.size {
            return Err(LogError::CorruptRecord(format!(
                "record batch claims {} bytes but only {} were sent",
                header.size,
                rest.len()
            )));
        }
        if !crc_matches(rest, &header) {
            return Err(LogError::CorruptRecord(
                "record batch CRC does not match its contents".into(),
            ));
        }
        if header.record_count == 0 || header.record_count as i64 > header.offset_count() {
            return Err(LogError::InvalidRecord(format!(
                "record batch has {} records for lastOffsetDelta {}",
                header.record_count, header.last_offset_delta
            )));
        }
        batches.push(header);
        pos += header.size;
    }
    if batches.is_empty() {
        return Err(LogError::InvalidRecord(
            "produce request carried no record batch".into(),
        ));
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::encode_batch;

    #[test]
    fn parses_and_validates_a_client_batch() {
        let batch = encode_batch(&["a", "b", "c"], 1000, Some((7, 0, 5)));
        let headers = validate_batches(&batch).unwrap();
        assert_eq!(headers.len(), 1);
        let h = headers[0];
        assert_eq!(h.size, batch.len());
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.producer_id, 7);
        assert_eq!(h.base_sequence, 5);
        assert_eq!(h.last_sequence(), 7);
        assert_eq!(h.max_timestamp, 1002);
    }

    #[test]
    fn offset_patch_keeps_crc_valid() {
        let mut batch = encode_batch(&["x"], 1, None);
        assign_offset(&mut batch, 12345);
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.base_offset, 12345);
        assert!(crc_matches(&batch, &h));
    }

    #[test]
    fn rejects_corruption_and_truncation() {
        let mut batch = encode_batch(&["hello"], 1, None);
        let n = batch.len();
        assert!(validate_batches(&batch[..n - 1]).is_err());
        batch[n - 1] ^= 0xff;
        assert!(matches!(
            validate_batches(&batch),
            Err(LogError::CorruptRecord(_))
        ));
        assert!(validate_batches(&[]).is_err());
        let mut old = encode_batch(&["x"], 1, None);
        old[MAGIC] = 1;
        assert!(matches!(
            validate_batches(&old),
            Err(LogError::UnsupportedMessageFormat(1))
        ));
    }

    #[test]
    fn sequence_wraps_like_kafka() {
        let mut batch = encode_batch(&["a", "b"], 1, Some((1, 0, 0)));
        batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(h.last_sequence(), 0);
    }
}
