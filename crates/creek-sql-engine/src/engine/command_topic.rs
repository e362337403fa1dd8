//! The command topic: every statement that changes sources, types or
//! persistent queries is appended after it succeeds (with the session
//! properties it ran with) and replayed in order by [`Engine::recover`] on
//! start, so the metastore and the queries (and their ids) come back as they were.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use creek_sql::ast::Statement;
use creek_store::ProducerRecord;
use serde_json::{json, Value as Json};

use crate::EngineError;

use super::{Engine, Session};

/// Statements that change what the engine knows or runs, kept in the command topic.
pub(super) fn is_durable(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::CreateSource { .. }
            | Statement::CreateAsSelect { .. }
            | Statement::InsertInto { .. }
            | Statement::Drop { .. }
            | Statement::Terminate(_)
            | Statement::CreateType { .. }
            | Statement::DropType { .. }
    )
}

impl Engine {
    /// The command topic: every statement that changes the metastore or the
    /// set of persistent queries, in order, with the session properties it ran with.
    pub fn command_topic(&self) -> String {
        self.config.command_topic()
    }

    pub(super) async fn append_command(
        &self,
        text: &str,
        session: &Session,
    ) -> Result<(), EngineError> {
        let command = json!({
            "statement": text,
            "streamsProperties": session.properties,
        });
        let record = ProducerRecord {
            key: None,
            value: Some(bytes::Bytes::from(command.to_string())),
            headers: Vec::new(),
            timestamp: None,
        };
        self.log
            .produce(&self.command_topic(), 0, vec![record])
            .await
            .map_err(|e| EngineError::Log(format!("recording the statement: {e}")))?;
        Ok(())
    }

    /// Replays the command topic, so sources, types and persistent queries
    /// come back (queries resume from their committed offsets), then records
    /// every new statement there. Returns the number of statements replayed.
    pub async fn recover(self: &Arc<Self>) -> Result<usize, EngineError> {
        let topic = self.command_topic();
        let [command_topic, _] = self.config.internal_topics();
        command_topic
            .ensure(self.log.as_ref())
            .await
            .map_err(|e| EngineError::Log(e.to_string()))?;
        let mut replayed = 0;
        // Read first, then apply: applying a statement awaits.
        let mut records = Vec::new();
        crate::fetch::read_partition(self.log.as_ref(), &topic, 0, 0, None, |r| records.push(r))
            .await?;
        for record in records {
            let Some(value) = record.value else { continue };
            let Ok(command) = serde_json::from_slice::<Json>(&value) else {
                tracing::warn!("skipping an unreadable command at offset {}", record.offset);
                continue;
            };
            let text = command["statement"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut session = Session::default();
            if let Some(props) = command["streamsProperties"].as_object() {
                for (k, v) in props {
                    session
                        .properties
                        .insert(k.clone(), v.as_str().unwrap_or_default().to_string());
                }
            }
            let statement = match creek_sql::parse_statement(&text) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("skipping command {text:?}: {e}");
                    continue;
                }
            };
            // A statement that worked before but fails now (e.g. its topic
            // was deleted) is skipped, as ksqlDB does on restart.
            match self
                .execute_statement(&statement, &text, &mut session)
                .await
            {
                Ok(_) => replayed += 1,
                Err(e) => tracing::warn!("could not restore {text:?}: {e}"),
            }
        }
        self.durable.store(true, Ordering::SeqCst);
        Ok(replayed)
    }
}
