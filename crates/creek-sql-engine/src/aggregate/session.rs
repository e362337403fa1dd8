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

use creek_log::ProducerRecord;
use creek_sql::value::Value;
use serde_json::json;

use super::{
    group_record, AggregatePlan, Aggregator, AggregatorState, GroupState, WindowKind, WindowSpec,
};
use crate::query::ResultRow;

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

/// The sessions of one grouping key, ordered by end then start (the order
/// Kafka Streams' session store finds them, which is the merge order).
#[derive(Default)]
pub(super) struct KeySessions {
    pub sessions: Vec<Session>,
}

/// What a record does to its key's sessions.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// Too late: its session would already be closed.
    Dropped,
    /// Into the session `window`, absorbing the sessions at these indexes
    /// (oldest first). Absorbing only the identical window `[t, t]` replaces
    /// it in place and deletes nothing.
    Into {
        window: (i64, i64),
        absorbed: Vec<usize>,
    },
}

/// The stream time at or before which a session's end is past the store's
/// retention: such sessions are no longer found.
pub(super) fn expired_at(w: &WindowSpec, stream_time: i64) -> i64 {
    stream_time.saturating_sub(w.retention)
}

/// Kafka Streams' `KStreamSessionWindowAggregate`: where a record at
/// `timestamp` goes, given the stream time after it.
pub(super) fn place(
    sessions: &KeySessions,
    timestamp: i64,
    w: &WindowSpec,
    stream_time: i64,
) -> Placement {
    let expired = expired_at(w, stream_time);
    let mut window = (timestamp, timestamp);
    let mut absorbed = Vec::new();
    for (i, s) in sessions.sessions.iter().enumerate() {
        if s.end > expired && s.reaches(timestamp, w.size) {
            window = (window.0.min(s.start), window.1.max(s.end));
            absorbed.push(i);
        }
    }
    let close = stream_time.saturating_sub(w.grace).saturating_sub(w.size);
    if window.1 < close {
        return Placement::Dropped;
    }
    Placement::Into { window, absorbed }
}

/// Whether EMIT FINAL may emit a session ending at `end`.
pub(super) fn is_final(w: &WindowSpec, end: i64, stream_time: i64) -> bool {
    end.saturating_add(w.size).saturating_add(w.grace) <= stream_time
}

impl KeySessions {
    /// Removes and returns the sessions at `indexes` (ascending), in order.
    pub fn take(&mut self, indexes: &[usize]) -> Vec<Session> {
        let mut taken = Vec::with_capacity(indexes.len());
        for i in indexes.iter().rev() {
            taken.push(self.sessions.remove(*i));
        }
        taken.reverse();
        taken
    }

    /// Adds a session, keeping the order by end then start.
    pub fn insert(&mut self, session: Session) {
        let at = self
            .sessions
            .partition_point(|s| (s.end, s.start) < (session.end, session.start));
        self.sessions.insert(at, session);
    }

    /// Removes the sessions past retention; returns their windows.
    pub fn expire(&mut self, w: &WindowSpec, stream_time: i64) -> Vec<(i64, i64)> {
        let expired = expired_at(w, stream_time);
        let mut gone = Vec::new();
        self.sessions.retain(|s| {
            let keep = s.end > expired;
            if !keep {
                gone.push((s.start, s.end));
            }
            keep
        });
        gone
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
    /// Folds a row of grouping key `identity` into its sessions; returns the
    /// result table's changes: tombstones for the merged-away sessions, then
    /// the merged session (EMIT FINAL: the sessions this row's time closed).
    pub(super) fn fold_session(
        &self,
        state: &mut AggregatorState,
        w: &WindowSpec,
        identity: String,
        key: Vec<Value>,
        args: &[Vec<Value>],
        timestamp: i64,
    ) -> Vec<ResultRow> {
        let plan = &self.plan;
        let stream_time = state.stream_time;
        let sessions = state.sessions.entry(identity.clone()).or_default();
        // EMIT FINAL drops sessions as it emits them (no later than expiry).
        if !plan.emit_final {
            for (start, end) in sessions.expire(w, stream_time) {
                state.dirty_sessions.insert((identity.clone(), start, end));
            }
        }
        let (window, absorbed) = match place(sessions, timestamp, w, stream_time) {
            Placement::Dropped => {
                if sessions.sessions.is_empty() {
                    state.sessions.remove(&identity);
                }
                return Vec::new();
            }
            Placement::Into { window, absorbed } => (window, absorbed),
        };
        let merged = sessions.take(&absorbed);
        let aggregates = merge_states(&plan.aggregates, &merged, &|m| self.error(m));
        let mut out = Vec::new();
        // A row at exactly an existing `[t, t]` session overwrites it in
        // place; any other absorbed session is deleted.
        let deletes = window != (timestamp, timestamp);
        for s in &merged {
            state
                .dirty_sessions
                .insert((identity.clone(), s.start, s.end));
            if deletes && !plan.emit_final {
                if let Some(mut r) = self.result(&s.group, Some((s.start, s.end))) {
                    r.value = None;
                    r.rowtime = s.end;
                    out.push(r);
                }
            }
        }
        let mut group = GroupState {
            key,
            aggregates,
            // Kafka Streams stamps a session's row with its end.
            rowtime: window.1,
        };
        self.add_row(&mut group.aggregates, args);
        if !plan.emit_final {
            out.extend(self.result(&group, Some(window)));
        }
        state
            .dirty_sessions
            .insert((identity.clone(), window.0, window.1));
        state.sessions.entry(identity).or_default().insert(Session {
            start: window.0,
            end: window.1,
            group,
        });
        if plan.emit_final {
            out.extend(self.close_sessions(state, w));
        }
        out
    }

    /// EMIT FINAL: the sessions the stream time has closed, by end; their
    /// state is dropped (no later record can reach them).
    pub(super) fn close_sessions(
        &self,
        state: &mut AggregatorState,
        w: &WindowSpec,
    ) -> Vec<ResultRow> {
        let stream_time = state.stream_time;
        let mut closed: Vec<(i64, String, i64)> = Vec::new();
        for (identity, k) in &state.sessions {
            for s in &k.sessions {
                if is_final(w, s.end, stream_time) {
                    closed.push((s.end, identity.clone(), s.start));
                }
            }
        }
        closed.sort();
        let mut out = Vec::new();
        for (end, identity, start) in closed {
            let id = (identity, start, end);
            if let Some(s) = forget(state, &id) {
                out.extend(self.result(&s.group, Some((start, end))));
                state.dirty_sessions.insert(id);
            }
        }
        out
    }
}

/// Removes the session `(key identity, start, end)`.
pub(super) fn forget(state: &mut AggregatorState, id: &(String, i64, i64)) -> Option<Session> {
    let k = state.sessions.get_mut(&id.0)?;
    let i = k
        .sessions
        .iter()
        .position(|s| s.start == id.1 && s.end == id.2)?;
    let s = k.sessions.remove(i);
    if k.sessions.is_empty() {
        state.sessions.remove(&id.0);
    }
    Some(s)
}

/// Puts back a session read from the changelog.
pub(super) fn remember(state: &mut AggregatorState, id: (String, i64, i64), group: GroupState) {
    forget(state, &id);
    state.sessions.entry(id.0).or_default().insert(Session {
        start: id.1,
        end: id.2,
        group,
    });
}

/// The changelog records of the sessions changed since the last batch,
/// keyed `[key identity, start, end]`; deleted sessions get tombstones.
/// Sessions past retention are dropped first, whatever their key, so keys
/// that go quiet do not hold memory.
pub(super) fn changelog(state: &mut AggregatorState, plan: &AggregatePlan) -> Vec<ProducerRecord> {
    if let Some(w) = plan.window.filter(|w| w.kind == WindowKind::Session) {
        // EMIT FINAL drops sessions itself, once emitted.
        if !plan.emit_final {
            expire_all(state, &w);
        }
    }
    let dirty: Vec<(String, i64, i64)> = state.dirty_sessions.drain().collect();
    dirty
        .into_iter()
        .map(|(identity, start, end)| {
            let group = state.sessions.get(&identity).and_then(|k| {
                k.sessions
                    .iter()
                    .find(|s| s.start == start && s.end == end)
                    .map(|s| &s.group)
            });
            group_record(json!([identity, start, end]), group)
        })
        .collect()
}

/// Drops every session past retention.
fn expire_all(state: &mut AggregatorState, w: &WindowSpec) {
    let stream_time = state.stream_time;
    for (identity, k) in state.sessions.iter_mut() {
        for (start, end) in k.expire(w, stream_time) {
            state.dirty_sessions.insert((identity.clone(), start, end));
        }
    }
    state.sessions.retain(|_, k| !k.sessions.is_empty());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(gap: i64, grace: i64) -> WindowSpec {
        WindowSpec {
            kind: WindowKind::Session,
            size: gap,
            advance: gap,
            grace,
            retention: gap + grace,
        }
    }

    fn sessions(windows: &[(i64, i64)]) -> KeySessions {
        let mut k = KeySessions::default();
        for (start, end) in windows {
            k.insert(Session {
                start: *start,
                end: *end,
                group: GroupState {
                    key: vec![],
                    aggregates: vec![],
                    rowtime: *end,
                },
            });
        }
        k
    }

    #[test]
    fn a_record_within_the_gap_extends_the_session() {
        let w = spec(30_000, 1_000_000);
        let k = sessions(&[(0, 0), (70_010, 70_010)]);
        assert_eq!(
            place(&k, 10_009, &w, 70_010),
            Placement::Into {
                window: (0, 10_009),
                absorbed: vec![0]
            }
        );
        // The gap is inclusive on both sides.
        assert_eq!(
            place(&k, 30_000, &w, 70_010),
            Placement::Into {
                window: (0, 30_000),
                absorbed: vec![0]
            }
        );
        assert_eq!(
            place(&k, 30_001, &w, 70_010),
            Placement::Into {
                window: (30_001, 30_001),
                absorbed: vec![]
            }
        );
    }

    #[test]
    fn a_record_between_sessions_merges_them() {
        let w = spec(10, 1_000);
        let k = sessions(&[(0, 5), (20, 30)]);
        assert_eq!(
            place(&k, 12, &w, 30),
            Placement::Into {
                window: (0, 30),
                absorbed: vec![0, 1]
            }
        );
    }

    #[test]
    fn late_records_are_dropped_and_expired_sessions_not_found() {
        // Gap 30s, grace 60s: the close time is stream time - 90s.
        let w = spec(30_000, 60_000);
        let k = sessions(&[(0, 0)]);
        assert_eq!(place(&k, 10_009, &w, 100_010), Placement::Dropped);
        assert_eq!(
            place(&k, 10_010, &w, 100_010),
            Placement::Into {
                window: (10_010, 10_010),
                absorbed: vec![]
            }
        );
        let mut k = k;
        assert_eq!(k.expire(&w, 100_010), vec![(0, 0)]);
        assert!(k.sessions.is_empty());
    }

    #[test]
    fn sessions_stay_ordered_by_end() {
        let mut k = sessions(&[(50, 60), (0, 10), (20, 30)]);
        let ends: Vec<i64> = k.sessions.iter().map(|s| s.end).collect();
        assert_eq!(ends, vec![10, 30, 60]);
        let taken = k.take(&[0, 2]);
        assert_eq!(
            taken.iter().map(|s| s.start).collect::<Vec<_>>(),
            vec![0, 50]
        );
        assert_eq!(k.sessions.len(), 1);
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
            "VISITS",
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
        let records: Vec<creek_log::ConsumerRecord> = a
            .changelog(&positions)
            .into_iter()
            .enumerate()
            .map(|(i, r)| creek_log::ConsumerRecord {
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
        assert!(!is_final(&w, 14, 24));
        assert!(is_final(&w, 14, 25));
    }
}
