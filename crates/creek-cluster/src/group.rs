//! Group membership on the cluster's group coordinator, spoken over Kafka's wire
//! protocol (librdkafka offers consumer groups only, with its own assignors; creek
//! needs Connect's `"connect"` protocol and assignors of its own).
//!
//! One connection to the coordinator per member, one request at a time:
//! FindCoordinator, JoinGroup (retried with the member id the coordinator hands
//! out), SyncGroup (the leader sends every member's share), then Heartbeat every
//! `heartbeat_interval` on a background task until the coordinator answers that a
//! round started, the member is unknown, or the connection fails. OffsetCommit as
//! the member of its generation (fenced when the round is over). LeaveGroup on
//! `leave`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use creek_store::group::{Assignment, Assignor, GroupMember, JoinRequest, Member};
use creek_store::{LogError, Result};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{GroupId, RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Mutex};

use crate::retry::Backoff;

// The versions spoken: supported by every Kafka since 2.4 and by 4.x, which
// dropped the oldest ones (KIP-896).
const FIND_COORDINATOR_VERSION: i16 = 3;
const JOIN_GROUP_VERSION: i16 = 7;
const SYNC_GROUP_VERSION: i16 = 5;
const HEARTBEAT_VERSION: i16 = 4;
const LEAVE_GROUP_VERSION: i16 = 4;
const OFFSET_COMMIT_VERSION: i16 = 8;

// Kafka error codes a member acts on.
const NONE: i16 = 0;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

/// One request/response connection to a broker.
struct Connection {
    stream: TcpStream,
    correlation_id: i32,
    client_id: StrBytes,
}

impl Connection {
    async fn open(address: &str, client_id: &str, timeout: Duration) -> std::io::Result<Self> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            correlation_id: 0,
            client_id: StrBytes::from_string(client_id.to_string()),
        })
    }

    /// Sends `request` and reads its response, within `timeout`.
    async fn call<R: Request>(
        &mut self,
        version: i16,
        request: &R,
        timeout: Duration,
    ) -> std::io::Result<R::Response> {
        let invalid = |e: anyhow::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        self.correlation_id += 1;
        let mut header = RequestHeader::default();
        header.request_api_key = R::KEY;
        header.request_api_version = version;
        header.correlation_id = self.correlation_id;
        header.client_id = Some(self.client_id.clone());
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, R::header_version(version))
            .map_err(invalid)?;
        request.encode(&mut frame, version).map_err(invalid)?;
        let length = (frame.len() - 4) as i32;
        frame[0..4].copy_from_slice(&length.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&frame).await?;
            let size = self.stream.read_i32().await?;
            if !(0..=64 << 20).contains(&size) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("response frame of {size} bytes"),
                ));
            }
            let mut body = vec![0u8; size as usize];
            self.stream.read_exact(&mut body).await?;
            Ok(Bytes::from(body))
        };
        let mut body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
        let response_header =
            ResponseHeader::decode(&mut body, R::Response::header_version(version))
                .map_err(invalid)?;
        if response_header.correlation_id != self.correlation_id {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "response to another request",
            ));
        }
        R::Response::decode(&mut body, version).map_err(invalid)
    }
}

/// Where the member stands between calls.
struct State {
    /// The coordinator's connection, made on first use and after a failure.
    coordinator: Option<Connection>,
    member_id: String,
    generation: i32,
}

impl State {
    /// Prepares the next attempt after the coordinator refused a JoinGroup or
    /// SyncGroup with `code`; an error for codes a new attempt cannot fix.
    fn after_refusal(&mut self, code: i16, group: &str, what: &str) -> Result<()> {
        match code {
            UNKNOWN_MEMBER_ID => self.member_id.clear(),
            COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR => self.coordinator = None,
            MEMBER_ID_REQUIRED
            | COORDINATOR_LOAD_IN_PROGRESS
            | REBALANCE_IN_PROGRESS
            | ILLEGAL_GENERATION => {}
            code => {
                return Err(group_error(
                    group,
                    what,
                    format!("the coordinator answered error {code}"),
                ))
            }
        }
        Ok(())
    }
}

/// What the heartbeat task tells the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// The assignment of this generation holds.
    Stable(i32),
    /// A new round is needed.
    Rebalance,
}

/// A member of a group on the cluster's coordinator.
pub(crate) struct WireGroupMember(Arc<Shared>);

/// The member's settings and state, shared with its heartbeat task.
struct Shared {
    bootstrap: Vec<String>,
    request: JoinRequest,
    assignor: Arc<dyn Assignor>,
    call_timeout: Duration,
    state: Arc<Mutex<State>>,
    round: watch::Sender<Round>,
}

fn group_error(group: &str, what: &str, detail: impl std::fmt::Display) -> LogError {
    LogError::Io(std::io::Error::other(format!(
        "group {group}: {what}: {detail}"
    )))
}

impl WireGroupMember {
    pub(crate) fn new(
        bootstrap: &str,
        request: JoinRequest,
        assignor: Arc<dyn Assignor>,
        call_timeout: Duration,
    ) -> Self {
        let (round, _) = watch::channel(Round::Rebalance);
        WireGroupMember(Arc::new(Shared {
            bootstrap: bootstrap
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            request,
            assignor,
            call_timeout,
            state: Arc::new(Mutex::new(State {
                coordinator: None,
                member_id: String::new(),
                generation: -1,
            })),
            round,
        }))
    }
}

impl Shared {
    /// Finds the group's coordinator through any bootstrap broker and connects.
    async fn connect_coordinator(&self) -> Result<Connection> {
        let group = &self.request.group;
        let mut last = String::from("no bootstrap server");
        for address in &self.bootstrap {
            let mut broker =
                match Connection::open(address, &self.request.client_id, self.call_timeout).await {
                    Ok(c) => c,
                    Err(e) => {
                        last = format!("{address}: {e}");
                        continue;
                    }
                };
            let mut find = FindCoordinatorRequest::default();
            find.key = StrBytes::from_string(group.clone());
            find.key_type = 0;
            let found = match broker
                .call(FIND_COORDINATOR_VERSION, &find, self.call_timeout)
                .await
            {
                Ok(f) => f,
                Err(e) => {
                    last = format!("{address}: {e}");
                    continue;
                }
            };
            if found.error_code != NONE {
                last = format!(
                    "{address} answered error {} ({})",
                    found.error_code,
                    found.error_message.as_deref().unwrap_or("")
                );
                continue;
            }
            let coordinator = format!("{}:{}", found.host.as_str(), found.port);
            return Connection::open(&coordinator, &self.request.client_id, self.call_timeout)
                .await
                .map_err(|e| {
                    group_error(
                        group,
                        "connecting to its coordinator",
                        format!("{coordinator}: {e}"),
                    )
                });
        }
        Err(group_error(
            group,
            "finding its coordinator (check bootstrap.servers)",
            last,
        ))
    }

    /// Joins and syncs once. `Ok(None)`: the coordinator asked to try again.
    async fn join_once(
        &self,
        state: &mut State,
        protocols: &[(String, Bytes)],
    ) -> Result<Option<Assignment>> {
        let group = self.request.group.clone();
        if state.coordinator.is_none() {
            state.coordinator = Some(self.connect_coordinator().await?);
        }
        let mut join = JoinGroupRequest::default();
        join.group_id = GroupId(StrBytes::from_string(group.clone()));
        join.session_timeout_ms = self.request.session_timeout.as_millis() as i32;
        join.rebalance_timeout_ms = self.request.rebalance_timeout.as_millis() as i32;
        join.member_id = StrBytes::from_string(state.member_id.clone());
        join.protocol_type = StrBytes::from_string(self.request.protocol_type.clone());
        join.protocols = protocols
            .iter()
            .map(|(name, metadata)| {
                let mut p = JoinGroupRequestProtocol::default();
                p.name = StrBytes::from_string(name.clone());
                p.metadata = metadata.clone();
                p
            })
            .collect();
        // The coordinator holds the JoinGroup until every member rejoined.
        let join_timeout = self.request.rebalance_timeout + self.call_timeout;
        let conn = state.coordinator.as_mut().expect("connected above");
        let joined = match conn.call(JOIN_GROUP_VERSION, &join, join_timeout).await {
            Ok(r) => r,
            Err(e) => {
                state.coordinator = None;
                tracing::warn!(%group, error = %e, "joining the group failed; retrying");
                return Ok(None);
            }
        };
        if joined.error_code != NONE {
            if joined.error_code == MEMBER_ID_REQUIRED {
                state.member_id = joined.member_id.to_string();
            }
            state.after_refusal(joined.error_code, &group, "joining")?;
            return Ok(None);
        }
        state.member_id = joined.member_id.to_string();
        state.generation = joined.generation_id;
        let protocol = joined
            .protocol_name
            .as_ref()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let leader = joined.leader.to_string();
        let mut sync = SyncGroupRequest::default();
        sync.group_id = GroupId(StrBytes::from_string(group.clone()));
        sync.generation_id = joined.generation_id;
        sync.member_id = joined.member_id.clone();
        sync.protocol_type = Some(StrBytes::from_string(self.request.protocol_type.clone()));
        sync.protocol_name = joined.protocol_name.clone();
        if leader == state.member_id {
            let mut members: Vec<Member> = joined
                .members
                .iter()
                .map(|m| Member {
                    id: m.member_id.to_string(),
                    metadata: m.metadata.clone(),
                })
                .collect();
            members.sort_by(|a, b| a.id.cmp(&b.id));
            sync.assignments = self
                .assignor
                .assign(&protocol, &leader, &members)
                .into_iter()
                .map(|(id, data)| {
                    let mut a = SyncGroupRequestAssignment::default();
                    a.member_id = StrBytes::from_string(id);
                    a.assignment = data;
                    a
                })
                .collect();
        }
        let conn = state.coordinator.as_mut().expect("connected above");
        let synced = match conn.call(SYNC_GROUP_VERSION, &sync, join_timeout).await {
            Ok(r) => r,
            Err(e) => {
                state.coordinator = None;
                tracing::warn!(%group, error = %e, "syncing with the group failed; rejoining");
                return Ok(None);
            }
        };
        if synced.error_code != NONE {
            state.after_refusal(synced.error_code, &group, "syncing")?;
            return Ok(None);
        }
        Ok(Some(Assignment {
            generation: joined.generation_id,
            member_id: state.member_id.clone(),
            leader_id: leader,
            protocol,
            data: synced.assignment,
        }))
    }

    /// Heart-beats for `generation` until the coordinator says a round started
    /// (or the member or connection is lost), then marks the round over. Keeps
    /// heart-beating after that, so the session stays alive while the member
    /// stops its work, until the next join takes the connection.
    async fn heartbeat(self: Arc<Self>, generation: i32) {
        let group = self.request.group.clone();
        loop {
            tokio::time::sleep(self.request.heartbeat_interval).await;
            let mut guard = self.state.lock().await;
            let state = &mut *guard;
            if state.generation != generation {
                return; // a newer round has its own heartbeat
            }
            let mut beat = HeartbeatRequest::default();
            beat.group_id = GroupId(StrBytes::from_string(group.clone()));
            beat.generation_id = generation;
            beat.member_id = StrBytes::from_string(state.member_id.clone());
            let Some(conn) = state.coordinator.as_mut() else {
                self.round.send_replace(Round::Rebalance);
                return;
            };
            match conn.call(HEARTBEAT_VERSION, &beat, self.call_timeout).await {
                Ok(r) if r.error_code == NONE => {}
                Ok(r) if r.error_code == REBALANCE_IN_PROGRESS => {
                    self.round.send_replace(Round::Rebalance);
                }
                Ok(r) => {
                    if r.error_code == UNKNOWN_MEMBER_ID {
                        state.member_id.clear();
                    }
                    if matches!(r.error_code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE) {
                        state.coordinator = None;
                    }
                    tracing::info!(%group, error_code = r.error_code, "heartbeat refused; rejoining");
                    self.round.send_replace(Round::Rebalance);
                    return;
                }
                Err(e) => {
                    tracing::warn!(%group, error = %e, "heartbeat failed; rejoining");
                    state.coordinator = None;
                    self.round.send_replace(Round::Rebalance);
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl GroupMember for WireGroupMember {
    async fn next_assignment(&self, protocols: Vec<(String, Bytes)>) -> Result<Assignment> {
        let this = &self.0;
        let mut backoff = Backoff::new(
            this.request.rebalance_timeout.max(this.call_timeout),
            Duration::from_millis(50),
            Duration::from_secs(2),
        );
        loop {
            let joined = {
                let mut state = this.state.lock().await;
                // The previous generation's heartbeat stops with this.
                state.generation = -1;
                this.join_once(&mut state, &protocols).await
            };
            match joined {
                Ok(Some(assignment)) => {
                    this.round
                        .send_replace(Round::Stable(assignment.generation));
                    tokio::spawn(this.clone().heartbeat(assignment.generation));
                    return Ok(assignment);
                }
                Ok(None) => {
                    if !backoff.wait().await {
                        return Err(group_error(
                            &this.request.group,
                            "joining",
                            "no stable round within the rebalance timeout",
                        ));
                    }
                }
                Err(e) => {
                    // A coordinator that cannot be found may come back: retry
                    // until the rebalance timeout, then fail with its reason.
                    if !backoff.wait().await {
                        return Err(e);
                    }
                }
            }
        }
    }

    async fn commit_offsets(&self, generation: i32, offsets: &[(String, i32, i64)]) -> Result<()> {
        let this = &self.0;
        let group = &this.request.group;
        let fenced = |reason: String| LogError::GroupFenced {
            group: group.clone(),
            reason,
        };
        let mut guard = this.state.lock().await;
        let state = &mut *guard;
        if state.generation != generation {
            return Err(fenced(format!(
                "generation {generation} is over (now {})",
                state.generation
            )));
        }
        let mut by_topic: std::collections::BTreeMap<&str, Vec<OffsetCommitRequestPartition>> =
            Default::default();
        for (topic, partition, offset) in offsets {
            let mut p = OffsetCommitRequestPartition::default();
            p.partition_index = *partition;
            p.committed_offset = *offset;
            p.committed_leader_epoch = -1;
            by_topic.entry(topic).or_default().push(p);
        }
        let mut commit = OffsetCommitRequest::default();
        commit.group_id = GroupId(StrBytes::from_string(group.clone()));
        commit.generation_id_or_member_epoch = generation;
        commit.member_id = StrBytes::from_string(state.member_id.clone());
        commit.retention_time_ms = -1;
        commit.topics = by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                let mut t = OffsetCommitRequestTopic::default();
                t.name = TopicName(StrBytes::from_string(topic.to_string()));
                t.partitions = partitions;
                t
            })
            .collect();
        if state.coordinator.is_none() {
            state.coordinator = Some(this.connect_coordinator().await?);
        }
        let Some(conn) = state.coordinator.as_mut() else {
            return Err(group_error(group, "committing offsets", "no coordinator"));
        };
        let answer = match conn
            .call(OFFSET_COMMIT_VERSION, &commit, this.call_timeout)
            .await
        {
            Ok(a) => a,
            Err(e) => {
                state.coordinator = None;
                return Err(group_error(group, "committing offsets", e));
            }
        };
        for topic in &answer.topics {
            for p in &topic.partitions {
                match p.error_code {
                    NONE => {}
                    ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID | REBALANCE_IN_PROGRESS => {
                        this.round.send_replace(Round::Rebalance);
                        return Err(fenced(format!(
                            "the coordinator refused the commit of generation {generation} \
                             (error {})",
                            p.error_code
                        )));
                    }
                    code => {
                        if matches!(code, NOT_COORDINATOR | COORDINATOR_NOT_AVAILABLE) {
                            state.coordinator = None;
                        }
                        return Err(group_error(
                            group,
                            "committing offsets",
                            format!(
                                "{}-{}: error {code}",
                                topic.name.as_str(),
                                p.partition_index
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    async fn rebalance_started(&self) {
        let mut round = self.0.round.subscribe();
        let _ = round.wait_for(|r| *r == Round::Rebalance).await;
    }

    fn request_rejoin(&self) {
        self.0.round.send_replace(Round::Rebalance);
    }

    async fn leave(&self) {
        let this = &self.0;
        let mut guard = this.state.lock().await;
        let state = &mut *guard;
        state.generation = -1;
        if state.member_id.is_empty() {
            return;
        }
        let mut member = MemberIdentity::default();
        member.member_id = StrBytes::from_string(std::mem::take(&mut state.member_id));
        let Some(conn) = state.coordinator.as_mut() else {
            return;
        };
        let mut leave = LeaveGroupRequest::default();
        leave.group_id = GroupId(StrBytes::from_string(this.request.group.clone()));
        leave.members = vec![member];
        if let Err(e) = conn
            .call(LEAVE_GROUP_VERSION, &leave, this.call_timeout)
            .await
        {
            tracing::warn!(group = %this.request.group, error = %e, "leaving the group failed; the coordinator drops this member after its session timeout");
        }
        this.round.send_replace(Round::Rebalance);
    }
}
