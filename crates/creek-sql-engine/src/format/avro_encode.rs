//! The Avro encoder of the AVRO format: writes SQL values with a writer
//! schema's plan ([`creek_avro::Node`]) straight to the binary encoding.

use creek_avro::{
    decimal_bytes, put_bytes, put_double, put_float, put_long as zigzag_put, IntKind, LongKind,
    Node, RecordNode, Unit,
};

use creek_sql::value::{Decimal, Value, MILLIS_PER_DAY};

use super::avro_types::{default_value, is_general_union, map_entry_record};

#[inline]
pub(crate) fn zigzag(v: i64, out: &mut Vec<u8>) {
    zigzag_put(out, v);
}

#[cold]
fn mismatch(v: &Value, node: &Node) -> String {
    format!("Cannot write {v:?} as Avro {}", node.describe())
}

fn timestamp_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Timestamp(t) | Value::Bigint(t) => Some(*t),
        Value::Int(i) => Some(*i as i64),
        Value::Date(d) => Some(*d as i64 * MILLIS_PER_DAY),
        _ => None,
    }
}

/// Whether a field of this type takes NULL (else a missing value takes the
/// field's default).
fn nullable(node: &Node) -> bool {
    match node {
        Node::Null | Node::Optional { .. } => true,
        Node::Union(u) => u.names.iter().any(Option::is_none),
        _ => false,
    }
}

/// Appends `v` written with `node`.
pub(crate) fn write(v: &Value, node: &Node, out: &mut Vec<u8>) -> Result<(), String> {
    match node {
        Node::Optional { null_index, inner } => {
            if v.is_null() {
                zigzag(*null_index as i64, out);
                return Ok(());
            }
            zigzag(1 - *null_index as i64, out);
            return write(v, inner, out);
        }
        Node::Union(u) => {
            if v.is_null() {
                return match u.names.iter().position(Option::is_none) {
                    Some(i) => {
                        zigzag(i as i64, out);
                        Ok(())
                    }
                    None => Err("Cannot write NULL to a non-optional Avro union".into()),
                };
            }
            if let (Value::Struct(fields), true) = (v, is_general_union(u)) {
                // Connect's union struct: write the branch whose field is set.
                if let Some((name, fv)) = fields.iter().find(|(_, fv)| !fv.is_null()) {
                    for (i, (b, n)) in u.branches.iter().zip(&u.names).enumerate() {
                        if n.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name)) {
                            zigzag(i as i64, out);
                            return write(fv, b, out);
                        }
                    }
                }
            }
            let mark = out.len();
            let mut last = None;
            for (i, (b, n)) in u.branches.iter().zip(&u.names).enumerate() {
                if n.is_none() {
                    continue;
                }
                zigzag(i as i64, out);
                match write(v, b, out) {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        out.truncate(mark);
                        last = Some(e);
                    }
                }
            }
            return Err(last.unwrap_or_else(|| "empty union".into()));
        }
        _ => {}
    }
    if v.is_null() {
        return match node {
            Node::Null => Ok(()),
            _ => Err("Cannot write NULL to a non-optional Avro field".into()),
        };
    }
    match node {
        Node::Null => return Err(mismatch(v, node)),
        Node::Boolean => out.push(v.as_bool().ok_or_else(|| mismatch(v, node))? as u8),
        Node::Int(IntKind::Plain) => match v {
            Value::Int(i) | Value::Date(i) => zigzag(*i as i64, out),
            Value::Time(t) => zigzag(*t as i32 as i64, out),
            _ => return Err(mismatch(v, node)),
        },
        Node::Int(IntKind::Date) => match v {
            Value::Date(d) | Value::Int(d) => zigzag(*d as i64, out),
            Value::Timestamp(t) => zigzag(t.div_euclid(MILLIS_PER_DAY), out),
            _ => return Err(mismatch(v, node)),
        },
        Node::Int(IntKind::TimeMillis) => match v {
            Value::Time(t) => zigzag(*t as i32 as i64, out),
            Value::Int(t) => zigzag(*t as i64, out),
            _ => return Err(mismatch(v, node)),
        },
        Node::Long(LongKind::Plain) => match v {
            Value::Int(i) => zigzag(*i as i64, out),
            Value::Bigint(i) | Value::Timestamp(i) | Value::Time(i) => zigzag(*i, out),
            _ => return Err(mismatch(v, node)),
        },
        Node::Long(LongKind::TimeMicros) => match v {
            Value::Time(t) => zigzag(t * 1000, out),
            _ => return Err(mismatch(v, node)),
        },
        Node::Long(LongKind::Timestamp { unit, .. }) => {
            let ms = timestamp_ms(v).ok_or_else(|| mismatch(v, node))?;
            zigzag(
                match unit {
                    Unit::Millis => ms,
                    Unit::Micros => ms * 1000,
                    Unit::Nanos => ms * 1_000_000,
                },
                out,
            )
        }
        Node::Float => put_float(out, v.as_f64().ok_or_else(|| mismatch(v, node))? as f32),
        Node::Double => put_double(out, v.as_f64().ok_or_else(|| mismatch(v, node))?),
        Node::String => match v {
            Value::String(s) => put_bytes(out, s.as_bytes()),
            _ => return Err(mismatch(v, node)),
        },
        Node::Bytes => match v {
            Value::Bytes(b) => put_bytes(out, b),
            _ => return Err(mismatch(v, node)),
        },
        Node::Fixed(size) => match v {
            Value::Bytes(b) if b.len() == *size => out.extend_from_slice(b),
            _ => return Err(mismatch(v, node)),
        },
        Node::Enum(symbols) => match v {
            Value::String(s) => {
                let i = symbols
                    .iter()
                    .position(|x| **x == **s)
                    .ok_or_else(|| mismatch(v, node))?;
                zigzag(i as i64, out);
            }
            _ => return Err(mismatch(v, node)),
        },
        Node::Decimal { scale, fixed, .. } => {
            let scale = *scale as u32;
            let d = match v {
                Value::Double(f) => Decimal::from_f64(*f, scale),
                other => other.as_decimal(),
            }
            .and_then(|d| d.rescale(scale))
            .ok_or_else(|| mismatch(v, node))?;
            let b = decimal_bytes(d.unscaled);
            match fixed {
                None => put_bytes(out, &b),
                Some(size) => {
                    if b.len() > *size {
                        return Err(mismatch(v, node));
                    }
                    let fill = if d.unscaled < 0 { 0xFF } else { 0 };
                    out.extend(std::iter::repeat_n(fill, size - b.len()));
                    out.extend_from_slice(&b);
                }
            }
        }
        Node::Array(items) => match v {
            Value::Array(values) => {
                if !values.is_empty() {
                    zigzag(values.len() as i64, out);
                    for i in values {
                        write(i, items, out)?;
                    }
                }
                out.push(0);
            }
            Value::Map(entries) => {
                // Connect's map entries: records of key and value.
                let Some((union_index, entry)) = map_entry_record(items).or(match &**items {
                    Node::Record(r) => Some((None, r)),
                    _ => None,
                }) else {
                    return Err(mismatch(v, node));
                };
                if !entries.is_empty() {
                    zigzag(entries.len() as i64, out);
                    for (k, val) in entries {
                        if let Some(i) = union_index {
                            zigzag(i as i64, out);
                        }
                        record(entry, out, |_, name| match name {
                            "key" => Some(k),
                            "value" => Some(val),
                            _ => None,
                        })?;
                    }
                }
                out.push(0);
            }
            _ => return Err(mismatch(v, node)),
        },
        Node::Map(values) => match v {
            Value::Map(entries) => {
                if !entries.is_empty() {
                    zigzag(entries.len() as i64, out);
                    for (k, val) in entries {
                        match k {
                            Value::String(s) => put_bytes(out, s.as_bytes()),
                            other => put_bytes(out, super::value_text(other).as_bytes()),
                        }
                        write(val, values, out)?;
                    }
                }
                out.push(0);
            }
            _ => return Err(mismatch(v, node)),
        },
        Node::Record(r) => match v {
            Value::Struct(fields) => record(r, out, |_, name| {
                fields
                    .iter()
                    .find(|(n, _)| &**n == name)
                    .or_else(|| fields.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)))
                    .map(|(_, v)| v)
            })?,
            _ => return Err(mismatch(v, node)),
        },
        Node::Optional { .. } | Node::Union(_) => unreachable!("handled above"),
    }
    Ok(())
}

/// Appends a record whose field values `get` finds by field position and
/// name; missing or NULL values of non-optional fields take the field's default.
pub(crate) fn record<'v>(
    r: &RecordNode,
    out: &mut Vec<u8>,
    get: impl Fn(usize, &str) -> Option<&'v Value>,
) -> Result<(), String> {
    for (i, f) in r.iter().enumerate() {
        let v = get(i, &f.name).unwrap_or(&Value::Null);
        if v.is_null() && !nullable(&f.node) {
            match &f.default {
                Some(d) => {
                    let dv = default_value(d, &f.node)?;
                    write(&dv, &f.node, out)?;
                }
                None => {
                    return Err(format!(
                        "Cannot write NULL to the non-optional Avro field {}",
                        f.name
                    ))
                }
            }
        } else {
            write(v, &f.node, out).map_err(|e| format!("{e} (field {})", f.name))?;
        }
    }
    Ok(())
}
