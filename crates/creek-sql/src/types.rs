//! Resolved SQL types, as the engine checks and evaluates them.
//!
//! [`crate::ast::Type`] is what a statement wrote (it may name a custom type);
//! [`SqlType`] is what it means after `CREATE TYPE` names are resolved.

use std::fmt::{self, Display, Formatter};

/// Largest DECIMAL precision ksqlDB accepts.
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// A ksqlDB type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SqlType {
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
    /// Milliseconds since midnight.
    Time,
    /// Milliseconds since the Unix epoch (no zone).
    Timestamp,
    Array(Box<SqlType>),
    Map(Box<SqlType>, Box<SqlType>),
    Struct(Vec<Field>),
}

/// A named field of a STRUCT.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    pub name: String,
    pub ty: SqlType,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: SqlType) -> Field {
        Field {
            name: name.into(),
            ty,
        }
    }
}

impl SqlType {
    pub fn array(element: SqlType) -> SqlType {
        SqlType::Array(Box::new(element))
    }

    pub fn map(key: SqlType, value: SqlType) -> SqlType {
        SqlType::Map(Box::new(key), Box::new(value))
    }

    pub fn decimal(precision: u32, scale: u32) -> SqlType {
        SqlType::Decimal { precision, scale }
    }

    /// INT, BIGINT, DECIMAL or DOUBLE.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Decimal { .. }
        )
    }

    /// Not ARRAY, MAP or STRUCT.
    pub fn is_primitive(&self) -> bool {
        !matches!(
            self,
            SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
        )
    }

    /// The DECIMAL an integer or decimal type widens to without loss
    /// (INT = DECIMAL(10, 0), BIGINT = DECIMAL(19, 0)), as ksqlDB's
    /// `DecimalUtil.toSqlDecimal` does.
    pub fn as_decimal(&self) -> Option<(u32, u32)> {
        match self {
            SqlType::Int => Some((10, 0)),
            SqlType::Bigint => Some((19, 0)),
            SqlType::Decimal { precision, scale } => Some((*precision, *scale)),
            _ => None,
        }
    }

    /// ksqlDB's implicit widening for function arguments and comparisons:
    /// INT → BIGINT → DECIMAL → DOUBLE, element-wise for containers.
    pub fn can_widen_to(&self, target: &SqlType) -> bool {
        if self == target {
            return true;
        }
        match (self, target) {
            (SqlType::Int, SqlType::Bigint | SqlType::Decimal { .. } | SqlType::Double) => true,
            (SqlType::Bigint, SqlType::Decimal { .. } | SqlType::Double) => true,
            (SqlType::Decimal { .. }, SqlType::Decimal { .. } | SqlType::Double) => true,
            (SqlType::Array(a), SqlType::Array(b)) => a.can_widen_to(b),
            (SqlType::Map(ka, va), SqlType::Map(kb, vb)) => {
                ka.can_widen_to(kb) && va.can_widen_to(vb)
            }
            (SqlType::Struct(a), SqlType::Struct(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|(x, y)| x.name == y.name && x.ty.can_widen_to(&y.ty))
            }
            _ => false,
        }
    }

    /// The field of a STRUCT type by exact name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        match self {
            SqlType::Struct(fields) => fields.iter().find(|f| f.name == name),
            _ => None,
        }
    }
}

fn quote(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    write!(f, "`{}`", name.replace('`', "``"))
}

/// ksqlDB's spelling: `INTEGER`, `DECIMAL(4, 2)`, `ARRAY<STRING>`,
/// `MAP<STRING, INTEGER>`, ``STRUCT<`A` INTEGER>``.
impl Display for SqlType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => f.write_str("BOOLEAN"),
            SqlType::Int => f.write_str("INTEGER"),
            SqlType::Bigint => f.write_str("BIGINT"),
            SqlType::Double => f.write_str("DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::String => f.write_str("STRING"),
            SqlType::Bytes => f.write_str("BYTES"),
            SqlType::Date => f.write_str("DATE"),
            SqlType::Time => f.write_str("TIME"),
            SqlType::Timestamp => f.write_str("TIMESTAMP"),
            SqlType::Array(t) => write!(f, "ARRAY<{t}>"),
            SqlType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            SqlType::Struct(fields) => {
                f.write_str("STRUCT<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    quote(f, &field.name)?;
                    write!(f, " {}", field.ty)?;
                }
                f.write_str(">")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_ksqldb() {
        let t = SqlType::Struct(vec![
            Field::new("A", SqlType::Int),
            Field::new("b", SqlType::map(SqlType::String, SqlType::decimal(4, 2))),
        ]);
        assert_eq!(
            t.to_string(),
            "STRUCT<`A` INTEGER, `b` MAP<STRING, DECIMAL(4, 2)>>"
        );
    }

    #[test]
    fn widening_follows_int_bigint_decimal_double() {
        assert!(SqlType::Int.can_widen_to(&SqlType::Double));
        assert!(SqlType::Bigint.can_widen_to(&SqlType::decimal(19, 0)));
        assert!(!SqlType::Double.can_widen_to(&SqlType::Bigint));
        assert!(!SqlType::String.can_widen_to(&SqlType::Int));
        assert!(SqlType::array(SqlType::Int).can_widen_to(&SqlType::array(SqlType::Bigint)));
    }
}
