//! Helpers shared by the tests that read ksqlDB's QTT files.

pub use creek_sql::qtt_files::strip_comments;
