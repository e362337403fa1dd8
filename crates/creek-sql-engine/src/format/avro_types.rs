//! Avro plans as SQL types, shared by the decoder (`avro_decode`) and the
//! encoder (`avro_encode`): the SQL type of a writer schema's
//! [`Node`](creek_avro::Node), Connect's naming of union branches, scalar
//! coercion to a column type, and field defaults. It sits below those two so
//! neither needs the other's internals.

use creek_avro::{IntKind, LongKind, Node, UnionNode};
use serde_json::Value as Json;

use creek_sql::types::{Field, SqlType};
use creek_sql::value::{Decimal, Value};

use super::json::{convert, fit_decimal};

/// The SQL type of an Avro type; record field names upper-cased when `upper`.
pub(crate) fn sql_type_of(node: &Node, upper: bool) -> Result<SqlType, String> {
    let name = |n: &str| {
        if upper {
            n.to_uppercase()
        } else {
            n.to_string()
        }
    };
    Ok(match node {
        Node::Boolean => SqlType::Boolean,
        Node::Int(IntKind::Plain) => SqlType::Int,
        Node::Int(IntKind::Date) => SqlType::Date,
        Node::Int(IntKind::TimeMillis) | Node::Long(LongKind::TimeMicros) => SqlType::Time,
        Node::Long(LongKind::Plain) => SqlType::Bigint,
        Node::Long(LongKind::Timestamp { .. }) => SqlType::Timestamp,
        Node::Float | Node::Double => SqlType::Double,
        Node::String | Node::Enum(_) => SqlType::String,
        Node::Bytes | Node::Fixed(_) => SqlType::Bytes,
        Node::Decimal {
            precision, scale, ..
        } => SqlType::decimal(*precision as u32, *scale as u32),
        Node::Array(items) => match map_entry_value(items) {
            Some(v) => SqlType::map(SqlType::String, sql_type_of(v, upper)?),
            None => SqlType::array(sql_type_of(items, upper)?),
        },
        Node::Map(v) => SqlType::map(SqlType::String, sql_type_of(v, upper)?),
        Node::Optional { inner, .. } => sql_type_of(inner, upper)?,
        Node::Union(u) => {
            let mut members = u
                .branches
                .iter()
                .zip(&u.names)
                .filter_map(|(b, n)| n.as_ref().map(|n| (b, n)));
            match (members.next(), members.next()) {
                (Some((one, _)), None) => sql_type_of(one, upper)?,
                (None, _) => return Err("Unsupported Avro type: an empty union".into()),
                _ => {
                    // Connect's AvroData: a struct with a field per branch,
                    // named after the branch's type.
                    let mut fields = Vec::new();
                    for (b, n) in u.branches.iter().zip(&u.names) {
                        if let Some(n) = n {
                            fields.push(Field::new(name(n), sql_type_of(b, upper)?));
                        }
                    }
                    SqlType::Struct(fields)
                }
            }
        }
        Node::Record(r) => {
            let mut fields = Vec::with_capacity(r.len());
            for f in r.iter() {
                fields.push(Field::new(name(&f.name), sql_type_of(&f.node, upper)?));
            }
            SqlType::Struct(fields)
        }
        Node::Null => return Err("Unsupported Avro type: null".into()),
    })
}

/// Whether a union has more than one non-null branch (Connect's union struct).
pub(crate) fn is_general_union(u: &UnionNode) -> bool {
    u.names.iter().flatten().count() > 1
}

/// The record of Connect's map entries (`{key: string, value: V}`), whether the
/// array's items are the record or an optional record.
pub(crate) fn map_entry_record(items: &Node) -> Option<(Option<u32>, &creek_avro::RecordNode)> {
    match items {
        Node::Record(r) if r.map_entry => Some((None, r)),
        Node::Optional { null_index, inner } => match &**inner {
            Node::Record(r) if r.map_entry => Some((Some(1 - *null_index), r)),
            _ => None,
        },
        _ => None,
    }
}

/// If `items` is Connect's map entry record with a string key, its value type.
fn map_entry_value(items: &Node) -> Option<&Node> {
    let Node::Record(r) = items else {
        return None;
    };
    if !r.map_entry || r.len() != 2 || r[0].name != "key" || r[1].name != "value" {
        return None;
    }
    let key_is_string = match &r[0].node {
        Node::String => true,
        Node::Optional { inner, .. } => matches!(**inner, Node::String),
        _ => false,
    };
    key_is_string.then_some(&r[1].node)
}

fn type_error(v: &Value, ty: &SqlType) -> String {
    format!("Cannot convert {v:?} to {ty}")
}

/// A scalar SQL value coerced to `ty` (ksqlDB's Avro deserializer coerces
/// numbers to wider numbers and anything primitive to STRING).
pub(crate) fn coerce(v: Value, ty: &SqlType) -> Result<Value, String> {
    use SqlType as T;
    Ok(match (v, ty) {
        (Value::Null, _) => Value::Null,
        (v @ Value::Boolean(_), T::Boolean) => v,
        (v @ Value::Int(_), T::Int) => v,
        (v @ Value::Bigint(_), T::Bigint) => v,
        (v @ Value::Double(_), T::Double) => v,
        (v @ Value::Bytes(_), T::Bytes) => v,
        (v @ Value::Date(_), T::Date) => v,
        (v @ Value::Time(_), T::Time) => v,
        (v @ Value::Timestamp(_), T::Timestamp) => v,
        (Value::Int(i), T::Bigint) => Value::Bigint(i as i64),
        (Value::Bigint(i), T::Int) => Value::Int(i as i32),
        (Value::Int(i), T::Double) => Value::Double(i as f64),
        (Value::Bigint(i), T::Double) => Value::Double(i as f64),
        (Value::Int(i), T::Date) => Value::Date(i),
        (Value::Int(i), T::Time) => Value::Time(i as i64),
        (Value::Bigint(i), T::Time) => Value::Time(i),
        (Value::Int(i), T::Timestamp) => Value::Timestamp(i as i64),
        (Value::Bigint(i), T::Timestamp) => Value::Timestamp(i),
        (Value::Date(d), T::Timestamp) => {
            Value::Timestamp(d as i64 * creek_sql::value::MILLIS_PER_DAY)
        }
        (Value::Decimal(d), T::Double) => Value::Double(d.to_f64()),
        (
            v @ (Value::Int(_) | Value::Bigint(_) | Value::Decimal(_)),
            T::Decimal { precision, scale },
        ) => {
            let d = v.as_decimal().unwrap_or_default();
            Value::Decimal(fit_decimal(d, *precision, *scale).map_err(|e| e.message().to_string())?)
        }
        (Value::Double(f), T::Decimal { precision, scale }) => {
            let d =
                Decimal::from_f64(f, *scale).ok_or_else(|| type_error(&Value::Double(f), ty))?;
            Value::Decimal(fit_decimal(d, *precision, *scale).map_err(|e| e.message().to_string())?)
        }
        (Value::String(s), T::String) => Value::String(s),
        (Value::String(s), _) => {
            convert(&Json::String(s.to_string()), ty).map_err(|e| e.message().to_string())?
        }
        (
            v @ (Value::Boolean(_) | Value::Int(_) | Value::Bigint(_) | Value::Decimal(_)),
            T::String,
        ) => Value::string(super::value_text(&v)),
        (Value::Double(d), T::String) => Value::string(super::java_double(d)),
        (v, _) => return Err(type_error(&v, ty)),
    })
}

/// A field default (JSON) as the SQL value it stands for.
pub(crate) fn default_value(d: &Json, node: &Node) -> Result<Value, String> {
    let ty = sql_type_of(node, false)?;
    convert(d, &ty).map_err(|e| e.message().to_string())
}
