//! The engine: executes statements against the metastore and the log, and
//! owns the persistent queries.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use creek_log::{LogStore, OffsetSpec, ProducerRecord};
use creek_schema::registry::Registry;
use creek_sql::ast::{self, ColumnConstraint, Literal, Properties, Query, SourceKind, Statement};
use creek_sql::expr::{compile, resolve_type, CompileContext, Scope};
use creek_sql::functions::FunctionRegistry;
use creek_sql::types::SqlType;
use creek_sql::value::Value;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};

use crate::format::{self, FormatContext, FormatKind, FormatSpec, RowFormat};
use crate::metastore::{format_name, ColumnRole, DataSource, Metastore, SourceColumn};
use crate::plan::{plan_stream_query, StreamPlan};
use crate::processing_log::ProcessingLog;
use crate::query::{headers_type, Projector, ResultRow, SinkEncoder, SourceDecoder};
use crate::EngineError;

/// Reads `topic`'s `partition` from `from` to its end (or to `until`,
/// exclusive), handing each record to `f`; returns the next offset.
pub(crate) async fn read_partition(
    log: &dyn LogStore,
    topic: &str,
    partition: i32,
    from: i64,
    until: Option<i64>,
    mut f: impl FnMut(creek_log::ConsumerRecord),
) -> Result<i64, EngineError> {
    let mut offset = from;
    while until.is_none_or(|end| offset < end) {
        let fetched = log
            .fetch(topic, partition, offset, 4 << 20, Duration::ZERO)
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        if fetched.records.is_empty() {
            break;
        }
        for record in fetched.records {
            if until.is_some_and(|end| record.offset >= end) {
                return Ok(offset);
            }
            offset = record.offset + 1;
            f(record);
        }
    }
    Ok(offset)
}

/// A CREATE … AS SELECT as ksqlDB's analyser prints it in errors: one select
/// item a line with columns qualified by the source and every item named.
fn rewritten_statement(
    kind: SourceKind,
    name: &str,
    properties: &Properties,
    query: &Query,
) -> String {
    let ast::Relation::Source {
        name: source,
        alias,
    } = &query.from
    else {
        return String::new();
    };
    let qualifier = alias.clone().unwrap_or_else(|| source.clone());
    let qualified = |e: &ast::Expr| {
        e.rewrite(&mut |node| -> Result<Option<ast::Expr>, ()> {
            Ok(match node {
                ast::Expr::Column { source: None, name } => Some(ast::Expr::Column {
                    source: Some(qualifier.clone()),
                    name: name.clone(),
                }),
                _ => None,
            })
        })
        .unwrap_or_else(|_| e.clone())
        .to_string()
        .replace('`', "")
    };
    let mut names: Vec<Option<String>> = Vec::new();
    let mut exprs = Vec::new();
    for item in &query.select {
        if let ast::SelectItem::Expr { expr, alias } = item {
            names.push(alias.clone().or_else(|| crate::plan::derived_name(expr)));
            exprs.push(expr);
        }
    }
    let taken: Vec<String> = names.iter().flatten().cloned().collect();
    let mut namer = crate::plan::ColumnNamer::default();
    let items: Vec<String> = exprs
        .iter()
        .zip(names)
        .map(|(e, n)| {
            let n = n.unwrap_or_else(|| namer.next(&taken));
            format!("  {} {n}", qualified(e))
        })
        .collect();
    let with = if properties.is_empty() {
        String::new()
    } else {
        let props: Vec<String> = properties
            .iter()
            .map(|(k, v)| match v {
                Literal::String(s) => format!("{}='{s}'", k.to_ascii_uppercase()),
                other => format!("{}={}", k.to_ascii_uppercase(), literal_text(other)),
            })
            .collect();
        format!(" WITH ({})", props.join(", "))
    };
    let mut out = format!(
        "CREATE {} {name}{with} AS SELECT\n{}\nFROM {source} {qualifier}",
        kind_word(kind).to_ascii_uppercase(),
        items.join(",\n")
    );
    if let Some(w) = &query.where_ {
        out.push_str(&format!("\nWHERE {}", qualified(w)));
    }
    if !query.group_by.is_empty() {
        let groups: Vec<String> = query.group_by.iter().map(&qualified).collect();
        out.push_str(&format!("\nGROUP BY {}", groups.join(", ")));
    }
    out.push_str("\nEMIT CHANGES");
    out
}

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
    stop: tokio::sync::watch::Sender<bool>,
}

/// The repartition topic of an aggregation and stage two's positions in it.
pub struct Repartition {
    pub topic: String,
    pub partitions: i32,
    positions: Mutex<BTreeMap<i32, i64>>,
}

impl PersistentQuery {
    /// Puts the query in ERROR with `reason`; it processes nothing more.
    pub fn fail(&self, reason: String) {
        *self.state.lock() = "ERROR";
        *self.error.lock() = Some((creek_log::now_ms(), reason));
    }

    pub fn failed(&self) -> bool {
        self.error.lock().is_some()
    }
}

/// What a persistent query does with each decoded row.
pub enum QueryLogic {
    /// Filter and project (streams).
    Project(Box<Projector>),
    /// Fold into groups (tables from GROUP BY).
    Aggregate(Box<crate::aggregate::Aggregator>),
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

    fn window(&self) -> Option<crate::aggregate::WindowSpec> {
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
    /// Materialized tables for pull queries, by table name, built on first use.
    views: Mutex<HashMap<String, Arc<tokio::sync::Mutex<crate::views::TableView>>>>,
    /// Records queries read from and wrote to each topic (DESCRIBE EXTENDED).
    pub stats: crate::stats::TopicStats,
    /// The server's own ksqlDB properties (ksql-server.properties), under the
    /// session's: see [`Engine::set_server_property`].
    server_properties: Mutex<BTreeMap<String, String>>,
}

/// Bytes of a fetched batch's keys and values, as ksqlDB's consumer metrics count.
fn record_bytes(records: &[creek_log::ConsumerRecord]) -> u64 {
    records
        .iter()
        .map(|r| {
            (r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())) as u64
        })
        .sum()
}

/// Statements that change what the engine knows or runs, kept in the command topic.
fn is_durable(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateSource { .. }
            | Statement::CreateAsSelect { .. }
            | Statement::InsertInto { .. }
            | Statement::Drop { .. }
            | Statement::Terminate(_)
            | Statement::CreateType { .. }
            | Statement::DropType { .. }
    )
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

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::String(s) => s.clone(),
        Literal::Integer(s) | Literal::Decimal(s) | Literal::Double(s) => s.clone(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Null => "null".into(),
    }
}

/// `WITH (...)` properties by upper-cased name.
struct With {
    props: BTreeMap<String, Literal>,
}

const SOURCE_PROPERTIES: &[&str] = &[
    "KAFKA_TOPIC",
    "KEY_FORMAT",
    "VALUE_FORMAT",
    "FORMAT",
    "PARTITIONS",
    "REPLICAS",
    "TIMESTAMP",
    "TIMESTAMP_FORMAT",
    "KEY_DELIMITER",
    "VALUE_DELIMITER",
    "WRAP_SINGLE_VALUE",
    "VALUE_AVRO_SCHEMA_FULL_NAME",
    "KEY_AVRO_SCHEMA_FULL_NAME",
    "KEY_SCHEMA_ID",
    "VALUE_SCHEMA_ID",
    "KEY_SCHEMA_FULL_NAME",
    "VALUE_SCHEMA_FULL_NAME",
    "WINDOW_TYPE",
    "WINDOW_SIZE",
    "RETENTION_MS",
    "SOURCE_CONNECTOR",
];

impl With {
    fn new(props: &Properties) -> Result<With, EngineError> {
        let mut map = BTreeMap::new();
        let mut unknown = Vec::new();
        for (k, v) in props {
            let key = k.to_ascii_uppercase();
            if !SOURCE_PROPERTIES.contains(&key.as_str()) {
                unknown.push(key.clone());
            }
            map.insert(key, v.clone());
        }
        if !unknown.is_empty() {
            return Err(EngineError::Statement(format!(
                "Invalid config variable(s) in the WITH clause: {}",
                unknown.join(",")
            )));
        }
        Ok(With { props: map })
    }

    fn string(&self, key: &str) -> Option<String> {
        self.props.get(key).map(literal_text)
    }

    fn int(&self, key: &str) -> Result<Option<i64>, EngineError> {
        match self.props.get(key) {
            None => Ok(None),
            Some(l) => literal_text(l).parse().map(Some).map_err(|_| {
                EngineError::Statement(format!("Invalid value for {key}: {}", literal_text(l)))
            }),
        }
    }

    fn bool(&self, key: &str) -> Option<bool> {
        self.props.get(key).map(|l| match l {
            Literal::Boolean(b) => *b,
            other => literal_text(other).eq_ignore_ascii_case("true"),
        })
    }

    /// Key and value format specs, each `None` when not given.
    fn formats(&self) -> Result<(Option<FormatSpec>, Option<FormatSpec>), EngineError> {
        let both = self.string("FORMAT");
        let key_name = self.string("KEY_FORMAT");
        let value_name = self.string("VALUE_FORMAT");
        if both.is_some() {
            for (given, name) in [(&key_name, "KEY_FORMAT"), (&value_name, "VALUE_FORMAT")] {
                if given.is_some() {
                    return Err(EngineError::Statement(format!(
                        "Cannot supply both '{name}' and 'FORMAT' properties, as 'FORMAT' sets both key and value formats. Either use just 'FORMAT', or use 'KEY_FORMAT' and 'VALUE_FORMAT'."
                    )));
                }
            }
        }
        let spec =
            |name: Option<String>, is_key: bool| -> Result<Option<FormatSpec>, EngineError> {
                let Some(name) = name else { return Ok(None) };
                let kind = format::parse_format(&name).map_err(EngineError::Statement)?;
                let mut properties = BTreeMap::new();
                let prefix = if is_key { "KEY" } else { "VALUE" };
                if let Some(d) = self.string(&format!("{prefix}_DELIMITER")) {
                    properties.insert("delimiter".to_string(), d);
                }
                if let Some(n) = self
                    .string(&format!("{prefix}_AVRO_SCHEMA_FULL_NAME"))
                    .or_else(|| self.string(&format!("{prefix}_SCHEMA_FULL_NAME")))
                {
                    properties.insert("fullSchemaName".to_string(), n);
                }
                if let Some(id) = self.string(&format!("{prefix}_SCHEMA_ID")) {
                    properties.insert("schemaId".to_string(), id);
                }
                Ok(Some(FormatSpec {
                    kind,
                    properties,
                    wrap_single_value: if is_key {
                        None
                    } else {
                        self.bool("WRAP_SINGLE_VALUE")
                    },
                }))
            };
        let key = spec(key_name.or(both.clone()), true)?;
        let value = spec(value_name.or(both), false)?;
        Ok((key, value))
    }
}

/// `ksql.persistence.wrap.single.values` from the session, if set.
fn session_wrap(session: &Session) -> Option<bool> {
    session
        .properties
        .get("ksql.persistence.wrap.single.values")
        .map(|v| v.eq_ignore_ascii_case("true"))
}

/// Implicit widening for INSERT INTO: numbers to wider numbers or decimals.
fn widens(from: &SqlType, to: &SqlType) -> bool {
    from.can_widen_to(to)
        || matches!(
            (from, to),
            (
                SqlType::Int | SqlType::Bigint | SqlType::Decimal { .. },
                SqlType::Decimal { .. }
            )
        )
}

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

    /// Substitutes `${name}` variables in statement text.
    pub fn substitute(text: &str, session: &Session) -> String {
        if !text.contains("${") {
            return text.to_string();
        }
        let mut out = text.to_string();
        for (k, v) in &session.variables {
            out = out.replace(&format!("${{{k}}}"), v);
        }
        out
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

    /// The command topic: every statement that changes the metastore or the
    /// set of persistent queries, in order, with the session properties it ran with.
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

    pub fn command_topic(&self) -> String {
        format!("_confluent-ksql-{}_command_topic", self.config.service_id)
    }

    async fn append_command(&self, text: &str, session: &Session) -> Result<(), EngineError> {
        let command = json!({
            "statement": text,
            "streamsProperties": session.properties,
        });
        let record = ProducerRecord {
            key: None,
            value: Some(bytes::Bytes::from(command.to_string())),
            headers: Vec::new(),
            timestamp: None,
        };
        self.log
            .produce(&self.command_topic(), 0, vec![record])
            .await
            .map_err(|e| EngineError::Log(format!("recording the statement: {e}")))?;
        Ok(())
    }

    /// Replays the command topic, so sources, types and persistent queries
    /// come back (queries resume from their committed offsets), then records
    /// every new statement there. Returns the number of statements replayed.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, EngineError> {
        let topic = self.command_topic();
        if self.log.describe_topic(&topic).await.is_err() {
            let mut configs = BTreeMap::new();
            configs.insert("retention.ms".to_string(), "-1".to_string());
            self.log
                .create_topic(&topic, 1, configs)
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
        }
        let mut offset = 0;
        let mut replayed = 0;
        loop {
            let fetched = self
                .log
                .fetch(&topic, 0, offset, 1 << 20, Duration::ZERO)
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            if fetched.records.is_empty() {
                break;
            }
            for record in fetched.records {
                offset = record.offset + 1;
                let Some(value) = record.value else { continue };
                let Ok(command) = serde_json::from_slice::<Json>(&value) else {
                    tracing::warn!("skipping an unreadable command at offset {}", record.offset);
                    continue;
                };
                let text = command["statement"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let mut session = Session::default();
                if let Some(props) = command["streamsProperties"].as_object() {
                    for (k, v) in props {
                        session
                            .properties
                            .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                    }
                }
                let statement = match creek_sql::parse_statement(&text) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("skipping command {text:?}: {e}");
                        continue;
                    }
                };
                // A statement that worked before but fails now (e.g. its topic
                // was deleted) is skipped, as ksqlDB does on restart.
                match self
                    .execute_statement(&statement, &text, &mut session)
                    .await
                {
                    Ok(_) => replayed += 1,
                    Err(e) => tracing::warn!("could not restore {text:?}: {e}"),
                }
            }
        }
        self.durable.store(true, Ordering::SeqCst);
        Ok(replayed)
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
            other => crate::show::execute(self, other, text, session).await,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_source(
        self: &Arc<Self>,
        kind: SourceKind,
        or_replace: bool,
        read_only: bool,
        if_not_exists: bool,
        name: &str,
        columns: &[ast::ColumnDef],
        properties: &Properties,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        if or_replace && read_only {
            return Err(EngineError::Statement(format!(
                "Cannot add {} '{name}': CREATE OR REPLACE is not supported on source {}s.",
                kind_word(kind),
                kind_word(kind)
            )));
        }
        if let Some(existing) = self.state.lock().metastore.source(name).cloned() {
            if if_not_exists {
                return Ok(status_entity(
                    text,
                    &format!("{} already exists", kind_title(kind)),
                    None,
                ));
            }
            if !or_replace {
                return Err(EngineError::Statement(format!(
                    "Cannot add {} '{name}': A {} with the same name already exists",
                    kind_word(kind),
                    existing.kind_name().to_ascii_lowercase()
                )));
            }
            if read_only || existing.read_only {
                return Err(EngineError::Statement(format!(
                    "Cannot add {} '{name}': CREATE OR REPLACE is not supported on source {}s.",
                    kind_word(kind),
                    kind_word(kind)
                )));
            }
        }
        if or_replace && read_only {
            return Err(EngineError::Statement(format!(
                "Cannot add {} '{name}': CREATE OR REPLACE is not supported on source {}s.",
                kind_word(kind),
                kind_word(kind)
            )));
        }
        let with = With::new(properties)?;
        let window = crate::aggregate::source_window(
            with.string("WINDOW_TYPE").as_deref(),
            with.string("WINDOW_SIZE").as_deref(),
        )
        .map_err(EngineError::Statement)?;
        let topic = with.string("KAFKA_TOPIC").ok_or_else(|| {
            EngineError::Statement(
                "Missing required property \"KAFKA_TOPIC\" which has no default value.".into(),
            )
        })?;
        let (key_format, value_format) = with.formats()?;
        let default_format = |key: &str| -> Result<Option<FormatSpec>, EngineError> {
            match session.properties.get(key) {
                Some(name) => Ok(Some(FormatSpec {
                    kind: format::parse_format(name).map_err(EngineError::Statement)?,
                    properties: BTreeMap::new(),
                    wrap_single_value: None,
                })),
                None => Ok(None),
            }
        };
        let value_format = match value_format {
            Some(f) => Some(f),
            None => default_format("ksql.persistence.default.format.value")?,
        };
        let key_format = match key_format {
            Some(f) => Some(f),
            None => default_format("ksql.persistence.default.format.key")?,
        };
        let mut value_format = value_format.ok_or_else(|| {
            EngineError::Statement(
                "Statement is missing the 'VALUE_FORMAT' property from the WITH clause. Either provide one or set a default via the 'ksql.persistence.default.format.value' config.".into(),
            )
        })?;
        let key_format = key_format.unwrap_or_else(kafka_format);
        let types = self.state.lock().metastore.types.clone();
        let mut cols = Vec::new();
        for c in columns {
            let ty = resolve_type(&c.ty, &types).map_err(EngineError::Statement)?;
            let role = match &c.constraint {
                ColumnConstraint::None => ColumnRole::Value,
                ColumnConstraint::Key | ColumnConstraint::PrimaryKey => ColumnRole::Key,
                ColumnConstraint::Headers => {
                    if ty != headers_type() {
                        return Err(EngineError::Statement(format!(
                            "Invalid type for HEADERS column: expected {}, got {ty}",
                            headers_type()
                        )));
                    }
                    ColumnRole::Header(None)
                }
                ColumnConstraint::Header(k) => {
                    if ty != SqlType::Bytes {
                        return Err(EngineError::Statement(format!(
                            "Invalid type for HEADER('{k}') column: expected BYTES, got {ty}"
                        )));
                    }
                    ColumnRole::Header(Some(k.clone()))
                }
            };
            if crate::plan::RESERVED_COLUMNS.contains(&c.name.as_str()) {
                return Err(EngineError::Statement(format!(
                    "'{}' is a reserved column name.",
                    c.name
                )));
            }
            if cols.iter().any(|x: &SourceColumn| x.name == c.name) {
                return Err(EngineError::Statement(format!(
                    "Duplicate column names:\n\t{}",
                    c.name
                )));
            }
            cols.push(SourceColumn {
                name: c.name.clone(),
                ty,
                role,
            });
        }
        if window.is_some() && !cols.iter().any(|c| c.role == ColumnRole::Key) {
            return Err(EngineError::Statement(
                "Windowed sources require a key column.".into(),
            ));
        }
        // Ensure the topic exists.
        let partitions = with.int("PARTITIONS")?;
        let exists = self.log.describe_topic(&topic).await.is_ok();
        if !exists {
            match partitions {
                Some(p) => {
                    self.log
                        .create_topic(&topic, p as i32, BTreeMap::new())
                        .await
                        .map_err(|e| EngineError::Statement(e.to_string()))?;
                }
                None => {
                    return Err(EngineError::Statement(format!(
                        "Topic '{topic}' does not exist. If you want to create a new topic for the {} please re-run the statement providing the required 'PARTITIONS' configuration in the WITH clause (and optionally 'REPLICAS'). For example: CREATE {} {name} ({}) WITH (KAFKA_TOPIC='{topic}', PARTITIONS=2, REPLICAS=1, ...);",
                        kind_word(kind),
                        kind_word(kind).to_ascii_uppercase(),
                        "...",
                    )))
                }
            }
        }
        // Schema inference from the registry.
        if !cols.iter().any(|c| c.role == ColumnRole::Value)
            && matches!(
                value_format.kind,
                FormatKind::Avro | FormatKind::JsonSr | FormatKind::Protobuf
            )
        {
            let ctx = self.format_ctx(&topic, false);
            let inferred = match value_format.properties.get("schemaId") {
                Some(id) => {
                    let id = id.parse().map_err(|_| {
                        EngineError::Statement(format!("Invalid VALUE_SCHEMA_ID: {id}"))
                    })?;
                    format::infer_columns_by_id(
                        value_format.kind,
                        &ctx,
                        id,
                        value_format.wrap_single_value,
                    )
                    .await
                }
                None => {
                    format::infer_columns_with(
                        value_format.kind,
                        &ctx,
                        value_format.wrap_single_value,
                    )
                    .await
                }
            }
            .map_err(EngineError::Statement)?;
            cols.extend(inferred.into_iter().map(|c| SourceColumn {
                name: c.name,
                ty: c.ty,
                role: ColumnRole::Value,
            }));
        }
        if !cols.iter().any(|c| c.role == ColumnRole::Value)
            && matches!(value_format.kind, FormatKind::Kafka | FormatKind::Delimited)
        {
            return Err(EngineError::Statement("No columns supplied.".into()));
        }
        let key_count = cols.iter().filter(|c| c.role == ColumnRole::Key).count();
        let key_subject_exists = self
            .registry
            .as_ref()
            .is_some_and(|r| r.latest(&format!("{topic}-key")).is_some());
        let key_schema_id = key_format.properties.get("schemaId").cloned();
        if key_count == 0
            && matches!(key_format.kind, FormatKind::Avro)
            && (key_subject_exists || key_schema_id.is_some())
        {
            let ctx = self.format_ctx(&topic, true);
            let inferred = match key_schema_id {
                Some(id) => {
                    let id = id.parse().map_err(|_| {
                        EngineError::Statement(format!("Invalid KEY_SCHEMA_ID: {id}"))
                    })?;
                    format::infer_columns_by_id(key_format.kind, &ctx, id, None).await
                }
                None => format::infer_columns(key_format.kind, &ctx).await,
            }
            .map_err(EngineError::Statement)?;
            let keys: Vec<SourceColumn> = inferred
                .into_iter()
                .map(|c| SourceColumn {
                    name: c.name,
                    ty: c.ty,
                    role: ColumnRole::Key,
                })
                .collect();
            cols.splice(0..0, keys);
        }
        // A table is the latest value per key, so it needs one.
        if kind == SourceKind::Table && !cols.iter().any(|c| c.role == ColumnRole::Key) {
            return Err(EngineError::Statement(
                "Tables require a PRIMARY KEY. Please define the PRIMARY KEY.".into(),
            ));
        }
        let timestamp = match with.string("TIMESTAMP") {
            Some(col) => {
                let col = col.to_ascii_uppercase();
                let c = cols.iter().find(|c| c.name == col).ok_or_else(|| {
                    EngineError::Statement(format!(
                        "The TIMESTAMP column set in the WITH clause does not exist in the schema: '{col}'"
                    ))
                })?;
                let fmt = with.string("TIMESTAMP_FORMAT");
                match (&c.ty, &fmt) {
                    (SqlType::Bigint | SqlType::Timestamp, None) | (SqlType::String, Some(_)) => {}
                    (SqlType::String, None) => {
                        return Err(EngineError::Statement("A String timestamp field has been specified without also specifying the TIMESTAMP_FORMAT property.".into()))
                    }
                    (t, _) => {
                        return Err(EngineError::Statement(format!(
                            "Timestamp column, `{col}`, should be LONG(INT64), TIMESTAMP, or a String with a TIMESTAMP_FORMAT specified. Got {t}"
                        )))
                    }
                }
                Some((col, fmt))
            }
            None => None,
        };
        if value_format.wrap_single_value.is_none()
            && cols.iter().filter(|c| c.role == ColumnRole::Value).count() == 1
        {
            value_format.wrap_single_value = session_wrap(session);
        }
        let source = DataSource {
            name: name.to_string(),
            kind,
            topic,
            key_format,
            value_format,
            columns: cols,
            timestamp,
            read_only,
            is_sink: false,
            statement: text.to_string(),
            window,
        };
        // Validate that the formats accept the columns.
        self.build_formats(&source, false).await?;
        self.state
            .lock()
            .metastore
            .sources
            .insert(name.to_string(), Arc::new(source));
        Ok(status_entity(
            text,
            &format!("{} created", kind_title(kind)),
            None,
        ))
    }

    /// Builds the key and value formats of a source. `register` is true for
    /// sinks, whose AVRO schemas are registered.
    /// A sink told to write with a registered schema (`KEY_SCHEMA_ID`,
    /// `VALUE_SCHEMA_ID`) must find its columns at the same positions, with
    /// the same names and types, in that schema; extra trailing fields are
    /// the schema's business (optional, defaulted or failing at write time).
    async fn check_sink_schema_ids(&self, sink: &DataSource) -> Result<(), EngineError> {
        for (is_key, spec) in [(true, &sink.key_format), (false, &sink.value_format)] {
            let Some(id) = spec.properties.get("schemaId") else {
                continue;
            };
            if spec.kind != FormatKind::Avro {
                continue;
            }
            let id = id
                .parse()
                .map_err(|_| EngineError::Statement(format!("Invalid schema id: {id}")))?;
            let ctx = self.format_ctx(&sink.topic, is_key);
            let registered =
                format::infer_columns_by_id(spec.kind, &ctx, id, spec.wrap_single_value)
                    .await
                    .map_err(EngineError::Statement)?;
            let columns = if is_key {
                sink.key_format_columns()
            } else {
                sink.value_format_columns()
            };
            let render = |c: &format::Column| format!("`{}` {}", c.name, c.ty);
            let changed: Vec<String> = columns
                .iter()
                .enumerate()
                .filter(|(i, c)| registered.get(*i) != Some(*c))
                .map(|(_, c)| render(c))
                .collect();
            if !changed.is_empty() {
                let registered: Vec<String> = registered.iter().map(render).collect();
                return Err(EngineError::Statement(format!(
                    "The following {} columns are changed, missing or reordered: [{}]. Schema from schema registry is [{}]",
                    if is_key { "key" } else { "value" },
                    changed.join(", "),
                    registered.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub async fn build_formats(
        &self,
        source: &DataSource,
        register: bool,
    ) -> Result<(Arc<dyn RowFormat>, Arc<dyn RowFormat>), EngineError> {
        // Map keys serialize inconsistently, so ksqlDB refuses them anywhere in a key.
        for c in source.key_columns() {
            if contains_map(&c.ty) {
                return Err(EngineError::Statement(format!(
                    "Map keys, including types that contain maps, are not supported as they may lead to unexpected behavior due to inconsistent serialization. Key column name: `{}`. Column type: {}. See https://github.com/confluentinc/ksql/issues/6621 for more.",
                    c.name, c.ty
                )));
            }
        }
        let registration = if register {
            format::Registration::Always
        } else {
            format::Registration::IfAbsent
        };
        let key = format::build_with(
            &source.key_format,
            &source.key_format_columns(),
            &self.format_ctx(&source.topic, true),
            registration,
        )
        .await
        .map_err(|e| {
            if source.key_format.kind == FormatKind::Kafka {
                let columns: Vec<String> = source
                    .key_columns()
                    .map(|c| format!("`{}` {} KEY", c.name, c.ty))
                    .collect();
                EngineError::Statement(format!(
                    "Key format does not support schema.\nformat: KAFKA\nschema: Persistence{{columns=[{}], features=[]}}\nreason: {e}",
                    columns.join(", ")
                ))
            } else {
                EngineError::Statement(e)
            }
        })?;
        let value = format::build_with(
            &source.value_format,
            &source.value_format_columns(),
            &self.format_ctx(&source.topic, false),
            registration,
        )
        .await
        .map_err(EngineError::Statement)?;
        Ok((key, value))
    }

    #[allow(clippy::too_many_arguments)]
    async fn create_as_select(
        self: &Arc<Self>,
        kind: SourceKind,
        or_replace: bool,
        if_not_exists: bool,
        name: &str,
        properties: &Properties,
        query: &Query,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        if query.limit.is_some() {
            return Err(EngineError::Statement(format!(
                "CREATE {} AS SELECT statements don't support LIMIT clause.",
                kind_word(kind).to_ascii_uppercase()
            )));
        }
        crate::aggregate::check_window_has_group_by(query, &self.aggregates)?;
        let aggregating = crate::aggregate::is_aggregate(query, &self.aggregates);
        // An aggregation, or any query over a table, produces a table.
        let over_table = {
            let state = self.state.lock();
            match crate::plan::single_source(query, &state.metastore) {
                Ok((source, _, _)) => source.kind == SourceKind::Table,
                Err(e @ EngineError::NotSupported(_)) => return Err(e),
                Err(_) => false,
            }
        };
        let windowed_table = {
            let state = self.state.lock();
            crate::plan::single_source(query, &state.metastore)
                .is_ok_and(|(s, _, _)| s.kind == SourceKind::Table && s.window.is_some())
        };
        if windowed_table {
            return Err(EngineError::Statement(
                "KSQL does not support persistent queries on windowed tables.".into(),
            ));
        }
        let produces = if aggregating || over_table {
            SourceKind::Table
        } else {
            SourceKind::Stream
        };
        if produces != kind {
            let word = kind_word(produces).to_ascii_uppercase();
            return Err(EngineError::Statement(format!(
                "Invalid result type. Your SELECT query produces a {word}. Please use CREATE {word} AS SELECT statement instead."
            )));
        }
        if let Some(existing) = self.state.lock().metastore.source(name).cloned() {
            if if_not_exists {
                return Ok(status_entity(
                    text,
                    &format!("{} already exists", kind_title(kind)),
                    None,
                ));
            }
            if !or_replace {
                return Err(EngineError::Statement(format!(
                    "Cannot add {} '{name}': A {} with the same name already exists",
                    kind_word(kind),
                    existing.kind_name().to_ascii_lowercase()
                )));
            }
            return Err(EngineError::NotSupported(
                "CREATE OR REPLACE of a query".into(),
            ));
        }
        let with = With::new(properties)?;
        // The sink's TIMESTAMP column must be a result column of a usable type;
        // ksqlDB checks it before the projection's key columns.
        if let Some(col) = with.string("TIMESTAMP") {
            let col = col.to_ascii_uppercase();
            let state = self.state.lock();
            if let Ok(preview) = crate::plan::plan_stream_query_with(
                query,
                &state.metastore,
                &self.functions,
                None,
                true,
            ) {
                let column = preview.output_columns().into_iter().find(|c| c.name == col);
                let Some(column) = column else {
                    return Err(EngineError::Statement(format!(
                        "The TIMESTAMP column set in the WITH clause does not exist in the schema: '{col}'"
                    )));
                };
                let formatted = with.string("TIMESTAMP_FORMAT").is_some();
                if !matches!(
                    (&column.ty, formatted),
                    (SqlType::Bigint | SqlType::Timestamp, false) | (SqlType::String, true)
                ) {
                    return Err(EngineError::Statement(format!(
                        "Timestamp column, `{col}`, should be LONG(INT64), TIMESTAMP, or a String with a timestamp_format specified."
                    )));
                }
            }
        }
        let plan = {
            let state = self.state.lock();
            if aggregating {
                QueryPlan::Aggregate(crate::aggregate::plan_aggregate(
                    query,
                    &state.metastore,
                    &self.functions,
                    &self.aggregates_for(session),
                    Some(name),
                )?)
            } else {
                let keyless = session
                    .properties
                    .get("ksql.new.query.planner.enabled")
                    .is_some_and(|v| v == "true");
                QueryPlan::Stream(crate::plan::plan_stream_query_with(
                    query,
                    &state.metastore,
                    &self.functions,
                    Some(name),
                    keyless,
                )?)
            }
        };
        let input = plan.source();
        let (key_spec, value_spec) = with.formats()?;
        let has_key = plan.has_key();
        if !has_key
            && key_spec
                .as_ref()
                .is_some_and(|k| k.kind != FormatKind::None)
        {
            return Err(EngineError::Statement(
                "Key format specified for stream without key columns.".into(),
            ));
        }
        let key_format = if has_key {
            match key_spec {
                Some(k) => k,
                // A keyless input's NONE does not carry over to a keyed result.
                None if input.key_format.kind == FormatKind::None => kafka_format(),
                // The input's schema id and full name describe its own
                // subject, not the sink's.
                None => {
                    let mut f = input.key_format.clone();
                    f.properties.remove("schemaId");
                    f.properties.remove("fullSchemaName");
                    if let Some(id) = with.string("KEY_SCHEMA_ID") {
                        f.properties.insert("schemaId".into(), id);
                    }
                    f
                }
            }
        } else {
            FormatSpec {
                kind: FormatKind::None,
                properties: BTreeMap::new(),
                wrap_single_value: None,
            }
        };
        // A sink's serde features come from its own WITH clause, not its input's.
        let mut value_format = value_spec.unwrap_or_else(|| {
            let mut f = input.value_format.clone();
            f.properties.remove("schemaId");
            f.properties.remove("fullSchemaName");
            if let Some(id) = with.string("VALUE_SCHEMA_ID") {
                f.properties.insert("schemaId".into(), id);
            }
            f
        });
        value_format.wrap_single_value = with.bool("WRAP_SINGLE_VALUE").or_else(|| {
            if plan.value_count() == 1 {
                session_wrap(session)
            } else {
                None
            }
        });
        // A default topic name takes ksqlDB's `ksql.output.topic.name.prefix`.
        let topic = with.string("KAFKA_TOPIC").unwrap_or_else(|| {
            let prefix = session
                .properties
                .get("ksql.output.topic.name.prefix")
                .map_or("", String::as_str);
            format!("{prefix}{name}")
        });
        let partitions = match with.int("PARTITIONS")? {
            Some(p) => p as i32,
            None => match self.log.describe_topic(&input.topic).await {
                Ok(d) => d.partitions,
                Err(_) => self.config.default_partitions,
            },
        };
        let columns = plan.output_columns();
        let timestamp = with
            .string("TIMESTAMP")
            .map(|c| (c.to_ascii_uppercase(), with.string("TIMESTAMP_FORMAT")));
        let sink = DataSource {
            name: name.to_string(),
            kind,
            topic: topic.clone(),
            key_format,
            value_format,
            columns,
            timestamp,
            read_only: false,
            is_sink: true,
            statement: text.to_string(),
            window: plan.window(),
        };
        self.check_sink_schema_ids(&sink).await?;
        if self.log.describe_topic(&topic).await.is_err() {
            self.log
                .create_topic(&topic, partitions, BTreeMap::new())
                .await
                .map_err(|e| EngineError::Statement(e.to_string()))?;
        }
        let query_id = {
            let mut state = self.state.lock();
            let prefix = if kind == SourceKind::Table {
                "CTAS"
            } else {
                "CSAS"
            };
            let id = format!(
                "{prefix}_{}_{}",
                name.to_ascii_uppercase(),
                state.next_query
            );
            state.next_query += 1;
            id
        };
        let sink = Arc::new(sink);
        let pq = self
            .build_query(query_id.clone(), plan, &sink, text, session)
            .await
            .map_err(|e| match e {
                // ksqlDB names the statement as its analyser rewrote it.
                EngineError::Statement(m)
                    if aggregating && m.starts_with("Key format does not support schema.") =>
                {
                    EngineError::Statement(format!(
                        "{m}\nStatement: {}",
                        rewritten_statement(kind, name, properties, query)
                    ))
                }
                e => e,
            })?;
        {
            let mut state = self.state.lock();
            state.metastore.sources.insert(name.to_string(), sink);
            state.queries.insert(query_id.clone(), pq.clone());
        }
        self.start(&pq);
        Ok(status_entity(
            text,
            &format!("Created query with ID {query_id}"),
            Some(&query_id),
        ))
    }

    async fn build_query(
        self: &Arc<Self>,
        query_id: String,
        plan: QueryPlan,
        sink: &Arc<DataSource>,
        text: &str,
        session: &Session,
    ) -> Result<Arc<PersistentQuery>, EngineError> {
        let input = match &plan {
            QueryPlan::Stream(p) => p.source.clone(),
            QueryPlan::Aggregate(p) => p.source.clone(),
        };
        let (key_in, value_in) = self.build_formats(&input, false).await?;
        let (key_out, value_out) = self.build_formats(sink, true).await?;
        let mut decoder = SourceDecoder::new(input.clone(), key_in, value_in, &self.functions)
            .map_err(EngineError::Statement)?;
        match &plan {
            QueryPlan::Stream(p) => decoder.read_only_used(p),
            QueryPlan::Aggregate(p) => decoder.read_only(p.row_expressions()),
        }
        let partitions = self
            .log
            .describe_topic(&sink.topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let timestamp = match &sink.timestamp {
            None => None,
            Some((c, format)) => match sink.value_columns().position(|v| &v.name == c) {
                None => None,
                Some(i) => {
                    let parser = match format {
                        None => None,
                        Some(pattern) => {
                            let f = self.functions.get("STRINGTOTIMESTAMP").ok_or_else(|| {
                                EngineError::Statement("STRINGTOTIMESTAMP is missing".into())
                            })?;
                            let args = [
                                creek_sql::functions::Arg::typed(SqlType::String),
                                creek_sql::functions::Arg::constant(
                                    SqlType::String,
                                    Value::string(pattern.as_str()),
                                ),
                            ];
                            let resolved = f.resolve(&args).map_err(|_| {
                                EngineError::Statement(format!(
                                    "Invalid TIMESTAMP_FORMAT: {pattern}"
                                ))
                            })?;
                            Some((resolved.eval, Value::string(pattern.as_str())))
                        }
                    };
                    Some((i, parser))
                }
            },
        };
        let encoder = SinkEncoder {
            key: key_out,
            value: value_out,
            has_key: sink.key_columns().next().is_some(),
            partitions,
            timestamp,
            window: sink.window.map(|w| w.kind),
        };
        // Resume from committed offsets; otherwise earliest or latest.
        let group = self.query_group(&query_id);
        let committed = self.log.committed_offsets(&group).await.unwrap_or_default();
        let source_partitions = self
            .log
            .describe_topic(&input.topic)
            .await
            .map(|d| d.partitions)
            .map_err(|e| EngineError::Statement(e.to_string()))?;
        let mut positions = BTreeMap::new();
        for p in 0..source_partitions {
            let pos = match committed.get(&(input.topic.clone(), p)) {
                Some(o) => *o,
                None => {
                    let spec = if session.offset_reset_earliest() {
                        OffsetSpec::Earliest
                    } else {
                        OffsetSpec::Latest
                    };
                    self.log
                        .list_offset(&input.topic, p, spec)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                }
            };
            positions.insert(p, pos);
        }
        let mut restore_error = None;
        let mut repartition = None;
        let logic = match plan {
            QueryPlan::Stream(plan) => QueryLogic::Project(Box::new(Projector {
                plan,
                log: self.processing_log.clone(),
                query_id: query_id.clone(),
            })),
            QueryPlan::Aggregate(plan) => {
                let aggregator = crate::aggregate::Aggregator::with_limits(
                    plan,
                    self.processing_log.clone(),
                    query_id.clone(),
                    &self.config.state_limits,
                );
                // GROUP BY on anything but the source's key re-keys through
                // a repartition topic, as ksqlDB does: stage one reads the
                // source (its committed offsets are its positions), stage
                // two the repartition topic. One partition: one process reads
                // it, and a single partition keeps the source's order across
                // groups, as ksqlDB's per-record processing does.
                if aggregator.needs_repartition() {
                    let topic = self.repartition_topic(&query_id);
                    if self.log.describe_topic(&topic).await.is_err() {
                        self.log
                            .create_topic(&topic, 1, BTreeMap::new())
                            .await
                            .map_err(|e| EngineError::Log(e.to_string()))?;
                    }
                    let partitions = self
                        .log
                        .describe_topic(&topic)
                        .await
                        .map_err(|e| EngineError::Log(e.to_string()))?
                        .partitions;
                    repartition = Some(Repartition {
                        topic,
                        partitions,
                        positions: Mutex::new((0..partitions).map(|p| (p, 0)).collect()),
                    });
                }
                // The changelog holds the state and the input positions it
                // accounts for; they win over the group's committed offsets.
                // A changelog that cannot be read back fails this query
                // only: it stays in ERROR with the reason, the others run.
                match self.restore_state(&query_id, &aggregator).await {
                    Ok(Some(restored)) => match &repartition {
                        Some(r) => r.positions.lock().extend(restored),
                        None => {
                            if input.kind == SourceKind::Table {
                                self.restore_table_rows(&decoder, &aggregator, &restored)
                                    .await?;
                            }
                            positions.extend(restored);
                        }
                    },
                    Ok(None) => {}
                    Err(e) => restore_error = Some(e.to_string()),
                }
                // A table's row memory belongs to stage one: what it read.
                if repartition.is_some()
                    && input.kind == SourceKind::Table
                    && restore_error.is_none()
                {
                    self.restore_table_rows(&decoder, &aggregator, &positions)
                        .await?;
                }
                QueryLogic::Aggregate(Box::new(aggregator))
            }
        };
        let (stop, _) = tokio::sync::watch::channel(false);
        let query = Arc::new(PersistentQuery {
            id: query_id.clone(),
            sink: Some(sink.name.clone()),
            source: input.name.clone(),
            statement: text.to_string(),
            decoder,
            logic,
            encoder,
            sink_topic: sink.topic.clone(),
            positions: Mutex::new(positions),
            state: Mutex::new("RUNNING"),
            error: Mutex::new(None),
            repartition,
            stop,
        });
        if let Some(reason) = restore_error {
            tracing::error!(query = %query_id, "{reason}");
            query.fail(reason);
        }
        Ok(query)
    }

    /// The topic a re-keying aggregation passes its rows through (ksqlDB's name).
    pub fn repartition_topic(&self, query_id: &str) -> String {
        format!(
            "_confluent-ksql-{}query_{query_id}-Aggregate-GroupBy-repartition",
            self.config.service_id
        )
    }

    /// The topic an aggregation's state is kept in (ksqlDB's name for it).
    pub fn changelog_topic(&self, query_id: &str) -> String {
        format!(
            "_confluent-ksql-{}query_{query_id}-Aggregate-Aggregate-Materialize-changelog",
            self.config.service_id
        )
    }

    /// Creates or reads back an aggregation's changelog; returns the input
    /// positions its state accounts for, if it has any.
    async fn restore_state(
        &self,
        query_id: &str,
        aggregator: &crate::aggregate::Aggregator,
    ) -> Result<Option<BTreeMap<i32, i64>>, EngineError> {
        let topic = self.changelog_topic(query_id);
        if self.log.describe_topic(&topic).await.is_err() {
            // Compacted, as Kafka Streams makes its changelogs: time and size
            // retention must never take a group's state away.
            let configs = BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]);
            self.log
                .create_topic(&topic, 1, configs)
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            return Ok(None);
        }
        let mut records = Vec::new();
        read_partition(self.log.as_ref(), &topic, 0, 0, None, |r| records.push(r)).await?;
        aggregator
            .restore(records)
            .map_err(|e| EngineError::Statement(format!("Cannot restore {query_id}: {e}")))
    }

    /// An aggregation over a table remembers each table row to take it back
    /// out on update; the source topic up to the restored positions is
    /// exactly that memory, so it is read back rather than kept twice.
    async fn restore_table_rows(
        &self,
        decoder: &SourceDecoder,
        aggregator: &crate::aggregate::Aggregator,
        positions: &BTreeMap<i32, i64>,
    ) -> Result<(), EngineError> {
        let topic = &decoder.source.topic;
        for (partition, end) in positions {
            let start = self
                .log
                .list_offset(topic, *partition, OffsetSpec::Earliest)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
            read_partition(
                self.log.as_ref(),
                topic,
                *partition,
                start,
                Some(*end),
                |record| {
                    if record.key.is_none() {
                        return;
                    }
                    if let Ok(decoded) = decoder.decode(&record) {
                        aggregator.remember_table_row(&decoded.row, decoded.value_is_null);
                    }
                },
            )
            .await?;
        }
        Ok(())
    }

    pub fn query_group(&self, query_id: &str) -> String {
        format!("_confluent-ksql-{}query_{query_id}", self.config.service_id)
    }

    fn start(self: &Arc<Self>, query: &Arc<PersistentQuery>) {
        if !self.config.spawn_queries {
            return;
        }
        let engine = self.clone();
        let query = query.clone();
        let mut stop = query.stop.subscribe();
        tokio::spawn(async move {
            loop {
                if *stop.borrow() {
                    break;
                }
                let stepped = engine.step(&query).await;
                engine.flush_processing_log().await;
                match stepped {
                    Ok(0) => {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                            _ = stop.changed() => {}
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(query = %query.id, "query failed: {e}");
                        query.fail(e.to_string());
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }

    /// Processes what is available for one query; returns records consumed.
    pub async fn step(&self, query: &PersistentQuery) -> Result<usize, EngineError> {
        if query.failed() {
            return Ok(0);
        }
        let mut consumed = 0;
        // A re-keying aggregation: stage one first, then stage two reads the
        // repartition topic in the loop below.
        let rekeyed = match (&query.repartition, &query.logic) {
            (Some(r), QueryLogic::Aggregate(a)) => {
                consumed += self.rekey_step(query, a, r).await?;
                Some((r, a))
            }
            _ => None,
        };
        let (topic, input_positions) = match rekeyed {
            Some((r, _)) => (&r.topic, &r.positions),
            None => (&query.decoder.source.topic, &query.positions),
        };
        let positions: Vec<(i32, i64)> = input_positions
            .lock()
            .iter()
            .map(|(p, o)| (*p, *o))
            .collect();
        let tapping = self.output_tap.lock().is_some();
        let over_table = query.decoder.source.kind == SourceKind::Table;
        for (partition, offset) in positions {
            let fetched = self
                .log
                .fetch(topic, partition, offset, 1 << 20, Duration::ZERO)
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            if fetched.records.is_empty() {
                continue;
            }
            self.stats.consumed(
                topic,
                fetched.records.len() as u64,
                record_bytes(&fetched.records),
            );
            let mut outputs: BTreeMap<i32, Vec<ProducerRecord>> = BTreeMap::new();
            let mut ordered = Vec::new();
            let mut next = offset;
            for record in &fetched.records {
                next = record.offset + 1;
                consumed += 1;
                let results = if let Some((_, a)) = rekeyed {
                    match a.apply_rekeyed(partition, record) {
                        Ok(results) => results,
                        Err(e) => {
                            self.processing_log.record(
                                &query.id,
                                crate::processing_log::ErrorKind::Deserialization,
                                Some(topic),
                                &format!("Failed to read a repartitioned record from {topic}-{partition}@{}: {e}", record.offset),
                            );
                            continue;
                        }
                    }
                } else {
                    // A table row without a key has no identity: Kafka Streams drops it.
                    if over_table && record.key.is_none() {
                        continue;
                    }
                    let Some(decoded) = self.decode_or_log(query, record) else {
                        continue;
                    };
                    match &query.logic {
                        QueryLogic::Project(p) => {
                            p.apply_all(&decoded.row, decoded.rowtime, decoded.value_is_null)
                        }
                        QueryLogic::Aggregate(a) => {
                            a.apply(&decoded.row, decoded.rowtime, decoded.value_is_null)
                        }
                    }
                };
                self.encode_results(
                    query,
                    results,
                    &mut outputs,
                    &mut ordered,
                    tapping,
                    (topic, partition, record.offset),
                )?;
            }
            // A state an aggregate function threw on, or that lost groups to
            // a spill error, must not produce: the query stops (Kafka
            // Streams' task failure), the batch neither produced nor committed.
            if let QueryLogic::Aggregate(a) = &query.logic {
                if let Some(failure) = a.state_failure() {
                    return Err(EngineError::QueryFailed(format!(
                        "Exception caught in process. taskId=0_{partition}, \
                         topic={topic}, partition={partition}: {failure}"
                    )));
                }
            }
            for (p, records) in outputs {
                let n = records.len() as u64;
                self.log
                    .produce(&query.sink_topic, p, records)
                    .await
                    .map_err(|e| EngineError::Log(e.to_string()))?;
                self.stats.produced(&query.sink_topic, n);
            }
            if let Some(tap) = self.output_tap.lock().as_mut() {
                for rec in ordered {
                    tap.push((query.sink_topic.clone(), rec));
                }
            }
            if let QueryLogic::Aggregate(a) = &query.logic {
                // State and positions in one batch, before the commit.
                let mut positions = input_positions.lock().clone();
                positions.insert(partition, next);
                let changelog = a.changelog(&positions);
                self.log
                    .produce(&self.changelog_topic(&query.id), 0, changelog)
                    .await
                    .map_err(|e| EngineError::Log(e.to_string()))?;
            }
            self.commit(query, topic, partition, next, input_positions)
                .await?;
        }
        Ok(consumed)
    }

    /// Commits a query's input `topic`-`partition` up to `next` and moves
    /// its position there.
    async fn commit(
        &self,
        query: &PersistentQuery,
        topic: &str,
        partition: i32,
        next: i64,
        positions: &Mutex<BTreeMap<i32, i64>>,
    ) -> Result<(), EngineError> {
        self.log
            .commit_offsets(
                &self.query_group(&query.id),
                &[(topic.to_string(), partition, next)],
            )
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        positions.lock().insert(partition, next);
        Ok(())
    }

    /// Decodes a source record; one that does not decode goes to the
    /// processing log (and the query goes on).
    fn decode_or_log(
        &self,
        query: &PersistentQuery,
        record: &creek_log::ConsumerRecord,
    ) -> Option<crate::query::DecodedRow> {
        match query.decoder.decode(record) {
            Ok(d) => Some(d),
            Err(e) => {
                let topic = &query.decoder.source.topic;
                self.stats.failed(topic);
                self.processing_log.record(
                    &query.id,
                    crate::processing_log::ErrorKind::Deserialization,
                    Some(topic),
                    &format!(
                        "Failed to deserialize record from {topic}-{}@{}: {e}",
                        record.partition, record.offset
                    ),
                );
                None
            }
        }
    }

    /// Encodes a record's results for the sink; a row the sink cannot write
    /// stops the query, as in Kafka Streams: nothing of the batch is
    /// produced or committed, so no row is lost.
    fn encode_results(
        &self,
        query: &PersistentQuery,
        results: Vec<crate::query::ResultRow>,
        outputs: &mut BTreeMap<i32, Vec<ProducerRecord>>,
        ordered: &mut Vec<ProducerRecord>,
        tapping: bool,
        (topic, partition, offset): (&str, i32, i64),
    ) -> Result<(), EngineError> {
        for result in results {
            match query.encoder.encode(&result) {
                Ok((p, rec)) => {
                    if tapping {
                        ordered.push(rec.clone());
                    }
                    outputs.entry(p).or_default().push(rec);
                }
                Err(crate::query::SinkError::Timestamp(e)) => {
                    self.processing_log.record(
                        &query.id,
                        crate::processing_log::ErrorKind::RecordProcessing,
                        Some(topic),
                        &e,
                    );
                }
                Err(crate::query::SinkError::Serialize(e)) => {
                    self.processing_log.record(
                        &query.id,
                        crate::processing_log::ErrorKind::Serialization,
                        Some(&query.sink_topic),
                        &format!("Failed to serialize row: {e}"),
                    );
                    return Err(EngineError::QueryFailed(format!(
                        "Exception caught in process. taskId=0_{partition}, \
                         topic={topic}, partition={partition}, offset={offset}: \
                         Unable to serialize record: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Stage one of a re-keying aggregation: reads the source from its
    /// committed offsets, writes each change re-keyed by its group to the
    /// repartition topic (the group's partition, Kafka's partitioner), then
    /// commits. A crash between the two writes a batch twice; stage two
    /// skips what it applied already.
    async fn rekey_step(
        &self,
        query: &PersistentQuery,
        aggregator: &crate::aggregate::Aggregator,
        repartition: &Repartition,
    ) -> Result<usize, EngineError> {
        let topic = &query.decoder.source.topic;
        let over_table = query.decoder.source.kind == SourceKind::Table;
        let positions: Vec<(i32, i64)> = query
            .positions
            .lock()
            .iter()
            .map(|(p, o)| (*p, *o))
            .collect();
        let mut consumed = 0;
        for (partition, offset) in positions {
            let fetched = self
                .log
                .fetch(topic, partition, offset, 1 << 20, Duration::ZERO)
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            let Some(last) = fetched.records.last() else {
                continue;
            };
            let next = last.offset + 1;
            self.stats.consumed(
                topic,
                fetched.records.len() as u64,
                record_bytes(&fetched.records),
            );
            let mut rekeyed: BTreeMap<i32, Vec<ProducerRecord>> = BTreeMap::new();
            for record in &fetched.records {
                consumed += 1;
                if over_table && record.key.is_none() {
                    continue;
                }
                let Some(decoded) = self.decode_or_log(query, record) else {
                    continue;
                };
                for r in aggregator.rekey(
                    &decoded.row,
                    decoded.value_is_null,
                    decoded.rowtime,
                    (partition, record.offset),
                ) {
                    let p = crate::query::partition_for(r.key.as_deref(), repartition.partitions);
                    rekeyed.entry(p).or_default().push(r);
                }
            }
            for (p, records) in rekeyed {
                let n = records.len() as u64;
                self.log
                    .produce(&repartition.topic, p, records)
                    .await
                    .map_err(|e| EngineError::Log(e.to_string()))?;
                self.stats.produced(&repartition.topic, n);
            }
            self.commit(query, topic, partition, next, &query.positions)
                .await?;
        }
        Ok(consumed)
    }

    /// Runs every query until none has input left (tests, benchmarks).
    pub async fn run_until_idle(&self) -> Result<(), EngineError> {
        loop {
            let mut progress = 0;
            for q in self.queries() {
                let stepped = self.step(&q).await;
                if let Err(e) = &stepped {
                    q.fail(e.to_string());
                    self.flush_processing_log().await;
                }
                progress += stepped?;
            }
            self.flush_processing_log().await;
            if progress == 0 {
                return Ok(());
            }
        }
    }

    /// The processing log's topic (`default_ksql_processing_log`).
    pub fn processing_log_topic(&self) -> String {
        format!("{}ksql_processing_log", self.config.service_id)
    }

    /// Creates the processing-log topic and the `KSQL_PROCESSING_LOG` stream
    /// over it (ksqlDB's `ksql.logging.processing.stream.auto.create`).
    pub async fn create_processing_log_stream(self: &Arc<Self>) -> Result<(), EngineError> {
        let topic = self.processing_log_topic();
        if self.log.describe_topic(&topic).await.is_err() {
            self.log
                .create_topic(&topic, 1, BTreeMap::new())
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
        }
        if self
            .state
            .lock()
            .metastore
            .source("KSQL_PROCESSING_LOG")
            .is_some()
        {
            return Ok(());
        }
        let text = format!(
            "CREATE STREAM KSQL_PROCESSING_LOG ({}) WITH (KAFKA_TOPIC='{topic}', VALUE_FORMAT='JSON');",
            crate::processing_log::PROCESSING_LOG_COLUMNS
        );
        let statement = creek_sql::parse_statement(&text)?;
        self.execute_statement(&statement, &text, &mut Session::default())
            .await?;
        Ok(())
    }

    /// Writes pending processing-log entries to the topic (if it exists).
    pub async fn flush_processing_log(&self) {
        let entries = self.processing_log.take();
        if entries.is_empty() {
            return;
        }
        let records: Vec<ProducerRecord> = entries
            .iter()
            .map(|e| ProducerRecord {
                key: None,
                value: Some(bytes::Bytes::from(e.to_json().to_string())),
                headers: Vec::new(),
                timestamp: Some(e.timestamp),
            })
            .collect();
        let topic = self.processing_log_topic();
        if let Some(tap) = self.output_tap.lock().as_mut() {
            tap.extend(records.iter().map(|r| (topic.clone(), r.clone())));
        }
        let _ = self.log.produce(&topic, 0, records).await;
    }

    async fn insert_into(
        self: &Arc<Self>,
        target: &str,
        query: &Query,
        text: &str,
        session: &Session,
    ) -> Result<Json, EngineError> {
        let sink = self
            .state
            .lock()
            .metastore
            .source(target)
            .cloned()
            .ok_or_else(|| EngineError::Statement(format!("{target} does not exist.")))?;
        if sink.kind == SourceKind::Table {
            return Err(EngineError::Statement(format!(
                "INSERT INTO can only be used to insert into a stream. {target} is a table."
            )));
        }
        let produces_table = crate::aggregate::is_aggregate(query, &self.aggregates) || {
            let state = self.state.lock();
            crate::plan::single_source(query, &state.metastore)
                .is_ok_and(|(source, _, _)| source.kind == SourceKind::Table)
        };
        if produces_table {
            return Err(EngineError::Statement(format!(
                "Incompatible data sink and query result. Data sink ({target}) type is STREAM but select query result is TABLE."
            )));
        }
        if sink.read_only {
            return Err(EngineError::Statement(format!(
                "Cannot insert into read-only {}: {target}",
                kind_word(sink.kind)
            )));
        }
        let plan = {
            let state = self.state.lock();
            plan_stream_query(query, &state.metastore, &self.functions, Some(target))?
        };
        let mut plan = plan;
        if sink
            .columns
            .iter()
            .any(|c| matches!(c.role, ColumnRole::Header(_)))
        {
            return Err(EngineError::Statement(format!(
                "Cannot insert into {target} because it has header columns"
            )));
        }
        // Values widen implicitly to the sink's types (INT into DECIMAL, ...).
        let mut result_columns = plan.output_columns();
        if result_columns.len() == sink.columns.len() {
            for (r, s) in result_columns.iter_mut().zip(&sink.columns) {
                if r.name == s.name && r.role == s.role && r.ty != s.ty && widens(&r.ty, &s.ty) {
                    for p in plan.projection.iter_mut().chain(plan.key.iter_mut()) {
                        if p.name == r.name {
                            p.expr = p.expr.clone().cast_to(&s.ty);
                        }
                    }
                    r.ty = s.ty.clone();
                }
            }
        }
        let same = result_columns.len() == sink.columns.len()
            && result_columns
                .iter()
                .zip(&sink.columns)
                .all(|(a, b)| a.name == b.name && a.ty == b.ty && a.role == b.role);
        if !same {
            let fmt = |cols: &[SourceColumn]| {
                cols.iter()
                    .map(|c| {
                        format!(
                            "`{}` {}{}",
                            c.name,
                            c.ty,
                            if c.role == ColumnRole::Key {
                                " KEY"
                            } else {
                                ""
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            return Err(EngineError::Statement(format!(
                "Incompatible schema between results and sink.\nResult schema is {}\nSink schema is {}",
                fmt(&result_columns),
                fmt(&sink.columns)
            )));
        }
        let query_id = {
            let mut state = self.state.lock();
            let id = format!("INSERTQUERY_{}", state.next_query);
            state.next_query += 1;
            id
        };
        let pq = self
            .build_query(
                query_id.clone(),
                QueryPlan::Stream(plan),
                &sink,
                text,
                session,
            )
            .await?;
        self.state
            .lock()
            .queries
            .insert(query_id.clone(), pq.clone());
        self.start(&pq);
        Ok(status_entity(
            text,
            &format!("Created query with ID {query_id}"),
            Some(&query_id),
        ))
    }

    async fn insert_values(
        self: &Arc<Self>,
        target: &str,
        columns: &[String],
        values: &[ast::Expr],
        text: &str,
    ) -> Result<Json, EngineError> {
        // The lock guard must be gone before the error path locks again.
        let found = self.state.lock().metastore.source(target).cloned();
        let sink = found.ok_or_else(|| self.unknown_insert_target(target, text))?;
        if sink.read_only {
            return Err(EngineError::Statement(format!(
                "Cannot insert values into read-only {}: {target}",
                kind_word(sink.kind)
            )));
        }
        if columns.is_empty() {
            let headers: Vec<&str> = sink
                .columns
                .iter()
                .filter(|c| matches!(c.role, ColumnRole::Header(_)))
                .map(|c| c.name.as_str())
                .collect();
            if !headers.is_empty() {
                return Err(EngineError::Statement(format!(
                    "Cannot insert into HEADER columns: {}",
                    headers.join(", ")
                )));
            }
        }
        // Without a column list, ksqlDB's schema order: keys, then values.
        let names: Vec<String> = if columns.is_empty() {
            sink.key_columns()
                .chain(sink.value_columns())
                .map(|c| c.name.clone())
                .collect()
        } else {
            columns.to_vec()
        };
        if let Some(pseudo) = names
            .iter()
            .find(|n| matches!(n.as_str(), "ROWPARTITION" | "ROWOFFSET"))
        {
            return Err(EngineError::Statement(format!(
                "Inserting into column `{pseudo}` is not allowed."
            )));
        }
        if !columns.is_empty() && names.len() != values.len() {
            return Err(EngineError::Statement(format!(
                "{}Expected number columns and values to match: {}, {}",
                creek_sql::PREPARE_FAILED,
                names.len(),
                values.len()
            )));
        }
        if names.len() != values.len() {
            return Err(EngineError::Statement(format!(
                "Expected a value for each column. Expected Columns: [{}]. Got [{}]",
                names.join(", "),
                values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let types = self.state.lock().metastore.types.clone();
        let ctx = CompileContext {
            functions: &self.functions,
            custom_types: &types,
        };
        let empty = Scope::default();
        let mut row: HashMap<String, Value> = HashMap::new();
        let mut rowtime = None;
        for (name, expr) in names.iter().zip(values) {
            if name == "ROWTIME" {
                let c = compile(expr, &empty, &ctx).map_err(EngineError::Statement)?;
                rowtime = c.eval(&[]).ok().and_then(|v| v.as_i64());
                continue;
            }
            let column = sink
                .columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| {
                    EngineError::Statement(format!("Column name {name} does not exist."))
                })?;
            if let ColumnRole::Header(_) = column.role {
                return Err(EngineError::Statement(format!(
                    "Cannot insert into HEADER columns: {name}"
                )));
            }
            let c = compile(expr, &empty, &ctx).map_err(|e| {
                // ksqlDB fails to prepare a statement naming an unknown source.
                if e.contains("is not a valid stream/table name or alias") {
                    EngineError::Statement(format!("{}{e}", creek_sql::PREPARE_FAILED))
                } else {
                    EngineError::Statement(e)
                }
            })?;
            let v = c.eval(&[]).map_err(EngineError::Statement)?;
            let v = if c.ty == column.ty || v.is_null() {
                v
            } else if let Some(v) = structs_by_name(&v, &c.ty, &column.ty) {
                v
            } else if c.ty.can_widen_to(&column.ty)
                || creek_sql::cast::check_cast(&c.ty, &column.ty).is_ok() && c.ty == SqlType::String
            {
                creek_sql::cast::cast_value(v, &c.ty, &column.ty).map_err(EngineError::Statement)?
            } else {
                return Err(EngineError::Statement(format!(
                    "Expected type {} for field {name} but got {}({})",
                    column.ty,
                    c.ty,
                    creek_sql::cast::to_java_string(&v)
                )));
            };
            row.insert(name.clone(), v);
        }
        let key: Vec<Value> = sink
            .key_columns()
            .map(|c| row.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let value: Vec<Value> = sink
            .value_columns()
            .map(|c| row.get(&c.name).cloned().unwrap_or(Value::Null))
            .collect();
        let (key_fmt, value_fmt) = self.build_formats(&sink, true).await?;
        let partitions = self
            .log
            .describe_topic(&sink.topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let encoder = SinkEncoder {
            key: key_fmt,
            value: value_fmt,
            has_key: !key.is_empty(),
            partitions,
            timestamp: None,
            window: None,
        };
        let result = ResultRow {
            key,
            value: Some(value),
            projection: Vec::new(),
            rowtime: rowtime.unwrap_or_else(creek_log::now_ms),
            window: None,
        };
        let (p, record) = encoder.encode(&result).map_err(|e| {
            EngineError::Statement(format!("Failed to insert values into '{target}'. {e}"))
        })?;
        self.log
            .produce(&sink.topic, p, vec![record.clone()])
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        if let Some(tap) = self.output_tap.lock().as_mut() {
            tap.push((sink.topic.clone(), record));
        }
        Ok(
            json!({"@type": "currentStatus", "statementText": text, "commandStatus": {"status": "SUCCESS", "message": ""}, "warnings": []}),
        )
    }

    /// ksqlDB's error for INSERT VALUES into an unknown source, with a hint
    /// when only the quoting (case) is wrong.
    fn unknown_insert_target(&self, target: &str, text: &str) -> EngineError {
        let state = self.state.lock();
        let similar = state
            .metastore
            .sources
            .keys()
            .find(|n| n.eq_ignore_ascii_case(target))
            .cloned();
        let mut message = format!("Cannot insert values into an unknown stream/table: `{target}`");
        if let Some(name) = similar {
            let quoted_in_statement =
                text.contains(&format!("\"{target}\"")) || text.contains(&format!("`{target}`"));
            if quoted_in_statement {
                message.push_str(&format!(
                    "\nDid you mean {name}? Hint: try removing double quotes from the source name."
                ));
            } else {
                message.push_str(&format!(
                    "\nDid you mean \"{name}\"? Hint: wrap the source name in double quotes to make it case-sensitive."
                ));
            }
        }
        EngineError::Statement(message)
    }

    async fn drop_source(
        self: &Arc<Self>,
        kind: SourceKind,
        if_exists: bool,
        name: &str,
        delete_topic: bool,
        text: &str,
    ) -> Result<Json, EngineError> {
        let source = {
            let state = self.state.lock();
            let Some(source) = state.metastore.source(name).cloned() else {
                if if_exists {
                    return Ok(status_entity(
                        text,
                        &format!("Source `{name}` does not exist."),
                        None,
                    ));
                }
                return Err(EngineError::Statement(format!(
                    "Source {name} does not exist."
                )));
            };
            if source.kind != kind {
                return Err(EngineError::Statement(format!(
                    "Incompatible data source type is {}, but statement was DROP {}",
                    source.kind_name(),
                    kind_word(kind).to_ascii_uppercase()
                )));
            }
            let writers: Vec<String> = state
                .queries
                .values()
                .filter(|q| q.sink.as_deref() == Some(name))
                .map(|q| q.id.clone())
                .collect();
            let readers: Vec<String> = state
                .queries
                .values()
                .filter(|q| q.source == name)
                .map(|q| q.id.clone())
                .collect();
            if !writers.is_empty() || !readers.is_empty() {
                let (what, ids) = if !writers.is_empty() {
                    ("write into", writers)
                } else {
                    ("read from", readers)
                };
                return Err(EngineError::Statement(format!(
                    "Cannot drop {name}.\nThe following queries {what} this source: [{}].\nYou need to terminate them before dropping {name}.",
                    ids.join(", ")
                )));
            }
            if delete_topic && source.read_only {
                return Err(EngineError::Statement(format!(
                    "Cannot delete topic for read-only source: {name}"
                )));
            }
            source
        };
        self.state.lock().metastore.sources.remove(name);
        self.views.lock().remove(name);
        if delete_topic {
            let _ = self.log.delete_topic(&source.topic).await;
            if let Some(registry) = &self.registry {
                for suffix in ["-key", "-value"] {
                    let _ = registry
                        .delete_subject(&format!("{}{suffix}", source.topic), false)
                        .await;
                }
            }
        }
        Ok(status_entity(
            text,
            &format!("Source `{name}` (topic: {}) was dropped.", source.topic),
            None,
        ))
    }

    fn terminate(&self, id: Option<&str>, text: &str) -> Result<Json, EngineError> {
        let mut state = self.state.lock();
        let ids: Vec<String> = match id {
            None => state.queries.keys().cloned().collect(),
            Some(id) => {
                let upper = id.to_ascii_uppercase();
                if !state.queries.contains_key(&upper) {
                    return Err(EngineError::Statement(format!("Unknown queryId: {id}")));
                }
                vec![upper]
            }
        };
        for id in ids {
            if let Some(q) = state.queries.remove(&id) {
                let _ = q.stop.send(true);
            }
        }
        Ok(status_entity(text, "Query terminated.", None))
    }
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

/// A constructed value whose STRUCTs (at any depth, inside arrays and map
/// values too) name a subset of the column type's fields, in any order: as
/// the column's type, missing fields NULL (`STRUCT()` is all NULL), as
/// ksqlDB's INSERT VALUES coerces them. `None` when the shapes differ.
fn structs_by_name(value: &Value, given: &SqlType, target: &SqlType) -> Option<Value> {
    match (value, given, target) {
        (Value::Null, _, _) => Some(Value::Null),
        (Value::Struct(values), SqlType::Struct(_), SqlType::Struct(fields)) => {
            if values
                .iter()
                .any(|(n, _)| !fields.iter().any(|f| f.name == n.as_ref()))
            {
                return None;
            }
            let given_type = |name: &str| match given {
                SqlType::Struct(g) => g.iter().find(|f| f.name == name).map(|f| f.ty.clone()),
                _ => None,
            };
            fields
                .iter()
                .map(|f| {
                    let v = match values.iter().find(|(n, _)| n.as_ref() == f.name) {
                        None => Value::Null,
                        Some((_, v)) => structs_by_name(v, &given_type(&f.name)?, &f.ty)?,
                    };
                    Some((std::sync::Arc::from(f.name.as_str()), v))
                })
                .collect::<Option<Vec<_>>>()
                .map(Value::Struct)
        }
        (Value::Array(items), SqlType::Array(g), SqlType::Array(t)) => items
            .iter()
            .map(|i| structs_by_name(i, g, t))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        (Value::Map(entries), SqlType::Map(gk, gv), SqlType::Map(tk, tv)) if gk == tk => entries
            .iter()
            .map(|(k, v)| Some((k.clone(), structs_by_name(v, gv, tv)?)))
            .collect::<Option<Vec<_>>>()
            .map(Value::Map),
        (v, g, t) if g == t => Some(v.clone()),
        (v, g, t) if g.can_widen_to(t) => creek_sql::cast::cast_value(v.clone(), g, t).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_sql::types::Field;

    #[test]
    fn insert_values_structs_match_fields_by_name() {
        let target = SqlType::Struct(vec![
            Field::new("NUM".to_string(), SqlType::Bigint),
            Field::new("EMAIL".to_string(), SqlType::String),
        ]);
        let given = SqlType::Struct(vec![
            Field::new("EMAIL".to_string(), SqlType::String),
            Field::new("NUM".to_string(), SqlType::Int),
        ]);
        let value = Value::Struct(vec![
            ("EMAIL".into(), Value::string("a@b.c")),
            ("NUM".into(), Value::Int(5)),
        ]);
        assert_eq!(
            structs_by_name(&value, &given, &target),
            Some(Value::Struct(vec![
                ("NUM".into(), Value::Bigint(5)),
                ("EMAIL".into(), Value::string("a@b.c")),
            ]))
        );
        // STRUCT(): every field NULL; inside an array too.
        let empty = Value::Struct(vec![]);
        let all_null = Value::Struct(vec![
            ("NUM".into(), Value::Null),
            ("EMAIL".into(), Value::Null),
        ]);
        assert_eq!(
            structs_by_name(&empty, &SqlType::Struct(vec![]), &target),
            Some(all_null.clone())
        );
        assert_eq!(
            structs_by_name(
                &Value::Array(vec![empty]),
                &SqlType::array(SqlType::Struct(vec![])),
                &SqlType::array(target.clone())
            ),
            Some(Value::Array(vec![all_null]))
        );
        // A field the column does not have, or a value of another type: no.
        let extra = Value::Struct(vec![("OTHER".into(), Value::Int(1))]);
        let extra_ty = SqlType::Struct(vec![Field::new("OTHER".to_string(), SqlType::Int)]);
        assert_eq!(structs_by_name(&extra, &extra_ty, &target), None);
        assert_eq!(
            structs_by_name(&Value::Boolean(true), &SqlType::Boolean, &target),
            None
        );
    }
}
