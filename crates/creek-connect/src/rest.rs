//! Kafka Connect's REST API over the [`Worker`].

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::config;
use crate::converter;
use crate::error::ConnectError;
use crate::runtime::{ConnectorInfo, ConnectorStatus, TargetState, Worker};

/// Kafka Connect version creek's REST API reports.
pub const CONNECT_VERSION: &str = "3.7.0";

impl IntoResponse for ConnectError {
    fn into_response(self) -> Response {
        let status = match &self {
            ConnectError::NotFound(_) => StatusCode::NOT_FOUND,
            ConnectError::Conflict(_) => StatusCode::CONFLICT,
            ConnectError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ConnectError::BadRequest(_) | ConnectError::InvalidConfig { .. } => {
                StatusCode::BAD_REQUEST
            }
            ConnectError::Task(_) | ConnectError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ConnectError::NotSupported(_) => StatusCode::NOT_IMPLEMENTED,
        };
        (
            status,
            Json(json!({"error_code": status.as_u16(), "message": self.to_string()})),
        )
            .into_response()
    }
}

type Result<T> = std::result::Result<T, ConnectError>;

pub fn router(worker: Worker) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/connector-plugins", get(plugins))
        .route("/connector-plugins/{class}/config", get(plugin_config))
        .route("/connector-plugins/{class}/config/validate", put(validate))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(get_config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route(
            "/connectors/{name}/offsets",
            get(offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route("/admin/loggers", any(loggers))
        .route("/admin/loggers/{logger}", any(loggers))
        .fallback(|| async { ConnectError::NotFound("HTTP 404 Not Found".into()) })
        .method_not_allowed_fallback(|| async {
            ConnectError::MethodNotAllowed("HTTP 405 Method Not Allowed".into())
        })
        .with_state(worker)
}

/// Parses a JSON body ourselves so malformed input gets Connect's error shape.
fn body_json(body: &str) -> Result<Value> {
    serde_json::from_str(body)
        .map_err(|e| ConnectError::BadRequest(format!("Request body is not valid JSON: {e}")))
}

fn config_map(v: &Value) -> Result<BTreeMap<String, String>> {
    let obj = v
        .as_object()
        .ok_or_else(|| ConnectError::BadRequest("Connector config must be a JSON object".into()))?;
    config::normalize(obj).map_err(|p| ConnectError::BadRequest(p.message))
}

async fn root(State(w): State<Worker>) -> Json<Value> {
    Json(
        json!({"version": CONNECT_VERSION, "commit": concat!("creek-", env!("CARGO_PKG_VERSION")), "kafka_cluster_id": w.kafka_cluster_id()}),
    )
}

/// KIP-1017's health check: the worker answers once it has started.
async fn health() -> Json<Value> {
    Json(
        json!({"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}),
    )
}

/// `?connectorsOnly=false` also lists the converters creek implements (and the
/// header converter it behaves as); creek has no transformations or predicates.
async fn plugins(
    State(w): State<Worker>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let mut out: Vec<Value> = w
        .registry()
        .plugins()
        .iter()
        .map(|p| json!({"class": p.class, "type": p.kind().name(), "version": p.version()}))
        .collect();
    let connectors_only = q
        .get("connectorsOnly")
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    if !connectors_only {
        let version = env!("CARGO_PKG_VERSION");
        for class in [
            converter::AVRO,
            converter::BYTE_ARRAY,
            converter::JSON,
            converter::STRING,
        ] {
            out.push(json!({"class": class, "type": "converter", "version": version}));
        }
        out.push(
            json!({"class": "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            "type": "header_converter", "version": version}),
        );
    }
    Json(Value::Array(out))
}

/// KIP-769's `GET /connector-plugins/{class}/config`: the definitions of the keys
/// the class accepts.
async fn plugin_config(State(w): State<Worker>, Path(class): Path<String>) -> Result<Json<Value>> {
    let plugin = w
        .registry()
        .find(&class)
        .ok_or_else(|| ConnectError::NotFound(format!("Unknown plugin {class}.")))?;
    Ok(Json(Value::Array(config::definitions(
        &(plugin.create)().config_keys(),
    ))))
}

async fn validate(
    State(w): State<Worker>,
    Path(class): Path<String>,
    body: String,
) -> Result<Json<Value>> {
    let cfg = config_map(&body_json(&body)?)?;
    if !cfg.contains_key("connector.class") {
        return Err(ConnectError::BadRequest(
            "Connector config contains no connector type".into(),
        ));
    }
    let (keys, review) = w.validate(&class, &cfg).await?;
    let full = w.registry().find(&class).map(|p| p.class).unwrap_or(&class);
    Ok(Json(config::validate_response(full, &keys, &cfg, &review)))
}

fn info_json(i: &ConnectorInfo) -> Value {
    let tasks: Vec<Value> = (0..i.tasks)
        .map(|t| json!({"connector": i.name, "task": t}))
        .collect();
    json!({"name": i.name, "config": i.config, "tasks": tasks, "type": i.kind})
}

fn status_json(s: &ConnectorStatus) -> Value {
    let mut connector =
        json!({"state": s.state.name(), "worker_id": s.worker_id, "version": s.version});
    if let crate::runtime::State::Failed(t) = &s.state {
        connector["trace"] = json!(t);
    }
    let tasks: Vec<Value> = s
        .tasks
        .iter()
        .enumerate()
        .map(|(id, (t, worker_id))| task_json(id, t, worker_id, s.version))
        .collect();
    json!({"name": s.name, "connector": connector, "tasks": tasks, "type": s.kind})
}

fn task_json(id: usize, t: &crate::runtime::State, worker_id: &str, version: &str) -> Value {
    let mut v = json!({"id": id, "state": t.name(), "worker_id": worker_id, "version": version});
    if let crate::runtime::State::Failed(trace) = t {
        v["trace"] = json!(trace);
    }
    v
}

async fn list(
    State(w): State<Worker>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>> {
    let expand: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "expand")
        .map(|(_, v)| v.as_str())
        .collect();
    if expand.is_empty() {
        return Ok(Json(json!(w.names())));
    }
    let mut out = serde_json::Map::new();
    for name in w.names() {
        let mut entry = serde_json::Map::new();
        if expand.contains(&"status") {
            if let Ok(s) = w.status(&name) {
                entry.insert("status".into(), status_json(&s));
            }
        }
        if expand.contains(&"info") {
            if let Ok(i) = w.info(&name) {
                entry.insert("info".into(), info_json(&i));
            }
        }
        out.insert(name, Value::Object(entry));
    }
    Ok(Json(Value::Object(out)))
}

async fn create(State(w): State<Worker>, body: String) -> Result<(StatusCode, Json<Value>)> {
    let v = body_json(&body)?;
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ConnectError::BadRequest(
                "Connector name must be given in the request body (\"name\")".into(),
            )
        })?
        .to_string();
    let cfg = config_map(v.get("config").ok_or_else(|| {
        ConnectError::BadRequest(
            "Connector config must be given in the request body (\"config\")".into(),
        )
    })?)?;
    let info = w.create(&name, cfg).await?;
    Ok((StatusCode::CREATED, Json(info_json(&info))))
}

async fn info(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    Ok(Json(info_json(&w.info(&name)?)))
}

async fn get_config(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    Ok(Json(json!(w.info(&name)?.config)))
}

/// Connect's PATCH: the body's keys replace the stored ones; `null` removes a key.
async fn patch_config(
    State(w): State<Worker>,
    Path(name): Path<String>,
    body: String,
) -> Result<Json<Value>> {
    let v = body_json(&body)?;
    let obj = v
        .as_object()
        .ok_or_else(|| ConnectError::BadRequest("Connector config must be a JSON object".into()))?;
    let set = config::normalize(obj).map_err(|p| ConnectError::BadRequest(p.message))?;
    let mut patch: BTreeMap<String, Option<String>> = obj
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| (k.clone(), None))
        .collect();
    patch.extend(set.into_iter().map(|(k, v)| (k, Some(v))));
    Ok(Json(info_json(&w.patch_config(&name, patch).await?)))
}

async fn put_config(
    State(w): State<Worker>,
    Path(name): Path<String>,
    body: String,
) -> Result<(StatusCode, Json<Value>)> {
    let cfg = config_map(&body_json(&body)?)?;
    let (created, info) = w.put_config(&name, cfg).await?;
    Ok((
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        Json(info_json(&info)),
    ))
}

async fn delete(State(w): State<Worker>, Path(name): Path<String>) -> Result<StatusCode> {
    w.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn status(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    Ok(Json(status_json(&w.status(&name)?)))
}

async fn tasks(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    let tasks: Vec<Value> = w
        .task_configs(&name)?
        .into_iter()
        .enumerate()
        .map(|(t, cfg)| json!({"id": {"connector": name, "task": t}, "config": cfg}))
        .collect();
    Ok(Json(Value::Array(tasks)))
}

async fn task_status(
    State(w): State<Worker>,
    Path((name, task)): Path<(String, usize)>,
) -> Result<Json<Value>> {
    let s = w.status(&name)?;
    let t = s
        .tasks
        .get(task)
        .ok_or_else(|| ConnectError::NotFound(format!("Task {name}-{task} not found")))?;
    Ok(Json(task_json(task, &t.0, &t.1, s.version)))
}

async fn restart_task(
    State(w): State<Worker>,
    Path((name, task)): Path<(String, usize)>,
) -> Result<StatusCode> {
    w.restart_task(&name, task).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connect's restart: 204 for the plain form; with `includeTasks` / `onlyFailed`, 202
/// and the status, restarted tasks shown RESTARTING until they report.
async fn restart(
    State(w): State<Worker>,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response> {
    let flag = |k: &str| -> Result<Option<bool>> {
        match q.get(k).map(|v| v.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) if v == "true" => Ok(Some(true)),
            Some(v) if v == "false" => Ok(Some(false)),
            Some(v) => Err(ConnectError::BadRequest(format!(
                "Invalid value {v} for query parameter {k}: expected true or false"
            ))),
        }
    };
    let include_tasks = flag("includeTasks")?.unwrap_or(false);
    let only_failed = flag("onlyFailed")?.unwrap_or(false);
    let restarted = w.restart(&name, include_tasks, only_failed).await?;
    // As Connect: with both false (also when given so), the old form's 204.
    if !include_tasks && !only_failed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut status = status_json(&w.status(&name)?);
    if let Some(tasks) = status["tasks"].as_array_mut() {
        for t in tasks {
            let id = t["id"].as_u64().unwrap_or(u64::MAX) as usize;
            if restarted.contains(&id) && t["state"] == "UNASSIGNED" {
                t["state"] = json!("RESTARTING");
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(status)).into_response())
}

async fn pause(State(w): State<Worker>, Path(name): Path<String>) -> Result<StatusCode> {
    w.pause(&name).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resume(State(w): State<Worker>, Path(name): Path<String>) -> Result<StatusCode> {
    w.resume(&name).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn stop(State(w): State<Worker>, Path(name): Path<String>) -> Result<StatusCode> {
    w.stop(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `{"<name>": {"topics": [...]}}`, also for a connector that does not exist (as
/// Connect answers).
async fn topics(State(w): State<Worker>, Path(name): Path<String>) -> Json<Value> {
    let topics = w.active_topics(&name);
    Json(json!({ name: {"topics": topics} }))
}

async fn reset_topics(State(w): State<Worker>, Path(name): Path<String>) -> Result<StatusCode> {
    w.reset_topics(&name).await?;
    Ok(StatusCode::ACCEPTED)
}

/// KIP-875's offset changes: Connect's 404 and its 400 for a connector that is not
/// STOPPED; on a stopped one, creek does not have them yet.
async fn alter_offsets(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    Err(offsets_change(&w, &name, "altering"))
}

async fn reset_offsets(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    Err(offsets_change(&w, &name, "resetting"))
}

fn offsets_change(w: &Worker, name: &str, what: &str) -> ConnectError {
    match w.target(name) {
        Err(e) => e,
        Ok(TargetState::Stopped) => ConnectError::NotSupported(format!(
            "{what} a connector's offsets (PATCH and DELETE /connectors/{name}/offsets); \
             GET /connectors/{name}/offsets shows them"
        )),
        Ok(_) => ConnectError::BadRequest(format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. \
             This can be done for the specified connector by issuing a 'PUT' request to the \
             '/connectors/{name}/stop' endpoint"
        )),
    }
}

/// Connect's `/admin/loggers`: creek's log levels are set at start (RUST_LOG).
async fn loggers() -> ConnectError {
    ConnectError::NotSupported(
        "reading or changing log levels at runtime (/admin/loggers); creek's levels are set \
         when it starts, with RUST_LOG"
            .into(),
    )
}

async fn offsets(State(w): State<Worker>, Path(name): Path<String>) -> Result<Json<Value>> {
    let offsets: Vec<Value> = w
        .offsets(&name)
        .await?
        .into_iter()
        .map(|(p, o)| json!({"partition": p, "offset": o}))
        .collect();
    Ok(Json(json!({"offsets": offsets})))
}
