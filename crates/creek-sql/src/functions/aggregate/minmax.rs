//! MIN and MAX over comparable primitive types (numbers, STRING, BYTES,
//! DATE, TIME, TIMESTAMP). NULLs are ignored; an all-NULL group is NULL.
//! ksqlDB cannot take a row back out of either, so neither has undo.

use std::cmp::Ordering;

use super::util::{is_comparable, natural_cmp, one_arg};
use super::{AggregateFunction, ResolvedAggregate};
use crate::functions::{Arg, ResolveError};
use crate::value::Value;

pub struct MinMax {
    name: &'static str,
    /// The ordering a new value must have against the kept one to replace it.
    wins: Ordering,
}

impl MinMax {
    pub const MIN: MinMax = MinMax {
        name: "MIN",
        wins: Ordering::Less,
    };
    pub const MAX: MinMax = MinMax {
        name: "MAX",
        wins: Ordering::Greater,
    };
}

fn pick(a: Value, b: Value, wins: Ordering) -> Value {
    match (&a, &b) {
        (Value::Null, _) => b,
        (_, Value::Null) => a,
        _ if natural_cmp(&b, &a) == wins => b,
        _ => a,
    }
}

impl AggregateFunction for MinMax {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        if self.wins == Ordering::Less {
            "Computes the minimum value for a key."
        } else {
            "Computes the maximum value for a key."
        }
    }

    fn signatures(&self) -> Vec<String> {
        [
            "INT",
            "BIGINT",
            "DOUBLE",
            "DECIMAL",
            "STRING",
            "BYTES",
            "DATE",
            "TIME",
            "TIMESTAMP",
        ]
        .iter()
        .map(|t| format!("{}(val {t}) => {t}", self.name))
        .collect()
    }

    fn resolve(&self, args: &[Arg]) -> Result<ResolvedAggregate, ResolveError> {
        let t = one_arg(args)?.clone();
        if !is_comparable(&t) {
            return Err(ResolveError::NoMatch);
        }
        let wins = self.wins;
        Ok(ResolvedAggregate::new(
            t.clone(),
            t,
            vec![0],
            || Value::Null,
            move |args, s| Ok(pick(s, args[0].clone(), wins)),
            move |a, b| Ok(pick(a, b, wins)),
            |s| s.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::util::fold;
    use super::*;
    use crate::types::SqlType;

    #[test]
    fn keeps_the_extreme_non_null_value() {
        let f = MinMax::MIN.resolve(&[Arg::typed(SqlType::Int)]).unwrap();
        assert_eq!(f.returns, SqlType::Int);
        assert!(f.undo.is_none());
        assert_eq!(fold(&f, &[&[Value::Null]]), Value::Null);
        let s = fold(&f, &[&[Value::Int(5)], &[Value::Null], &[Value::Int(-3)]]);
        assert_eq!((f.map)(&s), Value::Int(-3));
        assert_eq!((f.merge)(s, Value::Int(-7)).unwrap(), Value::Int(-7));

        let f = MinMax::MAX.resolve(&[Arg::typed(SqlType::String)]).unwrap();
        let s = fold(&f, &[&[Value::string("b")], &[Value::string("abc")]]);
        assert_eq!(s, Value::string("b"));
        assert_eq!((f.merge)(Value::Null, s.clone()).unwrap(), s);

        let f = MinMax::MAX.resolve(&[Arg::typed(SqlType::Double)]).unwrap();
        let s = fold(&f, &[&[Value::Double(5.1)], &[Value::Double(f64::MAX)]]);
        assert_eq!(s, Value::Double(f64::MAX));
        assert_eq!(
            MinMax::MIN.resolve(&[Arg::typed(SqlType::Boolean)]).err(),
            Some(ResolveError::NoMatch)
        );
        assert!(MinMax::MIN
            .resolve(&[Arg::typed(SqlType::array(SqlType::Int))])
            .is_err());
    }
}
