//! The codec's two errors: a schema that cannot become a plan ([`SchemaError`]) and a
//! body that does not match its plan ([`DecodeError`]).

use thiserror::Error;

/// Why a schema could not be compiled into a [`Node`](crate::Node).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// A valid Avro schema creek cannot decode yet (a recursive record).
    #[error("not supported yet: {0}")]
    NotSupported(String),
    /// The schema text is not a valid Avro schema, or refers to a type it never defines.
    #[error("{0}")]
    Invalid(String),
}

/// A decoding failure; boxed so that `Result`s on the hot path stay one word wider
/// than their value.
#[derive(Debug)]
pub struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug)]
struct DecodeErrorInner {
    message: String,
    /// Field names from the innermost outwards, added as the error unwinds.
    path: Vec<String>,
}

impl DecodeError {
    #[cold]
    pub fn new(message: impl Into<String>) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            message: message.into(),
            path: Vec::new(),
        }))
    }

    /// Records that the error happened inside `field`.
    #[cold]
    pub fn in_field(mut self, field: &str) -> Self {
        self.0.path.push(field.to_string());
        self
    }

    /// The message without the field path.
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.path.is_empty() {
            write!(f, "{}", self.0.message)
        } else {
            let path: Vec<&str> = self.0.path.iter().rev().map(String::as_str).collect();
            write!(f, "field {}: {}", path.join("."), self.0.message)
        }
    }
}

impl std::error::Error for DecodeError {}

/// The result of every decoding step.
pub type Decoded<T> = Result<T, DecodeError>;

// The decoders return `Decoded` for every value: keep the error one pointer wide.
const _: () = assert!(std::mem::size_of::<DecodeError>() == std::mem::size_of::<usize>());
