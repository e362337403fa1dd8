//! How Connect workers with one `group.id` share connectors and tasks: Kafka
//! Connect's group protocol (`protocol_type` "connect", the eager protocol
//! "default"), its member metadata and assignments in Connect's byte layout, and
//! Connect's eager assignor: connectors, then tasks, dealt round robin over the
//! members sorted by id.
//!
//! Member metadata (v0): `version INT16 | url STRING | config offset INT64`.
//! Assignment (v0): `version INT16 | error INT16 | leader STRING | leader url STRING
//! | config offset INT64 | [connector STRING, [task INT32]]`, task -1 being the
//! connector itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use creek_store::group::{Assignor, Member};
use parking_lot::Mutex;

pub const PROTOCOL_TYPE: &str = "connect";
/// The eager protocol's name.
pub const EAGER: &str = "default";
/// The task id that stands for the connector instance itself.
const CONNECTOR_TASK: i32 = -1;

/// What a worker tells the group about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerState {
    /// Its REST URL, where calls for what it runs are forwarded.
    pub url: String,
    /// The next offset of the config topic it has not read yet.
    pub config_offset: i64,
}

impl WorkerState {
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(0);
        put_string(&mut b, &self.url);
        b.put_i64(self.config_offset);
        b.freeze()
    }

    /// Reads v0 and the fields v1/v2 share with it (their extra bytes are ignored,
    /// as Connect's own reader does).
    pub fn decode(mut b: Bytes) -> Option<WorkerState> {
        if b.remaining() < 2 || b.get_i16() < 0 {
            return None;
        }
        let url = get_string(&mut b)?;
        if b.remaining() < 8 {
            return None;
        }
        Some(WorkerState {
            url,
            config_offset: b.get_i64(),
        })
    }
}

/// One worker's share of a round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkAssignment {
    /// 0, or 1 (CONFIG_MISMATCH): the leader's configs were behind a member's.
    pub error: i16,
    pub leader: String,
    pub leader_url: String,
    /// The config-topic offset the assignment was made at: a worker reads that far
    /// before it starts anything.
    pub config_offset: i64,
    pub connectors: BTreeSet<String>,
    pub tasks: BTreeSet<(String, usize)>,
}

impl WorkAssignment {
    pub fn encode(&self) -> Bytes {
        let mut by_connector: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for c in &self.connectors {
            by_connector.entry(c).or_default().push(CONNECTOR_TASK);
        }
        for (c, t) in &self.tasks {
            by_connector.entry(c).or_default().push(*t as i32);
        }
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i16(self.error);
        put_string(&mut b, &self.leader);
        put_string(&mut b, &self.leader_url);
        b.put_i64(self.config_offset);
        b.put_i32(by_connector.len() as i32);
        for (c, tasks) in by_connector {
            put_string(&mut b, c);
            b.put_i32(tasks.len() as i32);
            for t in tasks {
                b.put_i32(t);
            }
        }
        b.freeze()
    }

    pub fn decode(mut b: Bytes) -> Option<WorkAssignment> {
        if b.remaining() < 4 || b.get_i16() < 0 {
            return None;
        }
        let error = b.get_i16();
        let leader = get_string(&mut b)?;
        let leader_url = get_string(&mut b)?;
        if b.remaining() < 12 {
            return None;
        }
        let config_offset = b.get_i64();
        let mut out = WorkAssignment {
            error,
            leader,
            leader_url,
            config_offset,
            ..Default::default()
        };
        let count = b.get_i32();
        for _ in 0..count.max(0) {
            let connector = get_string(&mut b)?;
            if b.remaining() < 4 {
                return None;
            }
            let tasks = b.get_i32();
            for _ in 0..tasks.max(0) {
                if b.remaining() < 4 {
                    return None;
                }
                match b.get_i32() {
                    CONNECTOR_TASK => {
                        out.connectors.insert(connector.clone());
                    }
                    t if t >= 0 => {
                        out.tasks.insert((connector.clone(), t as usize));
                    }
                    _ => return None,
                }
            }
        }
        Some(out)
    }
}

fn put_string(b: &mut BytesMut, s: &str) {
    let bytes = s.as_bytes();
    b.put_i16(bytes.len().min(i16::MAX as usize) as i16);
    b.put_slice(&bytes[..bytes.len().min(i16::MAX as usize)]);
}

fn get_string(b: &mut Bytes) -> Option<String> {
    if b.remaining() < 2 {
        return None;
    }
    let len = b.get_i16();
    if len < 0 || b.remaining() < len as usize {
        return None;
    }
    String::from_utf8(b.split_to(len as usize).to_vec()).ok()
}

/// What the leader assigns from: the connectors it knows and their task counts,
/// as of a config-topic offset.
#[derive(Debug, Clone, Default)]
pub struct WorkSnapshot {
    pub config_offset: i64,
    pub tasks: BTreeMap<String, usize>,
}

/// Connect's eager assignor over the leader's [`WorkSnapshot`].
pub struct EagerAssignor {
    pub snapshot: Arc<Mutex<WorkSnapshot>>,
}

impl Assignor for EagerAssignor {
    fn assign(&self, _protocol: &str, leader: &str, members: &[Member]) -> Vec<(String, Bytes)> {
        let snapshot = self.snapshot.lock().clone();
        let states: Vec<Option<WorkerState>> = members
            .iter()
            .map(|m| WorkerState::decode(m.metadata.clone()))
            .collect();
        let leader_url = members
            .iter()
            .zip(&states)
            .find(|(m, _)| m.id == leader)
            .and_then(|(_, s)| s.as_ref().map(|s| s.url.clone()))
            .unwrap_or_default();
        let newest = states
            .iter()
            .flatten()
            .map(|s| s.config_offset)
            .max()
            .unwrap_or(0);
        let mut shares: Vec<WorkAssignment> = members
            .iter()
            .map(|_| WorkAssignment {
                leader: leader.to_string(),
                leader_url: leader_url.clone(),
                config_offset: snapshot.config_offset.max(newest),
                ..Default::default()
            })
            .collect();
        if snapshot.config_offset < newest {
            // A member has read configs the leader has not: nobody starts anything;
            // the leader catches up and a new round follows.
            for s in &mut shares {
                s.error = 1;
            }
        } else if !members.is_empty() {
            let mut next = (0..members.len()).cycle();
            for connector in snapshot.tasks.keys() {
                let i = next.next().expect("cycle");
                shares[i].connectors.insert(connector.clone());
            }
            for (connector, &count) in &snapshot.tasks {
                for task in 0..count {
                    let i = next.next().expect("cycle");
                    shares[i].tasks.insert((connector.clone(), task));
                }
            }
        }
        members
            .iter()
            .zip(shares)
            .map(|(m, s)| (m.id.clone(), s.encode()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, offset: i64) -> Member {
        Member {
            id: id.into(),
            metadata: WorkerState {
                url: format!("http://{id}:8083/"),
                config_offset: offset,
            }
            .encode(),
        }
    }

    #[test]
    fn worker_metadata_is_connects_v0_layout() {
        let bytes = WorkerState {
            url: "http://a:8083/".into(),
            config_offset: 5,
        }
        .encode();
        let mut want = vec![0, 0, 0, 14];
        want.extend_from_slice(b"http://a:8083/");
        want.extend_from_slice(&5i64.to_be_bytes());
        assert_eq!(&bytes[..], &want[..]);
        assert_eq!(WorkerState::decode(bytes).unwrap().config_offset, 5);
    }

    #[test]
    fn eager_assignment_deals_connectors_then_tasks_round_robin() {
        // Connect's worked example: members [a, b], connectors x (2 tasks) and
        // y (1 task): x→a, y→b, x-0→a, x-1→b, y-0→a.
        let snapshot = Arc::new(Mutex::new(WorkSnapshot {
            config_offset: 7,
            tasks: BTreeMap::from([("x".into(), 2), ("y".into(), 1)]),
        }));
        let assignor = EagerAssignor { snapshot };
        let out = assignor.assign(EAGER, "a", &[member("a", 7), member("b", 3)]);
        let a = WorkAssignment::decode(out[0].1.clone()).unwrap();
        let b = WorkAssignment::decode(out[1].1.clone()).unwrap();
        assert_eq!(a.connectors, BTreeSet::from(["x".to_string()]));
        assert_eq!(b.connectors, BTreeSet::from(["y".to_string()]));
        assert_eq!(
            a.tasks,
            BTreeSet::from([("x".to_string(), 0), ("y".to_string(), 0)])
        );
        assert_eq!(b.tasks, BTreeSet::from([("x".to_string(), 1)]));
        assert_eq!((a.error, a.config_offset), (0, 7));
        assert_eq!(b.leader_url, "http://a:8083/");
    }

    #[test]
    fn a_leader_behind_a_member_assigns_nothing() {
        let snapshot = Arc::new(Mutex::new(WorkSnapshot {
            config_offset: 2,
            tasks: BTreeMap::from([("x".into(), 1)]),
        }));
        let out = EagerAssignor { snapshot }.assign(EAGER, "a", &[member("a", 2), member("b", 9)]);
        for (_, bytes) in out {
            let s = WorkAssignment::decode(bytes).unwrap();
            assert_eq!((s.error, s.config_offset), (1, 9));
            assert!(s.connectors.is_empty() && s.tasks.is_empty());
        }
    }

    #[test]
    fn malformed_assignments_are_refused() {
        assert!(WorkAssignment::decode(Bytes::from_static(&[0, 0, 0])).is_none());
        let mut good = WorkAssignment::default();
        good.tasks.insert(("x".into(), 3));
        let bytes = good.encode();
        assert!(WorkAssignment::decode(bytes.slice(..bytes.len() - 1)).is_none());
        assert_eq!(WorkAssignment::decode(bytes).unwrap(), good);
    }
}
