//! EARLIEST_BY_OFFSET and LATEST_BY_OFFSET: the first or last value of a
//! column in arrival order, or the first/last `n` as an array.
//!
//! Calls: `(col)`, `(col, ignoreNulls)`, `(col, n)`, `(col, n, ignoreNulls)`;
//! `n` and `ignoreNulls` are constants and NULLs are ignored by default. As
//! in ksqlDB, each kept value is stamped with a process-wide sequence
//! number (`STRUCT<SEQ BIGINT, VAL T>`) so merged session windows can tell
//! which came first. Neither function can take a row back out.
//!
//! Merging session windows keeps the earliest `n` stamped values for both
//! functions: ksqlDB's LATEST n merge does the same (sort, then first n).

use std::cmp::Ordering;
use std::sync::atomic::{AtomicI64, Ordering as AtomicOrdering};

use super::util::{get, get_i64, items, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

static EARLIEST_SEQUENCE: AtomicI64 = AtomicI64::new(0);
static LATEST_SEQUENCE: AtomicI64 = AtomicI64::new(0);

pub struct ByOffset {
    name: &'static str,
    latest: bool,
}

impl ByOffset {
    pub const EARLIEST: ByOffset = ByOffset {
        name: "EARLIEST_BY_OFFSET",
        latest: false,
    };
    pub const LATEST: ByOffset = ByOffset {
        name: "LATEST_BY_OFFSET",
        latest: true,
    };
}

/// Order of two stamped values by sequence; a negative sequence against a
/// non-negative one is taken to have wrapped around, so it is later.
fn seq_cmp(a: &Value, b: &Value) -> Ordering {
    let (x, y) = (get_i64(a, "SEQ"), get_i64(b, "SEQ"));
    match (x < 0, y < 0) {
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => x.cmp(&y),
    }
}

/// Which of two stamped values is later; with `ignore_nulls`, one holding
/// a value beats one holding NULL whatever their order.
fn later_cmp(a: &Value, b: &Value, ignore_nulls: bool) -> Ordering {
    if ignore_nulls {
        match (get(a, "VAL").is_null(), get(b, "VAL").is_null()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
    }
    seq_cmp(a, b)
}

impl AggregateFunction for ByOffset {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        if self.latest {
            "This function returns the most recent N values for the column, computed by offset."
        } else {
            "This function returns the oldest N values for the column, computed by offset."
        }
    }

    fn signatures(&self) -> Vec<String> {
        let n = self.name;
        vec![
            format!("{n}(val T) => T"),
            format!("{n}(val T, ignoreNulls BOOLEAN) => T"),
            format!("{n}(val T, n INT) => ARRAY<T>"),
            format!("{n}(val T, n INT, ignoreNulls BOOLEAN) => ARRAY<T>"),
        ]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let (col, n, ignore) = match args {
            [c] => (c, None, None),
            [c, b] if b.ty == Some(SqlType::Boolean) => (c, None, Some(b)),
            [c, n] => (c, Some(n), None),
            [c, n, b] => (c, Some(n), Some(b)),
            _ => return Err(ResolveError::NoMatch),
        };
        let t = col.ty.clone().ok_or(ResolveError::NoMatch)?;
        let ignore_nulls = match ignore {
            None => true,
            Some(Arg {
                ty: Some(SqlType::Boolean),
                constant: Some(Value::Boolean(b)),
            }) => *b,
            Some(Arg {
                ty: Some(SqlType::Boolean),
                ..
            }) => {
                return Err(ResolveError::Message(format!(
                    "Parameter ignoreNulls of {} must be a constant",
                    self.name
                )))
            }
            Some(_) => return Err(ResolveError::NoMatch),
        };
        let n = match n {
            None => None,
            Some(arg) if arg.ty == Some(SqlType::Int) => match &arg.constant {
                Some(Value::Int(n)) if *n > 0 => Some(*n as usize),
                Some(Value::Int(_)) => {
                    let which = if self.latest { "latestN" } else { "earliestN" };
                    return Err(ResolveError::Message(format!(
                        "{which} must be 1 or greater"
                    )));
                }
                _ => {
                    return Err(ResolveError::Message(format!(
                        "Parameter n of {} must be a constant",
                        self.name
                    )))
                }
            },
            Some(_) => return Err(ResolveError::NoMatch),
        };
        let stamped = struct_type(&[("SEQ", SqlType::Bigint), ("VAL", t.clone())]);
        let sequence = if self.latest {
            &LATEST_SEQUENCE
        } else {
            &EARLIEST_SEQUENCE
        };
        let stamp = move |v: Value| {
            let seq = sequence.fetch_add(1, AtomicOrdering::Relaxed);
            struct_value(vec![("SEQ", Value::Bigint(seq)), ("VAL", v)])
        };
        let latest = self.latest;
        Ok(match n {
            None => ResolvedAggregate::new(
                t,
                stamped,
                vec![0],
                // ksqlDB starts LATEST from a stamped NULL (so a NULL-only
                // group still orders against others) and EARLIEST from NULL.
                move || {
                    if latest {
                        stamp(Value::Null)
                    } else {
                        Value::Null
                    }
                },
                move |args, s| {
                    let v = &args[0];
                    if (v.is_null() && ignore_nulls) || (!latest && !s.is_null()) {
                        return Ok(s);
                    }
                    Ok(stamp(v.clone()))
                },
                move |a, b| {
                    Ok(match (a.is_null(), b.is_null()) {
                        (true, _) => b,
                        (_, true) => a,
                        _ if latest => {
                            if later_cmp(&a, &b, ignore_nulls) != Ordering::Less {
                                a
                            } else {
                                b
                            }
                        }
                        _ if seq_cmp(&a, &b) == Ordering::Less => a,
                        _ => b,
                    })
                },
                |s| get(s, "VAL").clone(),
            ),
            Some(n) => ResolvedAggregate::new(
                SqlType::array(t),
                SqlType::array(stamped),
                vec![0],
                || Value::Array(Vec::new()),
                move |args, s| {
                    let v = &args[0];
                    let mut list = items(s);
                    if v.is_null() && ignore_nulls {
                        return Ok(Value::Array(list));
                    }
                    if latest {
                        list.push(stamp(v.clone()));
                        if list.len() > n {
                            list.drain(..list.len() - n);
                        }
                    } else if list.len() < n {
                        list.push(stamp(v.clone()));
                    }
                    Ok(Value::Array(list))
                },
                move |a, b| {
                    let mut list = items(a);
                    list.extend(items(b));
                    list.sort_by(seq_cmp);
                    // ksqlDB keeps the first n of the merged values for
                    // LATEST too (its latestTN merge), so this does as well.
                    list.truncate(n);
                    Ok(Value::Array(list))
                },
                |s| match s {
                    Value::Array(list) => {
                        Value::Array(list.iter().map(|x| get(x, "VAL").clone()).collect())
                    }
                    _ => Value::Array(Vec::new()),
                },
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    fn run(f: &ByOffset, args: &[Arg], rows: &[Value]) -> Value {
        let r = f.resolve(args).unwrap();
        let rows: Vec<[Value; 1]> = rows.iter().map(|v| [v.clone()]).collect();
        let refs: Vec<&[Value]> = rows.iter().map(|r| &r[..]).collect();
        (r.map)(&fold(&r, &refs))
    }

    fn col() -> Arg {
        Arg::typed(SqlType::Int)
    }

    fn n(n: i32) -> Arg {
        Arg::constant(SqlType::Int, Value::Int(n))
    }

    fn nulls(b: bool) -> Arg {
        Arg::constant(SqlType::Boolean, Value::Boolean(b))
    }

    #[test]
    fn single_values_with_and_without_nulls() {
        let (e, l) = (&ByOffset::EARLIEST, &ByOffset::LATEST);
        let rows = [Value::Null, Value::Int(13), Value::Int(14), Value::Null];
        assert_eq!(run(e, &[col()], &rows), Value::Int(13));
        assert_eq!(run(e, &[col(), nulls(false)], &rows), Value::Null);
        assert_eq!(run(l, &[col()], &rows), Value::Int(14));
        assert_eq!(run(l, &[col(), nulls(false)], &rows), Value::Null);
        assert_eq!(run(e, &[col()], &[Value::Null]), Value::Null);
        let r = e.resolve(&[col()]).unwrap();
        assert_eq!(r.returns, SqlType::Int);
        assert_eq!(
            r.state_type,
            struct_type(&[("SEQ", SqlType::Bigint), ("VAL", SqlType::Int)])
        );
        assert!(r.undo.is_none());
    }

    #[test]
    fn n_values() {
        let (e, l) = (&ByOffset::EARLIEST, &ByOffset::LATEST);
        let rows = [Value::Null, Value::Int(12), Value::Int(13), Value::Int(14)];
        let arr = |v: &[Value]| Value::Array(v.to_vec());
        assert_eq!(
            run(e, &[col(), n(2)], &rows),
            arr(&[Value::Int(12), Value::Int(13)])
        );
        assert_eq!(
            run(e, &[col(), n(2), nulls(false)], &rows),
            arr(&[Value::Null, Value::Int(12)])
        );
        assert_eq!(
            run(l, &[col(), n(2)], &rows),
            arr(&[Value::Int(13), Value::Int(14)])
        );
        assert_eq!(run(e, &[col(), n(2)], &[Value::Null]), arr(&[]));
        let r = e.resolve(&[col(), n(2)]).unwrap();
        assert_eq!(r.row_args, vec![0]);
        assert_eq!(r.returns, SqlType::array(SqlType::Int));
        assert_eq!(
            e.resolve(&[col(), n(0)]).err(),
            Some(ResolveError::Message(
                "earliestN must be 1 or greater".into()
            ))
        );
        assert!(matches!(
            e.resolve(&[col(), Arg::typed(SqlType::Int)]),
            Err(ResolveError::Message(_))
        ));
    }

    #[test]
    fn merging_sessions_follows_arrival_order() {
        // earliest-offset-udaf.json, "merging session windows - with nulls
        // not ignored": a NULL first, then 1, in two sessions.
        let e = ByOffset::EARLIEST.resolve(&[col(), nulls(false)]).unwrap();
        let first = fold(&e, &[&[Value::Null]]);
        let second = fold(&e, &[&[Value::Int(1)]]);
        let m = (e.merge)((e.init)(), first.clone()).unwrap();
        let m = (e.merge)(m, second.clone()).unwrap();
        assert_eq!((e.map)(&m), Value::Null);
        let e = ByOffset::EARLIEST.resolve(&[col(), nulls(true)]).unwrap();
        let second = fold(&e, &[&[Value::Int(1)]]);
        let m = (e.merge)(fold(&e, &[&[Value::Null]]), second).unwrap();
        assert_eq!((e.map)(&m), Value::Int(1));

        // latest-offset-udaf.json, "... - N": [1] and [NULL], then 2.
        let l = ByOffset::LATEST
            .resolve(&[col(), n(2), nulls(false)])
            .unwrap();
        let a = fold(&l, &[&[Value::Int(1)]]);
        let b = fold(&l, &[&[Value::Null]]);
        let m = (l.merge)((l.init)(), a).unwrap();
        let m = (l.merge)(m, b).unwrap();
        let m = (l.aggregate)(&[Value::Int(2)], m).unwrap();
        assert_eq!((l.map)(&m), Value::Array(vec![Value::Null, Value::Int(2)]));

        // Ignoring NULLs, a stamped value beats a later stamped NULL.
        let l = ByOffset::LATEST.resolve(&[col(), nulls(true)]).unwrap();
        let a = fold(&l, &[&[Value::Int(1)]]);
        let b = struct_value(vec![("SEQ", Value::Bigint(i64::MAX)), ("VAL", Value::Null)]);
        assert_eq!((l.map)(&(l.merge)(b, a).unwrap()), Value::Int(1));
    }
}
