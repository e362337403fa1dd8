//! creek-connect: a Kafka Connect worker in-process.
//!
//! Principal types, top to bottom (a module imports only modules below it):
//!
//! - [`rest::router`] serves Kafka Connect's REST API over the [`runtime::Worker`].
//! - [`runtime::Worker`] owns connectors and their tasks. Connector configs and target
//!   states go to `connect-configs`, source offsets to `connect-offsets`, statuses to
//!   `connect-status`; all three are replayed on start. It drives every task the same
//!   way, naming no connector: a source task's poll loop (pause/resume, statuses,
//!   the task's backoff), a sink task's consumption (topic-partitions split among the
//!   tasks, fetches from the `connect-<name>` group's position, retention skips).
//! - [`registry::Registry`] maps `connector.class` names and aliases to constructors;
//!   a connector is its module plus one line in [`registry::Registry::builtin`] (or a
//!   [`registry::Registry::register`] call from outside the crate).
//! - [`connector`] is the plug-in API, after Kafka Connect's: a
//!   [`connector::Connector`] gives its key table, validates a config, starts and
//!   splits into task configs (`task_configs(max_tasks)`); a
//!   [`connector::SourceTask`] (`start`, `poll`) or [`connector::SinkTask`]
//!   (`start`, `put`, `flush`) does the work.
//! - [`context`] is what a task gets from the runtime: [`context::StatusHandle`],
//!   [`context::OffsetStore`] (source offsets), [`context::SourceProducer`] (the
//!   converter and the log append: a source never touches the log itself) and
//!   [`context::SinkOffsets`] (the sink's consumer group).
//! - The connectors: [`jdbc`] is Confluent's JDBC source for PostgreSQL: a task reads
//!   new rows with binary COPY inside a repeatable-read snapshot ([`jdbc::pg`]) and
//!   hands them to the producer in chunks, each one idempotent batch, then records
//!   its snapshot watermark as the source offset ([`jdbc::task`] explains why this is
//!   exactly-once). [`s3sink`] is Confluent's S3 sink: files per encoded partition,
//!   committed whole before the group's offset moves ([`s3sink::task`]).
//! - [`config`] holds the key policy: every connector has one key table of the keys
//!   Kafka Connect and Confluent document; implemented keys behave as documented,
//!   keys without effect in creek and unknown keys are accepted with a warning (and
//!   "did you mean …?"), features whose absence would change the data are a 400.
//!   [`converter`] and [`data`] are Connect's converters and values.
//! - Failures show at once: a task is FAILED with the cause in its status on its
//!   first failure and keeps retrying; a restart retries now ([`runtime`]).
//!
//! Data flow. Source: PostgreSQL → `jdbc::task` (rows, producer sequences) →
//! `SourceProducer` (converter → `LogStore::produce_batch`, idempotent batches) →
//! `OffsetStore::commit`. Sink: `LogStore::fetch` (runtime, at the group's position) →
//! `SinkTask::put` (`s3sink::task`: converter decode → files → lake) →
//! `SinkOffsets::commit` once the files are written. The crate reaches the log only
//! through `creek_store::LogStore`.

pub mod config;
pub mod connector;
pub mod context;
pub mod converter;
pub mod data;
pub mod error;
pub mod jdbc;
pub mod membership;
pub mod registry;
pub mod rest;
pub mod runtime;
pub mod s3sink;

pub use error::ConnectError;
pub use rest::router;
pub use runtime::{InternalTopics, Worker, WorkerConfig};
