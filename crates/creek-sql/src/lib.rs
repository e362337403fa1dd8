//! creek-sql: lexer, syntax tree and parser for ksqlDB's SQL dialect.
//!
//! Data flow: SQL text → [`lexer::tokens`] (a `Vec<Token>`, each with a
//! 1-based line and column) → [`parser::parse_statements`] (hand-written
//! recursive descent) → [`ast::Statement`]s.
//!
//! Principal types:
//! - [`ast::Statement`]: one ksqlDB statement (CREATE STREAM/TABLE, CSAS/CTAS,
//!   INSERT, SELECT, SHOW/LIST, DESCRIBE, PRINT, DROP, TERMINATE, SET, ...).
//! - [`ast::Query`]: a `SELECT` with its `FROM` [`ast::Relation`] (joins),
//!   window, filters, grouping and `EMIT`.
//! - [`ast::Expr`]: expressions with ksqlDB's precedence
//!   (OR < AND < NOT < predicates < `||` < `+ -` < `* / %` < unary < `->`/`[]`).
//! - [`ast::Type`]: SQL types, including `ARRAY`, `MAP`, `STRUCT` and custom names.
//! - [`ParseError`]: `line L:C: message`, like ksqlDB's errors.
//! - [`ParsedStatement`] (from [`parse_script`]): a statement with its source
//!   text, for ksqlDB's `statementText`.
//!
//! Every AST type implements `Display` ([`display`]), printing SQL that parses
//! back to the same tree (identifiers backquoted, expressions parenthesized);
//! the QTT conformance test checks this for every statement.
//!
//! Hostile input gets errors, not stack overflows: parser recursion is capped
//! at 64 levels and expression trees (operator chains, joins) at 500.

pub mod ast;
pub mod cast;
pub mod display;
pub mod error;
pub mod expr;
pub mod functions;
pub mod lexer;
pub mod parser;
pub mod types;
pub mod value;

pub use error::ParseError;
pub use parser::{
    parse_expression, parse_script, parse_statement, parse_statements, ParsedStatement,
};
