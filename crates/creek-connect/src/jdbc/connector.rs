//! The JDBC source as a Connect connector class.

use std::time::Duration;

use async_trait::async_trait;

use super::task::JdbcSourceTask;
use super::{config_keys, discover_tables, validate_against_database, JdbcSourceConfig, VERSION};
use crate::config::{ConfigProblem, KeyTable};
use crate::connector::{numbered_task_configs, Config, Connector, ConnectorKind, Task};

/// The registry's constructor.
pub fn create() -> Box<dyn Connector> {
    Box::<JdbcSourceConnector>::default()
}

/// The connector class: checks configs, counts tasks by the tables it finds.
#[derive(Default)]
pub struct JdbcSourceConnector {
    config: Config,
    parsed: Option<JdbcSourceConfig>,
}

#[async_trait]
impl Connector for JdbcSourceConnector {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Source
    }
    fn version(&self) -> &'static str {
        VERSION
    }
    fn config_keys(&self) -> KeyTable {
        config_keys()
    }
    async fn validate(&self, config: &Config) -> Vec<ConfigProblem> {
        match JdbcSourceConfig::parse(config) {
            Ok(parsed) => validate_against_database(&parsed).await,
            Err(p) => p,
        }
    }
    fn start(&mut self, config: &Config) -> Result<(), Vec<ConfigProblem>> {
        self.parsed = Some(JdbcSourceConfig::parse(config)?);
        self.config = config.clone();
        Ok(())
    }
    /// Confluent runs min(tasks.max, tables) tasks (one for a query); the tables
    /// are counted when the database answers, else tasks.max start. Every task
    /// gets the whole config and picks its tables by hash (`task::task_for`), so
    /// tables do not move between tasks as others appear.
    async fn task_configs(&self, max_tasks: usize) -> Vec<Config> {
        let parsed = self.parsed.as_ref().expect("started");
        let count = if parsed.query.is_some() {
            1
        } else {
            let tables = match tokio::time::timeout(Duration::from_secs(3), parsed.connect()).await
            {
                Ok(Ok(client)) => discover_tables(&client, parsed).await.map(|t| t.len()).ok(),
                _ => None,
            };
            match tables {
                Some(n) => max_tasks.min(n.max(1)),
                None => max_tasks,
            }
        };
        numbered_task_configs(&self.config, count)
    }
    fn task(&self, _task_config: &Config) -> Task {
        let parsed = self.parsed.clone().expect("started");
        Task::Source(Box::new(JdbcSourceTask::new(parsed)))
    }
}
