//! The crate's error type.

/// Errors of the Connect REST API and runtime, each mapping to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// An existing path asked with a method it does not answer (HTTP 405).
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    InvalidConfig { key: String, message: String },
    #[error("{0}")]
    Task(String),
    #[error("{0}")]
    Internal(String),
    /// A part of Connect's API that creek does not have yet (HTTP 501).
    #[error("not supported yet: {0}")]
    NotSupported(String),
}
