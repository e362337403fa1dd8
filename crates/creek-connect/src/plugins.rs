//! The connector plugins this worker can run, looked up by class name or alias as
//! Kafka Connect does (full class, simple class name, or creek's short alias).

use std::collections::BTreeMap;

use crate::config::{ConfigProblem, KeyTable};
use crate::{jdbc, s3sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    JdbcSource,
    S3Sink,
}

pub const ALL: &[Plugin] = &[Plugin::JdbcSource, Plugin::S3Sink];

impl Plugin {
    pub fn class(self) -> &'static str {
        match self {
            Plugin::JdbcSource => jdbc::CLASS,
            Plugin::S3Sink => s3sink::CLASS,
        }
    }

    fn aliases(self) -> &'static [&'static str] {
        match self {
            Plugin::JdbcSource => &["JdbcSourceConnector", "JdbcSource"],
            Plugin::S3Sink => &["S3SinkConnector", "S3Sink", "LakeSink"],
        }
    }

    /// "source" or "sink".
    pub fn kind(self) -> &'static str {
        match self {
            Plugin::JdbcSource => "source",
            Plugin::S3Sink => "sink",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Plugin::JdbcSource => jdbc::VERSION,
            Plugin::S3Sink => s3sink::VERSION,
        }
    }

    pub fn find(class: &str) -> Option<Plugin> {
        ALL.iter()
            .copied()
            .find(|p| p.class() == class || p.aliases().contains(&class))
    }

    /// The connector's key table (Connect's keys and the connector's own).
    pub fn config_keys(self) -> KeyTable {
        match self {
            Plugin::JdbcSource => jdbc::config_keys(),
            Plugin::S3Sink => s3sink::config_keys(),
        }
    }

    /// Cross-key rules and checks against the outside world (the database, the
    /// bucket), after `config::check` accepted keys and types.
    pub async fn validate(self, config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
        match self {
            Plugin::JdbcSource => match jdbc::JdbcSourceConfig::parse(config) {
                Ok(parsed) => jdbc::validate_against_database(&parsed).await,
                Err(p) => p,
            },
            Plugin::S3Sink => match s3sink::S3SinkConfig::parse(config) {
                Ok(parsed) => s3sink::validate_destination(&parsed).await,
                Err(p) => p,
            },
        }
    }

    /// Warnings that depend on several keys (on top of `config::check`'s).
    pub fn warnings(self, config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
        match self {
            Plugin::JdbcSource => Vec::new(),
            Plugin::S3Sink => s3sink::warnings(config),
        }
    }
}

/// Every key of every plugin: for masking configs of all kinds.
pub fn all_keys() -> KeyTable {
    let mut all = KeyTable {
        keys: Vec::new(),
        prefixes: Vec::new(),
    };
    for p in ALL {
        let t = p.config_keys();
        all.keys.extend(t.keys);
        all.prefixes.extend(t.prefixes);
    }
    all
}
