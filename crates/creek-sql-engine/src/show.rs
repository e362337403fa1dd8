//! Metadata statements: SHOW/LIST, DESCRIBE, EXPLAIN, PRINT, connectors,
//! asserts. Each returns ksqlDB's REST entity for the statement.

use std::sync::Arc;

use creek_sql::ast::Statement;
use serde_json::Value as Json;

use crate::engine::{statement_kind, Engine, Session};
use crate::EngineError;

/// Executes a statement the core engine does not handle itself.
pub async fn execute(
    _engine: &Arc<Engine>,
    statement: &Statement,
    _text: &str,
    _session: &mut Session,
) -> Result<Json, EngineError> {
    Err(EngineError::NotSupported(
        statement_kind(statement).to_string(),
    ))
}
