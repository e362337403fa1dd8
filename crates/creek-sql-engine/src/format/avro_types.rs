//! Avro schemas as SQL types, shared by the three Avro paths (the generic
//! one in `avro`, the fast decoder in `avro_decode`, the encoder in
//! `avro_encode`): named-type lookup ([`Names`]), the SQL type of a schema,
//! Connect's naming of union branches, which schemas the fast paths handle,
//! scalar coercion to a column type, and field defaults. It sits below those
//! three so none of them needs another's internals.

use std::collections::HashMap;

use apache_avro::schema::{Schema, UuidSchema};
use serde_json::{json, Value as Json};

use creek_sql::types::{Field, SqlType};
use creek_sql::value::{Decimal, Value};

use super::json::{convert, fit_decimal};

/// Named types of a schema, by full and by short name, to follow `Ref`s.
#[derive(Default)]
pub(crate) struct Names(HashMap<String, Schema>);

impl Names {
    pub(crate) fn of(schema: &Schema) -> Names {
        let mut names = Names::default();
        names.collect(schema, None);
        names
    }

    fn add(&mut self, name: &apache_avro::schema::Name, ns: Option<&str>, schema: &Schema) {
        self.0.insert(name.fullname(ns), schema.clone());
        self.0
            .entry(name.name().to_string())
            .or_insert_with(|| schema.clone());
    }

    fn collect(&mut self, schema: &Schema, ns: Option<&str>) {
        match schema {
            Schema::Record(r) => {
                self.add(&r.name, ns, schema);
                let full = r.name.fullname(ns);
                let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
                for f in &r.fields {
                    self.collect(&f.schema, inner_ns.as_deref().or(ns));
                }
            }
            Schema::Enum(e) => self.add(&e.name, ns, schema),
            Schema::Fixed(f) => self.add(&f.name, ns, schema),
            Schema::Array(a) => self.collect(&a.items, ns),
            Schema::Map(m) => self.collect(&m.types, ns),
            Schema::Union(u) => {
                for v in u.variants() {
                    self.collect(v, ns);
                }
            }
            _ => {}
        }
    }

    #[inline]
    pub(crate) fn resolve<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => self.resolve_ref(name),
            s => Ok(s),
        }
    }

    #[cold]
    fn resolve_ref(&self, name: &apache_avro::schema::Name) -> Result<&Schema, String> {
        self.0
            .get(&name.fullname(None))
            .or_else(|| self.0.get(name.name()))
            .ok_or_else(|| format!("Unknown Avro type reference: {}", name.fullname(None)))
    }
}

/// The SQL type of an Avro type; record field names upper-cased when `upper`.
pub(crate) fn sql_type_of(schema: &Schema, names: &Names, upper: bool) -> Result<SqlType, String> {
    let sql_type = |s: &Schema, n: &Names| sql_type_of(s, n, upper);
    let schema = names.resolve(schema)?;
    Ok(match schema {
        Schema::Boolean => SqlType::Boolean,
        Schema::Int => SqlType::Int,
        Schema::Long => SqlType::Bigint,
        Schema::Float | Schema::Double => SqlType::Double,
        Schema::String | Schema::Enum(_) | Schema::Uuid(_) => SqlType::String,
        Schema::Bytes | Schema::Fixed(_) => SqlType::Bytes,
        Schema::Decimal(d) => SqlType::decimal(d.precision as u32, d.scale as u32),
        Schema::BigDecimal => SqlType::decimal(64, 0),
        Schema::Date => SqlType::Date,
        Schema::TimeMillis | Schema::TimeMicros => SqlType::Time,
        Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => SqlType::Timestamp,
        Schema::Array(a) => {
            let items = names.resolve(&a.items)?;
            if let Some(v) = map_entry_value(items, names) {
                SqlType::map(SqlType::String, sql_type(v, names)?)
            } else {
                SqlType::array(sql_type(items, names)?)
            }
        }
        Schema::Map(m) => SqlType::map(SqlType::String, sql_type(&m.types, names)?),
        Schema::Union(u) => {
            let non_null: Vec<&Schema> = u
                .variants()
                .iter()
                .filter(|s| !matches!(s, Schema::Null))
                .collect();
            match non_null.as_slice() {
                [one] => sql_type(one, names)?,
                _ => {
                    // Connect's AvroData: a struct with a field per branch,
                    // named after the branch's type.
                    let mut fields = Vec::new();
                    for s in non_null {
                        let name = union_member_name(names.resolve(s)?);
                        let name = if upper { name.to_uppercase() } else { name };
                        fields.push(Field::new(name, sql_type(s, names)?));
                    }
                    SqlType::Struct(fields)
                }
            }
        }
        Schema::Record(r) => {
            let mut fields = Vec::new();
            for f in &r.fields {
                let name = if upper {
                    f.name.to_uppercase()
                } else {
                    f.name.clone()
                };
                fields.push(Field::new(name, sql_type(&f.schema, names)?));
            }
            SqlType::Struct(fields)
        }
        other => return Err(format!("Unsupported Avro type: {other:?}")),
    })
}

/// The struct field Connect's AvroData names a branch of a union with more
/// than one non-null type: the type's name, or a named type's short name.
pub(crate) fn union_member_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => r.name.name().to_string(),
        Schema::Enum(e) => e.name.name().to_string(),
        Schema::Fixed(f) => f.name.name().to_string(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::Decimal(_) => "bytes".into(),
        Schema::String | Schema::Uuid(_) => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        _ => "null".into(),
    }
}

/// Whether a union has more than one non-null branch (Connect's union struct).
pub(crate) fn is_general_union(u: &apache_avro::schema::UnionSchema) -> bool {
    u.variants()
        .iter()
        .filter(|s| !matches!(s, Schema::Null))
        .count()
        > 1
}

/// If `schema` is Connect's map entry record (`{key: string, value: V}`), V.
fn map_entry_value<'a>(schema: &'a Schema, names: &'a Names) -> Option<&'a Schema> {
    let Schema::Record(r) = schema else {
        return None;
    };
    if r.attributes.get("connect.internal.type") != Some(&json!("MapEntry")) {
        return None;
    }
    if r.fields.len() != 2 || r.fields[0].name != "key" || r.fields[1].name != "value" {
        return None;
    }
    let key = names.resolve(&r.fields[0].schema).ok()?;
    let key_is_string = match key {
        Schema::String => true,
        Schema::Union(u) => u
            .variants()
            .iter()
            .all(|s| matches!(s, Schema::Null | Schema::String)),
        _ => false,
    };
    key_is_string.then_some(&r.fields[1].schema)
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
pub(crate) fn default_value(d: &Json, schema: &Schema, names: &Names) -> Result<Value, String> {
    let schema = names.resolve(schema)?;
    let ty = sql_type_of(schema, names, false)?;
    convert(d, &ty).map_err(|e| e.message().to_string())
}

/// Whether every type in `schema` is one this decoder reads.
pub(crate) fn supported(schema: &Schema) -> bool {
    match schema {
        Schema::Null
        | Schema::Boolean
        | Schema::Int
        | Schema::Long
        | Schema::Float
        | Schema::Double
        | Schema::Bytes
        | Schema::String
        | Schema::Enum(_)
        | Schema::Fixed(_)
        | Schema::Date
        | Schema::TimeMillis
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::Ref { .. }
        | Schema::Uuid(UuidSchema::String) => true,
        Schema::Decimal(_) => true,
        Schema::Array(a) => supported(&a.items),
        Schema::Map(m) => supported(&m.types),
        Schema::Union(u) => u.variants().iter().all(supported),
        Schema::Record(r) => r.fields.iter().all(|f| supported(&f.schema)),
        _ => false,
    }
}
