//! Lexer: SQL text to [`Token`]s, each with a 1-based line and column.
//!
//! Unquoted identifiers are upper-cased (ksqlDB is case-insensitive for them);
//! backquoted (`` `x` ``) and double-quoted identifiers keep their case.

use crate::error::ParseError;

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Punct {
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Eq,
    /// `!=` or `<>`
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    /// `||`
    Concat,
    /// `->`
    Arrow,
    /// `=>`
    FatArrow,
    /// `:=`
    Assign,
    Dot,
    Comma,
    Semi,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
}

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// An identifier or keyword; `value` is upper-cased unless `quoted`.
    Ident {
        value: String,
        quoted: bool,
    },
    /// A `'...'` string literal, with `''` unescaped.
    Str(String),
    /// An integer literal (digits only).
    Integer(String),
    /// A decimal literal with a `.` but no exponent.
    Decimal(String),
    /// A floating-point literal with an exponent.
    Float(String),
    /// `${name}`
    Variable(String),
    Punct(Punct),
    Eof,
}

/// A token with its source text and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// The token exactly as written (`<EOF>` for the end).
    pub text: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Byte offset of the token's start in the source.
    pub offset: usize,
}

impl Token {
    /// Byte offset just past the token.
    pub fn end(&self) -> usize {
        self.offset + self.text.len()
    }
}

struct Lexer<'a> {
    src: &'a str,
    chars: Vec<(usize, char)>,
    pos: usize,
    line: u32,
    column: u32,
}

impl Lexer<'_> {
    fn peek(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).map(|&(_, c)| c)
    }

    fn offset(&self) -> usize {
        self.chars
            .get(self.pos)
            .map(|&(o, _)| o)
            .unwrap_or(self.src.len())
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '@'
}

/// Splits `src` into tokens, ending with a [`TokenKind::Eof`] token.
pub fn tokens(src: &str) -> Result<Vec<Token>, ParseError> {
    let mut lx = Lexer {
        src,
        chars: src.char_indices().collect(),
        pos: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        // Skip whitespace and comments.
        loop {
            match (lx.peek(0), lx.peek(1)) {
                (Some(c), _) if c.is_whitespace() => {
                    lx.bump();
                }
                (Some('-'), Some('-')) => {
                    while let Some(c) = lx.peek(0) {
                        if c == '\n' {
                            break;
                        }
                        lx.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    let (line, column) = (lx.line, lx.column);
                    lx.bump();
                    lx.bump();
                    loop {
                        match (lx.peek(0), lx.peek(1)) {
                            (Some('*'), Some('/')) => {
                                lx.bump();
                                lx.bump();
                                break;
                            }
                            (Some(_), _) => {
                                lx.bump();
                            }
                            (None, _) => {
                                return Err(ParseError::new(line, column, "unterminated comment"))
                            }
                        }
                    }
                }
                _ => break,
            }
        }
        let (line, column, start) = (lx.line, lx.column, lx.offset());
        let Some(c) = lx.peek(0) else {
            out.push(Token {
                kind: TokenKind::Eof,
                text: "<EOF>".into(),
                line,
                column,
                offset: src.len(),
            });
            return Ok(out);
        };
        let kind = if is_ident_start(c) {
            while lx.peek(0).is_some_and(is_ident_part) {
                lx.bump();
            }
            TokenKind::Ident {
                value: src[start..lx.offset()].to_uppercase(),
                quoted: false,
            }
        } else if c == '`' || c == '"' {
            lx.bump();
            let mut value = String::new();
            loop {
                match lx.bump() {
                    Some(q) if q == c => {
                        if lx.peek(0) == Some(c) {
                            lx.bump();
                            value.push(c);
                        } else {
                            break;
                        }
                    }
                    Some(ch) => value.push(ch),
                    None => {
                        return Err(ParseError::new(
                            line,
                            column,
                            "unterminated quoted identifier",
                        ))
                    }
                }
            }
            TokenKind::Ident {
                value,
                quoted: true,
            }
        } else if c == '\'' {
            lx.bump();
            let mut value = String::new();
            loop {
                match lx.bump() {
                    Some('\'') => {
                        if lx.peek(0) == Some('\'') {
                            lx.bump();
                            value.push('\'');
                        } else {
                            break;
                        }
                    }
                    Some(ch) => value.push(ch),
                    None => {
                        return Err(ParseError::new(line, column, "unterminated string literal"))
                    }
                }
            }
            TokenKind::Str(value)
        } else if c.is_ascii_digit() || (c == '.' && lx.peek(1).is_some_and(|d| d.is_ascii_digit()))
        {
            let mut decimal = false;
            let mut float = false;
            while lx.peek(0).is_some_and(|d| d.is_ascii_digit()) {
                lx.bump();
            }
            if lx.peek(0) == Some('.') && lx.peek(1).is_none_or(|d| !is_ident_start(d)) {
                decimal = true;
                lx.bump();
                while lx.peek(0).is_some_and(|d| d.is_ascii_digit()) {
                    lx.bump();
                }
            }
            if matches!(lx.peek(0), Some('e' | 'E'))
                && (lx.peek(1).is_some_and(|d| d.is_ascii_digit())
                    || (matches!(lx.peek(1), Some('+' | '-'))
                        && lx.peek(2).is_some_and(|d| d.is_ascii_digit())))
            {
                float = true;
                lx.bump();
                lx.bump();
                while lx.peek(0).is_some_and(|d| d.is_ascii_digit()) {
                    lx.bump();
                }
            }
            if !decimal && !float && lx.peek(0).is_some_and(is_ident_start) {
                // A digit identifier such as `1R` (ksqlDB's DIGIT_IDENTIFIER).
                while lx.peek(0).is_some_and(is_ident_part) {
                    lx.bump();
                }
                let value = src[start..lx.offset()].to_uppercase();
                out.push(Token {
                    kind: TokenKind::Ident {
                        value,
                        quoted: false,
                    },
                    text: src[start..lx.offset()].to_string(),
                    line,
                    column,
                    offset: start,
                });
                continue;
            }
            let text = src[start..lx.offset()].to_string();
            if float {
                TokenKind::Float(text)
            } else if decimal {
                TokenKind::Decimal(text)
            } else {
                TokenKind::Integer(text)
            }
        } else if c == '$' && lx.peek(1) == Some('{') {
            lx.bump();
            lx.bump();
            let name_start = lx.offset();
            while lx.peek(0).is_some_and(|ch| ch != '}') {
                lx.bump();
            }
            if lx.peek(0).is_none() {
                return Err(ParseError::new(
                    line,
                    column,
                    "unterminated variable reference",
                ));
            }
            let name = src[name_start..lx.offset()].trim().to_string();
            lx.bump();
            TokenKind::Variable(name)
        } else {
            use Punct::*;
            let two = (c, lx.peek(1));
            let (p, len) = match two {
                ('!', Some('=')) | ('<', Some('>')) => (Neq, 2),
                ('<', Some('=')) => (Le, 2),
                ('>', Some('=')) => (Ge, 2),
                ('|', Some('|')) => (Concat, 2),
                ('-', Some('>')) => (Arrow, 2),
                ('=', Some('>')) => (FatArrow, 2),
                (':', Some('=')) => (Assign, 2),
                ('+', _) => (Plus, 1),
                ('-', _) => (Minus, 1),
                ('*', _) => (Star, 1),
                ('/', _) => (Slash, 1),
                ('%', _) => (Percent, 1),
                ('=', _) => (Eq, 1),
                ('<', _) => (Lt, 1),
                ('>', _) => (Gt, 1),
                ('.', _) => (Dot, 1),
                (',', _) => (Comma, 1),
                (';', _) => (Semi, 1),
                ('(', _) => (LParen, 1),
                (')', _) => (RParen, 1),
                ('[', _) => (LBracket, 1),
                (']', _) => (RBracket, 1),
                (':', _) => (Colon, 1),
                _ => {
                    return Err(ParseError::new(
                        line,
                        column,
                        format!("token recognition error at: '{c}'"),
                    ))
                }
            };
            for _ in 0..len {
                lx.bump();
            }
            TokenKind::Punct(p)
        };
        out.push(Token {
            kind,
            text: src[start..lx.offset()].to_string(),
            line,
            column,
            offset: start,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<TokenKind> {
        tokens(s).unwrap().into_iter().map(|t| t.kind).collect()
    }

    fn ident(v: &str, quoted: bool) -> TokenKind {
        TokenKind::Ident {
            value: v.into(),
            quoted,
        }
    }

    #[test]
    fn identifiers_and_case() {
        assert_eq!(
            kinds("select `MixedCase` from \"Q\""),
            vec![
                ident("SELECT", false),
                ident("MixedCase", true),
                ident("FROM", false),
                ident("Q", true),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn strings_numbers_and_operators() {
        assert_eq!(
            kinds("'it''s' 12 1.5 2e3 1.5E-2 <> != <= >= || -> => := ${v}"),
            vec![
                TokenKind::Str("it's".into()),
                TokenKind::Integer("12".into()),
                TokenKind::Decimal("1.5".into()),
                TokenKind::Float("2e3".into()),
                TokenKind::Float("1.5E-2".into()),
                TokenKind::Punct(Punct::Neq),
                TokenKind::Punct(Punct::Neq),
                TokenKind::Punct(Punct::Le),
                TokenKind::Punct(Punct::Ge),
                TokenKind::Punct(Punct::Concat),
                TokenKind::Punct(Punct::Arrow),
                TokenKind::Punct(Punct::FatArrow),
                TokenKind::Punct(Punct::Assign),
                TokenKind::Variable("v".into()),
                TokenKind::Eof
            ]
        );
    }

    #[test]
    fn comments_and_positions() {
        let t = tokens("-- c\n  a /* x\n y */ b").unwrap();
        assert_eq!((t[0].line, t[0].column), (2, 3));
        assert_eq!((t[1].line, t[1].column), (3, 7));
        assert_eq!(t[2].kind, TokenKind::Eof);
    }

    #[test]
    fn errors() {
        let e = tokens("a 'open").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1:3: Syntax Error\nunterminated string literal"
        );
        let e = tokens("a\n  #").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2:3: Syntax Error\ntoken recognition error at: '#'"
        );
    }
}
