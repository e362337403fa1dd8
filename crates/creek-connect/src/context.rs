//! What a running task gets from the worker, below both the runtime and the
//! connectors: target states and statuses, source offsets, the producer a source
//! writes through and the offsets a sink commits. Connectors import this module and
//! [`crate::connector`], never [`crate::runtime`]; the runtime builds these values.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use creek_store::{
    BatchBuilder, LogStore, ProducerRecord, ProducerSequence, TransactionalProducer,
};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tracing::{error, info};

use crate::converter::{Converter, PreparedConverter};
use crate::data::{encode_avro_row, StructSchema, Value};
use crate::error::ConnectError;

pub const OFFSET_TOPIC: &str = "connect-offsets";

/// What the user asked a connector to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
    /// Connect's STOPPED (`PUT /connectors/{name}/stop`): no tasks at all.
    Stopped,
}

/// What a connector or task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    /// The connector is stopped (its target state); it has no tasks.
    Stopped,
    Failed(String),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Stopped => "STOPPED",
            State::Failed(_) => "FAILED",
        }
    }
}

/// Called with each topic a connector's task writes to or reads from: Connect's
/// active topics (KIP-558, `GET /connectors/{name}/topics`).
pub type TopicRecorder = Arc<dyn Fn(&str) + Send + Sync>;

/// Where status changes are recorded (the runtime writes them to `connect-status`);
/// called with the status key and the new state.
pub type StatusWriter = Arc<dyn Fn(String, &State) + Send + Sync>;

/// A task's view of its status; changes are logged and handed to the runtime.
#[derive(Clone)]
pub struct StatusHandle {
    writer: StatusWriter,
    connector: String,
    task: usize,
    state: Arc<Mutex<State>>,
}

impl StatusHandle {
    pub(crate) fn new(
        writer: StatusWriter,
        connector: &str,
        task: usize,
        state: Arc<Mutex<State>>,
    ) -> Self {
        StatusHandle {
            writer,
            connector: connector.to_string(),
            task,
            state,
        }
    }

    fn set(&self, state: State) {
        {
            let mut cur = self.state.lock();
            if *cur == state {
                return;
            }
            *cur = state.clone();
        }
        match &state {
            State::Failed(trace) => {
                error!(connector = %self.connector, task = self.task, trace = %trace, "task failed")
            }
            s => {
                info!(connector = %self.connector, task = self.task, state = s.name(), "task state")
            }
        }
        (self.writer)(
            format!("status-task-{}-{}", self.connector, self.task),
            &state,
        );
    }
    pub fn running(&self) {
        self.set(State::Running)
    }
    pub fn paused(&self) {
        self.set(State::Paused)
    }
    pub fn failed(&self, trace: &str) {
        self.set(State::Failed(trace.to_string()))
    }
}

/// Counters shown by status screens and benchmarks.
#[derive(Default)]
pub struct TaskMetrics {
    rows: AtomicU64,
}

impl TaskMetrics {
    pub fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
}

/// Why a task stopped: the text that goes to /status and the connect log. Any
/// displayable error converts, so task code can use `?` on library errors.
#[derive(Debug)]
pub struct TaskError(pub String);

impl<E: std::fmt::Display> From<E> for TaskError {
    fn from(e: E) -> Self {
        TaskError(e.to_string())
    }
}

impl From<TaskError> for ConnectError {
    fn from(e: TaskError) -> Self {
        ConnectError::Task(e.0)
    }
}

/// Source offsets per (connector, source partition), backed by the worker's
/// `offset.storage.topic` (`connect-offsets` unless configured).
pub struct OffsetStore {
    store: Arc<dyn LogStore>,
    topic: String,
    offsets: Mutex<BTreeMap<(String, String), (Json, Json)>>,
    /// The next offset-topic offset read (other workers of the group append
    /// there too: see [`OffsetStore::catch_up`]).
    read_to: tokio::sync::Mutex<i64>,
}

impl OffsetStore {
    pub(crate) fn new(store: Arc<dyn LogStore>, topic: String) -> Self {
        OffsetStore {
            store,
            topic,
            offsets: Mutex::new(BTreeMap::new()),
            read_to: tokio::sync::Mutex::new(0),
        }
    }

    /// Reads what was appended to the offset topic since the last read (by
    /// other workers of the group, or by this one's earlier tasks).
    pub(crate) async fn catch_up(&self) -> creek_store::Result<()> {
        let mut read = self.read_to.lock().await;
        *read = self
            .store
            .read_to_end(&self.topic, 0, *read, None, &mut |r| {
                self.restore_record(r.key, r.value)
            })
            .await?;
        Ok(())
    }

    /// One offset-topic record (`["connector", {partition}]` → offset).
    pub(crate) fn restore_record(&self, key: Option<Bytes>, value: Option<Bytes>) {
        let key: Option<Json> = key.and_then(|k| serde_json::from_slice(&k).ok());
        let Some(Json::Array(kv)) = key else { return };
        let (Some(Json::String(conn)), Some(part)) = (kv.first(), kv.get(1)) else {
            return;
        };
        let offset = value.and_then(|v| serde_json::from_slice::<Json>(&v).ok());
        self.restore(conn, part, offset);
    }

    fn key(connector: &str, partition: &Json) -> (String, String) {
        (connector.to_string(), partition.to_string())
    }

    pub fn get(&self, connector: &str, partition: &Json) -> Option<Json> {
        self.offsets
            .lock()
            .get(&Self::key(connector, partition))
            .map(|(_, o)| o.clone())
    }

    pub fn for_connector(&self, connector: &str) -> Vec<(Json, Json)> {
        self.offsets
            .lock()
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Appends the offset to the offset topic (Connect's key shape
    /// `["connector", {partition}]`), then makes it current.
    pub async fn commit(
        &self,
        connector: &str,
        partition: &Json,
        offset: &Json,
    ) -> Result<(), ConnectError> {
        self.store
            .produce(
                &self.topic,
                0,
                vec![Self::record(connector, partition, offset)],
            )
            .await
            .map_err(|e| ConnectError::Task(format!("committing offsets failed: {e}")))?;
        self.remember(connector, partition, offset);
        Ok(())
    }

    /// The offset topic's record of one source partition's offset.
    fn record(connector: &str, partition: &Json, offset: &Json) -> ProducerRecord {
        let key = json!([connector, partition]).to_string();
        ProducerRecord {
            key: Some(Bytes::from(key)),
            value: Some(Bytes::from(offset.to_string())),
            ..Default::default()
        }
    }

    /// Makes an offset current once its record is in the offset topic.
    fn remember(&self, connector: &str, partition: &Json, offset: &Json) {
        self.offsets.lock().insert(
            Self::key(connector, partition),
            (partition.clone(), offset.clone()),
        );
    }

    /// Replays one `connect-offsets` record (a `None` offset is a tombstone).
    pub(crate) fn restore(&self, connector: &str, partition: &Json, offset: Option<Json>) {
        let mut map = self.offsets.lock();
        match offset {
            Some(off) => {
                map.insert(Self::key(connector, partition), (partition.clone(), off));
            }
            None => {
                map.remove(&Self::key(connector, partition));
            }
        }
    }

    pub(crate) fn forget(&self, connector: &str) {
        self.offsets.lock().retain(|(c, _), _| c != connector);
    }
}

/// What every task gets from the worker.
pub struct TaskContext {
    pub connector: String,
    pub task_id: usize,
    /// How many tasks the connector runs (tasks split their work by it).
    pub task_count: usize,
    pub status: StatusHandle,
    pub key_converter: Converter,
    pub value_converter: Converter,
    pub control: watch::Receiver<TargetState>,
    pub metrics: Arc<TaskMetrics>,
}

/// A source task's context: its source offsets and the producer its records go
/// through.
pub struct SourceContext {
    pub task: TaskContext,
    pub offsets: Arc<OffsetStore>,
    pub producer: SourceProducer,
}

impl SourceContext {
    /// Appends `batch` to `topic`-`partition` and records `offset` for the source
    /// partition `source`: as one Kafka transaction when the worker runs sources
    /// exactly once on a log with transactions (Connect's
    /// `exactly.once.source.support=enabled`), else the batch first and then the
    /// offset, so that an offset never runs ahead of its records.
    pub async fn deliver(
        &self,
        (topic, partition): (&str, i32),
        batch: PendingBatch,
        source: &Json,
        offset: &Json,
    ) -> Result<(), TaskError> {
        let Some(tx) = self.producer.transactions().await? else {
            self.producer.send(topic, partition, batch).await?;
            return self
                .offsets
                .commit(&self.connector, source, offset)
                .await
                .map_err(|e| TaskError(e.to_string()));
        };
        let failed = |e: creek_store::LogError| {
            TaskError(format!(
                "appending to {topic}-{partition} in a transaction failed: {e}"
            ))
        };
        let records = creek_store::decode_records(partition, batch.builder.finish(), 0)
            .map_err(failed)?
            .into_iter()
            .map(ProducerRecord::from)
            .collect();
        let written = async {
            tx.begin().await?;
            tx.produce(topic, partition, records).await?;
            let record = OffsetStore::record(&self.connector, source, offset);
            tx.produce(&self.offsets.topic, 0, vec![record]).await?;
            tx.commit().await
        };
        if let Err(e) = written.await {
            // The transaction is not committed: abort it (an aborted or fenced
            // producer answers an error, which changes nothing here).
            let _ = tx.abort().await;
            return Err(failed(e));
        }
        self.offsets.remember(&self.connector, source, offset);
        // An active topic (KIP-558), as `SourceProducer::send` records it.
        (self.producer.topics)(topic);
        Ok(())
    }
}

impl Deref for SourceContext {
    type Target = TaskContext;
    fn deref(&self) -> &TaskContext {
        &self.task
    }
}

/// A sink task's context: the offsets it commits once its records are delivered.
pub struct SinkContext {
    pub task: TaskContext,
    pub offsets: SinkOffsets,
}

impl Deref for SinkContext {
    type Target = TaskContext;
    fn deref(&self) -> &TaskContext {
        &self.task
    }
}

/// The consumer group whose committed offsets are a sink connector's progress
/// (Kafka Connect's `connect-<connector name>`).
pub fn sink_group(connector: &str) -> String {
    format!("connect-{connector}")
}

/// Commits a sink's consumer offsets (the group is the connector's). Cheap to
/// clone, so background jobs can commit after their writes.
#[derive(Clone)]
pub struct SinkOffsets {
    store: Arc<dyn LogStore>,
    group: String,
}

impl SinkOffsets {
    pub(crate) fn new(store: Arc<dyn LogStore>, connector: &str) -> Self {
        SinkOffsets {
            store,
            group: sink_group(connector),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Moves the group to `offset` (the next record to deliver) of the partition.
    pub async fn commit(&self, topic: &str, partition: i32, offset: i64) -> Result<(), TaskError> {
        self.store
            .commit_offsets(&self.group, &[(topic.to_string(), partition, offset)])
            .await
            .map_err(|e| TaskError(format!("committing offsets of {} failed: {e}", self.group)))
    }
}

/// One row a source hands to the producer; the producer's converter decides
/// which form it needs.
pub trait SourceRow {
    /// The row as Connect values, in the schema's field order.
    fn values(&self) -> Result<Vec<Value>, TaskError>;
    /// The row's Avro binary body under `schema`. A source that can write it
    /// straight from its input (the JDBC source from COPY bytes) overrides this.
    fn avro_body(&self, schema: &StructSchema, out: &mut Vec<u8>) -> Result<(), TaskError> {
        encode_avro_row(schema, &self.values()?, out);
        Ok(())
    }
}

/// How a source's records reach the log: the connector's converter, then an
/// append of whole batches (idempotent when the source gives a producer sequence).
pub struct SourceProducer {
    store: Arc<dyn LogStore>,
    value_converter: Converter,
    /// The transactional id when the worker runs sources exactly once.
    transactional_id: Option<String>,
    /// Made at the first delivery; `None` inside when the log has no
    /// transactions (creek's embedded log: a source's idempotent batches make
    /// its delivery exactly once there).
    transactions: tokio::sync::OnceCell<Option<Arc<dyn TransactionalProducer>>>,
    topics: TopicRecorder,
}

impl SourceProducer {
    pub(crate) fn new(
        store: Arc<dyn LogStore>,
        value_converter: Converter,
        transactional_id: Option<String>,
        topics: TopicRecorder,
    ) -> Self {
        SourceProducer {
            store,
            value_converter,
            transactional_id,
            transactions: tokio::sync::OnceCell::new(),
            topics,
        }
    }

    /// Starts the task's transactional producer, if it delivers in
    /// transactions: that fences a previous runner of the task (its open
    /// transaction is aborted, one being committed completes first), so the
    /// offsets read afterwards are final.
    pub(crate) async fn fence(&self) -> Result<bool, TaskError> {
        Ok(self.transactions().await?.is_some())
    }

    /// The task's transactional producer, if it delivers in transactions.
    async fn transactions(&self) -> Result<Option<&Arc<dyn TransactionalProducer>>, TaskError> {
        let Some(id) = &self.transactional_id else {
            return Ok(None);
        };
        let made = self
            .transactions
            .get_or_try_init(|| async {
                match self.store.transactional_producer(id).await {
                    Ok(tx) => Ok(Some(tx)),
                    Err(creek_store::LogError::TransactionsNotSupported) => Ok(None),
                    Err(e) => Err(TaskError(format!(
                        "exactly.once.source.support=enabled needs Kafka transactions \
                         (transactional.id {id}): {e}"
                    ))),
                }
            })
            .await?;
        Ok(made.as_ref())
    }

    /// A fresh idempotent-producer id (a source keeps it in its offsets so that a
    /// replayed batch is recognised as a duplicate); `None` when the log cannot
    /// deduplicate by the source's sequences (an external cluster): the source then
    /// sends plain batches, delivered at least once, as Connect does by default.
    pub async fn init_producer_id(&self) -> Result<Option<i64>, TaskError> {
        Ok(self.store.init_producer_id().await?)
    }

    /// Prepares writing rows of `schema` to `topic`: creates the topic (one
    /// partition) when missing, as the broker's auto-creation would, and prepares
    /// the value converter (an Avro converter registers the schema).
    pub async fn open_topic(
        &self,
        topic: &str,
        schema: &StructSchema,
    ) -> Result<TopicWriter, TaskError> {
        let partitions = self.ensure_topic(topic).await?;
        let value = self.value_converter.prepare(topic, false, schema).await?;
        Ok(TopicWriter {
            partitions,
            value,
            schema: schema.clone(),
        })
    }

    async fn ensure_topic(&self, topic: &str) -> Result<i32, TaskError> {
        let store = &self.store;
        match store.describe_topic(topic).await {
            Ok(d) => Ok(d.partitions),
            Err(_) => {
                if let Err(e) = store.create_topic(topic, 1, BTreeMap::new()).await {
                    // Another task may have created it meanwhile.
                    if store.describe_topic(topic).await.is_err() {
                        return Err(TaskError(format!("creating topic {topic} failed: {e}")));
                    }
                }
                Ok(store.describe_topic(topic).await?.partitions)
            }
        }
    }

    /// Appends the batch to the partition as one write. Only after this returns is
    /// it safe to commit an offset past the batch's records.
    pub async fn send(
        &self,
        topic: &str,
        partition: i32,
        batch: PendingBatch,
    ) -> Result<(), TaskError> {
        self.store
            .produce_batch(topic, partition, batch.builder.finish())
            .await
            .map_err(|e| TaskError(format!("appending to {topic}-{partition} failed: {e}")))?;
        (self.topics)(topic);
        Ok(())
    }
}

/// A topic prepared for one schema: its partition count and value encoder.
pub struct TopicWriter {
    pub partitions: i32,
    value: PreparedConverter,
    schema: StructSchema,
}

impl TopicWriter {
    /// An empty batch; with a producer sequence it is appended idempotently.
    pub fn batch(&self, producer: Option<ProducerSequence>) -> PendingBatch {
        PendingBatch {
            builder: BatchBuilder::new(creek_store::now_ms(), producer),
            scratch: Vec::with_capacity(512),
        }
    }

    /// Encodes the row with the converter and adds it (no key) to the batch.
    pub fn append(&self, batch: &mut PendingBatch, row: &dyn SourceRow) -> Result<(), TaskError> {
        let out = &mut batch.scratch;
        out.clear();
        match &self.value {
            // Avro bodies straight from the source, framed with the schema id.
            PreparedConverter::Avro { id } => {
                creek_avro::wire::put_header(*id, out);
                row.avro_body(&self.schema, out)?;
            }
            other => other.encode(&self.schema, &row.values()?, out)?,
        }
        batch
            .builder
            .append(creek_store::now_ms(), None, Some(&batch.scratch));
        Ok(())
    }
}

/// Records on their way to one partition.
pub struct PendingBatch {
    builder: BatchBuilder,
    scratch: Vec<u8>,
}

impl PendingBatch {
    pub fn len(&self) -> usize {
        self.builder.len()
    }
    pub fn is_empty(&self) -> bool {
        self.builder.is_empty()
    }
}
