//! SESSION windows, as Kafka Streams' `SessionWindows` with an inactivity gap.
//!
//! A record at time `t` joins every live session of its key that ends at or
//! after `t - gap` and starts at or before `t + gap`; those sessions are
//! merged into one (their aggregate states combined with the functions'
//! `merge`, oldest first) spanning the earliest start to the latest end, so a
//! session's `[start, end]` are its first and last timestamps (WINDOWEND is
//! inclusive). Each merged-away session is deleted: the result table gets a
//! tombstone for it before the merged session's row.
//!
//! Time bounds, all on the stream time (the highest timestamp seen):
//! - a record is dropped when its merged session ended before
//!   `stream time - grace - gap` (Kafka Streams counts the gap in the close time);
//! - a session stops being found for merging once its end is at or before
//!   `stream time - retention` (the store's retention, `gap + grace` unless
//!   RETENTION says more);
//! - EMIT FINAL emits a session once `end + gap + grace` is at or before the
//!   stream time (the suppression of a session window waits for its gap too).

use std::collections::{BTreeSet, HashSet};

use bytes::Bytes;
use creek_sql::value::Value;
use creek_store::ProducerRecord;
use serde_json::json;

use super::{
    group_from_json, group_to_json, key_identity, Aggregator, AggregatorState, Contribution,
    GroupState, StateLimits,
};
use crate::group_store::{Codec, GroupKey, GroupStore};
use crate::query::ResultRow;
use crate::window::WindowSpec;
use creek_sql::types::SqlType;

/// A session's identity in the state and the changelog: the grouping key's
/// identity, the start and the end.
pub(super) type SessionId = (String, i64, i64);

/// One session of a grouping key.
pub(super) struct Session {
    pub start: i64,
    /// The last timestamp folded in (inclusive).
    pub end: i64,
    pub group: GroupState,
}

impl Session {
    /// Whether a record at `timestamp` falls within this session's gap.
    fn reaches(&self, timestamp: i64, gap: i64) -> bool {
        self.end >= timestamp.saturating_sub(gap) && self.start <= timestamp.saturating_add(gap)
    }
}

/// What a record does to its key's sessions.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// Too late: its session would already be closed.
    Dropped,
    /// Into the session `window`, absorbing these sessions `(start, end)`,
    /// oldest first. Absorbing only the identical window `[t, t]` replaces
    /// it in place and deletes nothing.
    Into {
        window: (i64, i64),
        absorbed: Vec<(i64, i64)>,
    },
}

/// The end at or before which a session is past the store's retention:
/// such sessions are no longer found.
fn expired_by(w: &WindowSpec, stream_time: i64) -> i64 {
    stream_time.saturating_sub(w.retention)
}

/// The end at or before which EMIT FINAL may emit a session.
fn final_by(w: &WindowSpec, stream_time: i64) -> i64 {
    stream_time.saturating_sub(w.size).saturating_sub(w.grace)
}

/// Kafka Streams' `KStreamSessionWindowAggregate`: where a record at
/// `timestamp` goes among its key's `sessions` (ordered by end), given the
/// stream time after it.
pub(super) fn place(
    sessions: &[Session],
    timestamp: i64,
    w: &WindowSpec,
    stream_time: i64,
) -> Placement {
    let expired = expired_by(w, stream_time);
    let mut window = (timestamp, timestamp);
    let mut absorbed = Vec::new();
    for s in sessions {
        if s.end > expired && s.reaches(timestamp, w.size) {
            window = (window.0.min(s.start), window.1.max(s.end));
            absorbed.push((s.start, s.end));
        }
    }
    let close = stream_time.saturating_sub(w.grace).saturating_sub(w.size);
    if window.1 < close {
        return Placement::Dropped;
    }
    Placement::Into { window, absorbed }
}

/// A grouping key's sessions as the [`GroupStore`] keeps them (one entry per
/// key, spilled together).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct SessionKey(String);

impl GroupKey for SessionKey {
    fn window_start(&self) -> i64 {
        // Sessions close by their end, through `by_end`, not by range scans.
        i64::MIN
    }

    fn spill_bytes(&self) -> Vec<u8> {
        self.0.as_bytes().to_vec()
    }
}

/// Every session of an aggregation: by grouping key (ordered by end then
/// start, the order Kafka Streams' session store finds them, which is the
/// merge order) in a [`GroupStore`], so the least recently used keys'
/// sessions spill to disk past the configured limit; and by end across keys
/// (a small in-memory index), for closing and expiry.
pub(super) struct SessionStore {
    by_key: GroupStore<SessionKey, Vec<Session>>,
    by_end: BTreeSet<(i64, String, i64)>,
    /// Sessions changed or deleted since the last changelog batch.
    dirty: HashSet<SessionId>,
}

impl SessionStore {
    pub fn new(limits: &StateLimits, key_types: Vec<SqlType>, state_types: Vec<SqlType>) -> Self {
        let codec = Codec {
            encode: Box::new(|sessions: &Vec<Session>| {
                let items: Vec<serde_json::Value> = sessions
                    .iter()
                    .map(|s| json!({"start": s.start, "end": s.end, "group": group_to_json(&s.group)}))
                    .collect();
                serde_json::Value::Array(items).to_string().into_bytes()
            }),
            decode: Box::new(move |bytes: &[u8]| {
                let items: Vec<serde_json::Value> =
                    serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
                items
                    .iter()
                    .map(|item| {
                        Ok(Session {
                            start: item["start"].as_i64().ok_or("a session without start")?,
                            end: item["end"].as_i64().ok_or("a session without end")?,
                            group: group_from_json(&item["group"], &key_types, &state_types)?,
                        })
                    })
                    .collect()
            }),
            id_of: Box::new(|_, sessions: &Vec<Session>| {
                SessionKey(
                    sessions
                        .first()
                        .map_or_else(String::new, |s| key_identity(&s.group.key)),
                )
            }),
        };
        SessionStore {
            by_key: GroupStore::new(limits.groups_in_memory, &limits.spill_dir, codec),
            by_end: BTreeSet::new(),
            dirty: HashSet::new(),
        }
    }

    /// The sessions of a grouping key, ordered by end then start.
    pub fn of_key(&mut self, identity: &str) -> &[Session] {
        self.by_key
            .get_mut(&SessionKey(identity.to_string()))
            .map_or(&[], |v| v.as_slice())
    }

    /// Sessions' keys in memory and spilled; why the spill failed, if it did.
    pub fn sizes(&self) -> (usize, usize) {
        (self.by_key.hot_len(), self.by_key.spilled_len())
    }

    pub fn failure(&self) -> Option<&str> {
        self.by_key.failure()
    }

    /// Spills the least recently used keys' sessions past the limit.
    pub fn evict(&mut self) {
        self.by_key.evict(|_| false);
    }

    /// Adds (or replaces) a session of `identity`.
    pub fn insert(&mut self, identity: String, session: Session) {
        self.dirty
            .insert((identity.clone(), session.start, session.end));
        self.attach(identity, session);
    }

    /// Replays a changelog record: the session's state, or its deletion
    /// (`None`); both are already durable.
    pub fn restore(&mut self, id: SessionId, group: Option<GroupState>) {
        self.detach(&id);
        if let Some(group) = group {
            let (identity, start, end) = id;
            self.attach(identity, Session { start, end, group });
        }
    }

    /// Deletes a session; the changelog gets its tombstone.
    pub fn remove(&mut self, id: &SessionId) -> Option<Session> {
        let s = self.detach(id)?;
        self.dirty.insert(id.clone());
        Some(s)
    }

    fn attach(&mut self, identity: String, session: Session) {
        self.by_end
            .insert((session.end, identity.clone(), session.start));
        let (sessions, _) = self
            .by_key
            .get_or_insert_with(&SessionKey(identity), Vec::new);
        let at = sessions.partition_point(|s| (s.end, s.start) < (session.end, session.start));
        match sessions.get(at) {
            Some(s) if (s.start, s.end) == (session.start, session.end) => sessions[at] = session,
            _ => sessions.insert(at, session),
        }
    }

    fn detach(&mut self, (identity, start, end): &SessionId) -> Option<Session> {
        let key = SessionKey(identity.clone());
        let sessions = self.by_key.get_mut(&key)?;
        let at = sessions
            .iter()
            .position(|s| s.start == *start && s.end == *end)?;
        let s = sessions.remove(at);
        if sessions.is_empty() {
            self.by_key.remove(&key);
        }
        self.by_end.remove(&(*end, identity.clone(), *start));
        Some(s)
    }

    /// The sessions ending at or before `end`, by end.
    fn ending_by(&self, end: i64) -> Vec<SessionId> {
        self.by_end
            .iter()
            .take_while(|(e, _, _)| *e <= end)
            .map(|(e, identity, s)| (identity.clone(), *s, *e))
            .collect()
    }

    /// Deletes the sessions past retention, whatever their key, so keys
    /// that go quiet do not hold memory.
    pub fn expire(&mut self, w: &WindowSpec, stream_time: i64) {
        for id in self.ending_by(expired_by(w, stream_time)) {
            self.remove(&id);
        }
    }

    /// The changelog records of the sessions changed since the last batch,
    /// keyed `[key identity, start, end]`; deleted sessions get tombstones.
    pub fn changelog(&mut self) -> Vec<ProducerRecord> {
        let dirty: Vec<SessionId> = self.dirty.drain().collect();
        let records = dirty
            .into_iter()
            .map(|(identity, start, end)| {
                let group = self
                    .of_key(&identity)
                    .iter()
                    .find(|s| s.start == start && s.end == end)
                    .map(|s| &s.group);
                let key = Some(Bytes::from(json!([identity, start, end]).to_string()));
                match group {
                    Some(group) => ProducerRecord {
                        key,
                        value: Some(Bytes::from(group_to_json(group).to_string())),
                        headers: Vec::new(),
                        timestamp: Some(group.rowtime.max(0)),
                    },
                    // Merged away or expired: the tombstone drops it on restore.
                    None => ProducerRecord {
                        key,
                        value: None,
                        headers: Vec::new(),
                        timestamp: Some(creek_store::now_ms()),
                    },
                }
            })
            .collect();
        // Every session's state is in this batch now.
        self.evict();
        records
    }
}

/// Combines aggregate states oldest first, starting from the functions'
/// initial values, as Kafka Streams' session merger does.
pub(super) fn merge_states(
    calls: &[super::AggregateCall],
    sessions: &[Session],
    on_error: &dyn Fn(String),
) -> Vec<Value> {
    let mut merged: Vec<Value> = calls.iter().map(|c| (c.function.init)()).collect();
    for s in sessions {
        for ((call, acc), state) in calls.iter().zip(merged.iter_mut()).zip(&s.group.aggregates) {
            let current = std::mem::replace(acc, Value::Null);
            *acc = match (call.function.merge)(current, state.clone()) {
                Ok(next) => next,
                Err(e) => {
                    on_error(format!("Error merging session aggregates: {e}"));
                    (call.function.init)()
                }
            };
        }
    }
    merged
}

impl Aggregator {
    /// Folds a row's contribution into its key's sessions; returns the
    /// result table's changes: tombstones for the merged-away sessions, then
    /// the merged session (EMIT FINAL: the sessions this row's time closed).
    pub(super) fn fold_session(
        &self,
        state: &mut AggregatorState,
        w: &WindowSpec,
        c: Contribution,
        timestamp: i64,
    ) -> Vec<ResultRow> {
        let plan = &self.plan;
        let stream_time = state.stream_time;
        // Sessions are named by the key's text, as in the changelog.
        let identity = key_identity(&c.key);
        // EMIT FINAL drops sessions as it emits them (no later than expiry).
        if !plan.emit_final {
            state.sessions.expire(w, stream_time);
        }
        let sessions = state.sessions.of_key(&identity);
        let (window, absorbed) = match place(sessions, timestamp, w, stream_time) {
            Placement::Dropped => return Vec::new(),
            Placement::Into { window, absorbed } => (window, absorbed),
        };
        let merged: Vec<Session> = absorbed
            .iter()
            .filter_map(|(start, end)| state.sessions.remove(&(identity.clone(), *start, *end)))
            .collect();
        let aggregates = merge_states(&plan.aggregates, &merged, &|m| self.error(m));
        // HAVING filters the result table: a session's row leaves it
        // (tombstone) only if it was in it.
        let in_result = |s: &Session| {
            plan.having.is_none() || self.passes_having(&s.group, Some((s.start, s.end)))
        };
        let mut out = Vec::new();
        // A row at exactly an existing `[t, t]` session overwrites it in
        // place; any other absorbed session is deleted.
        let replaced = window == (timestamp, timestamp);
        if !replaced && !plan.emit_final {
            for s in merged.iter().filter(|s| in_result(s)) {
                if let Some(mut r) = self.result(&s.group, Some((s.start, s.end))) {
                    r.value = None;
                    r.rowtime = s.end;
                    out.push(r);
                }
            }
        }
        let was_in = replaced && merged.iter().any(in_result);
        let mut group = GroupState {
            key: c.key,
            aggregates,
            // Kafka Streams stamps a session's row with its end.
            rowtime: window.1,
        };
        self.add_to_session(&mut group.aggregates, &c.args);
        if !plan.emit_final {
            if let Some(r) = self.result(&group, Some(window)) {
                if r.value.is_some() || was_in {
                    out.push(r);
                }
            }
        }
        state.sessions.insert(
            identity,
            Session {
                start: window.0,
                end: window.1,
                group,
            },
        );
        if plan.emit_final {
            out.extend(self.close_sessions(state, w));
        }
        out
    }

    /// Folds one row's aggregate arguments into a session's states.
    fn add_to_session(&self, aggregates: &mut [Value], args: &[Vec<Value>]) {
        for ((call, state), args) in self.plan.aggregates.iter().zip(aggregates).zip(args) {
            let current = std::mem::replace(state, Value::Null);
            *state = match (call.function.aggregate)(args, current) {
                Ok(next) => next,
                Err(e) => {
                    self.fail(format!("Error computing aggregate: {e}"));
                    (call.function.init)()
                }
            };
        }
    }

    /// EMIT FINAL: the sessions the stream time has closed, by end; their
    /// state is dropped (no later record can reach them).
    pub(super) fn close_sessions(
        &self,
        state: &mut AggregatorState,
        w: &WindowSpec,
    ) -> Vec<ResultRow> {
        let mut out = Vec::new();
        for id in state.sessions.ending_by(final_by(w, state.stream_time)) {
            if let Some(s) = state.sessions.remove(&id) {
                // Nothing of the session was emitted before, so a row HAVING
                // rejects needs no tombstone.
                let r = self.result(&s.group, Some((s.start, s.end)));
                out.extend(r.filter(|r| r.value.is_some()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::WindowKind;

    fn spec(gap: i64, grace: i64) -> WindowSpec {
        WindowSpec {
            kind: WindowKind::Session,
            size: gap,
            advance: gap,
            grace,
            retention: gap + grace,
        }
    }

    /// A store with sessions of key "k".
    fn store(windows: &[(i64, i64)]) -> SessionStore {
        let mut store = SessionStore::new(&StateLimits::default(), vec![], vec![]);
        for (start, end) in windows {
            store.insert(
                "k".into(),
                Session {
                    start: *start,
                    end: *end,
                    group: GroupState {
                        key: vec![],
                        aggregates: vec![],
                        rowtime: *end,
                    },
                },
            );
        }
        store
    }

    fn windows(store: &mut SessionStore) -> Vec<(i64, i64)> {
        store.of_key("k").iter().map(|s| (s.start, s.end)).collect()
    }

    #[test]
    fn a_record_within_the_gap_extends_the_session() {
        let w = spec(30_000, 1_000_000);
        let mut k = store(&[(0, 0), (70_010, 70_010)]);
        assert_eq!(
            place(k.of_key("k"), 10_009, &w, 70_010),
            Placement::Into {
                window: (0, 10_009),
                absorbed: vec![(0, 0)]
            }
        );
        // The gap is inclusive on both sides.
        assert_eq!(
            place(k.of_key("k"), 30_000, &w, 70_010),
            Placement::Into {
                window: (0, 30_000),
                absorbed: vec![(0, 0)]
            }
        );
        assert_eq!(
            place(k.of_key("k"), 30_001, &w, 70_010),
            Placement::Into {
                window: (30_001, 30_001),
                absorbed: vec![]
            }
        );
    }

    #[test]
    fn a_record_between_sessions_merges_them() {
        let w = spec(10, 1_000);
        let mut k = store(&[(0, 5), (20, 30)]);
        assert_eq!(
            place(k.of_key("k"), 12, &w, 30),
            Placement::Into {
                window: (0, 30),
                absorbed: vec![(0, 5), (20, 30)]
            }
        );
    }

    #[test]
    fn late_records_are_dropped_and_expired_sessions_not_found() {
        // Gap 30s, grace 60s: the close time is stream time - 90s.
        let w = spec(30_000, 60_000);
        let mut k = store(&[(0, 0), (50_000, 50_000)]);
        // (0, 0) is past retention, so 10_009 stays alone, and too late.
        assert_eq!(
            place(k.of_key("k"), 10_009, &w, 100_010),
            Placement::Dropped
        );
        assert_eq!(
            place(k.of_key("k"), 10_010, &w, 100_010),
            Placement::Into {
                window: (10_010, 10_010),
                absorbed: vec![]
            }
        );
        k.changelog();
        k.expire(&w, 100_010);
        assert_eq!(windows(&mut k), vec![(50_000, 50_000)]);
        // The expired session leaves the changelog too.
        let tombstones = k.changelog();
        assert_eq!(tombstones.len(), 1);
        assert!(tombstones[0].value.is_none());
        k.expire(&w, 140_010);
        assert!(k.sizes() == (0, 0) && k.by_end.is_empty());
    }

    #[test]
    fn sessions_of_quiet_keys_spill_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let limits = StateLimits {
            groups_in_memory: 4,
            spill_dir: dir.path().to_path_buf(),
        };
        let mut store = SessionStore::new(&limits, vec![SqlType::String], vec![]);
        let identity = |i: i64| key_identity(&[Value::string(format!("user{i}"))]);
        for i in 0..20 {
            let session = |start: i64| Session {
                start,
                end: start + 5,
                group: GroupState {
                    key: vec![Value::string(format!("user{i}"))],
                    aggregates: vec![],
                    rowtime: start + 5,
                },
            };
            store.insert(identity(i), session(i * 10));
            store.insert(identity(i), session(i * 10 + 100));
            store.changelog();
        }
        let (hot, spilled) = store.sizes();
        assert!(hot <= 4, "{hot} keys in memory");
        assert_eq!(hot + spilled, 20);
        for i in 0..20 {
            let windows: Vec<(i64, i64)> = store
                .of_key(&identity(i))
                .iter()
                .map(|s| (s.start, s.end))
                .collect();
            assert_eq!(
                windows,
                vec![(i * 10, i * 10 + 5), (i * 10 + 100, i * 10 + 105)]
            );
        }
        assert!(store.failure().is_none());
    }

    #[test]
    fn sessions_stay_ordered_by_end() {
        let mut k = store(&[(50, 60), (0, 10), (20, 30)]);
        assert_eq!(windows(&mut k), vec![(0, 10), (20, 30), (50, 60)]);
        assert!(k.remove(&("k".into(), 20, 30)).is_some());
        assert!(k.remove(&("k".into(), 20, 30)).is_none());
        assert_eq!(windows(&mut k), vec![(0, 10), (50, 60)]);
        assert_eq!(
            k.ending_by(60),
            vec![("k".to_string(), 0, 10), ("k".to_string(), 50, 60)]
        );
    }

    /// An aggregator for `select` over a JSON stream `CLICKS (USER STRING)`.
    fn aggregator(select: &str) -> Aggregator {
        use crate::format::{FormatKind, FormatSpec};
        use crate::metastore::{ColumnRole, DataSource, Metastore, SourceColumn};
        use creek_sql::ast::{SourceKind, Statement};
        use creek_sql::functions::aggregate::AggregateRegistry;
        use creek_sql::functions::FunctionRegistry;
        use std::sync::Arc;

        let json = FormatSpec {
            kind: FormatKind::Json,
            properties: Default::default(),
            wrap_single_value: None,
        };
        let mut metastore = Metastore::default();
        metastore.sources.insert(
            "CLICKS".into(),
            Arc::new(DataSource {
                name: "CLICKS".into(),
                kind: SourceKind::Stream,
                topic: "clicks".into(),
                key_format: json.clone(),
                value_format: json,
                columns: vec![SourceColumn {
                    name: "USER".into(),
                    ty: creek_sql::types::SqlType::String,
                    role: ColumnRole::Value,
                }],
                timestamp: None,
                read_only: false,
                is_sink: false,
                statement: String::new(),
                window: None,
            }),
        );
        let Ok(Statement::Query(query)) = creek_sql::parser::parse_statement(select) else {
            panic!("not a query: {select}");
        };
        let plan = super::super::plan_aggregate(
            &query,
            &metastore,
            &FunctionRegistry::builtin(),
            &AggregateRegistry::builtin(),
            Some("VISITS"),
        )
        .unwrap();
        Aggregator::new(plan, Default::default(), "Q".into())
    }

    /// A click's results as (count or tombstone, window, timestamp).
    fn click(a: &Aggregator, user: &str, at: i64) -> Vec<(Option<Value>, (i64, i64), i64)> {
        a.apply(
            &[Value::string(user), Value::Null, Value::Null, Value::Null],
            at,
            false,
        )
        .into_iter()
        .map(|r| {
            let count = r.value.map(|v| v[0].clone());
            (count, r.window.unwrap(), r.rowtime)
        })
        .collect()
    }

    #[test]
    fn merged_away_sessions_leave_as_tombstones() {
        let a = aggregator(
            "SELECT USER, COUNT(*) AS N FROM CLICKS WINDOW SESSION (10 SECONDS) GROUP BY USER;",
        );
        let n = |v: i64| Some(Value::Bigint(v));
        assert_eq!(click(&a, "u", 0), vec![(n(1), (0, 0), 0)]);
        assert_eq!(
            click(&a, "u", 20_000),
            vec![(n(1), (20_000, 20_000), 20_000)]
        );
        assert_eq!(click(&a, "v", 5_000), vec![(n(1), (5_000, 5_000), 5_000)]);
        // Within the gap of both sessions of "u": one session of three.
        assert_eq!(
            click(&a, "u", 10_000),
            vec![
                (None, (0, 0), 0),
                (None, (20_000, 20_000), 20_000),
                (n(3), (0, 20_000), 20_000),
            ]
        );
        // The same instant again overwrites [t, t] without a tombstone.
        assert_eq!(click(&a, "v", 5_000), vec![(n(2), (5_000, 5_000), 5_000)]);
    }

    #[test]
    fn sessions_round_trip_through_the_changelog() {
        let sql =
            "SELECT USER, COUNT(*) AS N FROM CLICKS WINDOW SESSION (10 SECONDS) GROUP BY USER;";
        let a = aggregator(sql);
        click(&a, "u", 0);
        click(&a, "u", 5_000);
        let positions = [(0, 2)].into_iter().collect();
        let records: Vec<creek_store::ConsumerRecord> = a
            .changelog(&positions)
            .into_iter()
            .enumerate()
            .map(|(i, r)| creek_store::ConsumerRecord {
                partition: 0,
                offset: i as i64,
                timestamp: r.timestamp.unwrap_or(0),
                key: r.key,
                value: r.value,
                headers: r.headers,
            })
            .collect();
        let b = aggregator(sql);
        assert_eq!(b.restore(records).unwrap(), Some(positions));
        assert_eq!(
            click(&b, "u", 12_000),
            vec![
                (None, (0, 5_000), 5_000),
                (Some(Value::Bigint(3)), (0, 12_000), 12_000)
            ]
        );
    }

    #[test]
    fn final_results_wait_for_gap_and_grace() {
        let w = spec(5, 6);
        assert_eq!(final_by(&w, 25), 14);
    }
}
