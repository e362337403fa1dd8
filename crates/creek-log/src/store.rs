//! `LogStore`: the one narrow interface through which connectors and the SQL engine
//! reach a log. `EmbeddedLog` implements it over creek's own [`Log`]; an
//! implementation over an external Kafka cluster can be added beside it without
//! touching its callers.

use crate::now_ms;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::error::{LogError, Result};
use crate::groups::CommittedOffset;
use crate::log::Log;

/// A record to append.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerRecord {
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Creation time in ms since the epoch; `None` means now.
    pub timestamp: Option<i64>,
}

/// An idempotent producer's identity and the sequence number of a batch's first
/// record: a retried batch with the same sequences is recognised and not appended twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSequence {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
}

/// A record read back from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub partitions: i32,
    pub internal: bool,
    /// (name, value, is_default)
    pub configs: Vec<(String, String, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// First offset with a timestamp at or after this one.
    Timestamp(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResult {
    pub records: Vec<ConsumerRecord>,
    pub high_watermark: i64,
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
    /// A new idempotent producer id (Kafka's InitProducerId).
    async fn init_producer_id(&self) -> Result<i64>;
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
}

/// `LogStore` over creek's embedded log, in-process.
#[derive(Clone)]
pub struct EmbeddedLog {
    log: Arc<Log>,
}

impl EmbeddedLog {
    /// A topic and one of its partitions, or UnknownTopicOrPartition.
    fn topic_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(Arc<crate::log::Topic>, Arc<crate::partition::Partition>)> {
        let t = self
            .log
            .topic(topic)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(topic.to_string()))?;
        let p = t
            .partition(partition)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(format!("{topic}-{partition}")))?;
        Ok((t, p))
    }

    pub fn new(log: Arc<Log>) -> Self {
        EmbeddedLog { log }
    }
    pub fn log(&self) -> &Arc<Log> {
        &self.log
    }
}

/// Encodes records as one uncompressed RecordBatch v2.
pub fn encode_records(records: &[ProducerRecord]) -> Result<BytesMut> {
    let now = now_ms();
    let encoded: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder keeps records in one batch only while offset - sequence is
            // constant; this yields baseSequence -1, "no sequence", as Kafka expects.
            sequence: i as i32 - 1,
            timestamp: r.timestamp.unwrap_or(now),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), v.clone()))
                .collect::<IndexMap<_, _>>(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &encoded,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| LogError::InvalidRecord(format!("cannot encode records: {e}")))?;
    Ok(buf)
}

/// Decodes stored batches into records at or after `from_offset`, skipping control records.
pub fn decode_records(
    partition: i32,
    mut raw: Bytes,
    from_offset: i64,
) -> Result<Vec<ConsumerRecord>> {
    let sets = RecordBatchDecoder::decode_all(&mut raw)
        .map_err(|e| LogError::CorruptRecord(format!("cannot decode stored batch: {e}")))?;
    Ok(sets
        .into_iter()
        .flat_map(|s| s.records)
        .filter(|r| !r.control && r.offset >= from_offset)
        .map(|r| ConsumerRecord {
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: r
                .headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        })
        .collect())
}

fn describe(topic: &crate::log::Topic) -> TopicDescription {
    TopicDescription {
        name: topic.name.clone(),
        partitions: topic.partition_count(),
        internal: topic.is_internal(),
        configs: topic.config().describe(),
    }
}

#[async_trait]
impl LogStore for EmbeddedLog {
    async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<()> {
        self.log.create_topic(name, partitions, configs).map(|_| ())
    }

    async fn delete_topic(&self, name: &str) -> Result<()> {
        self.log.delete_topic(name)
    }

    async fn create_partitions(&self, name: &str, total: i32) -> Result<()> {
        self.log.create_partitions(name, total, false)
    }

    async fn list_topics(&self) -> Result<Vec<TopicDescription>> {
        Ok(self.log.topics().iter().map(|t| describe(t)).collect())
    }

    async fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let topic = self
            .log
            .topic(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        Ok(describe(&topic))
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
        let (t, p) = self.topic_partition(topic, partition)?;
        let data = encode_records(&records)?;
        Ok(p.append(data.freeze(), &t.config())?.base_offset)
    }

    async fn init_producer_id(&self) -> Result<i64> {
        self.log.next_producer_id()
    }

    async fn produce_batch(&self, topic: &str, partition: i32, batch: Bytes) -> Result<i64> {
        let (t, p) = self.topic_partition(topic, partition)?;
        Ok(p.append(batch, &t.config())?.base_offset)
    }

    async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Result<FetchResult> {
        let p = self.log.partition(topic, partition)?;
        let deadline = tokio::time::Instant::now() + max_wait;
        loop {
            let appended = p.appended();
            let slice = p.read(offset, max_bytes)?;
            if !slice.records.is_empty() {
                let records = decode_records(partition, slice.records, offset)?;
                if !records.is_empty() {
                    return Ok(FetchResult {
                        records,
                        high_watermark: slice.high_watermark,
                    });
                }
            }
            if tokio::time::timeout_at(deadline, appended).await.is_err() {
                return Ok(FetchResult {
                    records: Vec::new(),
                    high_watermark: p.high_watermark(),
                });
            }
        }
    }

    async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>> {
        let p = self.log.partition(topic, partition)?;
        Ok(match spec {
            OffsetSpec::Earliest => Some(p.log_start_offset()),
            OffsetSpec::Latest => Some(p.high_watermark()),
            OffsetSpec::Timestamp(ts) => p.offset_for_timestamp(ts)?.map(|(o, _)| o),
        })
    }

    async fn commit_offsets(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()> {
        let now = now_ms();
        let entries: Vec<_> = offsets
            .iter()
            .map(|(t, p, o)| {
                (
                    t.clone(),
                    *p,
                    CommittedOffset {
                        offset: *o,
                        metadata: None,
                        commit_timestamp: now,
                    },
                )
            })
            .collect();
        self.log.commit_offsets(group, &entries)
    }

    async fn committed_offsets(&self, group: &str) -> Result<BTreeMap<(String, i32), i64>> {
        Ok(self
            .log
            .committed_offsets(group)
            .into_iter()
            .map(|(k, v)| (k, v.offset))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LogConfig;

    #[tokio::test]
    async fn produce_fetch_and_offsets_through_the_interface() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
            Log::open(dir.path(), LogConfig::default()).unwrap(),
        ));
        store
            .create_topic("orders", 2, BTreeMap::new())
            .await
            .unwrap();
        let recs = (0..3)
            .map(|i| ProducerRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: vec![("h".into(), Some(Bytes::from_static(b"1")))],
                timestamp: Some(1000 + i),
            })
            .collect();
        assert_eq!(store.produce("orders", 1, recs).await.unwrap(), 0);
        let got = store
            .fetch("orders", 1, 1, 1 << 20, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(got.records.len(), 2);
        assert_eq!(got.records[0].offset, 1);
        assert_eq!(got.records[0].value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(got.records[0].headers[0].0, "h");
        assert_eq!(got.high_watermark, 3);
        assert_eq!(
            store
                .list_offset("orders", 1, OffsetSpec::Timestamp(1001))
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            store
                .list_offset("orders", 1, OffsetSpec::Latest)
                .await
                .unwrap(),
            Some(3)
        );

        // A long poll wakes up when data arrives.
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .fetch("orders", 0, 0, 1 << 20, Duration::from_secs(10))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        store
            .produce(
                "orders",
                0,
                vec![ProducerRecord {
                    value: Some(Bytes::from_static(b"late")),
                    ..Default::default()
                }],
            )
            .await
            .unwrap();
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.records.len(), 1);

        store
            .commit_offsets("g", &[("orders".into(), 1, 3)])
            .await
            .unwrap();
        assert_eq!(
            store.committed_offsets("g").await.unwrap()[&("orders".to_string(), 1)],
            3
        );
        assert!(matches!(
            store.describe_topic("nope").await,
            Err(LogError::UnknownTopicOrPartition(_))
        ));
    }
}

#[cfg(test)]
mod idempotent_tests {
    use super::*;
    use crate::config::LogConfig;

    #[tokio::test]
    async fn a_retried_idempotent_batch_is_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedLog::new(Log::open(dir.path(), LogConfig::default()).unwrap());
        store.create_topic("t", 1, BTreeMap::new()).await.unwrap();
        let pid = store.init_producer_id().await.unwrap();
        // An idempotent producer's batch of n records starting at sequence `base`.
        let batch = |base: i32, n: usize| {
            let mut b = crate::BatchBuilder::new(
                1_000,
                Some(ProducerSequence {
                    producer_id: pid,
                    producer_epoch: 0,
                    base_sequence: base,
                }),
            );
            for i in 0..n {
                b.append(1_000, None, Some(format!("v{i}").as_bytes()));
            }
            b.finish()
        };
        assert_eq!(store.produce_batch("t", 0, batch(0, 3)).await.unwrap(), 0);
        assert_eq!(store.produce_batch("t", 0, batch(3, 2)).await.unwrap(), 3);
        // The same batch again (a retry after a crash) lands on its first offset.
        assert_eq!(store.produce_batch("t", 0, batch(3, 2)).await.unwrap(), 3);
        assert_eq!(
            store.list_offset("t", 0, OffsetSpec::Latest).await.unwrap(),
            Some(5)
        );
        assert!(store.produce_batch("t", 0, batch(9, 1)).await.is_err());
    }
}
