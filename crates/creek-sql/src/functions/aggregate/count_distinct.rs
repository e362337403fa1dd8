//! COUNT_DISTINCT(col): how many distinct non-NULL values a group holds.
//!
//! ksqlDB estimates this with a HyperLogLog sketch (ARRAY<INT> registers);
//! this counts exactly, keeping the distinct values themselves
//! (`ARRAY<T>`), which agrees with the sketch on small groups. Like ksqlDB
//! it cannot take a row back out.

use super::util::{items, one_arg};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::collections::java_eq;
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct CountDistinct;

fn add(set: &mut Vec<Value>, v: Value) {
    if !v.is_null() && !set.iter().any(|x| java_eq(x, &v)) {
        set.push(v);
    }
}

impl AggregateFunction for CountDistinct {
    fn name(&self) -> &'static str {
        "COUNT_DISTINCT"
    }

    fn description(&self) -> &'static str {
        "This function returns the number of items found in a group. The implementation is probabilistic with a typical accuracy (standard error) of less than 1%."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["COUNT_DISTINCT(val T) => BIGINT".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = one_arg(args)?.clone();
        Ok(ResolvedAggregate::new(
            SqlType::Bigint,
            SqlType::array(t),
            vec![0],
            || Value::Array(Vec::new()),
            |args, s| {
                let mut set = items(s);
                add(&mut set, args[0].clone());
                Ok(Value::Array(set))
            },
            |a, b| {
                let mut set = items(a);
                for v in items(b) {
                    add(&mut set, v);
                }
                Ok(Value::Array(set))
            },
            |s| match s {
                Value::Array(set) => Value::Bigint(set.len() as i64),
                _ => Value::Bigint(0),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    #[test]
    fn counts_distinct_non_null_values() {
        // count-distinct.json: one, two, one, two, NULL => 2.
        let f = CountDistinct
            .resolve(&[Arg::typed(SqlType::String)])
            .unwrap();
        assert_eq!(f.returns, SqlType::Bigint);
        assert!(f.undo.is_none());
        let s = fold(
            &f,
            &[
                &[Value::string("one")],
                &[Value::string("two")],
                &[Value::string("one")],
                &[Value::Null],
            ],
        );
        assert_eq!((f.map)(&s), Value::Bigint(2));
        let m = (f.merge)(s, Value::Array(vec![Value::string("three")])).unwrap();
        assert_eq!((f.map)(&m), Value::Bigint(3));
        assert_eq!((f.map)(&(f.init)()), Value::Bigint(0));
    }
}
