//! Converters turn a connector's rows into record key/value bytes, as Kafka Connect's
//! `key.converter` / `value.converter` classes do.

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_schema::Registry;
use serde_json::json;

use crate::data::{encode_avro_row, row_json, row_string, StructSchema, Value};
use crate::error::ConnectError;

pub const AVRO: &str = "io.confluent.connect.avro.AvroConverter";
pub const JSON: &str = "org.apache.kafka.connect.json.JsonConverter";
pub const STRING: &str = "org.apache.kafka.connect.storage.StringConverter";
pub const BYTE_ARRAY: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

/// What the worker needs to build converters: its registry and the URLs that name it.
#[derive(Clone)]
pub struct ConverterContext {
    pub registry: Arc<Registry>,
    /// e.g. `http://127.0.0.1:8081`; `localhost` and `127.0.0.1` are treated alike.
    pub registry_url: String,
}

#[derive(Clone)]
pub enum Converter {
    Avro {
        registry: Arc<Registry>,
        /// Schema id per (subject, schema), so the registry is asked once per schema.
        ids: Arc<parking_lot::Mutex<BTreeMap<String, i32>>>,
    },
    Json {
        schemas_enable: bool,
    },
    String,
    ByteArray,
}

impl Converter {
    /// Builds the `prefix` ("key.converter" / "value.converter") converter. As in
    /// Kafka Connect, a connector that names its own converter class configures it
    /// with its own `prefix.*` keys; otherwise the worker's converter and settings
    /// (`worker`, e.g. from `creek up --connect-property`) apply. Unset there too,
    /// keys use the StringConverter and values the AvroConverter: the worker of
    /// Confluent's cp-all-in-one and of the completed tutorial, which reads the KAFKA
    /// keys ksqlDB writes (a worker with Avro keys fails on them).
    pub fn from_config(
        config: &BTreeMap<String, String>,
        prefix: &str,
        worker: &BTreeMap<String, String>,
        ctx: &ConverterContext,
    ) -> Result<Converter, ConnectError> {
        let source = if config.contains_key(prefix) {
            config
        } else {
            worker
        };
        let default = if prefix == "key.converter" {
            STRING
        } else {
            AVRO
        };
        let class = source.get(prefix).map(String::as_str).unwrap_or(default);
        let sub = |k: &str| source.get(&format!("{prefix}.{k}"));
        match class {
            AVRO | "AvroConverter" => {
                if let Some(url) = sub("schema.registry.url") {
                    if !same_registry(url, &ctx.registry_url) {
                        return Err(ConnectError::InvalidConfig {
                            key: format!("{prefix}.schema.registry.url"),
                            message: format!(
                                "not supported yet: an external schema registry ({url}); \
                                 creek's converters use creek's own registry at {}",
                                ctx.registry_url
                            ),
                        });
                    }
                }
                Ok(Converter::Avro {
                    registry: ctx.registry.clone(),
                    ids: Default::default(),
                })
            }
            JSON | "JsonConverter" => {
                let schemas_enable = match sub("schemas.enable").map(|s| s.to_ascii_lowercase()) {
                    None => true,
                    Some(v) if v == "true" => true,
                    Some(v) if v == "false" => false,
                    Some(v) => {
                        return Err(ConnectError::InvalidConfig {
                            key: format!("{prefix}.schemas.enable"),
                            message: format!("Invalid value {v}: expected true or false"),
                        })
                    }
                };
                Ok(Converter::Json { schemas_enable })
            }
            STRING | "StringConverter" => Ok(Converter::String),
            BYTE_ARRAY | "ByteArrayConverter" => Ok(Converter::ByteArray),
            other => Err(ConnectError::InvalidConfig {
                key: prefix.to_string(),
                message: format!(
                    "Class {other} could not be found (creek supports {AVRO}, {JSON}, {STRING}, {BYTE_ARRAY})"
                ),
            }),
        }
    }

    /// Prepares for rows of `schema` going to `topic`; returns the encoder to use per row.
    /// For Avro this registers `<topic>-value` / `-key` (TopicNameStrategy).
    pub async fn prepare(
        &self,
        topic: &str,
        is_key: bool,
        schema: &StructSchema,
    ) -> Result<PreparedConverter, ConnectError> {
        Ok(match self {
            Converter::Avro { registry, ids } => {
                let subject = format!("{topic}-{}", if is_key { "key" } else { "value" });
                let avro = schema.avro_schema().to_string();
                let cache_key = format!("{subject}\n{avro}");
                let cached = ids.lock().get(&cache_key).copied();
                let id = match cached {
                    Some(id) => id,
                    None => {
                        let id = registry.register(&subject, &avro).await.map_err(|e| {
                            ConnectError::Task(format!(
                                "registering the schema of {subject} failed: {e}"
                            ))
                        })?;
                        ids.lock().insert(cache_key, id);
                        id
                    }
                };
                PreparedConverter::Avro { id }
            }
            Converter::Json { schemas_enable } => PreparedConverter::Json {
                schema: schemas_enable.then(|| schema.connect_json_schema()),
            },
            Converter::String => PreparedConverter::String,
            Converter::ByteArray => PreparedConverter::ByteArray,
        })
    }
}

impl Converter {
    /// The registry behind an Avro converter.
    pub fn registry(&self) -> Option<&Arc<Registry>> {
        match self {
            Converter::Avro { registry, .. } => Some(registry),
            _ => None,
        }
    }

    /// A sink's view of a record value: Confluent Avro split into its registered
    /// schema and body, JSON parsed (the payload of a `{"schema","payload"}`
    /// envelope when schemas.enable), strings and bytes as they are.
    pub fn decode(&self, bytes: &bytes::Bytes) -> Result<creek_lake::SinkValue, String> {
        match self {
            Converter::Avro { registry, .. } => {
                let (id, _) = creek_avro::wire::split(bytes).map_err(|_| {
                    "not Confluent Avro: the value does not start with magic byte 0 and a schema id"
                        .to_string()
                })?;
                let schema = registry
                    .schema_by_id(id)
                    .ok_or_else(|| format!("schema id {id} is not in the registry"))?;
                Ok(creek_lake::SinkValue::Avro {
                    schema,
                    body: bytes.slice(creek_avro::wire::HEADER_LEN..),
                })
            }
            Converter::Json { schemas_enable } => {
                let v: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
                if *schemas_enable {
                    match v {
                        serde_json::Value::Object(mut m) if m.contains_key("schema") && m.contains_key("payload") => {
                            Ok(creek_lake::SinkValue::Json(m.remove("payload").unwrap_or_default()))
                        }
                        _ => Err("JsonConverter with schemas.enable=true requires \"schema\" and \"payload\" fields; set value.converter.schemas.enable=false for plain JSON".into()),
                    }
                } else {
                    Ok(creek_lake::SinkValue::Json(v))
                }
            }
            // StringConverter gives Connect a Java String (UTF-8, invalid bytes
            // replaced, as Java's decoder does): JsonFormat writes it as a JSON string.
            Converter::String => Ok(creek_lake::SinkValue::Json(serde_json::Value::String(
                String::from_utf8_lossy(bytes).into_owned(),
            ))),
            Converter::ByteArray => Ok(creek_lake::SinkValue::Bytes(
                bytes::Bytes::copy_from_slice(bytes),
            )),
        }
    }
}

/// A converter bound to one schema: encodes rows without further lookups.
pub enum PreparedConverter {
    Avro { id: i32 },
    Json { schema: Option<serde_json::Value> },
    String,
    ByteArray,
}

impl PreparedConverter {
    pub fn encode(
        &self,
        schema: &StructSchema,
        row: &[Value],
        out: &mut Vec<u8>,
    ) -> Result<(), ConnectError> {
        match self {
            PreparedConverter::Avro { id } => {
                creek_avro::wire::put_header(*id, out);
                encode_avro_row(schema, row, out);
            }
            PreparedConverter::Json { schema: envelope } => {
                let payload = row_json(schema, row);
                let v = match envelope {
                    Some(s) => json!({"schema": s, "payload": payload}),
                    None => payload,
                };
                serde_json::to_writer(&mut *out, &v).expect("JSON to a Vec cannot fail");
            }
            PreparedConverter::String => out.extend_from_slice(row_string(schema, row).as_bytes()),
            PreparedConverter::ByteArray => {
                return Err(ConnectError::Task(
                    "ByteArrayConverter only accepts byte arrays, and a table row is a struct"
                        .into(),
                ))
            }
        }
        Ok(())
    }
}

/// True when `url` names the registry at `own` (`localhost` and `127.0.0.1` alike,
/// a trailing slash ignored). Several comma-separated URLs: any may match.
fn same_registry(url: &str, own: &str) -> bool {
    let norm = |u: &str| {
        u.trim()
            .trim_end_matches('/')
            .replace("://localhost", "://127.0.0.1")
            .replace("://0.0.0.0", "://127.0.0.1")
    };
    let own = norm(own);
    url.split(',').any(|u| norm(u) == own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_compare_loosely() {
        assert!(same_registry(
            "http://localhost:8081",
            "http://127.0.0.1:8081"
        ));
        assert!(same_registry(
            "http://127.0.0.1:8081/",
            "http://127.0.0.1:8081"
        ));
        assert!(!same_registry(
            "http://registry:8081",
            "http://127.0.0.1:8081"
        ));
    }

    #[test]
    fn string_converter_values_are_java_strings() {
        // A KAFKA-format windowed key: the string, then 8 bytes of window start.
        let mut key = b"JOVEM".to_vec();
        key.extend_from_slice(&1_765_100_430_000i64.to_be_bytes());
        let decoded = Converter::String
            .decode(&bytes::Bytes::from(key))
            .expect("any bytes decode");
        let creek_lake::SinkValue::Json(serde_json::Value::String(s)) = decoded else {
            panic!("a String converter gives a string");
        };
        assert!(s.starts_with("JOVEM\u{0}\u{0}\u{1}"));
        assert!(
            s.contains('\u{fffd}'),
            "invalid UTF-8 is replaced, as Java does"
        );
    }
}
