//! COLLECT_LIST and COLLECT_SET: every value (NULLs included) of a column,
//! in arrival order, up to `ksql.functions.collect_{list,set}.limit`
//! entries; later values are dropped silently. COLLECT_LIST can take a
//! row back out (its last occurrence); COLLECT_SET is stream-only.

use super::util::{items, one_arg};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::collections::java_eq;
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct CollectList {
    pub limit: usize,
}

impl AggregateFunction for CollectList {
    fn name(&self) -> &'static str {
        "COLLECT_LIST"
    }

    fn description(&self) -> &'static str {
        "Gather all of the values from an input grouping into a single Array field."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["COLLECT_LIST(val T) => ARRAY<T>".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = SqlType::array(one_arg(args)?.clone());
        let limit = self.limit;
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            vec![0],
            || Value::Array(Vec::new()),
            move |args, s| {
                let mut list = items(s);
                if list.len() < limit {
                    list.push(args[0].clone());
                }
                Ok(Value::Array(list))
            },
            move |a, b| {
                // The first session's values come first, as ksqlDB documents.
                let mut list = items(a);
                let room = limit.saturating_sub(list.len());
                list.extend(items(b).into_iter().take(room));
                Ok(Value::Array(list))
            },
            |s| s.clone(),
        )
        .with_undo(|args, s| {
            let mut list = items(s);
            if let Some(i) = list.iter().rposition(|v| java_eq(v, &args[0])) {
                list.remove(i);
            }
            Ok(Value::Array(list))
        }))
    }
}

pub struct CollectSet {
    pub limit: usize,
}

impl AggregateFunction for CollectSet {
    fn name(&self) -> &'static str {
        "COLLECT_SET"
    }

    fn description(&self) -> &'static str {
        "Gather all of the distinct values from an input grouping into a single Array."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["COLLECT_SET(val T) => ARRAY<T>".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = SqlType::array(one_arg(args)?.clone());
        let limit = self.limit;
        let add = move |set: &mut Vec<Value>, v: Value| {
            if set.len() < limit && !set.iter().any(|x| java_eq(x, &v)) {
                set.push(v);
            }
        };
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            vec![0],
            || Value::Array(Vec::new()),
            move |args, s| {
                let mut set = items(s);
                add(&mut set, args[0].clone());
                Ok(Value::Array(set))
            },
            move |a, b| {
                let mut set = items(a);
                for v in items(b) {
                    add(&mut set, v);
                }
                Ok(Value::Array(set))
            },
            |s| s.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    fn strs(v: &[Option<&str>]) -> Value {
        Value::Array(
            v.iter()
                .map(|s| s.map_or(Value::Null, Value::string))
                .collect(),
        )
    }

    #[test]
    fn collect_list_keeps_nulls_order_and_limit() {
        let f = CollectList { limit: 1000 }
            .resolve(&[Arg::typed(SqlType::String)])
            .unwrap();
        assert_eq!(f.returns, SqlType::array(SqlType::String));
        let s = fold(
            &f,
            &[
                &[Value::string("baz")],
                &[Value::string("baz")],
                &[Value::Null],
            ],
        );
        assert_eq!(s, strs(&[Some("baz"), Some("baz"), None]));
        let s = (f.undo.as_ref().unwrap())(&[Value::string("baz")], s).unwrap();
        assert_eq!(s, strs(&[Some("baz"), None]));
        let m = (f.merge)(s, strs(&[Some("x")])).unwrap();
        assert_eq!(m, strs(&[Some("baz"), None, Some("x")]));

        let one = CollectList { limit: 1 }
            .resolve(&[Arg::typed(SqlType::Int)])
            .unwrap();
        let s = fold(&one, &[&[Value::Int(0)], &[Value::Int(100)]]);
        assert_eq!(s, Value::Array(vec![Value::Int(0)]));
        let m = (one.merge)(s.clone(), s).unwrap();
        assert_eq!(m, Value::Array(vec![Value::Int(0)]));
    }

    #[test]
    fn collect_set_keeps_distinct_values() {
        let f = CollectSet { limit: 1000 }
            .resolve(&[Arg::typed(SqlType::String)])
            .unwrap();
        assert!(f.undo.is_none());
        let s = fold(
            &f,
            &[
                &[Value::string("baz")],
                &[Value::string("baz")],
                &[Value::string("foo")],
                &[Value::Null],
                &[Value::Null],
            ],
        );
        assert_eq!(s, strs(&[Some("baz"), Some("foo"), None]));
        let m = (f.merge)(strs(&[Some("a")]), s).unwrap();
        assert_eq!(m, strs(&[Some("a"), Some("baz"), Some("foo"), None]));
        // Maps compare by content, whatever the entry order.
        let f = CollectSet { limit: 1000 }
            .resolve(&[Arg::typed(SqlType::map(SqlType::String, SqlType::Int))])
            .unwrap();
        let m1 = Value::Map(vec![
            (Value::string("a"), Value::Int(1)),
            (Value::string("b"), Value::Int(2)),
        ]);
        let m2 = Value::Map(vec![
            (Value::string("b"), Value::Int(2)),
            (Value::string("a"), Value::Int(1)),
        ]);
        let s = fold(&f, &[std::slice::from_ref(&m1), &[m2]]);
        assert_eq!(s, Value::Array(vec![m1]));
    }
}
