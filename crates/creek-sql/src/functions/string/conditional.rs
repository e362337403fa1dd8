//! COALESCE, IFNULL, NULLIF, GREATEST and LEAST: generic over their
//! argument types.

use std::cmp::Ordering;
use std::sync::Arc;

use super::codec::{parse_date, parse_time, parse_timestamp};
use super::generic;
use crate::functions::{Arg, ResolveError, Resolved, ScalarFunction};
use crate::types::{SqlType, MAX_DECIMAL_PRECISION};
use crate::value::Value;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    vec![
        generic(
            "COALESCE",
            "CONDITIONAL",
            "Returns the first non-NULL argument; all arguments must have the same type.",
            &["COALESCE(T, T...) => T"],
            resolve_coalesce,
        ),
        generic(
            "IFNULL",
            "CONDITIONAL",
            "Returns the first argument, or the second when the first is NULL.",
            &["IFNULL(T, T) => T"],
            |args| {
                if args.len() != 2 {
                    return Err(ResolveError::NoMatch);
                }
                resolve_coalesce(args)
            },
        ),
        generic(
            "NULLIF",
            "CONDITIONAL",
            "Returns NULL when both arguments are equal, else the first argument.",
            &["NULLIF(T, T) => T"],
            resolve_nullif,
        ),
        generic(
            "GREATEST",
            "CONDITIONAL",
            "Returns the highest non-NULL argument (numbers, strings, bytes, dates, times or timestamps).",
            &[
                "GREATEST(INTEGER, INTEGER...) => INTEGER",
                "GREATEST(BIGINT, BIGINT...) => BIGINT",
                "GREATEST(DOUBLE, DOUBLE...) => DOUBLE",
                "GREATEST(DECIMAL, DECIMAL...) => DECIMAL",
                "GREATEST(STRING, STRING...) => STRING",
                "GREATEST(BYTES, BYTES...) => BYTES",
                "GREATEST(DATE, DATE...) => DATE",
                "GREATEST(TIME, TIME...) => TIME",
                "GREATEST(TIMESTAMP, TIMESTAMP...) => TIMESTAMP",
            ],
            |args| resolve_extreme(args, "greatest", Ordering::Greater),
        ),
        generic(
            "LEAST",
            "CONDITIONAL",
            "Returns the lowest non-NULL argument (numbers, strings, bytes, dates, times or timestamps).",
            &[
                "LEAST(INTEGER, INTEGER...) => INTEGER",
                "LEAST(BIGINT, BIGINT...) => BIGINT",
                "LEAST(DOUBLE, DOUBLE...) => DOUBLE",
                "LEAST(DECIMAL, DECIMAL...) => DECIMAL",
                "LEAST(STRING, STRING...) => STRING",
                "LEAST(BYTES, BYTES...) => BYTES",
                "LEAST(DATE, DATE...) => DATE",
                "LEAST(TIME, TIME...) => TIME",
                "LEAST(TIMESTAMP, TIMESTAMP...) => TIMESTAMP",
            ],
            |args| resolve_extreme(args, "least", Ordering::Less),
        ),
    ]
}

/// The smallest DECIMAL holding both decimal-compatible types.
fn decimal_union(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    let (p1, s1) = a.as_decimal()?;
    let (p2, s2) = b.as_decimal()?;
    let scale = s1.max(s2);
    let int_digits = (p1 - s1).max(p2 - s2);
    Some(SqlType::decimal(
        (int_digits + scale).min(MAX_DECIMAL_PRECISION),
        scale,
    ))
}

/// The type both values can be widened to, if any.
pub(crate) fn unify(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (SqlType::Decimal { .. }, _) | (_, SqlType::Decimal { .. })
            if a.as_decimal().is_some() && b.as_decimal().is_some() =>
        {
            decimal_union(a, b)
        }
        (SqlType::Array(x), SqlType::Array(y)) => Some(SqlType::array(unify(x, y)?)),
        (SqlType::Map(k1, v1), SqlType::Map(k2, v2)) => {
            Some(SqlType::map(unify(k1, k2)?, unify(v1, v2)?))
        }
        _ if a.can_widen_to(b) => Some(b.clone()),
        _ if b.can_widen_to(a) => Some(a.clone()),
        _ => None,
    }
}

/// The common type of the typed arguments; `Ok(None)` when all are NULL.
fn common_type(args: &[Arg]) -> Result<Option<SqlType>, ResolveError> {
    let mut acc: Option<SqlType> = None;
    for t in args.iter().filter_map(|a| a.ty.as_ref()) {
        acc = Some(match acc {
            None => t.clone(),
            Some(acc) => unify(&acc, t).ok_or(ResolveError::NoMatch)?,
        });
    }
    Ok(acc)
}

fn cannot_infer() -> ResolveError {
    ResolveError::Message(
        "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR)."
            .to_string(),
    )
}

fn resolve_coalesce(args: &[Arg]) -> Result<Resolved, ResolveError> {
    if args.is_empty() {
        return Err(ResolveError::NoMatch);
    }
    let ty = common_type(args)?.ok_or_else(cannot_infer)?;
    let target = ty.clone();
    Ok(Resolved::new(ty, move |values: &[Value]| {
        Ok(values
            .iter()
            .find(|v| !v.is_null())
            .map_or(Value::Null, |v| v.clone().widen(&target)))
    }))
}

fn resolve_nullif(args: &[Arg]) -> Result<Resolved, ResolveError> {
    if args.len() != 2 {
        return Err(ResolveError::NoMatch);
    }
    common_type(args)?;
    let ty = args[0]
        .ty
        .clone()
        .or_else(|| args[1].ty.clone())
        .ok_or_else(cannot_infer)?;
    Ok(Resolved::new(ty, |values: &[Value]| {
        let (a, b) = (&values[0], &values[1]);
        if a.is_null() || b.is_null() {
            return Ok(a.clone());
        }
        if a.sql_eq(b) == Some(true) {
            Ok(Value::Null)
        } else {
            Ok(a.clone())
        }
    }))
}

fn ambiguous(name: &str, args: &[Arg]) -> ResolveError {
    let types: Vec<String> = args
        .iter()
        .map(|a| a.ty.as_ref().map_or("null".to_string(), |t| t.to_string()))
        .collect();
    ResolveError::Message(format!(
        "Function '{name}' cannot be resolved due to ambiguous method parameters ({}).",
        types.join(", ")
    ))
}

/// GREATEST and LEAST. Like ksqlDB's overloads: numbers of one kind keep it,
/// mixed numbers resolve only when a DOUBLE makes the choice unambiguous,
/// and string literals stand for DATE, TIME or TIMESTAMP values.
fn resolve_extreme(args: &[Arg], name: &str, want: Ordering) -> Result<Resolved, ResolveError> {
    if args.is_empty() {
        return Err(ResolveError::NoMatch);
    }
    let typed: Vec<&SqlType> = args.iter().filter_map(|a| a.ty.as_ref()).collect();
    if typed.is_empty() {
        return Err(ambiguous(name, args));
    }
    let first = typed[0];
    let mut literals: Vec<Option<Value>> = vec![None; args.len()];
    let target = if typed.iter().all(|t| t.is_numeric()) {
        if typed.iter().all(|t| matches!(t, SqlType::Decimal { .. })) {
            typed
                .iter()
                .skip(1)
                .try_fold(first.clone(), |acc, t| decimal_union(&acc, t))
                .ok_or(ResolveError::NoMatch)?
        } else if typed.iter().all(|t| *t == first) {
            first.clone()
        } else if typed.contains(&&SqlType::Double) {
            SqlType::Double
        } else {
            return Err(ambiguous(name, args));
        }
    } else if typed.iter().all(|t| **t == SqlType::String) {
        SqlType::String
    } else if typed.iter().all(|t| **t == SqlType::Bytes) {
        SqlType::Bytes
    } else {
        let temporal: Vec<&&SqlType> = typed
            .iter()
            .filter(|t| matches!(t, SqlType::Date | SqlType::Time | SqlType::Timestamp))
            .collect();
        let Some(&&t) = temporal.first() else {
            return Err(ResolveError::NoMatch);
        };
        if temporal.iter().any(|x| **x != t) {
            return Err(ResolveError::NoMatch);
        }
        for (i, a) in args.iter().enumerate() {
            if a.ty.as_ref() != Some(&SqlType::String) {
                continue;
            }
            let Some(Value::String(s)) = &a.constant else {
                return Err(ResolveError::NoMatch);
            };
            let parsed = match t {
                SqlType::Date => parse_date(s).map(|d| Value::Date(d as i32)),
                SqlType::Time => parse_time(s).map(Value::Time),
                _ => parse_timestamp(s).map(Value::Timestamp),
            };
            literals[i] =
                Some(parsed.ok_or_else(|| {
                    ResolveError::Message(format!("Cannot convert '{s}' to {t}"))
                })?);
        }
        t.clone()
    };
    let returns = target.clone();
    Ok(Resolved::new(returns, move |values: &[Value]| {
        let mut best: Option<Value> = None;
        for (i, v) in values.iter().enumerate() {
            let v = match literals.get(i) {
                Some(Some(lit)) => lit.clone(),
                _ => v.clone(),
            };
            if v.is_null() {
                continue;
            }
            let v = v.widen(&target);
            best = match best {
                Some(b) if v.sql_cmp(&b) != Some(want) => Some(b),
                _ => Some(v),
            };
        }
        Ok(best.unwrap_or(Value::Null))
    }))
}
