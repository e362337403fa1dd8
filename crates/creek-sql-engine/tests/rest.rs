//! The ksqlDB REST API over a real listener: /ksql, /query, /query-stream,
//! /close-query, /info, metadata statements, PRINT.

use std::sync::Arc;
use std::time::Duration;

use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_schema::registry::Registry;
use creek_sql_engine::engine::{Engine, EngineConfig};
use creek_store::LogStore;
use serde_json::{json, Value as Json};

struct Server {
    url: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(log));
    let registry = Registry::open(store.clone()).await.unwrap();
    let engine = Engine::new(store, Some(registry), EngineConfig::default());
    let router = creek_sql_engine::rest::router(engine, "test-cluster");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    Server {
        url: format!("http://{addr}"),
        client: reqwest::Client::new(),
        _dir: dir,
    }
}

impl Server {
    async fn ksql(&self, sql: &str) -> (u16, Json) {
        self.ksql_with(sql, json!({})).await
    }

    async fn ksql_with(&self, sql: &str, props: Json) -> (u16, Json) {
        let resp = self
            .client
            .post(format!("{}/ksql", self.url))
            .json(&json!({"ksql": sql, "streamsProperties": props}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Reads a streamed response until it ends (or the timeout).
    async fn read_all(mut resp: reqwest::Response) -> String {
        let mut out = Vec::new();
        let read = async {
            while let Some(chunk) = resp.chunk().await.unwrap() {
                out.extend_from_slice(&chunk);
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("stream ended");
        String::from_utf8(out).unwrap()
    }
}

const CREATE: &str = "CREATE STREAM S (ID INT KEY, NAME STRING, AMOUNT DOUBLE) WITH (kafka_topic='s_topic', value_format='JSON', partitions=1);";

async fn with_rows(s: &Server) {
    let (status, body) = s.ksql(CREATE).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["@type"], "currentStatus");
    let (status, body) = s
        .ksql("INSERT INTO S (ID, NAME, AMOUNT) VALUES (1, 'a', 1.5); INSERT INTO S (ID, NAME, AMOUNT) VALUES (2, 'b', 2.5);")
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn info_and_healthcheck() {
    let s = server().await;
    let info: Json = s
        .client
        .get(format!("{}/info", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["KsqlServerInfo"]["kafkaClusterId"], "test-cluster");
    assert_eq!(info["KsqlServerInfo"]["ksqlServiceId"], "default_");
    assert_eq!(info["KsqlServerInfo"]["serverStatus"], "RUNNING");
    let health: Json = s
        .client
        .get(format!("{}/healthcheck", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["isHealthy"], true);
}

#[tokio::test]
async fn ksql_statements_and_errors() {
    let s = server().await;
    with_rows(&s).await;
    let (status, body) = s.ksql("SHOW STREAMS;").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["@type"], "streams");
    assert_eq!(body[0]["streams"][0]["name"], "S");
    assert_eq!(body[0]["streams"][0]["topic"], "s_topic");
    assert_eq!(body[0]["streams"][0]["keyFormat"], "KAFKA");
    assert_eq!(body[0]["streams"][0]["valueFormat"], "JSON");

    let (status, body) = s.ksql("LIST TOPICS;").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["@type"], "kafka_topics");
    let names: Vec<&str> = body[0]["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["s_topic"], "internal topics are hidden");

    let (status, body) = s.ksql("DESCRIBE S;").await;
    assert_eq!(status, 200, "{body}");
    let d = &body[0]["sourceDescription"];
    assert_eq!(d["name"], "S");
    assert_eq!(
        d["fields"][0],
        json!({"name": "ID", "schema": {"type": "INTEGER", "fields": null, "memberSchema": null}, "type": "KEY"})
    );
    assert_eq!(d["fields"][2]["schema"]["type"], "DOUBLE");

    let (status, body) = s
        .ksql("CREATE STREAM BIG AS SELECT * FROM S WHERE AMOUNT > 2; SHOW QUERIES;")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[1]["@type"], "queries");
    let id = body[1]["queries"][0]["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("CSAS_BIG_"), "{id}");
    assert_eq!(body[1]["queries"][0]["sinks"], json!(["BIG"]));
    assert_eq!(body[1]["queries"][0]["statusCount"], json!({"RUNNING": 1}));
    assert_eq!(body[1]["queries"][0]["queryType"], "PERSISTENT");
    let (status, body) = s.ksql(&format!("EXPLAIN {id};")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["queryDescription"]["id"], id.as_str());
    let (_, body) = s.ksql("DESCRIBE S;").await;
    assert_eq!(
        body[0]["sourceDescription"]["readQueries"][0]["id"],
        id.as_str()
    );

    // A syntax error.
    let (status, body) = s.ksql("SELEKT 1;").await;
    assert_eq!(status, 400);
    assert_eq!(body["@type"], "statement_error");
    assert_eq!(body["error_code"], 40001);
    assert_eq!(body["entities"], json!([]));
    // A statement ksqlDB rejects.
    let (status, body) = s.ksql("DROP STREAM NOPE;").await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], 40001);
    assert_eq!(body["statementText"], "DROP STREAM NOPE;");
    // SELECT belongs to /query.
    let (status, body) = s.ksql("SELECT * FROM S EMIT CHANGES;").await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], 40002);
    // Not supported yet.
    let (status, body) = s.ksql("PAUSE ALL;").await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], 40001);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("not supported yet"));

    // Variables and properties within one request.
    let (status, body) = s
        .ksql("DEFINE t = 'S'; DESCRIBE ${t}; SHOW VARIABLES;")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[1]["sourceDescription"]["name"], "S");
    assert_eq!(body[2]["variables"][0], json!({"name": "T", "value": "S"}));
    let (_, body) = s
        .ksql_with("SHOW PROPERTIES;", json!({"auto.offset.reset": "earliest"}))
        .await;
    assert!(body[0]["properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "auto.offset.reset" && p["value"] == "earliest"));
    let (_, body) = s.ksql("SHOW FUNCTIONS; DESCRIBE FUNCTION ABS;").await;
    assert!(body[0]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "UCASE" && f["type"] == "SCALAR"));
    assert_eq!(body[1]["name"], "ABS");
    let (status, body) = s
        .ksql("ASSERT TOPIC `s_topic`; ASSERT NOT EXISTS TOPIC nope;")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["@type"], "assert_topic");
    let (status, _) = s.ksql("ASSERT TOPIC nope TIMEOUT 200 MILLISECONDS;").await;
    assert_eq!(status, 400);
    let (status, body) = s.ksql("ASSERT TOPIC `s_topic` WITH (PARTITIONS=1);").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.ksql("ASSERT TOPIC `s_topic` WITH (PARTITIONS=3);").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Mismatched configuration for topic s_topic: For config partitions, expected 3 got 1"
    );
}

#[tokio::test]
async fn query_endpoint_streams_rows_until_the_limit() {
    let s = server().await;
    with_rows(&s).await;
    let resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({
            "ksql": "SELECT ID, NAME, AMOUNT * 2 AS DOUBLED FROM S EMIT CHANGES LIMIT 2;",
            "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest"},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = Server::read_all(resp).await;
    let rows: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{text}");
    assert_eq!(
        rows[0]["header"]["schema"],
        "`ID` INTEGER, `NAME` STRING, `DOUBLED` DOUBLE"
    );
    assert!(rows[0]["header"]["queryId"]
        .as_str()
        .unwrap()
        .starts_with("transient_S_"));
    assert_eq!(rows[1], json!({"row": {"columns": [1, "a", 3.0]}}));
    assert_eq!(rows[2], json!({"row": {"columns": [2, "b", 5.0]}}));
    assert_eq!(rows[3], json!({"finalMessage": "Limit Reached"}));
}

#[tokio::test]
async fn query_stream_push_sees_new_rows() {
    let s = server().await;
    with_rows(&s).await;
    // From latest: only rows inserted after the query starts.
    let mut resp = s
        .client
        .post(format!("{}/query-stream", s.url))
        .json(
            &json!({"sql": "SELECT * FROM S WHERE ID > 2 EMIT CHANGES LIMIT 2;", "properties": {}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.ksqlapi.delimited.v1"
    );
    let first = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let meta: Json = serde_json::from_slice(&first).unwrap();
    assert_eq!(meta["columnNames"], json!(["ID", "NAME", "AMOUNT"]));
    assert_eq!(meta["columnTypes"], json!(["INTEGER", "STRING", "DOUBLE"]));
    let (status, body) = s
        .ksql("INSERT INTO S (ID, NAME, AMOUNT) VALUES (3, 'c', 3.5); INSERT INTO S (ID, NAME, AMOUNT) VALUES (2, 'skip', 0.0); INSERT INTO S (ID, NAME, AMOUNT) VALUES (4, 'd', 4.5);")
        .await;
    assert_eq!(status, 200, "{body}");
    let rest = Server::read_all(resp).await;
    let lines: Vec<Json> = rest
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, vec![json!([3, "c", 3.5]), json!([4, "d", 4.5])]);
}

#[tokio::test]
async fn query_stream_json_pull_and_close() {
    let s = server().await;
    with_rows(&s).await;
    // Without EMIT CHANGES: a scan of the stream as it is now.
    let resp = s
        .client
        .post(format!("{}/query-stream", s.url))
        .header("accept", "application/json")
        .json(&json!({"sql": "SELECT NAME FROM S;"}))
        .send()
        .await
        .unwrap();
    let text = Server::read_all(resp).await;
    let body: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body[0]["columnNames"], json!(["NAME"]));
    assert_eq!(body[1], json!(["a"]));
    assert_eq!(body[2], json!(["b"]));
    assert_eq!(body.as_array().unwrap().len(), 3);

    // A push query ended by /close-query.
    let mut resp = s
        .client
        .post(format!("{}/query-stream", s.url))
        .json(&json!({"sql": "SELECT * FROM S EMIT CHANGES;"}))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    let meta: Json = serde_json::from_slice(&first).unwrap();
    let id = meta["queryId"].as_str().unwrap();
    let closed = s
        .client
        .post(format!("{}/close-query", s.url))
        .json(&json!({"queryId": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status().as_u16(), 200);
    Server::read_all(resp).await;
    let again = s
        .client
        .post(format!("{}/close-query", s.url))
        .json(&json!({"queryId": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 400);

    // Errors on /query-stream.
    let bad = s
        .client
        .post(format!("{}/query-stream", s.url))
        .json(&json!({"sql": "SELECT * FROM NOPE EMIT CHANGES;"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let body: Json = bad.json().await.unwrap();
    assert_eq!(body["error_code"], 40001);
}

#[tokio::test]
async fn print_topic_from_beginning() {
    let s = server().await;
    with_rows(&s).await;
    let resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({"ksql": "PRINT 's_topic' FROM BEGINNING LIMIT 2;"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = Server::read_all(resp).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Key format: KAFKA_INT", "{text}");
    assert_eq!(lines[1], "Value format: JSON", "{text}");
    assert!(lines[2].starts_with("rowtime: "), "{text}");
    assert!(
        lines[2].ends_with(r#", key: 1, value: {"NAME":"a","AMOUNT":1.5}, partition: 0"#),
        "{text}"
    );
    assert_eq!(lines.len(), 4, "{text}");
}

#[tokio::test]
async fn inserts_stream_acks_each_row() {
    let s = server().await;
    let (status, body) = s.ksql(CREATE).await;
    assert_eq!(status, 200, "{body}");
    let payload = concat!(
        "{\"target\": \"S\"}\n",
        "{\"ID\": 7, \"NAME\": \"x\", \"AMOUNT\": 1.25}\n",
        "{\"id\": 8, \"name\": \"y\"}\n",
        "{\"NOPE\": 1}\n",
    );
    let resp = s
        .client
        .post(format!("{}/inserts-stream", s.url))
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = Server::read_all(resp).await;
    let acks: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(acks[0], json!({"status": "ok", "seq": 0}));
    assert_eq!(acks[1], json!({"status": "ok", "seq": 1}));
    assert_eq!(acks[2]["status"], "error");
    assert_eq!(acks.len(), 3);
    let resp = s
        .client
        .post(format!("{}/query-stream", s.url))
        .header("accept", "application/json")
        .json(&json!({"sql": "SELECT * FROM S;"}))
        .send()
        .await
        .unwrap();
    let body: Json = serde_json::from_str(&Server::read_all(resp).await).unwrap();
    assert_eq!(body[1], json!([7, "x", 1.25]));
    assert_eq!(body[2], json!([8, "y", null]));
}

#[tokio::test]
async fn print_decodes_avro_through_the_registry() {
    let s = server().await;
    let (status, body) = s
        .ksql("CREATE STREAM A (ID STRING KEY, N INT, NAME STRING) WITH (kafka_topic='a_topic', value_format='AVRO', partitions=1); INSERT INTO A (ID, N, NAME) VALUES ('k', 5, 'five');")
        .await;
    assert_eq!(status, 200, "{body}");
    let resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({"ksql": "PRINT a_topic FROM BEGINNING LIMIT 1;"}))
        .send()
        .await
        .unwrap();
    let text = Server::read_all(resp).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Key format: KAFKA_STRING", "{text}");
    assert_eq!(lines[1], "Value format: AVRO", "{text}");
    assert!(
        lines[2].ends_with(r#", key: k, value: {"N":5,"NAME":"five"}, partition: 0"#),
        "{text}"
    );
}

#[tokio::test]
async fn push_queries_are_listed_and_terminated() {
    let s = server().await;
    with_rows(&s).await;
    let mut resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({"ksql": "SELECT * FROM S EMIT CHANGES;"}))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    let first = std::str::from_utf8(&first).unwrap();
    assert!(first.ends_with(",\n"), "{first}");
    let header: Json =
        serde_json::from_str(first.trim_start_matches('[').trim_end_matches(",\n")).unwrap();
    let id = header["header"]["queryId"].as_str().unwrap().to_string();
    let (status, body) = s.ksql("SHOW QUERIES;").await;
    assert_eq!(status, 200, "{body}");
    let q = &body[0]["queries"][0];
    assert_eq!(q["id"], id.as_str());
    assert_eq!(q["queryType"], "PUSH");
    assert_eq!(q["queryString"], "SELECT * FROM S EMIT CHANGES;");
    let (status, body) = s.ksql(&format!("TERMINATE {id};")).await;
    assert_eq!(status, 200, "{body}");
    let rest = Server::read_all(resp).await;
    assert_eq!(rest.trim(), r#"{"finalMessage":"Query terminated"}]"#);
    let (_, body) = s.ksql("SHOW QUERIES;").await;
    assert_eq!(body[0]["queries"], json!([]));
}

#[tokio::test]
async fn pull_query_over_query_endpoint_completes() {
    let s = server().await;
    with_rows(&s).await;
    let resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({"ksql": "SELECT ID FROM S WHERE AMOUNT > 2;"}))
        .send()
        .await
        .unwrap();
    let text = Server::read_all(resp).await;
    let rows: Json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(rows[0]["header"]["schema"], "`ID` INTEGER");
    assert_eq!(rows[1], json!({"row": {"columns": [2]}}));
    assert_eq!(rows[2], json!({"finalMessage": "Query Completed"}));
    assert_eq!(rows.as_array().unwrap().len(), 3);
    // ksqlDB's pull-query restrictions on streams.
    let resp = s
        .client
        .post(format!("{}/query", s.url))
        .json(&json!({"ksql": "SELECT ID, ROWOFFSET FROM S;"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Pull queries don't support the following columns in SELECT clauses: `ROWOFFSET`"
    );
}
