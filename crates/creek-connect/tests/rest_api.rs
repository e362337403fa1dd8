//! Connect's REST API as Apache Kafka Connect 4.4.0 answers it, over HTTP: the
//! shapes tests/python/test_connect_rest_peer.py compares with a real worker, checked
//! here one by one (a connector's STOPPED state, PATCH of a config, active topics,
//! plug-in versions in statuses, Connect's error bodies for 405 and for what creek
//! does not have yet).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use creek_connect::converter::ConverterContext;
use creek_connect::{Worker, WorkerConfig};
use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_store::LogStore;
use serde_json::{json, Value};

struct Api {
    url: String,
    http: reqwest::Client,
    worker: Worker,
    _lake: tempfile::TempDir,
    lake_url: String,
}

async fn start(store: Arc<dyn LogStore>) -> Api {
    let schemas = creek_schema::Registry::open(store.clone()).await.unwrap();
    let mut config = WorkerConfig::new(
        "127.0.0.1:0".into(),
        ConverterContext {
            registry: schemas,
            registry_url: "http://127.0.0.1:0".into(),
        },
    );
    config.kafka_cluster_id = Some("test-cluster".into());
    let worker = Worker::start(store, config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = creek_connect::router(worker.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let lake = tempfile::tempdir().unwrap();
    let lake_url = format!("file://{}", lake.path().display());
    Api {
        url,
        http: reqwest::Client::new(),
        worker,
        _lake: lake,
        lake_url,
    }
}

fn embedded() -> (tempfile::TempDir, Arc<dyn LogStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
        Log::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    (dir, store)
}

impl Api {
    /// (status, body; `Value::Null` for an empty one).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
        };
        (status, body)
    }

    fn sink(&self) -> Value {
        json!({"connector.class": "io.confluent.connect.s3.S3SinkConnector",
            "tasks.max": "1", "topics": "events", "flush.size": "1",
            "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
            "s3.bucket.name": "b", "store.url": self.lake_url})
    }

    async fn wait_state(&self, name: &str, state: &str, tasks: usize) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, s) = self
                .call("GET", &format!("/connectors/{name}/status"), None)
                .await;
            let all = s["tasks"].as_array().map(|t| {
                t.len() == tasks && t.iter().all(|t| t["state"] == state || state == "STOPPED")
            });
            if s["connector"]["state"] == state && all == Some(true) {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never {state}: {s}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Connect's error body: `{"error_code": status, "message": "..."}` and nothing else.
fn assert_error(status: u16, body: &Value, expected: u16, message: &str) {
    assert_eq!(status, expected, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error_code", "message"], "{body}");
    assert_eq!(body["error_code"], expected);
    assert!(
        body["message"].as_str().unwrap().contains(message),
        "{body} does not say {message:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_stop_patch_and_errors_answer_as_connect() {
    let (_dir, store) = embedded();
    let api = start(store).await;

    let (code, root) = api.call("GET", "/", None).await;
    assert_eq!(
        (code, &root["kafka_cluster_id"]),
        (200, &json!("test-cluster"))
    );
    let (code, health) = api.call("GET", "/health", None).await;
    assert_eq!((code, &health["status"]), (200, &json!("healthy")));

    let (code, _) = api
        .call(
            "POST",
            "/connectors",
            Some(json!({"name": "lake", "config": api.sink()})),
        )
        .await;
    assert_eq!(code, 201);
    // Connect 4.x shows the plug-in's version beside each state.
    let status = api.wait_state("lake", "RUNNING", 1).await;
    let version = creek_connect::registry::Registry::builtin()
        .find("S3SinkConnector")
        .unwrap()
        .version();
    assert_eq!(status["connector"]["version"], version, "{status}");
    assert_eq!(status["tasks"][0]["version"], version, "{status}");
    let (_, task) = api
        .call("GET", "/connectors/lake/tasks/0/status", None)
        .await;
    assert_eq!(task["version"], version, "{task}");

    // An unknown class is a bad request, as in Connect (not a 404).
    let (code, body) = api
        .call(
            "POST",
            "/connectors",
            Some(json!({"name": "x", "config": {"connector.class": "org.example.Nope"}})),
        )
        .await;
    assert_error(code, &body, 400, "Failed to find any class");
    let (code, body) = api
        .call(
            "PUT",
            "/connector-plugins/S3SinkConnector/config/validate",
            Some(json!({"topics": "t"})),
        )
        .await;
    assert_error(code, &body, 400, "contains no connector type");

    // PATCH: given keys replace, null removes; the connector must exist.
    let (code, info) = api
        .call(
            "PATCH",
            "/connectors/lake/config",
            Some(json!({"flush.size": 2, "tasks.max": null})),
        )
        .await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["config"]["flush.size"], "2");
    assert!(info["config"].get("tasks.max").is_none(), "{info}");
    assert_eq!(info["config"]["topics"], "events");
    let (code, body) = api
        .call("PATCH", "/connectors/nope/config", Some(json!({"a": "b"})))
        .await;
    assert_error(code, &body, 404, "Connector nope not found");

    // Restart: both flags false (also when given) is the plain form's 204.
    let (code, body) = api
        .call(
            "POST",
            "/connectors/lake/restart?includeTasks=false&onlyFailed=false",
            None,
        )
        .await;
    assert_eq!((code, body), (204, Value::Null));
    let (code, body) = api
        .call("POST", "/connectors/lake/restart?includeTasks=true", None)
        .await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["tasks"].as_array().unwrap().len(), 1, "{body}");
    api.wait_state("lake", "RUNNING", 1).await;

    // Offsets change only on a stopped connector, as in Connect; then creek says it
    // cannot do it yet.
    let (code, body) = api.call("DELETE", "/connectors/lake/offsets", None).await;
    assert_error(code, &body, 400, "must be in the STOPPED state");
    let (code, body) = api.call("PUT", "/connectors/lake/stop", None).await;
    assert_eq!((code, body), (204, Value::Null));
    let status = api.wait_state("lake", "STOPPED", 0).await;
    assert_eq!(status["tasks"], json!([]));
    let (_, info) = api.call("GET", "/connectors/lake", None).await;
    assert_eq!(info["tasks"], json!([]), "{info}");
    let (_, tasks) = api.call("GET", "/connectors/lake/tasks", None).await;
    assert_eq!(tasks, json!([]));
    for method in ["PATCH", "DELETE"] {
        let (code, body) = api
            .call(
                method,
                "/connectors/lake/offsets",
                Some(json!({"offsets": []})),
            )
            .await;
        assert_error(code, &body, 501, "not supported yet: ");
    }
    // A config change keeps it stopped; a worker started again on the log too.
    let (code, _) = api
        .call("PUT", "/connectors/lake/config", Some(api.sink()))
        .await;
    assert_eq!(code, 200);
    api.wait_state("lake", "STOPPED", 0).await;
    let (code, _) = api.call("PUT", "/connectors/lake/resume", None).await;
    assert_eq!(code, 202);
    api.wait_state("lake", "RUNNING", 1).await;
    let (code, _) = api.call("PUT", "/connectors/lake/pause", None).await;
    assert_eq!(code, 202);
    api.wait_state("lake", "PAUSED", 1).await;
    let (code, _) = api.call("PUT", "/connectors/lake/stop", None).await;
    assert_eq!(code, 204);
    api.wait_state("lake", "STOPPED", 0).await;
    let (code, body) = api.call("PUT", "/connectors/nope/stop", None).await;
    assert_error(code, &body, 404, "nope");

    // Wrong methods and missing features answer with Connect's error body.
    let (code, body) = api
        .call("POST", "/connectors/lake/config", Some(json!({})))
        .await;
    assert_error(code, &body, 405, "Method Not Allowed");
    let (code, body) = api.call("GET", "/admin/loggers", None).await;
    assert_error(code, &body, 501, "not supported yet: ");
    let (code, body) = api.call("GET", "/no/such/path", None).await;
    assert_error(code, &body, 404, "Not Found");

    api.worker.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_connector_stays_stopped_across_a_restart() {
    let (_dir, store) = embedded();
    let api = start(store.clone()).await;
    let (code, _) = api
        .call(
            "POST",
            "/connectors",
            Some(json!({"name": "lake", "config": api.sink()})),
        )
        .await;
    assert_eq!(code, 201);
    let (code, _) = api.call("PUT", "/connectors/lake/stop", None).await;
    assert_eq!(code, 204);
    api.wait_state("lake", "STOPPED", 0).await;
    api.worker.stop_all().await;

    let again = start(store).await;
    again.wait_state("lake", "STOPPED", 0).await;
    let (code, _) = again.call("PUT", "/connectors/lake/resume", None).await;
    assert_eq!(code, 202);
    again.wait_state("lake", "RUNNING", 1).await;
    again.worker.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_and_their_config_definitions() {
    let (_dir, store) = embedded();
    let api = start(store).await;
    let (_, connectors) = api.call("GET", "/connector-plugins", None).await;
    let kinds: Vec<&str> = connectors
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["source", "sink"]);
    // connectorsOnly=false adds the converters creek implements.
    let (_, all) = api
        .call("GET", "/connector-plugins?connectorsOnly=false", None)
        .await;
    let converters: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "converter")
        .map(|p| p["class"].as_str().unwrap())
        .collect();
    assert!(
        converters.contains(&"org.apache.kafka.connect.json.JsonConverter"),
        "{all}"
    );
    assert!(converters.contains(&"io.confluent.connect.avro.AvroConverter"));

    // KIP-769: the definitions of a class's keys, numbered within their group.
    let (code, defs) = api
        .call("GET", "/connector-plugins/S3SinkConnector/config", None)
        .await;
    assert_eq!(code, 200);
    let defs = defs.as_array().unwrap();
    let first = &defs[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "type",
            "required",
            "default_value",
            "importance",
            "documentation",
            "group",
            "order_in_group",
            "width",
            "display_name",
            "dependents"
        ]
    );
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for d in defs {
        let group = d["group"].as_str().unwrap().to_string();
        let next = seen.entry(group).or_insert(0);
        *next += 1;
        assert_eq!(d["order_in_group"], *next, "{d}");
    }
    let (code, body) = api
        .call("GET", "/connector-plugins/org.example.Nope/config", None)
        .await;
    assert_error(code, &body, 404, "Unknown plugin");
    // The validation answer has the same definitions.
    let (_, v) = api
        .call(
            "PUT",
            "/connector-plugins/S3SinkConnector/config/validate",
            Some(api.sink()),
        )
        .await;
    assert_eq!(v["configs"][0]["definition"], defs[0], "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_whose_source_is_away_stops_and_resumes() {
    let (_dir, store) = embedded();
    let api = start(store).await;
    let away = json!({"connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": "jdbc:postgresql://127.0.0.1:1/nowhere", "connection.user": "me",
        "mode": "bulk", "topic.prefix": "away-"});
    let (code, body) = api
        .call(
            "POST",
            "/connectors",
            Some(json!({"name": "away", "config": away})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    let (_, status) = api.call("GET", "/connectors/away/status", None).await;
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");
    // Stopping runs no connector code: nothing waits for the database.
    let (code, _) = api.call("PUT", "/connectors/away/stop", None).await;
    assert_eq!(code, 204);
    let status = api.wait_state("away", "STOPPED", 0).await;
    assert_eq!(status["connector"]["state"], "STOPPED");
    let (code, body) = api
        .call("POST", "/connectors/away/restart?includeTasks=true", None)
        .await;
    assert_eq!(code, 202, "{body}");
    api.wait_state("away", "STOPPED", 0).await;
    let (code, _) = api.call("PUT", "/connectors/away/resume", None).await;
    assert_eq!(code, 202);
    let (_, status) = api.call("GET", "/connectors/away/status", None).await;
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");
    assert_eq!(status["tasks"].as_array().unwrap().len(), 1, "{status}");
    api.worker.stop_all().await;
}
