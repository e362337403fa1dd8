//! JSON: ksqlDB's mapping between JSON documents and SQL values
//! (`KsqlJsonDeserializer` / `KsqlJsonSerializer`), and the JSON row format.
//!
//! Reading coerces as ksqlDB does: numbers and booleans become STRING text,
//! numeric strings become numbers, TIMESTAMP/TIME are milliseconds, DATE is
//! days, BYTES are base64 text, DECIMALs keep their exact digits. Struct
//! fields and wrapped columns match property names exactly first, then by
//! upper-cased property name.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Number, Value as Json};

use creek_sql::types::SqlType;
use creek_sql::value::{Decimal, Value};

use super::{Column, RowFormat};

/// Standard base64; padding optional on read, as Jackson's `binaryValue`.
pub(crate) const B64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// A SQL value as ksqlDB's JSON serializer writes it.
pub fn value_to_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Bigint(i) => Json::from(*i),
        Value::Double(d) => double_to_json(*d),
        Value::Decimal(d) => decimal_to_json(d),
        Value::String(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::String(B64.encode(b)),
        Value::Date(d) => Json::from(*d),
        Value::Time(t) | Value::Timestamp(t) => Json::from(*t),
        Value::Array(items) => Json::Array(items.iter().map(value_to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (map_key_text(k), value_to_json(v)))
                .collect(),
        ),
        Value::Struct(fields) => Json::Object(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

/// A SQL value as ksqlDB's REST API answers it in query rows (`ApiJsonMapper`):
/// DATE `yyyy-MM-dd`, TIME `HH:mm[:ss]` (java.time's `LocalTime` of whole
/// seconds), TIMESTAMP `yyyy-MM-ddTHH:mm:ss.SSS` in UTC — also inside arrays and
/// maps. Struct fields go through Connect's JsonConverter there, which writes
/// the logical types as numbers, so structs keep [`value_to_json`]'s form.
pub fn value_to_api_json(value: &Value) -> Json {
    match value {
        Value::Date(d) => Json::String(creek_sql::cast::format_date(*d)),
        Value::Time(t) => Json::String(api_time(*t)),
        Value::Timestamp(t) => Json::String(creek_sql::cast::format_timestamp(*t)),
        Value::Array(items) => Json::Array(items.iter().map(value_to_api_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (map_key_text(k), value_to_api_json(v)))
                .collect(),
        ),
        other => value_to_json(other),
    }
}

/// ksqlDB's `SqlTimeTypes.formatTime`: `LocalTime.ofSecondOfDay(ms / 1000)`,
/// whose text drops zero seconds (`10:00`).
fn api_time(ms: i64) -> String {
    let secs = ms.rem_euclid(86_400_000) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn double_to_json(d: f64) -> Json {
    match Number::from_f64(d) {
        Some(n) => Json::Number(n),
        // Jackson quotes non-finite numbers.
        None if d.is_nan() => Json::String("NaN".into()),
        None if d > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn decimal_to_json(d: &Decimal) -> Json {
    match d.to_string().parse::<Number>() {
        Ok(n) => Json::Number(n),
        Err(_) => Json::String(d.to_string()),
    }
}

fn map_key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.to_string(),
        Value::Null => "null".to_string(),
        other => match value_to_json(other) {
            Json::String(s) => s,
            j => j.to_string(),
        },
    }
}

/// A JSON value read as `ty`, with ksqlDB's coercions.
pub fn json_to_value(json: &Json, ty: &SqlType) -> Result<Value, String> {
    convert(json, ty).map_err(|e| e.to_string())
}

/// A conversion failure with the JSON path where it happened.
#[derive(Debug)]
pub(crate) struct ConvError {
    message: String,
    /// Path segments, innermost first.
    path: Vec<String>,
}

impl ConvError {
    fn new(message: String) -> ConvError {
        ConvError {
            message,
            path: Vec::new(),
        }
    }

    fn at(mut self, segment: String) -> ConvError {
        self.path.push(segment);
        self
    }

    fn path(&self) -> String {
        let mut p = String::from("$");
        for s in self.path.iter().rev() {
            p.push_str(s);
        }
        p
    }
}

impl ConvError {
    /// The message without the path.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ConvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, path: {}", self.message, self.path())
    }
}

fn node_type(j: &Json) -> &'static str {
    match j {
        Json::Null => "NullNode",
        Json::Bool(_) => "BooleanNode",
        Json::Number(n) => match n.as_i64() {
            Some(i) if i32::try_from(i).is_ok() => "IntNode",
            Some(_) => "LongNode",
            None if n.is_u64() => "BigIntegerNode",
            None if n
                .to_string()
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'-') =>
            {
                "BigIntegerNode"
            }
            None => "DecimalNode",
        },
        Json::String(_) => "TextNode",
        Json::Array(_) => "ArrayNode",
        Json::Object(_) => "ObjectNode",
    }
}

fn base_type(ty: &SqlType) -> &'static str {
    super::base_type_name(ty)
}

fn invalid(j: &Json, ty: &SqlType) -> ConvError {
    let required = if ty.is_primitive() {
        base_type(ty).to_string()
    } else {
        ty.to_string()
    };
    ConvError::new(format!(
        "Can't convert type. sourceType: {}, requiredType: {required}",
        node_type(j),
    ))
}

fn coerce_failed(ty: &SqlType) -> ConvError {
    ConvError::new(format!(
        "Can't coerce string to type. targetType: {}",
        base_type(ty)
    ))
}

/// Integer text of a JSON number, truncating a fraction as Java's `intValue()` does.
fn number_as_i64(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if let Some(u) = n.as_u64() {
        return Some(u as i64);
    }
    n.as_f64().map(|f| f as i64)
}

fn parse_decimal(text: &str, precision: u32, scale: u32) -> Result<Decimal, ConvError> {
    let d = Decimal::parse(text.trim())
        .ok_or_else(|| coerce_failed(&SqlType::decimal(precision, scale)))?;
    fit_decimal(d, precision, scale)
}

/// `d` at `scale`, as ksqlDB's `DecimalUtil.ensureFit`: never rounds, and
/// the integer part must fit `precision - scale` digits.
pub(crate) fn fit_decimal(d: Decimal, precision: u32, scale: u32) -> Result<Decimal, ConvError> {
    let digits = if d.unscaled == 0 { 1 } else { d.digits() } as i64;
    if digits - d.scale as i64 > precision as i64 - scale as i64 {
        return Err(ConvError::new(format!(
            "Numeric field overflow: A field with precision {precision} and scale {scale} must round to an absolute value less than 10^{}. Got {d}",
            precision - scale
        )));
    }
    match d.rescale(scale) {
        Some(r) if r.rescale(d.scale).is_some_and(|back| back.unscaled == d.unscaled) => Ok(r),
        _ => Err(ConvError::new(format!(
            "Cannot fit decimal '{d}' into DECIMAL({precision}, {scale}) without rounding. (Requires {digits},{})",
            d.scale
        ))),
    }
}

/// Days since the epoch of an ISO `yyyy-mm-dd` date.
pub(crate) fn parse_iso_date(s: &str) -> Option<i32> {
    let mut parts = s.trim().splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146097 + doe - 719468) as i32)
}

pub(crate) fn convert(j: &Json, ty: &SqlType) -> Result<Value, ConvError> {
    if j.is_null() {
        return Ok(Value::Null);
    }
    match ty {
        SqlType::Boolean => match j {
            Json::Bool(b) => Ok(Value::Boolean(*b)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Int => match j {
            Json::Number(n) => number_as_i64(n)
                .map(|i| Value::Int(i as i32))
                .ok_or_else(|| invalid(j, ty)),
            Json::String(s) => s
                .parse::<i32>()
                .map(Value::Int)
                .map_err(|_| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Bigint => match j {
            Json::Number(n) => number_as_i64(n)
                .map(Value::Bigint)
                .ok_or_else(|| invalid(j, ty)),
            Json::String(s) => s
                .parse::<i64>()
                .map(Value::Bigint)
                .map_err(|_| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Double => match j {
            Json::Number(n) => n.as_f64().map(Value::Double).ok_or_else(|| invalid(j, ty)),
            Json::String(s) => parse_java_double(s)
                .map(Value::Double)
                .ok_or_else(|| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Decimal { precision, scale } => match j {
            Json::Number(n) => {
                parse_decimal(&n.to_string(), *precision, *scale).map(Value::Decimal)
            }
            Json::String(s) => parse_decimal(s, *precision, *scale).map(Value::Decimal),
            _ => Err(invalid(j, ty)),
        },
        SqlType::String => match j {
            Json::String(s) => Ok(Value::string(s.as_str())),
            Json::Number(n) => Ok(Value::string(n.to_string())),
            Json::Bool(b) => Ok(Value::string(b.to_string())),
            Json::Object(_) => Ok(Value::string(j.to_string())),
            Json::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let v = convert(item, ty).map_err(|e| e.at(format!("[{i}]")))?;
                    parts.push(match v {
                        Value::String(s) => s.to_string(),
                        _ => "null".to_string(),
                    });
                }
                Ok(Value::string(format!("[{}]", parts.join(", "))))
            }
            Json::Null => Ok(Value::Null),
        },
        SqlType::Bytes => match j {
            Json::String(s) => B64.decode(s.as_bytes()).map(Value::bytes).map_err(|_| {
                ConvError::new(format!("Value is not a valid Base64 encoded string: {s}"))
            }),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Date => match j {
            Json::Number(n) => number_as_i64(n)
                .map(|d| Value::Date(d as i32))
                .ok_or_else(|| invalid(j, ty)),
            Json::String(s) => s
                .trim()
                .parse::<i32>()
                .ok()
                .or_else(|| parse_iso_date(s))
                .map(Value::Date)
                .ok_or_else(|| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Time => match j {
            Json::Number(n) => number_as_i64(n)
                .map(Value::Time)
                .ok_or_else(|| invalid(j, ty)),
            Json::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Time)
                .map_err(|_| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Timestamp => match j {
            Json::Number(n) => number_as_i64(n)
                .map(Value::Timestamp)
                .ok_or_else(|| invalid(j, ty)),
            Json::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Timestamp)
                .map_err(|_| coerce_failed(ty)),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Array(elem) => match j {
            Json::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, elem).map_err(|e| e.at(format!("[{i}]"))))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Map(kt, vt) => match j {
            Json::Object(obj) => obj
                .iter()
                .map(|(k, v)| {
                    let key = convert(&Json::String(k.clone()), kt)
                        .map_err(|e| e.at(format!(".{k}.key")))?;
                    let value = convert(v, vt).map_err(|e| e.at(format!(".{k}.value")))?;
                    Ok((key, value))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|entries| Value::Map(java_hash_map_order(entries))),
            _ => Err(invalid(j, ty)),
        },
        SqlType::Struct(fields) => match j {
            Json::Object(obj) => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let v = match lookup(obj, &f.name) {
                        Some(v) => convert(v, &f.ty).map_err(|e| e.at(format!(".{}", f.name)))?,
                        None => Value::Null,
                    };
                    out.push((Arc::from(f.name.as_str()), v));
                }
                Ok(Value::Struct(out))
            }
            _ => Err(invalid(j, ty)),
        },
    }
}

/// Java's `Double.parseDouble`: trims, accepts `NaN` and `Infinity`.
fn parse_java_double(s: &str) -> Option<f64> {
    let t = s.trim();
    match t {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => t.trim_end_matches(['d', 'D', 'f', 'F']).parse().ok(),
    }
}

/// A property by exact name, else by upper-cased name (ksqlDB's rule).
pub(crate) fn lookup<'a>(obj: &'a serde_json::Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.to_uppercase() == name)
            .map(|(_, v)| v)
    })
}

/// Appends `value` as JSON text, keeping struct field order.
pub(crate) fn write_json(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Struct(fields) => {
            out.push(b'{');
            for (i, (n, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(n, out);
                out.push(b':');
                write_json(v, out);
            }
            out.push(b'}');
        }
        Value::Map(entries) => {
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(&map_key_text(k), out);
                out.push(b':');
                write_json(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(v, out);
            }
            out.push(b']');
        }
        other => {
            let j = value_to_json(other);
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, &j);
        }
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The JSON row format: an object with a property per column, or the bare
/// value of a single unwrapped column.
pub(crate) struct JsonFormat {
    pub columns: Vec<Column>,
    pub unwrapped: bool,
    pub what: &'static str,
    pub topic: String,
}

impl JsonFormat {
    fn error(&self, e: impl std::fmt::Display) -> String {
        format!(
            "Failed to deserialize {} from topic: {}. {e}",
            self.what, self.topic
        )
    }
}

impl RowFormat for JsonFormat {
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let json: Json = serde_json::from_slice(bytes).map_err(|e| self.error(e))?;
        if json.is_null() {
            return Ok(None);
        }
        if self.unwrapped {
            let v = convert(&json, &self.columns[0].ty).map_err(|e| self.error(e))?;
            return Ok(Some(vec![v]));
        }
        let Json::Object(obj) = &json else {
            let ty = SqlType::Struct(
                self.columns
                    .iter()
                    .map(|c| creek_sql::types::Field::new(c.name.clone(), c.ty.clone()))
                    .collect(),
            );
            return Err(self.error(invalid(&json, &ty)));
        };
        let mut row = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            row.push(match lookup(obj, &c.name) {
                Some(v) => {
                    convert(v, &c.ty).map_err(|e| self.error(e.at(format!(".{}", c.name))))?
                }
                None => Value::Null,
            });
        }
        Ok(Some(row))
    }

    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(64);
        if self.unwrapped {
            let v = row.first().unwrap_or(&Value::Null);
            if v.is_null() {
                return Ok(None);
            }
            write_json(v, &mut out);
            return Ok(Some(out));
        }
        out.push(b'{');
        for (i, c) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(&c.name, &mut out);
            out.push(b':');
            write_json(row.get(i).unwrap_or(&Value::Null), &mut out);
        }
        out.push(b'}');
        Ok(Some(out))
    }
}

/// Orders map entries as ksqlDB's JSON deserializer hands them on: it copies
/// each JSON object into `new HashMap<>(size)`, so lambdas such as REDUCE see
/// the entries in Java HashMap iteration order, not in the document's order.
fn java_hash_map_order(entries: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    let capacity = entries.len();
    java_hash_map_order_by(entries, capacity, |(k, _)| match k {
        Value::String(s) => s,
        _ => "",
    })
}

/// Orders items the way a Java `HashMap<String, _>` created with
/// `initial_capacity` and filled in this order iterates them: bucket by
/// bucket, items sharing a bucket in insertion order.
pub(crate) fn java_hash_map_order_by<T>(
    mut items: Vec<T>,
    initial_capacity: usize,
    key: impl Fn(&T) -> &str,
) -> Vec<T> {
    if items.len() < 2 {
        return items;
    }
    // tableSizeFor(capacity) buckets, doubled while the size passes three
    // quarters of them.
    let mut buckets = initial_capacity.max(1).next_power_of_two();
    while items.len() * 4 > buckets * 3 {
        buckets *= 2;
    }
    let bucket = |s: &str| -> usize {
        // String.hashCode over UTF-16 code units, spread as HashMap.hash does.
        let h = s
            .encode_utf16()
            .fold(0i32, |h, unit| h.wrapping_mul(31).wrapping_add(unit as i32))
            as u32;
        ((h ^ (h >> 16)) as usize) & (buckets - 1)
    };
    items.sort_by_key(|item| bucket(key(item)));
    items
}
