//! Parse errors, formatted like ksqlDB's: `line 1:8: Syntax Error` followed by
//! the parser's reason (`mismatched input 'FORM' expecting ...`), or for
//! checks made while parsing (`Column `ID` is a 'KEY' column ...`) ksqlDB's
//! `Line: 1, Col: 21: ...` form.

use std::fmt;

/// A lexing or parsing failure at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ParseError {
    pub fn new(line: u32, column: u32, message: impl Into<String>) -> Self {
        ParseError {
            line,
            column,
            message: message.into(),
        }
    }

    /// Whether the grammar rejected the text (as opposed to a check on
    /// well-formed text).
    pub fn is_syntax_error(&self) -> bool {
        const SYNTAX: [&str; 8] = [
            "mismatched input",
            "extraneous input",
            "missing ",
            "no viable alternative",
            "token recognition error",
            "unterminated",
            "expecting",
            "Syntax error",
        ];
        SYNTAX.iter().any(|s| self.message.contains(s))
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_syntax_error() {
            write!(
                f,
                "line {}:{}: Syntax Error\n{}",
                self.line, self.column, self.message
            )
        } else {
            write!(
                f,
                "Line: {}, Col: {}: {}",
                self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for ParseError {}
