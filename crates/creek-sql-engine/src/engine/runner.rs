//! The query runner: each persistent query fetches its source partitions from
//! its committed positions, decodes, filters/projects or aggregates, encodes
//! and produces its results, then commits (at least once). Server mode runs
//! one tokio task per query ([`Engine::start`]); tests and benchmarks drive
//! [`Engine::run_until_idle`]. Bad records go to the processing log, which is
//! flushed to its topic here.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use creek_sql::ast::SourceKind;
use creek_store::ProducerRecord;
use parking_lot::Mutex;

use crate::EngineError;

use super::{Engine, PersistentQuery, QueryLogic, Repartition};

/// How long an idle query sleeps without a wake-up before it looks again anyway.
const IDLE_RECHECK: Duration = Duration::from_secs(30);

/// A projection's fetched batch at least this large is decoded, projected and
/// encoded on two threads, each taking one half in order; smaller batches (a
/// live pipeline's few records) stay on the query's own task. The same bound
/// decides whether both stages of a re-keying aggregation run at once.
const PARALLEL_BATCH: usize = 2048;

/// What one source record of a projection became: its encoded results
/// (none when it was skipped, filtered out, or failed to decode).
/// Stage one's changes for one source batch: per repartition partition, the
/// encoded batch and how many records it holds.
type RekeyedBatches = Vec<(i32, bytes::Bytes, u64)>;

type Encoded = Vec<Result<(i32, ProducerRecord), crate::query::SinkError>>;

/// Bytes of a fetched batch's keys and values, as ksqlDB's consumer metrics count.
pub(super) fn record_bytes(records: &[creek_store::ConsumerRecord]) -> u64 {
    records
        .iter()
        .map(|r| {
            (r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())) as u64
        })
        .sum()
}

/// The offset after the last of `records` (0 for none).
fn next_offset(records: &[creek_store::ConsumerRecord]) -> i64 {
    records.last().map_or(0, |r| r.offset + 1)
}

/// `work` over `items` in two halves, the second on another thread; the results
/// come back in the items' order. For per-record work that shares no state.
fn in_two_halves<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let (first, second) = items.split_at(items.len() / 2);
    std::thread::scope(|scope| {
        let second = scope.spawn(|| work(second));
        let mut out = work(first);
        match second.join() {
            Ok(rest) => out.extend(rest),
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// What one step of a query reads and how it treats what it reads.
struct StepInput<'a> {
    /// The topic read: the query's source, or the repartition topic in
    /// stage two of a re-keying aggregation.
    topic: &'a str,
    /// The query's positions in `topic`, moved by each commit.
    positions: &'a Mutex<BTreeMap<i32, i64>>,
    /// The aggregation whose re-keyed changes `topic` holds (stage two), if
    /// any.
    rekeyed: Option<&'a crate::aggregate::AggregateTasks>,
    /// Whether the source is a table (its rows without a key are dropped).
    over_table: bool,
    /// Whether results are also copied to the output tap (tests).
    tapping: bool,
}

/// A state an aggregate function threw on, or that lost groups to a spill
/// error, must not produce: the query stops (Kafka Streams' task failure),
/// the batch neither produced nor committed.
fn check_aggregate_state(
    query: &PersistentQuery,
    topic: &str,
    partition: i32,
) -> Result<(), EngineError> {
    if let QueryLogic::Aggregate(a) = &query.logic {
        if let Some(failure) = a.state_failure() {
            return Err(EngineError::QueryFailed(format!(
                "Exception caught in process. taskId=0_{partition}, \
                 topic={topic}, partition={partition}: {failure}"
            )));
        }
    }
    Ok(())
}

impl Engine {
    pub(super) fn start(self: &Arc<Self>, query: &Arc<PersistentQuery>) {
        if !self.config.spawn_queries {
            return;
        }
        if query.membership.is_some() {
            tokio::spawn(
                self.clone()
                    .take_part_in_rounds(query.clone(), query.stop.subscribe()),
            );
        }
        let engine = self.clone();
        let query = query.clone();
        let mut stop = query.stop.subscribe();
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                // A failed query does nothing until it is terminated.
                if query.failed() {
                    if stop.changed().await.is_err() {
                        break;
                    }
                    continue;
                }
                let stepped = match &query.membership {
                    // A round changing the query's share waits for the step.
                    Some(m) => {
                        let _step = m.step.lock().await;
                        engine.step(&query).await
                    }
                    None => engine.step(&query).await,
                };
                engine.flush_processing_log().await;
                match stepped {
                    Ok(0) | Err(EngineError::Rebalanced(_)) => {
                        if let (Err(e), Some(m)) = (&stepped, &query.membership) {
                            tracing::info!(query = %query.id, "{e}");
                            // The step may have folded input it could not commit.
                            m.trusted.store(false, Ordering::SeqCst);
                        }
                        // Nothing to read: sleep until a record lands where the query
                        // reads (no polling, so a record is processed as soon as it is
                        // appended and an idle query costs nothing), or its share changes.
                        tokio::select! {
                            _ = engine.wait_for_input(&query) => {}
                            _ = stop.changed() => {}
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(query = %query.id, "query failed: {e}");
                        query.fail(e.to_string());
                    }
                }
            }
        });
    }

    /// Processes what is available for one query; returns records consumed.
    /// Under exactly-once, what the step wrote commits as one transaction at its
    /// end (or is aborted when the step fails, and the query fails with it).
    pub async fn step(&self, query: &PersistentQuery) -> Result<usize, EngineError> {
        let stepped = self.step_writes(query).await;
        let transactions = query.transactions.lock().clone();
        let Some(tx) = transactions else {
            return stepped;
        };
        if !tx.open.swap(false, Ordering::SeqCst) {
            return stepped;
        }
        match stepped {
            Ok(n) => {
                tx.producer.commit().await.map_err(|e| {
                    EngineError::Log(format!("committing the query's transaction: {e}"))
                })?;
                Ok(n)
            }
            Err(e) => {
                if let Err(abort) = tx.producer.abort().await {
                    tracing::warn!(query = %query.id, "aborting the query's transaction: {abort}");
                }
                Err(e)
            }
        }
    }

    /// The transaction a step writes in, begun at its first write; `None` when
    /// the query runs at least once.
    async fn transaction(
        &self,
        query: &PersistentQuery,
    ) -> Result<Option<Arc<dyn creek_store::TransactionalProducer>>, EngineError> {
        if !query.exactly_once {
            return Ok(None);
        }
        let transactions = query.transactions.lock().clone();
        let Some(tx) = transactions else {
            return Err(EngineError::Rebalanced(format!(
                "query {} has no transactions: its share was given back",
                query.id
            )));
        };
        if !tx.open.load(Ordering::SeqCst) {
            tx.producer
                .begin()
                .await
                .map_err(|e| EngineError::Log(format!("beginning a transaction: {e}")))?;
            tx.open.store(true, Ordering::SeqCst);
        }
        Ok(Some(tx.producer.clone()))
    }

    /// Appends records of a query (its sink, changelog or repartition topic):
    /// in the step's transaction under exactly-once, straight to the log otherwise.
    async fn write(
        &self,
        query: &PersistentQuery,
        topic: &str,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<(), EngineError> {
        let written = match self.transaction(query).await? {
            Some(tx) => tx.produce(topic, partition, records).await,
            None => self
                .log
                .produce(topic, partition, records)
                .await
                .map(|_| ()),
        };
        written.map_err(|e| EngineError::Log(e.to_string()))
    }

    async fn step_writes(&self, query: &PersistentQuery) -> Result<usize, EngineError> {
        if query.failed() {
            return Ok(0);
        }
        let mut consumed = 0;
        // A re-keying aggregation: stage one first, then stage two reads the
        // repartition topic in the loop below.
        let rekeyed = match (&query.repartition, &query.logic) {
            (Some(r), QueryLogic::Aggregate(a)) => {
                if query.decoder.source.kind != SourceKind::Table {
                    return self.step_both_stages(query, a, r).await;
                }
                consumed += self.rekey_step(query, a, r).await?;
                Some((r, a))
            }
            _ => None,
        };
        let (topic, input_positions) = match rekeyed {
            Some((r, _)) => (&r.topic, &r.positions),
            None => (&query.decoder.source.topic, &query.positions),
        };
        let positions: Vec<(i32, i64)> = input_positions
            .lock()
            .iter()
            .map(|(p, o)| (*p, *o))
            .collect();
        let input = StepInput {
            topic,
            positions: input_positions,
            rekeyed: rekeyed.map(|(_, a)| &**a),
            over_table: query.decoder.source.kind == SourceKind::Table,
            tapping: self.output_tap.lock().is_some(),
        };
        for (partition, offset) in positions {
            consumed += self
                .step_partition(query, &input, partition, offset)
                .await?;
        }
        Ok(consumed)
    }

    /// One input partition of a step: fetches from `offset`, runs the batch
    /// through the query, then (unless an aggregation's state failed)
    /// produces the results and commits. Returns the records consumed.
    async fn step_partition(
        &self,
        query: &PersistentQuery,
        input: &StepInput<'_>,
        partition: i32,
        offset: i64,
    ) -> Result<usize, EngineError> {
        let topic = input.topic;
        let records = self.fetch_counted(query, topic, partition, offset).await?;
        if records.is_empty() {
            return Ok(0);
        }
        let next = next_offset(&records);
        let mut outputs: BTreeMap<i32, Vec<ProducerRecord>> = BTreeMap::new();
        let mut ordered = Vec::new();
        self.run_batch(
            query,
            input,
            partition,
            &records,
            &mut outputs,
            &mut ordered,
        )?;
        check_aggregate_state(query, topic, partition)?;
        self.produce_and_commit(query, input, partition, next, outputs, ordered)
            .await?;
        Ok(records.len())
    }

    /// Runs a fetched batch through the query into the sink's batches
    /// (`outputs` by sink partition, `ordered` for the output tap): a large
    /// projection batch in two halves on two threads
    /// ([`Engine::project_in_halves`]), anything else record by record.
    fn run_batch(
        &self,
        query: &PersistentQuery,
        input: &StepInput<'_>,
        partition: i32,
        records: &[creek_store::ConsumerRecord],
        outputs: &mut BTreeMap<i32, Vec<ProducerRecord>>,
        ordered: &mut Vec<ProducerRecord>,
    ) -> Result<(), EngineError> {
        let parallel = input.rekeyed.is_none()
            && matches!(query.logic, QueryLogic::Project(_))
            && records.len() >= PARALLEL_BATCH;
        if parallel {
            let encoded = self.project_in_halves(query, records, input.over_table);
            for (record, results) in records.iter().zip(encoded) {
                self.collect_encoded(
                    query,
                    results,
                    outputs,
                    ordered,
                    input.tapping,
                    (input.topic, partition, record.offset),
                )?;
            }
            return Ok(());
        }
        for record in records {
            let Some(results) = self.record_results(query, input, partition, record) else {
                continue;
            };
            self.encode_results(
                query,
                results,
                outputs,
                ordered,
                input.tapping,
                (input.topic, partition, record.offset),
            )?;
        }
        Ok(())
    }

    /// What one input record becomes, before encoding: in stage two of a
    /// re-keying aggregation, the re-keyed change folded into its group (a
    /// change that cannot be read goes to the processing log); otherwise the
    /// decoded record projected or aggregated (a table row without a key is
    /// dropped, a record that does not decode goes to the processing log).
    /// `None` when the record yields nothing to encode.
    fn record_results(
        &self,
        query: &PersistentQuery,
        input: &StepInput<'_>,
        partition: i32,
        record: &creek_store::ConsumerRecord,
    ) -> Option<Vec<crate::query::ResultRow>> {
        if let Some(a) = input.rekeyed {
            return match a.for_input(partition).apply_rekeyed(partition, record) {
                Ok(results) => Some(results),
                Err(e) => {
                    let topic = input.topic;
                    self.processing_log.record(
                        &query.id,
                        crate::processing_log::ErrorKind::Deserialization,
                        Some(topic),
                        &format!(
                            "Failed to read a repartitioned record from {topic}-{partition}@{}: {e}",
                            record.offset
                        ),
                    );
                    None
                }
            };
        }
        // A table row without a key has no identity: Kafka Streams drops it.
        if input.over_table && record.key.is_none() {
            return None;
        }
        let decoded = self.decode_or_log(query, record)?;
        Some(match &query.logic {
            QueryLogic::Project(p) => {
                p.apply_all(&decoded.row, decoded.rowtime, decoded.value_is_null)
            }
            QueryLogic::Aggregate(a) => {
                a.for_input(partition)
                    .apply(&decoded.row, decoded.rowtime, decoded.value_is_null)
            }
        })
    }

    /// Finishes one input partition's batch: produces the results to the
    /// sink partitions (and copies them to the output tap), writes an
    /// aggregation's changed groups to its changelog together with the input
    /// positions they account for (state and positions in one batch, before
    /// the commit), then commits the input up to `next`.
    async fn produce_and_commit(
        &self,
        query: &PersistentQuery,
        input: &StepInput<'_>,
        partition: i32,
        next: i64,
        outputs: BTreeMap<i32, Vec<ProducerRecord>>,
        ordered: Vec<ProducerRecord>,
    ) -> Result<(), EngineError> {
        for (p, records) in outputs {
            self.produce_counted(query, p, records).await?;
        }
        if let Some(tap) = self.output_tap.lock().as_mut() {
            for rec in ordered {
                tap.push((query.sink_topic.clone(), rec));
            }
        }
        if let QueryLogic::Aggregate(a) = &query.logic {
            let mut positions = input.positions.lock().clone();
            positions.insert(partition, next);
            self.write_changelogs(query, a, &positions, [partition])
                .await?;
        }
        self.commit(query, input.topic, partition, next, input.positions)
            .await
    }

    /// Writes the changed groups of the tasks the input `partitions` fed, each
    /// to its changelog partition together with the `positions` (next offset
    /// by input partition) of the input partitions it holds: state and
    /// positions in one batch.
    async fn write_changelogs(
        &self,
        query: &PersistentQuery,
        tasks: &crate::aggregate::AggregateTasks,
        positions: &BTreeMap<i32, i64>,
        partitions: impl IntoIterator<Item = i32>,
    ) -> Result<(), EngineError> {
        let fed: std::collections::BTreeSet<i32> =
            partitions.into_iter().map(|p| tasks.task_of(p)).collect();
        for task in fed {
            let held: BTreeMap<i32, i64> = positions
                .iter()
                .filter(|(p, _)| tasks.task_of(**p) == task)
                .map(|(p, o)| (*p, *o))
                .collect();
            let changelog = tasks.task(task).changelog(&held);
            self.write(query, &self.changelog_topic(&query.id), task, changelog)
                .await?;
        }
        Ok(())
    }

    /// Commits a query's input `topic`-`partition` up to `next` and moves
    /// its position there.
    pub(super) async fn commit(
        &self,
        query: &PersistentQuery,
        topic: &str,
        partition: i32,
        next: i64,
        positions: &Mutex<BTreeMap<i32, i64>>,
    ) -> Result<(), EngineError> {
        let group = self.query_group(&query.id);
        let offsets = [(topic.to_string(), partition, next)];
        let committed = match (self.transaction(query).await?, &query.membership) {
            (Some(tx), _) => tx.send_offsets(&group, &offsets).await,
            // Shared: as the member of this round, so a worker whose round
            // is over cannot move what the partition's new owner moved.
            (None, Some(m)) => {
                let generation = m.generation.load(Ordering::SeqCst);
                m.member.commit_offsets(generation, &offsets).await
            }
            (None, None) => self.log.commit_offsets(&group, &offsets).await,
        };
        committed.map_err(|e| match e {
            creek_store::LogError::GroupFenced { .. } => EngineError::Rebalanced(e.to_string()),
            e => EngineError::Log(e.to_string()),
        })?;
        positions.lock().insert(partition, next);
        Ok(())
    }

    /// Decodes a source record; one that does not decode goes to the
    /// processing log (and the query goes on).
    pub(super) fn decode_or_log(
        &self,
        query: &PersistentQuery,
        record: &creek_store::ConsumerRecord,
    ) -> Option<crate::query::DecodedRow> {
        match query.decoder.decode(record) {
            Ok(d) => Some(d),
            Err(e) => {
                let topic = &query.decoder.source.topic;
                self.stats.failed(topic);
                self.processing_log.record(
                    &query.id,
                    crate::processing_log::ErrorKind::Deserialization,
                    Some(topic),
                    &format!(
                        "Failed to deserialize record from {topic}-{}@{}: {e}",
                        record.partition, record.offset
                    ),
                );
                None
            }
        }
    }

    /// Decodes, projects and encodes `records` of a projection query, the
    /// first half on this thread and the second on another (the work is
    /// per record and stateless); the results come back in record order.
    fn project_in_halves(
        &self,
        query: &PersistentQuery,
        records: &[creek_store::ConsumerRecord],
        over_table: bool,
    ) -> Vec<Encoded> {
        let project = |records: &[creek_store::ConsumerRecord]| -> Vec<Encoded> {
            records
                .iter()
                .map(|record| {
                    // A table row without a key has no identity: Kafka Streams drops it.
                    if over_table && record.key.is_none() {
                        return Vec::new();
                    }
                    let (Some(decoded), QueryLogic::Project(p)) =
                        (self.decode_or_log(query, record), &query.logic)
                    else {
                        return Vec::new();
                    };
                    p.apply_all(&decoded.row, decoded.rowtime, decoded.value_is_null)
                        .iter()
                        .map(|r| query.encoder.encode(r))
                        .collect()
                })
                .collect()
        };
        in_two_halves(records, project)
    }

    /// Encodes a record's results for the sink; a row the sink cannot write
    /// stops the query, as in Kafka Streams: nothing of the batch is
    /// produced or committed, so no row is lost.
    pub(super) fn encode_results(
        &self,
        query: &PersistentQuery,
        results: Vec<crate::query::ResultRow>,
        outputs: &mut BTreeMap<i32, Vec<ProducerRecord>>,
        ordered: &mut Vec<ProducerRecord>,
        tapping: bool,
        at: (&str, i32, i64),
    ) -> Result<(), EngineError> {
        let encoded = results.iter().map(|r| query.encoder.encode(r)).collect();
        self.collect_encoded(query, encoded, outputs, ordered, tapping, at)
    }

    /// Adds a record's encoded results to the sink's batches; a row the sink
    /// could not write stops the query (see [`Engine::encode_results`]).
    fn collect_encoded(
        &self,
        query: &PersistentQuery,
        encoded: Encoded,
        outputs: &mut BTreeMap<i32, Vec<ProducerRecord>>,
        ordered: &mut Vec<ProducerRecord>,
        tapping: bool,
        (topic, partition, offset): (&str, i32, i64),
    ) -> Result<(), EngineError> {
        for result in encoded {
            match result {
                Ok((p, rec)) => {
                    if tapping {
                        ordered.push(rec.clone());
                    }
                    outputs.entry(p).or_default().push(rec);
                }
                Err(crate::query::SinkError::Timestamp(e)) => {
                    self.processing_log.record(
                        &query.id,
                        crate::processing_log::ErrorKind::RecordProcessing,
                        Some(topic),
                        &e,
                    );
                }
                Err(crate::query::SinkError::Serialize(e)) => {
                    self.processing_log.record(
                        &query.id,
                        crate::processing_log::ErrorKind::Serialization,
                        Some(&query.sink_topic),
                        &format!("Failed to serialize row: {e}"),
                    );
                    return Err(EngineError::QueryFailed(format!(
                        "Exception caught in process. taskId=0_{partition}, \
                         topic={topic}, partition={partition}, offset={offset}: \
                         Unable to serialize record: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Appends a query's output to one partition of its sink and counts it for
    /// DESCRIBE EXTENDED.
    async fn produce_counted(
        &self,
        query: &PersistentQuery,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<(), EngineError> {
        let n = records.len() as u64;
        self.write(query, &query.sink_topic, partition, records)
            .await?;
        self.stats.produced(&query.sink_topic, n);
        Ok(())
    }

    /// Returns when the query has a record to read: on its source, or on its
    /// repartition topic for a re-keying aggregation (or after a long safety
    /// deadline, after which the loop simply looks again).
    async fn wait_for_input(&self, query: &PersistentQuery) {
        let deadline = tokio::time::Instant::now() + IDLE_RECHECK;
        let snapshot = |positions: &Mutex<BTreeMap<i32, i64>>| -> Vec<(i32, i64)> {
            positions.lock().iter().map(|(p, o)| (*p, *o)).collect()
        };
        let source = snapshot(&query.positions);
        let repartitioned = query
            .repartition
            .as_ref()
            .map(|r| (r, snapshot(&r.positions)));
        let mut waits =
            vec![self
                .log
                .wait_for_records(&query.decoder.source.topic, &source, deadline)];
        if let Some((r, positions)) = &repartitioned {
            waits.push(self.log.wait_for_records(&r.topic, positions, deadline));
        }
        if let Some(m) = &query.membership {
            waits.push(Box::pin(async move {
                m.changed.notified().await;
                Ok(true)
            }));
        }
        let (first, _, _) = futures::future::select_all(waits).await;
        if let Err(e) = first {
            // The next step meets the same error and fails the query with it.
            tracing::debug!(query = %query.id, "waiting for input: {e}");
        }
    }

    /// Stage one of a re-keying aggregation for some records of source
    /// `partition`: each decoded and turned into its group changes, in order,
    /// and the changes encoded as one batch per repartition partition (Kafka's
    /// partitioner on the group key), ready to append: encoding here keeps it on
    /// stage one's thread when both stages run at once.
    fn rekey_records(
        &self,
        query: &PersistentQuery,
        aggregator: &crate::aggregate::AggregateTasks,
        (repartition, partition): (&Repartition, i32),
        records: &[creek_store::ConsumerRecord],
        over_table: bool,
    ) -> Result<RekeyedBatches, EngineError> {
        let mut out = Vec::with_capacity(records.len());
        let aggregator = aggregator.stage_one();
        for record in records {
            if over_table && record.key.is_none() {
                continue;
            }
            let Some(decoded) = self.decode_or_log(query, record) else {
                continue;
            };
            out.extend(aggregator.rekey(
                &decoded.row,
                decoded.value_is_null,
                decoded.rowtime,
                (partition, record.offset),
            ));
        }
        let mut by_partition: BTreeMap<i32, Vec<ProducerRecord>> = BTreeMap::new();
        for r in out {
            let p = crate::query::partition_for(r.key.as_deref(), repartition.partitions);
            by_partition.entry(p).or_default().push(r);
        }
        by_partition
            .into_iter()
            .map(|(p, changes)| {
                let batch = creek_store::encode_records(&changes)
                    .map_err(|e| EngineError::Log(e.to_string()))?;
                Ok((p, batch.freeze(), changes.len() as u64))
            })
            .collect()
    }

    /// One step of a re-keying aggregation over a stream, both stages at once:
    /// the source's new records (stage one: decode, re-key) on a second thread
    /// while this one folds the repartition topic's new records into the groups
    /// (stage two, which reads what earlier steps of stage one wrote). Re-keying
    /// a stream's record depends on that record alone, so the two share nothing
    /// but the log. Then stage one's changes go to the repartition topic and its
    /// source offsets are committed; stage two's results go to the sink, its
    /// state and positions to the changelog in one batch, then its commits.
    async fn step_both_stages(
        &self,
        query: &PersistentQuery,
        aggregator: &crate::aggregate::AggregateTasks,
        repartition: &Repartition,
    ) -> Result<usize, EngineError> {
        let source = &query.decoder.source.topic;
        let stage_one = self.fetch_new(query, source, &query.positions).await?;
        let stage_two = self
            .fetch_new(query, &repartition.topic, &repartition.positions)
            .await?;
        let input = StepInput {
            topic: &repartition.topic,
            positions: &repartition.positions,
            rekeyed: Some(aggregator),
            over_table: false,
            tapping: self.output_tap.lock().is_some(),
        };
        type Folded = (BTreeMap<i32, Vec<ProducerRecord>>, Vec<ProducerRecord>);
        let rekey = || {
            stage_one
                .iter()
                .map(|(p, records)| {
                    self.rekey_records(query, aggregator, (repartition, *p), records, false)
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let fold = || {
            stage_two
                .iter()
                .map(|(p, records)| -> Result<Folded, EngineError> {
                    let (mut outputs, mut ordered) = (BTreeMap::new(), Vec::new());
                    self.run_batch(query, &input, *p, records, &mut outputs, &mut ordered)?;
                    check_aggregate_state(query, &repartition.topic, *p)?;
                    Ok((outputs, ordered))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        // A second thread pays for itself only when both stages have a batch's
        // worth of work; a live pipeline's few records stay on this task.
        let count = |fetched: &[(i32, Vec<creek_store::ConsumerRecord>)]| {
            fetched.iter().map(|(_, r)| r.len()).sum::<usize>()
        };
        let (changes, folded) = if count(&stage_one).min(count(&stage_two)) >= PARALLEL_BATCH / 2 {
            std::thread::scope(|scope| {
                let rekeyed = scope.spawn(rekey);
                let folded = fold();
                match rekeyed.join() {
                    Ok(changes) => (changes, folded),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            })
        } else {
            (rekey(), fold())
        };
        let (changes, folded) = (changes?, folded?);
        let mut consumed = 0;
        for ((partition, records), changes) in stage_one.iter().zip(changes) {
            consumed += records.len();
            self.append_rekeyed(query, repartition, *partition, records, changes)
                .await?;
        }
        if stage_two.is_empty() {
            return Ok(consumed);
        }
        let mut positions = repartition.positions.lock().clone();
        for ((partition, records), (outputs, ordered)) in stage_two.iter().zip(folded) {
            consumed += records.len();
            positions.insert(*partition, next_offset(records));
            for (p, records) in outputs {
                self.produce_counted(query, p, records).await?;
            }
            if let Some(tap) = self.output_tap.lock().as_mut() {
                for rec in ordered {
                    tap.push((query.sink_topic.clone(), rec));
                }
            }
        }
        // The state after every batch folded, with the positions it accounts for.
        self.write_changelogs(
            query,
            aggregator,
            &positions,
            stage_two.iter().map(|(p, _)| *p),
        )
        .await?;
        for (partition, records) in &stage_two {
            self.commit(
                query,
                &repartition.topic,
                *partition,
                next_offset(records),
                &repartition.positions,
            )
            .await?;
        }
        Ok(consumed)
    }

    /// The new records of each partition of `topic` from `positions` (one fetch
    /// each; partitions with nothing new are left out), counted as consumed.
    async fn fetch_new(
        &self,
        query: &PersistentQuery,
        topic: &str,
        positions: &Mutex<BTreeMap<i32, i64>>,
    ) -> Result<Vec<(i32, Vec<creek_store::ConsumerRecord>)>, EngineError> {
        let positions: Vec<(i32, i64)> = positions.lock().iter().map(|(p, o)| (*p, *o)).collect();
        let mut out = Vec::new();
        for (partition, offset) in positions {
            let records = self.fetch_counted(query, topic, partition, offset).await?;
            if !records.is_empty() {
                out.push((partition, records));
            }
        }
        Ok(out)
    }

    /// One fetch of `topic`-`partition` from `offset` (what a step reads at
    /// most), counted as consumed for DESCRIBE EXTENDED.
    async fn fetch_counted(
        &self,
        query: &PersistentQuery,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Vec<creek_store::ConsumerRecord>, EngineError> {
        let fetched = self
            .log
            .fetch(topic, partition, offset, 1 << 20, Duration::ZERO)
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        // Avro written through another worker's registry a moment ago: its
        // schema is read before the records are decoded.
        if let Some(registry) = &self.registry {
            let source = &query.decoder.source;
            if !fetched.records.is_empty() && topic == source.topic && source.uses_registry() {
                registry
                    .ensure_ids_of(&fetched.records)
                    .await
                    .map_err(|e| EngineError::Log(format!("reading new schemas: {e}")))?;
            }
        }
        if !fetched.records.is_empty() {
            self.stats.consumed(
                topic,
                fetched.records.len() as u64,
                record_bytes(&fetched.records),
            );
        }
        Ok(fetched.records)
    }

    /// Stage one of a re-keying aggregation over a table: reads the source
    /// from its committed offsets, re-keys each change (remembering each key's
    /// last row, so in order, on this thread) and appends it with
    /// [`Engine::append_rekeyed`]. Over a stream, [`Engine::step_both_stages`]
    /// does this instead.
    pub(super) async fn rekey_step(
        &self,
        query: &PersistentQuery,
        aggregator: &crate::aggregate::AggregateTasks,
        repartition: &Repartition,
    ) -> Result<usize, EngineError> {
        let mut consumed = 0;
        let source = &query.decoder.source.topic;
        for (partition, records) in self.fetch_new(query, source, &query.positions).await? {
            consumed += records.len();
            let changes =
                self.rekey_records(query, aggregator, (repartition, partition), &records, true)?;
            self.append_rekeyed(query, repartition, partition, &records, changes)
                .await?;
        }
        Ok(consumed)
    }

    /// Stage one's output for a batch of source `partition`: each change to the
    /// repartition topic, in its group's partition (Kafka's partitioner), then
    /// the source committed past `records`. A crash between the two writes the
    /// batch twice; stage two skips what it applied already.
    async fn append_rekeyed(
        &self,
        query: &PersistentQuery,
        repartition: &Repartition,
        partition: i32,
        records: &[creek_store::ConsumerRecord],
        changes: RekeyedBatches,
    ) -> Result<(), EngineError> {
        for (p, batch, n) in changes {
            let appended = match self.transaction(query).await? {
                Some(tx) => match creek_store::decode_records(p, batch, 0) {
                    Ok(records) => {
                        tx.produce(
                            &repartition.topic,
                            p,
                            records.into_iter().map(ProducerRecord::from).collect(),
                        )
                        .await
                    }
                    Err(e) => Err(e),
                },
                None => self
                    .log
                    .produce_batch(&repartition.topic, p, batch)
                    .await
                    .map(|_| ()),
            };
            appended.map_err(|e| EngineError::Log(e.to_string()))?;
            self.stats.produced(&repartition.topic, n);
        }
        let source = &query.decoder.source.topic;
        self.commit(
            query,
            source,
            partition,
            next_offset(records),
            &query.positions,
        )
        .await
    }

    /// Runs every query until none has input left (tests, benchmarks).
    pub async fn run_until_idle(&self) -> Result<(), EngineError> {
        loop {
            let mut progress = 0;
            for q in self.queries() {
                let stepped = self.step(&q).await;
                if let Err(e) = &stepped {
                    q.fail(e.to_string());
                    self.flush_processing_log().await;
                }
                progress += stepped?;
            }
            self.flush_processing_log().await;
            if progress == 0 {
                return Ok(());
            }
        }
    }

    /// Writes pending processing-log entries to the topic (if it exists).
    pub async fn flush_processing_log(&self) {
        let entries = self.processing_log.take();
        if entries.is_empty() {
            return;
        }
        let records: Vec<ProducerRecord> = entries
            .iter()
            .map(|e| ProducerRecord {
                key: None,
                value: Some(bytes::Bytes::from(e.to_json().to_string())),
                headers: Vec::new(),
                timestamp: Some(e.timestamp),
            })
            .collect();
        let topic = self.processing_log_topic();
        if let Some(tap) = self.output_tap.lock().as_mut() {
            tap.extend(records.iter().map(|r| (topic.clone(), r.clone())));
        }
        let _ = self.log.produce(&topic, 0, records).await;
    }
}
