//! Reading a topic partition to its end through [`LogStore`], for the
//! readers that catch up rather than tail: replaying a changelog or a table
//! source into an aggregation's state, and catching a pull query's table
//! view up with its topic.

use creek_store::LogStore;

use crate::EngineError;

/// Reads `topic`'s `partition` from `from` to its end (or to `until`,
/// exclusive), handing each record to `f`; returns the next offset. The store's
/// one replay loop ([`LogStore::read_to_end`]) with the engine's error.
pub(crate) async fn read_partition(
    log: &dyn LogStore,
    topic: &str,
    partition: i32,
    from: i64,
    until: Option<i64>,
    mut f: impl FnMut(creek_store::ConsumerRecord) + Send,
) -> Result<i64, EngineError> {
    log.read_to_end(topic, partition, from, until, &mut f)
        .await
        .map_err(|e| EngineError::Log(e.to_string()))
}
