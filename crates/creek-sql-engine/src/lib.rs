//! creek-sql-engine: runs ksqlDB statements over creek's log.
//!
//! Principal types and how data flows through them, from the bottom of the
//! module graph up (no module imports one above it; `tests/module_graph.rs`
//! checks that there are no circles):
//! - [`window`]: [`window::WindowSpec`] (TUMBLING/HOPPING/SESSION in ms) and SQL
//!   durations, shared by the planner, the metastore, the key formats and DESCRIBE.
//! - [`mod@format`]: serializers and deserializers for the key and value formats
//!   (KAFKA, JSON, AVRO through the registry and `creek_avro` plans, DELIMITED, NONE), turning
//!   record bytes into rows of [`creek_sql::value::Value`]s and back;
//!   `format::window` writes and splits Kafka Streams' windowed keys.
//! - [`metastore::Metastore`]: streams and tables ([`metastore::DataSource`]:
//!   topic, key/value formats, columns) and custom types.
//! - [`plan::plan_stream_query`]: a `SELECT` over a stream becomes a
//!   [`plan::StreamPlan`] (compiled filter and projection, result key and value columns).
//! - [`query`]: the per-record runtime of a plan: [`query::SourceDecoder`] (record →
//!   row), [`query::Projector`] (filter, project, table functions),
//!   [`query::SinkEncoder`] (row → record, partition by Kafka's murmur2).
//! - [`aggregate::plan_aggregate`] (in `aggregate/planner.rs`, in named
//!   steps): a `GROUP BY` query becomes an [`aggregate::AggregatePlan`]
//!   (per-row filter, grouping and aggregate arguments; per-group HAVING and
//!   projection) run by an [`aggregate::Aggregator`] holding each group's (and
//!   window's) state in a [`group_store::GroupStore`] (hot groups in memory, the
//!   rest spilled to disk); a GROUP BY that re-keys goes through a repartition
//!   topic first ([`engine::Repartition`]: stage one writes re-keyed changes,
//!   stage two folds them).
//! - [`views::TableView`]: a table's current rows for pull queries, caught up
//!   from the table's topic.
//! - [`engine::Engine`]: executes statements ([`engine::Engine::execute`]
//!   dispatches by kind to `engine::{ddl, persistent, insert, show}`); each
//!   persistent query ([`engine::PersistentQuery`]) is run by `engine::runner`:
//!   it reads its source topic from committed offsets, decodes, filters and
//!   projects (or aggregates), encodes and produces to its sink topic, then commits.
//! - [`processing_log::ProcessingLog`]: records that fail to decode and
//!   expressions that throw; the query goes on.
//! - The command topic (`_confluent-ksql-<service id>_command_topic`, `engine::command_topic`):
//!   every statement that changes sources, types or queries, replayed by
//!   [`engine::Engine::recover`] on start.
//! - Above the engine: [`push`] (push queries, pull queries over streams) and
//!   [`pull`] (pull queries over tables), both handing a [`transient::PushQuery`]
//!   to [`rest`] (ksqlDB's REST API on :8088), which substitutes `${var}`s with
//!   [`engine::Engine::substitute`] (ksqlDB's rules, `creek_sql::variables`)
//!   before parsing.
//! - [`qtt`] and [`qtt_rest`]: runners for ksqlDB's conformance files (`creek qtt`).

pub mod aggregate;
pub mod engine;
mod fetch;
pub mod format;
pub mod group_store;
pub mod metastore;
pub mod plan;
pub mod processing_log;
pub mod pull;
pub mod push;
pub mod qtt;
pub mod qtt_rest;
pub mod query;
pub mod rest;
pub mod stats;
pub mod transient;
pub mod views;
pub mod window;

/// Why a statement failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Parse(#[from] creek_sql::ParseError),
    /// A statement ksqlDB would reject (its message).
    #[error("{0}")]
    Statement(String),
    #[error("not supported yet: {0}")]
    NotSupported(String),
    #[error("log error: {0}")]
    Log(String),
    /// A persistent query failed while processing and stopped (ksqlDB's
    /// ERROR state), such as a row its sink cannot serialize.
    #[error("{0}")]
    QueryFailed(String),
    /// The worker's round in the query's group is over: it stops its share
    /// (another worker may own it now) until the next round hands one out.
    #[error("{0}")]
    Rebalanced(String),
}
