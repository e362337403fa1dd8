//! Planning a non-aggregate `SELECT` over one stream: resolve columns,
//! compile the filter and projection, and work out the result's key and
//! value columns as ksqlDB does (key columns carried through, or replaced by
//! `PARTITION BY`).

use std::sync::Arc;

use creek_sql::ast::{Expr, Literal, Query, Relation, SelectItem, SourceKind};
use creek_sql::expr::{compile, CompileContext, CompiledExpr, Scope};
use creek_sql::functions::FunctionRegistry;
use creek_sql::types::SqlType;

use crate::metastore::{ColumnRole, DataSource, Metastore, SourceColumn};
use crate::EngineError;

/// Pseudo columns every row of a stream has, after its own columns.
pub const PSEUDO_COLUMNS: [(&str, SqlType); 3] = [
    ("ROWTIME", SqlType::Bigint),
    ("ROWPARTITION", SqlType::Int),
    ("ROWOFFSET", SqlType::Bigint),
];

/// Names a query may not use as output column names.
pub const RESERVED_COLUMNS: [&str; 5] = [
    "ROWTIME",
    "ROWPARTITION",
    "ROWOFFSET",
    "WINDOWSTART",
    "WINDOWEND",
];

/// One output column.
#[derive(Clone)]
pub struct Projected {
    pub name: String,
    pub expr: CompiledExpr,
    pub is_key: bool,
}

/// A planned stream query.
#[derive(Clone)]
pub struct StreamPlan {
    pub source: Arc<DataSource>,
    pub filter: Option<CompiledExpr>,
    /// Output columns in SELECT order (keys flagged).
    pub projection: Vec<Projected>,
    /// Key expressions in key-column order (from the projection or PARTITION BY).
    pub key: Vec<Projected>,
    pub partition_by: bool,
    pub limit: Option<u64>,
    /// Table functions (EXPLODE, CUBE_EXPLODE) in the projection, evaluated on
    /// the source row; their per-output-row values follow the source row
    /// (and pseudo columns) in the row the projection sees.
    pub table_functions: Vec<TableFunction>,
}

/// A table function call of the projection.
#[derive(Clone)]
pub struct TableFunction {
    pub kind: TableFunctionKind,
    /// The array argument, compiled against the source row.
    pub arg: CompiledExpr,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TableFunctionKind {
    /// One row per element.
    Explode,
    /// One row per combination of elements and NULLs.
    CubeExplode,
}

impl StreamPlan {
    pub fn value(&self) -> impl Iterator<Item = &Projected> {
        self.projection.iter().filter(|p| !p.is_key)
    }

    /// The result's columns: keys first, then values.
    pub fn output_columns(&self) -> Vec<SourceColumn> {
        result_columns(self.key.iter(), self.value())
    }
}

/// The scope of a single-source query: the source's columns then the pseudo columns.
pub fn source_scope(source: &DataSource, alias: &str) -> Scope {
    let mut scope = Scope::default();
    for c in &source.columns {
        scope.push(Some(alias), &c.name, c.ty.clone());
    }
    for (name, ty) in PSEUDO_COLUMNS {
        scope.push(Some(alias), name, ty);
    }
    // A windowed source's rows also carry their key's window.
    if source.window.is_some() {
        scope.push(Some(alias), "WINDOWSTART", SqlType::Bigint);
        scope.push(Some(alias), "WINDOWEND", SqlType::Bigint);
    }
    scope
}

/// Where a windowed source's rows hold WINDOWSTART (WINDOWEND follows).
pub fn window_position(source: &DataSource) -> Option<usize> {
    source
        .window
        .map(|_| source.columns.len() + PSEUDO_COLUMNS.len())
}

/// The name ksqlDB gives an unaliased select expression, if it derives one.
pub(crate) fn derived_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Column { name, .. } => Some(name.clone()),
        Expr::Dereference { field, .. } => Some(field.clone()),
        _ => None,
    }
}

/// Generates `KSQL_COL_n` names not already taken.
#[derive(Default)]
pub(crate) struct ColumnNamer {
    next: usize,
}

impl ColumnNamer {
    pub(crate) fn next(&mut self, taken: &[String]) -> String {
        loop {
            let name = format!("KSQL_COL_{}", self.next);
            self.next += 1;
            if !taken.contains(&name) {
                return name;
            }
        }
    }
}

fn clause_error(clause: &str, e: String) -> EngineError {
    EngineError::Statement(format!("{clause}{e}"))
}

/// The one source a query reads (joins are not supported yet), its name as
/// written and the alias its columns are qualified with.
pub(crate) fn single_source<'q>(
    query: &'q Query,
    metastore: &Metastore,
) -> Result<(Arc<DataSource>, &'q String, String), EngineError> {
    let (source_name, alias) = match &query.from {
        Relation::Source { name, alias } => (name, alias.clone().unwrap_or(name.clone())),
        Relation::Join { .. } => return Err(EngineError::NotSupported("joins".into())),
    };
    let source = metastore
        .source(source_name)
        .cloned()
        .ok_or_else(|| EngineError::Statement(format!("{source_name} does not exist.")))?;
    Ok((source, source_name, alias))
}

/// A result's columns: the key expressions, then the value expressions.
pub(crate) fn result_columns<'a>(
    keys: impl Iterator<Item = &'a Projected>,
    values: impl Iterator<Item = &'a Projected>,
) -> Vec<SourceColumn> {
    let column = |p: &Projected, role: ColumnRole| SourceColumn {
        name: p.name.clone(),
        ty: p.expr.ty.clone(),
        role,
    };
    keys.map(|p| column(p, ColumnRole::Key))
        .chain(values.map(|p| column(p, ColumnRole::Value)))
        .collect()
}

/// Plans `query` over the metastore's streams.
pub fn plan_stream_query(
    query: &Query,
    metastore: &Metastore,
    functions: &FunctionRegistry,
    sink_name: Option<&str>,
) -> Result<StreamPlan, EngineError> {
    plan_stream_query_with(query, metastore, functions, sink_name, false)
}

/// [`plan_stream_query`]; `allow_keyless` lets a result drop the source's key
/// columns (ksqlDB's `ksql.new.query.planner.enabled`).
pub fn plan_stream_query_with(
    query: &Query,
    metastore: &Metastore,
    functions: &FunctionRegistry,
    sink_name: Option<&str>,
    allow_keyless: bool,
) -> Result<StreamPlan, EngineError> {
    if !query.group_by.is_empty() || query.window.is_some() || query.having.is_some() {
        return Err(EngineError::NotSupported(
            "aggregations (GROUP BY, WINDOW, HAVING)".into(),
        ));
    }
    let (source, source_name, alias) = single_source(query, metastore)?;
    let over_table = source.kind == SourceKind::Table;
    if over_table && !query.partition_by.is_empty() {
        return Err(EngineError::Statement(
            "PARTITION BY is not supported on tables: a table's key is its primary key.".into(),
        ));
    }
    let scope = source_scope(&source, &alias);
    let ctx = CompileContext {
        functions,
        custom_types: &metastore.types,
    };
    let filter = match &query.where_ {
        Some(w) => {
            let f = compile(w, &scope, &ctx).map_err(|e| {
                if e.starts_with("Column '") {
                    clause_error(
                        "WHERE column '",
                        e.trim_start_matches("Column '").to_string(),
                    )
                } else if e.starts_with("Invalid Predicate") {
                    clause_error("", e)
                } else {
                    clause_error("Error in WHERE expression: ", e)
                }
            })?;
            if f.ty != SqlType::Boolean {
                return Err(EngineError::Statement(format!(
                    "Type error in WHERE expression: Should evaluate to boolean but is {} ({}) instead.",
                    w.to_string().replace('`', ""),
                    f.ty
                )));
            }
            Some(f)
        }
        None => None,
    };

    // Expand the select list.
    let partition_by = !query.partition_by.is_empty();
    let mut items: Vec<(Option<String>, Expr)> = Vec::new();
    let star_columns = |qualifier: &str| -> Vec<(Option<String>, Expr)> {
        let col = |c: &SourceColumn| {
            (
                None,
                Expr::Column {
                    source: Some(qualifier.to_string()),
                    name: c.name.clone(),
                },
            )
        };
        if partition_by {
            // A repartitioned stream's value holds the old key columns last.
            source
                .columns
                .iter()
                .filter(|c| c.role != ColumnRole::Key)
                .chain(source.key_columns())
                .map(col)
                .collect()
        } else if sink_name.is_none() && source.window.is_some() {
            // A transient query shows a windowed source's window after its key.
            let bound = |name: &str| {
                (
                    None,
                    Expr::Column {
                        source: Some(qualifier.to_string()),
                        name: name.to_string(),
                    },
                )
            };
            source
                .key_columns()
                .map(col)
                .chain([bound("WINDOWSTART"), bound("WINDOWEND")])
                .chain(
                    source
                        .columns
                        .iter()
                        .filter(|c| c.role != ColumnRole::Key)
                        .map(col),
                )
                .collect()
        } else {
            source.columns.iter().map(col).collect()
        }
    };
    for item in &query.select {
        match item {
            SelectItem::Wildcard => items.extend(star_columns(&alias)),
            SelectItem::QualifiedWildcard(q) => {
                if *q != alias && *q != *source_name {
                    return Err(EngineError::Statement(format!(
                        "'{q}' is not a valid stream/table name or alias."
                    )));
                }
                items.extend(star_columns(&alias));
            }
            SelectItem::StructAll(e) => {
                let compiled = compile(e, &scope, &ctx).map_err(|e| clause_error("", e))?;
                match &compiled.ty {
                    SqlType::Struct(fields) => {
                        for f in fields {
                            items.push((
                                Some(f.name.clone()),
                                Expr::Dereference {
                                    expr: Box::new(e.clone()),
                                    field: f.name.clone(),
                                },
                            ));
                        }
                    }
                    other => {
                        return Err(EngineError::Statement(format!(
                            "Expected STRUCT type for '->*' but got {other}"
                        )))
                    }
                }
            }
            SelectItem::Expr { expr, alias } => items.push((alias.clone(), expr.clone())),
        }
    }

    // Names: aliases and derived names first, then KSQL_COL_n for the rest.
    let mut names: Vec<Option<String>> = Vec::new();
    for (alias, expr) in &items {
        if let Some(a) = alias {
            if RESERVED_COLUMNS.contains(&a.as_str()) {
                return Err(EngineError::Statement(format!(
                    "`{a}` is a reserved column name. You cannot use it as an alias for a column."
                )));
            }
        }
        names.push(alias.clone().or_else(|| derived_name(expr)));
    }
    // Generated names also avoid the source's own column names.
    let taken: Vec<String> = names
        .iter()
        .flatten()
        .cloned()
        .chain(source.columns.iter().map(|c| c.name.clone()))
        .collect();
    let mut namer = ColumnNamer { next: 0 };
    let mut projection = Vec::new();
    let mut table_functions = Vec::new();
    let mut projection_scope = scope.clone();
    for ((_, expr), name) in items.iter().zip(names) {
        let name = match name {
            Some(n) => n,
            None => namer.next(&taken),
        };
        if RESERVED_COLUMNS.contains(&name.as_str()) && sink_name.is_some() {
            return Err(EngineError::Statement(format!(
                "Reserved column name in select: `{name}`. Please remove or alias the column."
            )));
        }
        if matches!(expr, Expr::Literal(Literal::Null)) {
            return Err(EngineError::Statement(
                "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).".into(),
            ));
        }
        let expr = &extract_table_functions(
            expr,
            &scope,
            &ctx,
            &mut table_functions,
            &mut projection_scope,
        )?;
        let compiled = compile(expr, &projection_scope, &ctx).map_err(|e| {
            if e.starts_with("Column '") {
                clause_error(
                    "SELECT column '",
                    e.trim_start_matches("Column '").to_string(),
                )
            } else if e.starts_with("Cast of") {
                clause_error("Invalid Select: ", e)
            } else {
                clause_error("", e)
            }
        })?;
        if projection.iter().any(|p: &Projected| p.name == name) {
            return Err(EngineError::Statement(format!(
                "Duplicate value columns found in schema: `{name}` {}",
                compiled.ty
            )));
        }
        projection.push(Projected {
            name,
            expr: compiled,
            is_key: false,
        });
    }

    // Keys.
    let mut key = Vec::new();
    if partition_by {
        let null_only = query.partition_by.len() == 1
            && matches!(query.partition_by[0], Expr::Literal(Literal::Null));
        if !null_only {
            let taken: Vec<String> = projection.iter().map(|p| p.name.clone()).collect();
            let has_star = query
                .select
                .iter()
                .any(|i| matches!(i, SelectItem::Wildcard | SelectItem::QualifiedWildcard(_)));
            if query.partition_by.len() > 1
                && query
                    .partition_by
                    .iter()
                    .any(|e| matches!(e, Expr::Literal(Literal::Null)))
            {
                return Err(EngineError::Statement(
                    "Cannot PARTITION BY multiple columns including NULL".into(),
                ));
            }
            let mut missing = Vec::new();
            let key_positions: Vec<usize> = source
                .columns
                .iter()
                .enumerate()
                .filter(|(_, c)| c.role == ColumnRole::Key)
                .map(|(i, _)| i)
                .collect();
            for pb in &query.partition_by {
                let compiled = compile(pb, &scope, &ctx).map_err(|e| {
                    if e.starts_with("Column '") {
                        let name = e
                            .trim_start_matches("Column '")
                            .split('\'')
                            .next()
                            .unwrap_or_default()
                            .to_string();
                        EngineError::Statement(format!(
                            "PARTITION BY column '{name}' cannot be resolved. '{name}' must be a column in the source schema since PARTITION BY is applied on the input."
                        ))
                    } else {
                        clause_error("", e)
                    }
                })?;
                // A PARTITION BY expression selected in the projection is the key,
                // under the projection's name.
                let pb_text = pb.to_string();
                let selected: Vec<usize> = items
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, e))| same_expr(e, pb, &alias) || e.to_string() == pb_text)
                    .map(|(i, _)| i)
                    .collect();
                if selected.len() > 1 {
                    let aliases: Vec<String> = selected
                        .iter()
                        .map(|i| projection[*i].name.clone())
                        .collect();
                    return Err(EngineError::Statement(format!(
                        "The projection contains a key column (`{}`) more than once, aliased as: {}.",
                        derived_name(pb).unwrap_or_else(|| aliases[0].clone()),
                        aliases.join(" and ")
                    )));
                }
                let name = match selected.first() {
                    Some(i) => {
                        projection[*i].is_key = true;
                        projection[*i].name.clone()
                    }
                    None if !has_star && sink_name.is_some() && !is_constant(pb) => {
                        missing.push(qualified_text(pb, source_name));
                        String::new()
                    }
                    None => derived_name(pb).unwrap_or_else(|| namer.next(&taken)),
                };
                // `is_key` marks key expressions computable from key columns alone.
                key.push(Projected {
                    name,
                    is_key: reads_only(&compiled, &key_positions),
                    expr: compiled,
                });
            }
            if !missing.is_empty() {
                // ksqlDB then names every partitioning expression.
                let mut missing: Vec<String> = if query.partition_by.len() > 1 {
                    query
                        .partition_by
                        .iter()
                        .map(|e| qualified_text(e, source_name))
                        .collect()
                } else {
                    missing
                };
                let (word, list, eg) = if missing.len() == 1 {
                    ("expression", missing[0].clone(), missing[0].clone())
                } else {
                    let last = missing.pop().unwrap_or_default();
                    (
                        "expressions",
                        format!("{} and {last}", missing.join(", ")),
                        format!("{}, {last}", missing.join(", ")),
                    )
                };
                return Err(EngineError::Statement(format!(
                    "The query used to build `{}` must include the partitioning {word} {list} in its projection (eg, SELECT {eg}...).",
                    sink_name.unwrap_or_default()
                )));
            }
        }
    } else {
        let mut missing_keys = false;
        for kc in source.key_columns() {
            let selected: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, (_, e))| matches!(e, Expr::Column { name, .. } if *name == kc.name))
                .map(|(i, _)| i)
                .collect();
            if selected.len() > 1 {
                let aliases: Vec<String> = selected
                    .iter()
                    .map(|i| projection[*i].name.clone())
                    .collect();
                return Err(EngineError::Statement(format!(
                    "The projection contains a key column (`{}`) more than once, aliased as: {}.",
                    kc.name,
                    aliases.join(" and ")
                )));
            }
            match selected.first() {
                Some(i) => {
                    projection[*i].is_key = true;
                    key.push(projection[*i].clone());
                }
                None if allow_keyless => {}
                None => missing_keys = true,
            }
        }
        if let (true, Some(sink)) = (missing_keys, sink_name) {
            let names: Vec<String> = source.key_columns().map(|c| c.name.clone()).collect();
            let (word, list) = if names.len() == 1 {
                ("column", names[0].clone())
            } else {
                let (last, rest) = names.split_last().expect("two or more keys");
                ("columns", format!("{} and {last}", rest.join(", ")))
            };
            return Err(EngineError::Statement(format!(
                "The query used to build `{sink}` must include the key {word} {list} in its projection (eg, SELECT {}...).",
                names.join(", ")
            )));
        }
    }
    if over_table && !table_functions.is_empty() {
        return Err(EngineError::Statement(
            "Table source is not supported with table functions".into(),
        ));
    }
    if sink_name.is_some() && projection.iter().all(|p| p.is_key) {
        return Err(EngineError::Statement(
            "The projection contains no value columns.".into(),
        ));
    }
    Ok(StreamPlan {
        source,
        filter,
        projection,
        key,
        partition_by,
        // Negative limits are refused before planning.
        limit: query.limit.map(|l| l.max(0) as u64),
        table_functions,
    })
}

/// Replaces table function calls in `expr` by references to the columns
/// holding their per-row values (`$TF_n`, appended to `projection_scope`).
fn extract_table_functions(
    expr: &Expr,
    scope: &Scope,
    ctx: &CompileContext,
    found: &mut Vec<TableFunction>,
    projection_scope: &mut Scope,
) -> Result<Expr, EngineError> {
    expr.rewrite(&mut |node| {
        let Expr::Function { name, args } = node else {
            return Ok(None);
        };
        let kind = match name.to_ascii_uppercase().as_str() {
            "EXPLODE" => TableFunctionKind::Explode,
            "CUBE_EXPLODE" => TableFunctionKind::CubeExplode,
            _ => return Ok(None),
        };
        if args.len() != 1 {
            return Err(EngineError::Statement(format!(
                "Function '{}' does not accept parameters of this count",
                name.to_ascii_lowercase()
            )));
        }
        let arg = compile(&args[0], scope, ctx).map_err(|e| clause_error("", e))?;
        let element = match &arg.ty {
            SqlType::Array(t) => match kind {
                TableFunctionKind::Explode => (**t).clone(),
                TableFunctionKind::CubeExplode => arg.ty.clone(),
            },
            other => {
                let alternatives = match kind {
                    TableFunctionKind::Explode => {
                        "explode(ARRAY<DECIMAL> input)\nexplode(ARRAY<T> list)"
                    }
                    TableFunctionKind::CubeExplode => "cube_explode(ARRAY<T> list)",
                };
                return Err(EngineError::Statement(format!(
                    "Function '{}' does not accept parameters ({other}).\nValid alternatives are:\n{alternatives}",
                    name.to_ascii_lowercase()
                )));
            }
        };
        let column = format!("$TF_{}", found.len());
        projection_scope.push(None, &column, element);
        found.push(TableFunction { kind, arg });
        Ok(Some(Expr::Column {
            source: None,
            name: column,
        }))
    })
}

fn is_constant(e: &Expr) -> bool {
    matches!(e, Expr::Literal(_))
}

/// Whether every row position `e` reads is one of `positions` (so it can be
/// computed for a record without a value).
fn reads_only(e: &CompiledExpr, positions: &[usize]) -> bool {
    let mut read = Vec::new();
    e.columns_read(&mut read);
    read.iter().all(|i| positions.contains(i))
}

/// An expression as ksqlDB prints it in messages: columns qualified by the
/// source name, no quoting.
fn qualified_text(e: &Expr, source: &str) -> String {
    e.rewrite(&mut |node| -> Result<Option<Expr>, ()> {
        Ok(match node {
            Expr::Column { source: None, name } => Some(Expr::Column {
                source: Some(source.to_string()),
                name: name.clone(),
            }),
            _ => None,
        })
    })
    .unwrap_or_else(|()| e.clone())
    .to_string()
    .replace('`', "")
}

/// Whether two expressions name the same column (ignoring the qualifier).
fn same_expr(a: &Expr, b: &Expr, alias: &str) -> bool {
    match (a, b) {
        (
            Expr::Column {
                source: s1,
                name: n1,
            },
            Expr::Column {
                source: s2,
                name: n2,
            },
        ) => {
            n1 == n2
                && s1.as_deref().is_none_or(|s| s == alias)
                && s2.as_deref().is_none_or(|s| s == alias)
        }
        (
            Expr::Dereference {
                expr: e1,
                field: f1,
            },
            Expr::Dereference {
                expr: e2,
                field: f2,
            },
        ) => f1 == f2 && same_expr(e1, e2, alias),
        _ => false,
    }
}
