//! Reading one field of a record for partitioners (`partition.field.name`) and
//! `timestamp.field`, without decoding the rest of it.

use std::fmt;

use serde_json::Value;

use crate::{LakeError, SinkValue};
use creek_avro::{DecodeError, IntKind, LongKind, Node, Reader, Unit};

/// A scalar field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    String(String),
    /// Days since 1970-01-01.
    Date(i32),
    TimestampMillis(i64),
    TimestampMicros(i64),
}

impl FieldValue {
    /// Confluent's FieldPartitioner path segment: `name=value`.
    pub fn partition_segment(&self, name: &str) -> String {
        format!("{name}={self}")
    }

    /// The value as epoch milliseconds, for `timestamp.extractor=RecordField`:
    /// timestamps as they are, dates at midnight UTC, numbers as milliseconds,
    /// strings parsed as RFC 3339 / ISO-8601.
    pub fn epoch_millis(&self) -> Option<i64> {
        match self {
            FieldValue::Long(ms) | FieldValue::TimestampMillis(ms) => Some(*ms),
            FieldValue::TimestampMicros(us) => Some(us.div_euclid(1000)),
            FieldValue::Date(days) => Some(i64::from(*days) * 86_400_000),
            FieldValue::Double(v) if v.is_finite() => Some(*v as i64),
            FieldValue::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|t| t.timestamp_millis())
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|t| t.and_utc().timestamp_millis())
                }),
            _ => None,
        }
    }
}

/// The value as Java's `toString` shows it (what Confluent puts in paths), except
/// dates and timestamps, which show as ISO-8601 in UTC (`2021-04-12`,
/// `2021-04-12T23:26:03.655Z`) instead of Java's `Mon Apr 12 …` form.
impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Null => f.write_str("null"),
            FieldValue::Bool(b) => write!(f, "{b}"),
            FieldValue::Long(n) => write!(f, "{n}"),
            FieldValue::Double(v) => f.write_str(&java_double(*v)),
            FieldValue::String(s) => f.write_str(s),
            FieldValue::Date(days) => {
                match chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|d| d.checked_add_signed(chrono::Duration::days(i64::from(*days))))
                {
                    Some(d) => write!(f, "{}", d.format("%Y-%m-%d")),
                    None => write!(f, "{days}"),
                }
            }
            FieldValue::TimestampMillis(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
                Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.3fZ")),
                None => write!(f, "{ms}"),
            },
            FieldValue::TimestampMicros(us) => match chrono::DateTime::from_timestamp_micros(*us) {
                Some(t) => write!(f, "{}", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
                None => write!(f, "{us}"),
            },
        }
    }
}

/// Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.5E-4`.
fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Rust's `{:e}` is the shortest round-trip mantissa: 1e10, 1.5e-5.
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// Reads a top-level field of a record, or a nested one with a dotted path
/// (`address.city`). `Ok(None)` when the record has no such field; a path through a
/// null struct gives `Some(FieldValue::Null)`.
pub fn field_of(value: &SinkValue, path: &str) -> Result<Option<FieldValue>, LakeError> {
    let segments: Vec<&str> = path.split('.').collect();
    if path.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err(LakeError::Config {
            key: "partition.field.name",
            value: path.into(),
            reason: "a field name, or a dotted path of field names".into(),
        });
    }
    match value {
        SinkValue::Avro { schema, body } => {
            let node = crate::plan_of(schema)?;
            let mut r = Reader::new(body);
            avro_field(node, &mut r, &segments, path).map_err(crate::convert_error)
        }
        SinkValue::Json(v) => json_field(v, &segments, path),
        SinkValue::Bytes(_) => Err(LakeError::convert(format!(
            "cannot read field {path:?}: the value is raw bytes (ByteArrayConverter/StringConverter), not a record"
        ))),
    }
}

fn avro_field(
    node: &Node,
    r: &mut Reader<'_>,
    segments: &[&str],
    path: &str,
) -> Result<Option<FieldValue>, DecodeError> {
    let node = match node {
        Node::Optional { null_index, inner } => {
            if r.branch(2)? == *null_index as usize {
                return Ok(Some(FieldValue::Null));
            }
            inner
        }
        other => other,
    };
    let Node::Record(fields) = node else {
        return Err(DecodeError::new(format!(
            "cannot read field {path:?}: the value is an Avro {}, not a record",
            node.describe()
        )));
    };
    for f in fields.iter() {
        if f.name == segments[0] {
            return if segments.len() == 1 {
                avro_scalar(&f.node, r, path).map(Some)
            } else {
                avro_field(&f.node, r, &segments[1..], path)
            };
        }
        creek_avro::skip(&f.node, r).map_err(|e| e.in_field(&f.name))?;
    }
    Ok(None)
}

fn avro_scalar(node: &Node, r: &mut Reader<'_>, path: &str) -> Result<FieldValue, DecodeError> {
    let v = match node {
        Node::Null => FieldValue::Null,
        Node::Boolean => FieldValue::Bool(r.boolean()?),
        Node::Int(IntKind::Plain | IntKind::TimeMillis) => FieldValue::Long(i64::from(r.int()?)),
        Node::Int(IntKind::Date) => FieldValue::Date(r.int()?),
        Node::Long(LongKind::Plain | LongKind::TimeMicros) => FieldValue::Long(r.long()?),
        Node::Long(LongKind::Timestamp { unit, .. }) => match unit {
            Unit::Millis => FieldValue::TimestampMillis(r.long()?),
            Unit::Micros => FieldValue::TimestampMicros(r.long()?),
            Unit::Nanos => FieldValue::TimestampMicros(r.long()?.div_euclid(1000)),
        },
        Node::Float => FieldValue::Double(f64::from(r.float()?)),
        Node::Double => FieldValue::Double(r.double()?),
        Node::String => FieldValue::String(r.string()?.to_string()),
        Node::Enum(symbols) => FieldValue::String(r.symbol(symbols)?.to_string()),
        Node::Optional { null_index, inner } => {
            if r.branch(2)? == *null_index as usize {
                FieldValue::Null
            } else {
                avro_scalar(inner, r, path)?
            }
        }
        other => {
            return Err(DecodeError::new(format!(
                "not supported yet: partitioning on field {path:?} of Avro type {}",
                other.describe()
            )))
        }
    };
    Ok(v)
}

fn json_field(v: &Value, segments: &[&str], path: &str) -> Result<Option<FieldValue>, LakeError> {
    let mut current = v;
    for seg in segments {
        match current {
            Value::Object(map) => match map.get(*seg) {
                Some(next) => current = next,
                None => return Ok(None),
            },
            Value::Null => return Ok(Some(FieldValue::Null)),
            _ => {
                return Err(LakeError::convert(format!(
                "cannot read field {path:?}: {seg:?} is inside a JSON value that is not an object"
            )))
            }
        }
    }
    let v = match current {
        Value::Null => FieldValue::Null,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::Long(i),
            None => FieldValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => FieldValue::String(s.clone()),
        Value::Array(_) | Value::Object(_) => {
            return Err(LakeError::not_supported(format!(
                "partitioning on field {path:?}, which is a JSON array or object"
            )))
        }
    };
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_avro::{put_long, put_str};
    use creek_schema::RegisteredSchema;
    use serde_json::json;
    use std::sync::Arc;

    fn avro_value(schema: &str, body: Vec<u8>) -> SinkValue {
        SinkValue::Avro {
            schema: Arc::new(RegisteredSchema::new(
                4242,
                schema.into(),
                apache_avro::Schema::parse_str(schema).unwrap(),
            )),
            body: body.into(),
        }
    }

    #[test]
    fn reads_avro_fields_and_nested_paths() {
        let schema = r#"{"type":"record","name":"r","fields":[
            {"name":"nome","type":["null","string"]},
            {"name":"nascimento","type":["null",{"type":"int","logicalType":"date"}]},
            {"name":"dt_update","type":{"type":"long","logicalType":"timestamp-millis"}},
            {"name":"addr","type":["null",{"type":"record","name":"a","fields":[{"name":"city","type":"string"}]}]},
            {"name":"tags","type":{"type":"array","items":"string"}}
        ]}"#;
        let mut b = Vec::new();
        put_long(&mut b, 1);
        put_str(&mut b, "Ana");
        put_long(&mut b, 1);
        put_long(&mut b, 18_729);
        put_long(&mut b, 1_618_269_963_655);
        put_long(&mut b, 1);
        put_str(&mut b, "Lisboa");
        put_long(&mut b, 0);
        let v = avro_value(schema, b);
        assert_eq!(
            field_of(&v, "nome").unwrap(),
            Some(FieldValue::String("Ana".into()))
        );
        let born = field_of(&v, "nascimento").unwrap().unwrap();
        assert_eq!(born, FieldValue::Date(18_729));
        assert_eq!(born.to_string(), "2021-04-12");
        let at = field_of(&v, "dt_update").unwrap().unwrap();
        assert_eq!(at.to_string(), "2021-04-12T23:26:03.655Z");
        assert_eq!(at.epoch_millis(), Some(1_618_269_963_655));
        assert_eq!(
            field_of(&v, "addr.city")
                .unwrap()
                .unwrap()
                .partition_segment("city"),
            "city=Lisboa"
        );
        assert_eq!(field_of(&v, "missing").unwrap(), None);
        let err = field_of(&v, "tags").unwrap_err();
        assert!(err.to_string().contains("not supported yet"), "{err}");

        let mut b = Vec::new();
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        let v = avro_value(schema, b);
        assert_eq!(field_of(&v, "nome").unwrap(), Some(FieldValue::Null));
        assert_eq!(field_of(&v, "addr.city").unwrap(), Some(FieldValue::Null));
    }

    #[test]
    fn reads_json_fields() {
        let v = SinkValue::Json(json!({"a": {"b": 3}, "x": 1.5, "s": "t", "n": null}));
        assert_eq!(field_of(&v, "a.b").unwrap(), Some(FieldValue::Long(3)));
        assert_eq!(field_of(&v, "x").unwrap(), Some(FieldValue::Double(1.5)));
        assert_eq!(field_of(&v, "n.deeper").unwrap(), Some(FieldValue::Null));
        assert_eq!(field_of(&v, "zz").unwrap(), None);
        assert!(field_of(&v, "a").is_err());
        assert!(field_of(&v, "s.t").is_err());
        assert!(field_of(&SinkValue::Bytes("x".into()), "a").is_err());
        assert!(field_of(&v, "a..b").is_err());
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(3.25), "3.25");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e-5), "1.5E-5");
        assert_eq!(java_double(-0.001), "-0.001");
        assert_eq!(FieldValue::Long(-3).partition_segment("n"), "n=-3");
    }
}
