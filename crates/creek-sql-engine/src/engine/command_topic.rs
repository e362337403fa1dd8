//! The command topic: every statement that changes sources, types or
//! persistent queries is appended after it succeeds (with the session
//! properties it ran with) and replayed in order by [`Engine::recover`] on
//! start, so the metastore and the queries (and their ids) come back as they were.
//! Workers sharing one service id on a cluster share the topic: each follows it
//! ([`Engine::follow_commands`]) and runs what the others append, skipping its
//! own (a header names the engine that wrote each command).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

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
            headers: vec![(
                COMMAND_WRITER.to_string(),
                Some(bytes::Bytes::from(self.instance.clone())),
            )],
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
        if let Some(last) = records.last() {
            self.commands_read.store(last.offset + 1, Ordering::SeqCst);
        }
        for record in records {
            if self.apply_command(record).await {
                replayed += 1;
            }
        }
        self.durable.store(true, Ordering::SeqCst);
        Ok(replayed)
    }

    /// Runs one recorded command; whether it ran. A statement that worked
    /// before but fails now (e.g. its topic was deleted) is skipped, as
    /// ksqlDB does on restart.
    async fn apply_command(self: &Arc<Self>, record: creek_store::ConsumerRecord) -> bool {
        let Some(value) = record.value else {
            return false;
        };
        let Ok(command) = serde_json::from_slice::<Json>(&value) else {
            tracing::warn!("skipping an unreadable command at offset {}", record.offset);
            return false;
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
                return false;
            }
        };
        match self
            .execute_statement(&statement, &text, &mut session)
            .await
        {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("could not run {text:?}: {e}");
                false
            }
        }
    }

    /// Follows the command topic past what [`Engine::recover`] replayed, running
    /// the statements other workers of the service id append (as ksqlDB's
    /// command runner does); this engine's own are skipped, as it ran them
    /// before appending. Waits on the log's wake-up, so an idle follower costs
    /// nothing; a failed read is retried after a pause. Ends at `shutdown`.
    pub fn follow_commands(self: &Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        if !self.config.spawn_queries {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let topic = engine.command_topic();
            loop {
                let next = engine.commands_read.load(Ordering::SeqCst);
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                let position = [(0, next)];
                let waited = tokio::select! {
                    w = engine.log.wait_for_records(&topic, &position, deadline) => w,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                let fetched = match waited {
                    Ok(false) => continue,
                    Ok(true) => {
                        engine
                            .log
                            .fetch(&topic, 0, next, 1 << 20, Duration::ZERO)
                            .await
                    }
                    Err(e) => Err(e),
                };
                let records = match fetched {
                    Ok(f) => f.records,
                    Err(e) => {
                        tracing::warn!("following the command topic {topic}: {e}; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                for record in records {
                    engine
                        .commands_read
                        .store(record.offset + 1, Ordering::SeqCst);
                    let own = record.headers.iter().any(|(k, v)| {
                        k == COMMAND_WRITER && v.as_deref() == Some(engine.instance.as_bytes())
                    });
                    if !own && engine.apply_command(record).await {
                        tracing::info!("ran a statement another worker recorded");
                    }
                }
            }
        });
    }
}

/// The header naming the engine that appended a command.
const COMMAND_WRITER: &str = "creek.ksql.writer";
