//! ksqlDB's REST API over the engine: `/ksql`, `/query`, `/query-stream`,
//! `/close-query`, `/inserts-stream`, `/info`, `/healthcheck`, `/status`.
//!
//! Every request is its own session: properties come from the request's
//! `streamsProperties` (or `properties`), variables from `sessionVariables`.

#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use creek_sql::ast::Statement;
use parking_lot::Mutex;
use serde_json::{json, Map, Value as Json};

use crate::engine::{Engine, Session};

mod inserts;
use crate::transient::PushQuery;
use crate::EngineError;

/// The version `/info` reports.
pub const VERSION: &str = "7.6.0-creek";

/// Error codes ksqlDB answers with.
pub const BAD_STATEMENT: i64 = 40001;
pub const QUERY_ENDPOINT: i64 = 40002;
pub const SERVER_ERROR: i64 = 50000;

/// A push query streaming to a client.
struct RunningPush {
    statement: String,
    stop: tokio::sync::watch::Sender<bool>,
}

struct RestState {
    engine: Arc<Engine>,
    cluster_id: String,
    /// Running push queries (`/query`, `/query-stream`) by id.
    running: Mutex<HashMap<String, RunningPush>>,
    /// Server shutdown: streaming responses end so connections can close.
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

/// The ksqlDB REST router for `engine`; `cluster_id` is the Kafka cluster id `/info` shows.
pub fn router(engine: Arc<Engine>, cluster_id: impl Into<String>) -> Router {
    build_router(engine, cluster_id.into(), None)
}

/// [`router`] whose streaming responses (push queries, PRINT) end when
/// `shutdown` becomes true, so a graceful server shutdown does not wait on them.
pub fn router_with_shutdown(
    engine: Arc<Engine>,
    cluster_id: impl Into<String>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Router {
    build_router(engine, cluster_id.into(), Some(shutdown))
}

fn build_router(
    engine: Arc<Engine>,
    cluster_id: String,
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
) -> Router {
    let state = Arc::new(RestState {
        engine,
        cluster_id,
        running: Mutex::new(HashMap::new()),
        shutdown,
    });
    Router::new()
        .route("/ksql", post(ksql))
        .route("/ksql/terminate", post(terminate_cluster))
        .route("/query", post(query))
        .route("/query-stream", post(query_stream))
        .route("/close-query", post(close_query))
        .route("/inserts-stream", post(inserts_stream))
        .route("/info", get(info))
        .route("/healthcheck", get(healthcheck))
        .route("/status", get(status))
        .with_state(state)
}

impl RestState {
    /// Records a running push query; the receiver fires when it is to stop.
    fn register(&self, query_id: &str, statement: &str) -> tokio::sync::watch::Receiver<bool> {
        let (stop, rx) = tokio::sync::watch::channel(false);
        self.running.lock().insert(
            query_id.to_string(),
            RunningPush {
                statement: statement.to_string(),
                stop,
            },
        );
        rx
    }
}

async fn info(State(st): State<Arc<RestState>>) -> Response {
    axum::Json(json!({
        "KsqlServerInfo": {
            "version": VERSION,
            "kafkaClusterId": st.cluster_id,
            "ksqlServiceId": st.engine.config.service_id,
            "serverStatus": "RUNNING",
        }
    }))
    .into_response()
}

async fn healthcheck() -> Response {
    axum::Json(json!({
        "isHealthy": true,
        "details": {
            "metastore": {"isHealthy": true},
            "kafka": {"isHealthy": true},
            "commandRunner": {"isHealthy": true},
        }
    }))
    .into_response()
}

async fn status() -> Response {
    axum::Json(json!({"commandStatuses": {}})).into_response()
}

async fn terminate_cluster() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        BAD_STATEMENT,
        "not supported yet: /ksql/terminate".into(),
        None,
    )
}

/// ksqlDB's error body.
pub fn error_body(code: i64, message: &str, statement: Option<&str>) -> Json {
    match statement {
        Some(text) => json!({
            "@type": "statement_error",
            "error_code": code,
            "message": message,
            "statementText": text,
            "entities": [],
        }),
        None => json!({
            "@type": "generic_error",
            "error_code": code,
            "message": message,
        }),
    }
}

fn error_response(
    status: StatusCode,
    code: i64,
    message: String,
    statement: Option<&str>,
) -> Response {
    (status, axum::Json(error_body(code, &message, statement))).into_response()
}

pub fn engine_error(e: &EngineError, statement: &str) -> Response {
    engine_error_for(e, statement, false)
}

/// A failed statement's response. Secret connector values never appear in it
/// (the statement is masked, a message quoting a secret is scrubbed). Its log
/// line carries `rejected = true`, by which `creek up`'s log bounds how many a
/// client flooding bad statements can write (a few per interval, then a summary).
/// `full_syntax` (the `/ksql` endpoint): a syntax error's message keeps the
/// parser's detail — what was expected, the hint — as ksqlDB's `/ksql` answers
/// since 0.28; `/query` answers only its first line, as ksqlDB's conformance
/// files expect.
fn engine_error_for(e: &EngineError, statement: &str, full_syntax: bool) -> Response {
    let (status, code) = match e {
        EngineError::Log(_) | EngineError::QueryFailed(_) | EngineError::Rebalanced(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR)
        }
        _ => (StatusCode::BAD_REQUEST, BAD_STATEMENT),
    };
    let masked = creek_sql::mask::mask_secrets(statement);
    let secrets = creek_sql::mask::secret_values(statement);
    let mut message = creek_sql::mask::scrub(&e.to_string(), &secrets);
    if let EngineError::Parse(_) = e {
        let first = message.lines().next().unwrap_or_default().to_string();
        if first.ends_with("Syntax Error") {
            tracing::info!(rejected = true, statement = %masked, "syntax error: {message}");
            message = if full_syntax {
                format!("{message}\n\nStatement: {masked}")
            } else {
                format!("{first}\n\nStatement: {masked}")
            };
        }
    }
    error_response(status, code, message, Some(&masked))
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A request's session from its properties and variables.
fn session_of(body: &Json, props_key: &str) -> Session {
    let mut session = Session::default();
    if let Some(props) = body.get(props_key).and_then(Json::as_object) {
        for (k, v) in props {
            session.properties.insert(k.clone(), json_text(v));
        }
        // The CLI sends streams settings prefixed (`ksql.streams.auto.offset.reset`).
        for (k, v) in props {
            if let Some(short) = k.strip_prefix("ksql.streams.") {
                session
                    .properties
                    .entry(short.to_string())
                    .or_insert_with(|| json_text(v));
            }
        }
    }
    if let Some(vars) = body.get("sessionVariables").and_then(Json::as_object) {
        for (k, v) in vars {
            session.variables.insert(k.clone(), json_text(v));
        }
    }
    session
}

fn parse_body(body: &Bytes) -> Result<Json, Response> {
    serde_json::from_slice::<Json>(body).map_err(|e| {
        error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            format!("Invalid request body: {e}"),
            None,
        )
    })
}

/// One parsed statement with its (substituted) text.
struct Parsed {
    statement: Statement,
    text: String,
}

/// Splits a request's SQL into statements; variables defined earlier in the
/// same request apply to later statements, so substitution happens per statement.
fn split(sql: &str) -> Result<Vec<(Statement, String)>, EngineError> {
    Ok(creek_sql::parse_script(sql)?
        .into_iter()
        .map(|p| (p.statement, p.text.trim().to_string()))
        .collect())
}

fn substituted(
    statement: Statement,
    text: String,
    session: &Session,
) -> Result<Parsed, EngineError> {
    if !text.contains("${") {
        return Ok(Parsed { statement, text });
    }
    let text = Engine::substitute(&text, session)?;
    let statement = creek_sql::parse_statement(&text)?;
    Ok(Parsed { statement, text })
}

const QUERY_ENDPOINT_MESSAGE: &str =
    "The following statement types should be issued to the websocket endpoint '/query':\n\t* PRINT\n\t* SELECT";

/// Runs every statement of a `/ksql` request; the entities, or the first error.
pub async fn run_ksql(
    engine: &Arc<Engine>,
    sql: &str,
    session: &mut Session,
) -> Result<Vec<Json>, Response> {
    run_ksql_with(engine, sql, session, None).await
}

/// The push queries as SHOW QUERIES lists them.
fn push_query_entries(st: &RestState) -> Vec<Json> {
    let running = st.running.lock();
    let mut ids: Vec<&String> = running.keys().collect();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            json!({
                "queryString": running[id].statement,
                "sinks": [],
                "sinkKafkaTopics": [],
                "id": id,
                "statusCount": {"RUNNING": 1},
                "queryType": "PUSH",
                "state": "RUNNING",
            })
        })
        .collect()
}

async fn run_ksql_with(
    engine: &Arc<Engine>,
    sql: &str,
    session: &mut Session,
    rest: Option<&RestState>,
) -> Result<Vec<Json>, Response> {
    let statements = split(sql).map_err(|e| engine_error_for(&e, sql.trim(), true))?;
    let mut entities = Vec::new();
    for (statement, text) in statements {
        let parsed = substituted(statement, text.clone(), session)
            .map_err(|e| engine_error_for(&e, &text, true))?;
        if matches!(
            parsed.statement,
            Statement::Query(_) | Statement::Print { .. }
        ) {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                QUERY_ENDPOINT,
                QUERY_ENDPOINT_MESSAGE.into(),
                Some(&parsed.text),
            ));
        }
        if let (Some(st), Statement::Terminate(Some(id))) = (rest, &parsed.statement) {
            let found = {
                let mut running = st.running.lock();
                let key = running.keys().find(|k| k.eq_ignore_ascii_case(id)).cloned();
                key.and_then(|k| running.remove(&k))
            };
            if let Some(push) = found {
                let _ = push.stop.send(true);
                entities.push(json!({
                    "@type": "currentStatus",
                    "statementText": parsed.text,
                    "commandStatus": {"status": "SUCCESS", "message": "Query terminated.", "queryId": null},
                    "commandSequenceNumber": -1,
                    "warnings": [],
                }));
                continue;
            }
        }
        tracing::info!(statement = %creek_sql::mask::mask_secrets(&parsed.text), "executing");
        match engine
            .execute(&parsed.statement, &parsed.text, session)
            .await
        {
            Ok(mut entity) => {
                if let Some(st) = rest {
                    if entity["@type"] == "queries" {
                        if let Some(list) = entity["queries"].as_array_mut() {
                            list.extend(push_query_entries(st));
                        }
                    }
                }
                entities.push(entity)
            }
            Err(e) => {
                let secrets = creek_sql::mask::secret_values(&parsed.text);
                tracing::warn!(
                    rejected = true,
                    statement = %creek_sql::mask::mask_secrets(&parsed.text),
                    "statement failed: {}",
                    creek_sql::mask::scrub(&e.to_string(), &secrets)
                );
                return Err(engine_error_for(&e, &parsed.text, true));
            }
        }
    }
    Ok(entities)
}

async fn ksql(State(st): State<Arc<RestState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(sql) = body.get("ksql").and_then(Json::as_str) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            "Request is missing the 'ksql' field".into(),
            None,
        );
    };
    let mut session = session_of(&body, "streamsProperties");
    match run_ksql_with(&st.engine, sql, &mut session, Some(&st)).await {
        Ok(entities) => axum::Json(Json::Array(entities)).into_response(),
        Err(r) => r,
    }
}

/// The single statement of a `/query` or `/query-stream` request.
fn single_statement(sql: &str, session: &Session) -> Result<Parsed, Response> {
    let mut statements = split(sql).map_err(|e| engine_error(&e, sql.trim()))?;
    if statements.len() != 1 {
        return Err(error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            format!(
                "Expected exactly one KSQL statement; found {} instead",
                statements.len()
            ),
            Some(sql.trim()),
        ));
    }
    let (statement, text) = statements.remove(0);
    substituted(statement, text.clone(), session).map_err(|e| engine_error(&e, &text))
}

/// Resolves once `rx` is true; never when its sender is gone.
async fn fired(rx: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// A streamed body fed by a task through a channel; it ends early at shutdown.
fn channel_body(
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
) -> (tokio::sync::mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    let stream = futures::stream::unfold((rx, shutdown), |(mut rx, mut shutdown)| async move {
        let next = match shutdown.as_mut() {
            Some(sd) => tokio::select! {
                b = rx.recv() => b,
                _ = fired(sd) => None,
            },
            None => rx.recv().await,
        };
        next.map(|b| (Ok::<Bytes, Infallible>(b), (rx, shutdown)))
    });
    (tx, Body::from_stream(stream))
}

async fn start_push(
    engine: &Arc<Engine>,
    parsed: &Parsed,
    session: &Session,
) -> Result<PushQuery, Response> {
    match &parsed.statement {
        Statement::Query(q) => crate::push::start(engine, q, &parsed.text, session)
            .await
            .map_err(|e| engine_error(&e, &parsed.text)),
        other => Err(error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            format!(
                "Statement type `{}' not supported for this resource",
                crate::engine::statement_kind(other)
            ),
            Some(&parsed.text),
        )),
    }
}

async fn query(State(st): State<Arc<RestState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(sql) = body.get("ksql").and_then(Json::as_str) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            "Request is missing the 'ksql' field".into(),
            None,
        );
    };
    let session = session_of(&body, "streamsProperties");
    let parsed = match single_statement(sql, &session) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if let Statement::Print {
        topic,
        from_beginning,
        interval,
        limit,
    } = &parsed.statement
    {
        let lines = match crate::engine::show::print(
            &st.engine,
            topic,
            *from_beginning,
            interval.unwrap_or(1),
            *limit,
        )
        .await
        {
            Ok(l) => l,
            Err(e) => return engine_error(&e, &parsed.text),
        };
        let (tx, body) = channel_body(st.shutdown.clone());
        tokio::spawn(async move {
            let mut lines = lines;
            while let Some(line) = lines.recv().await {
                if tx.send(Bytes::from(line + "\n")).await.is_err() {
                    return;
                }
            }
        });
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/plain")
            .body(body)
            .unwrap();
    }
    let mut push = match start_push(&st.engine, &parsed, &session).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (tx, body) = channel_body(st.shutdown.clone());
    let header_row = json!({"header": {"queryId": push.query_id, "schema": push.schema_text()}});
    let mut stop_rx = st.register(&push.query_id, &parsed.text);
    let state = st.clone();
    tokio::spawn(async move {
        let query_id = push.query_id.clone();
        // Each object ends its own line (`,\n` after it) so line readers get
        // rows at once; the final message closes the array.
        let mut ok = tx
            .send(Bytes::from(format!("[{header_row},\n")))
            .await
            .is_ok();
        let mut count: u64 = 0;
        let mut stopped = false;
        while ok {
            tokio::select! {
                row = push.rows.recv() => match row {
                    Some(row) => {
                        let line = format!("{},\n", row.to_json());
                        ok = tx.send(Bytes::from(line)).await.is_ok();
                        count += 1;
                    }
                    None => break,
                },
                _ = stop_rx.changed() => {
                    stopped = true;
                    break;
                }
            }
        }
        if ok {
            let message = match push.final_message(count) {
                Some(m) if !stopped => m,
                _ => "Query terminated",
            };
            let end = format!("{}]\n", json!({"finalMessage": message}));
            let _ = tx.send(Bytes::from(end)).await;
        }
        state.running.lock().remove(&query_id);
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .unwrap()
}

const DELIMITED: &str = "application/vnd.ksqlapi.delimited.v1";

async fn query_stream(
    State(st): State<Arc<RestState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(sql) = body.get("sql").and_then(Json::as_str) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            "Request is missing the 'sql' field".into(),
            None,
        );
    };
    let as_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains(DELIMITED));
    let session = session_of(&body, "properties");
    let parsed = match single_statement(sql, &session) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut push = match start_push(&st.engine, &parsed, &session).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let meta = json!({
        "queryId": push.query_id,
        "columnNames": push.columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
        "columnTypes": push.columns.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(),
    });
    let query_id = push.query_id.clone();
    let mut stop_rx = st.register(&query_id, &parsed.text);
    let (tx, out) = channel_body(st.shutdown.clone());
    let state = st.clone();
    tokio::spawn(async move {
        // JSON: one array (separators before items); delimited: one line per item.
        let (open, sep, end, close) = if as_json {
            ("[", ",\n", "", "]\n")
        } else {
            ("", "", "\n", "")
        };
        let mut ok = tx
            .send(Bytes::from(format!("{open}{meta}{end}")))
            .await
            .is_ok();
        while ok {
            tokio::select! {
                row = push.rows.recv() => match row {
                    Some(row) => {
                        ok = tx
                            .send(Bytes::from(format!("{sep}{}{end}", Json::Array(row.columns))))
                            .await
                            .is_ok();
                    }
                    None => break,
                },
                _ = stop_rx.changed() => break,
            }
        }
        if ok && !close.is_empty() {
            let _ = tx.send(Bytes::from(close)).await;
        }
        state.running.lock().remove(&query_id);
    });
    Response::builder()
        .header(
            header::CONTENT_TYPE,
            if as_json {
                "application/json"
            } else {
                DELIMITED
            },
        )
        .body(out)
        .unwrap()
}

async fn inserts_stream(State(st): State<Arc<RestState>>, body: Body) -> Response {
    inserts::inserts_stream(st.engine.clone(), body, st.shutdown.clone()).await
}

async fn close_query(State(st): State<Arc<RestState>>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let id = body.get("queryId").and_then(Json::as_str).unwrap_or("");
    let stop = st.running.lock().remove(id);
    match stop {
        Some(push) => {
            let _ = push.stop.send(true);
            StatusCode::OK.into_response()
        }
        None => error_response(
            StatusCode::BAD_REQUEST,
            BAD_STATEMENT,
            format!("No query with id {id}"),
            None,
        ),
    }
}

/// Builds a `/ksql` request body (tests, clients).
pub fn ksql_request(sql: &str, properties: &[(&str, &str)]) -> Json {
    let props: Map<String, Json> = properties
        .iter()
        .map(|(k, v)| (k.to_string(), Json::String(v.to_string())))
        .collect();
    json!({"ksql": sql, "streamsProperties": props})
}
