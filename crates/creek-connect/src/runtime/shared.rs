//! How a worker shares connectors and tasks with the other workers of its group
//! (`group.id`) on one cluster, as Connect's distributed workers do:
//!
//! - every worker follows `connect-configs` and applies what the others write
//!   (connector configs, deletions, target states), so each knows every
//!   connector and its task configs;
//! - every worker follows `connect-status`, so any of them answers a status call
//!   with the state and worker id of each task, wherever it runs;
//! - rounds of the group (`membership`: Connect's protocol and eager assignor)
//!   decide which worker runs which connector and task. A worker runs only its
//!   share; when a round starts it stops everything (eager), and when a
//!   connector or its task count changes it asks for a round.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value as Json;
use tokio::time::Instant;
use tracing::{info, warn};

use super::{retire, unassigned_task, Worker, WorkerInner};
use crate::config;
use crate::context::{State, TargetState};
use crate::membership::{WorkAssignment, WorkerState, EAGER};

/// The header naming the worker that wrote a `connect-configs` record.
pub(super) const WRITER_HEADER: &str = "creek.worker.id";

/// A connector's or task's latest `connect-status` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RemoteStatus {
    pub state: State,
    pub worker_id: String,
}

impl RemoteStatus {
    /// A `status-connector-…` or `status-task-…` record; `None` for other keys
    /// and for values that are not a status.
    pub(super) fn parse(key: &str, value: Option<&[u8]>) -> Option<RemoteStatus> {
        if !key.starts_with("status-connector-") && !key.starts_with("status-task-") {
            return None;
        }
        let v: Json = serde_json::from_slice(value?).ok()?;
        let trace = v.get("trace").and_then(Json::as_str).unwrap_or_default();
        let state = match v.get("state")?.as_str()? {
            "RUNNING" => State::Running,
            "PAUSED" => State::Paused,
            "STOPPED" => State::Stopped,
            "FAILED" => State::Failed(trace.to_string()),
            _ => State::Unassigned,
        };
        Some(RemoteStatus {
            state,
            worker_id: v.get("worker_id")?.as_str()?.to_string(),
        })
    }
}

impl WorkerInner {
    /// Whether this worker runs task `task` of `connector` now.
    pub(super) fn runs_task(&self, connector: &str, task: usize) -> bool {
        !self.shares_work
            || self
                .assignment
                .lock()
                .as_ref()
                .is_some_and(|a| a.tasks.contains(&(connector.to_string(), task)))
    }

    /// Whether this worker runs the connector itself (and reports its status).
    pub(super) fn runs_connector(&self, connector: &str) -> bool {
        !self.shares_work
            || self
                .assignment
                .lock()
                .as_ref()
                .is_some_and(|a| a.connectors.contains(connector))
    }

    /// The latest status of a connector (`task` None) or task, and the worker
    /// that runs it: this one's when it runs it, else what its runner recorded.
    pub(super) fn status_of(
        &self,
        connector: &str,
        task: Option<usize>,
        local: State,
    ) -> (State, String) {
        let mine = match task {
            Some(t) => self.runs_task(connector, t),
            None => self.runs_connector(connector),
        };
        if mine {
            return (local, self.config.worker_id.clone());
        }
        let key = match task {
            Some(t) => format!("status-task-{connector}-{t}"),
            None => format!("status-connector-{connector}"),
        };
        match self.remote.lock().get(&key) {
            // A record of this worker's is from before the last round.
            Some(r) if r.worker_id != self.config.worker_id => {
                (r.state.clone(), r.worker_id.clone())
            }
            _ => (State::Unassigned, self.config.worker_id.clone()),
        }
    }
}

impl Worker {
    /// Tells the leader's assignor what this worker knows (connectors and their
    /// task counts); asks for a round when that changed.
    pub(super) fn update_snapshot(&self) {
        let tasks: std::collections::BTreeMap<String, usize> = self
            .inner
            .connectors
            .lock()
            .iter()
            .map(|(name, c)| (name.clone(), c.tasks.len()))
            .collect();
        let changed = {
            let mut snapshot = self.inner.snapshot.lock();
            snapshot.config_offset = *self.inner.config_read.borrow();
            let changed = snapshot.tasks != tasks;
            snapshot.tasks = tasks;
            changed
        };
        if changed && self.inner.shares_work {
            self.inner.member.request_rejoin();
        }
    }

    /// Starts following the config and status topics from the given offsets and
    /// taking part in the group's rounds.
    pub(super) fn follow(&self, config_from: i64, status_from: i64) {
        let worker = self.clone();
        tokio::spawn(async move { worker.follow_configs(config_from).await });
        let worker = self.clone();
        tokio::spawn(async move { worker.follow_statuses(status_from).await });
        let worker = self.clone();
        tokio::spawn(async move { worker.take_part_in_rounds().await });
    }

    /// Applies what other workers write to `connect-configs`.
    async fn follow_configs(self, mut offset: i64) {
        let topic = self.inner.config.topics.config.clone();
        loop {
            let records = match self.next_records(&topic, offset).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(%topic, error = %e, "following the config topic failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            {
                let _guard = self.inner.changes.lock().await;
                for r in records {
                    offset = r.offset + 1;
                    let own = r.headers.iter().any(|(k, v)| {
                        k == WRITER_HEADER
                            && v.as_deref() == Some(self.inner.config.worker_id.as_bytes())
                    });
                    if own {
                        continue;
                    }
                    let Some(key) = r.key.and_then(|k| String::from_utf8(k.to_vec()).ok()) else {
                        continue;
                    };
                    self.apply_config_record(&key, r.value).await;
                }
                self.inner.config_read.send_replace(offset);
                self.update_snapshot();
            }
        }
    }

    /// One config record written by another worker.
    async fn apply_config_record(&self, key: &str, value: Option<Bytes>) {
        let value: Option<Json> = value.and_then(|v| serde_json::from_slice(&v).ok());
        if let Some(name) = key.strip_prefix("connector-") {
            let props = value
                .as_ref()
                .and_then(|v| v.get("properties"))
                .and_then(Json::as_object)
                .and_then(|p| config::normalize(p).ok());
            let existing = self
                .inner
                .connectors
                .lock()
                .get(name)
                .map(|c| (c.config.clone(), c.target));
            match props {
                Some(cfg) => {
                    if existing.as_ref().is_some_and(|(old, _)| *old == cfg) {
                        return;
                    }
                    let target = existing.map_or(TargetState::Started, |(_, t)| t);
                    info!(connector = %name, "connector config from another worker");
                    self.retire_tasks(name);
                    if let Err(e) = self.launch(name, cfg, target).await {
                        warn!(connector = %name, error = %e, "connector from another worker cannot start here");
                    }
                }
                None => {
                    if existing.is_some() {
                        info!(connector = %name, "connector deleted by another worker");
                        self.retire_tasks(name);
                        self.inner.connectors.lock().remove(name);
                        self.inner.offsets.forget(name);
                    }
                }
            }
        } else if let Some(name) = key.strip_prefix("target-state-") {
            let target = super::target_state_of(value.as_ref());
            if self.target(name).is_ok_and(|t| t != target) {
                if let Err(e) = self.apply_target(name, target).await {
                    warn!(connector = %name, error = %e, "target state from another worker not applied");
                }
            }
        }
    }

    /// Keeps the latest status of every connector and task, and the active
    /// topics other workers record.
    async fn follow_statuses(self, mut offset: i64) {
        let topic = self.inner.config.topics.status.clone();
        loop {
            let records = match self.next_records(&topic, offset).await {
                Ok(r) => r,
                Err(e) => {
                    warn!(%topic, error = %e, "following the status topic failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for r in records {
                offset = r.offset + 1;
                let Some(key) = r.key.and_then(|k| String::from_utf8(k.to_vec()).ok()) else {
                    continue;
                };
                if let Some(status) = RemoteStatus::parse(&key, r.value.as_deref()) {
                    self.inner.remote.lock().insert(key, status);
                } else if let Some((topic, connector)) = super::parse_topic_status_key(&key) {
                    let mut topics = self.inner.topics.lock();
                    let set = topics.entry(connector.to_string()).or_default();
                    if r.value.is_some() {
                        set.insert(topic.to_string());
                    } else {
                        set.remove(topic);
                    }
                }
            }
        }
    }

    /// The records of partition 0 of `topic` from `offset`, waiting for one up to
    /// half a minute (an empty answer then).
    async fn next_records(
        &self,
        topic: &str,
        offset: i64,
    ) -> creek_store::Result<Vec<creek_store::ConsumerRecord>> {
        let store = &self.inner.store;
        let deadline = Instant::now() + Duration::from_secs(30);
        if !store
            .wait_for_records(topic, &[(0, offset)], deadline)
            .await?
        {
            return Ok(Vec::new());
        }
        Ok(store
            .fetch(topic, 0, offset, 1 << 20, Duration::ZERO)
            .await?
            .records)
    }

    /// The group's rounds: run this worker's share until a round starts, stop
    /// it (eager), rejoin.
    async fn take_part_in_rounds(self) {
        let member = self.inner.member.clone();
        let url = format!("http://{}/", self.inner.config.worker_id);
        loop {
            let state = WorkerState {
                url: url.clone(),
                config_offset: *self.inner.config_read.borrow(),
            };
            let round = match member
                .next_assignment(vec![(EAGER.to_string(), state.encode())])
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    warn!(group = %self.inner.config.group_id, error = %e, "joining the Connect group failed; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            let Some(work) = WorkAssignment::decode(round.data.clone()) else {
                warn!(group = %self.inner.config.group_id, "an assignment this worker cannot read; rejoining");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            };
            // Configs as far as the leader read them, before anything starts.
            let mut read = self.inner.config_read.subscribe();
            let caught_up = tokio::time::timeout(Duration::from_secs(60), async {
                read.wait_for(|o| *o >= work.config_offset).await.is_ok()
            })
            .await;
            if caught_up != Ok(true) {
                warn!(
                    offset = work.config_offset,
                    "config topic not read as far as the leader within 60 s; rejoining"
                );
                continue;
            }
            if work.error != 0 {
                // The leader was behind a member: a new round, now that all read more.
                continue;
            }
            info!(
                generation = round.generation,
                leader = %work.leader_url,
                connectors = ?work.connectors,
                tasks = ?work.tasks,
                "this worker's share of the Connect group"
            );
            // Source offsets as far as the tasks' previous runners committed them.
            if let Err(e) = self.inner.offsets.catch_up().await {
                warn!(error = %e, "reading the offset topic failed; rejoining");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            {
                let _guard = self.inner.changes.lock().await;
                self.apply_assignment(work);
            }
            member.rebalance_started().await;
            let _guard = self.inner.changes.lock().await;
            self.revoke_all();
        }
    }

    /// Starts the tasks of `work` (the connectors' statuses recorded by their new
    /// runner).
    fn apply_assignment(&self, work: WorkAssignment) {
        let connectors: BTreeSet<String> = work.connectors.clone();
        *self.inner.assignment.lock() = Some(work);
        let mut map = self.inner.connectors.lock();
        for (name, c) in map.iter_mut() {
            if connectors.contains(name) {
                self.inner
                    .write_status(format!("status-connector-{name}"), &c.state);
            }
            let Some(launch) = c.launch.clone() else {
                continue;
            };
            let gate = self.inner.retiring.lock().get(name).cloned();
            for task_id in 0..c.tasks.len() {
                if self.inner.runs_task(name, task_id) && c.tasks[task_id].handle.is_none() {
                    c.tasks[task_id] =
                        self.spawn_task(name, &launch, &c.control, task_id, gate.clone());
                }
            }
        }
    }

    /// Stops every task this worker runs: another worker may get them in the
    /// round that starts. Each connector's stopped tasks form the gate its next
    /// tasks wait behind.
    fn revoke_all(&self) {
        *self.inner.assignment.lock() = None;
        let mut map = self.inner.connectors.lock();
        for (name, c) in map.iter_mut() {
            let mut handles = Vec::new();
            for t in c.tasks.iter_mut() {
                if let Some(h) = t.handle.take() {
                    handles.push(h);
                }
                *t = unassigned_task(std::mem::take(&mut t.config));
            }
            if handles.is_empty() {
                continue;
            }
            let mut retiring = self.inner.retiring.lock();
            let earlier = retiring.remove(name);
            let gate = retire(handles);
            let both = async move {
                if let Some(e) = earlier {
                    e.await;
                }
                gate.await;
            };
            use futures::FutureExt;
            retiring.insert(name.clone(), both.boxed().shared());
        }
    }
}
