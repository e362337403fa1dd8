//! Kafka Connect's data model, reduced to what source connectors produce: a struct
//! schema of typed, optionally nullable fields, and rows of values in field order.
//!
//! Logical types follow Connect's names (`org.apache.kafka.connect.data.Date` …) so
//! that the Avro and JSON forms match what Confluent's converters write.

use std::fmt::Write as _;

use creek_avro::{decimal_bytes, put_bytes, put_long};
use serde_json::{json, Map, Value as Json};

pub const DATE: &str = "org.apache.kafka.connect.data.Date";
pub const TIME: &str = "org.apache.kafka.connect.data.Time";
pub const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
pub const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";

/// A field's type: Connect's primitive types plus its logical types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Boolean,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Bytes,
    /// Days since 1970-01-01 (Connect's Date: INT32).
    Date,
    /// Milliseconds since midnight (Connect's Time: INT32).
    Time,
    /// Milliseconds since the epoch, UTC (Connect's Timestamp: INT64).
    Timestamp,
    /// Connect's Decimal: unscaled two's-complement big-endian bytes at a fixed scale.
    Decimal {
        scale: u32,
        precision: Option<u32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
    pub optional: bool,
}

/// A record schema: Connect's STRUCT, named after the table it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructSchema {
    pub name: String,
    pub fields: Vec<Field>,
}

/// One value of a row; the variant follows the field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    Float32(f32),
    Float64(f64),
    String(String),
    Bytes(Vec<u8>),
    Date(i32),
    Time(i32),
    Timestamp(i64),
    /// Unscaled value; the scale is the field's.
    Decimal(i128),
}

impl StructSchema {
    /// The Avro schema Confluent's AvroConverter derives from this Connect schema
    /// (`connect.name` annotations, optional fields as `["null", T]` with default null).
    pub fn avro_schema(&self) -> Json {
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|f| {
                let t = avro_type(&f.ty);
                if f.optional {
                    json!({"name": f.name, "type": ["null", t], "default": null})
                } else {
                    json!({"name": f.name, "type": t})
                }
            })
            .collect();
        json!({
            "type": "record",
            "name": avro_name(&self.name),
            "fields": fields,
            "connect.name": self.name,
        })
    }

    /// The schema half of JsonConverter's `{"schema": …, "payload": …}` envelope.
    pub fn connect_json_schema(&self) -> Json {
        let fields: Vec<Json> = self
            .fields
            .iter()
            .map(|f| {
                let mut m = connect_type_json(&f.ty);
                m.insert("optional".into(), Json::Bool(f.optional));
                m.insert("field".into(), Json::String(f.name.clone()));
                Json::Object(m)
            })
            .collect();
        json!({"type": "struct", "fields": fields, "optional": false, "name": self.name})
    }
}

/// Avro names allow `[A-Za-z_][A-Za-z0-9_]*` per dotted part; Connect sanitizes the rest.
fn avro_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, part) in name.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        for (j, c) in part.chars().enumerate() {
            let ok = c.is_ascii_alphabetic() || c == '_' || (j > 0 && c.is_ascii_digit());
            out.push(if ok { c } else { '_' });
        }
        if part.is_empty() {
            out.push('_');
        }
    }
    out
}

fn avro_type(ty: &FieldType) -> Json {
    match ty {
        FieldType::Boolean => json!("boolean"),
        // Connect's INT16 becomes Avro int with a connect.type hint.
        FieldType::Int16 => json!({"type": "int", "connect.type": "int16"}),
        FieldType::Int32 => json!("int"),
        FieldType::Int64 => json!("long"),
        FieldType::Float32 => json!("float"),
        FieldType::Float64 => json!("double"),
        FieldType::String => json!("string"),
        FieldType::Bytes => json!("bytes"),
        FieldType::Date => {
            json!({"type": "int", "connect.version": 1, "connect.name": DATE, "logicalType": "date"})
        }
        FieldType::Time => {
            json!({"type": "int", "connect.version": 1, "connect.name": TIME, "logicalType": "time-millis"})
        }
        FieldType::Timestamp => {
            json!({"type": "long", "connect.version": 1, "connect.name": TIMESTAMP, "logicalType": "timestamp-millis"})
        }
        FieldType::Decimal { scale, precision } => {
            let mut params = Map::new();
            params.insert("scale".into(), Json::String(scale.to_string()));
            if let Some(p) = precision {
                params.insert(
                    "connect.decimal.precision".into(),
                    Json::String(p.to_string()),
                );
            }
            let mut m = json!({
                "type": "bytes", "scale": scale, "connect.version": 1,
                "connect.parameters": params, "connect.name": DECIMAL, "logicalType": "decimal",
            });
            // Avro's decimal requires a precision; Connect uses 64 when none is known.
            m["precision"] = json!(precision.unwrap_or(64));
            m
        }
    }
}

fn connect_type_json(ty: &FieldType) -> Map<String, Json> {
    let v = match ty {
        FieldType::Boolean => json!({"type": "boolean"}),
        FieldType::Int16 => json!({"type": "int16"}),
        FieldType::Int32 => json!({"type": "int32"}),
        FieldType::Int64 => json!({"type": "int64"}),
        FieldType::Float32 => json!({"type": "float"}),
        FieldType::Float64 => json!({"type": "double"}),
        FieldType::String => json!({"type": "string"}),
        FieldType::Bytes => json!({"type": "bytes"}),
        FieldType::Date => json!({"type": "int32", "name": DATE, "version": 1}),
        FieldType::Time => json!({"type": "int32", "name": TIME, "version": 1}),
        FieldType::Timestamp => json!({"type": "int64", "name": TIMESTAMP, "version": 1}),
        FieldType::Decimal { scale, .. } => {
            json!({"type": "bytes", "name": DECIMAL, "version": 1, "parameters": {"scale": scale.to_string()}})
        }
    };
    match v {
        Json::Object(m) => m,
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------
// Avro binary encoding (the body after Confluent's 5-byte prefix).

/// Avro's zigzag varint (ints, longs, lengths, block counts), argument order kept
/// for the PostgreSQL row decoder.
#[inline]
pub(crate) fn zigzag(out: &mut Vec<u8>, n: i64) {
    put_long(out, n);
}

/// Appends one non-null value of a field of type `ty` (no union index).
pub fn encode_avro_value(ty: &FieldType, v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => encode_zero(ty, out),
        Value::Boolean(b) => out.push(*b as u8),
        Value::Int16(n) => zigzag(out, *n as i64),
        Value::Int32(n) | Value::Date(n) | Value::Time(n) => zigzag(out, *n as i64),
        Value::Int64(n) | Value::Timestamp(n) => zigzag(out, *n),
        Value::Float32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Float64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::String(s) => put_bytes(out, s.as_bytes()),
        Value::Bytes(b) => put_bytes(out, b),
        Value::Decimal(d) => put_bytes(out, &decimal_bytes(*d)),
    }
}

/// Appends one row in Avro binary form for `schema.avro_schema()`.
pub fn encode_avro_row(schema: &StructSchema, row: &[Value], out: &mut Vec<u8>) {
    for (f, v) in schema.fields.iter().zip(row) {
        if f.optional {
            // Union index: 0 = null, 1 = the type.
            if matches!(v, Value::Null) {
                out.push(0);
                continue;
            }
            out.push(2);
        }
        // A null in a required field (impossible from a NOT NULL column) becomes the
        // type's zero value.
        encode_avro_value(&f.ty, v, out);
    }
}

fn encode_zero(ty: &FieldType, out: &mut Vec<u8>) {
    match ty {
        FieldType::Float32 => out.extend_from_slice(&[0; 4]),
        FieldType::Float64 => out.extend_from_slice(&[0; 8]),
        _ => out.push(0),
    }
}

// ---------------------------------------------------------------------------
// JSON forms.

/// The payload JSON of a row as JsonConverter writes it (dates as days, timestamps
/// as epoch ms, decimals as base64 of the unscaled bytes).
pub fn row_json(schema: &StructSchema, row: &[Value]) -> Json {
    let mut m = Map::with_capacity(schema.fields.len());
    for (f, v) in schema.fields.iter().zip(row) {
        m.insert(f.name.clone(), value_json(v));
    }
    Json::Object(m)
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int16(n) => json!(n),
        Value::Int32(n) | Value::Date(n) | Value::Time(n) => json!(n),
        Value::Int64(n) | Value::Timestamp(n) => json!(n),
        Value::Float32(x) => json!(x),
        Value::Float64(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Bytes(b) => json!(base64(b)),
        Value::Decimal(d) => json!(base64(&decimal_bytes(*d))),
    }
}

/// Connect's `Struct.toString()`, which StringConverter writes for struct values.
pub fn row_string(schema: &StructSchema, row: &[Value]) -> String {
    let mut s = String::from("Struct{");
    let mut first = true;
    for (f, v) in schema.fields.iter().zip(row) {
        if matches!(v, Value::Null) {
            continue; // Struct.toString skips null fields
        }
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(s, "{}=", f.name);
        match v {
            Value::String(x) => s.push_str(x),
            Value::Date(d) => {
                let date = chrono::DateTime::from_timestamp(*d as i64 * 86_400, 0)
                    .map(|t| t.format("%a %b %d 00:00:00 UTC %Y").to_string())
                    .unwrap_or_default();
                s.push_str(&date)
            }
            Value::Timestamp(ms) => {
                let t = chrono::DateTime::from_timestamp_millis(*ms)
                    .map(|t| t.format("%a %b %d %H:%M:%S UTC %Y").to_string())
                    .unwrap_or_default();
                s.push_str(&t)
            }
            other => s.push_str(&value_json(other).to_string()),
        }
    }
    s.push('}');
    s
}

pub fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customers() -> StructSchema {
        StructSchema {
            name: "customers".into(),
            fields: vec![
                Field {
                    name: "nome".into(),
                    ty: FieldType::String,
                    optional: true,
                },
                Field {
                    name: "nascimento".into(),
                    ty: FieldType::Date,
                    optional: true,
                },
                Field {
                    name: "dt_update".into(),
                    ty: FieldType::Timestamp,
                    optional: false,
                },
            ],
        }
    }

    #[test]
    #[allow(deprecated)] // from_avro_datum is the simplest reader for one datum
    fn avro_schema_parses_and_round_trips_a_row() {
        let schema = customers();
        let avro = apache_avro::Schema::parse(&schema.avro_schema()).unwrap();
        let mut body = Vec::new();
        let row = vec![
            Value::String("Ana".into()),
            Value::Null,
            Value::Timestamp(1_618_269_963_655),
        ];
        encode_avro_row(&schema, &row, &mut body);
        let decoded = apache_avro::from_avro_datum(&avro, &mut &body[..], None).unwrap();
        let apache_avro::types::Value::Record(fields) = decoded else {
            panic!("not a record")
        };
        assert_eq!(
            fields[0].1,
            apache_avro::types::Value::Union(
                1,
                Box::new(apache_avro::types::Value::String("Ana".into()))
            )
        );
        assert_eq!(
            fields[1].1,
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null))
        );
        assert_eq!(
            fields[2].1,
            apache_avro::types::Value::TimestampMillis(1_618_269_963_655)
        );
    }

    #[test]
    fn decimal_bytes_are_minimal_twos_complement() {
        assert_eq!(decimal_bytes(0), vec![0]);
        assert_eq!(decimal_bytes(127), vec![0x7f]);
        assert_eq!(decimal_bytes(128), vec![0x00, 0x80]);
        assert_eq!(decimal_bytes(-1), vec![0xff]);
        assert_eq!(decimal_bytes(-129), vec![0xff, 0x7f]);
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn struct_to_string_skips_nulls() {
        let s = row_string(
            &customers(),
            &[
                Value::String("Ana".into()),
                Value::Null,
                Value::Timestamp(0),
            ],
        );
        assert_eq!(s, "Struct{nome=Ana,dt_update=Thu Jan 01 00:00:00 UTC 1970}");
    }
}
