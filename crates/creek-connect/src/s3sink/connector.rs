//! The lake (S3) sink as a Connect connector class.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::task::S3SinkTask;
use super::{config_keys, validate_destination, warnings, S3SinkConfig, VERSION};
use crate::config::{ConfigProblem, KeyTable};
use crate::connector::{numbered_task_configs, Connector, ConnectorKind, Task};

/// The registry's constructor.
pub fn create() -> Box<dyn Connector> {
    Box::<S3SinkConnector>::default()
}

/// The connector class: checks configs and the destination; tasks.max tasks
/// share the topic-partitions the runtime assigns.
#[derive(Default)]
pub struct S3SinkConnector {
    config: BTreeMap<String, String>,
    parsed: Option<S3SinkConfig>,
}

#[async_trait]
impl Connector for S3SinkConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Sink
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn config_keys(&self) -> KeyTable {
        config_keys()
    }
    fn warnings(&self, config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
        warnings(config)
    }
    async fn validate(&self, config: &BTreeMap<String, String>) -> Vec<ConfigProblem> {
        match S3SinkConfig::parse(config) {
            Ok(parsed) => validate_destination(&parsed).await,
            Err(p) => p,
        }
    }
    fn start(&mut self, config: &BTreeMap<String, String>) -> Result<(), Vec<ConfigProblem>> {
        self.parsed = Some(S3SinkConfig::parse(config)?);
        self.config = config.clone();
        Ok(())
    }
    async fn task_configs(&self, max_tasks: usize) -> Vec<BTreeMap<String, String>> {
        numbered_task_configs(&self.config, max_tasks)
    }
    fn task(&self, _task_config: &BTreeMap<String, String>) -> Task {
        let parsed = self.parsed.clone().expect("started");
        Task::Sink(Box::new(S3SinkTask::new(parsed)))
    }
}
