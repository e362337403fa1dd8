//! Group membership: how several creek workers sharing one cluster split work
//! (Connect's connectors and tasks, a query's partitions) without a coordinator of
//! their own. It is Kafka's classic group protocol: members join a group on the
//! cluster's group coordinator, one of them (the leader) assigns the work with an
//! [`Assignor`], and every member gets its share. A member that joins, leaves or
//! stops heart-beating starts a new round (a rebalance).
//!
//! Rounds are eager: a member stops the work of its assignment when
//! [`GroupMember::rebalance_started`] resolves and asks for its next one with
//! [`GroupMember::next_assignment`], so two members never run the same work.
//!
//! A log with no other processes on it (creek's embedded log) has groups of one:
//! [`SoloMember`] runs the assignor over itself.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::Notify;

use crate::Result;

/// What a member joins with.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group: String,
    /// Kafka's protocol type: `"connect"` for Connect workers, `"consumer"` for
    /// consumers.
    pub protocol_type: String,
    /// Names this process in the member id the coordinator gives it (Kafka's
    /// `client.id`).
    pub client_id: String,
    /// The coordinator drops a member that sends no heartbeat for this long.
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin in a rebalance.
    pub rebalance_timeout: Duration,
    /// How often a member heart-beats.
    pub heartbeat_interval: Duration,
}

impl JoinRequest {
    /// Connect's defaults (`session.timeout.ms` 10 s, `heartbeat.interval.ms` 3 s,
    /// `rebalance.timeout.ms` 60 s).
    pub fn new(group: &str, protocol_type: &str, client_id: &str) -> Self {
        JoinRequest {
            group: group.to_string(),
            protocol_type: protocol_type.to_string(),
            client_id: client_id.to_string(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(3),
        }
    }
}

/// One member as the leader sees it when assigning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    /// Its metadata for the protocol the coordinator chose.
    pub metadata: Bytes,
}

/// The leader's assignment of work: one opaque assignment per member, in the
/// protocol's format.
pub trait Assignor: Send + Sync {
    /// `leader` is this member's id; `members` are sorted by id.
    fn assign(&self, protocol: &str, leader: &str, members: &[Member]) -> Vec<(String, Bytes)>;
}

/// This member's share of one round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub generation: i32,
    pub member_id: String,
    pub leader_id: String,
    /// The protocol the coordinator chose.
    pub protocol: String,
    pub data: Bytes,
}

#[async_trait]
pub trait GroupMember: Send + Sync {
    /// Joins (or rejoins) with `protocols` (this member's current metadata) and
    /// waits for the round's assignment. Calling it again means the previous
    /// assignment's work has stopped.
    async fn next_assignment(&self, protocols: Vec<(String, Bytes)>) -> Result<Assignment>;

    /// Resolves when the current assignment no longer holds: another member
    /// joined or left, the coordinator moved, or [`GroupMember::request_rejoin`]
    /// was called. The member keeps heart-beating until `next_assignment`.
    async fn rebalance_started(&self);

    /// Starts a new round (this member's metadata changed, or the work did).
    fn request_rejoin(&self);

    /// Leaves the group, so the others rebalance at once instead of after the
    /// session timeout.
    async fn leave(&self);

    /// Commits `offsets` (topic, partition, next offset to read) for the group
    /// as this member of `generation`. The coordinator refuses a member whose
    /// round is over ([`crate::LogError::GroupFenced`]), so a member that lost
    /// partitions cannot move their offsets after their new owner did (Kafka's
    /// fencing of zombies). A member that does not share work commits through
    /// the log instead ([`crate::LogStore::commit_offsets`]).
    async fn commit_offsets(&self, generation: i32, offsets: &[(String, i32, i64)]) -> Result<()> {
        let _ = (generation, offsets);
        Err(crate::LogError::Io(std::io::Error::other(
            "this group member commits through the log (LogStore::commit_offsets)",
        )))
    }

    /// Whether another member may take over this member's work in a round. A
    /// member alone by construction ([`SoloMember`]) need not stop anything
    /// before the next round, nor wait for one to own new work.
    fn shares_work(&self) -> bool {
        true
    }
}

/// The member of a group of one, for logs no other process shares.
pub struct SoloMember {
    id: String,
    assignor: Arc<dyn Assignor>,
    generation: std::sync::atomic::AtomicI32,
    rejoin: Notify,
}

impl SoloMember {
    pub fn new(id: &str, assignor: Arc<dyn Assignor>) -> Self {
        SoloMember {
            id: id.to_string(),
            assignor,
            generation: std::sync::atomic::AtomicI32::new(0),
            rejoin: Notify::new(),
        }
    }
}

#[async_trait]
impl GroupMember for SoloMember {
    async fn next_assignment(&self, protocols: Vec<(String, Bytes)>) -> Result<Assignment> {
        let (protocol, metadata) = protocols.into_iter().next().unwrap_or_default();
        let members = [Member {
            id: self.id.clone(),
            metadata,
        }];
        let data = self
            .assignor
            .assign(&protocol, &self.id, &members)
            .into_iter()
            .find(|(id, _)| *id == self.id)
            .map(|(_, data)| data)
            .unwrap_or_default();
        let generation = self
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        Ok(Assignment {
            generation,
            member_id: self.id.clone(),
            leader_id: self.id.clone(),
            protocol,
            data,
        })
    }

    async fn rebalance_started(&self) {
        self.rejoin.notified().await;
    }

    fn request_rejoin(&self) {
        // A permit is stored when nobody waits yet, so a request is never lost.
        self.rejoin.notify_one();
    }

    async fn leave(&self) {}

    fn shares_work(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;
    impl Assignor for Echo {
        fn assign(&self, protocol: &str, _: &str, members: &[Member]) -> Vec<(String, Bytes)> {
            members
                .iter()
                .map(|m| (m.id.clone(), Bytes::from(format!("{protocol}:{}", m.id))))
                .collect()
        }
    }

    #[tokio::test]
    async fn a_solo_member_assigns_itself_and_rejoins_on_request() {
        let member = SoloMember::new("w1", Arc::new(Echo));
        let first = member
            .next_assignment(vec![("default".into(), Bytes::new())])
            .await
            .unwrap();
        assert_eq!(first.generation, 1);
        assert_eq!(first.data, Bytes::from("default:w1"));
        member.request_rejoin();
        tokio::time::timeout(Duration::from_secs(1), member.rebalance_started())
            .await
            .expect("a requested rejoin starts a round");
        let second = member
            .next_assignment(vec![("default".into(), Bytes::new())])
            .await
            .unwrap();
        assert_eq!(second.generation, 2);
        // Nothing else starts a round.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), member.rebalance_started())
                .await
                .is_err()
        );
    }
}
