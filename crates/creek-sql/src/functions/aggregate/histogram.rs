//! HISTOGRAM(STRING): a map from each value (NULL included, as a key) to
//! the number of rows holding it. Like ksqlDB, it tracks at most 1000
//! distinct values and can take rows back out (dropping values that reach 0).

use super::util::one_arg;
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::collections::java_eq;
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

/// ksqlDB's fixed cap on distinct values.
const LIMIT: usize = 1000;

pub struct Histogram;

fn entries(state: Value) -> Vec<(Value, Value)> {
    match state {
        Value::Map(entries) => entries,
        _ => Vec::new(),
    }
}

/// Adds `n` to the count of `key`, if there is room for it.
fn bump(map: &mut Vec<(Value, Value)>, key: &Value, n: i64) {
    match map.iter().position(|(k, _)| java_eq(k, key)) {
        Some(i) => map[i].1 = Value::Bigint(map[i].1.as_i64().unwrap_or(0) + n),
        None if map.len() < LIMIT => map.push((key.clone(), Value::Bigint(n))),
        None => {}
    }
}

impl AggregateFunction for Histogram {
    fn name(&self) -> &'static str {
        "HISTOGRAM"
    }

    fn description(&self) -> &'static str {
        "Returns a map of each distinct String from the input Stream or Table and how many times each occurs."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["HISTOGRAM(val STRING) => MAP<STRING, BIGINT>".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        if *one_arg(args)? != SqlType::String {
            return Err(ResolveError::NoMatch);
        }
        let t = SqlType::map(SqlType::String, SqlType::Bigint);
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            vec![0],
            || Value::Map(Vec::new()),
            |args, s| {
                let mut map = entries(s);
                bump(&mut map, &args[0], 1);
                Ok(Value::Map(map))
            },
            |a, b| {
                let mut map = entries(a);
                for (k, v) in entries(b) {
                    bump(&mut map, &k, v.as_i64().unwrap_or(0));
                }
                Ok(Value::Map(map))
            },
            |s| s.clone(),
        )
        .with_undo(|args, s| {
            let mut map = entries(s);
            if let Some(i) = map.iter().position(|(k, _)| java_eq(k, &args[0])) {
                let n = map[i].1.as_i64().unwrap_or(0) - 1;
                if n < 1 {
                    map.remove(i);
                } else {
                    map[i].1 = Value::Bigint(n);
                }
            }
            Ok(Value::Map(map))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    fn counts(v: &[(&str, i64)]) -> Value {
        Value::Map(
            v.iter()
                .map(|(k, n)| (Value::string(*k), Value::Bigint(*n)))
                .collect(),
        )
    }

    #[test]
    fn counts_values_and_takes_them_back() {
        let f = Histogram.resolve(&[Arg::typed(SqlType::String)]).unwrap();
        assert_eq!(f.returns, SqlType::map(SqlType::String, SqlType::Bigint));
        let s = fold(
            &f,
            &[
                &[Value::string("baz")],
                &[Value::string("baz")],
                &[Value::string("foo")],
            ],
        );
        assert_eq!(s, counts(&[("baz", 2), ("foo", 1)]));
        let undo = f.undo.as_ref().unwrap();
        let s = undo(&[Value::string("foo")], s).unwrap();
        assert_eq!(s, counts(&[("baz", 2)]));
        let m = (f.merge)(s, counts(&[("baz", 1), ("x", 3)])).unwrap();
        assert_eq!(m, counts(&[("baz", 3), ("x", 3)]));
        assert_eq!(
            Histogram.resolve(&[Arg::typed(SqlType::Int)]).err(),
            Some(ResolveError::NoMatch)
        );
    }
}
