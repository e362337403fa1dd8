//! CORRELATION(x, y): the Pearson correlation coefficient of two numeric
//! columns (as DOUBLE), from running sums, single pass. Rows where either
//! value is NULL are ignored; fewer than two rows give NaN (0/0), as in
//! ksqlDB. It can take rows back out.

use super::util::{get_f64, get_i64, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct Correlation;

const SUMS: [&str; 5] = ["X_SUM", "Y_SUM", "X_SQUARED_SUM", "Y_SQUARED_SUM", "XY_SUM"];

fn state(sums: [f64; 5], count: i64) -> Value {
    let mut fields: Vec<(&str, Value)> = SUMS
        .iter()
        .zip(sums)
        .map(|(n, v)| (*n, Value::Double(v)))
        .collect();
    fields.push(("COUNT", Value::Bigint(count)));
    struct_value(fields)
}

fn sums(s: &Value) -> [f64; 5] {
    SUMS.map(|n| get_f64(s, n))
}

/// Adds (or with `sign` -1 removes) one (x, y) pair.
fn step(args: &[Value], s: Value, sign: f64) -> Result<Value, String> {
    let (Some(x), Some(y)) = (args[0].as_f64(), args[1].as_f64()) else {
        return Ok(s);
    };
    let [sx, sy, sxx, syy, sxy] = sums(&s);
    Ok(state(
        [
            sx + sign * x,
            sy + sign * y,
            sxx + sign * (x * x),
            syy + sign * (y * y),
            sxy + sign * (x * y),
        ],
        get_i64(&s, "COUNT") + sign as i64,
    ))
}

impl AggregateFunction for Correlation {
    fn name(&self) -> &'static str {
        "CORRELATION"
    }

    fn description(&self) -> &'static str {
        "Computes the Pearson correlation coefficient between two columns of data."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["CORRELATION(x DOUBLE, y DOUBLE) => DOUBLE".into()]
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let numeric = |a: &Arg| a.ty.as_ref().is_some_and(SqlType::is_numeric);
        if args.len() != 2 || !args.iter().all(numeric) {
            return Err(ResolveError::NoMatch);
        }
        let mut fields: Vec<(&str, SqlType)> = SUMS.iter().map(|n| (*n, SqlType::Double)).collect();
        fields.push(("COUNT", SqlType::Bigint));
        Ok(ResolvedAggregate::new(
            SqlType::Double,
            struct_type(&fields),
            vec![0, 1],
            || state([0.0; 5], 0),
            |args, s| step(args, s, 1.0),
            |a, b| {
                let (x, y) = (sums(&a), sums(&b));
                let mut out = [0.0; 5];
                for i in 0..5 {
                    out[i] = x[i] + y[i];
                }
                Ok(state(out, get_i64(&a, "COUNT") + get_i64(&b, "COUNT")))
            },
            |s| {
                let [sx, sy, sxx, syy, sxy] = sums(s);
                let n = get_i64(s, "COUNT") as f64;
                let numerator = n * sxy - sx * sy;
                let denominator = ((n * sxx - sx * sx) * (n * syy - sy * sy)).sqrt();
                Value::Double(numerator / denominator)
            },
        )
        .with_undo(|args, s| step(args, s, -1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_ksqldb_and_ignores_nulls() {
        // correlation-udaf.json, "correlation double", alice.
        let f = Correlation
            .resolve(&[Arg::typed(SqlType::Double), Arg::typed(SqlType::Double)])
            .unwrap();
        assert_eq!(f.returns, SqlType::Double);
        let rows = [(1.5, 8.0), (-1.0, -2.0), (-4.5, -1.0)];
        let mut s = (f.init)();
        let mut out = Vec::new();
        for (x, y) in rows {
            s = (f.aggregate)(&[Value::Double(x), Value::Double(y)], s).unwrap();
            out.push((f.map)(&s).as_f64().unwrap());
        }
        assert!(out[0].is_nan());
        assert_eq!(out[1], 1.0);
        assert_eq!(out[2], 0.7580764521133173);
        let s = (f.aggregate)(&[Value::Null, Value::Double(-6.0)], s).unwrap();
        assert_eq!((f.map)(&s), Value::Double(0.7580764521133173));
        let undo = f.undo.as_ref().unwrap();
        let s = undo(&[Value::Double(-4.5), Value::Double(-1.0)], s).unwrap();
        assert_eq!(get_i64(&s, "COUNT"), 2);
        let m = (f.merge)(s.clone(), s).unwrap();
        assert_eq!(get_i64(&m, "COUNT"), 4);

        // "correlation int" widens to DOUBLE.
        let f = Correlation
            .resolve(&[Arg::typed(SqlType::Int), Arg::typed(SqlType::Int)])
            .unwrap();
        let s = [(1, 8), (-1, -2), (-4, -1)]
            .iter()
            .fold((f.init)(), |s, (x, y)| {
                (f.aggregate)(&[Value::Int(*x), Value::Int(*y)], s).unwrap()
            });
        assert_eq!((f.map)(&s), Value::Double(0.7455284088780169));
        assert!(Correlation.resolve(&[Arg::typed(SqlType::Double)]).is_err());
    }
}
