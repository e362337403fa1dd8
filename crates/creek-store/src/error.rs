//! Log errors. Each maps onto the Kafka error code a real broker would return.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LogError {
    #[error("unknown topic or partition: {0}")]
    UnknownTopicOrPartition(String),
    #[error("topic '{0}' already exists")]
    TopicAlreadyExists(String),
    #[error("invalid topic name: {0}")]
    InvalidTopic(String),
    #[error("invalid partition count: {0}")]
    InvalidPartitions(String),
    #[error("invalid replication factor: {0}")]
    InvalidReplicationFactor(String),
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    #[error("offset {offset} is out of range [{start}, {end}]")]
    OffsetOutOfRange { offset: i64, start: i64, end: i64 },
    #[error("corrupt record batch: {0}")]
    CorruptRecord(String),
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    #[error("record batch magic {0} is not supported; only v2 record batches are")]
    UnsupportedMessageFormat(i8),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: usize },
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error("producer {producer_id} epoch {epoch} is fenced by epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("transactions are not supported yet")]
    TransactionsNotSupported,
    #[error("topic '{0}' is being deleted")]
    TopicDeleted(String),
    /// A group member's round is over (the coordinator answered
    /// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or REBALANCE_IN_PROGRESS): what it
    /// was assigned may belong to another member now, so it must not commit.
    #[error("group {group}: {reason}; this member rejoins before it commits again")]
    GroupFenced { group: String, reason: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl LogError {
    /// The Kafka protocol error code for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            LogError::UnknownTopicOrPartition(_) | LogError::TopicDeleted(_) => 3,
            LogError::TopicAlreadyExists(_) => 36,
            LogError::InvalidTopic(_) => 17,
            LogError::InvalidPartitions(_) => 37,
            LogError::InvalidReplicationFactor(_) => 38,
            LogError::InvalidConfig(_) => 40,
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::CorruptRecord(_) => 2,
            LogError::InvalidRecord(_) => 87,
            LogError::UnsupportedMessageFormat(_) => 43,
            LogError::RecordTooLarge { .. } => 10,
            LogError::OutOfOrderSequence { .. } => 45,
            LogError::InvalidProducerEpoch { .. } => 47,
            LogError::TransactionsNotSupported => 35,
            LogError::GroupFenced { .. } => 22, // ILLEGAL_GENERATION
            LogError::Io(_) => 56,              // KAFKA_STORAGE_ERROR
        }
    }
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;
