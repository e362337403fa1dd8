//! [`Reader`]: one partition read through a group-less consumer, and the
//! [`ReaderPool`] that keeps readers between calls so that a caller reading a
//! partition sequentially keeps the consumer's prefetch instead of seeking anew.
//!
//! A reader pulls messages off its consumer into `buffer` as soon as it gets them
//! (in the same poll that received them), so a caller cancelled while waiting
//! loses nothing: the next fetch finds the records there.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use creek_store::{ConsumerRecord, Result};
use futures::FutureExt;
use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{config_error, ClusterConfig};
use crate::error::from_kafka;

/// Idle readers kept per partition: enough for a few callers reading one partition
/// at different offsets (a query and a pull query) without thrashing one consumer.
const IDLE_PER_PARTITION: usize = 4;

/// What a wait on a reader's consumer ended with.
pub(crate) enum Event {
    /// A record, now at the end of the buffer.
    Record,
    /// The consumer reached the end of the partition.
    End,
    /// The consumer says the partition does not exist: its metadata lags behind
    /// a topic just created, or the topic was deleted. [`Reader::missing`] is set
    /// until the store has asked the cluster which.
    Missing,
}

/// Why reading a partition failed.
pub(crate) enum ReadError {
    /// The offset is outside the partition's log.
    OutOfRange,
    Kafka(KafkaError),
}

pub(crate) struct Reader {
    consumer: StreamConsumer<ReaderContext>,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// Offset after the last record pulled off the consumer: where it goes on.
    fetched_to: i64,
    /// The offset the buffer continues from: every record of the partition in
    /// `[from, fetched_to)` that is not in `buffer` has been removed from the log
    /// (compaction, transaction markers), so a fetch at any offset in that range
    /// can be served from here.
    from: i64,
    buffer: VecDeque<ConsumerRecord>,
    /// The sum of [`record_size`] over `buffer`, kept as records come and go
    /// (summing it on every pull made draining a full buffer quadratic).
    buffered: usize,
    /// The consumer reported the partition's end at `fetched_to`, and no record
    /// came since.
    pub(crate) at_end: bool,
    /// The consumer reported the partition unknown since the store last checked.
    pub(crate) missing: bool,
    /// Set by the client's error callback when librdkafka finds the partition gone.
    gone: Arc<Gone>,
    /// The highest latest-offset of the partition seen, for fetch results.
    pub(crate) high_watermark: i64,
}

impl Reader {
    pub(crate) fn new(
        config: &ClusterConfig,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<Reader> {
        let context = ReaderContext::default();
        let gone = context.gone.clone();
        let consumer: StreamConsumer<ReaderContext> = config
            .reader()
            .create_with_context(context)
            .map_err(|e| config_error(&e))?;
        let mut reader = Reader {
            consumer,
            topic: topic.to_string(),
            partition,
            fetched_to: offset,
            from: offset,
            buffer: VecDeque::new(),
            buffered: 0,
            at_end: false,
            missing: false,
            gone,
            high_watermark: -1,
        };
        reader.assign(offset, config)?;
        Ok(reader)
    }

    fn assign(&mut self, offset: i64, config: &ClusterConfig) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        let subject = format!("{}-{}", self.topic, self.partition);
        tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(offset))
            .and_then(|()| self.consumer.assign(&tpl))
            .map_err(|e| from_kafka(&e, &subject, "assigning", config.bootstrap_servers()))?;
        // librdkafka discards what was fetched for the old position (its op
        // version barrier), so nothing stale arrives after this.
        self.fetched_to = offset;
        self.from = offset;
        self.buffer.clear();
        self.buffered = 0;
        self.at_end = false;
        Ok(())
    }

    /// Whether the next fetch at `offset` continues where this reader is.
    pub(crate) fn continues_at(&self, offset: i64) -> bool {
        self.from <= offset && offset <= self.fetched_to
    }

    /// Moves the reader to `offset`: keeps the buffer when it covers it,
    /// reassigns the consumer otherwise.
    pub(crate) fn position_at(&mut self, offset: i64, config: &ClusterConfig) -> Result<()> {
        if self.continues_at(offset) {
            while self.buffer.front().is_some_and(|r| r.offset < offset) {
                if let Some(dropped) = self.buffer.pop_front() {
                    self.buffered -= record_size(&dropped);
                }
            }
            self.from = offset;
            Ok(())
        } else {
            self.assign(offset, config)
        }
    }

    pub(crate) fn has_records(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// What a consumer handed out: a record into the buffer, the end of the
    /// partition, or an error; `None` for an error librdkafka recovers from by
    /// itself (a broker connection lost, a coordinator not found).
    fn accept(
        &mut self,
        got: std::result::Result<ConsumerRecord, KafkaError>,
    ) -> std::result::Result<Option<Event>, ReadError> {
        use RDKafkaErrorCode as C;
        match got {
            Ok(record) => {
                self.fetched_to = record.offset + 1;
                self.high_watermark = self.high_watermark.max(self.fetched_to);
                self.at_end = false;
                self.buffered += record_size(&record);
                self.buffer.push_back(record);
                Ok(Some(Event::Record))
            }
            Err(KafkaError::PartitionEOF(_)) => {
                self.at_end = true;
                Ok(Some(Event::End))
            }
            Err(KafkaError::MessageConsumption(C::OffsetOutOfRange | C::AutoOffsetReset)) => {
                Err(ReadError::OutOfRange)
            }
            // An unknown topic or partition here is this consumer's metadata lagging
            // behind a topic just created (on a multi-broker cluster another broker
            // may answer first: librdkafka refreshes it and goes on), or the topic
            // was deleted. The store asks the cluster which (`missing`).
            Err(KafkaError::MessageConsumption(
                C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition,
            )) => {
                tracing::debug!(topic = %self.topic, partition = self.partition,
                    "consumer: partition unknown");
                self.missing = true;
                Ok(Some(Event::Missing))
            }
            Err(
                e @ KafkaError::MessageConsumption(C::TopicAuthorizationFailed | C::Fatal)
                | e @ KafkaError::MessageConsumptionFatal(_),
            ) => Err(ReadError::Kafka(e)),
            Err(e) => {
                tracing::debug!(topic = %self.topic, partition = self.partition, "consumer: {e}");
                Ok(None)
            }
        }
    }

    /// Pulls what the consumer already holds, without waiting, until the buffer
    /// holds `max_bytes`.
    pub(crate) fn take_ready(&mut self, max_bytes: usize) -> std::result::Result<(), ReadError> {
        while self.buffered_bytes() < max_bytes {
            // recv() is cancel-safe: polled once, it either has a message ready or
            // registers (and on drop unregisters) its waker.
            let Some(got) = self.consumer.recv().now_or_never() else {
                return Ok(());
            };
            let got = got.map(|m| to_record(&m));
            self.accept(got)?;
        }
        Ok(())
    }

    /// Waits for the consumer's next message or end-of-partition event.
    /// Cancel-safe: a record received is in the buffer before this returns.
    pub(crate) async fn next_event(&mut self) -> std::result::Result<Event, ReadError> {
        loop {
            // librdkafka reports a deleted partition through the client's error
            // callback, not the message stream: that wakes this too.
            let gone = self.gone.clone();
            let got = tokio::select! {
                got = self.consumer.recv() => got.map(|m| to_record(&m)),
                () = gone.reported() => {
                    self.missing = true;
                    return Ok(Event::Missing);
                }
            };
            if let Some(event) = self.accept(got)? {
                return Ok(event);
            }
        }
    }

    fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Hands out buffered records up to `max_bytes` (at least one, as Kafka
    /// does for a record larger than the limit).
    pub(crate) fn take(&mut self, max_bytes: usize) -> Vec<ConsumerRecord> {
        let mut out = Vec::new();
        let mut size = 0;
        while let Some(record) = self.buffer.front() {
            let n = record_size(record);
            if !out.is_empty() && size + n > max_bytes {
                break;
            }
            size += n;
            self.buffered -= n;
            let record = self.buffer.pop_front().expect("front exists");
            self.from = record.offset + 1;
            out.push(record);
        }
        out
    }
}

/// A record's share of a fetch's `max_bytes`: its data plus Kafka's per-record
/// overhead, roughly.
fn record_size(r: &ConsumerRecord) -> usize {
    let data = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
    16 + data(&r.key)
        + data(&r.value)
        + r.headers
            .iter()
            .map(|(k, v)| k.len() + data(v))
            .sum::<usize>()
}

fn to_record(m: &BorrowedMessage<'_>) -> ConsumerRecord {
    ConsumerRecord {
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
        key: m.key().map(Bytes::copy_from_slice),
        value: m.payload().map(Bytes::copy_from_slice),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(Bytes::copy_from_slice)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Readers not in use, by partition.
#[derive(Default)]
pub(crate) struct ReaderPool {
    idle: Mutex<HashMap<(String, i32), Vec<Reader>>>,
}

impl ReaderPool {
    /// A reader of `topic`/`partition` positioned at `offset`: an idle one that
    /// continues there if there is one, else a new one, else (the partition has
    /// its fill of idle readers) the one idle longest, moved there. Moving a
    /// reader throws away what it prefetched, so two callers reading one
    /// partition at different offsets (two queries over one topic) each keep
    /// their own. It goes back to the pool when the guard drops.
    pub(crate) fn checkout(
        self: &Arc<Self>,
        config: &ClusterConfig,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<ReaderGuard> {
        let found = {
            let mut idle = self.idle.lock();
            idle.get_mut(&(topic.to_string(), partition))
                .and_then(|readers| {
                    match readers.iter().position(|r| r.continues_at(offset)) {
                        Some(i) => Some(readers.remove(i)),
                        // Readers go back at the end: the first was idle longest.
                        None if readers.len() >= IDLE_PER_PARTITION => Some(readers.remove(0)),
                        None => None,
                    }
                })
        };
        let reader = match found {
            Some(mut r) => match r.position_at(offset, config) {
                Ok(()) => r,
                Err(e) => {
                    discard(r);
                    return Err(e);
                }
            },
            None => Reader::new(config, topic, partition, offset)?,
        };
        Ok(ReaderGuard {
            reader: Some(reader),
            pool: self.clone(),
        })
    }

    /// Drops the readers of a topic (deleted: its partitions are gone).
    pub(crate) fn forget_topic(&self, topic: &str) {
        let gone: Vec<Reader> = {
            let mut idle = self.idle.lock();
            let keys: Vec<_> = idle.keys().filter(|(t, _)| t == topic).cloned().collect();
            keys.into_iter()
                .flat_map(|k| idle.remove(&k).unwrap_or_default())
                .collect()
        };
        gone.into_iter().for_each(discard);
    }

    fn give_back(&self, reader: Reader) {
        let key = (reader.topic.clone(), reader.partition);
        let mut idle = self.idle.lock();
        let readers = idle.entry(key).or_default();
        if readers.len() < IDLE_PER_PARTITION {
            readers.push(reader);
        } else {
            drop(idle);
            discard(reader);
        }
    }
}

/// Closes a reader off the async worker threads: destroying a librdkafka client
/// joins its threads.
fn discard(reader: Reader) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(move || drop(reader));
        }
        Err(_) => drop(reader),
    }
}

/// A reader checked out of the pool; returned on drop unless [`Self::poison`]ed.
pub(crate) struct ReaderGuard {
    reader: Option<Reader>,
    pool: Arc<ReaderPool>,
}

impl ReaderGuard {
    /// After an error the reader's state is unknown: close it instead of reusing it.
    pub(crate) fn poison(mut self) {
        if let Some(r) = self.reader.take() {
            discard(r);
        }
    }
}

impl std::ops::Deref for ReaderGuard {
    type Target = Reader;
    fn deref(&self) -> &Reader {
        self.reader.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for ReaderGuard {
    fn deref_mut(&mut self) -> &mut Reader {
        self.reader.as_mut().expect("present until dropped")
    }
}

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            self.pool.give_back(r);
        }
    }
}

/// A reader's librdkafka context: reaching the end of a partition is how a reader
/// learns it has seen everything (`enable.partition.eof`), not an error to log.
#[derive(Default)]
pub(crate) struct ReaderContext {
    gone: Arc<Gone>,
}

/// The partition of a reader was reported gone (deleted) by librdkafka.
#[derive(Default)]
pub(crate) struct Gone {
    flag: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl Gone {
    fn report(&self) {
        self.flag.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_waiters();
    }

    /// Resolves once a report came (at once if one came before); consumes it.
    async fn reported(&self) {
        loop {
            let notified = self.wake.notified();
            if self.flag.swap(false, std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        use RDKafkaErrorCode as C;
        match error.rdkafka_error_code() {
            Some(C::PartitionEOF) => tracing::trace!("librdkafka: {error}: {reason}"),
            // A deleted topic: the reader's waits end and the store asks the
            // cluster (a broker whose metadata lags says the same of a new one).
            Some(C::UnknownPartition | C::UnknownTopicOrPartition | C::UnknownTopic) => {
                tracing::debug!("librdkafka: {error}: {reason}");
                self.gone.report();
            }
            _ => tracing::error!("librdkafka: {error}: {reason}"),
        }
    }
}

impl ConsumerContext for ReaderContext {}
