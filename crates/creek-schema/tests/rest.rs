//! The registry's REST API served on a real socket, driven with raw HTTP/1.1 the way
//! any client sees it: every route, Confluent's error codes, soft and permanent
//! deletes, compatibility levels and durability across a restart.

use std::path::Path;
use std::sync::Arc;

use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_schema::{router, Registry};
use creek_store::LogStore;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const USER_V1: &str =
    r#"{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"}]}"#;
const USER_V2: &str = r#"{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}"#;
/// Adds a field without a default: not BACKWARD compatible with v1.
const USER_BAD: &str = r#"{"type":"record","name":"User","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"email","type":"string"}]}"#;

struct Server {
    addr: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(dir: &Path) -> Server {
        let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
            Log::open(dir, LogConfig::default()).unwrap(),
        ));
        let registry = Registry::open(store).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router(registry))
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Server { addr, stop, task }
    }

    /// Stops serving and drops the registry and its log (releasing the data dir).
    async fn shutdown(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap();
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        http(
            self.addr,
            method,
            path,
            body,
            "application/vnd.schemaregistry.v1+json",
        )
        .await
    }

    async fn get(&self, path: &str) -> Response {
        self.call("GET", path, None).await
    }

    async fn delete(&self, path: &str) -> Response {
        self.call("DELETE", path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Response {
        self.call("POST", path, Some(&body.to_string())).await
    }

    async fn put(&self, path: &str, body: Value) -> Response {
        self.call("PUT", path, Some(&body.to_string())).await
    }

    async fn register(&self, subject: &str, schema: &str) -> Response {
        self.post(
            &format!("/subjects/{subject}/versions"),
            json!({ "schema": schema }),
        )
        .await
    }
}

#[derive(Debug)]
struct Response {
    status: u16,
    content_type: String,
    text: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a Confluent error answer and returns its message.
    #[track_caller]
    fn error(&self, status: u16, code: i64) -> String {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["error_code"], json!(code), "{self:?}");
        body["message"].as_str().unwrap().to_string()
    }

    #[track_caller]
    fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.content_type, "application/vnd.schemaregistry.v1+json");
        self.json()
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    content_type: &str,
) -> Response {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Accept: application/vnd.schemaregistry.v1+json\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").expect("a complete response");
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let header = |name: &str| {
        head.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    };
    let text = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Response {
        status,
        content_type: header("content-type").unwrap_or_default(),
        text,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, tail) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&tail[..size]);
        rest = &tail[size + 2..];
    }
}

#[tokio::test]
async fn register_read_back_and_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path()).await;

    assert_eq!(srv.get("/").await.ok(), json!({}));
    assert_eq!(srv.get("/schemas/types").await.ok(), json!(["AVRO"]));
    assert_eq!(srv.get("/mode").await.ok(), json!({"mode": "READWRITE"}));
    assert_eq!(srv.get("/contexts").await.ok(), json!(["."]));
    assert_eq!(srv.get("/subjects").await.ok(), json!([]));

    // Register; the same schema again (differently formatted) is idempotent.
    assert_eq!(
        srv.register("users-value", USER_V1).await.ok(),
        json!({"id": 1})
    );
    let spaced = r#"{ "namespace": "shop", "type": "record", "name": "User",
                      "fields": [ { "type": "long", "name": "id" } ] }"#;
    assert_eq!(
        srv.register("users-value", spaced).await.ok(),
        json!({"id": 1})
    );
    assert_eq!(
        srv.register("users-value", USER_V2).await.ok(),
        json!({"id": 2})
    );
    // The same schema under another subject gets the same global id.
    assert_eq!(
        srv.register("audit-value", USER_V1).await.ok(),
        json!({"id": 1})
    );
    // application/json bodies are accepted too.
    let plain = http(
        srv.addr,
        "POST",
        "/subjects/plain/versions",
        Some(&json!({"schema": "\"string\""}).to_string()),
        "application/json",
    )
    .await;
    assert_eq!(plain.ok(), json!({"id": 3}));

    assert_eq!(
        srv.get("/schemas/ids/1").await.ok(),
        json!({ "schema": USER_V1 })
    );
    assert_eq!(
        srv.get("/schemas/ids/2?fetchMaxId=true").await.ok(),
        json!({ "schema": USER_V2, "maxId": 3 })
    );
    let raw = srv.get("/schemas/ids/1/schema").await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.text, USER_V1);
    assert_eq!(
        srv.get("/schemas/ids/1/subjects").await.ok(),
        json!(["audit-value", "users-value"])
    );
    assert_eq!(
        srv.get("/schemas/ids/1/versions").await.ok(),
        json!([{"subject": "audit-value", "version": 1}, {"subject": "users-value", "version": 1}])
    );

    assert_eq!(
        srv.get("/subjects").await.ok(),
        json!(["audit-value", "plain", "users-value"])
    );
    assert_eq!(
        srv.get("/subjects?subjectPrefix=us").await.ok(),
        json!(["users-value"])
    );
    // Pagination, as the Python client always sends it.
    assert_eq!(
        srv.get("/subjects?offset=1&limit=1").await.ok(),
        json!(["plain"])
    );
    assert_eq!(
        srv.get("/subjects?offset=0&limit=-1").await.ok(),
        json!(["audit-value", "plain", "users-value"])
    );
    srv.get("/subjects?limit=many").await.error(400, 400);
    assert_eq!(
        srv.get("/subjects/users-value/versions").await.ok(),
        json!([1, 2])
    );
    let v2 = json!({"subject": "users-value", "version": 2, "id": 2, "schema": USER_V2});
    assert_eq!(srv.get("/subjects/users-value/versions/2").await.ok(), v2);
    assert_eq!(
        srv.get("/subjects/users-value/versions/latest").await.ok(),
        v2
    );
    assert_eq!(srv.get("/subjects/users-value/versions/-1").await.ok(), v2);
    let raw = srv.get("/subjects/users-value/versions/1/schema").await;
    assert_eq!((raw.status, raw.text.as_str()), (200, USER_V1));
    assert_eq!(
        srv.get("/subjects/users-value/versions/1/referencedby")
            .await
            .ok(),
        json!([])
    );
    let all = srv.get("/schemas?latestOnly=true").await.ok();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[2], v2);

    // Lookup: the registered version of a schema under a subject.
    assert_eq!(
        srv.post(
            "/subjects/users-value?normalize=False",
            json!({"schema": spaced, "schemaType": "AVRO", "references": []})
        )
        .await
        .ok(),
        json!({"subject": "users-value", "version": 1, "id": 1, "schema": USER_V1})
    );
    srv.post("/subjects/users-value", json!({"schema": "\"int\""}))
        .await
        .error(404, 40403);
    srv.post("/subjects/nobody", json!({"schema": USER_V1}))
        .await
        .error(404, 40401);

    // Subject names are percent-decoded path segments.
    assert_eq!(
        srv.register("a%2Fb%20c", "\"bytes\"").await.ok(),
        json!({"id": 4})
    );
    assert_eq!(
        srv.get("/schemas/ids/4/subjects").await.ok(),
        json!(["a/b c"])
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn confluent_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path()).await;
    srv.register("s", USER_V1).await.ok();

    srv.get("/subjects/nope/versions").await.error(404, 40401);
    srv.get("/subjects/nope/versions/1").await.error(404, 40401);
    let msg = srv.get("/subjects/s/versions/7").await.error(404, 40402);
    assert_eq!(msg, "Version 7 not found.");
    srv.get("/schemas/ids/99").await.error(404, 40403);
    srv.get("/schemas/ids/99/schema").await.error(404, 40403);
    srv.get("/schemas/ids/99/versions").await.error(404, 40403);
    for bad in ["0", "-2", "abc", "99999999999"] {
        srv.get(&format!("/subjects/s/versions/{bad}"))
            .await
            .error(422, 42202);
    }

    // Invalid schemas.
    srv.register("s", r#"{"type":"record","name":"R"}"#)
        .await
        .error(422, 42201);
    srv.register("s", "not json").await.error(422, 42201);
    srv.register("s", "").await.error(422, 42201);
    srv.post("/subjects/s/versions", json!({}))
        .await
        .error(422, 42201);
    // Other schema types: recognised, refused clearly.
    let msg = srv
        .post(
            "/subjects/j/versions",
            json!({"schema": "{\"type\":\"object\"}", "schemaType": "JSON"}),
        )
        .await
        .error(422, 42201);
    assert!(msg.contains("not supported yet: JSON Schema"), "{msg}");
    let msg = srv
        .post(
            "/subjects/p/versions",
            json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}),
        )
        .await
        .error(422, 42201);
    assert!(msg.contains("not supported yet: Protobuf"), "{msg}");
    let msg = srv
        .post(
            "/subjects/r/versions",
            json!({"schema": USER_V1, "references": [{"name": "x", "subject": "y", "version": 1}]}),
        )
        .await
        .error(422, 42201);
    assert!(msg.contains("references"), "{msg}");
    srv.post("/subjects/s/versions", json!({"schema": USER_V2, "id": 40}))
        .await
        .error(422, 42205);

    // Malformed bodies: Confluent's 400, and the server stays up.
    srv.call("POST", "/subjects/s/versions", Some("{\"schema\": "))
        .await
        .error(400, 400);
    srv.call("POST", "/subjects/s/versions", Some("[1,2]"))
        .await
        .error(400, 400);
    srv.post("/subjects/s/versions", json!({"schema": {"type": "int"}}))
        .await
        .error(400, 400);
    srv.call("PUT", "/config", Some("nope"))
        .await
        .error(400, 400);

    // Unknown routes and methods answer in the same JSON shape.
    srv.get("/nothing/here").await.error(404, 404);
    srv.get("/schemas/ids/xyz").await.error(404, 404);
    srv.call("PATCH", "/subjects", None).await.error(405, 405);
    srv.get("/subjects/%FF/versions").await.error(400, 400);

    assert_eq!(srv.get("/subjects").await.ok(), json!(["s"]));
    srv.shutdown().await;
}

#[tokio::test]
async fn compatibility_levels_and_checks() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path()).await;

    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );
    srv.get("/config/s").await.error(404, 40408);
    assert_eq!(
        srv.get("/config/s?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );

    srv.register("s", USER_V1).await.ok();
    // BACKWARD (default): a new field needs a default.
    let msg = srv.register("s", USER_BAD).await.error(409, 409);
    assert!(
        msg.starts_with(
            "Schema being registered is incompatible with an earlier schema for subject \"s\""
        ),
        "{msg}"
    );
    assert!(msg.contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{msg}");
    assert!(msg.contains("{oldSchemaVersion: 1}"), "{msg}");

    // The compatibility test endpoint agrees, and explains itself with verbose=true.
    assert_eq!(
        srv.post(
            "/compatibility/subjects/s/versions/latest",
            json!({"schema": USER_BAD})
        )
        .await
        .ok(),
        json!({"is_compatible": false})
    );
    let verbose = srv
        .post(
            "/compatibility/subjects/s/versions/1?verbose=true",
            json!({"schema": USER_BAD}),
        )
        .await
        .ok();
    assert_eq!(verbose["is_compatible"], json!(false));
    assert!(verbose["messages"][0]
        .as_str()
        .unwrap()
        .contains("READER_FIELD_MISSING_DEFAULT_VALUE"));
    assert_eq!(
        srv.post(
            "/compatibility/subjects/s/versions",
            json!({"schema": USER_V2})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    srv.post(
        "/compatibility/subjects/s/versions/5",
        json!({"schema": USER_V2}),
    )
    .await
    .error(404, 40402);
    srv.post(
        "/compatibility/subjects/none/versions/1",
        json!({"schema": USER_V2}),
    )
    .await
    .error(404, 40401);
    // Nothing registered yet: anything is compatible with "latest".
    assert_eq!(
        srv.post(
            "/compatibility/subjects/none/versions/latest",
            json!({"schema": USER_V2})
        )
        .await
        .ok(),
        json!({"is_compatible": true})
    );
    srv.post(
        "/compatibility/subjects/s/versions/latest",
        json!({"schema": "{"}),
    )
    .await
    .error(422, 42201);

    // A subject-level FORWARD lets the field through (old readers ignore it).
    assert_eq!(
        srv.put("/config/s", json!({"compatibility": "FORWARD"}))
            .await
            .ok(),
        json!({"compatibility": "FORWARD"})
    );
    assert_eq!(
        srv.get("/config/s").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    assert_eq!(srv.register("s", USER_BAD).await.ok(), json!({"id": 2}));

    // Transitive levels look at every version, the others at the latest only:
    // v1 {id: long}, v2 {}, v3 {id: string = ""} conflicts with v1 only.
    let v1 = r#"{"type":"record","name":"T","fields":[{"name":"id","type":"long"}]}"#;
    let v2 = r#"{"type":"record","name":"T","fields":[]}"#;
    let v3 =
        r#"{"type":"record","name":"T","fields":[{"name":"id","type":"string","default":""}]}"#;
    srv.put("/config/t", json!({"compatibility": "backward"}))
        .await
        .ok();
    srv.register("t", v1).await.ok();
    srv.register("t", v2).await.ok();
    assert_eq!(
        srv.post("/compatibility/subjects/t/versions", json!({"schema": v3}))
            .await
            .ok(),
        json!({"is_compatible": true})
    );
    srv.put("/config/t", json!({"compatibility": "BACKWARD_TRANSITIVE"}))
        .await
        .ok();
    assert_eq!(
        srv.post("/compatibility/subjects/t/versions", json!({"schema": v3}))
            .await
            .ok(),
        json!({"is_compatible": false})
    );
    srv.register("t", v3).await.error(409, 409);
    srv.put(
        "/config/t",
        json!({"compatibilityLevel": "FULL_TRANSITIVE"}),
    )
    .await
    .ok();
    srv.register("t", v3).await.error(409, 409);
    srv.put("/config/t", json!({"compatibility": "NONE"}))
        .await
        .ok();
    assert_eq!(srv.register("t", v3).await.ok()["id"], json!(5));

    // Global level, invalid levels, deleting configs.
    assert_eq!(
        srv.put("/config", json!({"compatibility": "FULL"}))
            .await
            .ok(),
        json!({"compatibility": "FULL"})
    );
    assert_eq!(
        srv.get("/config/other?defaultToGlobal=true").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    srv.put("/config", json!({"compatibility": "SIDEWAYS"}))
        .await
        .error(422, 42203);
    srv.put("/config", json!({})).await.error(422, 42203);
    srv.put(
        "/config",
        json!({"compatibility": "FULL", "normalize": true}),
    )
    .await
    .error(422, 42205);
    assert_eq!(
        srv.delete("/config/s").await.ok(),
        json!({"compatibilityLevel": "FORWARD"})
    );
    srv.delete("/config/s").await.error(404, 40408);
    assert_eq!(
        srv.delete("/config").await.ok(),
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "BACKWARD"})
    );

    // Modes: always READWRITE.
    assert_eq!(
        srv.put("/mode", json!({"mode": "READWRITE"})).await.ok(),
        json!({"mode": "READWRITE"})
    );
    srv.put("/mode", json!({"mode": "IMPORT"}))
        .await
        .error(422, 42204);
    srv.get("/mode/s").await.error(404, 40409);
    assert_eq!(
        srv.get("/mode/s?defaultToGlobal=true").await.ok(),
        json!({"mode": "READWRITE"})
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn soft_and_permanent_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path()).await;
    srv.register("s", USER_V1).await.ok();
    srv.register("s", USER_V2).await.ok();
    srv.register("keep", USER_V2).await.ok();

    // Permanent deletes need a soft delete first.
    srv.delete("/subjects/s?permanent=true")
        .await
        .error(404, 40405);
    srv.delete("/subjects/s/versions/1?permanent=true")
        .await
        .error(404, 40407);

    // Soft-delete a version: hidden, except with ?deleted=true; the id stays readable.
    assert_eq!(srv.delete("/subjects/s/versions/1").await.ok(), json!(1));
    srv.delete("/subjects/s/versions/1").await.error(404, 40406);
    srv.delete("/subjects/s/versions/5").await.error(404, 40402);
    srv.delete("/subjects/s/versions/0").await.error(422, 42202);
    srv.delete("/subjects/nope/versions/1")
        .await
        .error(404, 40401);
    assert_eq!(srv.get("/subjects/s/versions").await.ok(), json!([2]));
    assert_eq!(
        srv.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1, 2])
    );
    assert_eq!(
        srv.get("/subjects/s/versions?deletedOnly=true").await.ok(),
        json!([1])
    );
    srv.get("/subjects/s/versions/1").await.error(404, 40402);
    assert_eq!(
        srv.get("/subjects/s/versions/1?deleted=true").await.ok()["id"],
        json!(1)
    );
    assert_eq!(
        srv.get("/schemas/ids/1").await.ok()["schema"],
        json!(USER_V1)
    );
    assert_eq!(srv.get("/schemas/ids/1/subjects").await.ok(), json!([]));
    assert_eq!(
        srv.get("/schemas/ids/1/subjects?deleted=true").await.ok(),
        json!(["s"])
    );
    // Lookup ignores soft-deleted versions unless asked.
    srv.post("/subjects/s", json!({"schema": USER_V1}))
        .await
        .error(404, 40403);
    assert_eq!(
        srv.post("/subjects/s?deleted=true", json!({"schema": USER_V1}))
            .await
            .ok()["version"],
        json!(1)
    );

    // Soft-delete the subject: gone from listings, still there with ?deleted=true.
    assert_eq!(srv.delete("/subjects/s").await.ok(), json!([2]));
    srv.delete("/subjects/s").await.error(404, 40404);
    assert_eq!(srv.get("/subjects").await.ok(), json!(["keep"]));
    assert_eq!(
        srv.get("/subjects?deleted=true").await.ok(),
        json!(["keep", "s"])
    );
    assert_eq!(
        srv.get("/subjects?deletedOnly=true").await.ok(),
        json!(["s"])
    );
    srv.get("/subjects/s/versions").await.error(404, 40401);
    srv.get("/subjects/s/versions/latest")
        .await
        .error(404, 40401);

    // Permanent: versions and ids no other subject holds are gone.
    assert_eq!(
        srv.delete("/subjects/s/versions/2?permanent=true")
            .await
            .ok(),
        json!(2)
    );
    assert_eq!(
        srv.get("/subjects/s/versions?deleted=true").await.ok(),
        json!([1])
    );
    assert_eq!(
        srv.delete("/subjects/s?permanent=true").await.ok(),
        json!([1])
    );
    srv.delete("/subjects/s?permanent=true")
        .await
        .error(404, 40401);
    srv.get("/schemas/ids/1").await.error(404, 40403);
    // Id 2 is still held by "keep".
    assert_eq!(
        srv.get("/schemas/ids/2/versions").await.ok(),
        json!([{"subject": "keep", "version": 1}])
    );
    // Versions restart at 1; ids are never reused.
    assert_eq!(srv.register("s", USER_V1).await.ok(), json!({"id": 3}));
    assert_eq!(
        srv.get("/subjects/s/versions/latest").await.ok()["version"],
        json!(1)
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Server::start(dir.path()).await;
    srv.register("a", USER_V1).await.ok();
    srv.register("a", USER_V2).await.ok();
    srv.register("b", "\"string\"").await.ok();
    srv.put("/config", json!({"compatibility": "FULL_TRANSITIVE"}))
        .await
        .ok();
    srv.put("/config/b", json!({"compatibility": "NONE"}))
        .await
        .ok();
    srv.delete("/subjects/a/versions/1").await.ok();
    srv.shutdown().await;

    let srv = Server::start(dir.path()).await;
    assert_eq!(srv.get("/subjects").await.ok(), json!(["a", "b"]));
    assert_eq!(srv.get("/subjects/a/versions").await.ok(), json!([2]));
    assert_eq!(
        srv.get("/subjects/a/versions?deleted=true").await.ok(),
        json!([1, 2])
    );
    assert_eq!(
        srv.get("/schemas/ids/1").await.ok()["schema"],
        json!(USER_V1)
    );
    assert_eq!(
        srv.get("/config").await.ok(),
        json!({"compatibilityLevel": "FULL_TRANSITIVE"})
    );
    assert_eq!(
        srv.get("/config/b").await.ok(),
        json!({"compatibilityLevel": "NONE"})
    );
    // Registering known schemas returns their ids; new ones continue the sequence.
    assert_eq!(srv.register("a", USER_V2).await.ok(), json!({"id": 2}));
    assert_eq!(srv.register("b", "\"int\"").await.ok(), json!({"id": 4}));
    assert_eq!(srv.register("c", "\"string\"").await.ok(), json!({"id": 3}));
    srv.shutdown().await;
}
