//! The consumer-group coordinator: Kafka's classic rebalance protocol.
//!
//! A group moves Empty → PreparingRebalance (members (re)join) →
//! CompletingRebalance (the leader computes an assignment) → Stable (the leader's
//! SyncGroup delivered it). Any join, leave or expired session sends a non-empty
//! group back to PreparingRebalance. JoinGroup and SyncGroup calls park on oneshot
//! channels until the round completes; a ticker enforces rebalance deadlines and
//! session timeouts. Committed offsets are kept by creek-log, not here.
//!
//! Static membership (KIP-345, `group.instance.id`): a member that rejoins with its
//! instance id and no member id takes over the old member's slot and assignment (the
//! old member id is fenced with FENCED_INSTANCE_ID); in a Stable group this needs no
//! rebalance. Static members are not dropped when a rebalance times out without them,
//! only when their session expires or they are removed by LeaveGroup (by instance id).

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
    /// KIP-814 (JoinGroup v9+): a static leader that rejoined a Stable group must not
    /// compute a new assignment (its SyncGroup gets the current one).
    pub skip_assignment: bool,
}

impl JoinOutcome {
    fn error(error: i16, member_id: &str) -> Self {
        JoinOutcome {
            error,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

impl SyncOutcome {
    fn error(error: i16) -> Self {
        SyncOutcome {
            error,
            ..Default::default()
        }
    }
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
    /// JoinGroup v9+: the client understands `skip_assignment`.
    pub supports_skip_assignment: bool,
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
    /// Takes a rejoin's client details and timeouts (not its protocols).
    fn update_from(&mut self, req: &JoinRequest) {
        self.client_id = req.client_id.clone();
        self.client_host = req.client_host.clone();
        self.session_timeout = req.session_timeout;
        self.rebalance_timeout = req.rebalance_timeout;
        self.last_seen = Instant::now();
    }

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
    /// group.instance.id → member id of the static members.
    static_members: HashMap<String, String>,
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
            static_members: HashMap::new(),
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

    /// The protocol the next generation would use: the first of the leader's protocols
    /// that every member supports (None without members or a common protocol).
    fn select_protocol(&self) -> Option<String> {
        let leader = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().min_by_key(|m| m.seq))?;
        leader
            .protocols
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    /// Every member's id, instance id and metadata for `protocol`, in join order (what
    /// the leader gets in its JoinGroup response).
    fn member_list(&self, protocol: &str) -> Vec<(String, Option<String>, Bytes)> {
        let mut metadata: Vec<(u64, String, Option<String>, Bytes)> = self
            .members
            .iter()
            .map(|(id, m)| {
                let meta = m.metadata_for(protocol);
                (m.seq, id.clone(), m.group_instance_id.clone(), meta)
            })
            .collect();
        metadata.sort_by_key(|(seq, ..)| *seq);
        metadata
            .into_iter()
            .map(|(_, id, inst, meta)| (id, inst, meta))
            .collect()
    }

    /// The current generation as a JoinGroup answer for `member_id` (no rebalance).
    fn current_generation_for(
        &self,
        member_id: &str,
        leader: &str,
        leader_sees_members: bool,
    ) -> JoinOutcome {
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinOutcome {
            error: NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: leader.to_string(),
            member_id: member_id.to_string(),
            members: if leader_sees_members {
                self.member_list(&protocol)
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    /// Checks a request's member id against the group, as Kafka's `validateMember`:
    /// with an instance id, that instance must currently be this member id.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> i16 {
        match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                None => UNKNOWN_MEMBER_ID,
                Some(current) if current != member_id => FENCED_INSTANCE_ID,
                Some(_) => NONE,
            },
            None if self.members.contains_key(member_id) => NONE,
            None => UNKNOWN_MEMBER_ID,
        }
    }

    /// Moves a static member's slot (metadata, assignment, leadership) from `old` to
    /// `new`; calls parked under the old member id are answered FENCED_INSTANCE_ID.
    fn replace_static_member(&mut self, instance: &str, old: &str, new: &str) {
        if let Some(mut m) = self.members.remove(old) {
            if let Some(tx) = m.join_waiter.take() {
                let _ = tx.send(JoinOutcome::error(FENCED_INSTANCE_ID, old));
            }
            if let Some(tx) = m.sync_waiter.take() {
                let _ = tx.send(SyncOutcome::error(FENCED_INSTANCE_ID));
            }
            self.members.insert(new.to_string(), m);
        }
        if self.leader.as_deref() == Some(old) {
            self.leader = Some(new.to_string());
        }
        self.static_members
            .insert(instance.to_string(), new.to_string());
    }

    /// Completes the join phase: bumps the generation and answers every parked join.
    fn complete_join(&mut self, group_id: &str) {
        // Dynamic members that did not rejoin in time are dropped; static ones keep
        // their slot until their session expires (KIP-345).
        let dropped: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| m.join_waiter.is_none() && m.group_instance_id.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in dropped {
            self.members.remove(&id);
        }
        self.static_members
            .retain(|_, id| self.members.contains_key(id));
        if !self.members.is_empty() && !self.members.values().any(|m| m.join_waiter.is_some()) {
            // Only absent static members: nobody can lead. Wait another round; their
            // sessions expire meanwhile.
            let timeout = self
                .members
                .values()
                .map(|m| m.rebalance_timeout)
                .max()
                .unwrap_or(Duration::ZERO);
            self.rebalance_deadline = Instant::now() + timeout;
            return;
        }
        self.initial_delay_until = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.protocol = None;
            return;
        }
        // The leader must be a member that rejoined.
        let leader_joined = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .is_some_and(|m| m.join_waiter.is_some());
        if !leader_joined {
            self.leader = self
                .members
                .iter()
                .filter(|(_, m)| m.join_waiter.is_some())
                .min_by_key(|(_, m)| m.seq)
                .map(|(id, _)| id.clone());
        }
        let leader_id = self.leader.clone().unwrap_or_default();
        let chosen = self.select_protocol();
        self.protocol = chosen.clone();
        let chosen = chosen.unwrap_or_default();
        let members = self.member_list(&chosen);
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
                    skip_assignment: false,
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

    /// Removes the members whose session lapsed, except those parked in a request
    /// (`waiting`): their session is not running while the broker holds the reply.
    fn expire_members(
        &mut self,
        now: Instant,
        waiting: impl Fn(&Member) -> bool,
        initial_delay: Duration,
        group_id: &str,
        why: &str,
    ) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| !waiting(m) && now.duration_since(m.last_seen) > m.session_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            info!(group = %group_id, member = %id, "{why}");
            self.remove_member(&id, initial_delay, group_id);
        }
    }

    fn remove_member(&mut self, member_id: &str, initial_delay: Duration, group_id: &str) {
        if let Some(m) = self.members.remove(member_id) {
            if let Some(tx) = m.join_waiter {
                let _ = tx.send(JoinOutcome::error(UNKNOWN_MEMBER_ID, member_id));
            }
            if let Some(tx) = m.sync_waiter {
                let _ = tx.send(SyncOutcome::error(UNKNOWN_MEMBER_ID));
            }
        }
        self.static_members.retain(|_, id| id != member_id);
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
                return JoinOutcome::error(INCONSISTENT_GROUP_PROTOCOL, &req.member_id);
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
                    return JoinOutcome::error(INCONSISTENT_GROUP_PROTOCOL, &req.member_id);
                }
            }
            let (tx, rx) = oneshot::channel();
            let member_id = if req.member_id.is_empty() {
                let prefix = match (&req.group_instance_id, req.client_id.as_str()) {
                    (Some(instance), _) => instance.as_str(),
                    (None, "") => "member",
                    (None, client) => client,
                };
                let member_id = format!("{prefix}-{}", uuid::Uuid::new_v4());
                let previous = req
                    .group_instance_id
                    .as_ref()
                    .and_then(|i| group.static_members.get(i).cloned());
                if let (Some(old), Some(instance)) = (previous, &req.group_instance_id) {
                    info!(group = %req.group_id, %instance, old = %old, new = %member_id,
                        state = group.state.name(), "static member rejoined: it replaces its previous member id");
                    let leader_before = group.leader.clone().unwrap_or_default();
                    group.replace_static_member(instance, &old, &member_id);
                    if let Some(member) = group.members.get_mut(&member_id) {
                        member.update_from(&req);
                        member.protocols = req.protocols.clone();
                    }
                    match group.state {
                        GroupState::Stable if group.select_protocol() == group.protocol => {
                            // Nothing changes for the others: the member gets its previous
                            // assignment back in SyncGroup. A v9+ leader learns it leads but
                            // skips the assignment (KIP-814); older clients are told the old
                            // leader id, so they do not assign either.
                            info!(group = %req.group_id, %instance, "static member rejoined a stable group: no rebalance");
                            let leads = group.leader.as_deref() == Some(member_id.as_str());
                            let mut outcome = if req.supports_skip_assignment {
                                let leader = group.leader.clone().unwrap_or_default();
                                group.current_generation_for(&member_id, &leader, leads)
                            } else {
                                group.current_generation_for(&member_id, &leader_before, false)
                            };
                            outcome.skip_assignment = req.supports_skip_assignment && leads;
                            return outcome;
                        }
                        GroupState::PreparingRebalance => {}
                        // CompletingRebalance: the leader may be assigning to the old id.
                        _ => group.prepare_rebalance(self.initial_rebalance_delay),
                    }
                } else {
                    let seq = {
                        let mut s = self.next_seq.lock();
                        *s += 1;
                        *s
                    };
                    group.members.insert(
                        member_id.clone(),
                        Member {
                            group_instance_id: req.group_instance_id.clone(),
                            client_id: req.client_id.clone(),
                            client_host: req.client_host.clone(),
                            session_timeout: req.session_timeout,
                            rebalance_timeout: req.rebalance_timeout,
                            protocols: req.protocols.clone(),
                            assignment: Bytes::new(),
                            last_seen: Instant::now(),
                            join_waiter: None,
                            sync_waiter: None,
                            seq,
                        },
                    );
                    if let Some(instance) = &req.group_instance_id {
                        group
                            .static_members
                            .insert(instance.clone(), member_id.clone());
                    }
                    if group.state != GroupState::PreparingRebalance {
                        group.prepare_rebalance(self.initial_rebalance_delay);
                    }
                }
                member_id
            } else {
                let member_id = req.member_id.clone();
                let code = group.validate_member(&member_id, req.group_instance_id.as_deref());
                if code != NONE {
                    return JoinOutcome::error(code, &member_id);
                }
                let leader = group.leader.clone().unwrap_or_default();
                let leads = leader == member_id;
                let state = group.state;
                let Some(member) = group.members.get_mut(&member_id) else {
                    return JoinOutcome::error(UNKNOWN_MEMBER_ID, &member_id);
                };
                member.update_from(&req);
                let unchanged = member.protocols == req.protocols;
                match state {
                    // A rejoin without changes (say, a lost JoinGroup response) gets the
                    // current generation; the leader of a stable group rejoining, or any
                    // change of metadata, starts a rebalance (as Kafka does).
                    GroupState::CompletingRebalance if unchanged => {
                        return group.current_generation_for(&member_id, &leader, leads);
                    }
                    GroupState::Stable if unchanged && !leads => {
                        return group.current_generation_for(&member_id, &leader, false);
                    }
                    _ => {}
                }
                member.protocols = req.protocols.clone();
                if group.state != GroupState::PreparingRebalance {
                    group.prepare_rebalance(self.initial_rebalance_delay);
                }
                member_id
            };
            if let Some(member) = group.members.get_mut(&member_id) {
                if let Some(old) = member.join_waiter.replace(tx) {
                    let _ = old.send(JoinOutcome::error(UNKNOWN_MEMBER_ID, &member_id));
                }
            }
            group.protocol_type = Some(req.protocol_type);
            debug!(group = %req.group_id, member = %member_id, "join");
            group.try_complete_join(&req.group_id);
            rx
        };
        rx.await
            .unwrap_or_else(|_| JoinOutcome::error(UNKNOWN_MEMBER_ID, ""))
    }

    pub async fn sync(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> SyncOutcome {
        let rx = {
            let mut groups = self.groups.lock();
            let Some(group) = groups.get_mut(group_id) else {
                return SyncOutcome::error(UNKNOWN_MEMBER_ID);
            };
            let code = group.validate_member(member_id, group_instance_id);
            if code != NONE {
                return SyncOutcome::error(code);
            }
            let Some(member) = group.members.get_mut(member_id) else {
                return SyncOutcome::error(UNKNOWN_MEMBER_ID);
            };
            member.last_seen = Instant::now();
            if generation != group.generation {
                return SyncOutcome::error(ILLEGAL_GENERATION);
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

    pub fn heartbeat(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        let code = group.validate_member(member_id, group_instance_id);
        if code != NONE {
            return code;
        }
        if generation != group.generation {
            return ILLEGAL_GENERATION;
        }
        let Some(member) = group.members.get_mut(member_id) else {
            return UNKNOWN_MEMBER_ID;
        };
        member.last_seen = Instant::now();
        match group.state {
            GroupState::Empty => UNKNOWN_MEMBER_ID,
            GroupState::PreparingRebalance => REBALANCE_IN_PROGRESS,
            GroupState::CompletingRebalance | GroupState::Stable => NONE,
        }
    }

    /// Removes members, each named by member id, or (LeaveGroup v3+, the admin
    /// client's removeMembersFromConsumerGroup) by instance id with an empty member
    /// id; returns an error code per member.
    pub fn leave(&self, group_id: &str, members: &[(String, Option<String>)]) -> Vec<i16> {
        let mut groups = self.groups.lock();
        let Some(group) = groups.get_mut(group_id) else {
            return members.iter().map(|_| UNKNOWN_MEMBER_ID).collect();
        };
        members
            .iter()
            .map(|(member_id, instance)| {
                let target = if member_id.is_empty() {
                    instance
                        .as_ref()
                        .and_then(|i| group.static_members.get(i).cloned())
                        .ok_or(UNKNOWN_MEMBER_ID)
                } else {
                    match group.validate_member(member_id, instance.as_deref()) {
                        NONE => Ok(member_id.clone()),
                        code => Err(code),
                    }
                };
                match target {
                    Ok(id) => {
                        info!(group = group_id, member = %id, instance = ?instance, "member left");
                        group.remove_member(&id, self.initial_rebalance_delay, group_id);
                        NONE
                    }
                    Err(code) => code,
                }
            })
            .collect()
    }

    /// Checks that a commit comes from a current member (or, with no generation, to a
    /// group without members, as standalone consumers and tools like kcat commit).
    pub fn validate_commit(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        let groups = self.groups.lock();
        let Some(group) = groups.get(group_id) else {
            return if generation < 0 {
                NONE
            } else {
                ILLEGAL_GENERATION
            };
        };
        if generation < 0 && group.members.is_empty() {
            return NONE;
        }
        if generation >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            let code = group.validate_member(member_id, group_instance_id);
            if code != NONE {
                return code;
            }
            if generation != group.generation {
                return ILLEGAL_GENERATION;
            }
        } else {
            return UNKNOWN_MEMBER_ID;
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
                    // A member that neither rejoined nor heartbeat within its session is
                    // gone (as in Kafka), so a crashed member does not hold the rebalance
                    // until the rebalance timeout (max.poll.interval.ms).
                    group.expire_members(
                        now,
                        |m| m.join_waiter.is_some(),
                        self.initial_rebalance_delay,
                        group_id,
                        "member session expired during a rebalance",
                    );
                    if group.state != GroupState::PreparingRebalance {
                        continue;
                    }
                    let delay_over = group.initial_delay_until.is_none_or(|t| now >= t);
                    if now >= group.rebalance_deadline && delay_over {
                        group.complete_join(group_id);
                    } else {
                        group.try_complete_join(group_id);
                    }
                }
                GroupState::CompletingRebalance | GroupState::Stable => {
                    group.expire_members(
                        now,
                        |m| m.sync_waiter.is_some(),
                        self.initial_rebalance_delay,
                        group_id,
                        "member session expired",
                    );
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
            supports_skip_assignment: true,
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
                None,
                1,
                vec![(first.member_id.clone(), Bytes::from_static(b"a1"))],
            )
            .await;
        assert_eq!(&s.assignment[..], b"a1");

        // A second member triggers a rebalance; the first learns of it by heartbeat.
        let c2 = c.clone();
        let second = tokio::spawn(async move { c2.join(join_req("")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            c.heartbeat("g", &first.member_id, None, 1),
            REBALANCE_IN_PROGRESS
        );
        let again = c.join(join_req(&first.member_id)).await;
        let second = second.await.unwrap();
        assert_eq!(again.generation, 2);
        assert_eq!(second.generation, 2);
        assert_eq!(again.members.len(), 2, "the leader sees every member");
        assert!(second.members.is_empty());

        // The follower parks in SyncGroup until the leader assigns.
        let c3 = c.clone();
        let follower = second.member_id.clone();
        let f = tokio::spawn(async move { c3.sync("g", &follower, None, 2, vec![]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let leader_sync = c
            .sync(
                "g",
                &again.member_id,
                None,
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
            c.heartbeat("g", &again.member_id, None, 2);
            c.tick();
        }
        assert_eq!(
            c.heartbeat("g", &second.member_id, None, 2),
            UNKNOWN_MEMBER_ID
        );
        assert_eq!(
            c.describe("g").unwrap().state,
            GroupState::PreparingRebalance
        );
        let solo = c.join(join_req(&again.member_id)).await;
        assert_eq!(solo.generation, 3);
        assert_eq!(c.leave("g", &[(again.member_id.clone(), None)]), vec![NONE]);
        assert_eq!(c.describe("g").unwrap().state, GroupState::Empty);
    }

    #[test]
    fn commits_are_validated() {
        let c = GroupCoordinator::new(Duration::ZERO);
        assert_eq!(c.validate_commit("none", "", None, -1), NONE);
        assert_eq!(c.validate_commit("none", "m", None, 3), ILLEGAL_GENERATION);
    }

    fn static_req(member: &str, instance: &str) -> JoinRequest {
        JoinRequest {
            group_instance_id: Some(instance.into()),
            session_timeout: Duration::from_secs(30),
            rebalance_timeout: Duration::from_secs(30),
            ..join_req(member)
        }
    }

    /// Two static members, joined and synced: (leader, follower).
    async fn stable_static_pair(c: &Arc<GroupCoordinator>) -> (JoinOutcome, JoinOutcome) {
        let a = c.join(static_req("", "i-a")).await;
        assert_eq!(a.error, NONE);
        assert!(a.member_id.starts_with("i-a-"), "{}", a.member_id);
        let c2 = c.clone();
        let b = tokio::spawn(async move { c2.join(static_req("", "i-b")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let a = c.join(static_req(&a.member_id, "i-a")).await;
        let b = b.await.unwrap();
        assert_eq!((a.generation, b.generation), (2, 2));
        assert_eq!(a.leader, a.member_id);
        let c3 = c.clone();
        let follower = b.member_id.clone();
        let fs = tokio::spawn(async move { c3.sync("g", &follower, Some("i-b"), 2, vec![]).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ls = c
            .sync(
                "g",
                &a.member_id,
                Some("i-a"),
                2,
                vec![
                    (a.member_id.clone(), Bytes::from_static(b"to-a")),
                    (b.member_id.clone(), Bytes::from_static(b"to-b")),
                ],
            )
            .await;
        assert_eq!(&ls.assignment[..], b"to-a");
        assert_eq!(&fs.await.unwrap().assignment[..], b"to-b");
        (a, b)
    }

    #[tokio::test]
    async fn static_member_rejoins_a_stable_group_without_a_rebalance() {
        let c = GroupCoordinator::new(Duration::ZERO);
        let (a, b) = stable_static_pair(&c).await;

        // b restarts: a new member id for instance i-b, same generation, no rebalance.
        let b2 = c.join(static_req("", "i-b")).await;
        assert_eq!(b2.error, NONE);
        assert_ne!(b2.member_id, b.member_id);
        assert_eq!(b2.generation, 2);
        assert_eq!(b2.leader, a.member_id);
        assert!(b2.members.is_empty() && !b2.skip_assignment);
        assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
        assert_eq!(c.heartbeat("g", &a.member_id, Some("i-a"), 2), NONE);
        let s = c.sync("g", &b2.member_id, Some("i-b"), 2, vec![]).await;
        assert_eq!(
            &s.assignment[..],
            b"to-b",
            "the previous assignment comes back"
        );

        // The replaced member id is fenced everywhere.
        assert_eq!(
            c.heartbeat("g", &b.member_id, Some("i-b"), 2),
            FENCED_INSTANCE_ID
        );
        assert_eq!(
            c.validate_commit("g", &b.member_id, Some("i-b"), 2),
            FENCED_INSTANCE_ID
        );
        assert_eq!(
            c.join(static_req(&b.member_id, "i-b")).await.error,
            FENCED_INSTANCE_ID
        );
        assert_eq!(
            c.leave("g", &[(b.member_id.clone(), Some("i-b".into()))]),
            vec![FENCED_INSTANCE_ID]
        );
        assert_eq!(c.validate_commit("g", &b2.member_id, Some("i-b"), 2), NONE);

        // The static leader restarting: v9+ is told it leads but must skip the
        // assignment; older versions are given the old leader id (so they follow).
        let a2 = c.join(static_req("", "i-a")).await;
        assert_eq!(a2.leader, a2.member_id);
        assert!(a2.skip_assignment);
        assert_eq!(a2.members.len(), 2);
        let a3 = c
            .join(JoinRequest {
                supports_skip_assignment: false,
                ..static_req("", "i-a")
            })
            .await;
        assert_eq!(a3.leader, a2.member_id);
        assert!(!a3.skip_assignment && a3.members.is_empty());
        let s = c.sync("g", &a3.member_id, Some("i-a"), 2, vec![]).await;
        assert_eq!(&s.assignment[..], b"to-a");
        assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
    }

    #[tokio::test]
    async fn static_member_removed_by_instance_id() {
        let c = GroupCoordinator::new(Duration::ZERO);
        let (a, _b) = stable_static_pair(&c).await;
        assert_eq!(
            c.leave("g", &[(String::new(), Some("nobody".into()))]),
            vec![UNKNOWN_MEMBER_ID]
        );
        assert_eq!(
            c.leave("g", &[(String::new(), Some("i-b".into()))]),
            vec![NONE]
        );
        assert_eq!(
            c.describe("g").unwrap().state,
            GroupState::PreparingRebalance
        );
        let solo = c.join(static_req(&a.member_id, "i-a")).await;
        assert_eq!(solo.generation, 3);
        assert_eq!(solo.members.len(), 1);
    }

    #[tokio::test]
    async fn absent_static_member_keeps_its_slot_until_its_session_expires() {
        let c = GroupCoordinator::new(Duration::ZERO);
        let short = |member: &str, instance: &str| JoinRequest {
            session_timeout: Duration::from_millis(400),
            rebalance_timeout: Duration::from_millis(150),
            ..static_req(member, instance)
        };
        let a = c.join(short("", "i-a")).await;
        c.sync("g", &a.member_id, Some("i-a"), 1, vec![]).await;
        let c2 = c.clone();
        let b = tokio::spawn(async move {
            c2.join(JoinRequest {
                rebalance_timeout: Duration::from_millis(150),
                ..join_req("")
            })
            .await
        });
        // a never rejoins: at the rebalance deadline it stays (static) and b leads.
        for _ in 0..50 {
            if b.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.tick();
        }
        assert!(b.is_finished(), "the rebalance never completed");
        let b = b.await.unwrap();
        assert_eq!(b.error, NONE);
        assert_eq!(b.leader, b.member_id);
        assert_eq!(
            b.members.len(),
            2,
            "the absent static member is still listed"
        );
        c.sync("g", &b.member_id, None, 2, vec![]).await;
        // Its session then expires (b keeps heartbeating).
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            c.heartbeat("g", &b.member_id, None, 2);
            c.tick();
        }
        let d = c.describe("g").unwrap();
        assert_eq!(d.members.len(), 1);
        assert_eq!(d.state, GroupState::PreparingRebalance);
    }

    #[tokio::test]
    async fn a_silent_member_expires_during_a_rebalance() {
        // Without this the rebalance would wait for the rebalance timeout.
        let c = GroupCoordinator::new(Duration::ZERO);
        let slow = |member: &str| JoinRequest {
            session_timeout: Duration::from_millis(200),
            rebalance_timeout: Duration::from_secs(60),
            ..join_req(member)
        };
        let a = c.join(slow("")).await;
        c.sync("g", &a.member_id, None, 1, vec![]).await;
        let c2 = c.clone();
        let b = tokio::spawn(async move { c2.join(slow("")).await });
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(60)).await;
            c.tick();
        }
        assert!(
            b.is_finished(),
            "the rebalance waited for the silent member"
        );
        let b = b.await.unwrap();
        assert_eq!(b.error, NONE);
        assert_eq!(b.generation, 2);
        assert_eq!(b.members.len(), 1, "the silent member was dropped");
    }

    #[tokio::test]
    async fn unchanged_rejoins_get_the_current_generation() {
        let c = GroupCoordinator::new(Duration::ZERO);
        let leader = c.join(join_req("")).await;
        let c2 = c.clone();
        let f = tokio::spawn(async move { c2.join(join_req("")).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let leader = c.join(join_req(&leader.member_id)).await;
        let follower = f.await.unwrap();
        // CompletingRebalance: a repeated join (lost response) changes nothing.
        let again = c.join(join_req(&follower.member_id)).await;
        assert_eq!((again.error, again.generation), (NONE, 2));
        assert_eq!(
            c.describe("g").unwrap().state,
            GroupState::CompletingRebalance
        );
        c.sync(
            "g",
            &leader.member_id,
            None,
            2,
            vec![(follower.member_id.clone(), Bytes::from_static(b"f"))],
        )
        .await;
        // Stable: so does a follower's; changed metadata starts a rebalance.
        let again = c.join(join_req(&follower.member_id)).await;
        assert_eq!((again.error, again.generation), (NONE, 2));
        assert_eq!(c.describe("g").unwrap().state, GroupState::Stable);
        let c3 = c.clone();
        let fid = follower.member_id.clone();
        let changed = tokio::spawn(async move {
            c3.join(JoinRequest {
                protocols: vec![("range".into(), Bytes::from_static(b"other"))],
                ..join_req(&fid)
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            c.describe("g").unwrap().state,
            GroupState::PreparingRebalance
        );
        c.join(join_req(&leader.member_id)).await;
        assert_eq!(changed.await.unwrap().generation, 3);
    }
}
