//! The plug-in API, after Kafka Connect's own: a [`Connector`] checks its config
//! and splits its work into task configs; a [`SourceTask`] polls its source and
//! hands records to the runtime's producer, then commits source offsets; a
//! [`SinkTask`] receives the records of its topic-partitions and commits consumer
//! offsets once they are delivered. The runtime drives tasks (pause, statuses,
//! retries, the sink's consumption) without knowing which connector they are;
//! [`crate::registry`] maps `connector.class` names to constructors.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use creek_store::ConsumerRecord;
use tokio::time::Instant;

use crate::config::{ConfigProblem, KeyTable};
use crate::context::{SinkContext, SourceContext, TaskError};

/// A connector or task config: Connect's string-to-string properties.
pub type Config = BTreeMap<String, String>;

/// Which way a connector moves data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Sink,
}

impl ConnectorKind {
    /// "source" or "sink", as Connect's REST API names them.
    pub fn name(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
}

/// A connector class. The registry builds a fresh one per use (validation, or a
/// connector start); `start` parses the config, then the runtime asks for task
/// configs and builds a task from each.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    fn kind(&self) -> ConnectorKind;
    fn version(&self) -> &'static str;
    /// Connect's `config()`: the key table (Connect's common keys and the
    /// connector's own) that `config::check` applies before anything else.
    fn config_keys(&self) -> KeyTable;
    /// Warnings that depend on several keys (on top of `config::check`'s).
    fn warnings(&self, _config: &Config) -> Vec<ConfigProblem> {
        Vec::new()
    }
    /// Cross-key rules and checks against the outside world (a database, a
    /// bucket), after `config::check` accepted keys and types.
    async fn validate(&self, config: &Config) -> Vec<ConfigProblem>;
    /// Connect's `start(props)`: keeps the parsed config; problems are a 400.
    fn start(&mut self, config: &Config) -> Result<(), Vec<ConfigProblem>>;
    /// Connect's `taskConfigs(maxTasks)`: at most `max_tasks` configs, one per task.
    async fn task_configs(&self, max_tasks: usize) -> Vec<Config>;
    /// A task for one of the configs `task_configs` returned.
    fn task(&self, task_config: &Config) -> Task;
}

/// A task built by a connector, of the connector's kind.
pub enum Task {
    Source(Box<dyn SourceTask>),
    Sink(Box<dyn SinkTask>),
}

/// A source task. The runtime calls `start`, then `poll` until it fails or the
/// task is stopped; after a failure (status FAILED with the error) it waits
/// `after_failure` and starts the same task again.
#[async_trait]
pub trait SourceTask: Send + 'static {
    /// Connects to the source and resets in-memory progress (offsets are read
    /// again from `ctx.offsets`). May report FAILED attempts itself.
    async fn start(&mut self, ctx: &SourceContext) -> Result<(), TaskError>;
    /// Delivers what is due: records through `ctx.producer`, then their offsets
    /// through `ctx.offsets`. Returns when the task next has work.
    async fn poll(&mut self, ctx: &SourceContext) -> Result<Instant, TaskError>;
    /// How long to wait after a failed `start`.
    fn start_backoff(&self) -> Duration;
    /// How long to wait after a failed `poll`, or `None` to stay FAILED until the
    /// task is restarted (e.g. retry attempts exhausted).
    fn after_failure(&mut self, ctx: &SourceContext) -> Option<Duration>;
}

/// A sink task. The runtime assigns it topic-partitions (those it `subscribes`
/// to, split among the connector's tasks), reads them from the connector's
/// consumer group position and hands over the records with `put`; `flush` runs
/// after every round. A failure (FAILED with the error) is followed by
/// `retry_backoff`, then `start` again and a read from the committed offsets.
#[async_trait]
pub trait SinkTask: Send + 'static {
    /// Opens the destination and drops any unfinished work of an earlier run.
    async fn start(&mut self, ctx: &SinkContext) -> Result<(), TaskError>;
    /// Connect's `topics` / `topics.regex`.
    fn subscribes(&self, topic: &str) -> bool;
    /// Records of one topic-partition in offset order (Connect's `put`). Offsets
    /// are committed by the task through `ctx.offsets` once the records are safe.
    async fn put(
        &mut self,
        ctx: &SinkContext,
        topic: &str,
        partition: i32,
        records: Vec<ConsumerRecord>,
    ) -> Result<(), TaskError>;
    /// After every round of fetches, also idle ones (Connect's flush timer).
    async fn flush(&mut self, ctx: &SinkContext) -> Result<(), TaskError>;
    /// When `flush` next has time-based work that no new record brings (a
    /// scheduled rotation): the runtime, waiting for records, wakes by then. `None`:
    /// nothing scheduled.
    fn flush_due_in(&self) -> Option<Duration> {
        None
    }
    /// Notified when work the task runs in the background has finished (a commit
    /// that moves an offset), so `flush` can act on it; the runtime waits on it
    /// beside new records. `None`: the task has no background work.
    fn background_done(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
    /// Connect's `stop()` after a failure, before the backoff: abandon unfinished
    /// work now (what was not committed is delivered again from the committed
    /// offsets). A task that is aborted is simply dropped.
    fn stop(&mut self) {}
    fn retry_backoff(&self) -> Duration;
}

/// `n` task configs: the connector's config and Connect's `task.id`, for
/// connectors whose tasks split the work among themselves by id.
pub fn numbered_task_configs(config: &Config, n: usize) -> Vec<Config> {
    (0..n)
        .map(|id| {
            let mut c = config.clone();
            c.insert("task.id".into(), id.to_string());
            c
        })
        .collect()
}
