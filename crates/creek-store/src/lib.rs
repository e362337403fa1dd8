//! creek-store: the log interface the rest of creek is written against.
//!
//! Principal types and how data flows through them:
//!
//! - [`LogStore`] is what Connect, the Schema Registry and the SQL engine need from a
//!   log: create and describe topics, append ([`ProducerRecord`]s, or a whole
//!   RecordBatch built by [`BatchBuilder`], idempotent when it carries a
//!   [`ProducerSequence`]), read from an offset ([`FetchResult`] of
//!   [`ConsumerRecord`]s, long-polling up to a deadline), wait for records on several
//!   partitions at once ([`LogStore::wait_for_records`]: no sleep loops), replay a
//!   partition to its end ([`LogStore::read_to_end`]), resolve offsets
//!   ([`OffsetSpec`]) and keep committed offsets per consumer group.
//! - [`TransactionalProducer`] (from [`LogStore::transactional_producer`]) appends to
//!   several partitions and commits consumer offsets as one Kafka transaction:
//!   everything becomes visible at `commit`, or nothing. A log without transactions
//!   answers [`LogError::TransactionsNotSupported`].
//! - [`group`]: Kafka's group membership ([`LogStore::join_group`]), how several
//!   workers on one cluster share connectors, tasks and query partitions.
//! - [`codec`] turns records into Kafka's RecordBatch v2 and back; [`batch`] parses
//!   and validates batch headers (what a broker checks before it stores a batch).
//! - [`LogError`] carries the Kafka error code of each failure.
//! - [`InternalTopic`]: a topic a service keeps its state in, declared by the service
//!   and created before it opens ([`ensure_topics`] creates several at once).
//!
//! creek's embedded log (`creek-log`'s `EmbeddedLog`) implements the trait; a Kafka
//! cluster reached as a client can implement it beside it, and its users do not
//! change.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::time::Instant;

pub mod batch;
mod builder;
pub mod codec;
pub mod error;
pub mod group;
mod record;
pub mod testing;
mod topics;

pub use builder::BatchBuilder;
pub use codec::{decode_records, encode_records};
pub use error::{LogError, Result};
pub use record::{
    ConsumerRecord, FetchResult, OffsetSpec, ProducerRecord, ProducerSequence, TopicDescription,
};
pub use topics::{ensure_topics, InternalTopic};

/// Wall-clock milliseconds since the Unix epoch, the unit of Kafka timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[async_trait]
pub trait LogStore: Send + Sync + 'static {
    async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<()>;
    async fn delete_topic(&self, name: &str) -> Result<()>;
    async fn create_partitions(&self, name: &str, total: i32) -> Result<()>;
    async fn list_topics(&self) -> Result<Vec<TopicDescription>>;
    async fn describe_topic(&self, name: &str) -> Result<TopicDescription>;
    /// Appends records to one partition; returns the offset of the first.
    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<i64>;
    /// A new idempotent producer id (Kafka's InitProducerId) for batches whose
    /// sequence numbers the caller chooses, so that a batch replayed after a crash
    /// is recognised as a duplicate. `None` when this log cannot deduplicate by a
    /// caller's sequence (an external cluster, whose client keeps its own producer
    /// id): the caller then appends plain batches, delivered at least once.
    async fn init_producer_id(&self) -> Result<Option<i64>>;
    /// Appends one pre-built RecordBatch v2 (see [`crate::BatchBuilder`]); idempotent
    /// when the batch carries a producer id. Returns the batch's first offset.
    async fn produce_batch(&self, topic: &str, partition: i32, batch: Bytes) -> Result<i64>;
    /// Reads records from `offset`, waiting up to `max_wait` for some to arrive.
    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Result<FetchResult>;
    /// Resolves an offset spec; `None` when no record matches a timestamp.
    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>>;
    async fn commit_offsets(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()>;
    async fn committed_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>>;
    /// Waits until any of `positions` (partition, next offset to read) of `topic`
    /// has a record at or after its offset, or until `deadline`; returns whether
    /// data is there. This is the wake-up a consumer of several partitions waits on
    /// instead of polling with sleeps: it returns within microseconds of an append.
    async fn wait_for_records(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        deadline: Instant,
    ) -> Result<bool>;

    /// Joins `request.group` as a new member. On a cluster the rounds go through
    /// its group coordinator, so processes sharing the cluster share the work; a
    /// log no other process shares has groups of one ([`group::SoloMember`]).
    async fn join_group(
        &self,
        request: group::JoinRequest,
        assignor: std::sync::Arc<dyn group::Assignor>,
    ) -> Result<std::sync::Arc<dyn group::GroupMember>> {
        Ok(std::sync::Arc::new(group::SoloMember::new(
            &request.client_id,
            assignor,
        )))
    }

    /// A producer for Kafka transactions under `transactional_id`. Creating it fences
    /// an older producer of the same id (a zombie of a previous run) and aborts the
    /// transaction that one left open. Logs without transactions refuse.
    async fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<std::sync::Arc<dyn TransactionalProducer>> {
        let _ = transactional_id;
        Err(LogError::TransactionsNotSupported)
    }

    /// Every record of one partition from `from` to its current end (or to `until`,
    /// exclusive), handed to `f` in offset order; returns the next offset. The one
    /// replay loop of state topics (`_schemas`, Connect's topics, the command topic,
    /// changelogs).
    async fn read_to_end(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: Option<i64>,
        f: &mut (dyn FnMut(ConsumerRecord) + Send),
    ) -> Result<i64> {
        let mut offset = from;
        while until.is_none_or(|end| offset < end) {
            let fetched = self
                .fetch(topic, partition, offset, 4 << 20, Duration::ZERO)
                .await?;
            if fetched.records.is_empty() {
                break;
            }
            for record in fetched.records {
                if until.is_some_and(|end| record.offset >= end) {
                    return Ok(offset);
                }
                offset = record.offset + 1;
                f(record);
            }
        }
        Ok(offset)
    }
}

/// Appends and consumer-offset commits that become visible together, as one Kafka
/// transaction: `begin`, any number of `produce` / `send_offsets`, then `commit`
/// (or `abort`). One transaction at a time per producer. Readers of the log see
/// only committed records (`read_committed`).
#[async_trait]
pub trait TransactionalProducer: Send + Sync {
    async fn begin(&self) -> Result<()>;
    /// Queues records for one partition in the open transaction; delivery is
    /// confirmed by `commit`.
    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<()>;
    /// Commits `group`'s offsets as part of the transaction (Kafka's
    /// TxnOffsetCommit): they count only if the transaction commits.
    async fn send_offsets(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()>;
    /// Waits for every queued record, then commits the transaction.
    async fn commit(&self) -> Result<()>;
    /// Drops the transaction: none of its records or offsets become visible.
    async fn abort(&self) -> Result<()>;
}
