//! creek-lake: the file formats and object-store destinations of the lake sink
//! (Confluent's `io.confluent.connect.s3.S3SinkConnector`).
//!
//! Principal types and how data flows through them:
//!
//! - The sink hands each record's value over as a [`SinkValue`]: an Avro datum body
//!   with its registered writer schema, a parsed JSON value, or raw bytes.
//! - A [`FileBuilder`] builds one output file in memory for a [`FormatConfig`]
//!   ([`FormatKind`] plus codecs, named after Confluent's config keys):
//!   - Parquet: Avro bodies are decoded straight into Arrow column builders by
//!     walking the writer schema's `creek_avro::Node` plan (compiled once per
//!     schema id by the registry), then written with parquet's `ArrowWriter` in row
//!     groups of 100k rows. Avro dates, times, timestamps and decimals become the
//!     matching Parquet logical types, nullable unions optional columns, records
//!     structs. Schemaless JSON objects get a schema inferred per file. Successive
//!     files of a stream may share [`ParquetHints`]: columns whose dictionary
//!     overflowed in the last file are written PLAIN from the start, and string
//!     builders start with room for the last file's bytes.
//!   - JSON: one line per record; Avro is rendered as Connect's `JsonConverter`
//!     (schemas off) would, straight from the binary body.
//!   - Avro: an object container file; bodies are validated and copied, not
//!     re-encoded.
//!   - ByteArray: the raw values, each followed by the separator.
//!
//!   A record is appended whole or not at all, so a failing record can be skipped.
//! - [`FormatConfig::extension`] gives the object-name suffix Confluent uses
//!   (`.snappy.parquet`, `.json.gz`, `.avro`, `.bin`).
//! - [`field_of`] reads one (possibly nested) field as a [`FieldValue`] for the
//!   field and time-based partitioners, without decoding the rest of the record.
//! - A [`Lake`] is the destination bucket: a local folder (`file:///DIR`, objects
//!   under `DIR/<bucket>/<key>`) or S3 / an S3-compatible server through
//!   `object_store`. [`Lake::put`] makes an object visible only once complete
//!   (temp file + rename locally, one PUT or a completed multipart upload on S3).
//!
//! Everything that cannot be handled yet (recursive Avro schemas, `lzo`, `bzip2`,
//! ...) is refused with a [`LakeError`] saying "not supported yet".

mod columns;
mod config;
mod container;
mod error;
mod field;
mod file;
mod infer;
mod json;
mod lake;

pub use config::{FormatConfig, FormatKind};
pub use error::LakeError;
pub use field::{field_of, FieldValue};
pub use file::{FileBuilder, ParquetHints, SinkValue};
pub use lake::{check_bucket_name, Lake};

/// The decoding plan of a record's writer schema; a schema creek cannot plan (a
/// recursive record) is refused as not supported.
pub(crate) fn plan_of(
    schema: &creek_schema::RegisteredSchema,
) -> Result<&std::sync::Arc<creek_avro::Node>, LakeError> {
    schema.plan().map_err(|e| match e {
        creek_avro::SchemaError::NotSupported(m) => LakeError::not_supported(m.clone()),
        creek_avro::SchemaError::Invalid(m) => LakeError::convert(m.clone()),
    })
}

/// A body that does not match its schema, as the error a sink reports.
pub(crate) fn convert_error(e: creek_avro::DecodeError) -> LakeError {
    LakeError::Convert(e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) fn parse(json: &str) -> creek_avro::Schema {
        creek_avro::parse(json).unwrap()
    }
}
