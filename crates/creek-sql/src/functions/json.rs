//! JSON functions: TO_JSON_STRING, IS_JSON_STRING, JSON_ARRAY_CONTAINS,
//! JSON_ARRAY_LENGTH, JSON_CONCAT, JSON_ITEMS, JSON_KEYS, JSON_RECORDS and
//! EXTRACTJSONFIELD.
//!
//! JSON text is read into a small order-preserving tree and written back as
//! Jackson writes it (compact, numbers re-printed as Java prints them).

use std::sync::Arc;

use super::string::codec::{base64_encode_mime, format_date, format_time, format_timestamp};
use super::string::{fits, generic};
use super::{Arg, Overload, ResolveError, Resolved, ScalarFunction, Udf};
use crate::types::SqlType;
use crate::types::SqlType::{Boolean as BOOLEAN, Int as INT, String as STR};
use crate::value::{Decimal, Value};

#[cfg(test)]
mod tests;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    vec![
        generic(
            "TO_JSON_STRING",
            "JSON",
            "Given any ksqlDB type returns the equivalent JSON string.",
            &["TO_JSON_STRING(T) => STRING"],
            |args| {
                if args.len() != 1 {
                    return Err(ResolveError::NoMatch);
                }
                Ok(Resolved::new(STR, |a: &[Value]| {
                    let mut out = String::new();
                    write_value(&a[0], &mut out);
                    Ok(Value::String(out.into()))
                }))
            },
        ),
        udf(
            "IS_JSON_STRING",
            "Returns whether a string is valid JSON.",
            vec![Overload::new(vec![STR], BOOLEAN, |a| {
                Ok(Value::Boolean(a[0].as_str().and_then(parse).is_some()))
            })
            .null_tolerant()],
        ),
        generic(
            "JSON_ARRAY_CONTAINS",
            "JSON",
            "Parses a JSON array and determines whether or not the supplied value is contained within the array.",
            &["JSON_ARRAY_CONTAINS(STRING, T) => BOOLEAN"],
            resolve_array_contains,
        ),
        udf(
            "JSON_ARRAY_LENGTH",
            "Returns the number of elements of a JSON array, or NULL when the string is not one.",
            vec![Overload::new(vec![STR], INT, |a| {
                Ok(match parse_udf(text(&a[0]))? {
                    Some(Json::Array(items)) => Value::Int(items.len() as i32),
                    _ => Value::Null,
                })
            })],
        ),
        udf(
            "JSON_CONCAT",
            "Concatenates JSON values: objects merge their keys (the last wins), anything else concatenates as arrays. NULL if any input is NULL or not JSON.",
            vec![Overload::new(vec![STR], STR, json_concat)
                .variadic()
                .null_tolerant()],
        ),
        udf(
            "JSON_ITEMS",
            "Returns the objects of a JSON array as JSON strings; NULL unless every item is an object.",
            vec![Overload::new(vec![STR], SqlType::array(STR), |a| {
                Ok(match parse_udf(text(&a[0]))? {
                    Some(Json::Array(items))
                        if items.iter().all(|j| matches!(j, Json::Object(_))) =>
                    {
                        Value::Array(
                            items
                                .iter()
                                .map(|j| Value::String(j.to_string().into()))
                                .collect(),
                        )
                    }
                    _ => Value::Null,
                })
            })],
        ),
        udf(
            "JSON_KEYS",
            "Returns the top-level keys of a JSON object.",
            vec![Overload::new(vec![STR], SqlType::array(STR), |a| {
                Ok(match parse_udf(text(&a[0]))? {
                    Some(Json::Object(fields)) => Value::Array(
                        fields
                            .into_iter()
                            .map(|(k, _)| Value::String(k.into()))
                            .collect(),
                    ),
                    _ => Value::Null,
                })
            })],
        ),
        udf(
            "JSON_RECORDS",
            "Returns the top-level keys and values of a JSON object as a map of strings.",
            vec![Overload::new(vec![STR], SqlType::map(STR, STR), |a| {
                Ok(match parse_udf(text(&a[0]))? {
                    Some(Json::Object(fields)) => Value::Map(
                        fields
                            .into_iter()
                            .map(|(k, v)| (Value::String(k.into()), Value::String(v.as_text().into())))
                            .collect(),
                    ),
                    _ => Value::Null,
                })
            })],
        ),
        udf(
            "EXTRACTJSONFIELD",
            "Given a STRING that contains JSON data, extract the value at the specified JSONPath or NULL if the specified path does not exist.",
            vec![Overload::new(vec![STR, STR], STR, |a| {
                extract_json_field(text(&a[0]), text(&a[1]))
            })],
        ),
    ]
}

fn udf(
    name: &'static str,
    description: &'static str,
    overloads: Vec<Overload>,
) -> Arc<dyn ScalarFunction> {
    Arc::new(Udf {
        name,
        description,
        category: "JSON",
        overloads,
    })
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

// ---------------------------------------------------------------------------
// The JSON tree

/// A parsed JSON value; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// As written; printed as ksqlDB's mapper prints it (exact decimals,
    /// plain notation).
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A string's own text; anything else as compact JSON.
    fn as_text(&self) -> String {
        match self {
            Json::Str(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        write_json(self, &mut out);
        f.write_str(&out)
    }
}

/// Parses a JSON document as Jackson's `readTree` does; `None` when empty or
/// invalid. Like Jackson, text after the first value is not read, except
/// that a number must be followed by whitespace.
pub(crate) fn parse(text: &str) -> Option<Json> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    if matches!(v, Json::Number(_))
        && p.s
            .get(p.i)
            .is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return None;
    }
    Some(v)
}

/// ksqlDB's `UdfJsonMapper.parseJson`: `Ok(None)` for blank text (Jackson's
/// missing node), an error for invalid JSON.
fn parse_udf(text: &str) -> Result<Option<Json>, String> {
    if text.trim_matches([' ', '\t', '\n', '\r']).is_empty() {
        return Ok(None);
    }
    parse(text)
        .map(Some)
        .ok_or_else(|| format!("Invalid JSON format:{text}"))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Option<Json> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self) -> Option<Json> {
        self.ws();
        match *self.s.get(self.i)? {
            b'n' => self.literal(b"null", Json::Null),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.depth += 1;
                if self.depth > 512 {
                    return None;
                }
                self.i += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.value()?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Some(Json::Array(items))
            }
            b'{' => {
                self.depth += 1;
                if self.depth > 512 {
                    return None;
                }
                self.i += 1;
                let mut fields: Vec<(String, Json)> = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        self.ws();
                        if self.s.get(self.i) != Some(&b'"') {
                            return None;
                        }
                        let k = self.string()?;
                        if !self.eat(b':') {
                            return None;
                        }
                        let v = self.value()?;
                        match fields.iter_mut().find(|(fk, _)| *fk == k) {
                            Some(f) => f.1 = v,
                            None => fields.push((k, v)),
                        }
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                self.depth -= 1;
                Some(Json::Object(fields))
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        if self.s[self.i] == b'-' {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.i < p.s.len() && p.s[p.i].is_ascii_digit() {
                p.i += 1;
            }
            p.i - from
        };
        let int_start = self.i;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        let raw = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        Some(Json::Number(raw.to_string()))
    }

    fn hex4(&mut self) -> Option<u16> {
        let h = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u16::from_str_radix(h, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u) && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                char::decode_utf16([u, lo]).next()?.ok()?
                            } else {
                                char::from_u32(u as u32).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }
}

pub(crate) use crate::cast::java_double;

/// Whether a JSON number was written with a fraction or an exponent.
fn is_float(n: &str) -> bool {
    n.contains(['.', 'e', 'E'])
}

/// A JSON number as ksqlDB's mapper writes it back: integers as written,
/// others as exact decimals in plain notation (`1.50` stays, `1e2` is `100`).
fn plain_number(n: &str) -> String {
    if !is_float(n) {
        return n.to_string();
    }
    match Decimal::parse(n) {
        Some(d) => d.to_string(),
        None => n.to_string(),
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_json(j: &Json, out: &mut String) {
    match j {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&plain_number(n)),
        Json::Str(s) => write_str(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(fields) => {
            out.push('{');
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
    }
}

/// A map key or struct field name as TO_JSON_STRING names it.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        Value::Null => "null".to_string(),
        other => {
            let mut out = String::new();
            write_value(other, &mut out);
            out.trim_matches('"').to_string()
        }
    }
}

/// A value as ksqlDB's TO_JSON_STRING writes it: struct fields and map keys
/// sorted, bytes in base64, dates and times as ISO text.
pub(crate) fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Bigint(i) => out.push_str(&i.to_string()),
        Value::Double(d) if d.is_finite() => out.push_str(&java_double(*d)),
        Value::Double(d) => write_str(&java_double(*d), out),
        Value::Decimal(d) => out.push_str(&d.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Bytes(b) => write_str(&base64_encode_mime(b), out),
        Value::Date(d) => write_str(&format_date(*d as i64), out),
        Value::Time(t) => write_str(&format_time(*t), out),
        Value::Timestamp(t) => write_str(&format_timestamp(*t), out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let mut sorted: Vec<(String, &Value)> =
                entries.iter().map(|(k, v)| (key_text(k), v)).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            sorted.dedup_by(|later, earlier| {
                if later.0 == earlier.0 {
                    earlier.1 = later.1;
                    true
                } else {
                    false
                }
            });
            write_entries(&sorted, out);
        }
        Value::Struct(fields) => {
            let mut sorted: Vec<(String, &Value)> =
                fields.iter().map(|(k, v)| (k.to_string(), v)).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            write_entries(&sorted, out);
        }
    }
}

fn write_entries(entries: &[(String, &Value)], out: &mut String) {
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

// ---------------------------------------------------------------------------
// Functions

fn resolve_array_contains(args: &[Arg]) -> Result<Resolved, ResolveError> {
    if args.len() != 2 || !fits(&args[0], &STR) {
        return Err(ResolveError::NoMatch);
    }
    Ok(Resolved::new(BOOLEAN, |a: &[Value]| {
        let Some(json) = a[0].as_str() else {
            return Ok(Value::Null);
        };
        let Some(Json::Array(items)) = parse(json) else {
            return Ok(Value::Boolean(false));
        };
        let val = &a[1];
        let found = items.iter().any(|item| match (item, val) {
            (Json::Null, Value::Null) => true,
            (Json::Number(n), Value::Int(_) | Value::Bigint(_)) => {
                !is_float(n) && n.parse::<i64>().ok() == val.as_i64()
            }
            (Json::Number(n), Value::Double(d)) => is_float(n) && n.parse::<f64>().ok() == Some(*d),
            (Json::Str(s), Value::String(v)) => **s == **v,
            (Json::Bool(b), Value::Boolean(v)) => b == v,
            _ => false,
        });
        Ok(Value::Boolean(found))
    }))
}

fn json_concat(a: &[Value]) -> Result<Value, String> {
    let mut nodes = Vec::with_capacity(a.len());
    for v in a {
        let Some(s) = v.as_str() else {
            return Ok(Value::Null);
        };
        let Some(j) = parse_udf(s)? else {
            return Ok(Value::Null);
        };
        nodes.push(j);
    }
    if nodes.is_empty() {
        return Ok(Value::Null);
    }
    let result = if nodes.iter().all(|n| matches!(n, Json::Object(_))) {
        let mut merged: Vec<(String, Json)> = Vec::new();
        for n in nodes {
            if let Json::Object(fields) = n {
                for (k, v) in fields {
                    match merged.iter_mut().find(|(mk, _)| *mk == k) {
                        Some(f) => f.1 = v,
                        None => merged.push((k, v)),
                    }
                }
            }
        }
        Json::Object(merged)
    } else {
        let mut iter = nodes.into_iter();
        let mut acc = iter.next().unwrap_or(Json::Null);
        for n in iter {
            let mut items = match acc {
                Json::Array(items) => items,
                other => vec![other],
            };
            match n {
                Json::Array(more) => items.extend(more),
                other => items.push(other),
            }
            acc = Json::Array(items);
        }
        acc
    };
    Ok(Value::String(result.to_string().into()))
}

/// ksqlDB's JSONPath subset: `$.a.b`, `$['a']`, `$["a"]`, `$.a[0]`.
fn path_tokens(path: &str) -> Result<Vec<String>, String> {
    let bad = || format!("Invalid JSON path: '{path}'");
    let rest = path.strip_prefix('$').ok_or_else(bad)?;
    let chars: Vec<char> = rest.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                if i == start {
                    return Err(bad());
                }
                tokens.push(chars[start..i].iter().collect());
            }
            '[' => {
                i += 1;
                if i < chars.len() && (chars[i] == '\'' || chars[i] == '"') {
                    let quote = chars[i];
                    i += 1;
                    let start = i;
                    while i < chars.len() && chars[i] != quote {
                        i += 1;
                    }
                    if i + 1 >= chars.len() || chars[i + 1] != ']' {
                        return Err(bad());
                    }
                    tokens.push(chars[start..i].iter().collect());
                    i += 2;
                } else {
                    let start = i;
                    while i < chars.len() && chars[i] != ']' {
                        i += 1;
                    }
                    if i >= chars.len() {
                        return Err(bad());
                    }
                    tokens.push(
                        chars[start..i]
                            .iter()
                            .collect::<String>()
                            .trim()
                            .to_string(),
                    );
                    i += 1;
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(tokens)
}

fn extract_json_field(input: &str, path: &str) -> Result<Value, String> {
    let tokens = path_tokens(path)?;
    let Some(doc) = parse_udf(input)? else {
        return Ok(Value::Null);
    };
    let mut current = &doc;
    for token in &tokens {
        let next = match current {
            Json::Array(items) => match token.parse::<i32>() {
                Ok(i) if i >= 0 => items.get(i as usize),
                Ok(_) => None,
                Err(_) => return Ok(Value::Null),
            },
            other => other.get(token),
        };
        match next {
            Some(n) => current = n,
            None => return Ok(Value::Null),
        }
    }
    Ok(Value::String(current.as_text().into()))
}
