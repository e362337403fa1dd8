//! Pull queries over tables: `SELECT … FROM table [WHERE …]` without EMIT.
//!
//! [`pull_table`] reads the table's materialized view
//! ([`crate::views::TableView`]) and keeps the rows the WHERE clause accepts:
//! a key lookup, a range or a scan, as current ksqlDB allows. Rows come in
//! the view's order, except that `key IN (…)` lookups answer in the list's
//! order, as ksqlDB looks each key up in turn.
//!
//! With `ksql.query.pull.table.scan.enabled=false` ksqlDB only runs what it
//! can answer by key: [`check_key_lookup`] gives its errors for the rest.

use std::sync::Arc;

use creek_sql::ast::{BinaryOp, Expr, Query};
use creek_sql::expr::{compile, CompileContext};
use creek_sql::types::SqlType;
use creek_sql::value::Value;

use crate::engine::{Engine, Session};
use crate::format::value_to_api_json;
use crate::metastore::{ColumnRole, DataSource};
use crate::plan::{plan_stream_query_with, source_scope};
use crate::query::Projector;
use crate::transient::{transient_id, PushQuery, PushRow};
use crate::EngineError;

/// A pull query over a table: the rows of its materialized view that pass
/// the WHERE clause, projected.
pub async fn pull_table(
    engine: &Arc<Engine>,
    query: &Query,
    table: &Arc<DataSource>,
    session: &Session,
) -> Result<PushQuery, EngineError> {
    let view = match engine.table_view(table).await {
        Ok(view) => view,
        Err(not_queryable) => {
            // ksqlDB analyses the statement before it looks for the table's
            // materialization: a broken SELECT is reported as such.
            if table.window.is_none() {
                let metastore = engine.metastore();
                plan_stream_query_with(query, &metastore, &engine.functions, None, true)?;
            }
            return Err(not_queryable);
        }
    };
    let view = view.lock().await;
    let disabled = |name: &str| {
        session
            .properties
            .get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    };
    let table_scans = !disabled("ksql.query.pull.table.scan.enabled");
    if let Some(w) = &query.where_ {
        check_like(w, &view.pull_source, table_scans).map_err(EngineError::Statement)?;
    }
    if !table_scans {
        check_key_lookup(
            query.where_.as_ref(),
            &view.pull_source,
            !disabled("ksql.query.pull.range.scan.enabled"),
        )
        .map_err(EngineError::Statement)?;
    }
    if let Some(w) = &query.where_ {
        check_key_literals(w, &view.pull_source).map_err(EngineError::Statement)?;
    }
    let query = &window_bounds_as_times(query);
    let mut metastore = engine.metastore();
    metastore
        .sources
        .insert(table.name.clone(), view.pull_source.clone());
    let plan = plan_stream_query_with(query, &metastore, &engine.functions, None, true).map_err(
        |e| match (e, &query.where_) {
            // ksqlDB names the predicate it could not use.
            // A BETWEEN is planned as two comparisons, whose type error
            // ksqlDB reports on its own.
            (EngineError::Statement(m), Some(w))
                if m.contains("Cannot compare")
                    && any_node(w, |n| matches!(n, Expr::Between { .. })) =>
            {
                let reason = m.trim_start_matches("Error in WHERE expression: ");
                EngineError::Statement(format!(
                    "Invalid expression: {}",
                    reason.trim_end_matches('.')
                ))
            }
            (EngineError::Statement(m), Some(w)) if m.starts_with("Error in WHERE expression") => {
                EngineError::Statement(format!(
                    "{m}\nStatement: {}",
                    w.to_string().replace('`', "")
                ))
            }
            (e, _) => e,
        },
    )?;
    let lookup_order = in_list_order(query, &view.pull_source, engine);
    let query_id = transient_id(&table.name);
    let columns: Vec<(String, String)> = plan
        .projection
        .iter()
        .map(|p| (p.name.clone(), p.expr.ty.to_string()))
        .collect();
    let key_columns = plan.projection.iter().map(|p| p.is_key).collect();
    let limit = plan.limit;
    let rowtime_at = view.pull_source.columns.len();
    let projector = Projector {
        plan,
        log: engine.processing_log.clone(),
        query_id: query_id.clone(),
    };
    let mut rows: Vec<(usize, Vec<serde_json::Value>)> = Vec::new();
    for row in view.rows() {
        let rowtime = match row.get(rowtime_at) {
            Some(Value::Bigint(t)) => *t,
            _ => 0,
        };
        // A row the WHERE clause rejects comes back as a tombstone.
        if let Some(result) = projector.apply(row, rowtime, false) {
            if result.value.is_some() {
                let order = lookup_order
                    .iter()
                    .position(|eq| matches!(eq.eval(row), Ok(Value::Boolean(true))))
                    .unwrap_or(0);
                rows.push((
                    order,
                    result.projection.iter().map(value_to_api_json).collect(),
                ));
            }
        }
    }
    // Stable: rows of one looked-up key keep the view's order.
    rows.sort_by_key(|(order, _)| *order);
    if let Some(l) = limit {
        rows.truncate(l as usize);
    }
    let (tx, rx) = tokio::sync::mpsc::channel(rows.len().max(1));
    for (_, row) in rows {
        let _ = tx.try_send(PushRow::of(row));
    }
    Ok(PushQuery {
        query_id,
        columns,
        rows: rx,
        limit,
        pull: true,
        key_columns,
        over_view: true,
    })
}

/// ksqlDB lets a pull query bound `WINDOWSTART`/`WINDOWEND` with a date-time
/// text (`'2020-02-23T23:45:12.000'`, a prefix of it, an offset such as
/// `-0100`; UTC otherwise): such literals become epoch milliseconds.
fn window_bounds_as_times(query: &Query) -> Query {
    let Some(where_) = &query.where_ else {
        return query.clone();
    };
    let is_bound = |e: &Expr| matches!(e, Expr::Column { name, .. } if matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND"));
    let as_time = |e: &Expr| match e {
        Expr::Literal(creek_sql::ast::Literal::String(text)) => parse_date_time(text)
            .map(|ms| Expr::Literal(creek_sql::ast::Literal::Integer(ms.to_string()))),
        _ => None,
    };
    let rewritten = where_.rewrite(&mut |node| -> Result<Option<Expr>, ()> {
        Ok(match node {
            Expr::Binary { op, left, right } if is_bound(left) || is_bound(right) => {
                let (l, r) = (as_time(left), as_time(right));
                if l.is_none() && r.is_none() {
                    None
                } else {
                    Some(Expr::Binary {
                        op: *op,
                        left: Box::new(l.unwrap_or_else(|| (**left).clone())),
                        right: Box::new(r.unwrap_or_else(|| (**right).clone())),
                    })
                }
            }
            _ => None,
        })
    });
    let mut query = query.clone();
    if let Ok(w) = rewritten {
        query.where_ = Some(w);
    }
    query
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS` or any prefix of it (hour 24 is the next
/// day's midnight), with an optional `Z` or `±hhmm` offset, in epoch ms.
fn parse_date_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let (local, offset_minutes) = match text.rfind(['+', '-']) {
        Some(i) if i > 10 => {
            let (base, zone) = text.split_at(i);
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits: String = zone[1..].chars().filter(|c| c.is_ascii_digit()).collect();
            if digits.len() != 4 {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            (base, sign * (hours * 60 + minutes))
        }
        _ => (text.strip_suffix('Z').unwrap_or(text), 0),
    };
    const TEMPLATE: &str = "0000-01-01T00:00:00.000";
    if local.len() < 4 || local.len() > TEMPLATE.len() {
        return None;
    }
    let mut full = local.to_string();
    full.push_str(&TEMPLATE[local.len()..]);
    // Hour 24 means the end of the day.
    let next_day = &full[11..13] == "24";
    if next_day {
        full.replace_range(11..13, "00");
    }
    let mut at = chrono::NaiveDateTime::parse_from_str(&full, "%Y-%m-%dT%H:%M:%S%.3f").ok()?;
    if next_day {
        at += chrono::Duration::days(1);
    }
    Some(at.and_utc().timestamp_millis() - offset_minutes * 60_000)
}

/// For `WHERE key IN (a, b, …) [AND …]`: `key = a`, `key = b`, … compiled
/// over the view's rows, so rows can be put in the list's order.
fn in_list_order(
    query: &Query,
    source: &DataSource,
    engine: &Engine,
) -> Vec<creek_sql::expr::CompiledExpr> {
    let Some(where_) = &query.where_ else {
        return Vec::new();
    };
    let keys: Vec<&str> = own_keys(source);
    let scope = source_scope(source, &source.name);
    let metastore = engine.metastore();
    let ctx = CompileContext {
        functions: &engine.functions,
        custom_types: &metastore.types,
    };
    let conjuncts = split(where_, BinaryOp::And);
    // Only a lookup by the IN list alone answers in its order.
    if conjuncts.iter().filter(|c| reads_column(c, &keys)).count() != 1 {
        return Vec::new();
    }
    for conjunct in conjuncts {
        let Expr::InList {
            expr,
            list,
            negated: false,
        } = conjunct
        else {
            continue;
        };
        let Expr::Column { name, .. } = expr.as_ref() else {
            continue;
        };
        if !keys.contains(&name.as_str()) {
            continue;
        }
        return list
            .iter()
            .filter_map(|item| {
                let eq = Expr::Binary {
                    op: BinaryOp::Eq,
                    left: expr.clone(),
                    right: Box::new(item.clone()),
                };
                compile(&eq, &scope, &ctx).ok()
            })
            .collect();
    }
    Vec::new()
}

/// The table's own key columns (not the window bounds a windowed table's
/// view adds).
fn own_keys(source: &DataSource) -> Vec<&str> {
    source
        .columns
        .iter()
        .filter(|c| c.role == ColumnRole::Key)
        .map(|c| c.name.as_str())
        .filter(|n| !matches!(*n, "WINDOWSTART" | "WINDOWEND"))
        .collect()
}

/// ksqlDB resolves the literals a key is compared with before looking
/// anything up: NULL is refused, and so is a text for a numeric key.
fn check_key_literals(where_: &Expr, source: &DataSource) -> Result<(), String> {
    use creek_sql::ast::Literal;
    let key_type = |e: &Expr| match e {
        Expr::Column { name, .. } => source
            .key_columns()
            .find(|c| c.name == *name && !matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND")),
        _ => None,
    };
    for conjunct in split(where_, BinaryOp::And) {
        match conjunct {
            Expr::Binary {
                op: BinaryOp::Eq,
                left,
                right,
            } => {
                let (key, other) = match (key_type(left), key_type(right)) {
                    (Some(k), _) => (k, right.as_ref()),
                    (None, Some(k)) => (k, left.as_ref()),
                    _ => continue,
                };
                if matches!(other, Expr::Literal(Literal::Null)) {
                    return Err(format!(
                        "Error in WHERE expression: Comparison with NULL not supported: {} = NULL\nUse 'IS NULL' or 'IS NOT NULL' instead.\nStatement: ({} = null)",
                        key.ty, key.name
                    ));
                }
            }
            Expr::InList { expr, list, .. } => {
                let Some(key) = key_type(expr) else { continue };
                for item in list {
                    match item {
                        Expr::Literal(Literal::Null) => {
                            return Err(format!(
                                "Primary key columns can not be NULL: ({} = null)",
                                key.name
                            ))
                        }
                        Expr::Literal(Literal::String(text))
                            if key.ty != creek_sql::types::SqlType::String =>
                        {
                            return Err(format!(
                                "'{text}' can not be converted to the type of the key column: {} {} KEY",
                                key.name, key.ty
                            ))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// ksqlDB's pull planner checks each LIKE before it plans: the column must
/// be a string, and without table scans it must be a column at all.
fn check_like(where_: &Expr, source: &DataSource, table_scans: bool) -> Result<(), String> {
    for disjunct in split(where_, BinaryOp::Or) {
        for conjunct in split(disjunct, BinaryOp::And) {
            let Expr::Like { expr, .. } = conjunct else {
                continue;
            };
            match expr.as_ref() {
                Expr::Column { name, .. } => {
                    let column = source.columns.iter().find(|c| c.name == *name);
                    if let Some(c) = column.filter(|c| c.ty != SqlType::String) {
                        return Err(format!(
                            "The column type for Like condition must be VARCHAR. The column type is {}",
                            c.ty
                        ));
                    }
                }
                _ if !table_scans => return Err("Like condition must be between strings".into()),
                _ => {}
            }
        }
    }
    Ok(())
}

/// `a OP b OP c` as `[a, b, c]`.
fn split(e: &Expr, op: BinaryOp) -> Vec<&Expr> {
    match e {
        Expr::Binary { op: o, left, right } if *o == op => {
            let mut out = split(left, op);
            out.extend(split(right, op));
            out
        }
        other => vec![other],
    }
}

/// Whether any node of `e` satisfies `test`.
fn any_node(e: &Expr, test: impl FnMut(&Expr) -> bool) -> bool {
    e.any(test)
}

fn reads_a_column(e: &Expr) -> bool {
    any_node(e, |n| matches!(n, Expr::Column { .. }))
}

fn reads_column(e: &Expr, names: &[&str]) -> bool {
    any_node(
        e,
        |n| matches!(n, Expr::Column { name, .. } if names.contains(&name.as_str())),
    )
}

fn text(e: &Expr) -> String {
    e.to_string().replace('`', "")
}

/// How a conjunct constrains a key column.
enum KeyBound<'a> {
    Equal(&'a str),
    Range(&'a str),
    NotEqual(&'a str),
}

/// What ksqlDB answers for a WHERE clause it cannot serve by key when table
/// scans are disabled: every disjunct must pin the key (every key column
/// with `=`, or one STRING key by range when range scans are on).
pub fn check_key_lookup(
    where_: Option<&Expr>,
    source: &DataSource,
    range_scans: bool,
) -> Result<(), String> {
    const NEEDS_SCAN: &str = "Query requires table scan to be enabled";
    let Some(where_) = where_ else {
        return Err(NEEDS_SCAN.into());
    };
    let keys = own_keys(source);
    let disjuncts = split(where_, BinaryOp::Or);
    for disjunct in &disjuncts {
        let mut bounds: Vec<KeyBound> = Vec::new();
        for conjunct in split(disjunct, BinaryOp::And) {
            let bound = match conjunct {
                Expr::Binary { op, left, right }
                    if matches!(
                        op,
                        BinaryOp::Eq
                            | BinaryOp::Neq
                            | BinaryOp::Lt
                            | BinaryOp::Le
                            | BinaryOp::Gt
                            | BinaryOp::Ge
                    ) =>
                {
                    let key_side = |e: &Expr| match e {
                        Expr::Column { name, .. } if keys.contains(&name.as_str()) => {
                            Some(keys[keys.iter().position(|k| *k == name).unwrap_or(0)])
                        }
                        _ => None,
                    };
                    let (key, other) = match (key_side(left), key_side(right)) {
                        (Some(k), _) => (k, right.as_ref()),
                        (None, Some(k)) => (k, left.as_ref()),
                        (None, None) => {
                            if reads_column(conjunct, &keys) {
                                return Err(
                                    "A comparison must directly reference a key column.".into()
                                );
                            }
                            continue;
                        }
                    };
                    if reads_a_column(other) {
                        return Err("A comparison must be between a key column and a resolvable expression.".into());
                    }
                    match op {
                        BinaryOp::Eq => KeyBound::Equal(key),
                        BinaryOp::Neq => KeyBound::NotEqual(key),
                        _ => KeyBound::Range(key),
                    }
                }
                Expr::InList { expr, list, .. } => match expr.as_ref() {
                    Expr::Column { name, .. } if keys.contains(&name.as_str()) => {
                        if list.iter().any(reads_a_column) {
                            return Err("A comparison must be between a key column and a resolvable expression.".into());
                        }
                        KeyBound::Equal(keys[keys.iter().position(|k| *k == name).unwrap_or(0)])
                    }
                    _ => continue,
                },
                Expr::Between { expr, .. } => match expr.as_ref() {
                    Expr::Column { name, .. } if keys.contains(&name.as_str()) => {
                        KeyBound::Range(keys[keys.iter().position(|k| *k == name).unwrap_or(0)])
                    }
                    _ => continue,
                },
                _ => continue,
            };
            bounds.push(bound);
        }
        let named = |k: &KeyBound| match k {
            KeyBound::Equal(n) | KeyBound::Range(n) | KeyBound::NotEqual(n) => n.to_string(),
        };
        if bounds.is_empty() {
            let what = if disjuncts.len() == 1 && matches!(disjunct, Expr::Binary { .. }) {
                format!(": {}", text(disjunct))
            } else {
                String::new()
            };
            return Err(format!(
                "WHERE clause missing key column for disjunct{what}"
            ));
        }
        if keys.len() > 1 {
            let all = keys.iter().all(|k| bounds.iter().any(|b| named(b) == *k));
            if !all {
                return Err(
                    "Multi-column sources must specify every key in the WHERE clause.".into(),
                );
            }
            if bounds.iter().any(|b| !matches!(b, KeyBound::Equal(_))) {
                return Err(NEEDS_SCAN.into());
            }
            continue;
        }
        if bounds.len() > 1 {
            return Err("A comparison condition on the key column cannot be combined with other comparisons such as an IN predicate".into());
        }
        match &bounds[0] {
            KeyBound::Equal(_) => {}
            KeyBound::NotEqual(_) => {
                let key = source
                    .key_columns()
                    .map(|c| format!("`{}` {} KEY", c.name, c.ty))
                    .next()
                    .unwrap_or_default();
                return Err(format!(
                    "Bound on key columns '[{key}]' must currently be '='. "
                ));
            }
            KeyBound::Range(_) => {
                let string_key = source
                    .key_columns()
                    .next()
                    .is_some_and(|c| c.ty == creek_sql::types::SqlType::String);
                // A windowed table's view shows its window bounds as keys.
                let windowed = source.window.is_some()
                    || source
                        .columns
                        .iter()
                        .any(|c| c.role == ColumnRole::Key && c.name == "WINDOWSTART");
                if !(range_scans && string_key && !windowed) || disjuncts.len() > 1 {
                    return Err(NEEDS_SCAN.into());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{FormatKind, FormatSpec};
    use crate::metastore::SourceColumn;
    use creek_sql::types::SqlType;

    fn table(keys: &[(&str, SqlType)]) -> DataSource {
        let spec = |kind| FormatSpec {
            kind,
            properties: Default::default(),
            wrap_single_value: None,
        };
        let mut columns: Vec<SourceColumn> = keys
            .iter()
            .map(|(n, t)| SourceColumn {
                name: n.to_string(),
                ty: t.clone(),
                role: ColumnRole::Key,
            })
            .collect();
        columns.push(SourceColumn {
            name: "COUNT".into(),
            ty: SqlType::Bigint,
            role: ColumnRole::Value,
        });
        DataSource {
            name: "T".into(),
            kind: creek_sql::ast::SourceKind::Table,
            topic: "t".into(),
            key_format: spec(FormatKind::Kafka),
            value_format: spec(FormatKind::Json),
            columns,
            timestamp: None,
            read_only: false,
            is_sink: true,
            statement: String::new(),
            window: None,
        }
    }

    fn check(source: &DataSource, where_: &str) -> Result<(), String> {
        let sql = format!("SELECT * FROM T WHERE {where_};");
        let creek_sql::ast::Statement::Query(q) = creek_sql::parse_statement(&sql).unwrap() else {
            panic!("not a query")
        };
        check_key_lookup(q.where_.as_ref(), source, true)
    }

    #[test]
    fn window_bounds_read_date_times() {
        assert_eq!(
            parse_date_time("2020-02-23T23:45:12.000"),
            Some(1582501512000)
        );
        assert_eq!(
            parse_date_time("2020-02-23T22:45:12.000-0100"),
            Some(1582501512000)
        );
        assert_eq!(parse_date_time("2020-02-24T24"), Some(1582588800000));
        assert_eq!(parse_date_time("2020-02-22T23:45"), Some(1582415100000));
        assert_eq!(parse_date_time("yesterday"), None);
    }

    #[test]
    fn without_table_scans_only_key_lookups_run() {
        let string_key = table(&[("ID", SqlType::String)]);
        assert!(check(&string_key, "ID = '10' AND COUNT > 1").is_ok());
        assert!(check(&string_key, "ID IN ('1', '2')").is_ok());
        // A STRING key can be range-scanned.
        assert!(check(&string_key, "ID <= '12'").is_ok());
        let err = |s: &DataSource, w: &str| check(s, w).unwrap_err();
        assert_eq!(
            err(&string_key, "COUNT > 1"),
            "WHERE clause missing key column for disjunct: (COUNT > 1)"
        );
        assert!(err(&string_key, "ID != '1'").starts_with("Bound on key columns"));
        assert_eq!(
            err(&string_key, "ID = COUNT"),
            "A comparison must be between a key column and a resolvable expression."
        );
        let int_key = table(&[("ID", SqlType::Int)]);
        assert_eq!(
            err(&int_key, "ID >= 12"),
            "Query requires table scan to be enabled"
        );
        let two_keys = table(&[("ID1", SqlType::String), ("ID2", SqlType::Int)]);
        assert!(check(&two_keys, "ID1 = '1' AND ID2 = 2").is_ok());
        assert!(
            err(&two_keys, "ID1 = '1'").starts_with("Multi-column sources must specify every key")
        );
    }
}
