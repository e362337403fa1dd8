//! The plug-in seam: two connectors defined here, outside the crate, registered
//! through the registry and run by the worker, which knows nothing of them. A
//! source writes rows through the runtime's producer and commits source offsets;
//! a sink receives them and commits its consumer group (`connect-<name>`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use creek_connect::config::{self, key, ConfigProblem, KeyTable, KeyType};
use creek_connect::connector::{
    numbered_task_configs, Config, Connector, ConnectorKind, SinkTask, SourceTask, Task,
};
use creek_connect::context::{SinkContext, SourceContext, SourceRow, TaskError};
use creek_connect::converter::ConverterContext;
use creek_connect::data::{Field, FieldType, StructSchema, Value};
use creek_connect::registry::{Plugin, Registry};
use creek_connect::runtime::State;
use creek_connect::{Worker, WorkerConfig};
use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_store::{ConsumerRecord, LogStore, OffsetSpec};
use serde_json::json;

const TOPIC: &str = "counted";

/// Writes rows `{"n": 0}` … `{"n": rows-1}` to `counted`, one batch per poll.
#[derive(Default)]
struct CountingSource {
    config: Config,
}

#[async_trait]
impl Connector for CountingSource {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }
    fn version(&self) -> &'static str {
        "0.1-test"
    }
    fn config_keys(&self) -> KeyTable {
        let mut t = config::source_keys();
        t.keys.push(key(
            "rows",
            KeyType::Int,
            Some("10"),
            "Test",
            "Rows to write.",
        ));
        t
    }
    async fn validate(&self, config: &Config) -> Vec<ConfigProblem> {
        match config.get("rows").map(|r| r.parse::<i64>()) {
            Some(Ok(n)) if n < 0 => vec![ConfigProblem {
                key: "rows".into(),
                message: "rows must not be negative".into(),
            }],
            _ => Vec::new(),
        }
    }
    fn start(&mut self, config: &Config) -> Result<(), Vec<ConfigProblem>> {
        self.config = config.clone();
        Ok(())
    }
    async fn task_configs(&self, _max_tasks: usize) -> Vec<Config> {
        numbered_task_configs(&self.config, 1)
    }
    fn task(&self, task_config: &Config) -> Task {
        let rows = task_config
            .get("rows")
            .and_then(|r| r.parse().ok())
            .unwrap_or(10);
        Task::Source(Box::new(CountingTask { rows, next: 0 }))
    }
}

struct CountingTask {
    rows: i64,
    next: i64,
}

struct Row(i64);

impl SourceRow for Row {
    fn values(&self) -> Result<Vec<Value>, TaskError> {
        Ok(vec![Value::Int64(self.0)])
    }
}

fn partition() -> serde_json::Value {
    json!({"counter": "only"})
}

#[async_trait]
impl SourceTask for CountingTask {
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), TaskError> {
        self.next = ctx
            .offsets
            .get(&ctx.connector, &partition())
            .and_then(|o| o["next"].as_i64())
            .unwrap_or(0);
        Ok(())
    }
    async fn poll(&mut self, ctx: &SourceContext) -> Result<tokio::time::Instant, TaskError> {
        let wake = tokio::time::Instant::now() + Duration::from_millis(20);
        if self.next >= self.rows {
            return Ok(wake);
        }
        let schema = StructSchema {
            name: "Count".into(),
            fields: vec![Field {
                name: "n".into(),
                ty: FieldType::Int64,
                optional: false,
            }],
        };
        let writer = ctx.producer.open_topic(TOPIC, &schema).await?;
        let mut batch = writer.batch(None);
        let end = (self.next + 4).min(self.rows);
        for n in self.next..end {
            writer.append(&mut batch, &Row(n))?;
        }
        ctx.producer.send(TOPIC, 0, batch).await?;
        ctx.offsets
            .commit(&ctx.connector, &partition(), &json!({"next": end}))
            .await?;
        ctx.metrics.add_rows((end - self.next) as u64);
        self.next = end;
        Ok(wake)
    }
    fn start_backoff(&self) -> Duration {
        Duration::from_millis(50)
    }
    fn after_failure(&mut self, _ctx: &SourceContext) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }
}

/// What the collecting sink received: (connector, record value).
static COLLECTED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Keeps every record value of its `topics` in [`COLLECTED`].
#[derive(Default)]
struct CollectingSink {
    config: Config,
}

#[async_trait]
impl Connector for CollectingSink {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }
    fn version(&self) -> &'static str {
        "0.1-test"
    }
    fn config_keys(&self) -> KeyTable {
        config::sink_keys()
    }
    async fn validate(&self, _config: &Config) -> Vec<ConfigProblem> {
        Vec::new()
    }
    fn start(&mut self, config: &Config) -> Result<(), Vec<ConfigProblem>> {
        self.config = config.clone();
        Ok(())
    }
    async fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        numbered_task_configs(&self.config, max_tasks)
    }
    fn task(&self, task_config: &Config) -> Task {
        let topics = task_config
            .get("topics")
            .map(|t| t.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        Task::Sink(Box::new(CollectingTask { topics }))
    }
}

struct CollectingTask {
    topics: Vec<String>,
}

#[async_trait]
impl SinkTask for CollectingTask {
    async fn start(&mut self, _ctx: &SinkContext) -> Result<(), TaskError> {
        Ok(())
    }
    fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }
    async fn put(
        &mut self,
        ctx: &SinkContext,
        topic: &str,
        partition: i32,
        records: Vec<ConsumerRecord>,
    ) -> Result<(), TaskError> {
        let last = records.last().map(|r| r.offset);
        for r in records {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into();
            COLLECTED
                .lock()
                .unwrap()
                .push((ctx.connector.clone(), value));
        }
        if let Some(last) = last {
            // Delivered as soon as it is in memory: commit past it.
            ctx.offsets.commit(topic, partition, last + 1).await?;
        }
        Ok(())
    }
    async fn flush(&mut self, _ctx: &SinkContext) -> Result<(), TaskError> {
        Ok(())
    }
    fn retry_backoff(&self) -> Duration {
        Duration::from_millis(50)
    }
}

fn registry() -> Registry {
    let mut r = Registry::builtin();
    r.register(Plugin {
        class: "test.CountingSource",
        aliases: &["CountingSource"],
        create: || Box::<CountingSource>::default(),
    });
    r.register(Plugin {
        class: "test.CollectingSink",
        aliases: &["CollectingSink"],
        create: || Box::<CollectingSink>::default(),
    });
    r
}

async fn worker(store: Arc<dyn LogStore>) -> Worker {
    let schemas = creek_schema::Registry::open(store.clone()).await.unwrap();
    let mut config = WorkerConfig::new(
        "127.0.0.1:0".into(),
        ConverterContext {
            registry: schemas,
            registry_url: "http://127.0.0.1:0".into(),
        },
    );
    config.registry = Arc::new(registry());
    Worker::start(store, config).await.unwrap()
}

fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn collected(connector: &str) -> Vec<String> {
    COLLECTED
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| c == connector)
        .map(|(_, v)| v.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_connectors_run_through_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
        Log::open(dir.path(), LogConfig::default()).unwrap(),
    ));
    let w = worker(store.clone()).await;

    // The registry answers for the new classes, by class and by alias.
    let listed: Vec<&str> = w.registry().plugins().iter().map(|p| p.class).collect();
    assert!(listed.contains(&"test.CountingSource"), "{listed:?}");
    let source = cfg(&[
        ("name", "counter"),
        ("connector.class", "CountingSource"),
        ("rows", "10"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
        ("value.converter.schemas.enable", "false"),
    ]);
    let (_, review) = w.validate("test.CountingSource", &source).await.unwrap();
    assert!(review.errors.is_empty(), "{:?}", review.errors);
    // The connector's own validation runs.
    let mut negative = source.clone();
    negative.insert("rows".into(), "-1".into());
    let (_, review) = w.validate("CountingSource", &negative).await.unwrap();
    assert_eq!(review.errors.len(), 1, "{:?}", review.errors);

    let info = w.create("counter", source).await.unwrap();
    assert_eq!((info.kind, info.tasks), ("source", 1));
    let sink = cfg(&[
        ("connector.class", "CollectingSink"),
        ("topics", TOPIC),
        ("tasks.max", "2"),
        (
            "value.converter",
            "org.apache.kafka.connect.json.JsonConverter",
        ),
    ]);
    let info = w.create("collector", sink).await.unwrap();
    assert_eq!((info.kind, info.tasks), ("sink", 2));

    wait_for("the sink receives every row", || {
        collected("collector").len() >= 10
    })
    .await;
    let values = collected("collector");
    let expected: Vec<String> = (0..10).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(values, expected);
    let status = w.status("counter").unwrap();
    assert_eq!(status.tasks.len(), 1);
    assert_eq!(status.tasks[0].0, State::Running);
    assert_eq!(w.rows("counter"), 10);

    // Offsets as the runtime keeps them: the source's, and the sink's group.
    let offsets = w.offsets("counter").await.unwrap();
    assert_eq!(offsets, vec![(partition(), json!({"next": 10}))]);
    // The sink commits right after handing records over; give it a moment.
    let mut committed = BTreeMap::new();
    for _ in 0..100 {
        committed = store.committed_offsets("connect-collector").await.unwrap();
        if committed.get(&(TOPIC.to_string(), 0)) == Some(&10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(committed.get(&(TOPIC.to_string(), 0)), Some(&10));
    let offsets = w.offsets("collector").await.unwrap();
    assert_eq!(
        offsets,
        vec![(
            json!({"kafka_topic": TOPIC, "kafka_partition": 0}),
            json!({"kafka_offset": 10})
        )]
    );

    // Active topics (KIP-558): what each connector wrote to or read from; a reset
    // forgets the sink's.
    assert_eq!(w.active_topics("counter"), [TOPIC]);
    assert_eq!(w.active_topics("collector"), [TOPIC]);
    w.reset_topics("collector").await.unwrap();
    assert!(w.active_topics("collector").is_empty());

    // A new worker over the same log resumes both from their offsets: nothing is
    // written or delivered twice.
    w.shutdown();
    let w = worker(store.clone()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.status("collector").unwrap().state, State::Running);
    let end = store
        .list_offset(TOPIC, 0, OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(end, Some(10));
    assert_eq!(collected("collector").len(), 10);
    // Active topics come back from connect-status, the reset too.
    assert_eq!(w.active_topics("counter"), [TOPIC]);
    assert!(w.active_topics("collector").is_empty());
    w.shutdown();
}
