//! creek-connect
