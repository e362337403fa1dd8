//! The records and descriptions that cross the log interface.

use bytes::Bytes;

/// A record to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Creation time in ms since the epoch; `None` means now.
    pub timestamp: Option<i64>,
}

/// An idempotent producer's identity and the sequence number of a batch's first
/// record: a retried batch with the same sequences is recognised and not appended twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSequence {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// A record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A record read back, appended again as it was (its timestamp kept).
impl From<ConsumerRecord> for ProducerRecord {
    fn from(r: ConsumerRecord) -> Self {
        ProducerRecord {
            key: r.key,
            value: r.value,
            headers: r.headers,
            timestamp: Some(r.timestamp),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: i32,
    pub internal: bool,
    /// (name, value, is_default)
    pub configs: Vec<(String, String, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// First offset with a timestamp at or after this one.
    Timestamp(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    pub records: Vec<ConsumerRecord>,
    pub high_watermark: i64,
}
