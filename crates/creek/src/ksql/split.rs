//! Splitting CLI input into statements.
//!
//! A statement ends at a `;` that is outside quotes (`'...'`, `"..."`, `` `...` ``)
//! and outside comments (`-- ...` to the end of the line, `/* ... */`). Comments are
//! removed from the statements handed on; text inside quotes is kept as typed.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Normal,
    Single,
    Double,
    Backtick,
    LineComment,
    BlockComment,
}

/// The result of scanning some input.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Complete statements, comments removed, trimmed, each ending with its `;`.
    pub statements: Vec<String>,
    /// Text after the last complete statement (comments removed, trimmed). Empty
    /// when the input ends with a complete statement (or only whitespace/comments).
    pub rest: String,
    /// The input ends inside a quote or a block comment.
    pub open: bool,
}

impl Split {
    /// True when the input holds nothing unfinished (it may still hold no statement).
    pub fn is_complete(&self) -> bool {
        self.rest.is_empty() && !self.open
    }
}

/// Scan `text` into statements.
pub fn split_statements(text: &str) -> Split {
    let mut out = Split::default();
    let mut current = String::new();
    let mut state = State::Normal;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match state {
            State::Normal => match c {
                '\'' => {
                    state = State::Single;
                    current.push(c);
                }
                '"' => {
                    state = State::Double;
                    current.push(c);
                }
                '`' => {
                    state = State::Backtick;
                    current.push(c);
                }
                '-' if chars.peek() == Some(&'-') => {
                    chars.next();
                    state = State::LineComment;
                }
                '/' if chars.peek() == Some(&'*') => {
                    chars.next();
                    state = State::BlockComment;
                    current.push(' ');
                }
                ';' => {
                    current.push(';');
                    let stmt = current.trim();
                    if stmt != ";" {
                        out.statements.push(stmt.to_string());
                    }
                    current.clear();
                }
                _ => current.push(c),
            },
            State::Single | State::Double | State::Backtick => {
                current.push(c);
                let close = match state {
                    State::Single => '\'',
                    State::Double => '"',
                    _ => '`',
                };
                // A doubled quote ('' in a string) closes and reopens: same result.
                if c == close {
                    state = State::Normal;
                }
            }
            State::LineComment => {
                if c == '\n' {
                    state = State::Normal;
                    current.push('\n');
                }
            }
            State::BlockComment => {
                if c == '*' && chars.peek() == Some(&'/') {
                    chars.next();
                    state = State::Normal;
                }
            }
        }
    }
    out.open = matches!(
        state,
        State::Single | State::Double | State::Backtick | State::BlockComment
    );
    out.rest = current.trim().to_string();
    out
}

/// The words of a statement, upper-cased, for classification (quotes kept whole).
pub fn leading_words(stmt: &str, n: usize) -> Vec<String> {
    stmt.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(n)
        .map(|w| w.to_ascii_uppercase())
        .collect()
}

/// Tokens of a small statement such as `SET 'a' = 'b'` or `DEFINE x = 'y'`:
/// words, `=`, and single-quoted strings (unquoted, `''` unescaped).
pub fn tokens(stmt: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let body = stmt.trim().trim_end_matches(';');
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '=' {
            chars.next();
            out.push(Token::Eq);
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => s.push(ch),
                    None => return Err("unterminated string literal".into()),
                }
            }
            out.push(Token::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '=' || ch == '\'' {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            out.push(Token::Word(w));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Word(String),
    Str(String),
    Eq,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons() {
        let s = split_statements("SHOW STREAMS; show tables;\n  LIST TOPICS;");
        assert_eq!(
            s.statements,
            ["SHOW STREAMS;", "show tables;", "LIST TOPICS;"]
        );
        assert!(s.is_complete());
    }

    #[test]
    fn semicolons_in_quotes_do_not_split() {
        let s = split_statements(
            "INSERT INTO s VALUES ('a;b', 'it''s;'); SELECT `x;y`, \"q;r\" FROM t;",
        );
        assert_eq!(
            s.statements,
            [
                "INSERT INTO s VALUES ('a;b', 'it''s;');",
                "SELECT `x;y`, \"q;r\" FROM t;"
            ]
        );
    }

    #[test]
    fn comments_are_removed_and_do_not_split() {
        let s = split_statements("-- a comment; still\nSHOW /* x; y */ STREAMS; -- tail;\n");
        assert_eq!(s.statements, ["SHOW   STREAMS;"]);
        assert!(s.is_complete());
        // `--` inside a string is not a comment.
        let s = split_statements("SELECT '--;' FROM t;");
        assert_eq!(s.statements, ["SELECT '--;' FROM t;"]);
    }

    #[test]
    fn incomplete_input() {
        let s = split_statements("SELECT *\nFROM t");
        assert!(s.statements.is_empty());
        assert_eq!(s.rest, "SELECT *\nFROM t");
        assert!(!s.is_complete());

        let s = split_statements("INSERT INTO s VALUES ('a;");
        assert!(s.statements.is_empty());
        assert!(s.open && !s.is_complete());

        let s = split_statements("SHOW STREAMS; /* open comment");
        assert_eq!(s.statements, ["SHOW STREAMS;"]);
        assert!(s.open);

        let s = split_statements("SHOW STREAMS; SHOW");
        assert_eq!(s.statements, ["SHOW STREAMS;"]);
        assert_eq!(s.rest, "SHOW");
    }

    #[test]
    fn empty_statements_are_dropped() {
        let s = split_statements(" ; ;SHOW TOPICS;;");
        assert_eq!(s.statements, ["SHOW TOPICS;"]);
        assert!(split_statements("  -- only a comment").is_complete());
    }

    #[test]
    fn classifies_by_leading_words() {
        assert_eq!(leading_words("select*from t;", 2), ["SELECT", "FROM"]);
        assert_eq!(
            leading_words("  show\nvariables;", 3),
            ["SHOW", "VARIABLES"]
        );
        assert_eq!(leading_words("RUN SCRIPT '/x.sql';", 2), ["RUN", "SCRIPT"]);
    }

    #[test]
    fn tokenizes_set_and_define() {
        assert_eq!(
            tokens("SET 'auto.offset.reset'='earliest';").unwrap(),
            [
                Token::Word("SET".into()),
                Token::Str("auto.offset.reset".into()),
                Token::Eq,
                Token::Str("earliest".into())
            ]
        );
        assert_eq!(
            tokens("DEFINE x = 'it''s';").unwrap(),
            [
                Token::Word("DEFINE".into()),
                Token::Word("x".into()),
                Token::Eq,
                Token::Str("it's".into())
            ]
        );
        assert!(tokens("SET 'a' = 'b").is_err());
    }
}
