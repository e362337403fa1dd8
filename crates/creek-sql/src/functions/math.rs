//! Mathematical functions: ABS, CEIL, FLOOR, ROUND, TRUNC, SIGN, SQRT, CBRT,
//! EXP, LN, LOG, POWER, RANDOM, PI, DEGREES, RADIANS, the trigonometric and
//! hyperbolic functions, GENERATE_SERIES and GEO_DISTANCE, following ksqlDB's
//! UDFs (`udf/math`, `udf/array/GenerateSeries`, `udf/geo`).
//!
//! Return types follow ksqlDB: ABS/CEIL/FLOOR keep the argument's type
//! (DECIMAL(p, s) included); ROUND and TRUNC with one argument return BIGINT
//! for INT, BIGINT and DOUBLE and DECIMAL(p - s, 0) for DECIMAL(p, s); with a
//! number of places they return DOUBLE for DOUBLE and keep DECIMAL(p, s).
//! The rest take INT, BIGINT or DOUBLE (DECIMAL widens) and return DOUBLE.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Arg, Overload, ResolveError, Resolved, ScalarFunction, Udf};
use crate::types::SqlType;
use crate::value::{Decimal, Value};

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    let mut all: Vec<Arc<dyn ScalarFunction>> = vec![
        Arc::new(Generic {
            name: "ABS",
            description: "Returns the absolute value of its argument. If the argument is not \
                          negative, the argument is returned. If the argument is negative, the \
                          negation of the argument is returned.",
            category: MATH,
            signatures: &[
                "ABS(INTEGER) => INTEGER",
                "ABS(BIGINT) => BIGINT",
                "ABS(DOUBLE) => DOUBLE",
                "ABS(DECIMAL) => DECIMAL",
            ],
            resolve: resolve_abs,
        }),
        Arc::new(Generic {
            name: "CEIL",
            description: "Returns the smallest integer greater than or equal to the specified \
                          numeric expression.",
            category: MATH,
            signatures: &[
                "CEIL(INTEGER) => INTEGER",
                "CEIL(BIGINT) => BIGINT",
                "CEIL(DOUBLE) => DOUBLE",
                "CEIL(DECIMAL) => DECIMAL",
            ],
            resolve: resolve_ceil,
        }),
        Arc::new(Generic {
            name: "FLOOR",
            description: "Returns the largest integer less than or equal to the specified \
                          numeric expression.",
            category: MATH,
            signatures: &[
                "FLOOR(INTEGER) => INTEGER",
                "FLOOR(BIGINT) => BIGINT",
                "FLOOR(DOUBLE) => DOUBLE",
                "FLOOR(DECIMAL) => DECIMAL",
            ],
            resolve: resolve_floor,
        }),
        Arc::new(Generic {
            name: "ROUND",
            description: "Round a value to the number of decimal places as specified by scale to \
                          the right of the decimal point. If scale is negative then value is \
                          rounded to the right of the decimal point. Numbers equidistant to the \
                          nearest value are rounded up (in the positive direction). If the number \
                          of decimal places is not provided it defaults to zero.",
            category: MATH,
            signatures: &[
                "ROUND(BIGINT) => BIGINT",
                "ROUND(INTEGER) => BIGINT",
                "ROUND(DOUBLE) => BIGINT",
                "ROUND(DOUBLE, INTEGER) => DOUBLE",
                "ROUND(DECIMAL) => DECIMAL",
                "ROUND(DECIMAL, INTEGER) => DECIMAL",
            ],
            resolve: resolve_round,
        }),
        Arc::new(Generic {
            name: "TRUNC",
            description: "Truncates a value to the number of decimal places as specified by scale \
                          to the right of the decimal point. If scale is negative then value is \
                          truncated to the right of the decimal point.",
            category: MATH,
            signatures: &[
                "TRUNC(BIGINT) => BIGINT",
                "TRUNC(INTEGER) => BIGINT",
                "TRUNC(DOUBLE) => BIGINT",
                "TRUNC(DOUBLE, INTEGER) => DOUBLE",
                "TRUNC(DECIMAL) => DECIMAL",
                "TRUNC(DECIMAL, INTEGER) => DECIMAL",
            ],
            resolve: resolve_trunc,
        }),
    ];
    all.extend(
        [
            sign(),
            unary("SQRT", "Returns the square root of a value.", |v| {
                num1(v, f64::sqrt)
            }),
            unary("CBRT", "Returns the cube root of a value.", |v| {
                num1(v, f64::cbrt)
            }),
            unary("EXP", "The exponential of a value.", |v| num1(v, f64::exp)),
            unary("LN", "The natural logarithm of a value.", |v| {
                num1(v, f64::ln)
            }),
            log(),
            power(),
            unary("SIN", "Returns the sine of a value.", |v| num1(v, f64::sin)),
            unary("COS", "Returns the cosine of a value.", |v| {
                num1(v, f64::cos)
            }),
            unary("TAN", "Returns the tangent of a value.", |v| {
                num1(v, f64::tan)
            }),
            unary("COT", "Returns the cotangent of a value.", |v| {
                num1(v, |x| 1.0 / x.tan())
            }),
            unary("ASIN", "Returns the arc sine of a value.", |v| {
                num1(v, f64::asin)
            }),
            unary("ACOS", "Returns the arc cosine of a value.", |v| {
                num1(v, f64::acos)
            }),
            unary("ATAN", "Returns the arc tangent of a value.", |v| {
                num1(v, f64::atan)
            }),
            atan2(),
            unary("SINH", "Returns the hyperbolic sine of a value.", |v| {
                num1(v, f64::sinh)
            }),
            unary("COSH", "Returns the hyperbolic cosine of a value.", |v| {
                num1(v, f64::cosh)
            }),
            unary("TANH", "Returns the hyperbolic tangent of a value.", |v| {
                num1(v, f64::tanh)
            }),
            unary(
                "DEGREES",
                "Converts a value in radians to a value in degrees.",
                |v| num1(v, f64::to_degrees),
            ),
            unary(
                "RADIANS",
                "Converts a value in degrees to a value in radians.",
                |v| num1(v, f64::to_radians),
            ),
            generate_series(),
            geo_distance(),
            Udf {
                name: "PI",
                description: "Returns an approximate value of PI.",
                category: MATH,
                overloads: vec![Overload::new(vec![], SqlType::Double, |_| {
                    Ok(Value::Double(std::f64::consts::PI))
                })],
            },
            Udf {
                name: "RANDOM",
                description: "Returns a random DOUBLE value between 0.0 and 1.0.",
                category: MATH,
                overloads: vec![Overload::new(vec![], SqlType::Double, |_| {
                    Ok(Value::Double(random()))
                })],
            },
        ]
        .into_iter()
        .map(|f| Arc::new(f) as Arc<dyn ScalarFunction>),
    );
    all
}

pub(super) const MATH: &str = "MATHEMATICAL";

pub(super) use super::Generic;

/// A null-in, null-out evaluator.
pub(super) fn strict(
    returns: SqlType,
    eval: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
) -> Resolved {
    Resolved::new(returns, move |values: &[Value]| {
        if values.iter().any(Value::is_null) {
            Ok(Value::Null)
        } else {
            eval(values)
        }
    })
}

/// One of INT, BIGINT, DOUBLE or DECIMAL, with an untyped NULL taken as `default`.
fn numeric_arg(arg: &Arg, default: SqlType) -> Option<SqlType> {
    match &arg.ty {
        None => Some(default),
        Some(t) if t.is_numeric() => Some(t.clone()),
        _ => None,
    }
}

/// The places argument of ROUND and TRUNC: INT, or NULL.
fn places_arg(arg: &Arg) -> bool {
    matches!(arg.ty, None | Some(SqlType::Int))
}

fn places(v: &Value) -> Result<i64, String> {
    v.as_i64()
        .ok_or_else(|| "decimal places must be an INTEGER".to_string())
}

fn resolve_abs(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [arg] = args else {
        return Err(ResolveError::NoMatch);
    };
    let ty = numeric_arg(arg, SqlType::Int).ok_or(ResolveError::NoMatch)?;
    Ok(strict(ty, |v| {
        Ok(match &v[0] {
            // Java's Math.abs wraps for the minimum value.
            Value::Int(i) => Value::Int(i.wrapping_abs()),
            Value::Bigint(i) => Value::Bigint(i.wrapping_abs()),
            Value::Double(d) => Value::Double(d.abs()),
            Value::Decimal(d) => Value::Decimal(Decimal::new(d.unscaled.abs(), d.scale)),
            other => return Err(format!("ABS of a non-number: {other:?}")),
        })
    }))
}

/// How a decimal is brought to fewer places.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rounding {
    /// Towards negative infinity.
    Floor,
    /// Towards positive infinity.
    Ceiling,
    /// Towards zero.
    Down,
    /// To nearest; ties towards positive infinity (Java's `Math.round`,
    /// which ksqlDB's ROUND copies for doubles and decimals alike).
    HalfPositive,
}

/// `unscaled / 10^digits`, rounded.
fn div_pow10(unscaled: i128, digits: u32, mode: Rounding) -> i128 {
    let Some(factor) = 10i128.checked_pow(digits) else {
        // |unscaled| < 10^39 <= factor: the quotient is 0 with a remainder
        // below half a unit.
        return match mode {
            Rounding::Floor if unscaled < 0 => -1,
            Rounding::Ceiling if unscaled > 0 => 1,
            _ => 0,
        };
    };
    let q = unscaled / factor;
    let r = unscaled % factor;
    if r == 0 {
        return q;
    }
    match mode {
        Rounding::Down => q,
        Rounding::Floor => {
            if r < 0 {
                q - 1
            } else {
                q
            }
        }
        Rounding::Ceiling => {
            if r > 0 {
                q + 1
            } else {
                q
            }
        }
        Rounding::HalfPositive => {
            let twice = r.unsigned_abs() * 2;
            let half = factor.unsigned_abs();
            if r > 0 {
                if twice >= half {
                    q + 1
                } else {
                    q
                }
            } else if twice > half {
                q - 1
            } else {
                q
            }
        }
    }
}

/// A decimal rounded to `places` (any sign), at the given result scale.
fn round_decimal(d: Decimal, places: i64, mode: Rounding, result_scale: u32) -> Option<Decimal> {
    let scale = d.scale as i64;
    if places >= scale {
        return d.rescale(result_scale);
    }
    let drop = (scale - places).min(100) as u32;
    let q = div_pow10(d.unscaled, drop, mode);
    // q is in units of 10^-places; bring it to result_scale.
    let shift = result_scale as i64 - places;
    let unscaled = if shift >= 0 {
        q.checked_mul(10i128.checked_pow(shift as u32)?)?
    } else if q == 0 {
        0
    } else {
        // Only when result_scale < places <= scale: not used by callers.
        div_pow10(q, (-shift) as u32, mode)
    };
    Some(Decimal::new(unscaled, result_scale))
}

/// The exact decimal Java's `BigDecimal.valueOf(double)` gives: the digits
/// of the shortest representation, as `(unscaled, scale)` with any scale.
fn double_digits(x: f64) -> (i128, i64) {
    let text = format!("{:e}", x);
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches('-');
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut unscaled: i128 = 0;
    for b in int_part.bytes().chain(frac_part.bytes()) {
        unscaled = unscaled * 10 + (b - b'0') as i128;
    }
    if negative {
        unscaled = -unscaled;
    }
    (unscaled, frac_part.len() as i64 - exponent)
}

/// ROUND/TRUNC of a double to `places` through its decimal digits, as
/// ksqlDB does with `BigDecimal.valueOf(val).setScale(places, mode)`.
fn round_double(x: f64, places: i64, mode: Rounding) -> f64 {
    if !x.is_finite() {
        // BigDecimal.valueOf throws on NaN and infinities; ksqlDB's UDF
        // then fails. Keep the value: the caller reports the error.
        return x;
    }
    let (unscaled, scale) = double_digits(x);
    if places >= scale {
        // Through BigDecimal, which has no negative zero.
        return x + 0.0;
    }
    let drop = (scale - places).min(100) as u32;
    let q = div_pow10(unscaled, drop, mode);
    if q == 0 {
        return 0.0;
    }
    format!("{q}e{}", -places).parse().unwrap_or(f64::NAN)
}

/// Java's `Math.round(double)`: nearest, ties towards positive infinity,
/// NaN to 0, saturating.
fn java_round(x: f64) -> i64 {
    if x.is_nan() {
        return 0;
    }
    let f = x.floor();
    let r = if x - f >= 0.5 { f + 1.0 } else { f };
    r as i64
}

fn decimal_type(t: &SqlType) -> Option<(u32, u32)> {
    match t {
        SqlType::Decimal { precision, scale } => Some((*precision, *scale)),
        _ => None,
    }
}

/// CEIL and FLOOR: integers unchanged, doubles rounded, decimals rounded
/// keeping their scale.
fn resolve_ceil_floor(args: &[Arg], mode: Rounding) -> Result<Resolved, ResolveError> {
    let [arg] = args else {
        return Err(ResolveError::NoMatch);
    };
    let ty = numeric_arg(arg, SqlType::Int).ok_or(ResolveError::NoMatch)?;
    Ok(strict(ty, move |v| {
        Ok(match &v[0] {
            Value::Int(i) => Value::Int(*i),
            Value::Bigint(i) => Value::Bigint(*i),
            Value::Double(d) => Value::Double(if mode == Rounding::Ceiling {
                d.ceil()
            } else {
                d.floor()
            }),
            Value::Decimal(d) => {
                Value::Decimal(round_decimal(*d, 0, mode, d.scale).ok_or("decimal overflow")?)
            }
            other => return Err(format!("not a number: {other:?}")),
        })
    }))
}

fn resolve_ceil(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_ceil_floor(args, Rounding::Ceiling)
}

fn resolve_floor(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_ceil_floor(args, Rounding::Floor)
}

fn resolve_round(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_round_trunc(args, Rounding::HalfPositive)
}

fn resolve_trunc(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_round_trunc(args, Rounding::Down)
}

/// ROUND and TRUNC share their overloads and differ in the rounding.
fn resolve_round_trunc(args: &[Arg], mode: Rounding) -> Result<Resolved, ResolveError> {
    let whole = move |x: f64| -> i64 {
        if mode == Rounding::Down {
            x as i64
        } else {
            java_round(x)
        }
    };
    match args {
        [arg] => {
            let ty = numeric_arg(arg, SqlType::Double).ok_or(ResolveError::NoMatch)?;
            match decimal_type(&ty) {
                Some((precision, scale)) => {
                    let returns = SqlType::decimal(precision.saturating_sub(scale).max(1), 0);
                    Ok(strict(returns, move |v| {
                        let d = v[0].as_decimal().ok_or("not a decimal")?;
                        Ok(Value::Decimal(
                            round_decimal(d, 0, mode, 0).ok_or("decimal overflow")?,
                        ))
                    }))
                }
                None => Ok(strict(SqlType::Bigint, move |v| {
                    Ok(match &v[0] {
                        Value::Double(d) => Value::Bigint(whole(*d)),
                        other => Value::Bigint(other.as_i64().ok_or("not a number")?),
                    })
                })),
            }
        }
        [arg, places_a] => {
            if !places_arg(places_a) {
                return Err(ResolveError::NoMatch);
            }
            let ty = numeric_arg(arg, SqlType::Double).ok_or(ResolveError::NoMatch)?;
            if matches!(ty, SqlType::Int | SqlType::Bigint) {
                // There is no integer overload and an integer casts as well to
                // DECIMAL as to DOUBLE: ksqlDB's UdfIndex gives up.
                return Err(ResolveError::Message(format!(
                    "Function '{}' cannot be resolved due to ambiguous method parameters \
                     ({ty}, INTEGER).\nUse CAST() to explicitly cast your parameters to one \
                     of the supported function calls.",
                    if mode == Rounding::Down {
                        "TRUNC"
                    } else {
                        "ROUND"
                    }
                )));
            }
            match decimal_type(&ty) {
                Some(_) => Ok(strict(ty, move |v| {
                    let d = v[0].as_decimal().ok_or("not a decimal")?;
                    let p = places(&v[1])?;
                    // ksqlDB keeps the source scale (its issue 6235).
                    Ok(Value::Decimal(
                        round_decimal(d, p, mode, d.scale).ok_or("decimal overflow")?,
                    ))
                })),
                None => Ok(strict(SqlType::Double, move |v| {
                    let x = v[0].as_f64().ok_or("not a number")?;
                    if !x.is_finite() {
                        return Err(format!("cannot round {x}"));
                    }
                    Ok(Value::Double(round_double(x, places(&v[1])?, mode)))
                })),
            }
        }
        _ => Err(ResolveError::NoMatch),
    }
}

fn unary(
    name: &'static str,
    description: &'static str,
    eval: fn(&[Value]) -> Result<Value, String>,
) -> Udf {
    Udf {
        name,
        description,
        category: MATH,
        overloads: [SqlType::Int, SqlType::Bigint, SqlType::Double]
            .into_iter()
            .map(|t| Overload::new(vec![t], SqlType::Double, eval))
            .collect(),
    }
}

fn num1(v: &[Value], f: fn(f64) -> f64) -> Result<Value, String> {
    let x = v[0].as_f64().ok_or("not a number")?;
    Ok(Value::Double(f(x)))
}

fn num2(v: &[Value]) -> Result<(f64, f64), String> {
    Ok((
        v[0].as_f64().ok_or("not a number")?,
        v[1].as_f64().ok_or("not a number")?,
    ))
}

fn two_double_overloads(eval: fn(&[Value]) -> Result<Value, String>) -> Vec<Overload> {
    [SqlType::Int, SqlType::Bigint, SqlType::Double]
        .into_iter()
        .map(|t| Overload::new(vec![t.clone(), t], SqlType::Double, eval))
        .collect()
}

fn sign() -> Udf {
    fn eval(v: &[Value]) -> Result<Value, String> {
        Ok(Value::Int(match &v[0] {
            Value::Int(i) => i.signum(),
            Value::Bigint(i) => i.signum() as i32,
            // Java: (int) Math.signum(d); NaN gives 0.
            other => {
                let d = other.as_f64().ok_or("not a number")?;
                if d > 0.0 {
                    1
                } else if d < 0.0 {
                    -1
                } else {
                    0
                }
            }
        }))
    }
    Udf {
        name: "SIGN",
        description: "The sign of a numeric value as an INTEGER: -1 for negative, 0 for zero, \
                      1 for positive.",
        category: MATH,
        overloads: [SqlType::Int, SqlType::Bigint, SqlType::Double]
            .into_iter()
            .map(|t| Overload::new(vec![t], SqlType::Int, eval))
            .collect(),
    }
}

fn log() -> Udf {
    fn ln(v: &[Value]) -> Result<Value, String> {
        num1(v, f64::ln)
    }
    fn log_base(v: &[Value]) -> Result<Value, String> {
        let (base, value) = num2(v)?;
        Ok(Value::Double(if base <= 0.0 || base == 1.0 {
            f64::NAN
        } else {
            value.ln() / base.ln()
        }))
    }
    let mut overloads: Vec<Overload> = [SqlType::Int, SqlType::Bigint, SqlType::Double]
        .into_iter()
        .map(|t| Overload::new(vec![t], SqlType::Double, ln))
        .collect();
    overloads.extend(two_double_overloads(log_base));
    Udf {
        name: "LOG",
        // ksqlDB's one-argument LOG is the natural logarithm, whatever its
        // documentation says.
        description: "The logarithm of a value: LOG(value) is the natural logarithm, \
                      LOG(base, value) the logarithm to the given base.",
        category: MATH,
        overloads,
    }
}

fn power() -> Udf {
    fn eval(v: &[Value]) -> Result<Value, String> {
        let (base, exponent) = num2(v)?;
        Ok(Value::Double(java_pow(base, exponent)))
    }
    Udf {
        name: "POWER",
        description: "Returns the value of the first argument raised to the power of the \
                      second argument.",
        category: MATH,
        overloads: two_double_overloads(eval),
    }
}

/// Java's `Math.pow` differs from IEEE `pow` in one case: 1 ** ±Infinity and
/// 1 ** NaN are NaN (Rust gives 1).
fn java_pow(base: f64, exponent: f64) -> f64 {
    if exponent.is_nan() || ((base == 1.0 || base == -1.0) && exponent.is_infinite()) {
        if exponent == 0.0 {
            return 1.0;
        }
        return f64::NAN;
    }
    base.powf(exponent)
}

fn atan2() -> Udf {
    fn eval(v: &[Value]) -> Result<Value, String> {
        let (y, x) = num2(v)?;
        Ok(Value::Double(y.atan2(x)))
    }
    Udf {
        name: "ATAN2",
        description: "Returns the angle theta from the conversion of rectangular coordinates \
                      (x, y) to polar coordinates (r, theta): ATAN2(y, x).",
        category: MATH,
        overloads: two_double_overloads(eval),
    }
}

fn generate_series() -> Udf {
    fn eval(v: &[Value]) -> Result<Value, String> {
        let start = v[0].as_i64().ok_or("not an integer")?;
        let end = v[1].as_i64().ok_or("not an integer")?;
        let step = match v.get(2) {
            Some(s) => s.as_i64().ok_or("not an integer")?,
            None if end - start > 0 => 1,
            None => -1,
        };
        let series = series(start, end, step)?;
        Ok(Value::Array(match v[0] {
            Value::Int(_) => series.map(|i| Value::Int(i as i32)).collect(),
            _ => series.map(Value::Bigint).collect(),
        }))
    }
    let (i, b) = (SqlType::Int, SqlType::Bigint);
    Udf {
        name: "GENERATE_SERIES",
        description: "Construct an array of a range of values",
        category: "ARRAY",
        overloads: vec![
            Overload::new(vec![i.clone(), i.clone()], SqlType::array(i.clone()), eval),
            Overload::new(
                vec![i.clone(), i.clone(), i.clone()],
                SqlType::array(i.clone()),
                eval,
            ),
            Overload::new(vec![b.clone(), b.clone()], SqlType::array(b.clone()), eval),
            Overload::new(vec![b.clone(), b.clone(), i], SqlType::array(b), eval),
        ],
    }
}

/// Most elements GENERATE_SERIES builds (ksqlDB's are bounded by memory).
const MAX_SERIES: i64 = 10_000_000;

/// `start, start + step, ...` up to `end` inclusive, as ksqlDB's GenerateSeries.
fn series(start: i64, end: i64, step: i64) -> Result<impl Iterator<Item = i64>, String> {
    if step == 0 {
        return Err("GENERATE_SERIES step cannot be zero".into());
    }
    let diff = end - start;
    if (diff > 0 && step < 0) || (diff < 0 && step > 0) {
        return Err("GENERATE_SERIES step has wrong sign".into());
    }
    let size = 1 + diff / step;
    if size > MAX_SERIES {
        return Err(format!("GENERATE_SERIES would build {size} elements"));
    }
    Ok((0..size).map(move |k| start + k * step))
}

fn geo_distance() -> Udf {
    fn eval(v: &[Value]) -> Result<Value, String> {
        if v[..4].iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let f = |i: usize| v[i].as_f64().ok_or("not a number");
        let (lat1, lon1, lat2, lon2) = (f(0)?, f(1)?, f(2)?, f(3)?);
        if [lat1, lat2].iter().any(|l| !(-90.0..=90.0).contains(l)) {
            return Err(
                "valid latitude values for GeoDistance function are in the range of \
                        -90 to 90 decimal degrees"
                    .into(),
            );
        }
        if [lon1, lon2].iter().any(|l| !(-180.0..=180.0).contains(l)) {
            return Err(
                "valid longitude values for GeoDistance function are in the range of \
                        -180 to +180 decimal degrees"
                    .into(),
            );
        }
        let radius = match v.get(4).and_then(Value::as_str).map(str::trim) {
            None | Some("") => 6371.0,
            Some(unit) => match unit.to_lowercase().as_str() {
                "mi" | "mile" | "miles" => 3959.0,
                "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => 6371.0,
                _ => {
                    return Err(
                        "GeoDistance function units parameter must be one of mi, mile, \
                                miles, km, kilometer, kilometers, kilometre or kilometres. \
                                Values are case-insensitive."
                            .into(),
                    )
                }
            },
        };
        let haversin = |x: f64| {
            let s = (x / 2.0).sin();
            s * s
        };
        let a = haversin((lat2 - lat1).to_radians())
            + haversin((lon2 - lon1).to_radians())
                * lat1.to_radians().cos()
                * lat2.to_radians().cos();
        Ok(Value::Double(2.0 * a.sqrt().asin() * radius))
    }
    let d = || SqlType::Double;
    Udf {
        name: "GEO_DISTANCE",
        description: "Compute the distance between two points on the surface of the earth, \
                      according to the Haversine formula for \"great circle distance\".",
        category: MATH,
        overloads: vec![
            Overload::new(vec![d(), d(), d(), d()], d(), eval).null_tolerant(),
            Overload::new(vec![d(), d(), d(), d(), SqlType::String], d(), eval).null_tolerant(),
        ],
    }
}

/// A uniformly distributed double in [0, 1).
fn random() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests;
