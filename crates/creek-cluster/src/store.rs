//! [`ClusterLog`]: creek-store's `LogStore` on an external Kafka cluster.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use creek_store::batch::validate_batches;
use creek_store::group::{Assignor, GroupMember, JoinRequest};
use creek_store::{
    decode_records, FetchResult, LogError, LogStore, OffsetSpec, ProducerRecord, Result,
    TopicDescription, TransactionalProducer,
};
use parking_lot::Mutex;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, OwnedResourceSpecifier, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaResult, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;

use crate::config::{config_error, ClusterConfig};
use crate::error::{from_code, from_kafka, not_supported, timed_out, unreachable_cluster};
use crate::group::WireGroupMember;
use crate::produce::queue_records;
use crate::reader::{Event, ReadError, ReaderGuard, ReaderPool};
use crate::retry::{run_blocking, Backoff, Retry};
use crate::transaction::{ClusterTransactions, TransactionHost};

#[async_trait]
impl TransactionHost for ClusterLog {
    fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    async fn check_partition(&self, topic: &str, partition: i32) -> Result<()> {
        ClusterLog::check_partition(self, topic, partition).await
    }

    fn group_consumer(&self, group: &str) -> Result<Arc<BaseConsumer>> {
        ClusterLog::group_consumer(self, group)
    }
}

/// `LogStore` over an external Kafka cluster, through librdkafka. Cheap to clone:
/// clones share the clients.
#[derive(Clone)]
pub struct ClusterLog {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClusterConfig,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// A group-less consumer for metadata, watermarks and timestamp lookups.
    meta: BaseConsumer,
    readers: Arc<ReaderPool>,
    /// One consumer per group whose offsets this store commits or reads.
    groups: Mutex<HashMap<String, Arc<BaseConsumer>>>,
    /// Partition counts seen in the metadata; counts only grow while a topic lives.
    partitions: Mutex<HashMap<String, i32>>,
    /// Per partition, the offset after the last record this store produced: a read
    /// of an offset below it knows the records are there, even before its
    /// consumer's next fetch response says so (reading one's own writes).
    written: Mutex<HashMap<(String, i32), i64>>,
    /// Topics this store created, and when: until every broker knows them, one
    /// may answer that they do not exist.
    created: Mutex<HashMap<String, std::time::Instant>>,
}

/// Whether a call failed by running out of time.
fn is_timeout<T>(result: &Result<T>) -> bool {
    matches!(result, Err(LogError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut)
}

impl ClusterLog {
    /// Makes the clients and checks that the cluster answers within the
    /// configured timeout.
    pub async fn connect(config: ClusterConfig) -> Result<ClusterLog> {
        let producer: FutureProducer = config.producer().create().map_err(|e| config_error(&e))?;
        let admin: AdminClient<DefaultClientContext> =
            config.admin().create().map_err(|e| config_error(&e))?;
        let meta: BaseConsumer = config.reader().create().map_err(|e| config_error(&e))?;
        let log = ClusterLog {
            inner: Arc::new(Inner {
                config,
                producer,
                admin,
                meta,
                readers: Arc::default(),
                groups: Mutex::default(),
                partitions: Mutex::default(),
                written: Mutex::default(),
                created: Mutex::default(),
            }),
        };
        log.blocking("connecting", "the cluster", |inner, timeout| {
            inner.meta.fetch_metadata(None, timeout).map(|_| ())
        })
        .await?;
        Ok(log)
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// The cluster's id (what ksqlDB reports as `kafkaClusterId`), `None` when the
    /// cluster does not say within the timeout.
    pub async fn cluster_id(&self) -> Option<String> {
        let inner = self.inner.clone();
        let timeout = self.timeout();
        tokio::task::spawn_blocking(move || inner.meta.client().fetch_cluster_id(timeout))
            .await
            .ok()
            .flatten()
    }

    fn bootstrap(&self) -> &str {
        self.inner.config.bootstrap_servers()
    }

    fn timeout(&self) -> Duration {
        self.inner.config.timeout()
    }

    /// Runs a blocking librdkafka call on tokio's blocking threads, given the
    /// configured timeout, and maps its error for `subject`. An error that a
    /// moment fixes (a leader moving after a broker died, a coordinator loading,
    /// a connection lost) is retried with backoff until the timeout, as Kafka's
    /// Java clients retry them; `Retry::UnknownTopic` also retries an unknown
    /// partition (a broker whose metadata lags behind a topic just created).
    async fn blocking<T, F>(&self, what: &str, subject: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Inner, Duration) -> KafkaResult<T> + Clone + Send + 'static,
    {
        self.blocking_retrying(what, subject, Retry::Transient, f)
            .await
    }

    async fn blocking_retrying<T, F>(
        &self,
        what: &str,
        subject: &str,
        retry: Retry,
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&Inner, Duration) -> KafkaResult<T> + Clone + Send + 'static,
    {
        let mut backoff = Backoff::new(
            self.timeout(),
            Duration::from_millis(20),
            Duration::from_millis(500),
        );
        loop {
            let inner = self.inner.clone();
            let timeout = backoff
                .deadline()
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(100));
            let call = f.clone();
            let done = run_blocking(timeout, move || {
                let result = call(&inner, timeout);
                // The group-less consumer gets error events (a broker down) on its
                // queue though nothing reads from it: drop them.
                while inner.meta.poll(Duration::ZERO).is_some() {}
                result
            })
            .await;
            let error = match done {
                None => return Err(timed_out(what, self.bootstrap(), self.timeout())),
                Some(Err(join)) => {
                    return Err(LogError::Io(std::io::Error::other(format!(
                        "{what} ({subject}): {join}"
                    ))))
                }
                Some(Ok(Ok(value))) => return Ok(value),
                Some(Ok(Err(e))) => e,
            };
            if !retry.covers(&error) || !backoff.wait().await {
                return Err(from_kafka(&error, subject, what, self.bootstrap()));
            }
            tracing::debug!(%error, "{what} ({subject}): retried");
        }
    }

    /// The error for a replication factor the cluster cannot give: how many
    /// brokers it has, and the setting to change.
    async fn too_few_brokers(&self, topic: &str) -> LogError {
        let wanted = self.inner.config.replication_factor();
        let brokers = match self.metadata(None).await {
            Ok(m) => m.brokers().len().to_string(),
            Err(_) => "fewer".to_string(),
        };
        LogError::InvalidReplicationFactor(format!(
            "{topic}: replication factor {wanted} needs {wanted} brokers and the cluster at \
             {} has {brokers}; start creek with --replication-factor (at most the number of \
             brokers)",
            self.bootstrap()
        ))
    }

    async fn metadata(&self, topic: Option<&str>) -> Result<Metadata> {
        let owned = topic.map(str::to_string);
        let subject = topic.unwrap_or("all topics").to_string();
        // Asked through the admin client that creates topics: on a just-started
        // client a topic it created shows up at once, where a separate consumer
        // handle was seen missing it for most of a second.
        self.blocking("reading metadata", &subject, move |inner, timeout| {
            inner
                .admin
                .inner()
                .fetch_metadata(owned.as_deref(), timeout)
        })
        .await
    }

    /// The topic's partition count from fresh metadata, or UnknownTopicOrPartition.
    /// A topic this store created a moment ago may be unknown to the broker that
    /// answers (brokers learn of it one after another): that is asked again,
    /// within the timeout.
    async fn partition_count(&self, topic: &str) -> Result<i32> {
        match self.partition_count_once(topic).await {
            Err(LogError::UnknownTopicOrPartition(e)) if self.just_created(topic) => {
                if self
                    .await_metadata(topic, |seen| seen.is_some())
                    .await
                    .is_err()
                {
                    return Err(LogError::UnknownTopicOrPartition(e));
                }
                self.partition_count_once(topic).await
            }
            other => other,
        }
    }

    /// Asks the cluster whether `partitions` of `topic` are there (one metadata
    /// request), after a reader's consumer said one is unknown. A deleted topic
    /// (or partition) is an error, and this store forgets it; a partition that is
    /// there was the consumer's metadata lagging.
    async fn confirm_partitions(&self, topic: &str, partitions: &[i32]) -> Result<()> {
        let gone = match self.partition_count_once(topic).await {
            Ok(count) => partitions.iter().find(|&&p| p >= count).copied(),
            Err(LogError::UnknownTopicOrPartition(_)) if !self.just_created(topic) => {
                partitions.first().copied()
            }
            Err(LogError::UnknownTopicOrPartition(_)) => None,
            Err(e) => return Err(e),
        };
        let Some(partition) = gone else {
            return Ok(());
        };
        self.inner.partitions.lock().remove(topic);
        self.inner.readers.forget_topic(topic);
        Err(LogError::UnknownTopicOrPartition(format!(
            "{topic}-{partition} (the topic is no longer on the cluster at {})",
            self.bootstrap()
        )))
    }

    /// Whether this store created `topic` within the last timeout.
    fn just_created(&self, topic: &str) -> bool {
        self.inner
            .created
            .lock()
            .get(topic)
            .is_some_and(|at| at.elapsed() < self.timeout())
    }

    async fn partition_count_once(&self, topic: &str) -> Result<i32> {
        let metadata = self.metadata(Some(topic)).await?;
        let t = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(topic.to_string()))?;
        if let Some(err) = t.error() {
            return Err(from_code(
                err.into(),
                topic,
                "reading metadata",
                self.bootstrap(),
            ));
        }
        let count = t.partitions().len() as i32;
        if count == 0 {
            return Err(LogError::UnknownTopicOrPartition(topic.to_string()));
        }
        self.inner
            .partitions
            .lock()
            .insert(topic.to_string(), count);
        Ok(count)
    }

    /// UnknownTopicOrPartition unless the partition exists (cached metadata,
    /// refreshed on a miss).
    async fn check_partition(&self, topic: &str, partition: i32) -> Result<()> {
        let cached = self.inner.partitions.lock().get(topic).copied();
        let count = match cached {
            Some(n) if partition < n => n,
            _ => self.partition_count(topic).await?,
        };
        if partition < 0 || partition >= count {
            return Err(LogError::UnknownTopicOrPartition(format!(
                "{topic}-{partition}"
            )));
        }
        Ok(())
    }

    /// Waits until the brokers' metadata agrees with an admin change (the
    /// controller answers before every broker knows). Metadata changes have no
    /// notification, so this asks again after a short pause, within the timeout.
    async fn await_metadata(&self, topic: &str, ready: impl Fn(Option<i32>) -> bool) -> Result<()> {
        let mut backoff = Backoff::new(
            self.timeout(),
            Duration::from_millis(10),
            Duration::from_millis(200),
        );
        loop {
            let seen = match self.partition_count_once(topic).await {
                Ok(n) => Some(n),
                Err(LogError::UnknownTopicOrPartition(_)) => None,
                Err(e) => return Err(e),
            };
            if ready(seen) {
                return Ok(());
            }
            if !backoff.wait().await {
                return Err(timed_out(
                    &format!("waiting for the metadata of topic '{topic}' to settle"),
                    self.bootstrap(),
                    self.timeout(),
                ));
            }
        }
    }

    fn admin_options(&self) -> AdminOptions {
        AdminOptions::new()
            .request_timeout(Some(self.timeout()))
            .operation_timeout(Some(self.timeout()))
    }

    /// Admin options sending the request to a broker that answered a moment ago.
    /// librdkafka's admin client otherwise keeps sending to the controller its
    /// metadata names, which after that broker died may be gone for minutes.
    async fn admin_options_to_live_broker(&self) -> AdminOptions {
        let live = self.metadata(None).await.ok().map(|m| m.orig_broker_id());
        self.admin_options().broker_id(live)
    }

    /// An admin call, bounded by the configured timeout.
    async fn admin_call<T>(
        &self,
        what: &str,
        subject: &str,
        call: impl std::future::Future<Output = KafkaResult<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout() + Duration::from_secs(1), call).await {
            Err(_) => Err(timed_out(what, self.bootstrap(), self.timeout())),
            Ok(r) => r.map_err(|e| from_kafka(&e, subject, what, self.bootstrap())),
        }
    }

    /// The (earliest, latest) offsets of a partition, asked of its leader. For a
    /// topic this store just created, an unknown partition is a broker whose
    /// metadata lags: asked again.
    async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let owned = topic.to_string();
        let retry = if self.just_created(topic) {
            Retry::UnknownTopic
        } else {
            Retry::Transient
        };
        self.blocking_retrying(
            "reading offsets",
            &format!("{topic}-{partition}"),
            retry,
            move |inner, timeout| inner.meta.fetch_watermarks(&owned, partition, timeout),
        )
        .await
    }

    fn written(&self, topic: &str, partition: i32) -> i64 {
        self.inner
            .written
            .lock()
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(-1)
    }

    fn checkout(&self, topic: &str, partition: i32, offset: i64) -> Result<ReaderGuard> {
        self.inner
            .readers
            .checkout(&self.inner.config, topic, partition, offset)
    }

    /// A reader's failure as creek's error; the reader is closed.
    async fn read_failed(&self, reader: ReaderGuard, offset: i64, e: ReadError) -> LogError {
        let (topic, partition) = (reader.topic.clone(), reader.partition);
        reader.poison();
        match e {
            ReadError::OutOfRange => match self.watermarks(&topic, partition).await {
                Ok((start, end)) => LogError::OffsetOutOfRange { offset, start, end },
                Err(e) => e,
            },
            ReadError::Kafka(e) => from_kafka(
                &e,
                &format!("{topic}-{partition}"),
                "reading",
                self.bootstrap(),
            ),
        }
    }

    /// Whether the partition holds records at or after `offset` that `reader`
    /// (empty, at `offset`) has not received yet: this store wrote them, or the
    /// leader's latest offset says so. A reader that saw the partition's end at
    /// `offset` knows there are none, without asking: records written since
    /// reach its consumer within a fetch round trip.
    async fn records_pending(&self, reader: &mut ReaderGuard, offset: i64) -> Result<Pending> {
        if self.written(&reader.topic, reader.partition) > offset {
            return Ok(Pending::Yes);
        }
        if reader.at_end {
            return Ok(Pending::No);
        }
        let (start, end) = self.watermarks(&reader.topic, reader.partition).await?;
        reader.high_watermark = reader.high_watermark.max(end);
        Ok(if offset < start || offset > end {
            Pending::OutOfRange { start, end }
        } else if offset < end {
            Pending::Yes
        } else {
            Pending::No
        })
    }

    fn fetch_result(
        &self,
        reader: &ReaderGuard,
        records: Vec<creek_store::ConsumerRecord>,
    ) -> FetchResult {
        let high_watermark = reader
            .high_watermark
            .max(self.written(&reader.topic, reader.partition));
        FetchResult {
            records,
            high_watermark,
        }
    }

    /// One record's delivery report: its offset widens `first..=last`; a failed
    /// delivery is the produce's error.
    fn settle(
        &self,
        report: std::result::Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>,
        subject: &str,
        first: &mut Option<i64>,
        last: &mut i64,
    ) -> Result<()> {
        match report {
            Ok(Ok(d)) => {
                first.get_or_insert(d.offset);
                *last = (*last).max(d.offset);
                Ok(())
            }
            Ok(Err((e, _))) => Err(from_kafka(&e, subject, "producing", self.bootstrap())),
            Err(_) => Err(unreachable_cluster(
                "producing",
                self.bootstrap(),
                "the producer was closed before the delivery report",
            )),
        }
    }
}

#[async_trait]
impl LogStore for ClusterLog {
    async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<()> {
        let mut topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(self.inner.config.replication_factor()),
        );
        for (k, v) in &configs {
            topic = topic.set(k, v);
        }
        let mut results = self
            .admin_call(
                "creating a topic",
                name,
                self.inner
                    .admin
                    .create_topics([&topic], &self.admin_options()),
            )
            .await;
        if is_timeout(&results) {
            // The controller librdkafka knows may have died: ask a live broker,
            // which forwards the request to the controller (KRaft).
            let options = self.admin_options_to_live_broker().await;
            results = self
                .admin_call(
                    "creating a topic",
                    name,
                    self.inner.admin.create_topics([&topic], &options),
                )
                .await;
        }
        let results = results?;
        for result in results {
            if let Err((_, code)) = result {
                if code == RDKafkaErrorCode::InvalidReplicationFactor {
                    return Err(self.too_few_brokers(name).await);
                }
                return Err(from_code(code, name, "creating a topic", self.bootstrap()));
            }
        }
        self.inner
            .created
            .lock()
            .insert(name.to_string(), std::time::Instant::now());
        self.await_metadata(name, |seen| {
            seen.is_some_and(|n| partitions < 1 || n >= partitions)
        })
        .await
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        let results = self
            .admin_call(
                "deleting a topic",
                name,
                self.inner
                    .admin
                    .delete_topics(&[name], &self.admin_options()),
            )
            .await?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(from_code(code, name, "deleting a topic", self.bootstrap()));
            }
        }
        self.inner.readers.forget_topic(name);
        self.inner
            .written
            .lock()
            .retain(|(topic, _), _| topic != name);
        self.await_metadata(name, |seen| seen.is_none()).await?;
        self.inner.partitions.lock().remove(name);
        self.inner.created.lock().remove(name);
        Ok(())
    }

    async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        if total < 1 {
            return Err(LogError::InvalidPartitions(format!(
                "{name}: a topic needs at least one partition, not {total}"
            )));
        }
        let new = NewPartitions::new(name, total as usize);
        let results = self
            .admin_call(
                "adding partitions",
                name,
                self.inner
                    .admin
                    .create_partitions([&new], &self.admin_options()),
            )
            .await?;
        for result in results {
            if let Err((_, code)) = result {
                return Err(from_code(code, name, "adding partitions", self.bootstrap()));
            }
        }
        self.await_metadata(name, |seen| seen.is_some_and(|n| n >= total))
            .await
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        let metadata = self.metadata(None).await?;
        let mut topics: Vec<(String, i32)> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect();
        topics.sort();
        let mut configs = self
            .topic_configs(topics.iter().map(|(n, _)| n.as_str()))
            .await?;
        Ok(topics
            .into_iter()
            .map(|(name, partitions)| TopicDescription {
                configs: configs.remove(&name).unwrap_or_default(),
                internal: is_internal(&name),
                name,
                partitions,
            })
            .collect())
    }

    async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let partitions = self.partition_count(name).await?;
        let mut configs = self.topic_configs([name]).await?;
        Ok(TopicDescription {
            name: name.to_string(),
            partitions,
            internal: is_internal(name),
            configs: configs.remove(name).unwrap_or_default(),
        })
    }

    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<i64> {
        if records.is_empty() {
            return Err(LogError::InvalidRecord("no records to produce".into()));
        }
        self.check_partition(topic, partition).await?;
        let subject = format!("{topic}-{partition}");
        // All records are queued before any delivery is awaited: the idempotent
        // producer keeps them in this order and batches them.
        let mut deliveries = VecDeque::with_capacity(records.len());
        let (mut first, mut last) = (None, -1);
        queue_records(
            &self.inner.producer,
            (topic, partition),
            &records,
            (self.timeout(), self.bootstrap()),
            &mut deliveries,
            &mut |report| self.settle(report, &subject, &mut first, &mut last),
        )
        .await?;
        for delivery in deliveries {
            self.settle(delivery.await, &subject, &mut first, &mut last)?;
        }
        let mut written = self.inner.written.lock();
        let end = written.entry((topic.to_string(), partition)).or_insert(-1);
        *end = (*end).max(last + 1);
        Ok(first.expect("at least one record"))
    }

    /// There is no raw producer id on an external cluster: librdkafka's
    /// idempotent producer gets and keeps its own (so its own retries never
    /// duplicate a record) and takes none from outside, so a caller's sequence
    /// numbers could not be checked by the broker. Callers append plain batches.
    async fn init_producer_id(&self) -> Result<Option<i64>> {
        Ok(None)
    }

    async fn produce_batch(&self, topic: &str, partition: i32, batch: Bytes) -> Result<i64> {
        for header in validate_batches(&batch)? {
            if header.producer_id >= 0 {
                return Err(not_supported(&format!(
                    "a batch of idempotent producer {} (sequence-checked appends need \
                     InitProducerId, see init_producer_id)",
                    header.producer_id
                )));
            }
        }
        let records: Vec<ProducerRecord> = decode_records(partition, batch, 0)?
            .into_iter()
            .map(ProducerRecord::from)
            .collect();
        self.produce(topic, partition, records).await
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Result<FetchResult> {
        self.check_partition(topic, partition).await?;
        let mut reader = self.checkout(topic, partition, offset)?;
        let deadline = Instant::now() + max_wait;
        loop {
            if let Err(e) = reader.take_ready(max_bytes) {
                return Err(self.read_failed(reader, offset, e).await);
            }
            if reader.missing && !reader.has_records() {
                reader.missing = false;
                if let Err(e) = self.confirm_partitions(topic, &[partition]).await {
                    reader.poison();
                    return Err(e);
                }
            }
            if reader.has_records() {
                let records = reader.take(max_bytes);
                return Ok(self.fetch_result(&reader, records));
            }
            if Instant::now() < deadline {
                match tokio::time::timeout_at(deadline, reader.next_event()).await {
                    Ok(Err(e)) => return Err(self.read_failed(reader, offset, e).await),
                    Ok(Ok(_)) | Err(_) => continue,
                }
            }
            // Nothing came by the deadline. If records are there nonetheless (the
            // consumer has not fetched them yet), wait for them: a zero-wait fetch
            // must return what the partition holds, or replaying it to its end
            // (read_to_end) would stop short.
            match self.records_pending(&mut reader, offset).await? {
                Pending::Yes => {}
                Pending::No => return Ok(self.fetch_result(&reader, Vec::new())),
                Pending::OutOfRange { start, end } => {
                    reader.poison();
                    return Err(LogError::OffsetOutOfRange { offset, start, end });
                }
            }
            let give_up = Instant::now() + self.timeout();
            match tokio::time::timeout_at(give_up, reader.next_event()).await {
                Ok(Ok(Event::Record | Event::Missing)) => continue,
                // The consumer reached the end without a record: what was there
                // were transaction markers or aborted records.
                Ok(Ok(Event::End)) => return Ok(self.fetch_result(&reader, Vec::new())),
                Ok(Err(e)) => return Err(self.read_failed(reader, offset, e).await),
                Err(_) => {
                    reader.poison();
                    return Err(timed_out(
                        &format!("reading {topic}-{partition} at offset {offset}"),
                        self.bootstrap(),
                        self.timeout(),
                    ));
                }
            }
        }
    }

    async fn wait_for_records(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        deadline: Instant,
    ) -> Result<bool> {
        for &(partition, _) in positions {
            self.check_partition(topic, partition).await?;
        }
        if positions.is_empty() {
            // Nothing can wake us: wait out the deadline rather than return at
            // once into a caller's loop.
            tokio::time::sleep_until(deadline).await;
            return Ok(false);
        }
        if positions
            .iter()
            .any(|&(partition, offset)| self.written(topic, partition) > offset)
        {
            return Ok(true);
        }
        let mut readers = Vec::with_capacity(positions.len());
        for &(partition, offset) in positions {
            readers.push((self.checkout(topic, partition, offset)?, offset));
        }
        loop {
            for i in 0..readers.len() {
                if let Err(e) = readers[i].0.take_ready(1) {
                    let (reader, offset) = readers.swap_remove(i);
                    return Err(self.read_failed(reader, offset, e).await);
                }
                if readers[i].0.has_records() {
                    return Ok(true);
                }
                if readers[i].0.missing {
                    readers[i].0.missing = false;
                    let partition = readers[i].0.partition;
                    if let Err(e) = self.confirm_partitions(topic, &[partition]).await {
                        let (reader, _) = readers.swap_remove(i);
                        reader.poison();
                        return Err(e);
                    }
                }
            }
            if Instant::now() >= deadline {
                break;
            }
            // The first message (or end event) on any of the partitions wakes
            // this; the message stays buffered in its reader for the next fetch.
            let woken = {
                let waits = readers.iter_mut().map(|(r, _)| Box::pin(r.next_event()));
                match tokio::time::timeout_at(deadline, futures::future::select_all(waits)).await {
                    Err(_) | Ok((Ok(_), _, _)) => None,
                    Ok((Err(e), i, _)) => Some((e, i)),
                }
            };
            match woken {
                None => continue,
                Some((e, i)) => {
                    let (reader, offset) = readers.swap_remove(i);
                    return Err(self.read_failed(reader, offset, e).await);
                }
            }
        }
        // At the deadline: a reader that has not yet seen its partition's end
        // may be waiting for its first fetch response; ask the leaders. And a
        // deleted topic shows here at the latest (librdkafka notices one only at
        // its next metadata refresh, minutes away): one metadata request.
        let partitions: Vec<i32> = positions.iter().map(|&(p, _)| p).collect();
        if let Err(e) = self.confirm_partitions(topic, &partitions).await {
            readers.into_iter().for_each(|(reader, _)| reader.poison());
            return Err(e);
        }
        readers
            .iter_mut()
            .for_each(|(reader, _)| reader.missing = false);
        for (reader, offset) in readers.iter_mut() {
            if matches!(self.records_pending(reader, *offset).await?, Pending::Yes) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn join_group(
        &self,
        request: JoinRequest,
        assignor: Arc<dyn Assignor>,
    ) -> Result<Arc<dyn GroupMember>> {
        let protocol = self
            .inner
            .config
            .properties()
            .get("security.protocol")
            .map_or("plaintext".to_string(), |p| p.to_ascii_lowercase());
        if protocol != "plaintext" {
            return Err(not_supported(&format!(
                "group membership over security.protocol={protocol} (creek's workers \
                 share work over PLAINTEXT connections only so far)"
            )));
        }
        Ok(Arc::new(WireGroupMember::new(
            self.bootstrap(),
            request,
            assignor,
            self.timeout(),
        )))
    }

    async fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<Arc<dyn TransactionalProducer>> {
        Ok(Arc::new(
            ClusterTransactions::start(Arc::new(self.clone()), transactional_id).await?,
        ))
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>> {
        self.check_partition(topic, partition).await?;
        match spec {
            OffsetSpec::Earliest => Ok(Some(self.watermarks(topic, partition).await?.0)),
            OffsetSpec::Latest => Ok(Some(self.watermarks(topic, partition).await?.1)),
            OffsetSpec::Timestamp(ts) => {
                let owned = topic.to_string();
                let found = self
                    .blocking(
                        "looking up an offset by timestamp",
                        &format!("{topic}-{partition}"),
                        move |inner, timeout| {
                            let mut tpl = TopicPartitionList::new();
                            tpl.add_partition_offset(&owned, partition, Offset::Offset(ts))?;
                            inner.meta.offsets_for_times(tpl, timeout)
                        },
                    )
                    .await?;
                let element = found.find_partition(topic, partition);
                Ok(match element.map(|e| e.offset()) {
                    Some(Offset::Offset(o)) if o >= 0 => Some(o),
                    // Kafka answers -1 (librdkafka's End) when no record is at or
                    // after the timestamp.
                    _ => None,
                })
            }
        }
    }

    async fn commit_offsets(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let consumer = self.group_consumer(group)?;
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| from_kafka(&e, group, "committing offsets", self.bootstrap()))?;
        }
        self.blocking("committing offsets", group, move |_, _| {
            let result = consumer.commit(&tpl, CommitMode::Sync);
            while consumer.poll(Duration::ZERO).is_some() {}
            result
        })
        .await
    }

    async fn committed_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
        // OffsetFetch names the partitions it asks about: all of the cluster's.
        let metadata = self.metadata(None).await?;
        let mut tpl = TopicPartitionList::new();
        for t in metadata.topics().iter().filter(|t| t.error().is_none()) {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
        let consumer = self.group_consumer(group)?;
        let committed = self
            .blocking("reading committed offsets", group, move |_, timeout| {
                let result = consumer.committed_offsets(tpl.clone(), timeout);
                while consumer.poll(Duration::ZERO).is_some() {}
                result
            })
            .await?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect())
    }
}

impl ClusterLog {
    /// The consumer that speaks for `group`; it never joins the group.
    fn group_consumer(&self, group: &str) -> Result<Arc<BaseConsumer>> {
        let mut groups = self.inner.groups.lock();
        if let Some(c) = groups.get(group) {
            return Ok(c.clone());
        }
        let consumer: BaseConsumer = self
            .inner
            .config
            .group(group)
            .create()
            .map_err(|e| config_error(&e))?;
        let consumer = Arc::new(consumer);
        groups.insert(group.to_string(), consumer.clone());
        Ok(consumer)
    }

    /// Each topic's configs as (name, value, is_default), one request for all.
    async fn topic_configs<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<HashMap<String, Vec<(String, String, bool)>>> {
        let specifiers: Vec<ResourceSpecifier<'_>> =
            topics.into_iter().map(ResourceSpecifier::Topic).collect();
        if specifiers.is_empty() {
            return Ok(HashMap::new());
        }
        // Any broker answers for topic configs: one that answered a moment ago.
        let options = self.admin_options_to_live_broker().await;
        let results = self
            .admin_call(
                "describing topic configs",
                "topics",
                self.inner
                    .admin
                    .describe_configs(specifiers.iter(), &options),
            )
            .await?;
        let mut out = HashMap::new();
        for result in results {
            match result {
                Ok(resource) => {
                    let OwnedResourceSpecifier::Topic(name) = resource.specifier else {
                        continue;
                    };
                    let mut entries: Vec<_> = resource
                        .entries
                        .into_iter()
                        .map(|e| (e.name, e.value.unwrap_or_default(), e.is_default))
                        .collect();
                    entries.sort();
                    out.insert(name, entries);
                }
                // A topic whose configs this principal may not read is still
                // listed, and one deleted since the metadata was read is not.
                Err(
                    RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::UnknownTopicOrPartition,
                ) => {}
                Err(code) => {
                    return Err(from_code(
                        code,
                        "topics",
                        "describing topic configs",
                        self.bootstrap(),
                    ))
                }
            }
        }
        Ok(out)
    }
}

/// Whether a partition holds records a reader has not received yet.
enum Pending {
    Yes,
    No,
    /// The offset is outside the partition's log `[start, end]`.
    OutOfRange {
        start: i64,
        end: i64,
    },
}

/// Kafka's own topics (`__consumer_offsets`, `__transaction_state`, …).
fn is_internal(topic: &str) -> bool {
    topic.starts_with("__")
}
