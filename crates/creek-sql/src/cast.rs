//! CAST between types, and the Java-compatible text forms ksqlDB produces
//! when values become strings.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::types::SqlType;
use crate::value::{Decimal, Value, MILLIS_PER_DAY};

/// Checks that `from` can be cast to `to`, with ksqlDB's message if not.
pub fn check_cast(from: &SqlType, to: &SqlType) -> Result<(), String> {
    use SqlType::*;
    let ok = match (from, to) {
        _ if from == to => true,
        (Array(a), Array(b)) => check_cast(a, b).is_ok(),
        (Map(ka, va), Map(kb, vb)) => check_cast(ka, kb).is_ok() && check_cast(va, vb).is_ok(),
        (Struct(_), Struct(_)) => true,
        (_, String) => !matches!(from, Bytes),
        (Array(_) | Map(..) | Struct(_), _) | (_, Array(_) | Map(..) | Struct(_)) => false,
        (Bytes, _) | (_, Bytes) => false,
        (Boolean, Int | Bigint | Double | Decimal { .. }) => false,
        (String, _) => true,
        (Int | Bigint | Double | Decimal { .. }, Int | Bigint | Double | Decimal { .. }) => true,
        (Int | Bigint | Double | Decimal { .. }, Boolean) => false,
        (Timestamp, Date | Time) | (Date, Timestamp) => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Cast of {from} to {to} is not supported"))
    }
}

/// Casts a value of type `from` to `to`. Invalid text gives an error (which
/// the engine turns into NULL plus a processing-log entry).
pub fn cast_value(v: Value, from: &SqlType, to: &SqlType) -> Result<Value, String> {
    if v.is_null() || from == to {
        return Ok(v);
    }
    Ok(match (to, v) {
        (SqlType::String, v) => Value::string(to_java_string(&v)),
        (SqlType::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" => Value::Boolean(true),
            "false" | "f" | "no" | "n" => Value::Boolean(false),
            _ => return Err(format!("invalid input syntax for type BOOLEAN: \"{s}\"")),
        },
        (SqlType::Int, Value::String(s)) => Value::Int(
            s.trim()
                .parse()
                .map_err(|_| format!("invalid input syntax for type INTEGER: \"{s}\""))?,
        ),
        (SqlType::Bigint, Value::String(s)) => Value::Bigint(
            s.trim()
                .parse()
                .map_err(|_| format!("invalid input syntax for type BIGINT: \"{s}\""))?,
        ),
        (SqlType::Double, Value::String(s)) => Value::Double(
            parse_java_double(s.trim())
                .ok_or_else(|| format!("invalid input syntax for type DOUBLE: \"{s}\""))?,
        ),
        (SqlType::Decimal { precision, scale }, Value::String(s)) => {
            let d = Decimal::parse(&s)
                .ok_or_else(|| format!("invalid input syntax for type DECIMAL: \"{s}\""))?;
            fit_decimal(d, *precision, *scale)?
        }
        (SqlType::Int, v @ (Value::Bigint(_) | Value::Double(_) | Value::Decimal(_))) => {
            Value::Int(to_i64_truncating(&v) as i32)
        }
        (SqlType::Bigint, v @ (Value::Int(_) | Value::Double(_) | Value::Decimal(_))) => {
            Value::Bigint(to_i64_truncating(&v))
        }
        (SqlType::Double, v) if v.as_f64().is_some() => Value::Double(v.as_f64().unwrap_or(0.0)),
        (SqlType::Decimal { precision, scale }, Value::Double(d)) => {
            let dec = Decimal::from_f64(d, *scale)
                .ok_or_else(|| format!("Cannot cast {d} to DECIMAL"))?;
            fit_decimal(dec, *precision, *scale)?
        }
        (SqlType::Decimal { precision, scale }, v) if v.as_decimal().is_some() => {
            fit_decimal(v.as_decimal().unwrap_or_default(), *precision, *scale)?
        }
        (SqlType::Timestamp, Value::String(s)) => Value::Timestamp(parse_timestamp(&s)?),
        (SqlType::Date, Value::String(s)) => Value::Date(parse_date(&s)?),
        (SqlType::Time, Value::String(s)) => Value::Time(parse_time(&s)?),
        (SqlType::Timestamp, Value::Date(d)) => Value::Timestamp(d as i64 * MILLIS_PER_DAY),
        (SqlType::Date, Value::Timestamp(t)) => Value::Date(t.div_euclid(MILLIS_PER_DAY) as i32),
        (SqlType::Time, Value::Timestamp(t)) => Value::Time(t.rem_euclid(MILLIS_PER_DAY)),
        (SqlType::Array(t), Value::Array(items)) => {
            let from_el = match from {
                SqlType::Array(f) => f.as_ref(),
                _ => return Err("bad array cast".into()),
            };
            Value::Array(
                items
                    .into_iter()
                    .map(|x| cast_value(x, from_el, t))
                    .collect::<Result<_, _>>()?,
            )
        }
        (SqlType::Map(kt, vt), Value::Map(entries)) => {
            let (fk, fv) = match from {
                SqlType::Map(k, v) => (k.as_ref(), v.as_ref()),
                _ => return Err("bad map cast".into()),
            };
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((cast_value(k, fk, kt)?, cast_value(v, fv, vt)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
        (SqlType::Struct(fields), Value::Struct(values)) => Value::Struct(
            fields
                .iter()
                .map(|f| {
                    let source_ty = from.field(&f.name).map(|sf| sf.ty.clone());
                    let v = values
                        .iter()
                        .find(|(n, _)| **n == *f.name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or(Value::Null);
                    let v = match source_ty {
                        Some(st) => cast_value(v, &st, &f.ty)?,
                        None => Value::Null,
                    };
                    Ok((f.name.as_str().into(), v))
                })
                .collect::<Result<_, String>>()?,
        ),
        (to, v) => return Err(format!("Cannot cast {v:?} to {to}")),
    })
}

fn fit_decimal(d: Decimal, precision: u32, scale: u32) -> Result<Value, String> {
    let r = d
        .rescale(scale)
        .ok_or_else(|| format!("Cannot fit decimal '{d}' into DECIMAL({precision}, {scale})"))?;
    if !r.fits(precision, scale) {
        return Err(format!(
            "Cannot fit decimal '{d}' into DECIMAL({precision}, {scale}) without rounding. (Requires {},{})",
            d.digits().max(d.scale),
            d.scale
        ));
    }
    Ok(Value::Decimal(r))
}

fn to_i64_truncating(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i as i64,
        Value::Bigint(i) => *i,
        Value::Double(d) => {
            if d.is_nan() {
                0
            } else {
                *d as i64
            }
        }
        Value::Decimal(d) => (d.unscaled / 10i128.pow(d.scale)) as i64,
        _ => 0,
    }
}

/// Java's `Double.parseDouble` spellings, including `NaN` and `Infinity`.
pub fn parse_java_double(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => {
            let t = s.trim_end_matches(['d', 'D', 'f', 'F']);
            if t.eq_ignore_ascii_case("nan") || t.eq_ignore_ascii_case("inf") {
                return None;
            }
            t.parse().ok()
        }
    }
}

/// Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.234E-5`, `NaN`, `Infinity`.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{d}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Shortest round-trip digits in scientific form. Java (JDK 19+) picks,
        // when one digit would do, the closest two-digit decimal instead; that
        // differs only for the tiniest subnormals (MIN_VALUE is "4.9E-324").
        let mut s = format!("{d:e}");
        if s.trim_start_matches('-')
            .split('e')
            .next()
            .is_some_and(|m| m.len() == 1)
        {
            let two = format!("{d:.1e}");
            if two.parse::<f64>() == Ok(d) && !two.contains(".0e") {
                s = two;
            }
        }
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// ksqlDB's text form of a value (CAST to STRING, string concatenation).
pub fn to_java_string(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) => i.to_string(),
        Value::Double(d) => java_double(*d),
        Value::Decimal(d) => d.to_string(),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => format!("{b:?}"),
        Value::Date(d) => format_date(*d),
        Value::Time(t) => format_time(*t),
        Value::Timestamp(t) => format_timestamp(*t),
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(to_java_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Map(entries) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}={}", to_java_string(k), to_java_string(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Struct(fields) => format!(
            "Struct{{{}}}",
            fields
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(n, v)| format!("{n}={}", to_java_string(v)))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// `yyyy-MM-dd`.
pub fn format_date(days: i32) -> String {
    match NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::Duration::days(days as i64)))
    {
        Some(d) => d.format("%Y-%m-%d").to_string(),
        None => days.to_string(),
    }
}

/// `HH:mm:ss`, with `.SSS` when there are milliseconds (java.time's LocalTime).
pub fn format_time(ms: i64) -> String {
    let ms = ms.rem_euclid(MILLIS_PER_DAY);
    let (h, m, s, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if milli == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{milli:03}")
    }
}

/// `yyyy-MM-ddTHH:mm:ss.SSS` in UTC, as ksqlDB prints TIMESTAMPs.
pub fn format_timestamp(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

/// ISO-8601 timestamps as ksqlDB's CAST accepts them: a date, optionally a
/// `T` or space and a time with fraction, optionally a zone offset or `Z`.
pub fn parse_timestamp(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let err = || format!("Failed to parse timestamp '{s}': Text '{s}' could not be parsed");
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(t, fmt) {
            return Ok(dt.timestamp_millis());
        }
    }
    let t = t.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(dt.and_utc().timestamp_millis());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .ok_or_else(err)?
            .and_utc()
            .timestamp_millis());
    }
    Err(err())
}

/// `yyyy-MM-dd` (also a timestamp's date part, or a partial `yyyy-MM` /
/// `yyyy` as ksqlDB accepts) to days since the epoch.
pub fn parse_date(s: &str) -> Result<i32, String> {
    let t = s.trim();
    let padded = match t.len() {
        4 if t.bytes().all(|b| b.is_ascii_digit()) => format!("{t}-01-01"),
        7 if t.as_bytes()[4] == b'-' => format!("{t}-01"),
        _ => t.to_string(),
    };
    let t = padded.as_str();
    let date = NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(t.get(..10).unwrap_or(t), "%Y-%m-%d"))
        .map_err(|_| format!("Failed to parse date '{s}': Text '{s}' could not be parsed"))?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
    Ok((date - epoch).num_days() as i32)
}

/// `HH:mm[:ss[.SSS]]` to milliseconds since midnight.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    for fmt in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(time) = NaiveTime::parse_from_str(t, fmt) {
            return Ok(time.num_seconds_from_midnight() as i64 * 1000
                + (time.nanosecond() / 1_000_000) as i64);
        }
    }
    Err(format!(
        "Failed to parse time '{s}': Text '{s}' could not be parsed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_text() {
        assert_eq!(java_double(10.3), "10.3");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.234e-5), "1.234E-5");
        assert_eq!(java_double(123456.5), "123456.5");
        assert_eq!(java_double(f64::from_bits(1)), "4.9E-324");
        assert_eq!(java_double(-f64::from_bits(1)), "-4.9E-324");
        assert_eq!(java_double(1e23), "1.0E23");
        assert_eq!(java_double(-23.42), "-23.42");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double(-0.0), "-0.0");
        assert_eq!(java_double(1.2345678e20), "1.2345678E20");
    }

    #[test]
    fn casts_like_ksqldb() {
        let arr = Value::Array(vec![Value::Int(1), Value::Int(3)]);
        let t = SqlType::array(SqlType::Int);
        assert_eq!(
            cast_value(arr, &t, &SqlType::String).unwrap(),
            Value::string("[1, 3]")
        );
        assert_eq!(
            cast_value(Value::Double(1.99), &SqlType::Double, &SqlType::Int).unwrap(),
            Value::Int(1)
        );
        assert_eq!(
            cast_value(
                Value::string("0.05"),
                &SqlType::String,
                &SqlType::decimal(2, 1)
            )
            .unwrap(),
            Value::Decimal(Decimal::new(1, 1))
        );
        assert_eq!(
            cast_value(
                Value::string("2022-04-28T21:44:47.943"),
                &SqlType::String,
                &SqlType::Timestamp
            )
            .unwrap(),
            Value::Timestamp(1651182287943)
        );
        assert!(check_cast(&SqlType::String, &SqlType::array(SqlType::Int)).is_err());
        assert_eq!(format_timestamp(1651182287943), "2022-04-28T21:44:47.943");
    }
}
