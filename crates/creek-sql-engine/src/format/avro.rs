//! AVRO: the Confluent wire format (magic 0, 4-byte schema id, Avro binary)
//! through the schema registry.
//!
//! Reading uses the writer schema the payload names, mapping record fields to
//! columns and struct fields by name (exact, then case-insensitive) and
//! coercing values to the column types. Writing uses the schema ksqlDB
//! generates from the columns (see [`schema_json`]), registered once when the
//! format is built, or a registered schema chosen by id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::{InnerDecimalSchema, RecordSchema, Schema};
use apache_avro::types::Value as Avro;
use apache_avro::writer::datum::GenericDatumWriter;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use creek_avro::wire;
use creek_schema::registry::Registry;
use creek_sql::types::SqlType;
use creek_sql::value::{Decimal, Value};

use super::avro_decode::{decimal_from_bytes, Reader, RowPlan};
use super::avro_encode::{self, encodable};
use super::avro_types::{
    coerce, default_value, is_general_union, sql_type_of, supported, union_member_name, Names,
};
use super::json::convert;
use super::{Column, RowFormat};

/// The record name ksqlDB gives value schemas.
pub const DEFAULT_SCHEMA_NAME: &str = "io.confluent.ksql.avro_schemas.KsqlDataSourceSchema";

// ---------------------------------------------------------------------------
// Schema generation, as ksqlDB's AvroSchemas / Connect's AvroData do it.

fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => {
            return Err(format!(
                "Schema is not compatible with Avro: Illegal initial character: {name}"
            ))
        }
    }
    if chars.any(|c| !(c.is_ascii_alphanumeric() || c == '_')) {
        return Err(format!(
            "Schema is not compatible with Avro: Illegal character in: {name}"
        ));
    }
    Ok(())
}

fn optional(t: Json) -> Json {
    json!(["null", t])
}

fn split_name(full: &str) -> (Option<&str>, &str) {
    match full.rsplit_once('.') {
        Some((ns, n)) => (Some(ns), n),
        None => (None, full),
    }
}

fn record_json<'a>(
    full_name: &str,
    fields: impl Iterator<Item = (&'a str, &'a SqlType)>,
) -> Result<Json, String> {
    let mut out = Vec::new();
    for (name, ty) in fields {
        check_name(name)?;
        let t = type_json(ty, &format!("{full_name}_{name}"))?;
        out.push(json!({"name": name, "type": optional(t), "default": null}));
    }
    let (ns, name) = split_name(full_name);
    let mut r = json!({"type": "record", "name": name});
    if let Some(ns) = ns {
        r["namespace"] = json!(ns);
    }
    r["fields"] = Json::Array(out);
    r["connect.name"] = json!(full_name);
    Ok(r)
}

/// The Avro type of a SQL type; `name` names it if it is a record.
fn type_json(ty: &SqlType, name: &str) -> Result<Json, String> {
    Ok(match ty {
        SqlType::Boolean => json!("boolean"),
        SqlType::Int => json!("int"),
        SqlType::Bigint => json!("long"),
        SqlType::Double => json!("double"),
        SqlType::String => json!("string"),
        SqlType::Bytes => json!("bytes"),
        SqlType::Decimal { precision, scale } => json!({
            "type": "bytes",
            "scale": scale,
            "precision": precision,
            "connect.version": 1,
            "connect.parameters": {
                "scale": scale.to_string(),
                "connect.decimal.precision": precision.to_string()
            },
            "connect.name": "org.apache.kafka.connect.data.Decimal",
            "logicalType": "decimal"
        }),
        SqlType::Date => json!({
            "type": "int",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Date",
            "logicalType": "date"
        }),
        SqlType::Time => json!({
            "type": "int",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Time",
            "logicalType": "time-millis"
        }),
        SqlType::Timestamp => json!({
            "type": "long",
            "connect.version": 1,
            "connect.name": "org.apache.kafka.connect.data.Timestamp",
            "logicalType": "timestamp-millis"
        }),
        SqlType::Array(e) => json!({"type": "array", "items": optional(type_json(e, name)?)}),
        SqlType::Map(k, v) => {
            if **k != SqlType::String {
                return Err("Avro only supports MAPs with STRING keys".into());
            }
            // Connect's AvroData writes ksqlDB's maps (optional string keys)
            // as arrays of named key/value entry records.
            let (ns, short) = split_name(name);
            let mut entry = json!({"type": "record", "name": short});
            if let Some(ns) = ns {
                entry["namespace"] = json!(ns);
            }
            entry["fields"] = json!([
                {"name": "key", "type": ["null", "string"], "default": null},
                {"name": "value", "type": optional(type_json(v, &format!("{name}_MapValue"))?), "default": null}
            ]);
            entry["connect.internal.type"] = json!("MapEntry");
            entry["connect.name"] = json!(name);
            json!({"type": "array", "items": entry})
        }
        SqlType::Struct(fields) => {
            record_json(name, fields.iter().map(|f| (f.name.as_str(), &f.ty)))?
        }
    })
}

/// The Avro schema (as JSON text) ksqlDB generates for `columns`: a record
/// named `full_name` with an optional field per column, or — `unwrapped` —
/// the type of the single column itself.
pub fn schema_json(columns: &[Column], full_name: &str, unwrapped: bool) -> Result<String, String> {
    let j = if unwrapped {
        type_json(&columns[0].ty, full_name)?
    } else {
        record_json(full_name, columns.iter().map(|c| (c.name.as_str(), &c.ty)))?
    };
    Ok(j.to_string())
}

// ---------------------------------------------------------------------------
// Inference: Avro types to SQL types, as ksqlDB infers source columns.

// ---------------------------------------------------------------------------
// Reading: Avro values (walked with their writer schema) to SQL values.

fn decimal_to_bytes(unscaled: i128) -> Vec<u8> {
    let full = unscaled.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let b = full[start];
        let next = full[start + 1];
        if (b == 0 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    full[start..].to_vec()
}

/// A scalar Avro value as the SQL value it most directly is.
fn scalar(av: &Avro, schema: &Schema) -> Result<Value, String> {
    Ok(match av {
        Avro::Null => Value::Null,
        Avro::Boolean(b) => Value::Boolean(*b),
        Avro::Int(i) => match schema {
            Schema::Date => Value::Date(*i),
            Schema::TimeMillis => Value::Time(*i as i64),
            _ => Value::Int(*i),
        },
        Avro::Long(l) => Value::Bigint(*l),
        Avro::Float(f) => Value::Double(*f as f64),
        Avro::Double(d) => Value::Double(*d),
        Avro::Bytes(b) => Value::bytes(b.as_slice()),
        Avro::Fixed(_, b) => Value::bytes(b.as_slice()),
        Avro::String(s) => Value::string(s.as_str()),
        Avro::Enum(_, s) => Value::string(s.as_str()),
        Avro::Uuid(u) => Value::string(u.to_string()),
        Avro::Date(d) => Value::Date(*d),
        Avro::TimeMillis(t) => Value::Time(*t as i64),
        Avro::TimeMicros(t) => Value::Time(t / 1000),
        Avro::TimestampMillis(t) | Avro::LocalTimestampMillis(t) => Value::Timestamp(*t),
        Avro::TimestampMicros(t) | Avro::LocalTimestampMicros(t) => Value::Timestamp(t / 1000),
        Avro::TimestampNanos(t) | Avro::LocalTimestampNanos(t) => Value::Timestamp(t / 1_000_000),
        Avro::Decimal(d) => {
            let scale = match schema {
                Schema::Decimal(ds) => ds.scale as u32,
                _ => 0,
            };
            let bytes: Vec<u8> = d.try_into().map_err(|e| format!("{e}"))?;
            Value::Decimal(decimal_from_bytes(&bytes, scale)?)
        }
        Avro::BigDecimal(bd) => {
            Value::Decimal(Decimal::parse(&bd.to_string()).ok_or("Avro decimal too large")?)
        }
        other => return Err(format!("Unexpected Avro value {other:?}")),
    })
}

/// An Avro value written with `schema` as a SQL value of type `ty`.
pub(crate) fn from_avro(
    av: &Avro,
    schema: &Schema,
    names: &Names,
    ty: &SqlType,
) -> Result<Value, String> {
    let schema = names.resolve(schema)?;
    match (av, schema) {
        (Avro::Null, _) => Ok(Value::Null),
        (Avro::Union(i, inner), Schema::Union(u)) => {
            let s = u
                .variants()
                .get(*i as usize)
                .ok_or("Avro union branch out of range")?;
            if let (true, SqlType::Struct(fields)) = (is_general_union(u), ty) {
                if !matches!(s, Schema::Null) {
                    let member = union_member_name(names.resolve(s)?);
                    let mut out = Vec::with_capacity(fields.len());
                    for f in fields {
                        let v = if f.name.eq_ignore_ascii_case(&member) {
                            from_avro(inner, s, names, &f.ty)?
                        } else {
                            Value::Null
                        };
                        out.push((Arc::from(f.name.as_str()), v));
                    }
                    return Ok(Value::Struct(out));
                }
            }
            from_avro(inner, s, names, ty)
        }
        (Avro::Union(_, inner), s) => from_avro(inner, s, names, ty),
        (Avro::Record(values), Schema::Record(rs)) => match ty {
            SqlType::Struct(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for f in fields {
                    let v = match field_index(rs, &f.name) {
                        Some(i) => match values.get(i) {
                            Some((_, v)) => from_avro(v, &rs.fields[i].schema, names, &f.ty)
                                .map_err(|e| format!("{e} (field {})", f.name))?,
                            None => Value::Null,
                        },
                        None => Value::Null,
                    };
                    out.push((Arc::from(f.name.as_str()), v));
                }
                Ok(Value::Struct(out))
            }
            _ => Err(format!("Cannot convert an Avro record to {ty}")),
        },
        (Avro::Array(items), Schema::Array(a)) => match ty {
            SqlType::Array(e) => items
                .iter()
                .map(|i| from_avro(i, &a.items, names, e))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            SqlType::Map(kt, vt) => {
                // Connect's map entries: records of key and value.
                let entry = names.resolve(&a.items)?;
                let Schema::Record(rs) = entry else {
                    return Err(format!("Cannot convert an Avro array to {ty}"));
                };
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let item = match item {
                        Avro::Union(_, inner) => inner.as_ref(),
                        i => i,
                    };
                    let Avro::Record(kv) = item else {
                        return Err(format!("Cannot convert an Avro array to {ty}"));
                    };
                    let (Some(ki), Some(vi)) = (field_index(rs, "key"), field_index(rs, "value"))
                    else {
                        return Err(format!("Cannot convert an Avro array to {ty}"));
                    };
                    let k = from_avro(&kv[ki].1, &rs.fields[ki].schema, names, kt)?;
                    let v = from_avro(&kv[vi].1, &rs.fields[vi].schema, names, vt)?;
                    out.push((k, v));
                }
                Ok(Value::Map(out))
            }
            _ => Err(format!("Cannot convert an Avro array to {ty}")),
        },
        (Avro::Map(m), Schema::Map(ms)) => match ty {
            SqlType::Map(kt, vt) => {
                let mut entries: Vec<(&String, &Avro)> = m.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                let mut out = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = coerce(Value::string(k.as_str()), kt)?;
                    out.push((key, from_avro(v, &ms.types, names, vt)?));
                }
                Ok(Value::Map(out))
            }
            _ => Err(format!("Cannot convert an Avro map to {ty}")),
        },
        (av, s) => coerce(scalar(av, s)?, ty),
    }
}

fn field_index(rs: &RecordSchema, name: &str) -> Option<usize> {
    rs.lookup.get(name).copied().or_else(|| {
        rs.fields
            .iter()
            .position(|f| f.name.eq_ignore_ascii_case(name))
    })
}

// ---------------------------------------------------------------------------
// Writing: SQL values to Avro values of a given schema.

fn null_index(schema: &Schema) -> Option<usize> {
    match schema {
        Schema::Union(u) => u.variants().iter().position(|s| matches!(s, Schema::Null)),
        _ => None,
    }
}

pub(crate) fn to_avro(v: &Value, schema: &Schema, names: &Names) -> Result<Avro, String> {
    let schema = names.resolve(schema)?;
    if let Schema::Union(u) = schema {
        if v.is_null() {
            return match null_index(schema) {
                Some(i) => Ok(Avro::Union(i as u32, Box::new(Avro::Null))),
                None => Err("Cannot write NULL to a non-optional Avro union".into()),
            };
        }
        let mut last = String::from("empty union");
        for (i, s) in u.variants().iter().enumerate() {
            if matches!(s, Schema::Null) {
                continue;
            }
            match to_avro(v, s, names) {
                Ok(a) => return Ok(Avro::Union(i as u32, Box::new(a))),
                Err(e) => last = e,
            }
        }
        return Err(last);
    }
    if v.is_null() {
        return match schema {
            Schema::Null => Ok(Avro::Null),
            _ => Err("Cannot write NULL to a non-optional Avro field".into()),
        };
    }
    let mismatch = || format!("Cannot write {v:?} as Avro {schema:?}");
    Ok(match schema {
        Schema::Null => return Err(mismatch()),
        Schema::Boolean => Avro::Boolean(v.as_bool().ok_or_else(mismatch)?),
        Schema::Int => match v {
            Value::Int(i) | Value::Date(i) => Avro::Int(*i),
            Value::Time(t) => Avro::Int(*t as i32),
            _ => return Err(mismatch()),
        },
        Schema::Long => match v {
            Value::Int(i) => Avro::Long(*i as i64),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => Avro::Long(*i),
            _ => return Err(mismatch()),
        },
        Schema::Float => Avro::Float(v.as_f64().ok_or_else(mismatch)? as f32),
        Schema::Double => Avro::Double(v.as_f64().ok_or_else(mismatch)?),
        Schema::String | Schema::Uuid(_) => match v {
            Value::String(s) => Avro::String(s.to_string()),
            _ => return Err(mismatch()),
        },
        Schema::Bytes => match v {
            Value::Bytes(b) => Avro::Bytes(b.to_vec()),
            _ => return Err(mismatch()),
        },
        Schema::Fixed(f) => match v {
            Value::Bytes(b) if b.len() == f.size => Avro::Fixed(f.size, b.to_vec()),
            _ => return Err(mismatch()),
        },
        Schema::Enum(e) => match v {
            Value::String(s) => {
                let i = e
                    .symbols
                    .iter()
                    .position(|x| **x == **s)
                    .ok_or_else(mismatch)?;
                Avro::Enum(i as u32, s.to_string())
            }
            _ => return Err(mismatch()),
        },
        Schema::Decimal(ds) => {
            let d = match v {
                Value::Double(f) => Decimal::from_f64(*f, ds.scale as u32),
                other => other.as_decimal(),
            }
            .ok_or_else(mismatch)?;
            let d = d.rescale(ds.scale as u32).ok_or_else(mismatch)?;
            let mut bytes = decimal_to_bytes(d.unscaled);
            if let InnerDecimalSchema::Fixed(f) = &ds.inner {
                if bytes.len() > f.size {
                    return Err(mismatch());
                }
                let fill = if d.unscaled < 0 { 0xFF } else { 0 };
                let mut padded = vec![fill; f.size - bytes.len()];
                padded.extend_from_slice(&bytes);
                bytes = padded;
            }
            Avro::Decimal(apache_avro::Decimal::from(bytes))
        }
        Schema::Date => match v {
            Value::Date(d) | Value::Int(d) => Avro::Date(*d),
            Value::Timestamp(t) => {
                Avro::Date(t.div_euclid(creek_sql::value::MILLIS_PER_DAY) as i32)
            }
            _ => return Err(mismatch()),
        },
        Schema::TimeMillis => match v {
            Value::Time(t) => Avro::TimeMillis(*t as i32),
            Value::Int(t) => Avro::TimeMillis(*t),
            _ => return Err(mismatch()),
        },
        Schema::TimeMicros => match v {
            Value::Time(t) => Avro::TimeMicros(t * 1000),
            _ => return Err(mismatch()),
        },
        Schema::TimestampMillis => Avro::TimestampMillis(timestamp_ms(v).ok_or_else(mismatch)?),
        Schema::TimestampMicros => {
            Avro::TimestampMicros(timestamp_ms(v).ok_or_else(mismatch)? * 1000)
        }
        Schema::LocalTimestampMillis => {
            Avro::LocalTimestampMillis(timestamp_ms(v).ok_or_else(mismatch)?)
        }
        Schema::LocalTimestampMicros => {
            Avro::LocalTimestampMicros(timestamp_ms(v).ok_or_else(mismatch)? * 1000)
        }
        Schema::Array(a) => match v {
            Value::Array(items) => Avro::Array(
                items
                    .iter()
                    .map(|i| to_avro(i, &a.items, names))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Map(entries) => {
                let entry = names.resolve(&a.items)?;
                let entry = match entry {
                    Schema::Union(u) => u
                        .variants()
                        .iter()
                        .find(|s| !matches!(s, Schema::Null))
                        .ok_or_else(mismatch)?,
                    s => s,
                };
                let Schema::Record(rs) = names.resolve(entry)? else {
                    return Err(mismatch());
                };
                let mut out = Vec::with_capacity(entries.len());
                for (k, val) in entries {
                    let item = Value::Struct(vec![
                        (Arc::from("key"), k.clone()),
                        (Arc::from("value"), val.clone()),
                    ]);
                    out.push(to_avro(&item, &a.items, names)?);
                }
                let _ = rs;
                Avro::Array(out)
            }
            _ => return Err(mismatch()),
        },
        Schema::Map(m) => match v {
            Value::Map(entries) => {
                let mut out = HashMap::with_capacity(entries.len());
                for (k, val) in entries {
                    let key = match k {
                        Value::String(s) => s.to_string(),
                        other => super::value_text(other),
                    };
                    out.insert(key, to_avro(val, &m.types, names)?);
                }
                Avro::Map(out)
            }
            _ => return Err(mismatch()),
        },
        Schema::Record(rs) => match v {
            Value::Struct(fields) => record_to_avro(rs, names, |name| {
                fields
                    .iter()
                    .find(|(n, _)| &**n == name)
                    .or_else(|| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                    .map(|(_, v)| v)
            })?,
            _ => return Err(mismatch()),
        },
        _ => return Err(mismatch()),
    })
}

fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) | Value::Bigint(t) => Some(*t),
        Value::Int(i) => Some(*i as i64),
        Value::Date(d) => Some(*d as i64 * creek_sql::value::MILLIS_PER_DAY),
        _ => None,
    }
}

pub(crate) fn record_to_avro<'v>(
    rs: &RecordSchema,
    names: &Names,
    get: impl Fn(&str) -> Option<&'v Value>,
) -> Result<Avro, String> {
    let mut out = Vec::with_capacity(rs.fields.len());
    for f in &rs.fields {
        let v = get(&f.name).unwrap_or(&Value::Null);
        let a = if v.is_null() && null_index(names.resolve(&f.schema)?).is_none() {
            // A missing or null value for a non-optional field: its default.
            match &f.default {
                Some(d) => avro_default(d, &f.schema, names)?,
                None => {
                    return Err(format!(
                        "Cannot write NULL to the non-optional Avro field {}",
                        f.name
                    ))
                }
            }
        } else {
            to_avro(v, &f.schema, names).map_err(|e| format!("{e} (field {})", f.name))?
        };
        out.push((f.name.clone(), a));
    }
    Ok(Avro::Record(out))
}

/// A field default (JSON) as an Avro value of `schema`.
fn avro_default(d: &Json, schema: &Schema, names: &Names) -> Result<Avro, String> {
    let v = default_value(d, schema, names)?;
    to_avro(&v, names.resolve(schema)?, names)
}

// ---------------------------------------------------------------------------
// The row format.

struct Writer {
    id: i32,
    schema: Schema,
    names: Names,
    /// Whether the direct encoder writes this schema.
    fast: bool,
    /// The column of each field of the record written (see [`record_of`]),
    /// worked out once instead of by name per record.
    targets: Vec<Option<usize>>,
}

/// The record a row is written as: the schema itself, or the union branch
/// that is a record (with its branch index).
fn record_of<'s>(
    schema: &'s Schema,
    names: &'s Names,
) -> Result<(Option<usize>, &'s RecordSchema), String> {
    match names.resolve(schema)? {
        Schema::Record(rs) => Ok((None, rs)),
        Schema::Union(u) => {
            let i = u
                .variants()
                .iter()
                .position(|s| matches!(names.resolve(s), Ok(Schema::Record(_))))
                .ok_or("The Avro schema is not a record")?;
            match names.resolve(&u.variants()[i])? {
                Schema::Record(rs) => Ok((Some(i), rs)),
                _ => Err("The Avro schema is not a record".into()),
            }
        }
        _ => Err("The Avro schema is not a record".into()),
    }
}

struct Resolved {
    schema: Schema,
    names: Names,
    /// Whether the direct decoder reads this schema.
    fast: bool,
    /// The writer's record fields mapped to the columns.
    plan: RowPlan,
}

pub(crate) struct AvroFormat {
    columns: Vec<Column>,
    unwrapped: bool,
    registry: Arc<Registry>,
    /// The schema this format writes with, or why there is none.
    writer: Result<Writer, String>,
    cache: Mutex<HashMap<i32, Arc<Resolved>>>,
    /// The first writer schema resolved: nearly every record of a topic
    /// names it, and this finds it without a lock.
    first: OnceLock<(i32, Arc<Resolved>)>,
    /// The largest record written so far, to size output buffers.
    size_hint: AtomicUsize,
    what: &'static str,
    topic: String,
}

impl AvroFormat {
    pub(crate) async fn build(
        columns: &[Column],
        unwrapped: bool,
        properties: &std::collections::BTreeMap<String, String>,
        registry: Arc<Registry>,
        topic: &str,
        is_key: bool,
        registration: super::Registration,
    ) -> Result<AvroFormat, String> {
        let what = if is_key { "key" } else { "value" };
        let writer = if let Some(id) = properties.get("schemaId") {
            let id: i32 = id
                .trim()
                .parse()
                .map_err(|_| format!("Invalid schema id: {id}"))?;
            let s = registry.schema_by_id(id).ok_or_else(|| {
                format!("Schema with id {id} does not exist in the Schema Registry.")
            })?;
            Ok(Writer {
                id,
                names: Names::of(&s.avro),
                fast: encodable(&s.avro),
                schema: s.avro.clone(),
                targets: Vec::new(),
            })
        } else {
            let full_name = match properties.get("fullSchemaName") {
                Some(n) if n.trim().is_empty() => {
                    // ksqlDB trims the configured value before echoing it.
                    return Err(
                        "fullSchemaName cannot be empty. Format configuration: {fullSchemaName=}"
                            .to_string(),
                    );
                }
                Some(n) => n.clone(),
                None => DEFAULT_SCHEMA_NAME.to_string(),
            };
            let text = if columns.is_empty() {
                None
            } else {
                Some(schema_json(columns, &full_name, unwrapped)?)
            };
            match text {
                None => Err("no columns to write".to_string()),
                Some(text) => {
                    let schema = Schema::parse_str(&text)
                        .map_err(|e| format!("Schema is not compatible with Avro: {e}"))?;
                    let subject = format!("{topic}-{what}");
                    let existing = match registration {
                        super::Registration::IfAbsent => registry.latest(&subject),
                        super::Registration::Always => None,
                    };
                    if let Some((_, latest)) = existing {
                        // A source over a topic that has a schema: ksqlDB
                        // registers nothing. Writes use the columns' schema if
                        // the subject holds it, else the subject's latest.
                        let w = match registry.lookup(&subject, &text, false) {
                            Ok(v) => Writer {
                                id: v.schema.id,
                                names: Names::of(&schema),
                                fast: encodable(&schema),
                                schema,
                                targets: Vec::new(),
                            },
                            Err(_) => Writer {
                                id: latest.id,
                                names: Names::of(&latest.avro),
                                fast: encodable(&latest.avro),
                                schema: latest.avro.clone(),
                                targets: Vec::new(),
                            },
                        };
                        return Ok(AvroFormat::new(
                            columns,
                            unwrapped,
                            registry,
                            Ok(w),
                            what,
                            topic,
                        ));
                    }
                    // Registering may fail (e.g. an incompatible schema is
                    // already there): reading does not need it, so the error
                    // is kept for the first write.
                    match registry.register(&subject, &text).await {
                        Ok(id) => Ok(Writer {
                            id,
                            names: Names::of(&schema),
                            fast: encodable(&schema),
                            schema,
                            targets: Vec::new(),
                        }),
                        Err(e) => Err(format!(
                            "Failed to register the schema of subject {subject}: {e}"
                        )),
                    }
                }
            }
        };
        Ok(AvroFormat::new(
            columns, unwrapped, registry, writer, what, topic,
        ))
    }

    fn new(
        columns: &[Column],
        unwrapped: bool,
        registry: Arc<Registry>,
        writer: Result<Writer, String>,
        what: &'static str,
        topic: &str,
    ) -> AvroFormat {
        let writer = writer.map(|mut w| {
            if !unwrapped {
                if let Ok((_, rs)) = record_of(&w.schema, &w.names) {
                    w.targets = rs
                        .fields
                        .iter()
                        .map(|f| {
                            columns.iter().position(|c| c.name == f.name).or_else(|| {
                                columns
                                    .iter()
                                    .position(|c| c.name.eq_ignore_ascii_case(&f.name))
                            })
                        })
                        .collect();
                }
            }
            w
        });
        AvroFormat {
            columns: columns.to_vec(),
            unwrapped,
            registry,
            writer,
            cache: Mutex::new(HashMap::new()),
            first: OnceLock::new(),
            size_hint: AtomicUsize::new(64),
            what,
            topic: topic.to_string(),
        }
    }

    fn writer_schema(&self, id: i32) -> Result<Arc<Resolved>, String> {
        if let Some(r) = self.cache.lock().get(&id) {
            return Ok(r.clone());
        }
        let s = self
            .registry
            .schema_by_id(id)
            .ok_or_else(|| format!("Schema with id {id} does not exist in the Schema Registry."))?;
        let names = Names::of(&s.avro);
        let r = Arc::new(Resolved {
            plan: RowPlan::of(&s.avro, &names, &self.columns),
            names,
            fast: supported(&s.avro),
            schema: s.avro.clone(),
        });
        let _ = self.first.set((id, r.clone()));
        self.cache.lock().insert(id, r.clone());
        Ok(r)
    }

    fn error(&self, e: impl std::fmt::Display) -> String {
        format!(
            "Failed to deserialize {} from topic: {}. {e}",
            self.what, self.topic
        )
    }

    /// The value of the column a record field names: exact, then case-insensitive.
    fn column_value<'r>(&self, row: &'r [Value], name: &str) -> Option<&'r Value> {
        self.columns
            .iter()
            .position(|c| c.name == name)
            .or_else(|| {
                self.columns
                    .iter()
                    .position(|c| c.name.eq_ignore_ascii_case(name))
            })
            .and_then(|i| row.get(i))
    }

    /// The framed payload of a non-null row, written by the direct encoder.
    fn encode(&self, w: &Writer, row: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.size_hint.load(Ordering::Relaxed));
        out.push(wire::MAGIC);
        out.extend_from_slice(&w.id.to_be_bytes());
        if self.unwrapped {
            let v = row.first().unwrap_or(&Value::Null);
            avro_encode::write(v, &w.schema, &w.names, &mut out)?;
            return Ok(out);
        }
        let (branch, rs) = record_of(&w.schema, &w.names)?;
        if let Some(i) = branch {
            avro_encode::zigzag(i as i64, &mut out);
        }
        avro_encode::record(rs, &w.names, &mut out, |i, name| match w.targets.get(i) {
            Some(target) => target.and_then(|c| row.get(c)),
            None => self.column_value(row, name),
        })?;
        // Size the next record's buffer for one like this.
        self.size_hint.fetch_max(out.len(), Ordering::Relaxed);
        Ok(out)
    }
}

impl RowFormat for AvroFormat {
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String> {
        self.deserialize_wanted(bytes, &[])
    }

    fn deserialize_wanted(
        &self,
        bytes: Option<&[u8]>,
        wanted: &[bool],
    ) -> Result<Option<Vec<Value>>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        let (id, mut body) = wire::split(bytes).map_err(|e| self.error(e))?;
        let looked_up;
        let w: &Resolved = match self.first.get() {
            Some((first, r)) if *first == id => r,
            _ => {
                looked_up = self.writer_schema(id).map_err(|e| self.error(e))?;
                &looked_up
            }
        };
        if w.fast {
            let mut r = Reader::new(body, &w.names);
            return if self.unwrapped {
                let v = r
                    .read(&w.schema, Some(&self.columns[0].ty))
                    .map_err(|e| self.error(e))?;
                Ok(Some(vec![v]))
            } else {
                r.planned_row(&w.schema, &self.columns, &w.plan, wanted)
                    .map_err(|e| self.error(e))
            };
        }
        let reader = GenericDatumReader::builder(&w.schema)
            .build()
            .map_err(|e| self.error(e))?;
        let av = reader.read_value(&mut body).map_err(|e| self.error(e))?;
        if self.unwrapped {
            let v = from_avro(&av, &w.schema, &w.names, &self.columns[0].ty)
                .map_err(|e| self.error(e))?;
            return Ok(Some(vec![v]));
        }
        let schema = w.names.resolve(&w.schema).map_err(|e| self.error(e))?;
        let (av, schema) = match (&av, schema) {
            (Avro::Null, _) => return Ok(None),
            (Avro::Union(i, inner), Schema::Union(u)) => match u.variants().get(*i as usize) {
                Some(s) => (
                    inner.as_ref(),
                    w.names.resolve(s).map_err(|e| self.error(e))?,
                ),
                None => return Err(self.error("Avro union branch out of range")),
            },
            (av, s) => (av, s),
        };
        let (Avro::Record(values), Schema::Record(rs)) = (av, schema) else {
            if matches!(av, Avro::Null) {
                return Ok(None);
            }
            return Err(self.error(format!(
                "Expected an Avro record for the columns, got {av:?}"
            )));
        };
        let mut row = Vec::with_capacity(self.columns.len());
        for c in &self.columns {
            row.push(match field_index(rs, &c.name) {
                Some(i) => from_avro(&values[i].1, &rs.fields[i].schema, &w.names, &c.ty)
                    .map_err(|e| self.error(format!("{e} (column {})", c.name)))?,
                None => Value::Null,
            });
        }
        Ok(Some(row))
    }

    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        if self.columns.is_empty() {
            return Ok(None);
        }
        let w = self.writer.as_ref().map_err(|e| e.clone())?;
        if w.fast {
            if self.unwrapped && row.first().is_none_or(|v| v.is_null()) {
                return Ok(None);
            }
            return self.encode(w, row).map(Some);
        }
        let av = if self.unwrapped {
            let v = row.first().unwrap_or(&Value::Null);
            if v.is_null() {
                return Ok(None);
            }
            to_avro(v, &w.schema, &w.names)?
        } else {
            let schema = w.names.resolve(&w.schema)?;
            let rs = match schema {
                Schema::Record(rs) => rs,
                Schema::Union(u) => {
                    match u.variants().iter().find(|s| matches!(s, Schema::Record(_))) {
                        Some(Schema::Record(rs)) => rs,
                        _ => return Err("The Avro schema is not a record".into()),
                    }
                }
                _ => return Err("The Avro schema is not a record".into()),
            };
            let rec = record_to_avro(rs, &w.names, |name| self.column_value(row, name))?;
            match schema {
                Schema::Union(u) => {
                    let i = u
                        .variants()
                        .iter()
                        .position(|s| matches!(s, Schema::Record(_)))
                        .unwrap_or(0);
                    Avro::Union(i as u32, Box::new(rec))
                }
                _ => rec,
            }
        };
        let writer = GenericDatumWriter::builder(&w.schema)
            .build()
            .map_err(|e| e.to_string())?;
        let body = writer.write_value_to_vec(av).map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(body.len() + wire::HEADER_LEN);
        wire::frame(w.id, &body, &mut out);
        Ok(Some(out))
    }
}

/// A JSON document (as QTT and the REST API write records) as a
/// Confluent-framed Avro payload of the registered schema `id`: JSON
/// properties match record fields by name, enums are their symbols, bytes
/// are base64, decimals exact numbers.
pub fn avro_payload_from_json(
    registry: &Registry,
    id: i32,
    json: &Json,
) -> Result<Vec<u8>, String> {
    let s = registry
        .schema_by_id(id)
        .ok_or_else(|| format!("Schema with id {id} does not exist in the Schema Registry."))?;
    let names = Names::of(&s.avro);
    let ty = sql_type_of(&s.avro, &names, false)?;
    let value = convert(json, &ty).map_err(|e| e.to_string())?;
    let av = to_avro(&value, &s.avro, &names)?;
    let body = GenericDatumWriter::builder(&s.avro)
        .build()
        .and_then(|w| w.write_value_to_vec(av))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(body.len() + wire::HEADER_LEN);
    wire::frame(id, &body, &mut out);
    Ok(out)
}

/// A Confluent-framed Avro payload as JSON, read with its writer schema and
/// keeping its field names (the inverse of [`avro_payload_from_json`]).
pub fn avro_payload_to_json(registry: &Registry, payload: &[u8]) -> Result<Json, String> {
    let (id, mut body) = wire::split(payload).map_err(|e| e.to_string())?;
    let s = registry
        .schema_by_id(id)
        .ok_or_else(|| format!("Schema with id {id} does not exist in the Schema Registry."))?;
    let names = Names::of(&s.avro);
    let ty = sql_type_of(&s.avro, &names, false)?;
    let av = GenericDatumReader::builder(&s.avro)
        .build()
        .and_then(|r| r.read_value(&mut body))
        .map_err(|e| e.to_string())?;
    let v = from_avro(&av, &s.avro, &names, &ty)?;
    Ok(super::json::value_to_json(&v))
}
