//! Runtime values of SQL expressions and rows.

use std::cmp::Ordering;
use std::fmt::{self, Display, Formatter};
use std::sync::Arc;

use crate::types::SqlType;

/// A value of some [`SqlType`]. `Null` belongs to every type.
///
/// Strings and bytes are reference-counted so rows can be copied between
/// operators without copying their text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Boolean(bool),
    Int(i32),
    Bigint(i64),
    Double(f64),
    Decimal(Decimal),
    String(Arc<str>),
    Bytes(Arc<[u8]>),
    /// Days since 1970-01-01.
    Date(i32),
    /// Milliseconds since midnight.
    Time(i64),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Array(Vec<Value>),
    /// Entries in insertion order (ksqlDB's maps keep it for JSON output).
    Map(Vec<(Value, Value)>),
    /// Fields in the order of the struct's type, with their names.
    Struct(Vec<(Arc<str>, Value)>),
}

impl Value {
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    pub fn bytes(b: impl Into<Arc<[u8]>>) -> Value {
        Value::Bytes(b.into())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// INT or BIGINT as i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i as i64),
            Value::Bigint(i) => Some(*i),
            _ => None,
        }
    }

    /// Any numeric value as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Bigint(i) => Some(*i as f64),
            Value::Double(d) => Some(*d),
            Value::Decimal(d) => Some(d.to_f64()),
            _ => None,
        }
    }

    /// Any integer or decimal value as a Decimal.
    pub fn as_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::new(*i as i128, 0)),
            Value::Bigint(i) => Some(Decimal::new(*i as i128, 0)),
            Value::Decimal(d) => Some(*d),
            _ => None,
        }
    }

    /// A struct field by exact name.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(fields) => fields.iter().find(|(n, _)| &**n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Converts a value of a narrower numeric type into `target`
    /// (see [`SqlType::can_widen_to`]); other values pass unchanged.
    pub fn widen(self, target: &SqlType) -> Value {
        match (self, target) {
            (Value::Int(i), SqlType::Bigint) => Value::Bigint(i as i64),
            (Value::Int(i), SqlType::Double) => Value::Double(i as f64),
            (Value::Bigint(i), SqlType::Double) => Value::Double(i as f64),
            (Value::Decimal(d), SqlType::Double) => Value::Double(d.to_f64()),
            (Value::Int(i), SqlType::Decimal { scale, .. }) => Value::Decimal(
                Decimal::new(i as i128, 0)
                    .rescale(*scale)
                    .unwrap_or_default(),
            ),
            (Value::Bigint(i), SqlType::Decimal { scale, .. }) => Value::Decimal(
                Decimal::new(i as i128, 0)
                    .rescale(*scale)
                    .unwrap_or_default(),
            ),
            (Value::Decimal(d), SqlType::Decimal { scale, .. }) if d.scale != *scale => {
                match d.rescale(*scale) {
                    Some(d) => Value::Decimal(d),
                    None => Value::Decimal(d),
                }
            }
            (Value::Array(items), SqlType::Array(t)) => {
                Value::Array(items.into_iter().map(|v| v.widen(t)).collect())
            }
            (Value::Map(entries), SqlType::Map(kt, vt)) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.widen(kt), v.widen(vt)))
                    .collect(),
            ),
            (v, _) => v,
        }
    }

    /// SQL comparison for ORDER-like operators; `None` when either side is
    /// NULL or the values are not comparable. Numbers of different types
    /// compare by value.
    pub fn sql_cmp(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) => None,
            (Boolean(a), Boolean(b)) => Some(a.cmp(b)),
            (Int(a), Int(b)) => Some(a.cmp(b)),
            (Bigint(a), Bigint(b)) => Some(a.cmp(b)),
            (Int(_) | Bigint(_), Int(_) | Bigint(_)) => Some(self.as_i64()?.cmp(&other.as_i64()?)),
            (Decimal(_) | Int(_) | Bigint(_), Decimal(_) | Int(_) | Bigint(_)) => {
                Some(self.as_decimal()?.cmp(&other.as_decimal()?))
            }
            (Double(_), _) | (_, Double(_)) => self.as_f64()?.partial_cmp(&other.as_f64()?),
            (String(a), String(b)) => Some(a.cmp(b)),
            (Bytes(a), Bytes(b)) => Some(a.cmp(b)),
            (Date(a), Date(b)) => Some(a.cmp(b)),
            (Time(a), Time(b)) => Some(a.cmp(b)),
            (Timestamp(a), Timestamp(b)) => Some(a.cmp(b)),
            // ksqlDB compares DATE and TIMESTAMP after widening the DATE.
            (Date(a), Timestamp(b)) => Some((*a as i64 * MILLIS_PER_DAY).cmp(b)),
            (Timestamp(a), Date(b)) => Some(a.cmp(&(*b as i64 * MILLIS_PER_DAY))),
            _ => None,
        }
    }

    /// SQL equality: `None` when either side is NULL.
    pub fn sql_eq(&self, other: &Value) -> Option<bool> {
        match (self, other) {
            (Value::Null, _) | (_, Value::Null) => None,
            // Containers compare as Java's equals: NULL elements equal NULL.
            (Value::Array(a), Value::Array(b)) => {
                Some(a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.not_distinct(y)))
            }
            (Value::Map(a), Value::Map(b)) => Some(
                a.len() == b.len()
                    && a.iter().all(|(k, v)| {
                        b.iter()
                            .any(|(k2, v2)| k.not_distinct(k2) && v.not_distinct(v2))
                    }),
            ),
            (Value::Struct(a), Value::Struct(b)) => Some(
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((n1, x), (n2, y))| n1 == n2 && x.not_distinct(y)),
            ),
            _ => self.sql_cmp(other).map(|o| o == Ordering::Equal),
        }
    }

    /// `IS NOT DISTINCT FROM`: NULL equals NULL.
    pub fn not_distinct(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Null, _) | (_, Value::Null) => false,
            _ => self.sql_eq(other) == Some(true),
        }
    }
}

/// Milliseconds in a day.
pub const MILLIS_PER_DAY: i64 = 86_400_000;

/// An exact decimal: `unscaled × 10^-scale`. Precision belongs to the type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decimal {
    pub unscaled: i128,
    pub scale: u32,
}

impl Decimal {
    pub fn new(unscaled: i128, scale: u32) -> Decimal {
        Decimal { unscaled, scale }
    }

    /// Parses `-12.340` keeping its scale (3 here); exponents are allowed.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (int_part, frac_part) = match digits.find('.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut unscaled: i128 = 0;
        for b in int_part.bytes().chain(frac_part.bytes()) {
            unscaled = unscaled.checked_mul(10)?.checked_add((b - b'0') as i128)?;
        }
        let mut scale = frac_part.len() as i32 - exponent;
        while scale < 0 {
            unscaled = unscaled.checked_mul(10)?;
            scale += 1;
        }
        if negative {
            unscaled = -unscaled;
        }
        Some(Decimal::new(unscaled, scale as u32))
    }

    /// Number of significant digits of the unscaled value (at least 1).
    pub fn digits(&self) -> u32 {
        let mut n = self.unscaled.unsigned_abs();
        let mut d = 1;
        while n >= 10 {
            n /= 10;
            d += 1;
        }
        d
    }

    /// The same value at another scale; rounds HALF_UP when reducing scale
    /// (as Java's `setScale(s, RoundingMode.HALF_UP)`); `None` on overflow.
    pub fn rescale(&self, scale: u32) -> Option<Decimal> {
        use std::cmp::Ordering::*;
        match scale.cmp(&self.scale) {
            Equal => Some(*self),
            Greater => {
                let factor = 10i128.checked_pow(scale - self.scale)?;
                Some(Decimal::new(self.unscaled.checked_mul(factor)?, scale))
            }
            Less => {
                let factor = 10i128.checked_pow(self.scale - scale)?;
                let q = self.unscaled / factor;
                let r = self.unscaled % factor;
                let round = if r.unsigned_abs() * 2 >= factor.unsigned_abs() {
                    self.unscaled.signum()
                } else {
                    0
                };
                Some(Decimal::new(q + round, scale))
            }
        }
    }

    /// Whether the value fits `DECIMAL(precision, scale)` once rescaled.
    pub fn fits(&self, precision: u32, scale: u32) -> bool {
        match self.rescale(scale) {
            Some(d) => d.digits() <= precision || d.unscaled == 0,
            None => false,
        }
    }

    pub fn to_f64(&self) -> f64 {
        // Through text so that 0.1 becomes the nearest double, as in Java.
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The decimal nearest to `value` at `scale`, HALF_UP (Java's BigDecimal.valueOf).
    pub fn from_f64(value: f64, scale: u32) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        Decimal::parse(&format!("{value:.*}", scale as usize + 1))?.rescale(scale)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescale(scale), other.rescale(scale)) {
            (Some(a), Some(b)) => a.unscaled.cmp(&b.unscaled),
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

/// Plain notation keeping the scale: `Decimal::new(1230, 2)` is `12.30`.
impl Display for Decimal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let digits = self.unscaled.unsigned_abs().to_string();
        let sign = if self.unscaled < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        if digits.len() > scale {
            let (i, frac) = digits.split_at(digits.len() - scale);
            write!(f, "{sign}{i}.{frac}")
        } else {
            write!(f, "{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_compare_nulls_inside_as_equal() {
        let map = |v: Value| Value::Map(vec![(Value::string("c"), v)]);
        assert_eq!(map(Value::Null).sql_eq(&map(Value::Null)), Some(true));
        assert_eq!(map(Value::Null).sql_eq(&map(Value::Bigint(1))), Some(false));
        assert_eq!(
            map(Value::Bigint(1)).sql_eq(&map(Value::Int(1))),
            Some(true)
        );
        let array = Value::Array(vec![Value::Null]);
        assert_eq!(array.sql_eq(&array.clone()), Some(true));
        assert_eq!(Value::Null.sql_eq(&Value::Null), None);
    }

    #[test]
    fn decimals_parse_print_and_round_half_up() {
        let d = Decimal::parse("-12.340").unwrap();
        assert_eq!((d.unscaled, d.scale), (-12340, 3));
        assert_eq!(d.to_string(), "-12.340");
        assert_eq!(Decimal::parse("0.05").unwrap().to_string(), "0.05");
        assert_eq!(Decimal::parse("1.5e2").unwrap().to_string(), "150");
        assert_eq!(
            Decimal::parse("2.345")
                .unwrap()
                .rescale(2)
                .unwrap()
                .to_string(),
            "2.35"
        );
        assert_eq!(
            Decimal::parse("-2.345")
                .unwrap()
                .rescale(2)
                .unwrap()
                .to_string(),
            "-2.35"
        );
        assert!(Decimal::parse("123.45").unwrap().fits(5, 2));
        assert!(!Decimal::parse("1234.5").unwrap().fits(5, 2));
        assert_eq!(
            Decimal::parse("1.0").unwrap(),
            Decimal::parse("1.00").unwrap()
        );
        assert!(Decimal::parse("abc").is_none());
    }

    #[test]
    fn numbers_compare_across_types() {
        assert_eq!(Value::Int(1).sql_eq(&Value::Bigint(1)), Some(true));
        assert_eq!(Value::Int(1).sql_eq(&Value::Double(1.0)), Some(true));
        assert_eq!(
            Value::Decimal(Decimal::new(150, 2)).sql_cmp(&Value::Int(1)),
            Some(Ordering::Greater)
        );
        assert_eq!(Value::Null.sql_eq(&Value::Null), None);
        assert!(Value::Null.not_distinct(&Value::Null));
    }
}
