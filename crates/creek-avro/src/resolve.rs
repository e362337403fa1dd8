//! Avro schema resolution (the specification's "Schema Resolution" section): a body
//! written with one schema rewritten into the binary encoding of another.
//!
//! [`resolve`] compares a writer plan with a reader plan once and builds a
//! [`Resolution`]; [`Resolution::transcode`] then rewrites each body without building
//! a value. Records match fields by name (writer-only fields are skipped, reader-only
//! fields take their default, encoded once by [`encode_json`]); `int` widens to
//! `long`, `float` and `double`, `long` to `float` and `double`, `float` to `double`;
//! `string` and `bytes` read as each other; enums match symbols by name; arrays, maps
//! and unions resolve recursively. Logical types resolve as their underlying type.
//!
//! Differences from the specification, because the plan does not carry them: record,
//! enum and fixed names are not compared (except to prefer a same-named record among
//! a reader union's branches), aliases are not used, and an enum's default symbol is
//! unknown, so a writer symbol the reader lacks is an error when a body uses it.
//! Among a reader union's branches, one of the writer's own type is preferred, then
//! the first the writer's type can be promoted or resolved to (as Java's Avro does).

use serde_json::Value;

use crate::binary::{put_boolean, put_bytes, put_double, put_float, put_long, Reader};
use crate::error::{DecodeError, Decoded, SchemaError};
use crate::plan::{Node, RecordNode};
use crate::walk::{skip, too_many, too_many_empty, zero_width, MAX_EMPTY_ITEMS};

/// How to rewrite bodies of a writer schema into a reader schema; built once by
/// [`resolve`] for a pair of schemas.
#[derive(Debug)]
pub struct Resolution {
    root: Step,
}

impl Resolution {
    /// Rewrites `writer_body` (one value of the writer schema) into the reader
    /// schema's encoding, appended to `out`. On error `out` is left as it was.
    pub fn transcode(&self, writer_body: &[u8], out: &mut Vec<u8>) -> Decoded<()> {
        let start = out.len();
        let mut r = Reader::new(writer_body);
        let result = run(&self.root, &mut r, out).and_then(|()| r.expect_end());
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// The two schemas encode every value alike: transcoding only validates and
    /// copies.
    pub fn is_identity(&self) -> bool {
        matches!(self.root, Step::Copy(_))
    }
}

/// Builds the resolution of `writer` into `reader`. Errors (naming the field path and
/// both types) when no body of the writer could be read with the reader: types that
/// neither match nor promote, a reader field the writer lacks without a default, a
/// default that does not fit its field's type.
pub fn resolve(writer: &Node, reader: &Node) -> Result<Resolution, SchemaError> {
    let root = resolve_in(writer, reader).map_err(|f| SchemaError::Invalid(f.to_string()))?;
    Ok(Resolution { root })
}

#[derive(Debug)]
enum Step {
    /// The same encoding on both sides: step over the writer's value, copy its bytes.
    Copy(Node),
    /// Nothing to read or write (null read as null).
    Nothing,
    IntToFloat,
    IntToDouble,
    LongToFloat,
    LongToDouble,
    FloatToDouble,
    /// `bytes` read as a `string`: copied once its UTF-8 is checked.
    BytesToString,
    Enum {
        writer: std::sync::Arc<[String]>,
        reader: std::sync::Arc<[String]>,
        /// The reader's index of each writer symbol.
        map: Vec<Option<u32>>,
    },
    Array {
        item: Box<Step>,
        /// The writer's items take no bytes (see [`MAX_EMPTY_ITEMS`]).
        empty: bool,
    },
    Map(Box<Step>),
    Record(Box<RecordStep>),
    /// The writer's union: one step per writer branch.
    WriterUnion(Vec<Step>),
    /// A reader union read from a non-union writer: the chosen branch's index, then
    /// the value.
    ReaderUnion {
        index: u32,
        step: Box<Step>,
    },
    /// A writer union branch the reader cannot read: an error when a body uses it.
    Fail(String),
}

#[derive(Debug)]
struct RecordStep {
    /// One per writer field, in writing order.
    fields: Vec<FieldStep>,
    /// One per reader field, in reading order.
    slots: Vec<Slot>,
    /// The writer's fields come in the reader's order: write straight to the output.
    ordered: bool,
}

#[derive(Debug)]
struct FieldStep {
    name: String,
    action: FieldAction,
}

#[derive(Debug)]
enum FieldAction {
    /// A field the reader does not have.
    Skip(Node),
    /// The reader's field at `position`.
    Into { position: usize, step: Step },
}

#[derive(Debug)]
enum Slot {
    /// Filled from the writer's field of the same name.
    Writer,
    /// A field the writer lacks: its default, already encoded.
    Default(Vec<u8>),
}

/// A resolution failure: a message and the field path, innermost first.
struct Failure {
    path: Vec<String>,
    message: String,
}

impl Failure {
    fn new(message: String) -> Self {
        Failure {
            path: Vec::new(),
            message,
        }
    }

    fn in_field(mut self, field: &str) -> Self {
        self.path.push(field.to_string());
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            let path: Vec<&str> = self.path.iter().rev().map(String::as_str).collect();
            write!(f, "field {}: {}", path.join("."), self.message)
        }
    }
}

static NULL: Node = Node::Null;

/// A union's branches in index order (an optional is `null` and its inner type).
fn branches(node: &Node) -> Option<Vec<&Node>> {
    match node {
        Node::Optional { null_index, inner } => Some(if *null_index == 0 {
            vec![&NULL, &**inner]
        } else {
            vec![&**inner, &NULL]
        }),
        Node::Union(u) => Some(u.branches.iter().collect()),
        _ => None,
    }
}

/// The Avro type a node is encoded as (logical types are their underlying type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum,
    Array,
    Map,
    Record,
    Union,
}

fn kind(node: &Node) -> Kind {
    match node {
        Node::Null => Kind::Null,
        Node::Boolean => Kind::Boolean,
        Node::Int(_) => Kind::Int,
        Node::Long(_) => Kind::Long,
        Node::Float => Kind::Float,
        Node::Double => Kind::Double,
        Node::Bytes | Node::Decimal { fixed: None, .. } => Kind::Bytes,
        Node::String => Kind::String,
        Node::Fixed(n) | Node::Decimal { fixed: Some(n), .. } => Kind::Fixed(*n),
        Node::Enum(_) => Kind::Enum,
        Node::Array(_) => Kind::Array,
        Node::Map(_) => Kind::Map,
        Node::Record(_) => Kind::Record,
        Node::Optional { .. } | Node::Union(_) => Kind::Union,
    }
}

/// A type's name for messages.
fn type_name(node: &Node) -> String {
    match node {
        Node::Fixed(n) => format!("fixed({n})"),
        Node::Decimal { fixed: Some(n), .. } => format!("decimal fixed({n})"),
        Node::Record(r) => format!("record {}", r.name),
        Node::Array(item) => format!("array of {}", type_name(item)),
        Node::Map(value) => format!("map of {}", type_name(value)),
        Node::Optional { .. } | Node::Union(_) => {
            let names: Vec<String> = branches(node)
                .unwrap_or_default()
                .into_iter()
                .map(type_name)
                .collect();
            format!("union [{}]", names.join(", "))
        }
        other => other.describe().to_string(),
    }
}

/// Whether every value of `w` is encoded exactly as the same value of `r`.
fn same_encoding(w: &Node, r: &Node) -> bool {
    match (w, r) {
        (Node::Enum(a), Node::Enum(b)) => a == b,
        (Node::Array(a), Node::Array(b)) | (Node::Map(a), Node::Map(b)) => same_encoding(a, b),
        (Node::Record(a), Node::Record(b)) => {
            a.name == b.name
                && a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.name == y.name && same_encoding(&x.node, &y.node))
        }
        _ => match (kind(w), kind(r)) {
            (Kind::Union, Kind::Union) => {
                let (a, b) = (branches(w).unwrap(), branches(r).unwrap());
                a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| same_encoding(x, y))
            }
            // A zigzag int is a valid long; a string's bytes are valid bytes.
            (Kind::Int, Kind::Long) | (Kind::String, Kind::Bytes) => true,
            (a, b) => {
                a == b
                    && !matches!(
                        a,
                        Kind::Enum | Kind::Array | Kind::Map | Kind::Record | Kind::Union
                    )
            }
        },
    }
}

/// Whether `w` and a reader union's branch `r` are the same type (preferred among the
/// branches over promotions).
fn same_type(w: &Node, r: &Node) -> bool {
    match (w, r) {
        (Node::Record(a), Node::Record(b)) => a.name == b.name,
        _ => kind(w) == kind(r),
    }
}

fn resolve_in(w: &Node, r: &Node) -> Result<Step, Failure> {
    if same_encoding(w, r) {
        return Ok(match w {
            Node::Null => Step::Nothing,
            _ => Step::Copy(w.clone()),
        });
    }
    if let Some(writer_branches) = branches(w) {
        let mut steps = Vec::with_capacity(writer_branches.len());
        let mut any = false;
        for b in writer_branches {
            match resolve_in(b, r) {
                Ok(step) => {
                    any = true;
                    steps.push(step);
                }
                Err(f) => steps.push(Step::Fail(f.to_string())),
            }
        }
        if !any {
            return Err(Failure::new(format!(
                "no branch of the writer's {} can be read as the reader's {}",
                type_name(w),
                type_name(r)
            )));
        }
        return Ok(Step::WriterUnion(steps));
    }
    if let Some(reader_branches) = branches(r) {
        let preferred = reader_branches
            .iter()
            .enumerate()
            .filter(|(_, b)| same_type(w, b));
        let others = reader_branches
            .iter()
            .enumerate()
            .filter(|(_, b)| !same_type(w, b));
        for (index, b) in preferred.chain(others) {
            if let Ok(step) = resolve_in(w, b) {
                return Ok(Step::ReaderUnion {
                    index: index as u32,
                    step: Box::new(step),
                });
            }
        }
        return Err(Failure::new(format!(
            "the writer's {} matches no branch of the reader's {}",
            type_name(w),
            type_name(r)
        )));
    }
    let step = match (w, r) {
        (Node::Record(a), Node::Record(b)) => record(a, b)?,
        (Node::Array(a), Node::Array(b)) => Step::Array {
            item: Box::new(resolve_in(a, b)?),
            empty: zero_width(a),
        },
        (Node::Map(a), Node::Map(b)) => Step::Map(Box::new(resolve_in(a, b)?)),
        (Node::Enum(a), Node::Enum(b)) => Step::Enum {
            writer: a.clone(),
            reader: b.clone(),
            map: a
                .iter()
                .map(|s| b.iter().position(|t| t == s).map(|i| i as u32))
                .collect(),
        },
        _ => match (kind(w), kind(r)) {
            (Kind::Int, Kind::Float) => Step::IntToFloat,
            (Kind::Int, Kind::Double) => Step::IntToDouble,
            (Kind::Long, Kind::Float) => Step::LongToFloat,
            (Kind::Long, Kind::Double) => Step::LongToDouble,
            (Kind::Float, Kind::Double) => Step::FloatToDouble,
            (Kind::Bytes, Kind::String) => Step::BytesToString,
            _ => {
                return Err(Failure::new(format!(
                    "the writer's {} cannot be read as the reader's {}",
                    type_name(w),
                    type_name(r)
                )))
            }
        },
    };
    Ok(step)
}

fn record(w: &RecordNode, r: &RecordNode) -> Result<Step, Failure> {
    let mut fields = Vec::with_capacity(w.len());
    for wf in w.iter() {
        let action = match r.iter().position(|rf| rf.name == wf.name) {
            None => FieldAction::Skip(wf.node.clone()),
            Some(position) => FieldAction::Into {
                position,
                step: resolve_in(&wf.node, &r[position].node).map_err(|f| f.in_field(&wf.name))?,
            },
        };
        fields.push(FieldStep {
            name: wf.name.clone(),
            action,
        });
    }
    let mut slots = Vec::with_capacity(r.len());
    for rf in r.iter() {
        if w.iter().any(|wf| wf.name == rf.name) {
            slots.push(Slot::Writer);
            continue;
        }
        let Some(default) = &rf.default else {
            return Err(Failure::new(format!(
                "the reader's field {} is not in the writer's record {} and has no default",
                rf.name, w.name
            )));
        };
        let mut bytes = Vec::new();
        encode_json(&rf.node, default, &mut bytes).map_err(|e| {
            Failure::new(format!(
                "the default of the reader's field {}: {e}",
                rf.name
            ))
        })?;
        slots.push(Slot::Default(bytes));
    }
    let positions: Vec<usize> = fields
        .iter()
        .filter_map(|f| match f.action {
            FieldAction::Into { position, .. } => Some(position),
            FieldAction::Skip(_) => None,
        })
        .collect();
    let ordered = positions.windows(2).all(|p| p[0] < p[1]);
    Ok(Step::Record(Box::new(RecordStep {
        fields,
        slots,
        ordered,
    })))
}

fn run(step: &Step, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Decoded<()> {
    match step {
        Step::Copy(node) => {
            let at = r.position();
            skip(node, r)?;
            out.extend_from_slice(r.since(at));
        }
        Step::Nothing => {}
        Step::IntToFloat => put_float(out, r.int()? as f32),
        Step::IntToDouble => put_double(out, f64::from(r.int()?)),
        Step::LongToFloat => put_float(out, r.long()? as f32),
        Step::LongToDouble => put_double(out, r.long()? as f64),
        Step::FloatToDouble => put_double(out, f64::from(r.float()?)),
        Step::BytesToString => {
            let b = r.bytes()?;
            std::str::from_utf8(b).map_err(|_| {
                DecodeError::new("the writer's bytes are not valid UTF-8 for the reader's string")
            })?;
            put_bytes(out, b);
        }
        Step::Enum {
            writer,
            reader,
            map,
        } => {
            let i = r.long()?;
            let Some(mapped) = usize::try_from(i).ok().and_then(|i| map.get(i)) else {
                return Err(DecodeError::new(format!("enum symbol {i} does not exist")));
            };
            let Some(j) = mapped else {
                return Err(DecodeError::new(format!(
                    "the writer's enum symbol {} is not among the reader's symbols [{}] (enum defaults are not supported)",
                    writer[i as usize],
                    reader.join(", ")
                )));
            };
            put_long(out, i64::from(*j));
        }
        Step::Array { item, empty } => {
            let mut total = 0usize;
            loop {
                let n = r.block_len()?;
                if n == 0 {
                    put_long(out, 0);
                    break;
                }
                if *empty {
                    total = total.saturating_add(n);
                    if total > MAX_EMPTY_ITEMS {
                        return Err(too_many_empty(total));
                    }
                } else if n > r.remaining() {
                    return Err(too_many(n, r));
                }
                put_long(out, n as i64);
                for _ in 0..n {
                    run(item, r, out)?;
                }
            }
        }
        Step::Map(value) => loop {
            let n = r.block_len()?;
            if n == 0 {
                put_long(out, 0);
                break;
            }
            if n > r.remaining() {
                return Err(too_many(n, r));
            }
            put_long(out, n as i64);
            for _ in 0..n {
                put_bytes(out, r.bytes()?);
                run(value, r, out)?;
            }
        },
        Step::Record(rec) => run_record(rec, r, out)?,
        Step::WriterUnion(steps) => {
            let i = r.branch(steps.len())?;
            run(&steps[i], r, out)?;
        }
        Step::ReaderUnion { index, step } => {
            put_long(out, i64::from(*index));
            run(step, r, out)?;
        }
        Step::Fail(message) => return Err(DecodeError::new(message.clone())),
    }
    Ok(())
}

fn emit_defaults(slots: &[Slot], out: &mut Vec<u8>) {
    for slot in slots {
        if let Slot::Default(bytes) = slot {
            out.extend_from_slice(bytes);
        }
    }
}

fn run_record(rec: &RecordStep, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Decoded<()> {
    if rec.ordered {
        let mut next = 0;
        for f in &rec.fields {
            match &f.action {
                FieldAction::Skip(node) => skip(node, r).map_err(|e| e.in_field(&f.name))?,
                FieldAction::Into { position, step } => {
                    emit_defaults(&rec.slots[next..*position], out);
                    run(step, r, out).map_err(|e| e.in_field(&f.name))?;
                    next = position + 1;
                }
            }
        }
        emit_defaults(&rec.slots[next..], out);
        return Ok(());
    }
    // The writer's fields in another order: each into a scratch buffer first.
    let mut scratch = Vec::new();
    let mut ranges = vec![(0, 0); rec.slots.len()];
    for f in &rec.fields {
        match &f.action {
            FieldAction::Skip(node) => skip(node, r).map_err(|e| e.in_field(&f.name))?,
            FieldAction::Into { position, step } => {
                let start = scratch.len();
                run(step, r, &mut scratch).map_err(|e| e.in_field(&f.name))?;
                ranges[*position] = (start, scratch.len());
            }
        }
    }
    for (slot, (start, end)) in rec.slots.iter().zip(ranges) {
        match slot {
            Slot::Writer => out.extend_from_slice(&scratch[start..end]),
            Slot::Default(bytes) => out.extend_from_slice(bytes),
        }
    }
    Ok(())
}

/// Appends the binary encoding of a JSON default value (the specification's rules
/// for field defaults): a union's default is for its first branch; `bytes`, `fixed`
/// and a decimal's default is a string whose code points 0–255 are the bytes; a
/// record's is an object (missing fields take their own defaults); an enum's is a
/// symbol; `float` and `double` also take "NaN", "Infinity" and "-Infinity".
pub fn encode_json(node: &Node, json: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let wrong = || format!("{json} is not a valid {}", type_name(node));
    match node {
        Node::Null => json.is_null().then_some(()).ok_or_else(wrong)?,
        Node::Boolean => put_boolean(out, json.as_bool().ok_or_else(wrong)?),
        Node::Int(_) => {
            let v = json.as_i64().ok_or_else(wrong)?;
            let v = i32::try_from(v).map_err(|_| wrong())?;
            put_long(out, i64::from(v));
        }
        Node::Long(_) => put_long(out, json.as_i64().ok_or_else(wrong)?),
        Node::Float => put_float(out, json_float(json).ok_or_else(wrong)? as f32),
        Node::Double => put_double(out, json_float(json).ok_or_else(wrong)?),
        Node::String => put_bytes(out, json.as_str().ok_or_else(wrong)?.as_bytes()),
        Node::Bytes | Node::Decimal { fixed: None, .. } => {
            put_bytes(out, &latin1(json).ok_or_else(wrong)?)
        }
        Node::Fixed(n) | Node::Decimal { fixed: Some(n), .. } => {
            let bytes = latin1(json).ok_or_else(wrong)?;
            if bytes.len() != *n {
                return Err(format!(
                    "{json} has {} bytes, not the {n} of a fixed({n})",
                    bytes.len()
                ));
            }
            out.extend_from_slice(&bytes);
        }
        Node::Enum(symbols) => {
            let s = json.as_str().ok_or_else(wrong)?;
            let i = symbols.iter().position(|t| t == s).ok_or_else(|| {
                format!("{s:?} is not a symbol of the enum [{}]", symbols.join(", "))
            })?;
            put_long(out, i as i64);
        }
        Node::Array(item) => {
            let items = json.as_array().ok_or_else(wrong)?;
            if !items.is_empty() {
                put_long(out, items.len() as i64);
                for v in items {
                    encode_json(item, v, out)?;
                }
            }
            put_long(out, 0);
        }
        Node::Map(value) => {
            let entries = json.as_object().ok_or_else(wrong)?;
            if !entries.is_empty() {
                put_long(out, entries.len() as i64);
                for (k, v) in entries {
                    put_bytes(out, k.as_bytes());
                    encode_json(value, v, out).map_err(|e| format!("key {k:?}: {e}"))?;
                }
            }
            put_long(out, 0);
        }
        Node::Record(rec) => {
            let object = json.as_object().ok_or_else(wrong)?;
            for f in rec.iter() {
                let v = object
                    .get(&f.name)
                    .or(f.default.as_ref())
                    .ok_or_else(|| format!("{json} has no field {} (nor a default)", f.name))?;
                encode_json(&f.node, v, out).map_err(|e| format!("field {}: {e}", f.name))?;
            }
        }
        Node::Optional { .. } | Node::Union(_) => {
            let first = branches(node).expect("a union")[0];
            put_long(out, 0);
            encode_json(first, json, out)
                .map_err(|e| format!("a union's default is for its first branch: {e}"))?;
        }
    }
    Ok(())
}

fn json_float(json: &Value) -> Option<f64> {
    match json {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// A JSON string's code points 0–255 as bytes (how Avro writes bytes defaults).
fn latin1(json: &Value) -> Option<Vec<u8>> {
    json.as_str()?
        .chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

#[cfg(test)]
#[allow(deprecated)] // apache-avro's one-datum reader and writer, the oracle
mod tests {
    use super::*;
    use crate::binary::put_str;
    use crate::plan::compile;
    use apache_avro::types::Value as AvroValue;
    use apache_avro::Schema;

    fn parse(json: &str) -> Schema {
        Schema::parse_str(json).unwrap()
    }

    fn plan(json: &str) -> Node {
        compile(&parse(json)).unwrap()
    }

    /// Encodes `value` with apache-avro under `writer`, transcodes it with creek-avro,
    /// and compares with apache-avro's own resolution written under `reader`.
    /// `exact`: also compare the bytes (not with maps, whose order apache-avro loses).
    fn oracle(writer: &str, reader: &str, value: AvroValue, exact: bool) {
        let (ws, rs) = (parse(writer), parse(reader));
        let body = apache_avro::to_avro_datum(&ws, value).unwrap();
        let resolved = apache_avro::from_avro_datum(&ws, &mut &body[..], Some(&rs)).unwrap();
        let expected = apache_avro::to_avro_datum(&rs, resolved.clone()).unwrap();

        let resolution = resolve(&compile(&ws).unwrap(), &compile(&rs).unwrap()).unwrap();
        let mut out = vec![0xAA]; // appends after what is there
        resolution.transcode(&body, &mut out).unwrap();
        assert_eq!(out[0], 0xAA);
        let out = &out[1..];
        crate::walk::validate(&compile(&rs).unwrap(), out).unwrap();
        let ours = apache_avro::from_avro_datum(&rs, &mut &out[..], None).unwrap();
        assert_eq!(ours, resolved, "{writer} -> {reader}");
        if exact {
            assert_eq!(out, &expected[..], "{writer} -> {reader}");
        }
    }

    fn rec(fields: Vec<(&str, AvroValue)>) -> AvroValue {
        AvroValue::Record(fields.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn records_match_fields_by_name_skip_and_default() {
        let writer = r#"{"type":"record","name":"r","fields":[
            {"name":"a","type":"int"},
            {"name":"gone","type":{"type":"array","items":"string"}},
            {"name":"b","type":["null","string"]},
            {"name":"c","type":"long"}]}"#;
        // Reordered, one field dropped, defaults of several types added. (A bytes
        // default is ASCII here: apache-avro 0.22 writes a non-ASCII one as UTF-8,
        // where the specification, and Java, take each code point as one byte.)
        let reader = r#"{"type":"record","name":"r","fields":[
            {"name":"c","type":"long"},
            {"name":"new_int","type":"int","default":42},
            {"name":"b","type":["null","string"]},
            {"name":"new_opt","type":["null","string"],"default":null},
            {"name":"new_str","type":["string","null"],"default":"x"},
            {"name":"new_bytes","type":"bytes","default":"A\u0001"},
            {"name":"new_fixed","type":{"type":"fixed","name":"f2","size":2},"default":"ab"},
            {"name":"new_enum","type":{"type":"enum","name":"e","symbols":["A","B"]},"default":"B"},
            {"name":"new_arr","type":{"type":"array","items":"int"},"default":[1,2]},
            {"name":"new_rec","type":{"type":"record","name":"in","fields":[
                {"name":"x","type":"double"},{"name":"y","type":"string","default":"d"}]},
                "default":{"x":1.5}},
            {"name":"a","type":"long"}]}"#;
        let value = rec(vec![
            ("a", AvroValue::Int(-7)),
            (
                "gone",
                AvroValue::Array(vec![AvroValue::String("z".into()); 3]),
            ),
            (
                "b",
                AvroValue::Union(1, Box::new(AvroValue::String("hi".into()))),
            ),
            ("c", AvroValue::Long(1 << 40)),
        ]);
        oracle(writer, reader, value, true);
        // The same field order on both sides takes the streaming path.
        let reader = r#"{"type":"record","name":"r","fields":[
            {"name":"a","type":"long"},
            {"name":"mid","type":"string","default":"m"},
            {"name":"c","type":"double"},
            {"name":"end","type":"boolean","default":true}]}"#;
        let value = rec(vec![
            ("a", AvroValue::Int(3)),
            ("gone", AvroValue::Array(vec![])),
            ("b", AvroValue::Union(0, Box::new(AvroValue::Null))),
            ("c", AvroValue::Long(-5)),
        ]);
        oracle(writer, reader, value, true);
    }

    #[test]
    fn promotions_and_logical_types() {
        let writer = r#"{"type":"record","name":"r","fields":[
            {"name":"i2l","type":"int"},{"name":"i2f","type":"int"},{"name":"i2d","type":"int"},
            {"name":"l2f","type":"long"},{"name":"l2d","type":"long"},{"name":"f2d","type":"float"},
            {"name":"s2b","type":"string"},{"name":"b2s","type":"bytes"},
            {"name":"date","type":{"type":"int","logicalType":"date"}},
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;
        let reader = r#"{"type":"record","name":"r","fields":[
            {"name":"i2l","type":"long"},{"name":"i2f","type":"float"},{"name":"i2d","type":"double"},
            {"name":"l2f","type":"float"},{"name":"l2d","type":"double"},{"name":"f2d","type":"double"},
            {"name":"s2b","type":"bytes"},{"name":"b2s","type":"string"},
            {"name":"date","type":{"type":"int","logicalType":"date"}},
            {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;
        let value = rec(vec![
            ("i2l", AvroValue::Int(i32::MIN)),
            ("i2f", AvroValue::Int(16_777_217)),
            ("i2d", AvroValue::Int(-3)),
            ("l2f", AvroValue::Long(i64::MAX)),
            ("l2d", AvroValue::Long(1 << 60)),
            ("f2d", AvroValue::Float(0.1)),
            ("s2b", AvroValue::String("olá".into())),
            ("b2s", AvroValue::Bytes(b"abc".to_vec())),
            ("date", AvroValue::Date(19_000)),
            ("ts", AvroValue::TimestampMillis(1_618_269_963_655)),
        ]);
        oracle(writer, reader, value, true);
    }

    #[test]
    fn enums_fixed_arrays_and_maps() {
        let writer = r#"{"type":"record","name":"r","fields":[
            {"name":"e","type":{"type":"enum","name":"e","symbols":["A","B","C"]}},
            {"name":"f","type":{"type":"fixed","name":"f","size":3}},
            {"name":"arr","type":{"type":"array","items":{"type":"record","name":"p","fields":[
                {"name":"x","type":"int"},{"name":"y","type":"int"}]}}},
            {"name":"m","type":{"type":"map","values":"int"}}]}"#;
        let reader = r#"{"type":"record","name":"r","fields":[
            {"name":"e","type":{"type":"enum","name":"e","symbols":["C","B","A","D"]}},
            {"name":"f","type":{"type":"fixed","name":"f","size":3}},
            {"name":"arr","type":{"type":"array","items":{"type":"record","name":"p","fields":[
                {"name":"y","type":"double"},{"name":"z","type":"int","default":0}]}}},
            {"name":"m","type":{"type":"map","values":"long"}}]}"#;
        let point = |x, y| rec(vec![("x", AvroValue::Int(x)), ("y", AvroValue::Int(y))]);
        let value = |entries: Vec<(&str, i32)>| {
            rec(vec![
                ("e", AvroValue::Enum(0, "A".into())),
                ("f", AvroValue::Fixed(3, vec![1, 2, 3])),
                ("arr", AvroValue::Array(vec![point(1, 2), point(-3, 4)])),
                (
                    "m",
                    AvroValue::Map(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), AvroValue::Int(v)))
                            .collect(),
                    ),
                ),
            ])
        };
        oracle(writer, reader, value(vec![("k", 9)]), true);
        oracle(
            writer,
            reader,
            value(vec![("a", 1), ("b", -2), ("c", 3)]),
            false,
        );
    }

    #[test]
    fn unions_on_either_side() {
        // Writer union to a reader union of other order, with a promotion inside.
        oracle(
            r#"["null","int","string"]"#,
            r#"["string","long","null"]"#,
            AvroValue::Union(1, Box::new(AvroValue::Int(5))),
            true,
        );
        oracle(
            r#"["null","int","string"]"#,
            r#"["string","long","null"]"#,
            AvroValue::Union(0, Box::new(AvroValue::Null)),
            true,
        );
        // Non-union writer into a reader union: the index of the matching branch.
        oracle(
            r#""string""#,
            r#"["null","string"]"#,
            AvroValue::String("s".into()),
            true,
        );
        oracle(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}"#,
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":["null","long"]}]}"#,
            rec(vec![("a", AvroValue::Int(77))]),
            true,
        );
        // Writer optional into a non-union reader: a null body cannot be read.
        let writer = plan(r#"["null","string"]"#);
        let resolution = resolve(&writer, &Node::String).unwrap();
        let mut body = Vec::new();
        put_long(&mut body, 1);
        put_str(&mut body, "ok");
        let mut out = Vec::new();
        resolution.transcode(&body, &mut out).unwrap();
        assert_eq!(out, body[1..]);
        out.clear();
        let err = resolution.transcode(&[0], &mut out).unwrap_err();
        assert!(
            err.to_string()
                .contains("the writer's null cannot be read as the reader's string"),
            "{err}"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn identical_schemas_copy() {
        let json =
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":["null","string"]}]}"#;
        let resolution = resolve(&plan(json), &plan(json)).unwrap();
        assert!(resolution.is_identity());
        let mut body = Vec::new();
        put_long(&mut body, 1);
        put_str(&mut body, "x");
        let mut out = Vec::new();
        resolution.transcode(&body, &mut out).unwrap();
        assert_eq!(out, body);
        body.push(0);
        assert!(resolution
            .transcode(&body, &mut out)
            .unwrap_err()
            .to_string()
            .contains("bytes left"));
    }

    #[test]
    fn errors_name_fields_and_types() {
        let writer = plan(r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}"#);
        let reader = plan(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"needed","type":"string"}]}"#,
        );
        let err = resolve(&writer, &reader).unwrap_err().to_string();
        assert_eq!(
            err,
            "the reader's field needed is not in the writer's record r and has no default"
        );

        let reader = plan(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"record","name":"in","fields":[{"name":"x","type":"int"}]}}]}"#,
        );
        let writer2 = plan(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":{"type":"record","name":"in","fields":[{"name":"x","type":"string"}]}}]}"#,
        );
        let err = resolve(&writer2, &reader).unwrap_err().to_string();
        assert_eq!(
            err,
            "field a.x: the writer's string cannot be read as the reader's int"
        );
        let err = resolve(&writer, &reader).unwrap_err().to_string();
        assert_eq!(
            err,
            "field a: the writer's int cannot be read as the reader's record in"
        );
        let err = resolve(
            &plan(r#"{"type":"fixed","name":"f","size":4}"#),
            &plan(r#"{"type":"fixed","name":"f","size":8}"#),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "the writer's fixed(4) cannot be read as the reader's fixed(8)"
        );
        let err = resolve(&plan(r#""long""#), &plan(r#"["null","int"]"#))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the writer's long matches no branch of the reader's union [null, int]"
        );
        // A default that does not fit its type.
        let reader = plan(
            r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"},{"name":"n","type":["null","int"],"default":3}]}"#,
        );
        let err = resolve(&writer, &reader).unwrap_err().to_string();
        assert!(
            err.starts_with("the default of the reader's field n: a union's default is for its first branch: 3 is not a valid null"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_enum_symbol_fails_when_used() {
        let writer = plan(r#"{"type":"enum","name":"e","symbols":["A","GONE"]}"#);
        let reader = plan(r#"{"type":"enum","name":"e","symbols":["Z","A"]}"#);
        let resolution = resolve(&writer, &reader).unwrap();
        let mut out = Vec::new();
        resolution.transcode(&[0], &mut out).unwrap();
        assert_eq!(out, [2]); // A is the reader's symbol 1
        let err = resolution.transcode(&[2], &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the writer's enum symbol GONE is not among the reader's symbols [Z, A] (enum defaults are not supported)"
        );
        let err = resolution.transcode(&[4], &mut Vec::new()).unwrap_err();
        assert_eq!(err.to_string(), "enum symbol 2 does not exist");
    }

    #[test]
    fn forged_block_counts_are_errors_not_allocations() {
        let writer = plan(r#"{"type":"array","items":"long"}"#);
        let reader = plan(r#"{"type":"array","items":"double"}"#);
        let resolution = resolve(&writer, &reader).unwrap();
        let mut body = Vec::new();
        put_long(&mut body, i64::MAX);
        put_long(&mut body, 1);
        let err = resolution.transcode(&body, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("is longer than"), "{err}");
        // Empty items: a huge count is refused, a small one written out.
        let writer = plan(r#"{"type":"array","items":"null"}"#);
        let reader = plan(r#"{"type":"array","items":["int","null"]}"#);
        let resolution = resolve(&writer, &reader).unwrap();
        let mut body = Vec::new();
        put_long(&mut body, 3);
        put_long(&mut body, 0);
        let mut out = Vec::new();
        resolution.transcode(&body, &mut out).unwrap();
        assert_eq!(out, [6, 2, 2, 2, 0]);
        body.clear();
        put_long(&mut body, i64::MAX);
        put_long(&mut body, 0);
        let err = resolution.transcode(&body, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("empty items"), "{err}");
        let err = crate::walk::validate(&writer, &body).unwrap_err();
        assert!(err.to_string().contains("empty items"), "{err}");
    }

    #[test]
    fn json_defaults_follow_the_spec() {
        let enc = |schema: &str, json: Value| {
            let mut out = Vec::new();
            encode_json(&plan(schema), &json, &mut out).map(|()| out)
        };
        use serde_json::json;
        assert_eq!(enc(r#""int""#, json!(-1)).unwrap(), [1]);
        assert!(enc(r#""int""#, json!(1u64 << 40)).is_err());
        assert_eq!(enc(r#""double""#, json!("NaN")).unwrap().len(), 8);
        assert_eq!(
            enc(r#""bytes""#, json!("\u{00ff}a")).unwrap(),
            [4, 0xff, b'a']
        );
        assert!(enc(r#""bytes""#, json!("\u{0100}")).is_err());
        assert_eq!(
            enc(r#"{"type":"map","values":"boolean"}"#, json!({"k": true})).unwrap(),
            [2, 2, b'k', 1, 0]
        );
        assert_eq!(enc(r#"["null","int"]"#, json!(null)).unwrap(), [0]);
        assert_eq!(enc(r#"["int","null"]"#, json!(2)).unwrap(), [0, 4]);
        assert!(
            enc(r#"{"type":"enum","name":"e","symbols":["A"]}"#, json!("B"))
                .unwrap_err()
                .contains("not a symbol")
        );
        assert_eq!(
            enc(
                r#"{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}"#,
                json!("\u{0001}\u{0000}")
            )
            .unwrap(),
            [4, 1, 0]
        );
    }
}
