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

/// Prefix of errors ksqlDB raises while building a statement from its parse
/// tree; such messages carry their own position and are shown as they are.
pub const PREPARE_FAILED: &str = "Failed to prepare statement: ";

/// Statement keywords, for "Did you mean" when a statement starts wrong.
const COMMANDS: [&str; 19] = [
    "SELECT",
    "CREATE",
    "INSERT",
    "DESCRIBE",
    "SHOW",
    "LIST",
    "PRINT",
    "EXPLAIN",
    "DROP",
    "TERMINATE",
    "PAUSE",
    "RESUME",
    "SET",
    "UNSET",
    "DEFINE",
    "UNDEFINE",
    "ALTER",
    "ASSERT",
    "DELETE",
];

impl ParseError {
    /// The reason as ksqlDB words it: ANTLR's "mismatched/extraneous input
    /// 'X' expecting SET" becomes "Unknown statement" at a statement's start,
    /// "Expecting SET" when the set is short, else "Syntax error at or near".
    fn reason(&self) -> String {
        let m = &self.message;
        let Some((head, expecting)) = m.split_once(" expecting ") else {
            return m.clone();
        };
        let Some(token) = head
            .strip_prefix("mismatched input '")
            .or_else(|| head.strip_prefix("extraneous input '"))
            .and_then(|t| t.strip_suffix('\''))
        else {
            return m.clone();
        };
        if expecting.contains("'SELECT'") && expecting.contains("'CREATE'") {
            let upper = token.to_ascii_uppercase();
            let closest = COMMANDS
                .iter()
                .min_by_key(|c| edit_distance(c, &upper))
                .unwrap_or(&"SELECT");
            return format!("Unknown statement '{token}'\nDid you mean '{closest}'?");
        }
        if token == "<EOF>" {
            return "Syntax error at or near \";\"\n'}', ']', or ')' is missing".into();
        }
        let listed = expecting.starts_with('{') || expecting.starts_with('\'');
        if listed && expecting.split(',').count() <= 3 {
            return format!("Expecting {expecting}");
        }
        format!(
            "Syntax error at or near '{token}' at line {}:{}",
            self.line, self.column
        )
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.starts_with(PREPARE_FAILED) {
            f.write_str(&self.message)
        } else if self.is_syntax_error() {
            write!(
                f,
                "line {}:{}: Syntax Error\n{}",
                self.line,
                self.column,
                self.reason()
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
