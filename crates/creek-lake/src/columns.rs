//! Arrow columns built straight from Avro bodies (and from schemaless JSON).
//!
//! [`arrow_field`] maps a compiled Avro [`Node`] to an Arrow type; [`Col`] is the
//! matching column under construction. [`Col::decode`] reads one Avro value from a
//! [`Reader`] into the builders without any intermediate value, which is what makes
//! Avro → Parquet fast. [`Col::append_json`] feeds the same builders from JSON values
//! whose schema was inferred (`infer`).

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Decimal256Builder, FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int32Builder,
    Int64Builder, ListArray, MapArray, NullArray, NullBufferBuilder, StringBuilder, StructArray,
    Time32MillisecondBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    TimestampMillisecondBuilder, TimestampNanosecondBuilder,
};
use arrow::buffer::{OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{i256, DataType, Field, FieldRef, Fields, TimeUnit};
use serde_json::Value;

use crate::LakeError;
use creek_avro::{decimal_from_bytes, DecodeError, Decoded, IntKind, LongKind, Node, Reader, Unit};

/// The Arrow field for an Avro value: Avro's nullable unions become nullable
/// fields, logical types become Arrow's date/time/timestamp/decimal types.
pub(crate) fn arrow_field(name: &str, node: &Node) -> Result<Field, LakeError> {
    let (data_type, nullable) = arrow_type(node)?;
    Ok(Field::new(name, data_type, nullable))
}

fn arrow_type(node: &Node) -> Result<(DataType, bool), LakeError> {
    let dt = match node {
        Node::Null => return Ok((DataType::Null, true)),
        Node::Boolean => DataType::Boolean,
        Node::Int(IntKind::Plain) => DataType::Int32,
        Node::Int(IntKind::Date) => DataType::Date32,
        Node::Int(IntKind::TimeMillis) => DataType::Time32(TimeUnit::Millisecond),
        Node::Long(LongKind::Plain) => DataType::Int64,
        Node::Long(LongKind::TimeMicros) => DataType::Time64(TimeUnit::Microsecond),
        Node::Long(LongKind::Timestamp { unit, utc }) => DataType::Timestamp(
            match unit {
                Unit::Millis => TimeUnit::Millisecond,
                Unit::Micros => TimeUnit::Microsecond,
                Unit::Nanos => TimeUnit::Nanosecond,
            },
            utc.then(|| "UTC".into()),
        ),
        Node::Float => DataType::Float32,
        Node::Double => DataType::Float64,
        Node::Bytes => DataType::Binary,
        Node::String | Node::Enum(_) => DataType::Utf8,
        Node::Fixed(n) => DataType::FixedSizeBinary(fixed_width(*n)?),
        Node::Decimal {
            precision, scale, ..
        } => decimal_type(*precision, *scale)?,
        Node::Array(item) => DataType::List(Arc::new(arrow_field("element", item)?)),
        Node::Map(value) => DataType::Map(Arc::new(map_entries(value)?), false),
        Node::Record(fields) => {
            if fields.is_empty() {
                return Err(LakeError::not_supported(
                    "a record without fields in Parquet (Parquet has no empty groups)",
                ));
            }
            let fields: Result<Vec<Field>, LakeError> = fields
                .iter()
                .map(|f| arrow_field(&f.name, &f.node))
                .collect();
            DataType::Struct(fields?.into())
        }
        Node::Optional { inner, .. } => return Ok((arrow_type(inner)?.0, true)),
        Node::Union(u) => {
            let mut fields = Vec::new();
            for (branch, name) in u.branches.iter().zip(&u.names) {
                if let Some(name) = name {
                    fields.push(Field::new(name, arrow_type(branch)?.0, true));
                }
            }
            let nullable = u.names.iter().any(Option::is_none);
            return Ok((DataType::Struct(fields.into()), nullable));
        }
    };
    Ok((dt, false))
}

fn fixed_width(n: usize) -> Result<i32, LakeError> {
    i32::try_from(n).map_err(|_| LakeError::not_supported(format!("a fixed of {n} bytes")))
}

fn decimal_type(precision: usize, scale: usize) -> Result<DataType, LakeError> {
    if scale > precision {
        return Err(LakeError::convert(format!(
            "decimal scale {scale} is larger than its precision {precision}"
        )));
    }
    match precision {
        1..=38 => Ok(DataType::Decimal128(precision as u8, scale as i8)),
        39..=76 => Ok(DataType::Decimal256(precision as u8, scale as i8)),
        _ => Err(LakeError::not_supported(format!(
            "decimal precision {precision} in Parquet (at most 76)"
        ))),
    }
}

fn map_entries(value: &Node) -> Result<Field, LakeError> {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        arrow_field("value", value)?,
    ]);
    Ok(Field::new("key_value", DataType::Struct(entries), false))
}

/// A column under construction; its variants mirror [`arrow_type`].
pub(crate) enum Col {
    Null(usize),
    Boolean(BooleanBuilder),
    Int32(Int32Builder),
    Date(Date32Builder),
    TimeMillis(Time32MillisecondBuilder),
    Int64(Int64Builder),
    TimeMicros(Time64MicrosecondBuilder),
    TsMillis(TimestampMillisecondBuilder),
    TsMicros(TimestampMicrosecondBuilder),
    TsNanos(TimestampNanosecondBuilder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Binary(BinaryBuilder),
    Utf8(StringBuilder),
    Enum(StringBuilder, Arc<[String]>),
    Fixed(FixedSizeBinaryBuilder, usize),
    Decimal128 {
        builder: Decimal128Builder,
        fixed: Option<usize>,
        /// 10^precision: values must stay strictly inside ±limit.
        limit: i128,
    },
    Decimal256 {
        builder: Decimal256Builder,
        fixed: Option<usize>,
        limit: i256,
    },
    Struct(StructCol),
    List(ListCol),
    Map(MapCol),
    Optional {
        null_index: usize,
        inner: Box<Col>,
    },
    Union(UnionCol),
}

/// A struct column: a record's fields, or a union's branches.
pub(crate) struct StructCol {
    fields: Fields,
    cols: Vec<Col>,
    nulls: NullBufferBuilder,
}

pub(crate) struct ListCol {
    item_field: FieldRef,
    item: Box<Col>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

pub(crate) struct MapCol {
    entries_field: FieldRef,
    keys: StringBuilder,
    values: Box<Col>,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

/// A general union as Connect's `ConnectUnion` struct: the chosen branch's field is
/// set, the others are null; the whole struct is null for the null branch.
pub(crate) struct UnionCol {
    inner: StructCol,
    /// Per Avro branch, the struct field it fills (`None` for the null branch).
    slots: Vec<Option<usize>>,
}

const NO_NULLS_YET: usize = 1024;

impl Col {
    /// The column for an Avro value of `node`.
    pub(crate) fn for_node(node: &Node) -> Result<Col, LakeError> {
        let col = match node {
            Node::Null => Col::Null(0),
            Node::Boolean => Col::Boolean(BooleanBuilder::new()),
            Node::Int(IntKind::Plain) => Col::Int32(Int32Builder::new()),
            Node::Int(IntKind::Date) => Col::Date(Date32Builder::new()),
            Node::Int(IntKind::TimeMillis) => Col::TimeMillis(Time32MillisecondBuilder::new()),
            Node::Long(LongKind::Plain) => Col::Int64(Int64Builder::new()),
            Node::Long(LongKind::TimeMicros) => Col::TimeMicros(Time64MicrosecondBuilder::new()),
            Node::Long(LongKind::Timestamp { unit, utc }) => {
                let tz = utc.then_some("UTC");
                match unit {
                    Unit::Millis => {
                        Col::TsMillis(TimestampMillisecondBuilder::new().with_timezone_opt(tz))
                    }
                    Unit::Micros => {
                        Col::TsMicros(TimestampMicrosecondBuilder::new().with_timezone_opt(tz))
                    }
                    Unit::Nanos => {
                        Col::TsNanos(TimestampNanosecondBuilder::new().with_timezone_opt(tz))
                    }
                }
            }
            Node::Float => Col::Float32(Float32Builder::new()),
            Node::Double => Col::Float64(Float64Builder::new()),
            Node::Bytes => Col::Binary(BinaryBuilder::new()),
            Node::String => Col::Utf8(StringBuilder::new()),
            Node::Enum(symbols) => Col::Enum(StringBuilder::new(), symbols.clone()),
            Node::Fixed(n) => Col::Fixed(FixedSizeBinaryBuilder::new(fixed_width(*n)?), *n),
            Node::Decimal {
                precision,
                scale,
                fixed,
            } => match decimal_type(*precision, *scale)? {
                dt @ DataType::Decimal128(..) => Col::Decimal128 {
                    builder: Decimal128Builder::new().with_data_type(dt),
                    fixed: *fixed,
                    limit: 10i128.pow(*precision as u32),
                },
                dt => Col::Decimal256 {
                    builder: Decimal256Builder::new().with_data_type(dt),
                    fixed: *fixed,
                    limit: i256::from_i128(10).wrapping_pow(*precision as u32),
                },
            },
            Node::Array(item) => Col::List(ListCol {
                item_field: Arc::new(arrow_field("element", item)?),
                item: Box::new(Col::for_node(item)?),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(NO_NULLS_YET),
            }),
            Node::Map(value) => Col::Map(MapCol {
                entries_field: Arc::new(map_entries(value)?),
                keys: StringBuilder::new(),
                values: Box::new(Col::for_node(value)?),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(NO_NULLS_YET),
            }),
            Node::Record(_) => Col::Struct(StructCol::for_record(node)?),
            Node::Optional { null_index, inner } => Col::Optional {
                null_index: *null_index as usize,
                inner: Box::new(Col::for_node(inner)?),
            },
            Node::Union(u) => {
                let DataType::Struct(fields) = arrow_type(node)?.0 else {
                    unreachable!("a union maps to a struct")
                };
                let mut cols = Vec::new();
                let mut slots = Vec::new();
                for (branch, name) in u.branches.iter().zip(&u.names) {
                    if name.is_some() {
                        slots.push(Some(cols.len()));
                        cols.push(Col::for_node(branch)?);
                    } else {
                        slots.push(None);
                    }
                }
                Col::Union(UnionCol {
                    inner: StructCol {
                        fields,
                        cols,
                        nulls: NullBufferBuilder::new(NO_NULLS_YET),
                    },
                    slots,
                })
            }
        };
        Ok(col)
    }

    /// Reads one Avro value into the column.
    pub(crate) fn decode(&mut self, r: &mut Reader<'_>) -> Decoded<()> {
        match self {
            Col::Null(n) => *n += 1,
            Col::Boolean(b) => b.append_value(r.boolean()?),
            Col::Int32(b) => b.append_value(r.int()?),
            Col::Date(b) => b.append_value(r.int()?),
            Col::TimeMillis(b) => b.append_value(r.int()?),
            Col::Int64(b) => b.append_value(r.long()?),
            Col::TimeMicros(b) => b.append_value(r.long()?),
            Col::TsMillis(b) => b.append_value(r.long()?),
            Col::TsMicros(b) => b.append_value(r.long()?),
            Col::TsNanos(b) => b.append_value(r.long()?),
            Col::Float32(b) => b.append_value(r.float()?),
            Col::Float64(b) => b.append_value(r.double()?),
            Col::Binary(b) => b.append_value(r.bytes()?),
            Col::Utf8(b) => b.append_value(r.string()?),
            Col::Enum(b, symbols) => b.append_value(r.symbol(symbols)?),
            Col::Fixed(b, n) => b
                .append_value(r.fixed(*n)?)
                .expect("the slice has the builder's width"),
            Col::Decimal128 {
                builder,
                fixed,
                limit,
            } => {
                let raw = match fixed {
                    Some(n) => r.fixed(*n)?,
                    None => r.bytes()?,
                };
                let v = decimal_from_bytes(raw)?;
                if v >= *limit || v <= -*limit {
                    return Err(DecodeError::new(format!(
                        "decimal unscaled value {v} has more digits than the schema's precision"
                    )));
                }
                builder.append_value(v);
            }
            Col::Decimal256 {
                builder,
                fixed,
                limit,
            } => {
                let raw = match fixed {
                    Some(n) => r.fixed(*n)?,
                    None => r.bytes()?,
                };
                let v = be_i256(raw)?;
                if v >= *limit || v <= limit.wrapping_neg() {
                    return Err(DecodeError::new(format!(
                        "decimal unscaled value {v} has more digits than the schema's precision"
                    )));
                }
                builder.append_value(v);
            }
            Col::Struct(s) => s.decode(r)?,
            Col::List(l) => {
                let mut count = 0usize;
                loop {
                    let n = r.block_len()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        l.item.decode(r)?;
                    }
                    count += n;
                }
                push_offset(&mut l.offsets, count)?;
                l.nulls.append_non_null();
            }
            Col::Map(m) => {
                let mut count = 0usize;
                loop {
                    let n = r.block_len()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        m.keys.append_value(r.string()?);
                        m.values.decode(r)?;
                    }
                    count += n;
                }
                push_offset(&mut m.offsets, count)?;
                m.nulls.append_non_null();
            }
            Col::Optional { null_index, inner } => {
                if r.branch(2)? == *null_index {
                    inner.append_null();
                } else {
                    inner.decode(r)?;
                }
            }
            Col::Union(u) => {
                let branch = r.branch(u.slots.len())?;
                match u.slots[branch] {
                    None => u.inner.append_null(),
                    Some(slot) => {
                        for (i, col) in u.inner.cols.iter_mut().enumerate() {
                            if i == slot {
                                col.decode(r)
                                    .map_err(|e| e.in_field(u.inner.fields[i].name()))?;
                            } else {
                                col.append_null();
                            }
                        }
                        u.inner.nulls.append_non_null();
                    }
                }
            }
        }
        Ok(())
    }

    fn byte_sizes(&self, out: &mut Vec<usize>) {
        match self {
            Col::Binary(b) => out.push(b.values_slice().len()),
            Col::Utf8(b) | Col::Enum(b, _) => out.push(b.values_slice().len()),
            Col::Struct(s) => s.byte_sizes(out),
            Col::Union(u) => u.inner.byte_sizes(out),
            Col::Optional { inner, .. } => inner.byte_sizes(out),
            _ => {}
        }
    }

    fn reserve(&mut self, rows: usize, sizes: &mut impl Iterator<Item = usize>) {
        match self {
            Col::Binary(b) => {
                if let Some(bytes) = sizes.next().filter(|_| b.is_empty()) {
                    *b = BinaryBuilder::with_capacity(rows, bytes);
                }
            }
            Col::Utf8(b) | Col::Enum(b, _) => {
                if let Some(bytes) = sizes.next().filter(|_| b.is_empty()) {
                    *b = StringBuilder::with_capacity(rows, bytes);
                }
            }
            Col::Struct(s) => s.reserve(rows, sizes),
            Col::Union(u) => u.inner.reserve(rows, sizes),
            Col::Optional { inner, .. } => inner.reserve(rows, sizes),
            _ => {}
        }
    }

    /// Appends a null (also inside null parents, where Arrow still needs a slot).
    pub(crate) fn append_null(&mut self) {
        match self {
            Col::Null(n) => *n += 1,
            Col::Boolean(b) => b.append_null(),
            Col::Int32(b) => b.append_null(),
            Col::Date(b) => b.append_null(),
            Col::TimeMillis(b) => b.append_null(),
            Col::Int64(b) => b.append_null(),
            Col::TimeMicros(b) => b.append_null(),
            Col::TsMillis(b) => b.append_null(),
            Col::TsMicros(b) => b.append_null(),
            Col::TsNanos(b) => b.append_null(),
            Col::Float32(b) => b.append_null(),
            Col::Float64(b) => b.append_null(),
            Col::Binary(b) => b.append_null(),
            Col::Utf8(b) | Col::Enum(b, _) => b.append_null(),
            Col::Fixed(b, _) => b.append_null(),
            Col::Decimal128 { builder, .. } => builder.append_null(),
            Col::Decimal256 { builder, .. } => builder.append_null(),
            Col::Struct(s) => s.append_null(),
            Col::List(l) => {
                let last = *l.offsets.last().expect("offsets start with 0");
                l.offsets.push(last);
                l.nulls.append_null();
            }
            Col::Map(m) => {
                let last = *m.offsets.last().expect("offsets start with 0");
                m.offsets.push(last);
                m.nulls.append_null();
            }
            Col::Optional { inner, .. } => inner.append_null(),
            Col::Union(u) => u.inner.append_null(),
        }
    }

    /// Appends a JSON value to a column built by `infer` (Boolean, Int64, Float64,
    /// Utf8, Struct, List, Null). A Utf8 column takes any value: strings as they
    /// are, anything else as its JSON text (inference's answer to mixed types).
    pub(crate) fn append_json(&mut self, v: &Value) -> Decoded<()> {
        if v.is_null() {
            self.append_null();
            return Ok(());
        }
        match (self, v) {
            (Col::Boolean(b), Value::Bool(x)) => b.append_value(*x),
            (Col::Int64(b), Value::Number(n)) if n.is_i64() => {
                b.append_value(n.as_i64().expect("checked"))
            }
            (Col::Float64(b), Value::Number(n)) => {
                b.append_value(n.as_f64().unwrap_or(f64::NAN));
            }
            (Col::Utf8(b), Value::String(s)) => b.append_value(s),
            (Col::Utf8(b), other) => b.append_value(other.to_string()),
            (Col::Struct(s), Value::Object(map)) => s.append_object(map)?,
            (Col::List(l), Value::Array(items)) => {
                for item in items {
                    l.item.append_json(item)?;
                }
                push_offset(&mut l.offsets, items.len())?;
                l.nulls.append_non_null();
            }
            (_, v) => {
                return Err(DecodeError::new(format!(
                    "JSON value {v} does not fit the inferred column type"
                )))
            }
        }
        Ok(())
    }

    /// The finished array; the column is empty again afterwards.
    pub(crate) fn finish(&mut self) -> Result<ArrayRef, LakeError> {
        let array: ArrayRef = match self {
            Col::Null(n) => Arc::new(NullArray::new(std::mem::take(n))),
            Col::Boolean(b) => Arc::new(b.finish()),
            Col::Int32(b) => Arc::new(b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::TimeMillis(b) => Arc::new(b.finish()),
            Col::Int64(b) => Arc::new(b.finish()),
            Col::TimeMicros(b) => Arc::new(b.finish()),
            Col::TsMillis(b) => Arc::new(b.finish()),
            Col::TsMicros(b) => Arc::new(b.finish()),
            Col::TsNanos(b) => Arc::new(b.finish()),
            Col::Float32(b) => Arc::new(b.finish()),
            Col::Float64(b) => Arc::new(b.finish()),
            Col::Binary(b) => Arc::new(b.finish()),
            Col::Utf8(b) | Col::Enum(b, _) => Arc::new(b.finish()),
            Col::Fixed(b, _) => Arc::new(b.finish()),
            Col::Decimal128 { builder, .. } => Arc::new(builder.finish()),
            Col::Decimal256 { builder, .. } => Arc::new(builder.finish()),
            Col::Struct(s) => Arc::new(s.finish()?),
            Col::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let values = l.item.finish()?;
                let list = ListArray::try_new(
                    l.item_field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    l.nulls.finish(),
                )
                .map_err(|e| LakeError::encode("Parquet", e))?;
                Arc::new(list)
            }
            Col::Map(m) => {
                let offsets = std::mem::replace(&mut m.offsets, vec![0]);
                let DataType::Struct(entry_fields) = m.entries_field.data_type() else {
                    unreachable!("map entries are a struct")
                };
                let keys: ArrayRef = Arc::new(m.keys.finish());
                let entries = StructArray::try_new(
                    entry_fields.clone(),
                    vec![keys, m.values.finish()?],
                    None,
                )
                .map_err(|e| LakeError::encode("Parquet", e))?;
                let map = MapArray::try_new(
                    m.entries_field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    entries,
                    m.nulls.finish(),
                    false,
                )
                .map_err(|e| LakeError::encode("Parquet", e))?;
                Arc::new(map)
            }
            Col::Optional { inner, .. } => inner.finish()?,
            Col::Union(u) => Arc::new(u.inner.finish()?),
        };
        Ok(array)
    }
}

impl StructCol {
    /// The columns of a record (the file's top-level record, or a nested one).
    pub(crate) fn for_record(node: &Node) -> Result<StructCol, LakeError> {
        let Node::Record(fields) = node else {
            return Err(LakeError::not_supported(format!(
                "Parquet rows from a top-level Avro {} (ParquetFormat needs a record schema)",
                node.describe()
            )));
        };
        let DataType::Struct(arrow_fields) = arrow_type(node)?.0 else {
            unreachable!("a record maps to a struct")
        };
        let cols: Result<Vec<Col>, LakeError> =
            fields.iter().map(|f| Col::for_node(&f.node)).collect();
        Ok(StructCol {
            fields: arrow_fields,
            cols: cols?,
            nulls: NullBufferBuilder::new(NO_NULLS_YET),
        })
    }

    /// The columns for a schema inferred from JSON.
    pub(crate) fn from_parts(fields: Fields, cols: Vec<Col>) -> StructCol {
        StructCol {
            fields,
            cols,
            nulls: NullBufferBuilder::new(NO_NULLS_YET),
        }
    }

    /// Reads one record.
    pub(crate) fn decode(&mut self, r: &mut Reader<'_>) -> Decoded<()> {
        for (i, col) in self.cols.iter_mut().enumerate() {
            col.decode(r)
                .map_err(|e| e.in_field(self.fields[i].name()))?;
        }
        self.nulls.append_non_null();
        Ok(())
    }

    fn append_null(&mut self) {
        for col in &mut self.cols {
            col.append_null();
        }
        self.nulls.append_null();
    }

    /// Appends one JSON object as a row; absent fields are null.
    pub(crate) fn append_object(&mut self, map: &serde_json::Map<String, Value>) -> Decoded<()> {
        for (field, col) in self.fields.iter().zip(self.cols.iter_mut()) {
            let value = map.get(field.name()).unwrap_or(&Value::Null);
            col.append_json(value)
                .map_err(|e| e.in_field(field.name()))?;
        }
        self.nulls.append_non_null();
        Ok(())
    }

    /// The bytes in each string and binary column of this level and of nested
    /// records and unions, depth first (not inside lists or maps, whose item counts
    /// differ from the row count): what [`StructCol::reserve`] takes back.
    pub(crate) fn byte_sizes(&self, out: &mut Vec<usize>) {
        for col in &self.cols {
            col.byte_sizes(out);
        }
    }

    /// Gives each empty string and binary column room for `rows` values and the
    /// next of `sizes` bytes (as [`StructCol::byte_sizes`] listed them), so that
    /// they do not grow by doubling and copying.
    pub(crate) fn reserve(&mut self, rows: usize, sizes: &mut impl Iterator<Item = usize>) {
        for col in &mut self.cols {
            col.reserve(rows, sizes);
        }
    }

    /// The finished columns, for a record batch; the builders are empty afterwards.
    pub(crate) fn finish_columns(&mut self) -> Result<Vec<ArrayRef>, LakeError> {
        self.nulls.finish();
        self.cols.iter_mut().map(Col::finish).collect()
    }

    fn finish(&mut self) -> Result<StructArray, LakeError> {
        let len = self.nulls.len();
        let nulls = self.nulls.finish();
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(Col::finish)
            .collect::<Result<_, _>>()?;
        StructArray::try_new_with_length(self.fields.clone(), arrays, nulls, len)
            .map_err(|e| LakeError::encode("Parquet", e))
    }
}

fn push_offset(offsets: &mut Vec<i32>, count: usize) -> Decoded<()> {
    let last = *offsets.last().expect("offsets start with 0") as usize;
    let next = last
        .checked_add(count)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| DecodeError::new("more than 2^31 list items in one row group"))?;
    offsets.push(next);
    Ok(())
}

/// A big-endian two's-complement integer of any length (Avro's decimal encoding)
/// that fits 256 bits; 128-bit columns read theirs with [`decimal_from_bytes`].
pub(crate) fn be_i256(raw: &[u8]) -> Decoded<i256> {
    if raw.is_empty() {
        return Ok(i256::ZERO);
    }
    let negative = raw[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let (head, tail) = raw.split_at(raw.len().saturating_sub(32));
    if head.iter().any(|&b| b != fill) || (!head.is_empty() && (tail[0] & 0x80 != 0) != negative) {
        return Err(DecodeError::new(format!(
            "decimal of {} bytes does not fit 256 bits",
            raw.len()
        )));
    }
    let mut buf = [fill; 32];
    buf[32 - tail.len()..].copy_from_slice(tail);
    Ok(i256::from_be_bytes(buf))
}

/// The column for an Arrow type produced by `infer` (Boolean, Int64, Float64,
/// Struct, List; anything else is Utf8).
pub(crate) fn col_for_inferred(dt: &DataType) -> Col {
    match dt {
        DataType::Boolean => Col::Boolean(BooleanBuilder::new()),
        DataType::Int64 => Col::Int64(Int64Builder::new()),
        DataType::Float64 => Col::Float64(Float64Builder::new()),
        DataType::Struct(fields) => Col::Struct(StructCol::from_parts(
            fields.clone(),
            fields
                .iter()
                .map(|f| col_for_inferred(f.data_type()))
                .collect(),
        )),
        DataType::List(item) => Col::List(ListCol {
            item_field: item.clone(),
            item: Box::new(col_for_inferred(item.data_type())),
            offsets: vec![0],
            nulls: NullBufferBuilder::new(NO_NULLS_YET),
        }),
        _ => Col::Utf8(StringBuilder::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::parse;
    use arrow::array::{Array, AsArray, Decimal128Array};
    use arrow::datatypes::{Date32Type, Int32Type, TimestampMillisecondType};
    use creek_avro::{compile, put_long, put_str};

    fn field_for(schema: &str) -> Field {
        arrow_field("f", &compile(&parse(schema)).unwrap()).unwrap()
    }

    #[test]
    fn every_avro_type_maps_to_its_arrow_type() {
        let cases: Vec<(&str, DataType, bool)> = vec![
            (r#""null""#, DataType::Null, true),
            (r#""boolean""#, DataType::Boolean, false),
            (r#""int""#, DataType::Int32, false),
            (r#""long""#, DataType::Int64, false),
            (r#""float""#, DataType::Float32, false),
            (r#""double""#, DataType::Float64, false),
            (r#""bytes""#, DataType::Binary, false),
            (r#""string""#, DataType::Utf8, false),
            (
                r#"{"type":"fixed","name":"f3","size":3}"#,
                DataType::FixedSizeBinary(3),
                false,
            ),
            (
                r#"{"type":"enum","name":"e","symbols":["A","B"]}"#,
                DataType::Utf8,
                false,
            ),
            (
                r#"{"type":"int","logicalType":"date"}"#,
                DataType::Date32,
                false,
            ),
            (
                r#"{"type":"int","logicalType":"time-millis"}"#,
                DataType::Time32(TimeUnit::Millisecond),
                false,
            ),
            (
                r#"{"type":"long","logicalType":"time-micros"}"#,
                DataType::Time64(TimeUnit::Microsecond),
                false,
            ),
            (
                r#"{"type":"long","logicalType":"timestamp-millis"}"#,
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            (
                r#"{"type":"long","logicalType":"timestamp-micros"}"#,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            (
                r#"{"type":"long","logicalType":"local-timestamp-millis"}"#,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            (
                r#"{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}"#,
                DataType::Decimal128(10, 2),
                false,
            ),
            (
                r#"{"type":"bytes","logicalType":"decimal","precision":64,"scale":3}"#,
                DataType::Decimal256(64, 3),
                false,
            ),
            (
                r#"{"type":"fixed","name":"d","size":8,"logicalType":"decimal","precision":18,"scale":4}"#,
                DataType::Decimal128(18, 4),
                false,
            ),
            (
                r#"{"type":"string","logicalType":"uuid"}"#,
                DataType::Utf8,
                false,
            ),
            (r#"["null","string"]"#, DataType::Utf8, true),
            (r#"["long","null"]"#, DataType::Int64, true),
            (
                r#"{"type":"array","items":["null","int"]}"#,
                DataType::List(Arc::new(Field::new("element", DataType::Int32, true))),
                false,
            ),
            (
                r#"{"type":"map","values":"long"}"#,
                DataType::Map(
                    Arc::new(Field::new(
                        "key_value",
                        DataType::Struct(Fields::from(vec![
                            Field::new("key", DataType::Utf8, false),
                            Field::new("value", DataType::Int64, false),
                        ])),
                        false,
                    )),
                    false,
                ),
                false,
            ),
            (
                r#"{"type":"record","name":"p","fields":[{"name":"x","type":"int"},{"name":"y","type":["null","string"]}]}"#,
                DataType::Struct(Fields::from(vec![
                    Field::new("x", DataType::Int32, false),
                    Field::new("y", DataType::Utf8, true),
                ])),
                false,
            ),
            (
                r#"["null","int","string"]"#,
                DataType::Struct(Fields::from(vec![
                    Field::new("int", DataType::Int32, true),
                    Field::new("string", DataType::Utf8, true),
                ])),
                true,
            ),
        ];
        for (schema, dt, nullable) in cases {
            let f = field_for(schema);
            assert_eq!(f.data_type(), &dt, "{schema}");
            assert_eq!(f.is_nullable(), nullable, "{schema}");
        }
    }

    #[test]
    fn decodes_records_with_nulls_nesting_and_logical_types() {
        let node = compile(&parse(
            r#"{"type":"record","name":"r","fields":[
                {"name":"id","type":"int"},
                {"name":"born","type":["null",{"type":"int","logicalType":"date"}]},
                {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
                {"name":"price","type":["null",{"type":"bytes","logicalType":"decimal","precision":9,"scale":2}]},
                {"name":"addr","type":["null",{"type":"record","name":"a","fields":[{"name":"city","type":"string"}]}]},
                {"name":"tags","type":{"type":"array","items":"string"}},
                {"name":"attrs","type":{"type":"map","values":"int"}},
                {"name":"u","type":["int","string"]}
            ]}"#,
        ))
        .unwrap();
        let mut col = StructCol::for_record(&node).unwrap();
        // Row 1: everything set.
        let mut b = Vec::new();
        put_long(&mut b, 7);
        put_long(&mut b, 1);
        put_long(&mut b, 18_000);
        put_long(&mut b, 1_618_269_963_655);
        put_long(&mut b, 1);
        put_long(&mut b, 2);
        b.extend_from_slice(&[0xfb, 0x2e]); // -1234 → -12.34
        put_long(&mut b, 1);
        put_str(&mut b, "Lisboa");
        put_long(&mut b, 2);
        put_str(&mut b, "x");
        put_str(&mut b, "y");
        put_long(&mut b, 0);
        put_long(&mut b, 1);
        put_str(&mut b, "k");
        put_long(&mut b, 5);
        put_long(&mut b, 0);
        put_long(&mut b, 1);
        put_str(&mut b, "s");
        let mut r = Reader::new(&b);
        col.decode(&mut r).unwrap();
        r.expect_end().unwrap();
        // Row 2: nulls and empties.
        let mut b = Vec::new();
        put_long(&mut b, 8);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 0);
        put_long(&mut b, 3);
        let mut r = Reader::new(&b);
        col.decode(&mut r).unwrap();
        r.expect_end().unwrap();

        let cols = col.finish_columns().unwrap();
        assert_eq!(cols[0].as_primitive::<Int32Type>().values(), &[7, 8]);
        let born = cols[1].as_primitive::<Date32Type>();
        assert_eq!(born.value(0), 18_000);
        assert!(born.is_null(1));
        let at = cols[2].as_primitive::<TimestampMillisecondType>();
        assert_eq!(at.value(0), 1_618_269_963_655);
        let price = cols[3].as_any().downcast_ref::<Decimal128Array>().unwrap();
        assert_eq!(price.value_as_string(0), "-12.34");
        assert!(price.is_null(1));
        let addr = cols[4].as_struct();
        assert!(addr.is_valid(0) && addr.is_null(1));
        assert_eq!(addr.column(0).as_string::<i32>().value(0), "Lisboa");
        let tags = cols[5].as_list::<i32>();
        assert_eq!(tags.value(0).as_string::<i32>().value(1), "y");
        assert_eq!(tags.value(1).len(), 0);
        let attrs = cols[6].as_map();
        assert_eq!(attrs.keys().as_string::<i32>().value(0), "k");
        let u = cols[7].as_struct();
        assert_eq!(u.column(1).as_string::<i32>().value(0), "s");
        assert!(u.column(0).is_null(0));
        assert_eq!(u.column(0).as_primitive::<Int32Type>().value(1), 3);
        assert!(u.column(1).is_null(1));
    }

    #[test]
    fn decimal_bytes_are_sign_extended_and_range_checked() {
        assert_eq!(decimal_from_bytes(&[]).unwrap(), 0);
        assert_eq!(decimal_from_bytes(&[0xff]).unwrap(), -1);
        assert_eq!(decimal_from_bytes(&[0x00, 0x80]).unwrap(), 128);
        let mut wide = vec![0xff; 20];
        wide[19] = 0xfe;
        assert_eq!(decimal_from_bytes(&wide).unwrap(), -2);
        let mut too_big = vec![0u8; 17];
        too_big[0] = 1;
        assert!(decimal_from_bytes(&too_big).is_err());
        assert_eq!(be_i256(&[0xff, 0x7f]).unwrap(), i256::from_i128(-129));

        let node = compile(&parse(
            r#"{"type":"bytes","logicalType":"decimal","precision":2,"scale":0}"#,
        ))
        .unwrap();
        let mut col = Col::for_node(&node).unwrap();
        let mut b = Vec::new();
        put_long(&mut b, 1);
        b.push(100);
        let err = col.decode(&mut Reader::new(&b)).unwrap_err();
        assert!(err.to_string().contains("precision"), "{err}");
    }
}
