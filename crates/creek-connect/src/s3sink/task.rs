//! An S3 sink task: consumes its topic-partitions from the log and delivers them as
//! objects, following Confluent's `TopicPartitionWriter`.
//!
//! ## Exactly once
//!
//! Per topic-partition, records are buffered into one open file per encoded
//! partition. Files are committed together when `flush.size` records were written
//! since the last commit, when the record time span reaches `rotate.interval.ms`,
//! when the Avro schema changes, or on the `rotate.schedule.interval.ms` wall clock.
//! A file is named after its first record's offset
//! (`<topic>+<partition>+<startOffset>`), is written whole (visible only when
//! complete), and only after every file of the commit is written does the consumer
//! group (`connect-<name>`, through [`SinkContext::offsets`]) move past its
//! records. A crash between the two replays
//! the same records from the committed offset into the same file boundaries, so the
//! same object names are rewritten rather than duplicated. (Wall-clock rotation and
//! the Wallclock extractor are not replayable; Confluent documents the same.)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use creek_lake::{FileBuilder, FormatKind, Lake, SinkValue};
use creek_schema::{Deleted, RegisteredSchema};
use creek_store::ConsumerRecord;
use tracing::warn;

use super::partitioner::{extract_timestamp, Partitioner, TimestampExtractor};
use super::{NullValues, S3SinkConfig, SchemaCompatibility};
use crate::connector::SinkTask;
use crate::context::{SinkContext, TaskError};
use creek_avro::{put_long, put_str, Resolution};

struct OpenFile {
    builder: FileBuilder,
    /// store.kafka.keys: the keys of the same records, in the same order.
    keys: Option<FileBuilder>,
    /// store.kafka.headers: the headers of the same records, in the same order.
    headers: Option<FileBuilder>,
    start_offset: i64,
}

/// Confluent's TopicPartitionWriter: the open files of one topic-partition.
struct PartitionWriter {
    topic: String,
    partition: i32,
    files: BTreeMap<String, OpenFile>,
    /// The encoded partition of every record when the partitioner does not look at
    /// records (the default one), made once.
    fixed_path: Option<String>,
    /// Shared by this partition's successive value files (see `ParquetHints`).
    parquet_hints: creek_lake::ParquetHints,
    /// Records (written or skipped) since the last commit, and the last one's offset.
    pending: usize,
    last_offset: Option<i64>,
    /// Record time of the first record since the last commit (rotate.interval.ms).
    base_timestamp: Option<i64>,
    schema_id: Option<i32>,
    /// The Avro schema of the open files (what records are projected to).
    schema: Option<Arc<RegisteredSchema>>,
    /// Projections built so far, per (record schema id, open files' schema id).
    resolutions: Resolutions,
    /// Wall-clock ms at which rotate.schedule.interval.ms commits the open files.
    scheduled_commit: Option<i64>,
    /// Background jobs writing committed files, oldest first (see [`commit`]).
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<(), TaskError>>>,
    /// Fires when the newest job has moved the offset; the next job waits for it.
    last_commit_done: Option<tokio::sync::oneshot::Receiver<()>>,
    /// The task's [`S3SinkTask::jobs_done`]: each job notifies it when it ends.
    jobs_done: Arc<tokio::sync::Notify>,
}

impl Drop for PartitionWriter {
    /// A task that stops (error, restart, delete) abandons its unfinished commit: the
    /// next run replays those records into the same object names.
    fn drop(&mut self) {
        for job in self.in_flight.drain(..) {
            job.abort();
        }
    }
}

/// How long the reachability check at task start may take before the task is FAILED.
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// A lake sink task: one `PartitionWriter` per topic-partition it was handed.
pub struct S3SinkTask {
    config: S3SinkConfig,
    lake: Option<Lake>,
    writers: BTreeMap<(String, i32), PartitionWriter>,
    /// Notified by every background commit as it ends (`background_done`).
    jobs_done: Arc<tokio::sync::Notify>,
}

impl S3SinkTask {
    pub fn new(config: S3SinkConfig) -> Self {
        S3SinkTask {
            config,
            lake: None,
            writers: BTreeMap::new(),
            jobs_done: Arc::default(),
        }
    }
}

#[async_trait]
impl SinkTask for S3SinkTask {
    /// Opens the lake and checks that it answers; drops the open files and
    /// unfinished commits of an earlier run (the runtime replays their records
    /// from the committed offsets).
    async fn start(&mut self, _ctx: &SinkContext) -> Result<(), TaskError> {
        self.writers.clear();
        self.lake = None;
        let lake = self.config.open_lake().map_err(|e| {
            TaskError(format!(
                "org.apache.kafka.connect.errors.ConnectException: {e}"
            ))
        })?;
        // The store client retries for up to a minute; the status must say why sooner.
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, lake.check()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(TaskError(format!(
                    "org.apache.kafka.connect.errors.ConnectException: the lake is not reachable: {e}"
                )))
            }
            Err(_) => {
                return Err(TaskError(format!(
                    "org.apache.kafka.connect.errors.ConnectException: the lake is not reachable: {} did not answer within {} s",
                    lake.describe_bucket(),
                    STORE_CHECK_TIMEOUT.as_secs()
                )))
            }
        }
        self.lake = Some(lake);
        Ok(())
    }

    fn subscribes(&self, topic: &str) -> bool {
        self.config.topics.matches(topic)
    }

    async fn put(
        &mut self,
        ctx: &SinkContext,
        topic: &str,
        partition: i32,
        records: Vec<ConsumerRecord>,
    ) -> Result<(), TaskError> {
        let lake = self
            .lake
            .as_ref()
            .ok_or_else(|| TaskError("records arrived before the task started".into()))?;
        let w = self
            .writers
            .entry((topic.to_string(), partition))
            .or_insert_with(|| PartitionWriter {
                topic: topic.to_string(),
                partition,
                files: BTreeMap::new(),
                fixed_path: self.config.partitioner.fixed_path(partition),
                parquet_hints: Default::default(),
                pending: 0,
                last_offset: None,
                base_timestamp: None,
                schema_id: None,
                schema: None,
                resolutions: Resolutions::default(),
                scheduled_commit: None,
                in_flight: Default::default(),
                last_commit_done: None,
                jobs_done: self.jobs_done.clone(),
            });
        for r in records {
            write_record(ctx, &self.config, lake, w, topic, r).await?;
        }
        Ok(())
    }

    /// Surfaces finished commits' errors, and commits on the wall-clock schedule.
    async fn flush(&mut self, ctx: &SinkContext) -> Result<(), TaskError> {
        for w in self.writers.values_mut() {
            while w.in_flight.front().is_some_and(|j| j.is_finished()) {
                await_oldest(w).await?;
            }
        }
        // Wall-clock rotation, idle partitions included (Confluent only checks it when
        // a new record arrives, so an idle partition never flushed there).
        if self.config.rotate_schedule_interval_ms > 0 {
            let lake = self
                .lake
                .as_ref()
                .ok_or_else(|| TaskError("flushed before the task started".into()))?;
            let now = creek_store::now_ms();
            for w in self.writers.values_mut() {
                if w.scheduled_commit.is_some_and(|t| now >= t) {
                    commit(ctx, &self.config, lake, w).await?;
                }
            }
        }
        Ok(())
    }

    fn background_done(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.jobs_done.clone())
    }

    fn flush_due_in(&self) -> Option<Duration> {
        let now = creek_store::now_ms();
        self.writers
            .values()
            .filter_map(|w| w.scheduled_commit)
            .min()
            .map(|t| Duration::from_millis(t.saturating_sub(now).max(0) as u64))
    }

    /// Drops the open files and aborts unfinished commits (see `PartitionWriter`'s
    /// `Drop`), so no commit of the failed run lands during the backoff.
    fn stop(&mut self) {
        self.writers.clear();
        self.lake = None;
    }

    fn retry_backoff(&self) -> Duration {
        self.config.retry_backoff
    }
}

async fn write_record(
    ctx: &SinkContext,
    config: &S3SinkConfig,
    lake: &Lake,
    w: &mut PartitionWriter,
    topic: &str,
    r: ConsumerRecord,
) -> Result<(), TaskError> {
    // Only rendered into a message when something goes wrong.
    let at = RecordAt {
        topic,
        partition: w.partition,
        offset: r.offset,
    };
    let converted = match &r.value {
        None => match config.null_values {
            NullValues::Ignore => Ok(None),
            NullValues::Fail => Err(format!(
                "null value at {at} and behavior.on.null.values=fail"
            )),
        },
        Some(bytes) => ctx.value_converter.decode(bytes).map(Some),
    };
    let value = match converted {
        Ok(v) => v,
        Err(e) if config.tolerate_errors => {
            warn!(connector = %ctx.connector, error = %e, "{at}: skipped (errors.tolerance=all)");
            None
        }
        Err(e) => return Err(TaskError(format!("cannot convert the record at {at}: {e}"))),
    };
    let value = match value
        .map(|v| reconcile_schema(ctx, config, w, v))
        .transpose()
    {
        Ok(v) => v,
        Err(e) if config.tolerate_errors => {
            warn!(connector = %ctx.connector, error = %e, "{at}: skipped (errors.tolerance=all)");
            None
        }
        Err(e) => return Err(TaskError(format!("cannot project the record at {at}: {e}"))),
    };
    if let Some(value) = value {
        let timestamp = match &config.partitioner {
            Partitioner::Time { extractor, .. } => extractor,
            _ => &config.extractor,
        };
        // Record time drives rotate.interval.ms and the time-based partitioner only;
        // without them the wall clock is not read for every record.
        let time_unused = config.rotate_interval_ms <= 0
            && !matches!(config.partitioner, Partitioner::Time { .. });
        let ts = match timestamp {
            TimestampExtractor::Wallclock if time_unused => Ok(0),
            _ => extract_timestamp(timestamp, r.timestamp, &value),
        };
        let placed = ts.and_then(|ts| {
            if let Some(encoded) = &w.fixed_path {
                return Ok((ts, encoded.clone()));
            }
            config
                .partitioner
                .encode(w.partition, &value, ts, &config.directory_delim)
                .map(|encoded| (ts, encoded))
        });
        match placed {
            Err(e) if config.tolerate_errors => {
                warn!(connector = %ctx.connector, error = %e, "{at}: skipped (errors.tolerance=all)");
            }
            Err(e) => return Err(TaskError(format!("cannot place the record at {at}: {e}"))),
            Ok((ts, encoded)) => {
                // rotate.interval.ms on record time (wall clock for Wallclock).
                let span_reached = config.rotate_interval_ms > 0
                    && w.base_timestamp
                        .is_some_and(|b| ts - b >= config.rotate_interval_ms);
                let schema_id = match &value {
                    SinkValue::Avro { schema, .. } => Some(schema.id),
                    _ => None,
                };
                let schema_changed =
                    schema_id.is_some() && w.schema_id.is_some() && schema_id != w.schema_id;
                if (span_reached || schema_changed) && !w.files.is_empty() {
                    commit(ctx, config, lake, w).await?;
                }
                // With store.kafka.keys, a record needs a key, converted before
                // anything is appended so value and key files stay row-aligned.
                let key = match &config.keys_format {
                    None => None,
                    Some(_) => match &r.key {
                        None => {
                            return Err(TaskError(format!(
                                "null key at {at}: store.kafka.keys=true needs every record to have a key"
                            )))
                        }
                        Some(k) => Some(ctx.key_converter.decode(k).map_err(|e| {
                            TaskError(format!("cannot convert the key at {at}: {e}"))
                        })?),
                    },
                };
                let key = match (key, &config.keys_format) {
                    (Some(k), Some(f)) if f.kind == FormatKind::Parquet => Some(
                        envelope_key(k)
                            .map_err(|e| TaskError(format!("cannot write the key at {at}: {e}")))?,
                    ),
                    (k, _) => k,
                };
                let headers = match &config.headers_format {
                    None => None,
                    Some(f) => Some(
                        headers_view(&r.headers, f.kind == FormatKind::Parquet).map_err(|e| {
                            TaskError(format!("cannot write the headers at {at}: {e}"))
                        })?,
                    ),
                };
                let file = w.files.entry(encoded).or_insert_with(|| OpenFile {
                    builder: FileBuilder::new(&config.format).with_hints(&w.parquet_hints),
                    keys: config.keys_format.as_ref().map(FileBuilder::new),
                    headers: config.headers_format.as_ref().map(FileBuilder::new),
                    start_offset: r.offset,
                });
                let appended = file.builder.append(&value);
                if appended.is_ok() {
                    if let (Some(keys), Some(key)) = (file.keys.as_mut(), key.as_ref()) {
                        // A value without its key would misalign the files: always fatal.
                        keys.append(key)
                            .map_err(|e| TaskError(format!("cannot write the key at {at}: {e}")))?;
                    }
                    if let (Some(file_headers), Some(h)) = (file.headers.as_mut(), headers.as_ref())
                    {
                        file_headers.append(h).map_err(|e| {
                            TaskError(format!("cannot write the headers at {at}: {e}"))
                        })?;
                    }
                }
                if let Err(e) = appended {
                    if config.tolerate_errors {
                        warn!(connector = %ctx.connector, error = %e, "{at}: skipped (errors.tolerance=all)");
                    } else {
                        return Err(TaskError(format!("cannot write the record at {at}: {e}")));
                    }
                }
                if file.builder.is_empty() {
                    // Nothing went into a new file (a skipped record): don't name a file after it.
                    let empty: Vec<String> = w
                        .files
                        .iter()
                        .filter(|(_, f)| f.builder.is_empty())
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in empty {
                        w.files.remove(&k);
                    }
                }
                w.base_timestamp.get_or_insert(ts);
                w.schema_id = schema_id.or(w.schema_id);
                if let SinkValue::Avro { schema, .. } = &value {
                    w.schema = Some(schema.clone());
                }
                if config.rotate_schedule_interval_ms > 0 && w.scheduled_commit.is_none() {
                    let now = creek_store::now_ms();
                    let every = config.rotate_schedule_interval_ms;
                    w.scheduled_commit = Some(now - now.rem_euclid(every) + every);
                }
            }
        }
    }
    w.pending += 1;
    w.last_offset = Some(r.offset);
    if w.pending >= config.flush_size {
        commit(ctx, config, lake, w).await?;
    }
    Ok(())
}

/// Where a record is, for messages: `topic T partition P offset O`.
struct RecordAt<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
}

impl std::fmt::Display for RecordAt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "topic {} partition {} offset {}",
            self.topic, self.partition, self.offset
        )
    }
}

/// schema.compatibility: a record whose schema differs from the open files' is
/// either projected to their schema (BACKWARD/FULL: an older record; FORWARD: a
/// newer one) or left as is, so that the schema change starts new files.
fn reconcile_schema(
    ctx: &SinkContext,
    config: &S3SinkConfig,
    w: &mut PartitionWriter,
    value: SinkValue,
) -> Result<SinkValue, String> {
    let (SinkValue::Avro { schema, body }, Some(current)) = (&value, &w.schema) else {
        return Ok(value);
    };
    if current.id == schema.id || config.schema_compatibility == SchemaCompatibility::None {
        return Ok(value);
    }
    // Versions of the topic's value subject; schema ids grow with registration, so
    // they order schemas registered elsewhere.
    let subject = format!("{}-value", w.topic);
    let version = |id: i32| {
        ctx.value_converter
            .registry()
            .and_then(|r| r.versions_of_id(id, Deleted::Include).ok())
            .and_then(|vs| vs.into_iter().find(|(s, _)| *s == subject).map(|(_, v)| v))
            .unwrap_or(id)
    };
    let (record_version, current_version) = (version(schema.id), version(current.id));
    let project = match config.schema_compatibility {
        SchemaCompatibility::Backward => record_version < current_version,
        SchemaCompatibility::Forward => record_version > current_version,
        SchemaCompatibility::None => false,
    };
    if !project {
        return Ok(value);
    }
    let projected = w.resolutions.project(schema, current, body)?;
    Ok(SinkValue::Avro {
        schema: current.clone(),
        body: bytes::Bytes::from(projected),
    })
}

/// The Avro schema resolutions of one topic-partition's records, built once per pair
/// of schema ids (a partition sees few schemas).
#[derive(Default)]
struct Resolutions(std::collections::HashMap<(i32, i32), Result<Arc<Resolution>, String>>);

impl Resolutions {
    /// `body`, written with `schema`, read as `current` and written again.
    fn project(
        &mut self,
        schema: &RegisteredSchema,
        current: &RegisteredSchema,
        body: &[u8],
    ) -> Result<Vec<u8>, String> {
        let cannot_read = |e: &dyn std::fmt::Display| {
            format!(
                "schema {} cannot be read as schema {}: {e}",
                schema.id, current.id
            )
        };
        let resolution = self
            .0
            .entry((schema.id, current.id))
            .or_insert_with(|| {
                let writer = schema.plan().map_err(|e| cannot_read(e))?;
                let reader = current.plan().map_err(|e| cannot_read(e))?;
                creek_avro::resolve(writer, reader)
                    .map(Arc::new)
                    .map_err(|e| cannot_read(&e))
            })
            .clone()?;
        let mut projected = Vec::with_capacity(body.len());
        resolution
            .transcode(body, &mut projected)
            .map_err(|e| cannot_read(&e))?;
        Ok(projected)
    }
}

/// Parquet needs a record at the top: Confluent envelopes keys as `RecordKey {key}`.
/// An Avro record of one field is encoded exactly as the field, so the body stays.
fn envelope_key(key: SinkValue) -> Result<SinkValue, String> {
    match key {
        SinkValue::Avro { schema, body } => {
            let json = format!(
                r#"{{"type":"record","name":"RecordKey","fields":[{{"name":"key","type":{}}}]}}"#,
                schema.schema_json
            );
            let avro = creek_avro::parse(&json).map_err(|e| e.to_string())?;
            Ok(SinkValue::Avro {
                schema: Arc::new(RegisteredSchema::new(-schema.id.abs() - 10, json, avro)),
                body,
            })
        }
        SinkValue::Json(v) => Ok(SinkValue::Json(serde_json::json!({ "key": v }))),
        SinkValue::Bytes(_) => {
            Err("a Parquet key file needs structured keys (Avro or JSON), not raw bytes".into())
        }
    }
}

/// Confluent's header view: an array of `{key, value}` strings (inside a record
/// `RecordHeaders {headers}` for Parquet, which needs a record at the top).
fn headers_view(
    headers: &[(String, Option<bytes::Bytes>)],
    enveloped: bool,
) -> Result<SinkValue, String> {
    use std::sync::OnceLock;
    static ARRAY: OnceLock<Arc<RegisteredSchema>> = OnceLock::new();
    static RECORD: OnceLock<Arc<RegisteredSchema>> = OnceLock::new();
    const ITEMS: &str = r#"{"type":"array","items":{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[{"name":"key","type":"string"},{"name":"value","type":"string"}]}}"#;
    let schema = |cell: &'static OnceLock<Arc<RegisteredSchema>>, id: i32, json: String| {
        cell.get_or_init(|| {
            let avro = creek_avro::parse(&json).expect("a fixed, valid schema");
            Arc::new(RegisteredSchema::new(id, json, avro))
        })
        .clone()
    };
    let mut body = Vec::new();
    if !headers.is_empty() {
        put_long(&mut body, headers.len() as i64);
        for (k, v) in headers {
            let v = v
                .as_ref()
                .ok_or_else(|| format!("header {k} has a null value"))?;
            let v = std::str::from_utf8(v).map_err(|_| format!("header {k} is not text"))?;
            for s in [k.as_str(), v] {
                put_str(&mut body, s);
            }
        }
    }
    put_long(&mut body, 0);
    let schema = if enveloped {
        schema(
            &RECORD,
            -2,
            format!(
                r#"{{"type":"record","name":"RecordHeaders","fields":[{{"name":"headers","type":{ITEMS}}}]}}"#
            ),
        )
    } else {
        schema(&ARRAY, -3, ITEMS.to_string())
    };
    Ok(SinkValue::Avro {
        schema,
        body: bytes::Bytes::from(body),
    })
}

/// Commits running at once per topic-partition: encoding one file while the next
/// is being decoded keeps both cores busy; more only adds memory.
const COMMITS_IN_FLIGHT: usize = 2;

/// Hands every open file of a topic-partition to a background job that encodes and
/// writes them, then moves the committed offset. Jobs encode and write in parallel,
/// but each moves the offset only after the previous job has moved it, so offsets
/// only ever move past written objects, in order.
async fn commit(
    ctx: &SinkContext,
    config: &S3SinkConfig,
    lake: &Lake,
    w: &mut PartitionWriter,
) -> Result<(), TaskError> {
    while w.in_flight.len() >= COMMITS_IN_FLIGHT {
        await_oldest(w).await?;
    }
    let mut files: Vec<(String, FileBuilder)> = Vec::new();
    let mut rows = 0u64;
    for (encoded, f) in std::mem::take(&mut w.files) {
        rows += f.builder.len() as u64;
        let key = object_key(config, &w.topic, w.partition, &encoded, f.start_offset);
        // Confluent: `<topic>+<partition>+<startOffset>.keys<key format's extension>`,
        // and `.headers<…>` likewise.
        let stem = key.strip_suffix(&config.format.extension()).unwrap_or(&key);
        if let (Some(keys), Some(format)) = (f.keys, &config.keys_format) {
            files.push((format!("{stem}.keys{}", format.extension()), keys));
        }
        if let (Some(headers), Some(format)) = (f.headers, &config.headers_format) {
            files.push((format!("{stem}.headers{}", format.extension()), headers));
        }
        files.push((key, f.builder));
    }
    let offset = w
        .last_offset
        .map(|last| (w.topic.clone(), w.partition, last + 1));
    let (lake, offsets, metrics) = (lake.clone(), ctx.offsets.clone(), ctx.metrics.clone());
    let previous = w.last_commit_done.take();
    let (done, done_rx) = tokio::sync::oneshot::channel::<()>();
    w.last_commit_done = Some(done_rx);
    let jobs_done = w.jobs_done.clone();
    let job = async move {
        for (key, builder) in files {
            let data = tokio::task::spawn_blocking(move || builder.finish())
                .await
                .map_err(|e| TaskError(format!("encoding {key} stopped: {e}")))?
                .map_err(|e| TaskError(format!("encoding {key} failed: {e}")))?;
            lake.put(&key, data)
                .await
                .map_err(|e| TaskError(format!("writing {key} failed: {e}")))?;
            tracing::debug!(key = %key, "object written");
        }
        if let Some(previous) = previous {
            previous
                .await
                .map_err(|_| TaskError("an earlier commit failed".into()))?;
        }
        if let Some((topic, partition, next)) = offset {
            offsets.commit(&topic, partition, next).await?;
        }
        metrics.add_rows(rows);
        let _ = done.send(());
        Ok(())
    };
    w.in_flight.push_back(tokio::spawn(async move {
        let ended = job.await;
        // notify_one keeps a permit: a job that ends before the runtime waits still wakes it.
        jobs_done.notify_one();
        ended
    }));
    w.pending = 0;
    w.base_timestamp = None;
    w.schema_id = None;
    w.schema = None;
    w.scheduled_commit = None;
    Ok(())
}

/// Waits for the topic-partition's oldest background commit, surfacing its error.
async fn await_oldest(w: &mut PartitionWriter) -> Result<(), TaskError> {
    if let Some(job) = w.in_flight.pop_front() {
        job.await.map_err(|e| {
            TaskError(format!(
                "a commit of {}-{} stopped: {e}",
                w.topic, w.partition
            ))
        })??;
    }
    Ok(())
}

/// `<topics.dir>/<topic>/<encoded partition>/<topic>+<partition>+<startOffset><ext>`.
pub fn object_key(
    config: &S3SinkConfig,
    topic: &str,
    partition: i32,
    encoded: &str,
    start_offset: i64,
) -> String {
    let d = &config.directory_delim;
    let f = &config.file_delim;
    let width = config.offset_pad_width;
    format!(
        "{dir}{d}{topic}{d}{encoded}{d}{topic}{f}{partition}{f}{start_offset:0width$}{ext}",
        dir = config.topics_dir,
        ext = config.format.extension(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(id: i32, json: &str) -> RegisteredSchema {
        RegisteredSchema::new(id, json.to_string(), creek_avro::parse(json).unwrap())
    }

    const V1: &str = r#"{"type":"record","name":"customer","fields":[
        {"name":"id","type":"int"},{"name":"nome","type":["null","string"],"default":null}]}"#;
    const V2: &str = r#"{"type":"record","name":"customer","fields":[
        {"name":"id","type":"int"},{"name":"nome","type":["null","string"],"default":null},
        {"name":"email","type":["null","string"],"default":null},
        {"name":"score","type":"double","default":0.5}]}"#;

    #[test]
    fn records_are_projected_to_the_open_files_schema() {
        let (v1, v2) = (registered(1, V1), registered(2, V2));
        let mut resolutions = Resolutions::default();
        // BACKWARD: an older record read as the newer schema (defaults filled in).
        let mut body = Vec::new();
        put_long(&mut body, 7);
        put_long(&mut body, 1);
        put_str(&mut body, "Ana");
        let projected = resolutions.project(&v1, &v2, &body).unwrap();
        let mut expected = body.clone();
        expected.push(0); // email: null
        expected.extend_from_slice(&0.5f64.to_le_bytes());
        assert_eq!(projected, expected);
        // Built once per pair.
        assert_eq!(resolutions.0.len(), 1);
        resolutions.project(&v1, &v2, &body).unwrap();
        assert_eq!(resolutions.0.len(), 1);

        // FORWARD: a newer record read as the older schema (extra fields dropped).
        let old = resolutions.project(&v2, &v1, &expected).unwrap();
        assert_eq!(old, body);

        // A body that does not match its schema, and schemas that do not resolve.
        let err = resolutions.project(&v1, &v2, &body[..2]).unwrap_err();
        assert!(
            err.starts_with("schema 1 cannot be read as schema 2: field nome:"),
            "{err}"
        );
        let v3 = registered(
            3,
            r#"{"type":"record","name":"customer","fields":[{"name":"id","type":"int"},{"name":"must","type":"string"}]}"#,
        );
        let err = resolutions.project(&v1, &v3, &body).unwrap_err();
        assert_eq!(
            err,
            "schema 1 cannot be read as schema 3: the reader's field must is not in the writer's record customer and has no default"
        );
    }
}
