//! creek-avro: creek's one Avro codec. Every component that reads or writes Avro —
//! the Schema Registry, the Connect converters and sources, the SQL engine's AVRO
//! format, the lake sink — goes through it.
//!
//! Principal types and how data flows through them:
//!
//! - [`Schema`] is a parsed Avro schema ([`parse`]); the registry parses each schema
//!   once and keeps it per id.
//! - [`compile`] turns a writer schema into a [`Node`] tree, the decoding plan:
//!   named references resolved, logical types folded into the node
//!   ([`IntKind`], [`LongKind`], [`Node::Decimal`]), `["null", T]` recognised as
//!   [`Node::Optional`], other unions as [`UnionNode`] with Connect's branch names,
//!   records as [`RecordNode`] with their field defaults. The registry compiles a
//!   schema once per id (`RegisteredSchema::plan`), so the hot path never sees a
//!   name or a JSON schema.
//! - A consumer walks a body with its plan over a [`Reader`] (the primitives of the
//!   binary encoding), building its own values as it goes: the SQL engine its row
//!   values, the lake sink Arrow column builders and JSON text. Nothing builds a
//!   generic Avro value in between. [`skip`], [`check`] and [`validate`] walk a body
//!   without building anything.
//! - Writers append the binary encoding with [`put_long`], [`put_str`], … and
//!   [`decimal_bytes`], following the same plan.
//! - [`resolve`] builds a [`Resolution`] from a writer plan and a reader plan
//!   (Avro's schema resolution: fields by name, defaults, promotions, unions);
//!   [`Resolution::transcode`] rewrites a writer's body into the reader's encoding,
//!   and [`encode_json`] writes a JSON default value in the binary encoding.
//! - [`wire`] frames a body in the Confluent wire format (magic byte 0 and the
//!   4-byte schema id) and splits it off again.
//!
//! Errors: a schema that cannot become a plan is a [`SchemaError`] (a recursive
//! record is "not supported yet"); a body that does not match its plan is a
//! [`DecodeError`] naming the field path, one pointer wide so that the hot path's
//! `Result`s stay small.

mod binary;
mod error;
mod plan;
mod resolve;
mod walk;
pub mod wire;

pub use apache_avro::Schema;
pub use binary::{
    decimal_bytes, decimal_digits, decimal_from_bytes, put_boolean, put_bytes, put_double,
    put_float, put_long, put_str, Reader,
};
pub use error::{DecodeError, Decoded, SchemaError};
pub use plan::{
    compile, union_branch_name, FieldNode, IntKind, LongKind, Node, RecordNode, UnionNode, Unit,
};
pub use resolve::{encode_json, resolve, Resolution};
pub use walk::{check, skip, validate};

/// Parses an Avro schema from its JSON text.
pub fn parse(text: &str) -> Result<Schema, SchemaError> {
    Schema::parse_str(text).map_err(|e| SchemaError::Invalid(e.to_string()))
}
