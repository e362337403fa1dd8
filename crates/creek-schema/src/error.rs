//! Registry errors. Each carries the HTTP status and the Confluent `error_code` a
//! Confluent Schema Registry answers with, so REST clients see the bodies they expect:
//! `{"error_code": 40401, "message": "Subject 'x' not found."}`.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("Subject '{0}' not found.")]
    SubjectNotFound(String),
    #[error("Version {version} not found.")]
    VersionNotFound { subject: String, version: i32 },
    #[error("Schema {0} not found")]
    SchemaIdNotFound(i32),
    #[error("Schema not found")]
    SchemaNotFound,
    #[error("Subject '{0}' was soft deleted.Set permanent=true to delete permanently")]
    SubjectSoftDeleted(String),
    #[error("Subject '{0}' was not deleted first before being permanently deleted")]
    SubjectNotSoftDeleted(String),
    #[error(
        "Subject '{subject}' Version {version} was soft deleted.Set permanent=true to delete permanently"
    )]
    VersionSoftDeleted { subject: String, version: i32 },
    #[error(
        "Subject '{subject}' Version {version} was not deleted first before being permanently deleted"
    )]
    VersionNotSoftDeleted { subject: String, version: i32 },
    #[error("Subject '{0}' does not have subject-level compatibility configured")]
    SubjectCompatibilityNotConfigured(String),
    #[error("Subject '{0}' does not have subject-level mode configured")]
    SubjectModeNotConfigured(String),
    /// The full Confluent message ("Schema being registered is incompatible with an
    /// earlier schema for subject ..., details: [...]").
    #[error("{0}")]
    IncompatibleSchema(String),
    #[error("Invalid schema: {0}")]
    InvalidSchema(String),
    /// JSON Schema and Protobuf: recognised, refused with a clear message.
    #[error("Schema type {schema_type} is not supported yet: {what}; creek's registry supports AVRO only")]
    UnsupportedSchemaType {
        schema_type: String,
        what: &'static str,
    },
    /// A register-request feature recognised but not implemented (references, data
    /// contracts).
    #[error("{0} not supported yet; creek's registry supports self-contained AVRO schemas")]
    UnsupportedFeature(&'static str),
    #[error(
        "The specified version '{0}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
    )]
    InvalidVersion(String),
    #[error(
        "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
    )]
    InvalidCompatibilityLevel(String),
    #[error("Invalid mode {0}: creek's registry is always READWRITE (IMPORT and READONLY are not supported yet)")]
    InvalidMode(String),
    #[error("{0}")]
    OperationNotPermitted(String),
    /// A request body that is not JSON or not the expected shape.
    #[error("{0}")]
    BadRequest(String),
    /// The log's error is in the message, not a `source`: a chain printer (anyhow's
    /// `{:#}` at start-up) would print it twice.
    #[error("Error while reading or writing the _schemas log: {0}")]
    Store(creek_store::LogError),
    /// Another worker's registry took the same schema id or subject version at
    /// the same moment; the write is decided again.
    #[error("another schema registry of this cluster wrote the same id or version at the same moment; retry")]
    Raced,
}

impl RegistryError {
    /// Confluent's error code for this error.
    pub fn error_code(&self) -> i32 {
        use RegistryError::*;
        match self {
            SubjectNotFound(_) => 40401,
            VersionNotFound { .. } => 40402,
            SchemaIdNotFound(_) | SchemaNotFound => 40403,
            SubjectSoftDeleted(_) => 40404,
            SubjectNotSoftDeleted(_) => 40405,
            VersionSoftDeleted { .. } => 40406,
            VersionNotSoftDeleted { .. } => 40407,
            SubjectCompatibilityNotConfigured(_) => 40408,
            SubjectModeNotConfigured(_) => 40409,
            IncompatibleSchema(_) => 409,
            InvalidSchema(_) | UnsupportedSchemaType { .. } | UnsupportedFeature(_) => 42201,
            InvalidVersion(_) => 42202,
            InvalidCompatibilityLevel(_) => 42203,
            InvalidMode(_) => 42204,
            OperationNotPermitted(_) => 42205,
            BadRequest(_) => 400,
            Store(_) => 50001,
            Raced => 50001,
        }
    }

    /// The HTTP status Confluent pairs with the error code.
    pub fn http_status(&self) -> u16 {
        match self.error_code() {
            400 => 400,
            409 => 409,
            c if (40400..40500).contains(&c) => 404,
            c if (42200..42300).contains(&c) => 422,
            _ => 500,
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

impl From<creek_store::LogError> for RegistryError {
    fn from(e: creek_store::LogError) -> Self {
        RegistryError::Store(e)
    }
}
