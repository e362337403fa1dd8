//! The embedded log: a data directory of topics, each a set of partitions.
//!
//! Layout under the data directory:
//!
//! ```text
//! .lock                       held while a creek process owns the directory
//! producer-id                 next idempotent producer id to hand out
//! group-offsets.jsonl         consumer-group offset journal
//! topics/<name>/topic.json    topic id, partition count, config overrides
//! topics/<name>/<p>/<base>.log|.index|.timeindex
//! ```

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::{validate_topic_name, FlushPolicy, LogConfig, TopicConfig};
use crate::groups::{CommittedOffset, GroupOffsetStore};
use crate::partition::Partition;
use creek_store::error::{LogError, Result};

/// Most partitions a topic may have; a guard against typos like `--partitions 1000000`.
pub const MAX_PARTITIONS: i32 = 10_000;

#[derive(Serialize, Deserialize)]
struct TopicMeta {
    name: String,
    id: Uuid,
    partitions: i32,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

/// A topic: its id, configuration and partitions.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    dir: PathBuf,
    partitions: RwLock<Vec<Arc<Partition>>>,
    config: RwLock<TopicConfig>,
}

impl Topic {
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().clone()
    }
    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        if index < 0 {
            return None;
        }
        self.partitions.read().get(index as usize).cloned()
    }
    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }
    pub fn config(&self) -> TopicConfig {
        self.config.read().clone()
    }
    /// Internal topics (`__consumer_offsets`-style names) are hidden from default listings.
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
    fn write_meta(&self) -> Result<()> {
        let meta = TopicMeta {
            name: self.name.clone(),
            id: self.id,
            partitions: self.partition_count(),
            configs: self.config.read().overrides.clone(),
        };
        write_atomically(
            &self.dir.join("topic.json"),
            &serde_json::to_vec_pretty(&meta).expect("serializable"),
        )
    }
}

fn write_atomically(path: &Path, contents: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

pub struct Log {
    dir: PathBuf,
    defaults: LogConfig,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    groups: GroupOffsetStore,
    next_producer_id: Mutex<i64>,
    _lock: File,
}

impl Log {
    /// Opens (or initialises) a data directory, recovering every partition.
    pub fn open(dir: impl AsRef<Path>, defaults: LogConfig) -> Result<Arc<Log>> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(dir.join("topics"))?;
        let lock = File::create(dir.join(".lock"))?;
        if lock.try_lock().is_err() {
            return Err(LogError::Io(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                format!(
                    "data directory {} is in use by another creek process",
                    dir.display()
                ),
            )));
        }
        let mut topics = BTreeMap::new();
        let mut max_producer_id = -1;
        for entry in fs::read_dir(dir.join("topics"))? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".deleted") {
                fs::remove_dir_all(&path)?;
                continue;
            }
            let meta_path = path.join("topic.json");
            let meta: TopicMeta = match fs::read(&meta_path).map_err(LogError::from).and_then(
                |raw| {
                    serde_json::from_slice(&raw).map_err(|e| {
                        LogError::InvalidConfig(format!("{}: {e}", meta_path.display()))
                    })
                },
            ) {
                Ok(m) => m,
                Err(e) => {
                    // A topic whose creation never finished: its metadata is written last.
                    warn!(dir = %path.display(), "ignoring topic directory without valid topic.json: {e}");
                    continue;
                }
            };
            let config = TopicConfig::resolve(&defaults, meta.configs.clone())?;
            let mut partitions = Vec::new();
            for p in 0..meta.partitions {
                let pdir = path.join(p.to_string());
                let partition = if pdir.exists() {
                    Partition::open(&pdir, &meta.name, p)?
                } else {
                    Partition::create(&pdir, &meta.name, p)?
                };
                max_producer_id = max_producer_id.max(partition.max_producer_id());
                partitions.push(Arc::new(partition));
            }
            topics.insert(
                meta.name.clone(),
                Arc::new(Topic {
                    name: meta.name,
                    id: meta.id,
                    dir: path,
                    partitions: RwLock::new(partitions),
                    config: RwLock::new(config),
                }),
            );
        }
        let persisted: i64 = fs::read_to_string(dir.join("producer-id"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let groups = GroupOffsetStore::open(&dir)?;
        info!(dir = %dir.display(), topics = topics.len(), "log opened");
        Ok(Arc::new(Log {
            dir,
            defaults,
            topics: RwLock::new(topics),
            groups,
            next_producer_id: Mutex::new(persisted.max(max_producer_id + 1)),
            _lock: lock,
        }))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn defaults(&self) -> &LogConfig {
        &self.defaults
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topics(&self) -> Vec<Arc<Topic>> {
        self.topics.read().values().cloned().collect()
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        self.topic(topic)
            .and_then(|t| t.partition(partition))
            .ok_or_else(|| LogError::UnknownTopicOrPartition(format!("{topic}-{partition}")))
    }

    /// Validates a topic creation without performing it (CreateTopics' validate_only).
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<()> {
        validate_topic_name(name)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(LogError::InvalidPartitions(format!(
                "{partitions}; a topic needs between 1 and {MAX_PARTITIONS} partitions"
            )));
        }
        TopicConfig::resolve(&self.defaults, configs.clone())?;
        if self.topics.read().contains_key(name) {
            return Err(LogError::TopicAlreadyExists(name.to_string()));
        }
        Ok(())
    }

    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>> {
        self.validate_new_topic(name, partitions, &configs)?;
        let config = TopicConfig::resolve(&self.defaults, configs)?;
        let mut topics = self.topics.write();
        if topics.contains_key(name) {
            return Err(LogError::TopicAlreadyExists(name.to_string()));
        }
        let dir = self.dir.join("topics").join(name);
        if dir.exists() {
            fs::remove_dir_all(&dir)?; // leftovers of an unfinished creation
        }
        let mut parts = Vec::new();
        for p in 0..partitions {
            parts.push(Arc::new(Partition::create(
                &dir.join(p.to_string()),
                name,
                p,
            )?));
        }
        let topic = Arc::new(Topic {
            name: name.to_string(),
            id: Uuid::new_v4(),
            dir,
            partitions: RwLock::new(parts),
            config: RwLock::new(config),
        });
        topic.write_meta()?;
        topics.insert(name.to_string(), topic.clone());
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Replaces a topic's configuration overrides (Kafka's AlterConfigs; an
    /// incremental alteration works out the new set first). Validated like a new
    /// topic's; appends after this one follow the new configuration.
    pub fn set_topic_configs(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<()> {
        let topic = self
            .topic(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        let config = TopicConfig::resolve(&self.defaults, overrides)?;
        if validate_only {
            return Ok(());
        }
        *topic.config.write() = config;
        topic.write_meta()?;
        info!(topic = name, "altered topic configs");
        Ok(())
    }

    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let topic = self
            .topics
            .write()
            .remove(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        let doomed = self
            .dir
            .join("topics")
            .join(format!("{name}.{}.deleted", Uuid::new_v4().simple()));
        fs::rename(&topic.dir, &doomed)?;
        fs::remove_dir_all(&doomed)?;
        self.groups.forget_topic(name)?;
        info!(topic = name, "deleted topic");
        Ok(())
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(&self, name: &str, total: i32, validate_only: bool) -> Result<()> {
        let topic = self
            .topic(name)
            .ok_or_else(|| LogError::UnknownTopicOrPartition(name.to_string()))?;
        let current = topic.partition_count();
        if total <= current {
            return Err(LogError::InvalidPartitions(format!(
                "topic currently has {current} partitions, which is higher than the requested {total}"
            )));
        }
        if total > MAX_PARTITIONS {
            return Err(LogError::InvalidPartitions(format!(
                "{total} exceeds the maximum of {MAX_PARTITIONS}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        {
            let mut parts = topic.partitions.write();
            for p in current..total {
                parts.push(Arc::new(Partition::create(
                    &topic.dir.join(p.to_string()),
                    name,
                    p,
                )?));
            }
        }
        topic.write_meta()?;
        info!(topic = name, partitions = total, "added partitions");
        Ok(())
    }

    /// Hands out a fresh idempotent-producer id, persisted so ids never repeat.
    pub fn next_producer_id(&self) -> Result<i64> {
        let mut next = self.next_producer_id.lock();
        let id = *next;
        *next += 1;
        write_atomically(&self.dir.join("producer-id"), next.to_string().as_bytes())?;
        Ok(id)
    }

    pub fn commit_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, CommittedOffset)],
    ) -> Result<()> {
        self.groups.commit(group, offsets)
    }

    pub fn committed_offsets(&self, group: &str) -> BTreeMap<(String, i32), CommittedOffset> {
        self.groups.fetch(group)
    }

    pub fn groups_with_offsets(&self) -> Vec<String> {
        self.groups.groups()
    }

    pub fn delete_group_offsets(&self, group: &str) -> Result<()> {
        self.groups.delete_group(group)
    }

    /// fsyncs every dirty partition and the group journal.
    pub fn flush_all(&self) -> Result<()> {
        for topic in self.topics() {
            for p in topic.partitions() {
                p.flush_if_dirty()?;
            }
        }
        self.groups.flush()
    }

    pub fn enforce_retention(&self) -> Result<usize> {
        let now = crate::now_ms();
        let mut deleted = 0;
        for topic in self.topics() {
            let cfg = topic.config();
            for p in topic.partitions() {
                deleted += p.enforce_retention(&cfg, now)?;
            }
        }
        Ok(deleted)
    }

    /// Background upkeep: interval flushes and retention, until `shutdown` flips.
    pub async fn run_maintenance(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let flush_every = match self.defaults.flush {
            FlushPolicy::Interval(d) => d,
            FlushPolicy::EveryBatch => Duration::from_secs(1),
        };
        let mut flush_tick = tokio::time::interval(flush_every);
        let mut retention_tick = tokio::time::interval(self.defaults.retention_check_interval);
        loop {
            tokio::select! {
                _ = flush_tick.tick() => {
                    let log = self.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || log.flush_all()).await {
                        warn!("periodic flush failed: {e}");
                    }
                }
                _ = retention_tick.tick() => {
                    let log = self.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || log.enforce_retention()).await {
                        warn!("retention failed: {e}");
                    }
                }
                _ = shutdown.changed() => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use creek_store::testing::encode_batch;

    #[test]
    fn altered_topic_configs_apply_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        log.create_topic("t", 1, BTreeMap::new()).unwrap();
        let set = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(matches!(
            log.set_topic_configs("t", set("retention.ms", "nope"), false),
            Err(LogError::InvalidConfig(_))
        ));
        log.set_topic_configs("t", set("retention.ms", "5000"), true)
            .unwrap();
        assert!(log.topic("t").unwrap().config().overrides.is_empty());
        log.set_topic_configs("t", set("retention.ms", "5000"), false)
            .unwrap();
        assert_eq!(log.topic("t").unwrap().config().retention_ms, 5000);
        assert!(matches!(
            log.set_topic_configs("missing", BTreeMap::new(), false),
            Err(LogError::UnknownTopicOrPartition(_))
        ));
        drop(log);
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        assert_eq!(
            log.topic("t").unwrap().config().overrides,
            set("retention.ms", "5000")
        );
    }

    #[test]
    fn topics_persist_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        let mut cfg = BTreeMap::new();
        cfg.insert("retention.ms".to_string(), "60000".to_string());
        let t = log.create_topic("psg-customers", 2, cfg).unwrap();
        let id = t.id;
        assert!(matches!(
            log.create_topic("psg-customers", 1, BTreeMap::new()),
            Err(LogError::TopicAlreadyExists(_))
        ));
        assert!(matches!(
            log.create_topic("bad name", 1, BTreeMap::new()),
            Err(LogError::InvalidTopic(_))
        ));
        assert!(matches!(
            log.create_topic("zero", 0, BTreeMap::new()),
            Err(LogError::InvalidPartitions(_))
        ));
        let p = log.partition("psg-customers", 1).unwrap();
        p.append(encode_batch(&["x"], 1, None), &t.config())
            .unwrap();
        log.create_partitions("psg-customers", 3, false).unwrap();
        assert!(log.create_partitions("psg-customers", 2, false).is_err());
        let pid = log.next_producer_id().unwrap();
        log.create_topic("doomed", 1, BTreeMap::new()).unwrap();
        log.delete_topic("doomed").unwrap();
        drop((t, p, log));

        // A second process on the same directory is refused while the first runs.
        let log = Log::open(dir.path(), LogConfig::default()).unwrap();
        assert!(Log::open(dir.path(), LogConfig::default()).is_err());
        let t = log.topic("psg-customers").unwrap();
        assert_eq!(t.id, id);
        assert_eq!(t.partition_count(), 3);
        assert_eq!(t.config().retention_ms, 60000);
        assert_eq!(
            log.partition("psg-customers", 1).unwrap().high_watermark(),
            1
        );
        assert!(log.topic("doomed").is_none());
        assert!(log.next_producer_id().unwrap() > pid);
    }
}
