//! The Connect worker: connectors and their tasks, their configs, target states,
//! statuses and source offsets — all kept in internal topics (`connect-configs`,
//! `connect-offsets`, `connect-status`) and replayed on start, so connectors come
//! back after a restart (also after kill -9) and resume where they left off.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use creek_log::{LogStore, OffsetSpec, ProducerRecord};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, ConfigProblem};
use crate::converter::{Converter, ConverterContext};
use crate::plugins::{self, Plugin};
use crate::ConnectError;
use crate::{jdbc, s3sink};

pub const CONFIG_TOPIC: &str = "connect-configs";
pub const OFFSET_TOPIC: &str = "connect-offsets";
pub const STATUS_TOPIC: &str = "connect-status";

/// What the user asked a connector to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
}

/// What a connector or task is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Unassigned,
    Running,
    Paused,
    Failed(String),
}

impl State {
    pub fn name(&self) -> &'static str {
        match self {
            State::Unassigned => "UNASSIGNED",
            State::Running => "RUNNING",
            State::Paused => "PAUSED",
            State::Failed(_) => "FAILED",
        }
    }
}

/// A task's view of its status; changes are logged and written to `connect-status`.
#[derive(Clone)]
pub struct StatusHandle {
    worker: Arc<WorkerInner>,
    connector: String,
    task: usize,
    state: Arc<Mutex<State>>,
}

impl StatusHandle {
    fn set(&self, state: State) {
        {
            let mut cur = self.state.lock();
            if *cur == state {
                return;
            }
            *cur = state.clone();
        }
        match &state {
            State::Failed(trace) => {
                error!(connector = %self.connector, task = self.task, trace = %trace, "task failed")
            }
            s => {
                info!(connector = %self.connector, task = self.task, state = s.name(), "task state")
            }
        }
        self.worker.write_status(
            format!("status-task-{}-{}", self.connector, self.task),
            &state,
        );
    }
    pub fn running(&self) {
        self.set(State::Running)
    }
    pub fn paused(&self) {
        self.set(State::Paused)
    }
    pub fn failed(&self, trace: &str) {
        self.set(State::Failed(trace.to_string()))
    }
}

/// Counters shown by status screens and benchmarks.
#[derive(Default)]
pub struct TaskMetrics {
    rows: AtomicU64,
}

impl TaskMetrics {
    pub fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
}

/// Why a task stopped: the text that goes to /status and the connect log. Any
/// displayable error converts, so task code can use `?` on library errors.
#[derive(Debug)]
pub(crate) struct TaskError(pub(crate) String);

impl<E: std::fmt::Display> From<E> for TaskError {
    fn from(e: E) -> Self {
        TaskError(e.to_string())
    }
}

impl From<TaskError> for ConnectError {
    fn from(e: TaskError) -> Self {
        ConnectError::Task(e.0)
    }
}

/// Everything a running task gets from the worker.
pub struct TaskContext {
    pub connector: String,
    pub task_id: usize,
    pub task_count: usize,
    pub store: Arc<dyn LogStore>,
    pub offsets: Arc<OffsetStore>,
    pub status: StatusHandle,
    pub key_converter: Converter,
    pub value_converter: Converter,
    pub control: watch::Receiver<TargetState>,
    pub metrics: Arc<TaskMetrics>,
}

/// Source offsets per (connector, source partition), backed by `connect-offsets`.
pub struct OffsetStore {
    store: Arc<dyn LogStore>,
    offsets: Mutex<BTreeMap<(String, String), (Json, Json)>>,
}

impl OffsetStore {
    fn key(connector: &str, partition: &Json) -> (String, String) {
        (connector.to_string(), partition.to_string())
    }

    pub fn get(&self, connector: &str, partition: &Json) -> Option<Json> {
        self.offsets
            .lock()
            .get(&Self::key(connector, partition))
            .map(|(_, o)| o.clone())
    }

    pub fn for_connector(&self, connector: &str) -> Vec<(Json, Json)> {
        self.offsets
            .lock()
            .iter()
            .filter(|((c, _), _)| c == connector)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Appends the offset to `connect-offsets` (Connect's key shape
    /// `["connector", {partition}]`), then makes it current.
    pub async fn commit(
        &self,
        connector: &str,
        partition: &Json,
        offset: &Json,
    ) -> Result<(), ConnectError> {
        let key = json!([connector, partition]).to_string();
        self.store
            .produce(
                OFFSET_TOPIC,
                0,
                vec![ProducerRecord {
                    key: Some(Bytes::from(key)),
                    value: Some(Bytes::from(offset.to_string())),
                    ..Default::default()
                }],
            )
            .await
            .map_err(|e| ConnectError::Task(format!("committing offsets failed: {e}")))?;
        self.offsets.lock().insert(
            Self::key(connector, partition),
            (partition.clone(), offset.clone()),
        );
        Ok(())
    }

    fn forget(&self, connector: &str) {
        self.offsets.lock().retain(|(c, _), _| c != connector);
    }
}

struct TaskEntry {
    status: Arc<Mutex<State>>,
    handle: tokio::task::JoinHandle<()>,
    config: BTreeMap<String, String>,
    metrics: Arc<TaskMetrics>,
}

struct ConnectorEntry {
    config: BTreeMap<String, String>,
    target: TargetState,
    control: watch::Sender<TargetState>,
    tasks: Vec<TaskEntry>,
    state: State,
    /// What a task (re)start needs; `None` when the connector could not start.
    launch: Option<Arc<Launch>>,
}

/// A started connector's parsed config and converters, kept so that one task can be
/// restarted without the others.
struct Launch {
    runner: TaskRunner,
    key_converter: Converter,
    value_converter: Converter,
    task_count: usize,
}

/// Configuration of the worker itself.
#[derive(Clone)]
pub struct WorkerConfig {
    /// `host:port` of the REST listener, Connect's worker id.
    pub worker_id: String,
    pub converters: ConverterContext,
    /// Worker-wide converter settings (`key.converter`, `value.converter.schemas.enable`…);
    /// unset, keys use the StringConverter and values the AvroConverter, as
    /// Confluent's cp-all-in-one worker (the completed tutorial's) does.
    pub converter_defaults: BTreeMap<String, String>,
}

impl WorkerConfig {
    pub fn new(worker_id: String, converters: ConverterContext) -> Self {
        WorkerConfig {
            worker_id,
            converters,
            converter_defaults: BTreeMap::new(),
        }
    }
}

pub struct WorkerInner {
    store: Arc<dyn LogStore>,
    config: WorkerConfig,
    offsets: Arc<OffsetStore>,
    connectors: Mutex<BTreeMap<String, ConnectorEntry>>,
    /// Serializes config changes so the journal and the running set agree.
    changes: tokio::sync::Mutex<()>,
}

/// The Connect worker; cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

/// A connector as REST answers describe it.
pub struct ConnectorInfo {
    pub name: String,
    pub config: BTreeMap<String, String>,
    pub tasks: usize,
    pub kind: &'static str,
}

pub struct ConnectorStatus {
    pub name: String,
    pub state: State,
    pub tasks: Vec<State>,
    pub kind: &'static str,
}

async fn read_all(
    store: &Arc<dyn LogStore>,
    topic: &str,
) -> Result<Vec<(Option<Bytes>, Option<Bytes>)>, ConnectError> {
    let end = store
        .list_offset(topic, 0, OffsetSpec::Latest)
        .await
        .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?
        .unwrap_or(0);
    let mut at = store
        .list_offset(topic, 0, OffsetSpec::Earliest)
        .await
        .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?
        .unwrap_or(0);
    let mut out = Vec::new();
    while at < end {
        let batch = store
            .fetch(topic, 0, at, 4 << 20, Duration::ZERO)
            .await
            .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?;
        if batch.records.is_empty() {
            break;
        }
        for r in batch.records {
            at = r.offset + 1;
            out.push((r.key, r.value));
        }
    }
    Ok(out)
}

impl Worker {
    /// Opens the internal topics, replays them and starts the stored connectors.
    pub async fn start(
        store: Arc<dyn LogStore>,
        config: WorkerConfig,
    ) -> Result<Worker, ConnectError> {
        // Worker-wide converter settings are checked before anything starts.
        for prefix in ["key.converter", "value.converter"] {
            Converter::from_config(
                &BTreeMap::new(),
                prefix,
                &config.converter_defaults,
                &config.converters,
            )?;
        }
        for t in [CONFIG_TOPIC, OFFSET_TOPIC, STATUS_TOPIC] {
            if store.describe_topic(t).await.is_err() {
                store
                    .create_topic(t, 1, BTreeMap::new())
                    .await
                    .map_err(|e| ConnectError::Internal(format!("creating {t}: {e}")))?;
            }
        }
        let offsets = Arc::new(OffsetStore {
            store: store.clone(),
            offsets: Mutex::new(BTreeMap::new()),
        });
        for (k, v) in read_all(&store, OFFSET_TOPIC).await? {
            let key: Option<Json> = k.and_then(|k| serde_json::from_slice(&k).ok());
            let Some(Json::Array(kv)) = key else { continue };
            let (Some(Json::String(conn)), Some(part)) = (kv.first(), kv.get(1)) else {
                continue;
            };
            let mut map = offsets.offsets.lock();
            match v.and_then(|v| serde_json::from_slice::<Json>(&v).ok()) {
                Some(off) => {
                    map.insert(OffsetStore::key(conn, part), (part.clone(), off));
                }
                None => {
                    map.remove(&OffsetStore::key(conn, part));
                }
            }
        }
        // Latest config and target state per connector; a tombstone deletes.
        let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut targets: BTreeMap<String, TargetState> = BTreeMap::new();
        for (k, v) in read_all(&store, CONFIG_TOPIC).await? {
            let Some(k) = k.and_then(|k| String::from_utf8(k.to_vec()).ok()) else {
                continue;
            };
            let value: Option<Json> = v.and_then(|v| serde_json::from_slice(&v).ok());
            if let Some(name) = k.strip_prefix("connector-") {
                match value
                    .as_ref()
                    .and_then(|v| v.get("properties"))
                    .and_then(Json::as_object)
                {
                    Some(props) => {
                        if let Ok(cfg) = config::normalize(props) {
                            configs.insert(name.to_string(), cfg);
                        }
                    }
                    None => {
                        configs.remove(name);
                        targets.remove(name);
                    }
                }
            } else if let Some(name) = k.strip_prefix("target-state-") {
                let paused = value
                    .as_ref()
                    .and_then(|v| v.get("state"))
                    .and_then(Json::as_str)
                    == Some("PAUSED");
                targets.insert(
                    name.to_string(),
                    if paused {
                        TargetState::Paused
                    } else {
                        TargetState::Started
                    },
                );
            }
        }
        let worker = Worker {
            inner: Arc::new(WorkerInner {
                store,
                config,
                offsets,
                connectors: Mutex::new(BTreeMap::new()),
                changes: tokio::sync::Mutex::new(()),
            }),
        };
        for (name, cfg) in configs {
            let target = targets.get(&name).copied().unwrap_or(TargetState::Started);
            info!(connector = %name, "restoring connector");
            if let Err(e) = worker.launch(&name, cfg.clone(), target).await {
                // Keep it listed, FAILED with the reason, so the user can fix or delete it.
                warn!(connector = %name, error = %e, "restored connector cannot start");
                let (control, _) = watch::channel(target);
                worker.inner.connectors.lock().insert(
                    name.clone(),
                    ConnectorEntry {
                        config: cfg,
                        target,
                        control,
                        tasks: Vec::new(),
                        state: State::Failed(e.to_string()),
                        launch: None,
                    },
                );
            }
        }
        Ok(worker)
    }

    /// Stops every task (as a process exit would); configs and offsets stay in the log.
    pub fn shutdown(&self) {
        for c in self.inner.connectors.lock().values_mut() {
            for t in c.tasks.drain(..) {
                t.handle.abort();
            }
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.inner.config.worker_id
    }

    /// Full validation: keys, types, cross-key rules, and (when reachable) the database.
    pub async fn validate(
        &self,
        class: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(config::KeyTable, config::Review), ConnectError> {
        let Some(plugin) = Plugin::find(class) else {
            return Err(ConnectError::NotFound(format!(
                "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
                plugins::ALL.iter().map(|p| p.class()).collect::<Vec<_>>().join(", ")
            )));
        };
        let keys = plugin.config_keys();
        let mut review = config::check(&keys, config);
        review.warnings.extend(plugin.warnings(config));
        let problems = &mut review.errors;
        if let Some(c) = config.get("connector.class") {
            if Plugin::find(c) != Some(plugin) {
                problems.push(ConfigProblem {
                    key: "connector.class".into(),
                    message: format!("Class {c} does not match {}", plugin.class()),
                });
            }
        }
        for prefix in ["key.converter", "value.converter"] {
            if let Err(ConnectError::InvalidConfig { key, message }) = Converter::from_config(
                config,
                prefix,
                &self.inner.config.converter_defaults,
                &self.inner.config.converters,
            ) {
                problems.push(ConfigProblem { key, message });
            }
        }
        if problems.is_empty() {
            problems.extend(plugin.validate(config).await);
        }
        Ok((keys, review))
    }

    async fn check_config(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(), ConnectError> {
        if name.is_empty() || name.contains('/') || name.chars().any(char::is_control) {
            return Err(ConnectError::BadRequest(format!("Connector name {name:?} is invalid: it must be non-empty and contain no '/' or control characters")));
        }
        if let Some(n) = config.get("name") {
            if n != name {
                return Err(ConnectError::BadRequest(format!("Connector name configuration ({n}) doesn't match connector name in the URL ({name})")));
            }
        }
        let Some(class) = config.get("connector.class") else {
            return Err(ConnectError::BadRequest(
                "Connector config {..} contains no connector type"
                    .replace("{..}", &format!("{:?}", masked(config))),
            ));
        };
        let (_, review) = self.validate(class, config).await?;
        if !review.errors.is_empty() {
            return Err(ConnectError::BadRequest(config::invalid_message(
                class,
                &review.errors,
            )));
        }
        Ok(())
    }

    /// POST /connectors: creates a connector; `Conflict` if the name exists.
    pub async fn create(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
    ) -> Result<ConnectorInfo, ConnectError> {
        let _guard = self.inner.changes.lock().await;
        if self.inner.connectors.lock().contains_key(name) {
            return Err(ConnectError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        config.insert("name".into(), name.to_string());
        self.check_config(name, &config).await?;
        self.write_config(name, Some(&config)).await?;
        self.launch(name, config, TargetState::Started).await?;
        self.info(name)
    }

    /// PUT /connectors/{name}/config: creates or replaces; returns whether it was created.
    pub async fn put_config(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        let existing = self
            .inner
            .connectors
            .lock()
            .get(name)
            .map(|c| (c.config.clone(), c.target));
        // A masked secret sent back unchanged keeps the stored one.
        if let Some((old, _)) = &existing {
            for (k, v) in config.iter_mut() {
                // Also a URL whose embedded password was masked.
                if let Some(prev) = old.get(k) {
                    let shown = masked(&BTreeMap::from([(k.clone(), prev.clone())]));
                    if *v == HIDDEN || shown.get(k) == Some(v) {
                        *v = prev.clone();
                    }
                }
            }
        }
        config.insert("name".into(), name.to_string());
        self.check_config(name, &config).await?;
        self.write_config(name, Some(&config)).await?;
        let target = existing
            .as_ref()
            .map(|e| e.1)
            .unwrap_or(TargetState::Started);
        self.stop(name);
        self.launch(name, config, target).await?;
        Ok((existing.is_none(), self.info(name)?))
    }

    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        self.require(name)?;
        self.write_config(name, None).await?;
        self.stop(name);
        self.inner.connectors.lock().remove(name);
        self.inner.offsets.forget(name);
        info!(connector = %name, "connector deleted");
        Ok(())
    }

    pub async fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, TargetState::Paused).await
    }

    pub async fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, TargetState::Started).await
    }

    async fn set_target(&self, name: &str, target: TargetState) -> Result<(), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        self.require(name)?;
        let state = if target == TargetState::Paused {
            "PAUSED"
        } else {
            "STARTED"
        };
        self.append(
            CONFIG_TOPIC,
            format!("target-state-{name}"),
            Some(json!({"state": state})),
        )
        .await?;
        let mut map = self.inner.connectors.lock();
        if let Some(c) = map.get_mut(name) {
            c.target = target;
            c.state = if target == TargetState::Paused {
                State::Paused
            } else {
                State::Running
            };
            let _ = c.control.send(target);
        }
        info!(connector = %name, state, "connector target state");
        Ok(())
    }

    /// POST /connectors/{name}/restart[?includeTasks=…&onlyFailed=…]. Returns the
    /// ids of the restarted tasks. A plain restart restarts the tasks too (unlike
    /// Connect, where it restarts only the connector object): creek's connector
    /// holds no state of its own, and its tasks are what failed. With
    /// `only_failed`, a connector that could not start starts again, and a running
    /// one restarts its FAILED tasks (with `include_tasks`) and nothing else.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Vec<usize>, ConnectError> {
        let _guard = self.inner.changes.lock().await;
        let (config, target, failed_tasks, started) = {
            let map = self.inner.connectors.lock();
            let c = map.get(name).ok_or_else(|| not_found(name))?;
            let failed: Vec<usize> = c
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| matches!(*t.status.lock(), State::Failed(_)))
                .map(|(i, _)| i)
                .collect();
            (c.config.clone(), c.target, failed, c.launch.is_some())
        };
        if !started || !only_failed {
            // The whole connector: its config is parsed and its tasks counted again
            // (a JDBC source may have more tables now), as Connect regenerates task
            // configs when a connector restarts.
            self.stop(name);
            self.launch(name, config, target).await?;
            return Ok((0..self.status(name)?.tasks.len()).collect());
        }
        // onlyFailed: the connector is running, so only its FAILED tasks restart.
        let tasks: Vec<usize> = if include_tasks {
            failed_tasks
        } else {
            Vec::new()
        };
        for &t in &tasks {
            self.respawn(name, t)?;
        }
        info!(connector = %name, tasks = ?tasks, "connector restarted");
        Ok(tasks)
    }

    /// POST /connectors/{name}/tasks/{id}/restart: restarts that task only.
    pub async fn restart_task(&self, name: &str, task: usize) -> Result<(), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        let (started, count) = {
            let map = self.inner.connectors.lock();
            let c = map.get(name).ok_or_else(|| not_found(name))?;
            (c.launch.is_some(), c.tasks.len())
        };
        if task >= count {
            return Err(ConnectError::NotFound(format!(
                "Task {name}-{task} not found"
            )));
        }
        if !started {
            return Err(ConnectError::Conflict(format!(
                "Connector {name} is not started; restart the connector"
            )));
        }
        self.respawn(name, task)?;
        info!(connector = %name, task, "task restarted");
        Ok(())
    }

    /// Stops one task and starts it again from the connector's launch.
    fn respawn(&self, name: &str, task: usize) -> Result<(), ConnectError> {
        let mut map = self.inner.connectors.lock();
        let c = map.get_mut(name).ok_or_else(|| not_found(name))?;
        let launch = c.launch.clone().ok_or_else(|| not_found(name))?;
        let fresh = self.spawn_task(name, &c.config, &launch, &c.control, task);
        let old = std::mem::replace(&mut c.tasks[task], fresh);
        old.handle.abort();
        Ok(())
    }

    fn require(&self, name: &str) -> Result<(), ConnectError> {
        if self.inner.connectors.lock().contains_key(name) {
            Ok(())
        } else {
            Err(not_found(name))
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.inner.connectors.lock().keys().cloned().collect()
    }

    pub fn info(&self, name: &str) -> Result<ConnectorInfo, ConnectError> {
        let map = self.inner.connectors.lock();
        let c = map.get(name).ok_or_else(|| not_found(name))?;
        Ok(ConnectorInfo {
            name: name.to_string(),
            config: masked(&c.config),
            tasks: c.tasks.len(),
            kind: kind_of(&c.config),
        })
    }

    pub fn status(&self, name: &str) -> Result<ConnectorStatus, ConnectError> {
        let map = self.inner.connectors.lock();
        let c = map.get(name).ok_or_else(|| not_found(name))?;
        Ok(ConnectorStatus {
            name: name.to_string(),
            state: c.state.clone(),
            tasks: c.tasks.iter().map(|t| t.status.lock().clone()).collect(),
            kind: kind_of(&c.config),
        })
    }

    pub fn task_configs(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, ConnectError> {
        let map = self.inner.connectors.lock();
        let c = map.get(name).ok_or_else(|| not_found(name))?;
        Ok(c.tasks.iter().map(|t| masked(&t.config)).collect())
    }

    /// KIP-875's offsets: a source's source offsets, or a sink's committed consumer
    /// offsets (`{"kafka_topic","kafka_partition"}` → `{"kafka_offset"}`).
    pub async fn offsets(&self, name: &str) -> Result<Vec<(Json, Json)>, ConnectError> {
        let kind = {
            let map = self.inner.connectors.lock();
            kind_of(&map.get(name).ok_or_else(|| not_found(name))?.config)
        };
        if kind != "sink" {
            return Ok(self.inner.offsets.for_connector(name));
        }
        let committed = self
            .inner
            .store
            .committed_offsets(&s3sink::task::group_of(name))
            .await
            .map_err(|e| ConnectError::Internal(format!("reading the sink's offsets: {e}")))?;
        Ok(committed
            .into_iter()
            .map(|((topic, partition), offset)| {
                (
                    json!({"kafka_topic": topic, "kafka_partition": partition}),
                    json!({"kafka_offset": offset}),
                )
            })
            .collect())
    }

    /// Rows copied by a connector's tasks since this process started.
    pub fn rows(&self, name: &str) -> u64 {
        self.inner
            .connectors
            .lock()
            .get(name)
            .map(|c| c.tasks.iter().map(|t| t.metrics.rows()).sum())
            .unwrap_or(0)
    }

    fn stop(&self, name: &str) {
        if let Some(c) = self.inner.connectors.lock().get_mut(name) {
            for t in c.tasks.drain(..) {
                t.handle.abort();
            }
        }
    }

    /// Starts (or restarts) a connector's tasks from a checked config.
    async fn launch(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
        target: TargetState,
    ) -> Result<(), ConnectError> {
        let class = config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or("");
        let plugin = Plugin::find(class).ok_or_else(|| {
            ConnectError::BadRequest(format!("Connector class {class} is not available"))
        })?;
        // Warnings (unknown keys, keys without effect) on every start, so that the
        // connector's log says what creek ignores.
        let mut review = config::check(&plugin.config_keys(), &config);
        review.warnings.extend(plugin.warnings(&config));
        for w in &review.warnings {
            warn!(connector = %name, key = %w.key, "{}", w.message);
        }
        let invalid = |p: Vec<ConfigProblem>| {
            ConnectError::BadRequest(config::invalid_message(plugin.class(), &p))
        };
        let cc = &self.inner.config.converters;
        let key_converter = Converter::from_config(
            &config,
            "key.converter",
            &self.inner.config.converter_defaults,
            cc,
        )?;
        let value_converter = Converter::from_config(
            &config,
            "value.converter",
            &self.inner.config.converter_defaults,
            cc,
        )?;
        let runner = match plugin {
            Plugin::JdbcSource => {
                TaskRunner::Jdbc(jdbc::JdbcSourceConfig::parse(&config).map_err(invalid)?)
            }
            Plugin::S3Sink => TaskRunner::S3(Box::new(
                s3sink::S3SinkConfig::parse(&config).map_err(invalid)?,
            )),
        };
        let task_count = runner.task_count().await;
        let (control, _) = watch::channel(target);
        let launch = Arc::new(Launch {
            runner,
            key_converter,
            value_converter,
            task_count,
        });
        let tasks: Vec<TaskEntry> = (0..task_count)
            .map(|task_id| self.spawn_task(name, &config, &launch, &control, task_id))
            .collect();
        let state = if target == TargetState::Paused {
            State::Paused
        } else {
            State::Running
        };
        self.inner
            .write_status(format!("status-connector-{name}"), &state);
        info!(connector = %name, tasks = task_count, "connector started");
        self.inner.connectors.lock().insert(
            name.to_string(),
            ConnectorEntry {
                config,
                target,
                control,
                tasks,
                state,
                launch: Some(launch),
            },
        );
        Ok(())
    }

    fn spawn_task(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
        launch: &Launch,
        control: &watch::Sender<TargetState>,
        task_id: usize,
    ) -> TaskEntry {
        let status = Arc::new(Mutex::new(State::Unassigned));
        let metrics = Arc::new(TaskMetrics::default());
        let ctx = TaskContext {
            connector: name.to_string(),
            task_id,
            task_count: launch.task_count,
            store: self.inner.store.clone(),
            offsets: self.inner.offsets.clone(),
            status: StatusHandle {
                worker: self.inner.clone(),
                connector: name.to_string(),
                task: task_id,
                state: status.clone(),
            },
            key_converter: launch.key_converter.clone(),
            value_converter: launch.value_converter.clone(),
            control: control.subscribe(),
            metrics: metrics.clone(),
        };
        let mut task_config = config.clone();
        task_config.insert("task.id".into(), task_id.to_string());
        TaskEntry {
            status,
            handle: launch.runner.spawn(ctx),
            config: task_config,
            metrics,
        }
    }

    async fn write_config(
        &self,
        name: &str,
        config: Option<&BTreeMap<String, String>>,
    ) -> Result<(), ConnectError> {
        let value = config.map(|c| json!({"properties": c}));
        self.append(CONFIG_TOPIC, format!("connector-{name}"), value)
            .await
    }

    async fn append(
        &self,
        topic: &str,
        key: String,
        value: Option<Json>,
    ) -> Result<(), ConnectError> {
        self.inner
            .store
            .produce(
                topic,
                0,
                vec![ProducerRecord {
                    key: Some(Bytes::from(key)),
                    value: value.map(|v| Bytes::from(v.to_string())),
                    ..Default::default()
                }],
            )
            .await
            .map_err(|e| ConnectError::Internal(format!("writing {topic}: {e}")))?;
        Ok(())
    }
}

impl WorkerInner {
    /// Best effort: statuses are rebuilt from running tasks, the topic is a record.
    fn write_status(self: &Arc<Self>, key: String, state: &State) {
        let trace = match state {
            State::Failed(t) => Json::String(t.clone()),
            _ => Json::Null,
        };
        let value = json!({"state": state.name(), "trace": trace, "worker_id": self.config.worker_id, "generation": 0});
        let store = self.store.clone();
        tokio::spawn(async move {
            let rec = ProducerRecord {
                key: Some(Bytes::from(key)),
                value: Some(Bytes::from(value.to_string())),
                ..Default::default()
            };
            if let Err(e) = store.produce(STATUS_TOPIC, 0, vec![rec]).await {
                warn!(error = %e, "writing connect-status failed");
            }
        });
    }
}

/// A connector's parsed config, ready to start its tasks.
// Short-lived (built once per connector start), so variant sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum TaskRunner {
    Jdbc(jdbc::JdbcSourceConfig),
    S3(Box<s3sink::S3SinkConfig>),
}

impl TaskRunner {
    async fn task_count(&self) -> usize {
        match self {
            // Confluent runs min(tasks.max, tables) tasks (one for a query); count the
            // tables when the database answers, else start tasks.max.
            TaskRunner::Jdbc(parsed) if parsed.query.is_some() => 1,
            TaskRunner::Jdbc(parsed) => {
                let tables =
                    match tokio::time::timeout(Duration::from_secs(3), parsed.connect()).await {
                        Ok(Ok(client)) => jdbc::discover_tables(&client, parsed)
                            .await
                            .map(|t| t.len())
                            .ok(),
                        _ => None,
                    };
                match tables {
                    Some(n) => parsed.tasks_max.min(n.max(1)),
                    None => parsed.tasks_max,
                }
            }
            TaskRunner::S3(parsed) => parsed.tasks_max,
        }
    }

    fn spawn(&self, ctx: TaskContext) -> tokio::task::JoinHandle<()> {
        match self {
            TaskRunner::Jdbc(parsed) => tokio::spawn(jdbc::task::run(ctx, parsed.clone())),
            TaskRunner::S3(parsed) => tokio::spawn(s3sink::task::run(ctx, (**parsed).clone())),
        }
    }
}

pub const HIDDEN: &str = "[hidden]";

/// A config with every secret replaced by `[hidden]`.
pub fn masked(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let keys = plugins::all_keys();
    config
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                if config::is_secret(&keys, k) {
                    HIDDEN.to_string()
                } else if k.ends_with("url") {
                    config::mask_url(v)
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

fn kind_of(config: &BTreeMap<String, String>) -> &'static str {
    config
        .get("connector.class")
        .and_then(|c| Plugin::find(c))
        .map(Plugin::kind)
        .unwrap_or("unknown")
}

fn not_found(name: &str) -> ConnectError {
    ConnectError::NotFound(format!("Connector {name} not found"))
}
