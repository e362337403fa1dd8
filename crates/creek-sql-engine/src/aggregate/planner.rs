//! The aggregation planner: [`plan_aggregate`] turns a `GROUP BY` query into
//! an [`AggregatePlan`] in named steps, in the order ksqlDB reports its
//! errors (so the first problem found is the one ksqlDB names): the source,
//! where window bounds may appear, the clauses that cannot be combined, the
//! window spec, the group-by key, the aggregate calls and the group row they
//! make (grouping values, aggregate results, window bounds, ROWTIME), HAVING
//! and the projection over that row, and finally the result's key columns.

use creek_sql::ast::{Emit, Expr, Literal, Query, SelectItem, SourceKind, Window};
use creek_sql::expr::{compile, CompileContext, CompiledExpr, Scope};
use creek_sql::functions::aggregate::{AggregateFunction, AggregateRegistry};
use creek_sql::functions::{no_match_message, Arg, FunctionRegistry, ResolveError};
use creek_sql::types::SqlType;
use creek_sql::value::Value;

use crate::format::FormatKind;
use crate::metastore::{DataSource, Metastore};
use crate::plan::{
    derived_name, single_source, source_scope, ColumnNamer, Projected, RESERVED_COLUMNS,
};
use crate::EngineError;

use super::{AggregateCall, AggregatePlan};
use crate::window::{WindowKind, WindowSpec};

/// ksqlDB's default grace period when a window names none (Kafka Streams' 24h).
const DEFAULT_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

fn statement(m: String) -> EngineError {
    EngineError::Statement(m)
}

/// A WINDOW needs a GROUP BY; without aggregate calls ksqlDB says so first.
pub fn check_window_has_group_by(
    query: &Query,
    aggregates: &AggregateRegistry,
) -> Result<(), EngineError> {
    let selects_aggregate = query.select.iter().any(|item| match item {
        SelectItem::Expr { expr, .. } => calls_aggregate(expr, aggregates),
        _ => false,
    });
    if query.group_by.is_empty() && query.window.is_some() && !selects_aggregate {
        return Err(EngineError::Statement(
            "WINDOW clause requires a GROUP BY clause.".into(),
        ));
    }
    Ok(())
}

/// Whether a query aggregates (GROUP BY, WINDOW, HAVING or an aggregate call).
pub fn is_aggregate(query: &Query, aggregates: &AggregateRegistry) -> bool {
    if !query.group_by.is_empty() || query.window.is_some() || query.having.is_some() {
        return true;
    }
    query.select.iter().any(|item| match item {
        SelectItem::Expr { expr, .. } => calls_aggregate(expr, aggregates),
        _ => false,
    })
}

fn calls_aggregate(expr: &Expr, aggregates: &AggregateRegistry) -> bool {
    first_aggregate(expr, aggregates).is_some()
}

/// The upper-case name of the first aggregate function `expr` calls.
fn first_aggregate(expr: &Expr, aggregates: &AggregateRegistry) -> Option<String> {
    let mut found = None;
    expr.visit(&mut |e| {
        if let Expr::Function { name, .. } = e {
            if found.is_none() && aggregates.get(name).is_some() {
                found = Some(name.to_ascii_uppercase());
            }
        }
        found.is_none()
    });
    found
}

/// The first window bound column (`WINDOWSTART`, `WINDOWEND`) `expr` reads.
fn window_bound_in(expr: &Expr) -> Option<String> {
    let mut found = None;
    expr.visit(&mut |e| {
        if let Expr::Column { name, .. } = e {
            if found.is_none() && matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND") {
                found = Some(name.clone());
            }
        }
        found.is_none()
    });
    found
}

/// A query's expression with source qualifiers dropped, for matching a
/// selected expression against a grouping expression.
fn unqualified(e: &Expr) -> Expr {
    e.rewrite(&mut |e| -> Result<Option<Expr>, ()> {
        Ok(match e {
            Expr::Column { name, .. } => Some(Expr::Column {
                source: None,
                name: name.clone(),
            }),
            _ => None,
        })
    })
    .unwrap_or_else(|_| e.clone())
}

fn duration_ms(d: &creek_sql::ast::Duration) -> i64 {
    crate::window::to_duration(d).as_millis() as i64
}

/// A window with its retention: the RETENTION clause, but never less than
/// the window's size plus grace (the store must outlive late records).
fn window_spec(
    kind: WindowKind,
    size: i64,
    advance: i64,
    grace: i64,
    retention: Option<&creek_sql::ast::Duration>,
) -> WindowSpec {
    let least = size.saturating_add(grace);
    WindowSpec {
        kind,
        size,
        advance,
        grace,
        retention: retention.map_or(least, |r| duration_ms(r).max(least)),
    }
}

/// Plans an aggregation for the sink `sink_name`, or for a transient push
/// query (`None`).
pub fn plan_aggregate(
    query: &Query,
    metastore: &Metastore,
    functions: &FunctionRegistry,
    aggregates: &AggregateRegistry,
    sink_name: Option<&str>,
) -> Result<AggregatePlan, EngineError> {
    let (source, _, alias) = single_source(query, metastore)?;
    check_source(query, &source)?;
    let scope = source_scope(&source, &alias);
    let ctx = CompileContext {
        functions,
        custom_types: &metastore.types,
    };
    check_window_bounds(query, aggregates)?;
    let filter = match &query.where_ {
        Some(w) => Some(compile(w, &scope, &ctx).map_err(statement)?),
        None => None,
    };
    check_emit_final(query)?;
    check_window_has_group_by(query, aggregates)?;
    check_no_table_functions(query)?;
    let window = window_spec_of(query)?;
    let (group_exprs, group_by) = group_by_key(query, &scope, &ctx, aggregates)?;

    let mut row = GroupRow {
        group_exprs: &group_exprs,
        aggregates,
        scope: &scope,
        ctx: &ctx,
        calls: Vec::new(),
        call_exprs: Vec::new(),
    };
    let items = select_items(query, &source, &mut row)?;
    let having = match &query.having {
        Some(h) => Some(row.rewrite(h)?),
        None => None,
    };
    let GroupRow {
        calls, call_exprs, ..
    } = row;
    check_state_types(&source, &calls)?;
    if source.kind == SourceKind::Table {
        check_undoable(&calls, &call_exprs)?;
    }

    let group_scope = group_row_scope(&group_by, &calls, window.is_some());
    let having = match (&having, &query.having) {
        (Some(h), Some(_)) => Some(compile_having(
            h,
            &group_scope,
            &ctx,
            &call_exprs,
            &group_exprs,
        )?),
        _ => None,
    };
    let (projection, non_aggregate) = projection(&items, &group_scope, &ctx, window.is_some())?;
    if calls.is_empty() && !group_by.is_empty() {
        return Err(statement(
            "GROUP BY requires aggregate functions in either the SELECT or HAVING clause.".into(),
        ));
    }
    if !non_aggregate.is_empty() {
        return Err(statement(format!(
            "Non-aggregate SELECT expression(s) not part of GROUP BY: {}\nEither add the column(s) to the GROUP BY or remove them from the SELECT.",
            non_aggregate.join(", ")
        )));
    }
    check_global_aggregation(query, sink_name, &call_exprs)?;
    let projection = key_columns(query, &items, projection, sink_name)?;
    Ok(AggregatePlan {
        source,
        filter,
        group_by,
        aggregates: calls,
        window,
        having,
        projection,
        emit_final: query.emit == Some(Emit::Final),
    })
}

/// The source: not KAFKA-formatted values, and a window only over a stream.
fn check_source(query: &Query, source: &DataSource) -> Result<(), EngineError> {
    if source.value_format.kind == FormatKind::Kafka {
        return Err(statement(format!(
            "Source(s) {} are using the 'KAFKA' value format. This format does not yet support GROUP BY.",
            source.name
        )));
    }
    if source.kind == SourceKind::Table && query.window.is_some() {
        return Err(statement(
            "Windowed aggregations are only supported on streams, not on tables.".into(),
        ));
    }
    Ok(())
}

/// Where WINDOWSTART/WINDOWEND may appear: they exist per group, after the
/// window, so only the projection (outside aggregate calls) can read them;
/// without a window they are only reserved names.
fn check_window_bounds(query: &Query, aggregates: &AggregateRegistry) -> Result<(), EngineError> {
    let only_in_select = |bound: String| {
        statement(format!(
            "Window bounds column {bound} can only be used in the SELECT clause of windowed aggregations"
        ))
    };
    let windowed = query.window.is_some();
    if let Some(bound) = query.where_.as_ref().and_then(window_bound_in) {
        return Err(statement(format!(
            "Error in WHERE expression: Unknown column {bound}."
        )));
    }
    if !windowed {
        for item in &query.select {
            if let SelectItem::Expr {
                expr: Expr::Column { name, .. },
                alias: None,
            } = item
            {
                if matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND") {
                    return Err(statement(format!(
                        "Reserved column name in select: `{name}`. Please remove or alias the column."
                    )));
                }
            }
        }
    }
    if let Some(bound) = query
        .group_by
        .iter()
        .chain(&query.having)
        .find_map(window_bound_in)
        .filter(|_| windowed)
    {
        return Err(only_in_select(bound));
    }
    for item in &query.select {
        if let SelectItem::Expr { expr, .. } = item {
            let mut in_call = None;
            expr.visit(&mut |e| {
                if let Expr::Function { name, args } = e {
                    if aggregates.get(name).is_some() && in_call.is_none() {
                        in_call = args.iter().find_map(window_bound_in);
                    }
                }
                in_call.is_none()
            });
            if let Some(bound) = in_call {
                return Err(only_in_select(bound));
            }
        }
    }
    Ok(())
}

/// EMIT FINAL waits for a window to close, so it needs one.
fn check_emit_final(query: &Query) -> Result<(), EngineError> {
    if query.emit == Some(Emit::Final) && query.window.is_none() {
        return Err(statement(
            "EMIT FINAL is only supported for windowed aggregations.".into(),
        ));
    }
    Ok(())
}

fn check_no_table_functions(query: &Query) -> Result<(), EngineError> {
    for item in &query.select {
        if let SelectItem::Expr { expr, .. } = item {
            let table_function = expr.any(|e| {
                matches!(e, Expr::Function { name, .. }
                    if name.eq_ignore_ascii_case("EXPLODE") || name.eq_ignore_ascii_case("CUBE_EXPLODE"))
            });
            if table_function {
                return Err(statement(
                    "Table functions cannot be used with aggregations.".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The WINDOW clause in milliseconds, with ksqlDB's default grace periods.
fn window_spec_of(query: &Query) -> Result<Option<WindowSpec>, EngineError> {
    // EMIT FINAL without a GRACE PERIOD emits at the window's end (ksqlDB's
    // suppress tests); EMIT CHANGES keeps Kafka Streams' legacy 24 hours.
    let default_grace = if query.emit == Some(Emit::Final) {
        0
    } else {
        DEFAULT_GRACE_MS
    };
    // (kind, size, advance, grace, retention) of each window kind: a
    // tumbling window hops by its size, a session's "size" is its gap.
    let window = query.window.as_ref().map(|w| {
        let (kind, size, advance, grace, retention) = match w {
            Window::Tumbling {
                size,
                grace,
                retention,
            } => {
                let size = duration_ms(size);
                let grace = grace.as_ref().map_or(default_grace, duration_ms);
                (WindowKind::Tumbling, size, size, grace, retention)
            }
            Window::Hopping {
                size,
                advance,
                grace,
                retention,
            } => {
                let grace = grace.as_ref().map_or(default_grace, duration_ms);
                let (size, advance) = (duration_ms(size), duration_ms(advance));
                (WindowKind::Hopping, size, advance, grace, retention)
            }
            Window::Session {
                gap,
                grace,
                retention,
            } => {
                let gap = duration_ms(gap);
                // Kafka Streams' `SessionWindows.with(gap)`: 24h less the gap.
                let grace = grace
                    .as_ref()
                    .map_or((DEFAULT_GRACE_MS - gap).max(0), duration_ms);
                (WindowKind::Session, gap, gap, grace, retention)
            }
        };
        window_spec(kind, size, advance, grace, retention.as_ref())
    });
    if let Some(w) = &window {
        if w.size <= 0 || w.advance <= 0 {
            return Err(statement("Window size must be positive.".into()));
        }
        if w.advance > w.size {
            return Err(statement(format!(
                "Window advance must be less than or equal to window size. Window size: {}. Window advance: {}",
                w.size, w.advance
            )));
        }
    }
    Ok(window)
}

/// The grouping expressions, as written (unqualified, for matching select
/// items against them) and compiled over the source's scope.
fn group_by_key(
    query: &Query,
    scope: &Scope,
    ctx: &CompileContext,
    aggregates: &AggregateRegistry,
) -> Result<(Vec<Expr>, Vec<CompiledExpr>), EngineError> {
    let group_exprs: Vec<Expr> = query.group_by.iter().map(unqualified).collect();
    for (i, g) in group_exprs.iter().enumerate() {
        if group_exprs[..i].contains(g) {
            return Err(statement(format!(
                "Duplicate GROUP BY expression: {}",
                query.group_by[i].to_string().replace('`', "")
            )));
        }
    }
    let mut group_by = Vec::new();
    for g in &query.group_by {
        if let Some(name) = first_aggregate(g, aggregates) {
            return Err(statement(format!(
                "GROUP BY does not support aggregate functions: {name} is an aggregate function."
            )));
        }
        group_by.push(compile(g, scope, ctx).map_err(statement)?);
    }
    Ok((group_exprs, group_by))
}

/// Rewrites expressions over the source into expressions over the group
/// row (`$G<i>` for the i-th grouping, `$A<i>` for the i-th aggregate call,
/// then the window bounds and ROWTIME), collecting the aggregate calls.
struct GroupRow<'a> {
    group_exprs: &'a [Expr],
    aggregates: &'a AggregateRegistry,
    scope: &'a Scope,
    ctx: &'a CompileContext<'a>,
    calls: Vec<AggregateCall>,
    /// Each call as written (unqualified), to share repeated calls.
    call_exprs: Vec<Expr>,
}

impl GroupRow<'_> {
    fn rewrite(&mut self, e: &Expr) -> Result<Expr, EngineError> {
        e.rewrite(&mut |node| -> Result<Option<Expr>, EngineError> {
            let plain = unqualified(node);
            if let Some(i) = self.group_exprs.iter().position(|g| *g == plain) {
                return Ok(Some(Expr::Column {
                    source: None,
                    name: format!("$G{i}"),
                }));
            }
            // The group row holds the window bounds and ROWTIME unqualified.
            if let Expr::Column { name, .. } = node {
                if matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND" | "ROWTIME") {
                    return Ok(Some(plain));
                }
            }
            let Expr::Function { name, args } = node else {
                return Ok(None);
            };
            let Some(function) = self.aggregates.get(name) else {
                return Ok(None);
            };
            if let Some(i) = self.call_exprs.iter().position(|c| *c == plain) {
                return Ok(Some(Expr::Column {
                    source: None,
                    name: format!("$A{i}"),
                }));
            }
            let call = self.aggregate_call(function.as_ref(), node, name, args)?;
            self.calls.push(call);
            self.call_exprs.push(plain);
            Ok(Some(Expr::Column {
                source: None,
                name: format!("$A{}", self.calls.len() - 1),
            }))
        })
    }

    /// One aggregate call: its arguments compiled over the source (no
    /// nested aggregates), the overload resolved by their types (and
    /// literal values, for arguments such as TOPK's k).
    fn aggregate_call(
        &self,
        function: &dyn AggregateFunction,
        node: &Expr,
        name: &str,
        args: &[Expr],
    ) -> Result<AggregateCall, EngineError> {
        let args: Vec<&Expr> = args.iter().filter(|a| **a != Expr::Wildcard).collect();
        let mut compiled = Vec::new();
        let mut infos = Vec::new();
        for a in &args {
            if calls_aggregate(a, self.aggregates) {
                return Err(statement(format!(
                    "Aggregate functions can not be nested: {}",
                    node.to_string().replace('`', "")
                )));
            }
            let c = compile(a, self.scope, self.ctx).map_err(statement)?;
            infos.push(match a {
                Expr::Literal(l) if *l != Literal::Null => {
                    Arg::constant(c.ty.clone(), c.eval(&[]).unwrap_or(Value::Null))
                }
                _ => Arg::typed(c.ty.clone()),
            });
            compiled.push(c);
        }
        let resolved = function.resolve(&infos).map_err(|e| match e {
            ResolveError::Message(m) => statement(m),
            ResolveError::NoMatch => statement(no_match_message(name, &infos)),
        })?;
        let args = resolved
            .row_args
            .iter()
            .filter_map(|i| compiled.get(*i).cloned())
            .collect();
        Ok(AggregateCall {
            function: resolved,
            args,
        })
    }
}

/// A select item: its alias, the expression as written, and the same over
/// the group row.
type SelectedItem = (Option<String>, Expr, Expr);

/// The select list over the group row (`*` is every source column, each of
/// which must then be grouped).
fn select_items(
    query: &Query,
    source: &DataSource,
    row: &mut GroupRow,
) -> Result<Vec<SelectedItem>, EngineError> {
    let mut items = Vec::new();
    for item in &query.select {
        match item {
            SelectItem::Expr { expr, alias } => {
                let rewritten = row.rewrite(expr)?;
                items.push((alias.clone(), expr.clone(), rewritten));
            }
            SelectItem::Wildcard => {
                for c in &source.columns {
                    let expr = Expr::Column {
                        source: None,
                        name: c.name.clone(),
                    };
                    let rewritten = row.rewrite(&expr)?;
                    items.push((None, expr, rewritten));
                }
            }
            _ => {
                return Err(statement(
                    "not supported yet: qualified * in an aggregating query".into(),
                ))
            }
        }
    }
    Ok(items)
}

/// ksqlDB keeps intermediate states in the source's value format, and
/// DELIMITED holds no structured values.
fn check_state_types(source: &DataSource, calls: &[AggregateCall]) -> Result<(), EngineError> {
    if source.value_format.kind == FormatKind::Delimited
        && calls.iter().any(|c| {
            matches!(
                c.function.state_type,
                SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
            )
        })
    {
        return Err(statement(
            "One of the functions used in the statement has an intermediate type that the value format can not handle. Please remove the function or change the format.".into(),
        ));
    }
    Ok(())
}

/// A table's rows are replaced and deleted, so every aggregate over a table
/// must be able to take a row back out.
fn check_undoable(calls: &[AggregateCall], call_exprs: &[Expr]) -> Result<(), EngineError> {
    let mut names: Vec<String> = Vec::new();
    for (call, expr) in calls.iter().zip(call_exprs) {
        if call.function.undo.is_none() {
            if let Expr::Function { name, .. } = expr {
                let name = name.to_ascii_uppercase();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    if let Some((last, rest)) = names.split_last() {
        let list = if rest.is_empty() {
            last.clone()
        } else {
            format!("{} and {last}", rest.join(", "))
        };
        let word = if rest.is_empty() {
            "function"
        } else {
            "functions"
        };
        return Err(statement(format!(
            "The aggregation {word} {list} cannot be applied to a table source, only to a stream source."
        )));
    }
    Ok(())
}

/// The group row's scope: grouping values, aggregates, window bounds, ROWTIME.
fn group_row_scope(group_by: &[CompiledExpr], calls: &[AggregateCall], windowed: bool) -> Scope {
    let mut s = Scope::default();
    for (i, g) in group_by.iter().enumerate() {
        s.push(None, &format!("$G{i}"), g.ty.clone());
    }
    for (i, c) in calls.iter().enumerate() {
        s.push(None, &format!("$A{i}"), c.function.returns.clone());
    }
    if windowed {
        s.push(None, "WINDOWSTART", SqlType::Bigint);
        s.push(None, "WINDOWEND", SqlType::Bigint);
    }
    s.push(None, "ROWTIME", SqlType::Bigint);
    s
}

/// HAVING over the group row: a boolean, reading only groupings and
/// aggregates, with errors naming them as written.
fn compile_having(
    h: &Expr,
    group_scope: &Scope,
    ctx: &CompileContext,
    call_exprs: &[Expr],
    group_exprs: &[Expr],
) -> Result<CompiledExpr, EngineError> {
    let c = compile(h, group_scope, ctx).map_err(|e| {
        if e.starts_with("Column '") {
            // ksqlDB names the source columns HAVING reads outside
            // the grouping and the aggregates.
            let mut columns: Vec<String> = Vec::new();
            h.visit(&mut |node| {
                if let Expr::Column { name, .. } = node {
                    if !name.starts_with('$') && !columns.contains(name) {
                        columns.push(name.clone());
                    }
                }
                true
            });
            statement(format!(
                "Non-aggregate HAVING expression not part of GROUP BY: {}",
                columns.join(", ")
            ))
        } else {
            // Name the aggregates and groupings as written, not by
            // their places in the group row.
            let mut message = e;
            for (i, call) in call_exprs.iter().enumerate().rev() {
                message = message.replace(&format!("$A{i}"), &call.to_string().replace('`', ""));
            }
            for (i, g) in group_exprs.iter().enumerate().rev() {
                message = message.replace(&format!("$G{i}"), &g.to_string().replace('`', ""));
            }
            statement(format!("Error in HAVING expression: {message}"))
        }
    })?;
    if c.ty != SqlType::Boolean {
        return Err(statement(format!(
            "HAVING expression should evaluate to boolean but is {}",
            c.ty
        )));
    }
    Ok(c)
}

/// The output columns in SELECT order over the group row, named by alias,
/// column name, then KSQL_COL_n; also the select expressions that read
/// source columns outside the grouping (the caller reports them, after
/// a missing aggregate).
fn projection(
    items: &[SelectedItem],
    group_scope: &Scope,
    ctx: &CompileContext,
    windowed: bool,
) -> Result<(Vec<Projected>, Vec<String>), EngineError> {
    let names: Vec<Option<String>> = items
        .iter()
        .map(|(alias, original, _)| alias.clone().or_else(|| derived_name(original)))
        .collect();
    let taken: Vec<String> = names.iter().flatten().cloned().collect();
    let mut namer = ColumnNamer::default();
    let mut projection = Vec::new();
    let mut non_aggregate: Vec<String> = Vec::new();
    for ((_, original, rewritten), name) in items.iter().zip(names) {
        let name = name.unwrap_or_else(|| namer.next(&taken));
        if RESERVED_COLUMNS.contains(&name.as_str())
            && !(windowed && matches!(name.as_str(), "WINDOWSTART" | "WINDOWEND"))
        {
            return Err(statement(format!(
                "Reserved column name in select: `{name}`. Please remove or alias the column."
            )));
        }
        let expr = match compile(rewritten, group_scope, ctx) {
            Ok(expr) => expr,
            Err(e) if e.starts_with("Column '") => {
                non_aggregate.push(original.to_string().replace('`', ""));
                continue;
            }
            Err(e) => return Err(statement(e)),
        };
        if projection.iter().any(|p: &Projected| p.name == name) {
            return Err(statement(format!(
                "Duplicate value columns found in schema: `{name}` {}",
                expr.ty
            )));
        }
        projection.push(Projected {
            name,
            expr,
            is_key: false,
        });
    }
    Ok((projection, non_aggregate))
}

/// A table needs a key: only a transient push query aggregates globally
/// (everything in one group).
fn check_global_aggregation(
    query: &Query,
    sink_name: Option<&str>,
    call_exprs: &[Expr],
) -> Result<(), EngineError> {
    if query.group_by.is_empty() && sink_name.is_some() {
        let call = call_exprs
            .first()
            .map(|e| e.to_string().replace('`', "").replace("(*)", "(ROWTIME)"))
            .unwrap_or_default();
        return Err(statement(format!(
            "CREATE TABLE AS SELECT statement does not support aggregate function [{call}] without a GROUP BY clause."
        )));
    }
    Ok(())
}

/// The result's key: each grouping expression, as the select item that is
/// exactly it. A transient push query (no sink) prints its columns in
/// SELECT order and needs no key in them; a sink's keys come out first, in
/// grouping order, and it must select every grouping and some value.
fn key_columns(
    query: &Query,
    items: &[SelectedItem],
    mut projection: Vec<Projected>,
    sink_name: Option<&str>,
) -> Result<Vec<Projected>, EngineError> {
    let mut missing = Vec::new();
    let mut keyed = Vec::new();
    for (i, g) in query.group_by.iter().enumerate() {
        let column = format!("$G{i}");
        let selected: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, (_, _, r))| matches!(r, Expr::Column { name, .. } if *name == column))
            .map(|(p, _)| p)
            .collect();
        if selected.len() > 1 && sink_name.is_some() {
            let names: Vec<String> = selected
                .iter()
                .map(|p| format!("`{}`", projection[*p].name))
                .collect();
            return Err(statement(format!(
                "The projection contains a key column more than once: {}.",
                names.join(" and ")
            )));
        }
        match selected.first().copied() {
            Some(p) => {
                projection[p].is_key = true;
                keyed.push(p);
            }
            None => missing.push(g.to_string().replace('`', "")),
        }
    }
    let Some(sink_name) = sink_name else {
        return Ok(projection);
    };
    if !missing.is_empty() {
        let example = missing.join(", ");
        let (word, list) = if missing.len() == 1 {
            ("expression", missing[0].clone())
        } else {
            let last = missing.pop().unwrap_or_default();
            ("expressions", format!("{} and {last}", missing.join(", ")))
        };
        return Err(statement(format!(
            "The query used to build `{sink_name}` must include the grouping {word} {list} in its projection (eg, SELECT {example}...)."
        )));
    }
    let mut ordered: Vec<Projected> = keyed.iter().map(|p| projection[*p].clone()).collect();
    ordered.extend(projection.iter().filter(|p| !p.is_key).cloned());
    if ordered.iter().all(|p| p.is_key) {
        return Err(statement(
            "The projection contains no value columns.".into(),
        ));
    }
    Ok(ordered)
}
