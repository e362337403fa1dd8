//! SUM and AVG over INT, BIGINT, DOUBLE (and, for SUM, DECIMAL), and
//! SUM_LIST over arrays of INT, BIGINT or DOUBLE.
//!
//! All ignore NULLs and can take rows back out (ksqlDB's TableUdaf).
//! Integer sums wrap as Java's `int`/`long` do; a DECIMAL sum that no longer
//! fits its column type fails with ksqlDB's "Numeric field overflow".

use super::util::{get, get_i64, one_arg, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::{Decimal, Value};

pub struct Sum;

/// Adds (`sign` 1) or subtracts (-1) `v` to a running sum of type `t`.
fn add(t: &SqlType, sum: &Value, v: &Value, sign: i64) -> Result<Value, String> {
    Ok(match t {
        SqlType::Int => {
            let (s, x) = (
                sum.as_i64().unwrap_or(0) as i32,
                v.as_i64().unwrap_or(0) as i32,
            );
            Value::Int(if sign > 0 {
                s.wrapping_add(x)
            } else {
                s.wrapping_sub(x)
            })
        }
        SqlType::Bigint => {
            let (s, x) = (sum.as_i64().unwrap_or(0), v.as_i64().unwrap_or(0));
            Value::Bigint(if sign > 0 {
                s.wrapping_add(x)
            } else {
                s.wrapping_sub(x)
            })
        }
        SqlType::Decimal { precision, scale } => {
            let at_scale = |v: &Value| {
                v.as_decimal()
                    .and_then(|d| d.rescale(*scale))
                    .ok_or_else(|| "Numeric field overflow".to_string())
            };
            let (s, x) = (at_scale(sum)?, at_scale(v)?);
            let unscaled = if sign > 0 {
                s.unscaled.checked_add(x.unscaled)
            } else {
                s.unscaled.checked_sub(x.unscaled)
            };
            let d = unscaled
                .map(|u| Decimal::new(u, *scale))
                .filter(|d| d.fits(*precision, *scale))
                .ok_or("Numeric field overflow")?;
            Value::Decimal(d)
        }
        _ => {
            let (s, x) = (sum.as_f64().unwrap_or(0.0), v.as_f64().unwrap_or(0.0));
            Value::Double(if sign > 0 { s + x } else { s - x })
        }
    })
}

fn zero(t: &SqlType) -> Value {
    match t {
        SqlType::Int => Value::Int(0),
        SqlType::Bigint => Value::Bigint(0),
        SqlType::Decimal { scale, .. } => Value::Decimal(Decimal::new(0, *scale)),
        _ => Value::Double(0.0),
    }
}

impl AggregateFunction for Sum {
    fn name(&self) -> &'static str {
        "SUM"
    }

    fn description(&self) -> &'static str {
        "Returns the sum for a given column."
    }

    fn signatures(&self) -> Vec<String> {
        ["INT", "BIGINT", "DOUBLE", "DECIMAL"]
            .iter()
            .map(|t| format!("SUM(val {t}) => {t}"))
            .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = one_arg(args)?.clone();
        if !t.is_numeric() {
            return Err(ResolveError::NoMatch);
        }
        Ok(running_sum(t, |_, v| Ok((!v.is_null()).then(|| v.clone()))))
    }
}

/// A sum of type `t` over each row's `term` (`None` adds nothing), with undo.
fn running_sum(
    t: SqlType,
    term: fn(&SqlType, &Value) -> Result<Option<Value>, String>,
) -> ResolvedAggregate {
    let step = |sign: i64, t: SqlType| {
        move |args: &[Value], state: Value| match term(&t, &args[0])? {
            Some(v) => add(&t, &state, &v, sign),
            None => Ok(state),
        }
    };
    let (t1, t2) = (t.clone(), t.clone());
    ResolvedAggregate::new(
        t.clone(),
        t.clone(),
        vec![0],
        move || zero(&t1),
        step(1, t.clone()),
        move |a, b| add(&t2, &a, &b, 1),
        |s| s.clone(),
    )
    .with_undo(step(-1, t))
}

pub struct SumList;

impl AggregateFunction for SumList {
    fn name(&self) -> &'static str {
        "SUM_LIST"
    }

    fn description(&self) -> &'static str {
        "Returns the sum of elements contained in the list."
    }

    fn signatures(&self) -> Vec<String> {
        ["INT", "BIGINT", "DOUBLE"]
            .iter()
            .map(|t| format!("SUM_LIST(val ARRAY<{t}>) => {t}"))
            .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = match one_arg(args)? {
            SqlType::Array(e)
                if matches!(**e, SqlType::Int | SqlType::Bigint | SqlType::Double) =>
            {
                (**e).clone()
            }
            _ => return Err(ResolveError::NoMatch),
        };
        // Each list is summed on its own (NULL elements skipped) before it
        // meets the running total, as ksqlDB does.
        Ok(running_sum(t, |t, v| match v {
            Value::Array(list) => {
                let mut total = zero(t);
                for v in list.iter().filter(|v| !v.is_null()) {
                    total = add(t, &total, v, 1)?;
                }
                Ok(Some(total))
            }
            _ => Ok(None),
        }))
    }
}

pub struct Avg;

impl AggregateFunction for Avg {
    fn name(&self) -> &'static str {
        "AVG"
    }

    fn description(&self) -> &'static str {
        "Returns the average value for a given column."
    }

    fn signatures(&self) -> Vec<String> {
        ["INT", "BIGINT", "DOUBLE"]
            .iter()
            .map(|t| format!("AVG(val {t}) => DOUBLE"))
            .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        // ksqlDB has INT, BIGINT and DOUBLE versions; DECIMAL arguments
        // widen to DOUBLE.
        let sum_type = match one_arg(args)? {
            SqlType::Int => SqlType::Int,
            SqlType::Bigint => SqlType::Bigint,
            SqlType::Double | SqlType::Decimal { .. } => SqlType::Double,
            _ => return Err(ResolveError::NoMatch),
        };
        let state_type = struct_type(&[("SUM", sum_type.clone()), ("COUNT", SqlType::Bigint)]);
        let state = |sum: Value, count: i64| {
            struct_value(vec![("SUM", sum), ("COUNT", Value::Bigint(count))])
        };
        let step = move |sign: i64, t: SqlType| {
            move |args: &[Value], s: Value| match &args[0] {
                Value::Null => Ok(s),
                v => {
                    let v = v.clone().widen(&t);
                    let sum = add(&t, get(&s, "SUM"), &v, sign)?;
                    Ok(state(sum, get_i64(&s, "COUNT") + sign))
                }
            }
        };
        let (t1, t2) = (sum_type.clone(), sum_type.clone());
        Ok(ResolvedAggregate::new(
            SqlType::Double,
            state_type,
            vec![0],
            move || state(zero(&t1), 0),
            step(1, sum_type.clone()),
            move |a, b| {
                let sum = add(&t2, get(&a, "SUM"), get(&b, "SUM"), 1)?;
                Ok(state(sum, get_i64(&a, "COUNT") + get_i64(&b, "COUNT")))
            },
            |s| {
                let count = get_i64(s, "COUNT");
                if count == 0 {
                    return Value::Double(0.0);
                }
                Value::Double(get(s, "SUM").as_f64().unwrap_or(0.0) / count as f64)
            },
        )
        .with_undo(step(-1, sum_type)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(Decimal::parse(s).unwrap())
    }

    #[test]
    fn sum_keeps_the_argument_type_and_ignores_nulls() {
        let f = Sum.resolve(&[Arg::typed(SqlType::Int)]).unwrap();
        assert_eq!(f.returns, SqlType::Int);
        let s = fold(&f, &[&[Value::Int(0)], &[Value::Int(100)], &[Value::Null]]);
        assert_eq!((f.map)(&s), Value::Int(100));
        let s = (f.undo.as_ref().unwrap())(&[Value::Int(100)], s).unwrap();
        assert_eq!(s, Value::Int(0));
        assert_eq!(
            (f.merge)(Value::Int(2), Value::Int(3)).unwrap(),
            Value::Int(5)
        );
        // An all-NULL group sums to 0, as in sum.json's left join case.
        assert_eq!(fold(&f, &[&[Value::Null]]), Value::Int(0));

        let f = Sum.resolve(&[Arg::typed(SqlType::Bigint)]).unwrap();
        let s = fold(&f, &[&[Value::Bigint(2147483648)], &[Value::Bigint(100)]]);
        assert_eq!(s, Value::Bigint(2147483748));

        let f = Sum.resolve(&[Arg::typed(SqlType::Double)]).unwrap();
        let s = fold(&f, &[&[Value::Double(500.9)], &[Value::Double(300.8)]]);
        assert_eq!(s, Value::Double(801.7));
        assert_eq!(
            Sum.resolve(&[Arg::typed(SqlType::String)]).err(),
            Some(ResolveError::NoMatch)
        );
    }

    #[test]
    fn decimal_sum_overflows_its_type() {
        let t = SqlType::decimal(4, 1);
        let f = Sum.resolve(&[Arg::typed(t.clone())]).unwrap();
        assert_eq!(f.returns, t);
        let s = fold(&f, &[&[dec("500.9")], &[dec("300.8")]]);
        assert_eq!(s, dec("801.7"));
        assert_eq!(
            (f.aggregate)(&[dec("400.8")], s),
            Err("Numeric field overflow".to_string())
        );
        let f = Sum.resolve(&[Arg::typed(SqlType::decimal(6, 2))]).unwrap();
        let s = fold(&f, &[&[dec("801.70")], &[dec("400.80")]]);
        assert_eq!(s.to_owned(), dec("1202.50"));
        if let Value::Decimal(d) = s {
            assert_eq!(d.to_string(), "1202.50");
        }
    }

    #[test]
    fn sum_list_adds_each_list() {
        // sum.json, "sum list of ints into a single int".
        let f = SumList
            .resolve(&[Arg::typed(SqlType::array(SqlType::Int))])
            .unwrap();
        assert_eq!(f.returns, SqlType::Int);
        let list = |v: &[Value]| Value::Array(v.to_vec());
        let s = fold(
            &f,
            &[
                &[list(&[Value::Int(1), Value::Int(1)])],
                &[list(&[Value::Int(100), Value::Int(100), Value::Null])],
                &[Value::Null],
            ],
        );
        assert_eq!(s, Value::Int(202));
        let s = (f.undo.as_ref().unwrap())(&[list(&[Value::Int(2)])], s).unwrap();
        assert_eq!(s, Value::Int(200));
        assert!(SumList.resolve(&[Arg::typed(SqlType::Int)]).is_err());
    }

    #[test]
    fn avg_is_a_double_over_sum_and_count() {
        // average-udaf.json, "average int" and "average long".
        let f = Avg.resolve(&[Arg::typed(SqlType::Int)]).unwrap();
        assert_eq!(f.returns, SqlType::Double);
        let s = fold(&f, &[&[Value::Int(1)], &[Value::Int(2)], &[Value::Int(2)]]);
        assert_eq!((f.map)(&s), Value::Double(1.6666666666666667));
        let s = (f.aggregate)(&[Value::Null], s).unwrap();
        assert_eq!((f.map)(&s), Value::Double(1.6666666666666667));
        let s = (f.undo.as_ref().unwrap())(&[Value::Int(1)], s).unwrap();
        assert_eq!((f.map)(&s), Value::Double(2.0));
        assert_eq!((f.map)(&(f.init)()), Value::Double(0.0));

        let f = Avg.resolve(&[Arg::typed(SqlType::Bigint)]).unwrap();
        let s = fold(
            &f,
            &[
                &[Value::Bigint(-1)],
                &[Value::Bigint(i64::MAX)],
                &[Value::Bigint(1)],
            ],
        );
        assert_eq!((f.map)(&s), Value::Double(3.0744573456182584e18));
        let m = (f.merge)(s, fold(&f, &[&[Value::Bigint(5)]])).unwrap();
        assert_eq!(get_i64(&m, "COUNT"), 4);
    }
}
