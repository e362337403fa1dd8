//! Key and value formats: KAFKA, JSON, AVRO (Confluent wire format through the
//! Schema Registry), DELIMITED and NONE.
//!
//! A [`RowFormat`] is built once per source or sink for its key or its value
//! columns ([`build`]); per record it turns bytes into a row of values and
//! back. Building may talk to the registry (look up or register a subject);
//! per-record work never waits on I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_schema::registry::Registry;
use creek_sql::types::SqlType;
use creek_sql::value::Value;

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
    /// A row of values to bytes; `Ok(None)` for a null payload.
    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Vec<u8>>, String>;
}
