//! Expression compiler and evaluator.
//!
//! [`compile`] type-checks an [`ast::Expr`] against a [`Scope`] (the columns
//! of the row it will see) and resolves function calls once; the resulting
//! [`CompiledExpr`] is evaluated per row with [`CompiledExpr::eval`] on a
//! slice of values laid out as the scope's columns.
//!
//! Runtime errors (a function throwing, an integer division by zero, a bad
//! cast) come back as `Err(message)`: the engine logs them to the processing
//! log and uses NULL, as ksqlDB does.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use regex::Regex;

use crate::ast::{self, BinaryOp, Expr, Literal, UnaryOp};
use crate::cast::{cast_value, check_cast};
use crate::functions::{Arg, Eval, FunctionRegistry, ResolveError};
use crate::types::{Field, SqlType, MAX_DECIMAL_PRECISION};
use crate::value::{Decimal, Value};

/// A column visible to an expression, at position `index` of the row.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeColumn {
    /// The source name or alias that qualifies it (`S.ID`), if any.
    pub qualifier: Option<String>,
    pub name: String,
    pub ty: SqlType,
}

/// The columns an expression may reference, in row order.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
}

impl Scope {
    pub fn new(columns: Vec<ScopeColumn>) -> Scope {
        Scope { columns }
    }

    pub fn push(&mut self, qualifier: Option<&str>, name: &str, ty: SqlType) {
        self.columns.push(ScopeColumn {
            qualifier: qualifier.map(str::to_string),
            name: name.to_string(),
            ty,
        });
    }

    /// Finds a column; `Err` carries ksqlDB's message for unknown names.
    pub fn resolve(&self, qualifier: Option<&str>, name: &str) -> Result<usize, String> {
        let mut found = self.columns.iter().enumerate().filter(|(_, c)| {
            c.name == name
                && match qualifier {
                    Some(q) => c.qualifier.as_deref() == Some(q),
                    None => true,
                }
        });
        match (found.next(), found.next()) {
            (Some((i, _)), None) => Ok(i),
            (Some(_), Some(_)) => Err(format!(
                "Column '{name}' is ambiguous. Could be any of: {}",
                self.columns
                    .iter()
                    .filter(|c| c.name == name)
                    .map(|c| format!("{}.{}", c.qualifier.as_deref().unwrap_or(""), c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            (None, _) => match qualifier {
                Some(q)
                    if !self
                        .columns
                        .iter()
                        .any(|c| c.qualifier.as_deref() == Some(q)) =>
                {
                    Err(format!("'{q}' is not a valid stream/table name or alias."))
                }
                Some(q) => Err(format!("Column '{q}.{name}' cannot be resolved.")),
                None => Err(format!("Column '{name}' cannot be resolved.")),
            },
        }
    }
}

/// What compilation needs besides the scope.
pub struct CompileContext<'a> {
    pub functions: &'a FunctionRegistry,
    /// Types named by `CREATE TYPE`.
    pub custom_types: &'a HashMap<String, SqlType>,
}

/// A type-checked expression.
#[derive(Clone)]
pub struct CompiledExpr {
    pub ty: SqlType,
    node: Node,
}

#[derive(Clone)]
enum Node {
    Literal(Value),
    Column(usize),
    Not(Box<CompiledExpr>),
    Negate(Box<CompiledExpr>),
    And(Box<CompiledExpr>, Box<CompiledExpr>),
    Or(Box<CompiledExpr>, Box<CompiledExpr>),
    Arithmetic(BinaryOp, Box<CompiledExpr>, Box<CompiledExpr>),
    Concat(Box<CompiledExpr>, Box<CompiledExpr>),
    Compare(BinaryOp, Box<CompiledExpr>, Box<CompiledExpr>),
    IsNull(Box<CompiledExpr>, bool),
    IsDistinct(Box<CompiledExpr>, Box<CompiledExpr>, bool),
    Between(
        Box<CompiledExpr>,
        Box<CompiledExpr>,
        Box<CompiledExpr>,
        bool,
    ),
    Like(Box<CompiledExpr>, LikePattern, bool),
    InList(Box<CompiledExpr>, Vec<CompiledExpr>, bool),
    Field(Box<CompiledExpr>, String),
    Subscript(Box<CompiledExpr>, Box<CompiledExpr>),
    Call(Eval, Vec<CompiledExpr>),
    Case(Vec<(CompiledExpr, CompiledExpr)>, Option<Box<CompiledExpr>>),
    Cast(Box<CompiledExpr>),
    Array(Vec<CompiledExpr>),
    Map(Vec<(CompiledExpr, CompiledExpr)>),
    Struct(Vec<(Arc<str>, CompiledExpr)>),
    /// `TRANSFORM`, `FILTER`, `REDUCE` with their lambdas; lambda parameters
    /// are appended to the row while the body runs.
    Lambda(LambdaCall),
}

#[derive(Clone)]
enum LikePattern {
    Constant(Regex),
    Dynamic(Box<CompiledExpr>, Option<char>),
}

#[derive(Clone)]
enum LambdaCall {
    TransformArray(Box<CompiledExpr>, Box<CompiledExpr>),
    TransformMap(Box<CompiledExpr>, Box<CompiledExpr>, Box<CompiledExpr>),
    FilterArray(Box<CompiledExpr>, Box<CompiledExpr>),
    FilterMap(Box<CompiledExpr>, Box<CompiledExpr>),
    ReduceArray(Box<CompiledExpr>, Box<CompiledExpr>, Box<CompiledExpr>),
    ReduceMap(Box<CompiledExpr>, Box<CompiledExpr>, Box<CompiledExpr>),
}

/// Resolves a written type, expanding `CREATE TYPE` names.
pub fn resolve_type(ty: &ast::Type, custom: &HashMap<String, SqlType>) -> Result<SqlType, String> {
    Ok(match ty {
        ast::Type::Boolean => SqlType::Boolean,
        ast::Type::Int => SqlType::Int,
        ast::Type::Bigint => SqlType::Bigint,
        ast::Type::Double => SqlType::Double,
        ast::Type::Decimal { precision, scale } => {
            // ksqlDB sets no upper bound on a declared precision; values
            // beyond what creek's 38 digits hold fail when they occur.
            if *precision == 0 {
                return Err(format!("DECIMAL precision must be >= 1: {precision}"));
            }
            if scale > precision {
                return Err(format!(
                    "DECIMAL scale must be equal to or less than precision. precision:{precision}, scale:{scale}"
                ));
            }
            SqlType::decimal(*precision, *scale)
        }
        ast::Type::String => SqlType::String,
        ast::Type::Bytes => SqlType::Bytes,
        ast::Type::Date => SqlType::Date,
        ast::Type::Time => SqlType::Time,
        ast::Type::Timestamp => SqlType::Timestamp,
        ast::Type::Array(t) => SqlType::array(resolve_type(t, custom)?),
        ast::Type::Map(k, v) => SqlType::map(resolve_type(k, custom)?, resolve_type(v, custom)?),
        ast::Type::Struct(fields) => SqlType::Struct(
            fields
                .iter()
                .map(|(n, t)| Ok(Field::new(n.clone(), resolve_type(t, custom)?)))
                .collect::<Result<_, String>>()?,
        ),
        ast::Type::Custom(name) => custom
            .get(name)
            .or_else(|| custom.get(&name.to_ascii_uppercase()))
            .cloned()
            .ok_or_else(|| format!("Unknown type: {name}"))?,
    })
}

/// The type of a literal and its value.
pub fn literal_value(lit: &Literal) -> Result<(Option<SqlType>, Value), String> {
    Ok(match lit {
        Literal::String(s) => (Some(SqlType::String), Value::string(s.as_str())),
        Literal::Boolean(b) => (Some(SqlType::Boolean), Value::Boolean(*b)),
        Literal::Null => (None, Value::Null),
        Literal::Integer(s) => match s.parse::<i64>() {
            Ok(i) if i32::try_from(i).is_ok() => (Some(SqlType::Int), Value::Int(i as i32)),
            Ok(i) => (Some(SqlType::Bigint), Value::Bigint(i)),
            Err(_) => {
                let d = Decimal::parse(s).ok_or_else(|| format!("Invalid numeric literal: {s}"))?;
                (Some(SqlType::decimal(d.digits(), 0)), Value::Decimal(d))
            }
        },
        Literal::Decimal(s) => {
            let d = Decimal::parse(s).ok_or_else(|| format!("Invalid decimal literal: {s}"))?;
            let precision = d.digits().max(d.scale);
            (
                Some(SqlType::decimal(precision.max(1), d.scale)),
                Value::Decimal(d),
            )
        }
        Literal::Double(s) => (
            Some(SqlType::Double),
            Value::Double(
                s.parse()
                    .map_err(|_| format!("Invalid double literal: {s}"))?,
            ),
        ),
    })
}

/// ksqlDB's text of an operator in error messages.
fn op_name(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Eq => "EQUAL",
        BinaryOp::Neq => "NOT_EQUAL",
        BinaryOp::Lt => "LESS_THAN",
        BinaryOp::Le => "LESS_THAN_OR_EQUAL",
        BinaryOp::Gt => "GREATER_THAN",
        BinaryOp::Ge => "GREATER_THAN_OR_EQUAL",
        BinaryOp::Add => "+",
        BinaryOp::Sub => "-",
        BinaryOp::Mul => "*",
        BinaryOp::Div => "/",
        BinaryOp::Mod => "%",
        BinaryOp::And => "AND",
        BinaryOp::Or => "OR",
        BinaryOp::Concat => "||",
    }
}

/// Compiles an expression; `Err` is ksqlDB's message for the problem.
pub fn compile(expr: &Expr, scope: &Scope, ctx: &CompileContext) -> Result<CompiledExpr, String> {
    Compiler { scope, ctx }.compile(expr)
}

struct Compiler<'a> {
    scope: &'a Scope,
    ctx: &'a CompileContext<'a>,
}

fn boxed(e: CompiledExpr) -> Box<CompiledExpr> {
    Box::new(e)
}

/// Untyped NULL literals take the type they are used as; until then they are
/// STRING-less `None`. Compiled nodes always carry a type, so an untyped NULL
/// compiles to a literal of the type chosen by context (STRING by default).
fn null_of(ty: SqlType) -> CompiledExpr {
    CompiledExpr {
        ty,
        node: Node::Literal(Value::Null),
    }
}

fn is_null_literal(e: &Expr) -> bool {
    matches!(e, Expr::Literal(Literal::Null))
}

/// The decimal type of `l op r`, as ksqlDB's `DecimalUtil`/`Operator` computes it.
fn decimal_result(op: BinaryOp, (p1, s1): (u32, u32), (p2, s2): (u32, u32)) -> SqlType {
    let (p, s) = match op {
        BinaryOp::Add | BinaryOp::Sub => {
            let s = s1.max(s2);
            ((p1 - s1).max(p2 - s2) + s + 1, s)
        }
        BinaryOp::Mul => (p1 + p2 + 1, s1 + s2),
        BinaryOp::Div => {
            let s = 6.max(s1 + p2 + 1);
            (p1 - s1 + s2 + s, s)
        }
        _ => {
            let s = s1.max(s2);
            ((p1 - s1).min(p2 - s2) + s, s)
        }
    };
    let p = p.min(MAX_DECIMAL_PRECISION);
    SqlType::decimal(p.max(1), s.min(p))
}

/// A constant expression's value, if it has no column references.
fn constant_of(e: &CompiledExpr) -> Option<Value> {
    if let Node::Literal(v) = &e.node {
        return Some(v.clone());
    }
    None
}

impl Compiler<'_> {
    fn compile(&self, expr: &Expr) -> Result<CompiledExpr, String> {
        match expr {
            Expr::Literal(lit) => {
                let (ty, value) = literal_value(lit)?;
                Ok(CompiledExpr {
                    ty: ty.unwrap_or(SqlType::String),
                    node: Node::Literal(value),
                })
            }
            Expr::Column { source, name } => {
                let i = self.scope.resolve(source.as_deref(), name)?;
                Ok(CompiledExpr {
                    ty: self.scope.columns[i].ty.clone(),
                    node: Node::Column(i),
                })
            }
            Expr::Variable(name) => Err(format!("Variable '{name}' is not defined")),
            Expr::Wildcard => Err("'*' is only allowed in COUNT(*)".to_string()),
            Expr::Unary { op, expr } => {
                let e = self.compile(expr)?;
                match op {
                    UnaryOp::Not => {
                        self.expect_boolean(&e, expr, "NOT")?;
                        Ok(CompiledExpr {
                            ty: SqlType::Boolean,
                            node: Node::Not(boxed(e)),
                        })
                    }
                    UnaryOp::Plus => Ok(e),
                    UnaryOp::Minus => {
                        if !e.ty.is_numeric() {
                            return Err(format!("Unsupported arithmetic types. - {}", e.ty));
                        }
                        if let Node::Literal(v) = &e.node {
                            return Ok(CompiledExpr {
                                ty: e.ty.clone(),
                                node: Node::Literal(negate(v)?),
                            });
                        }
                        Ok(CompiledExpr {
                            ty: e.ty.clone(),
                            node: Node::Negate(boxed(e)),
                        })
                    }
                }
            }
            Expr::Binary { op, left, right } => self.binary(*op, left, right),
            Expr::IsNull { expr, negated } => Ok(CompiledExpr {
                ty: SqlType::Boolean,
                node: Node::IsNull(boxed(self.compile(expr)?), *negated),
            }),
            Expr::IsDistinctFrom {
                left,
                right,
                negated,
            } => {
                let (l, r) = self.comparable(BinaryOp::Eq, left, right)?;
                Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node: Node::IsDistinct(boxed(l), boxed(r), *negated),
                })
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let (e, lo) = self.comparable(BinaryOp::Ge, expr, low)?;
                let (_, hi) = self.comparable(BinaryOp::Le, expr, high)?;
                Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node: Node::Between(boxed(e), boxed(lo), boxed(hi), *negated),
                })
            }
            Expr::Like {
                expr,
                pattern,
                escape,
                negated,
            } => self.like(expr, pattern, escape.as_deref(), *negated),
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let e = self.compile(expr)?;
                let target = Self::in_list_decimal(&e.ty, list);
                let mut items = Vec::new();
                for item in list {
                    if is_null_literal(item) {
                        items.push(null_of(e.ty.clone()));
                        continue;
                    }
                    items.push(self.in_list_item(&target, item)?);
                }
                Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node: Node::InList(boxed(e), items, *negated),
                })
            }
            Expr::Dereference { expr, field } => {
                let e = self.compile(expr)?;
                let ty = match &e.ty {
                    SqlType::Struct(fields) => fields
                        .iter()
                        .find(|f| &f.name == field)
                        .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(field)))
                        .map(|f| (f.name.clone(), f.ty.clone())),
                    _ => None,
                };
                match ty {
                    Some((name, ty)) => Ok(CompiledExpr {
                        ty,
                        node: Node::Field(boxed(e), name),
                    }),
                    None => Err(format!(
                        "Could not find field '{field}' in '{}'.",
                        item_text(expr)
                    )),
                }
            }
            Expr::Subscript { expr, index } => {
                let e = self.compile(expr)?;
                let i = self.compile(index)?;
                let ty = match &e.ty {
                    SqlType::Array(t) => {
                        if !matches!(i.ty, SqlType::Int | SqlType::Bigint) {
                            return Err(format!("Array index must be INTEGER, got {}", i.ty));
                        }
                        (**t).clone()
                    }
                    SqlType::Map(k, v) => {
                        let _ = k;
                        (**v).clone()
                    }
                    other => {
                        return Err(format!(
                            "Subscript expression ({}) requires ARRAY or MAP, got {other}",
                            item_text(expr)
                        ))
                    }
                };
                Ok(CompiledExpr {
                    ty,
                    node: Node::Subscript(boxed(e), boxed(i)),
                })
            }
            Expr::Function { name, args } => self.call(name, args),
            Expr::Case {
                operand,
                whens,
                else_,
            } => self.case(operand.as_deref(), whens, else_.as_deref()),
            Expr::Cast { expr, ty } => {
                let target = resolve_type(ty, self.ctx.custom_types)?;
                if is_null_literal(expr) {
                    return Ok(null_of(target));
                }
                let e = self.compile(expr)?;
                check_cast(&e.ty, &target)?;
                if e.ty == target {
                    return Ok(e);
                }
                if let Node::Literal(v) = &e.node {
                    if let Ok(v) = cast_value(v.clone(), &e.ty, &target) {
                        return Ok(CompiledExpr {
                            ty: target,
                            node: Node::Literal(v),
                        });
                    }
                }
                Ok(CompiledExpr {
                    ty: target,
                    node: Node::Cast(boxed(e)),
                })
            }
            Expr::Lambda { .. } => {
                Err("Lambda expressions are only allowed as function arguments".to_string())
            }
            Expr::AtTimeZone { .. } => Err("not supported yet: AT TIME ZONE".to_string()),
            Expr::TypeConstructor { ty, value } => {
                let target = match ty.to_ascii_uppercase().as_str() {
                    "DATE" => SqlType::Date,
                    "TIME" => SqlType::Time,
                    "TIMESTAMP" => SqlType::Timestamp,
                    other => return Err(format!("Unknown type constructor: {other}")),
                };
                let v = cast_value(Value::string(value.as_str()), &SqlType::String, &target)?;
                Ok(CompiledExpr {
                    ty: target,
                    node: Node::Literal(v),
                })
            }
            Expr::Array(items) => {
                let compiled = self.unify_list(items, "ARRAY")?;
                if items.is_empty() {
                    return Err("Array constructor cannot be empty. Please supply at least one element (see https://github.com/confluentinc/ksql/issues/4239).".into());
                }
                if items.iter().all(is_null_literal) {
                    return Err("Cannot construct an array with all NULL elements (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you may cast a NULL value to the desired type.".into());
                }
                let element = compiled
                    .first()
                    .map(|c| c.ty.clone())
                    .ok_or_else(|| "Array constructor cannot be empty.".to_string())?;
                Ok(CompiledExpr {
                    ty: SqlType::array(element),
                    node: Node::Array(compiled),
                })
            }
            Expr::Map(entries) => {
                if entries.is_empty() {
                    return Err("Map constructor cannot be empty.".to_string());
                }
                let keys: Vec<Expr> = entries.iter().map(|(k, _)| k.clone()).collect();
                let values: Vec<Expr> = entries.iter().map(|(_, v)| v.clone()).collect();
                let keys = self.unify_list(&keys, "MAP key")?;
                let values = self.unify_list(&values, "MAP value")?;
                let ty = SqlType::map(keys[0].ty.clone(), values[0].ty.clone());
                Ok(CompiledExpr {
                    ty,
                    node: Node::Map(keys.into_iter().zip(values).collect()),
                })
            }
            Expr::Struct(fields) => {
                for (i, (name, _)) in fields.iter().enumerate() {
                    if fields[..i].iter().any(|(n, _)| n == name) {
                        return Err(format!("Duplicate field names found in STRUCT: '{name}'"));
                    }
                }
                let mut types = Vec::new();
                let mut nodes = Vec::new();
                for (name, e) in fields {
                    let c = if is_null_literal(e) {
                        null_of(SqlType::String)
                    } else {
                        self.compile(e)?
                    };
                    types.push(Field::new(name.clone(), c.ty.clone()));
                    nodes.push((Arc::from(name.as_str()), c));
                }
                Ok(CompiledExpr {
                    ty: SqlType::Struct(types),
                    node: Node::Struct(nodes),
                })
            }
        }
    }

    /// ksqlDB tests a DECIMAL against an IN list in the common DECIMAL of it
    /// and the list's integer and decimal literals (`DECIMAL(4, 2) IN (10, …)`
    /// is tested as DECIMAL(12, 2)); values compare by value either way.
    fn in_list_decimal(tested: &SqlType, list: &[Expr]) -> SqlType {
        let SqlType::Decimal { precision, scale } = *tested else {
            return tested.clone();
        };
        let (mut digits, mut scale) = (precision - scale, scale);
        for item in list {
            let (p, s) = match item {
                Expr::Literal(Literal::Integer(t)) => match t.parse::<i64>() {
                    Ok(v) if i32::try_from(v).is_ok() => (10, 0),
                    _ => (19, 0),
                },
                Expr::Literal(Literal::Decimal(t)) => match Decimal::parse(t) {
                    Some(d) => (d.digits().max(d.scale).max(1), d.scale),
                    None => continue,
                },
                _ => continue,
            };
            digits = digits.max(p - s);
            scale = scale.max(s);
        }
        SqlType::decimal(digits + scale, scale)
    }

    /// An IN-list item converted to the tested type: string literals are
    /// parsed, numbers widened, constructors converted element-wise, with
    /// ksqlDB's "Invalid Predicate" errors otherwise.
    fn in_list_item(&self, target: &SqlType, item: &Expr) -> Result<CompiledExpr, String> {
        let mismatch = |c: &CompiledExpr| {
            format!(
                "Invalid Predicate: operator does not exist: {target} = {} ({})\nHint: You might need to add explicit type casts.",
                c.ty,
                item_text(item).replace(" := ", ":=")
            )
        };
        // A constructor's element that is an expression of the wrong type
        // makes the whole constructor the mismatch, as ksqlDB reports it.
        let whole = |e: String, element: &Expr| -> String {
            if matches!(element, Expr::Literal(_)) || !e.contains("operator does not exist") {
                return e;
            }
            match self.compile(item) {
                Ok(c) => mismatch(&c),
                Err(_) => e,
            }
        };
        if let Expr::Literal(Literal::String(text)) = item {
            if *target == SqlType::String {
                return Ok(CompiledExpr {
                    ty: SqlType::String,
                    node: Node::Literal(Value::string(text.as_str())),
                });
            }
            let invalid = || {
                let name = match target {
                    SqlType::Decimal { .. } => "DECIMAL".to_string(),
                    t => t.to_string(),
                };
                format!("Invalid Predicate: invalid input syntax for type {name}: \"{text}\".")
            };
            // Numbers compare by value: '4.000' matches 4, and a literal out of
            // the column's range is valid but matches nothing.
            if target.is_numeric() {
                let d = Decimal::parse(text).ok_or_else(invalid)?;
                return Ok(CompiledExpr {
                    ty: SqlType::decimal(d.digits().max(d.scale).max(1), d.scale),
                    node: Node::Literal(Value::Decimal(d)),
                });
            }
            // PostgreSQL-style booleans: any prefix of true/false/yes/no.
            if *target == SqlType::Boolean {
                let lower = text.trim().to_ascii_lowercase();
                let is_prefix = |word: &str| !lower.is_empty() && word.starts_with(lower.as_str());
                let b = if is_prefix("true") || is_prefix("yes") {
                    true
                } else if is_prefix("false") || is_prefix("no") {
                    false
                } else {
                    return Err(invalid());
                };
                return Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node: Node::Literal(Value::Boolean(b)),
                });
            }
            if target.is_primitive() {
                let v = cast_value(Value::string(text.as_str()), &SqlType::String, target)
                    .map_err(|_| {
                        let name = match target {
                            SqlType::Decimal { .. } => "DECIMAL".to_string(),
                            t => t.to_string(),
                        };
                        format!(
                            "Invalid Predicate: invalid input syntax for type {name}: \"{text}\"."
                        )
                    })?;
                return Ok(CompiledExpr {
                    ty: target.clone(),
                    node: Node::Literal(v),
                });
            }
        }
        // A STRING compared with another literal compares with its text.
        if *target == SqlType::String {
            if let Expr::Literal(lit) = item {
                let text = match lit {
                    Literal::Boolean(b) => b.to_string(),
                    Literal::Integer(t) | Literal::Decimal(t) | Literal::Double(t) => t.clone(),
                    _ => String::new(),
                };
                if !text.is_empty() {
                    return Ok(CompiledExpr {
                        ty: SqlType::String,
                        node: Node::Literal(Value::string(text)),
                    });
                }
            }
        }
        match (target, item) {
            (SqlType::Array(el), Expr::Array(elements)) => {
                let mut nodes = Vec::new();
                for x in elements {
                    if is_null_literal(x) {
                        nodes.push(null_of((**el).clone()));
                    } else {
                        let c = self.in_list_item(el, x).map_err(|e| {
                            if e.contains("invalid input syntax") {
                                e.trim_end_matches('.').to_string()
                            } else {
                                whole(e, x)
                            }
                        })?;
                        nodes.push(c);
                    }
                }
                let compiled = CompiledExpr {
                    ty: target.clone(),
                    node: Node::Array(nodes),
                };
                return Ok(compiled);
            }
            (SqlType::Map(k, v), Expr::Map(entries)) => {
                let mut nodes = Vec::new();
                for (key, value) in entries {
                    let kc = self.in_list_item(k, key)?;
                    let vc = if is_null_literal(value) {
                        null_of((**v).clone())
                    } else {
                        self.in_list_item(v, value)
                            .map_err(|e| whole(e.trim_end_matches('.').to_string(), value))?
                    };
                    nodes.push((kc, vc));
                }
                return Ok(CompiledExpr {
                    ty: target.clone(),
                    node: Node::Map(nodes),
                });
            }
            (SqlType::Struct(fields), Expr::Struct(values)) => {
                let mut nodes = Vec::new();
                for f in fields {
                    let value = values.iter().find(|(n, _)| *n == f.name).map(|(_, e)| e);
                    let c = match value {
                        None => null_of(f.ty.clone()),
                        Some(e) if is_null_literal(e) => null_of(f.ty.clone()),
                        Some(e) => self
                            .in_list_item(&f.ty, e)
                            .map_err(|err| whole(err.trim_end_matches('.').to_string(), e))?,
                    };
                    nodes.push((Arc::from(f.name.as_str()), c));
                }
                let c = self.compile(item)?;
                if !matches!(&c.ty, SqlType::Struct(given) if given.iter().all(|g| fields.iter().any(|f| f.name == g.name && (g.ty == f.ty || g.ty.can_widen_to(&f.ty))) || g.ty == SqlType::String))
                {
                    // A struct with fields the target does not have never matches.
                    if let SqlType::Struct(given) = &c.ty {
                        if given
                            .iter()
                            .any(|g| !fields.iter().any(|f| f.name == g.name))
                        {
                            return Ok(CompiledExpr {
                                ty: target.clone(),
                                node: Node::Literal(Value::Null),
                            });
                        }
                    }
                    return Err(mismatch(&c));
                }
                return Ok(CompiledExpr {
                    ty: target.clone(),
                    node: Node::Struct(nodes),
                });
            }
            _ => {}
        }
        let c = self.compile(item)?;
        if c.ty == *target {
            return Ok(c);
        }
        if target.is_numeric() && c.ty.is_numeric() {
            return Ok(c);
        }
        // Containers of numbers compare by value whichever side is wider.
        if c.ty.can_widen_to(target) || target.can_widen_to(&c.ty) {
            return Ok(c);
        }
        Err(mismatch(&c))
    }

    fn expect_boolean(&self, e: &CompiledExpr, src: &Expr, what: &str) -> Result<(), String> {
        if e.ty != SqlType::Boolean {
            return Err(format!(
                "{what} expression '{}' must be of type BOOLEAN, but was {}",
                item_text(src),
                e.ty
            ));
        }
        Ok(())
    }

    /// Compiles items that must share one type (array elements, CASE
    /// results), widening numbers to the widest of them.
    fn unify_list(&self, items: &[Expr], what: &str) -> Result<Vec<CompiledExpr>, String> {
        let mut compiled: Vec<Option<CompiledExpr>> = Vec::new();
        let mut ty: Option<SqlType> = None;
        for item in items {
            if is_null_literal(item) {
                compiled.push(None);
                continue;
            }
            let mut c = self.compile(item)?;
            // ksqlDB's list coercion reads a string literal among numbers as
            // the number it spells: '20' an INTEGER, '2e1' a DECIMAL.
            if let (Some(t), Expr::Literal(Literal::String(text))) = (&ty, item) {
                if t.is_numeric() {
                    c = numeric_literal(text).ok_or_else(|| {
                        format!(
                            "{what}: invalid input syntax for type {t}: \"{}\"",
                            text.trim()
                        )
                    })?;
                }
            }
            ty = Some(match ty {
                None => c.ty.clone(),
                Some(t) => common_type(&t, &c.ty).ok_or_else(|| {
                    format!(
                        "invalid input syntax for type {t}: \"{}\"",
                        item_text(item).trim_matches('\'')
                    )
                    .replace("invalid input", &format!("{what}: invalid input"))
                })?,
            });
            compiled.push(Some(c));
        }
        let ty = ty.unwrap_or(SqlType::String);
        compiled
            .into_iter()
            .map(|c| match c {
                None => Ok(null_of(ty.clone())),
                Some(c) => widen_expr(c, &ty),
            })
            .collect()
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr) -> Result<CompiledExpr, String> {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.compile(left)?;
                let r = self.compile(right)?;
                for (e, src) in [(&l, left), (&r, right)] {
                    if e.ty != SqlType::Boolean && !is_null_literal(src) {
                        return Err(format!(
                            "Logical binary expects two boolean values.  Actual {} and {}",
                            l.ty, r.ty
                        ));
                    }
                }
                let node = if op == BinaryOp::And {
                    Node::And(boxed(l), boxed(r))
                } else {
                    Node::Or(boxed(l), boxed(r))
                };
                Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node,
                })
            }
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge => {
                let (l, r) = self.comparable(op, left, right)?;
                Ok(CompiledExpr {
                    ty: SqlType::Boolean,
                    node: Node::Compare(op, boxed(l), boxed(r)),
                })
            }
            BinaryOp::Concat => {
                let l = self.compile(left)?;
                let r = self.compile(right)?;
                if l.ty != SqlType::String || r.ty != SqlType::String {
                    return Err(format!(
                        "Error processing expression: {} || {}. Unsupported arithmetic types. {} {}",
                        item_text(left),
                        item_text(right),
                        l.ty,
                        r.ty
                    ));
                }
                Ok(CompiledExpr {
                    ty: SqlType::String,
                    node: Node::Concat(boxed(l), boxed(r)),
                })
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
                let l = if is_null_literal(left) {
                    None
                } else {
                    Some(self.compile(left)?)
                };
                let r = if is_null_literal(right) {
                    None
                } else {
                    Some(self.compile(right)?)
                };
                let (l, r) = match (l, r) {
                    (Some(l), Some(r)) => (l, r),
                    // ksqlDB types a bare NULL as nothing arithmetic accepts.
                    (l, r) => {
                        let named = |side: &Option<CompiledExpr>| {
                            side.as_ref()
                                .map_or("null".to_string(), |c| c.ty.to_string())
                        };
                        let text = |e: &Expr| {
                            if is_null_literal(e) {
                                "null".to_string()
                            } else {
                                item_text(e).replace(" := ", ":=")
                            }
                        };
                        return Err(format!(
                            "Error processing expression: ({} {} {}). Arithmetic on types {} and {} are not supported.",
                            text(left),
                            op_name(op),
                            text(right),
                            named(&l),
                            named(&r)
                        ));
                    }
                };
                if op == BinaryOp::Add && l.ty == SqlType::String && r.ty == SqlType::String {
                    return Ok(CompiledExpr {
                        ty: SqlType::String,
                        node: Node::Concat(boxed(l), boxed(r)),
                    });
                }
                let ty = arithmetic_type(op, &l.ty, &r.ty).ok_or_else(|| {
                    format!(
                        "Error processing expression: ({} {} {}). Unsupported arithmetic types. {} {}",
                        item_text(left),
                        op_name(op),
                        item_text(right),
                        base_name(&l.ty),
                        base_name(&r.ty)
                    )
                })?;
                Ok(CompiledExpr {
                    ty,
                    node: Node::Arithmetic(op, boxed(l), boxed(r)),
                })
            }
        }
    }

    /// Compiles both sides of a comparison, checking ksqlDB's rules and
    /// converting string literals compared with temporal types.
    fn comparable(
        &self,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
    ) -> Result<(CompiledExpr, CompiledExpr), String> {
        let l = (!is_null_literal(left))
            .then(|| self.compile(left))
            .transpose()?;
        let r = (!is_null_literal(right))
            .then(|| self.compile(right))
            .transpose()?;
        let (l, r) = match (l, r) {
            (Some(l), Some(r)) => (l, r),
            (Some(l), None) => {
                let t = l.ty.clone();
                (l, null_of(t))
            }
            (None, Some(r)) => {
                let t = r.ty.clone();
                (null_of(t), r)
            }
            (None, None) => {
                let symbol = match op {
                    BinaryOp::Eq => "=",
                    BinaryOp::Neq => "<>",
                    BinaryOp::Lt => "<",
                    BinaryOp::Le => "<=",
                    BinaryOp::Gt => ">",
                    _ => ">=",
                };
                return Err(format!(
                    "Comparison with NULL not supported: NULL {symbol} NULL"
                ));
            }
        };
        if comparable_types(&l.ty, &r.ty) {
            if !matches!(op, BinaryOp::Eq | BinaryOp::Neq)
                && !l.ty.is_primitive()
                && l.ty == r.ty
                && !matches!(
                    l.ty,
                    SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
                )
            {
                return Ok((l, r));
            }
            if !matches!(op, BinaryOp::Eq | BinaryOp::Neq) && !l.ty.is_primitive() {
                return Err(format!(
                    "Cannot compare {} ({}) to {} ({}) with {}.",
                    item_text(left),
                    l.ty,
                    item_text(right),
                    r.ty,
                    op_name(op)
                ));
            }
            return Ok((l, r));
        }
        // A string literal compared with a temporal or numeric column is
        // converted once, as ksqlDB does.
        let temporal =
            |t: &SqlType| matches!(t, SqlType::Date | SqlType::Time | SqlType::Timestamp);
        if temporal(&l.ty) && r.ty == SqlType::String {
            if let Some(v) = constant_of(&r) {
                let v = cast_value(v, &SqlType::String, &l.ty)?;
                let t = l.ty.clone();
                return Ok((
                    l,
                    CompiledExpr {
                        ty: t,
                        node: Node::Literal(v),
                    },
                ));
            }
            let t = l.ty.clone();
            return Ok((
                l,
                CompiledExpr {
                    ty: t,
                    node: Node::Cast(boxed(r)),
                },
            ));
        }
        if temporal(&r.ty) && l.ty == SqlType::String {
            if let Some(v) = constant_of(&l) {
                let v = cast_value(v, &SqlType::String, &r.ty)?;
                let t = r.ty.clone();
                return Ok((
                    CompiledExpr {
                        ty: t,
                        node: Node::Literal(v),
                    },
                    r,
                ));
            }
            let t = r.ty.clone();
            return Ok((
                CompiledExpr {
                    ty: t,
                    node: Node::Cast(boxed(l)),
                },
                r,
            ));
        }
        Err(format!(
            "Cannot compare {} ({}) to {} ({}) with {}.",
            item_text(left),
            l.ty,
            item_text(right),
            r.ty,
            op_name(op)
        ))
    }

    fn like(
        &self,
        expr: &Expr,
        pattern: &Expr,
        escape: Option<&Expr>,
        negated: bool,
    ) -> Result<CompiledExpr, String> {
        let e = self.compile(expr)?;
        let p = self.compile(pattern)?;
        if e.ty != SqlType::String || p.ty != SqlType::String {
            return Err(format!(
                "Function 'LIKE' does not accept parameters ({}, {}).",
                e.ty, p.ty
            ));
        }
        let escape = match escape {
            None => None,
            Some(Expr::Literal(Literal::String(s))) if s.chars().count() == 1 => s.chars().next(),
            Some(_) => return Err("LIKE escape must be a single character".to_string()),
        };
        let pattern = match constant_of(&p) {
            Some(Value::String(s)) => LikePattern::Constant(like_regex(&s, escape)?),
            Some(_) => LikePattern::Constant(Regex::new("^\\b\\B$").expect("never-matching")),
            None => LikePattern::Dynamic(boxed(p), escape),
        };
        Ok(CompiledExpr {
            ty: SqlType::Boolean,
            node: Node::Like(boxed(e), pattern, negated),
        })
    }

    fn case(
        &self,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        else_: Option<&Expr>,
    ) -> Result<CompiledExpr, String> {
        let mut conditions = Vec::new();
        for (cond, _) in whens {
            let c = match operand {
                Some(op) => {
                    let (l, r) = self.comparable(BinaryOp::Eq, op, cond)?;
                    CompiledExpr {
                        ty: SqlType::Boolean,
                        node: Node::Compare(BinaryOp::Eq, boxed(l), boxed(r)),
                    }
                }
                None => {
                    let c = self.compile(cond)?;
                    if c.ty != SqlType::Boolean && !is_null_literal(cond) {
                        return Err(format!(
                            "WHEN operand type should be boolean.\nType for '{}' is {}",
                            item_text(cond),
                            c.ty
                        ));
                    }
                    c
                }
            };
            conditions.push(c);
        }
        let mut results: Vec<Expr> = whens.iter().map(|(_, r)| r.clone()).collect();
        if let Some(e) = else_ {
            results.push(e.clone());
        }
        let mut compiled = self.unify_list(&results, "CASE").map_err(|_| {
            "Invalid Case expression. Type for all 'THEN' clauses should be the same.".to_string()
        })?;
        let ty = compiled
            .iter()
            .zip(&results)
            .find(|(_, e)| !is_null_literal(e))
            .map(|(c, _)| c.ty.clone())
            .ok_or_else(|| {
                "Invalid Case expression. All case branches have NULL type".to_string()
            })?;
        let else_expr = if else_.is_some() {
            compiled.pop().map(boxed)
        } else {
            None
        };
        Ok(CompiledExpr {
            ty,
            node: Node::Case(conditions.into_iter().zip(compiled).collect(), else_expr),
        })
    }

    fn call(&self, name: &str, args: &[Expr]) -> Result<CompiledExpr, String> {
        let upper = name.to_ascii_uppercase();
        if args.iter().any(|a| matches!(a, Expr::Lambda { .. })) {
            return self.lambda_call(&upper, args);
        }
        let function = self
            .ctx
            .functions
            .get(&upper)
            .ok_or_else(|| format!("Can't find any functions with the name '{upper}'"))?;
        // `F(*)` is a call without arguments, except for COUNT(*).
        let args: &[Expr] = if args.len() == 1 && matches!(args[0], Expr::Wildcard) {
            &[]
        } else {
            args
        };
        let mut compiled = Vec::with_capacity(args.len());
        let mut infos = Vec::with_capacity(args.len());
        for arg in args {
            // Time units (`DATEADD(DAYS, 1, d)`) arrive as string constants.
            if let Expr::Column { source: None, name } = arg {
                if is_time_unit(name) && self.scope.resolve(None, name).is_err() {
                    let v = Value::string(name.as_str());
                    infos.push(Arg::constant(SqlType::String, v.clone()));
                    compiled.push(CompiledExpr {
                        ty: SqlType::String,
                        node: Node::Literal(v),
                    });
                    continue;
                }
            }
            if is_null_literal(arg) {
                infos.push(Arg {
                    ty: None,
                    constant: Some(Value::Null),
                });
                compiled.push(null_of(SqlType::String));
                continue;
            }
            let c = self.compile(arg)?;
            infos.push(Arg {
                ty: Some(c.ty.clone()),
                constant: constant_of(&c),
            });
            compiled.push(c);
        }
        match function.resolve(&infos) {
            Ok(resolved) => Ok(CompiledExpr {
                ty: resolved.returns,
                node: Node::Call(resolved.eval, compiled),
            }),
            Err(ResolveError::Message(m)) => Err(m),
            Err(ResolveError::NoMatch) => Err(crate::functions::no_match_message(name, &infos)),
        }
    }

    /// Compiles a lambda body with its parameters appended to the scope.
    fn lambda_body(&self, lambda: &Expr, param_types: &[SqlType]) -> Result<CompiledExpr, String> {
        let Expr::Lambda { params, body } = lambda else {
            return Err("Expected a lambda expression".to_string());
        };
        if params.len() != param_types.len() {
            return Err(format!(
                "Lambda expression has {} parameters but {} were expected",
                params.len(),
                param_types.len()
            ));
        }
        let mut scope = self.scope.clone();
        for (p, t) in params.iter().zip(param_types) {
            scope.push(None, p, t.clone());
        }
        Compiler {
            scope: &scope,
            ctx: self.ctx,
        }
        .compile(body)
    }

    fn lambda_call(&self, name: &str, args: &[Expr]) -> Result<CompiledExpr, String> {
        let first = self.compile(&args[0])?;
        let unsupported = || {
            format!(
                "Function '{}' does not accept parameters ({}, LAMBDA).",
                name.to_ascii_lowercase(),
                first.ty
            )
        };
        match (name, &first.ty, args.len()) {
            ("TRANSFORM", SqlType::Array(t), 2) => {
                let body = self.lambda_body(&args[1], &[(**t).clone()])?;
                Ok(CompiledExpr {
                    ty: SqlType::array(body.ty.clone()),
                    node: Node::Lambda(LambdaCall::TransformArray(boxed(first), boxed(body))),
                })
            }
            ("TRANSFORM", SqlType::Map(k, v), 3) => {
                let params = [(**k).clone(), (**v).clone()];
                let kb = self.lambda_body(&args[1], &params)?;
                let vb = self.lambda_body(&args[2], &params)?;
                Ok(CompiledExpr {
                    ty: SqlType::map(kb.ty.clone(), vb.ty.clone()),
                    node: Node::Lambda(LambdaCall::TransformMap(
                        boxed(first),
                        boxed(kb),
                        boxed(vb),
                    )),
                })
            }
            ("FILTER", SqlType::Array(t), 2) => {
                let body = self.lambda_body(&args[1], &[(**t).clone()])?;
                let ty = first.ty.clone();
                Ok(CompiledExpr {
                    ty,
                    node: Node::Lambda(LambdaCall::FilterArray(boxed(first), boxed(body))),
                })
            }
            ("FILTER", SqlType::Map(k, v), 2) => {
                let body = self.lambda_body(&args[1], &[(**k).clone(), (**v).clone()])?;
                let ty = first.ty.clone();
                Ok(CompiledExpr {
                    ty,
                    node: Node::Lambda(LambdaCall::FilterMap(boxed(first), boxed(body))),
                })
            }
            ("REDUCE", SqlType::Array(t), 3) => {
                let init = self.compile(&args[1])?;
                let body = self.lambda_body(&args[2], &[init.ty.clone(), (**t).clone()])?;
                let ty = init.ty.clone();
                let body = widen_expr(body, &ty)?;
                Ok(CompiledExpr {
                    ty,
                    node: Node::Lambda(LambdaCall::ReduceArray(
                        boxed(first),
                        boxed(init),
                        boxed(body),
                    )),
                })
            }
            ("REDUCE", SqlType::Map(k, v), 3) => {
                let init = self.compile(&args[1])?;
                let body =
                    self.lambda_body(&args[2], &[init.ty.clone(), (**k).clone(), (**v).clone()])?;
                let ty = init.ty.clone();
                let body = widen_expr(body, &ty)?;
                Ok(CompiledExpr {
                    ty,
                    node: Node::Lambda(LambdaCall::ReduceMap(
                        boxed(first),
                        boxed(init),
                        boxed(body),
                    )),
                })
            }
            ("TRANSFORM" | "FILTER" | "REDUCE", _, _) => Err(unsupported()),
            _ => Err(format!(
                "Function '{}' does not accept lambda arguments",
                name.to_ascii_lowercase()
            )),
        }
    }
}

fn is_time_unit(name: &str) -> bool {
    matches!(
        name,
        "NANOSECONDS"
            | "NANOSECOND"
            | "MICROSECONDS"
            | "MICROSECOND"
            | "MILLISECONDS"
            | "MILLISECOND"
            | "SECONDS"
            | "SECOND"
            | "MINUTES"
            | "MINUTE"
            | "HOURS"
            | "HOUR"
            | "DAYS"
            | "DAY"
    )
}

/// A type's name without parameters (`DECIMAL`, `ARRAY`), as some of
/// ksqlDB's messages print it.
fn base_name(t: &SqlType) -> String {
    match t {
        SqlType::Decimal { .. } => "DECIMAL".into(),
        other => other.to_string(),
    }
}

/// SQL text of an expression for error messages.
fn item_text(e: &Expr) -> String {
    match e {
        Expr::Column { source: None, name } => name.clone(),
        Expr::Column {
            source: Some(s),
            name,
        } => format!("{s}.{name}"),
        Expr::Literal(Literal::String(s)) => format!("'{s}'"),
        Expr::Literal(Literal::Boolean(b)) => b.to_string(),
        Expr::Literal(l) => l.to_string(),
        other => other.to_string().replace('`', ""),
    }
}

/// Whether two types can be compared with `=`/`<`.
fn comparable_types(a: &SqlType, b: &SqlType) -> bool {
    (a.is_numeric() && b.is_numeric())
        || a == b
        || matches!(
            (a, b),
            (SqlType::Date, SqlType::Timestamp) | (SqlType::Timestamp, SqlType::Date)
        )
        || (a.can_widen_to(b) || b.can_widen_to(a))
}

/// A string literal's text as the narrowest number type that holds it.
fn numeric_literal(text: &str) -> Option<CompiledExpr> {
    let text = text.trim();
    let (ty, value) = if let Ok(i) = text.parse::<i32>() {
        (SqlType::Int, Value::Int(i))
    } else if let Ok(i) = text.parse::<i64>() {
        (SqlType::Bigint, Value::Bigint(i))
    } else {
        let d = Decimal::parse(text)?;
        (
            SqlType::decimal(d.digits().max(d.scale), d.scale),
            Value::Decimal(d),
        )
    };
    Some(CompiledExpr {
        ty,
        node: Node::Literal(value),
    })
}

/// The wider of two types, for unifying lists.
pub fn common_type(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    if a == b {
        return Some(a.clone());
    }
    match (a, b) {
        (SqlType::Decimal { .. } | SqlType::Int | SqlType::Bigint, SqlType::Decimal { .. })
        | (SqlType::Decimal { .. }, SqlType::Int | SqlType::Bigint) => {
            let (p1, s1) = a.as_decimal()?;
            let (p2, s2) = b.as_decimal()?;
            let s = s1.max(s2);
            let p = ((p1 - s1).max(p2 - s2) + s).min(MAX_DECIMAL_PRECISION);
            Some(SqlType::decimal(p, s))
        }
        _ if a.can_widen_to(b) => Some(b.clone()),
        _ if b.can_widen_to(a) => Some(a.clone()),
        (SqlType::Array(x), SqlType::Array(y)) => Some(SqlType::array(common_type(x, y)?)),
        // Structs unify field by field; a field either lacks is null there.
        (SqlType::Struct(x), SqlType::Struct(y)) => {
            let mut fields = x.clone();
            for f in y {
                match fields.iter_mut().find(|g| g.name == f.name) {
                    Some(g) => g.ty = common_type(&g.ty, &f.ty)?,
                    None => fields.push(f.clone()),
                }
            }
            Some(SqlType::Struct(fields))
        }
        (SqlType::Map(k1, v1), SqlType::Map(k2, v2)) => {
            Some(SqlType::map(common_type(k1, k2)?, common_type(v1, v2)?))
        }
        _ => None,
    }
}

/// Converts a compiled expression to a wider type.
fn widen_expr(e: CompiledExpr, ty: &SqlType) -> Result<CompiledExpr, String> {
    if &e.ty == ty {
        return Ok(e);
    }
    if let Node::Literal(v) = &e.node {
        return Ok(CompiledExpr {
            ty: ty.clone(),
            node: Node::Literal(cast_value(v.clone(), &e.ty, ty)?),
        });
    }
    Ok(CompiledExpr {
        ty: ty.clone(),
        node: Node::Cast(boxed(e)),
    })
}

fn arithmetic_type(op: BinaryOp, l: &SqlType, r: &SqlType) -> Option<SqlType> {
    use SqlType::*;
    Some(match (l, r) {
        (Int, Int) => Int,
        (Int | Bigint, Int | Bigint) => Bigint,
        (Double, x) | (x, Double) if x.is_numeric() => Double,
        (Decimal { .. } | Int | Bigint, Decimal { .. } | Int | Bigint) => {
            decimal_result(op, l.as_decimal()?, r.as_decimal()?)
        }
        _ => return None,
    })
}

/// Translates a LIKE pattern (`%`, `_`, optional escape) to an anchored regex.
fn like_regex(pattern: &str, escape: Option<char>) -> Result<Regex, String> {
    let mut re = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n) => re.push_str(&regex::escape(&n.to_string())),
                None => return Err("LIKE pattern must not end with escape character".into()),
            }
        } else if c == '%' {
            re.push_str(".*");
        } else if c == '_' {
            re.push('.');
        } else {
            re.push_str(&regex::escape(&c.to_string()));
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| e.to_string())
}

fn negate(v: &Value) -> Result<Value, String> {
    Ok(match v {
        Value::Null => Value::Null,
        Value::Int(i) => Value::Int(i.wrapping_neg()),
        Value::Bigint(i) => Value::Bigint(i.wrapping_neg()),
        Value::Double(d) => Value::Double(-d),
        Value::Decimal(d) => Value::Decimal(Decimal::new(-d.unscaled, d.scale)),
        other => return Err(format!("cannot negate {other:?}")),
    })
}

fn arithmetic(op: BinaryOp, ty: &SqlType, l: Value, r: Value) -> Result<Value, String> {
    if l.is_null() || r.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        SqlType::Int => {
            let (a, b) = (
                l.as_i64().unwrap_or(0) as i32,
                r.as_i64().unwrap_or(0) as i32,
            );
            Value::Int(match op {
                BinaryOp::Add => a.wrapping_add(b),
                BinaryOp::Sub => a.wrapping_sub(b),
                BinaryOp::Mul => a.wrapping_mul(b),
                BinaryOp::Div if b == 0 => return Err("/ by zero".into()),
                BinaryOp::Div => a.wrapping_div(b),
                BinaryOp::Mod if b == 0 => return Err("/ by zero".into()),
                _ => a.wrapping_rem(b),
            })
        }
        SqlType::Bigint => {
            let (a, b) = (l.as_i64().unwrap_or(0), r.as_i64().unwrap_or(0));
            Value::Bigint(match op {
                BinaryOp::Add => a.wrapping_add(b),
                BinaryOp::Sub => a.wrapping_sub(b),
                BinaryOp::Mul => a.wrapping_mul(b),
                BinaryOp::Div if b == 0 => return Err("/ by zero".into()),
                BinaryOp::Div => a.wrapping_div(b),
                BinaryOp::Mod if b == 0 => return Err("/ by zero".into()),
                _ => a.wrapping_rem(b),
            })
        }
        SqlType::Double => {
            let (a, b) = (l.as_f64().unwrap_or(0.0), r.as_f64().unwrap_or(0.0));
            Value::Double(match op {
                BinaryOp::Add => a + b,
                BinaryOp::Sub => a - b,
                BinaryOp::Mul => a * b,
                BinaryOp::Div => a / b,
                _ => a % b,
            })
        }
        SqlType::Decimal { precision, scale } => {
            let a = l.as_decimal().ok_or("not a decimal")?;
            let b = r.as_decimal().ok_or("not a decimal")?;
            let result = decimal_arithmetic(op, a, b, *scale)?;
            if !result.fits(*precision, *scale) {
                return Err(format!(
                    "Numeric field overflow: A field with precision {precision} and scale {scale} must round to an absolute value less than 10^{}.",
                    precision - scale
                ));
            }
            Value::Decimal(result)
        }
        other => return Err(format!("unsupported arithmetic on {other}")),
    })
}

fn decimal_arithmetic(op: BinaryOp, a: Decimal, b: Decimal, scale: u32) -> Result<Decimal, String> {
    let overflow = || "Decimal overflow".to_string();
    match op {
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mod => {
            let s = a.scale.max(b.scale);
            let (x, y) = (
                a.rescale(s).ok_or_else(overflow)?,
                b.rescale(s).ok_or_else(overflow)?,
            );
            let v = match op {
                BinaryOp::Add => x.unscaled.checked_add(y.unscaled),
                BinaryOp::Sub => x.unscaled.checked_sub(y.unscaled),
                _ => {
                    if y.unscaled == 0 {
                        return Err("Division by zero".into());
                    }
                    Some(x.unscaled % y.unscaled)
                }
            }
            .ok_or_else(overflow)?;
            Decimal::new(v, s).rescale(scale).ok_or_else(overflow)
        }
        BinaryOp::Mul => {
            let v = a.unscaled.checked_mul(b.unscaled).ok_or_else(overflow)?;
            Decimal::new(v, a.scale + b.scale)
                .rescale(scale)
                .ok_or_else(overflow)
        }
        _ => {
            if b.unscaled == 0 {
                return Err("Division by zero".into());
            }
            // a / b at `scale`, HALF_UP: scale the dividend up so the integer
            // quotient carries one extra digit, then round.
            let shift = scale as i64 + 1 + b.scale as i64 - a.scale as i64;
            let (num, den) = if shift >= 0 {
                (
                    a.unscaled
                        .checked_mul(10i128.checked_pow(shift as u32).ok_or_else(overflow)?)
                        .ok_or_else(overflow)?,
                    b.unscaled,
                )
            } else {
                (
                    a.unscaled,
                    b.unscaled
                        .checked_mul(10i128.checked_pow((-shift) as u32).ok_or_else(overflow)?)
                        .ok_or_else(overflow)?,
                )
            };
            let q = num / den;
            Decimal::new(q, scale + 1)
                .rescale(scale)
                .ok_or_else(overflow)
        }
    }
}

fn compare(op: BinaryOp, l: &Value, r: &Value) -> Value {
    let result = match op {
        BinaryOp::Eq => l.sql_eq(r),
        BinaryOp::Neq => l.sql_eq(r).map(|b| !b),
        _ => l.sql_cmp(r).map(|o| match op {
            BinaryOp::Lt => o == Ordering::Less,
            BinaryOp::Le => o != Ordering::Greater,
            BinaryOp::Gt => o == Ordering::Greater,
            _ => o != Ordering::Less,
        }),
    };
    // ksqlDB's generated comparisons give false, not NULL, when a side is NULL.
    Value::Boolean(result.unwrap_or(false))
}

impl CompiledExpr {
    /// A constant value of a type (used for defaults and tests).
    pub fn literal(ty: SqlType, value: Value) -> CompiledExpr {
        CompiledExpr {
            ty,
            node: Node::Literal(value),
        }
    }

    /// This expression converted to `ty` with CAST semantics.
    pub fn cast_to(self, ty: &SqlType) -> CompiledExpr {
        if self.ty == *ty {
            return self;
        }
        CompiledExpr {
            ty: ty.clone(),
            node: Node::Cast(boxed(self)),
        }
    }

    /// The row position this expression is a plain reference to, if it is one.
    pub fn column_ref(&self) -> Option<usize> {
        match &self.node {
            Node::Column(i) => Some(*i),
            _ => None,
        }
    }

    /// Adds the row positions this expression reads to `out`.
    pub fn columns_read(&self, out: &mut Vec<usize>) {
        let mut visit = |e: &CompiledExpr| e.columns_read(out);
        match &self.node {
            Node::Literal(_) => {}
            Node::Column(i) => out.push(*i),
            Node::Not(e) | Node::Negate(e) | Node::IsNull(e, _) | Node::Cast(e) => visit(e),
            Node::Field(e, _) => visit(e),
            Node::And(l, r)
            | Node::Or(l, r)
            | Node::Arithmetic(_, l, r)
            | Node::Concat(l, r)
            | Node::Compare(_, l, r)
            | Node::IsDistinct(l, r, _)
            | Node::Subscript(l, r) => {
                visit(l);
                visit(r);
            }
            Node::Between(a, b, c, _) => {
                visit(a);
                visit(b);
                visit(c);
            }
            Node::Like(e, p, _) => {
                visit(e);
                if let LikePattern::Dynamic(p, _) = p {
                    visit(p);
                }
            }
            Node::InList(e, items, _) => {
                visit(e);
                items.iter().for_each(&mut visit);
            }
            Node::Call(_, args) | Node::Array(args) => args.iter().for_each(&mut visit),
            Node::Case(whens, else_) => {
                for (c, r) in whens {
                    visit(c);
                    visit(r);
                }
                if let Some(e) = else_ {
                    visit(e);
                }
            }
            Node::Map(entries) => {
                for (k, v) in entries {
                    visit(k);
                    visit(v);
                }
            }
            Node::Struct(fields) => fields.iter().for_each(|(_, e)| visit(e)),
            Node::Lambda(call) => match call {
                LambdaCall::TransformArray(a, b)
                | LambdaCall::FilterArray(a, b)
                | LambdaCall::FilterMap(a, b) => {
                    visit(a);
                    visit(b);
                }
                LambdaCall::TransformMap(a, b, c)
                | LambdaCall::ReduceArray(a, b, c)
                | LambdaCall::ReduceMap(a, b, c) => {
                    visit(a);
                    visit(b);
                    visit(c);
                }
            },
        }
    }

    /// The row position when this expression is a bare column reference.
    pub fn as_column(&self) -> Option<usize> {
        match self.node {
            Node::Column(i) => Some(i),
            _ => None,
        }
    }

    /// Evaluates a boolean predicate: NULL and errors count as false.
    pub fn matches(&self, row: &[Value]) -> Result<bool, String> {
        Ok(matches!(self.eval(row)?, Value::Boolean(true)))
    }

    /// Evaluates on a row laid out as the scope the expression was compiled in.
    pub fn eval(&self, row: &[Value]) -> Result<Value, String> {
        Ok(match &self.node {
            Node::Literal(v) => v.clone(),
            Node::Column(i) => row.get(*i).cloned().unwrap_or(Value::Null),
            Node::Not(e) => match e.eval(row)? {
                Value::Boolean(b) => Value::Boolean(!b),
                _ => Value::Null,
            },
            Node::Negate(e) => negate(&e.eval(row)?)?,
            Node::And(l, r) => match l.eval(row)? {
                Value::Boolean(false) => Value::Boolean(false),
                lv => match (lv, r.eval(row)?) {
                    (_, Value::Boolean(false)) => Value::Boolean(false),
                    (Value::Boolean(true), Value::Boolean(true)) => Value::Boolean(true),
                    _ => Value::Null,
                },
            },
            Node::Or(l, r) => match l.eval(row)? {
                Value::Boolean(true) => Value::Boolean(true),
                lv => match (lv, r.eval(row)?) {
                    (_, Value::Boolean(true)) => Value::Boolean(true),
                    (Value::Boolean(false), Value::Boolean(false)) => Value::Boolean(false),
                    _ => Value::Null,
                },
            },
            Node::Arithmetic(op, l, r) => {
                let (lv, rv) = (l.eval(row)?, r.eval(row)?);
                if in_lambda() && (lv.is_null() || rv.is_null()) {
                    return Err("null operand in a lambda".into());
                }
                match arithmetic(*op, &self.ty, lv, rv) {
                    Ok(v) => v,
                    Err(e) => {
                        record_error(e);
                        Value::Null
                    }
                }
            }
            Node::Concat(l, r) => match (l.eval(row)?, r.eval(row)?) {
                (Value::String(a), Value::String(b)) => {
                    let mut s = String::with_capacity(a.len() + b.len());
                    s.push_str(&a);
                    s.push_str(&b);
                    Value::string(s)
                }
                _ => Value::Null,
            },
            Node::Compare(op, l, r) => compare(*op, &l.eval(row)?, &r.eval(row)?),
            Node::IsNull(e, negated) => Value::Boolean(e.eval(row)?.is_null() != *negated),
            Node::IsDistinct(l, r, negated) => {
                Value::Boolean(l.eval(row)?.not_distinct(&r.eval(row)?) == *negated)
            }
            Node::Between(e, lo, hi, negated) => {
                let v = e.eval(row)?;
                let ge = compare(BinaryOp::Ge, &v, &lo.eval(row)?);
                let le = compare(BinaryOp::Le, &v, &hi.eval(row)?);
                match (ge, le) {
                    (Value::Boolean(a), Value::Boolean(b)) => Value::Boolean((a && b) != *negated),
                    _ => Value::Null,
                }
            }
            Node::Like(e, pattern, negated) => {
                let v = e.eval(row)?;
                let Value::String(s) = v else {
                    return Ok(Value::Null);
                };
                let matched = match pattern {
                    LikePattern::Constant(re) => re.is_match(&s),
                    LikePattern::Dynamic(p, escape) => match p.eval(row)? {
                        Value::String(p) => like_regex(&p, *escape)?.is_match(&s),
                        _ => return Ok(Value::Null),
                    },
                };
                Value::Boolean(matched != *negated)
            }
            Node::InList(e, items, negated) => {
                let v = e.eval(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut found = false;
                for item in items {
                    if v.sql_eq(&item.eval(row)?) == Some(true) {
                        found = true;
                        break;
                    }
                }
                Value::Boolean(found != *negated)
            }
            Node::Field(e, name) => match e.eval(row)? {
                Value::Struct(fields) => fields
                    .into_iter()
                    .find(|(n, _)| &**n == name)
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            Node::Subscript(e, i) => match (e.eval(row)?, i.eval(row)?) {
                (Value::Array(items), idx) => match idx.as_i64() {
                    // 1-based; negative counts from the end; out of range is NULL.
                    Some(i) if i >= 1 => {
                        items.into_iter().nth(i as usize - 1).unwrap_or(Value::Null)
                    }
                    Some(i) if i < 0 && (i.unsigned_abs() as usize) <= items.len() => {
                        let n = items.len();
                        items
                            .into_iter()
                            .nth(n - i.unsigned_abs() as usize)
                            .unwrap_or(Value::Null)
                    }
                    _ => Value::Null,
                },
                (Value::Map(entries), key) => entries
                    .into_iter()
                    .find(|(k, _)| k.sql_eq(&key) == Some(true))
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            },
            Node::Call(eval, args) => {
                // Up to three arguments live on the stack: a call per row per
                // function must not allocate for its argument list.
                let result = match &args[..] {
                    [] => eval(&[]),
                    [a] => eval(&[a.eval(row)?]),
                    [a, b] => eval(&[a.eval(row)?, b.eval(row)?]),
                    [a, b, c] => eval(&[a.eval(row)?, b.eval(row)?, c.eval(row)?]),
                    args => {
                        let mut values = Vec::with_capacity(args.len());
                        for a in args {
                            values.push(a.eval(row)?);
                        }
                        eval(&values)
                    }
                };
                // A function that throws gives NULL for its call (ksqlDB logs
                // it and goes on), so COALESCE and IFNULL can recover.
                match result {
                    Ok(v) => v,
                    Err(e) => {
                        record_error(e);
                        Value::Null
                    }
                }
            }
            Node::Case(whens, else_) => {
                for (cond, result) in whens {
                    if matches!(cond.eval(row)?, Value::Boolean(true)) {
                        return result.eval(row);
                    }
                }
                match else_ {
                    Some(e) => e.eval(row)?,
                    None => Value::Null,
                }
            }
            Node::Cast(e) => match cast_value(e.eval(row)?, &e.ty, &self.ty) {
                Ok(v) => v,
                Err(_) => Value::Null,
            },
            Node::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|e| e.eval(row))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Map(entries) => {
                let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let k = k.eval(row)?;
                    let v = v.eval(row)?;
                    match out.iter_mut().find(|(ek, _)| ek.not_distinct(&k)) {
                        Some(e) => e.1 = v,
                        None => out.push((k, v)),
                    }
                }
                Value::Map(out)
            }
            Node::Struct(fields) => Value::Struct(
                fields
                    .iter()
                    .map(|(n, e)| Ok((n.clone(), e.eval(row)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Node::Lambda(call) => eval_lambda(call, row)?,
        })
    }
}

thread_local! {
    static EVAL_ERRORS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn record_error(e: String) {
    EVAL_ERRORS.with(|errors| {
        let mut errors = errors.borrow_mut();
        if errors.len() < 16 {
            errors.push(e);
        }
    });
}

/// Errors that expressions evaluated on this thread swallowed (and turned
/// into NULL) since the last call; the engine writes them to the processing log.
pub fn take_errors() -> Vec<String> {
    EVAL_ERRORS.with(|errors| std::mem::take(&mut *errors.borrow_mut()))
}

fn with_params(row: &[Value], params: &[Value]) -> Vec<Value> {
    let mut extended = Vec::with_capacity(row.len() + params.len());
    extended.extend_from_slice(row);
    extended.extend_from_slice(params);
    extended
}

fn eval_lambda(call: &LambdaCall, row: &[Value]) -> Result<Value, String> {
    let input = match call {
        LambdaCall::TransformArray(a, _)
        | LambdaCall::TransformMap(a, _, _)
        | LambdaCall::FilterArray(a, _)
        | LambdaCall::FilterMap(a, _)
        | LambdaCall::ReduceArray(a, _, _)
        | LambdaCall::ReduceMap(a, _, _) => a,
    };
    let value = input.eval(row)?;
    // Inside a lambda, ksqlDB's generated Java unboxes arithmetic operands:
    // arithmetic on NULL throws, and the whole call is NULL.
    LAMBDA_DEPTH.with(|d| d.set(d.get() + 1));
    let result = eval_lambda_on(call, row, value);
    LAMBDA_DEPTH.with(|d| d.set(d.get() - 1));
    match result {
        Ok(v) => Ok(v),
        Err(e) => {
            record_error(e);
            Ok(Value::Null)
        }
    }
}

thread_local! {
    static LAMBDA_DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn in_lambda() -> bool {
    LAMBDA_DEPTH.with(|d| d.get() > 0)
}

fn eval_lambda_on(call: &LambdaCall, row: &[Value], input: Value) -> Result<Value, String> {
    Ok(match call {
        LambdaCall::TransformArray(_, body) => match input {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|x| body.eval(&with_params(row, &[x])))
                    .collect::<Result<_, _>>()?,
            ),
            _ => Value::Null,
        },
        LambdaCall::TransformMap(_, kb, vb) => match input {
            Value::Map(entries) => {
                let mut out: Vec<(Value, Value)> = Vec::new();
                for (k, v) in entries {
                    let r = with_params(row, &[k, v]);
                    let nk = kb.eval(&r)?;
                    let nv = vb.eval(&r)?;
                    match out.iter_mut().find(|(ek, _)| ek.not_distinct(&nk)) {
                        Some(e) => e.1 = nv,
                        None => out.push((nk, nv)),
                    }
                }
                Value::Map(out)
            }
            _ => Value::Null,
        },
        LambdaCall::FilterArray(_, body) => match input {
            Value::Array(items) => {
                let mut out = Vec::new();
                for x in items {
                    if matches!(
                        body.eval(&with_params(row, std::slice::from_ref(&x)))?,
                        Value::Boolean(true)
                    ) {
                        out.push(x);
                    }
                }
                Value::Array(out)
            }
            _ => Value::Null,
        },
        LambdaCall::FilterMap(_, body) => match input {
            Value::Map(entries) => {
                let mut out = Vec::new();
                for (k, v) in entries {
                    if matches!(
                        body.eval(&with_params(row, &[k.clone(), v.clone()]))?,
                        Value::Boolean(true)
                    ) {
                        out.push((k, v));
                    }
                }
                Value::Map(out)
            }
            _ => Value::Null,
        },
        LambdaCall::ReduceArray(_, init, body) => {
            let mut acc = init.eval(row)?;
            match input {
                Value::Array(items) => {
                    for x in items {
                        acc = body.eval(&with_params(row, &[acc, x]))?;
                    }
                    acc
                }
                _ => acc,
            }
        }
        LambdaCall::ReduceMap(_, init, body) => {
            let mut acc = init.eval(row)?;
            match input {
                Value::Map(entries) => {
                    for (k, v) in entries {
                        acc = body.eval(&with_params(row, &[acc, k, v]))?;
                    }
                    acc
                }
                _ => acc,
            }
        }
    })
}
