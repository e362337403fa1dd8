//! The engine: executes statements against the metastore and the log, and
//! owns the persistent queries. This file holds the engine's state and the
//! dispatch by statement kind ([`Engine::execute`]); each kind lives in its
//! own module: `ddl` (CREATE/DROP over a topic), `persistent` (CSAS/CTAS,
//! TERMINATE), `insert` (INSERT INTO … SELECT / VALUES), `command_topic`
//! (recording and replaying statements) and `runner` (the query loop).
//! SHOW/DESCRIBE/EXPLAIN/PRINT and the connector statements are answered by
//! [`show`], SELECTs by [`crate::push`] and [`crate::pull`] (above the engine).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use creek_schema::registry::Registry;
use creek_sql::ast::{Literal, SourceKind, Statement};
use creek_sql::expr::resolve_type;
use creek_sql::functions::FunctionRegistry;
use creek_sql::types::SqlType;
use creek_store::{InternalTopic, LogStore, ProducerRecord};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use crate::format::{FormatContext, FormatKind, FormatSpec};
use crate::metastore::{format_name, DataSource, Metastore, SourceColumn};
use crate::plan::StreamPlan;
use crate::processing_log::ProcessingLog;
use crate::query::{Projector, SinkEncoder, SourceDecoder};
use crate::EngineError;

mod command_topic;
mod ddl;
mod insert;
mod membership;
mod persistent;
mod runner;
pub mod show;

use command_topic::is_durable;
/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub service_id: String,
    /// Partitions of topics the engine creates when nothing says otherwise.
    pub default_partitions: i32,
    /// Start a task per persistent query (server) or leave them to
    /// [`Engine::run_until_idle`] (conformance tests).
    pub spawn_queries: bool,
    /// Kafka Connect's REST URL, for the connector statements.
    pub connect_url: Option<String>,
    /// How much aggregation state stays in memory, and where the rest spills.
    pub state_limits: crate::aggregate::StateLimits,
}

impl EngineConfig {
    /// Where statements are recorded: `_confluent-ksql-<service id>_command_topic`.
    pub fn command_topic(&self) -> String {
        format!("_confluent-ksql-{}_command_topic", self.service_id)
    }

    /// The processing log's topic (`<service id>ksql_processing_log`).
    pub fn processing_log_topic(&self) -> String {
        format!("{}ksql_processing_log", self.service_id)
    }

    /// The command topic (kept forever: statements are replayed on start) and the
    /// processing log's topic, as the engine creates them when they are missing.
    pub fn internal_topics(&self) -> [InternalTopic; 2] {
        [
            InternalTopic::new(self.command_topic(), 1).with("retention.ms", "-1"),
            InternalTopic::new(self.processing_log_topic(), 1),
        ]
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            service_id: "default_".into(),
            default_partitions: 1,
            spawn_queries: true,
            connect_url: None,
            state_limits: crate::aggregate::StateLimits::default(),
        }
    }
}

/// Session state of one client: properties and variables.
#[derive(Debug, Clone, Default)]
pub struct Session {
    pub properties: BTreeMap<String, String>,
    pub variables: BTreeMap<String, String>,
}

impl Session {
    pub fn offset_reset_earliest(&self) -> bool {
        self.properties
            .get("auto.offset.reset")
            .is_some_and(|v| v.eq_ignore_ascii_case("earliest"))
    }
}

/// A persistent query's runtime state.
pub struct PersistentQuery {
    pub id: String,
    pub sink: Option<String>,
    pub source: String,
    pub statement: String,
    pub decoder: SourceDecoder,
    pub logic: QueryLogic,
    pub encoder: SinkEncoder,
    pub sink_topic: String,
    /// Next offset per source partition.
    positions: Mutex<BTreeMap<i32, i64>>,
    pub state: Mutex<&'static str>,
    /// Why the query stopped, when its state is ERROR (EXPLAIN shows it).
    pub error: Mutex<Option<(i64, String)>>,
    /// A GROUP BY that re-keys: the topic between its two stages.
    pub repartition: Option<Repartition>,
    /// With `processing.guarantee=exactly_once_v2`: each step's outputs,
    /// changelog and input offsets commit as one Kafka transaction.
    exactly_once: bool,
    /// The transactions of the share this worker runs (exactly-once only).
    transactions: Mutex<Option<Arc<QueryTransactions>>>,
    /// Where a partition without a committed offset starts (auto.offset.reset).
    offset_reset_earliest: bool,
    /// Its place among the workers sharing it, when other workers may run it
    /// too (`None`: this worker owns all of it).
    membership: Option<membership::QueryMembership>,
    /// This worker's share of the query and how far its restores are
    /// (DESCRIBE EXTENDED, EXPLAIN).
    pub share: Mutex<ShareStatus>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// What one worker runs of a query, and its restores.
#[derive(Default, Clone, Debug)]
pub struct ShareStatus {
    /// Partitions by topic (all of them when this worker runs the query alone).
    pub partitions: Vec<(String, Vec<i32>)>,
    /// Tasks being restored: changelog records read so far, and the changelog
    /// partition's end offset.
    pub restoring: BTreeMap<i32, (u64, i64)>,
    /// Tasks restored in this share: records read and milliseconds taken.
    pub restored: BTreeMap<i32, (u64, u64)>,
}

impl ShareStatus {
    /// One line for DESCRIBE EXTENDED.
    pub fn describe(&self, query_id: &str) -> String {
        let partitions: Vec<String> = self
            .partitions
            .iter()
            .map(|(topic, p)| format!("{topic} {p:?}"))
            .collect();
        let mut line = format!(
            "{query_id} on this worker: {}",
            if partitions.is_empty() {
                "no partitions".to_string()
            } else {
                partitions.join(", ")
            }
        );
        for (task, (read, end)) in &self.restoring {
            line.push_str(&format!(
                "; restoring task {task}: {read} changelog records read (end offset {end})"
            ));
        }
        for (task, (read, ms)) in &self.restored {
            line.push_str(&format!(
                "; task {task} restored: {read} records in {ms} ms"
            ));
        }
        line
    }
}

/// A query's transactional producer and whether a transaction is open (one
/// begins at a step's first write and commits when the step ends).
struct QueryTransactions {
    producer: Arc<dyn creek_store::TransactionalProducer>,
    open: std::sync::atomic::AtomicBool,
}

impl PersistentQuery {
    /// Puts the query in ERROR with `reason`; it processes nothing more.
    pub fn fail(&self, reason: String) {
        *self.state.lock() = "ERROR";
        *self.error.lock() = Some((creek_store::now_ms(), reason));
    }

    pub fn failed(&self) -> bool {
        self.error.lock().is_some()
    }

    /// Whether other workers of the service id may run parts of it.
    pub fn is_shared(&self) -> bool {
        self.membership.is_some()
    }
}

/// The repartition topic of an aggregation and stage two's positions in it.
pub struct Repartition {
    pub topic: String,
    pub partitions: i32,
    positions: Mutex<BTreeMap<i32, i64>>,
}

/// What a persistent query does with each decoded row.
pub enum QueryLogic {
    /// Filter and project (streams).
    Project(Box<Projector>),
    /// Fold into groups (tables from GROUP BY).
    Aggregate(Box<crate::aggregate::AggregateTasks>),
}

/// A planned query of either kind.
pub enum QueryPlan {
    Stream(StreamPlan),
    Aggregate(crate::aggregate::AggregatePlan),
}

impl QueryPlan {
    pub fn source(&self) -> Arc<DataSource> {
        match self {
            QueryPlan::Stream(p) => p.source.clone(),
            QueryPlan::Aggregate(p) => p.source.clone(),
        }
    }

    fn has_key(&self) -> bool {
        match self {
            QueryPlan::Stream(p) => !p.key.is_empty(),
            QueryPlan::Aggregate(p) => p.key().next().is_some(),
        }
    }

    fn value_count(&self) -> usize {
        match self {
            QueryPlan::Stream(p) => p.value().count(),
            QueryPlan::Aggregate(p) => p.value().count(),
        }
    }

    /// The result's columns: keys first, then values.
    pub fn output_columns(&self) -> Vec<SourceColumn> {
        match self {
            QueryPlan::Stream(p) => p.output_columns(),
            QueryPlan::Aggregate(p) => crate::plan::result_columns(p.key(), p.value()),
        }
    }

    fn window(&self) -> Option<crate::window::WindowSpec> {
        match self {
            // A stream over a windowed source keeps its windows.
            QueryPlan::Stream(p) => p.source.window,
            QueryPlan::Aggregate(p) => p.window,
        }
    }
}

struct EngineState {
    metastore: Metastore,
    queries: BTreeMap<String, Arc<PersistentQuery>>,
    next_query: usize,
}

/// The SQL engine.
pub struct Engine {
    pub log: Arc<dyn LogStore>,
    pub registry: Option<Arc<Registry>>,
    pub functions: Arc<FunctionRegistry>,
    pub aggregates: Arc<creek_sql::functions::aggregate::AggregateRegistry>,
    pub config: EngineConfig,
    pub processing_log: Arc<ProcessingLog>,
    state: Mutex<EngineState>,
    /// Records the engine's queries and INSERTs produced, in order (tests).
    pub output_tap: Mutex<Option<Vec<(String, ProducerRecord)>>>,
    /// Statements are recorded in the command topic (after [`Engine::recover`]).
    durable: AtomicBool,
    /// Names this engine among the workers of its service id (the header of
    /// the commands it appends).
    instance: String,
    /// The next command-topic offset to run (see [`Engine::follow_commands`]).
    commands_read: std::sync::atomic::AtomicI64,
    /// Materialized tables for pull queries, by table name, built on first use.
    views: Mutex<HashMap<String, Arc<tokio::sync::Mutex<crate::views::TableView>>>>,
    /// Records queries read from and wrote to each topic (DESCRIBE EXTENDED).
    pub stats: crate::stats::TopicStats,
    /// The server's own ksqlDB properties (ksql-server.properties), under the
    /// session's: see [`Engine::set_server_property`].
    server_properties: Mutex<BTreeMap<String, String>>,
}

/// ksqlDB's spelling of a source kind.
fn kind_word(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "stream",
        SourceKind::Table => "table",
    }
}

/// ksqlDB's capitalised spelling of a source kind, for status messages.
fn kind_title(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "Stream",
        SourceKind::Table => "Table",
    }
}

/// What a CREATE finds under the name it is about to use.
enum NameTaken {
    /// No source has the name.
    Free,
    /// One has, and the statement says IF NOT EXISTS: its answer.
    AlreadyExists(Json),
    /// One has, and the statement says OR REPLACE: the source it would replace.
    Replaces(Arc<DataSource>),
}

impl Engine {
    /// The check CREATE STREAM/TABLE and CREATE … AS SELECT share: a taken
    /// name is fine with IF NOT EXISTS (a status answer), an error without OR
    /// REPLACE (ksqlDB's message), else the caller decides about replacing.
    fn name_taken(
        &self,
        kind: SourceKind,
        or_replace: bool,
        if_not_exists: bool,
        name: &str,
        text: &str,
    ) -> Result<NameTaken, EngineError> {
        let Some(existing) = self.state.lock().metastore.source(name).cloned() else {
            return Ok(NameTaken::Free);
        };
        if if_not_exists {
            return Ok(NameTaken::AlreadyExists(status_entity(
                text,
                &format!("{} already exists", kind_title(kind)),
                None,
            )));
        }
        if !or_replace {
            return Err(EngineError::Statement(format!(
                "Cannot add {} '{name}': A {} with the same name already exists",
                kind_word(kind),
                existing.kind_name().to_ascii_lowercase()
            )));
        }
        Ok(NameTaken::Replaces(existing))
    }
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::String(s) => s.clone(),
        Literal::Integer(s) | Literal::Decimal(s) | Literal::Double(s) => s.clone(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Null => "null".into(),
    }
}

fn status_entity(text: &str, message: &str, query_id: Option<&str>) -> Json {
    json!({
        "@type": "currentStatus",
        "statementText": text,
        "commandId": format!("stream/{}/create", query_id.unwrap_or("")),
        "commandStatus": {
            "status": "SUCCESS",
            "message": message,
            "queryId": query_id,
        },
        "commandSequenceNumber": -1,
        "warnings": [],
    })
}

pub fn statement_kind(s: &Statement) -> &'static str {
    match s {
        Statement::Show { .. } => "SHOW",
        Statement::Describe { .. } | Statement::DescribeAll { .. } => "DESCRIBE",
        Statement::DescribeFunction(_) => "DESCRIBE FUNCTION",
        Statement::DescribeConnector(_) => "DESCRIBE CONNECTOR",
        Statement::ExplainQuery(_) | Statement::Explain(_) => "EXPLAIN",
        Statement::Print { .. } => "PRINT",
        Statement::Pause(_) => "PAUSE",
        Statement::Resume(_) => "RESUME",
        Statement::CreateConnector { .. } => "CREATE CONNECTOR",
        Statement::DropConnector { .. } => "DROP CONNECTOR",
        Statement::AssertTopic { .. } => "ASSERT TOPIC",
        Statement::AssertSchema { .. } => "ASSERT SCHEMA",
        Statement::RunScript(_) => "RUN SCRIPT",
        Statement::AlterSystem { .. } => "ALTER SYSTEM",
        Statement::AlterSource { .. } => "ALTER",
        _ => "this statement",
    }
}

/// Names of the formats for SHOW STREAMS.
pub fn source_formats(s: &DataSource) -> (&'static str, &'static str) {
    (
        format_name(s.key_format.kind),
        format_name(s.value_format.kind),
    )
}

/// Whether a type holds a MAP at any depth.
fn contains_map(t: &SqlType) -> bool {
    match t {
        SqlType::Map(..) => true,
        SqlType::Array(e) => contains_map(e),
        SqlType::Struct(fields) => fields.iter().any(|f| contains_map(&f.ty)),
        _ => false,
    }
}

fn kafka_format() -> FormatSpec {
    FormatSpec {
        kind: FormatKind::Kafka,
        properties: BTreeMap::new(),
        wrap_single_value: None,
    }
}

/// `ksql.persistence.wrap.single.values` from the session, if set.
fn session_wrap(session: &Session) -> Option<bool> {
    session
        .properties
        .get("ksql.persistence.wrap.single.values")
        .map(|v| v.eq_ignore_ascii_case("true"))
}

impl Engine {
    pub fn new(
        log: Arc<dyn LogStore>,
        registry: Option<Arc<Registry>>,
        config: EngineConfig,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            log,
            registry,
            functions: Arc::new(FunctionRegistry::builtin()),
            aggregates: Arc::new(creek_sql::functions::aggregate::AggregateRegistry::builtin()),
            config,
            processing_log: Arc::new(ProcessingLog::default()),
            state: Mutex::new(EngineState {
                metastore: Metastore::default(),
                queries: BTreeMap::new(),
                next_query: 0,
            }),
            output_tap: Mutex::new(None),
            durable: AtomicBool::new(false),
            instance: format!(
                "{}-{:x}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default()
            ),
            commands_read: std::sync::atomic::AtomicI64::new(0),
            views: Mutex::new(HashMap::new()),
            stats: crate::stats::TopicStats::default(),
            server_properties: Mutex::new(BTreeMap::new()),
        })
    }

    /// A snapshot of the metastore.
    pub fn metastore(&self) -> Metastore {
        self.state.lock().metastore.clone()
    }

    pub fn queries(&self) -> Vec<Arc<PersistentQuery>> {
        self.state.lock().queries.values().cloned().collect()
    }

    fn format_ctx(&self, topic: &str, is_key: bool) -> FormatContext {
        FormatContext {
            registry: self.registry.clone(),
            topic: topic.to_string(),
            is_key,
        }
    }

    /// The materialized view of `table` for pull queries, caught up with
    /// its topic. Only tables ksqlDB materializes are queryable: those a
    /// query writes (CTAS) and source tables.
    pub async fn table_view(
        &self,
        table: &Arc<DataSource>,
    ) -> Result<Arc<tokio::sync::Mutex<crate::views::TableView>>, EngineError> {
        if !table.is_sink && !table.read_only {
            let name = &table.name;
            return Err(EngineError::Statement(format!(
                "The `{name}` table isn't queryable. To derive a queryable table, you can do 'CREATE TABLE QUERYABLE_{name} AS SELECT * FROM {name}'. See https://cnfl.io/queries for more info.\nAdd EMIT CHANGES if you intended to issue a push query."
            )));
        }
        let existing = self.views.lock().get(&table.name).cloned();
        let view = match existing {
            // A table dropped and created again gets a new view.
            Some(v) if Arc::ptr_eq(&v.lock().await.table, table) => v,
            _ => {
                let (key, value) = self.build_formats(table, false).await?;
                let decoder = SourceDecoder::new(table.clone(), key, value, &self.functions)
                    .map_err(EngineError::Statement)?;
                let view = Arc::new(tokio::sync::Mutex::new(crate::views::TableView::new(
                    table.clone(),
                    decoder,
                )));
                self.views.lock().insert(table.name.clone(), view.clone());
                view
            }
        };
        view.lock().await.catch_up(self.log.as_ref()).await?;
        Ok(view)
    }

    /// The aggregate functions with the session's `ksql.functions.*` limits.
    pub fn aggregates_for(
        &self,
        session: &Session,
    ) -> Arc<creek_sql::functions::aggregate::AggregateRegistry> {
        use creek_sql::functions::aggregate::{AggregateConfig, AggregateRegistry};
        let limit = |name: &str| {
            session
                .properties
                .get(name)
                .and_then(|v| v.trim().parse::<usize>().ok())
        };
        let list = limit("ksql.functions.collect_list.limit");
        let set = limit("ksql.functions.collect_set.limit");
        if list.is_none() && set.is_none() {
            return self.aggregates.clone();
        }
        let defaults = AggregateConfig::default();
        Arc::new(AggregateRegistry::with_config(&AggregateConfig {
            collect_list_limit: list.unwrap_or(defaults.collect_list_limit),
            collect_set_limit: set.unwrap_or(defaults.collect_set_limit),
        }))
    }

    /// Substitutes the session's `${name}` variables in one statement's
    /// text, by ksqlDB's rules ([`creek_sql::variables`]).
    pub fn substitute(text: &str, session: &Session) -> Result<String, EngineError> {
        let variables = session
            .variables
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        creek_sql::variables::substitute(text, variables).map_err(EngineError::Statement)
    }

    /// Executes one statement that is not a SELECT; returns ksqlDB's REST entity.
    pub async fn execute(
        self: &Arc<Self>,
        statement: &Statement,
        text: &str,
        session: &mut Session,
    ) -> Result<Json, EngineError> {
        let result = self.execute_statement(statement, text, session).await?;
        if self.durable.load(Ordering::SeqCst) && is_durable(statement) {
            self.append_command(text, session).await?;
        }
        Ok(result)
    }

    /// Sets a server-wide ksqlDB property, as `ksql-server.properties` does
    /// (`ksql.hidden.topics`, …); a session's `SET` still overrides it.
    pub fn set_server_property(&self, name: &str, value: &str) {
        self.server_properties
            .lock()
            .insert(name.to_string(), value.to_string());
    }

    /// A property as a statement sees it: the session's, else the server's.
    pub fn property(&self, session: &Session, name: &str) -> Option<String> {
        session
            .properties
            .get(name)
            .cloned()
            .or_else(|| self.server_properties.lock().get(name).cloned())
    }

    async fn execute_statement(
        self: &Arc<Self>,
        statement: &Statement,
        text: &str,
        session: &mut Session,
    ) -> Result<Json, EngineError> {
        match statement {
            Statement::CreateSource {
                kind,
                or_replace,
                read_only,
                if_not_exists,
                name,
                columns,
                properties,
            } => {
                self.create_source(
                    *kind,
                    *or_replace,
                    *read_only,
                    *if_not_exists,
                    name,
                    columns,
                    properties,
                    text,
                    session,
                )
                .await
            }
            Statement::CreateAsSelect {
                kind,
                or_replace,
                if_not_exists,
                name,
                properties,
                query,
            } => {
                self.create_as_select(
                    *kind,
                    *or_replace,
                    *if_not_exists,
                    name,
                    properties,
                    query,
                    text,
                    session,
                )
                .await
            }
            Statement::InsertInto { target, query, .. } => {
                self.insert_into(target, query, text, session).await
            }
            Statement::InsertValues {
                target,
                columns,
                values,
            } => self.insert_values(target, columns, values, text).await,
            Statement::Drop {
                kind,
                if_exists,
                name,
                delete_topic,
            } => {
                self.drop_source(*kind, *if_exists, name, *delete_topic, text)
                    .await
            }
            Statement::Terminate(id) => self.terminate(id.as_deref(), text),
            Statement::SetProperty { name, value } => {
                session.properties.insert(name.clone(), value.clone());
                Ok(json!({"@type": "setProperty", "statementText": text, "warnings": []}))
            }
            Statement::UnsetProperty(name) => {
                session.properties.remove(name);
                Ok(json!({"@type": "unsetProperty", "statementText": text, "warnings": []}))
            }
            Statement::Define { name, value } => {
                session.variables.insert(name.clone(), value.clone());
                Ok(json!({"@type": "defineVariable", "statementText": text, "warnings": []}))
            }
            Statement::Undefine(name) => {
                session.variables.remove(name);
                Ok(json!({"@type": "undefineVariable", "statementText": text, "warnings": []}))
            }
            Statement::CreateType {
                if_not_exists,
                name,
                ty,
            } => {
                let mut state = self.state.lock();
                if state.metastore.types.contains_key(name) {
                    if *if_not_exists {
                        return Ok(status_entity(text, "Type already exists", None));
                    }
                    return Err(EngineError::Statement(format!(
                        "Cannot register custom type '{name}' since it is already registered with type: {}",
                        state.metastore.types[name]
                    )));
                }
                let resolved =
                    resolve_type(ty, &state.metastore.types).map_err(EngineError::Statement)?;
                state.metastore.types.insert(name.clone(), resolved);
                Ok(status_entity(text, "Registered custom type", None))
            }
            Statement::DropType { if_exists, name } => {
                let mut state = self.state.lock();
                if state.metastore.types.remove(name).is_none() && !if_exists {
                    return Err(EngineError::Statement(format!(
                        "Type {name} does not exist."
                    )));
                }
                Ok(status_entity(text, "Dropped type", None))
            }
            Statement::AlterSource { kind, name, .. } => {
                let source = self.state.lock().metastore.source(name).cloned();
                match source {
                    Some(s) if s.read_only => Err(EngineError::Statement(format!(
                        "Cannot alter {} '{name}': ALTER operations are not supported on source {}s.",
                        kind_word(*kind),
                        kind_word(*kind)
                    ))),
                    Some(_) => Err(EngineError::NotSupported("ALTER STREAM".into())),
                    None => Err(EngineError::Statement(format!("Source {name} does not exist."))),
                }
            }
            Statement::Query(_) => Err(EngineError::Statement(
                "SELECT statements are run with the /query endpoint".into(),
            )),
            other => show::execute(self, other, text, session).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server and the QTT runner substitute through here: names are
    /// case-insensitive (DEFINE stores them as the lexer spelled them) and
    /// values that are not one token are refused.
    #[test]
    fn substitutes_session_variables_by_ksqldb_rules() {
        let mut session = Session::default();
        session.variables.insert("T".into(), "S".into());
        session
            .variables
            .insert("BAD".into(), "S; DROP STREAM S".into());
        assert_eq!(
            Engine::substitute("DESCRIBE ${t};", &session).unwrap(),
            "DESCRIBE S;"
        );
        assert_eq!(
            Engine::substitute("PRINT '${t}' ${u};", &session).unwrap(),
            "PRINT 'S' ${u};"
        );
        assert!(matches!(
            Engine::substitute("DESCRIBE ${bad};", &session),
            Err(EngineError::Statement(m)) if m == "Illegal argument at Line: 1, Col: 10."
        ));
    }
}
