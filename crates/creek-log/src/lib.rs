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
//! - [`EmbeddedLog`] implements creek-store's `LogStore` (the interface connectors,
//!   the registry and SQL use) over [`Log`]; an external-Kafka implementation can sit
//!   beside it. Record batches are parsed and validated with creek-store's `batch`.
//!
//! Durability: a produce is acknowledged only after its bytes were written to the
//! segment file (so a killed process loses nothing acknowledged); fsync happens per
//! batch or on an interval ([`FlushPolicy`]). On open, the active segment's tail is
//! CRC-checked and a torn or corrupt tail is truncated; missing indexes are rebuilt.

pub mod config;
mod groups;
mod log;
mod partition;
mod segment;
pub mod store;

pub use config::{FlushPolicy, LogConfig, TopicConfig};
pub use groups::CommittedOffset;
pub use log::{Log, Topic, MAX_PARTITIONS};
pub use partition::{AppendResult, FetchedSlice, Partition};
pub use store::EmbeddedLog;

// The log's errors and clock are the log interface's (creek-store), which the
// broker reaches through this crate.
pub use creek_store::{now_ms, LogError, Result};
