//! [`EmbeddedLog`]: creek-store's `LogStore` over creek's own [`Log`], in-process.
//! Appends go straight to the partition's segment; reads and waits use the
//! partition's append notification, so a reader wakes as soon as a record lands.

use crate::now_ms;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use creek_store::{
    decode_records, encode_records, FetchResult, LogError, LogStore, OffsetSpec, ProducerRecord,
    Result, TopicDescription,
};
use tokio::time::Instant;

use crate::groups::CommittedOffset;
use crate::log::Log;

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

    async fn init_producer_id(&self) -> Result<Option<i64>> {
        self.log.next_producer_id().map(Some)
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
            // A deadline already reached returns at once: tokio's timer would
            // round it up to its next millisecond tick, a millisecond lost by every
            // non-blocking fetch that finds nothing (a query's step reads each of
            // its inputs that way).
            if tokio::time::Instant::now() >= deadline
                || tokio::time::timeout_at(deadline, appended).await.is_err()
            {
                return Ok(FetchResult {
                    records: Vec::new(),
                    high_watermark: p.high_watermark(),
                });
            }
        }
    }

    async fn wait_for_records(
        &self,
        topic: &str,
        positions: &[(i32, i64)],
        deadline: Instant,
    ) -> Result<bool> {
        let partitions = positions
            .iter()
            .map(|&(partition, offset)| Ok((self.log.partition(topic, partition)?, offset)))
            .collect::<Result<Vec<_>>>()?;
        loop {
            // Register for the wake-up before looking, so an append between the
            // look and the wait is not missed.
            let mut woken: Vec<_> = partitions
                .iter()
                .map(|(p, _)| Box::pin(p.appended()))
                .collect();
            for w in woken.iter_mut() {
                w.as_mut().enable();
            }
            if partitions
                .iter()
                .any(|(p, offset)| p.high_watermark() > *offset)
            {
                return Ok(true);
            }
            if partitions.is_empty() {
                // Nothing can wake us: wait out the deadline rather than return at
                // once into a caller's loop.
                tokio::time::sleep_until(deadline).await;
                return Ok(false);
            }
            if tokio::time::timeout_at(deadline, futures::future::select_all(woken))
                .await
                .is_err()
            {
                return Ok(false);
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
    use creek_store::ProducerSequence;

    #[tokio::test]
    async fn a_retried_idempotent_batch_is_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedLog::new(Log::open(dir.path(), LogConfig::default()).unwrap());
        store.create_topic("t", 1, BTreeMap::new()).await.unwrap();
        let pid = store
            .init_producer_id()
            .await
            .unwrap()
            .expect("the embedded log deduplicates by producer sequence");
        // An idempotent producer's batch of n records starting at sequence `base`.
        let batch = |base: i32, n: usize| {
            let mut b = creek_store::BatchBuilder::new(
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

#[cfg(test)]
mod wake_up_tests {
    use super::*;
    use crate::config::LogConfig;

    fn record(v: &str) -> ProducerRecord {
        ProducerRecord {
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_on_an_append_to_any_of_its_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedLog::new(
            Log::open(dir.path(), LogConfig::default()).unwrap(),
        ));
        store.create_topic("t", 3, BTreeMap::new()).await.unwrap();
        store.produce("t", 0, vec![record("old")]).await.unwrap();
        // Data already past a position answers at once.
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(store.wait_for_records("t", &[(0, 0)], soon).await.unwrap());
        // Nothing new: the deadline ends the wait.
        let positions = [(0, 1), (1, 0), (2, 0)];
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(!store.wait_for_records("t", &positions, soon).await.unwrap());
        // An append to partition 2 wakes a reader waiting on all three, long before
        // its deadline.
        let waiter = {
            let store = store.clone();
            tokio::spawn(async move {
                let started = std::time::Instant::now();
                let later = Instant::now() + Duration::from_secs(30);
                let woke = store
                    .wait_for_records("t", &positions, later)
                    .await
                    .unwrap();
                (woke, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.produce("t", 2, vec![record("new")]).await.unwrap();
        let (woke, waited) = waiter.await.unwrap();
        assert!(woke);
        assert!(
            waited < Duration::from_secs(10),
            "woke by the deadline, not the append"
        );
        // read_to_end replays what is there.
        let mut seen = Vec::new();
        let next = store
            .read_to_end("t", 2, 0, None, &mut |r| seen.push(r.offset))
            .await
            .unwrap();
        assert_eq!((seen, next), (vec![0], 1));
    }
}
