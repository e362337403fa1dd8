//! creek-lake: the file formats and object-store destinations of the lake sink
//! (Confluent's `io.confluent.connect.s3.S3SinkConnector`).
//!
//! Principal types and how data flows through them:
//!
//! - The sink hands each record's value over as a [`SinkValue`]: an Avro datum body
//!   with its registered writer schema, a parsed JSON value, or raw bytes.
//! - A [`FileBuilder`] builds one output file in memory for a [`FormatConfig`]
//!   ([`FormatKind`] plus codecs, named after Confluent's config keys):
//!   - Parquet: Avro bodies are decoded straight into Arrow column builders by a
//!     schema-driven decoder (the writer schema is compiled once into an internal
//!     `Node` tree and cached), then written with parquet's `ArrowWriter` in row
//!     groups of 100k rows. Avro dates, times, timestamps and decimals become the
//!     matching Parquet logical types, nullable unions optional columns, records
//!     structs. Schemaless JSON objects get a schema inferred per file.
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

mod avro;
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
pub use file::{FileBuilder, SinkValue};
pub use lake::{check_bucket_name, Lake};
