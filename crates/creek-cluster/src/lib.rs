//! creek-cluster: creek's log interface (`creek_store::LogStore`) on an external
//! Kafka cluster (Apache Kafka, Confluent Cloud, Redpanda, …) reached as a client
//! through rdkafka (librdkafka), so the Schema Registry, Connect and the SQL
//! engine can keep their data there instead of in creek's embedded log.
//!
//! Principal types and how data flows through them:
//!
//! - [`ClusterConfig`]: the bootstrap servers, client properties under Kafka's own
//!   names (security, SASL, TLS…; checked by librdkafka when the config is made,
//!   secrets masked when it is printed), the replication factor of topics creek
//!   creates and the timeout of every call.
//! - [`ClusterLog`] implements `LogStore` with four kinds of clients made from
//!   that config:
//!   - an `AdminClient` creates, deletes, grows and describes topics; after a
//!     change it waits until the brokers' metadata shows it, as the embedded log's
//!     callers expect the topic usable once the call returns;
//!   - one idempotent `FutureProducer` (acks=all) appends records in order to the
//!     partition they name; `produce_batch` decodes creek's RecordBatch and
//!     produces its records;
//!   - readers: group-less consumers, one partition each, kept in a pool between
//!     calls. A fetch takes the reader that continues at its offset (or moves one
//!     there), hands out what the consumer has prefetched, and otherwise waits for
//!     the next message up to `max_wait`; `wait_for_records` waits on several
//!     readers at once and leaves the message that woke it in its reader for the
//!     next fetch. End-of-partition events tell a reader it has seen everything;
//!   - a group-less consumer for metadata, watermarks and timestamp lookups, and
//!     one consumer per group that commits and reads the group's offsets without
//!     joining it.
//! - Kafka errors become `creek_store::LogError`s with the Kafka code; a cluster
//!   that does not answer fails the call within the configured timeout with an
//!   error naming `bootstrap.servers` and what to check.
//!
//! Batches carrying a creek producer id are refused ("not supported yet"):
//! librdkafka keeps its own idempotent producer id, so `init_producer_id` offers
//! none and sources append plain batches (at least once, as Connect's default).

mod config;
mod error;
mod group;
mod produce;
mod reader;
mod retry;
mod store;
mod transaction;

pub use config::{is_secret, ClusterConfig, DEFAULT_TIMEOUT};
pub use store::ClusterLog;
