//! COUNT(*) and COUNT(col): rows, or rows where `col` is not NULL.

use std::sync::Arc;

use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct Count;

impl AggregateFunction for Count {
    fn name(&self) -> &'static str {
        "COUNT"
    }

    fn description(&self) -> &'static str {
        "Counts records by key."
    }

    fn signatures(&self) -> Vec<String> {
        vec![
            "COUNT(*) => BIGINT".into(),
            "COUNT(col1 T) => BIGINT".into(),
        ]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        if args.len() > 1 {
            return Err(ResolveError::NoMatch);
        }
        let counts_all = args.is_empty();
        let step = move |delta: i64| {
            move |args: &[Value], state: Value| {
                let n = match state {
                    Value::Bigint(n) => n,
                    _ => 0,
                };
                let counted = counts_all || !matches!(args.first(), Some(Value::Null) | None);
                Ok(Value::Bigint(if counted { n + delta } else { n }))
            }
        };
        Ok(ResolvedAggregate {
            returns: SqlType::Bigint,
            state_type: SqlType::Bigint,
            row_args: (0..args.len()).collect(),
            init: Arc::new(|| Value::Bigint(0)),
            aggregate: Arc::new(step(1)),
            undo: Some(Arc::new(step(-1))),
            merge: Arc::new(|a, b| match (a, b) {
                (Value::Bigint(a), Value::Bigint(b)) => Ok(Value::Bigint(a + b)),
                _ => Err("COUNT state is not a BIGINT".into()),
            }),
            map: Arc::new(|state| state.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_rows_or_non_null_values() {
        let all = Count.resolve(&[]).unwrap();
        let s = (all.aggregate)(&[], (all.init)()).unwrap();
        let s = (all.aggregate)(&[], s).unwrap();
        assert_eq!((all.map)(&s), Value::Bigint(2));
        let col = Count.resolve(&[Arg::typed(SqlType::Int)]).unwrap();
        let s = (col.aggregate)(&[Value::Null], (col.init)()).unwrap();
        let s = (col.aggregate)(&[Value::Int(3)], s).unwrap();
        assert_eq!(s, Value::Bigint(1));
        let s = (col.undo.as_ref().unwrap())(&[Value::Int(3)], s).unwrap();
        assert_eq!(s, Value::Bigint(0));
    }
}
