//! Reading a topic partition to its end through [`LogStore`], for the
//! readers that catch up rather than tail: replaying a changelog or a table
//! source into an aggregation's state, and catching a pull query's table
//! view up with its topic.

use std::time::Duration;

use creek_store::LogStore;

use crate::EngineError;

/// Reads `topic`'s `partition` from `from` to its end (or to `until`,
/// exclusive), handing each record to `f`; returns the next offset.
pub(crate) async fn read_partition(
    log: &dyn LogStore,
    topic: &str,
    partition: i32,
    from: i64,
    until: Option<i64>,
    mut f: impl FnMut(creek_store::ConsumerRecord),
) -> Result<i64, EngineError> {
    let mut offset = from;
    while until.is_none_or(|end| offset < end) {
        let fetched = log
            .fetch(topic, partition, offset, 4 << 20, Duration::ZERO)
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        if fetched.records.is_empty() {
            break;
        }
        for record in fetched.records {
            if until.is_some_and(|end| record.offset >= end) {
                return Ok(offset);
            }
            offset = record.offset + 1;
            f(record);
        }
    }
    Ok(offset)
}
