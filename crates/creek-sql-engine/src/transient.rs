//! A transient query's result as a client receives it: [`PushQuery`] (its
//! id, columns and a channel of [`PushRow`]s) and its id. Both push queries
//! (`push`) and pull queries over tables (`pull`) produce one, and the REST
//! API (`rest`) streams it, so it sits below all three.

/// One row of a query's result.
#[derive(Debug, Clone, PartialEq)]
pub struct PushRow {
    /// The projected columns, in SELECT order.
    pub columns: Vec<serde_json::Value>,
    /// A table row's deletion: its key columns, NULL elsewhere (ksqlDB's
    /// `"tombstone": true` rows).
    pub tombstone: bool,
}

impl PushRow {
    pub fn of(columns: Vec<serde_json::Value>) -> PushRow {
        PushRow {
            columns,
            tombstone: false,
        }
    }

    /// The row as `/query` streams it.
    pub fn to_json(&self) -> serde_json::Value {
        if self.tombstone {
            serde_json::json!({"row": {"columns": self.columns, "tombstone": true}})
        } else {
            serde_json::json!({"row": {"columns": self.columns}})
        }
    }
}

/// A running push query: its columns and a channel of rows.
pub struct PushQuery {
    pub query_id: String,
    /// (name, type) of each column, in SELECT order.
    pub columns: Vec<(String, String)>,
    pub rows: tokio::sync::mpsc::Receiver<PushRow>,
    /// The query's `LIMIT`: the channel closes after this many rows.
    pub limit: Option<u64>,
    /// A pull query (no `EMIT CHANGES`): the channel closes at the end of the topic.
    pub pull: bool,
    /// Which columns are the table's key (a pull query over a table marks them).
    pub key_columns: Vec<bool>,
    /// A pull query over a table's materialized view: ksqlDB sends no
    /// completion message after its rows.
    pub over_view: bool,
}

impl PushQuery {
    /// The `finalMessage` of `/query` after `count` rows, if any: "Limit
    /// Reached" at the LIMIT, "Query Completed" at the end of a pull query.
    pub fn final_message(&self, count: u64) -> Option<&'static str> {
        // A table pull query's rows are all it sends.
        if self.over_view {
            return None;
        }
        if self.limit.is_some_and(|l| count >= l) {
            Some("Limit Reached")
        } else if self.pull && !self.over_view {
            Some("Query Completed")
        } else {
            None
        }
    }

    /// The header schema ksqlDB prints: `` `A` STRING, `B` INTEGER ``.
    pub fn schema_text(&self) -> String {
        self.columns
            .iter()
            .enumerate()
            .map(|(i, (n, t))| {
                let key = if self.key_columns.get(i) == Some(&true) {
                    " KEY"
                } else {
                    ""
                };
                format!("`{n}` {t}{key}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A transient query id like ksqlDB's: `transient_<SOURCE>_<random>`.
pub fn transient_id(source: &str) -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!(
        "transient_{}_{}",
        source.to_ascii_uppercase(),
        h.finish() & 0x7fff_ffff_ffff_ffff
    )
}
