//! [`ClusterTransactions`]: creek-store's `TransactionalProducer` over librdkafka's
//! transactional producer (Kafka transactions, KIP-98 and KIP-447).
//!
//! Records are queued as they come and their deliveries are awaited at `commit`,
//! which then commits the transaction; consumer offsets join the transaction with
//! Kafka's TxnOffsetCommit, using the metadata of the group's own consumer (a
//! group this store commits for without joining it). librdkafka's blocking calls
//! run on tokio's blocking pool, bounded by the store's timeout.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use creek_store::{LogError, ProducerRecord, Result, TransactionalProducer};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{config_error, ClusterConfig};
use crate::error::{from_kafka, timed_out};
use crate::produce::{queue_records, Report};
use crate::retry::run_blocking;

/// What a transaction needs of the store it belongs to.
#[async_trait]
pub(crate) trait TransactionHost: Send + Sync {
    fn config(&self) -> &ClusterConfig;
    /// Fails when the topic or partition does not exist.
    async fn check_partition(&self, topic: &str, partition: i32) -> Result<()>;
    /// The consumer of `group` (never joining it) whose metadata commits its
    /// offsets.
    fn group_consumer(&self, group: &str) -> Result<Arc<BaseConsumer>>;
}

/// One transactional producer (one `transactional.id`) on the cluster.
pub(crate) struct ClusterTransactions {
    log: Arc<dyn TransactionHost>,
    id: String,
    producer: Arc<FutureProducer>,
    /// Deliveries of the open transaction's records, awaited by `commit`.
    deliveries: tokio::sync::Mutex<VecDeque<DeliveryFuture>>,
}

impl ClusterTransactions {
    /// Creates the producer and initialises its transactions: the cluster fences
    /// any older producer with this id and aborts what that one left open.
    pub(crate) async fn start(
        log: Arc<dyn TransactionHost>,
        id: &str,
    ) -> Result<ClusterTransactions> {
        let mut config = log.config().producer();
        config.set("transactional.id", id);
        let producer: FutureProducer = config.create().map_err(|e| config_error(&e))?;
        let tx = ClusterTransactions {
            log,
            id: id.to_string(),
            producer: Arc::new(producer),
            deliveries: tokio::sync::Mutex::new(VecDeque::new()),
        };
        tx.blocking("initialising transactions", |p, timeout| {
            p.init_transactions(timeout)
        })
        .await?;
        Ok(tx)
    }

    /// Runs a blocking librdkafka call on the blocking pool, bounded by the
    /// store's timeout; errors name the transactional id and what to check.
    async fn blocking<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&FutureProducer, Duration) -> KafkaResult<T> + Send + 'static,
    {
        let producer = self.producer.clone();
        let timeout = self.log.config().timeout();
        match run_blocking(timeout, move || f(&producer, timeout)).await {
            None => Err(timed_out(
                what,
                self.log.config().bootstrap_servers(),
                timeout,
            )),
            Some(Err(join)) => Err(LogError::Io(std::io::Error::other(format!(
                "{what} (transactional.id {}): {join}",
                self.id
            )))),
            Some(Ok(result)) => result.map_err(|e| self.error(&e, what)),
        }
    }

    fn error(&self, e: &KafkaError, what: &str) -> LogError {
        let subject = format!("transactional.id {}", self.id);
        match from_kafka(e, &subject, what, self.log.config().bootstrap_servers()) {
            LogError::Io(io) => LogError::Io(std::io::Error::new(
                io.kind(),
                format!(
                    "{io}; transactions need a cluster that allows them \
                     (transaction.state.log.replication.factor and \
                     transaction.state.log.min.isr at most the brokers available) and, \
                     with ACLs, WRITE and DESCRIBE on this transactional id"
                ),
            )),
            other => other,
        }
    }

    /// Settles one delivery of the transaction: a failed record fails it.
    fn settle(&self, report: Report) -> Result<()> {
        match report {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(self.error(&e, "producing in a transaction")),
            Err(_) => Err(LogError::Io(std::io::Error::other(format!(
                "producing in a transaction (transactional.id {}): the producer was closed \
                 before the delivery report",
                self.id
            )))),
        }
    }
}

#[async_trait]
impl TransactionalProducer for ClusterTransactions {
    async fn begin(&self) -> Result<()> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.error(&e, "beginning a transaction"))
    }

    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<ProducerRecord>,
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.log.check_partition(topic, partition).await?;
        let mut deliveries = self.deliveries.lock().await;
        queue_records(
            &self.producer,
            (topic, partition),
            &records,
            (
                self.log.config().timeout(),
                self.log.config().bootstrap_servers(),
            ),
            &mut deliveries,
            &mut |report| self.settle(report),
        )
        .await
    }

    async fn send_offsets(&self, group: &str, offsets: &[(String, i32, i64)]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let consumer = self.log.group_consumer(group)?;
        let metadata = consumer.group_metadata().ok_or_else(|| {
            LogError::Io(std::io::Error::other(format!(
                "committing offsets of group {group} in a transaction: librdkafka gave no \
                 group metadata"
            )))
        })?;
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| self.error(&e, "committing offsets in a transaction"))?;
        }
        self.blocking("committing offsets in a transaction", move |p, timeout| {
            p.send_offsets_to_transaction(&tpl, &metadata, timeout)
        })
        .await
    }

    async fn commit(&self) -> Result<()> {
        let pending: Vec<DeliveryFuture> = self.deliveries.lock().await.drain(..).collect();
        for delivery in pending {
            if let Err(e) = self.settle(delivery.await) {
                let _ = self.abort().await;
                return Err(e);
            }
        }
        let committed = self
            .blocking("committing a transaction", |p, timeout| {
                p.commit_transaction(timeout)
            })
            .await;
        if committed.is_err() {
            // A commit that failed leaves the transaction to abort (if it can be
            // aborted; a fenced producer's cannot, and the error says so).
            let _ = self.abort().await;
        }
        committed
    }

    async fn abort(&self) -> Result<()> {
        self.deliveries.lock().await.clear();
        self.blocking("aborting a transaction", |p, timeout| {
            p.abort_transaction(timeout)
        })
        .await
    }
}
