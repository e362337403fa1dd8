//! Materialized tables for pull queries.
//!
//! A [`TableView`] is a table's current rows, one per key: it reads the
//! table's topic (a changelog: the latest record per key wins, a tombstone
//! deletes) from where it last stopped, so a pull query sees every result
//! the persistent query has written so far and pays only for what is new.
//! Rows are kept by their serialized key bytes, the order in which Kafka
//! Streams' RocksDB stores scan them.
//!
//! A windowed table's keys carry their window; its view lays rows out with
//! `WINDOWSTART` and `WINDOWEND` as key columns after the table's own keys,
//! which is how ksqlDB shows windowed tables to pull queries.

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_sql::types::SqlType;
use creek_sql::value::Value;
use creek_store::{ConsumerRecord, LogStore, OffsetSpec};

use crate::metastore::{ColumnRole, DataSource, SourceColumn};
use crate::query::SourceDecoder;
use crate::EngineError;

/// One table's rows, caught up with its topic on demand.
pub struct TableView {
    /// The table as the metastore had it when the view was built.
    pub table: Arc<DataSource>,
    /// The table as pull queries see it (window bounds as key columns).
    pub pull_source: Arc<DataSource>,
    decoder: SourceDecoder,
    /// Next offset to read, per partition.
    positions: BTreeMap<i32, i64>,
    /// Rows in `pull_source`'s scope layout, by partition and key bytes.
    rows: BTreeMap<(i32, Vec<u8>), Vec<Value>>,
    /// The newest record time read (windows expire relative to it).
    stream_time: i64,
}

/// The table as a pull query sees it: a windowed table gains `WINDOWSTART`
/// and `WINDOWEND` key columns after its own key columns.
pub fn pull_source(table: &DataSource) -> DataSource {
    let mut source = table.clone();
    if table.window.is_some() {
        let keys = table.key_columns().count();
        let bounds = ["WINDOWSTART", "WINDOWEND"].map(|name| SourceColumn {
            name: name.to_string(),
            ty: SqlType::Bigint,
            role: ColumnRole::Key,
        });
        source.columns.splice(keys..keys, bounds);
        // The bounds are plain key columns of the view's rows.
        source.window = None;
    }
    source
}

impl TableView {
    pub fn new(table: Arc<DataSource>, decoder: SourceDecoder) -> TableView {
        TableView {
            pull_source: Arc::new(pull_source(&table)),
            table,
            decoder,
            positions: BTreeMap::new(),
            rows: BTreeMap::new(),
            stream_time: i64::MIN,
        }
    }

    /// Reads what the table's topic gained since the last call.
    pub async fn catch_up(&mut self, log: &dyn LogStore) -> Result<(), EngineError> {
        let topic = self.table.topic.clone();
        let partitions = log
            .describe_topic(&topic)
            .await
            .map_err(|e| EngineError::Statement(e.to_string()))?
            .partitions;
        for partition in 0..partitions {
            let from = match self.positions.get(&partition) {
                Some(o) => *o,
                None => log
                    .list_offset(&topic, partition, OffsetSpec::Earliest)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0),
            };
            let next =
                crate::fetch::read_partition(log, &topic, partition, from, None, |r| self.apply(r))
                    .await?;
            self.positions.insert(partition, next);
        }
        self.expire_windows();
        Ok(())
    }

    /// A windowed table keeps a window for its retention after the newest
    /// record's time, as Kafka Streams' window stores do; older windows are
    /// gone from pull queries.
    fn expire_windows(&mut self) {
        let Some(w) = self.table.window else {
            return;
        };
        let oldest = self.stream_time.saturating_sub(w.retention);
        let keys = self.table.key_columns().count();
        self.rows.retain(|_, row| match row.get(keys) {
            Some(Value::Bigint(start)) => *start >= oldest,
            _ => true,
        });
    }

    /// One changelog record: the key's new row, or its deletion.
    fn apply(&mut self, record: ConsumerRecord) {
        let Some(key) = record.key.clone() else {
            return;
        };
        let id = (record.partition, key.to_vec());
        self.stream_time = self.stream_time.max(record.timestamp);
        if record.value.is_none() {
            self.rows.remove(&id);
            return;
        }
        // The decoder takes a windowed key's window off (after the pseudo
        // columns); the view shows it after the key columns.
        let decoded = match self.decoder.decode(&record) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(table = %self.table.name, "skipping an unreadable record: {e}");
                return;
            }
        };
        let mut row = decoded.row;
        if self.table.window.is_some() {
            let end = row.pop().unwrap_or(Value::Null);
            let start = row.pop().unwrap_or(Value::Null);
            let keys = self.table.key_columns().count();
            row.splice(keys..keys, [start, end]);
        }
        self.rows.insert(id, row);
    }

    /// The current rows, in key order within each partition.
    pub fn rows(&self) -> impl Iterator<Item = &Vec<Value>> {
        self.rows.values()
    }
}
