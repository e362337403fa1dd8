//! The Avro decoder of the AVRO format: walks a body with its writer schema's
//! plan ([`creek_avro::Node`]) straight into SQL values of the reader's types,
//! skipping fields nobody reads, without building generic Avro values first.

use std::sync::Arc;

use creek_avro::{
    decimal_from_bytes, DecodeError, Decoded, IntKind, LongKind, Node, RecordNode, Unit,
};

use creek_sql::types::SqlType;
use creek_sql::value::{Decimal, Value};

use super::avro_types::{coerce, is_general_union, map_entry_record};
use super::Column;

/// Reads one body; a thin layer over the codec's [`creek_avro::Reader`] that
/// knows SQL values.
pub(crate) struct Reader<'a>(creek_avro::Reader<'a>);

fn convert_error(e: String) -> DecodeError {
    DecodeError::new(e)
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader(creek_avro::Reader::new(buf))
    }

    /// The value of `node` as `ty`, or skipped when `ty` is `None`.
    pub(crate) fn read(&mut self, node: &Node, ty: Option<&SqlType>) -> Decoded<Value> {
        let r = &mut self.0;
        let scalar = match node {
            Node::Null => Value::Null,
            Node::Boolean => Value::Boolean(r.boolean()?),
            Node::Int(kind) => {
                let i = r.int()?;
                match kind {
                    IntKind::Plain => Value::Int(i),
                    IntKind::Date => Value::Date(i),
                    IntKind::TimeMillis => Value::Time(i as i64),
                }
            }
            Node::Long(kind) => {
                let l = r.long()?;
                match kind {
                    LongKind::Plain => Value::Bigint(l),
                    LongKind::TimeMicros => Value::Time(l / 1000),
                    LongKind::Timestamp { unit, .. } => Value::Timestamp(match unit {
                        Unit::Millis => l,
                        Unit::Micros => l / 1000,
                        Unit::Nanos => l / 1_000_000,
                    }),
                }
            }
            Node::Float => Value::Double(r.float()? as f64),
            Node::Double => Value::Double(r.double()?),
            Node::Bytes => {
                let b = r.bytes()?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::bytes(b)
            }
            Node::String => {
                if ty.is_none() {
                    // Skipped: no need to check its UTF-8.
                    r.bytes()?;
                    return Ok(Value::Null);
                }
                Value::string(r.string()?)
            }
            Node::Fixed(n) => {
                let b = r.fixed(*n)?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::bytes(b)
            }
            Node::Enum(symbols) => {
                let s = r.symbol(symbols)?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::string(s)
            }
            Node::Decimal { scale, fixed, .. } => {
                let b = match fixed {
                    Some(n) => r.fixed(*n)?,
                    None => r.bytes()?,
                };
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::Decimal(Decimal::new(decimal_from_bytes(b)?, *scale as u32))
            }
            Node::Optional { null_index, inner } => {
                if r.branch(2)? == *null_index as usize {
                    return Ok(Value::Null);
                }
                return self.read(inner, ty);
            }
            Node::Union(u) => {
                let i = r.branch(u.branches.len())?;
                let branch = &u.branches[i];
                if let (true, Some(SqlType::Struct(fields)), Some(member)) =
                    (is_general_union(u), ty, &u.names[i])
                {
                    // Connect's union struct: the branch's field is set.
                    let target = fields
                        .iter()
                        .position(|f| f.name.eq_ignore_ascii_case(member));
                    let v = self.read(branch, target.map(|i| &fields[i].ty))?;
                    let mut out: Vec<(Arc<str>, Value)> = fields
                        .iter()
                        .map(|f| (Arc::from(f.name.as_str()), Value::Null))
                        .collect();
                    if let Some(i) = target {
                        out[i].1 = v;
                    }
                    return Ok(Value::Struct(out));
                }
                return self.read(branch, ty);
            }
            Node::Array(items) => return self.array(items, ty),
            Node::Map(values) => return self.map(values, ty),
            Node::Record(r) => return self.record(r, ty),
        };
        match ty {
            None => Ok(Value::Null),
            Some(ty) if same_type(&scalar, ty) => Ok(scalar),
            Some(ty) => coerce(scalar, ty).map_err(convert_error),
        }
    }

    fn map(&mut self, values: &Node, ty: Option<&SqlType>) -> Decoded<Value> {
        let (kt, vt) = match ty {
            Some(SqlType::Map(k, v)) => (Some(&**k), Some(&**v)),
            None => (None, None),
            Some(other) => {
                return Err(DecodeError::new(format!(
                    "Cannot convert an Avro map to {other}"
                )))
            }
        };
        let mut out = Vec::new();
        loop {
            let n = self.0.block_len()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let k = if kt.is_some() {
                    Some(self.0.string()?)
                } else {
                    self.0.bytes()?;
                    None
                };
                let v = self.read(values, vt)?;
                if let (Some(kt), Some(k)) = (kt, k) {
                    out.push((coerce(Value::string(k), kt).map_err(convert_error)?, v));
                }
            }
        }
        if kt.is_none() {
            return Ok(Value::Null);
        }
        Ok(Value::Map(out))
    }

    fn array(&mut self, items: &Node, ty: Option<&SqlType>) -> Decoded<Value> {
        match ty {
            None => {
                loop {
                    let n = self.0.block_len()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        self.read(items, None)?;
                    }
                }
                Ok(Value::Null)
            }
            Some(SqlType::Array(e)) => {
                let mut out = Vec::new();
                loop {
                    let n = self.0.block_len()?;
                    if n == 0 {
                        break;
                    }
                    out.reserve(n.min(1 << 16));
                    for _ in 0..n {
                        out.push(self.read(items, Some(e))?);
                    }
                }
                Ok(Value::Array(out))
            }
            Some(SqlType::Map(kt, vt)) => {
                // Connect's map entries: records of key and value.
                if map_entry_record(items).is_none() && !matches!(items, Node::Record(_)) {
                    return Err(DecodeError::new(format!(
                        "Cannot convert an Avro array to {}",
                        ty.expect("matched Some")
                    )));
                }
                let entry_ty = SqlType::Struct(vec![
                    creek_sql::types::Field::new("key", (**kt).clone()),
                    creek_sql::types::Field::new("value", (**vt).clone()),
                ]);
                let mut out = Vec::new();
                loop {
                    let n = self.0.block_len()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        if let Value::Struct(mut kv) = self.read(items, Some(&entry_ty))? {
                            if kv.len() == 2 {
                                let v = std::mem::replace(&mut kv[1].1, Value::Null);
                                let k = std::mem::replace(&mut kv[0].1, Value::Null);
                                out.push((k, v));
                            }
                        }
                    }
                }
                Ok(Value::Map(out))
            }
            Some(other) => Err(DecodeError::new(format!(
                "Cannot convert an Avro array to {other}"
            ))),
        }
    }

    fn record(&mut self, r: &RecordNode, ty: Option<&SqlType>) -> Decoded<Value> {
        match ty {
            None => {
                for f in r.iter() {
                    self.read(&f.node, None)?;
                }
                Ok(Value::Null)
            }
            Some(SqlType::Struct(fields)) => {
                let mut values = vec![Value::Null; fields.len()];
                for f in r.iter() {
                    let target = field_position(fields.iter().map(|t| t.name.as_str()), &f.name);
                    let v = self
                        .read(&f.node, target.map(|i| &fields[i].ty))
                        .map_err(|e| e.in_field(&f.name))?;
                    if let Some(i) = target {
                        values[i] = v;
                    }
                }
                Ok(Value::Struct(
                    fields
                        .iter()
                        .zip(values)
                        .map(|(f, v)| (Arc::from(f.name.as_str()), v))
                        .collect(),
                ))
            }
            Some(other) => Err(DecodeError::new(format!(
                "Cannot convert an Avro record to {other}"
            ))),
        }
    }
}

/// Where each field of a top-level writer record goes among the columns,
/// worked out once per writer schema instead of by name per record.
pub(crate) enum RowPlan {
    /// The schema is a record: each field's column, or `None` to skip it.
    Record(Vec<Option<usize>>),
    /// The schema is a union (or an optional record): per branch, the plan of
    /// a record branch; `None` for other branches.
    Union(Vec<Option<Vec<Option<usize>>>>),
    /// Anything else: not a row.
    None,
}

impl RowPlan {
    pub(crate) fn of(node: &Node, columns: &[Column]) -> RowPlan {
        let targets = |r: &RecordNode| -> Vec<Option<usize>> {
            r.iter()
                .map(|f| field_position(columns.iter().map(|c| c.name.as_str()), &f.name))
                .collect()
        };
        let branch = |n: &Node| match n {
            Node::Record(r) => Some(targets(r)),
            _ => None,
        };
        match node {
            Node::Record(r) => RowPlan::Record(targets(r)),
            Node::Optional { null_index, inner } => {
                let mut branches = vec![None, None];
                branches[1 - *null_index as usize] = branch(inner);
                RowPlan::Union(branches)
            }
            Node::Union(u) => RowPlan::Union(u.branches.iter().map(branch).collect()),
            _ => RowPlan::None,
        }
    }
}

impl<'a> Reader<'a> {
    /// A top-level record as a row of `columns` (`None` for a null union
    /// branch), with the field-to-column mapping of `plan`; columns whose
    /// `wanted` entry is false are skipped (left NULL).
    pub(crate) fn planned_row(
        &mut self,
        node: &Node,
        columns: &[Column],
        plan: &RowPlan,
        wanted: &[bool],
    ) -> Decoded<Option<Vec<Value>>> {
        let (record, targets) = match (node, plan) {
            (Node::Record(r), RowPlan::Record(targets)) => (&**r, targets),
            (Node::Null, _) => return Ok(None),
            (Node::Optional { null_index, inner }, RowPlan::Union(branches)) => {
                let i = self.0.branch(2)?;
                if i == *null_index as usize {
                    return Ok(None);
                }
                match (&**inner, &branches[i]) {
                    (Node::Record(r), Some(targets)) => (&**r, targets),
                    (other, _) => return Err(not_a_record(other)),
                }
            }
            (Node::Union(u), RowPlan::Union(branches)) => {
                let i = self.0.branch(u.branches.len())?;
                match (&u.branches[i], &branches[i]) {
                    (Node::Record(r), Some(targets)) => (&**r, targets),
                    (Node::Null, _) => return Ok(None),
                    (other, _) => return Err(not_a_record(other)),
                }
            }
            (other, _) => return Err(not_a_record(other)),
        };
        self.planned_record(record, columns, targets, wanted)
            .map(Some)
    }

    fn planned_record(
        &mut self,
        r: &RecordNode,
        columns: &[Column],
        targets: &[Option<usize>],
        wanted: &[bool],
    ) -> Decoded<Vec<Value>> {
        let ty = |i: usize| {
            wanted
                .get(i)
                .copied()
                .unwrap_or(true)
                .then(|| &columns[i].ty)
        };
        let mut row = Vec::with_capacity(columns.len());
        if targets.len() == columns.len() && targets.iter().enumerate().all(|(i, t)| *t == Some(i))
        {
            // Fields in column order, one each (a topic read with its own
            // schema): push them as they come.
            for (i, f) in r.iter().enumerate() {
                let v = self.read(&f.node, ty(i)).map_err(|e| e.in_field(&f.name))?;
                row.push(v);
            }
            return Ok(row);
        }
        row.extend(std::iter::repeat_with(|| Value::Null).take(columns.len()));
        for (f, target) in r.iter().zip(targets) {
            let v = self
                .read(&f.node, target.and_then(ty))
                .map_err(|e| e.in_field(&f.name))?;
            if let Some(i) = target {
                row[*i] = v;
            }
        }
        Ok(row)
    }
}

#[cold]
fn not_a_record(node: &Node) -> DecodeError {
    DecodeError::new(format!(
        "Expected an Avro record for the columns, got a {}",
        node.describe()
    ))
}

/// Whether a decoded scalar already has type `ty` (the common case, which
/// needs no coercion).
#[inline]
fn same_type(v: &Value, ty: &SqlType) -> bool {
    matches!(
        (v, ty),
        (Value::String(_), SqlType::String)
            | (Value::Int(_), SqlType::Int)
            | (Value::Bigint(_), SqlType::Bigint)
            | (Value::Double(_), SqlType::Double)
            | (Value::Boolean(_), SqlType::Boolean)
            | (Value::Date(_), SqlType::Date)
            | (Value::Time(_), SqlType::Time)
            | (Value::Timestamp(_), SqlType::Timestamp)
            | (Value::Bytes(_), SqlType::Bytes)
    )
}

/// The target position of writer field `name`: exact, then case-insensitive.
fn field_position<'n>(targets: impl Iterator<Item = &'n str> + Clone, name: &str) -> Option<usize> {
    targets.clone().position(|t| t == name).or_else(|| {
        targets
            .into_iter()
            .position(|t| t.eq_ignore_ascii_case(name))
    })
}
