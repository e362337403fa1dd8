//! `INSERT INTO … SELECT` (a persistent query writing into an existing
//! stream whose schema it must match) and `INSERT INTO … VALUES` (one row,
//! coerced to the target's column types as ksqlDB does, encoded and produced).

use std::collections::HashMap;
use std::sync::Arc;

use creek_sql::ast::{self, Query, SourceKind};
use creek_sql::expr::{compile, CompileContext, Scope};
use creek_sql::types::SqlType;
use creek_sql::value::Value;
use serde_json::{json, Value as Json};

use crate::metastore::{ColumnRole, SourceColumn};
use crate::plan::plan_stream_query;
use crate::query::{ResultRow, SinkEncoder};
use crate::EngineError;

use super::{kind_word, status_entity, Engine, QueryPlan, Session};

/// Implicit widening for INSERT INTO: numbers to wider numbers or decimals.
pub(super) fn widens(from: &SqlType, to: &SqlType) -> bool {
    from.can_widen_to(to)
        || matches!(
            (from, to),
            (
                SqlType::Int | SqlType::Bigint | SqlType::Decimal { .. },
                SqlType::Decimal { .. }
            )
        )
}

/// A constructed value whose STRUCTs (at any depth, inside arrays and map
/// values too) name a subset of the column type's fields, in any order: as
/// the column's type, missing fields NULL (`STRUCT()` is all NULL), as
/// ksqlDB's INSERT VALUES coerces them. `None` when the shapes differ.
pub(super) fn structs_by_name(value: &Value, given: &SqlType, target: &SqlType) -> Option<Value> {
    match (value, given, target) {
        (Value::Null, _, _) => Some(Value::Null),
        (Value::Struct(values), SqlType::Struct(_), SqlType::Struct(fields)) => {
            if values
                .iter()
                .any(|(n, _)| !fields.iter().any(|f| f.name == n.as_ref()))
            {
                return None;
            }
            let given_type = |name: &str| match given {
                SqlType::Struct(g) => g.iter().find(|f| f.name == name).map(|f| f.ty.clone()),
                _ => None,
            };
            fields
                .iter()
                .map(|f| {
                    let v = match values.iter().find(|(n, _)| n.as_ref() == f.name) {
                        None => Value::Null,
                        Some((_, v)) => structs_by_name(v, &given_type(&f.name)?, &f.ty)?,
                    };
                    Some((std::sync::Arc::from(f.name.as_str()), v))
                })
                .collect::<Option<Vec<_>>>()
                .map(Value::Struct)
        }
        (Value::Array(items), SqlType::Array(g), SqlType::Array(t)) => items
            .iter()
            .map(|i| structs_by_name(i, g, t))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        (Value::Map(entries), SqlType::Map(gk, gv), SqlType::Map(tk, tv)) if gk == tk => entries
            .iter()
            .map(|(k, v)| Some((k.clone(), structs_by_name(v, gv, tv)?)))
            .collect::<Option<Vec<_>>>()
            .map(Value::Map),
        (v, g, t) if g == t => Some(v.clone()),
        (v, g, t) if g.can_widen_to(t) => creek_sql::cast::cast_value(v.clone(), g, t).ok(),
        _ => None,
    }
}

impl Engine {
    pub(super) async fn insert_into(
        self: &Arc<Self>,
        target: &str,
        query: &Query,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        let sink = self
            .state
            .lock()
            .metastore
            .source(target)
            .cloned()
            .ok_or_else(|| EngineError::Statement(format!("{target} does not exist.")))?;
        if sink.kind == SourceKind::Table {
            return Err(EngineError::Statement(format!(
                "INSERT INTO can only be used to insert into a stream. {target} is a table."
            )));
        }
        let produces_table = crate::aggregate::is_aggregate(query, &self.aggregates) || {
            let state = self.state.lock();
            crate::plan::single_source(query, &state.metastore)
                .is_ok_and(|(source, _, _)| source.kind == SourceKind::Table)
        };
        if produces_table {
            return Err(EngineError::Statement(format!(
                "Incompatible data sink and query result. Data sink ({target}) type is STREAM but select query result is TABLE."
            )));
        }
        if sink.read_only {
            return Err(EngineError::Statement(format!(
                "Cannot insert into read-only {}: {target}",
                kind_word(sink.kind)
            )));
        }
        let plan = {
            let state = self.state.lock();
            plan_stream_query(query, &state.metastore, &self.functions, Some(target))?
        };
        let mut plan = plan;
        if sink
            .columns
            .iter()
            .any(|c| matches!(c.role, ColumnRole::Header(_)))
        {
            return Err(EngineError::Statement(format!(
                "Cannot insert into {target} because it has header columns"
            )));
        }
        // Values widen implicitly to the sink's types (INT into DECIMAL, ...).
        let mut result_columns = plan.output_columns();
        if result_columns.len() == sink.columns.len() {
            for (r, s) in result_columns.iter_mut().zip(&sink.columns) {
                if r.name == s.name && r.role == s.role && r.ty != s.ty && widens(&r.ty, &s.ty) {
                    for p in plan.projection.iter_mut().chain(plan.key.iter_mut()) {
                        if p.name == r.name {
                            p.expr = p.expr.clone().cast_to(&s.ty);
                        }
                    }
                    r.ty = s.ty.clone();
                }
            }
        }
        let same = result_columns.len() == sink.columns.len()
            && result_columns
                .iter()
                .zip(&sink.columns)
                .all(|(a, b)| a.name == b.name && a.ty == b.ty && a.role == b.role);
        if !same {
            let fmt = |cols: &[SourceColumn]| {
                cols.iter()
                    .map(|c| {
                        format!(
                            "`{}` {}{}",
                            c.name,
                            c.ty,
                            if c.role == ColumnRole::Key {
                                " KEY"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(EngineError::Statement(format!(
                "Incompatible schema between results and sink.\nResult schema is {}\nSink schema is {}",
                fmt(&result_columns),
                fmt(&sink.columns)
            )));
        }
        let query_id = {
            let mut state = self.state.lock();
            let id = format!("INSERTQUERY_{}", state.next_query);
            state.next_query += 1;
            id
        };
        let pq = self
            .build_query(
                query_id.clone(),
                QueryPlan::Stream(plan),
                &sink,
                text,
                session,
            )
            .await?;
        self.state
            .lock()
            .queries
            .insert(query_id.clone(), pq.clone());
        self.start(&pq);
        Ok(status_entity(
            text,
            &format!("Created query with ID {query_id}"),
            Some(&query_id),
        ))
    }

    pub(super) async fn insert_values(
        self: &Arc<Self>,
        target: &str,
        columns: &[String],
        values: &[ast::Expr],
        text: &str,
    ) -> Result<Json, EngineError> {
        // The lock guard must be gone before the error path locks again.
        let found = self.state.lock().metastore.source(target).cloned();
        let sink = found.ok_or_else(|| self.unknown_insert_target(target, text))?;
        if sink.read_only {
            return Err(EngineError::Statement(format!(
                "Cannot insert values into read-only {}: {target}",
                kind_word(sink.kind)
            )));
        }
        if columns.is_empty() {
            let headers: Vec<&str> = sink
                .columns
                .iter()
                .filter(|c| matches!(c.role, ColumnRole::Header(_)))
                .map(|c| c.name.as_str())
                .collect();
            if !headers.is_empty() {
                return Err(EngineError::Statement(format!(
                    "Cannot insert into HEADER columns: {}",
                    headers.join(", ")
                )));
            }
        }
        // Without a column list, ksqlDB's schema order: keys, then values.
        let names: Vec<String> = if columns.is_empty() {
            sink.key_columns()
                .chain(sink.value_columns())
                .map(|c| c.name.clone())
                .collect()
        } else {
            columns.to_vec()
        };
        if let Some(pseudo) = names
            .iter()
            .find(|n| matches!(n.as_str(), "ROWPARTITION" | "ROWOFFSET"))
        {
            return Err(EngineError::Statement(format!(
                "Inserting into column `{pseudo}` is not allowed."
            )));
        }
        if !columns.is_empty() && names.len() != values.len() {
            return Err(EngineError::Statement(format!(
                "{}Expected number columns and values to match: {}, {}",
                creek_sql::PREPARE_FAILED,
                names.len(),
                values.len()
            )));
        }
        if names.len() != values.len() {
            return Err(EngineError::Statement(format!(
                "Expected a value for each column. Expected Columns: [{}]. Got [{}]",
                names.join(", "),
                values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let types = self.state.lock().metastore.types.clone();
        let ctx = CompileContext {
            functions: &self.functions,
            custom_types: &types,
        };
        let empty = Scope::default();
        let mut row: HashMap<String, Value> = HashMap::new();
        let mut rowtime = None;
        for (name, expr) in names.iter().zip(values) {
            if name == "ROWTIME" {
                let c = compile(expr, &empty, &ctx).map_err(EngineError::Statement)?;
                rowtime = c.eval(&[]).ok().and_then(|v| v.as_i64());
                continue;
            }
            let column = sink
                .columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| {
                    EngineError::Statement(format!("Column name {name} does not exist."))
                })?;
            if let ColumnRole::Header(_) = column.role {
                return Err(EngineError::Statement(format!(
                    "Cannot insert into HEADER columns: {name}"
                )));
            }
            let c = compile(expr, &empty, &ctx).map_err(|e| {
                // ksqlDB fails to prepare a statement naming an unknown source.
                if e.contains("is not a valid stream/table name or alias") {
                    EngineError::Statement(format!("{}{e}", creek_sql::PREPARE_FAILED))
                } else {
                    EngineError::Statement(e)
                }
            })?;
            let v = c.eval(&[]).map_err(EngineError::Statement)?;
            let v = if c.ty == column.ty || v.is_null() {
                v
            } else if let Some(v) = structs_by_name(&v, &c.ty, &column.ty) {
                v
            } else if c.ty.can_widen_to(&column.ty)
                || creek_sql::cast::check_cast(&c.ty, &column.ty).is_ok() && c.ty == SqlType::String
            {
                creek_sql::cast::cast_value(v, &c.ty, &column.ty).map_err(EngineError::Statement)?
            } else {
                return Err(EngineError::Statement(format!(
                    "Expected type {} for field {name} but got {}({})",
                    column.ty,
                    c.ty,
                    creek_sql::cast::to_java_string(&v)
                )));
            };
            row.insert(name.clone(), v);
        }
        let key: Vec<Value> = sink
            .key_columns()
            .map(|c| row.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let value: Vec<Value> = sink
            .value_columns()
            .map(|c| row.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let (key_fmt, value_fmt) = self.build_formats(&sink, true).await?;
        let partitions = self
            .log
            .describe_topic(&sink.topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let encoder = SinkEncoder {
            key: key_fmt,
            value: value_fmt,
            has_key: !key.is_empty(),
            partitions,
            timestamp: None,
            window: None,
        };
        let result = ResultRow {
            key,
            value: Some(value),
            projection: Vec::new(),
            rowtime: rowtime.unwrap_or_else(creek_store::now_ms),
            window: None,
        };
        let (p, record) = encoder.encode(&result).map_err(|e| {
            EngineError::Statement(format!("Failed to insert values into '{target}'. {e}"))
        })?;
        self.log
            .produce(&sink.topic, p, vec![record.clone()])
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        if let Some(tap) = self.output_tap.lock().as_mut() {
            tap.push((sink.topic.clone(), record));
        }
        Ok(
            json!({"@type": "currentStatus", "statementText": text, "commandStatus": {"status": "SUCCESS", "message": ""}, "warnings": []}),
        )
    }

    /// ksqlDB's error for INSERT VALUES into an unknown source, with a hint
    /// when only the quoting (case) is wrong.
    pub(super) fn unknown_insert_target(&self, target: &str, text: &str) -> EngineError {
        let state = self.state.lock();
        let similar = state
            .metastore
            .sources
            .keys()
            .find(|n| n.eq_ignore_ascii_case(target))
            .cloned();
        let mut message = format!("Cannot insert values into an unknown stream/table: `{target}`");
        if let Some(name) = similar {
            let quoted_in_statement =
                text.contains(&format!("\"{target}\"")) || text.contains(&format!("`{target}`"));
            if quoted_in_statement {
                message.push_str(&format!(
                    "\nDid you mean {name}? Hint: try removing double quotes from the source name."
                ));
            } else {
                message.push_str(&format!(
                    "\nDid you mean \"{name}\"? Hint: wrap the source name in double quotes to make it case-sensitive."
                ));
            }
        }
        EngineError::Statement(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_sql::types::Field;

    #[test]
    fn insert_values_structs_match_fields_by_name() {
        let target = SqlType::Struct(vec![
            Field::new("NUM".to_string(), SqlType::Bigint),
            Field::new("EMAIL".to_string(), SqlType::String),
        ]);
        let given = SqlType::Struct(vec![
            Field::new("EMAIL".to_string(), SqlType::String),
            Field::new("NUM".to_string(), SqlType::Int),
        ]);
        let value = Value::Struct(vec![
            ("EMAIL".into(), Value::string("a@b.c")),
            ("NUM".into(), Value::Int(5)),
        ]);
        assert_eq!(
            structs_by_name(&value, &given, &target),
            Some(Value::Struct(vec![
                ("NUM".into(), Value::Bigint(5)),
                ("EMAIL".into(), Value::string("a@b.c")),
            ]))
        );
        // STRUCT(): every field NULL; inside an array too.
        let empty = Value::Struct(vec![]);
        let all_null = Value::Struct(vec![
            ("NUM".into(), Value::Null),
            ("EMAIL".into(), Value::Null),
        ]);
        assert_eq!(
            structs_by_name(&empty, &SqlType::Struct(vec![]), &target),
            Some(all_null.clone())
        );
        assert_eq!(
            structs_by_name(
                &Value::Array(vec![empty]),
                &SqlType::array(SqlType::Struct(vec![])),
                &SqlType::array(target.clone())
            ),
            Some(Value::Array(vec![all_null]))
        );
        // A field the column does not have, or a value of another type: no.
        let extra = Value::Struct(vec![("OTHER".into(), Value::Int(1))]);
        let extra_ty = SqlType::Struct(vec![Field::new("OTHER".to_string(), SqlType::Int)]);
        assert_eq!(structs_by_name(&extra, &extra_ty, &target), None);
        assert_eq!(
            structs_by_name(&Value::Boolean(true), &SqlType::Boolean, &target),
            None
        );
    }
}
