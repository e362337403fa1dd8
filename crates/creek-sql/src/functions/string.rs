//! String, bytes, URL, regex, hashing and conditional functions (COALESCE, IFNULL, NULLIF, GREATEST, LEAST).

use std::sync::{Arc, Mutex};

use regex::Regex;

use super::{Arg, Overload, ResolveError, Resolved, ScalarFunction, Udf};
use crate::types::SqlType;
use crate::types::SqlType::{Bytes as BYTES, Int as INT, String as STR};
use crate::value::Value;

pub mod codec;
mod conditional;
#[cfg(test)]
mod tests;

use codec::*;

pub fn functions() -> Vec<Arc<dyn ScalarFunction>> {
    let mut all = vec![
        udf(
            "LCASE",
            "STRING",
            "Converts a string to lower case.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(st(&a[0]).to_lowercase()))
            })],
        ),
        udf(
            "UCASE",
            "STRING",
            "Converts a string to upper case.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(st(&a[0]).to_uppercase()))
            })],
        ),
        udf(
            "LEN",
            "STRING",
            "Returns the length of a string or the number of bytes of a BYTES value.",
            vec![
                Overload::new(vec![STR], INT, |a| {
                    Ok(Value::Int(st(&a[0]).encode_utf16().count() as i32))
                }),
                Overload::new(vec![BYTES], INT, |a| Ok(Value::Int(by(&a[0]).len() as i32))),
            ],
        ),
        udf(
            "TRIM",
            "STRING",
            "Removes leading and trailing whitespace.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(st(&a[0]).trim_matches(is_java_space)))
            })],
        ),
        udf(
            "LTRIM",
            "STRING",
            "Removes leading whitespace.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(st(&a[0]).trim_start_matches(is_java_space)))
            })],
        ),
        udf(
            "RTRIM",
            "STRING",
            "Removes trailing whitespace.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(st(&a[0]).trim_end_matches(is_java_space)))
            })],
        ),
        udf(
            "SUBSTRING",
            "STRING",
            "Returns the part of a string or bytes from a 1-based position (negative counts from the end), optionally of a given length.",
            vec![
                Overload::new(vec![STR, INT], STR, |a| Ok(substring_str(a))),
                Overload::new(vec![STR, INT, INT], STR, |a| Ok(substring_str(a))),
                Overload::new(vec![BYTES, INT], BYTES, |a| Ok(substring_bytes(a))),
                Overload::new(vec![BYTES, INT, INT], BYTES, |a| Ok(substring_bytes(a))),
            ],
        ),
        udf(
            "REPLACE",
            "STRING",
            "Replaces all occurrences of a substring.",
            vec![Overload::new(vec![STR, STR, STR], STR, |a| {
                Ok(text(st(&a[0]).replace(st(&a[1]), st(&a[2]))))
            })],
        ),
        udf(
            "CONCAT",
            "STRING",
            "Concatenates strings or bytes; NULL arguments are ignored.",
            vec![
                Overload::new(vec![STR], STR, |a| {
                    at_least_two(a)?;
                    Ok(text(a.iter().filter_map(Value::as_str).collect::<String>()))
                })
                .variadic()
                .null_tolerant(),
                Overload::new(vec![BYTES], BYTES, |a| {
                    at_least_two(a)?;
                    Ok(Value::bytes(
                        a.iter()
                            .filter(|v| !v.is_null())
                            .flat_map(|v| by(v).iter().copied())
                            .collect::<Vec<u8>>(),
                    ))
                })
                .variadic()
                .null_tolerant(),
            ],
        ),
        udf(
            "CONCAT_WS",
            "STRING",
            "Concatenates strings or bytes with a separator; NULL arguments are ignored, a NULL separator gives NULL.",
            vec![
                Overload::new(vec![STR, STR], STR, |a| {
                    at_least_two(a)?;
                    if a[0].is_null() {
                        return Ok(Value::Null);
                    }
                    let parts: Vec<&str> = a[1..].iter().filter_map(Value::as_str).collect();
                    Ok(text(parts.join(st(&a[0]))))
                })
                .variadic()
                .null_tolerant(),
                Overload::new(vec![BYTES, BYTES], BYTES, |a| {
                    at_least_two(a)?;
                    if a[0].is_null() {
                        return Ok(Value::Null);
                    }
                    let parts: Vec<&[u8]> =
                        a[1..].iter().filter(|v| !v.is_null()).map(by).collect();
                    Ok(Value::bytes(parts.join(by(&a[0]))))
                })
                .variadic()
                .null_tolerant(),
            ],
        ),
        udf(
            "SPLIT",
            "STRING",
            "Splits a string or bytes by a delimiter; an empty delimiter splits into characters.",
            vec![
                Overload::new(vec![STR, STR], SqlType::array(STR), |a| {
                    let (s, d) = (st(&a[0]), st(&a[1]));
                    let parts: Vec<Value> = if d.is_empty() {
                        if s.is_empty() {
                            vec![text("")]
                        } else {
                            s.chars().map(|c| text(c.to_string())).collect()
                        }
                    } else {
                        s.split(d).map(text).collect()
                    };
                    Ok(Value::Array(parts))
                }),
                Overload::new(vec![BYTES, BYTES], SqlType::array(BYTES), |a| {
                    Ok(Value::Array(
                        split_bytes(by(&a[0]), by(&a[1]))
                            .into_iter()
                            .map(Value::bytes)
                            .collect(),
                    ))
                }),
            ],
        ),
        udf(
            "SPLIT_TO_MAP",
            "STRING",
            "Splits a string into key-value pairs by an entry delimiter and a key-value delimiter.",
            vec![Overload::new(
                vec![STR, STR, STR],
                SqlType::map(STR, STR),
                |a| Ok(split_to_map(st(&a[0]), st(&a[1]), st(&a[2]))),
            )],
        ),
        udf(
            "INSTR",
            "STRING",
            "Returns the 1-based position of the nth occurrence of a substring, searching from a position (negative searches backwards from the end); 0 if not found.",
            vec![
                Overload::new(vec![STR, STR], INT, instr).null_tolerant(),
                Overload::new(vec![STR, STR, INT], INT, instr).null_tolerant(),
                Overload::new(vec![STR, STR, INT, INT], INT, instr).null_tolerant(),
            ],
        ),
        udf(
            "INITCAP",
            "STRING",
            "Capitalizes the first letter of each word and lower-cases the rest.",
            vec![Overload::new(vec![STR], STR, |a| Ok(text(initcap(st(&a[0])))))],
        ),
        udf(
            "LPAD",
            "STRING",
            "Pads a string or bytes on the left to a length; truncates longer input.",
            vec![
                Overload::new(vec![STR, INT, STR], STR, |a| pad_str(a, true)),
                Overload::new(vec![BYTES, INT, BYTES], BYTES, |a| pad_bytes(a, true)),
            ],
        ),
        udf(
            "RPAD",
            "STRING",
            "Pads a string or bytes on the right to a length; truncates longer input.",
            vec![
                Overload::new(vec![STR, INT, STR], STR, |a| pad_str(a, false)),
                Overload::new(vec![BYTES, INT, BYTES], BYTES, |a| pad_bytes(a, false)),
            ],
        ),
        mask_udf(
            "MASK",
            "Masks a string: upper-case letters become 'X', lower-case 'x', digits 'n' and others '-' unless other mask characters are given (NULL leaves a class unmasked).",
            false,
            |a| mask_with(a, 1, |_, _| (0, usize::MAX)),
        ),
        mask_udf(
            "MASK_KEEP_LEFT",
            "Masks all but the first n characters of a string.",
            true,
            |a| mask_with(a, 2, |len, n| (n.min(len), len)),
        ),
        mask_udf(
            "MASK_KEEP_RIGHT",
            "Masks all but the last n characters of a string.",
            true,
            |a| mask_with(a, 2, |len, n| (0, len - n.min(len))),
        ),
        mask_udf(
            "MASK_LEFT",
            "Masks the first n characters of a string.",
            true,
            |a| mask_with(a, 2, |len, n| (0, n.min(len))),
        ),
        mask_udf(
            "MASK_RIGHT",
            "Masks the last n characters of a string.",
            true,
            |a| mask_with(a, 2, |len, n| (len - n.min(len), len)),
        ),
        udf(
            "CHR",
            "STRING",
            "Returns the character of a decimal code point or of a '\\uXXXX' UTF-16 escape.",
            vec![
                Overload::new(vec![INT], STR, |a| {
                    Ok(u32::try_from(int(&a[0]))
                        .ok()
                        .and_then(char::from_u32)
                        .map_or(Value::Null, |c| text(c.to_string())))
                }),
                Overload::new(vec![STR], STR, |a| Ok(chr_escape(st(&a[0])))),
            ],
        ),
        udf(
            "ELT",
            "STRING",
            "Returns the nth (1-based) of the following string arguments, or NULL.",
            vec![Overload::new(vec![INT, STR], STR, |a| {
                let n = match a[0].as_i64() {
                    Some(n) => n,
                    None => return Ok(Value::Null),
                };
                if n < 1 || n as usize >= a.len() {
                    return Ok(Value::Null);
                }
                Ok(a[n as usize].clone())
            })
            .variadic()
            .null_tolerant()],
        ),
        udf(
            "FIELD",
            "STRING",
            "Returns the 1-based position of a string among the following arguments, or 0.",
            vec![Overload::new(vec![STR, STR], INT, |a| {
                let Some(s) = a[0].as_str() else {
                    return Ok(Value::Int(0));
                };
                let pos = a[1..].iter().position(|v| v.as_str() == Some(s));
                Ok(Value::Int(pos.map_or(0, |p| p as i32 + 1)))
            })
            .variadic()
            .null_tolerant()],
        ),
        udf(
            "ENCODE",
            "STRING",
            "Converts a string from one encoding to another: hex, utf8, ascii or base64.",
            vec![Overload::new(vec![STR, STR, STR], STR, |a| {
                encode(st(&a[0]), st(&a[1]), st(&a[2])).map(text)
            })],
        ),
        udf(
            "TO_BYTES",
            "BYTES",
            "Converts a string to BYTES using an encoding: hex, utf8, ascii or base64.",
            vec![Overload::new(vec![STR, STR], BYTES, |a| {
                to_bytes(st(&a[0]), st(&a[1])).map(Value::bytes)
            })],
        ),
        udf(
            "FROM_BYTES",
            "BYTES",
            "Converts BYTES to a string using an encoding: hex, utf8, ascii or base64.",
            vec![Overload::new(vec![BYTES, STR], STR, |a| {
                from_bytes(by(&a[0]), st(&a[1])).map(text)
            })],
        ),
        udf(
            "MD5",
            "STRING",
            "Returns the hex-encoded MD5 hash of a string.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(hex_encode(&md5(st(&a[0]).as_bytes()), false)))
            })],
        ),
        udf(
            "UUID",
            "STRING",
            "Returns a random type 4 UUID, or the UUID of 16 bytes.",
            vec![
                Overload::new(vec![], STR, |_| Ok(text(random_uuid()))),
                Overload::new(vec![BYTES], STR, |a| {
                    let b = by(&a[0]);
                    if b.len() != 16 {
                        return Ok(Value::Null);
                    }
                    Ok(text(format_uuid(b)))
                }),
            ],
        ),
        udf(
            "URL_ENCODE_PARAM",
            "URL",
            "Encodes a string in application/x-www-form-urlencoded format.",
            vec![Overload::new(vec![STR], STR, |a| {
                Ok(text(url_encode(st(&a[0]))))
            })],
        ),
        udf(
            "URL_DECODE_PARAM",
            "URL",
            "Decodes an application/x-www-form-urlencoded string.",
            vec![Overload::new(vec![STR], STR, |a| {
                percent_decode(st(&a[0]), true)
                    .map(text)
                    .ok_or_else(|| format!("URLDecoder: invalid escape in '{}'", st(&a[0])))
            })],
        ),
        url_udf("URL_EXTRACT_FRAGMENT", "Extracts the decoded fragment of a URL.", |a| {
            url_eval(a, |u| u.fragment.map(|f| text(decode_component(f))))
        }),
        url_udf("URL_EXTRACT_HOST", "Extracts the host of a URL.", |a| {
            url_eval(a, |u| u.host().map(text))
        }),
        url_udf("URL_EXTRACT_PATH", "Extracts the decoded path of a URL.", |a| {
            url_eval(a, |u| u.path.map(|p| text(decode_component(p))))
        }),
        url_udf(
            "URL_EXTRACT_PROTOCOL",
            "Extracts the protocol (scheme) of a URL.",
            |a| url_eval(a, |u| u.scheme.map(text)),
        ),
        url_udf("URL_EXTRACT_QUERY", "Extracts the decoded query of a URL.", |a| {
            url_eval(a, |u| u.query.map(|q| text(decode_component(q))))
        }),
        udf(
            "URL_EXTRACT_PORT",
            "URL",
            "Extracts the port of a URL, or NULL when it has none.",
            vec![Overload::new(vec![STR], INT, |a| {
                let u = Uri::parse(st(&a[0]))?;
                Ok(u.port().map_or(Value::Null, Value::Int))
            })],
        ),
        udf(
            "URL_EXTRACT_PARAMETER",
            "URL",
            "Extracts the value of a query parameter of a URL; '' when it has no value, NULL when absent.",
            vec![Overload::new(vec![STR, STR], STR, |a| {
                let u = Uri::parse(st(&a[0]))?;
                let Some(query) = u.query.map(decode_component) else {
                    return Ok(Value::Null);
                };
                let name = st(&a[1]);
                for param in query.split('&') {
                    match param.split_once('=') {
                        None if param == name => return Ok(text("")),
                        Some((k, v)) if k == name => return Ok(text(v)),
                        _ => {}
                    }
                }
                Ok(Value::Null)
            })],
        ),
        number_from_bytes_udf(
            "INT_FROM_BYTES",
            "Converts 4 bytes to an INT, big-endian unless 'LITTLE_ENDIAN' is given.",
            INT,
            |a| number_from_bytes(a, 4),
        ),
        number_from_bytes_udf(
            "BIGINT_FROM_BYTES",
            "Converts 8 bytes to a BIGINT, big-endian unless 'LITTLE_ENDIAN' is given.",
            SqlType::Bigint,
            |a| number_from_bytes(a, 8),
        ),
        number_from_bytes_udf(
            "DOUBLE_FROM_BYTES",
            "Converts 8 bytes to a DOUBLE, big-endian unless 'LITTLE_ENDIAN' is given.",
            SqlType::Double,
            |a| number_from_bytes(a, 0),
        ),
        generic(
            "REGEXP_EXTRACT",
            "STRING",
            "Returns the first match of a pattern in a string, or of the given capture group; NULL if none.",
            &[
                "REGEXP_EXTRACT(STRING pattern, STRING input) => STRING",
                "REGEXP_EXTRACT(STRING pattern, STRING input, INTEGER group) => STRING",
            ],
            |args| resolve_regex(args, RegexFn::Extract),
        ),
        generic(
            "REGEXP_EXTRACT_ALL",
            "STRING",
            "Returns all matches of a pattern in a string, or of the given capture group.",
            &[
                "REGEXP_EXTRACT_ALL(STRING pattern, STRING input) => ARRAY<STRING>",
                "REGEXP_EXTRACT_ALL(STRING pattern, STRING input, INTEGER group) => ARRAY<STRING>",
            ],
            |args| resolve_regex(args, RegexFn::ExtractAll),
        ),
        generic(
            "REGEXP_REPLACE",
            "STRING",
            "Replaces all matches of a pattern with a replacement ($n refers to a group).",
            &["REGEXP_REPLACE(STRING input, STRING pattern, STRING replacement) => STRING"],
            |args| resolve_regex(args, RegexFn::Replace),
        ),
        generic(
            "REGEXP_SPLIT_TO_ARRAY",
            "STRING",
            "Splits a string around matches of a pattern.",
            &["REGEXP_SPLIT_TO_ARRAY(STRING input, STRING pattern) => ARRAY<STRING>"],
            |args| resolve_regex(args, RegexFn::Split),
        ),
    ];
    all.extend(conditional::functions());
    all
}

// ---------------------------------------------------------------------------
// Plumbing

type EvalFn = fn(&[Value]) -> Result<Value, String>;

fn udf(
    name: &'static str,
    category: &'static str,
    description: &'static str,
    overloads: Vec<Overload>,
) -> Arc<dyn ScalarFunction> {
    Arc::new(Udf {
        name,
        description,
        category,
        overloads,
    })
}

pub(crate) use super::Generic;

pub(crate) fn generic(
    name: &'static str,
    category: &'static str,
    description: &'static str,
    signatures: &'static [&'static str],
    resolver: fn(&[Arg]) -> Result<Resolved, ResolveError>,
) -> Arc<dyn ScalarFunction> {
    Arc::new(Generic {
        name,
        description,
        category,
        signatures,
        resolve: resolver,
    })
}

/// Whether an argument can be passed for a parameter of type `param`.
pub(crate) fn fits(arg: &Arg, param: &SqlType) -> bool {
    arg.ty.as_ref().is_none_or(|t| t.can_widen_to(param))
}

fn text(s: impl Into<Arc<str>>) -> Value {
    Value::String(s.into())
}

fn st(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn by(v: &Value) -> &[u8] {
    match v {
        Value::Bytes(b) => b,
        _ => &[],
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

/// Java strings count UTF-16 code units: LEN, SUBSTRING, INSTR and the
/// padding functions work on them.
fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

/// CONCAT and CONCAT_WS throw on fewer than two arguments.
fn at_least_two(a: &[Value]) -> Result<(), String> {
    if a.len() < 2 {
        return Err("expects at least two input arguments".to_string());
    }
    Ok(())
}

/// Java's `String.trim` removes every character up to U+0020.
fn is_java_space(c: char) -> bool {
    c <= ' '
}

// ---------------------------------------------------------------------------
// SUBSTRING, SPLIT, INSTR, INITCAP, padding

/// ksqlDB's start and end offsets for SUBSTRING over `len` units.
fn substring_range(len: i64, pos: i64, length: Option<i64>) -> (usize, usize) {
    let start = if pos < 0 {
        (len + pos).max(0)
    } else {
        (pos - 1).min(len).max(0)
    };
    let end = match length {
        Some(l) => start.saturating_add(l).min(len).max(start),
        None => len,
    };
    (start as usize, end as usize)
}

fn substring_str(a: &[Value]) -> Value {
    let s = st(&a[0]);
    let units = utf16(s);
    let len = units.len() as i64;
    let (start, end) = substring_range(len, int(&a[1]), a.get(2).map(int));
    text(String::from_utf16_lossy(&units[start..end]))
}

fn substring_bytes(a: &[Value]) -> Value {
    let b = by(&a[0]);
    let (start, end) = substring_range(b.len() as i64, int(&a[1]), a.get(2).map(int));
    Value::bytes(&b[start..end])
}

fn split_bytes(b: &[u8], delim: &[u8]) -> Vec<Vec<u8>> {
    if delim.is_empty() {
        if b.is_empty() {
            return vec![Vec::new()];
        }
        return b.iter().map(|x| vec![*x]).collect();
    }
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= b.len() {
        if &b[i..i + delim.len()] == delim {
            parts.push(b[start..i].to_vec());
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(b[start..].to_vec());
    parts
}

fn split_to_map(input: &str, entry_delim: &str, kv_delim: &str) -> Value {
    if entry_delim.is_empty() || kv_delim.is_empty() || entry_delim == kv_delim {
        return Value::Null;
    }
    let mut entries: Vec<(Value, Value)> = Vec::new();
    for entry in input.split(entry_delim).filter(|e| !e.is_empty()) {
        if !entry.contains(kv_delim) {
            continue;
        }
        let mut kv = entry.split(kv_delim);
        let k = kv.next().unwrap_or("");
        let v = kv.next().unwrap_or("");
        match entries.iter_mut().find(|(ek, _)| ek.as_str() == Some(k)) {
            Some(e) => e.1 = text(v),
            None => entries.push((text(k), text(v))),
        }
    }
    Value::Map(entries)
}

/// Index of the `occurrence`th (overlapping) match of `sub` in `hay` at or
/// after `from`.
fn nth_index(hay: &[u16], sub: &[u16], from: usize, occurrence: i64) -> Option<usize> {
    if occurrence <= 0 {
        return None;
    }
    let mut found = 0;
    let mut i = from;
    while i + sub.len() <= hay.len() {
        if hay[i..i + sub.len()] == *sub {
            found += 1;
            if found == occurrence {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

fn instr(a: &[Value]) -> Result<Value, String> {
    let (Some(s), Some(sub)) = (a[0].as_str(), a[1].as_str()) else {
        return Ok(Value::Int(0));
    };
    let position = match a.get(2) {
        Some(Value::Null) => return Ok(Value::Null),
        Some(v) => int(v),
        None => 1,
    };
    let occurrence = match a.get(3) {
        Some(Value::Null) => return Ok(Value::Null),
        Some(v) => int(v),
        None => 1,
    };
    let hay = utf16(s);
    let len = hay.len() as i64;
    if position == 0 || position.abs() > len {
        return Ok(Value::Int(0));
    }
    let mut needle = utf16(sub);
    let found = if position > 0 {
        nth_index(&hay, &needle, (position - 1) as usize, occurrence).map(|i| i as i64 + 1)
    } else {
        let reversed: Vec<u16> = hay.iter().rev().copied().collect();
        needle.reverse();
        nth_index(&reversed, &needle, (-position - 1) as usize, occurrence)
            .map(|j| len - j as i64 - needle.len() as i64 + 1)
    };
    Ok(Value::Int(found.unwrap_or(0) as i32))
}

/// Like ksqlDB: each run of non-whitespace gets an upper-case first letter and
/// the rest lower case; whitespace before the first word is dropped.
fn initcap(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start_of_word = true;
    for c in s.trim_start_matches(char::is_whitespace).chars() {
        if c.is_whitespace() {
            start_of_word = true;
            out.push(c);
        } else if start_of_word {
            out.extend(c.to_lowercase().flat_map(char::to_uppercase));
            start_of_word = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

fn pad<T: Clone>(input: &[T], target: i64, padding: &[T], left: bool) -> Option<Vec<T>> {
    if padding.is_empty() || target < 0 {
        return None;
    }
    let target = target as usize;
    if input.len() >= target {
        return Some(input[..target].to_vec());
    }
    let fill: Vec<T> = padding
        .iter()
        .cycle()
        .take(target - input.len())
        .cloned()
        .collect();
    Some(if left {
        [fill.as_slice(), input].concat()
    } else {
        [input, fill.as_slice()].concat()
    })
}

fn pad_str(a: &[Value], left: bool) -> Result<Value, String> {
    let input = utf16(st(&a[0]));
    let padding = utf16(st(&a[2]));
    Ok(pad(&input, int(&a[1]), &padding, left)
        .map_or(Value::Null, |v| text(String::from_utf16_lossy(&v))))
}

fn pad_bytes(a: &[Value], left: bool) -> Result<Value, String> {
    Ok(pad(by(&a[0]), int(&a[1]), by(&a[2]), left).map_or(Value::Null, Value::bytes))
}

// ---------------------------------------------------------------------------
// MASK family

fn mask_udf(
    name: &'static str,
    description: &'static str,
    with_count: bool,
    eval: EvalFn,
) -> Arc<dyn ScalarFunction> {
    let base = if with_count {
        vec![STR, INT]
    } else {
        vec![STR]
    };
    let mut full = base.clone();
    full.extend([STR, STR, STR, STR]);
    udf(
        name,
        "STRING",
        description,
        vec![
            Overload::new(base, STR, eval).null_tolerant(),
            Overload::new(full, STR, eval).null_tolerant(),
        ],
    )
}

/// One mask character, `None` for "leave unmasked".
fn mask_char(v: Option<&Value>, default: char) -> Result<Option<char>, String> {
    match v {
        None => Ok(Some(default)),
        Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = st(v);
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Some(c)),
                _ => Err(format!(
                    "Invalid mask character. Must be only single character, but was '{s}'"
                )),
            }
        }
    }
}

/// Masks `a[0]`; the mask characters start at `a[masks_at]` when given, and
/// `range(len, n)` picks the masked character range from the count in `a[1]`.
fn mask_with(
    a: &[Value],
    masks_at: usize,
    range: fn(usize, usize) -> (usize, usize),
) -> Result<Value, String> {
    let count = if masks_at == 2 {
        match a[1].as_i64() {
            None => return Ok(Value::Null),
            Some(n) if n < 0 => {
                return Err(
                    "function requires a non-negative number of characters to mask or skip"
                        .to_string(),
                )
            }
            Some(n) => n as usize,
        }
    } else {
        0
    };
    let masks = [
        mask_char(a.get(masks_at), 'X')?,
        mask_char(a.get(masks_at + 1), 'x')?,
        mask_char(a.get(masks_at + 2), 'n')?,
        mask_char(a.get(masks_at + 3), '-')?,
    ];
    let Some(input) = a[0].as_str() else {
        return Ok(Value::Null);
    };
    let len = input.chars().count();
    let (from, to) = range(len, count);
    let out: String = input
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i < from || i >= to {
                return c;
            }
            let class = if c.is_uppercase() {
                0
            } else if c.is_lowercase() {
                1
            } else if c.is_numeric() {
                2
            } else {
                3
            };
            masks[class].unwrap_or(c)
        })
        .collect();
    Ok(text(out))
}

// ---------------------------------------------------------------------------
// CHR, ENCODE, TO_BYTES, FROM_BYTES, UUID

/// Java's `unescapeJava` of a string of `\uXXXX` escapes.
fn chr_escape(s: &str) -> Value {
    if !s.starts_with("\\u") || s.chars().count() < 6 {
        return Value::Null;
    }
    let mut units: Vec<u16> = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("\\u") {
            let Some(hex) = r.get(..4) else {
                return Value::Null;
            };
            let Ok(u) = u16::from_str_radix(hex, 16) else {
                return Value::Null;
            };
            units.push(u);
            rest = &r[4..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            rest = &rest[c.len_utf8()..];
        }
    }
    String::from_utf16(&units).map_or(Value::Null, text)
}

const ENCODINGS_ERROR: &str =
    "Supported input and output encodings are: hex, utf8, ascii and base64";

fn encode(s: &str, input: &str, output: &str) -> Result<String, String> {
    let (input, output) = (input.to_lowercase(), output.to_lowercase());
    let known = ["hex", "utf8", "ascii", "base64"];
    if !known.contains(&input.as_str()) || !known.contains(&output.as_str()) || input == output {
        return Err(ENCODINGS_ERROR.to_string());
    }
    let bytes = match input.as_str() {
        "hex" => hex_decode(&hex_strip(s)).ok_or_else(|| format!("Invalid hex string '{s}'"))?,
        "utf8" => s.as_bytes().to_vec(),
        "ascii" => ascii_encode(s),
        _ => base64_decode_lenient(s),
    };
    Ok(match output.as_str() {
        "hex" => hex_encode(&bytes, false),
        "utf8" => String::from_utf8_lossy(&bytes).into_owned(),
        "ascii" => ascii_decode(&bytes),
        _ => base64_encode(&bytes),
    })
}

fn unknown_encoding(encoding: &str) -> String {
    format!(
        "Unknown encoding type '{encoding}'. Supported formats are 'hex', 'utf8', 'ascii', and 'base64'."
    )
}

/// ksqlDB's `BytesUtils.decode` (base64 through Java's lenient MIME decoder).
fn to_bytes(s: &str, encoding: &str) -> Result<Vec<u8>, String> {
    match encoding.to_lowercase().as_str() {
        "hex" => hex_decode(s).ok_or_else(|| format!("Invalid hex string '{s}'")),
        "utf8" => Ok(s.as_bytes().to_vec()),
        "ascii" => Ok(ascii_encode(s)),
        "base64" => Ok(base64_decode_lenient(s)),
        _ => Err(unknown_encoding(encoding)),
    }
}

/// ksqlDB's `BytesUtils.encode`: upper-case hex, MIME base64.
fn from_bytes(b: &[u8], encoding: &str) -> Result<String, String> {
    match encoding.to_lowercase().as_str() {
        "hex" => Ok(hex_encode(b, true)),
        "utf8" => Ok(String::from_utf8_lossy(b).into_owned()),
        "ascii" => Ok(ascii_decode(b)),
        "base64" => Ok(base64_encode_mime(b)),
        _ => Err(unknown_encoding(encoding)),
    }
}

fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

fn random_uuid() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_be_bytes());
    b[8..].copy_from_slice(&random_u64().to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    format_uuid(&b)
}

fn format_uuid(b: &[u8]) -> String {
    let h = hex_encode(b, false);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn number_from_bytes_udf(
    name: &'static str,
    description: &'static str,
    returns: SqlType,
    eval: EvalFn,
) -> Arc<dyn ScalarFunction> {
    udf(
        name,
        "BYTES",
        description,
        vec![
            Overload::new(vec![BYTES], returns.clone(), eval),
            Overload::new(vec![BYTES, STR], returns, eval),
        ],
    )
}

/// INT (`size` 4), BIGINT (8) or DOUBLE (0, read from 8 bytes) from bytes
/// in the byte order of `a[1]` (default `BIG_ENDIAN`).
fn number_from_bytes(a: &[Value], size: usize) -> Result<Value, String> {
    let b = by(&a[0]);
    let expected = if size == 0 { 8 } else { size };
    if b.len() != expected {
        return Err(format!(
            "Number of bytes must be equal to {expected}, but found {}",
            b.len()
        ));
    }
    let little = match a.get(1).map(st) {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("BIG_ENDIAN") => false,
        Some(o) if o.eq_ignore_ascii_case("LITTLE_ENDIAN") => true,
        Some(o) => {
            return Err(format!(
                "Byte order must be BIG_ENDIAN or LITTLE_ENDIAN. Unknown byte order '{o}'."
            ))
        }
    };
    let mut buf = [0u8; 8];
    buf[..expected].copy_from_slice(b);
    if little {
        buf[..expected].reverse();
    }
    Ok(match size {
        4 => Value::Int(i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]])),
        8 => Value::Bigint(i64::from_be_bytes(buf)),
        _ => Value::Double(f64::from_be_bytes(buf)),
    })
}

// ---------------------------------------------------------------------------
// URLs, parsed as java.net.URI does

struct Uri<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

impl<'a> Uri<'a> {
    fn parse(s: &'a str) -> Result<Uri<'a>, String> {
        let invalid = || format!("URL input has invalid syntax: {s}");
        if s.chars()
            .any(|c| c.is_control() || c.is_whitespace() || "\"<>\\^`{|}".contains(c))
        {
            return Err(invalid());
        }
        let bytes = s.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'%'
                && !(i + 2 < bytes.len()
                    && bytes[i + 1].is_ascii_hexdigit()
                    && bytes[i + 2].is_ascii_hexdigit())
            {
                return Err(invalid());
            }
        }
        let (rest, fragment) = match s.split_once('#') {
            Some((r, f)) => (r, Some(f)),
            None => (s, None),
        };
        let (scheme, rest) = match rest.split_once(':') {
            Some((sch, r))
                if sch.starts_with(|c: char| c.is_ascii_alphabetic())
                    && sch
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                (Some(sch), r)
            }
            _ => (None, rest),
        };
        if scheme.is_some() && !rest.starts_with('/') {
            // Opaque, like mailto:x
            return Ok(Uri {
                scheme,
                authority: None,
                path: None,
                query: None,
                fragment,
            });
        }
        let (authority, rest) = match rest.strip_prefix("//") {
            Some(r) => {
                let end = r.find(['/', '?']).unwrap_or(r.len());
                (Some(&r[..end]), &r[end..])
            }
            None => (None, rest),
        };
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        // Brackets are only allowed around an IPv6 host.
        if [Some(path), query, fragment]
            .iter()
            .flatten()
            .any(|part| part.contains(['[', ']']))
        {
            return Err(invalid());
        }
        Ok(Uri {
            scheme,
            authority,
            path: Some(path),
            query,
            fragment,
        })
    }

    fn host_port(&self) -> Option<(&'a str, Option<&'a str>)> {
        let auth = self.authority?;
        let hostport = match auth.rfind('@') {
            Some(i) => &auth[i + 1..],
            None => auth,
        };
        if hostport.starts_with('[') {
            let end = hostport.find(']')?;
            let port = hostport[end + 1..].strip_prefix(':');
            return Some((&hostport[..=end], port));
        }
        Some(match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        })
    }

    /// The host of a server-based authority, as java.net.URI: NULL when the
    /// authority is not `[user@]host[:port]` with a valid host name.
    fn host(&self) -> Option<&'a str> {
        let (host, port) = self.host_port()?;
        let valid_host = host.starts_with('[')
            || (!host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
        let valid_port = port.is_none_or(|p| p.chars().all(|c| c.is_ascii_digit()));
        (valid_host && valid_port).then_some(host)
    }

    fn port(&self) -> Option<i32> {
        self.host()?;
        self.host_port()?.1?.parse().ok()
    }
}

/// java.net.URI's decoding of a component: `%XX` escapes, `+` kept.
fn decode_component(s: &str) -> String {
    percent_decode(s, false).unwrap_or_else(|| s.to_string())
}

fn url_udf(name: &'static str, description: &'static str, eval: EvalFn) -> Arc<dyn ScalarFunction> {
    udf(
        name,
        "URL",
        description,
        vec![Overload::new(vec![STR], STR, eval)],
    )
}

fn url_eval(a: &[Value], f: fn(&Uri) -> Option<Value>) -> Result<Value, String> {
    let u = Uri::parse(st(&a[0]))?;
    Ok(f(&u).unwrap_or(Value::Null))
}

// ---------------------------------------------------------------------------
// Regular expressions

#[derive(Clone, Copy, PartialEq)]
enum RegexFn {
    /// (pattern, input[, group])
    Extract,
    /// (pattern, input[, group])
    ExtractAll,
    /// (input, pattern, replacement)
    Replace,
    /// (input, pattern)
    Split,
}

/// Compiles patterns: once for a constant pattern, else per distinct row value.
struct PatternCache {
    constant: Option<Result<Regex, String>>,
    last: Mutex<Option<(String, Regex)>>,
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&java_pattern(pattern))
        .map_err(|e| format!("Invalid regular expression pattern '{pattern}': {e}"))
}

/// The members of a POSIX class as Java spells it (`\p{Alpha}`), for use
/// inside a character class.
fn posix_class(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => "\\x00-\\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => "!-/:-@\\[-`{-~",
        "Graph" => "!-~",
        "Print" => " -~",
        "Blank" => " \\t",
        "Cntrl" => "\\x00-\\x1F\\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => " \\t\\n\\x0B\\f\\r",
        _ => return None,
    })
}

/// Java's regex dialect in the regex crate's: `\d`, `\w` and `\s` are ASCII
/// (Java's default), POSIX `\p{Alpha}` classes, `\Q…\E` quoting and `\Z`.
/// Lookaround and backreferences stay unsupported (the pattern fails).
fn java_pattern(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut in_class = 0usize;
    let mut i = 0;
    let set = |members: &str, negated: bool, in_class: bool| -> String {
        match (in_class, negated) {
            (true, false) => members.to_string(),
            (true, true) => format!("[^{members}]"),
            (false, false) => format!("[{members}]"),
            (false, true) => format!("[^{members}]"),
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            i += 2;
            match n {
                'Q' => {
                    let rest: String = chars[i..].iter().collect();
                    let (literal, skip) = match rest.find("\\E") {
                        Some(end) => (&rest[..end], end + 2),
                        None => (rest.as_str(), rest.len()),
                    };
                    out.push_str(&regex::escape(literal));
                    i += rest[..skip].chars().count();
                }
                'd' | 'D' => out.push_str(&set("0-9", n == 'D', in_class > 0)),
                'w' | 'W' => out.push_str(&set("a-zA-Z0-9_", n == 'W', in_class > 0)),
                's' | 'S' => out.push_str(&set(" \\t\\n\\x0B\\f\\r", n == 'S', in_class > 0)),
                'Z' => out.push_str("\\z"),
                'p' | 'P' if chars.get(i) == Some(&'{') => {
                    let end = chars[i..].iter().position(|&c| c == '}').map(|e| i + e);
                    let name: Option<String> = end.map(|e| chars[i + 1..e].iter().collect());
                    match (end, name.as_deref().and_then(posix_class)) {
                        (Some(e), Some(members)) => {
                            out.push_str(&set(members, n == 'P', in_class > 0));
                            i = e + 1;
                        }
                        _ => {
                            out.push('\\');
                            out.push(n);
                        }
                    }
                }
                _ => {
                    out.push('\\');
                    out.push(n);
                }
            }
            continue;
        }
        if c == '[' {
            in_class += 1;
        } else if c == ']' && in_class > 0 {
            in_class -= 1;
        }
        out.push(c);
        i += 1;
    }
    out
}

impl PatternCache {
    fn new(arg: &Arg) -> PatternCache {
        PatternCache {
            constant: arg.constant.as_ref().and_then(Value::as_str).map(compile),
            last: Mutex::new(None),
        }
    }

    fn get(&self, pattern: &str) -> Result<Regex, String> {
        if let Some(c) = &self.constant {
            return c.clone();
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((p, r)) = last.as_ref() {
            if p == pattern {
                return Ok(r.clone());
            }
        }
        let r = compile(pattern)?;
        *last = Some((pattern.to_string(), r.clone()));
        Ok(r)
    }
}

/// Java's replacement syntax (`$1`, `${name}`, `\$`) in the regex crate's.
fn java_replacement(r: &str) -> Result<String, String> {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(x) => out.push(x),
                None => return Err("character to be escaped is missing".to_string()),
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(x) => name.push(x),
                            None => {
                                return Err(
                                    "named capturing group is missing trailing '}'".to_string()
                                )
                            }
                        }
                    }
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    let mut digits = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        digits.push(*d);
                        chars.next();
                    }
                    if digits.is_empty() {
                        return Err("Illegal group reference".to_string());
                    }
                    out.push_str(&format!("${{{digits}}}"));
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

fn resolve_regex(args: &[Arg], kind: RegexFn) -> Result<Resolved, ResolveError> {
    let arity_ok = match kind {
        RegexFn::Extract | RegexFn::ExtractAll => args.len() == 2 || args.len() == 3,
        RegexFn::Replace => args.len() == 3,
        RegexFn::Split => args.len() == 2,
    };
    if !arity_ok {
        return Err(ResolveError::NoMatch);
    }
    let group_param = matches!(kind, RegexFn::Extract | RegexFn::ExtractAll) && args.len() == 3;
    for (i, a) in args.iter().enumerate() {
        let t = if group_param && i == 2 { INT } else { STR };
        if !fits(a, &t) {
            return Err(ResolveError::NoMatch);
        }
    }
    let pattern_at = match kind {
        RegexFn::Extract | RegexFn::ExtractAll => 0,
        _ => 1,
    };
    let cache = Arc::new(PatternCache::new(&args[pattern_at]));
    let returns = match kind {
        RegexFn::Extract | RegexFn::Replace => STR,
        _ => SqlType::array(STR),
    };
    Ok(Resolved::new(returns, move |a: &[Value]| {
        if a.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let pattern = st(&a[pattern_at]);
        match kind {
            RegexFn::Extract => {
                let re = cache.get(pattern)?;
                let group = a.get(2).map_or(0, int);
                let input = st(&a[1]);
                Ok(re
                    .captures(input)
                    .and_then(|c| usize::try_from(group).ok().and_then(|g| c.get(g)))
                    .map_or(Value::Null, |m| text(m.as_str())))
            }
            RegexFn::ExtractAll => {
                let re = cache.get(pattern)?;
                let group = usize::try_from(a.get(2).map_or(0, int)).unwrap_or(usize::MAX);
                let input = st(&a[1]);
                Ok(Value::Array(
                    re.captures_iter(input)
                        .map(|c| c.get(group).map_or(Value::Null, |m| text(m.as_str())))
                        .collect(),
                ))
            }
            RegexFn::Replace => {
                let re = cache.get(pattern)?;
                let replacement = java_replacement(st(&a[2]))?;
                Ok(text(re.replace_all(st(&a[0]), replacement.as_str())))
            }
            RegexFn::Split => {
                let input = st(&a[0]);
                let re = cache.get(pattern)?;
                let mut parts: Vec<Value> = re.split(input).map(text).collect();
                if re.is_match("") {
                    // Java's Pattern.split: no empty piece before a zero-width
                    // match at the start, and no trailing empty pieces.
                    if input.is_empty() {
                        return Ok(Value::Array(vec![text("")]));
                    }
                    if parts.len() > 1 && parts[0].as_str() == Some("") {
                        parts.remove(0);
                    }
                    while parts.len() > 1 && parts.last().and_then(Value::as_str) == Some("") {
                        parts.pop();
                    }
                }
                Ok(Value::Array(parts))
            }
        }
    }))
}
