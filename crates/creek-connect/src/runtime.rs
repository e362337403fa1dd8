//! The Connect worker: connectors and their tasks, their configs, target states,
//! statuses and source offsets — all kept in internal topics (`connect-configs`,
//! `connect-offsets`, `connect-status`) and replayed on start, so connectors come
//! back after a restart (also after kill -9) and resume where they left off.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use creek_store::{InternalTopic, LogStore, OffsetSpec, ProducerRecord};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{self, ConfigProblem, KeyTable};
use crate::connector::{Config, Connector, SinkTask, SourceTask, Task};
use crate::context::{
    sink_group, SinkContext, SinkOffsets, SourceContext, SourceProducer, StatusHandle,
    StatusWriter, TaskContext, TaskError, TopicRecorder,
};
use crate::converter::{Converter, ConverterContext};
use crate::error::ConnectError;
use crate::membership::{self, EagerAssignor, WorkAssignment, WorkSnapshot};
use crate::registry::Registry;
use creek_store::group::{GroupMember, JoinRequest};

mod shared;

pub use crate::config::HIDDEN;
pub use crate::context::{OffsetStore, State, TargetState, TaskMetrics, OFFSET_TOPIC};

pub const CONFIG_TOPIC: &str = "connect-configs";
pub const STATUS_TOPIC: &str = "connect-status";

struct TaskEntry {
    status: Arc<Mutex<State>>,
    /// `None` while another worker of the group runs the task (or nobody yet).
    handle: Option<tokio::task::JoinHandle<()>>,
    /// The task's config as the connector split it (`/connectors/{name}/tasks`).
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

/// A started connector, its task configs and converters, kept so that one task can
/// be restarted without the others.
struct Launch {
    connector: Arc<dyn Connector>,
    task_configs: Vec<Config>,
    key_converter: Converter,
    value_converter: Converter,
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
    /// The connector classes this worker runs ([`Registry::builtin`] unless a
    /// caller adds its own).
    pub registry: Arc<Registry>,
    /// Where the worker keeps connector configs, source offsets and statuses.
    pub topics: InternalTopics,
    /// Connect's `exactly.once.source.support=enabled`: source tasks write their
    /// records and offsets in one transaction where the log has transactions.
    pub exactly_once_source: bool,
    /// Connect's `group.id`, the first part of a source task's transactional id
    /// (`<group.id>-<connector>-<task>`, as KIP-618 names it).
    pub group_id: String,
    /// The id of the Kafka cluster the worker's topics live on (`GET /`'s
    /// `kafka_cluster_id`); `None` shows the worker id instead.
    pub kafka_cluster_id: Option<String>,
}

/// The three topics of Connect's distributed mode, named by the worker properties
/// `config.storage.topic`, `offset.storage.topic` and `status.storage.topic`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopics {
    pub config: String,
    pub offset: String,
    pub status: String,
}

impl Default for InternalTopics {
    fn default() -> Self {
        InternalTopics {
            config: CONFIG_TOPIC.into(),
            offset: OFFSET_TOPIC.into(),
            status: STATUS_TOPIC.into(),
        }
    }
}

impl InternalTopics {
    /// Applies `config.storage.topic`, `offset.storage.topic` or
    /// `status.storage.topic`; says whether `key` was one of them.
    pub fn set_property(&mut self, key: &str, value: &str) -> bool {
        let name = match key {
            "config.storage.topic" => &mut self.config,
            "offset.storage.topic" => &mut self.offset,
            "status.storage.topic" => &mut self.status,
            _ => return false,
        };
        *name = value.into();
        true
    }

    /// The three topics as the worker creates them when missing: compacted, as
    /// Connect's distributed mode creates them, since each holds the latest value
    /// per key (config, source offset, status).
    pub fn specs(&self) -> Vec<InternalTopic> {
        [&self.config, &self.offset, &self.status]
            .into_iter()
            .map(|name| InternalTopic::new(name.as_str(), 1).with("cleanup.policy", "compact"))
            .collect()
    }
}

impl WorkerConfig {
    pub fn new(worker_id: String, converters: ConverterContext) -> Self {
        WorkerConfig {
            worker_id,
            converters,
            converter_defaults: BTreeMap::new(),
            registry: Arc::new(Registry::builtin()),
            topics: InternalTopics::default(),
            exactly_once_source: false,
            group_id: "connect-cluster".into(),
            kafka_cluster_id: None,
        }
    }

    /// Applies one worker property as a Connect worker's properties file gives it:
    /// the converter settings and the three storage topics' names. Anything else
    /// is refused, naming what is accepted.
    pub fn set_property(&mut self, key: &str, value: &str) -> Result<(), String> {
        Self::check_property(key, value)?;
        match key {
            "config.storage.topic" | "offset.storage.topic" | "status.storage.topic" => {
                self.topics.set_property(key, value);
            }
            "group.id" => self.group_id = value.into(),
            "exactly.once.source.support" => {
                self.exactly_once_source = value.eq_ignore_ascii_case("enabled")
            }
            _ => {
                self.converter_defaults.insert(key.into(), value.into());
            }
        }
        Ok(())
    }

    /// Whether [`WorkerConfig::set_property`] would take this property.
    pub fn check_property(key: &str, value: &str) -> Result<(), String> {
        match key {
            "config.storage.topic"
            | "offset.storage.topic"
            | "status.storage.topic"
            | "group.id" => {
                if value.trim().is_empty() {
                    return Err(format!("{key} must not be empty"));
                }
                Ok(())
            }
            "exactly.once.source.support" => match value.to_ascii_lowercase().as_str() {
                "enabled" | "disabled" | "preparing" => Ok(()),
                _ => Err(format!(
                    "{key}: unknown value '{value}' (enabled, disabled or preparing)"
                )),
            },
            _ if ["key.converter", "value.converter"]
                .iter()
                .any(|p| key == *p || key.starts_with(&format!("{p}."))) =>
            {
                Ok(())
            }
            _ => Err(format!(
                "unknown worker property {key} (creek accepts key.converter*, value.converter*, \
                 config.storage.topic, offset.storage.topic, status.storage.topic, group.id, \
                 exactly.once.source.support)"
            )),
        }
    }
}

pub struct WorkerInner {
    store: Arc<dyn LogStore>,
    /// This worker's membership in its group (`group.id`).
    member: Arc<dyn GroupMember>,
    /// Whether other workers may share the group (false on a log no other
    /// process shares): tasks then run here without waiting for a round.
    shares_work: bool,
    /// What the leader assigns from: the connectors this worker knows and their
    /// task counts.
    snapshot: Arc<Mutex<WorkSnapshot>>,
    /// This worker's share of the last round (`None` before the first).
    assignment: Mutex<Option<WorkAssignment>>,
    /// The next config-topic offset not applied yet.
    config_read: watch::Sender<i64>,
    /// The next `connect-offsets` offset not read yet: tasks that come from
    /// another worker resume from the offsets it committed.

    /// The latest `connect-status` record per connector and task, as written by
    /// whichever worker ran it.
    remote: Mutex<BTreeMap<String, shared::RemoteStatus>>,
    config: WorkerConfig,
    offsets: Arc<OffsetStore>,
    connectors: Mutex<BTreeMap<String, ConnectorEntry>>,
    /// Every key of every connector class, for masking secrets.
    all_keys: KeyTable,
    /// Serializes config changes so the journal and the running set agree.
    changes: tokio::sync::Mutex<()>,
    /// Per connector, the tasks that were stopped and may still be finishing an
    /// await: a relaunch's tasks start only once these are gone, so an old and a
    /// new task never write at the same time.
    retiring: Mutex<BTreeMap<String, Gate>>,
    /// Connect's active topics per connector (KIP-558): what its tasks have written
    /// to or read from, kept in `connect-status` until reset or the connector is
    /// deleted.
    topics: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

/// Resolves once every retired task has ended.
type Gate = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

/// Aborts `tasks` and gives a gate that opens when they have really ended (an
/// abort takes effect at the task's next await, not at once).
fn retire(tasks: Vec<tokio::task::JoinHandle<()>>) -> Gate {
    use futures::FutureExt;
    for t in &tasks {
        t.abort();
    }
    async move {
        for t in tasks {
            let _ = t.await;
        }
    }
    .boxed()
    .shared()
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
    /// The worker that runs the connector (`host:port`).
    pub worker_id: String,
    /// Each task's state and the worker that runs it.
    pub tasks: Vec<(State, String)>,
    pub kind: &'static str,
    /// The connector class's version (Connect shows it beside each state).
    pub version: &'static str,
}

/// The `connect-status` key of a connector's active topic, as Connect writes it
/// (`status-topic-<topic>:connector-<connector>`; a topic name has no ':').
fn topic_status_key(topic: &str, connector: &str) -> String {
    format!("status-topic-{topic}:connector-{connector}")
}

/// (topic, connector) of a [`topic_status_key`].
fn parse_topic_status_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("status-topic-")?.split_once(":connector-")
}

/// A `target-state-…` record's state (`state.v2` first, as Connect reads it).
fn target_state_of(value: Option<&Json>) -> TargetState {
    let state = value.and_then(|v| {
        v.get("state.v2")
            .or_else(|| v.get("state"))
            .and_then(Json::as_str)
    });
    match state {
        Some("PAUSED") => TargetState::Paused,
        Some("STOPPED") => TargetState::Stopped,
        _ => TargetState::Started,
    }
}

/// Every record of partition 0 of `topic` (key, value), and the offset after the
/// last one.
async fn read_all_to(
    store: &Arc<dyn LogStore>,
    topic: &str,
) -> Result<(Vec<(Option<Bytes>, Option<Bytes>)>, i64), ConnectError> {
    let end = store
        .list_offset(topic, 0, OffsetSpec::Latest)
        .await
        .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?
        .unwrap_or(0);
    let start = store
        .list_offset(topic, 0, OffsetSpec::Earliest)
        .await
        .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?
        .unwrap_or(0);
    let mut out = Vec::new();
    store
        .read_to_end(topic, 0, start, Some(end), &mut |r| {
            out.push((r.key, r.value))
        })
        .await
        .map_err(|e| ConnectError::Internal(format!("reading {topic}: {e}")))?;
    Ok((out, end))
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
        let storage = config.topics.clone();
        for t in storage.specs() {
            t.ensure(store.as_ref())
                .await
                .map_err(|e| ConnectError::Internal(format!("creating {}: {e}", t.name)))?;
        }
        let offsets = Arc::new(OffsetStore::new(store.clone(), storage.offset.clone()));
        offsets
            .catch_up()
            .await
            .map_err(|e| ConnectError::Internal(format!("reading {}: {e}", storage.offset)))?;
        // Latest config and target state per connector; a tombstone deletes.
        let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut targets: BTreeMap<String, TargetState> = BTreeMap::new();
        let (config_records, config_end) = read_all_to(&store, &storage.config).await?;
        for (k, v) in config_records {
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
                targets.insert(name.to_string(), target_state_of(value.as_ref()));
            }
        }
        // Active topics; a tombstone is a reset.
        let mut topics: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let (status_records, status_end) = read_all_to(&store, &storage.status).await?;
        let mut remote = BTreeMap::new();
        for (k, v) in status_records {
            let Some(k) = k.and_then(|k| String::from_utf8(k.to_vec()).ok()) else {
                continue;
            };
            if let Some(status) = shared::RemoteStatus::parse(&k, v.as_deref()) {
                remote.insert(k, status);
                continue;
            }
            let Some((topic, connector)) = parse_topic_status_key(&k) else {
                continue;
            };
            let set = topics.entry(connector.to_string()).or_default();
            if v.is_some() {
                set.insert(topic.to_string());
            } else {
                set.remove(topic);
            }
        }
        let snapshot = Arc::new(Mutex::new(WorkSnapshot {
            config_offset: config_end,
            tasks: BTreeMap::new(),
        }));
        let member = store
            .join_group(
                JoinRequest::new(
                    &config.group_id,
                    membership::PROTOCOL_TYPE,
                    &config.worker_id,
                ),
                Arc::new(EagerAssignor {
                    snapshot: snapshot.clone(),
                }),
            )
            .await
            .map_err(|e| {
                ConnectError::Internal(format!("joining the group {}: {e}", config.group_id))
            })?;
        let worker = Worker {
            inner: Arc::new(WorkerInner {
                shares_work: member.shares_work(),
                member,
                snapshot,
                assignment: Mutex::new(None),
                config_read: watch::channel(config_end).0,
                remote: Mutex::new(remote),
                store,
                all_keys: config.registry.all_keys(),
                config,
                offsets,
                connectors: Mutex::new(BTreeMap::new()),
                changes: tokio::sync::Mutex::new(()),
                retiring: Mutex::new(BTreeMap::new()),
                topics: Mutex::new(topics),
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
        worker.update_snapshot();
        if worker.inner.shares_work {
            worker.follow(config_end, status_end);
        }
        Ok(worker)
    }

    /// Stops every task (as a process exit would); configs and offsets stay in the log.
    pub fn shutdown(&self) {
        for c in self.inner.connectors.lock().values_mut() {
            for t in c.tasks.drain(..) {
                if let Some(h) = t.handle {
                    h.abort();
                }
            }
        }
    }

    /// [`Worker::shutdown`], then waits until every task has stopped: an aborted task
    /// runs on until its next await point, and a source task that keeps finding its
    /// rows and its log ready could append several more batches meanwhile. After
    /// this returns no task of this worker writes to the log any more, as after a
    /// process exit (what a worker started next on the same log relies on).
    pub async fn stop_all(&self) {
        let handles: Vec<_> = self
            .inner
            .connectors
            .lock()
            .values_mut()
            .flat_map(|c| c.tasks.drain(..).filter_map(|t| t.handle))
            .collect();
        for h in &handles {
            h.abort();
        }
        for h in handles {
            let _ = h.await;
        }
        // The others take this worker's share at once, not after its session
        // times out.
        self.inner.member.leave().await;
    }

    pub fn worker_id(&self) -> &str {
        &self.inner.config.worker_id
    }

    /// The connector classes this worker runs.
    pub fn registry(&self) -> &Registry {
        &self.inner.config.registry
    }

    /// Full validation: keys, types, cross-key rules, and the connector's own checks
    /// against the outside world.
    pub async fn validate(
        &self,
        class: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<(config::KeyTable, config::Review), ConnectError> {
        let registry = &self.inner.config.registry;
        // A 400, as Connect answers a create or config change naming an unknown class.
        let Some(plugin) = registry.find(class) else {
            return Err(ConnectError::BadRequest(format!(
                "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
                registry.plugins().iter().map(|p| p.class).collect::<Vec<_>>().join(", ")
            )));
        };
        let connector = (plugin.create)();
        let keys = connector.config_keys();
        let mut review = config::check(&keys, config);
        review.warnings.extend(connector.warnings(config));
        let problems = &mut review.errors;
        if let Some(c) = config.get("connector.class") {
            if registry.find(c).map(|p| p.class) != Some(plugin.class) {
                problems.push(ConfigProblem {
                    key: "connector.class".into(),
                    message: format!("Class {c} does not match {}", plugin.class),
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
            problems.extend(connector.validate(config).await);
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
                    .replace("{..}", &format!("{:?}", self.masked(config))),
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
        // A different `name` in the config is Connect's 400 (check_config), not
        // silently replaced.
        config
            .entry("name".into())
            .or_insert_with(|| name.to_string());
        self.check_config(name, &config).await?;
        self.write_config(name, Some(&config)).await?;
        self.launch(name, config, TargetState::Started).await?;
        self.info(name)
    }

    /// PUT /connectors/{name}/config: creates or replaces; returns whether it was created.
    pub async fn put_config(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        self.replace_config(name, config).await
    }

    /// PATCH /connectors/{name}/config: Connect's partial update of an existing
    /// connector: the given keys take the given values, a `None` value removes its key.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo, ConnectError> {
        let _guard = self.inner.changes.lock().await;
        let mut config = self
            .inner
            .connectors
            .lock()
            .get(name)
            .map(|c| c.config.clone())
            .ok_or_else(|| not_found(name))?;
        for (k, v) in patch {
            match v {
                Some(v) => config.insert(k, v),
                None => config.remove(&k),
            };
        }
        Ok(self.replace_config(name, config).await?.1)
    }

    /// Creates or replaces a connector's config; the caller holds `changes`.
    async fn replace_config(
        &self,
        name: &str,
        mut config: BTreeMap<String, String>,
    ) -> Result<(bool, ConnectorInfo), ConnectError> {
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
                    let shown = self.masked(&BTreeMap::from([(k.clone(), prev.clone())]));
                    if *v == HIDDEN || shown.get(k) == Some(v) {
                        *v = prev.clone();
                    }
                }
            }
        }
        // A different `name` in the config is Connect's 400 (check_config), not
        // silently replaced.
        config
            .entry("name".into())
            .or_insert_with(|| name.to_string());
        self.check_config(name, &config).await?;
        self.write_config(name, Some(&config)).await?;
        let target = existing
            .as_ref()
            .map(|e| e.1)
            .unwrap_or(TargetState::Started);
        self.retire_tasks(name);
        self.launch(name, config, target).await?;
        Ok((existing.is_none(), self.info(name)?))
    }

    /// DELETE /connectors/{name}: its config, tasks, source offsets in memory and
    /// active topics go.
    pub async fn delete(&self, name: &str) -> Result<(), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        self.require(name)?;
        self.write_config(name, None).await?;
        self.retire_tasks(name);
        self.inner.connectors.lock().remove(name);
        self.update_snapshot();
        self.inner.offsets.forget(name);
        self.reset_topics(name).await?;
        info!(connector = %name, "connector deleted");
        Ok(())
    }

    pub async fn pause(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, TargetState::Paused).await
    }

    pub async fn resume(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, TargetState::Started).await
    }

    /// PUT /connectors/{name}/stop: Connect's STOPPED target state. The tasks end
    /// (none is listed), the config stays; resume or pause starts them again.
    pub async fn stop(&self, name: &str) -> Result<(), ConnectError> {
        self.set_target(name, TargetState::Stopped).await
    }

    /// The target state the user set (started, paused or stopped).
    pub fn target(&self, name: &str) -> Result<TargetState, ConnectError> {
        self.inner
            .connectors
            .lock()
            .get(name)
            .map(|c| c.target)
            .ok_or_else(|| not_found(name))
    }

    async fn set_target(&self, name: &str, target: TargetState) -> Result<(), ConnectError> {
        let _guard = self.inner.changes.lock().await;
        self.require(name)?;
        let state = match target {
            TargetState::Started => "STARTED",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        };
        self.append(
            &self.inner.config.topics.config,
            format!("target-state-{name}"),
            Some(json!({"state": state})),
        )
        .await?;
        self.apply_target(name, target).await?;
        info!(connector = %name, state, "connector target state");
        Ok(())
    }

    /// What a target-state change does to the running connector, whichever
    /// worker recorded it; the caller holds `changes`.
    async fn apply_target(&self, name: &str, target: TargetState) -> Result<(), ConnectError> {
        let (previous, config) = {
            let map = self.inner.connectors.lock();
            let c = map.get(name).ok_or_else(|| not_found(name))?;
            (c.target, c.config.clone())
        };
        if target == TargetState::Stopped || previous == TargetState::Stopped {
            // Stopping ends the tasks; leaving STOPPED starts the connector again,
            // with task configs made afresh, as Connect does.
            self.retire_tasks(name);
            self.launch(name, config, target).await?;
        } else {
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
        }
        Ok(())
    }

    /// GET /connectors/{name}/topics: the topics the connector's tasks have written
    /// to or read from since it was created or its topics were reset (empty for a
    /// connector that does not exist, as in Connect).
    pub fn active_topics(&self, name: &str) -> Vec<String> {
        self.inner
            .topics
            .lock()
            .get(name)
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// PUT /connectors/{name}/topics/reset: forgets the connector's active topics
    /// (tombstones in `connect-status`); tasks that go on using a topic list it again.
    pub async fn reset_topics(&self, name: &str) -> Result<(), ConnectError> {
        let topics = self.inner.topics.lock().remove(name).unwrap_or_default();
        for topic in topics {
            self.append(
                &self.inner.config.topics.status,
                topic_status_key(&topic, name),
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// GET /'s `kafka_cluster_id`.
    pub fn kafka_cluster_id(&self) -> &str {
        self.inner
            .config
            .kafka_cluster_id
            .as_deref()
            .unwrap_or(&self.inner.config.worker_id)
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
            // (a source may have more to split now), as Connect regenerates task
            // configs when a connector restarts.
            self.retire_tasks(name);
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
        // Another worker of the group runs it: the restart happens there, as
        // Connect forwards it to the task's worker.
        if !self.inner.runs_task(name, task) {
            drop(_guard);
            return self.forward_task_restart(name, task).await;
        }
        self.respawn(name, task)?;
        info!(connector = %name, task, "task restarted");
        Ok(())
    }

    /// Asks the worker that runs a task (the one its latest status names) to
    /// restart it, through that worker's REST API.
    async fn forward_task_restart(&self, name: &str, task: usize) -> Result<(), ConnectError> {
        let (_, owner) = self.inner.status_of(name, Some(task), State::Unassigned);
        if owner == self.inner.config.worker_id {
            return Err(ConnectError::Conflict(format!(
                "Task {name}-{task} is between workers (a rebalance is in progress); \
                 try again in a moment"
            )));
        }
        let url = format!("http://{owner}/connectors/{name}/tasks/{task}/restart");
        let answer = reqwest::Client::new()
            .post(&url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| {
                ConnectError::Internal(format!(
                    "forwarding the restart of task {name}-{task} to its worker {owner}: {e}"
                ))
            })?;
        if answer.status().is_success() {
            info!(connector = %name, task, worker = %owner, "task restart forwarded");
            return Ok(());
        }
        let status = answer.status();
        let body = answer.text().await.unwrap_or_default();
        Err(ConnectError::Internal(format!(
            "the worker {owner} running task {name}-{task} answered the restart with \
             {status}: {body}"
        )))
    }

    /// Stops one task and starts it again from the connector's launch.
    fn respawn(&self, name: &str, task: usize) -> Result<(), ConnectError> {
        let mut map = self.inner.connectors.lock();
        let c = map.get_mut(name).ok_or_else(|| not_found(name))?;
        let launch = c.launch.clone().ok_or_else(|| not_found(name))?;
        // The old task ends before the new one starts (see `retire`).
        let gate = retire(c.tasks[task].handle.take().into_iter().collect());
        c.tasks[task] = self.spawn_task(name, &launch, &c.control, task, Some(gate));
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
            config: self.masked(&c.config),
            tasks: c.tasks.len(),
            kind: self.kind_of(&c.config),
        })
    }

    pub fn status(&self, name: &str) -> Result<ConnectorStatus, ConnectError> {
        let map = self.inner.connectors.lock();
        let c = map.get(name).ok_or_else(|| not_found(name))?;
        let (state, worker_id) = self.inner.status_of(name, None, c.state.clone());
        Ok(ConnectorStatus {
            name: name.to_string(),
            state,
            worker_id,
            tasks: c
                .tasks
                .iter()
                .enumerate()
                .map(|(i, t)| self.inner.status_of(name, Some(i), t.status.lock().clone()))
                .collect(),
            kind: self.kind_of(&c.config),
            version: c
                .config
                .get("connector.class")
                .and_then(|class| self.inner.config.registry.find(class))
                .map(|p| p.version())
                .unwrap_or("unknown"),
        })
    }

    pub fn task_configs(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, ConnectError> {
        let map = self.inner.connectors.lock();
        let c = map.get(name).ok_or_else(|| not_found(name))?;
        Ok(c.tasks.iter().map(|t| self.masked(&t.config)).collect())
    }

    /// KIP-875's offsets: a source's source offsets, or a sink's committed consumer
    /// offsets (`{"kafka_topic","kafka_partition"}` → `{"kafka_offset"}`).
    pub async fn offsets(&self, name: &str) -> Result<Vec<(Json, Json)>, ConnectError> {
        let kind = {
            let map = self.inner.connectors.lock();
            self.kind_of(&map.get(name).ok_or_else(|| not_found(name))?.config)
        };
        if kind != "sink" {
            return Ok(self.inner.offsets.for_connector(name));
        }
        let committed = self
            .inner
            .store
            .committed_offsets(&sink_group(name))
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

    /// Ends the connector's tasks (they are awaited before a relaunch's start).
    fn retire_tasks(&self, name: &str) {
        if let Some(c) = self.inner.connectors.lock().get_mut(name) {
            let handles = c.tasks.drain(..).filter_map(|t| t.handle).collect();
            self.inner
                .retiring
                .lock()
                .insert(name.to_string(), retire(handles));
        }
    }

    /// Starts (or restarts) a connector's tasks from a checked config.
    async fn launch(
        &self,
        name: &str,
        config: BTreeMap<String, String>,
        target: TargetState,
    ) -> Result<(), ConnectError> {
        if target == TargetState::Stopped {
            // A stopped connector runs nothing: no connector object (no source or
            // store is reached, so stopping works when they are down), no tasks.
            // Retired tasks stay in `retiring` for the next launch to wait on.
            if self.inner.runs_connector(name) {
                self.inner
                    .write_status(format!("status-connector-{name}"), &State::Stopped);
            }
            let (control, _) = watch::channel(target);
            self.inner.connectors.lock().insert(
                name.to_string(),
                ConnectorEntry {
                    config,
                    target,
                    control,
                    tasks: Vec::new(),
                    state: State::Stopped,
                    launch: None,
                },
            );
            info!(connector = %name, "connector stopped");
            self.update_snapshot();
            return Ok(());
        }
        let class = config
            .get("connector.class")
            .map(String::as_str)
            .unwrap_or("");
        let registry = &self.inner.config.registry;
        let plugin = registry.find(class).ok_or_else(|| {
            ConnectError::BadRequest(format!("Connector class {class} is not available"))
        })?;
        let mut connector = (plugin.create)();
        // Warnings (unknown keys, keys without effect) on every start, so that the
        // connector's log says what creek ignores.
        let mut review = config::check(&connector.config_keys(), &config);
        review.warnings.extend(connector.warnings(&config));
        for w in &review.warnings {
            warn!(connector = %name, key = %w.key, "{}", w.message);
        }
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
        connector
            .start(&config)
            .map_err(|p| ConnectError::BadRequest(config::invalid_message(plugin.class, &p)))?;
        // Connect's common key; `config::check` has checked its type.
        let max_tasks = config
            .get("tasks.max")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let connector: Arc<dyn Connector> = Arc::from(connector);
        let task_configs = connector.task_configs(max_tasks).await;
        let task_count = task_configs.len();
        let (control, _) = watch::channel(target);
        let launch = Arc::new(Launch {
            connector,
            task_configs,
            key_converter,
            value_converter,
        });
        let after = self.inner.retiring.lock().remove(name);
        let state = if target == TargetState::Paused {
            State::Paused
        } else {
            State::Running
        };
        if self.inner.runs_connector(name) {
            self.inner
                .write_status(format!("status-connector-{name}"), &state);
        }
        info!(connector = %name, tasks = task_count, "connector started");
        // The connector is listed before its tasks can report anything (a task
        // that reads its first records at once records its active topic only
        // for a listed connector).
        let mut connectors = self.inner.connectors.lock();
        // Tasks another worker of the group runs (or that wait for a round) are
        // listed here without running.
        let tasks: Vec<TaskEntry> = (0..task_count)
            .map(|task_id| {
                if self.inner.runs_task(name, task_id) {
                    self.spawn_task(name, &launch, &control, task_id, after.clone())
                } else {
                    unassigned_task(launch.task_configs[task_id].clone())
                }
            })
            .collect();
        connectors.insert(
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
        drop(connectors);
        self.update_snapshot();
        Ok(())
    }

    fn spawn_task(
        &self,
        name: &str,
        launch: &Launch,
        control: &watch::Sender<TargetState>,
        task_id: usize,
        after: Option<Gate>,
    ) -> TaskEntry {
        let status = Arc::new(Mutex::new(State::Unassigned));
        let metrics = Arc::new(TaskMetrics::default());
        let worker = self.inner.clone();
        let writer: StatusWriter = Arc::new(move |key, state| worker.write_status(key, state));
        let ctx = TaskContext {
            connector: name.to_string(),
            task_id,
            task_count: launch.task_configs.len(),
            status: StatusHandle::new(writer, name, task_id, status.clone()),
            key_converter: launch.key_converter.clone(),
            value_converter: launch.value_converter.clone(),
            control: control.subscribe(),
            metrics: metrics.clone(),
        };
        let task_config = launch.task_configs[task_id].clone();
        let store = self.inner.store.clone();
        let topics: TopicRecorder = {
            let worker = self.inner.clone();
            let name = name.to_string();
            Arc::new(move |topic: &str| worker.record_topic(&name, task_id, topic))
        };
        let handle = match launch.connector.task(&task_config) {
            Task::Source(task) => {
                let ctx = SourceContext {
                    producer: SourceProducer::new(
                        store,
                        ctx.value_converter.clone(),
                        self.inner.config.exactly_once_source.then(|| {
                            format!("{}-{}-{}", self.inner.config.group_id, name, ctx.task_id)
                        }),
                        topics,
                    ),
                    offsets: self.inner.offsets.clone(),
                    task: ctx,
                };
                tokio::spawn(async move {
                    if let Some(gate) = after {
                        gate.await;
                    }
                    run_source(task, ctx).await
                })
            }
            Task::Sink(task) => {
                let ctx = SinkContext {
                    offsets: SinkOffsets::new(store.clone(), name),
                    task: ctx,
                };
                tokio::spawn(async move {
                    if let Some(gate) = after {
                        gate.await;
                    }
                    run_sink(task, ctx, store, topics).await
                })
            }
        };
        TaskEntry {
            status,
            handle: Some(handle),
            config: task_config,
            metrics,
        }
    }

    /// A config with every secret replaced by `[hidden]`.
    pub fn masked(&self, config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        let keys = &self.inner.all_keys;
        config
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if config::is_secret(keys, k) {
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

    /// "source" or "sink" by the connector's class.
    fn kind_of(&self, config: &BTreeMap<String, String>) -> &'static str {
        config
            .get("connector.class")
            .and_then(|c| self.inner.config.registry.find(c))
            .map(|p| p.kind().name())
            .unwrap_or("unknown")
    }

    async fn write_config(
        &self,
        name: &str,
        config: Option<&BTreeMap<String, String>>,
    ) -> Result<(), ConnectError> {
        let value = config.map(|c| json!({"properties": c}));
        self.append(
            &self.inner.config.topics.config,
            format!("connector-{name}"),
            value,
        )
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
                    // Other workers apply what this one wrote; it skips its own.
                    headers: vec![(
                        shared::WRITER_HEADER.to_string(),
                        Some(Bytes::from(self.inner.config.worker_id.clone())),
                    )],
                    ..Default::default()
                }],
            )
            .await
            .map_err(|e| ConnectError::Internal(format!("writing {topic}: {e}")))?;
        Ok(())
    }
}

impl WorkerInner {
    /// Notes that a task of `connector` used `topic`: the first time, it becomes one
    /// of the connector's active topics and is recorded in `connect-status` as
    /// Connect records it.
    fn record_topic(self: &Arc<Self>, connector: &str, task: usize, topic: &str) {
        if self
            .topics
            .lock()
            .get(connector)
            .is_some_and(|t| t.contains(topic))
        {
            return;
        }
        // A task of a connector deleted meanwhile records nothing.
        if !self.connectors.lock().contains_key(connector) {
            return;
        }
        if !self
            .topics
            .lock()
            .entry(connector.to_string())
            .or_default()
            .insert(topic.to_string())
        {
            return;
        }
        let value = json!({"topic": {"name": topic, "connector": connector, "task": task,
            "discoverTimestamp": creek_store::now_ms()}});
        let rec = ProducerRecord {
            key: Some(Bytes::from(topic_status_key(topic, connector))),
            value: Some(Bytes::from(value.to_string())),
            ..Default::default()
        };
        let store = self.store.clone();
        let status_topic = self.config.topics.status.clone();
        tokio::spawn(async move {
            if let Err(e) = store.produce(&status_topic, 0, vec![rec]).await {
                warn!(error = %e, topic = %status_topic, "writing the status topic failed");
            }
        });
    }

    /// Best effort: statuses are rebuilt from running tasks, the topic is a record.
    fn write_status(self: &Arc<Self>, key: String, state: &State) {
        let trace = match state {
            State::Failed(t) => Json::String(t.clone()),
            _ => Json::Null,
        };
        let value = json!({"state": state.name(), "trace": trace, "worker_id": self.config.worker_id, "generation": 0});
        let store = self.store.clone();
        let topic = self.config.topics.status.clone();
        tokio::spawn(async move {
            let rec = ProducerRecord {
                key: Some(Bytes::from(key)),
                value: Some(Bytes::from(value.to_string())),
                ..Default::default()
            };
            if let Err(e) = store.produce(&topic, 0, vec![rec]).await {
                warn!(error = %e, topic = %topic, "writing the status topic failed");
            }
        });
    }
}

/// A task this worker lists but does not run.
fn unassigned_task(config: BTreeMap<String, String>) -> TaskEntry {
    TaskEntry {
        status: Arc::new(Mutex::new(State::Unassigned)),
        handle: None,
        config,
        metrics: Arc::new(TaskMetrics::default()),
    }
}

fn not_found(name: &str) -> ConnectError {
    ConnectError::NotFound(format!("Connector {name} not found"))
}

/// Drives a source task until it is aborted: pause and resume, RUNNING / PAUSED /
/// FAILED, and the task's own backoff after a failure.
async fn run_source(mut task: Box<dyn SourceTask>, ctx: SourceContext) {
    let mut control = ctx.control.clone();
    loop {
        if *control.borrow() == TargetState::Paused {
            ctx.status.paused();
            let _ = control.wait_for(|s| *s != TargetState::Paused).await;
        }
        // Exactly once: fence the task's previous runner first, then read the
        // offsets it committed (its last transaction is final by now).
        let fenced = match ctx.producer.fence().await {
            Ok(true) => ctx
                .offsets
                .catch_up()
                .await
                .map_err(|e| TaskError(format!("reading committed source offsets: {e}"))),
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = fenced {
            ctx.status.failed(&e.0);
            tokio::time::sleep(task.start_backoff()).await;
            continue;
        }
        if let Err(e) = task.start(&ctx).await {
            ctx.status.failed(&e.0);
            tokio::time::sleep(task.start_backoff()).await;
            continue;
        }
        ctx.status.running();
        let failure = loop {
            if *control.borrow() == TargetState::Paused {
                ctx.status.paused();
                let _ = control.wait_for(|s| *s != TargetState::Paused).await;
                ctx.status.running();
            }
            match task.poll(&ctx).await {
                Ok(wake) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(wake) => {}
                        _ = control.changed() => {}
                    }
                }
                Err(e) => break e,
            }
        };
        ctx.status.failed(&failure.0);
        match task.after_failure(&ctx) {
            Some(backoff) => tokio::time::sleep(backoff).await,
            // Given up: FAILED until a restart replaces this task.
            None => std::future::pending::<()>().await,
        }
    }
}

/// How often a sink task looks for new topics and partitions.
const SINK_ASSIGNMENT_INTERVAL: Duration = Duration::from_secs(2);

/// Drives a sink task until it is aborted: assigns it topic-partitions, reads them
/// from the connector's consumer group position and hands the records over. A
/// failure shows FAILED with the cause; after the task's backoff it starts again
/// from the committed offsets.
async fn run_sink(
    mut task: Box<dyn SinkTask>,
    ctx: SinkContext,
    store: Arc<dyn LogStore>,
    topics: TopicRecorder,
) {
    loop {
        if let Err(e) = consume(task.as_mut(), &ctx, &store, &topics).await {
            ctx.status.failed(&e.0);
            task.stop();
            tokio::time::sleep(task.retry_backoff().max(Duration::from_millis(100))).await;
        }
    }
}

async fn consume(
    task: &mut dyn SinkTask,
    ctx: &SinkContext,
    store: &Arc<dyn LogStore>,
    topics: &TopicRecorder,
) -> Result<(), TaskError> {
    task.start(ctx).await?;
    // Next offset to read per assigned topic-partition.
    let mut positions: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut next_assignment = tokio::time::Instant::now();
    let mut control = ctx.control.clone();
    ctx.status.running();
    loop {
        if *control.borrow() == TargetState::Paused {
            ctx.status.paused();
            let _ = control.wait_for(|s| *s != TargetState::Paused).await;
            ctx.status.running();
        }
        if tokio::time::Instant::now() >= next_assignment {
            let topics = store
                .list_topics()
                .await
                .map_err(|e| TaskError(format!("listing topics failed: {e}")))?;
            let subscribed: Vec<(String, i32)> = topics
                .into_iter()
                .filter(|t| !t.internal && task.subscribes(&t.name))
                .map(|t| (t.name, t.partitions))
                .collect();
            assign(&subscribed, ctx, store, &mut positions).await?;
            next_assignment = tokio::time::Instant::now() + SINK_ASSIGNMENT_INTERVAL;
        }
        let mut fetched = 0usize;
        for ((topic, partition), position) in positions.iter_mut() {
            let records = match store
                .fetch(topic, *partition, *position, 4 << 20, Duration::ZERO)
                .await
            {
                Ok(b) => b.records,
                Err(e) => {
                    // Out of range after retention: resume at the earliest offset.
                    let earliest = store
                        .list_offset(topic, *partition, OffsetSpec::Earliest)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0);
                    if earliest > *position {
                        warn!(topic = %topic, partition, from = *position, to = earliest, "records were deleted by retention before delivery");
                        *position = earliest;
                        continue;
                    }
                    return Err(TaskError(format!(
                        "reading {topic}-{partition} failed: {e}"
                    )));
                }
            };
            let Some(last) = records.last().map(|r| r.offset) else {
                continue;
            };
            fetched += records.len();
            topics(topic);
            // Avro written through another worker's registry a moment ago.
            if let Some(registry) = ctx
                .value_converter
                .registry()
                .or(ctx.key_converter.registry())
            {
                if let Err(e) = registry.ensure_ids_of(&records).await {
                    warn!(topic = %topic, "reading newly registered schemas: {e}");
                }
            }
            task.put(ctx, topic, *partition, records).await?;
            *position = last + 1;
        }
        task.flush(ctx).await?;
        if fetched == 0 {
            // Nothing new: sleep until a record lands on an assigned partition, a
            // background commit ends, the task has time-based work, it is time to look
            // for new partitions, or the connector is paused or stopped. No polling.
            let mut deadline = next_assignment;
            if let Some(due) = task.flush_due_in() {
                deadline = deadline.min(tokio::time::Instant::now() + due);
            }
            let mut by_topic: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
            for ((topic, partition), position) in &positions {
                by_topic
                    .entry(topic.as_str())
                    .or_default()
                    .push((*partition, *position));
            }
            let waits: Vec<_> = by_topic
                .iter()
                .map(|(topic, parts)| store.wait_for_records(topic, parts, deadline))
                .collect();
            let records = async {
                // select_all wants at least one future.
                if waits.is_empty() {
                    std::future::pending::<()>().await;
                }
                // An error (a partition gone) shows in the next fetch, with its cause.
                let _ = futures::future::select_all(waits).await;
            };
            let background = task.background_done();
            let background_done = async {
                match &background {
                    Some(done) => done.notified().await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = records => {}
                _ = background_done => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = control.changed() => {}
            }
        }
    }
}

/// Picks up the task's share of the subscribed topics' partitions (new topics,
/// new partitions) at the group's committed positions.
async fn assign(
    subscribed: &[(String, i32)],
    ctx: &SinkContext,
    store: &Arc<dyn LogStore>,
    positions: &mut BTreeMap<(String, i32), i64>,
) -> Result<(), TaskError> {
    let group = ctx.offsets.group();
    let committed = store.committed_offsets(group).await.map_err(|e| {
        TaskError(format!(
            "reading the committed offsets of {group} failed: {e}"
        ))
    })?;
    for (topic, partitions) in subscribed {
        for p in 0..*partitions {
            let tp = (topic.clone(), p);
            if partition_task(topic, p, ctx.task_count) != ctx.task_id
                || positions.contains_key(&tp)
            {
                continue;
            }
            let position = match committed.get(&tp) {
                Some(o) => *o,
                // A sink's consumer starts at the earliest offset (Connect's default).
                None => store
                    .list_offset(topic, p, OffsetSpec::Earliest)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or(0),
            };
            info!(connector = %ctx.connector, topic = %topic, partition = p, offset = position, "delivering partition");
            positions.insert(tp, position);
        }
    }
    Ok(())
}

/// A stable task for a topic-partition.
fn partition_task(topic: &str, partition: i32, tasks: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (topic, partition).hash(&mut h);
    (h.finish() % tasks.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn worker_properties_name_the_storage_topics_and_refuse_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let log = creek_log::Log::open(dir.path(), creek_log::LogConfig::default()).unwrap();
        let store: Arc<dyn LogStore> = Arc::new(creek_log::EmbeddedLog::new(log));
        let mut config = WorkerConfig::new(
            "w:1".into(),
            ConverterContext {
                registry: creek_schema::Registry::open(store).await.unwrap(),
                registry_url: "http://r".into(),
            },
        );
        assert_eq!(config.topics, InternalTopics::default());
        config
            .set_property("offset.storage.topic", "team-offsets")
            .unwrap();
        config
            .set_property("value.converter.schemas.enable", "false")
            .unwrap();
        assert_eq!(config.topics.offset, "team-offsets");
        assert_eq!(config.topics.config, "connect-configs");
        assert_eq!(
            config
                .converter_defaults
                .get("value.converter.schemas.enable"),
            Some(&"false".to_string())
        );
        let err = config.set_property("group.idd", "x").unwrap_err();
        assert!(err.contains("unknown worker property group.idd"), "{err}");
        assert!(err.contains("status.storage.topic"), "{err}");
        assert!(WorkerConfig::check_property("config.storage.topic", " ").is_err());
        config
            .set_property("exactly.once.source.support", "enabled")
            .unwrap();
        assert!(config.exactly_once_source);
        let err = config
            .set_property("exactly.once.source.support", "maybe")
            .unwrap_err();
        assert!(err.contains("enabled, disabled or preparing"), "{err}");
    }
}
