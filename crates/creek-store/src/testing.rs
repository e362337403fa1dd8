//! Batches as Kafka clients build them, for the tests of anything that stores,
//! validates or reads record batches (the log, the broker, this crate).

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

/// A v2 batch built the way a Kafka client builds one (kafka-protocol's encoder):
/// one record per value, timestamps from `timestamp` on, and an optional
/// idempotent producer `(id, epoch, base sequence)`.
pub fn encode_batch(values: &[&str], timestamp: i64, producer: Option<(i64, i16, i32)>) -> Vec<u8> {
    let (pid, epoch, seq) = producer.unwrap_or((-1, -1, -1));
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: if seq < 0 {
                i as i32 - 1
            } else {
                seq + i as i32
            },
            timestamp: timestamp + i as i64,
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .expect("kafka-protocol encodes a v2 batch of plain records");
    buf.to_vec()
}
