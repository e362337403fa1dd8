//! creek-sql-engine: runs ksqlDB statements over creek's log.
//!
//! Principal types and how data flows through them:
//! - [`format`]: serializers and deserializers for the key and value formats
//!   (KAFKA, JSON, AVRO through the registry, DELIMITED, NONE), turning
//!   record bytes into rows of [`creek_sql::value::Value`]s and back.

pub mod format;
