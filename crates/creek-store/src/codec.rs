//! Records to and from Kafka's RecordBatch v2: what an in-process producer appends
//! and what a fetch hands back (see also [`crate::BatchBuilder`] for a producer that
//! builds its batch record by record).

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::error::{LogError, Result};
use crate::now_ms;
use crate::record::{ConsumerRecord, ProducerRecord};

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
