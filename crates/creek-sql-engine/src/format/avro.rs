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

use creek_avro::{wire, Node, RecordNode};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use creek_schema::registry::{RegisteredSchema, Registry};
use creek_sql::types::SqlType;
use creek_sql::value::Value;

use super::avro_decode::{Reader, RowPlan};
use super::avro_encode;
use super::avro_types::sql_type_of;
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
// The row format.

/// The plan of a registered schema, or why there is none.
fn plan_of(s: &RegisteredSchema) -> Result<Arc<Node>, String> {
    s.plan()
        .cloned()
        .map_err(|e| format!("Schema with id {} cannot be used: {e}", s.id))
}

fn schema_by_id(registry: &Registry, id: i32) -> Result<Arc<RegisteredSchema>, String> {
    registry
        .schema_by_id(id)
        .ok_or_else(|| format!("Schema with id {id} does not exist in the Schema Registry."))
}

struct Writer {
    id: i32,
    plan: Arc<Node>,
    /// The column of each field of the record written (see [`record_of`]),
    /// worked out once instead of by name per record.
    targets: Vec<Option<usize>>,
}

impl Writer {
    fn of(registry: &Registry, id: i32) -> Result<Writer, String> {
        Ok(Writer {
            id,
            plan: plan_of(&*schema_by_id(registry, id)?)?,
            targets: Vec::new(),
        })
    }
}

/// The record a row is written as: the schema itself, or the union branch
/// that is a record (with its branch index).
fn record_of(node: &Node) -> Result<(Option<usize>, &RecordNode), String> {
    match node {
        Node::Record(r) => Ok((None, r)),
        Node::Optional { null_index, inner } => match &**inner {
            Node::Record(r) => Ok((Some(1 - *null_index as usize), r)),
            _ => Err("The Avro schema is not a record".into()),
        },
        Node::Union(u) => u
            .branches
            .iter()
            .enumerate()
            .find_map(|(i, b)| match b {
                Node::Record(r) => Some((Some(i), &**r)),
                _ => None,
            })
            .ok_or_else(|| "The Avro schema is not a record".into()),
        _ => Err("The Avro schema is not a record".into()),
    }
}

/// A writer schema as this format reads it: its plan and where its fields go.
struct Resolved {
    plan: Arc<Node>,
    /// The writer's record fields mapped to the columns.
    row_plan: RowPlan,
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
            Ok(Writer::of(&registry, id)?)
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
                    creek_avro::parse(&text)
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
                        let id = match registry.lookup(&subject, &text, false) {
                            Ok(v) => v.schema.id,
                            Err(_) => latest.id,
                        };
                        let writer = Writer::of(&registry, id);
                        return Ok(AvroFormat::new(
                            columns, unwrapped, registry, writer, what, topic,
                        ));
                    }
                    // Registering may fail (e.g. an incompatible schema is
                    // already there): reading does not need it, so the error
                    // is kept for the first write.
                    match registry.register(&subject, &text).await {
                        Ok(id) => Writer::of(&registry, id),
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
                if let Ok((_, r)) = record_of(&w.plan) {
                    w.targets = r
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
        let plan = plan_of(&*schema_by_id(&self.registry, id)?)?;
        let r = Arc::new(Resolved {
            row_plan: RowPlan::of(&plan, &self.columns),
            plan,
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

    /// The framed payload of a non-null row.
    fn encode(&self, w: &Writer, row: &[Value]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.size_hint.load(Ordering::Relaxed));
        wire::put_header(w.id, &mut out);
        if self.unwrapped {
            let v = row.first().unwrap_or(&Value::Null);
            avro_encode::write(v, &w.plan, &mut out)?;
            return Ok(out);
        }
        let (branch, r) = record_of(&w.plan)?;
        if let Some(i) = branch {
            avro_encode::zigzag(i as i64, &mut out);
        }
        avro_encode::record(r, &mut out, |i, name| match w.targets.get(i) {
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
        let (id, body) = wire::split(bytes).map_err(|e| self.error(e))?;
        let looked_up;
        let w: &Resolved = match self.first.get() {
            Some((first, r)) if *first == id => r,
            _ => {
                looked_up = self.writer_schema(id).map_err(|e| self.error(e))?;
                &looked_up
            }
        };
        let mut r = Reader::new(body);
        if self.unwrapped {
            let v = r
                .read(&w.plan, Some(&self.columns[0].ty))
                .map_err(|e| self.error(e))?;
            return Ok(Some(vec![v]));
        }
        r.planned_row(&w.plan, &self.columns, &w.row_plan, wanted)
            .map_err(|e| self.error(e))
    }

    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        if self.columns.is_empty() {
            return Ok(None);
        }
        let w = self.writer.as_ref().map_err(|e| e.clone())?;
        if self.unwrapped && row.first().is_none_or(|v| v.is_null()) {
            return Ok(None);
        }
        self.encode(w, row).map(Some)
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
    let plan = plan_of(&*schema_by_id(registry, id)?)?;
    let ty = sql_type_of(&plan, false)?;
    let value = convert(json, &ty).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    wire::put_header(id, &mut out);
    avro_encode::write(&value, &plan, &mut out)?;
    Ok(out)
}

/// A Confluent-framed Avro payload as JSON, read with its writer schema and
/// keeping its field names (the inverse of [`avro_payload_from_json`]).
pub fn avro_payload_to_json(registry: &Registry, payload: &[u8]) -> Result<Json, String> {
    let (id, body) = wire::split(payload).map_err(|e| e.to_string())?;
    let plan = plan_of(&*schema_by_id(registry, id)?)?;
    let ty = sql_type_of(&plan, false)?;
    let mut r = Reader::new(body);
    let v = r.read(&plan, Some(&ty)).map_err(|e| e.to_string())?;
    Ok(super::json::value_to_json(&v))
}
