//! creek-pg
