//! Running a planned stream query: decode each record of the source topic,
//! filter, project, and encode the result for the sink (persistent queries)
//! or hand the row to a client (push queries).

use std::sync::Arc;

use bytes::Bytes;
use creek_sql::ast::SourceKind;
use creek_sql::expr::CompiledExpr;
use creek_sql::functions::FunctionRegistry;
use creek_sql::types::SqlType;
use creek_sql::value::Value;
use creek_store::{ConsumerRecord, ProducerRecord};

use crate::format::RowFormat;
use crate::metastore::{ColumnRole, DataSource};
use crate::plan::{StreamPlan, TableFunctionKind};
use crate::processing_log::ProcessingLog;

/// How a source's record time is taken from a column (`TIMESTAMP` property).
#[derive(Clone)]
pub enum TimestampColumn {
    /// A BIGINT (ms) or TIMESTAMP column at this row position.
    Column(usize),
    /// A STRING column parsed with a `TIMESTAMP_FORMAT` pattern.
    Formatted(usize, CompiledExpr),
}

/// A decoded record: the row in scope layout and its time.
pub struct DecodedRow {
    pub row: Vec<Value>,
    pub rowtime: i64,
    /// The record had no value (a tombstone).
    pub value_is_null: bool,
}

/// Decodes records of one source into rows laid out as [`crate::plan::source_scope`].
pub struct SourceDecoder {
    pub source: Arc<DataSource>,
    pub key: Arc<dyn RowFormat>,
    pub value: Arc<dyn RowFormat>,
    pub timestamp: Option<TimestampColumn>,
    key_count: usize,
    /// Positions of header columns in the row, after the value columns.
    headers: Vec<(usize, Option<String>)>,
    value_positions: Vec<usize>,
    width: usize,
    /// Value columns a query reads (`None`: all); the others may stay NULL.
    wanted: Option<Vec<bool>>,
    /// The row is the key columns, then every value column in order (no
    /// headers): decoded values move in as they are.
    values_follow_keys: bool,
}

impl SourceDecoder {
    pub fn new(
        source: Arc<DataSource>,
        key: Arc<dyn RowFormat>,
        value: Arc<dyn RowFormat>,
        functions: &FunctionRegistry,
    ) -> Result<SourceDecoder, String> {
        let key_count = source.key_columns().count();
        let mut headers = Vec::new();
        let mut value_positions = Vec::new();
        for (i, c) in source.columns.iter().enumerate() {
            match &c.role {
                ColumnRole::Value => value_positions.push(i),
                ColumnRole::Header(k) => headers.push((i, k.clone())),
                ColumnRole::Key => {}
            }
        }
        let timestamp = match &source.timestamp {
            None => None,
            Some((col, format)) => {
                let i = source
                    .columns
                    .iter()
                    .position(|c| &c.name == col)
                    .ok_or_else(|| format!("The TIMESTAMP column set in the WITH clause does not exist in the schema: '{col}'"))?;
                match format {
                    None => Some(TimestampColumn::Column(i)),
                    Some(pattern) => {
                        let expr = timestamp_parser(i, pattern, functions, &source)?;
                        Some(TimestampColumn::Formatted(i, expr))
                    }
                }
            }
        };
        let values_follow_keys = headers.is_empty()
            && value_positions
                .iter()
                .enumerate()
                .all(|(i, p)| *p == key_count + i);
        Ok(SourceDecoder {
            wanted: None,
            values_follow_keys,
            width: source.columns.len(),
            source,
            key,
            value,
            timestamp,
            key_count,
            headers,
            value_positions,
        })
    }

    /// Decodes only the value columns `plan` reads (a persistent query's
    /// sink never sees the others).
    pub fn read_only_used(&mut self, plan: &StreamPlan) {
        let exprs = plan.projection.iter().chain(&plan.key).map(|p| &p.expr);
        let tfs = plan.table_functions.iter().map(|tf| &tf.arg);
        self.read_only(exprs.chain(&plan.filter).chain(tfs));
    }

    /// Decodes only the value columns these expressions over the source row read.
    pub fn read_only<'a>(&mut self, exprs: impl IntoIterator<Item = &'a CompiledExpr>) {
        let mut used = Vec::new();
        for e in exprs {
            e.columns_read(&mut used);
        }
        if let Some(TimestampColumn::Column(i) | TimestampColumn::Formatted(i, _)) = &self.timestamp
        {
            used.push(*i);
        }
        self.wanted = Some(
            self.value_positions
                .iter()
                .map(|p| used.contains(p))
                .collect(),
        );
    }

    /// A row for `record` and its time; a null value (tombstone) gives a row
    /// of NULL value columns and `value_is_null`. `Err` is a deserialization
    /// error for the processing log.
    pub fn decode(&self, record: &ConsumerRecord) -> Result<DecodedRow, String> {
        let decoded = match &self.wanted {
            Some(wanted) => self
                .value
                .deserialize_wanted(record.value.as_deref(), wanted)?,
            None => self.value.deserialize(record.value.as_deref())?,
        };
        let value_is_null = decoded.is_none();
        let values = decoded.unwrap_or_default();
        // A windowed source's key bytes end with the window.
        let (key_bytes, window) = match (&self.source.window, record.key.as_deref()) {
            (Some(w), Some(k)) => {
                let (inner, window) = crate::format::split_windowed_key(w, k)?;
                (Some(inner), Some(window))
            }
            (_, k) => (k, None),
        };
        let keys = match self.key_count {
            0 => Vec::new(),
            _ => match self.key.deserialize(key_bytes)? {
                Some(k) => k,
                None => vec![Value::Null; self.key_count],
            },
        };
        let mut row = Vec::with_capacity(self.width + 3);
        row.extend(keys);
        if self.values_follow_keys && row.len() == self.key_count {
            row.extend(values.into_iter().take(self.value_positions.len()));
            row.resize(self.width, Value::Null);
        } else {
            row.resize(self.width, Value::Null);
            for (pos, v) in self.value_positions.iter().zip(values) {
                row[*pos] = v;
            }
        }
        for (pos, key) in &self.headers {
            row[*pos] = header_value(&record.headers, key.as_deref());
        }
        let rowtime = match &self.timestamp {
            None => record.timestamp,
            Some(_) if value_is_null => record.timestamp,
            Some(TimestampColumn::Column(i)) => match &row[*i] {
                Value::Bigint(t) | Value::Timestamp(t) => *t,
                Value::Int(t) => *t as i64,
                Value::Null => return Err("Timestamp column is null".into()),
                other => return Err(format!("Invalid timestamp value {other:?}")),
            },
            Some(TimestampColumn::Formatted(_, expr)) => match expr.eval(&row)? {
                Value::Bigint(t) | Value::Timestamp(t) => t,
                _ => return Err("Could not parse the record's timestamp".into()),
            },
        };
        row.push(Value::Bigint(rowtime));
        row.push(Value::Int(record.partition));
        row.push(Value::Bigint(record.offset));
        if self.source.window.is_some() {
            let (start, end) = match window {
                Some((start, end)) => (Value::Bigint(start), Value::Bigint(end)),
                None => (Value::Null, Value::Null),
            };
            row.push(start);
            row.push(end);
        }
        Ok(DecodedRow {
            row,
            rowtime,
            value_is_null,
        })
    }
}

fn timestamp_parser(
    column: usize,
    pattern: &str,
    functions: &FunctionRegistry,
    source: &DataSource,
) -> Result<CompiledExpr, String> {
    use creek_sql::ast::{Expr, Literal};
    use creek_sql::expr::{compile, CompileContext, Scope};
    let mut scope = Scope::default();
    for c in &source.columns {
        scope.push(None, &c.name, c.ty.clone());
    }
    let call = Expr::Function {
        name: "STRINGTOTIMESTAMP".into(),
        args: vec![
            Expr::Column {
                source: None,
                name: source.columns[column].name.clone(),
            },
            Expr::Literal(Literal::String(pattern.to_string())),
        ],
    };
    let types = Default::default();
    compile(
        &call,
        &scope,
        &CompileContext {
            functions,
            custom_types: &types,
        },
    )
}

fn header_value(headers: &[(String, Option<Bytes>)], key: Option<&str>) -> Value {
    match key {
        Some(k) => headers
            .iter()
            .rev()
            .find(|(name, _)| name == k)
            .and_then(|(_, v)| v.as_ref())
            .map(|v| Value::bytes(v.to_vec()))
            .unwrap_or(Value::Null),
        None => Value::Array(
            headers
                .iter()
                .map(|(k, v)| {
                    Value::Struct(vec![
                        ("KEY".into(), Value::string(k.as_str())),
                        (
                            "VALUE".into(),
                            v.as_ref()
                                .map(|b| Value::bytes(b.to_vec()))
                                .unwrap_or(Value::Null),
                        ),
                    ])
                })
                .collect(),
        ),
    }
}

/// The type of a `HEADERS` column.
pub fn headers_type() -> SqlType {
    SqlType::array(SqlType::Struct(vec![
        creek_sql::types::Field::new("KEY", SqlType::String),
        creek_sql::types::Field::new("VALUE", SqlType::Bytes),
    ]))
}

/// A query's result row before encoding.
pub struct ResultRow {
    pub key: Vec<Value>,
    /// `None` passes a tombstone through.
    pub value: Option<Vec<Value>>,
    /// All projected columns in SELECT order (push queries print these).
    pub projection: Vec<Value>,
    pub rowtime: i64,
    /// The window `[start, end)` of a windowed aggregation's row.
    pub window: Option<(i64, i64)>,
}

/// Evaluates a plan on decoded rows.
pub struct Projector {
    pub plan: StreamPlan,
    pub log: Arc<ProcessingLog>,
    pub query_id: String,
}

impl Projector {
    /// Filters and projects one row; `None` when the filter rejects it.
    pub fn apply(&self, row: &[Value], rowtime: i64, value_is_null: bool) -> Option<ResultRow> {
        let result = self.evaluate(row, rowtime, value_is_null);
        for e in creek_sql::expr::take_errors() {
            self.log
                .error(&self.query_id, &format!("Error computing expression: {e}"));
        }
        result
    }

    /// Like [`Projector::apply`], with table functions: one result per
    /// element (none for an empty or NULL array).
    pub fn apply_all(&self, row: &[Value], rowtime: i64, value_is_null: bool) -> Vec<ResultRow> {
        if self.plan.table_functions.is_empty() || value_is_null {
            return self
                .apply(row, rowtime, value_is_null)
                .into_iter()
                .collect();
        }
        if let Some(filter) = &self.plan.filter {
            if !matches!(filter.eval(row), Ok(Value::Boolean(true))) {
                return Vec::new();
            }
        }
        let columns: Vec<Vec<Value>> = self
            .plan
            .table_functions
            .iter()
            .map(|tf| {
                let items = match tf.arg.eval(row) {
                    Ok(Value::Array(items)) => items,
                    _ => Vec::new(),
                };
                match tf.kind {
                    TableFunctionKind::Explode => items,
                    TableFunctionKind::CubeExplode => cube(&items),
                }
            })
            .collect();
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Vec::with_capacity(rows);
        let mut extended = row.to_vec();
        for i in 0..rows {
            extended.truncate(row.len());
            extended.extend(
                columns
                    .iter()
                    .map(|c| c.get(i).cloned().unwrap_or(Value::Null)),
            );
            if let Some(r) = self.evaluate_unfiltered(&extended, rowtime) {
                out.push(r);
            }
        }
        for e in creek_sql::expr::take_errors() {
            self.log
                .error(&self.query_id, &format!("Error computing expression: {e}"));
        }
        out
    }

    fn evaluate(&self, row: &[Value], rowtime: i64, value_is_null: bool) -> Option<ResultRow> {
        let over_table = self.plan.source.kind == SourceKind::Table;
        if value_is_null {
            // A tombstone: a stream's filter drops it; otherwise (and always
            // for a table, where it deletes the row) it passes with its key.
            if self.plan.filter.is_some() && !over_table {
                return None;
            }
            // Key expressions over key columns only can still be computed.
            let key = self
                .plan
                .key
                .iter()
                .map(|p| {
                    if p.is_key || !self.plan.partition_by {
                        p.expr.eval(row).unwrap_or(Value::Null)
                    } else {
                        Value::Null
                    }
                })
                .collect();
            // A table's delete still shows its key columns (push queries
            // print it as a tombstone row); NULL for the values it lost.
            let projection = if over_table {
                self.plan
                    .projection
                    .iter()
                    .map(|p| p.expr.eval(row).unwrap_or(Value::Null))
                    .collect()
            } else {
                Vec::new()
            };
            return Some(ResultRow {
                key,
                value: None,
                projection,
                rowtime,
                window: self.window(row),
            });
        }
        if let Some(filter) = &self.plan.filter {
            match filter.eval(row) {
                Ok(Value::Boolean(true)) => {}
                // A table row the filter rejects leaves the result table:
                // Kafka Streams' KTable filter forwards a tombstone.
                Ok(_) if over_table => return self.evaluate(row, rowtime, true),
                Ok(_) => return None,
                Err(e) => {
                    self.log
                        .error(&self.query_id, &format!("Error evaluating WHERE: {e}"));
                    if over_table {
                        return self.evaluate(row, rowtime, true);
                    }
                    return None;
                }
            }
        }
        self.evaluate_unfiltered(row, rowtime)
    }

    fn evaluate_unfiltered(&self, row: &[Value], rowtime: i64) -> Option<ResultRow> {
        let eval = |e: &CompiledExpr| match e.eval(row) {
            Ok(v) => v,
            Err(err) => {
                self.log.error(
                    &self.query_id,
                    &format!("Error computing expression: {err}"),
                );
                Value::Null
            }
        };
        let projection: Vec<Value> = self.plan.projection.iter().map(|p| eval(&p.expr)).collect();
        // Key columns in the result's key order (a projection may list them
        // in another order).
        let key: Vec<Value> = self.plan.key.iter().map(|p| eval(&p.expr)).collect();
        let value = self
            .plan
            .projection
            .iter()
            .zip(&projection)
            .filter(|(p, _)| !p.is_key)
            .map(|(_, v)| v.clone())
            .collect();
        let value = Some(value);
        Some(ResultRow {
            key,
            value,
            projection,
            rowtime,
            window: self.window(row),
        })
    }

    /// The window of a windowed source's row, which its result keeps.
    fn window(&self, row: &[Value]) -> Option<(i64, i64)> {
        let at = crate::plan::window_position(&self.plan.source)?;
        match (row.get(at), row.get(at + 1)) {
            (Some(Value::Bigint(start)), Some(Value::Bigint(end))) => Some((*start, *end)),
            _ => None,
        }
    }
}

/// Encodes result rows for a sink topic.
pub struct SinkEncoder {
    pub key: Arc<dyn RowFormat>,
    pub value: Arc<dyn RowFormat>,
    pub has_key: bool,
    pub partitions: i32,
    /// A `TIMESTAMP` column of the sink, as a value position, with the
    /// parser of its `TIMESTAMP_FORMAT` (and the pattern) for STRING columns.
    pub timestamp: Option<(usize, Option<(creek_sql::functions::Eval, Value)>)>,
    /// Windowed sinks append the window to the key bytes, as Kafka Streams does.
    pub window: Option<crate::window::WindowKind>,
}

/// Why a result row could not become a record.
#[derive(Debug)]
pub enum SinkError {
    /// The sink's format cannot write the row: fatal to the query, as in
    /// Kafka Streams.
    Serialize(String),
    /// The row's TIMESTAMP column is unusable: the row is skipped and logged.
    Timestamp(String),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkError::Serialize(m) | SinkError::Timestamp(m) => f.write_str(m),
        }
    }
}

impl From<SinkError> for String {
    fn from(e: SinkError) -> String {
        e.to_string()
    }
}

impl SinkEncoder {
    /// The record and its partition.
    pub fn encode(&self, row: &ResultRow) -> Result<(i32, ProducerRecord), SinkError> {
        let timestamp = self.timestamp(row).map_err(SinkError::Timestamp)?;
        let key = if self.has_key {
            self.key
                .serialize(Some(&row.key))
                .map_err(SinkError::Serialize)?
        } else {
            None
        };
        // Kafka Streams' windowed partitioner: all windows of a key go to
        // the partition of the key itself.
        let partition = partition_for(key.as_deref(), self.partitions);
        let key = match (key, self.window, row.window) {
            (Some(k), Some(kind), Some(window)) => {
                Some(crate::format::windowed_key(kind, &k, window))
            }
            (k, _, _) => k,
        };
        let value = match &row.value {
            Some(v) => self
                .value
                .serialize(Some(v))
                .map_err(SinkError::Serialize)?,
            None => None,
        };
        Ok((
            partition,
            ProducerRecord {
                key: key.map(Bytes::from),
                value: value.map(Bytes::from),
                headers: Vec::new(),
                timestamp: Some(timestamp),
            },
        ))
    }

    /// The record's timestamp: the sink's TIMESTAMP column, else ROWTIME.
    fn timestamp(&self, row: &ResultRow) -> Result<i64, String> {
        let timestamp = match &self.timestamp {
            None => row.rowtime,
            Some((i, parser)) => match (row.value.as_ref().and_then(|v| v.get(*i)), parser) {
                (Some(Value::Bigint(t)) | Some(Value::Timestamp(t)), _) => *t,
                (Some(text @ Value::String(_)), Some((parse, pattern))) => {
                    match parse(&[text.clone(), pattern.clone()])? {
                        Value::Bigint(t) | Value::Timestamp(t) => t,
                        _ => row.rowtime,
                    }
                }
                _ => row.rowtime,
            },
        };
        if timestamp < 0 {
            return Err(format!(
                "Invalid timestamp {timestamp}: records need a non-negative timestamp"
            ));
        }
        Ok(timestamp)
    }
}

/// Kafka's default partitioner: murmur2 of the key bytes, positive, modulo
/// the partition count; keyless records go to partition 0.
pub fn partition_for(key: Option<&[u8]>, partitions: i32) -> i32 {
    match key {
        Some(k) if partitions > 1 => ((murmur2(k) & 0x7fff_ffff) % partitions as u32) as i32,
        _ => 0,
    }
}

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> u32 {
    let seed: u32 = 0x9747_b28c;
    let m: u32 = 0x5bd1_e995;
    let r = 24;
    let len = data.len();
    let mut h: u32 = seed ^ len as u32;
    let chunks = len / 4;
    for i in 0..chunks {
        let mut k = u32::from_le_bytes([
            data[i * 4],
            data[i * 4 + 1],
            data[i * 4 + 2],
            data[i * 4 + 3],
        ]);
        k = k.wrapping_mul(m);
        k ^= k >> r;
        k = k.wrapping_mul(m);
        h = h.wrapping_mul(m);
        h ^= k;
    }
    let tail = &data[chunks * 4..];
    if tail.len() >= 3 {
        h ^= (tail[2] as u32) << 16;
    }
    if tail.len() >= 2 {
        h ^= (tail[1] as u32) << 8;
    }
    if !tail.is_empty() {
        h ^= tail[0] as u32;
        h = h.wrapping_mul(m);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(m);
    h ^= h >> 15;
    h
}

/// CUBE_EXPLODE: every combination of the elements and NULL, in ksqlDB's order.
fn cube(items: &[Value]) -> Vec<Value> {
    let n = items.len().min(16);
    let mut out = Vec::with_capacity(1 << n);
    for mask in 0..(1u32 << n) {
        let combination = Value::Array(
            (0..n)
                .map(|i| {
                    if mask & (1 << (n - 1 - i)) != 0 {
                        items[i].clone()
                    } else {
                        Value::Null
                    }
                })
                .collect(),
        );
        // NULL elements make some combinations equal; ksqlDB emits each once.
        if !out.iter().any(|c: &Value| c.not_distinct(&combination)) {
            out.push(combination);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.
        assert_eq!(murmur2(b"21") as i32, -973932308);
        assert_eq!(murmur2(b"foobar") as i32, -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string") as i32, -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string") as i32, -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") as i32,
            -58897971
        );
        assert_eq!(murmur2(b"abc") as i32, 479470107);
    }
}
