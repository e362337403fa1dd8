//! The processing log: records that fail to deserialize and expressions that
//! throw are written here (and to `tracing`), and the query goes on.

use parking_lot::Mutex;

/// One processing-log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessingError {
    pub query_id: String,
    pub message: String,
    pub timestamp: i64,
}

/// Collects processing errors until the engine writes them to the
/// `default_ksql_processing_log` topic.
#[derive(Default)]
pub struct ProcessingLog {
    pending: Mutex<Vec<ProcessingError>>,
}

impl ProcessingLog {
    pub fn error(&self, query_id: &str, message: &str) {
        tracing::warn!(query = query_id, "{message}");
        self.pending.lock().push(ProcessingError {
            query_id: query_id.to_string(),
            message: message.to_string(),
            timestamp: creek_log::now_ms(),
        });
    }

    /// Entries recorded since the last call.
    pub fn take(&self) -> Vec<ProcessingError> {
        std::mem::take(&mut *self.pending.lock())
    }
}
