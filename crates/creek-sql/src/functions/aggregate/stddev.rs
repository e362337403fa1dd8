//! STDDEV_SAMPLE and STDDEV_SAMP over INT, BIGINT and DOUBLE (DECIMAL
//! widens to DOUBLE), by the Youngs-Cramer update on a
//! `STRUCT<SUM T, COUNT, M2 DOUBLE>` state. Both can take rows back out.
//!
//! ksqlDB's STDDEV_SAMP returns the sample *variance* (its QTT cases pin
//! this: 0 and 10 give 50.0) and keeps an INT count with integer
//! arithmetic in places; STDDEV_SAMPLE is the corrected square root. Both
//! are reproduced, Java's wrapping integer arithmetic included. ksqlDB has
//! no STDDEV_POP; creek adds it (the population standard deviation, over the
//! same state) because users coming from SQL expect it beside STDDEV_SAMP.

use super::util::{get_f64, get_i64, one_arg, struct_type, struct_value};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::types::SqlType;
use crate::value::Value;

pub struct StdDev {
    name: &'static str,
    /// STDDEV_SAMP's legacy behaviour: INT count, variance result.
    legacy: bool,
    /// Divide by the count, not the count less one.
    population: bool,
}

impl StdDev {
    pub const SAMP: StdDev = StdDev {
        name: "STDDEV_SAMP",
        legacy: true,
        population: false,
    };
    pub const SAMPLE: StdDev = StdDev {
        name: "STDDEV_SAMPLE",
        legacy: false,
        population: false,
    };
    pub const POP: StdDev = StdDev {
        name: "STDDEV_POP",
        legacy: false,
        population: true,
    };
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Int,
    Long,
    Double,
}

#[derive(Clone, Copy)]
struct Calc {
    kind: Kind,
    legacy: bool,
    population: bool,
}

/// A state's fields, the sum kept in the widest of its kinds.
struct State {
    sum_i: i64,
    sum_d: f64,
    count: i64,
    m2: f64,
}

impl Calc {
    fn read(&self, s: &Value) -> State {
        State {
            sum_i: get_i64(s, "SUM"),
            sum_d: get_f64(s, "SUM"),
            count: get_i64(s, "COUNT"),
            m2: get_f64(s, "M2"),
        }
    }

    fn write(&self, sum_i: i64, sum_d: f64, count: i64, m2: f64) -> Value {
        let sum = match self.kind {
            Kind::Int => Value::Int(sum_i as i32),
            Kind::Long => Value::Bigint(sum_i),
            Kind::Double => Value::Double(sum_d),
        };
        let count = if self.legacy {
            Value::Int(count as i32)
        } else {
            Value::Bigint(count)
        };
        struct_value(vec![
            ("SUM", sum),
            ("COUNT", count),
            ("M2", Value::Double(m2)),
        ])
    }

    /// Java's `count * other` in the count's type (INT when legacy).
    fn count_mul(&self, a: i64, b: i64) -> f64 {
        if self.legacy {
            (a as i32).wrapping_mul(b as i32) as f64
        } else {
            a.wrapping_mul(b) as f64
        }
    }

    /// `newValue * (COUNT + 1) - (SUM + newValue)` in ksqlDB's types.
    fn delta(&self, s: &State, v: &Value) -> f64 {
        match self.kind {
            Kind::Int => {
                let (x, sum) = (v.as_i64().unwrap_or(0) as i32, s.sum_i as i32);
                if self.legacy {
                    x.wrapping_mul(s.count as i32 + 1)
                        .wrapping_sub(sum.wrapping_add(x)) as f64
                } else {
                    (x as i64)
                        .wrapping_mul(s.count + 1)
                        .wrapping_sub(sum.wrapping_add(x) as i64) as f64
                }
            }
            Kind::Long => {
                let x = v.as_i64().unwrap_or(0);
                x.wrapping_mul(s.count + 1)
                    .wrapping_sub(s.sum_i.wrapping_add(x)) as f64
            }
            Kind::Double => {
                let x = v.as_f64().unwrap_or(0.0);
                x * (s.count + 1) as f64 - (s.sum_d + x)
            }
        }
    }

    fn add_sum(&self, s: &State, v: &Value, sign: i64) -> (i64, f64) {
        match self.kind {
            Kind::Int => {
                let x = v.as_i64().unwrap_or(0) as i32;
                let sum = s.sum_i as i32;
                let r = if sign > 0 {
                    sum.wrapping_add(x)
                } else {
                    sum.wrapping_sub(x)
                };
                (r as i64, 0.0)
            }
            Kind::Long => {
                let x = v.as_i64().unwrap_or(0);
                let r = if sign > 0 {
                    s.sum_i.wrapping_add(x)
                } else {
                    s.sum_i.wrapping_sub(x)
                };
                (r, 0.0)
            }
            Kind::Double => {
                let x = v.as_f64().unwrap_or(0.0);
                (0, if sign > 0 { s.sum_d + x } else { s.sum_d - x })
            }
        }
    }

    fn aggregate(&self, v: &Value, state: Value) -> Value {
        if v.is_null() {
            return state;
        }
        let s = self.read(&state);
        let count = s.count + 1;
        let m2 = if count - 1 > 0 {
            let d = self.delta(&s, v);
            d * d / self.count_mul(count, count - 1)
        } else {
            0.0
        };
        let (si, sd) = self.add_sum(&s, v, 1);
        self.write(si, sd, count, m2 + s.m2)
    }

    fn undo(&self, v: &Value, state: Value) -> Value {
        if v.is_null() {
            return state;
        }
        let s = self.read(&state);
        let count = s.count - 1;
        let m2 = if count > 0 {
            let d = self.delta(&s, v);
            d * d / self.count_mul(count, count + 1)
        } else {
            0.0
        };
        let (si, sd) = self.add_sum(&s, v, -1);
        self.write(si, sd, count, s.m2 - m2)
    }

    fn merge(&self, a: &Value, b: &Value) -> Value {
        let (x, y) = (self.read(a), self.read(b));
        let count = x.count + y.count;
        let m2 = if x.count == 0 || y.count == 0 {
            x.m2 + y.m2
        } else {
            let inner = match (self.kind, self.legacy) {
                // Integer division, as ksqlDB's STDDEV_SAMP does.
                (Kind::Int, true) => {
                    let q = |s: &State| (s.sum_i as i32).wrapping_div(s.count as i32);
                    q(&x).wrapping_sub(q(&y)) as f64
                }
                (Kind::Long, true) => {
                    let q = |s: &State| s.sum_i.wrapping_div(s.count);
                    q(&x).wrapping_sub(q(&y)) as f64
                }
                (Kind::Double, _) => x.sum_d / x.count as f64 - y.sum_d / y.count as f64,
                _ => x.sum_i as f64 / x.count as f64 - y.sum_i as f64 / y.count as f64,
            };
            x.m2 + y.m2 + self.count_mul(x.count, y.count) * inner * inner / count as f64
        };
        let (si, sd) = match self.kind {
            Kind::Int => ((x.sum_i as i32).wrapping_add(y.sum_i as i32) as i64, 0.0),
            Kind::Long => (x.sum_i.wrapping_add(y.sum_i), 0.0),
            Kind::Double => (0, x.sum_d + y.sum_d),
        };
        self.write(si, sd, count, m2)
    }

    fn map(&self, s: &Value) -> Value {
        let count = get_i64(s, "COUNT");
        if self.population {
            if count < 1 {
                return Value::Double(0.0);
            }
            return Value::Double((get_f64(s, "M2") / count as f64).sqrt());
        }
        if count < 2 {
            return Value::Double(0.0);
        }
        let variance = get_f64(s, "M2") / (count - 1) as f64;
        Value::Double(if self.legacy {
            variance
        } else {
            variance.sqrt()
        })
    }
}

impl AggregateFunction for StdDev {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        if self.population {
            "Returns the population standard deviation of the column. Applicable only to numeric types."
        } else {
            "Returns the sample standard deviation of the column. Applicable only to numeric types."
        }
    }

    fn signatures(&self) -> Vec<String> {
        ["INT", "BIGINT", "DOUBLE"]
            .iter()
            .map(|t| format!("{}(val {t}) => DOUBLE", self.name))
            .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let (kind, sum_type) = match one_arg(args)? {
            SqlType::Int => (Kind::Int, SqlType::Int),
            SqlType::Bigint => (Kind::Long, SqlType::Bigint),
            SqlType::Double | SqlType::Decimal { .. } => (Kind::Double, SqlType::Double),
            _ => return Err(ResolveError::NoMatch),
        };
        let count_type = if self.legacy {
            SqlType::Int
        } else {
            SqlType::Bigint
        };
        let c = Calc {
            kind,
            legacy: self.legacy,
            population: self.population,
        };
        Ok(ResolvedAggregate::new(
            SqlType::Double,
            struct_type(&[
                ("SUM", sum_type),
                ("COUNT", count_type),
                ("M2", SqlType::Double),
            ]),
            vec![0],
            move || c.write(0, 0.0, 0, 0.0),
            move |args, s| Ok(c.aggregate(&args[0], s)),
            move |a, b| Ok(c.merge(&a, &b)),
            move |s| c.map(s),
        )
        .with_undo(move |args, s| Ok(c.undo(&args[0], s))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(f: &StdDev, t: SqlType, rows: &[Value]) -> Vec<f64> {
        let r = f.resolve(&[Arg::typed(t)]).unwrap();
        let mut s = (r.init)();
        rows.iter()
            .map(|v| {
                s = (r.aggregate)(std::slice::from_ref(v), s.clone()).unwrap();
                (r.map)(&s).as_f64().unwrap()
            })
            .collect()
    }

    #[test]
    fn stddev_pop_divides_by_the_count() {
        let rows = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0].map(Value::Double);
        let last = *outputs(&StdDev::POP, SqlType::Double, &rows)
            .last()
            .unwrap();
        assert!((last - 2.0).abs() < 1e-12, "{last}");
        let rows = [1, 3].map(Value::Int);
        assert_eq!(outputs(&StdDev::POP, SqlType::Int, &rows), vec![0.0, 1.0]);
    }

    #[test]
    fn stddev_sample_matches_ksqldb() {
        // standarddeviation.json, "stddev_sample int", key 0.
        let rows = [0, 10, 7, 6].map(Value::Int);
        assert_eq!(
            outputs(&StdDev::SAMPLE, SqlType::Int, &rows),
            vec![
                0.0,
                7.0710678118654755,
                5.131601439446884,
                4.193248541803041
            ]
        );
        // "stddev_sample long", key 0 (with a trailing NULL).
        let rows = [
            Value::Bigint(2147483648),
            Value::Bigint(100),
            Value::Bigint(-2),
            Value::Null,
        ];
        assert_eq!(
            outputs(&StdDev::SAMPLE, SqlType::Bigint, &rows),
            vec![
                0.0,
                1518500179.2773468,
                1239850233.9629574,
                1239850233.9629574
            ]
        );
    }

    #[test]
    fn stddev_samp_is_the_variance() {
        // standarddeviation.json, "stddev_samp int" and "... double map".
        let rows = [0, 10, 7, 6].map(Value::Int);
        assert_eq!(
            outputs(&StdDev::SAMP, SqlType::Int, &rows),
            vec![0.0, 50.0, 26.333333333333332, 17.583333333333332]
        );
        let rows = [10.0, 12.0, 13.0, 14.0, 16.0].map(Value::Double);
        assert_eq!(
            outputs(&StdDev::SAMP, SqlType::Double, &rows),
            vec![0.0, 2.0, 2.333333333333333, 2.9166666666666665, 5.0]
        );
    }

    #[test]
    fn undo_and_merge() {
        let r = StdDev::SAMPLE
            .resolve(&[Arg::typed(SqlType::Double)])
            .unwrap();
        let fold = |vals: &[f64]| {
            vals.iter().fold((r.init)(), |s, v| {
                (r.aggregate)(&[Value::Double(*v)], s).unwrap()
            })
        };
        let all = fold(&[1.0, 2.0, 4.0, 8.0]);
        let merged = (r.merge)(fold(&[1.0, 2.0]), fold(&[4.0, 8.0])).unwrap();
        let (a, b) = (
            (r.map)(&all).as_f64().unwrap(),
            (r.map)(&merged).as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-12);
        let undone = (r.undo.as_ref().unwrap())(&[Value::Double(8.0)], all).unwrap();
        let expect = (r.map)(&fold(&[1.0, 2.0, 4.0])).as_f64().unwrap();
        assert!(((r.map)(&undone).as_f64().unwrap() - expect).abs() < 1e-9);
        assert_eq!(get_i64(&undone, "COUNT"), 3);
    }
}
