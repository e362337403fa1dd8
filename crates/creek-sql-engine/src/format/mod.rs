//! Key and value formats: KAFKA, JSON, AVRO (Confluent wire format through the
//! Schema Registry), DELIMITED and NONE.
//!
//! A [`RowFormat`] is built once per source or sink for its key or its value
//! columns ([`build`]); per record it turns bytes into a row of values and
//! back. Building may talk to the registry (look up or register a subject);
//! per-record work never waits on I/O.
//!
//! What each format does, as ksqlDB does it:
//! - KAFKA: one INT/BIGINT (big-endian), DOUBLE (IEEE 754), STRING (UTF-8)
//!   or BYTES (raw) column, or no column (payload ignored).
//! - JSON: an object with a property per column (written in column order,
//!   matched on read by exact name, then by upper-cased property name), or the
//!   bare value of a single column: keys by default, values with
//!   `WRAP_SINGLE_VALUE=false`. Coercions and error texts follow
//!   `KsqlJsonDeserializer` (see [`json_to_value`]).
//! - AVRO: magic byte 0, 4-byte schema id, Avro binary. Read with the writer
//!   schema named by the payload; written with the schema generated from the
//!   columns as ksqlDB's `AvroSchemas` + Connect's `AvroData` do (optional
//!   fields defaulting to null, records named `<fullSchemaName>_<FIELD>`,
//!   MAPs as arrays of `MapEntry` records, Connect's logical-type
//!   annotations), registered under `<topic>-key`/`<topic>-value` by
//!   [`build`], or with the registered schema `schemaId`.
//! - DELIMITED: one CSV record of primitive columns (commons-csv quoting;
//!   an empty field is NULL; BYTES base64; DATE days, TIME/TIMESTAMP ms).
//! - NONE: no columns.
//! - PROTOBUF, PROTOBUF_NOSR, JSON_SR: not supported yet ([`build`] fails).

mod avro;
mod avro_decode;
mod avro_encode;
mod avro_types;
mod delimited;
mod json;
mod kafka;
mod none;
#[cfg(test)]
mod tests;
pub mod window;

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_schema::registry::Registry;
use creek_sql::types::SqlType;
use creek_sql::value::Value;

pub use avro::{
    avro_payload_from_json, avro_payload_to_json, schema_json as avro_schema_json,
    DEFAULT_SCHEMA_NAME,
};
pub(crate) use json::java_hash_map_order_by;
pub use json::{json_to_value, value_to_api_json, value_to_json};
pub use window::{
    session_windowed_key, split_session_windowed_key, split_time_windowed_key, split_windowed_key,
    time_windowed_key, windowed_key,
};

/// The format names ksqlDB accepts in `KEY_FORMAT` / `VALUE_FORMAT` / `FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FormatKind {
    Kafka,
    Json,
    Avro,
    Delimited,
    None,
    Protobuf,
    ProtobufNoSr,
    JsonSr,
}

/// A named, typed column of a key or a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
}

/// A format with its properties, as a source's WITH clause gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatSpec {
    pub kind: FormatKind,
    /// Format properties: `delimiter` (DELIMITED), `fullSchemaName`
    /// (AVRO's `VALUE_AVRO_SCHEMA_FULL_NAME`), `schemaId` (`VALUE_SCHEMA_ID`).
    pub properties: BTreeMap<String, String>,
    /// Whether a single column is wrapped in a record/object (`WRAP_SINGLE_VALUE`).
    /// `None` = the format's default.
    pub wrap_single_value: Option<bool>,
}

/// Where a [`RowFormat`] is used, for the registry subject and error messages.
pub struct FormatContext {
    pub registry: Option<Arc<Registry>>,
    pub topic: String,
    pub is_key: bool,
}

/// Serializes and deserializes the key or value columns of records.
pub trait RowFormat: Send + Sync {
    /// Bytes (or a null/absent payload) to a row of `columns.len()` values;
    /// `Ok(None)` for a null payload (a tombstone or an absent key).
    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Vec<Value>>, String>;
    /// [`RowFormat::deserialize`] for a reader that uses only the columns whose
    /// `wanted` entry is true (one entry per column; missing entries count as
    /// wanted): the others may come back NULL, unconverted. The payload is still
    /// read whole, so a malformed record fails as it does with `deserialize`.
    /// AVRO skips them (no string copies, no coercion); the other formats
    /// decode every column.
    fn deserialize_wanted(
        &self,
        bytes: Option<&[u8]>,
        wanted: &[bool],
    ) -> Result<Option<Vec<Value>>, String> {
        let _ = wanted;
        self.deserialize(bytes)
    }
    /// A row of values to bytes; `Ok(None)` for a null payload.
    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String>;
}

impl FormatKind {
    /// The name ksqlDB spells the format with.
    pub fn name(self) -> &'static str {
        match self {
            FormatKind::Kafka => "KAFKA",
            FormatKind::Json => "JSON",
            FormatKind::Avro => "AVRO",
            FormatKind::Delimited => "DELIMITED",
            FormatKind::None => "NONE",
            FormatKind::Protobuf => "PROTOBUF",
            FormatKind::ProtobufNoSr => "PROTOBUF_NOSR",
            FormatKind::JsonSr => "JSON_SR",
        }
    }
}

/// A format by name, case-insensitively.
pub fn parse_format(name: &str) -> Result<FormatKind, String> {
    Ok(match name.trim().to_ascii_uppercase().as_str() {
        "KAFKA" => FormatKind::Kafka,
        "JSON" => FormatKind::Json,
        "AVRO" => FormatKind::Avro,
        "DELIMITED" => FormatKind::Delimited,
        "NONE" => FormatKind::None,
        "PROTOBUF" => FormatKind::Protobuf,
        "PROTOBUF_NOSR" => FormatKind::ProtobufNoSr,
        "JSON_SR" => FormatKind::JsonSr,
        _ => return Err(format!("Unknown format: {name}")),
    })
}

/// ksqlDB's `SqlBaseType` name of a type: `INTEGER`, `DECIMAL`, `STRUCT`, ...
pub fn base_type_name(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Int => "INTEGER",
        SqlType::Bigint => "BIGINT",
        SqlType::Double => "DOUBLE",
        SqlType::Decimal { .. } => "DECIMAL",
        SqlType::String => "STRING",
        SqlType::Bytes => "BYTES",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::Array(_) => "ARRAY",
        SqlType::Map(..) => "MAP",
        SqlType::Struct(_) => "STRUCT",
    }
}

/// Columns as ksqlDB lists them in errors: ``[`K` STRING KEY, `V` INTEGER]``.
pub(crate) fn columns_text(columns: &[Column], is_key: bool) -> String {
    let items: Vec<String> = columns
        .iter()
        .map(|c| {
            format!(
                "`{}` {}{}",
                c.name.replace('`', "``"),
                c.ty,
                if is_key { " KEY" } else { "" }
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

pub(crate) use creek_sql::cast::java_double;

/// A primitive value's text, as ksqlDB casts it to STRING.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) => i.to_string(),
        Value::Double(d) => java_double(*d),
        Value::Decimal(d) => d.to_string(),
        Value::String(s) => s.to_string(),
        Value::Date(d) => d.to_string(),
        Value::Time(t) | Value::Timestamp(t) => t.to_string(),
        other => value_to_json(other).to_string(),
    }
}

fn check_map_keys(ty: &SqlType, message: &str) -> Result<(), String> {
    match ty {
        SqlType::Map(k, v) => {
            if **k != SqlType::String {
                return Err(message.to_string());
            }
            check_map_keys(v, message)
        }
        SqlType::Array(e) => check_map_keys(e, message),
        SqlType::Struct(fields) => fields
            .iter()
            .try_for_each(|f| check_map_keys(&f.ty, message)),
        _ => Ok(()),
    }
}

/// Whether the single column is written bare: keys are unwrapped unless
/// `WRAP_SINGLE_VALUE` says otherwise, values only with `WRAP_SINGLE_VALUE=false`.
fn is_unwrapped(spec: &FormatSpec, columns: &[Column], is_key: bool) -> Result<bool, String> {
    if !is_key && spec.wrap_single_value.is_some() && columns.len() != 1 {
        return Err("'WRAP_SINGLE_VALUE' is only valid for single-field value schemas".into());
    }
    Ok(columns.len() == 1
        && if is_key {
            spec.wrap_single_value != Some(true)
        } else {
            spec.wrap_single_value == Some(false)
        })
}

/// The format properties [`FormatSpec::properties`] may carry.
const KNOWN_PROPERTIES: &[&str] = &["delimiter", "fullSchemaName", "schemaId"];

/// When an AVRO format registers the schema generated from its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Always (sinks: `CREATE ... AS SELECT`, as ksqlDB); an incompatible
    /// schema already in the subject fails the first write.
    Always,
    /// Only if the subject has no schema yet (sources: `CREATE STREAM/TABLE`
    /// with columns, as ksqlDB). Otherwise writes use the registered schema
    /// equal to the columns' one, or else the subject's latest schema.
    IfAbsent,
}

/// Builds the serializer/deserializer of `columns` in `spec`'s format.
/// AVRO registers the schema generated from the columns under
/// `<topic>-value` / `<topic>-key` (unless `schemaId` names one).
pub async fn build(
    spec: &FormatSpec,
    columns: &[Column],
    ctx: &FormatContext,
) -> Result<Arc<dyn RowFormat>, String> {
    build_with(spec, columns, ctx, Registration::Always).await
}

/// [`build`], choosing when AVRO registers its schema.
pub async fn build_with(
    spec: &FormatSpec,
    columns: &[Column],
    ctx: &FormatContext,
    registration: Registration,
) -> Result<Arc<dyn RowFormat>, String> {
    let kind = spec.kind;
    // Properties the format has no use for, as ksqlDB's format validation.
    let supported: &[&str] = match kind {
        FormatKind::Avro | FormatKind::Protobuf => &["fullSchemaName", "schemaId"],
        FormatKind::JsonSr | FormatKind::ProtobufNoSr => &["schemaId", "fullSchemaName"],
        FormatKind::Delimited => &["delimiter"],
        FormatKind::Json | FormatKind::Kafka | FormatKind::None => &[],
    };
    let unsupported: Vec<&str> = spec
        .properties
        .keys()
        .map(String::as_str)
        .filter(|k| KNOWN_PROPERTIES.contains(k) && !supported.contains(k))
        .collect();
    if !unsupported.is_empty() {
        return Err(format!(
            "{} does not support the following configs: [{}]",
            kind.name(),
            unsupported.join(", ")
        ));
    }
    match kind {
        FormatKind::Protobuf | FormatKind::ProtobufNoSr | FormatKind::JsonSr => {
            Err(format!("not supported yet: the {} format", kind.name()))
        }
        FormatKind::None => {
            if !columns.is_empty() {
                return Err(format!(
                    "The 'NONE' format can only be used when no columns are defined. Got: {}",
                    columns_text(columns, ctx.is_key)
                ));
            }
            Ok(Arc::new(none::NoneFormat))
        }
        FormatKind::Kafka => Ok(Arc::new(kafka::KafkaFormat::new(columns, ctx.is_key)?)),
        FormatKind::Delimited => Ok(Arc::new(delimited::DelimitedFormat::new(
            columns,
            spec.properties.get("delimiter").map(String::as_str),
            ctx.is_key,
            &ctx.topic,
        )?)),
        FormatKind::Json => {
            for c in columns {
                check_map_keys(&c.ty, "JSON only supports MAP types with STRING keys")?;
            }
            let unwrapped = is_unwrapped(spec, columns, ctx.is_key)?;
            if columns.is_empty() && ctx.is_key {
                // No key columns: whatever the key holds is ignored.
                return Ok(Arc::new(none::NoneFormat));
            }
            Ok(Arc::new(json::JsonFormat {
                columns: columns.to_vec(),
                unwrapped,
                what: if ctx.is_key { "key" } else { "value" },
                topic: ctx.topic.clone(),
            }))
        }
        FormatKind::Avro => {
            for c in columns {
                check_map_keys(&c.ty, "Avro only supports MAPs with STRING keys")?;
            }
            let unwrapped = is_unwrapped(spec, columns, ctx.is_key)?;
            if columns.is_empty() {
                return Ok(Arc::new(none::NoneFormat));
            }
            let registry = ctx
                .registry
                .clone()
                .ok_or("The AVRO format needs a schema registry")?;
            Ok(Arc::new(
                avro::AvroFormat::build(
                    columns,
                    unwrapped,
                    &spec.properties,
                    registry,
                    &ctx.topic,
                    ctx.is_key,
                    registration,
                )
                .await?,
            ))
        }
    }
}

/// The columns of a source declared without them, from the latest schema
/// of `<topic>-value` (or `-key`): a record's fields (names upper-cased),
/// else one column `ROWVAL` (`ROWKEY` for keys) of the schema's type.
/// Keys are always a single `ROWKEY` column, as ksqlDB unwraps inferred keys.
pub async fn infer_columns(kind: FormatKind, ctx: &FormatContext) -> Result<Vec<Column>, String> {
    infer_columns_with(kind, ctx, None).await
}

/// [`infer_columns`] honouring `WRAP_SINGLE_VALUE`: with `Some(false)` a
/// value record is one `ROWVAL` STRUCT column.
pub async fn infer_columns_with(
    kind: FormatKind,
    ctx: &FormatContext,
    wrap_single_value: Option<bool>,
) -> Result<Vec<Column>, String> {
    check_inference(kind)?;
    let what = if ctx.is_key { "keys" } else { "values" };
    let missing = || {
        format!(
            "Schema for message {what} on topic '{}' does not exist in the Schema Registry.",
            ctx.topic
        )
    };
    let registry = ctx.registry.as_ref().ok_or_else(missing)?;
    let subject = format!("{}-{}", ctx.topic, if ctx.is_key { "key" } else { "value" });
    let (_, schema) = registry.latest(&subject).ok_or_else(missing)?;
    columns_of(&schema, ctx.is_key, wrap_single_value, true)
}

/// The columns of a source declared with `KEY_SCHEMA_ID` / `VALUE_SCHEMA_ID`
/// and no columns: as [`infer_columns_with`], from the schema with that id,
/// but keeping the schema's field names as they are (ksqlDB writes with that
/// very schema, so `c1` stays `c1`).
pub async fn infer_columns_by_id(
    kind: FormatKind,
    ctx: &FormatContext,
    schema_id: i32,
    wrap_single_value: Option<bool>,
) -> Result<Vec<Column>, String> {
    check_inference(kind)?;
    let registry = ctx
        .registry
        .as_ref()
        .ok_or("The AVRO format needs a schema registry")?;
    let schema = registry.schema_by_id(schema_id).ok_or_else(|| {
        format!("Schema with id {schema_id} does not exist in the Schema Registry.")
    })?;
    columns_of(&schema, ctx.is_key, wrap_single_value, false)
}

fn check_inference(kind: FormatKind) -> Result<(), String> {
    match kind {
        FormatKind::Avro => Ok(()),
        FormatKind::Protobuf | FormatKind::JsonSr => {
            Err(format!("not supported yet: the {} format", kind.name()))
        }
        other => Err(format!(
            "The '{}' format does not support schema inference",
            other.name()
        )),
    }
}

fn columns_of(
    schema: &creek_schema::RegisteredSchema,
    is_key: bool,
    wrap_single_value: Option<bool>,
    upper: bool,
) -> Result<Vec<Column>, String> {
    let top = schema
        .plan()
        .map_err(|e| format!("Schema with id {} cannot be used: {e}", schema.id))?;
    let ty = avro_types::sql_type_of(top, upper)?;
    if is_key {
        return Ok(vec![Column {
            name: "ROWKEY".into(),
            ty,
        }]);
    }
    match (&**top, ty) {
        (creek_avro::Node::Record(_), SqlType::Struct(fields))
            if wrap_single_value != Some(false) =>
        {
            Ok(fields
                .into_iter()
                .map(|f| Column {
                    name: f.name,
                    ty: f.ty,
                })
                .collect())
        }
        (_, ty) => Ok(vec![Column {
            name: "ROWVAL".into(),
            ty,
        }]),
    }
}
