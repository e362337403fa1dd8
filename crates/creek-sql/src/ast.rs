//! The syntax tree produced by [`crate::parser`].
//!
//! Identifiers are stored as written for quoted names and upper-cased for
//! unquoted ones, matching ksqlDB's resolution rules.

/// `STREAM` or `TABLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Stream,
    Table,
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    /// Integer digits, kept as text (may exceed `i64`).
    Integer(String),
    /// A decimal literal such as `1.50`, kept as text to preserve scale.
    Decimal(String),
    /// A floating-point literal with exponent.
    Double(String),
    Boolean(bool),
    Null,
}

/// `WITH (k = v, ...)` properties; keys upper-cased unless quoted.
pub type Properties = Vec<(String, Literal)>;

/// A SQL type.
#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    Boolean,
    Int,
    Bigint,
    Double,
    Decimal {
        precision: u32,
        scale: u32,
    },
    String,
    Bytes,
    Date,
    Time,
    Timestamp,
    Array(Box<Type>),
    Map(Box<Type>, Box<Type>),
    Struct(Vec<(String, Type)>),
    /// A name registered with `CREATE TYPE`.
    Custom(String),
}

/// Column constraint in a `CREATE STREAM|TABLE` element list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnConstraint {
    None,
    Key,
    PrimaryKey,
    Headers,
    Header(String),
}

/// One `name TYPE [constraint]` element.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub ty: Type,
    pub constraint: ColumnConstraint,
}

/// A time span such as `1 HOUR`; `unit` is upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duration {
    pub value: u64,
    pub unit: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Minus,
    Plus,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Concat,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// `[source.]name`
    Column {
        source: Option<String>,
        name: String,
    },
    /// `${name}`
    Variable(String),
    /// `*` as a function argument (`COUNT(*)`).
    Wildcard,
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    IsDistinctFrom {
        left: Box<Expr>,
        right: Box<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<Box<Expr>>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `expr->field`
    Dereference {
        expr: Box<Expr>,
        field: String,
    },
    /// `expr[index]`
    Subscript {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    Function {
        name: String,
        args: Vec<Expr>,
    },
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
    },
    Cast {
        expr: Box<Expr>,
        ty: Type,
    },
    Lambda {
        params: Vec<String>,
        body: Box<Expr>,
    },
    /// `expr AT TIME ZONE 'zone'`
    AtTimeZone {
        expr: Box<Expr>,
        zone: String,
    },
    /// `TYPE 'value'`, e.g. `DATE '2021-01-01'`.
    TypeConstructor {
        ty: String,
        value: String,
    },
    Array(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Struct(Vec<(String, Expr)>),
}

impl Expr {
    /// Calls `f` on each direct child, in the order they are written.
    pub fn for_each_child(&self, f: &mut impl FnMut(&Expr)) {
        match self {
            Expr::Literal(_)
            | Expr::Column { .. }
            | Expr::Variable(_)
            | Expr::Wildcard
            | Expr::TypeConstructor { .. } => {}
            Expr::Unary { expr, .. }
            | Expr::IsNull { expr, .. }
            | Expr::Dereference { expr, .. }
            | Expr::Cast { expr, .. }
            | Expr::AtTimeZone { expr, .. } => f(expr),
            Expr::Lambda { body, .. } => f(body),
            Expr::Binary { left, right, .. } | Expr::IsDistinctFrom { left, right, .. } => {
                f(left);
                f(right);
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                f(expr);
                f(low);
                f(high);
            }
            Expr::Like {
                expr,
                pattern,
                escape,
                ..
            } => {
                f(expr);
                f(pattern);
                if let Some(e) = escape {
                    f(e);
                }
            }
            Expr::InList { expr, list, .. } => {
                f(expr);
                list.iter().for_each(f);
            }
            Expr::Subscript { expr, index } => {
                f(expr);
                f(index);
            }
            Expr::Function { args, .. } | Expr::Array(args) => args.iter().for_each(f),
            Expr::Case {
                operand,
                whens,
                else_,
            } => {
                if let Some(o) = operand {
                    f(o);
                }
                for (w, t) in whens {
                    f(w);
                    f(t);
                }
                if let Some(e) = else_ {
                    f(e);
                }
            }
            Expr::Map(entries) => {
                for (k, v) in entries {
                    f(k);
                    f(v);
                }
            }
            Expr::Struct(fields) => fields.iter().for_each(|(_, v)| f(v)),
        }
    }

    /// Visits the expression top-down without copying it: `f` sees every node,
    /// and where it returns false that node's children are skipped.
    pub fn visit(&self, f: &mut impl FnMut(&Expr) -> bool) {
        if f(self) {
            self.for_each_child(&mut |child| child.visit(f));
        }
    }

    /// Whether any node of the expression satisfies `test`.
    pub fn any(&self, mut test: impl FnMut(&Expr) -> bool) -> bool {
        let mut found = false;
        self.visit(&mut |node| {
            found = found || test(node);
            !found
        });
        found
    }

    /// Rebuilds the expression top-down: where `f` returns a replacement the
    /// node is replaced (and not descended into), elsewhere the children are
    /// rewritten. Used by planners to substitute columns for sub-expressions.
    pub fn rewrite<E>(
        &self,
        f: &mut impl FnMut(&Expr) -> Result<Option<Expr>, E>,
    ) -> Result<Expr, E> {
        if let Some(replacement) = f(self)? {
            return Ok(replacement);
        }
        Ok(match self {
            Expr::Literal(_)
            | Expr::Column { .. }
            | Expr::Variable(_)
            | Expr::Wildcard
            | Expr::TypeConstructor { .. } => self.clone(),
            Expr::Unary { op, expr } => Expr::Unary {
                op: *op,
                expr: Box::new(expr.rewrite(f)?),
            },
            Expr::Binary { op, left, right } => Expr::Binary {
                op: *op,
                left: Box::new(left.rewrite(f)?),
                right: Box::new(right.rewrite(f)?),
            },
            Expr::IsNull { expr, negated } => Expr::IsNull {
                expr: Box::new(expr.rewrite(f)?),
                negated: *negated,
            },
            Expr::IsDistinctFrom {
                left,
                right,
                negated,
            } => Expr::IsDistinctFrom {
                left: Box::new(left.rewrite(f)?),
                right: Box::new(right.rewrite(f)?),
                negated: *negated,
            },
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => Expr::Between {
                expr: Box::new(expr.rewrite(f)?),
                low: Box::new(low.rewrite(f)?),
                high: Box::new(high.rewrite(f)?),
                negated: *negated,
            },
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => Expr::Like {
                expr: Box::new(expr.rewrite(f)?),
                pattern: Box::new(pattern.rewrite(f)?),
                escape: match escape {
                    Some(e) => Some(Box::new(e.rewrite(f)?)),
                    None => None,
                },
                negated: *negated,
            },
            Expr::InList {
                expr,
                list,
                negated,
            } => Expr::InList {
                expr: Box::new(expr.rewrite(f)?),
                list: list
                    .iter()
                    .map(|e| e.rewrite(f))
                    .collect::<Result<_, _>>()?,
                negated: *negated,
            },
            Expr::Dereference { expr, field } => Expr::Dereference {
                expr: Box::new(expr.rewrite(f)?),
                field: field.clone(),
            },
            Expr::Subscript { expr, index } => Expr::Subscript {
                expr: Box::new(expr.rewrite(f)?),
                index: Box::new(index.rewrite(f)?),
            },
            Expr::Function { name, args } => Expr::Function {
                name: name.clone(),
                args: args
                    .iter()
                    .map(|e| e.rewrite(f))
                    .collect::<Result<_, _>>()?,
            },
            Expr::Case {
                operand,
                whens,
                else_,
            } => Expr::Case {
                operand: match operand {
                    Some(o) => Some(Box::new(o.rewrite(f)?)),
                    None => None,
                },
                whens: whens
                    .iter()
                    .map(|(w, t)| Ok((w.rewrite(f)?, t.rewrite(f)?)))
                    .collect::<Result<_, E>>()?,
                else_: match else_ {
                    Some(e) => Some(Box::new(e.rewrite(f)?)),
                    None => None,
                },
            },
            Expr::Cast { expr, ty } => Expr::Cast {
                expr: Box::new(expr.rewrite(f)?),
                ty: ty.clone(),
            },
            Expr::Lambda { params, body } => Expr::Lambda {
                params: params.clone(),
                body: Box::new(body.rewrite(f)?),
            },
            Expr::AtTimeZone { expr, zone } => Expr::AtTimeZone {
                expr: Box::new(expr.rewrite(f)?),
                zone: zone.clone(),
            },
            Expr::Array(items) => Expr::Array(
                items
                    .iter()
                    .map(|e| e.rewrite(f))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Map(entries) => Expr::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.rewrite(f)?, v.rewrite(f)?)))
                    .collect::<Result<_, E>>()?,
            ),
            Expr::Struct(fields) => Expr::Struct(
                fields
                    .iter()
                    .map(|(n, v)| Ok((n.clone(), v.rewrite(f)?)))
                    .collect::<Result<_, E>>()?,
            ),
        })
    }
}

/// One item of a select list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Wildcard,
    /// `source.*`
    QualifiedWildcard(String),
    /// `expr->*`: every field of a struct.
    StructAll(Expr),
    Expr {
        expr: Expr,
        alias: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

/// `WITHIN` clause of a stream-stream join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Within {
    pub before: Duration,
    /// Set for `WITHIN (before, after)`.
    pub after: Option<Duration>,
    pub grace: Option<Duration>,
}

/// A `FROM` relation.
#[derive(Debug, Clone, PartialEq)]
pub enum Relation {
    Source {
        name: String,
        alias: Option<String>,
    },
    Join {
        left: Box<Relation>,
        kind: JoinKind,
        right: Box<Relation>,
        within: Option<Within>,
        on: Expr,
    },
}

/// `WINDOW ...` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Window {
    Tumbling {
        size: Duration,
        retention: Option<Duration>,
        grace: Option<Duration>,
    },
    Hopping {
        size: Duration,
        advance: Duration,
        retention: Option<Duration>,
        grace: Option<Duration>,
    },
    Session {
        gap: Duration,
        retention: Option<Duration>,
        grace: Option<Duration>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Changes,
    Final,
}

/// A `SELECT` query.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: Relation,
    pub window: Option<Window>,
    pub where_: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub emit: Option<Emit>,
    /// As written: ksqlDB's parser takes a negative LIMIT and its query
    /// validators refuse it.
    pub limit: Option<i64>,
}

/// What `SHOW`/`LIST` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShowKind {
    Topics,
    AllTopics,
    Streams,
    Tables,
    Queries,
    Connectors,
    ConnectorPlugins,
    SourceConnectors,
    SinkConnectors,
    Properties,
    Functions,
    Types,
    Variables,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Sink,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (cols) WITH (...)`
    CreateSource {
        kind: SourceKind,
        or_replace: bool,
        read_only: bool,
        if_not_exists: bool,
        name: String,
        columns: Vec<ColumnDef>,
        properties: Properties,
    },
    /// `CREATE STREAM|TABLE name [WITH (...)] AS SELECT ...`
    CreateAsSelect {
        kind: SourceKind,
        or_replace: bool,
        if_not_exists: bool,
        name: String,
        properties: Properties,
        query: Box<Query>,
    },
    InsertInto {
        target: String,
        columns: Vec<String>,
        query: Box<Query>,
    },
    InsertValues {
        target: String,
        columns: Vec<String>,
        values: Vec<Expr>,
    },
    Query(Box<Query>),
    Show {
        kind: ShowKind,
        extended: bool,
    },
    /// `DESCRIBE [EXTENDED] name`
    Describe {
        name: String,
        extended: bool,
    },
    /// `DESCRIBE STREAMS|TABLES [EXTENDED]`
    DescribeAll {
        kind: SourceKind,
        extended: bool,
    },
    DescribeFunction(String),
    DescribeConnector(String),
    ExplainQuery(String),
    Explain(Box<Statement>),
    Print {
        topic: String,
        from_beginning: bool,
        interval: Option<u64>,
        limit: Option<u64>,
    },
    Drop {
        kind: SourceKind,
        if_exists: bool,
        name: String,
        delete_topic: bool,
    },
    /// `PAUSE id`; `None` for `PAUSE ALL`.
    Pause(Option<String>),
    /// `RESUME id`; `None` for `RESUME ALL`.
    Resume(Option<String>),
    /// `TERMINATE id`; `None` for `TERMINATE ALL`.
    Terminate(Option<String>),
    SetProperty {
        name: String,
        value: String,
    },
    UnsetProperty(String),
    Define {
        name: String,
        value: String,
    },
    Undefine(String),
    CreateConnector {
        kind: ConnectorKind,
        if_not_exists: bool,
        name: String,
        properties: Properties,
    },
    DropConnector {
        if_exists: bool,
        name: String,
    },
    CreateType {
        if_not_exists: bool,
        name: String,
        ty: Type,
    },
    DropType {
        if_exists: bool,
        name: String,
    },
    AssertTopic {
        exists: bool,
        name: String,
        properties: Properties,
        timeout: Option<Duration>,
    },
    AssertSchema {
        exists: bool,
        subject: Option<String>,
        id: Option<u64>,
        timeout: Option<Duration>,
    },
    RunScript(String),
    /// `ALTER SYSTEM 'k'='v'`
    AlterSystem {
        name: String,
        value: String,
    },
    /// `ALTER STREAM|TABLE name ADD [COLUMN] col TYPE, ...`
    AlterSource {
        kind: SourceKind,
        name: String,
        add_columns: Vec<(String, Type)>,
    },
}

#[cfg(test)]
mod tests {
    use super::Expr;
    use crate::parser::parse_expression;

    fn columns(e: &Expr, descend_into_calls: bool) -> Vec<String> {
        let mut out = Vec::new();
        e.visit(&mut |node| match node {
            Expr::Column { name, .. } => {
                out.push(name.clone());
                true
            }
            Expr::Function { .. } => descend_into_calls,
            _ => true,
        });
        out
    }

    #[test]
    fn visit_sees_every_node_in_order_and_skips_where_told() {
        let e = parse_expression(
            "CASE WHEN a > 1 THEN UCASE(b) ELSE c END || d[e] || CAST(f AS STRING)",
        )
        .unwrap();
        assert_eq!(columns(&e, true), ["A", "B", "C", "D", "E", "F"]);
        assert_eq!(columns(&e, false), ["A", "C", "D", "E", "F"]);
        assert!(e.any(
            |n| matches!(n, Expr::Function { name, .. } if name.eq_ignore_ascii_case("ucase"))
        ));
        assert!(!e.any(|n| matches!(n, Expr::Lambda { .. })));
        // `any` stops at the first match.
        let mut seen = 0;
        assert!(e.any(|n| {
            seen += 1;
            matches!(n, Expr::Column { .. })
        }));
        assert!(seen < 8, "{seen}");
    }
}
