//! Aggregations: `SELECT … FROM stream [WINDOW …] [WHERE …] GROUP BY … [HAVING …]`.
//!
//! [`plan_aggregate`] splits the query in two halves, as ksqlDB does:
//! what is computed on each input row (the filter, the grouping expressions
//! and the aggregate calls' arguments, over the source's scope) and what is
//! computed on each updated group (HAVING and the projection, over the
//! *group row*: grouping values, aggregate results, then WINDOWSTART,
//! WINDOWEND and ROWTIME). [`Aggregator`] holds the groups' state and turns
//! each input row into the changed result rows of the output table.
//!
//! Windows follow Kafka Streams: a record joins every window containing its
//! timestamp unless the window already closed (its end plus the grace period
//! is at or before the highest timestamp seen, the stream time).
//!
//! State is durable through a changelog topic: after each input batch the
//! engine writes the changed groups and the input positions they account for
//! as one batch ([`Aggregator::changelog`]), so a restart
//! ([`Aggregator::restore`]) resumes from a state and positions that match,
//! neither counting a row twice nor losing one. [`AggregateTasks`] cuts the
//! state by input partition into tasks, one changelog partition each, so
//! workers sharing a query can own, move and restore them separately.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use creek_store::{ConsumerRecord, ProducerRecord};
use serde_json::{json, Value as Json};

use creek_sql::ast::SourceKind;
use creek_sql::expr::CompiledExpr;
use creek_sql::functions::aggregate::ResolvedAggregate;
use creek_sql::types::SqlType;
use creek_sql::value::Value;
use parking_lot::Mutex;

use crate::group_store::{Codec, GroupStore};
use crate::metastore::DataSource;
use crate::plan::Projected;
use crate::processing_log::ProcessingLog;
use crate::query::ResultRow;
use crate::window::{WindowKind, WindowSpec};

mod planner;
mod rekeyed;
mod session;
mod tasks;
mod windowed_source;

pub use planner::{check_window_has_group_by, is_aggregate, plan_aggregate};
pub use tasks::AggregateTasks;
pub use windowed_source::source_window;

/// One aggregate call of the query.
#[derive(Clone)]
pub struct AggregateCall {
    pub function: ResolvedAggregate,
    /// The per-row arguments, compiled over the source's scope.
    pub args: Vec<CompiledExpr>,
}

/// A planned aggregation.
#[derive(Clone)]
pub struct AggregatePlan {
    pub source: Arc<DataSource>,
    pub filter: Option<CompiledExpr>,
    /// Grouping expressions over the source's scope.
    pub group_by: Vec<CompiledExpr>,
    pub aggregates: Vec<AggregateCall>,
    pub window: Option<WindowSpec>,
    /// Over the group row.
    pub having: Option<CompiledExpr>,
    /// Output columns in SELECT order over the group row (keys flagged).
    pub projection: Vec<Projected>,
    pub emit_final: bool,
}

impl AggregatePlan {
    /// The result's key columns, in grouping order.
    pub fn key(&self) -> impl Iterator<Item = &Projected> {
        self.projection.iter().filter(|p| p.is_key)
    }

    pub fn value(&self) -> impl Iterator<Item = &Projected> {
        self.projection.iter().filter(|p| !p.is_key)
    }

    /// The expressions over the input row (HAVING and the projection see the
    /// group row instead).
    pub fn row_expressions(&self) -> impl Iterator<Item = &CompiledExpr> {
        let args = self.aggregates.iter().flat_map(|c| &c.args);
        self.filter.iter().chain(&self.group_by).chain(args)
    }
}

/// One group's (or one group-window's) state.
struct GroupState {
    key: Vec<Value>,
    aggregates: Vec<Value>,
    /// The newest input timestamp folded in (the result's timestamp).
    rowtime: i64,
}

/// What one input row adds to its group: the grouping key and the
/// aggregate calls' argument values.
#[derive(Clone)]
struct Contribution {
    key: Vec<Value>,
    args: Vec<Vec<Value>>,
}

/// One change to one group, as stage one of a re-keying aggregation sends
/// it: the grouping values, the arguments taken out, the arguments put in.
type GroupChange = (Vec<Value>, Option<Vec<Vec<Value>>>, Option<Vec<Vec<Value>>>);

/// Which way a contribution goes into a group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Add,
    /// A table row replaced or deleted: its old values come back out.
    Undo,
}

/// The running state of one aggregation.
pub struct Aggregator {
    pub plan: AggregatePlan,
    pub log: Arc<ProcessingLog>,
    pub query_id: String,
    /// Positions of the source's key columns in its rows (table sources).
    source_key: Vec<usize>,
    limits: StateLimits,
    /// The first aggregate function error: the state is no longer exact.
    fatal: Mutex<Option<String>>,
    state: Mutex<AggregatorState>,
}

struct AggregatorState {
    /// By grouping key (and window start); the least recently used spill
    /// to disk past the configured limit.
    groups: GroupStore<GroupId, GroupState>,
    stream_time: i64,
    /// Groups changed since the last changelog batch.
    dirty: HashSet<GroupId>,
    /// A table source's current rows, by source key, as what each
    /// contributes (`None`: filtered out), so an update or delete can take
    /// the old values back out. Rebuilt from the source topic on restart.
    table_rows: HashMap<String, Option<Contribution>>,
    /// The stream time at which the earliest open window closes.
    next_close: i64,
    /// Repartitioned input: the last source offset applied, by repartition
    /// partition and source partition, so a record stage one wrote twice
    /// (a crash between its produce and its commit) counts once.
    /// (A source record may send several: the index tells them apart.)
    applied: HashMap<(i32, i32), (i64, i64)>,
    /// SESSION windows.
    sessions: session::SessionStore,
}

/// The SQL types of a plan's grouping key and of its aggregate states, as the
/// changelog and the spill file store them.
fn key_and_state_types(plan: &AggregatePlan) -> (Vec<SqlType>, Vec<SqlType>) {
    let key_types = plan.group_by.iter().map(|g| g.ty.clone()).collect();
    let state_types = plan
        .aggregates
        .iter()
        .map(|c| c.function.state_type.clone())
        .collect();
    (key_types, state_types)
}

impl AggregatorState {
    fn empty(plan: &AggregatePlan, limits: &StateLimits) -> AggregatorState {
        let (key_types, state_types) = key_and_state_types(plan);
        let codec = Codec {
            encode: Box::new(|g: &GroupState| group_to_json(g).to_string().into_bytes()),
            decode: Box::new(move |bytes: &[u8]| {
                let v: Json = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                group_from_json(&v, &key_types, &state_types)
            }),
            id_of: Box::new(|start, g: &GroupState| GroupId(g.key.clone(), start)),
        };
        let groups = GroupStore::new(limits.groups_in_memory, &limits.spill_dir, codec);
        let (session_keys, session_states) = key_and_state_types(plan);
        let sessions = session::SessionStore::new(limits, session_keys, session_states);
        AggregatorState {
            groups,
            stream_time: i64::MIN,
            dirty: HashSet::new(),
            table_rows: HashMap::new(),
            // Unknown (e.g. after a restore): the first record sweeps.
            next_close: i64::MIN,
            applied: HashMap::new(),
            sessions,
        }
    }
}

/// The changelog record key holding the input positions.
const POSITIONS_KEY: &str = "__positions";

/// The text identity of a grouping key's values (the changelog's record key
/// and the order EMIT FINAL closes a window's groups in) or of a table
/// source row's key.
fn key_identity(values: &[Value]) -> String {
    format!("{values:?}")
}

/// How much of an aggregation's state stays in memory, and where the rest goes.
#[derive(Debug, Clone)]
pub struct StateLimits {
    /// Groups (group-windows) kept in memory; the rest spill to disk.
    pub groups_in_memory: usize,
    pub spill_dir: std::path::PathBuf,
}

impl Default for StateLimits {
    fn default() -> StateLimits {
        StateLimits {
            groups_in_memory: 100_000,
            spill_dir: std::env::temp_dir(),
        }
    }
}

/// A group's identity in the state: its grouping values and window start
/// (`i64::MIN` without a window). Values are the same exactly when their
/// [`key_identity`] texts are (doubles by bits, every NaN alike), without
/// formatting a text per input row.
#[derive(Clone)]
struct GroupId(Vec<Value>, i64);

impl PartialEq for GroupId {
    fn eq(&self, other: &GroupId) -> bool {
        self.1 == other.1 && same_values(&self.0, &other.0)
    }
}

impl Eq for GroupId {}

impl crate::group_store::GroupKey for GroupId {
    fn window_start(&self) -> i64 {
        self.1
    }

    // Only evictions pay for the text.
    fn spill_bytes(&self) -> Vec<u8> {
        key_identity(&self.0).into_bytes()
    }
}

impl Hash for GroupId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.1.hash(state);
        hash_values(&self.0, state);
    }
}

/// Doubles compare by their bits (so -0.0 and 0.0 are two groups, as their
/// texts are), with one NaN.
fn double_bits(d: f64) -> u64 {
    if d.is_nan() {
        f64::NAN.to_bits()
    } else {
        d.to_bits()
    }
}

fn same_values(a: &[Value], b: &[Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => double_bits(*x) == double_bits(*y),
        // 1.0 and 1.00 are two groups.
        (Value::Decimal(x), Value::Decimal(y)) => x.unscaled == y.unscaled && x.scale == y.scale,
        (Value::Array(x), Value::Array(y)) => same_values(x, y),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((xk, xv), (yk, yv))| same_value(xk, yk) && same_value(xv, yv))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((xn, xv), (yn, yv))| xn == yn && same_value(xv, yv))
        }
        (Value::Double(_) | Value::Decimal(_), _)
        | (Value::Array(_) | Value::Map(_) | Value::Struct(_), _) => false,
        _ => a == b,
    }
}

fn hash_values<H: Hasher>(values: &[Value], state: &mut H) {
    values.len().hash(state);
    for v in values {
        hash_value(v, state);
    }
}

fn hash_value<H: Hasher>(v: &Value, state: &mut H) {
    std::mem::discriminant(v).hash(state);
    match v {
        Value::Null => {}
        Value::Boolean(b) => b.hash(state),
        Value::Int(i) | Value::Date(i) => i.hash(state),
        Value::Bigint(i) | Value::Time(i) | Value::Timestamp(i) => i.hash(state),
        Value::Double(d) => double_bits(*d).hash(state),
        Value::Decimal(d) => (d.unscaled, d.scale).hash(state),
        Value::String(s) => s.hash(state),
        Value::Bytes(b) => b.hash(state),
        Value::Array(items) => hash_values(items, state),
        Value::Map(entries) => {
            entries.len().hash(state);
            for (k, v) in entries {
                hash_value(k, state);
                hash_value(v, state);
            }
        }
        Value::Struct(fields) => {
            fields.len().hash(state);
            for (name, v) in fields {
                name.hash(state);
                hash_value(v, state);
            }
        }
    }
}

/// A group as the changelog and the spill store it.
fn group_to_json(group: &GroupState) -> Json {
    json!({
        "key": group.key.iter().map(crate::format::value_to_json).collect::<Vec<_>>(),
        "state": group.aggregates.iter().map(crate::format::value_to_json).collect::<Vec<_>>(),
        "rowtime": group.rowtime,
    })
}

fn group_from_json(
    v: &Json,
    key_types: &[SqlType],
    state_types: &[SqlType],
) -> Result<GroupState, String> {
    let values = |field: &str, types: &[SqlType]| -> Result<Vec<Value>, String> {
        let items = v[field].as_array().cloned().unwrap_or_default();
        if items.len() != types.len() {
            return Err(format!("{field} has {} values", items.len()));
        }
        items
            .iter()
            .zip(types)
            .map(|(j, t)| crate::format::json_to_value(j, t))
            .collect()
    };
    Ok(GroupState {
        key: values("key", key_types)?,
        aggregates: values("state", state_types)?,
        rowtime: v["rowtime"].as_i64().unwrap_or(0),
    })
}

/// Reads the changelog's positions record `v`: its stream time and the
/// re-keyed positions applied already go into `state`; returns the input
/// positions (partition → next offset) the state accounts for.
fn restore_positions(
    state: &mut AggregatorState,
    v: &Json,
) -> Result<BTreeMap<i32, i64>, std::num::ParseIntError> {
    let mut p = BTreeMap::new();
    for (partition, offset) in v["positions"].as_object().into_iter().flatten() {
        let partition: i32 = partition.parse()?;
        p.insert(partition, offset.as_i64().unwrap_or(0));
    }
    state.stream_time = v["stream_time"].as_i64().unwrap_or(i64::MIN);
    state.applied = v["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let t = t.as_array()?;
            Some((
                (t.first()?.as_i64()? as i32, t.get(1)?.as_i64()? as i32),
                (t.get(2)?.as_i64()?, t.get(3)?.as_i64()?),
            ))
        })
        .collect();
    Ok(p)
}

impl Aggregator {
    pub fn new(plan: AggregatePlan, log: Arc<ProcessingLog>, query_id: String) -> Aggregator {
        Aggregator::with_limits(plan, log, query_id, &StateLimits::default())
    }

    pub fn with_limits(
        plan: AggregatePlan,
        log: Arc<ProcessingLog>,
        query_id: String,
        limits: &StateLimits,
    ) -> Aggregator {
        let source_key = if plan.source.kind == SourceKind::Table {
            plan.source
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.role == crate::metastore::ColumnRole::Key)
                .map(|(i, _)| i)
                .collect()
        } else {
            Vec::new()
        };
        let state = Mutex::new(AggregatorState::empty(&plan, limits));
        Aggregator {
            plan,
            log,
            query_id,
            source_key,
            limits: limits.clone(),
            fatal: Mutex::new(None),
            state,
        }
    }

    /// Forgets all state (a worker that gave the query's partitions to
    /// another; it restores from the changelog when they come back).
    pub fn reset(&self) {
        *self.state.lock() = AggregatorState::empty(&self.plan, &self.limits);
        *self.fatal.lock() = None;
    }

    /// Groups held in memory and spilled to disk.
    pub fn state_sizes(&self) -> (usize, usize) {
        let state = self.state.lock();
        let (hot, spilled) = state.sessions.sizes();
        (
            state.groups.hot_len() + hot,
            state.groups.spilled_len() + spilled,
        )
    }

    /// Why the state can no longer be trusted (an aggregate function that
    /// threw, a spill that failed), if so: the query stops, as a Kafka
    /// Streams task dies on a UDAF exception.
    pub fn state_failure(&self) -> Option<String> {
        if let Some(f) = self.fatal.lock().clone() {
            return Some(f);
        }
        let state = self.state.lock();
        state
            .groups
            .failure()
            .or(state.sessions.failure())
            .map(str::to_string)
    }

    pub(crate) fn fail(&self, reason: String) {
        self.error(reason.clone());
        self.fatal.lock().get_or_insert(reason);
    }

    fn error(&self, message: String) {
        self.log.error(&self.query_id, &message);
    }

    fn over_table(&self) -> bool {
        self.plan.source.kind == SourceKind::Table
    }

    /// Folds one input row in; returns the changed rows of the result table.
    pub fn apply(&self, row: &[Value], rowtime: i64, value_is_null: bool) -> Vec<ResultRow> {
        let out = if self.over_table() {
            self.fold_table_row(row, rowtime, value_is_null)
        } else if value_is_null {
            // A stream's tombstone carries no row to aggregate.
            Vec::new()
        } else {
            self.fold(row, rowtime)
        };
        for e in creek_sql::expr::take_errors() {
            self.error(format!("Error computing expression: {e}"));
        }
        out
    }

    /// The filter, grouping key and arguments of one row; `None` when the
    /// row does not count (filtered out, or a NULL grouping key).
    fn contribution(&self, row: &[Value]) -> Option<Contribution> {
        let plan = &self.plan;
        if let Some(filter) = &plan.filter {
            if !matches!(filter.eval(row), Ok(Value::Boolean(true))) {
                return None;
            }
        }
        let mut key = Vec::with_capacity(plan.group_by.len());
        for g in &plan.group_by {
            match g.eval(row) {
                Ok(Value::Null) => {
                    // ksqlDB drops rows whose grouping key is NULL.
                    self.error(
                        "Failed to generate group by key: a grouping expression is null".into(),
                    );
                    return None;
                }
                Ok(v) => key.push(v),
                Err(e) => {
                    self.error(format!("Error computing GROUP BY expression: {e}"));
                    return None;
                }
            }
        }
        let args: Vec<Vec<Value>> = plan
            .aggregates
            .iter()
            .map(|call| {
                call.args
                    .iter()
                    .map(|a| a.eval(row).unwrap_or(Value::Null))
                    .collect()
            })
            .collect();
        Some(Contribution { key, args })
    }

    fn fold(&self, row: &[Value], rowtime: i64) -> Vec<ResultRow> {
        match self.contribution(row) {
            Some(c) => self.fold_contribution(c, rowtime),
            None => Vec::new(),
        }
    }

    /// A stream row's contribution into its group (and windows).
    fn fold_contribution(&self, c: Contribution, rowtime: i64) -> Vec<ResultRow> {
        let plan = &self.plan;
        let mut state = self.state.lock();
        state.stream_time = state.stream_time.max(rowtime);
        if let Some(w) = plan.window.filter(|w| w.kind == WindowKind::Session) {
            return self.fold_session(&mut state, &w, c, rowtime);
        }
        let windows: Vec<(i64, i64)> = match &plan.window {
            None => vec![(i64::MIN, i64::MIN)],
            Some(w) => {
                let close = state.stream_time.saturating_sub(w.grace);
                time_windows(rowtime, w)
                    .into_iter()
                    .filter(|(_, end)| *end > close)
                    .collect()
            }
        };
        let mut out = Vec::new();
        for &(start, end) in &windows {
            let window = plan.window.map(|_| (start, end));
            let steps = [(Step::Add, &c.args)];
            if let Some(r) = self.update_group(&mut state, &c, start, window, rowtime, &steps) {
                out.push(r);
            }
        }
        if let Some(w) = plan.window {
            for (start, _) in &windows {
                let closes = start.saturating_add(w.size).saturating_add(w.grace);
                state.next_close = state.next_close.min(closes);
            }
            // Sweep only when the stream time passes the earliest close, so
            // the cost is per window, not per record.
            if state.stream_time >= state.next_close {
                if plan.emit_final {
                    out.extend(self.close_windows(&mut state));
                } else {
                    self.drop_closed_windows(&mut state);
                }
                state.next_close = state
                    .groups
                    .min_start()
                    .map(|start| start.saturating_add(w.size).saturating_add(w.grace))
                    .unwrap_or(i64::MAX);
            }
        }
        out
    }

    /// EMIT CHANGES: a window whose end plus grace the stream time reached
    /// takes no more records, so its state goes (its results are already in
    /// the output topic, where pull queries read them): memory holds the
    /// open windows only.
    fn drop_closed_windows(&self, state: &mut AggregatorState) {
        let Some(w) = self.plan.window else {
            return;
        };
        let last_closed_start = state
            .stream_time
            .saturating_sub(w.size)
            .saturating_sub(w.grace);
        let closed = state.groups.ids_starting_at_or_before(last_closed_start);
        for id in closed {
            state.groups.remove(&id);
            state.dirty.insert(id);
        }
    }

    /// A table source's row replaced (or deleted, `value_is_null`): its old
    /// contribution comes out of its group and the new one goes in, one
    /// result when the group stays the same, else the old group's first.
    fn fold_table_row(&self, row: &[Value], rowtime: i64, value_is_null: bool) -> Vec<ResultRow> {
        let (old, new) = self.table_change(row, value_is_null);
        self.fold_table_change(old, new, rowtime)
    }

    /// A table source row's old and new contributions; the new one is
    /// remembered in place of the old.
    fn table_change(
        &self,
        row: &[Value],
        value_is_null: bool,
    ) -> (Option<Contribution>, Option<Contribution>) {
        let source_key: Vec<Value> = self
            .source_key
            .iter()
            .map(|i| row.get(*i).cloned().unwrap_or(Value::Null))
            .collect();
        let new = if value_is_null {
            None
        } else {
            self.contribution(row)
        };
        (self.replace_table_row(&source_key, new.clone()), new)
    }

    /// Remembers a table row's new contribution (`None`: deleted or
    /// filtered out); returns its previous one.
    fn replace_table_row(
        &self,
        source_key: &[Value],
        new: Option<Contribution>,
    ) -> Option<Contribution> {
        let mut state = self.state.lock();
        match new {
            None => state.table_rows.remove(&key_identity(source_key)),
            Some(c) => state.table_rows.insert(key_identity(source_key), Some(c)),
        }
        .flatten()
    }

    /// A table row's change: its old contribution out of its group, the new
    /// one in; one result when the group stays the same.
    fn fold_table_change(
        &self,
        old: Option<Contribution>,
        new: Option<Contribution>,
        rowtime: i64,
    ) -> Vec<ResultRow> {
        let mut state = self.state.lock();
        state.stream_time = state.stream_time.max(rowtime);
        let unwindowed = i64::MIN;
        let mut out = Vec::new();
        match (old, new) {
            (Some(old), Some(new)) if same_values(&old.key, &new.key) => {
                let steps = [(Step::Undo, &old.args), (Step::Add, &new.args)];
                out.extend(self.update_group(&mut state, &new, unwindowed, None, rowtime, &steps));
            }
            (old, new) => {
                if let Some(old) = old {
                    let steps = [(Step::Undo, &old.args)];
                    out.extend(
                        self.update_group(&mut state, &old, unwindowed, None, rowtime, &steps),
                    );
                }
                if let Some(new) = new {
                    let steps = [(Step::Add, &new.args)];
                    out.extend(
                        self.update_group(&mut state, &new, unwindowed, None, rowtime, &steps),
                    );
                }
            }
        }
        out
    }

    /// Stage one of a repartitioned aggregation: one source record as the
    /// records re-keyed by their group that go through the repartition
    /// topic: key = the grouping values, value = the arguments to take out
    /// (a table row's old values) and to put in, and the source position
    /// for stage two's de-duplication (encoded by [`rekeyed`]).
    pub fn rekey(
        &self,
        row: &[Value],
        value_is_null: bool,
        rowtime: i64,
        source: (i32, i64),
    ) -> Vec<ProducerRecord> {
        let changes = self.group_changes(row, value_is_null);
        for e in creek_sql::expr::take_errors() {
            self.error(format!("Error computing expression: {e}"));
        }
        changes
            .into_iter()
            .enumerate()
            .map(|(i, (key, undo, add))| ProducerRecord {
                key: Some(Bytes::from(rekeyed::encode_key(&key))),
                value: Some(Bytes::from(rekeyed::encode_change(source, i, &undo, &add))),
                headers: Vec::new(),
                timestamp: Some(rowtime),
            })
            .collect()
    }

    /// The group changes one source row makes: over a stream, its arguments
    /// into its group (none for a tombstone, a filtered-out row or a NULL
    /// grouping key); over a table, the row's previous arguments out of their
    /// group and its new ones in (one change when the group stays the same).
    fn group_changes(&self, row: &[Value], value_is_null: bool) -> Vec<GroupChange> {
        if self.over_table() {
            match self.table_change(row, value_is_null) {
                (Some(old), Some(new)) if same_values(&old.key, &new.key) => {
                    vec![(new.key, Some(old.args), Some(new.args))]
                }
                (old, new) => old
                    .map(|o| (o.key, Some(o.args), None))
                    .into_iter()
                    .chain(new.map(|n| (n.key, None, Some(n.args))))
                    .collect(),
            }
        } else if value_is_null {
            Vec::new()
        } else {
            self.contribution(row)
                .map(|c| (c.key, None, Some(c.args)))
                .into_iter()
                .collect()
        }
    }

    /// Stage two: one re-keyed record from partition `partition` of the
    /// repartition topic folded into its group. A record whose source
    /// position was applied already is skipped.
    pub fn apply_rekeyed(
        &self,
        partition: i32,
        record: &ConsumerRecord,
    ) -> Result<Vec<ResultRow>, String> {
        let (Some(key), Some(value)) = (&record.key, &record.value) else {
            return Err("a repartition record without key or value".into());
        };
        let (key, change) = if rekeyed::is_binary(value) {
            (rekeyed::decode_key(key)?, rekeyed::decode_change(value)?)
        } else {
            self.rekeyed_from_json(key, value)?
        };
        {
            let mut state = self.state.lock();
            let applied = state
                .applied
                .entry((partition, change.source_partition))
                .or_insert((-1, -1));
            if change.position <= *applied {
                return Ok(Vec::new());
            }
            *applied = change.position;
        }
        let contribution = |args: Option<Vec<Vec<Value>>>| {
            args.map(|args| Contribution {
                key: key.clone(),
                args,
            })
        };
        let (undo, add) = (contribution(change.undo), contribution(change.add));
        let rowtime = record.timestamp;
        Ok(if self.over_table() {
            self.fold_table_change(undo, add, rowtime)
        } else {
            add.map(|c| self.fold_contribution(c, rowtime))
                .unwrap_or_default()
        })
    }

    /// A re-keyed record as earlier builds wrote it: JSON text, typed by
    /// the plan's grouping expressions and aggregate arguments.
    fn rekeyed_from_json(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<(Vec<Value>, rekeyed::RekeyedChange), String> {
        let key: Json = serde_json::from_slice(key).map_err(|e| e.to_string())?;
        let value: Json = serde_json::from_slice(value).map_err(|e| e.to_string())?;
        let plan = &self.plan;
        let key: Vec<Value> = key
            .as_array()
            .ok_or("a repartition key that is not an array")?
            .iter()
            .zip(&plan.group_by)
            .map(|(j, g)| crate::format::json_to_value(j, &g.ty))
            .collect::<Result<_, _>>()?;
        let args = |field: &str| -> Result<rekeyed::CallArgs, String> {
            let Some(calls) = value[field].as_array() else {
                return Ok(None);
            };
            calls
                .iter()
                .zip(&plan.aggregates)
                .map(|(vals, call)| {
                    vals.as_array()
                        .into_iter()
                        .flatten()
                        .zip(&call.args)
                        .map(|(j, a)| crate::format::json_to_value(j, &a.ty))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        };
        let change = rekeyed::RekeyedChange {
            source_partition: value["s"][0].as_i64().unwrap_or(0) as i32,
            position: (
                value["s"][1].as_i64().unwrap_or(0),
                value["s"][2].as_i64().unwrap_or(0),
            ),
            undo: args("u")?,
            add: args("a")?,
        };
        Ok((key, change))
    }

    /// Whether GROUP BY re-keys the source (ksqlDB's repartition): a table
    /// always, a stream unless it groups by exactly its key columns.
    pub fn needs_repartition(&self) -> bool {
        if self.over_table() {
            return true;
        }
        let keys: Vec<usize> = self
            .plan
            .source
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.role == crate::metastore::ColumnRole::Key)
            .map(|(i, _)| i)
            .collect();
        let by_key = self.plan.group_by.len() == keys.len()
            && self
                .plan
                .group_by
                .iter()
                .zip(&keys)
                .all(|(g, k)| g.column_ref() == Some(*k));
        !by_key
    }

    /// Rebuilds a table source's row memory from its topic on restart,
    /// without touching the groups (the changelog already holds them).
    pub fn remember_table_row(&self, row: &[Value], value_is_null: bool) {
        let source_key: Vec<Value> = self
            .source_key
            .iter()
            .map(|i| row.get(*i).cloned().unwrap_or(Value::Null))
            .collect();
        let identity = key_identity(&source_key);
        let contribution = (!value_is_null).then(|| self.contribution(row));
        let mut state = self.state.lock();
        match contribution {
            None => {
                state.table_rows.remove(&identity);
            }
            Some(c) => {
                state.table_rows.insert(identity, c);
            }
        }
    }

    /// Applies `steps` (argument values in or out) to a contribution's group (window `start`),
    /// creating the group if needed; returns the group's new result row
    /// (none under EMIT FINAL, or when HAVING rejected it before and still does).
    fn update_group(
        &self,
        state: &mut AggregatorState,
        c: &Contribution,
        start: i64,
        window: Option<(i64, i64)>,
        rowtime: i64,
        steps: &[(Step, &Vec<Vec<Value>>)],
    ) -> Option<ResultRow> {
        let plan = &self.plan;
        let id = GroupId(c.key.clone(), start);
        if !state.dirty.contains(&id) {
            state.dirty.insert(id.clone());
        }
        let (group, existed) = state.groups.get_or_insert_with(&id, || GroupState {
            key: c.key.clone(),
            aggregates: plan
                .aggregates
                .iter()
                .map(|c| (c.function.init)())
                .collect(),
            rowtime,
        });
        // HAVING filters the result table: a group leaves it (tombstone) only
        // if its previous result was in it.
        let was_in = existed && plan.having.is_some() && self.passes_having(group, window);
        group.rowtime = group.rowtime.max(rowtime);
        self.fold_steps(&mut group.aggregates, steps);
        if plan.emit_final {
            return None;
        }
        let result = self.result(group, window)?;
        if result.value.is_none() && !was_in && plan.having.is_some() {
            return None;
        }
        Some(result)
    }

    /// Runs each step's arguments through the aggregate functions, into a
    /// group's states (`aggregate` to add, `undo` to take out). A function
    /// that throws fails the aggregation's state (the query stops before it
    /// produces) and its state starts over from its initial value.
    fn fold_steps(&self, aggregates: &mut [Value], steps: &[(Step, &Vec<Vec<Value>>)]) {
        for (step, step_args) in steps {
            for ((call, state), args) in self
                .plan
                .aggregates
                .iter()
                .zip(aggregates.iter_mut())
                .zip(step_args.iter())
            {
                let current = std::mem::replace(state, Value::Null);
                let next = match step {
                    Step::Add => (call.function.aggregate)(args, current),
                    Step::Undo => match &call.function.undo {
                        Some(undo) => undo(args, current),
                        None => Err("the aggregate cannot undo".into()),
                    },
                };
                *state = match next {
                    Ok(next) => next,
                    Err(e) => {
                        self.fail(format!("Error computing aggregate: {e}"));
                        (call.function.init)()
                    }
                };
            }
        }
    }

    /// EMIT FINAL: the results of the windows the stream time has closed
    /// (end plus grace reached), oldest first; their state is dropped.
    fn close_windows(&self, state: &mut AggregatorState) -> Vec<ResultRow> {
        let Some(w) = self.plan.window else {
            return Vec::new();
        };
        let last_closed_start = state
            .stream_time
            .saturating_sub(w.size)
            .saturating_sub(w.grace);
        let mut closed = state.groups.ids_starting_at_or_before(last_closed_start);
        closed.sort_by_cached_key(|id| (id.1, key_identity(&id.0)));
        // Kafka Streams emits final results from its window store, which has
        // already dropped windows older than the retention (size plus grace
        // by default): a window the stream time jumped past is never emitted.
        let oldest_kept = state.stream_time.saturating_sub(w.retention);
        let mut out = Vec::new();
        for id in closed {
            if let Some(group) = state.groups.remove(&id) {
                state.dirty.insert(id.clone());
                if id.1 < oldest_kept {
                    continue;
                }
                // Nothing of the window was emitted before, so a row HAVING
                // rejects needs no tombstone.
                if let Some(r) = self.result(&group, Some((id.1, id.1 + w.size))) {
                    if r.value.is_some() {
                        out.push(r);
                    }
                }
            }
        }
        out
    }

    /// The row HAVING and the projection see: grouping values, aggregate
    /// results, then WINDOWSTART, WINDOWEND and ROWTIME.
    fn group_row(&self, group: &GroupState, window: Option<(i64, i64)>) -> Vec<Value> {
        let mut row: Vec<Value> = group.key.clone();
        row.extend(
            self.plan
                .aggregates
                .iter()
                .zip(&group.aggregates)
                .map(|(c, s)| (c.function.map)(s)),
        );
        if let Some((start, end)) = window {
            row.push(Value::Bigint(start));
            row.push(Value::Bigint(end));
        }
        row.push(Value::Bigint(group.rowtime));
        row
    }

    fn having_accepts(&self, group_row: &[Value]) -> bool {
        match &self.plan.having {
            None => true,
            Some(h) => matches!(h.eval(group_row), Ok(Value::Boolean(true))),
        }
    }

    fn passes_having(&self, group: &GroupState, window: Option<(i64, i64)>) -> bool {
        self.having_accepts(&self.group_row(group, window))
    }

    /// The output row of a group: the projection, or a tombstone when HAVING
    /// rejects the group (the result table drops the row).
    fn result(&self, group: &GroupState, window: Option<(i64, i64)>) -> Option<ResultRow> {
        let plan = &self.plan;
        let row = self.group_row(group, window);
        let eval = |e: &CompiledExpr| match e.eval(&row) {
            Ok(v) => v,
            Err(err) => {
                self.error(format!("Error computing expression: {err}"));
                Value::Null
            }
        };
        let projection: Vec<Value> = plan.projection.iter().map(|p| eval(&p.expr)).collect();
        let key: Vec<Value> = plan
            .projection
            .iter()
            .zip(&projection)
            .filter(|(p, _)| p.is_key)
            .map(|(_, v)| v.clone())
            .collect();
        let passes = self.having_accepts(&row);
        let value = passes.then(|| {
            plan.projection
                .iter()
                .zip(&projection)
                .filter(|(p, _)| !p.is_key)
                .map(|(_, v)| v.clone())
                .collect()
        });
        Some(ResultRow {
            key,
            value,
            projection,
            rowtime: group.rowtime,
            window,
        })
    }
}

impl Aggregator {
    /// The changelog batch for the groups changed since the last call,
    /// ending with the input `positions` (next offset per partition) the
    /// state now accounts for.
    pub fn changelog(&self, positions: &BTreeMap<i32, i64>) -> Vec<ProducerRecord> {
        let mut state = self.state.lock();
        let dirty: Vec<GroupId> = state.dirty.drain().collect();
        let mut out = Vec::with_capacity(dirty.len() + 1);
        for id in dirty {
            let key = Some(Bytes::from(json!([key_identity(&id.0), id.1]).to_string()));
            let Some(group) = state.groups.get_mut(&id) else {
                // A closed window: the tombstone drops it on restore.
                out.push(ProducerRecord {
                    key,
                    value: None,
                    headers: Vec::new(),
                    timestamp: Some(creek_store::now_ms()),
                });
                continue;
            };
            out.push(ProducerRecord {
                key,
                value: Some(Bytes::from(group_to_json(group).to_string())),
                headers: Vec::new(),
                timestamp: Some(group.rowtime.max(0)),
            });
        }
        // Every group's state is in this batch now; memory keeps the
        // configured number of them.
        state.groups.evict(|_| false);
        out.extend(state.sessions.changelog());
        let positions: BTreeMap<String, i64> =
            positions.iter().map(|(p, o)| (p.to_string(), *o)).collect();
        out.push(ProducerRecord {
            key: Some(Bytes::from(POSITIONS_KEY)),
            value: Some(Bytes::from(
                json!({
                    "positions": positions,
                    "stream_time": state.stream_time,
                    "applied": state
                        .applied
                        .iter()
                        .map(|((rp, sp), (o, i))| [*rp as i64, *sp as i64, *o, *i])
                        .collect::<Vec<_>>(),
                })
                .to_string(),
            )),
            headers: Vec::new(),
            timestamp: Some(creek_store::now_ms()),
        });
        out
    }

    /// Rebuilds the state from a changelog read from its start into an empty
    /// state; returns the input positions it accounts for (`None` for an
    /// empty changelog). Only each key's last record counts (the changelog
    /// is compacted), so each group is read and stored once.
    pub fn restore(
        &self,
        records: impl IntoIterator<Item = ConsumerRecord>,
    ) -> Result<Option<BTreeMap<i32, i64>>, String> {
        let (key_types, state_types) = key_and_state_types(&self.plan);
        let records: Vec<ConsumerRecord> = records.into_iter().collect();
        let mut last: HashMap<&[u8], usize> = HashMap::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            if let Some(k) = &r.key {
                last.insert(k.as_ref(), i);
            }
        }
        let latest: Vec<usize> = {
            let mut l: Vec<usize> = last.into_values().collect();
            l.sort_unstable();
            l
        };
        let mut state = self.state.lock();
        let mut positions = None;
        for i in latest {
            let r = &records[i];
            let Some(k) = &r.key else {
                continue;
            };
            // A tombstone last: the group (or session) is gone.
            let Some(v) = &r.value else {
                continue;
            };
            let bad = |e: &dyn std::fmt::Display| {
                format!("corrupt changelog record at offset {}: {e}", r.offset)
            };
            let v: Json = serde_json::from_slice(v).map_err(|e| bad(&e))?;
            if k.as_ref() == POSITIONS_KEY.as_bytes() {
                positions = Some(restore_positions(&mut state, &v).map_err(|e| bad(&e))?);
                continue;
            }
            // A session's id also carries its end.
            if let Ok(id) = serde_json::from_slice::<(String, i64, i64)>(k) {
                let group = group_from_json(&v, &key_types, &state_types).map_err(|e| bad(&e))?;
                state.sessions.restore(id, Some(group));
                continue;
            }
            let id: (String, i64) = serde_json::from_slice(k).map_err(|e| bad(&e))?;
            let group = group_from_json(&v, &key_types, &state_types).map_err(|e| bad(&e))?;
            let group_id = GroupId(group.key.clone(), id.1);
            state.groups.insert_absent(group_id, group);
            state.groups.evict(|_| false);
        }
        state.sessions.evict();
        Ok(positions)
    }
}

/// The TUMBLING/HOPPING windows `[start, end)` holding `timestamp`, oldest
/// first (Kafka Streams' `TimeWindows.windowsFor`).
pub fn time_windows(timestamp: i64, w: &WindowSpec) -> Vec<(i64, i64)> {
    let first = (timestamp - w.size + w.advance).max(0);
    let mut start = first - first.rem_euclid(w.advance);
    let mut out = Vec::new();
    while start <= timestamp {
        out.push((start, start + w.size));
        start += w.advance;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::FormatSpec;
    use crate::metastore::{ColumnRole, Metastore, SourceColumn};
    use creek_sql::functions::aggregate::AggregateRegistry;
    use creek_sql::functions::FunctionRegistry;

    /// A JSON stream `S (K STRING KEY, CAT STRING)` and a planned query over it.
    fn aggregator(sql: &str) -> Aggregator {
        let spec = |kind| FormatSpec {
            kind,
            properties: Default::default(),
            wrap_single_value: None,
        };
        let column = |name: &str, role| SourceColumn {
            name: name.into(),
            ty: SqlType::String,
            role,
        };
        let source = DataSource {
            name: "S".into(),
            kind: SourceKind::Stream,
            topic: "s".into(),
            key_format: spec(crate::format::FormatKind::Kafka),
            value_format: spec(crate::format::FormatKind::Json),
            columns: vec![
                column("K", ColumnRole::Key),
                column("CAT", ColumnRole::Value),
            ],
            timestamp: None,
            read_only: false,
            is_sink: false,
            statement: String::new(),
            window: None,
        };
        let mut metastore = Metastore::default();
        metastore.sources.insert("S".into(), Arc::new(source));
        let creek_sql::ast::Statement::CreateAsSelect { query, .. } =
            creek_sql::parse_statement(sql).unwrap()
        else {
            panic!("not a CTAS")
        };
        let plan = plan_aggregate(
            &query,
            &metastore,
            &FunctionRegistry::builtin(),
            &AggregateRegistry::builtin(),
            Some("T"),
        )
        .unwrap();
        Aggregator::new(plan, Arc::new(ProcessingLog::default()), "Q".into())
    }

    fn row(cat: &str) -> Vec<Value> {
        // K, CAT, ROWTIME, ROWPARTITION, ROWOFFSET
        vec![
            Value::string("k"),
            Value::string(cat),
            Value::Bigint(0),
            Value::Int(0),
            Value::Bigint(0),
        ]
    }

    #[test]
    fn closed_windows_leave_the_state() {
        let a = aggregator(
            "CREATE TABLE T AS SELECT CAT, COUNT(*) AS N FROM S \
             WINDOW TUMBLING (SIZE 10 MILLISECONDS, GRACE PERIOD 5 MILLISECONDS) GROUP BY CAT;",
        );
        for t in 0..100 {
            a.apply(&row("a"), t, false);
            a.apply(&row("b"), t, false);
        }
        // At stream time 99 only [90,100) is open ([80,90) closed at 90 + 5):
        // two groups, not twenty.
        assert_eq!(a.state.lock().groups.hot_len(), 2);
        // A record for a closed window is late: nothing changes.
        assert!(a.apply(&row("a"), 3, false).is_empty());
        assert_eq!(a.state.lock().groups.hot_len(), 2);
    }

    #[test]
    fn group_identities_agree_with_their_text() {
        use creek_sql::value::Decimal;
        let keys = [
            vec![Value::string("M")],
            vec![Value::string("F")],
            vec![Value::Int(1)],
            vec![Value::Bigint(1)],
            vec![Value::Double(0.0)],
            vec![Value::Double(-0.0)],
            vec![Value::Double(f64::NAN)],
            vec![Value::Double(-f64::NAN)],
            vec![Value::Decimal(Decimal::new(10, 1))],
            vec![Value::Decimal(Decimal::new(100, 2))],
            vec![Value::Array(vec![Value::Null, Value::Int(2)])],
            vec![Value::Array(vec![Value::Int(2), Value::Null])],
            vec![Value::Struct(vec![("A".into(), Value::Int(1))])],
            vec![Value::Struct(vec![("B".into(), Value::Int(1))])],
            vec![Value::string("M"), Value::Int(1)],
        ];
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        for a in &keys {
            for b in &keys {
                let (x, y) = (GroupId(a.clone(), 0), GroupId(b.clone(), 0));
                assert_eq!(x == y, key_identity(a) == key_identity(b), "{a:?} vs {b:?}");
                if x == y {
                    assert_eq!(state.hash_one(&x), state.hash_one(&y), "{a:?}");
                }
            }
            assert!(GroupId(a.clone(), 0) != GroupId(a.clone(), 1));
        }
    }

    #[test]
    fn hopping_windows_hold_the_timestamp() {
        let w = WindowSpec {
            kind: WindowKind::Hopping,
            size: 30_000,
            advance: 15_000,
            grace: 0,
            retention: 45_000,
        };
        assert_eq!(
            time_windows(89_999, &w),
            vec![(60_000, 90_000), (75_000, 105_000)]
        );
        assert_eq!(time_windows(0, &w), vec![(0, 30_000)]);
        let t = WindowSpec {
            kind: WindowKind::Tumbling,
            size: 30_000,
            advance: 30_000,
            grace: 0,
            retention: 30_000,
        };
        assert_eq!(time_windows(30_000, &t), vec![(30_000, 60_000)]);
    }
}
