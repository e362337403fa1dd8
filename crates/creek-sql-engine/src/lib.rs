//! creek-sql-engine: runs ksqlDB statements over creek's log.
//!
//! Principal types and how data flows through them:
//! - [`format`]: serializers and deserializers for the key and value formats
//!   (KAFKA, JSON, AVRO through the registry, DELIMITED, NONE), turning
//!   record bytes into rows of [`creek_sql::value::Value`]s and back.
//! - [`metastore::Metastore`]: streams and tables ([`metastore::DataSource`]) and custom types.
//! - [`plan::plan_stream_query`]: a `SELECT` over a stream becomes a
//!   [`plan::StreamPlan`] (compiled filter and projection, result key and value columns).
//! - [`aggregate::plan_aggregate`]: a `GROUP BY` query becomes an
//!   [`aggregate::AggregatePlan`] (per-row filter, grouping and aggregate
//!   arguments; per-group HAVING and projection) run by an
//!   [`aggregate::Aggregator`] holding each group's (and window's) state in a
//!   [`group_store::GroupStore`] (hot groups in memory, the rest spilled to disk);
//!   a GROUP BY that re-keys goes through a repartition topic first
//!   ([`engine::Repartition`]: stage one writes re-keyed changes, stage two folds them).
//! - [`views::TableView`]: a table's current rows for pull queries, caught up
//!   from the table's topic.
//! - [`engine::Engine`]: executes statements; each persistent query
//!   ([`engine::PersistentQuery`]) reads its source topic from committed
//!   offsets, decodes ([`query::SourceDecoder`]), filters and projects
//!   ([`query::Projector`]), encodes ([`query::SinkEncoder`]) and produces
//!   to its sink topic, then commits.
//! - [`processing_log::ProcessingLog`]: records that fail to decode and
//!   expressions that throw; the query goes on.
//! - The command topic (`_confluent-ksql-<service id>_command_topic`): every
//!   statement that changes sources, types or queries, replayed by
//!   [`engine::Engine::recover`] on start.
//! - [`push`] (push queries and pull queries), [`show`] (SHOW/DESCRIBE/EXPLAIN/PRINT/connectors),
//!   [`rest`] (ksqlDB's REST API on :8088).
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
}
