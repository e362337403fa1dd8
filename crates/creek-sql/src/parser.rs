//! Hand-written recursive-descent parser for ksqlDB's dialect.

use crate::ast::*;
use crate::error::{ParseError, PREPARE_FAILED};
use crate::lexer::{tokens, Punct, Token, TokenKind};

/// Words that end an expression or select item, so they are never taken as an
/// implicit alias or a bare column name.
const RESERVED: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "PARTITION",
    "HAVING",
    "EMIT",
    "LIMIT",
    "WINDOW",
    "JOIN",
    "LEFT",
    "RIGHT",
    "FULL",
    "INNER",
    "OUTER",
    "ON",
    "WITHIN",
    "AND",
    "OR",
    "NOT",
    "AS",
    "BY",
    "IS",
    "IN",
    "LIKE",
    "BETWEEN",
    "ESCAPE",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "WITH",
    "GRACE",
    "VALUES",
    "INTO",
    "NULL",
    "TRUE",
    "FALSE",
    "CAST",
    "DISTINCT",
];

/// Parses `;`-separated statements.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>, ParseError> {
    Ok(parse_script(sql)?
        .into_iter()
        .map(|p| p.statement)
        .collect())
}

/// A statement with the text it was parsed from (`statementText` in ksqlDB's
/// REST responses) and where that text starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatement {
    pub statement: Statement,
    /// The statement's source text including its terminating `;`, if any.
    pub text: String,
    pub line: u32,
    pub column: u32,
}

/// Parses `;`-separated statements, keeping each one's source text.
pub fn parse_script(sql: &str) -> Result<Vec<ParsedStatement>, ParseError> {
    let mut p = Parser::new(sql)?;
    let mut out = Vec::new();
    loop {
        while p.eat_punct(Punct::Semi) {}
        if p.at_eof() {
            return Ok(out);
        }
        let first = p.peek().clone();
        let statement = p.statement()?;
        let mut end = p.toks[p.pos.saturating_sub(1)].end();
        if p.peek_punct(Punct::Semi) {
            end = p.peek().end();
        }
        out.push(ParsedStatement {
            statement,
            text: sql[first.offset..end].to_string(),
            line: first.line,
            column: first.column,
        });
        if !p.at_eof() && !p.peek_punct(Punct::Semi) {
            return Err(p.error_at(
                0,
                format!("extraneous input '{}' expecting ';'", p.peek().text),
            ));
        }
    }
}

/// Parses exactly one statement (a trailing `;` is allowed).
pub fn parse_statement(sql: &str) -> Result<Statement, ParseError> {
    let mut v = parse_statements(sql)?;
    match v.len() {
        1 => Ok(v.remove(0)),
        n => Err(ParseError::new(
            1,
            1,
            format!("expected one statement, found {n}"),
        )),
    }
}

/// Parses a standalone expression.
pub fn parse_expression(sql: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(sql)?;
    let e = p.expr()?;
    if !p.at_eof() {
        return Err(p.error_at(
            0,
            format!("extraneous input '{}' expecting <EOF>", p.peek().text),
        ));
    }
    Ok(e)
}

/// Deepest nesting of expressions and types accepted, so hostile input gets an
/// error instead of overflowing the stack. 100 overflowed a 2 MiB test thread
/// in a debug build; 75 did not, so 64 leaves a margin.
const MAX_DEPTH: usize = 64;

/// Deepest expression tree accepted, counting chained operators (`a + b + c`
/// nests left): dropping, comparing or printing a tree recurses once per
/// level, so this bounds those too.
const MAX_TREE_DEPTH: usize = 500;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    /// Current recursion depth of the parser (bounded by [`MAX_DEPTH`]).
    depth: usize,
    /// Depth of the expression tree being built (bounded by [`MAX_TREE_DEPTH`]).
    tree: usize,
}

impl Parser {
    fn new(sql: &str) -> Result<Self, ParseError> {
        Ok(Parser {
            toks: tokens(sql)?,
            pos: 0,
            depth: 0,
            tree: 0,
        })
    }

    fn peek(&self) -> &Token {
        self.peek_n(0)
    }

    fn peek_n(&self, n: usize) -> &Token {
        let i = (self.pos + n).min(self.toks.len() - 1);
        &self.toks[i]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn at_eof(&self) -> bool {
        self.peek().kind == TokenKind::Eof
    }

    fn error_at(&self, n: usize, message: String) -> ParseError {
        let t = self.peek_n(n);
        ParseError::new(t.line, t.column, message)
    }

    fn mismatched(&self, expecting: &str) -> ParseError {
        let t = self.peek();
        ParseError::new(
            t.line,
            t.column,
            format!("mismatched input '{}' expecting {expecting}", t.text),
        )
    }

    /// ksqlDB's wording when a reserved word stands where its grammar has
    /// no rule for it at all.
    fn syntax_error_near(&self) -> ParseError {
        let t = self.peek();
        ParseError::new(
            t.line,
            t.column,
            format!(
                "Syntax error at or near '{}' at line {}:{}",
                t.text, t.line, t.column
            ),
        )
    }

    fn peek_kw_n(&self, n: usize, kw: &str) -> bool {
        matches!(&self.peek_n(n).kind, TokenKind::Ident { value, quoted: false } if value == kw)
    }

    fn peek_kw(&self, kw: &str) -> bool {
        self.peek_kw_n(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.peek_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ParseError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.mismatched(&format!("'{kw}'")))
        }
    }

    fn peek_punct_n(&self, n: usize, p: Punct) -> bool {
        self.peek_n(n).kind == TokenKind::Punct(p)
    }

    fn peek_punct(&self, p: Punct) -> bool {
        self.peek_punct_n(0, p)
    }

    fn eat_punct(&mut self, p: Punct) -> bool {
        if self.peek_punct(p) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, p: Punct, text: &str) -> Result<(), ParseError> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(self.mismatched(&format!("'{text}'")))
        }
    }

    /// Any identifier, quoted or not (keywords allowed), or a `${var}`.
    fn ident(&mut self) -> Result<String, ParseError> {
        match &self.peek().kind {
            TokenKind::Ident { value, .. } => {
                let v = value.clone();
                self.advance();
                Ok(v)
            }
            TokenKind::Variable(v) => {
                let v = format!("${{{v}}}");
                self.advance();
                Ok(v)
            }
            _ => Err(self.mismatched("an identifier")),
        }
    }

    fn peek_nonreserved_ident(&self) -> bool {
        match &self.peek().kind {
            TokenKind::Ident { value, quoted } => *quoted || !RESERVED.contains(&value.as_str()),
            _ => false,
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        match &self.peek().kind {
            TokenKind::Str(s) => {
                let s = s.clone();
                self.advance();
                Ok(s)
            }
            _ => Err(self.mismatched("STRING")),
        }
    }

    /// A string literal or a `${var}` (kept as `${var}` text).
    fn string_or_variable(&mut self) -> Result<String, ParseError> {
        if let TokenKind::Variable(v) = &self.peek().kind {
            let v = format!("${{{v}}}");
            self.advance();
            return Ok(v);
        }
        self.string()
    }

    fn integer(&mut self) -> Result<u64, ParseError> {
        match &self.peek().kind {
            TokenKind::Integer(s) => {
                let v = s
                    .parse()
                    .map_err(|_| self.error_at(0, format!("invalid integer '{s}'")))?;
                self.advance();
                Ok(v)
            }
            _ => Err(self.mismatched("INTEGER_VALUE")),
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, ParseError> {
        if self.eat_kw("IF") {
            self.expect_kw("NOT")?;
            self.expect_kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn if_exists(&mut self) -> Result<bool, ParseError> {
        if self.eat_kw("IF") {
            self.expect_kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    // ---------------------------------------------------------------- statements

    fn statement(&mut self) -> Result<Statement, ParseError> {
        let t = self.peek().clone();
        let TokenKind::Ident {
            value,
            quoted: false,
        } = &t.kind
        else {
            return Err(self.mismatched("a statement"));
        };
        match value.as_str() {
            "SELECT" => Ok(Statement::Query(Box::new(self.query()?))),
            "CREATE" => self.create(),
            "INSERT" => self.insert(),
            "SHOW" | "LIST" => self.show(),
            "DESCRIBE" => self.describe(),
            "EXPLAIN" => {
                self.advance();
                if ["SELECT", "CREATE", "INSERT"].iter().any(|k| self.peek_kw(k)) {
                    Ok(Statement::Explain(Box::new(self.nested(Self::statement)?)))
                } else {
                    Ok(Statement::ExplainQuery(self.ident()?))
                }
            }
            "PRINT" => self.print(),
            "DROP" => self.drop(),
            "TERMINATE" => {
                self.advance();
                if self.eat_kw("ALL") {
                    Ok(Statement::Terminate(None))
                } else {
                    Ok(Statement::Terminate(Some(self.ident()?)))
                }
            }
            "SET" => {
                self.advance();
                let name = self.string_or_variable()?;
                self.expect_punct(Punct::Eq, "=")?;
                let value = self.string_or_variable()?;
                Ok(Statement::SetProperty { name, value })
            }
            "UNSET" => {
                self.advance();
                Ok(Statement::UnsetProperty(self.string_or_variable()?))
            }
            "DEFINE" => {
                self.advance();
                let name = self.ident()?;
                self.expect_punct(Punct::Eq, "=")?;
                let value = self.string()?;
                Ok(Statement::Define { name, value })
            }
            "UNDEFINE" => {
                self.advance();
                Ok(Statement::Undefine(self.ident()?))
            }
            "ASSERT" => self.assert(),
            "ALTER" => self.alter(),
            "PAUSE" | "RESUME" => {
                let pause = self.advance().text.eq_ignore_ascii_case("PAUSE");
                let id = if self.eat_kw("ALL") {
                    None
                } else {
                    Some(self.ident()?)
                };
                Ok(if pause {
                    Statement::Pause(id)
                } else {
                    Statement::Resume(id)
                })
            }
            "RUN" => {
                self.advance();
                self.expect_kw("SCRIPT")?;
                Ok(Statement::RunScript(self.string()?))
            }
            _ => Err(self.mismatched(
                "{'SELECT', 'CREATE', 'INSERT', 'SHOW', 'LIST', 'DESCRIBE', 'EXPLAIN', 'PRINT', 'DROP', 'TERMINATE', 'SET', 'UNSET', 'DEFINE', 'UNDEFINE', 'ASSERT', 'RUN', 'ALTER', 'PAUSE', 'RESUME'}",
            )),
        }
    }

    fn create(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("CREATE")?;
        let or_replace = if self.eat_kw("OR") {
            self.expect_kw("REPLACE")?;
            true
        } else {
            false
        };
        if self.peek_kw("SOURCE") && self.peek_kw_n(1, "CONNECTOR") || self.peek_kw("SINK") {
            let kind = if self.eat_kw("SOURCE") {
                ConnectorKind::Source
            } else {
                self.advance();
                ConnectorKind::Sink
            };
            self.expect_kw("CONNECTOR")?;
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            let properties = self.with_properties()?.unwrap_or_default();
            return Ok(Statement::CreateConnector {
                kind,
                if_not_exists,
                name,
                properties,
            });
        }
        if self.eat_kw("TYPE") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            self.expect_kw("AS")?;
            let ty = self.ty()?;
            return Ok(Statement::CreateType {
                if_not_exists,
                name,
                ty,
            });
        }
        let read_only = self.eat_kw("SOURCE");
        let kind = if self.eat_kw("STREAM") {
            SourceKind::Stream
        } else if self.eat_kw("TABLE") {
            SourceKind::Table
        } else {
            return Err(self.mismatched("{'STREAM', 'TABLE', 'TYPE', 'SOURCE', 'SINK'}"));
        };
        let if_not_exists = self.if_not_exists()?;
        let name = self.ident()?;
        let mut columns = Vec::new();
        if self.eat_punct(Punct::LParen) {
            loop {
                let at = self.peek().clone();
                let col = self.column_def()?;
                let wrong = match (kind, &col.constraint) {
                    (SourceKind::Table, ColumnConstraint::Key) => {
                        Some(("KEY", "PRIMARY KEY", "tables"))
                    }
                    (SourceKind::Stream, ColumnConstraint::PrimaryKey) => {
                        Some(("PRIMARY KEY", "KEY", "streams"))
                    }
                    _ => None,
                };
                if let Some((got, want, what)) = wrong {
                    return Err(ParseError::new(
                        at.line,
                        at.column,
                        format!(
                            "Column `{}` is a '{got}' column: please use '{want}' for {what}.",
                            col.name
                        ),
                    ));
                }
                columns.push(col);
                if !self.eat_punct(Punct::Comma) {
                    break;
                }
            }
            if !self.eat_punct(Punct::RParen) {
                return Err(self.mismatched("{',', ')'}"));
            }
        }
        let properties = self.with_properties()?.unwrap_or_default();
        if columns.is_empty() && self.eat_kw("AS") {
            let query = Box::new(self.query()?);
            return Ok(Statement::CreateAsSelect {
                kind,
                or_replace,
                if_not_exists,
                name,
                properties,
                query,
            });
        }
        Ok(Statement::CreateSource {
            kind,
            or_replace,
            read_only,
            if_not_exists,
            name,
            columns,
            properties,
        })
    }

    fn column_def(&mut self) -> Result<ColumnDef, ParseError> {
        let name = self.ident()?;
        let ty = self.ty()?;
        let constraint = if self.eat_kw("KEY") {
            ColumnConstraint::Key
        } else if self.eat_kw("PRIMARY") {
            self.expect_kw("KEY")?;
            ColumnConstraint::PrimaryKey
        } else if self.eat_kw("HEADERS") {
            ColumnConstraint::Headers
        } else if self.eat_kw("HEADER") {
            self.expect_punct(Punct::LParen, "(")?;
            let k = self.string()?;
            self.expect_punct(Punct::RParen, ")")?;
            ColumnConstraint::Header(k)
        } else {
            ColumnConstraint::None
        };
        Ok(ColumnDef {
            name,
            ty,
            constraint,
        })
    }

    fn with_properties(&mut self) -> Result<Option<Properties>, ParseError> {
        if !self.eat_kw("WITH") {
            return Ok(None);
        }
        self.expect_punct(Punct::LParen, "(")?;
        let mut props = Vec::new();
        if !self.peek_punct(Punct::RParen) {
            loop {
                let key = match &self.peek().kind {
                    TokenKind::Str(s) => {
                        let s = s.clone();
                        self.advance();
                        s
                    }
                    _ => self.ident()?,
                };
                self.expect_punct(Punct::Eq, "=")?;
                let value = self.literal_value()?;
                props.push((key, value));
                if !self.eat_punct(Punct::Comma) {
                    break;
                }
            }
        }
        self.expect_punct(Punct::RParen, ")")?;
        Ok(Some(props))
    }

    /// A literal, with an optional leading minus for numbers.
    fn literal_value(&mut self) -> Result<Literal, ParseError> {
        let neg = self.eat_punct(Punct::Minus);
        let sign = if neg { "-" } else { "" };
        let t = self.peek().clone();
        let lit = match &t.kind {
            TokenKind::Integer(s) => Literal::Integer(format!("{sign}{s}")),
            TokenKind::Decimal(s) => Literal::Decimal(format!("{sign}{s}")),
            TokenKind::Float(s) => Literal::Double(format!("{sign}{s}")),
            TokenKind::Str(s) if !neg => Literal::String(s.clone()),
            TokenKind::Variable(v) if !neg => Literal::String(format!("${{{v}}}")),
            TokenKind::Ident {
                value,
                quoted: false,
            } if !neg => match value.as_str() {
                "TRUE" => Literal::Boolean(true),
                "FALSE" => Literal::Boolean(false),
                "NULL" => Literal::Null,
                _ => return Err(self.mismatched("a literal")),
            },
            _ => return Err(self.mismatched("a literal")),
        };
        self.advance();
        Ok(lit)
    }

    fn insert(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("INSERT")?;
        self.expect_kw("INTO")?;
        let target = self.ident()?;
        let mut columns = Vec::new();
        if self.eat_punct(Punct::LParen) {
            loop {
                columns.push(self.ident()?);
                if !self.eat_punct(Punct::Comma) {
                    break;
                }
            }
            self.expect_punct(Punct::RParen, ")")?;
        }
        if self.eat_kw("VALUES") {
            self.expect_punct(Punct::LParen, "(")?;
            let mut values = Vec::new();
            if !self.peek_punct(Punct::RParen) {
                values = self.expr_list()?;
            }
            self.expect_punct(Punct::RParen, ")")?;
            return Ok(Statement::InsertValues {
                target,
                columns,
                values,
            });
        }
        // `WITH (...)` may precede the query in some versions; accept and drop it.
        let _ = self.with_properties()?;
        let query = Box::new(self.query()?);
        Ok(Statement::InsertInto {
            target,
            columns,
            query,
        })
    }

    fn show(&mut self) -> Result<Statement, ParseError> {
        self.advance();
        let kind = if self.eat_kw("ALL") {
            self.expect_kw("TOPICS")?;
            ShowKind::AllTopics
        } else if self.eat_kw("TOPICS") {
            ShowKind::Topics
        } else if self.eat_kw("STREAMS") {
            ShowKind::Streams
        } else if self.eat_kw("TABLES") {
            ShowKind::Tables
        } else if self.eat_kw("QUERIES") {
            ShowKind::Queries
        } else if self.eat_kw("CONNECTORS") {
            ShowKind::Connectors
        } else if self.eat_kw("CONNECTOR") {
            self.expect_kw("PLUGINS")?;
            ShowKind::ConnectorPlugins
        } else if self.eat_kw("SOURCE") {
            self.expect_kw("CONNECTORS")?;
            ShowKind::SourceConnectors
        } else if self.eat_kw("SINK") {
            self.expect_kw("CONNECTORS")?;
            ShowKind::SinkConnectors
        } else if self.eat_kw("PROPERTIES") {
            ShowKind::Properties
        } else if self.eat_kw("FUNCTIONS") {
            ShowKind::Functions
        } else if self.eat_kw("TYPES") {
            ShowKind::Types
        } else if self.eat_kw("VARIABLES") {
            ShowKind::Variables
        } else {
            return Err(self.mismatched(
                "{'TOPICS', 'ALL', 'STREAMS', 'TABLES', 'QUERIES', 'CONNECTORS', 'SOURCE', 'SINK', 'PROPERTIES', 'FUNCTIONS', 'TYPES', 'VARIABLES'}",
            ));
        };
        let extended = self.eat_kw("EXTENDED");
        Ok(Statement::Show { kind, extended })
    }

    fn describe(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("DESCRIBE")?;
        if self.eat_kw("FUNCTION") {
            return Ok(Statement::DescribeFunction(self.ident()?));
        }
        if self.eat_kw("CONNECTOR") {
            return Ok(Statement::DescribeConnector(self.ident()?));
        }
        if self.peek_kw("STREAMS") || self.peek_kw("TABLES") {
            let kind = if self.eat_kw("STREAMS") {
                SourceKind::Stream
            } else {
                self.advance();
                SourceKind::Table
            };
            let extended = self.eat_kw("EXTENDED");
            return Ok(Statement::DescribeAll { kind, extended });
        }
        // `EXTENDED` is a modifier unless it is the last word (a source named EXTENDED).
        let extended = self.peek_kw("EXTENDED")
            && !matches!(
                self.peek_n(1).kind,
                TokenKind::Eof | TokenKind::Punct(Punct::Semi)
            );
        if extended {
            self.advance();
        }
        let name = self.ident()?;
        let extended = extended || self.eat_kw("EXTENDED");
        Ok(Statement::Describe { name, extended })
    }

    fn print(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("PRINT")?;
        let topic = match &self.peek().kind {
            TokenKind::Str(s) => {
                let s = s.clone();
                self.advance();
                s
            }
            TokenKind::Ident {
                quoted: true,
                value,
            } => {
                let s = value.clone();
                self.advance();
                s
            }
            TokenKind::Ident { .. } | TokenKind::Integer(_) => {
                // Unquoted topic names may contain dashes and dots (`psg-customers`):
                // join tokens that touch each other, keeping the written case.
                let first = self.advance();
                let mut name = first.text.clone();
                let mut end = first.end();
                while self.peek().offset == end
                    && matches!(
                        self.peek().kind,
                        TokenKind::Ident { quoted: false, .. }
                            | TokenKind::Integer(_)
                            | TokenKind::Decimal(_)
                            | TokenKind::Float(_)
                            | TokenKind::Punct(Punct::Minus | Punct::Dot)
                    )
                {
                    let t = self.advance();
                    name.push_str(&t.text);
                    end = t.end();
                }
                name
            }
            _ => return Err(self.mismatched("a topic name")),
        };
        let mut from_beginning = false;
        let mut interval = None;
        let mut limit = None;
        loop {
            if self.eat_kw("FROM") {
                self.expect_kw("BEGINNING")?;
                from_beginning = true;
            } else if self.eat_kw("INTERVAL") || self.eat_kw("SAMPLE") {
                interval = Some(self.integer()?);
            } else if self.eat_kw("LIMIT") {
                limit = Some(self.integer()?);
            } else {
                break;
            }
        }
        Ok(Statement::Print {
            topic,
            from_beginning,
            interval,
            limit,
        })
    }

    fn drop(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("DROP")?;
        if self.eat_kw("CONNECTOR") {
            let if_exists = self.if_exists()?;
            let name = self.ident()?;
            return Ok(Statement::DropConnector { if_exists, name });
        }
        if self.eat_kw("TYPE") {
            let if_exists = self.if_exists()?;
            let name = self.ident()?;
            return Ok(Statement::DropType { if_exists, name });
        }
        let kind = if self.eat_kw("STREAM") {
            SourceKind::Stream
        } else if self.eat_kw("TABLE") {
            SourceKind::Table
        } else {
            return Err(self.mismatched("{'STREAM', 'TABLE', 'CONNECTOR', 'TYPE'}"));
        };
        let if_exists = self.if_exists()?;
        let name = self.ident()?;
        let delete_topic = if self.eat_kw("DELETE") {
            self.expect_kw("TOPIC")?;
            true
        } else {
            false
        };
        Ok(Statement::Drop {
            kind,
            if_exists,
            name,
            delete_topic,
        })
    }

    fn alter(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("ALTER")?;
        if self.eat_kw("SYSTEM") {
            let name = self.string()?;
            self.expect_punct(Punct::Eq, "=")?;
            let value = self.string()?;
            return Ok(Statement::AlterSystem { name, value });
        }
        let kind = if self.eat_kw("STREAM") {
            SourceKind::Stream
        } else if self.eat_kw("TABLE") {
            SourceKind::Table
        } else {
            return Err(self.mismatched("{'STREAM', 'TABLE'}"));
        };
        let name = self.ident()?;
        let mut columns = Vec::new();
        loop {
            self.expect_kw("ADD")?;
            self.eat_kw("COLUMN");
            let col = self.ident()?;
            let ty = self.ty()?;
            columns.push((col, ty));
            if !self.eat_punct(Punct::Comma) {
                break;
            }
        }
        Ok(Statement::AlterSource {
            kind,
            name,
            add_columns: columns,
        })
    }

    fn assert(&mut self) -> Result<Statement, ParseError> {
        self.expect_kw("ASSERT")?;
        let exists = if self.eat_kw("NOT") {
            self.expect_kw("EXISTS")?;
            false
        } else {
            true
        };
        if !self.peek_kw("TOPIC") && !self.peek_kw("SCHEMA") {
            // ASSERT VALUES / STREAM / TABLE are the test runner's own.
            return Err(self.syntax_error_near());
        }
        if self.eat_kw("TOPIC") {
            let name = match &self.peek().kind {
                TokenKind::Str(s) => {
                    let s = s.clone();
                    self.advance();
                    s
                }
                _ => self.ident()?,
            };
            let properties = self.with_properties()?.unwrap_or_default();
            let timeout = self.timeout()?;
            return Ok(Statement::AssertTopic {
                exists,
                name,
                properties,
                timeout,
            });
        }
        self.expect_kw("SCHEMA")?;
        let mut subject = None;
        let mut id = None;
        loop {
            if self.eat_kw("SUBJECT") {
                subject = Some(match &self.peek().kind {
                    TokenKind::Str(s) => {
                        let s = s.clone();
                        self.advance();
                        s
                    }
                    _ => self.ident()?,
                });
            } else if self.eat_kw("ID") {
                id = Some(self.integer()?);
            } else {
                break;
            }
        }
        let timeout = self.timeout()?;
        Ok(Statement::AssertSchema {
            exists,
            subject,
            id,
            timeout,
        })
    }

    fn timeout(&mut self) -> Result<Option<Duration>, ParseError> {
        if self.eat_kw("TIMEOUT") {
            Ok(Some(self.duration()?))
        } else {
            Ok(None)
        }
    }

    fn duration(&mut self) -> Result<Duration, ParseError> {
        let value = self.integer()?;
        const UNITS: &[&str] = &[
            "DAY",
            "HOUR",
            "MINUTE",
            "SECOND",
            "MILLISECOND",
            "DAYS",
            "HOURS",
            "MINUTES",
            "SECONDS",
            "MILLISECONDS",
        ];
        let unit = match &self.peek().kind {
            TokenKind::Ident {
                value,
                quoted: false,
            } if UNITS.contains(&value.as_str()) => value.clone(),
            _ => {
                return Err(self.mismatched(
                    "{'DAY', 'HOUR', 'MINUTE', 'SECOND', 'MILLISECOND', 'DAYS', 'HOURS', 'MINUTES', 'SECONDS', 'MILLISECONDS'}",
                ))
            }
        };
        self.advance();
        Ok(Duration { value, unit })
    }

    // ---------------------------------------------------------------- types

    fn ty_inner(&mut self) -> Result<Type, ParseError> {
        let name = match &self.peek().kind {
            TokenKind::Ident { value, quoted } => (value.clone(), *quoted),
            TokenKind::Variable(v) => {
                let v = format!("${{{v}}}");
                self.advance();
                return Ok(Type::Custom(v));
            }
            _ => return Err(self.mismatched("a type")),
        };
        self.advance();
        if name.1 {
            return Ok(Type::Custom(name.0));
        }
        let simple = match name.0.as_str() {
            "BOOLEAN" => Some(Type::Boolean),
            "INT" | "INTEGER" => Some(Type::Int),
            "BIGINT" => Some(Type::Bigint),
            "DOUBLE" => Some(Type::Double),
            "STRING" | "VARCHAR" => Some(Type::String),
            "BYTES" => Some(Type::Bytes),
            "DATE" => Some(Type::Date),
            "TIME" => Some(Type::Time),
            "TIMESTAMP" => Some(Type::Timestamp),
            _ => None,
        };
        if let Some(t) = simple {
            // ksqlDB accepts and ignores type parameters such as `VARCHAR(STRING)`.
            if self.eat_punct(Punct::LParen) {
                loop {
                    match self.peek().kind {
                        TokenKind::Integer(_) => {
                            self.advance();
                        }
                        _ if self.peek_kw("STRING") => {
                            self.advance();
                        }
                        _ => return Err(self.mismatched("{'STRING', INTEGER_VALUE}")),
                    }
                    if !self.eat_punct(Punct::Comma) {
                        break;
                    }
                }
                self.expect_punct(Punct::RParen, ")")?;
            }
            return Ok(t);
        }
        Ok(match name.0.as_str() {
            "BOOLEAN" => Type::Boolean,
            "INT" | "INTEGER" => Type::Int,
            "BIGINT" => Type::Bigint,
            "DOUBLE" => Type::Double,
            "STRING" => Type::String,
            "VARCHAR" => Type::String,
            "BYTES" => Type::Bytes,
            "DATE" => Type::Date,
            "TIME" => Type::Time,
            "TIMESTAMP" => Type::Timestamp,
            "DECIMAL" => {
                self.expect_punct(Punct::LParen, "(")?;
                let precision = self.integer()? as u32;
                self.expect_punct(Punct::Comma, ",")?;
                let scale = self.integer()? as u32;
                self.expect_punct(Punct::RParen, ")")?;
                Type::Decimal { precision, scale }
            }
            "ARRAY" => {
                self.expect_punct(Punct::Lt, "<")?;
                let t = self.ty()?;
                self.expect_type_close()?;
                Type::Array(Box::new(t))
            }
            "MAP" => {
                self.expect_punct(Punct::Lt, "<")?;
                let k = self.ty()?;
                self.expect_punct(Punct::Comma, ",")?;
                let v = self.ty()?;
                self.expect_type_close()?;
                Type::Map(Box::new(k), Box::new(v))
            }
            "STRUCT" => {
                if self.eat_punct(Punct::Neq) {
                    // `STRUCT<>` lexes as STRUCT and `<>`.
                    return Ok(Type::Struct(Vec::new()));
                }
                self.expect_punct(Punct::Lt, "<")?;
                let mut fields = Vec::new();
                if !self.eat_type_close() {
                    loop {
                        let n = self.ident()?;
                        let t = self.ty()?;
                        fields.push((n, t));
                        if !self.eat_punct(Punct::Comma) {
                            break;
                        }
                    }
                    self.expect_type_close()?;
                }
                Type::Struct(fields)
            }
            n if RESERVED.contains(&n) => {
                self.pos -= 1;
                return Err(self.syntax_error_near());
            }
            _ => Type::Custom(name.0),
        })
    }

    /// Closes a `<...>` type. `>>` is never lexed as one token, but `>=` could
    /// be; only `>` is accepted.
    fn eat_type_close(&mut self) -> bool {
        self.eat_punct(Punct::Gt)
    }

    fn expect_type_close(&mut self) -> Result<(), ParseError> {
        if self.eat_type_close() {
            Ok(())
        } else {
            Err(self.mismatched("'>'"))
        }
    }

    // ---------------------------------------------------------------- queries

    fn query(&mut self) -> Result<Query, ParseError> {
        self.expect_kw("SELECT")?;
        let mut select = Vec::new();
        loop {
            select.push(self.select_item()?);
            if !self.eat_punct(Punct::Comma) {
                break;
            }
        }
        self.expect_kw("FROM")?;
        let from = self.relation()?;
        let window = if self.eat_kw("WINDOW") {
            Some(self.window()?)
        } else {
            None
        };
        let where_ = if self.eat_kw("WHERE") {
            Some(self.expr()?)
        } else {
            None
        };
        let mut group_by = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            group_by = self.grouping_list()?;
        }
        let mut partition_by = Vec::new();
        if self.peek_kw("PARTITION") {
            let at = self.advance();
            self.expect_kw("BY")?;
            partition_by = self.grouping_list()?;
            if partition_by.is_empty() {
                return Err(ParseError::new(
                    at.line,
                    at.column,
                    "PARTITION BY requires at least one expression",
                ));
            }
        }
        let having = if self.eat_kw("HAVING") {
            Some(self.expr()?)
        } else {
            None
        };
        let emit = if self.eat_kw("EMIT") {
            if self.eat_kw("CHANGES") {
                Some(Emit::Changes)
            } else if self.eat_kw("FINAL") {
                Some(Emit::Final)
            } else {
                return Err(self.mismatched("{'CHANGES', 'FINAL'}"));
            }
        } else {
            None
        };
        let limit = if self.eat_kw("LIMIT") {
            if matches!(
                self.peek().kind,
                TokenKind::Decimal(_) | TokenKind::Float(_)
            ) {
                // ksqlDB's AST builder wording.
                return Err(self.error_at(
                    0,
                    format!("{PREPARE_FAILED}Value must be integer for command: LIMIT"),
                ));
            }
            let negative = self.eat_punct(Punct::Minus);
            let limit = i64::try_from(self.integer()?)
                .map_err(|_| self.error_at(0, "LIMIT out of range".into()))?;
            Some(if negative { -limit } else { limit })
        } else {
            None
        };
        Ok(Query {
            select,
            from,
            window,
            where_,
            group_by,
            partition_by,
            having,
            emit,
            limit,
        })
    }

    fn select_item(&mut self) -> Result<SelectItem, ParseError> {
        if self.eat_punct(Punct::Star) {
            return Ok(SelectItem::Wildcard);
        }
        if matches!(self.peek().kind, TokenKind::Ident { .. })
            && self.peek_punct_n(1, Punct::Dot)
            && self.peek_punct_n(2, Punct::Star)
        {
            let s = self.ident()?;
            self.advance();
            self.advance();
            return Ok(SelectItem::QualifiedWildcard(s));
        }
        let expr = self.expr()?;
        if self.peek_punct(Punct::Arrow) && self.peek_punct_n(1, Punct::Star) {
            self.advance();
            self.advance();
            return Ok(SelectItem::StructAll(expr));
        }
        let alias = if self.eat_kw("AS") || self.peek_nonreserved_ident() {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(SelectItem::Expr { expr, alias })
    }

    fn aliased_source(&mut self) -> Result<Relation, ParseError> {
        let name = self.ident()?;
        let alias = if self.eat_kw("AS") || self.peek_nonreserved_ident() {
            Some(self.ident()?)
        } else {
            None
        };
        Ok(Relation::Source { name, alias })
    }

    fn relation(&mut self) -> Result<Relation, ParseError> {
        let mut left = self.aliased_source()?;
        let mut n = 0;
        loop {
            let kind = if self.eat_kw("JOIN") {
                JoinKind::Inner
            } else if self.peek_kw("INNER") {
                self.advance();
                self.expect_kw("JOIN")?;
                JoinKind::Inner
            } else if self.peek_kw("LEFT") || self.peek_kw("RIGHT") || self.peek_kw("FULL") {
                let k = match self.advance().text.to_uppercase().as_str() {
                    "LEFT" => JoinKind::Left,
                    "RIGHT" => JoinKind::Right,
                    _ => JoinKind::Full,
                };
                self.eat_kw("OUTER");
                self.expect_kw("JOIN")?;
                k
            } else if self.peek_kw("OUTER") {
                self.advance();
                self.expect_kw("JOIN")?;
                JoinKind::Full
            } else {
                self.tree -= n;
                return Ok(left);
            };
            self.chain_step(&mut n)?;
            let right = self.aliased_source()?;
            let within = if self.eat_kw("WITHIN") {
                Some(self.within()?)
            } else {
                None
            };
            self.expect_kw("ON")?;
            let on = self.expr()?;
            left = Relation::Join {
                left: Box::new(left),
                kind,
                right: Box::new(right),
                within,
                on,
            };
        }
    }

    fn grace(&mut self) -> Result<Option<Duration>, ParseError> {
        if self.eat_kw("GRACE") {
            self.expect_kw("PERIOD")?;
            Ok(Some(self.duration()?))
        } else {
            Ok(None)
        }
    }

    fn within(&mut self) -> Result<Within, ParseError> {
        let (before, after) = if self.eat_punct(Punct::LParen) {
            let b = self.duration()?;
            self.expect_punct(Punct::Comma, ",")?;
            let a = self.duration()?;
            self.expect_punct(Punct::RParen, ")")?;
            (b, Some(a))
        } else {
            (self.duration()?, None)
        };
        let grace = self.grace()?;
        Ok(Within {
            before,
            after,
            grace,
        })
    }

    fn window(&mut self) -> Result<Window, ParseError> {
        // An optional window name precedes the kind (`WINDOW w TUMBLING (...)`).
        if !["TUMBLING", "HOPPING", "SESSION"]
            .iter()
            .any(|k| self.peek_kw(k))
            && matches!(self.peek().kind, TokenKind::Ident { .. })
        {
            self.advance();
        }
        let kind = if self.eat_kw("TUMBLING") {
            0
        } else if self.eat_kw("HOPPING") {
            1
        } else if self.eat_kw("SESSION") {
            2
        } else {
            return Err(self.mismatched("{'TUMBLING', 'HOPPING', 'SESSION'}"));
        };
        self.expect_punct(Punct::LParen, "(")?;
        let mut size = None;
        let mut advance = None;
        let mut retention = None;
        let mut grace = None;
        loop {
            if self.eat_kw("SIZE") {
                size = Some(self.duration()?);
            } else if self.eat_kw("ADVANCE") {
                self.expect_kw("BY")?;
                advance = Some(self.duration()?);
            } else if self.eat_kw("RETENTION") {
                retention = Some(self.duration()?);
            } else if self.peek_kw("GRACE") {
                grace = self.grace()?;
            } else if kind == 2 && size.is_none() {
                size = Some(self.duration()?);
            } else {
                return Err(self.mismatched("{'SIZE', 'ADVANCE', 'RETENTION', 'GRACE'}"));
            }
            if !self.eat_punct(Punct::Comma) {
                break;
            }
        }
        self.expect_punct(Punct::RParen, ")")?;
        let missing = |p: &Parser, what: &str| p.error_at(0, format!("window is missing {what}"));
        Ok(match kind {
            0 => Window::Tumbling {
                size: size.ok_or_else(|| missing(self, "SIZE"))?,
                retention,
                grace,
            },
            1 => Window::Hopping {
                size: size.ok_or_else(|| missing(self, "SIZE"))?,
                advance: advance.ok_or_else(|| missing(self, "ADVANCE BY"))?,
                retention,
                grace,
            },
            _ => Window::Session {
                gap: size.ok_or_else(|| missing(self, "a gap"))?,
                retention,
                grace,
            },
        })
    }

    // ---------------------------------------------------------------- expressions

    /// `GROUP BY`/`PARTITION BY` list: `a, b`, `(a, b)` or `()`.
    fn grouping_list(&mut self) -> Result<Vec<Expr>, ParseError> {
        if self.peek_punct(Punct::LParen) {
            let save = (self.pos, self.depth, self.tree);
            self.advance();
            if self.eat_punct(Punct::RParen) {
                return Ok(Vec::new());
            }
            if let Ok(list) = self.value_expr_list() {
                if list.len() > 1 && self.eat_punct(Punct::RParen) {
                    return Ok(list);
                }
            }
            (self.pos, self.depth, self.tree) = save;
        }
        self.value_expr_list()
    }

    /// Items of `GROUP BY`/`PARTITION BY` are value expressions: no `AND`,
    /// `OR`, `NOT` or predicates outside parentheses.
    fn value_expr_list(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut v = vec![self.concat_expr()?];
        while self.eat_punct(Punct::Comma) {
            v.push(self.concat_expr()?);
        }
        Ok(v)
    }

    fn expr_list(&mut self) -> Result<Vec<Expr>, ParseError> {
        let mut v = vec![self.expr()?];
        while self.eat_punct(Punct::Comma) {
            v.push(self.expr()?);
        }
        Ok(v)
    }

    /// Entry point: `OR` has the lowest precedence.
    /// Runs `f` one nesting level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, ParseError>,
    ) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error_at(0, "expression nested too deeply".into()));
        }
        self.depth += 1;
        self.tree += 1;
        let r = f(self);
        self.depth -= 1;
        self.tree -= 1;
        r
    }

    /// Accounts one more operator in a left-nested chain (`n` counts them so
    /// the caller can give them back with `self.tree -= n`).
    fn chain_step(&mut self, n: &mut usize) -> Result<(), ParseError> {
        *n += 1;
        self.tree += 1;
        if self.tree > MAX_TREE_DEPTH {
            return Err(self.error_at(0, "expression too deeply nested or too long".into()));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.nested(Self::expr_inner)
    }

    fn not_expr(&mut self) -> Result<Expr, ParseError> {
        if self.peek_kw("NOT") {
            self.nested(Self::not_expr_inner)
        } else {
            self.not_expr_inner()
        }
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.peek_punct(Punct::Minus) || self.peek_punct(Punct::Plus) {
            self.nested(Self::unary_inner)
        } else {
            self.unary_inner()
        }
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        self.nested(Self::ty_inner)
    }

    fn expr_inner(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        let mut n = 0;
        while self.eat_kw("OR") {
            self.chain_step(&mut n)?;
            let right = self.and_expr()?;
            left = bin(BinaryOp::Or, left, right);
        }
        self.tree -= n;
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not_expr()?;
        let mut n = 0;
        while self.eat_kw("AND") {
            self.chain_step(&mut n)?;
            let right = self.not_expr()?;
            left = bin(BinaryOp::And, left, right);
        }
        self.tree -= n;
        Ok(left)
    }

    fn not_expr_inner(&mut self) -> Result<Expr, ParseError> {
        if self.eat_kw("NOT") {
            let e = self.not_expr()?;
            return Ok(Expr::Unary {
                op: UnaryOp::Not,
                expr: Box::new(e),
            });
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, ParseError> {
        let left = self.concat_expr()?;
        let op = match self.peek().kind {
            TokenKind::Punct(Punct::Eq) => Some(BinaryOp::Eq),
            TokenKind::Punct(Punct::Neq) => Some(BinaryOp::Neq),
            TokenKind::Punct(Punct::Lt) => Some(BinaryOp::Lt),
            TokenKind::Punct(Punct::Le) => Some(BinaryOp::Le),
            TokenKind::Punct(Punct::Gt) => Some(BinaryOp::Gt),
            TokenKind::Punct(Punct::Ge) => Some(BinaryOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.concat_expr()?;
            return Ok(bin(op, left, right));
        }
        if self.eat_kw("IS") {
            let negated = self.eat_kw("NOT");
            if self.eat_kw("NULL") {
                return Ok(Expr::IsNull {
                    expr: Box::new(left),
                    negated,
                });
            }
            self.expect_kw("DISTINCT")?;
            self.expect_kw("FROM")?;
            let right = self.concat_expr()?;
            return Ok(Expr::IsDistinctFrom {
                left: Box::new(left),
                right: Box::new(right),
                negated,
            });
        }
        let negated = if self.peek_kw("NOT")
            && (self.peek_kw_n(1, "BETWEEN")
                || self.peek_kw_n(1, "LIKE")
                || self.peek_kw_n(1, "IN"))
        {
            self.advance();
            true
        } else {
            false
        };
        if self.eat_kw("BETWEEN") {
            let low = self.concat_expr()?;
            self.expect_kw("AND")?;
            let high = self.concat_expr()?;
            return Ok(Expr::Between {
                expr: Box::new(left),
                low: Box::new(low),
                high: Box::new(high),
                negated,
            });
        }
        if self.eat_kw("LIKE") {
            let pattern = self.concat_expr()?;
            let escape = if self.eat_kw("ESCAPE") {
                Some(Box::new(self.concat_expr()?))
            } else {
                None
            };
            return Ok(Expr::Like {
                expr: Box::new(left),
                pattern: Box::new(pattern),
                escape,
                negated,
            });
        }
        if self.eat_kw("IN") {
            self.expect_punct(Punct::LParen, "(")?;
            let list = self.expr_list()?;
            self.expect_punct(Punct::RParen, ")")?;
            return Ok(Expr::InList {
                expr: Box::new(left),
                list,
                negated,
            });
        }
        if negated {
            return Err(self.mismatched("{'BETWEEN', 'LIKE', 'IN'}"));
        }
        Ok(left)
    }

    fn concat_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.additive()?;
        let mut n = 0;
        while self.eat_punct(Punct::Concat) {
            self.chain_step(&mut n)?;
            let right = self.additive()?;
            left = bin(BinaryOp::Concat, left, right);
        }
        self.tree -= n;
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.multiplicative()?;
        let mut n = 0;
        loop {
            let op = if self.eat_punct(Punct::Plus) {
                BinaryOp::Add
            } else if self.eat_punct(Punct::Minus) {
                BinaryOp::Sub
            } else {
                self.tree -= n;
                return Ok(left);
            };
            self.chain_step(&mut n)?;
            let right = self.multiplicative()?;
            left = bin(op, left, right);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        let mut n = 0;
        loop {
            let op = if self.eat_punct(Punct::Star) {
                BinaryOp::Mul
            } else if self.eat_punct(Punct::Slash) {
                BinaryOp::Div
            } else if self.eat_punct(Punct::Percent) {
                BinaryOp::Mod
            } else {
                self.tree -= n;
                return Ok(left);
            };
            self.chain_step(&mut n)?;
            let right = self.unary()?;
            left = bin(op, left, right);
        }
    }

    fn unary_inner(&mut self) -> Result<Expr, ParseError> {
        if self.eat_punct(Punct::Minus) {
            // Fold `-literal` into the literal, as ksqlDB does.
            let at = self.peek().clone();
            let e = match self.peek().kind {
                TokenKind::Integer(_) | TokenKind::Decimal(_) | TokenKind::Float(_) => {
                    let e = self.postfix()?;
                    let e = match e {
                        Expr::Literal(Literal::Integer(s)) => {
                            Expr::Literal(Literal::Integer(format!("-{s}")))
                        }
                        Expr::Literal(Literal::Decimal(s)) => {
                            Expr::Literal(Literal::Decimal(format!("-{s}")))
                        }
                        Expr::Literal(Literal::Double(s)) => {
                            Expr::Literal(Literal::Double(format!("-{s}")))
                        }
                        e => {
                            return Ok(Expr::Unary {
                                op: UnaryOp::Minus,
                                expr: Box::new(e),
                            })
                        }
                    };
                    check_literal(&e, &at)?;
                    return Ok(e);
                }
                _ => self.unary()?,
            };
            return Ok(match e {
                Expr::Literal(Literal::Integer(s)) if !s.starts_with('-') => {
                    Expr::Literal(Literal::Integer(format!("-{s}")))
                }
                Expr::Literal(Literal::Decimal(s)) if !s.starts_with('-') => {
                    Expr::Literal(Literal::Decimal(format!("-{s}")))
                }
                Expr::Literal(Literal::Double(s)) if !s.starts_with('-') => {
                    Expr::Literal(Literal::Double(format!("-{s}")))
                }
                e => Expr::Unary {
                    op: UnaryOp::Minus,
                    expr: Box::new(e),
                },
            });
        }
        if self.eat_punct(Punct::Plus) {
            let e = self.unary()?;
            return Ok(Expr::Unary {
                op: UnaryOp::Plus,
                expr: Box::new(e),
            });
        }
        let start = self.peek().clone();
        let mut e = self.postfix()?;
        check_literal(&e, &start)?;
        while self.peek_kw("AT") && self.peek_kw_n(1, "TIME") && self.peek_kw_n(2, "ZONE") {
            self.advance();
            self.advance();
            self.advance();
            let zone = self.string()?;
            e = Expr::AtTimeZone {
                expr: Box::new(e),
                zone,
            };
        }
        Ok(e)
    }

    fn postfix(&mut self) -> Result<Expr, ParseError> {
        let mut e = self.primary()?;
        let mut n = 0;
        loop {
            if self.peek_punct(Punct::Arrow) && !self.peek_punct_n(1, Punct::Star) {
                self.chain_step(&mut n)?;
                self.advance();
                let field = self.ident()?;
                e = Expr::Dereference {
                    expr: Box::new(e),
                    field,
                };
            } else if self.eat_punct(Punct::LBracket) {
                self.chain_step(&mut n)?;
                let index = self.expr()?;
                self.expect_punct(Punct::RBracket, "]")?;
                e = Expr::Subscript {
                    expr: Box::new(e),
                    index: Box::new(index),
                };
            } else {
                self.tree -= n;
                return Ok(e);
            }
        }
    }

    /// True at `(a, b) =>` or `() =>`.
    fn at_paren_lambda(&self) -> bool {
        if !self.peek_punct(Punct::LParen) {
            return false;
        }
        let mut i = 1;
        loop {
            match self.peek_n(i).kind {
                TokenKind::Ident { .. } => i += 1,
                _ => return false,
            }
            if self.peek_punct_n(i, Punct::Comma) {
                i += 1;
            } else if self.peek_punct_n(i, Punct::RParen) {
                return self.peek_punct_n(i + 1, Punct::FatArrow);
            } else {
                return false;
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek().clone();
        match &t.kind {
            TokenKind::Str(s) => {
                self.advance();
                Ok(Expr::Literal(Literal::String(s.clone())))
            }
            TokenKind::Integer(s) => {
                self.advance();
                Ok(Expr::Literal(Literal::Integer(s.clone())))
            }
            TokenKind::Decimal(s) => {
                self.advance();
                Ok(Expr::Literal(Literal::Decimal(s.clone())))
            }
            TokenKind::Float(s) => {
                self.advance();
                Ok(Expr::Literal(Literal::Double(s.clone())))
            }
            TokenKind::Variable(v) => {
                self.advance();
                Ok(Expr::Variable(v.clone()))
            }
            TokenKind::Punct(Punct::LParen) => {
                if self.at_paren_lambda() {
                    self.advance();
                    let mut params = Vec::new();
                    while !self.eat_punct(Punct::RParen) {
                        params.push(self.ident()?);
                        self.eat_punct(Punct::Comma);
                    }
                    self.expect_punct(Punct::FatArrow, "=>")?;
                    let body = self.expr()?;
                    return Ok(Expr::Lambda {
                        params,
                        body: Box::new(body),
                    });
                }
                self.advance();
                let e = self.expr()?;
                if self.peek_punct(Punct::Comma) {
                    // ANTLR recovers by inserting the ')' since a ',' may
                    // follow it (ksqlDB has no row constructor).
                    return Err(self.error_at(0, "missing ')' at ','".into()));
                }
                self.expect_punct(Punct::RParen, ")")?;
                Ok(e)
            }
            TokenKind::Ident { value, quoted } => {
                let (value, quoted) = (value.clone(), *quoted);
                if let TokenKind::Str(v) = &self.peek_n(1).kind {
                    // `DATE '2021-01-01'`: a typed literal.
                    let value = v.clone();
                    self.advance();
                    self.advance();
                    return Ok(Expr::TypeConstructor {
                        ty: value_name(&t),
                        value,
                    });
                }
                if self.peek_punct_n(1, Punct::FatArrow) {
                    self.advance();
                    self.advance();
                    let body = self.expr()?;
                    return Ok(Expr::Lambda {
                        params: vec![value],
                        body: Box::new(body),
                    });
                }
                if !quoted {
                    match value.as_str() {
                        "TRUE" => {
                            self.advance();
                            return Ok(Expr::Literal(Literal::Boolean(true)));
                        }
                        "FALSE" => {
                            self.advance();
                            return Ok(Expr::Literal(Literal::Boolean(false)));
                        }
                        "NULL" => {
                            self.advance();
                            return Ok(Expr::Literal(Literal::Null));
                        }
                        "CASE" => return self.case(),
                        "CAST" if self.peek_punct_n(1, Punct::LParen) => {
                            self.advance();
                            self.advance();
                            let e = self.expr()?;
                            self.expect_kw("AS")?;
                            let ty = self.ty()?;
                            self.expect_punct(Punct::RParen, ")")?;
                            return Ok(Expr::Cast {
                                expr: Box::new(e),
                                ty,
                            });
                        }
                        "ARRAY" if self.peek_punct_n(1, Punct::LBracket) => {
                            self.advance();
                            self.advance();
                            let items = if self.peek_punct(Punct::RBracket) {
                                Vec::new()
                            } else {
                                self.expr_list()?
                            };
                            self.expect_punct(Punct::RBracket, "]")?;
                            return Ok(Expr::Array(items));
                        }
                        "MAP" if self.peek_punct_n(1, Punct::LParen) => {
                            self.advance();
                            self.advance();
                            let mut entries = Vec::new();
                            if !self.peek_punct(Punct::RParen) {
                                loop {
                                    let k = self.expr()?;
                                    self.expect_punct(Punct::Assign, ":=")?;
                                    let v = self.expr()?;
                                    entries.push((k, v));
                                    if !self.eat_punct(Punct::Comma) {
                                        break;
                                    }
                                }
                            }
                            self.expect_punct(Punct::RParen, ")")?;
                            return Ok(Expr::Map(entries));
                        }
                        "STRUCT" if self.peek_punct_n(1, Punct::LParen) => {
                            self.advance();
                            self.advance();
                            let mut fields = Vec::new();
                            if !self.peek_punct(Punct::RParen) {
                                loop {
                                    let k = self.ident()?;
                                    self.expect_punct(Punct::Assign, ":=")?;
                                    let v = self.expr()?;
                                    fields.push((k, v));
                                    if !self.eat_punct(Punct::Comma) {
                                        break;
                                    }
                                }
                            }
                            self.expect_punct(Punct::RParen, ")")?;
                            return Ok(Expr::Struct(fields));
                        }
                        _ if RESERVED.contains(&value.as_str()) => {
                            return Err(self.mismatched("an expression"));
                        }
                        _ => {}
                    }
                }
                self.advance();
                if self.eat_punct(Punct::LParen) {
                    let mut args = Vec::new();
                    if self.eat_punct(Punct::Star) {
                        args.push(Expr::Wildcard);
                    } else if !self.peek_punct(Punct::RParen) {
                        args = self.expr_list()?;
                    }
                    self.expect_punct(Punct::RParen, ")")?;
                    return Ok(Expr::Function { name: value, args });
                }
                if self.peek_punct(Punct::Dot)
                    && matches!(self.peek_n(1).kind, TokenKind::Ident { .. })
                {
                    self.advance();
                    let name = self.ident()?;
                    return Ok(Expr::Column {
                        source: Some(value),
                        name,
                    });
                }
                Ok(Expr::Column {
                    source: None,
                    name: value,
                })
            }
            _ => Err(self.mismatched("an expression")),
        }
    }

    fn case(&mut self) -> Result<Expr, ParseError> {
        self.expect_kw("CASE")?;
        let operand = if self.peek_kw("WHEN") {
            None
        } else {
            Some(Box::new(self.expr()?))
        };
        let mut whens = Vec::new();
        while self.eat_kw("WHEN") {
            let w = self.expr()?;
            self.expect_kw("THEN")?;
            let t = self.expr()?;
            whens.push((w, t));
        }
        if whens.is_empty() {
            return Err(self.mismatched("'WHEN'"));
        }
        let else_ = if self.eat_kw("ELSE") {
            Some(Box::new(self.expr()?))
        } else {
            None
        };
        self.expect_kw("END")?;
        Ok(Expr::Case {
            operand,
            whens,
            else_,
        })
    }
}

/// Rejects integer literals outside `BIGINT` and doubles that overflow, as
/// ksqlDB does when it builds the statement from the parse tree (hence its
/// "Failed to prepare statement" wording and a column one past the literal's).
fn check_literal(e: &Expr, at: &Token) -> Result<(), ParseError> {
    let reason = match e {
        Expr::Literal(Literal::Integer(s)) if s.parse::<i64>().is_err() => {
            format!("Invalid numeric literal: {s}")
        }
        Expr::Literal(Literal::Double(s)) if s.parse::<f64>().map_or(true, |f| f.is_infinite()) => {
            format!("Number overflows DOUBLE: {s}")
        }
        _ => return Ok(()),
    };
    Err(ParseError::new(
        at.line,
        at.column,
        format!(
            "{PREPARE_FAILED}line {}:{}: {reason}",
            at.line,
            at.column + 1
        ),
    ))
}

fn value_name(t: &Token) -> String {
    match &t.kind {
        TokenKind::Ident { value, .. } => value.clone(),
        _ => t.text.clone(),
    }
}

fn bin(op: BinaryOp, left: Expr, right: Expr) -> Expr {
    Expr::Binary {
        op,
        left: Box::new(left),
        right: Box::new(right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(sql: &str) -> Statement {
        parse_statement(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn col(name: &str) -> Expr {
        Expr::Column {
            source: None,
            name: name.into(),
        }
    }

    fn int(s: &str) -> Expr {
        Expr::Literal(Literal::Integer(s.into()))
    }

    fn string(s: &str) -> Literal {
        Literal::String(s.into())
    }

    #[test]
    fn seed_create_stream() {
        assert_eq!(
            one(
                "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');"
            ),
            Statement::CreateSource {
                kind: SourceKind::Stream,
                or_replace: false,
                read_only: false,
                if_not_exists: false,
                name: "CUSTSTREAM".into(),
                columns: vec![],
                properties: vec![
                    ("KAFKA_TOPIC".into(), string("psg-customers")),
                    ("VALUE_FORMAT".into(), string("AVRO")),
                ],
            }
        );
    }

    #[test]
    fn seed_print() {
        assert_eq!(
            one("print psg-customers;"),
            Statement::Print {
                topic: "psg-customers".into(),
                from_beginning: false,
                interval: None,
                limit: None,
            }
        );
        assert_eq!(
            one("PRINT 'My.Topic' FROM BEGINNING INTERVAL 2 LIMIT 10"),
            Statement::Print {
                topic: "My.Topic".into(),
                from_beginning: true,
                interval: Some(2),
                limit: Some(10),
            }
        );
        // Separated by spaces, `a - b` is not one topic name.
        assert!(parse_statement("print a - b").is_err());
    }

    #[test]
    fn seed_select() {
        let s = one("select nome, telefone, email, TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') as dt_nascimento, TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt_conv from custstream emit changes;");
        let Statement::Query(q) = s else {
            panic!("not a query")
        };
        assert_eq!(q.select.len(), 5);
        assert_eq!(
            q.select[3],
            SelectItem::Expr {
                expr: Expr::Function {
                    name: "TIMESTAMPTOSTRING".into(),
                    args: vec![
                        col("NASCIMENTO"),
                        Expr::Literal(string("yyyy-MM-dd")),
                        Expr::Literal(string("UTC")),
                    ],
                },
                alias: Some("DT_NASCIMENTO".into()),
            }
        );
        assert_eq!(
            q.from,
            Relation::Source {
                name: "CUSTSTREAM".into(),
                alias: None
            }
        );
        assert_eq!(q.emit, Some(Emit::Changes));
    }

    #[test]
    fn create_with_columns_and_ctas() {
        let s = one("CREATE OR REPLACE TABLE IF NOT EXISTS t (id INT PRIMARY KEY, m MAP<STRING, ARRAY<DECIMAL(4,2)>>, s STRUCT<a INT, `B` VARCHAR>, h BYTES HEADER('x')) WITH (kafka_topic='t', partitions=2);");
        let Statement::CreateSource {
            kind,
            or_replace,
            if_not_exists,
            columns,
            properties,
            ..
        } = s
        else {
            panic!()
        };
        assert_eq!(kind, SourceKind::Table);
        assert!(or_replace && if_not_exists);
        assert_eq!(columns[0].constraint, ColumnConstraint::PrimaryKey);
        assert_eq!(
            columns[1].ty,
            Type::Map(
                Box::new(Type::String),
                Box::new(Type::Array(Box::new(Type::Decimal {
                    precision: 4,
                    scale: 2
                })))
            )
        );
        assert_eq!(
            columns[2].ty,
            Type::Struct(vec![("A".into(), Type::Int), ("B".into(), Type::String)])
        );
        assert_eq!(columns[3].constraint, ColumnConstraint::Header("x".into()));
        assert_eq!(
            properties[1],
            ("PARTITIONS".into(), Literal::Integer("2".into()))
        );

        let s = one("CREATE TABLE agg WITH (value_format='JSON') AS SELECT a.id, COUNT(*) AS c FROM s a LEFT JOIN t b ON a.id = b.id WINDOW TUMBLING (SIZE 1 HOUR, GRACE PERIOD 5 MINUTES) WHERE a.x > 1 GROUP BY a.id HAVING COUNT(*) > 2 EMIT FINAL LIMIT 5");
        let Statement::CreateAsSelect { query, .. } = s else {
            panic!()
        };
        assert!(matches!(
            query.from,
            Relation::Join {
                kind: JoinKind::Left,
                ..
            }
        ));
        assert_eq!(
            query.window,
            Some(Window::Tumbling {
                size: Duration {
                    value: 1,
                    unit: "HOUR".into()
                },
                retention: None,
                grace: Some(Duration {
                    value: 5,
                    unit: "MINUTES".into()
                }),
            })
        );
        assert_eq!(query.emit, Some(Emit::Final));
        assert_eq!(query.limit, Some(5));
        assert_eq!(query.group_by.len(), 1);
    }

    #[test]
    fn other_statements() {
        assert_eq!(
            one("SHOW STREAMS EXTENDED"),
            Statement::Show {
                kind: ShowKind::Streams,
                extended: true
            }
        );
        assert_eq!(
            one("list topics;"),
            Statement::Show {
                kind: ShowKind::Topics,
                extended: false
            }
        );
        assert_eq!(
            one("DESCRIBE EXTENDED foo"),
            Statement::Describe {
                name: "FOO".into(),
                extended: true
            }
        );
        assert_eq!(
            one("DESCRIBE FUNCTION concat"),
            Statement::DescribeFunction("CONCAT".into())
        );
        assert_eq!(
            one("EXPLAIN CSAS_X_1"),
            Statement::ExplainQuery("CSAS_X_1".into())
        );
        assert!(matches!(
            one("EXPLAIN SELECT * FROM s"),
            Statement::Explain(_)
        ));
        assert_eq!(
            one("DROP TABLE IF EXISTS t DELETE TOPIC"),
            Statement::Drop {
                kind: SourceKind::Table,
                if_exists: true,
                name: "T".into(),
                delete_topic: true
            }
        );
        assert_eq!(one("TERMINATE ALL"), Statement::Terminate(None));
        assert_eq!(
            one("SET 'auto.offset.reset'='earliest'"),
            Statement::SetProperty {
                name: "auto.offset.reset".into(),
                value: "earliest".into()
            }
        );
        assert_eq!(one("UNSET 'a'"), Statement::UnsetProperty("a".into()));
        assert_eq!(
            one("DEFINE x = 'v'"),
            Statement::Define {
                name: "X".into(),
                value: "v".into()
            }
        );
        assert!(matches!(
            one("CREATE SINK CONNECTOR IF NOT EXISTS c WITH ('connector.class'='x')"),
            Statement::CreateConnector {
                kind: ConnectorKind::Sink,
                if_not_exists: true,
                ..
            }
        ));
        assert_eq!(
            one("CREATE TYPE addr AS STRUCT<street STRING>"),
            Statement::CreateType {
                if_not_exists: false,
                name: "ADDR".into(),
                ty: Type::Struct(vec![("STREET".into(), Type::String)])
            }
        );
        assert_eq!(
            one("ASSERT NOT EXISTS TOPIC t TIMEOUT 3 SECONDS"),
            Statement::AssertTopic {
                exists: false,
                name: "T".into(),
                properties: vec![],
                timeout: Some(Duration {
                    value: 3,
                    unit: "SECONDS".into()
                })
            }
        );
        assert_eq!(
            one("ASSERT SCHEMA SUBJECT 's' ID 4"),
            Statement::AssertSchema {
                exists: true,
                subject: Some("s".into()),
                id: Some(4),
                timeout: None
            }
        );
        assert_eq!(
            one("RUN SCRIPT '/a.sql'"),
            Statement::RunScript("/a.sql".into())
        );
        assert!(matches!(
            one("INSERT INTO s (a, b) VALUES (1, 'x')"),
            Statement::InsertValues { .. }
        ));
        assert!(matches!(
            one("INSERT INTO s SELECT * FROM t"),
            Statement::InsertInto { .. }
        ));
        assert_eq!(
            parse_statements("SHOW TABLES; SHOW QUERIES;")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(one("PAUSE q1"), Statement::Pause(Some("Q1".into())));
        assert_eq!(one("RESUME ALL"), Statement::Resume(None));
        assert_eq!(
            one("ALTER SYSTEM 'a'='b'"),
            Statement::AlterSystem {
                name: "a".into(),
                value: "b".into()
            }
        );
        assert_eq!(
            one("SHOW CONNECTOR PLUGINS"),
            Statement::Show {
                kind: ShowKind::ConnectorPlugins,
                extended: false
            }
        );
        assert_eq!(
            parse_expression("DATE '2021-01-01'").unwrap(),
            Expr::TypeConstructor {
                ty: "DATE".into(),
                value: "2021-01-01".into()
            }
        );
        assert!(matches!(
            parse_expression("ts AT TIME ZONE 'UTC'").unwrap(),
            Expr::AtTimeZone { .. }
        ));
    }

    #[test]
    fn script_keeps_statement_text() {
        let v = parse_script("SHOW TABLES ;\n  -- c\n  print psg-customers;\nlist topics").unwrap();
        let texts: Vec<_> = v.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(
            texts,
            ["SHOW TABLES ;", "print psg-customers;", "list topics"]
        );
        assert_eq!((v[1].line, v[1].column), (3, 3));
    }

    #[test]
    fn precedence() {
        // a OR b AND NOT c = 1 + 2 * 3
        let e = parse_expression("a OR b AND NOT c = 1 + 2 * 3").unwrap();
        let expected = bin(
            BinaryOp::Or,
            col("A"),
            bin(
                BinaryOp::And,
                col("B"),
                Expr::Unary {
                    op: UnaryOp::Not,
                    expr: Box::new(bin(
                        BinaryOp::Eq,
                        col("C"),
                        bin(
                            BinaryOp::Add,
                            int("1"),
                            bin(BinaryOp::Mul, int("2"), int("3")),
                        ),
                    )),
                },
            ),
        );
        assert_eq!(e, expected);
        // `||` binds looser than `+`.
        assert_eq!(
            parse_expression("a || b + c").unwrap(),
            bin(
                BinaryOp::Concat,
                col("A"),
                bin(BinaryOp::Add, col("B"), col("C"))
            )
        );
        assert_eq!(
            parse_expression("-x->f[1]").unwrap(),
            Expr::Unary {
                op: UnaryOp::Minus,
                expr: Box::new(Expr::Subscript {
                    expr: Box::new(Expr::Dereference {
                        expr: Box::new(col("X")),
                        field: "F".into()
                    }),
                    index: Box::new(int("1"))
                })
            }
        );
        assert_eq!(parse_expression("-5").unwrap(), int("-5"));
    }

    #[test]
    fn predicates_and_constructors() {
        for sql in [
            "a IS NOT NULL",
            "a NOT BETWEEN 1 AND 2 AND b",
            "a NOT LIKE 'x%' ESCAPE '!'",
            "a IN (1, 2, 3)",
            "CASE WHEN a > 1 THEN 'x' ELSE 'y' END",
            "CASE a WHEN 1 THEN 'one' END",
            "CAST(a AS DECIMAL(10, 2))",
            "TRANSFORM(arr, x => x + 1)",
            "REDUCE(arr, 0, (s, x) => s + x)",
            "ARRAY[1, 2]",
            "MAP('a' := 1, 'b' := 2)",
            "STRUCT(f1 := 1, `F2` := 'x')",
            "s.col",
            "${var}",
            "COUNT(*)",
        ] {
            parse_expression(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        assert_eq!(
            parse_expression("(x, y) => x").unwrap(),
            Expr::Lambda {
                params: vec!["X".into(), "Y".into()],
                body: Box::new(col("X"))
            }
        );
        assert!(matches!(
            parse_expression("a NOT BETWEEN 1 AND 2 AND b").unwrap(),
            Expr::Binary {
                op: BinaryOp::And,
                ..
            }
        ));
    }

    #[test]
    fn select_items() {
        let Statement::Query(q) = one("SELECT *, s.*, a b, c AS `D` FROM src s") else {
            panic!()
        };
        assert_eq!(q.select[0], SelectItem::Wildcard);
        assert_eq!(q.select[1], SelectItem::QualifiedWildcard("S".into()));
        assert_eq!(
            q.select[2],
            SelectItem::Expr {
                expr: col("A"),
                alias: Some("B".into())
            }
        );
        assert_eq!(
            q.select[3],
            SelectItem::Expr {
                expr: col("C"),
                alias: Some("D".into())
            }
        );
        assert_eq!(
            q.from,
            Relation::Source {
                name: "SRC".into(),
                alias: Some("S".into())
            }
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let ok = format!("{}1{}", "(".repeat(30), ")".repeat(30));
        parse_expression(&ok).unwrap();
        for deep in [
            format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}1", "- ".repeat(100_000)),
            format!("{}x", "NOT ".repeat(100_000)),
            format!("ARRAY[{}1{}", "ARRAY[".repeat(100_000), "]".repeat(100_001)),
        ] {
            let e = parse_expression(&deep).unwrap_err();
            assert!(e.message.contains("nested too deeply"), "{e}");
        }
        let ty = format!(
            "CREATE TYPE t AS {}INT{}",
            "ARRAY<".repeat(100_000),
            ">".repeat(100_000)
        );
        assert!(parse_statement(&ty).is_err());
    }

    #[test]
    fn long_join_and_explain_chains_are_errors() {
        let joins = format!("SELECT * FROM a{}", " JOIN b ON a.x = b.x".repeat(100_000));
        assert!(parse_statement(&joins).is_err());
        let explains = format!("{}SELECT * FROM a", "EXPLAIN ".repeat(100_000));
        assert!(parse_statement(&explains).is_err());
    }

    #[test]
    fn window_units_are_checked() {
        let e = parse_statement("SELECT * FROM s WINDOW TUMBLING (SIZE 30 BOBS)").unwrap_err();
        assert_eq!((e.line, e.column), (1, 42));
        assert!(e.message.starts_with("mismatched input 'BOBS'"), "{e}");
    }

    #[test]
    fn error_positions() {
        let e = parse_statement("SELECT * FORM s").unwrap_err();
        assert_eq!(e.to_string(), "line 1:10: Syntax Error\nExpecting 'FROM'");
        let e = parse_statement("SHOW TABLES\n  foo").unwrap_err();
        assert_eq!(e.to_string(), "line 2:3: Syntax Error\nExpecting ';'");
        let e = parse_statement("SELCT * FROM s").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1:1: Syntax Error\nUnknown statement 'SELCT'\nDid you mean 'SELECT'?"
        );
        let e = parse_statement("ASSERT VALUES s (a INT) VALUES (1)").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1:8: Syntax Error\nSyntax error at or near 'VALUES' at line 1:8"
        );
        let e = parse_statement("SELECT COUNT(*) FROM s GROUP BY a, (b, c)").unwrap_err();
        assert_eq!(e.to_string(), "line 1:38: Syntax Error\nmissing ')' at ','");
        let e = parse_statement("CREATE STREAM s (a INT").unwrap_err();
        assert_eq!((e.line, e.column), (1, 23));
        assert!(e.message.contains("'<EOF>'"), "{e}");
    }
}
