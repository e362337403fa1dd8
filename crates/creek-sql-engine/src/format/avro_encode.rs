//! A direct Avro binary encoder: writes SQL values with a writer schema
//! straight to bytes (the same rules as `avro::to_avro`, without building
//! `apache_avro::types::Value`s and re-validating them).

use apache_avro::schema::{InnerDecimalSchema, RecordSchema, Schema};

use creek_sql::value::{Decimal, Value, MILLIS_PER_DAY};

use super::avro_types::{default_value, is_general_union, supported, union_member_name, Names};

/// Whether every type in `schema` is one this encoder writes.
pub(crate) fn encodable(schema: &Schema) -> bool {
    supported(schema)
}

fn long(mut v: u64, out: &mut Vec<u8>) {
    loop {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
}

pub(crate) fn zigzag(v: i64, out: &mut Vec<u8>) {
    long(((v << 1) ^ (v >> 63)) as u64, out);
}

fn bytes(b: &[u8], out: &mut Vec<u8>) {
    zigzag(b.len() as i64, out);
    out.extend_from_slice(b);
}

pub(crate) fn decimal_bytes(unscaled: i128) -> Vec<u8> {
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

fn mismatch(v: &Value, schema: &Schema) -> String {
    format!("Cannot write {v:?} as Avro {schema:?}")
}

fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) | Value::Bigint(t) => Some(*t),
        Value::Int(i) => Some(*i as i64),
        Value::Date(d) => Some(*d as i64 * MILLIS_PER_DAY),
        _ => None,
    }
}

/// Appends `v` written with `schema`.
pub(crate) fn write(
    v: &Value,
    schema: &Schema,
    names: &Names,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let schema = names.resolve(schema)?;
    if let Schema::Union(u) = schema {
        if v.is_null() {
            return match u.variants().iter().position(|s| matches!(s, Schema::Null)) {
                Some(i) => {
                    zigzag(i as i64, out);
                    Ok(())
                }
                None => Err("Cannot write NULL to a non-optional Avro union".into()),
            };
        }
        if let (Value::Struct(fields), true) =
            (v, matches!(v, Value::Struct(_)) && is_general_union(u))
        {
            // Connect's union struct: write the branch whose field is set.
            if let Some((name, fv)) = fields.iter().find(|(_, fv)| !fv.is_null()) {
                for (i, s) in u.variants().iter().enumerate() {
                    if union_member_name(names.resolve(s)?).eq_ignore_ascii_case(name) {
                        zigzag(i as i64, out);
                        return write(fv, s, names, out);
                    }
                }
            }
        }
        let mark = out.len();
        let mut last = None;
        for (i, s) in u.variants().iter().enumerate() {
            if matches!(s, Schema::Null) {
                continue;
            }
            zigzag(i as i64, out);
            match write(v, s, names, out) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    out.truncate(mark);
                    last = Some(e);
                }
            }
        }
        return Err(last.unwrap_or_else(|| "empty union".into()));
    }
    if v.is_null() {
        return match schema {
            Schema::Null => Ok(()),
            _ => Err("Cannot write NULL to a non-optional Avro field".into()),
        };
    }
    match schema {
        Schema::Null => return Err(mismatch(v, schema)),
        Schema::Boolean => out.push(v.as_bool().ok_or_else(|| mismatch(v, schema))? as u8),
        Schema::Int => match v {
            Value::Int(i) | Value::Date(i) => zigzag(*i as i64, out),
            Value::Time(t) => zigzag(*t as i32 as i64, out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Long => match v {
            Value::Int(i) => zigzag(*i as i64, out),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => zigzag(*i, out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Float => {
            let f = v.as_f64().ok_or_else(|| mismatch(v, schema))? as f32;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Schema::Double => {
            let f = v.as_f64().ok_or_else(|| mismatch(v, schema))?;
            out.extend_from_slice(&f.to_le_bytes());
        }
        Schema::String | Schema::Uuid(_) => match v {
            Value::String(s) => bytes(s.as_bytes(), out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Bytes => match v {
            Value::Bytes(b) => bytes(b, out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Fixed(f) => match v {
            Value::Bytes(b) if b.len() == f.size => out.extend_from_slice(b),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Enum(e) => match v {
            Value::String(s) => {
                let i = e
                    .symbols
                    .iter()
                    .position(|x| **x == **s)
                    .ok_or_else(|| mismatch(v, schema))?;
                zigzag(i as i64, out);
            }
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Decimal(ds) => {
            let d = match v {
                Value::Double(f) => Decimal::from_f64(*f, ds.scale as u32),
                other => other.as_decimal(),
            }
            .and_then(|d| d.rescale(ds.scale as u32))
            .ok_or_else(|| mismatch(v, schema))?;
            let b = decimal_bytes(d.unscaled);
            match &ds.inner {
                InnerDecimalSchema::Bytes => bytes(&b, out),
                InnerDecimalSchema::Fixed(f) => {
                    if b.len() > f.size {
                        return Err(mismatch(v, schema));
                    }
                    let fill = if d.unscaled < 0 { 0xFF } else { 0 };
                    out.extend(std::iter::repeat_n(fill, f.size - b.len()));
                    out.extend_from_slice(&b);
                }
            }
        }
        Schema::Date => match v {
            Value::Date(d) | Value::Int(d) => zigzag(*d as i64, out),
            Value::Timestamp(t) => zigzag(t.div_euclid(MILLIS_PER_DAY), out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::TimeMillis => match v {
            Value::Time(t) => zigzag(*t as i32 as i64, out),
            Value::Int(t) => zigzag(*t as i64, out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::TimeMicros => match v {
            Value::Time(t) => zigzag(t * 1000, out),
            _ => return Err(mismatch(v, schema)),
        },
        Schema::TimestampMillis | Schema::LocalTimestampMillis => {
            zigzag(timestamp_ms(v).ok_or_else(|| mismatch(v, schema))?, out)
        }
        Schema::TimestampMicros | Schema::LocalTimestampMicros => zigzag(
            timestamp_ms(v).ok_or_else(|| mismatch(v, schema))? * 1000,
            out,
        ),
        Schema::Array(a) => match v {
            Value::Array(items) => {
                if !items.is_empty() {
                    zigzag(items.len() as i64, out);
                    for i in items {
                        write(i, &a.items, names, out)?;
                    }
                }
                out.push(0);
            }
            Value::Map(entries) => {
                // Connect's map entries: records of key and value.
                let entry = match names.resolve(&a.items)? {
                    Schema::Union(u) => u
                        .variants()
                        .iter()
                        .find(|s| !matches!(s, Schema::Null))
                        .map(|s| names.resolve(s))
                        .transpose()?,
                    s => Some(s),
                };
                let Some(Schema::Record(rs)) = entry else {
                    return Err(mismatch(v, schema));
                };
                let union_index = match names.resolve(&a.items)? {
                    Schema::Union(u) => {
                        u.variants().iter().position(|s| !matches!(s, Schema::Null))
                    }
                    _ => None,
                };
                if !entries.is_empty() {
                    zigzag(entries.len() as i64, out);
                    for (k, val) in entries {
                        if let Some(i) = union_index {
                            zigzag(i as i64, out);
                        }
                        record(rs, names, out, |_, name| match name {
                            "key" => Some(k),
                            "value" => Some(val),
                            _ => None,
                        })?;
                    }
                }
                out.push(0);
            }
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Map(m) => match v {
            Value::Map(entries) => {
                if !entries.is_empty() {
                    zigzag(entries.len() as i64, out);
                    for (k, val) in entries {
                        match k {
                            Value::String(s) => bytes(s.as_bytes(), out),
                            other => bytes(super::value_text(other).as_bytes(), out),
                        }
                        write(val, &m.types, names, out)?;
                    }
                }
                out.push(0);
            }
            _ => return Err(mismatch(v, schema)),
        },
        Schema::Record(rs) => match v {
            Value::Struct(fields) => record(rs, names, out, |_, name| {
                fields
                    .iter()
                    .find(|(n, _)| &**n == name)
                    .or_else(|| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                    .map(|(_, v)| v)
            })?,
            _ => return Err(mismatch(v, schema)),
        },
        _ => return Err(mismatch(v, schema)),
    }
    Ok(())
}

/// Appends a record whose field values `get` finds by field position and
/// name; missing or NULL values of non-optional fields take the field's default.
pub(crate) fn record<'v>(
    rs: &RecordSchema,
    names: &Names,
    out: &mut Vec<u8>,
    get: impl Fn(usize, &str) -> Option<&'v Value>,
) -> Result<(), String> {
    for (i, f) in rs.fields.iter().enumerate() {
        let v = get(i, &f.name).unwrap_or(&Value::Null);
        let fs = names.resolve(&f.schema)?;
        let optional = matches!(fs, Schema::Null)
            || matches!(fs, Schema::Union(u) if u.variants().iter().any(|s| matches!(s, Schema::Null)));
        if v.is_null() && !optional {
            match &f.default {
                Some(d) => {
                    let dv = default_value(d, &f.schema, names)?;
                    write(&dv, &f.schema, names, out)?;
                }
                None => {
                    return Err(format!(
                        "Cannot write NULL to the non-optional Avro field {}",
                        f.name
                    ))
                }
            }
        } else {
            write(v, &f.schema, names, out).map_err(|e| format!("{e} (field {})", f.name))?;
        }
    }
    Ok(())
}
