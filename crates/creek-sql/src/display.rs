//! Formats the syntax tree back to SQL that parses to the same tree.
//!
//! Identifiers are always backquoted (so their stored case survives) and
//! compound expressions are fully parenthesized.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::*;

struct Ident<'a>(&'a str);

impl Display for Ident<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.0.starts_with("${") {
            return f.write_str(self.0);
        }
        f.write_char('`')?;
        f.write_str(&self.0.replace('`', "``"))?;
        f.write_char('`')
    }
}

fn list<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    mut each: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        each(f, item)?;
    }
    Ok(())
}

fn string(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::String(s) => string(f, s),
            Literal::Integer(s) | Literal::Decimal(s) | Literal::Double(s) => f.write_str(s),
            Literal::Boolean(b) => f.write_str(if *b { "TRUE" } else { "FALSE" }),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl Display for Type {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Type::Boolean => f.write_str("BOOLEAN"),
            Type::Int => f.write_str("INTEGER"),
            Type::Bigint => f.write_str("BIGINT"),
            Type::Double => f.write_str("DOUBLE"),
            Type::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            Type::String => f.write_str("STRING"),
            Type::Bytes => f.write_str("BYTES"),
            Type::Date => f.write_str("DATE"),
            Type::Time => f.write_str("TIME"),
            Type::Timestamp => f.write_str("TIMESTAMP"),
            Type::Array(t) => write!(f, "ARRAY<{t}>"),
            Type::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            Type::Struct(fields) => {
                f.write_str("STRUCT<")?;
                list(f, fields, |f, (n, t)| write!(f, "{} {t}", Ident(n)))?;
                f.write_str(">")
            }
            Type::Custom(n) => write!(f, "{}", Ident(n)),
        }
    }
}

impl Display for Duration {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value, self.unit)
    }
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Concat => "||",
        })
    }
}

fn not(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Column { source, name } => {
                if let Some(s) = source {
                    write!(f, "{}.", Ident(s))?;
                }
                write!(f, "{}", Ident(name))
            }
            Expr::Variable(v) => write!(f, "${{{v}}}"),
            Expr::Wildcard => f.write_str("*"),
            Expr::Unary { op, expr } => match op {
                UnaryOp::Minus => write!(f, "(-({expr}))"),
                UnaryOp::Plus => write!(f, "(+({expr}))"),
                UnaryOp::Not => write!(f, "(NOT {expr})"),
            },
            Expr::Binary { op, left, right } => {
                f.write_str("(")?;
                chain(f, *op, left)?;
                write!(f, " {op} {right})")
            }
            Expr::IsNull { expr, negated } => write!(f, "({expr} IS {}NULL)", not(*negated)),
            Expr::IsDistinctFrom {
                left,
                right,
                negated,
            } => write!(f, "({left} IS {}DISTINCT FROM {right})", not(*negated)),
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => write!(f, "({expr} {}BETWEEN {low} AND {high})", not(*negated)),
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => {
                write!(f, "({expr} {}LIKE {pattern}", not(*negated))?;
                if let Some(e) = escape {
                    write!(f, " ESCAPE {e}")?;
                }
                f.write_str(")")
            }
            Expr::InList {
                expr,
                list: items,
                negated,
            } => {
                write!(f, "({expr} {}IN (", not(*negated))?;
                list(f, items, |f, e| write!(f, "{e}"))?;
                f.write_str("))")
            }
            Expr::Dereference { expr, field } => write!(f, "({expr})->{}", Ident(field)),
            Expr::Subscript { expr, index } => write!(f, "({expr})[{index}]"),
            Expr::Function { name, args } => {
                write!(f, "{}(", Ident(name))?;
                list(f, args, |f, e| write!(f, "{e}"))?;
                f.write_str(")")
            }
            Expr::Case {
                operand,
                whens,
                else_,
            } => {
                f.write_str("CASE")?;
                if let Some(o) = operand {
                    write!(f, " {o}")?;
                }
                for (w, t) in whens {
                    write!(f, " WHEN {w} THEN {t}")?;
                }
                if let Some(e) = else_ {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Cast { expr, ty } => write!(f, "CAST({expr} AS {ty})"),
            Expr::Lambda { params, body } => {
                f.write_str("(")?;
                list(f, params, |f, p| write!(f, "{}", Ident(p)))?;
                write!(f, ") => {body}")
            }
            Expr::AtTimeZone { expr, zone } => {
                write!(f, "({expr} AT TIME ZONE ")?;
                string(f, zone)?;
                f.write_str(")")
            }
            Expr::TypeConstructor { ty, value } => {
                write!(f, "{} ", Ident(ty))?;
                string(f, value)
            }
            Expr::Array(items) => {
                f.write_str("ARRAY[")?;
                list(f, items, |f, e| write!(f, "{e}"))?;
                f.write_str("]")
            }
            Expr::Map(entries) => {
                f.write_str("MAP(")?;
                list(f, entries, |f, (k, v)| write!(f, "{k} := {v}"))?;
                f.write_str(")")
            }
            Expr::Struct(fields) => {
                f.write_str("STRUCT(")?;
                list(f, fields, |f, (k, v)| write!(f, "{} := {v}", Ident(k)))?;
                f.write_str(")")
            }
        }
    }
}

/// Operators of one precedence level, which associate to the left.
fn level(op: BinaryOp) -> u8 {
    match op {
        BinaryOp::Or => 0,
        BinaryOp::And => 1,
        BinaryOp::Eq
        | BinaryOp::Neq
        | BinaryOp::Lt
        | BinaryOp::Le
        | BinaryOp::Gt
        | BinaryOp::Ge => 2,
        BinaryOp::Concat => 3,
        BinaryOp::Add | BinaryOp::Sub => 4,
        BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 5,
    }
}

/// Prints the left operand of an `op` chain without its parentheses when its
/// operator has the same precedence (left-associative): `((a + b) - c)`
/// prints as `(a + b - c)`, so long chains don't nest parentheses.
/// Comparisons don't chain in ksqlDB, so they keep theirs.
fn chain(f: &mut Formatter<'_>, op: BinaryOp, e: &Expr) -> fmt::Result {
    match e {
        Expr::Binary {
            op: inner,
            left,
            right,
        } if level(*inner) == level(op) && level(op) != 2 => {
            chain(f, *inner, left)?;
            write!(f, " {inner} {right}")
        }
        e => write!(f, "{e}"),
    }
}

impl Display for SelectItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SelectItem::Wildcard => f.write_str("*"),
            SelectItem::QualifiedWildcard(s) => write!(f, "{}.*", Ident(s)),
            SelectItem::StructAll(e) => write!(f, "({e})->*"),
            SelectItem::Expr { expr, alias } => {
                write!(f, "{expr}")?;
                if let Some(a) = alias {
                    write!(f, " AS {}", Ident(a))?;
                }
                Ok(())
            }
        }
    }
}

fn grace(f: &mut Formatter<'_>, g: &Option<Duration>) -> fmt::Result {
    if let Some(g) = g {
        write!(f, ", GRACE PERIOD {g}")?;
    }
    Ok(())
}

fn retention(f: &mut Formatter<'_>, r: &Option<Duration>) -> fmt::Result {
    if let Some(r) = r {
        write!(f, ", RETENTION {r}")?;
    }
    Ok(())
}

impl Display for Relation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Relation::Source { name, alias } => {
                write!(f, "{}", Ident(name))?;
                if let Some(a) = alias {
                    write!(f, " {}", Ident(a))?;
                }
                Ok(())
            }
            Relation::Join {
                left,
                kind,
                right,
                within,
                on,
            } => {
                let k = match kind {
                    JoinKind::Inner => "JOIN",
                    JoinKind::Left => "LEFT JOIN",
                    JoinKind::Right => "RIGHT JOIN",
                    JoinKind::Full => "FULL OUTER JOIN",
                };
                write!(f, "{left} {k} {right}")?;
                if let Some(w) = within {
                    match &w.after {
                        Some(a) => write!(f, " WITHIN ({}, {a})", w.before)?,
                        None => write!(f, " WITHIN {}", w.before)?,
                    }
                    if let Some(g) = &w.grace {
                        write!(f, " GRACE PERIOD {g}")?;
                    }
                }
                write!(f, " ON {on}")
            }
        }
    }
}

impl Display for Window {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Window::Tumbling {
                size,
                retention: r,
                grace: g,
            } => {
                write!(f, "TUMBLING (SIZE {size}")?;
                retention(f, r)?;
                grace(f, g)?;
            }
            Window::Hopping {
                size,
                advance,
                retention: r,
                grace: g,
            } => {
                write!(f, "HOPPING (SIZE {size}, ADVANCE BY {advance}")?;
                retention(f, r)?;
                grace(f, g)?;
            }
            Window::Session {
                gap,
                retention: r,
                grace: g,
            } => {
                write!(f, "SESSION ({gap}")?;
                retention(f, r)?;
                grace(f, g)?;
            }
        }
        f.write_str(")")
    }
}

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("SELECT ")?;
        list(f, &self.select, |f, s| write!(f, "{s}"))?;
        write!(f, " FROM {}", self.from)?;
        if let Some(w) = &self.window {
            write!(f, " WINDOW {w}")?;
        }
        if let Some(w) = &self.where_ {
            write!(f, " WHERE {w}")?;
        }
        if !self.group_by.is_empty() {
            f.write_str(" GROUP BY ")?;
            list(f, &self.group_by, |f, e| write!(f, "{e}"))?;
        }
        if !self.partition_by.is_empty() {
            f.write_str(" PARTITION BY ")?;
            list(f, &self.partition_by, |f, e| write!(f, "{e}"))?;
        }
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        match self.emit {
            Some(Emit::Changes) => f.write_str(" EMIT CHANGES")?,
            Some(Emit::Final) => f.write_str(" EMIT FINAL")?,
            None => {}
        }
        if let Some(l) = self.limit {
            write!(f, " LIMIT {l}")?;
        }
        Ok(())
    }
}

fn properties(f: &mut Formatter<'_>, props: &Properties) -> fmt::Result {
    if props.is_empty() {
        return Ok(());
    }
    f.write_str(" WITH (")?;
    list(f, props, |f, (k, v)| write!(f, "{}={v}", Ident(k)))?;
    f.write_str(")")
}

fn source_kind(k: SourceKind) -> &'static str {
    match k {
        SourceKind::Stream => "STREAM",
        SourceKind::Table => "TABLE",
    }
}

fn opt(f: &mut Formatter<'_>, on: bool, s: &str) -> fmt::Result {
    if on {
        f.write_str(s)?;
    }
    Ok(())
}

fn columns(f: &mut Formatter<'_>, cols: &[String]) -> fmt::Result {
    if !cols.is_empty() {
        f.write_str(" (")?;
        list(f, cols, |f, c| write!(f, "{}", Ident(c)))?;
        f.write_str(")")?;
    }
    Ok(())
}

fn id_or_all(f: &mut Formatter<'_>, word: &str, id: &Option<String>) -> fmt::Result {
    match id {
        Some(id) => write!(f, "{word} {}", Ident(id)),
        None => write!(f, "{word} ALL"),
    }
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::CreateSource {
                kind,
                or_replace,
                read_only,
                if_not_exists,
                name,
                columns: cols,
                properties: props,
            } => {
                f.write_str("CREATE ")?;
                opt(f, *or_replace, "OR REPLACE ")?;
                opt(f, *read_only, "SOURCE ")?;
                write!(f, "{} ", source_kind(*kind))?;
                opt(f, *if_not_exists, "IF NOT EXISTS ")?;
                write!(f, "{}", Ident(name))?;
                if !cols.is_empty() {
                    f.write_str(" (")?;
                    list(f, cols, |f, c| {
                        write!(f, "{} {}", Ident(&c.name), c.ty)?;
                        match &c.constraint {
                            ColumnConstraint::None => Ok(()),
                            ColumnConstraint::Key => f.write_str(" KEY"),
                            ColumnConstraint::PrimaryKey => f.write_str(" PRIMARY KEY"),
                            ColumnConstraint::Headers => f.write_str(" HEADERS"),
                            ColumnConstraint::Header(k) => {
                                f.write_str(" HEADER(")?;
                                string(f, k)?;
                                f.write_str(")")
                            }
                        }
                    })?;
                    f.write_str(")")?;
                }
                properties(f, props)
            }
            Statement::CreateAsSelect {
                kind,
                or_replace,
                if_not_exists,
                name,
                properties: props,
                query,
            } => {
                f.write_str("CREATE ")?;
                opt(f, *or_replace, "OR REPLACE ")?;
                write!(f, "{} ", source_kind(*kind))?;
                opt(f, *if_not_exists, "IF NOT EXISTS ")?;
                write!(f, "{}", Ident(name))?;
                properties(f, props)?;
                write!(f, " AS {query}")
            }
            Statement::InsertInto {
                target,
                columns: cols,
                query,
            } => {
                write!(f, "INSERT INTO {}", Ident(target))?;
                columns(f, cols)?;
                write!(f, " {query}")
            }
            Statement::InsertValues {
                target,
                columns: cols,
                values,
            } => {
                write!(f, "INSERT INTO {}", Ident(target))?;
                columns(f, cols)?;
                f.write_str(" VALUES (")?;
                list(f, values, |f, e| write!(f, "{e}"))?;
                f.write_str(")")
            }
            Statement::Query(q) => write!(f, "{q}"),
            Statement::Show { kind, extended } => {
                let k = match kind {
                    ShowKind::Topics => "TOPICS",
                    ShowKind::AllTopics => "ALL TOPICS",
                    ShowKind::Streams => "STREAMS",
                    ShowKind::Tables => "TABLES",
                    ShowKind::Queries => "QUERIES",
                    ShowKind::Connectors => "CONNECTORS",
                    ShowKind::ConnectorPlugins => "CONNECTOR PLUGINS",
                    ShowKind::SourceConnectors => "SOURCE CONNECTORS",
                    ShowKind::SinkConnectors => "SINK CONNECTORS",
                    ShowKind::Properties => "PROPERTIES",
                    ShowKind::Functions => "FUNCTIONS",
                    ShowKind::Types => "TYPES",
                    ShowKind::Variables => "VARIABLES",
                };
                write!(f, "SHOW {k}")?;
                opt(f, *extended, " EXTENDED")
            }
            Statement::Describe { name, extended } => {
                f.write_str("DESCRIBE ")?;
                opt(f, *extended, "EXTENDED ")?;
                write!(f, "{}", Ident(name))
            }
            Statement::DescribeAll { kind, extended } => {
                write!(f, "DESCRIBE {}S", source_kind(*kind))?;
                opt(f, *extended, " EXTENDED")
            }
            Statement::DescribeFunction(n) => write!(f, "DESCRIBE FUNCTION {}", Ident(n)),
            Statement::DescribeConnector(n) => write!(f, "DESCRIBE CONNECTOR {}", Ident(n)),
            Statement::ExplainQuery(id) => write!(f, "EXPLAIN {}", Ident(id)),
            Statement::Explain(s) => write!(f, "EXPLAIN {s}"),
            Statement::Print {
                topic,
                from_beginning,
                interval,
                limit,
            } => {
                f.write_str("PRINT ")?;
                string(f, topic)?;
                opt(f, *from_beginning, " FROM BEGINNING")?;
                if let Some(i) = interval {
                    write!(f, " INTERVAL {i}")?;
                }
                if let Some(l) = limit {
                    write!(f, " LIMIT {l}")?;
                }
                Ok(())
            }
            Statement::Drop {
                kind,
                if_exists,
                name,
                delete_topic,
            } => {
                write!(f, "DROP {} ", source_kind(*kind))?;
                opt(f, *if_exists, "IF EXISTS ")?;
                write!(f, "{}", Ident(name))?;
                opt(f, *delete_topic, " DELETE TOPIC")
            }
            Statement::Pause(id) => id_or_all(f, "PAUSE", id),
            Statement::Resume(id) => id_or_all(f, "RESUME", id),
            Statement::Terminate(id) => id_or_all(f, "TERMINATE", id),
            Statement::SetProperty { name, value } => {
                f.write_str("SET ")?;
                string(f, name)?;
                f.write_str("=")?;
                string(f, value)
            }
            Statement::UnsetProperty(n) => {
                f.write_str("UNSET ")?;
                string(f, n)
            }
            Statement::Define { name, value } => {
                write!(f, "DEFINE {} = ", Ident(name))?;
                string(f, value)
            }
            Statement::Undefine(n) => write!(f, "UNDEFINE {}", Ident(n)),
            Statement::CreateConnector {
                kind,
                if_not_exists,
                name,
                properties: props,
            } => {
                let k = match kind {
                    ConnectorKind::Source => "SOURCE",
                    ConnectorKind::Sink => "SINK",
                };
                write!(f, "CREATE {k} CONNECTOR ")?;
                opt(f, *if_not_exists, "IF NOT EXISTS ")?;
                write!(f, "{}", Ident(name))?;
                properties(f, props)
            }
            Statement::DropConnector { if_exists, name } => {
                f.write_str("DROP CONNECTOR ")?;
                opt(f, *if_exists, "IF EXISTS ")?;
                write!(f, "{}", Ident(name))
            }
            Statement::CreateType {
                if_not_exists,
                name,
                ty,
            } => {
                f.write_str("CREATE TYPE ")?;
                opt(f, *if_not_exists, "IF NOT EXISTS ")?;
                write!(f, "{} AS {ty}", Ident(name))
            }
            Statement::DropType { if_exists, name } => {
                f.write_str("DROP TYPE ")?;
                opt(f, *if_exists, "IF EXISTS ")?;
                write!(f, "{}", Ident(name))
            }
            Statement::AssertTopic {
                exists,
                name,
                properties: props,
                timeout,
            } => {
                f.write_str("ASSERT ")?;
                opt(f, !exists, "NOT EXISTS ")?;
                write!(f, "TOPIC {}", Ident(name))?;
                properties(f, props)?;
                if let Some(t) = timeout {
                    write!(f, " TIMEOUT {t}")?;
                }
                Ok(())
            }
            Statement::AssertSchema {
                exists,
                subject,
                id,
                timeout,
            } => {
                f.write_str("ASSERT ")?;
                opt(f, !exists, "NOT EXISTS ")?;
                f.write_str("SCHEMA")?;
                if let Some(s) = subject {
                    f.write_str(" SUBJECT ")?;
                    string(f, s)?;
                }
                if let Some(i) = id {
                    write!(f, " ID {i}")?;
                }
                if let Some(t) = timeout {
                    write!(f, " TIMEOUT {t}")?;
                }
                Ok(())
            }
            Statement::AlterSystem { name, value } => {
                f.write_str("ALTER SYSTEM ")?;
                string(f, name)?;
                f.write_str("=")?;
                string(f, value)
            }
            Statement::RunScript(p) => {
                f.write_str("RUN SCRIPT ")?;
                string(f, p)
            }
            Statement::AlterSource {
                kind,
                name,
                add_columns,
            } => {
                write!(f, "ALTER {} {} ", source_kind(*kind), Ident(name))?;
                list(f, add_columns, |f, (c, t)| {
                    write!(f, "ADD COLUMN {} {t}", Ident(c))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_statement;

    #[test]
    fn formats_and_round_trips() {
        for (sql, want) in [
            (
                "select nome, TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') as dt from custstream emit changes;",
                "SELECT `NOME`, `TIMESTAMPTOSTRING`(`NASCIMENTO`, 'yyyy-MM-dd', 'UTC') AS `DT` FROM `CUSTSTREAM` EMIT CHANGES",
            ),
            ("print psg-customers;", "PRINT 'psg-customers'"),
            (
                "SELECT a + b * -c FROM s WHERE NOT x IS NULL",
                "SELECT (`A` + (`B` * (-(`C`)))) FROM `S` WHERE (NOT (`X` IS NULL))",
            ),
            (
                "CREATE TABLE t (id INT PRIMARY KEY, `it's` STRING) WITH (kafka_topic='t''s')",
                "CREATE TABLE `T` (`ID` INTEGER PRIMARY KEY, `it's` STRING) WITH (`KAFKA_TOPIC`='t''s')",
            ),
        ] {
            let stmt = parse_statement(sql).unwrap();
            assert_eq!(stmt.to_string(), want);
            assert_eq!(parse_statement(want).unwrap(), stmt);
        }
    }
}
