//! creek-schema
