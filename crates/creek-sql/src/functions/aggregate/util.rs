//! Small helpers shared by the aggregate implementations: struct states,
//! resolved-aggregate construction and argument checks.

use std::cmp::Ordering;
use std::sync::Arc;

use super::ResolvedAggregate;
use crate::functions::collections::java_cmp;
use crate::functions::{Arg, ResolveError};
use crate::types::{Field, SqlType};
use crate::value::Value;

/// A STRUCT type from field names and types.
pub(super) fn struct_type(fields: &[(&str, SqlType)]) -> SqlType {
    SqlType::Struct(
        fields
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone()))
            .collect(),
    )
}

/// A STRUCT value from field names and values.
pub(super) fn struct_value(fields: Vec<(&str, Value)>) -> Value {
    Value::Struct(fields.into_iter().map(|(n, v)| (Arc::from(n), v)).collect())
}

/// A field of a struct state; NULL when absent (or the state is NULL).
pub(super) fn get<'a>(state: &'a Value, name: &str) -> &'a Value {
    state.field(name).unwrap_or(&Value::Null)
}

pub(super) fn get_i64(state: &Value, name: &str) -> i64 {
    get(state, name).as_i64().unwrap_or(0)
}

pub(super) fn get_f64(state: &Value, name: &str) -> f64 {
    get(state, name).as_f64().unwrap_or(0.0)
}

/// The items of an ARRAY state (none for NULL).
pub(super) fn items(state: Value) -> Vec<Value> {
    match state {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// The single argument's type, or `NoMatch` for any other arity or an
/// untyped NULL.
pub(super) fn one_arg(args: &[Arg]) -> Result<&SqlType, ResolveError> {
    match args {
        [Arg { ty: Some(t), .. }] => Ok(t),
        _ => Err(ResolveError::NoMatch),
    }
}

/// Types with a natural order for MIN, MAX and TOPK (ksqlDB's comparable
/// primitives; BOOLEAN is not one of them).
pub(super) fn is_comparable(t: &SqlType) -> bool {
    t.is_primitive() && *t != SqlType::Boolean
}

/// Java's natural order of two non-NULL values of one comparable type.
/// BYTES compare as `ByteBuffer.compareTo`: signed bytes.
pub(super) fn natural_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Bytes(x), Value::Bytes(y)) => {
            x.iter().map(|b| *b as i8).cmp(y.iter().map(|b| *b as i8))
        }
        _ => java_cmp(a, b),
    }
}

type StepFn = dyn Fn(&[Value], Value) -> Result<Value, String> + Send + Sync;

impl ResolvedAggregate {
    /// An aggregate without undo; add one with [`ResolvedAggregate::with_undo`].
    pub(super) fn new(
        returns: SqlType,
        state_type: SqlType,
        row_args: Vec<usize>,
        init: impl Fn() -> Value + Send + Sync + 'static,
        aggregate: impl Fn(&[Value], Value) -> Result<Value, String> + Send + Sync + 'static,
        merge: impl Fn(Value, Value) -> Result<Value, String> + Send + Sync + 'static,
        map: impl Fn(&Value) -> Value + Send + Sync + 'static,
    ) -> ResolvedAggregate {
        ResolvedAggregate {
            returns,
            state_type,
            row_args,
            init: Arc::new(init),
            aggregate: Arc::new(aggregate),
            undo: None,
            merge: Arc::new(merge),
            map: Arc::new(map),
        }
    }

    pub(super) fn with_undo(
        mut self,
        undo: impl Fn(&[Value], Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> ResolvedAggregate {
        let undo: Arc<StepFn> = Arc::new(undo);
        self.undo = Some(undo);
        self
    }
}

/// Test helper: folds rows into a fresh state.
#[cfg(test)]
pub(super) fn fold(agg: &ResolvedAggregate, rows: &[&[Value]]) -> Value {
    rows.iter()
        .fold((agg.init)(), |s, r| (agg.aggregate)(r, s).unwrap())
}
