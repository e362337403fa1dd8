//! The consumer-group coordinator: Kafka's classic rebalance protocol.
//!
//! A group moves Empty → PreparingRebalance (members (re)join) →
//! CompletingRebalance (the leader computes an assignment) → Stable (the leader's
//! SyncGroup delivered it). Any join, leave or expired session sends a non-empty
//! group back to PreparingRebalance. JoinGroup and SyncGroup calls park on oneshot
//! channels until the round completes; a ticker enforces rebalance deadlines and
//! session timeouts. Committed offsets are kept by creek-log, not here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::errors::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// What a JoinGroup call gets back.
#[derive(Debug, Clone, Default)]
pub struct JoinOutcome {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Filled for the leader only: every member's metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// What a SyncGroup call gets back.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
}

struct Member {
    group_instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<oneshot::Sender<JoinOutcome>>,
    sync_waiter: Option<oneshot::Sender<SyncOutcome>>,
    /// Order of first join; the earliest member leads when the leader leaves.
    seq: u64,
}

impl Member {
    /// This member's metadata for `protocol` (empty if it does not support it).
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }
}

struct Group {
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: HashMap<String, Member>,
    rebalance_deadline: Instant,
    /// Joins before this instant wait for more members (group.initial.rebalance.delay.ms).
    initial_delay_until: Option<Instant>,
}

impl Group {
    fn new() -> Self {
        Group {
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: HashMap::new(),
            rebalance_deadline: Instant::now(),
            initial_delay_until: None,
        }
    }

    fn prepare_rebalance(&mut self, initial_delay: Duration) {
        let now = Instant::now();
        if self.state == GroupState::Empty && !initial_delay.is_zero() {
            self.initial_delay_until = Some(now + initial_delay);
        }
        // Members parked in SyncGroup must rejoin.
        for m in self.members.values_mut() {
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncOutcome {
                    error: REBALANCE_IN_PROGRESS,
                    ..Default::default()
                });
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.rebalance_deadline = now + timeout;
        self.state = GroupState::PreparingRebalance;
    }

    fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.join_waiter.is_some())
    }

    /// Completes the join phase: bumps the generation and answers every parked join.
    fn complete_join(&mut self, group_id: &str) {
        // Members that did not rejoin in time are dropped.
        self.members.retain(|_, m| m.join_waiter.is_some());
        self.initial_delay_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
            return;
        }
        if self
            .leader
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader = self
                .members
                .iter()
                .min_by_key(|(_, m)| m.seq)
                .map(|(id, _)| id.clone());
        }
        let leader_id = self.leader.clone().unwrap_or_default();
        // The first of the leader's protocols that every member supports.
        let leader = &self.members[&leader_id];
        let chosen = leader
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            });
        self.protocol = chosen.clone();
        let chosen = chosen.unwrap_or_default();
        let mut metadata: Vec<(u64, String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m.metadata_for(&chosen);
                (m.seq, id.clone(), m.group_instance_id.clone(), meta)
            })
            .collect();
        metadata.sort_by_key(|(seq, ..)| *seq);
        let members: Vec<_> = metadata
            .into_iter()
            .map(|(_, id, inst, meta)| (id, inst, meta))
            .collect();
        self.state = GroupState::CompletingRebalance;
        info!(
            group = group_id,
            generation = self.generation,
            members = self.members.len(),
            "rebalance: join phase complete"
        );
        for (id, m) in self.members.iter_mut() {
            m.last_seen = Instant::now();
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinOutcome {
                    error: NONE,
                    generation: self.generation,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: Some(chosen.clone()),
                    leader: leader_id.clone(),
                    member_id: id.clone(),
                    members: if *id == leader_id {
                        members.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }

    fn try_complete_join(&mut self, group_id: &str) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let delayed = self.initial_delay_until.is_some_and(|t| Instant::now() < t);
        if self.all_joined() && !delayed {
            self.complete_join(group_id);
        }
    }

    fn remove_member(&mut self, member_id: &str, initial_delay: Duration, group_id: &str) {
        if let Some(m) = self.members.remove(member_id) {
            if let Some(tx) = m.join_waiter {
                let _ = tx.send(JoinOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    member_id: member_id.to_string(),
                    ..Default::default()
                });
            }
            if let Some(tx) = m.sync_waiter {
                let _ = tx.send(SyncOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    ..Default::default()
                });
            }
        }
        if self.members.is_empty() {
            if self.state != GroupState::Empty {
                self.generation += 1;
            }
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
            self.protocol_type = None;
        } else if self.state == GroupState::PreparingRebalance {
            self.try_complete_join(group_id);
        } else {
            self.prepare_rebalance(initial_delay);
        }
    }
}

/// A snapshot of one group for DescribeGroups / ListGroups.
pub struct GroupSummary {
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol: String,
    /// (member id, instance id, client id, client host, metadata, assignment)
    pub members: Vec<(String, Option<String>, String, String, Bytes, Bytes)>,
}

pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    initial_rebalance_delay: Duration,
    next_seq: Mutex<u64>,
}

impl GroupCoordinator {
    pub fn new(initial_rebalance_delay: Duration) -> Arc<Self> {
        Arc::new(GroupCoordinator {
            groups: Mutex::new(HashMap::new()),
            initial_rebalance_delay,
            next_seq: Mutex::new(0),
        })
    }

    pub async fn join(&self, req: JoinRequest) -> JoinOutcome {
        let rx = {
            let mut groups = self.groups.lock();
            let group = groups
                .entry(req.group_id.clone())
                .or_insert_with(Group::new);
            if req.protocols.is_empty() || req.protocol_type.is_empty() {
                return JoinOutcome {
                    error: INCONSISTENT_GROUP_PROTOCOL,
                    member_id: req.member_id,
                    ..Default::default()
                };
            }
            if !group.members.is_empty() {
                let type_matches =
                    group.protocol_type.as_deref() == Some(req.protocol_type.as_str());
                let shares_protocol = req.protocols.iter().any(|(n, _)| {
                    group
                        .members
                        .values()
                        .all(|m| m.protocols.iter().any(|(mn, _)| mn == n))
                });
                if !type_matches || !shares_protocol {
                    return JoinOutcome {
                        error: INCONSISTENT_GROUP_PROTOCOL,
                        member_id: req.member_id,
                        ..Default::default()
                    };
                }
            }
            let member_id = if req.member_id.is_empty() {
                format!(
                    "{}-{}",
                    if req.client_id.is_empty() {
                        "member"
                    } else {
                        &req.client_id
                    },
                    uuid::Uuid::new_v4()
                )
            } else if group.members.contains_key(&req.member_id) {
                req.member_id.clone()
            } else {
                return JoinOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    member_id: req.member_id,
                    ..Default::default()
                };
            };
            let (tx, rx) = oneshot::channel();
            let seq = {
                let mut s = self.next_seq.lock();
                *s += 1;
                *s
            };
            let member = group
                .members
                .entry(member_id.clone())
                .or_insert_with(|| Member {
                    group_instance_id: req.group_instance_id.clone(),
                    client_id: req.client_id.clone(),
                    client_host: req.client_host.clone(),
                    session_timeout: req.session_timeout,
                    rebalance_timeout: req.rebalance_timeout,
                    protocols: Vec::new(),
                    assignment: Bytes::new(),
                    last_seen: Instant::now(),
                    join_waiter: None,
                    sync_waiter: None,
                    seq,
                });
            member.protocols = req.protocols;
            member.session_timeout = req.session_timeout;
            member.rebalance_timeout = req.rebalance_timeout;
            member.last_seen = Instant::now();
            if let Some(old) = member.join_waiter.replace(tx) {
                let _ = old.send(JoinOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    ..Default::default()
                });
            }
            group.protocol_type = Some(req.protocol_type);
            debug!(group = %req.group_id, member = %member_id, "join");
            if group.state != GroupState::PreparingRebalance {
                group.prepare_rebalance(self.initial_rebalance_delay);
            }
            group.try_complete_join(&req.group_id);
            rx
        };
        rx.await.unwrap_or(JoinOutcome {
            error: UNKNOWN_MEMBER_ID,
            ..Default::default()
        })
    }

    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let rx = {
            let mut groups = self.groups.lock();
            let Some(group) = groups.get_mut(group_id) else {
                return SyncOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    ..Default::default()
                };
            };
            let Some(member) = group.members.get_mut(member_id) else {
                return SyncOutcome {
                    error: UNKNOWN_MEMBER_ID,
                    ..Default::default()
                };
            };
            member.last_seen = Instant::now();
            if generation != group.generation {
                return SyncOutcome {
                    error: ILLEGAL_GENERATION,
                    ..Default::default()
                };
            }
            match group.state {
                GroupState::PreparingRebalance => {
                    return SyncOutcome {
                        error: REBALANCE_IN_PROGRESS,
                        ..Default::default()
                    };
                }
                GroupState::Empty => {
                    return SyncOutcome {
                        error: UNKNOWN_MEMBER_ID,
                        ..Default::default()
                    }
                }
                GroupState::Stable => {
                    return SyncOutcome {
                        error: NONE,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol.clone(),
                        assignment: member.assignment.clone(),
                    };
                }
                GroupState::CompletingRebalance => {}
            }
            let (tx, rx) = oneshot::channel();
            member.sync_waiter = Some(tx);
            if group.leader.as_deref() == Some(member_id) {
                for m in group.members.values_mut() {
                    m.assignment = Bytes::new();
                }
                for (id, assignment) in assignments {
                    if let Some(m) = group.members.get_mut(&id) {
                        m.assignment = assignment;
                    }
                }
                group.state = GroupState::Stable;
                info!(
                    group = group_id,
                    generation = group.generation,
                    "rebalance: assignment delivered, group stable"
                );
                for m in group.members.values_mut() {
                    if let Some(tx) = m.sync_waiter.take() {
                        let _ = tx.send(SyncOutcome {
                            error: NONE,
                            protocol_type: group.protocol_type.clone(),
                            protocol_name: group.protocol.clone(),
                            assignment: m.assignment.clone(),
                        });
                    }
                }
            }
            rx
        };
        rx.await.unwrap_or(SyncOutcome {
            error: REBALANCE_IN_PROGRESS,
            ..Default::default()
        })
    }

    pub fn heartbeat(&self, group_id: &str, member_id: &str, generation: i32) -> i16 {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        let Some(member) = group.members.get_mut(member_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        member.last_seen = Instant::now();
        if group.state == GroupState::PreparingRebalance {
            return REBALANCE_IN_PROGRESS;
        }
        if generation != group.generation {
            return ILLEGAL_GENERATION;
        }
        NONE
    }

    /// Removes members; returns an error code per member.
    pub fn leave(&self, group_id: &str, member_ids: &[String]) -> Vec<i16> {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return member_ids.iter().map(|_| UNKNOWN_MEMBER_ID).collect();
        };
        member_ids
            .iter()
            .map(|id| {
                if group.members.contains_key(id) {
                    info!(group = group_id, member = %id, "member left");
                    group.remove_member(id, self.initial_rebalance_delay, group_id);
                    NONE
                } else {
                    UNKNOWN_MEMBER_ID
                }
            })
            .collect()
    }

    /// Checks that a commit comes from a current member (or from a group with no
    /// members, as standalone consumers and tools like kcat commit).
    pub fn validate_commit(&self, group_id: &str, member_id: &str, generation: i32) -> i16 {
        let groups = self.groups.lock();
        let Some(group) = groups.get(group_id) else {
            return if generation < 0 {
                NONE
            } else {
                ILLEGAL_GENERATION
            };
        };
        if generation < 0 && member_id.is_empty() {
            return if group.members.is_empty() {
                NONE
            } else {
                UNKNOWN_MEMBER_ID
            };
        }
        if !group.members.contains_key(member_id) {
            return UNKNOWN_MEMBER_ID;
        }
        if generation != group.generation {
            return ILLEGAL_GENERATION;
        }
        if group.state == GroupState::CompletingRebalance {
            return REBALANCE_IN_PROGRESS;
        }
        NONE
    }

    pub fn describe(&self, group_id: &str) -> Option<GroupSummary> {
        let groups = self.groups.lock();
        let group = groups.get(group_id)?;
        let protocol = group.protocol.clone().unwrap_or_default();
        Some(GroupSummary {
            group_id: group_id.to_string(),
            state: group.state,
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: if group.state == GroupState::Stable
                || group.state == GroupState::CompletingRebalance
            {
                protocol.clone()
            } else {
                String::new()
            },
            members: group
                .members
                .iter()
                .map(|(id, m)| {
                    let meta = m.metadata_for(&protocol);
                    (
                        id.clone(),
                        m.group_instance_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                        meta,
                        m.assignment.clone(),
                    )
                })
                .collect(),
        })
    }

    pub fn group_ids(&self) -> Vec<String> {
        self.groups.lock().keys().cloned().collect()
    }

    /// Forgets an empty group; returns false if it still has members.
    pub fn delete_if_empty(&self, group_id: &str) -> bool {
        let mut groups = self.groups.lock();
        match groups.get(group_id) {
            Some(g) if !g.members.is_empty() => false,
            _ => {
                groups.remove(group_id);
                true
            }
        }
    }

    /// One pass of deadline and session-timeout enforcement.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut groups = self.groups.lock();
        for (group_id, group) in groups.iter_mut() {
            match group.state {
                GroupState::PreparingRebalance => {
                    let delay_over = group.initial_delay_until.is_none_or(|t| now >= t);
                    if now >= group.rebalance_deadline && delay_over {
                        group.complete_join(group_id);
                    } else {
                        group.try_complete_join(group_id);
                    }
                }
                GroupState::CompletingRebalance | GroupState::Stable => {
                    let expired: Vec<String> = group
                        .members
                        .iter()
                        .filter(|(_, m)| {
                            m.sync_waiter.is_none()
                                && now.duration_since(m.last_seen) > m.session_timeout
                        })
                        .map(|(id, _)| id.clone())
                        .collect();
                    for id in expired {
                        info!(group = %group_id, member = %id, "member session expired");
                        group.remove_member(&id, self.initial_rebalance_delay, group_id);
                    }
                }
                GroupState::Empty => {}
            }
        }
    }

    /// Runs [`tick`](Self::tick) every 100 ms until shutdown.
    pub async fn run_ticker(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = interval.tick() => self.tick(),
                _ = shutdown.changed() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join_req(member: &str) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_millis(300),
            rebalance_timeout: Duration::from_millis(500),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
        }
    }

    #[tokio::test]
    async fn two_members_rebalance_and_session_expiry() {
        let c = GroupCoordinator::new(Duration::ZERO);
        let first = c.join(join_req("")).await;
        assert_eq!(first.error, NONE);
        assert_eq!(first.generation, 1);
        assert_eq!(first.leader, first.member_id);
        let s = c
            .sync(
                "g",
                &first.member_id,
                1,
                vec![(first.member_id.clone(), Bytes::from_static(b"a1"))],
            )
            .await;
        assert_eq!(&s.assignment[..], b"a1");

        // A second member triggers a rebalance; the first learns of it by heartbeat.
        let c2 = c.clone();
        let second = tokio::spawn(async move { c2.join(join_req("")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(c.heartbeat("g", &first.member_id, 1), REBALANCE_IN_PROGRESS);
        let again = c.join(join_req(&first.member_id)).await;
        let second = second.await.unwrap();
        assert_eq!(again.generation, 2);
        assert_eq!(second.generation, 2);
        assert_eq!(again.members.len(), 2, "the leader sees every member");
        assert!(second.members.is_empty());

        // The follower parks in SyncGroup until the leader assigns.
        let c3 = c.clone();
        let follower = second.member_id.clone();
        let f = tokio::spawn(async move { c3.sync("g", &follower, 2, vec![]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let leader_sync = c
            .sync(
                "g",
                &again.member_id,
                2,
                vec![(second.member_id.clone(), Bytes::from_static(b"to-2"))],
            )
            .await;
        assert_eq!(leader_sync.error, NONE);
        assert_eq!(&f.await.unwrap().assignment[..], b"to-2");
        assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);

        // The second member stops heartbeating: its session expires.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            c.heartbeat("g", &again.member_id, 2);
            c.tick();
        }
        assert_eq!(c.heartbeat("g", &second.member_id, 2), UNKNOWN_MEMBER_ID);
        assert_eq!(
            c.describe("g").unwrap().state,
            GroupState::PreparingRebalance
        );
        let solo = c.join(join_req(&again.member_id)).await;
        assert_eq!(solo.generation, 3);
        assert_eq!(
            c.leave("g", std::slice::from_ref(&again.member_id)),
            vec![NONE]
        );
        assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
    }

    #[test]
    fn commits_are_validated() {
        let c = GroupCoordinator::new(Duration::ZERO);
        assert_eq!(c.validate_commit("none", "", -1), NONE);
        assert_eq!(c.validate_commit("none", "m", 3), ILLEGAL_GENERATION);
    }
}
