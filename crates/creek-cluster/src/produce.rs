//! Queueing records on librdkafka's future producer, shared by the store's
//! plain appends and its transactions.

use std::collections::VecDeque;
use std::time::Duration;

use creek_store::{ProducerRecord, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::time::Instant;

use crate::error::from_kafka;

/// A delivery report as librdkafka's future producer hands it over.
pub(crate) type Report =
    std::result::Result<OwnedDeliveryResult, futures::channel::oneshot::Canceled>;

/// Queues `records` for `topic`-`partition` on `producer`, in order, adding their
/// delivery futures to `deliveries`. A full librdkafka queue drains as deliveries
/// complete: our own oldest delivery completing is the wake-up (its report goes to
/// `settle`); only when other callers' records fill the queue is there none to wait
/// on, and a short pause is all that is left. Gives up after `timeout`.
pub(crate) async fn queue_records(
    producer: &FutureProducer,
    (topic, partition): (&str, i32),
    records: &[ProducerRecord],
    (timeout, bootstrap): (Duration, &str),
    deliveries: &mut VecDeque<DeliveryFuture>,
    settle: &mut (dyn FnMut(Report) -> Result<()> + Send),
) -> Result<()> {
    for r in records {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic).partition(partition);
        if let Some(k) = &r.key {
            record = record.key(&k[..]);
        }
        if let Some(v) = &r.value {
            record = record.payload(&v[..]);
        }
        if let Some(ts) = r.timestamp {
            record = record.timestamp(ts);
        }
        if !r.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (key, value) in &r.headers {
                headers = headers.insert(Header {
                    key,
                    value: value.as_deref(),
                });
            }
            record = record.headers(headers);
        }
        let give_up = Instant::now() + timeout;
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if Instant::now() < give_up =>
                {
                    record = back;
                    match deliveries.pop_front() {
                        Some(oldest) => settle(oldest.await)?,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => {
                    return Err(from_kafka(
                        &e,
                        &format!("{topic}-{partition}"),
                        "producing",
                        bootstrap,
                    ))
                }
            }
        }
    }
    Ok(())
}
