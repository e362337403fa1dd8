//! An aggregation's group states with a bounded memory footprint.
//!
//! [`GroupStore`] keeps at most `limit` groups in a hash map (the hot set,
//! where a low-cardinality aggregation lives entirely) and spills the least
//! recently used ones to an embedded store ([redb]) in a scratch file. A
//! spilled group comes back on its next update. Keys are the window start
//! (order-preserving) then the grouping key's identity, so the windows a
//! stream time closes are one range scan of the spill.
//!
//! The spill is not the source of truth: the changelog topic is, and a
//! restart rebuilds the store from it. So the spill writes without fsync,
//! and only groups whose state the changelog already holds are evicted.

// redb's error is large, but it only travels on the rare failure path.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};

/// A group's identity: whatever the aggregation keys groups by, with the
/// window start it belongs to.
pub trait GroupKey: Hash + Eq + Clone {
    /// The window start (`i64::MIN` when not windowed).
    fn window_start(&self) -> i64;
    /// Bytes that tell the group apart within its window (the spill key's
    /// tail).
    fn spill_bytes(&self) -> Vec<u8>;
}

const GROUPS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("groups");

/// How a group's state goes to and from the spill, and how a spilled
/// state names its group again.
pub struct Codec<K, V> {
    pub encode: Encode<V>,
    pub decode: Decode<V>,
    /// The id of the group holding `V` in the window starting at the `i64`.
    pub id_of: IdOf<K, V>,
}

pub type Encode<V> = Box<dyn Fn(&V) -> Vec<u8> + Send + Sync>;
pub type Decode<V> = Box<dyn Fn(&[u8]) -> Result<V, String> + Send + Sync>;
pub type IdOf<K, V> = Box<dyn Fn(i64, &V) -> K + Send + Sync>;

struct Hot<V> {
    value: V,
    /// The store's clock when the group was last touched (for LRU eviction).
    used: u64,
}

pub struct GroupStore<K, V> {
    hot: HashMap<K, Hot<V>>,
    clock: u64,
    limit: usize,
    codec: Codec<K, V>,
    /// Where spill files go; created on the first eviction.
    dir: std::path::PathBuf,
    spill: Option<(tempfile::TempDir, Database)>,
    /// The first spill error: the owner fails its query on it rather than
    /// go on with a state that lost groups.
    failure: Option<String>,
}

/// The spill key: the window start, sign-flipped big-endian so byte order is
/// numeric order, then the group's own bytes.
fn spill_key<K: GroupKey>(id: &K) -> Vec<u8> {
    let mut key = window_prefix(id.window_start()).to_vec();
    key.extend_from_slice(&id.spill_bytes());
    key
}

fn window_prefix(start: i64) -> [u8; 8] {
    ((start as u64) ^ (1 << 63)).to_be_bytes()
}

fn window_of(key: &[u8]) -> Result<i64, String> {
    let prefix: [u8; 8] = key
        .get(..8)
        .and_then(|p| p.try_into().ok())
        .ok_or("a spilled key shorter than its window")?;
    Ok((u64::from_be_bytes(prefix) ^ (1 << 63)) as i64)
}

impl<K: GroupKey, V> GroupStore<K, V> {
    /// A store holding at most `limit` groups in memory (at least one),
    /// spilling the rest under `dir`.
    pub fn new(limit: usize, dir: &Path, codec: Codec<K, V>) -> GroupStore<K, V> {
        GroupStore {
            hot: HashMap::new(),
            clock: 0,
            limit: limit.max(1),
            codec,
            dir: dir.to_path_buf(),
            spill: None,
            failure: None,
        }
    }

    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        if self.failure.is_none() {
            self.failure = Some(format!("aggregation state spill: {e}"));
        }
    }

    /// Groups in memory.
    pub fn hot_len(&self) -> usize {
        self.hot.len()
    }

    /// Groups spilled to disk.
    pub fn spilled_len(&self) -> usize {
        let Some((_, db)) = &self.spill else {
            return 0;
        };
        let count = || -> Result<u64, redb::Error> {
            let read = db.begin_read()?;
            match read.open_table(GROUPS) {
                Ok(t) => Ok(t.len()?),
                Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
                Err(e) => Err(e.into()),
            }
        };
        count().unwrap_or(0) as usize
    }

    /// Takes a group out of the spill, if it is there.
    fn unspill(&mut self, id: &K) -> Option<V> {
        let (_, db) = self.spill.as_ref()?;
        let key = spill_key(id);
        let taken = || -> Result<Option<Vec<u8>>, redb::Error> {
            let mut write = db.begin_write()?;
            write.set_durability(Durability::None);
            let bytes = {
                let mut table = write.open_table(GROUPS)?;
                let removed = table.remove(key.as_slice())?;
                removed.map(|v| v.value().to_vec())
            };
            write.commit()?;
            Ok(bytes)
        };
        match taken() {
            Ok(Some(bytes)) => match (self.codec.decode)(&bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.fail(e);
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    /// The group's state, brought back from the spill if needed.
    pub fn get_mut(&mut self, id: &K) -> Option<&mut V> {
        self.clock += 1;
        if !self.hot.contains_key(id) {
            let value = self.unspill(id)?;
            self.hot.insert(id.clone(), Hot { value, used: 0 });
        }
        let hot = self.hot.get_mut(id)?;
        hot.used = self.clock;
        Some(&mut hot.value)
    }

    /// The group's state, created with `init` if it has none; and whether
    /// it existed.
    pub fn get_or_insert_with(&mut self, id: &K, init: impl FnOnce() -> V) -> (&mut V, bool) {
        // The hot path (a group in memory) hashes twice and copies no key;
        // only a new or spilled group pays for an owned id.
        let existed = self.hot.contains_key(id) || {
            let value = self.unspill(id);
            let found = value.is_some();
            let value = value.unwrap_or_else(init);
            self.hot.insert(id.clone(), Hot { value, used: 0 });
            found
        };
        self.clock += 1;
        let hot = self
            .hot
            .get_mut(id)
            .expect("the group was just found or added");
        hot.used = self.clock;
        (&mut hot.value, existed)
    }

    pub fn insert(&mut self, id: K, value: V) {
        self.clock += 1;
        // A spilled copy would come back over this one later.
        if self.spill.is_some() {
            let _ = self.unspill(&id);
        }
        self.hot.insert(
            id,
            Hot {
                value,
                used: self.clock,
            },
        );
    }

    /// Inserts a group the store is known not to hold, in memory or spilled
    /// (a restore into an empty store, each group once): no spill lookup.
    pub fn insert_absent(&mut self, id: K, value: V) {
        self.clock += 1;
        self.hot.insert(
            id,
            Hot {
                value,
                used: self.clock,
            },
        );
    }

    pub fn remove(&mut self, id: &K) -> Option<V> {
        match self.hot.remove(id) {
            Some(h) => Some(h.value),
            None => self.unspill(id),
        }
    }

    /// Every group whose window starts at or before `start`, in memory or spilled.
    pub fn ids_starting_at_or_before(&mut self, start: i64) -> Vec<K> {
        let mut ids: Vec<K> = self
            .hot
            .keys()
            .filter(|id| id.window_start() <= start)
            .cloned()
            .collect();
        if let Some((_, db)) = &self.spill {
            let end = window_prefix(start.saturating_add(1));
            let codec = &self.codec;
            let scan = || -> Result<Vec<K>, String> {
                let read = db.begin_read().map_err(|e| e.to_string())?;
                let table = match read.open_table(GROUPS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(e) => return Err(e.to_string()),
                };
                let mut out = Vec::new();
                for entry in table
                    .range::<&[u8]>(..end.as_slice())
                    .map_err(|e| e.to_string())?
                {
                    let (k, v) = entry.map_err(|e| e.to_string())?;
                    let value = (codec.decode)(v.value())?;
                    out.push((codec.id_of)(window_of(k.value())?, &value));
                }
                Ok(out)
            };
            match scan() {
                Ok(spilled) => ids.extend(spilled),
                Err(e) => self.fail(e),
            }
        }
        ids
    }

    /// The earliest window start held, in memory or spilled.
    pub fn min_start(&mut self) -> Option<i64> {
        let hot = self.hot.keys().map(|id| id.window_start()).min();
        let spilled = match &self.spill {
            None => None,
            Some((_, db)) => {
                let first = || -> Result<Option<i64>, String> {
                    let read = db.begin_read().map_err(|e| e.to_string())?;
                    let table = match read.open_table(GROUPS) {
                        Ok(t) => t,
                        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                        Err(e) => return Err(e.to_string()),
                    };
                    let first = match table.first().map_err(|e| e.to_string())? {
                        Some((k, _)) => Some(window_of(k.value())?),
                        None => None,
                    };
                    Ok(first)
                };
                match first() {
                    Ok(s) => s,
                    Err(e) => {
                        self.fail(e);
                        None
                    }
                }
            }
        };
        match (hot, spilled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Spills the least recently used groups until at most `limit` remain in
    /// memory, keeping those `pinned` says must stay (their state is not in
    /// the changelog yet).
    pub fn evict(&mut self, pinned: impl Fn(&K) -> bool) {
        if self.hot.len() <= self.limit {
            return;
        }
        // Down to three quarters, so evictions come in batches.
        let target = self.limit - self.limit / 4;
        let mut candidates: Vec<(u64, K)> = self
            .hot
            .iter()
            .filter(|(id, _)| !pinned(id))
            .map(|(id, h)| (h.used, id.clone()))
            .collect();
        let excess = self.hot.len().saturating_sub(target).min(candidates.len());
        if excess == 0 {
            return;
        }
        candidates.select_nth_unstable_by_key(excess - 1, |(used, _)| *used);
        candidates.truncate(excess);
        if self.spill.is_none() {
            let opened = tempfile::Builder::new()
                .prefix("creek-spill-")
                .tempdir_in(&self.dir)
                .map_err(|e| e.to_string())
                .and_then(|dir| {
                    Database::builder()
                        // The hot set is the cache; the spill's own stays small.
                        .set_cache_size(16 << 20)
                        .create(dir.path().join("groups.redb"))
                        .map(|db| (dir, db))
                        .map_err(|e| e.to_string())
                });
            match opened {
                Ok(spill) => self.spill = Some(spill),
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
        }
        let Some((_, db)) = &self.spill else {
            return;
        };
        let mut evicted = Vec::with_capacity(candidates.len());
        let written = (|| -> Result<(), redb::Error> {
            let mut write = db.begin_write()?;
            write.set_durability(Durability::None);
            {
                let mut table = write.open_table(GROUPS)?;
                for (_, id) in &candidates {
                    if let Some(h) = self.hot.get(id) {
                        let bytes = (self.codec.encode)(&h.value);
                        table.insert(spill_key(id).as_slice(), bytes.as_slice())?;
                        evicted.push(id.clone());
                    }
                }
            }
            write.commit()?;
            Ok(())
        })();
        match written {
            Ok(()) => {
                for id in evicted {
                    self.hot.remove(&id);
                }
            }
            Err(e) => self.fail(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test group: a name and a window start; its state is an i64.
    #[derive(Clone, PartialEq, Eq, Hash, Debug)]
    struct Id(String, i64);

    impl GroupKey for Id {
        fn window_start(&self) -> i64 {
            self.1
        }
        fn spill_bytes(&self) -> Vec<u8> {
            self.0.as_bytes().to_vec()
        }
    }

    /// States carry their group's name so a spilled one names its group.
    fn store(limit: usize, dir: &Path) -> GroupStore<Id, (String, i64)> {
        GroupStore::new(
            limit,
            dir,
            Codec {
                encode: Box::new(|v: &(String, i64)| serde_json::to_vec(v).unwrap()),
                decode: Box::new(|b: &[u8]| serde_json::from_slice(b).map_err(|e| e.to_string())),
                id_of: Box::new(|start, v: &(String, i64)| Id(v.0.clone(), start)),
            },
        )
    }

    #[test]
    fn memory_holds_the_limit_and_spilled_groups_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(100, dir.path());
        for i in 0..1000i64 {
            let name = format!("k{i}");
            let (v, existed) = s.get_or_insert_with(&Id(name.clone(), i % 10), || (name, 0));
            assert!(!existed);
            v.1 += i;
            s.evict(|_| false);
            assert!(s.hot_len() <= 100);
        }
        assert_eq!(s.hot_len() + s.spilled_len(), 1000);
        // Every group keeps its state, wherever it is.
        for i in 0..1000i64 {
            let name = format!("k{i}");
            let (v, existed) = s.get_or_insert_with(&Id(name.clone(), i % 10), || (name, 0));
            assert!(existed);
            assert_eq!(v.1, i);
            s.evict(|_| false);
        }
        assert!(s.failure().is_none());
    }

    #[test]
    fn closing_windows_are_found_in_the_spill_too() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(4, dir.path());
        for start in [-20i64, 0, 10, 20, 30, 40, 50, 60] {
            s.insert(Id("k".into(), start), ("k".into(), start));
            s.evict(|_| false);
        }
        assert!(s.spilled_len() > 0);
        assert_eq!(s.min_start(), Some(-20));
        let mut closed = s.ids_starting_at_or_before(20);
        closed.sort_by_key(|id| id.1);
        let starts: Vec<i64> = closed.iter().map(|id| id.1).collect();
        assert_eq!(starts, vec![-20, 0, 10, 20]);
        for id in closed {
            assert_eq!(s.remove(&id).map(|v| v.1), Some(id.1));
        }
        assert_eq!(s.min_start(), Some(30));
    }

    #[test]
    fn pinned_groups_stay_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(2, dir.path());
        for i in 0..10i64 {
            s.insert(Id(format!("k{i}"), 0), (format!("k{i}"), i));
        }
        s.evict(|_| true);
        assert_eq!(s.hot_len(), 10);
        s.evict(|_| false);
        assert!(s.hot_len() <= 2);
    }
}
