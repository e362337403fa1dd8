//! The crate's one error type: every message is meant to be shown as is in a
//! connector's `/status` trace, so each names the key, field or object involved.

/// Why a file could not be built or an object could not be stored.
#[derive(thiserror::Error, Debug)]
pub enum LakeError {
    /// A format or store setting has a value creek does not accept.
    #[error("invalid value {value:?} for {key}: {reason}")]
    Config {
        key: &'static str,
        value: String,
        reason: String,
    },
    /// A valid setting, schema or value that creek cannot handle yet.
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// A record could not be turned into the file's format (bad Avro body, a value
    /// the format cannot hold, ...). The caller adds topic, partition and offset.
    #[error("cannot convert the record: {0}")]
    Convert(String),
    /// The record was written with another schema than the records already in
    /// the file; the sink rotates the file before appending it.
    #[error("the record has schema id {got} but this file holds schema id {expected}: the file must be rotated first")]
    SchemaChanged { expected: i32, got: i32 },
    /// `finish` on a file that never received a record and so has no schema.
    #[error("cannot finish an empty {0} file: it has no records and so no schema")]
    Empty(&'static str),
    /// Arrow or Parquet refused to encode the data.
    #[error("cannot encode the {format} file: {message}")]
    Encode {
        format: &'static str,
        message: String,
    },
    /// `store.url` or the bucket name cannot be used.
    #[error("invalid destination {value:?}: {reason}")]
    Destination { value: String, reason: String },
    /// The object store refused or failed an operation.
    #[error("{op} {location} failed: {message}")]
    Store {
        op: &'static str,
        location: String,
        message: String,
        #[source]
        source: Option<Box<object_store::Error>>,
    },
}

impl LakeError {
    pub(crate) fn convert(message: impl Into<String>) -> Self {
        LakeError::Convert(message.into())
    }

    pub(crate) fn not_supported(message: impl Into<String>) -> Self {
        LakeError::NotSupported(message.into())
    }

    pub(crate) fn encode(format: &'static str, err: impl std::fmt::Display) -> Self {
        LakeError::Encode {
            format,
            message: err.to_string(),
        }
    }
}
