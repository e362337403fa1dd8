//! An aggregation's state cut into tasks, as Kafka Streams cuts it: task `t`
//! holds the groups of the input partitions `p` with `p % count == t` (the
//! input is the repartition topic of a re-keying aggregation, else the
//! source), and partition `t` of the changelog holds them with those
//! partitions' positions. Workers sharing a query own whole tasks, so a task
//! moves to another worker with its state.
//!
//! `count` is the changelog's partition count, fixed when the changelog is
//! made: the input's partition count where workers share queries, one on a log
//! no other worker shares (one task keeps the input's order across groups, as
//! ksqlDB's record-at-a-time processing does).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{AggregatePlan, Aggregator, StateLimits};
use crate::processing_log::ProcessingLog;

/// The tasks of one aggregation.
pub struct AggregateTasks {
    plan: AggregatePlan,
    log: Arc<ProcessingLog>,
    query_id: String,
    limits: StateLimits,
    count: AtomicI32,
    tasks: Mutex<BTreeMap<i32, Arc<Aggregator>>>,
    /// Stage one of a re-keying aggregation over a stream: re-keying a row
    /// needs no state, so one instance serves every source partition.
    rekeyer: Arc<Aggregator>,
}

impl AggregateTasks {
    pub fn new(
        plan: AggregatePlan,
        log: Arc<ProcessingLog>,
        query_id: String,
        limits: &StateLimits,
    ) -> Self {
        let rekeyer = Arc::new(Aggregator::with_limits(
            plan.clone(),
            log.clone(),
            query_id.clone(),
            limits,
        ));
        AggregateTasks {
            plan,
            log,
            query_id,
            limits: limits.clone(),
            count: AtomicI32::new(1),
            tasks: Mutex::new(BTreeMap::new()),
            rekeyer,
        }
    }

    pub fn plan(&self) -> &AggregatePlan {
        &self.plan
    }

    /// How many tasks (the changelog's partitions).
    pub fn count(&self) -> i32 {
        self.count.load(Ordering::SeqCst)
    }

    pub fn set_count(&self, count: i32) {
        self.count.store(count.max(1), Ordering::SeqCst);
    }

    /// The task holding the groups of input partition `partition`.
    pub fn task_of(&self, partition: i32) -> i32 {
        partition.rem_euclid(self.count())
    }

    /// Task `task`'s state (empty until restored or fed).
    pub fn task(&self, task: i32) -> Arc<Aggregator> {
        self.tasks
            .lock()
            .entry(task)
            .or_insert_with(|| {
                Arc::new(Aggregator::with_limits(
                    self.plan.clone(),
                    self.log.clone(),
                    self.query_id.clone(),
                    &self.limits,
                ))
            })
            .clone()
    }

    /// The state input partition `partition` folds into.
    pub fn for_input(&self, partition: i32) -> Arc<Aggregator> {
        self.task(self.task_of(partition))
    }

    /// What re-keys the source's rows (stage one). With one task it is that
    /// task, whose memory of a table's rows re-keying reads; with more (over
    /// streams only) a stateless instance of its own.
    pub fn stage_one(&self) -> Arc<Aggregator> {
        if self.count() == 1 {
            self.task(0)
        } else {
            self.rekeyer.clone()
        }
    }

    /// Whether GROUP BY re-keys through a repartition topic.
    pub fn needs_repartition(&self) -> bool {
        self.rekeyer.needs_repartition()
    }

    /// The first task failure, if any (see [`Aggregator::state_failure`]).
    pub fn state_failure(&self) -> Option<String> {
        self.tasks.lock().values().find_map(|t| t.state_failure())
    }

    /// Keeps the tasks `keep` says to and drops the others' state (their
    /// changelog partitions keep it).
    pub fn retain(&self, keep: impl Fn(i32) -> bool) {
        self.tasks.lock().retain(|t, _| keep(*t));
    }

    /// Groups held in memory and spilled to disk, over all tasks.
    pub fn state_sizes(&self) -> (usize, usize) {
        self.tasks
            .lock()
            .values()
            .map(|t| t.state_sizes())
            .fold((0, 0), |(m, d), (tm, td)| (m + tm, d + td))
    }
}
