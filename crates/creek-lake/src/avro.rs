//! Avro binary decoding driven by a compiled schema.
//!
//! [`Node`] is the writer schema reduced to what decoding needs (named references
//! resolved, logical types folded in); it is compiled once per schema and cached by
//! [`compiled`]. [`Reader`] reads Avro's primitive encodings from a datum body. The
//! Parquet builders (`columns`), the JSON renderer (`json`) and [`field_of`](crate::field_of)
//! all walk a [`Node`] over a [`Reader`]; [`skip`] is the allocation-free walk that
//! validates a body before it is copied into a container file.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use apache_avro::schema::{InnerDecimalSchema, Schema, UuidSchema};
use creek_schema::RegisteredSchema;

use crate::LakeError;

/// Time unit of a time or timestamp logical type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Millis,
    Micros,
    Nanos,
}

/// What an Avro `int` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntKind {
    Plain,
    Date,
    TimeMillis,
}

/// What an Avro `long` means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LongKind {
    Plain,
    TimeMicros,
    /// `timestamp-*` (`utc` true) and `local-timestamp-*` (`utc` false).
    Timestamp {
        unit: Unit,
        utc: bool,
    },
}

/// A record field: its name, its JSON key (`"name":`, pre-escaped) and its type.
#[derive(Debug, Clone)]
pub(crate) struct FieldNode {
    pub name: String,
    pub json_key: String,
    pub node: Node,
}

/// A writer schema compiled for decoding.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Null,
    Boolean,
    Int(IntKind),
    Long(LongKind),
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Arc<[String]>),
    /// `fixed` is the size when the decimal is stored in a fixed, `None` for bytes.
    Decimal {
        precision: usize,
        scale: usize,
        fixed: Option<usize>,
    },
    Array(Box<Node>),
    Map(Box<Node>),
    Record(Arc<[FieldNode]>),
    /// `["null", T]` or `[T, "null"]`: Connect's optional T.
    Optional {
        null_index: u32,
        inner: Box<Node>,
    },
    /// Any other union: Connect's `ConnectUnion` struct, one field per non-null branch.
    Union(Arc<UnionNode>),
}

#[derive(Debug)]
pub(crate) struct UnionNode {
    pub branches: Vec<Node>,
    /// Connect's field name per branch (the Avro type name, or a named type's simple
    /// name); `None` for the null branch.
    pub names: Vec<Option<String>>,
}

impl Node {
    /// A short Avro-ish type name for messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Boolean => "boolean",
            Node::Int(IntKind::Plain) => "int",
            Node::Int(IntKind::Date) => "date",
            Node::Int(IntKind::TimeMillis) => "time-millis",
            Node::Long(LongKind::Plain) => "long",
            Node::Long(LongKind::TimeMicros) => "time-micros",
            Node::Long(LongKind::Timestamp { .. }) => "timestamp",
            Node::Float => "float",
            Node::Double => "double",
            Node::Bytes => "bytes",
            Node::String => "string",
            Node::Fixed(_) => "fixed",
            Node::Enum(_) => "enum",
            Node::Decimal { .. } => "decimal",
            Node::Array(_) => "array",
            Node::Map(_) => "map",
            Node::Record(_) => "record",
            Node::Optional { inner, .. } => inner.describe(),
            Node::Union(_) => "union",
        }
    }
}

/// Compiles an Avro schema. Named types referenced again are copied in place;
/// a record that contains itself cannot become a fixed set of columns and is refused.
pub(crate) fn compile(schema: &Schema) -> Result<Node, LakeError> {
    let mut names = HashMap::new();
    compile_in(schema, &mut names)
}

/// `None` marks a named type whose definition is still being compiled.
type Named = HashMap<String, Option<Node>>;

fn compile_in(schema: &Schema, names: &mut Named) -> Result<Node, LakeError> {
    let node = match schema {
        Schema::Null => Node::Null,
        Schema::Boolean => Node::Boolean,
        Schema::Int => Node::Int(IntKind::Plain),
        Schema::Long => Node::Long(LongKind::Plain),
        Schema::Float => Node::Float,
        Schema::Double => Node::Double,
        // A big-decimal carries its scale in each value; Connect sees plain bytes.
        Schema::Bytes | Schema::BigDecimal => Node::Bytes,
        Schema::String => Node::String,
        Schema::Uuid(UuidSchema::String) => Node::String,
        Schema::Uuid(UuidSchema::Bytes) => Node::Bytes,
        Schema::Uuid(UuidSchema::Fixed(f)) => {
            define(names, f.name.fullname(None), Node::Fixed(f.size))?
        }
        Schema::Date => Node::Int(IntKind::Date),
        Schema::TimeMillis => Node::Int(IntKind::TimeMillis),
        Schema::TimeMicros => Node::Long(LongKind::TimeMicros),
        Schema::TimestampMillis => timestamp(Unit::Millis, true),
        Schema::TimestampMicros => timestamp(Unit::Micros, true),
        Schema::TimestampNanos => timestamp(Unit::Nanos, true),
        Schema::LocalTimestampMillis => timestamp(Unit::Millis, false),
        Schema::LocalTimestampMicros => timestamp(Unit::Micros, false),
        Schema::LocalTimestampNanos => timestamp(Unit::Nanos, false),
        Schema::Duration(f) => define(names, f.name.fullname(None), Node::Fixed(f.size))?,
        Schema::Fixed(f) => define(names, f.name.fullname(None), Node::Fixed(f.size))?,
        Schema::Enum(e) => define(
            names,
            e.name.fullname(None),
            Node::Enum(e.symbols.clone().into()),
        )?,
        Schema::Decimal(d) => {
            let fixed = match &d.inner {
                InnerDecimalSchema::Bytes => None,
                InnerDecimalSchema::Fixed(f) => {
                    define(names, f.name.fullname(None), Node::Fixed(f.size))?;
                    Some(f.size)
                }
            };
            Node::Decimal {
                precision: d.precision,
                scale: d.scale,
                fixed,
            }
        }
        Schema::Array(a) => Node::Array(Box::new(compile_in(&a.items, names)?)),
        Schema::Map(m) => Node::Map(Box::new(compile_in(&m.types, names)?)),
        Schema::Record(r) => {
            let full = r.name.fullname(None);
            names.insert(full.clone(), None);
            let mut fields = Vec::with_capacity(r.fields.len());
            for f in &r.fields {
                let node = compile_in(&f.schema, names)?;
                let mut json_key = serde_json::to_string(&f.name).expect("a string serializes");
                json_key.push(':');
                fields.push(FieldNode {
                    name: f.name.clone(),
                    json_key,
                    node,
                });
            }
            let node = Node::Record(fields.into());
            names.insert(full, Some(node.clone()));
            node
        }
        Schema::Union(u) => {
            let variants = u.variants();
            let null_at = variants.iter().position(|s| matches!(s, Schema::Null));
            let non_null = variants.len() - usize::from(null_at.is_some());
            if let (Some(null_index), 2) = (null_at, variants.len()) {
                let inner = compile_in(&variants[1 - null_index], names)?;
                Node::Optional {
                    null_index: null_index as u32,
                    inner: Box::new(inner),
                }
            } else if non_null == 0 {
                Node::Null
            } else {
                let mut branches = Vec::with_capacity(variants.len());
                let mut branch_names: Vec<Option<String>> = Vec::with_capacity(variants.len());
                for v in variants {
                    let name = union_branch_name(v);
                    if let Some(n) = &name {
                        if branch_names.iter().flatten().any(|m| m == n) {
                            return Err(LakeError::not_supported(format!(
                                "a union with two branches named {n:?}"
                            )));
                        }
                    }
                    branch_names.push(name);
                    branches.push(compile_in(v, names)?);
                }
                Node::Union(Arc::new(UnionNode {
                    branches,
                    names: branch_names,
                }))
            }
        }
        Schema::Ref { name } => {
            let full = name.fullname(None);
            match names.get(&full) {
                Some(Some(node)) => node.clone(),
                Some(None) => {
                    return Err(LakeError::not_supported(format!(
                        "recursive Avro schema: record {full} contains itself"
                    )))
                }
                None => {
                    return Err(LakeError::convert(format!(
                        "the Avro schema refers to an undefined type {full}"
                    )))
                }
            }
        }
    };
    Ok(node)
}

fn timestamp(unit: Unit, utc: bool) -> Node {
    Node::Long(LongKind::Timestamp { unit, utc })
}

fn define(names: &mut Named, fullname: String, node: Node) -> Result<Node, LakeError> {
    names.insert(fullname, Some(node.clone()));
    Ok(node)
}

/// The field name Confluent's AvroData gives a union branch in its `ConnectUnion`
/// struct: a named type's simple name, otherwise the Avro type name.
fn union_branch_name(schema: &Schema) -> Option<String> {
    let name = match schema {
        Schema::Null => return None,
        Schema::Boolean => "boolean",
        Schema::Int | Schema::Date | Schema::TimeMillis => "int",
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long",
        Schema::Float => "float",
        Schema::Double => "double",
        Schema::Bytes | Schema::BigDecimal | Schema::Uuid(UuidSchema::Bytes) => "bytes",
        Schema::String | Schema::Uuid(UuidSchema::String) => "string",
        Schema::Array(_) => "array",
        Schema::Map(_) => "map",
        Schema::Record(r) => return Some(r.name.name().to_string()),
        Schema::Enum(e) => return Some(e.name.name().to_string()),
        Schema::Fixed(f) | Schema::Duration(f) | Schema::Uuid(UuidSchema::Fixed(f)) => {
            return Some(f.name.name().to_string())
        }
        Schema::Decimal(d) => match &d.inner {
            InnerDecimalSchema::Bytes => "bytes",
            InnerDecimalSchema::Fixed(f) => return Some(f.name.name().to_string()),
        },
        Schema::Ref { name } => return Some(name.name().to_string()),
        Schema::Union(_) => "union",
    };
    Some(name.to_string())
}

/// How many compiled schemas [`compiled`] keeps; a sink sees few schemas at a time.
const CACHE_SIZE: usize = 64;

type CacheEntry = (Arc<RegisteredSchema>, Arc<Node>);

static CACHE: Mutex<Vec<CacheEntry>> = Mutex::new(Vec::new());

/// The compiled form of a registered schema, compiled once and then shared. Keyed by
/// the `Arc` itself (the registry hands out one per id), falling back to the id and
/// text so that equal schemas from different `Arc`s also hit.
pub(crate) fn compiled(schema: &Arc<RegisteredSchema>) -> Result<Arc<Node>, LakeError> {
    {
        let cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, node)) = cache.iter().find(|(s, _)| {
            Arc::ptr_eq(s, schema) || (s.id == schema.id && s.schema_json == schema.schema_json)
        }) {
            return Ok(node.clone());
        }
    }
    let node = Arc::new(compile(&schema.avro)?);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_SIZE {
        cache.remove(0);
    }
    cache.push((schema.clone(), node.clone()));
    Ok(node)
}

/// A decoding failure; boxed so that `Result`s on the hot path stay two words.
#[derive(Debug)]
pub(crate) struct DecodeError(Box<DecodeErrorInner>);

#[derive(Debug)]
struct DecodeErrorInner {
    message: String,
    /// Field names from the innermost outwards, added as the error unwinds.
    path: Vec<String>,
}

impl DecodeError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DecodeError(Box::new(DecodeErrorInner {
            message: message.into(),
            path: Vec::new(),
        }))
    }

    /// Records that the error happened inside `field`.
    pub(crate) fn in_field(mut self, field: &str) -> Self {
        self.0.path.push(field.to_string());
        self
    }

    pub(crate) fn into_lake(self) -> LakeError {
        LakeError::Convert(self.to_string())
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.path.is_empty() {
            write!(f, "{}", self.0.message)
        } else {
            let path: Vec<&str> = self.0.path.iter().rev().map(String::as_str).collect();
            write!(f, "field {}: {}", path.join("."), self.0.message)
        }
    }
}

pub(crate) type Decoded<T> = Result<T, DecodeError>;

// The decoders return `Decoded` for every value: keep the error one pointer wide.
const _: () = assert!(std::mem::size_of::<DecodeError>() == std::mem::size_of::<usize>());

#[cold]
fn eof() -> DecodeError {
    DecodeError::new("the Avro body ends in the middle of a value")
}

/// Reads Avro's binary encoding from a datum body.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The body already passed [`check`], which validated every string's UTF-8.
    utf8_checked: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            utf8_checked: false,
        }
    }

    /// A reader over a body that [`check`] accepted: strings are not validated a
    /// second time (UTF-8 validation was the hottest part of decoding).
    pub(crate) fn new_checked(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            utf8_checked: true,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Errors unless the whole body was consumed (a body longer than its schema
    /// says means the schema id and the bytes disagree).
    pub(crate) fn expect_end(&self) -> Decoded<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::new(format!(
                "{n} bytes left after the end of the Avro record: the body does not match its schema"
            ))),
        }
    }

    /// A zigzag varint (Avro `int` and `long`).
    #[inline]
    pub(crate) fn long(&mut self) -> Decoded<i64> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(eof());
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
            shift += 7;
            if shift > 63 {
                return Err(DecodeError::new("an Avro varint is longer than 10 bytes"));
            }
        }
    }

    #[inline]
    pub(crate) fn int(&mut self) -> Decoded<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| DecodeError::new(format!("Avro int {v} is out of range")))
    }

    #[inline]
    pub(crate) fn boolean(&mut self) -> Decoded<bool> {
        match self.fixed(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(DecodeError::new(format!("invalid Avro boolean byte {b}"))),
        }
    }

    #[inline]
    pub(crate) fn float(&mut self) -> Decoded<f32> {
        let b = self.fixed(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub(crate) fn double(&mut self) -> Decoded<f64> {
        let b = self.fixed(8)?;
        Ok(f64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    #[inline]
    pub(crate) fn fixed(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(eof)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(eof)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A length-prefixed `bytes` or `string`.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Decoded<&'a [u8]> {
        let len = self.long()?;
        if len < 0 {
            return Err(DecodeError::new(format!("negative Avro length {len}")));
        }
        self.fixed(len as usize)
    }

    #[inline]
    pub(crate) fn string(&mut self) -> Decoded<&'a str> {
        let b = self.bytes()?;
        if self.utf8_checked {
            // SAFETY: `new_checked` is only used on bodies that `check` walked with
            // the same schema, and `check` validated these exact bytes as UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(b) });
        }
        std::str::from_utf8(b).map_err(|_| DecodeError::new("an Avro string is not valid UTF-8"))
    }

    /// A union's branch index, checked against the number of branches.
    #[inline]
    pub(crate) fn branch(&mut self, branches: usize) -> Decoded<usize> {
        let i = self.long()?;
        if i < 0 || i as usize >= branches {
            return Err(DecodeError::new(format!(
                "union branch {i} does not exist (the union has {branches})"
            )));
        }
        Ok(i as usize)
    }

    /// An enum symbol index, checked against the symbols.
    #[inline]
    pub(crate) fn symbol<'s>(&mut self, symbols: &'s [String]) -> Decoded<&'s str> {
        let i = self.long()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| symbols.get(i))
            .map(String::as_str)
            .ok_or_else(|| DecodeError::new(format!("enum symbol {i} does not exist")))
    }

    /// The item count of the next array or map block; a negative count is followed
    /// by the block's byte size, which decoding does not need.
    #[inline]
    pub(crate) fn block_len(&mut self) -> Decoded<usize> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
            Ok(n.unsigned_abs() as usize)
        } else {
            Ok(n as usize)
        }
    }

    /// Like [`block_len`](Self::block_len) but returns the byte size of a negative-count
    /// block so that skipping can jump over it.
    fn block_header(&mut self) -> Decoded<(usize, Option<usize>)> {
        let n = self.long()?;
        if n < 0 {
            let size = self.long()?;
            let size = usize::try_from(size)
                .map_err(|_| DecodeError::new(format!("negative Avro block size {size}")))?;
            Ok((n.unsigned_abs() as usize, Some(size)))
        } else {
            Ok((n as usize, None))
        }
    }
}

/// Walks over one value without building anything: validates a body's structure.
pub(crate) fn skip(node: &Node, r: &mut Reader<'_>) -> Decoded<()> {
    walk(node, r, false)
}

/// Like [`skip`], and also checks what the Parquet columns would refuse (strings
/// that are not UTF-8, decimals beyond their precision), so that a record either
/// passes whole or leaves the columns untouched.
pub(crate) fn check(node: &Node, body: &[u8]) -> Decoded<()> {
    let mut r = Reader::new(body);
    walk(node, &mut r, true)?;
    r.expect_end()
}

fn walk(node: &Node, r: &mut Reader<'_>, strict: bool) -> Decoded<()> {
    match node {
        Node::Null => {}
        Node::Boolean => {
            r.boolean()?;
        }
        Node::Int(_) => {
            r.int()?;
        }
        Node::Long(_) => {
            r.long()?;
        }
        Node::Float => {
            r.fixed(4)?;
        }
        Node::Double => {
            r.fixed(8)?;
        }
        Node::String if strict => {
            r.string()?;
        }
        Node::Bytes | Node::String => {
            r.bytes()?;
        }
        Node::Fixed(n) => {
            r.fixed(*n)?;
        }
        Node::Decimal {
            precision, fixed, ..
        } => {
            let raw = match fixed {
                Some(n) => r.fixed(*n)?,
                None => r.bytes()?,
            };
            if strict {
                check_precision(raw, *precision)?;
            }
        }
        Node::Enum(symbols) => {
            r.symbol(symbols)?;
        }
        Node::Array(item) => loop {
            let (n, size) = r.block_header()?;
            if n == 0 {
                break;
            }
            if let (Some(size), false) = (size, strict) {
                r.fixed(size)?;
            } else {
                for _ in 0..n {
                    walk(item, r, strict)?;
                }
            }
        },
        Node::Map(value) => loop {
            let (n, size) = r.block_header()?;
            if n == 0 {
                break;
            }
            if let (Some(size), false) = (size, strict) {
                r.fixed(size)?;
            } else {
                for _ in 0..n {
                    if strict {
                        r.string()?;
                    } else {
                        r.bytes()?;
                    }
                    walk(value, r, strict)?;
                }
            }
        },
        Node::Record(fields) => {
            for f in fields.iter() {
                walk(&f.node, r, strict).map_err(|e| e.in_field(&f.name))?;
            }
        }
        Node::Optional { null_index, inner } => {
            if r.branch(2)? != *null_index as usize {
                walk(inner, r, strict)?;
            }
        }
        Node::Union(u) => {
            let i = r.branch(u.branches.len())?;
            walk(&u.branches[i], r, strict)?;
        }
    }
    Ok(())
}

/// Errors when a decimal's unscaled value has more digits than `precision`.
fn check_precision(raw: &[u8], precision: usize) -> Decoded<()> {
    let v = crate::columns::be_i256(raw)?;
    let limit = arrow::datatypes::i256::from_i128(10).checked_pow(precision as u32);
    match limit {
        Some(limit) if v >= limit || v <= limit.wrapping_neg() => Err(DecodeError::new(format!(
            "decimal unscaled value {v} has more digits than the schema's precision {precision}"
        ))),
        _ => Ok(()),
    }
}

/// Checks that `body` is exactly one value of `node`.
pub(crate) fn validate(node: &Node, body: &[u8]) -> Result<(), LakeError> {
    let mut r = Reader::new(body);
    skip(node, &mut r)
        .and_then(|()| r.expect_end())
        .map_err(DecodeError::into_lake)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Zigzag varint, for building test bodies.
    pub(crate) fn put_long(out: &mut Vec<u8>, n: i64) {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
        put_long(out, s.len() as i64);
        out.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, -1, 63, -64, 64, 1 << 20, i64::MAX, i64::MIN, -129] {
            let mut b = Vec::new();
            put_long(&mut b, n);
            let mut r = Reader::new(&b);
            assert_eq!(r.long().unwrap(), n);
            assert_eq!(r.remaining(), 0);
        }
        let mut r = Reader::new(&[0x80]);
        assert!(r.long().is_err());
        let mut r = Reader::new(&[0xff; 11]);
        assert!(r.long().unwrap_err().to_string().contains("10 bytes"));
    }

    #[test]
    fn named_references_are_resolved_and_recursion_refused() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","namespace":"ns","fields":[
                {"name":"a","type":{"type":"fixed","name":"f4","size":4}},
                {"name":"b","type":"f4"},
                {"name":"c","type":{"type":"record","name":"inner","namespace":"other","fields":[{"name":"x","type":"int"}]}},
                {"name":"d","type":"other.inner"},
                {"name":"e","type":{"type":"enum","name":"color","symbols":["RED","GREEN"]}},
                {"name":"f","type":["null","color"]}
            ]}"#,
        ))
        .unwrap();
        let Node::Record(fields) = node else { panic!() };
        assert!(matches!(fields[1].node, Node::Fixed(4)));
        assert!(matches!(&fields[3].node, Node::Record(f) if f[0].name == "x"));
        assert!(
            matches!(&fields[5].node, Node::Optional { null_index: 0, inner } if matches!(**inner, Node::Enum(_)))
        );

        let err = compile(&parse(
            r#"{"type":"record","name":"list","fields":[{"name":"next","type":["null","list"]}]}"#,
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not supported yet: recursive Avro schema: record list contains itself"
        );
    }

    #[test]
    fn validate_catches_short_long_and_bad_unions() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":["null","string"]},{"name":"b","type":"long"}]}"#,
        ))
        .unwrap();
        let mut good = Vec::new();
        put_long(&mut good, 1);
        put_str(&mut good, "hi");
        put_long(&mut good, 7);
        validate(&node, &good).unwrap();

        let err = validate(&node, &good[..good.len() - 1]).unwrap_err();
        assert!(
            err.to_string().contains("field b: the Avro body ends"),
            "{err}"
        );
        let mut long = good.clone();
        long.push(0);
        assert!(validate(&node, &long)
            .unwrap_err()
            .to_string()
            .contains("1 bytes left"));
        let mut bad = good.clone();
        bad[0] = 4; // branch 2
        let err = validate(&node, &bad).unwrap_err();
        assert!(err.to_string().contains("field a: union branch 2"), "{err}");
    }

    #[test]
    fn union_branch_names_follow_avro_data() {
        let node = compile(&parse(
            r#"["null","int","string",{"type":"record","name":"ns.Point","fields":[{"name":"x","type":"int"}]},{"type":"long","logicalType":"timestamp-millis"}]"#,
        ))
        .unwrap();
        let Node::Union(u) = node else { panic!() };
        let names: Vec<_> = u.names.iter().map(|n| n.as_deref()).collect();
        assert_eq!(
            names,
            vec![
                None,
                Some("int"),
                Some("string"),
                Some("Point"),
                Some("long")
            ]
        );
    }

    #[test]
    fn skip_uses_block_sizes() {
        let node = compile(&parse(r#"{"type":"array","items":"string"}"#)).unwrap();
        let mut body = Vec::new();
        // One block of 2 items written with a byte size, then the end marker.
        let mut items = Vec::new();
        put_str(&mut items, "a");
        put_str(&mut items, "bc");
        put_long(&mut body, -2);
        put_long(&mut body, items.len() as i64);
        body.extend_from_slice(&items);
        put_long(&mut body, 0);
        validate(&node, &body).unwrap();
    }
}
