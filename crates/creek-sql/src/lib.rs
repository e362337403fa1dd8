//! creek-sql: ksqlDB's SQL language — parser, types, values, expressions and
//! the scalar function library. No I/O: the engine (`creek-sql-engine`) runs it.
//!
//! Data flow: SQL text → [`lexer::tokens`] (a `Vec<Token>`, each with a
//! 1-based line and column) → [`parser::parse_statements`] (hand-written
//! recursive descent) → [`ast::Statement`]s. Expressions of a query are then
//! type-checked against the columns they see ([`expr::Scope`]) by
//! [`expr::compile`], which resolves function calls once
//! ([`functions::FunctionRegistry`]); the [`expr::CompiledExpr`] is evaluated
//! per row on a slice of [`value::Value`]s.
//!
//! Principal types:
//! - [`ast::Statement`]: one ksqlDB statement (CREATE STREAM/TABLE, CSAS/CTAS,
//!   INSERT, SELECT, SHOW/LIST, DESCRIBE, PRINT, DROP, TERMINATE, SET, ...).
//! - [`ast::Query`]: a `SELECT` with its `FROM` [`ast::Relation`] (joins),
//!   window, filters, grouping and `EMIT`.
//! - [`ast::Expr`]: expressions with ksqlDB's precedence
//!   (OR < AND < NOT < predicates < `||` < `+ -` < `* / %` < unary < `->`/`[]`).
//! - [`ast::Type`]: SQL types, including `ARRAY`, `MAP`, `STRUCT` and custom names.
//! - [`ParseError`]: `line L:C: Syntax Error ...`, like ksqlDB's errors.
//! - [`types::SqlType`] and [`value::Value`] (exact [`value::Decimal`]s).
//! - [`expr::CompiledExpr`]: operators, CASE, CAST ([`cast`]), LIKE, IN,
//!   lambdas (TRANSFORM, FILTER, REDUCE), constructors; a function that throws
//!   gives NULL and its error is collected for the processing log.
//! - [`functions::ScalarFunction`]: string, math, date/time (Java patterns,
//!   zone ids), JSON, array/map, URL and bytes functions.
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
pub mod mask;
pub mod parser;
pub mod qtt_files;
pub mod types;
pub mod value;
pub mod variables;

pub use error::{ParseError, PREPARE_FAILED};
pub use parser::{
    parse_expression, parse_script, parse_statement, parse_statements, ParsedStatement,
};
