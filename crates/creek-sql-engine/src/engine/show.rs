//! Metadata statements: SHOW/LIST, DESCRIBE, EXPLAIN, PRINT, connectors,
//! asserts. Each returns ksqlDB's REST entity for the statement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use creek_sql::ast::{ConnectorKind, Literal, ShowKind, SourceKind, Statement};
use creek_sql::types::SqlType;
use creek_store::OffsetSpec;
use serde_json::{json, Map, Value as Json};

use super::{source_formats, statement_kind, Engine, PersistentQuery, Session};
use crate::format::base_type_name;
use crate::metastore::{ColumnRole, DataSource};
use crate::window::to_duration;
use crate::EngineError;

/// Executes a statement the core engine does not handle itself.
pub async fn execute(
    engine: &Arc<Engine>,
    statement: &Statement,
    text: &str,
    session: &mut Session,
) -> Result<Json, EngineError> {
    match statement {
        Statement::Show { kind, extended } => show(engine, *kind, *extended, text, session).await,
        Statement::Describe { name, extended } => {
            let source = engine.metastore().source(name).cloned().ok_or_else(|| {
                EngineError::Statement(format!(
                    "Could not find STREAM/TABLE '{name}' in the Metastore"
                ))
            })?;
            let description = source_description(engine, &source, *extended).await;
            Ok(json!({
                "@type": "sourceDescription",
                "statementText": text,
                "sourceDescription": description,
                "warnings": [],
            }))
        }
        Statement::DescribeAll { kind, extended } => {
            let mut descriptions = Vec::new();
            for s in engine.metastore().sources.values() {
                if s.kind == *kind {
                    descriptions.push(source_description(engine, s, *extended).await);
                }
            }
            Ok(json!({
                "@type": "source_descriptions",
                "statementText": text,
                "sourceDescriptions": descriptions,
                "warnings": [],
            }))
        }
        Statement::DescribeFunction(name) => describe_function(engine, name, text),
        Statement::ExplainQuery(id) => {
            let upper = id.to_ascii_uppercase();
            let query = engine
                .queries()
                .into_iter()
                .find(|q| q.id == upper)
                .ok_or_else(|| EngineError::Statement(format!("Query with id:{id} does not exist, use SHOW QUERIES to view the full set of running queries.")))?;
            Ok(json!({
                "@type": "queryDescription",
                "statementText": text,
                "queryDescription": query_description(engine, &query),
                "warnings": [],
            }))
        }
        Statement::AssertTopic {
            exists,
            name,
            timeout,
            properties,
        } => {
            let deadline = Instant::now()
                + timeout
                    .as_ref()
                    .map(to_duration)
                    .unwrap_or(Duration::from_secs(1));
            loop {
                let described = engine.log.describe_topic(name).await.ok();
                let found = described.is_some();
                if let (Some(d), true) = (&described, *exists) {
                    let mut mismatches = Vec::new();
                    for (k, v) in properties {
                        let want = literal_string(v);
                        let got = match k.to_ascii_uppercase().as_str() {
                            "PARTITIONS" => d.partitions.to_string(),
                            "REPLICAS" => "1".to_string(),
                            _ => {
                                mismatches
                                    .push(format!("Cannot assert unknown topic property: {k}"));
                                continue;
                            }
                        };
                        if got != want {
                            mismatches.push(format!(
                                "For config {}, expected {want} got {got}",
                                k.to_ascii_lowercase()
                            ));
                        }
                    }
                    if !mismatches.is_empty() {
                        return Err(EngineError::Statement(format!(
                            "Mismatched configuration for topic {name}: {}",
                            mismatches.join(", ")
                        )));
                    }
                }
                if found == *exists {
                    return Ok(json!({
                        "@type": "assert_topic",
                        "statementText": text,
                        "topicName": name,
                        "exists": exists,
                        "warnings": [],
                    }));
                }
                if Instant::now() >= deadline {
                    return Err(EngineError::Statement(if *exists {
                        format!("Topic {name} does not exist")
                    } else {
                        format!("Topic {name} exists")
                    }));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Statement::AssertSchema {
            exists,
            subject,
            id,
            timeout,
        } => {
            let registry = engine
                .registry
                .clone()
                .ok_or_else(|| EngineError::Statement("No Schema Registry is configured".into()))?;
            let deadline = Instant::now()
                + timeout
                    .as_ref()
                    .map(to_duration)
                    .unwrap_or(Duration::from_secs(1));
            loop {
                let found = match (subject, id) {
                    (Some(s), Some(i)) => registry
                        .schema_by_id(*i as i32)
                        .is_some_and(|_| registry.latest(s).is_some()),
                    (Some(s), None) => registry.latest(s).is_some(),
                    (None, Some(i)) => registry.schema_by_id(*i as i32).is_some(),
                    (None, None) => false,
                };
                if found == *exists {
                    return Ok(json!({
                        "@type": "assert_schema",
                        "statementText": text,
                        "subject": subject,
                        "id": id,
                        "exists": exists,
                        "warnings": [],
                    }));
                }
                if Instant::now() >= deadline {
                    let what = match (subject, id) {
                        (Some(s), Some(i)) => format!("subject name {s} id {i}"),
                        (Some(s), None) => format!("subject name {s}"),
                        (None, Some(i)) => format!("id {i}"),
                        (None, None) => String::new(),
                    };
                    return Err(EngineError::Statement(if *exists {
                        format!("Schema with {what} does not exist")
                    } else {
                        format!("Schema with {what} exists")
                    }));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Statement::DescribeConnector(name) => describe_connector(engine, name, text).await,
        Statement::CreateConnector {
            kind,
            if_not_exists,
            name,
            properties,
        } => create_connector(engine, *kind, *if_not_exists, name, properties, text).await,
        Statement::DropConnector { if_exists, name } => {
            drop_connector(engine, *if_exists, name, text).await
        }
        // RUN SCRIPT is the CLI's: it reads the file and sends its
        // statements. The server does not know it, like ksqlDB's.
        Statement::RunScript(_) => Err(EngineError::Statement(
            "line 1:1: Syntax Error\nUnknown statement 'RUN'".into(),
        )),
        _ => Err(EngineError::NotSupported(
            statement_kind(statement).to_string(),
        )),
    }
}

/// ksqlDB's `SchemaInfo` of a type.
fn schema_info(ty: &SqlType) -> Json {
    match ty {
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields
                .iter()
                .map(|f| json!({"name": f.name, "schema": schema_info(&f.ty)}))
                .collect::<Vec<_>>(),
            "memberSchema": null,
        }),
        SqlType::Array(t) => {
            json!({"type": "ARRAY", "fields": null, "memberSchema": schema_info(t)})
        }
        SqlType::Map(_, v) => {
            json!({"type": "MAP", "fields": null, "memberSchema": schema_info(v)})
        }
        SqlType::Decimal { precision, scale } => json!({
            "type": "DECIMAL",
            "fields": null,
            "memberSchema": null,
            "parameters": {"precision": precision, "scale": scale},
        }),
        other => json!({"type": base_type_name(other), "fields": null, "memberSchema": null}),
    }
}

fn fields_of(source: &DataSource) -> Vec<Json> {
    source
        .columns
        .iter()
        .map(|c| {
            let mut f = json!({"name": c.name, "schema": schema_info(&c.ty)});
            match &c.role {
                ColumnRole::Key => f["type"] = json!("KEY"),
                ColumnRole::Header(k) => {
                    f["type"] = json!("HEADER");
                    if let Some(k) = k {
                        f["headerKey"] = json!(k);
                    }
                }
                ColumnRole::Value => {}
            }
            f
        })
        .collect()
}

fn running_query(engine: &Engine, q: &PersistentQuery) -> Json {
    let sink_topic = q.sink.as_ref().map(|_| q.sink_topic.clone());
    let state = *q.state.lock();
    json!({
        "queryString": q.statement,
        "sinks": q.sink.iter().collect::<Vec<_>>(),
        "sinkKafkaTopics": sink_topic.iter().collect::<Vec<_>>(),
        "id": q.id,
        "statusCount": {state: 1},
        "queryType": "PERSISTENT",
        "state": state,
        "consumerGroupId": engine.query_group(&q.id),
    })
}

/// ksqlDB's statistics text of a source's topic, then what this worker runs of
/// each query reading or writing it that workers share (partitions, restores
/// in progress).
fn statistics_with_shares(
    engine: &Engine,
    source: &DataSource,
    queries: &[std::sync::Arc<PersistentQuery>],
) -> String {
    let mut text = engine.stats.statistics(&source.topic);
    for q in queries {
        let touches = q.source == source.name || q.sink.as_deref() == Some(source.name.as_str());
        // Alone, a worker runs everything: ksqlDB's text as it is.
        if touches && q.is_shared() {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&q.share.lock().describe(&q.id));
        }
    }
    text
}

async fn source_description(engine: &Engine, source: &DataSource, extended: bool) -> Json {
    let queries = engine.queries();
    let reads: Vec<Json> = queries
        .iter()
        .filter(|q| q.source == source.name)
        .map(|q| running_query(engine, q))
        .collect();
    let writes: Vec<Json> = queries
        .iter()
        .filter(|q| q.sink.as_deref() == Some(source.name.as_str()))
        .map(|q| running_query(engine, q))
        .collect();
    let (key_format, value_format) = source_formats(source);
    let partitions = engine
        .log
        .describe_topic(&source.topic)
        .await
        .map(|d| d.partitions)
        .unwrap_or(0);
    json!({
        "name": source.name,
        "windowType": source.window.map(|w| w.kind.name()),
        "readQueries": reads,
        "writeQueries": writes,
        "fields": fields_of(source),
        "type": source.kind_name(),
        "timestamp": source.timestamp.as_ref().map(|(c, _)| c.clone()).unwrap_or_default(),
        "statistics": if extended { statistics_with_shares(engine, source, &queries) } else { String::new() },
        "errorStats": if extended { engine.stats.error_stats(&source.topic) } else { String::new() },
        "extended": extended,
        "keyFormat": key_format,
        "valueFormat": value_format,
        "topic": source.topic,
        "partitions": if extended { partitions } else { 0 },
        "replication": if extended { 1 } else { 0 },
        "statement": source.statement,
        "queryOffsetSummaries": [],
        "sourceConstraints": [],
        "clusterStatistics": [],
        "clusterErrorStats": [],
    })
}

fn query_description(engine: &Engine, q: &PersistentQuery) -> Json {
    let metastore = engine.metastore();
    let sink = q.sink.as_ref().and_then(|s| metastore.source(s));
    let fields = sink.map(|s| fields_of(s)).unwrap_or_default();
    let state = *q.state.lock();
    json!({
        "id": q.id,
        "statementText": q.statement,
        "windowType": sink.and_then(|s| s.window).map(|w| w.kind.name()),
        "fields": fields,
        "sources": [q.source],
        "sinks": q.sink.iter().collect::<Vec<_>>(),
        "topology": "",
        "executionPlan": "",
        "overriddenProperties": {},
        "ksqlHostQueryStatus": {},
        "queryType": "PERSISTENT",
        "queryErrors": q.error.lock().iter().map(|(at, reason)| json!({
            "timestamp": at,
            "errorMessage": reason,
            "type": "SYSTEM",
        })).collect::<Vec<_>>(),
        "tasksMetadata": tasks_metadata(q),
        "state": state,
        "consumerGroupId": engine.query_group(&q.id),
    })
}

/// ksqlDB's `tasksMetadata` of a query: one entry per partition this worker
/// reads (task ids as Kafka Streams names them: sub-topology, partition), with
/// the state of a task whose changelog is being restored.
fn tasks_metadata(q: &PersistentQuery) -> Vec<Json> {
    if !q.is_shared() {
        return Vec::new();
    }
    let share = q.share.lock().clone();
    // The last topic read is the one the tasks' state belongs to (the
    // repartition topic of a re-keying aggregation, else the source).
    let stateful = share.partitions.len().saturating_sub(1);
    share
        .partitions
        .iter()
        .enumerate()
        .flat_map(|(subtopology, (topic, partitions))| {
            let restoring = &share.restoring;
            partitions.iter().map(move |p| {
                let state = if subtopology == stateful && restoring.contains_key(p) {
                    "RESTORING"
                } else {
                    "RUNNING"
                };
                json!({
                    "taskId": format!("{subtopology}_{p}"),
                    "topicOffsets": [{"topicPartition": {"topic": topic, "partition": p}}],
                    "taskState": state,
                })
            })
        })
        .collect()
}

/// Default properties SHOW PROPERTIES lists.
fn default_properties(engine: &Engine) -> Vec<(String, String)> {
    vec![
        ("ksql.service.id".into(), engine.config.service_id.clone()),
        ("ksql.streams.auto.offset.reset".into(), "latest".into()),
        ("ksql.persistent.prefix".into(), "query_".to_string()),
        ("ksql.extension.dir".into(), "ext".into()),
        ("ksql.output.topic.name.prefix".into(), String::new()),
        (
            "ksql.sink.partitions".into(),
            engine.config.default_partitions.to_string(),
        ),
        ("ksql.query.pull.table.scan.enabled".into(), "true".into()),
        (HIDDEN_TOPICS_CONFIG.into(), HIDDEN_TOPICS_DEFAULT.into()),
        (
            "ksql.streams.cache.max.bytes.buffering".into(),
            "10000000".into(),
        ),
    ]
}

/// ksqlDB's `ksql.hidden.topics`: the topics SHOW TOPICS leaves out.
pub const HIDDEN_TOPICS_CONFIG: &str = "ksql.hidden.topics";
/// Its default in ksqlDB (`KsqlConfig.KSQL_HIDDEN_TOPICS_DEFAULT`).
pub const HIDDEN_TOPICS_DEFAULT: &str = "_confluent.*,__confluent.*,_schemas,__consumer_offsets,\
     __transaction_state,connect-configs,connect-offsets,connect-status,connect-statuses";

/// ksqlDB's `ReservedInternalTopics.isHidden`: ksqlDB's own `_confluent-ksql-…`
/// topics (command topic, changelogs, repartitions) always, plus the
/// comma-separated literal names or regular expressions of `ksql.hidden.topics`,
/// each matching the whole name.
pub struct HiddenTopics(regex::Regex);

impl HiddenTopics {
    pub fn new(setting: Option<&str>) -> Result<HiddenTopics, EngineError> {
        let list = setting.unwrap_or(HIDDEN_TOPICS_DEFAULT);
        let alternatives: Vec<String> = std::iter::once("_confluent-ksql-.*")
            .chain(list.split(',').map(str::trim).filter(|p| !p.is_empty()))
            .map(|p| format!("(?:{p})"))
            .collect();
        regex::Regex::new(&format!("^(?:{})$", alternatives.join("|")))
            .map(HiddenTopics)
            .map_err(|e| {
                EngineError::Statement(format!("Invalid value for {HIDDEN_TOPICS_CONFIG}: {e}"))
            })
    }

    pub fn is_hidden(&self, topic: &str) -> bool {
        self.0.is_match(topic)
    }
}

async fn show(
    engine: &Arc<Engine>,
    kind: ShowKind,
    extended: bool,
    text: &str,
    session: &Session,
) -> Result<Json, EngineError> {
    match kind {
        ShowKind::Topics | ShowKind::AllTopics => {
            let mut topics = engine
                .log
                .list_topics()
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            topics.sort_by(|a, b| a.name.cmp(&b.name));
            let hidden = if kind == ShowKind::AllTopics {
                None
            } else {
                Some(HiddenTopics::new(
                    engine.property(session, HIDDEN_TOPICS_CONFIG).as_deref(),
                )?)
            };
            let items: Vec<Json> = topics
                .iter()
                .filter(|t| hidden.as_ref().is_none_or(|h| !h.is_hidden(&t.name)))
                .map(|t| {
                    let replicas = vec![1; t.partitions.max(0) as usize];
                    if extended {
                        json!({"name": t.name, "replicaInfo": replicas, "consumerCount": 0, "consumerGroupCount": 0})
                    } else {
                        json!({"name": t.name, "replicaInfo": replicas})
                    }
                })
                .collect();
            Ok(json!({
                "@type": if extended { "kafka_topics_extended" } else { "kafka_topics" },
                "statementText": text,
                "topics": items,
                "warnings": [],
            }))
        }
        ShowKind::Streams | ShowKind::Tables => {
            let want = if kind == ShowKind::Streams {
                SourceKind::Stream
            } else {
                SourceKind::Table
            };
            let metastore = engine.metastore();
            let sources: Vec<&Arc<DataSource>> = metastore
                .sources
                .values()
                .filter(|s| s.kind == want)
                .collect();
            let (ty, list) = if want == SourceKind::Stream {
                ("streams", "streams")
            } else {
                ("tables", "tables")
            };
            if extended {
                let mut descriptions = Vec::new();
                for s in sources {
                    descriptions.push(source_description(engine, s, true).await);
                }
                return Ok(json!({
                    "@type": "source_descriptions",
                    "statementText": text,
                    "sourceDescriptions": descriptions,
                    "warnings": [],
                }));
            }
            let items: Vec<Json> = sources
                .iter()
                .map(|s| {
                    let (k, v) = source_formats(s);
                    json!({
                        "type": s.kind_name(),
                        "name": s.name,
                        "topic": s.topic,
                        "keyFormat": k,
                        "valueFormat": v,
                        "isWindowed": s.window.is_some(),
                    })
                })
                .collect();
            Ok(json!({"@type": ty, "statementText": text, list: items, "warnings": []}))
        }
        ShowKind::Queries => {
            let queries = engine.queries();
            if extended {
                Ok(json!({
                    "@type": "query_descriptions",
                    "statementText": text,
                    "queryDescriptions": queries.iter().map(|q| query_description(engine, q)).collect::<Vec<_>>(),
                    "warnings": [],
                }))
            } else {
                Ok(json!({
                    "@type": "queries",
                    "statementText": text,
                    "queries": queries.iter().map(|q| running_query(engine, q)).collect::<Vec<_>>(),
                    "warnings": [],
                }))
            }
        }
        ShowKind::Properties => {
            let mut props: Vec<Json> = Vec::new();
            let mut overwritten = Vec::new();
            let mut defaults = Vec::new();
            for (k, v) in default_properties(engine) {
                if session.properties.contains_key(&k) {
                    continue;
                }
                let v = engine.property(session, &k).unwrap_or(v);
                defaults.push(json!(k));
                props.push(json!({"name": k, "scope": "KSQL", "value": v}));
            }
            for (k, v) in &session.properties {
                overwritten.push(json!(k));
                props.push(json!({"name": k, "scope": "KSQL", "value": v}));
            }
            Ok(json!({
                "@type": "properties",
                "statementText": text,
                "properties": props,
                "overwrittenProperties": overwritten,
                "defaultProperties": defaults,
                "warnings": [],
            }))
        }
        ShowKind::Functions => {
            let functions: Vec<Json> = engine
                .functions
                .iter()
                .map(|f| json!({"name": f.name(), "type": "SCALAR", "category": f.category()}))
                .collect();
            Ok(json!({
                "@type": "function_names",
                "statementText": text,
                "functions": functions,
                "warnings": [],
            }))
        }
        ShowKind::Types => {
            let metastore = engine.metastore();
            let mut types: Vec<(&String, &SqlType)> = metastore.types.iter().collect();
            types.sort_by(|a, b| a.0.cmp(b.0));
            let map: Map<String, Json> = types
                .into_iter()
                .map(|(n, t)| (n.clone(), schema_info(t)))
                .collect();
            Ok(json!({"@type": "type_list", "statementText": text, "types": map, "warnings": []}))
        }
        ShowKind::Variables => Ok(json!({
            "@type": "variables",
            "statementText": text,
            "variables": session
                .variables
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect::<Vec<_>>(),
            "warnings": [],
        })),
        ShowKind::Connectors | ShowKind::SourceConnectors | ShowKind::SinkConnectors => {
            show_connectors(engine, kind, text).await
        }
        ShowKind::ConnectorPlugins => {
            let plugins = connect_get(engine, "/connector-plugins").await?;
            let items: Vec<Json> = plugins
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    json!({
                        "className": p["class"],
                        "type": p["type"],
                        "version": p["version"],
                    })
                })
                .collect();
            Ok(json!({
                "@type": "connector_plugins_list",
                "statementText": text,
                "connectorsPlugins": items,
                "warnings": [],
            }))
        }
    }
}

/// `DESCRIBE FUNCTION name`.
fn describe_function(engine: &Engine, name: &str, text: &str) -> Result<Json, EngineError> {
    let f = engine.functions.get(name).ok_or_else(|| {
        EngineError::Statement(format!("Can't find any functions with the name '{name}'"))
    })?;
    let variants: Vec<Json> = f
        .signatures()
        .iter()
        .map(|sig| {
            // `ABS(col1 DOUBLE) => DOUBLE`
            let (call, ret) = sig.split_once("=>").unwrap_or((sig.as_str(), ""));
            let inside = call
                .split_once('(')
                .map(|(_, r)| r.trim_end().trim_end_matches(')'))
                .unwrap_or("");
            let arguments: Vec<Json> = split_args(inside)
                .into_iter()
                .map(|a| {
                    let a = a.trim();
                    let (n, t) = a.split_once(' ').unwrap_or(("", a));
                    let variadic = t.ends_with("...");
                    json!({
                        "name": n,
                        "type": t.trim_end_matches("...").trim(),
                        "description": "",
                        "isVariadic": variadic,
                    })
                })
                .collect();
            json!({
                "arguments": arguments,
                "returnType": ret.trim(),
                "description": f.description(),
            })
        })
        .collect();
    Ok(json!({
        "@type": "describe_function",
        "statementText": text,
        "name": f.name(),
        "description": f.description(),
        "author": "Confluent",
        "version": "",
        "path": "internal",
        "functions": variants,
        "type": "SCALAR",
        "warnings": [],
    }))
}

/// Splits `a INT, b MAP<STRING, INT>` at top-level commas.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

// ---- connectors, through Connect's REST API ----

fn connect_url(engine: &Engine) -> Result<String, EngineError> {
    engine
        .config
        .connect_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            EngineError::Statement(
                "No Kafka Connect cluster is configured (ksql.connect.url)".into(),
            )
        })
}

async fn connect_request(
    engine: &Engine,
    method: reqwest::Method,
    path: &str,
    body: Option<Json>,
) -> Result<(u16, Json), EngineError> {
    let url = format!("{}{path}", connect_url(engine)?);
    let client = reqwest::Client::new();
    let mut req = client.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| {
        EngineError::Statement(format!("Failed to reach Kafka Connect at {url}: {e}"))
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Json::String(text));
    Ok((status, json))
}

async fn connect_get(engine: &Engine, path: &str) -> Result<Json, EngineError> {
    let (status, body) = connect_request(engine, reqwest::Method::GET, path, None).await?;
    if status >= 300 {
        return Err(connect_error(&body));
    }
    Ok(body)
}

fn connect_error(body: &Json) -> EngineError {
    let message = body
        .get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.to_string());
    EngineError::Statement(message)
}

/// ksqlDB's connector state summary (`ListConnectorsExecutor.summarizeState`):
/// a connector that is not RUNNING shows its state; a RUNNING one counts its tasks,
/// `RUNNING (1/1 tasks RUNNING)`, or `WARNING (0/1 tasks RUNNING)` when it has tasks
/// and none runs (a failed task then shows at once in SHOW CONNECTORS).
fn connector_state(status: &Json) -> String {
    let state = status["connector"]["state"].as_str().unwrap_or("UNKNOWN");
    if state != "RUNNING" {
        return state.to_string();
    }
    let tasks = status["tasks"].as_array().cloned().unwrap_or_default();
    let running = tasks
        .iter()
        .filter(|t| t["state"].as_str() == Some("RUNNING"))
        .count();
    let summary = if !tasks.is_empty() && running == 0 {
        "WARNING"
    } else {
        "RUNNING"
    };
    format!("{summary} ({running}/{} tasks RUNNING)", tasks.len())
}

async fn show_connectors(engine: &Engine, kind: ShowKind, text: &str) -> Result<Json, EngineError> {
    let all = connect_get(engine, "/connectors?expand=status&expand=info").await?;
    let mut items = Vec::new();
    if let Some(map) = all.as_object() {
        for (name, c) in map {
            let ty = c["info"]["type"]
                .as_str()
                .or(c["status"]["type"].as_str())
                .unwrap_or("unknown");
            let keep = match kind {
                ShowKind::SourceConnectors => ty == "source",
                ShowKind::SinkConnectors => ty == "sink",
                _ => true,
            };
            if !keep {
                continue;
            }
            items.push(json!({
                "name": name,
                "type": ty,
                "className": c["info"]["config"]["connector.class"],
                "state": connector_state(&c["status"]),
            }));
        }
    }
    Ok(json!({
        "@type": "connector_list",
        "statementText": text,
        "connectors": items,
        "warnings": [],
    }))
}

async fn describe_connector(engine: &Engine, name: &str, text: &str) -> Result<Json, EngineError> {
    let (status_code, status) = connect_request(
        engine,
        reqwest::Method::GET,
        &format!("/connectors/{name}/status"),
        None,
    )
    .await?;
    if status_code == 404 {
        return Err(EngineError::Statement(format!(
            "Failed to query connector status: Connector {name} not found"
        )));
    }
    if status_code >= 300 {
        return Err(connect_error(&status));
    }
    let info = connect_get(engine, &format!("/connectors/{name}")).await?;
    let topics = connect_get(engine, &format!("/connectors/{name}/topics"))
        .await
        .ok()
        .and_then(|t| t[name]["topics"].as_array().cloned())
        .unwrap_or_default();
    let metastore = engine.metastore();
    let sources: Vec<Json> = metastore
        .sources
        .values()
        .filter(|s| topics.iter().any(|t| t.as_str() == Some(s.topic.as_str())))
        .map(|s| {
            let (k, v) = source_formats(s);
            json!({"type": s.kind_name(), "name": s.name, "topic": s.topic, "keyFormat": k, "valueFormat": v, "isWindowed": s.window.is_some()})
        })
        .collect();
    Ok(json!({
        "@type": "connector_description",
        "statementText": text,
        "connectorClass": info["config"]["connector.class"],
        "status": status,
        "sources": sources,
        "topics": topics,
        "errors": [],
        "warnings": [],
    }))
}

fn literal_string(l: &Literal) -> String {
    match l {
        Literal::String(s) => s.clone(),
        Literal::Integer(s) | Literal::Decimal(s) | Literal::Double(s) => s.clone(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Null => "null".into(),
    }
}

async fn create_connector(
    engine: &Engine,
    kind: ConnectorKind,
    if_not_exists: bool,
    name: &str,
    properties: &[(String, Literal)],
    text: &str,
) -> Result<Json, EngineError> {
    let mut config = Map::new();
    for (k, v) in properties {
        config.insert(k.clone(), Json::String(literal_string(v)));
    }
    config.insert("name".into(), Json::String(name.to_string()));
    // The statement carries the connector's secrets: answers quote it masked.
    let text = &*creek_sql::mask::mask_secrets(text);
    let (status, body) = connect_request(
        engine,
        reqwest::Method::POST,
        "/connectors",
        Some(json!({"name": name, "config": config})),
    )
    .await?;
    if status == 409 && if_not_exists {
        return Ok(json!({
            "@type": "warning_entity",
            "statementText": text,
            "message": format!("Connector {name} already exists"),
            "warnings": [],
        }));
    }
    if status >= 300 {
        return Err(EngineError::Statement(format!(
            "Failed to create connector: {body}"
        )));
    }
    let mut info = body;
    if info.get("type").is_none_or(Json::is_null) {
        info["type"] = json!(match kind {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        });
    }
    Ok(json!({
        "@type": "connector_info",
        "statementText": text,
        "info": info,
        "warnings": [],
    }))
}

async fn drop_connector(
    engine: &Engine,
    if_exists: bool,
    name: &str,
    text: &str,
) -> Result<Json, EngineError> {
    let (status, body) = connect_request(
        engine,
        reqwest::Method::DELETE,
        &format!("/connectors/{name}"),
        None,
    )
    .await?;
    if status == 404 {
        if if_exists {
            return Ok(json!({
                "@type": "warning_entity",
                "statementText": text,
                "message": format!("Connector '{name}' does not exist."),
                "warnings": [],
            }));
        }
        return Err(EngineError::Statement(format!(
            "Connector {name} does not exist."
        )));
    }
    if status >= 300 {
        return Err(connect_error(&body));
    }
    Ok(json!({
        "@type": "drop_connector",
        "statementText": text,
        "connectorName": name,
        "warnings": [],
    }))
}

// ---- PRINT ----

/// How PRINT shows a key or value: the format it detected and the text.
fn detect(engine: &Engine, bytes: &[u8]) -> (&'static str, String) {
    if bytes.len() > 5 && bytes[0] == 0 {
        if let Some(registry) = &engine.registry {
            if let Ok((id, body)) = creek_avro::wire::split(bytes) {
                if let Some(schema) = registry.schema_by_id(id) {
                    let mut body = body;
                    let decoded =
                        apache_avro::reader::datum::GenericDatumReader::builder(&schema.avro)
                            .build()
                            .ok()
                            .and_then(|r| r.read_value(&mut body).ok());
                    if let Some(v) = decoded {
                        if let Ok(j) = Json::try_from(v) {
                            return ("AVRO", j.to_string());
                        }
                    }
                }
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        let trimmed = s.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && serde_json::from_str::<Json>(s).is_ok()
        {
            return ("JSON", s.to_string());
        }
    }
    match bytes.len() {
        4 if bytes.iter().any(|b| !b.is_ascii_graphic()) => {
            return (
                "KAFKA_INT",
                i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]).to_string(),
            )
        }
        8 if bytes.iter().any(|b| !b.is_ascii_graphic()) => {
            let mut a = [0u8; 8];
            a.copy_from_slice(bytes);
            return ("KAFKA_BIGINT", i64::from_be_bytes(a).to_string());
        }
        _ => {}
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => ("KAFKA_STRING", s.to_string()),
        Err(_) => {
            use base64::Engine as _;
            (
                "UNKNOWN",
                base64::engine::general_purpose::STANDARD.encode(bytes),
            )
        }
    }
}

fn print_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y/%m/%d %H:%M:%S%.3f Z").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `PRINT topic`: lines of text like ksqlDB's, on a channel that ends at the
/// limit or when the receiver is dropped.
pub async fn print(
    engine: &Arc<Engine>,
    topic: &str,
    from_beginning: bool,
    interval: u64,
    limit: Option<u64>,
) -> Result<tokio::sync::mpsc::Receiver<String>, EngineError> {
    // ksqlDB resolves the name case-insensitively when the exact one is missing.
    let topic = match engine.log.describe_topic(topic).await {
        Ok(d) => d,
        Err(_) => {
            let all = engine
                .log
                .list_topics()
                .await
                .map_err(|e| EngineError::Log(e.to_string()))?;
            all.into_iter()
                .find(|t| t.name.eq_ignore_ascii_case(topic))
                .ok_or_else(|| {
                    EngineError::Statement(format!(
                        "Could not find topic '{topic}', or the KSQL user does not have permissions to list the topic. Topic names are case-sensitive."
                    ))
                })?
        }
    };
    let name = topic.name.clone();
    let mut positions = Vec::new();
    for p in 0..topic.partitions {
        let spec = if from_beginning {
            OffsetSpec::Earliest
        } else {
            OffsetSpec::Latest
        };
        let o = engine
            .log
            .list_offset(&name, p, spec)
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        positions.push((p, o));
    }
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let engine = engine.clone();
    let interval = interval.max(1);
    tokio::spawn(async move {
        let mut seen: u64 = 0;
        let mut printed: u64 = 0;
        let mut announced = false;
        loop {
            let mut progress = false;
            for (partition, offset) in positions.iter_mut() {
                let Ok(fetched) = engine
                    .log
                    .fetch(&name, *partition, *offset, 1 << 20, Duration::ZERO)
                    .await
                else {
                    return;
                };
                for record in fetched.records {
                    *offset = record.offset + 1;
                    progress = true;
                    seen += 1;
                    if !(seen - 1).is_multiple_of(interval) {
                        continue;
                    }
                    let key = record.key.as_deref().map(|k| detect(&engine, k));
                    let value = record.value.as_deref().map(|v| detect(&engine, v));
                    if !announced {
                        announced = true;
                        const UNKNOWN: &str = "\u{af}\\_(\u{30c4})_/\u{af} - no data processed";
                        for (what, detected) in [("Key", &key), ("Value", &value)] {
                            let name = detected.as_ref().map(|(f, _)| *f).unwrap_or(UNKNOWN);
                            if tx.send(format!("{what} format: {name}")).await.is_err() {
                                return;
                            }
                        }
                    }
                    let line = format!(
                        "rowtime: {}, key: {}, value: {}, partition: {}",
                        print_time(record.timestamp),
                        key.map(|(_, t)| t).unwrap_or_else(|| "<null>".into()),
                        value.map(|(_, t)| t).unwrap_or_else(|| "<null>".into()),
                        record.partition
                    );
                    if tx.send(line).await.is_err() {
                        return;
                    }
                    printed += 1;
                    if limit.is_some_and(|l| printed >= l) {
                        return;
                    }
                }
            }
            if !progress {
                // Caught up: sleep until a record lands on any partition.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                tokio::select! {
                    _ = engine.log.wait_for_records(&name, &positions, deadline) => {}
                    _ = tx.closed() => return,
                }
            }
        }
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_state_summarized_as_ksqldb_does() {
        let status = |connector: &str, tasks: &[&str]| {
            serde_json::json!({"connector": {"state": connector},
                "tasks": tasks.iter().map(|t| serde_json::json!({"state": t})).collect::<Vec<_>>()})
        };
        assert_eq!(
            connector_state(&status("RUNNING", &["RUNNING"])),
            "RUNNING (1/1 tasks RUNNING)"
        );
        assert_eq!(
            connector_state(&status("RUNNING", &["FAILED"])),
            "WARNING (0/1 tasks RUNNING)"
        );
        assert_eq!(
            connector_state(&status("RUNNING", &["RUNNING", "FAILED"])),
            "RUNNING (1/2 tasks RUNNING)"
        );
        assert_eq!(
            connector_state(&status("RUNNING", &[])),
            "RUNNING (0/0 tasks RUNNING)"
        );
        assert_eq!(connector_state(&status("FAILED", &["FAILED"])), "FAILED");
        assert_eq!(connector_state(&status("PAUSED", &["PAUSED"])), "PAUSED");
    }

    #[test]
    fn hidden_topics_default_and_setting() {
        let h = HiddenTopics::new(None).unwrap();
        for t in [
            "connect-configs",
            "connect-offsets",
            "connect-status",
            "_schemas",
            "__consumer_offsets",
            "_confluent-ksql-default__command_topic",
            "_confluent-ksql-default_query_CTAS_X_1-Aggregate-Aggregate-Materialize-changelog",
        ] {
            assert!(h.is_hidden(t), "{t}");
        }
        // Whole-name matches only; the processing log is a user topic.
        for t in [
            "default_ksql_processing_log",
            "psg-customers",
            "connect-configs2",
            "my_schemas",
            "_private",
        ] {
            assert!(!h.is_hidden(t), "{t}");
        }
        let h = HiddenTopics::new(Some("secret.*, other")).unwrap();
        assert!(h.is_hidden("secret-1") && h.is_hidden("other"));
        assert!(!h.is_hidden("connect-configs"));
        assert!(h.is_hidden("_confluent-ksql-x_command_topic"));
        assert!(HiddenTopics::new(Some("(")).is_err());
    }
}
