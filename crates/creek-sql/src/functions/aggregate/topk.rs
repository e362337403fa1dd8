//! TOPK and TOPKDISTINCT: the `k` greatest values of a column, greatest
//! first. `k` is a constant (the last argument), never a row value.
//!
//! `TOPK(col, other1, ..., k)` also carries other columns of each row: the
//! result is `ARRAY<STRUCT<sort_col T, col0 T0, ...>>`. Rows whose sort
//! value is NULL are ignored. Among equal sort values the earlier row ranks
//! first. Neither function can take a row back out.

use std::cmp::Ordering;

use super::util::{is_comparable, items, natural_cmp, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::collections::java_eq;
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

/// Reads the constant `k` of a call.
fn k_arg(name: &str, arg: &Arg) -> Result<usize, ResolveError> {
    if !matches!(arg.ty, Some(SqlType::Int | SqlType::Bigint)) {
        return Err(ResolveError::NoMatch);
    }
    match arg.constant.as_ref().and_then(Value::as_i64) {
        Some(k) if k > 0 => Ok(k as usize),
        Some(_) => Err(ResolveError::Message(format!(
            "{name} requires a positive value for k"
        ))),
        None => Err(ResolveError::Message(format!(
            "Parameter k of {name} must be a constant"
        ))),
    }
}

/// Inserts `v` into `list` (greatest first) after every item whose sort
/// key is not smaller, keeping at most `k` items.
fn insert(list: &mut Vec<Value>, v: Value, k: usize, key: fn(&Value) -> &Value) {
    let pos = list
        .iter()
        .position(|x| natural_cmp(key(&v), key(x)) == Ordering::Greater)
        .unwrap_or(list.len());
    if pos < k {
        list.insert(pos, v);
        list.truncate(k);
    }
}

/// Two top-k states as one: `b`'s items put into `a` by `put`.
fn merged(a: Value, b: Value, mut put: impl FnMut(&mut Vec<Value>, Value)) -> Value {
    let mut list = items(a);
    for v in items(b) {
        put(&mut list, v);
    }
    Value::Array(list)
}

fn itself(v: &Value) -> &Value {
    v
}

fn sort_col(v: &Value) -> &Value {
    v.field("sort_col").unwrap_or(&Value::Null)
}

pub struct TopK;

impl AggregateFunction for TopK {
    fn name(&self) -> &'static str {
        "TOPK"
    }

    fn description(&self) -> &'static str {
        "Calculates the Top K values for a column, per key."
    }

    fn signatures(&self) -> Vec<String> {
        vec![
            "TOPK(val T, k INT) => ARRAY<T>".into(),
            "TOPK(val T, other1 T1, ..., k INT) => ARRAY<STRUCT<sort_col T, col0 T1, ...>>".into(),
        ]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let [first, middle @ .., last] = args else {
            return Err(ResolveError::NoMatch);
        };
        let sort_type = first.ty.clone().ok_or(ResolveError::NoMatch)?;
        if !is_comparable(&sort_type) {
            return Err(ResolveError::NoMatch);
        }
        let k = k_arg("TOPK", last)?;
        if middle.is_empty() {
            let t = SqlType::array(sort_type);
            return Ok(ResolvedAggregate::new(
                t.clone(),
                t,
                vec![0],
                || Value::Array(Vec::new()),
                move |args, s| {
                    let mut list = items(s);
                    if !args[0].is_null() {
                        insert(&mut list, args[0].clone(), k, itself);
                    }
                    Ok(Value::Array(list))
                },
                move |a, b| Ok(merged(a, b, |l, v| insert(l, v, k, itself))),
                |s| s.clone(),
            ));
        }
        let mut fields = vec![("sort_col".to_string(), sort_type)];
        for (i, a) in middle.iter().enumerate() {
            let t = a.ty.clone().ok_or(ResolveError::NoMatch)?;
            fields.push((format!("col{i}"), t));
        }
        let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
        let field_refs: Vec<(&str, SqlType)> = fields
            .iter()
            .map(|(n, t)| (n.as_str(), t.clone()))
            .collect();
        let t = SqlType::array(struct_type(&field_refs));
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            (0..args.len() - 1).collect(),
            || Value::Array(Vec::new()),
            move |args, s| {
                let mut list = items(s);
                if !args[0].is_null() {
                    let row = struct_value(
                        names
                            .iter()
                            .map(String::as_str)
                            .zip(args.iter().cloned())
                            .collect(),
                    );
                    insert(&mut list, row, k, sort_col);
                }
                Ok(Value::Array(list))
            },
            move |a, b| Ok(merged(a, b, |l, v| insert(l, v, k, sort_col))),
            |s| s.clone(),
        ))
    }
}

pub struct TopKDistinct;

fn insert_distinct(list: &mut Vec<Value>, v: Value, k: usize) {
    if !list.iter().any(|x| java_eq(x, &v)) {
        insert(list, v, k, itself);
    }
}

impl AggregateFunction for TopKDistinct {
    fn name(&self) -> &'static str {
        "TOPKDISTINCT"
    }

    fn description(&self) -> &'static str {
        "Calculates the Top k distinct values for a column, per key."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["TOPKDISTINCT(val T, k INT) => ARRAY<T>".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let [col, k] = args else {
            return Err(ResolveError::NoMatch);
        };
        let sort_type = col.ty.clone().ok_or(ResolveError::NoMatch)?;
        if !is_comparable(&sort_type) {
            return Err(ResolveError::NoMatch);
        }
        let k = k_arg("TOPKDISTINCT", k)?;
        let t = SqlType::array(sort_type);
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            vec![0],
            || Value::Array(Vec::new()),
            move |args, s| {
                let mut list = items(s);
                if !args[0].is_null() {
                    insert_distinct(&mut list, args[0].clone(), k);
                }
                Ok(Value::Array(list))
            },
            move |a, b| Ok(merged(a, b, |l, v| insert_distinct(l, v, k))),
            |s| s.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    fn ints(v: &[i32]) -> Value {
        Value::Array(v.iter().map(|i| Value::Int(*i)).collect())
    }

    fn k(n: i32) -> Arg {
        Arg::constant(SqlType::Int, Value::Int(n))
    }

    #[test]
    fn topk_keeps_the_k_greatest() {
        // topk-group-by.json, "topk integer".
        let f = TopK.resolve(&[Arg::typed(SqlType::Int), k(3)]).unwrap();
        assert_eq!(f.returns, SqlType::array(SqlType::Int));
        assert_eq!(f.row_args, vec![0]);
        assert!(f.undo.is_none());
        let rows: Vec<[Value; 1]> = [0, 100, 99, 7, 100].map(|i| [Value::Int(i)]).into();
        let mut s = (f.init)();
        let mut seen = Vec::new();
        for r in &rows {
            s = (f.aggregate)(r, s).unwrap();
            seen.push((f.map)(&s));
        }
        assert_eq!(seen[3], ints(&[100, 99, 7]));
        assert_eq!(seen[4], ints(&[100, 100, 99]));
        let s = (f.aggregate)(&[Value::Null], s).unwrap();
        assert_eq!(
            (f.merge)(s, ints(&[101, 1])).unwrap(),
            ints(&[101, 100, 100])
        );
    }

    #[test]
    fn topk_with_other_columns_builds_structs() {
        let f = TopK
            .resolve(&[Arg::typed(SqlType::Int), Arg::typed(SqlType::String), k(3)])
            .unwrap();
        assert_eq!(f.row_args, vec![0, 1]);
        let row = |v: Value, n: Option<&str>| {
            struct_value(vec![
                ("sort_col", v),
                ("col0", n.map_or(Value::Null, Value::string)),
            ])
        };
        let s = fold(
            &f,
            &[
                &[Value::Int(0), Value::string("zero")],
                &[Value::Int(100), Value::string("one")],
                &[Value::Int(99), Value::string("two")],
                &[Value::Null, Value::string("three")],
                &[Value::Int(100), Value::Null],
            ],
        );
        assert_eq!(
            s,
            Value::Array(vec![
                row(Value::Int(100), Some("one")),
                row(Value::Int(100), None),
                row(Value::Int(99), Some("two")),
            ])
        );
        assert_eq!(
            f.returns,
            SqlType::array(struct_type(&[
                ("sort_col", SqlType::Int),
                ("col0", SqlType::String)
            ]))
        );
    }

    #[test]
    fn k_must_be_a_positive_constant() {
        assert!(matches!(
            TopK.resolve(&[Arg::typed(SqlType::Int), Arg::typed(SqlType::Int)]),
            Err(ResolveError::Message(_))
        ));
        assert!(matches!(
            TopK.resolve(&[Arg::typed(SqlType::Int), k(0)]),
            Err(ResolveError::Message(_))
        ));
        assert_eq!(
            TopK.resolve(&[Arg::typed(SqlType::Int)]).err(),
            Some(ResolveError::NoMatch)
        );
    }

    #[test]
    fn topkdistinct_skips_repeats() {
        let f = TopKDistinct
            .resolve(&[Arg::typed(SqlType::Int), k(3)])
            .unwrap();
        let s = fold(
            &f,
            &[
                &[Value::Int(0)],
                &[Value::Int(100)],
                &[Value::Int(99)],
                &[Value::Int(7)],
                &[Value::Int(100)],
            ],
        );
        assert_eq!(s, ints(&[100, 99, 7]));
        assert_eq!((f.merge)(s, ints(&[100, 8])).unwrap(), ints(&[100, 99, 8]));
    }
}
