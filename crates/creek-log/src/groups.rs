//! Durable consumer-group offsets: an append-only JSON-lines journal, compacted on open.
//!
//! Commits are rare next to produces (a consumer commits every few seconds), so a
//! readable journal is cheap and makes `cat group-offsets.jsonl` a debugging tool.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::warn;

use creek_store::error::Result;

/// A committed position of one group on one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    pub commit_timestamp: i64,
}

#[derive(Serialize, Deserialize)]
struct JournalLine {
    g: String,
    t: String,
    p: i32,
    /// `None` deletes the entry.
    c: Option<CommittedOffset>,
}

type GroupTable = HashMap<String, BTreeMap<(String, i32), CommittedOffset>>;

pub(crate) struct GroupOffsetStore {
    inner: Mutex<(GroupTable, Arc<File>)>,
}

impl GroupOffsetStore {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("group-offsets.jsonl");
        let mut table: GroupTable = HashMap::new();
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            for (n, line) in reader.lines().enumerate() {
                let line = line?;
                match serde_json::from_str::<JournalLine>(&line) {
                    Ok(l) => apply(&mut table, l),
                    Err(e) => {
                        warn!(file = %path.display(), line = n + 1, "skipping unreadable group offset entry: {e}")
                    }
                }
            }
        }
        // Compact: rewrite the current state, then swap it in atomically.
        let tmp = dir.join("group-offsets.jsonl.tmp");
        {
            let mut out = File::create(&tmp)?;
            for (group, offsets) in &table {
                for ((topic, partition), c) in offsets {
                    let line = JournalLine {
                        g: group.clone(),
                        t: topic.clone(),
                        p: *partition,
                        c: Some(c.clone()),
                    };
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&line).expect("serializable")
                    )?;
                }
            }
            out.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(GroupOffsetStore {
            inner: Mutex::new((table, Arc::new(file))),
        })
    }

    pub fn commit(&self, group: &str, offsets: &[(String, i32, CommittedOffset)]) -> Result<()> {
        let mut buf = String::new();
        for (topic, partition, c) in offsets {
            let line = JournalLine {
                g: group.to_string(),
                t: topic.clone(),
                p: *partition,
                c: Some(c.clone()),
            };
            buf.push_str(&serde_json::to_string(&line).expect("serializable"));
            buf.push('\n');
        }
        let mut guard = self.inner.lock();
        (&*guard.1).write_all(buf.as_bytes())?;
        let table = &mut guard.0;
        for (topic, partition, c) in offsets {
            table
                .entry(group.to_string())
                .or_default()
                .insert((topic.clone(), *partition), c.clone());
        }
        Ok(())
    }

    pub fn fetch(&self, group: &str) -> BTreeMap<(String, i32), CommittedOffset> {
        self.inner.lock().0.get(group).cloned().unwrap_or_default()
    }

    pub fn groups(&self) -> Vec<String> {
        self.inner.lock().0.keys().cloned().collect()
    }

    /// Forgets every offset of `group` (DeleteGroups).
    pub fn delete_group(&self, group: &str) -> Result<()> {
        let mut guard = self.inner.lock();
        let Some(offsets) = guard.0.remove(group) else {
            return Ok(());
        };
        let mut buf = String::new();
        for (topic, partition) in offsets.keys() {
            let line = JournalLine {
                g: group.to_string(),
                t: topic.clone(),
                p: *partition,
                c: None,
            };
            buf.push_str(&serde_json::to_string(&line).expect("serializable"));
            buf.push('\n');
        }
        (&*guard.1).write_all(buf.as_bytes())?;
        Ok(())
    }

    /// Forgets offsets for a deleted topic.
    pub fn forget_topic(&self, topic: &str) -> Result<()> {
        let mut guard = self.inner.lock();
        let mut buf = String::new();
        for (group, offsets) in guard.0.iter_mut() {
            let doomed: Vec<_> = offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .cloned()
                .collect();
            for key in doomed {
                offsets.remove(&key);
                let line = JournalLine {
                    g: group.clone(),
                    t: key.0,
                    p: key.1,
                    c: None,
                };
                buf.push_str(&serde_json::to_string(&line).expect("serializable"));
                buf.push('\n');
            }
        }
        (&*guard.1).write_all(buf.as_bytes())?;
        Ok(())
    }

    /// fsyncs the journal outside the lock, so commits do not wait for the disk.
    pub fn flush(&self) -> Result<()> {
        let file = self.inner.lock().1.clone();
        file.sync_data()?;
        Ok(())
    }
}

fn apply(table: &mut GroupTable, line: JournalLine) {
    match line.c {
        Some(c) => {
            table.entry(line.g).or_default().insert((line.t, line.p), c);
        }
        None => {
            if let Some(g) = table.get_mut(&line.g) {
                g.remove(&(line.t, line.p));
                if g.is_empty() {
                    table.remove(&line.g);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(offset: i64) -> CommittedOffset {
        CommittedOffset {
            offset,
            metadata: None,
            commit_timestamp: 1,
        }
    }

    #[test]
    fn offsets_survive_reopen_and_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let store = GroupOffsetStore::open(dir.path()).unwrap();
        store
            .commit("g", &[("t".into(), 0, c(5)), ("t".into(), 1, c(7))])
            .unwrap();
        store.commit("g", &[("t".into(), 0, c(9))]).unwrap();
        store.commit("h", &[("u".into(), 0, c(1))]).unwrap();
        store.delete_group("h").unwrap();
        drop(store);
        // A torn trailing line from a crash.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("group-offsets.jsonl"))
            .unwrap();
        f.write_all(b"{\"g\":\"g\",\"t\"").unwrap();
        drop(f);
        let store = GroupOffsetStore::open(dir.path()).unwrap();
        let g = store.fetch("g");
        assert_eq!(g[&("t".to_string(), 0)].offset, 9);
        assert_eq!(g[&("t".to_string(), 1)].offset, 7);
        assert!(store.fetch("h").is_empty());
        store.forget_topic("t").unwrap();
        assert!(store.fetch("g").is_empty());
    }
}
