//! ATTR(col): the column's value when every row of the group has the same
//! one, else NULL (ksqlDB's "attribute" aggregate). NULL is a value like any
//! other: `'1', NULL` has two values. The state counts each distinct value
//! (`ARRAY<STRUCT<VALUE T, COUNT BIGINT>>`, since values of any type, maps
//! and structs included, may repeat), so rows can be taken back out.

use super::util::{one_arg, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::collections::java_eq;
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct Attr;

/// The (value, count) pairs of a state.
fn counts(state: Value) -> Vec<(Value, i64)> {
    let Value::Array(items) = state else {
        return Vec::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::Struct(mut fields) if fields.len() == 2 => {
                let count = fields.pop()?.1.as_i64().unwrap_or(0);
                let value = fields.pop()?.1;
                Some((value, count))
            }
            _ => None,
        })
        .collect()
}

fn state(counts: Vec<(Value, i64)>) -> Value {
    Value::Array(
        counts
            .into_iter()
            .map(|(v, n)| struct_value(vec![("VALUE", v), ("COUNT", Value::Bigint(n))]))
            .collect(),
    )
}

fn same(a: &Value, b: &Value) -> bool {
    a == b || java_eq(a, b)
}

/// Adds `n` (negative: takes out) to the count of `value`; values whose
/// count reaches 0 leave.
fn bump(counts: &mut Vec<(Value, i64)>, value: &Value, n: i64) {
    match counts.iter().position(|(v, _)| same(v, value)) {
        Some(i) => {
            counts[i].1 += n;
            if counts[i].1 < 1 {
                counts.remove(i);
            }
        }
        None if n > 0 => counts.push((value.clone(), n)),
        None => {}
    }
}

impl AggregateFunction for Attr {
    fn name(&self) -> &'static str {
        "ATTR"
    }

    fn description(&self) -> &'static str {
        "Returns the value of the column if every row of the group has the same one, else NULL."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["ATTR(val T) => T".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = one_arg(args)?.clone();
        let state_type = SqlType::Array(Box::new(struct_type(&[
            ("VALUE", t.clone()),
            ("COUNT", SqlType::Bigint),
        ])));
        Ok(ResolvedAggregate::new(
            t,
            state_type,
            vec![0],
            || Value::Array(Vec::new()),
            |args, s| {
                let mut c = counts(s);
                bump(&mut c, &args[0], 1);
                Ok(state(c))
            },
            |a, b| {
                let mut c = counts(a);
                for (v, n) in counts(b) {
                    bump(&mut c, &v, n);
                }
                Ok(state(c))
            },
            |s| match counts(s.clone()).as_slice() {
                [(only, _)] => only.clone(),
                _ => Value::Null,
            },
        )
        .with_undo(|args, s| {
            let mut c = counts(s);
            bump(&mut c, &args[0], -1);
            Ok(state(c))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[Value]) -> Vec<Value> {
        let f = Attr.resolve(&[Arg::typed(SqlType::String)]).unwrap();
        let mut s = (f.init)();
        rows.iter()
            .map(|v| {
                s = (f.aggregate)(std::slice::from_ref(v), s.clone()).unwrap();
                (f.map)(&s)
            })
            .collect()
    }

    #[test]
    fn one_value_or_null() {
        let one = Value::string("1");
        assert_eq!(
            run(&[one.clone(), one.clone()]),
            vec![one.clone(), one.clone()]
        );
        assert_eq!(
            run(&[one.clone(), Value::Null, one.clone()]),
            vec![one.clone(), Value::Null, Value::Null]
        );
        assert_eq!(
            run(&[Value::Null, Value::Null]),
            vec![Value::Null, Value::Null]
        );
    }

    #[test]
    fn rows_come_back_out() {
        let f = Attr.resolve(&[Arg::typed(SqlType::String)]).unwrap();
        let undo = f.undo.as_ref().unwrap();
        let s = (f.aggregate)(&[Value::string("2")], (f.init)()).unwrap();
        let s = (f.aggregate)(&[Value::string("3")], s).unwrap();
        assert_eq!((f.map)(&s), Value::Null);
        let s = undo(&[Value::string("3")], s).unwrap();
        assert_eq!((f.map)(&s), Value::string("2"));
        let s = undo(&[Value::string("2")], s).unwrap();
        assert_eq!((f.map)(&s), Value::Null);
    }
}
