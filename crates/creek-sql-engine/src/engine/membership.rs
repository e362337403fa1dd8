//! Workers of one service id share each persistent query's partitions, as
//! ksqlDB's servers do through Kafka Streams: every worker runs every query, and
//! the workers running a query are the members of its consumer group
//! (`_confluent-ksql-<service id>query_<ID>`, Kafka's `"consumer"` protocol, so
//! Kafka's own tools show who reads what). The group's leader cuts the query's
//! work with a [`QueryAssignor`]; each member takes over its share
//! ([`Engine::take_over`]: committed offsets, and for an aggregation its state
//! from the changelog), runs it, and gives it back when a round starts
//! ([`Engine::give_back`]), before the next share is handed out (eager rounds).
//! Commits carry the round's generation, so a worker whose round is over cannot
//! move offsets its partitions' new owner moved.
//!
//! What a share is depends on the query. A projection (at least once) is cut
//! by source partition. An aggregation's state is one changelog partition for all
//! its input, and an exactly-once query has one transactional id: each runs
//! whole on one worker at a time (the new owner's transactional producer fences
//! the old one), moving with its state on failure.
//!
//! On a log no other process shares (the embedded log) the group has one
//! member, which owns everything from the start.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use creek_store::group::{Assignor, GroupMember, Member};
use creek_store::OffsetSpec;
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::sync::Notify;

use crate::EngineError;

use super::{Engine, PersistentQuery, QueryLogic};

/// The assignor's name in the group (the consumer protocol's protocol name).
pub(super) const PROTOCOL: &str = "creek";

/// A query's place in its group.
pub(super) struct QueryMembership {
    pub(super) member: Arc<dyn GroupMember>,
    /// The generation of the round whose share the query runs; -1 between rounds.
    pub(super) generation: AtomicI32,
    /// Wakes the query's loop when its share changed.
    pub(super) changed: Notify,
    /// Held by a step, and by a round changing the query's share.
    pub(super) step: tokio::sync::Mutex<()>,
    /// The stage-two positions of the tasks kept in memory from the last
    /// round (see [`Engine::give_back`]).
    kept: parking_lot::Mutex<BTreeMap<i32, i64>>,
    /// Whether the kept state matches those positions: a step that failed
    /// part-way (its commit fenced, a transaction aborted) may have folded
    /// input it never committed, so its state is restored instead.
    pub(super) trusted: std::sync::atomic::AtomicBool,
    /// The subscription this member joins with.
    subscription: Bytes,
}

/// How the leader cuts one query's work among the members.
pub(super) struct QueryAssignor {
    query_id: String,
    work: parking_lot::Mutex<Work>,
    /// What this worker runs under the query's id (its statement and the
    /// settings that change its results); members that run something else
    /// get no share (see [`QueryAssignor::assign`]).
    fingerprint: parking_lot::Mutex<String>,
}

/// The topics a query reads, with their partition counts, and whether the
/// query runs whole on one member (see the module's comment).
#[derive(Default, Clone)]
struct Work {
    topics: Vec<(String, i32)>,
    whole: bool,
}

/// Each member's share: partitions by topic.
type Share = Vec<(String, Vec<i32>)>;

impl QueryAssignor {
    pub(super) fn new(query_id: &str) -> Self {
        QueryAssignor {
            query_id: query_id.to_string(),
            work: Default::default(),
            fingerprint: Default::default(),
        }
    }

    /// What this worker runs under the query's id (see the field).
    pub(super) fn set_fingerprint(&self, fingerprint: String) {
        *self.fingerprint.lock() = fingerprint;
    }

    /// What the query reads: its source and, for a re-keying aggregation, its
    /// repartition topic (stage one's and stage two's partitions are handed
    /// out separately; a task is a stage-two partition).
    pub(super) fn set_work(&self, topics: Vec<(String, i32)>, whole: bool) {
        *self.work.lock() = Work { topics, whole };
    }

    /// Each member's share, members sorted by id.
    fn shares(&self, members: usize) -> Vec<Share> {
        let work = self.work.lock().clone();
        let mut shares: Vec<Share> = vec![
            work.topics
                .iter()
                .map(|(t, _)| (t.clone(), Vec::new()))
                .collect();
            members
        ];
        if members == 0 {
            return shares;
        }
        // A whole query goes to one member, spread over the workers by id (a
        // stable choice, so every leader picks the same owner).
        let owner = fnv1a(self.query_id.as_bytes()) as usize % members;
        for (i, (_, count)) in work.topics.iter().enumerate() {
            for p in 0..*count {
                let member = if work.whole {
                    owner
                } else {
                    p as usize % members
                };
                shares[member][i].1.push(p);
            }
        }
        shares
    }
}

impl Assignor for QueryAssignor {
    /// Members whose subscription carries another fingerprint than the
    /// leader's (a worker started with other settings, or whose command topic
    /// replay made the query id mean another statement) get an empty share
    /// with the reason, so two versions of one query never write one sink.
    fn assign(&self, _protocol: &str, _leader: &str, members: &[Member]) -> Vec<(String, Bytes)> {
        let ours = self.fingerprint.lock().clone();
        let (agreeing, differing): (Vec<&Member>, Vec<&Member>) = members
            .iter()
            .partition(|m| fingerprint_of(&m.metadata).as_deref() == Some(ours.as_str()));
        let shares = self.shares(agreeing.len());
        let refused = differing.into_iter().map(|m| {
            let mut assignment = ConsumerProtocolAssignment::default();
            assignment.user_data = Some(Bytes::from(format!(
                "this worker runs query {} differently from the group's leader \
                 (leader: {ours}; this worker: {}); it takes no share until the \
                 workers of the service id agree (same statements, same \
                 processing.guarantee)",
                self.query_id,
                fingerprint_of(&m.metadata).unwrap_or_default()
            )));
            (m.id.clone(), versioned(&assignment, 0))
        });
        agreeing
            .into_iter()
            .zip(shares)
            .map(|(m, share)| {
                let mut assignment = ConsumerProtocolAssignment::default();
                assignment.assigned_partitions = share
                    .into_iter()
                    .map(|(topic, partitions)| {
                        let mut tp = TopicPartition::default();
                        tp.topic = TopicName(StrBytes::from_string(topic));
                        tp.partitions = partitions;
                        tp
                    })
                    .collect();
                (m.id.clone(), versioned(&assignment, 0))
            })
            .chain(refused)
            .collect()
    }
}

/// The fingerprint in a member's subscription (its user data).
fn fingerprint_of(metadata: &Bytes) -> Option<String> {
    let subscription: ConsumerProtocolSubscription = unversioned(metadata).ok()?;
    String::from_utf8(subscription.user_data?.to_vec()).ok()
}

/// A consumer-protocol message after its leading version (see [`versioned`]).
fn unversioned<M: Decodable>(data: &Bytes) -> Result<M, String> {
    let mut buf = data.clone();
    if buf.len() < 2 {
        return Err("a consumer-protocol message shorter than its version".into());
    }
    let version = bytes::Buf::get_i16(&mut buf);
    M::decode(&mut buf, version.clamp(0, 3)).map_err(|e| e.to_string())
}

/// FNV-1a: a hash every worker computes alike (std's is seeded per process).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// A consumer-protocol message with its leading version, as consumers write it.
fn versioned(message: &impl Encodable, version: i16) -> Bytes {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&version.to_be_bytes());
    // Encoding a default-built message into a buffer cannot fail.
    if let Err(e) = message.encode(&mut buf, version) {
        tracing::error!("encoding a consumer-protocol message: {e}");
    }
    buf.freeze()
}

/// The partitions by topic in a consumer-protocol assignment; an error with
/// the leader's reason when it gave this member no share on purpose.
fn assigned_partitions(data: &Bytes) -> Result<Share, String> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment = unversioned(data)?;
    if let Some(reason) = &assignment.user_data {
        return Err(String::from_utf8_lossy(reason).into_owned());
    }
    Ok(assignment
        .assigned_partitions
        .into_iter()
        .map(|t| (t.topic.as_str().to_string(), t.partitions))
        .collect())
}

/// The partitions of `topic` in a share.
fn partitions_of<'a>(share: &'a [(String, Vec<i32>)], topic: &str) -> &'a [i32] {
    share
        .iter()
        .find(|(t, _)| t == topic)
        .map_or(&[], |(_, p)| p.as_slice())
}

impl QueryMembership {
    pub(super) fn new<'a>(
        member: Arc<dyn GroupMember>,
        topics: impl Iterator<Item = &'a str>,
        fingerprint: &str,
    ) -> Self {
        let mut subscription = ConsumerProtocolSubscription::default();
        subscription.topics = topics
            .map(|t| StrBytes::from_string(t.to_string()))
            .collect();
        subscription.user_data = Some(Bytes::from(fingerprint.to_string()));
        QueryMembership {
            member,
            generation: AtomicI32::new(-1),
            changed: Notify::new(),
            step: tokio::sync::Mutex::new(()),
            kept: Default::default(),
            trusted: std::sync::atomic::AtomicBool::new(false),
            subscription: versioned(&subscription, 0),
        }
    }
}

impl Engine {
    /// Takes part in the rounds of a query's group until the query stops:
    /// takes over each round's share, runs it (the query's own loop), gives it
    /// back when the next round starts; leaves the group at the end.
    pub(super) async fn take_part_in_rounds(
        self: Arc<Self>,
        query: Arc<PersistentQuery>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let Some(m) = &query.membership else { return };
        loop {
            let protocols = vec![(PROTOCOL.to_string(), m.subscription.clone())];
            let assignment = tokio::select! {
                a = m.member.next_assignment(protocols) => a,
                _ = stop.wait_for(|s| *s) => break,
            };
            let assignment = match assignment {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(query = %query.id, "joining the query's group: {e}; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
            };
            match assigned_partitions(&assignment.data) {
                Ok(share) => {
                    let _step = m.step.lock().await;
                    tracing::info!(query = %query.id, generation = assignment.generation,
                        ?share, "query partitions assigned");
                    if let Err(e) = self.take_over(&query, &share).await {
                        tracing::error!(query = %query.id, "taking over its partitions: {e}");
                        query.fail(e.to_string());
                    }
                    m.generation.store(assignment.generation, Ordering::SeqCst);
                }
                Err(e) => {
                    tracing::error!(query = %query.id, "no share of the query: {e}");
                }
            }
            m.changed.notify_one();
            tokio::select! {
                _ = m.member.rebalance_started() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            let _step = m.step.lock().await;
            m.generation.store(-1, Ordering::SeqCst);
            self.give_back(&query).await;
        }
        m.member.leave().await;
    }

    /// Stops every query (the process is shutting down); a shared one leaves
    /// its group, so the other workers take its share over without waiting
    /// out the session timeout.
    pub async fn stop_queries(&self) {
        for query in self.queries() {
            let _ = query.stop.send(true);
            if let Some(m) = &query.membership {
                m.member.leave().await;
            }
        }
    }

    /// Starts reading a share of the query (partitions by topic): under
    /// exactly-once a new transactional producer first (it aborts what a
    /// previous owner left open and fences it), then the source's committed
    /// offsets (or auto.offset.reset); an aggregation's tasks and their
    /// positions come back from their changelog partitions.
    pub(super) async fn take_over(
        &self,
        query: &PersistentQuery,
        share: &[(String, Vec<i32>)],
    ) -> Result<(), EngineError> {
        *query.share.lock() = super::ShareStatus {
            partitions: share.to_vec(),
            ..Default::default()
        };
        if share.iter().all(|(_, p)| p.is_empty()) {
            // Nothing of the query here this round: no state either.
            if let QueryLogic::Aggregate(tasks) = &query.logic {
                tasks.retain(|_| false);
            }
            if let Some(m) = &query.membership {
                m.kept.lock().clear();
            }
            return Ok(());
        }
        if query.exactly_once {
            let producer = self
                .log
                .transactional_producer(&self.query_group(&query.id))
                .await
                .map_err(|e| {
                    EngineError::Statement(format!(
                        "processing.guarantee=exactly_once_v2 needs Kafka transactions: {e}; \
                         set processing.guarantee=at_least_once to run without them"
                    ))
                })?;
            *query.transactions.lock() = Some(Arc::new(super::QueryTransactions {
                producer,
                open: std::sync::atomic::AtomicBool::new(false),
            }));
        }
        let topic = &query.decoder.source.topic;
        let committed = self
            .log
            .committed_offsets(&self.query_group(&query.id))
            .await
            .unwrap_or_default();
        let mut positions = BTreeMap::new();
        for &p in partitions_of(share, topic) {
            let position = match committed.get(&(topic.clone(), p)) {
                Some(o) => *o,
                None => {
                    let spec = if query.offset_reset_earliest {
                        OffsetSpec::Earliest
                    } else {
                        OffsetSpec::Latest
                    };
                    self.log
                        .list_offset(topic, p, spec)
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or(0)
                }
            };
            positions.insert(p, position);
        }
        if let QueryLogic::Aggregate(tasks) = &query.logic {
            // Stage two reads the repartition topic (from its start: what
            // the changelog accounts for is skipped), or else the source.
            let stage_two: Vec<i32> = match &query.repartition {
                Some(r) => partitions_of(share, &r.topic).to_vec(),
                None => positions.keys().copied().collect(),
            };
            let owned: std::collections::BTreeSet<i32> =
                stage_two.iter().map(|p| tasks.task_of(*p)).collect();
            // Tasks this worker held in the last round are still exact (no
            // other worker ran them since: rounds are eager), unless a step
            // failed part-way; the others come back from the changelog.
            let kept = match &query.membership {
                Some(m) if m.trusted.load(Ordering::SeqCst) => std::mem::take(&mut *m.kept.lock()),
                Some(m) => {
                    m.kept.lock().clear();
                    BTreeMap::new()
                }
                None => BTreeMap::new(),
            };
            let held: std::collections::BTreeSet<i32> = kept
                .keys()
                .map(|p| tasks.task_of(*p))
                .filter(|t| owned.contains(t))
                .collect();
            tasks.retain(|t| held.contains(&t));
            let mut restored: BTreeMap<i32, i64> = kept
                .into_iter()
                .filter(|(p, _)| held.contains(&tasks.task_of(*p)))
                .collect();
            for &task in owned.difference(&held) {
                // The changelog holds the state and the input positions it
                // accounts for; they win over the group's committed offsets.
                if let Some(p) = self.restore_task(query, tasks, task).await? {
                    restored.extend(p);
                }
            }
            if !held.is_empty() {
                tracing::info!(query = %query.id, tasks = ?held, "kept the state of tasks held in the last round");
            }
            restored.retain(|p, _| stage_two.contains(p));
            let over_table = query.decoder.source.kind == creek_sql::ast::SourceKind::Table;
            match &query.repartition {
                Some(r) => {
                    let mut stage_two: BTreeMap<i32, i64> =
                        stage_two.iter().map(|p| (*p, 0)).collect();
                    stage_two.extend(restored);
                    *r.positions.lock() = stage_two;
                    // A table's row memory belongs to stage one: what it read.
                    if over_table {
                        self.restore_table_rows(&query.decoder, &tasks.stage_one(), &positions)
                            .await?;
                    }
                }
                None => {
                    let any_restored = !restored.is_empty();
                    positions.extend(restored);
                    if over_table && any_restored {
                        self.restore_table_rows(&query.decoder, &tasks.stage_one(), &positions)
                            .await?;
                    }
                }
            }
        }
        *query.positions.lock() = positions;
        if let Some(m) = &query.membership {
            m.trusted.store(true, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Stops reading the query's partitions at a round's start: another
    /// member may own them next. An open transaction is aborted.
    pub(super) async fn give_back(&self, query: &PersistentQuery) {
        let source = std::mem::take(&mut *query.positions.lock());
        // An aggregation keeps its tasks' state and their stage-two positions:
        // if the next round gives the tasks back to this worker, they go on
        // from there (see `take_over`).
        if let (QueryLogic::Aggregate(_), Some(m)) = (&query.logic, &query.membership) {
            let stage_two = match &query.repartition {
                Some(r) => std::mem::take(&mut *r.positions.lock()),
                None => source,
            };
            *m.kept.lock() = stage_two;
        }
        let transactions = query.transactions.lock().take();
        if let Some(tx) = transactions {
            if tx.open.swap(false, Ordering::SeqCst) {
                // What the open transaction folded in is gone from the log.
                if let Some(m) = &query.membership {
                    m.trusted.store(false, Ordering::SeqCst);
                }
                if let Err(e) = tx.producer.abort().await {
                    tracing::warn!(query = %query.id, "aborting the query's transaction: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize, fingerprint: &str) -> Vec<Member> {
        let mut subscription = ConsumerProtocolSubscription::default();
        subscription.user_data = Some(Bytes::from(fingerprint.to_string()));
        (0..n)
            .map(|i| Member {
                id: format!("m{i}"),
                metadata: versioned(&subscription, 0),
            })
            .collect()
    }

    #[test]
    fn a_member_running_another_version_of_the_query_gets_no_share() {
        let assignor = QueryAssignor::new("CSAS_X_1");
        assignor.set_work(vec![("orders".into(), 4)], false);
        assignor.set_fingerprint("q".into());
        let mut all = members(2, "q");
        all.extend(members(1, "other").into_iter().map(|mut m| {
            m.id = "m9".into();
            m
        }));
        let out: BTreeMap<String, Bytes> =
            assignor.assign(PROTOCOL, "m0", &all).into_iter().collect();
        let share = |m: &str| assigned_partitions(&out[m]);
        assert_eq!(partitions_of(&share("m0").unwrap(), "orders"), &[0, 2]);
        assert_eq!(partitions_of(&share("m1").unwrap(), "orders"), &[1, 3]);
        let refused = share("m9").unwrap_err();
        assert!(
            refused.contains("differently from the group's leader"),
            "{refused}"
        );
    }

    #[test]
    fn a_projection_is_cut_by_partition_and_round_trips_the_consumer_protocol() {
        let assignor = QueryAssignor::new("CSAS_X_1");
        assignor.set_work(vec![("orders".into(), 4), ("rekeyed".into(), 2)], false);
        assignor.set_fingerprint("q".into());
        let out = assignor.assign(PROTOCOL, "m0", &members(2, "q"));
        let shares: Vec<Share> = out
            .iter()
            .map(|(_, data)| assigned_partitions(data).unwrap())
            .collect();
        assert_eq!(partitions_of(&shares[0], "orders"), &[0, 2]);
        assert_eq!(partitions_of(&shares[1], "orders"), &[1, 3]);
        assert_eq!(partitions_of(&shares[0], "rekeyed"), &[0]);
        assert_eq!(partitions_of(&shares[1], "rekeyed"), &[1]);
        assert!(partitions_of(&shares[0], "other").is_empty());
    }

    #[test]
    fn a_whole_query_goes_to_one_member() {
        let assignor = QueryAssignor::new("CTAS_Y_2");
        assignor.set_work(vec![("orders".into(), 3)], true);
        let shares = assignor.shares(3);
        let owners: Vec<&Share> = shares
            .iter()
            .filter(|s| !partitions_of(s, "orders").is_empty())
            .collect();
        assert_eq!(owners.len(), 1);
        assert_eq!(partitions_of(owners[0], "orders"), &[0, 1, 2]);
        // Every leader picks the same owner.
        assert_eq!(
            shares
                .iter()
                .map(|s| partitions_of(s, "orders").len())
                .collect::<Vec<_>>(),
            assignor
                .shares(3)
                .iter()
                .map(|s| partitions_of(s, "orders").len())
                .collect::<Vec<_>>()
        );
    }
}
