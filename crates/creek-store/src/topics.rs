//! The topics creek's services keep their state in, declared once so that the
//! server can create them all at once before the services open them.

use std::collections::BTreeMap;

use crate::{LogError, LogStore, Result};

/// A topic a service needs before it starts: its name, partition count and
/// config overrides, as the service creates it when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalTopic {
    pub name: String,
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

impl InternalTopic {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        InternalTopic {
            name: name.into(),
            partitions,
            configs: BTreeMap::new(),
        }
    }

    /// With one config override added.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.configs.insert(key.to_string(), value.to_string());
        self
    }

    /// Creates the topic unless it exists (also when another process created it
    /// a moment ago).
    pub async fn ensure(&self, store: &dyn LogStore) -> Result<()> {
        if store.describe_topic(&self.name).await.is_ok() {
            return Ok(());
        }
        match store
            .create_topic(&self.name, self.partitions, self.configs.clone())
            .await
        {
            Ok(()) | Err(LogError::TopicAlreadyExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Creates every missing topic of `topics` concurrently. On an external cluster
/// each creation waits for the brokers' metadata to show the topic; waiting for
/// all at once keeps a first start on a fresh cluster short. The first error is
/// returned with the topic it concerns.
pub async fn ensure_topics(
    store: &dyn LogStore,
    topics: &[InternalTopic],
) -> std::result::Result<(), (String, LogError)> {
    let results = futures::future::join_all(topics.iter().map(|t| t.ensure(store))).await;
    for (topic, result) in topics.iter().zip(results) {
        result.map_err(|e| (topic.name.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_adds_config_overrides() {
        let t = InternalTopic::new("_schemas", 1).with("cleanup.policy", "compact");
        assert_eq!(t.configs["cleanup.policy"], "compact");
        assert_eq!(t.partitions, 1);
    }
}
