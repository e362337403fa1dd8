//! creek-connect: a Kafka Connect worker in-process.
//!
//! - [`runtime::Worker`] owns connectors and their tasks. Connector configs and target
//!   states go to `connect-configs`, source offsets to `connect-offsets`, statuses to
//!   `connect-status`; all three are replayed on start.
//! - [`rest::router`] serves Kafka Connect's REST API over the worker.
//! - [`jdbc`] is Confluent's JDBC source for PostgreSQL: a task reads new rows with
//!   binary COPY inside a repeatable-read snapshot ([`jdbc::pg`]), turns them into
//!   Connect rows ([`data`]), encodes them with the configured [`converter`] (Avro
//!   through creek's registry by default) and appends them to the log as idempotent
//!   batches, then records its snapshot watermark as the source offset
//!   ([`jdbc::task`] explains why this is exactly-once).
//!
//! - [`config`] holds the key policy: every connector has one key table of the keys
//!   Kafka Connect and Confluent document; implemented keys behave as documented,
//!   keys without effect in creek and unknown keys are accepted with a warning (and
//!   "did you mean …?"), features whose absence would change the data are a 400.
//! - Failures show at once: a task is FAILED with the cause in its status on its
//!   first failure and keeps retrying; a restart retries now ([`runtime`]).
//!
//! Data flow: PostgreSQL → `jdbc::task` → `converter` → `LogStore::produce_batch` (idempotent batches)
//! → `OffsetStore::commit`. The crate reaches the log only through `creek_log::LogStore`.

pub mod config;
pub mod connector;
pub mod context;
pub mod converter;
pub mod data;
pub mod error;
pub mod jdbc;
pub mod registry;
pub mod rest;
pub mod runtime;
pub mod s3sink;

pub use error::ConnectError;
pub use rest::router;
pub use runtime::{Worker, WorkerConfig};
