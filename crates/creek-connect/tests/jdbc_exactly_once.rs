//! The JDBC source against a real (throwaway) PostgreSQL: concurrent writers whose
//! transactions commit out of order, with shared and older timestamps, and a worker
//! restart in the middle. Every committed row must reach the topic exactly once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use creek_connect::converter::ConverterContext;
use creek_connect::{Worker, WorkerConfig};
use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_pg::TempPostgres;
use creek_store::{LogStore, OffsetSpec};
use rand::Rng;

const WRITERS: usize = 4;
const ROWS_PER_WRITER: usize = 25_000;

async fn worker(store: Arc<dyn LogStore>) -> Worker {
    let registry = creek_schema::Registry::open(store.clone()).await.unwrap();
    Worker::start(
        store,
        WorkerConfig::new(
            "127.0.0.1:0".into(),
            ConverterContext {
                registry,
                registry_url: "http://127.0.0.1:0".into(),
            },
        ),
    )
    .await
    .unwrap()
}

/// (writer, n) of every record in the topic.
async fn delivered(store: &Arc<dyn LogStore>, topic: &str) -> Vec<(i64, i64)> {
    let Ok(end) = store.list_offset(topic, 0, OffsetSpec::Latest).await else {
        return Vec::new();
    };
    let end = end.unwrap_or(0);
    let mut at = 0;
    let mut out = Vec::new();
    while at < end {
        let batch = store
            .fetch(topic, 0, at, 8 << 20, Duration::ZERO)
            .await
            .unwrap();
        for r in batch.records {
            at = r.offset + 1;
            let v: serde_json::Value = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
            out.push((v["writer"].as_i64().unwrap(), v["n"].as_i64().unwrap()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_commits_are_delivered_exactly_once() {
    let pg = TempPostgres::start()
        .await
        .expect("starting a throwaway PostgreSQL");
    let admin = pg.connect().await.unwrap();
    admin
        .batch_execute(
            "CREATE TABLE events (id bigserial NOT NULL, writer int NOT NULL, n int NOT NULL, \
             ts timestamp NOT NULL DEFAULT clock_timestamp())",
        )
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
        Log::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    let w = worker(store.clone()).await;
    let config: BTreeMap<String, String> = [
        (
            "connector.class",
            "io.confluent.connect.jdbc.JdbcSourceConnector",
        ),
        ("connection.url", pg.jdbc_url().as_str()),
        ("connection.user", "postgres"),
        ("mode", "timestamp"),
        ("timestamp.column.name", "ts"),
        ("table.whitelist", "public.events"),
        ("topic.prefix", "pg-"),
        ("poll.interval.ms", "20"),
        ("batch.max.rows", "300"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    w.create("events-source", config.clone()).await.unwrap();
    // The same table again, held back by timestamp.delay.interval.ms.
    let mut delayed = config;
    delayed.insert("topic.prefix".into(), "delayed-".into());
    delayed.insert("timestamp.delay.interval.ms".into(), "250".into());
    w.create("events-delayed", delayed).await.unwrap();

    // Writers: transactions of random size whose commits are delayed at random, so
    // they commit out of timestamp order; half the rows share a rounded timestamp.
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let conn = pg.connection_string();
        writers.push(tokio::spawn(async move {
            let client = creek_pg::connect(&conn).await.unwrap();
            let mut n = 0usize;
            while n < ROWS_PER_WRITER {
                let (size, delay_ms, tie) = {
                    let mut rng = rand::rng();
                    (rng.random_range(1..400usize), rng.random_range(0..30u64), rng.random_bool(0.5))
                };
                let size = size.min(ROWS_PER_WRITER - n);
                let ts = if tie { "date_trunc('second', clock_timestamp())" } else { "clock_timestamp()" };
                client.batch_execute("BEGIN").await.unwrap();
                client
                    .batch_execute(&format!(
                        "INSERT INTO events (writer, n, ts) SELECT {writer}, g, {ts} FROM generate_series({}, {}) g",
                        n,
                        n + size - 1
                    ))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                client.batch_execute("COMMIT").await.unwrap();
                n += size;
            }
        }));
    }

    // Restart the worker mid-stream: tasks stop wherever they are, and are gone
    // before the next worker starts (as when the process is killed).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    w.stop_all().await;
    drop(w);
    let w = worker(store.clone()).await;

    for h in writers {
        h.await.unwrap();
    }
    for (connector, topic) in [
        ("events-source", "pg-events"),
        ("events-delayed", "delayed-events"),
    ] {
        assert_exactly_once(&w, &store, connector, topic).await;
    }
    w.shutdown();
    pg.stop().await;
}

async fn assert_exactly_once(w: &Worker, store: &Arc<dyn LogStore>, connector: &str, topic: &str) {
    let total = WRITERS * ROWS_PER_WRITER;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if delivered(store, topic).await.len() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let a few more polls run: nothing more may arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = delivered(store, topic).await;
    let status = w.status(connector).unwrap();
    let mut counts: HashMap<(i64, i64), usize> = HashMap::new();
    for k in &got {
        *counts.entry(*k).or_default() += 1;
    }
    let doubled = counts.values().filter(|c| **c > 1).count();
    let missing = (0..WRITERS as i64)
        .flat_map(|w| (0..ROWS_PER_WRITER as i64).map(move |n| (w, n)))
        .filter(|k| !counts.contains_key(k))
        .count();
    assert_eq!(
        (missing, doubled, got.len()),
        (0, 0, total),
        "{connector}: task states {:?}",
        status.tasks
    );
}
