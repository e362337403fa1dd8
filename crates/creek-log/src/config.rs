//! Broker-wide log defaults and per-topic overrides, under Kafka's config names.

use std::collections::BTreeMap;
use std::time::Duration;

use creek_store::error::{LogError, Result};

/// When appended batches are forced to disk. A write always reaches the OS before
/// a produce is acknowledged, so a killed process loses nothing; fsync guards
/// against power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// fsync after every appended batch (`flush.messages=1`).
    EveryBatch,
    /// fsync dirty partitions on this interval (`flush.ms`).
    Interval(Duration),
}

/// Broker-wide defaults (Kafka's `log.*` settings).
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub segment_bytes: u64,
    pub segment_ms: u64,
    /// -1 keeps everything.
    pub retention_ms: i64,
    /// -1 keeps everything.
    pub retention_bytes: i64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: usize,
    pub flush: FlushPolicy,
    pub retention_check_interval: Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            flush: FlushPolicy::Interval(Duration::from_secs(1)),
            retention_check_interval: Duration::from_secs(30),
        }
    }
}

/// Topic-level config keys creek understands, with whether creek enforces them.
pub const TOPIC_CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "segment.bytes",
    "segment.ms",
    "max.message.bytes",
    "flush.messages",
    "flush.ms",
    "index.interval.bytes",
    "message.timestamp.type",
    "min.insync.replicas",
    "compression.type",
];

/// The effective configuration of one topic: broker defaults plus explicit overrides.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    /// Only the keys the user set; what `DescribeConfigs` reports as non-default.
    pub overrides: BTreeMap<String, String>,
    pub segment_bytes: u64,
    pub segment_ms: u64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: usize,
    pub flush: FlushPolicy,
    pub compacted: bool,
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| LogError::InvalidConfig(format!("{key}={value} is not a valid number")))
}

impl TopicConfig {
    /// Validates `overrides` against the known keys and resolves them over `defaults`.
    pub fn resolve(defaults: &LogConfig, overrides: BTreeMap<String, String>) -> Result<Self> {
        let mut cfg = TopicConfig {
            overrides: BTreeMap::new(),
            segment_bytes: defaults.segment_bytes,
            segment_ms: defaults.segment_ms,
            retention_ms: defaults.retention_ms,
            retention_bytes: defaults.retention_bytes,
            index_interval_bytes: defaults.index_interval_bytes,
            max_message_bytes: defaults.max_message_bytes,
            flush: defaults.flush,
            compacted: false,
        };
        for (key, value) in &overrides {
            match key.as_str() {
                "cleanup.policy" => {
                    let policies: Vec<&str> = value.split(',').map(str::trim).collect();
                    if policies.iter().any(|p| *p != "delete" && *p != "compact") {
                        return Err(LogError::InvalidConfig(format!(
                            "cleanup.policy={value}: expected delete, compact or both"
                        )));
                    }
                    // Compaction itself is not implemented: a compacted topic keeps
                    // every record (readers still see the latest value per key), and
                    // time/size retention never removes its data.
                    cfg.compacted = policies.contains(&"compact");
                }
                "retention.ms" => cfg.retention_ms = parse_num(key, value)?,
                "retention.bytes" => cfg.retention_bytes = parse_num(key, value)?,
                "segment.bytes" => {
                    cfg.segment_bytes = parse_num(key, value)?;
                    if cfg.segment_bytes < 14 {
                        return Err(LogError::InvalidConfig(format!(
                            "segment.bytes={value} is too small"
                        )));
                    }
                }
                "segment.ms" => cfg.segment_ms = parse_num(key, value)?,
                "max.message.bytes" => cfg.max_message_bytes = parse_num(key, value)?,
                "index.interval.bytes" => cfg.index_interval_bytes = parse_num(key, value)?,
                "flush.messages" => {
                    let n: i64 = parse_num(key, value)?;
                    if n == 1 {
                        cfg.flush = FlushPolicy::EveryBatch;
                    }
                }
                "flush.ms" => {
                    let ms: u64 = parse_num(key, value)?;
                    if cfg.flush != FlushPolicy::EveryBatch {
                        cfg.flush = if ms == 0 {
                            FlushPolicy::EveryBatch
                        } else {
                            FlushPolicy::Interval(Duration::from_millis(ms))
                        };
                    }
                }
                "message.timestamp.type" => {
                    if value != "CreateTime" {
                        return Err(LogError::InvalidConfig(format!(
                            "message.timestamp.type={value} is not supported yet; only CreateTime"
                        )));
                    }
                }
                "min.insync.replicas" => {
                    let n: i64 = parse_num(key, value)?;
                    if n != 1 {
                        return Err(LogError::InvalidConfig(format!(
                            "min.insync.replicas={value}: creek has one replica per partition"
                        )));
                    }
                }
                "compression.type" => {
                    if !matches!(
                        value.as_str(),
                        "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
                    ) {
                        return Err(LogError::InvalidConfig(format!(
                            "compression.type={value} is unknown"
                        )));
                    }
                    if value != "producer" {
                        return Err(LogError::InvalidConfig(format!(
                            "compression.type={value} is not supported yet; only producer"
                        )));
                    }
                }
                _ => {
                    return Err(LogError::InvalidConfig(format!(
                        "unknown topic config name: {key}"
                    )));
                }
            }
        }
        cfg.overrides = overrides;
        Ok(cfg)
    }

    /// Every config with its effective value and whether it is the default.
    pub fn describe(&self) -> Vec<(String, String, bool)> {
        let flush_ms = match self.flush {
            FlushPolicy::EveryBatch => "0".to_string(),
            FlushPolicy::Interval(d) => d.as_millis().to_string(),
        };
        let flush_messages = match self.flush {
            FlushPolicy::EveryBatch => "1".to_string(),
            FlushPolicy::Interval(_) => i64::MAX.to_string(),
        };
        let values = [
            (
                "cleanup.policy",
                if self.compacted {
                    "compact".into()
                } else {
                    "delete".into()
                },
            ),
            ("retention.ms", self.retention_ms.to_string()),
            ("retention.bytes", self.retention_bytes.to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            ("flush.messages", flush_messages),
            ("flush.ms", flush_ms),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            ("message.timestamp.type", "CreateTime".to_string()),
            ("min.insync.replicas", "1".to_string()),
            ("compression.type", "producer".to_string()),
        ];
        values
            .into_iter()
            .map(|(k, v)| {
                let is_default = !self.overrides.contains_key(k);
                let v = self.overrides.get(k).cloned().unwrap_or(v);
                (k.to_string(), v, is_default)
            })
            .collect()
    }
}

/// Kafka's topic name rule: 1-249 chars of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(LogError::InvalidTopic("topic name is empty".into()));
    }
    if name == "." || name == ".." {
        return Err(LogError::InvalidTopic(format!(
            "topic name cannot be '{name}'"
        )));
    }
    if name.len() > 249 {
        return Err(LogError::InvalidTopic(format!(
            "topic name is {} characters long, the maximum is 249",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(LogError::InvalidTopic(format!(
            "topic name '{name}' contains '{c}'; only ASCII letters, digits, '.', '_' and '-' are allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("psg-customers").is_ok());
        assert!(validate_topic_name("a.b_c-1").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("bad name").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn overrides_resolve_and_unknown_keys_fail() {
        let d = LogConfig::default();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert("flush.messages".to_string(), "1".to_string());
        let c = TopicConfig::resolve(&d, o).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.flush, FlushPolicy::EveryBatch);
        let described = c.describe();
        assert!(described
            .iter()
            .any(|(k, v, def)| k == "retention.ms" && v == "1000" && !def));
        let mut bad = BTreeMap::new();
        bad.insert("retention.mss".to_string(), "1".to_string());
        let err = TopicConfig::resolve(&d, bad).unwrap_err();
        assert!(err.to_string().contains("retention.mss"));
    }
}
