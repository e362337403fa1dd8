//! creek-log: the embedded, durable commit log under every other creek service.
//!
//! Principal types and how data flows through them:
//!
//! - [`Log`] owns a data directory: a registry of [`Topic`]s, the consumer-group
//!   offset journal and the idempotent-producer id counter.
//! - A [`Topic`] has an id, a [`TopicConfig`] (Kafka's topic config names) and N
//!   [`Partition`]s.
//! - A [`Partition`] is a run of segments (`<base>.log` + `.index` + `.timeindex`).
//!   [`Partition::append`] takes the RecordBatch v2 bytes a producer sent, checks
//!   their CRC, de-duplicates idempotent retries, assigns offsets in place and writes
//!   them as they are; [`Partition::read`] returns the same bytes to a consumer, so
//!   neither side re-encodes.
//! - [`LogStore`] is the narrow interface the rest of creek (connectors, SQL) uses:
//!   produce / fetch / offsets / topic admin / group offsets. [`EmbeddedLog`]
//!   implements it over [`Log`]; an external-Kafka implementation can sit beside it.
//!
//! Durability: a produce is acknowledged only after its bytes were written to the
//! segment file (so a killed process loses nothing acknowledged); fsync happens per
//! batch or on an interval ([`FlushPolicy`]). On open, the active segment's tail is
//! CRC-checked and a torn or corrupt tail is truncated; missing indexes are rebuilt.

pub mod batch;
mod builder;
pub mod config;
pub mod error;
mod groups;
mod log;
mod partition;
mod segment;
pub mod store;

pub use builder::BatchBuilder;
pub use config::{FlushPolicy, LogConfig, TopicConfig};
pub use error::{LogError, Result};
pub use groups::CommittedOffset;
pub use log::{Log, Topic, MAX_PARTITIONS};
pub use partition::{AppendResult, FetchedSlice, Partition};
pub use store::{
    ConsumerRecord, EmbeddedLog, FetchResult, LogStore, OffsetSpec, ProducerRecord,
    ProducerSequence, TopicDescription,
};

/// Wall-clock milliseconds since the Unix epoch, the unit of Kafka timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
