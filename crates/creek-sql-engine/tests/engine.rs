//! The engine over a real embedded log: persistent queries survive a restart
//! without reprocessing or skipping, and bad records go to the processing log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_schema::Registry;
use creek_sql_engine::engine::{Engine, EngineConfig, Session};
use creek_store::{LogStore, ProducerRecord};

async fn open(dir: &Path) -> (Arc<dyn LogStore>, Arc<Engine>) {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(log));
    let registry = Registry::open(store.clone()).await.unwrap();
    let engine = Engine::new(
        store.clone(),
        Some(registry),
        EngineConfig {
            spawn_queries: false,
            ..EngineConfig::default()
        },
    );
    engine.recover().await.unwrap();
    engine.create_processing_log_stream().await.unwrap();
    (store, engine)
}

async fn run(engine: &Arc<Engine>, sql: &str, session: &mut Session) {
    for s in creek_sql::parse_script(sql).unwrap() {
        engine
            .execute(&s.statement, &s.text, session)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", s.text));
    }
}

async fn produce_json(store: &Arc<dyn LogStore>, topic: &str, values: &[String]) {
    let records = values
        .iter()
        .map(|v| ProducerRecord {
            key: None,
            value: Some(bytes::Bytes::from(v.clone())),
            headers: Vec::new(),
            timestamp: Some(1),
        })
        .collect();
    store.produce(topic, 0, records).await.unwrap();
}

/// Opens the engine over `dir`, creates the one-partition `topic` and runs `sql`.
async fn start_with(
    dir: &Path,
    topic: &str,
    sql: &str,
) -> (Arc<dyn LogStore>, Arc<Engine>, Session) {
    let (store, engine) = open(dir).await;
    store.create_topic(topic, 1, BTreeMap::new()).await.unwrap();
    let mut session = Session::default();
    run(&engine, sql, &mut session).await;
    (store, engine, session)
}

/// Runs a pull query to its end: the header schema and the rows.
async fn pull(
    engine: &Arc<Engine>,
    session: &Session,
    sql: &str,
) -> Result<(String, Vec<serde_json::Value>), String> {
    let creek_sql::ast::Statement::Query(q) = creek_sql::parse_statement(sql).unwrap() else {
        panic!("not a query: {sql}")
    };
    let mut query = creek_sql_engine::push::start(engine, &q, sql, session)
        .await
        .map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    while let Some(row) = query.rows.recv().await {
        rows.push(serde_json::Value::Array(row.columns));
    }
    Ok((query.schema_text(), rows))
}

async fn record_count(store: &Arc<dyn LogStore>, topic: &str) -> usize {
    let fetched = store
        .fetch(topic, 0, 0, 1 << 24, Duration::ZERO)
        .await
        .unwrap();
    fetched.records.len()
}

async fn all_values(store: &Arc<dyn LogStore>, topic: &str) -> Vec<serde_json::Value> {
    let partitions = store.describe_topic(topic).await.unwrap().partitions;
    let mut out = Vec::new();
    for p in 0..partitions {
        let fetched = store
            .fetch(topic, p, 0, 1 << 24, Duration::ZERO)
            .await
            .unwrap();
        for r in fetched.records {
            out.push(serde_json::from_slice(&r.value.unwrap()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn queries_resume_after_a_restart_without_reprocessing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, engine, _) =
            start_with(dir.path(), "orders", "SET 'auto.offset.reset'='earliest';
             CREATE STREAM orders (id INT, amount DOUBLE) WITH (kafka_topic='orders', value_format='JSON');
             CREATE STREAM big AS SELECT id, amount * 2 AS doubled FROM orders WHERE amount > 10;").await;
        let batch: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"ID": {i}, "AMOUNT": {}}}"#, i as f64))
            .collect();
        produce_json(&store, "orders", &batch).await;
        engine.run_until_idle().await.unwrap();
        assert_eq!(all_values(&store, "BIG").await.len(), 89);
        assert_eq!(engine.queries()[0].id, "CSAS_BIG_0");
    }
    // A new engine over the same log: the stream and its query come back
    // from the command topic and resume from the committed offsets.
    let (store, engine) = open(dir.path()).await;
    assert!(engine.metastore().source("ORDERS").is_some());
    assert_eq!(engine.queries().len(), 1);
    assert_eq!(engine.queries()[0].id, "CSAS_BIG_0");
    let batch: Vec<String> = (100..150)
        .map(|i| format!(r#"{{"ID": {i}, "AMOUNT": {}}}"#, i as f64))
        .collect();
    produce_json(&store, "orders", &batch).await;
    engine.run_until_idle().await.unwrap();
    let out = all_values(&store, "BIG").await;
    assert_eq!(out.len(), 139, "each input row exactly once");
    let mut ids: Vec<i64> = out.iter().map(|v| v["ID"].as_i64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 139);
    // A new query id continues the sequence.
    let mut session = Session::default();
    run(
        &engine,
        "CREATE STREAM small AS SELECT id FROM orders WHERE amount <= 10;",
        &mut session,
    )
    .await;
    assert!(engine.queries().iter().any(|q| q.id == "CSAS_SMALL_1"));
}

#[tokio::test]
async fn bad_records_go_to_the_processing_log_and_the_query_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, _) = start_with(
        dir.path(),
        "events",
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM events (id INT, day STRING) WITH (kafka_topic='events', value_format='JSON');
         CREATE STREAM parsed AS SELECT id, PARSE_DATE(day, 'yyyy-MM-dd') AS d FROM events;",
    )
    .await;
    produce_json(
        &store,
        "events",
        &[
            r#"{"ID": 1, "DAY": "2024-02-03"}"#.to_string(),
            "this is not json".to_string(),
            r#"{"ID": 2, "DAY": "not a date"}"#.to_string(),
            r#"{"ID": 3, "DAY": "2024-02-05"}"#.to_string(),
        ],
    )
    .await;
    engine.run_until_idle().await.unwrap();
    let out = all_values(&store, "PARSED").await;
    assert_eq!(out.len(), 3, "{out:?}");
    assert_eq!(out[1]["D"], serde_json::Value::Null);
    let log = all_values(&store, "default_ksql_processing_log").await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["MESSAGE"]["type"], 0);
    assert_eq!(log[1]["MESSAGE"]["type"], 1);
    assert!(engine.metastore().source("KSQL_PROCESSING_LOG").is_some());
}

/// Aggregation state lives in the changelog with the input positions it
/// accounts for: after a restart the counts go on, nothing counted twice.
#[tokio::test]
async fn aggregations_resume_after_a_restart_without_double_counting() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| {
                format!(
                    r#"{{"category": "{}"}}"#,
                    if i % 3 == 0 { "a" } else { "b" }
                )
            })
            .collect()
    };
    {
        let (store, engine, _) =
            start_with(dir.path(), "customers", "SET 'auto.offset.reset'='earliest';
             CREATE STREAM customers (category STRING) WITH (kafka_topic='customers', value_format='JSON');
             CREATE TABLE per_category AS SELECT category, COUNT(*) AS n FROM customers GROUP BY category;").await;
        produce_json(&store, "customers", &rows(6)).await;
        engine.run_until_idle().await.unwrap();
    }
    // Reopened: the same query comes back from the command topic.
    let (store, engine) = open(dir.path()).await;
    produce_json(&store, "customers", &rows(3)).await;
    engine.run_until_idle().await.unwrap();
    let counts = all_values(&store, "PER_CATEGORY").await;
    let last_n: Vec<i64> = counts.iter().map(|v| v["N"].as_i64().unwrap()).collect();
    // a: rows 0, 3 then 6 (1, 2, 3); b: 1, 2, 4, 5 then 7, 8 (1..=6).
    assert_eq!(last_n, vec![1, 1, 2, 2, 3, 4, 3, 5, 6]);
}

async fn produce_keyed(store: &Arc<dyn LogStore>, topic: &str, rows: &[(&str, Option<&str>)]) {
    let records = rows
        .iter()
        .map(|(k, v)| ProducerRecord {
            key: Some(bytes::Bytes::from(k.to_string())),
            value: v.map(|v| bytes::Bytes::from(v.to_string())),
            headers: Vec::new(),
            timestamp: Some(1),
        })
        .collect();
    store.produce(topic, 0, records).await.unwrap();
}

/// An aggregation over a table takes a replaced or deleted row back out of
/// its old group, also for rows it saw before a restart.
#[tokio::test]
async fn table_aggregations_undo_rows_seen_before_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, engine, _) =
            start_with(dir.path(), "users", "SET 'auto.offset.reset'='earliest';
             CREATE TABLE users (id STRING PRIMARY KEY, region STRING) WITH (kafka_topic='users', value_format='JSON');
             CREATE TABLE per_region AS SELECT region, COUNT(*) AS n FROM users GROUP BY region;").await;
        produce_keyed(
            &store,
            "users",
            &[
                ("u1", Some(r#"{"region": "north"}"#)),
                ("u2", Some(r#"{"region": "north"}"#)),
            ],
        )
        .await;
        engine.run_until_idle().await.unwrap();
    }
    let (store, engine) = open(dir.path()).await;
    // u1 moves south, u2 is deleted: both were seen before the restart.
    produce_keyed(
        &store,
        "users",
        &[("u1", Some(r#"{"region": "south"}"#)), ("u2", None)],
    )
    .await;
    engine.run_until_idle().await.unwrap();
    let counts: Vec<i64> = all_values(&store, "PER_REGION")
        .await
        .iter()
        .map(|v| v["N"].as_i64().unwrap())
        .collect();
    // north 1, 2; then north 1 and south 1 (u1 moves); then north 0 (u2 leaves).
    assert_eq!(counts, vec![1, 2, 1, 1, 0]);
}

/// A pull query reads a table's current rows: one per key, deletes gone.
#[tokio::test]
async fn pull_queries_read_the_current_rows_of_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, mut session) =
        start_with(dir.path(), "users", "CREATE SOURCE TABLE users (id STRING PRIMARY KEY, region STRING) WITH (kafka_topic='users', value_format='JSON');").await;
    produce_keyed(
        &store,
        "users",
        &[
            ("u1", Some(r#"{"region": "north"}"#)),
            ("u2", Some(r#"{"region": "north"}"#)),
            ("u1", Some(r#"{"region": "south"}"#)),
            ("u3", Some(r#"{"region": "east"}"#)),
            ("u3", None),
        ],
    )
    .await;
    let lookup = |sql: &'static str| pull(&engine, &session, sql);
    let (schema, rows) = lookup("SELECT * FROM users;").await.unwrap();
    assert_eq!(schema, "`ID` STRING KEY, `REGION` STRING");
    assert_eq!(
        rows,
        vec![
            serde_json::json!(["u1", "south"]),
            serde_json::json!(["u2", "north"])
        ]
    );
    let (_, rows) = lookup("SELECT region FROM users WHERE id = 'u2';")
        .await
        .unwrap();
    assert_eq!(rows, vec![serde_json::json!(["north"])]);

    // A plain CREATE TABLE is not materialized, as in ksqlDB.
    run(
        &engine,
        "CREATE TABLE plain (id STRING PRIMARY KEY, region STRING) WITH (kafka_topic='users', value_format='JSON');",
        &mut session,
    )
    .await;
    let err = pull(&engine, &session, "SELECT * FROM plain;")
        .await
        .err()
        .unwrap();
    assert!(err.contains("table isn't queryable"), "{err}");
}

/// A changelog that cannot be restored puts its query in ERROR with the
/// reason (EXPLAIN shows it); the other queries go on.
#[tokio::test]
async fn a_corrupt_changelog_fails_only_its_query() {
    let dir = tempfile::tempdir().unwrap();
    let rows =
        |n: usize| -> Vec<String> { (0..n).map(|_| r#"{"category": "a"}"#.to_string()).collect() };
    {
        let (store, engine, _) =
            start_with(dir.path(), "customers", "SET 'auto.offset.reset'='earliest';
             CREATE STREAM customers (category STRING) WITH (kafka_topic='customers', value_format='JSON');
             CREATE TABLE counts AS SELECT category, COUNT(*) AS n FROM customers GROUP BY category;
             CREATE TABLE broken AS SELECT category, COUNT(*) AS n FROM customers GROUP BY category;").await;
        produce_json(&store, "customers", &rows(2)).await;
        engine.run_until_idle().await.unwrap();
        let changelog = engine.changelog_topic("CTAS_BROKEN_1");
        let garbage = ProducerRecord {
            key: Some(bytes::Bytes::from_static(b"[\"x\",0]")),
            value: Some(bytes::Bytes::from_static(b"not json")),
            headers: Vec::new(),
            timestamp: Some(1),
        };
        store.produce(&changelog, 0, vec![garbage]).await.unwrap();
    }
    let (store, engine) = open(dir.path()).await;
    produce_json(&store, "customers", &rows(1)).await;
    engine.run_until_idle().await.unwrap();
    let queries = engine.queries();
    let broken = queries.iter().find(|q| q.id == "CTAS_BROKEN_1").unwrap();
    assert_eq!(*broken.state.lock(), "ERROR");
    let reason = broken.error.lock().clone().unwrap().1;
    assert!(reason.contains("corrupt changelog record"), "{reason}");
    let counts = queries.iter().find(|q| q.id == "CTAS_COUNTS_0").unwrap();
    assert_eq!(*counts.state.lock(), "RUNNING");
    let last = all_values(&store, "COUNTS").await.last().cloned().unwrap();
    assert_eq!(last["N"], 3);
    // EXPLAIN tells why.
    let mut session = Session::default();
    let explain = engine
        .execute(
            &creek_sql::parse_statement("EXPLAIN CTAS_BROKEN_1;").unwrap(),
            "EXPLAIN CTAS_BROKEN_1;",
            &mut session,
        )
        .await
        .unwrap();
    let text = explain.to_string();
    assert!(text.contains("corrupt changelog record"), "{text}");
}

/// Memory holds the configured number of groups; the rest spill to disk and
/// come back with their counts when their key shows up again.
#[tokio::test]
async fn aggregation_memory_is_bounded_by_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let spill = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(log));
    let engine = Engine::new(
        store.clone(),
        None,
        EngineConfig {
            spawn_queries: false,
            state_limits: creek_sql_engine::aggregate::StateLimits {
                groups_in_memory: 50,
                spill_dir: spill.path().to_path_buf(),
            },
            ..EngineConfig::default()
        },
    );
    store
        .create_topic("customers", 1, BTreeMap::new())
        .await
        .unwrap();
    let mut session = Session::default();
    run(
        &engine,
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM customers (id INT) WITH (kafka_topic='customers', value_format='JSON');
         CREATE TABLE per_id AS SELECT id, COUNT(*) AS n FROM customers GROUP BY id;",
        &mut session,
    )
    .await;
    // 1000 distinct keys, twice, in batches of 100.
    for _ in 0..2 {
        for batch in 0..10 {
            let rows: Vec<String> = (batch * 100..(batch + 1) * 100)
                .map(|i| format!(r#"{{"id": {i}}}"#))
                .collect();
            produce_json(&store, "customers", &rows).await;
            engine.run_until_idle().await.unwrap();
        }
    }
    let query = engine.queries().into_iter().next().unwrap();
    let creek_sql_engine::engine::QueryLogic::Aggregate(a) = &query.logic else {
        panic!("not an aggregation")
    };
    let (hot, spilled) = a.state_sizes();
    assert!(hot <= 100, "{hot} groups in memory");
    assert_eq!(hot + spilled, 1000);
    // The second pass found every first count, spilled or not.
    let values = all_values(&store, "PER_ID").await;
    assert_eq!(values.len(), 2000);
    assert!(values[1000..].iter().all(|v| v["N"] == 2));
}

/// Session windows survive a restart: a row after the restart still merges
/// with the session restored from the changelog, deleting it.
#[tokio::test]
async fn session_windows_merge_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let produce = |store: Arc<dyn LogStore>, at: Vec<i64>| async move {
        let records = at
            .iter()
            .map(|t| ProducerRecord {
                key: None,
                value: Some(bytes::Bytes::from(r#"{"user": "u"}"#)),
                headers: Vec::new(),
                timestamp: Some(*t),
            })
            .collect();
        store.produce("clicks", 0, records).await.unwrap();
    };
    {
        let (store, engine, _) =
            start_with(dir.path(), "clicks", "SET 'auto.offset.reset'='earliest';
             CREATE STREAM clicks (user STRING) WITH (kafka_topic='clicks', value_format='JSON');
             CREATE TABLE visits AS SELECT user, COUNT(*) AS n FROM clicks WINDOW SESSION (10 SECONDS) GROUP BY user;").await;
        produce(store.clone(), vec![1_000, 5_000]).await;
        engine.run_until_idle().await.unwrap();
    }
    let (store, engine) = open(dir.path()).await;
    produce(store.clone(), vec![12_000, 40_000]).await;
    engine.run_until_idle().await.unwrap();
    let fetched = store
        .fetch("VISITS", 0, 0, 1 << 24, Duration::ZERO)
        .await
        .unwrap();
    let rows: Vec<(Option<i64>, i64, i64)> = fetched
        .records
        .iter()
        .map(|r| {
            let key = r.key.as_ref().unwrap();
            let (_, start, end) =
                creek_sql_engine::format::split_session_windowed_key(key).unwrap();
            let n = r.value.as_ref().map(|v| {
                serde_json::from_slice::<serde_json::Value>(v).unwrap()["N"]
                    .as_i64()
                    .unwrap()
            });
            (n, start, end)
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (Some(1), 1_000, 1_000),
            (None, 1_000, 1_000),
            (Some(2), 1_000, 5_000),
            // After the restart: the restored session is merged away.
            (None, 1_000, 5_000),
            (Some(3), 1_000, 12_000),
            (Some(1), 40_000, 40_000),
        ]
    );
}

/// Pull queries over a windowed table see the windows within its RETENTION
/// of the newest record, as Kafka Streams' window stores keep them.
#[tokio::test]
async fn windowed_pull_queries_forget_windows_past_retention() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, session) = start_with(
        dir.path(),
        "clicks",
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM clicks (page STRING) WITH (kafka_topic='clicks', value_format='JSON');
         CREATE TABLE per_page AS SELECT page, COUNT(*) AS n FROM clicks
           WINDOW TUMBLING (SIZE 10 SECONDS, RETENTION 1 MINUTE, GRACE PERIOD 0 SECONDS)
           GROUP BY page;",
    )
    .await;
    let click = |t: i64| ProducerRecord {
        key: None,
        value: Some(bytes::Bytes::from_static(br#"{"page": "home"}"#)),
        headers: Vec::new(),
        timestamp: Some(t),
    };
    store
        .produce(
            "clicks",
            0,
            vec![click(1_000), click(100_000), click(125_000)],
        )
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let (_, rows) = pull(
        &engine,
        &session,
        "SELECT WINDOWSTART, n FROM per_page WHERE page = 'home';",
    )
    .await
    .unwrap();
    // The window at 0 is more than a minute older than the newest record.
    assert_eq!(
        rows,
        vec![
            serde_json::json!([100_000, 1]),
            serde_json::json!([120_000, 1])
        ]
    );
}

/// GROUP BY on a value column re-keys through the repartition topic. If the
/// source offsets stage one committed are lost (a crash between writing the
/// repartition topic and committing), the restart writes those rows again;
/// stage two skips them, so nothing is counted twice.
#[tokio::test]
async fn rekeyed_rows_written_twice_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r#"{{"category": "{}"}}"#,
                if i % 3 == 0 { "a" } else { "b" }
            )
        })
        .collect();
    {
        let (store, engine, _) =
            start_with(dir.path(), "customers", "SET 'auto.offset.reset'='earliest';
             CREATE STREAM customers (category STRING) WITH (kafka_topic='customers', value_format='JSON');
             CREATE TABLE per_category AS SELECT category, COUNT(*) AS n FROM customers GROUP BY category;").await;
        produce_json(&store, "customers", &rows).await;
        engine.run_until_idle().await.unwrap();
        let repartition = engine.repartition_topic("CTAS_PER_CATEGORY_0");
        let written = record_count(&store, &repartition).await;
        assert_eq!(written, 6, "one re-keyed record per row");
        // The crash: stage one's commit is lost.
        store
            .commit_offsets(
                &engine.query_group("CTAS_PER_CATEGORY_0"),
                &[("customers".to_string(), 0, 0)],
            )
            .await
            .unwrap();
    }
    let (store, engine) = open(dir.path()).await;
    engine.run_until_idle().await.unwrap();
    // The state's changelog is never cut by retention.
    let changelog = store
        .describe_topic(&engine.changelog_topic("CTAS_PER_CATEGORY_0"))
        .await
        .unwrap();
    assert!(changelog
        .configs
        .iter()
        .any(|(k, v, _)| k == "cleanup.policy" && v == "compact"));
    let repartition = engine.repartition_topic("CTAS_PER_CATEGORY_0");
    assert_eq!(
        record_count(&store, &repartition).await,
        12,
        "written twice"
    );
    let counts: Vec<i64> = all_values(&store, "PER_CATEGORY")
        .await
        .iter()
        .map(|v| v["N"].as_i64().unwrap())
        .collect();
    // a: 1, 2; b: 1, 2, 3, 4 — and nothing more after the restart.
    assert_eq!(counts, vec![1, 1, 2, 2, 3, 4]);
}

/// Repartition records of earlier builds were JSON text; one still waiting in
/// the topic after an upgrade is counted like a binary one.
#[tokio::test]
async fn json_rekeyed_records_of_earlier_builds_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, _) = start_with(dir.path(), "customers", "SET 'auto.offset.reset'='earliest';
         CREATE STREAM customers (category STRING) WITH (kafka_topic='customers', value_format='JSON');
         CREATE TABLE per_category AS SELECT category, COUNT(*) AS n FROM customers GROUP BY category;").await;
    produce_json(&store, "customers", &[r#"{"category": "a"}"#.to_string()]).await;
    engine.run_until_idle().await.unwrap();
    let repartition = engine.repartition_topic("CTAS_PER_CATEGORY_0");
    let legacy = ProducerRecord {
        key: Some(bytes::Bytes::from(r#"["a"]"#)),
        value: Some(bytes::Bytes::from(r#"{"u":null,"a":[[]],"s":[0,7,0]}"#)),
        headers: Vec::new(),
        timestamp: Some(2),
    };
    store.produce(&repartition, 0, vec![legacy]).await.unwrap();
    engine.run_until_idle().await.unwrap();
    let counts: Vec<i64> = all_values(&store, "PER_CATEGORY")
        .await
        .iter()
        .map(|v| v["N"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![1, 2]);
}

async fn describe_extended(engine: &Arc<Engine>, name: &str) -> serde_json::Value {
    let sql = format!("DESCRIBE {name} EXTENDED;");
    let stmt = creek_sql::parse_statement(&sql).unwrap();
    let mut session = Session::default();
    let out = engine.execute(&stmt, &sql, &mut session).await.unwrap();
    out["sourceDescription"].clone()
}

#[tokio::test]
async fn describe_extended_counts_the_records_queries_read_and_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, _) = start_with(
        dir.path(),
        "orders",
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM orders (id INT, amount DOUBLE) WITH (kafka_topic='orders', value_format='JSON');
         CREATE STREAM big AS SELECT id FROM orders WHERE amount > 10;",
    )
    .await;
    // Nothing read yet: ksqlDB shows no statistics.
    assert_eq!(describe_extended(&engine, "ORDERS").await["statistics"], "");
    let mut batch: Vec<String> = (0..37)
        .map(|i| format!(r#"{{"ID": {i}, "AMOUNT": {}}}"#, i as f64))
        .collect();
    batch.push("not json".into());
    produce_json(&store, "orders", &batch).await;
    engine.run_until_idle().await.unwrap();
    let orders = describe_extended(&engine, "ORDERS").await;
    let stats = orders["statistics"].as_str().unwrap();
    assert!(
        stats.contains("consumer-total-messages:        38 "),
        "{stats}"
    );
    assert!(stats.contains("last-message: 20"), "{stats}");
    let errors = orders["errorStats"].as_str().unwrap();
    assert!(
        errors.contains("consumer-failed-messages:         1 "),
        "{errors}"
    );
    // The sink side counts what the query produced: 26 rows over 10.
    let big = describe_extended(&engine, "BIG").await;
    let stats = big["statistics"].as_str().unwrap();
    assert!(stats.contains("total-messages:        26 "), "{stats}");
    assert_eq!(all_values(&store, "BIG").await.len(), 26);
    assert_eq!(big["errorStats"], "");
    // A transient query reads the topic too: its records count as well.
    let (_, rows) = pull(&engine, &Session::default(), "SELECT * FROM orders;")
        .await
        .unwrap();
    assert_eq!(rows.len(), 37);
    let orders = describe_extended(&engine, "ORDERS").await;
    let stats = orders["statistics"].as_str().unwrap();
    assert!(
        stats.contains("consumer-total-messages:        76 "),
        "{stats}"
    );
    let errors = orders["errorStats"].as_str().unwrap();
    assert!(
        errors.contains("consumer-failed-messages:         2 "),
        "{errors}"
    );
}

#[tokio::test]
async fn query_rows_show_dates_and_times_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, session) = start_with(
        dir.path(),
        "times",
        "SET 'auto.offset.reset'='earliest';
         CREATE STREAM times (d DATE, t TIME, ts TIMESTAMP) WITH (kafka_topic='times', value_format='JSON');",
    )
    .await;
    produce_json(
        &store,
        "times",
        &[r#"{"D": 12345, "T": 12000, "TS": 12343335}"#.to_string()],
    )
    .await;
    let (_, rows) = pull(&engine, &session, "SELECT * FROM times;")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![serde_json::json!([
            "2003-10-20",
            "00:00:12",
            "1970-01-01T03:25:43.335"
        ])]
    );
}

#[tokio::test]
async fn table_pull_queries_show_dates_and_times_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (store, engine, session) = start_with(
        dir.path(),
        "events",
        "CREATE SOURCE TABLE events (id STRING PRIMARY KEY, d DATE, ts TIMESTAMP) \
         WITH (kafka_topic='events', value_format='JSON');",
    )
    .await;
    produce_keyed(
        &store,
        "events",
        &[("e1", Some(r#"{"D": 12345, "TS": 12343335}"#))],
    )
    .await;
    let (_, rows) = pull(&engine, &session, "SELECT * FROM events WHERE id = 'e1';")
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![serde_json::json!([
            "e1",
            "2003-10-20",
            "1970-01-01T03:25:43.335"
        ])]
    );
}

#[tokio::test]
async fn show_topics_follows_the_servers_hidden_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, engine, _) = start_with(dir.path(), "visible", "SHOW TOPICS;").await;
    let names = |out: serde_json::Value| -> Vec<String> {
        out["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect()
    };
    let show = |sql: &'static str, session: Session| {
        let engine = engine.clone();
        async move {
            let stmt = creek_sql::parse_statement(sql).unwrap();
            let mut session = session;
            engine.execute(&stmt, sql, &mut session).await.unwrap()
        }
    };
    assert!(names(show("SHOW TOPICS;", Session::default()).await).contains(&"visible".into()));
    engine.set_server_property("ksql.hidden.topics", "vis.*");
    let shown = names(show("SHOW TOPICS;", Session::default()).await);
    assert!(!shown.contains(&"visible".into()), "{shown:?}");
    // A session's SET still wins over the server's setting.
    let mut session = Session::default();
    session
        .properties
        .insert("ksql.hidden.topics".into(), "other".into());
    assert!(names(show("SHOW TOPICS;", session).await).contains(&"visible".into()));
    assert!(names(show("SHOW ALL TOPICS;", Session::default()).await).contains(&"visible".into()));
}
