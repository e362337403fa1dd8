//! creek-schema: a Confluent-Schema-Registry-compatible registry for Avro schemas,
//! durable in creek's log.
//!
//! Principal types and how data flows through them:
//!
//! - [`Registry`] holds the state — subjects and their versions, global schema ids,
//!   compatibility levels — in memory, rebuilt on [`Registry::open`] by replaying the
//!   internal `_schemas` topic through [`LogStore`](creek_store::LogStore). Every
//!   change (register, delete, config) is decided under a writer lock, appended to
//!   `_schemas` as Confluent-shaped JSON records ([`records`]), and only then applied
//!   and acknowledged, so acknowledged ids survive a crash and restarts reuse them.
//! - [`canonical`] turns a schema into its canonical string (Java Avro's
//!   `Schema.toString()` layout, as Confluent stores it): registering the same
//!   canonical schema again is idempotent, and the same schema under another subject
//!   gets the same id.
//! - [`compat`] checks a candidate against a subject's versions for its
//!   [`CompatibilityLevel`] (BACKWARD default; NONE, FORWARD, FULL, `_TRANSITIVE`).
//! - [`router`] serves Confluent's REST API (the routes clients and
//!   `confluent-kafka`'s `SchemaRegistryClient` use) with Confluent's error bodies
//!   and codes ([`RegistryError`]).
//! - Encoders and decoders get a [`RegisteredSchema`] for an id from
//!   [`Registry::schema_by_id`], which never re-parses; its
//!   [`plan`](RegisteredSchema::plan) is the schema compiled by `creek_avro` once
//!   per id. The wire framing lives in `creek_avro::wire`.
//!
//! Avro only: JSON Schema and Protobuf requests are refused with a clear
//! "not supported yet", as are schema references and data-contract rule sets.

pub mod canonical;
pub mod compat;
pub mod error;
pub mod records;
pub mod registry;
pub mod rest;

pub use compat::CompatibilityLevel;
pub use error::RegistryError;
pub use registry::{Deleted, RegisteredSchema, Registry, SubjectVersion, VersionRef};
pub use rest::router;
