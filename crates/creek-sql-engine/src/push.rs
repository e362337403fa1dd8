//! Push queries: `SELECT ... EMIT CHANGES` streamed to a client.

use std::sync::Arc;

use creek_sql::ast::Query;

use crate::engine::{Engine, Session};
use crate::EngineError;

/// A running push query: its columns and a channel of rows.
pub struct PushQuery {
    pub query_id: String,
    /// (name, type) of each column, in SELECT order.
    pub columns: Vec<(String, String)>,
    pub rows: tokio::sync::mpsc::Receiver<Vec<serde_json::Value>>,
}

/// Starts a push query.
pub async fn start(
    _engine: &Arc<Engine>,
    _query: &Query,
    _text: &str,
    _session: &Session,
) -> Result<PushQuery, EngineError> {
    Err(EngineError::NotSupported("push queries".into()))
}
