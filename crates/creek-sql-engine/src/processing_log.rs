//! The processing log: records that fail to deserialize, expressions that
//! throw and rows that fail to serialize are logged here and the query goes
//! on. The engine writes the entries to the `<service id>ksql_processing_log`
//! topic (`default_ksql_processing_log`), read by the `KSQL_PROCESSING_LOG`
//! stream, in ksqlDB's message shape.

use parking_lot::Mutex;
use serde_json::{json, Value as Json};

/// What failed, as ksqlDB's `MESSAGE->TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Deserialization = 0,
    RecordProcessing = 1,
    Serialization = 3,
}

/// One processing-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingError {
    pub query_id: String,
    pub kind: ErrorKind,
    pub message: String,
    pub topic: Option<String>,
    pub timestamp: i64,
}

impl ProcessingError {
    /// The entry as ksqlDB writes it to the processing-log topic.
    pub fn to_json(&self) -> Json {
        let mut message = json!({
            "type": self.kind as i32,
            "deserializationError": null,
            "recordProcessingError": null,
            "productionError": null,
            "serializationError": null,
            "kafkaStreamsThreadError": null,
        });
        let (field, body) = match self.kind {
            ErrorKind::Deserialization => (
                "deserializationError",
                json!({"target": "value", "errorMessage": self.message, "recordB64": null, "cause": [], "topic": self.topic}),
            ),
            ErrorKind::RecordProcessing => (
                "recordProcessingError",
                json!({"errorMessage": self.message, "record": null, "cause": []}),
            ),
            ErrorKind::Serialization => (
                "serializationError",
                json!({"target": "value", "errorMessage": self.message, "record": null, "cause": [], "topic": self.topic}),
            ),
        };
        message[field] = body;
        json!({
            "LOGGER": format!("processing.{}", self.query_id),
            "LEVEL": "ERROR",
            "TIME": self.timestamp,
            "MESSAGE": message,
        })
    }
}

/// The `KSQL_PROCESSING_LOG` stream's columns.
pub const PROCESSING_LOG_COLUMNS: &str = "LOGGER STRING, LEVEL STRING, TIME BIGINT, \
    MESSAGE STRUCT<`type` INT, \
    `deserializationError` STRUCT<`target` STRING, `errorMessage` STRING, `recordB64` STRING, `cause` ARRAY<STRING>, `topic` STRING>, \
    `recordProcessingError` STRUCT<`errorMessage` STRING, `record` STRING, `cause` ARRAY<STRING>>, \
    `productionError` STRUCT<`errorMessage` STRING>, \
    `serializationError` STRUCT<`target` STRING, `errorMessage` STRING, `record` STRING, `cause` ARRAY<STRING>, `topic` STRING>, \
    `kafkaStreamsThreadError` STRUCT<`errorMessage` STRING, `threadName` STRING, `cause` ARRAY<STRING>>>";

/// Collects processing errors until the engine writes them out.
#[derive(Default)]
pub struct ProcessingLog {
    pending: Mutex<Vec<ProcessingError>>,
}

impl ProcessingLog {
    pub fn error(&self, query_id: &str, message: &str) {
        self.record(query_id, ErrorKind::RecordProcessing, None, message);
    }

    pub fn record(&self, query_id: &str, kind: ErrorKind, topic: Option<&str>, message: &str) {
        tracing::warn!(query = query_id, "{message}");
        let mut pending = self.pending.lock();
        // Bounded: a flood of bad records must not grow memory without limit.
        if pending.len() < 10_000 {
            pending.push(ProcessingError {
                query_id: query_id.to_string(),
                kind,
                message: message.to_string(),
                topic: topic.map(str::to_string),
                timestamp: creek_store::now_ms(),
            });
        }
    }

    /// Entries recorded since the last call.
    pub fn take(&self) -> Vec<ProcessingError> {
        std::mem::take(&mut *self.pending.lock())
    }
}
