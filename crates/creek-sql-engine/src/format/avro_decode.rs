//! A direct Avro binary decoder: reads a datum with its writer schema
//! straight into SQL values of the reader's types, skipping fields nobody
//! reads, without building `apache_avro::types::Value`s first.
//!
//! Schemas using types it does not know ([`super::avro_types::supported`] is
//! false) go through `apache_avro`'s reader instead.

use std::sync::Arc;

use apache_avro::schema::{InnerDecimalSchema, RecordSchema, Schema};

use creek_sql::types::SqlType;
use creek_sql::value::{Decimal, Value};

use super::avro_types::{coerce, is_general_union, union_member_name, Names};
use super::Column;

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    names: &'a Names,
}

const EOF: &str = "Unexpected end of Avro data";

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], names: &'a Names) -> Reader<'a> {
        Reader { buf, names }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(EOF.into());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn long(&mut self) -> Result<i64, String> {
        let mut v: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *self.buf.first().ok_or(EOF)?;
            self.buf = &self.buf[1..];
            if shift >= 64 {
                return Err("Avro varint too long".into());
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    fn int(&mut self) -> Result<i32, String> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("Avro int out of range: {v}"))
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("Negative Avro length: {n}"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.bytes()?).map_err(|e| format!("Invalid Avro string: {e}"))
    }

    /// Item count of the next array/map block (0 at the end).
    fn block(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        if n < 0 {
            self.long()?; // block size in bytes
            Ok(n.unsigned_abs() as usize)
        } else {
            Ok(n as usize)
        }
    }

    /// The value of `schema` as `ty`, or skipped when `ty` is `None`.
    pub(crate) fn read(&mut self, schema: &Schema, ty: Option<&SqlType>) -> Result<Value, String> {
        let schema = self.names.resolve(schema)?;
        let scalar = match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Boolean(self.take(1)?[0] != 0),
            Schema::Int => Value::Int(self.int()?),
            Schema::Long => Value::Bigint(self.long()?),
            Schema::Float => {
                let b = self.take(4)?;
                Value::Double(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
            }
            Schema::Double => {
                let b = self.take(8)?;
                Value::Double(f64::from_le_bytes(b.try_into().map_err(|_| EOF)?))
            }
            Schema::Bytes => {
                let b = self.bytes()?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::bytes(b)
            }
            Schema::String | Schema::Uuid(_) => {
                let s = self.str()?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::string(s)
            }
            Schema::Fixed(f) => {
                let b = self.take(f.size)?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::bytes(b)
            }
            Schema::Enum(e) => {
                let i = self.int()?;
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                let sym = e
                    .symbols
                    .get(i as usize)
                    .ok_or_else(|| format!("Avro enum index {i} out of range"))?;
                Value::string(sym.as_str())
            }
            Schema::Date => Value::Date(self.int()?),
            Schema::TimeMillis => Value::Time(self.int()? as i64),
            Schema::TimeMicros => Value::Time(self.long()? / 1000),
            Schema::TimestampMillis | Schema::LocalTimestampMillis => {
                Value::Timestamp(self.long()?)
            }
            Schema::TimestampMicros | Schema::LocalTimestampMicros => {
                Value::Timestamp(self.long()? / 1000)
            }
            Schema::Decimal(d) => {
                let b = match &d.inner {
                    InnerDecimalSchema::Bytes => self.bytes()?,
                    InnerDecimalSchema::Fixed(f) => self.take(f.size)?,
                };
                if ty.is_none() {
                    return Ok(Value::Null);
                }
                Value::Decimal(decimal_from_bytes(b, d.scale as u32)?)
            }
            Schema::Union(u) => {
                let i = self.long()?;
                let branch = u
                    .variants()
                    .get(i as usize)
                    .ok_or_else(|| format!("Avro union index {i} out of range"))?;
                if let (true, Some(SqlType::Struct(fields))) = (is_general_union(u), ty) {
                    if !matches!(branch, Schema::Null) {
                        // Connect's union struct: the branch's field is set.
                        let member = union_member_name(self.names.resolve(branch)?);
                        let target = fields
                            .iter()
                            .position(|f| f.name.eq_ignore_ascii_case(&member));
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
                }
                return self.read(branch, ty);
            }
            Schema::Array(a) => return self.array(&a.items, ty),
            Schema::Map(m) => {
                let (kt, vt) = match ty {
                    Some(SqlType::Map(k, v)) => (Some(&**k), Some(&**v)),
                    None => (None, None),
                    Some(other) => return Err(format!("Cannot convert an Avro map to {other}")),
                };
                let mut out = Vec::new();
                loop {
                    let n = self.block()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        let k = self.str()?;
                        let v = self.read(&m.types, vt)?;
                        if let Some(kt) = kt {
                            out.push((coerce(Value::string(k), kt)?, v));
                        }
                    }
                }
                if kt.is_none() {
                    return Ok(Value::Null);
                }
                return Ok(Value::Map(out));
            }
            Schema::Record(r) => return self.record(r, ty),
            other => return Err(format!("Unsupported Avro type: {other:?}")),
        };
        match ty {
            None => Ok(Value::Null),
            Some(ty) if same_type(&scalar, ty) => Ok(scalar),
            Some(ty) => coerce(scalar, ty),
        }
    }

    fn array(&mut self, items: &Schema, ty: Option<&SqlType>) -> Result<Value, String> {
        match ty {
            None => {
                loop {
                    let n = self.block()?;
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
                    let n = self.block()?;
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
                let entry = match self.names.resolve(items)? {
                    Schema::Union(u) => u
                        .variants()
                        .iter()
                        .find(|s| !matches!(s, Schema::Null))
                        .map(|s| self.names.resolve(s))
                        .transpose()?,
                    s => Some(s),
                };
                let Some(Schema::Record(r)) = entry else {
                    return Err(format!("Cannot convert an Avro array to {}", ty.unwrap()));
                };
                let entry_ty = SqlType::Struct(vec![
                    creek_sql::types::Field::new("key", (**kt).clone()),
                    creek_sql::types::Field::new("value", (**vt).clone()),
                ]);
                let _ = r;
                let mut out = Vec::new();
                loop {
                    let n = self.block()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        match self.read(items, Some(&entry_ty))? {
                            Value::Struct(mut kv) if kv.len() == 2 => {
                                let v = std::mem::replace(&mut kv[1].1, Value::Null);
                                let k = std::mem::replace(&mut kv[0].1, Value::Null);
                                out.push((k, v));
                            }
                            _ => {}
                        }
                    }
                }
                Ok(Value::Map(out))
            }
            Some(other) => Err(format!("Cannot convert an Avro array to {other}")),
        }
    }

    fn record(&mut self, r: &RecordSchema, ty: Option<&SqlType>) -> Result<Value, String> {
        match ty {
            None => {
                for f in &r.fields {
                    self.read(&f.schema, None)?;
                }
                Ok(Value::Null)
            }
            Some(SqlType::Struct(fields)) => {
                let mut values = vec![Value::Null; fields.len()];
                for f in &r.fields {
                    let target = field_position(fields.iter().map(|t| t.name.as_str()), &f.name);
                    let v = self.read(&f.schema, target.map(|i| &fields[i].ty))?;
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
            Some(other) => Err(format!("Cannot convert an Avro record to {other}")),
        }
    }

    /// A top-level record as a row of `columns`.
    pub(crate) fn row(
        &mut self,
        schema: &Schema,
        columns: &[Column],
    ) -> Result<Option<Vec<Value>>, String> {
        let schema = self.names.resolve(schema)?;
        match schema {
            Schema::Union(u) => {
                let i = self.long()?;
                let branch = u
                    .variants()
                    .get(i as usize)
                    .ok_or_else(|| format!("Avro union index {i} out of range"))?;
                self.row(branch, columns)
            }
            Schema::Null => Ok(None),
            Schema::Record(r) => {
                let mut row = vec![Value::Null; columns.len()];
                for f in &r.fields {
                    let target = field_position(columns.iter().map(|c| c.name.as_str()), &f.name);
                    let v = self
                        .read(&f.schema, target.map(|i| &columns[i].ty))
                        .map_err(|e| format!("{e} (field {})", f.name))?;
                    if let Some(i) = target {
                        row[i] = v;
                    }
                }
                Ok(Some(row))
            }
            other => Err(format!(
                "Expected an Avro record for the columns, got a {other:?}"
            )),
        }
    }
}

/// Where each field of a top-level writer record goes among the columns,
/// worked out once per writer schema instead of by name per record.
pub(crate) enum RowPlan {
    /// The schema is a record: each field's column, or `None` to skip it.
    Record(Vec<Option<usize>>),
    /// The schema is a union: per branch, the plan of a record branch.
    Union(Vec<Option<Vec<Option<usize>>>>),
    /// Anything else: decode without a plan.
    None,
}

impl RowPlan {
    pub(crate) fn of(schema: &Schema, names: &Names, columns: &[Column]) -> RowPlan {
        let targets = |r: &RecordSchema| -> Vec<Option<usize>> {
            r.fields
                .iter()
                .map(|f| field_position(columns.iter().map(|c| c.name.as_str()), &f.name))
                .collect()
        };
        match names.resolve(schema) {
            Ok(Schema::Record(r)) => RowPlan::Record(targets(r)),
            Ok(Schema::Union(u)) => RowPlan::Union(
                u.variants()
                    .iter()
                    .map(|v| match names.resolve(v) {
                        Ok(Schema::Record(r)) => Some(targets(r)),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => RowPlan::None,
        }
    }
}

impl<'a> Reader<'a> {
    /// [`Reader::row`] with the field-to-column mapping of `plan`; columns
    /// whose `wanted` entry is false are skipped (left NULL).
    pub(crate) fn planned_row(
        &mut self,
        schema: &Schema,
        columns: &[Column],
        plan: &RowPlan,
        wanted: &[bool],
    ) -> Result<Option<Vec<Value>>, String> {
        let schema = self.names.resolve(schema)?;
        match (schema, plan) {
            (Schema::Record(r), RowPlan::Record(targets)) => {
                self.planned_record(r, columns, targets, wanted).map(Some)
            }
            (Schema::Union(u), RowPlan::Union(branches)) => {
                let i = self.long()?;
                let branch = u
                    .variants()
                    .get(i as usize)
                    .ok_or_else(|| format!("Avro union index {i} out of range"))?;
                match (self.names.resolve(branch)?, branches.get(i as usize)) {
                    (Schema::Record(r), Some(Some(targets))) => {
                        self.planned_record(r, columns, targets, wanted).map(Some)
                    }
                    _ => self.row(branch, columns),
                }
            }
            _ => self.row(schema, columns),
        }
    }

    fn planned_record(
        &mut self,
        r: &RecordSchema,
        columns: &[Column],
        targets: &[Option<usize>],
        wanted: &[bool],
    ) -> Result<Vec<Value>, String> {
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
            for (i, f) in r.fields.iter().enumerate() {
                let v = self
                    .read(&f.schema, ty(i))
                    .map_err(|e| format!("{e} (field {})", f.name))?;
                row.push(v);
            }
            return Ok(row);
        }
        row.extend(std::iter::repeat_with(|| Value::Null).take(columns.len()));
        for (f, target) in r.fields.iter().zip(targets) {
            let v = self
                .read(&f.schema, target.and_then(ty))
                .map_err(|e| format!("{e} (field {})", f.name))?;
            if let Some(i) = target {
                row[*i] = v;
            }
        }
        Ok(row)
    }
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

pub(crate) fn decimal_from_bytes(bytes: &[u8], scale: u32) -> Result<Decimal, String> {
    if bytes.len() > 16 {
        return Err("Avro decimal too large".into());
    }
    let mut v: i128 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        -1
    } else {
        0
    };
    for b in bytes {
        v = (v << 8) | *b as i128;
    }
    Ok(Decimal::new(v, scale))
}
