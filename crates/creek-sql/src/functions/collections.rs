//! Array and map functions: ARRAY_CONTAINS, ARRAY_DISTINCT, ARRAY_EXCEPT,
//! ARRAY_INTERSECT, ARRAY_UNION, ARRAY_CONCAT, ARRAY_JOIN, ARRAY_LENGTH,
//! ARRAY_MAX, ARRAY_MIN, ARRAY_REMOVE, ARRAY_SORT, SLICE, ENTRIES, MAP_KEYS,
//! MAP_VALUES, MAP_UNION and AS_MAP, following ksqlDB's UDFs
//! (`udf/array`, `udf/list`, `udf/map`).
//!
//! They are generic in the element type: `resolve` binds the element type
//! from the argument types (unifying two arrays by ksqlDB's widening) and the
//! result type follows. Set operations compare elements as Java's `equals`
//! does (NULL equals NULL, structural for arrays, maps and structs); sorting,
//! ARRAY_MAX and ARRAY_MIN use Java's natural order (NaN largest, strings by
//! UTF-16 code unit).

use std::cmp::Ordering;
use std::sync::Arc;

use super::math::{strict, Generic};
use super::{Arg, ResolveError, Resolved, ScalarFunction};
use crate::types::{Field, SqlType};
use crate::value::{Decimal, Value};

const ARRAY: &str = "ARRAY";
const MAP: &str = "MAP";

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    let g = |name, description, category, signatures, resolve| -> Arc<dyn ScalarFunction> {
        Arc::new(Generic {
            name,
            description,
            category,
            signatures,
            resolve,
        })
    };
    vec![
        g(
            "ARRAY_CONTAINS",
            "Returns true if the array is non-null and contains the supplied value.",
            ARRAY,
            &["ARRAY_CONTAINS(ARRAY<T>, T) => BOOLEAN"],
            resolve_contains,
        ),
        g(
            "ARRAY_DISTINCT",
            "Returns an array of all the distinct values, including NULL if present, from the \
             input array. The output array elements will be in order of their first occurrence \
             in the input. Returns NULL if the input array is NULL.",
            ARRAY,
            &["ARRAY_DISTINCT(ARRAY<T>) => ARRAY<T>"],
            resolve_distinct,
        ),
        g(
            "ARRAY_EXCEPT",
            "Returns an array of all the elements in an array except for those also present in \
             a second array. The order of entries in the first array is preserved although any \
             duplicates are removed. Returns NULL if either input is NULL.",
            ARRAY,
            &["ARRAY_EXCEPT(ARRAY<T>, ARRAY<T>) => ARRAY<T>"],
            resolve_except,
        ),
        g(
            "ARRAY_INTERSECT",
            "Returns an array of all the distinct elements from the intersection of both input \
             arrays. The order of entries in the output is the same as in the first input \
             array. Returns NULL if either input is NULL.",
            ARRAY,
            &["ARRAY_INTERSECT(ARRAY<T>, ARRAY<T>) => ARRAY<T>"],
            resolve_intersect,
        ),
        g(
            "ARRAY_UNION",
            "Returns an array of all the distinct elements from both input arrays, in the order \
             they're encountered. Returns NULL if either input is NULL.",
            ARRAY,
            &["ARRAY_UNION(ARRAY<T>, ARRAY<T>) => ARRAY<T>"],
            resolve_union,
        ),
        g(
            "ARRAY_CONCAT",
            "Concatenates two arrays, keeping duplicates. NULL inputs are ignored; returns NULL \
             if both are NULL.",
            ARRAY,
            &["ARRAY_CONCAT(ARRAY<T>, ARRAY<T>) => ARRAY<T>"],
            resolve_concat,
        ),
        g(
            "ARRAY_JOIN",
            "Joins the array elements into a flat string representation, with a delimiter \
             (default ',').",
            ARRAY,
            &[
                "ARRAY_JOIN(ARRAY<T>) => STRING",
                "ARRAY_JOIN(ARRAY<T>, STRING) => STRING",
            ],
            resolve_join,
        ),
        g(
            "ARRAY_LENGTH",
            "Returns the number of elements in an array, or NULL if the array is NULL.",
            ARRAY,
            &["ARRAY_LENGTH(ARRAY<T>) => INTEGER"],
            resolve_length,
        ),
        g(
            "ARRAY_MAX",
            "Return the maximum value from within an array of primitive values, according to \
             their natural sort order. If the array is NULL, or contains only NULLs, return NULL.",
            ARRAY,
            &["ARRAY_MAX(ARRAY<T>) => T"],
            resolve_max,
        ),
        g(
            "ARRAY_MIN",
            "Return the minimum value from within an array of primitive values, according to \
             their natural sort order. If the array is NULL, or contains only NULLs, return NULL.",
            ARRAY,
            &["ARRAY_MIN(ARRAY<T>) => T"],
            resolve_min,
        ),
        g(
            "ARRAY_REMOVE",
            "Removes all elements equal to the given value from the array (NULL removes NULLs). \
             Returns NULL if the array is NULL.",
            ARRAY,
            &["ARRAY_REMOVE(ARRAY<T>, T) => ARRAY<T>"],
            resolve_remove,
        ),
        g(
            "ARRAY_SORT",
            "Sort an array of primitive values, according to their natural sort order. Any NULLs \
             in the array will be placed at the end. The direction is 'ASC' (default) or 'DESC'.",
            ARRAY,
            &[
                "ARRAY_SORT(ARRAY<T>) => ARRAY<T>",
                "ARRAY_SORT(ARRAY<T>, STRING) => ARRAY<T>",
            ],
            resolve_sort,
        ),
        g(
            "SLICE",
            "Slice of an ARRAY: the elements from start to end, 1-based and inclusive. NULL \
             bounds mean the array's ends; out-of-range bounds give NULL.",
            ARRAY,
            &["SLICE(ARRAY<T>, INTEGER, INTEGER) => ARRAY<T>"],
            resolve_slice,
        ),
        g(
            "ENTRIES",
            "Construct an array from the entries in a map. The array can be optionally sorted \
             on the keys.",
            MAP,
            &[
                "ENTRIES(MAP<STRING, INTEGER>, BOOLEAN) => ARRAY<STRUCT<K STRING, V INTEGER>>",
                "ENTRIES(MAP<STRING, BIGINT>, BOOLEAN) => ARRAY<STRUCT<K STRING, V BIGINT>>",
                "ENTRIES(MAP<STRING, DOUBLE>, BOOLEAN) => ARRAY<STRUCT<K STRING, V DOUBLE>>",
                "ENTRIES(MAP<STRING, BOOLEAN>, BOOLEAN) => ARRAY<STRUCT<K STRING, V BOOLEAN>>",
                "ENTRIES(MAP<STRING, STRING>, BOOLEAN) => ARRAY<STRUCT<K STRING, V STRING>>",
            ],
            resolve_entries,
        ),
        g(
            "MAP_KEYS",
            "Returns an array that contains all of the keys from the specified map. Returns \
             NULL if the input map is NULL.",
            MAP,
            &["MAP_KEYS(MAP<K, V>) => ARRAY<K>"],
            resolve_map_keys,
        ),
        g(
            "MAP_VALUES",
            "Returns an array that contains all of the values from the specified map. Returns \
             NULL if the input map is NULL.",
            MAP,
            &["MAP_VALUES(MAP<K, V>) => ARRAY<V>"],
            resolve_map_values,
        ),
        g(
            "MAP_UNION",
            "Returns a new map containing the union of all entries from both input maps. If a \
             key is present in both input maps then the value from map2 is the one which \
             appears in the result. Returns NULL if all of the input maps are NULL.",
            MAP,
            &["MAP_UNION(MAP<K, V>, MAP<K, V>) => MAP<K, V>"],
            resolve_map_union,
        ),
        g(
            "AS_MAP",
            "Construct a map from a list of keys and a list of values.",
            MAP,
            &["AS_MAP(ARRAY<STRING>, ARRAY<T>) => MAP<STRING, T>"],
            resolve_as_map,
        ),
    ]
}

// ----- type helpers -----

fn element(arg: &Arg) -> Option<&SqlType> {
    match &arg.ty {
        Some(SqlType::Array(t)) => Some(t),
        _ => None,
    }
}

/// The narrowest type both widen to, by ksqlDB's widening (decimals to a
/// decimal holding both).
pub(super) fn unify(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    if a == b {
        return Some(a.clone());
    }
    if let (Some((pa, sa)), Some((pb, sb))) = (a.as_decimal(), b.as_decimal()) {
        if matches!(a, SqlType::Decimal { .. }) || matches!(b, SqlType::Decimal { .. }) {
            let scale = sa.max(sb);
            let int_digits = (pa - sa).max(pb - sb);
            return Some(SqlType::decimal((int_digits + scale).min(38), scale));
        }
    }
    match (a, b) {
        (SqlType::Array(x), SqlType::Array(y)) => Some(SqlType::array(unify(x, y)?)),
        (SqlType::Map(ka, va), SqlType::Map(kb, vb)) => {
            Some(SqlType::map(unify(ka, kb)?, unify(va, vb)?))
        }
        _ if a.can_widen_to(b) => Some(b.clone()),
        _ if b.can_widen_to(a) => Some(a.clone()),
        _ => None,
    }
}

/// Widens a value to `target` when its type is not already `target`.
fn widen_to(v: &Value, from: &SqlType, target: &SqlType) -> Value {
    if from == target {
        v.clone()
    } else {
        v.clone().widen(target)
    }
}

/// Element type of two array arguments, either of which may be an untyped NULL.
fn two_arrays(args: &[Arg]) -> Result<(SqlType, SqlType, SqlType), ResolveError> {
    let [a, b] = args else {
        return Err(ResolveError::NoMatch);
    };
    let (ta, tb) = match (&a.ty, &b.ty) {
        (None, None) => return Err(ResolveError::NoMatch),
        (Some(_), None) => {
            let t = element(a).ok_or(ResolveError::NoMatch)?.clone();
            (t.clone(), t)
        }
        (None, Some(_)) => {
            let t = element(b).ok_or(ResolveError::NoMatch)?.clone();
            (t.clone(), t)
        }
        (Some(_), Some(_)) => (
            element(a).ok_or(ResolveError::NoMatch)?.clone(),
            element(b).ok_or(ResolveError::NoMatch)?.clone(),
        ),
    };
    let t = unify(&ta, &tb).ok_or(ResolveError::NoMatch)?;
    Ok((ta, tb, t))
}

fn items(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(format!("expected an ARRAY, got {other:?}")),
    }
}

fn entries(v: &Value) -> Result<&[(Value, Value)], String> {
    match v {
        Value::Map(entries) => Ok(entries),
        other => Err(format!("expected a MAP, got {other:?}")),
    }
}

/// The array argument widened to the element type `to`.
fn widened_items(v: &Value, from: &SqlType, to: &SqlType) -> Result<Vec<Value>, String> {
    Ok(items(v)?.iter().map(|x| widen_to(x, from, to)).collect())
}

// ----- Java equality and order -----

/// Java's `Objects.equals` on ksqlDB's runtime values.
pub(super) fn java_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        (Value::Double(x), Value::Double(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| java_eq(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| {
                    y.iter()
                        .find(|(k2, _)| java_eq(k, k2))
                        .is_some_and(|(_, v2)| java_eq(v, v2))
                })
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((n1, p), (n2, q))| n1 == n2 && java_eq(p, q))
        }
        _ => a == b,
    }
}

/// Java's `Double.compare`: -0.0 before 0.0, NaN after everything.
fn java_double_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.total_cmp(&b),
    }
}

/// Java's natural order of two non-NULL primitive values of one type.
pub(super) fn java_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => java_double_cmp(*x, *y),
        (Value::String(x), Value::String(y)) => x.encode_utf16().cmp(y.encode_utf16()),
        _ => a.sql_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// A hashable stand-in for a primitive value, equal exactly when
/// [`java_eq`] says the values are.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Null,
    Boolean(bool),
    Int(i32),
    Bigint(i64),
    /// Bits, with one NaN.
    Double(u64),
    /// Unscaled and scale without trailing zeros.
    Decimal(i128, u32),
    String(Arc<str>),
    Bytes(Arc<[u8]>),
    Date(i32),
    Time(i64),
    Timestamp(i64),
}

fn key(v: &Value) -> Option<Key> {
    Some(match v {
        Value::Null => Key::Null,
        Value::Boolean(b) => Key::Boolean(*b),
        Value::Int(i) => Key::Int(*i),
        Value::Bigint(i) => Key::Bigint(*i),
        Value::Double(d) if d.is_nan() => Key::Double(f64::NAN.to_bits()),
        Value::Double(d) => Key::Double(d.to_bits()),
        Value::Decimal(d) => {
            let (mut unscaled, mut scale) = (d.unscaled, d.scale);
            while scale > 0 && unscaled % 10 == 0 {
                unscaled /= 10;
                scale -= 1;
            }
            Key::Decimal(unscaled, scale)
        }
        Value::String(s) => Key::String(s.clone()),
        Value::Bytes(b) => Key::Bytes(b.clone()),
        Value::Date(d) => Key::Date(*d),
        Value::Time(t) => Key::Time(*t),
        Value::Timestamp(t) => Key::Timestamp(*t),
        Value::Array(_) | Value::Map(_) | Value::Struct(_) => return None,
    })
}

/// A set of values under [`java_eq`]: hashed when primitive, a list otherwise.
#[derive(Default)]
struct ValueSet {
    hashed: std::collections::HashSet<Key>,
    others: Vec<Value>,
}

impl ValueSet {
    fn contains(&self, v: &Value) -> bool {
        match key(v) {
            Some(k) => self.hashed.contains(&k),
            None => self.others.iter().any(|o| java_eq(o, v)),
        }
    }

    /// Whether `v` was new.
    fn insert(&mut self, v: &Value) -> bool {
        match key(v) {
            Some(k) => self.hashed.insert(k),
            None if self.others.iter().any(|o| java_eq(o, v)) => false,
            None => {
                self.others.push(v.clone());
                true
            }
        }
    }
}

impl<'a> FromIterator<&'a Value> for ValueSet {
    fn from_iter<I: IntoIterator<Item = &'a Value>>(iter: I) -> ValueSet {
        let mut set = ValueSet::default();
        for v in iter {
            set.insert(v);
        }
        set
    }
}

/// Distinct values in order of first occurrence.
fn distinct(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut seen = ValueSet::default();
    values.into_iter().filter(|v| seen.insert(v)).collect()
}

// ----- text as Java prints it -----

/// Java's `BigDecimal.toString`: plain unless the exponent is below -6.
pub(super) fn java_decimal_string(d: &Decimal) -> String {
    let digits = d.unscaled.unsigned_abs().to_string();
    let adjusted = digits.len() as i64 - 1 - d.scale as i64;
    if adjusted >= -6 {
        return d.to_string();
    }
    let sign = if d.unscaled < 0 { "-" } else { "" };
    let (first, rest) = digits.split_at(1);
    if rest.is_empty() {
        format!("{sign}{first}E{adjusted}")
    } else {
        format!("{sign}{first}.{rest}E{adjusted}")
    }
}

// ----- the functions -----

fn resolve_contains(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [arr, val] = args else {
        return Err(ResolveError::NoMatch);
    };
    let (from_a, from_v, t) = match (&arr.ty, &val.ty) {
        (None, _) => {
            return Ok(Resolved::new(SqlType::Boolean, |_| {
                Ok(Value::Boolean(false))
            }))
        }
        (Some(_), None) => {
            let e = element(arr).ok_or(ResolveError::NoMatch)?.clone();
            (e.clone(), e.clone(), e)
        }
        (Some(_), Some(v)) => {
            let e = element(arr).ok_or(ResolveError::NoMatch)?.clone();
            let t = unify(&e, v).ok_or(ResolveError::NoMatch)?;
            (e, v.clone(), t)
        }
    };
    Ok(Resolved::new(SqlType::Boolean, move |v: &[Value]| {
        if v[0].is_null() {
            return Ok(Value::Boolean(false));
        }
        let needle = widen_to(&v[1], &from_v, &t);
        Ok(Value::Boolean(
            items(&v[0])?
                .iter()
                .any(|x| java_eq(&widen_to(x, &from_a, &t), &needle)),
        ))
    }))
}

fn one_array(args: &[Arg]) -> Result<SqlType, ResolveError> {
    match args {
        [a] => element(a).cloned().ok_or(ResolveError::NoMatch),
        _ => Err(ResolveError::NoMatch),
    }
}

fn resolve_distinct(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let t = one_array(args)?;
    Ok(strict(SqlType::array(t), |v| {
        Ok(Value::Array(distinct(items(&v[0])?.iter().cloned())))
    }))
}

/// ARRAY_EXCEPT, ARRAY_INTERSECT and ARRAY_UNION: NULL if either is NULL.
fn resolve_set_op(
    args: &[Arg],
    op: fn(Vec<Value>, Vec<Value>) -> Vec<Value>,
) -> Result<Resolved, ResolveError> {
    let (ta, tb, t) = two_arrays(args)?;
    Ok(strict(SqlType::array(t.clone()), move |v| {
        let left = widened_items(&v[0], &ta, &t)?;
        let right = widened_items(&v[1], &tb, &t)?;
        Ok(Value::Array(op(left, right)))
    }))
}

fn resolve_except(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_set_op(args, |left, right| {
        let right: ValueSet = right.iter().collect();
        distinct(left)
            .into_iter()
            .filter(|x| !right.contains(x))
            .collect()
    })
}

fn resolve_intersect(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_set_op(args, |left, right| {
        let right: ValueSet = right.iter().collect();
        distinct(left)
            .into_iter()
            .filter(|x| right.contains(x))
            .collect()
    })
}

fn resolve_union(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_set_op(args, |left, right| distinct(left.into_iter().chain(right)))
}

fn resolve_concat(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let (ta, tb, t) = two_arrays(args)?;
    Ok(Resolved::new(
        SqlType::array(t.clone()),
        move |v: &[Value]| {
            if v[0].is_null() && v[1].is_null() {
                return Ok(Value::Null);
            }
            let mut out = Vec::new();
            if !v[0].is_null() {
                out.extend(widened_items(&v[0], &ta, &t)?);
            }
            if !v[1].is_null() {
                out.extend(widened_items(&v[1], &tb, &t)?);
            }
            Ok(Value::Array(out))
        },
    ))
}

fn resolve_join(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let (arr, delimiter) = match args {
        [a] => (a, None),
        [a, d] => (a, Some(d)),
        _ => return Err(ResolveError::NoMatch),
    };
    if arr.ty.is_some() && element(arr).is_none() {
        return Err(ResolveError::NoMatch);
    }
    if let Some(d) = delimiter {
        if !matches!(d.ty, None | Some(SqlType::String)) {
            return Err(ResolveError::NoMatch);
        }
    }
    let default_delimiter = delimiter.is_none();
    Ok(Resolved::new(SqlType::String, move |v: &[Value]| {
        if v[0].is_null() {
            return Ok(Value::Null);
        }
        let delimiter = if default_delimiter {
            ","
        } else {
            v[1].as_str().unwrap_or("")
        };
        let mut parts = Vec::new();
        for x in items(&v[0])? {
            parts.push(match x {
                Value::Null => "null".to_string(),
                Value::Boolean(b) => b.to_string(),
                Value::Int(i) => i.to_string(),
                Value::Bigint(i) => i.to_string(),
                Value::Double(d) => crate::cast::java_double(*d),
                Value::Decimal(d) => java_decimal_string(d),
                Value::String(s) => s.to_string(),
                other => {
                    return Err(format!(
                        "error: hit element of type {} which is currently not supported",
                        value_kind(other)
                    ))
                }
            });
        }
        Ok(Value::string(parts.join(delimiter)))
    }))
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "ARRAY",
        Value::Map(_) => "MAP",
        Value::Struct(_) => "STRUCT",
        Value::Bytes(_) => "BYTES",
        Value::Date(_) => "DATE",
        Value::Time(_) => "TIME",
        Value::Timestamp(_) => "TIMESTAMP",
        _ => "primitive",
    }
}

fn resolve_length(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [arr] = args else {
        return Err(ResolveError::NoMatch);
    };
    if arr.ty.is_some() && element(arr).is_none() {
        return Err(ResolveError::NoMatch);
    }
    Ok(strict(SqlType::Int, |v| {
        Ok(Value::Int(items(&v[0])?.len() as i32))
    }))
}

/// ARRAY_MAX, ARRAY_MIN and ARRAY_SORT need comparable (primitive) elements.
fn comparable_array(arg: &Arg) -> Result<SqlType, ResolveError> {
    let t = element(arg).ok_or(ResolveError::NoMatch)?;
    if t.is_primitive() {
        Ok(t.clone())
    } else {
        Err(ResolveError::NoMatch)
    }
}

fn resolve_extreme(args: &[Arg], want: Ordering) -> Result<Resolved, ResolveError> {
    let [arr] = args else {
        return Err(ResolveError::NoMatch);
    };
    let t = comparable_array(arr)?;
    Ok(strict(t, move |v| {
        let mut best: Option<&Value> = None;
        for x in items(&v[0])? {
            if x.is_null() {
                continue;
            }
            match best {
                Some(b) if java_cmp(x, b) != want => {}
                _ => best = Some(x),
            }
        }
        Ok(best.cloned().unwrap_or(Value::Null))
    }))
}

fn resolve_max(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_extreme(args, Ordering::Greater)
}

fn resolve_min(args: &[Arg]) -> Result<Resolved, ResolveError> {
    resolve_extreme(args, Ordering::Less)
}

fn resolve_remove(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [arr, victim] = args else {
        return Err(ResolveError::NoMatch);
    };
    let e = element(arr).ok_or(ResolveError::NoMatch)?.clone();
    let from_v = victim.ty.clone().unwrap_or_else(|| e.clone());
    let t = unify(&e, &from_v).ok_or(ResolveError::NoMatch)?;
    Ok(Resolved::new(
        SqlType::array(t.clone()),
        move |v: &[Value]| {
            if v[0].is_null() {
                return Ok(Value::Null);
            }
            let victim = widen_to(&v[1], &from_v, &t);
            Ok(Value::Array(
                widened_items(&v[0], &e, &t)?
                    .into_iter()
                    .filter(|x| !java_eq(x, &victim))
                    .collect(),
            ))
        },
    ))
}

fn resolve_sort(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let (arr, direction) = match args {
        [a] => (a, None),
        [a, d] => (a, Some(d)),
        _ => return Err(ResolveError::NoMatch),
    };
    let t = comparable_array(arr)?;
    if let Some(d) = direction {
        if !matches!(d.ty, None | Some(SqlType::String)) {
            return Err(ResolveError::NoMatch);
        }
    }
    let has_direction = direction.is_some();
    Ok(Resolved::new(SqlType::array(t), move |v: &[Value]| {
        if v[0].is_null() {
            return Ok(Value::Null);
        }
        let descending = if has_direction {
            let d = v[1]
                .as_str()
                .ok_or("ARRAY_SORT direction must not be NULL")?
                .to_uppercase();
            match d.as_str() {
                "ASC" | "ASCENDING" => false,
                "DESC" | "DESCENDING" => true,
                _ => return Ok(Value::Null),
            }
        } else {
            false
        };
        let mut out = items(&v[0])?.to_vec();
        // NULLs last in either direction; the sort is stable.
        out.sort_by(|a, b| match (a.is_null(), b.is_null()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            _ if descending => java_cmp(b, a),
            _ => java_cmp(a, b),
        });
        Ok(Value::Array(out))
    }))
}

fn resolve_slice(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [arr, from, to] = args else {
        return Err(ResolveError::NoMatch);
    };
    let t = element(arr).ok_or(ResolveError::NoMatch)?.clone();
    let int_or_null = |a: &Arg| matches!(a.ty, None | Some(SqlType::Int));
    if !int_or_null(from) || !int_or_null(to) {
        return Err(ResolveError::NoMatch);
    }
    Ok(Resolved::new(SqlType::array(t), |v: &[Value]| {
        if v[0].is_null() {
            return Ok(Value::Null);
        }
        let list = items(&v[0])?;
        // Java's subList(from - 1, to); out of range gives NULL.
        let start = v[1].as_i64().map_or(0, |f| f - 1);
        let end = v[2].as_i64().unwrap_or(list.len() as i64);
        if start < 0 || end > list.len() as i64 || start > end {
            return Ok(Value::Null);
        }
        Ok(Value::Array(list[start as usize..end as usize].to_vec()))
    }))
}

fn map_types(arg: &Arg) -> Option<(SqlType, SqlType)> {
    match &arg.ty {
        Some(SqlType::Map(k, v)) => Some(((**k).clone(), (**v).clone())),
        _ => None,
    }
}

fn resolve_entries(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [map, sorted] = args else {
        return Err(ResolveError::NoMatch);
    };
    if !matches!(sorted.ty, None | Some(SqlType::Boolean)) {
        return Err(ResolveError::NoMatch);
    }
    let (k, v) = map_types(map).ok_or(ResolveError::NoMatch)?;
    if k != SqlType::String {
        return Err(ResolveError::NoMatch);
    }
    // ksqlDB has INT, BIGINT, DOUBLE, BOOLEAN and STRING values; a DECIMAL
    // widens to DOUBLE.
    let value_type = match &v {
        SqlType::Int | SqlType::Bigint | SqlType::Double | SqlType::Boolean | SqlType::String => {
            v.clone()
        }
        SqlType::Decimal { .. } => SqlType::Double,
        _ => return Err(ResolveError::NoMatch),
    };
    let returns = SqlType::array(SqlType::Struct(vec![
        Field::new("K", SqlType::String),
        Field::new("V", value_type.clone()),
    ]));
    let key: Arc<str> = Arc::from("K");
    let val: Arc<str> = Arc::from("V");
    Ok(strict(returns, move |args| {
        let mut list: Vec<&(Value, Value)> = entries(&args[0])?.iter().collect();
        if args[1].as_bool() == Some(true) {
            list.sort_by(|(a, _), (b, _)| java_cmp(a, b));
        }
        Ok(Value::Array(
            list.into_iter()
                .map(|(k, x)| {
                    Value::Struct(vec![
                        (key.clone(), k.clone()),
                        (val.clone(), widen_to(x, &v, &value_type)),
                    ])
                })
                .collect(),
        ))
    }))
}

fn resolve_map_keys(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [map] = args else {
        return Err(ResolveError::NoMatch);
    };
    let (k, _) = map_types(map).ok_or(ResolveError::NoMatch)?;
    Ok(strict(SqlType::array(k), |v| {
        Ok(Value::Array(
            entries(&v[0])?.iter().map(|(k, _)| k.clone()).collect(),
        ))
    }))
}

fn resolve_map_values(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [map] = args else {
        return Err(ResolveError::NoMatch);
    };
    let (_, t) = map_types(map).ok_or(ResolveError::NoMatch)?;
    Ok(strict(SqlType::array(t), |v| {
        Ok(Value::Array(
            entries(&v[0])?.iter().map(|(_, x)| x.clone()).collect(),
        ))
    }))
}

/// Puts `(k, v)` into a map in insertion order, replacing an equal key's value.
fn put(out: &mut Vec<(Value, Value)>, k: Value, v: Value) {
    match out.iter_mut().find(|(k2, _)| java_eq(k2, &k)) {
        Some(entry) => entry.1 = v,
        None => out.push((k, v)),
    }
}

fn resolve_map_union(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [a, b] = args else {
        return Err(ResolveError::NoMatch);
    };
    let (ta, tb) = match (&a.ty, &b.ty) {
        (None, None) => return Err(ResolveError::NoMatch),
        (Some(_), None) => {
            let t = a.ty.clone().filter(|t| matches!(t, SqlType::Map(..)));
            let t = t.ok_or(ResolveError::NoMatch)?;
            (t.clone(), t)
        }
        (None, Some(_)) => {
            let t = b.ty.clone().filter(|t| matches!(t, SqlType::Map(..)));
            let t = t.ok_or(ResolveError::NoMatch)?;
            (t.clone(), t)
        }
        (Some(x), Some(y)) => (x.clone(), y.clone()),
    };
    if !matches!(ta, SqlType::Map(..)) || !matches!(tb, SqlType::Map(..)) {
        return Err(ResolveError::NoMatch);
    }
    let t = unify(&ta, &tb).ok_or(ResolveError::NoMatch)?;
    Ok(Resolved::new(t.clone(), move |v: &[Value]| {
        if v[0].is_null() && v[1].is_null() {
            return Ok(Value::Null);
        }
        let mut out = Vec::new();
        for (m, from) in [(&v[0], &ta), (&v[1], &tb)] {
            if m.is_null() {
                continue;
            }
            if let Value::Map(widened) = widen_to(m, from, &t) {
                for (k, x) in widened {
                    put(&mut out, k, x);
                }
            }
        }
        Ok(Value::Map(out))
    }))
}

fn resolve_as_map(args: &[Arg]) -> Result<Resolved, ResolveError> {
    let [keys, values] = args else {
        return Err(ResolveError::NoMatch);
    };
    if element(keys) != Some(&SqlType::String) {
        return Err(ResolveError::NoMatch);
    }
    let t = element(values).ok_or(ResolveError::NoMatch)?.clone();
    Ok(Resolved::new(
        SqlType::map(SqlType::String, t),
        |v: &[Value]| {
            // ksqlDB's AS_MAP dereferences both lists.
            if v[0].is_null() || v[1].is_null() {
                return Err("AS_MAP: keys and values must not be NULL".into());
            }
            let keys = items(&v[0])?;
            let values = items(&v[1])?;
            let mut out = Vec::new();
            for (i, k) in keys.iter().enumerate() {
                put(
                    &mut out,
                    k.clone(),
                    values.get(i).cloned().unwrap_or(Value::Null),
                );
            }
            Ok(Value::Map(out))
        },
    ))
}

#[cfg(test)]
mod tests;
