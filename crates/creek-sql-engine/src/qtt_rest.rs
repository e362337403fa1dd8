//! Runs ksqlDB's REST query-translation tests (`ksql-qtt-rest/*.json`):
//! statements before the first query go to `/ksql` (one request each),
//! the inputs are produced, persistent queries drain, then each query runs
//! as over `/query` and its streamed response is compared with `responses`.
//!
//! The runner drives the REST layer's functions in-process (no sockets):
//! [`crate::rest::run_ksql`] for admin statements and [`crate::push::start`]
//! for queries, building `/query`'s header / row / finalMessage objects.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use creek_schema::registry::Registry;
use creek_sql::ast::Statement;
use serde_json::{json, Value as Json};

/// Partitions of the topics a REST test does not declare (ksqlDB's REST test harness uses four).
const TEST_PARTITIONS: i32 = 4;

use crate::engine::{Engine, EngineConfig};
use crate::qtt::{
    create_test_topics, decode_output, encode_input, json_matches, strip_comments, test_session,
    CaseResult, OpenStore, Outcome, TestFormats,
};

/// Runs files and prints one line per file plus the summary (like [`crate::qtt::run_paths`]).
pub async fn run_paths(
    paths: &[PathBuf],
    verbose: bool,
    open: OpenStore,
) -> Result<Vec<CaseResult>, String> {
    crate::qtt::run_paths_with(
        paths,
        verbose,
        |file| async move { run_file(&file, open).await },
    )
    .await
}

/// Runs every test (and format variant) of one file.
pub async fn run_file(path: &Path, open: OpenStore) -> Result<Vec<CaseResult>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Json = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut results = Vec::new();
    for test in doc["tests"].as_array().cloned().unwrap_or_default() {
        let name = test["name"].as_str().unwrap_or("?").to_string();
        let formats: Vec<Option<String>> = match test["format"].as_array() {
            Some(f) if !f.is_empty() => f.iter().map(|x| x.as_str().map(str::to_string)).collect(),
            _ => vec![None],
        };
        for format in formats {
            let full = match &format {
                Some(f) => format!("{stem} - {name} - {f}"),
                None => format!("{stem} - {name}"),
            };
            let outcome = run_test(&test, format.as_deref(), open).await;
            results.push(CaseResult {
                name: full,
                outcome,
            });
        }
    }
    Ok(results)
}

fn skip_reason(test: &Json, statements: &[String]) -> Option<String> {
    if test["enabled"] == Json::Bool(false) {
        return Some("disabled upstream".into());
    }
    let all = statements.join("\n").to_ascii_uppercase();
    for fmt in ["PROTOBUF", "JSON_SR"] {
        if all.contains(fmt) {
            return Some(format!("format {fmt}"));
        }
    }
    if test.get("inputConditions").is_some() {
        return Some("inputConditions".into());
    }
    None
}

async fn run_test(test: &Json, format: Option<&str>, open: OpenStore) -> Outcome {
    let statements: Vec<String> = test["statements"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str())
        .map(|s| match format {
            Some(f) => s.replace("{FORMAT}", f),
            None => s.to_string(),
        })
        .collect();
    if let Some(reason) = skip_reason(test, &statements) {
        return Outcome::Skipped(reason);
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(format!("tempdir: {e}")),
    };
    let run = tokio::time::timeout(
        Duration::from_secs(30),
        run_in(test, &statements, dir.path(), open),
    );
    match run.await {
        Ok(Ok(())) => Outcome::Passed,
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed("timed out".into()),
    }
}

/// An error response's status and body.
async fn error_of(r: Response) -> (u16, Json) {
    let status = r.status().as_u16();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Json::Null);
    (status, body)
}

/// Checks an error against `expectedError`; `Ok` when it was expected.
fn check_error(test: &Json, status: u16, body: &Json) -> Result<(), String> {
    let Some(expected) = test.get("expectedError") else {
        return Err(format!("unexpected error {status}: {body}"));
    };
    if let Some(s) = expected["status"].as_u64() {
        if s != status as u64 {
            return Err(format!("expected status {s}, got {status}: {body}"));
        }
    }
    let message = body["message"].as_str().unwrap_or_default();
    if let Some(m) = expected["message"].as_str() {
        if !message.contains(m) {
            return Err(format!("expected error message {m:?}, got {message:?}"));
        }
    }
    Ok(())
}

async fn run_in(
    test: &Json,
    statements: &[String],
    dir: &Path,
    open: OpenStore,
) -> Result<(), String> {
    let store = open(dir)?;
    let registry = Registry::open(store.clone())
        .await
        .map_err(|e| e.to_string())?;
    let engine = Engine::new(
        store.clone(),
        Some(registry.clone()),
        EngineConfig {
            service_id: "some.ksql.service.id".into(),
            default_partitions: 1,
            spawn_queries: false,
            connect_url: None,
            state_limits: Default::default(),
        },
    );
    let mut session = test_session(test, None);
    let mut formats = TestFormats::default();
    // Declared topics, then those named by statements and records, with
    // upstream's four partitions: a table scan reads partition by partition,
    // so the rows' order depends on it.
    let topic_schemas =
        create_test_topics(test, statements, &store, &registry, TEST_PARTITIONS).await?;

    // Statements up to the first query go to /ksql.
    let mut parsed = Vec::new();
    for s in statements {
        match creek_sql::parse_script(s) {
            Ok(p) => parsed.extend(p.into_iter().map(|p| (p.statement, p.text))),
            Err(e) => {
                let r = crate::rest::engine_error(&crate::EngineError::Parse(e), s);
                let (status, body) = error_of(r).await;
                return check_error(test, status, &body);
            }
        }
    }
    let first_query = parsed
        .iter()
        .position(|(s, _)| matches!(s, Statement::Query(_) | Statement::Print { .. }))
        .unwrap_or(parsed.len());
    let expected: Vec<Json> = test["responses"].as_array().cloned().unwrap_or_default();
    let mut responses: Vec<Json> = Vec::new();
    for (_, text) in &parsed[..first_query] {
        match crate::rest::run_ksql(&engine, text, &mut session).await {
            Ok(entities) => responses.extend(entities.into_iter().map(|e| json!({"admin": e}))),
            Err(r) => {
                let (status, body) = error_of(r).await;
                return check_error(test, status, &body);
            }
        }
    }

    // Inputs, then let the persistent queries catch up.
    let metastore = engine.metastore();
    for record in test["inputs"].as_array().into_iter().flatten() {
        let topic = record["topic"].as_str().unwrap_or_default();
        let source = metastore
            .sources
            .values()
            .find(|s| s.topic == topic)
            .cloned();
        // A stream without key columns never reads the key.
        let mut record = record.clone();
        if source
            .as_ref()
            .is_some_and(|s| s.key_columns().next().is_none())
        {
            if let Some(obj) = record.as_object_mut() {
                obj.remove("key");
            }
        }
        let record = &record;
        let produced = encode_input(
            &mut formats,
            &engine,
            source.as_deref(),
            topic_schemas.get(topic),
            record,
        )
        .await
        .map_err(|e| format!("encoding input: {e}"))?;
        // Without an explicit partition, the producer's default partitioner.
        let partitions = store
            .describe_topic(topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let partition = match record["partition"].as_i64() {
            Some(p) => p as i32,
            None => crate::query::partition_for(produced.key.as_deref(), partitions),
        };
        store
            .produce(topic, partition, vec![produced])
            .await
            .map_err(|e| e.to_string())?;
    }
    engine.run_until_idle().await.map_err(|e| e.to_string())?;

    // Queries, as /query streams them.
    for (statement, text) in &parsed[first_query..] {
        let Statement::Query(q) = statement else {
            return Err("PRINT is not checked by this runner".into());
        };
        let index = responses.len();
        let want_rows = expected
            .get(index)
            .and_then(|r| r["query"].as_array())
            .map(|rows| rows.iter().filter(|r| r.get("row").is_some()).count())
            .unwrap_or(0);
        let mut push = match crate::push::start(&engine, q, text, &session).await {
            Ok(p) => p,
            Err(e) => {
                let (status, body) = error_of(crate::rest::engine_error(&e, text)).await;
                return check_error(test, status, &body);
            }
        };
        let mut rows =
            vec![json!({"header": {"queryId": push.query_id, "schema": push.schema_text()}})];
        let mut count = 0u64;
        let mut ended = false;
        loop {
            // Without a LIMIT a push query never ends: stop once the expected rows came.
            let wait = if push.limit.is_none() && !push.pull && count as usize >= want_rows {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(5)
            };
            match tokio::time::timeout(wait, push.rows.recv()).await {
                Ok(Some(row)) => {
                    count += 1;
                    rows.push(row.to_json());
                }
                Ok(None) => {
                    ended = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if ended {
            if let Some(m) = push.final_message(count) {
                rows.push(json!({"finalMessage": m}));
            }
        }
        responses.push(json!({"query": rows}));
    }
    if test.get("expectedError").is_some() {
        return Err("expected an error, but none occurred".into());
    }

    check_outputs(&engine, test).await?;

    // Compare.
    if responses.len() < expected.len() {
        return Err(format!(
            "expected {} responses, got {}",
            expected.len(),
            responses.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(&responses).enumerate() {
        if let Some(admin) = want.get("admin") {
            let Some(got_admin) = got.get("admin") else {
                return Err(format!(
                    "response {i}: expected an admin response, got {got}"
                ));
            };
            for (k, v) in admin.as_object().into_iter().flatten() {
                if got_admin.get(k) != Some(v) {
                    return Err(format!("response {i}: {k}: expected {v}, got {got_admin}"));
                }
            }
        } else if let Some(query) = want.get("query").and_then(Json::as_array) {
            let Some(got_rows) = got.get("query").and_then(Json::as_array) else {
                return Err(format!(
                    "response {i}: expected a query response, got {got}"
                ));
            };
            if query.len() != got_rows.len() {
                return Err(format!(
                    "response {i}: expected {} items, got {}: {}",
                    query.len(),
                    got_rows.len(),
                    Json::Array(got_rows.clone())
                ));
            }
            for (w, g) in query.iter().zip(got_rows) {
                let ok = if let Some(h) = w.get("header") {
                    h.as_object()
                        .into_iter()
                        .flatten()
                        .all(|(k, v)| k == "queryId" || g["header"].get(k) == Some(v))
                } else if let Some(r) = w.get("row") {
                    json_matches(&r["columns"], &g["row"]["columns"])
                } else {
                    w == g
                };
                if !ok {
                    return Err(format!("response {i}: expected {w}, got {g}"));
                }
            }
        }
    }
    Ok(())
}

/// Checks `outputs`: the records of each named topic, in order (partition by
/// partition), decoded with the format of the source over the topic.
async fn check_outputs(engine: &Arc<Engine>, test: &Json) -> Result<(), String> {
    let expected: Vec<&Json> = test["outputs"].as_array().into_iter().flatten().collect();
    let mut topics: Vec<String> = Vec::new();
    for e in &expected {
        let t = e["topic"].as_str().unwrap_or_default().to_string();
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    let metastore = engine.metastore();
    for topic in topics {
        let want: Vec<&&Json> = expected
            .iter()
            .filter(|e| e["topic"].as_str() == Some(topic.as_str()))
            .collect();
        let partitions = engine
            .log
            .describe_topic(&topic)
            .await
            .map(|d| d.partitions)
            .map_err(|e| format!("output topic {topic}: {e}"))?;
        let mut got = Vec::new();
        for p in 0..partitions {
            let mut offset = 0;
            loop {
                let fetched = engine
                    .log
                    .fetch(&topic, p, offset, 1 << 20, Duration::ZERO)
                    .await
                    .map_err(|e| e.to_string())?;
                if fetched.records.is_empty() {
                    break;
                }
                for r in fetched.records {
                    offset = r.offset + 1;
                    got.push(creek_store::ProducerRecord {
                        key: r.key,
                        value: r.value,
                        headers: r.headers,
                        timestamp: Some(r.timestamp),
                    });
                }
            }
        }
        if got.len() != want.len() {
            return Err(format!(
                "topic {topic}: expected {} records, got {}",
                want.len(),
                got.len()
            ));
        }
        let source = metastore
            .sources
            .values()
            .find(|s| s.topic == topic)
            .cloned();
        for (i, (w, g)) in want.iter().zip(&got).enumerate() {
            let (key, value) =
                decode_output(&mut TestFormats::default(), engine, source.as_deref(), g).await?;
            if !json_matches(&w["value"], &value) {
                return Err(format!(
                    "topic {topic} record {i}: value {value} != expected {}",
                    w["value"]
                ));
            }
            let want_key = w.get("key").cloned().unwrap_or(Json::Null);
            if !json_matches(&want_key, &key) {
                return Err(format!(
                    "topic {topic} record {i}: key {key} != expected {want_key}"
                ));
            }
            if let Some(ts) = w.get("timestamp").and_then(Json::as_i64) {
                if g.timestamp != Some(ts) {
                    return Err(format!(
                        "topic {topic} record {i}: timestamp {:?} != expected {ts}",
                        g.timestamp
                    ));
                }
            }
        }
    }
    Ok(())
}
