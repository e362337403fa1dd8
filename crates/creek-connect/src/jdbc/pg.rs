//! PostgreSQL specifics of the JDBC source: identifier quoting, table discovery,
//! column → Connect type mapping, and decoding rows from binary COPY output.
//!
//! Rows are read with `COPY (SELECT …) TO STDOUT (FORMAT binary)` rather than a
//! cursor: one round trip streams the whole result, and binary values decode without
//! parsing text.

use bytes::{Buf, BytesMut};
use tokio_postgres::Client;

use crate::data::{zigzag, Field, FieldType, StructSchema, Value};

/// `"name"` with embedded quotes doubled: identifiers from configs are always quoted.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled.
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A table the source reads: schema-qualified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId {
    pub schema: String,
    pub table: String,
}

impl TableId {
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// How numeric columns map to Connect types (`numeric.mapping`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericMapping {
    None,
    PrecisionOnly,
    BestFit,
    BestFitEagerDouble,
}

/// How a column is selected and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decode {
    Bool,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// UTF-8 text (text, varchar, json, and anything cast to text).
    Text,
    /// jsonb's binary form: a version byte, then text.
    Jsonb,
    Bytea,
    Date,
    Time,
    /// timestamp / timestamptz: microseconds since 2000-01-01 UTC.
    Timestamp,
    Uuid,
    /// numeric selected as text, parsed to the target type.
    NumericText,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_name: String,
    pub not_null: bool,
    pub decode: Decode,
    pub field: FieldType,
    /// The SELECT expression.
    pub select: String,
}

/// Reads a table's columns and maps them as Confluent's PostgreSQL dialect does.
/// `db_timezone` interprets `timestamp without time zone` values.
pub async fn table_columns(
    client: &Client,
    table: &TableId,
    numeric: NumericMapping,
    db_timezone: &str,
) -> Result<Vec<Column>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT a.attname, t.typname, a.attnotnull, a.atttypmod, t.typtype::text \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &[&table.quoted()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let name: String = r.get(0);
            let type_name: String = r.get(1);
            let not_null: bool = r.get(2);
            let typmod: i32 = r.get(3);
            map_column(name, type_name, not_null, typmod, numeric, db_timezone)
        })
        .collect())
}

fn map_column(
    name: String,
    type_name: String,
    not_null: bool,
    typmod: i32,
    numeric: NumericMapping,
    db_timezone: &str,
) -> Column {
    let q = quote_ident(&name);
    let (decode, field, select) = match type_name.as_str() {
        "bool" => (Decode::Bool, FieldType::Boolean, q.clone()),
        "int2" => (Decode::Int2, FieldType::Int16, q.clone()),
        "int4" => (Decode::Int4, FieldType::Int32, q.clone()),
        "int8" => (Decode::Int8, FieldType::Int64, q.clone()),
        "float4" => (Decode::Float4, FieldType::Float32, q.clone()),
        "float8" => (Decode::Float8, FieldType::Float64, q.clone()),
        "text" | "varchar" | "bpchar" | "name" | "json" | "xml" => {
            (Decode::Text, FieldType::String, q.clone())
        }
        "jsonb" => (Decode::Jsonb, FieldType::String, q.clone()),
        "uuid" => (Decode::Uuid, FieldType::String, q.clone()),
        "bytea" => (Decode::Bytea, FieldType::Bytes, q.clone()),
        "date" => (Decode::Date, FieldType::Date, q.clone()),
        "time" => (Decode::Time, FieldType::Time, q.clone()),
        "timestamptz" => (Decode::Timestamp, FieldType::Timestamp, q.clone()),
        "timestamp" => {
            // A naive timestamp means wall time in db.timezone; PostgreSQL converts.
            let select = if db_timezone.eq_ignore_ascii_case("UTC") {
                q.clone()
            } else {
                format!("({q} AT TIME ZONE {})", quote_literal(db_timezone))
            };
            (Decode::Timestamp, FieldType::Timestamp, select)
        }
        "numeric" => (
            Decode::NumericText,
            numeric_field(typmod, numeric),
            format!("{q}::text"),
        ),
        // Anything else (arrays, enums, intervals, geometric types…) as its text form.
        _ => (Decode::Text, FieldType::String, format!("{q}::text")),
    };
    Column {
        name,
        type_name,
        not_null,
        decode,
        field,
        select,
    }
}

/// The columns a custom query returns (all optional: a query's nullability is
/// unknown), mapped like table columns.
pub async fn query_columns(
    client: &Client,
    query: &str,
    numeric: NumericMapping,
    db_timezone: &str,
) -> Result<Vec<Column>, tokio_postgres::Error> {
    let stmt = client
        .prepare(&format!("SELECT * FROM ({query}) AS creek_query LIMIT 0"))
        .await?;
    Ok(stmt
        .columns()
        .iter()
        .map(|c| {
            map_column(
                c.name().to_string(),
                c.type_().name().to_string(),
                false,
                -1,
                numeric,
                db_timezone,
            )
        })
        .collect())
}

/// Connect's type for a numeric column, after `numeric.mapping`.
fn numeric_field(typmod: i32, mapping: NumericMapping) -> FieldType {
    if typmod < 4 {
        // Unbounded numeric: no fixed scale, so no exact Decimal schema exists.
        return match mapping {
            NumericMapping::BestFit | NumericMapping::BestFitEagerDouble => FieldType::Float64,
            // Kept lossless as its text form rather than truncated to scale 0.
            _ => FieldType::String,
        };
    }
    let precision = (((typmod - 4) >> 16) & 0xffff) as u32;
    let scale = ((typmod - 4) & 0xffff) as u32;
    let int_for = |p: u32| {
        if p < 5 {
            FieldType::Int16
        } else if p < 10 {
            FieldType::Int32
        } else {
            FieldType::Int64
        }
    };
    match mapping {
        NumericMapping::PrecisionOnly | NumericMapping::BestFit if scale == 0 && precision < 19 => {
            int_for(precision)
        }
        NumericMapping::BestFitEagerDouble if scale == 0 && precision < 19 => int_for(precision),
        NumericMapping::BestFit if precision <= 15 => FieldType::Float64,
        NumericMapping::BestFitEagerDouble => FieldType::Float64,
        _ => FieldType::Decimal {
            scale,
            precision: Some(precision),
        },
    }
}

/// The Connect schema of a table's rows: a struct named after the table.
pub fn struct_schema(table: &TableId, columns: &[Column]) -> StructSchema {
    StructSchema {
        name: table.table.clone(),
        fields: columns
            .iter()
            .map(|c| Field {
                name: c.name.clone(),
                ty: c.field.clone(),
                optional: !c.not_null,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Binary COPY decoding.

const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
/// 2000-01-01 in Unix days and milliseconds.
const PG_EPOCH_DAYS: i32 = 10_957;
const PG_EPOCH_MS: i64 = 946_684_800_000;

/// A row id in heap order: (block, line pointer).
pub type Ctid = (u32, u16);

/// Incremental parser of a binary COPY stream: feed chunks, take complete rows.
pub struct CopyParser {
    buf: BytesMut,
    header_done: bool,
    finished: bool,
    /// Field ranges of the current tuple (`None` = SQL NULL), and its length.
    fields: Vec<Option<(usize, usize)>>,
    current_len: usize,
    /// Bookkeeping fields selected before the columns (1 for the ctid in table mode).
    leading: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("malformed COPY data from PostgreSQL: {0}")]
pub struct CopyError(String);

impl CopyParser {
    /// A parser for tuples of `leading` bookkeeping fields followed by the columns.
    pub fn new(leading: usize) -> Self {
        CopyParser {
            leading,
            buf: BytesMut::new(),
            header_done: false,
            finished: false,
            fields: Vec::new(),
            current_len: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Makes the next complete tuple current (see [`CopyParser::field`]); false when
    /// more input is needed or the trailer was seen. The previous tuple is dropped.
    pub fn advance_tuple(&mut self, columns: usize) -> Result<bool, CopyError> {
        let expected = columns + self.leading;
        if self.current_len > 0 {
            self.buf.advance(self.current_len);
            self.current_len = 0;
        }
        if !self.header_done {
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(false);
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                return Err(CopyError("bad signature".into()));
            }
            let ext = u32::from_be_bytes(self.buf[15..19].try_into().unwrap()) as usize;
            if self.buf.len() < 19 + ext {
                return Ok(false);
            }
            self.buf.advance(19 + ext);
            self.header_done = true;
        }
        if self.finished || self.buf.len() < 2 {
            return Ok(false);
        }
        let count = i16::from_be_bytes([self.buf[0], self.buf[1]]);
        if count == -1 {
            self.finished = true;
            self.buf.advance(2);
            return Ok(false);
        }
        if count as usize != expected {
            return Err(CopyError(format!(
                "expected {expected} fields, got {count}"
            )));
        }
        self.fields.clear();
        let mut pos = 2;
        for _ in 0..count {
            if self.buf.len() < pos + 4 {
                return Ok(false);
            }
            let len = i32::from_be_bytes(self.buf[pos..pos + 4].try_into().unwrap());
            pos += 4;
            if len >= 0 {
                self.fields.push(Some((pos, pos + len as usize)));
                pos += len as usize;
            } else {
                self.fields.push(None);
            }
        }
        if self.buf.len() < pos {
            return Ok(false);
        }
        self.current_len = pos;
        Ok(true)
    }

    /// Field `i` of the current tuple, bookkeeping fields included (0 is the ctid
    /// in table mode).
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        self.fields[i].map(|(a, b)| &self.buf[a..b])
    }

    /// The raw value of column `i` of the current tuple.
    pub fn column(&self, i: usize) -> Option<&[u8]> {
        self.field(i + self.leading)
    }

    /// The current tuple's ctid.
    pub fn ctid(&self) -> Result<Ctid, CopyError> {
        match self.field(0) {
            Some(b) if b.len() == 6 => Ok((
                u32::from_be_bytes(b[..4].try_into().unwrap()),
                u16::from_be_bytes(b[4..6].try_into().unwrap()),
            )),
            _ => Err(CopyError("the row id column is missing".into())),
        }
    }

    /// The current tuple's values of `columns`.
    pub fn values(&self, columns: &[Column]) -> Result<Vec<Value>, CopyError> {
        columns
            .iter()
            .enumerate()
            .map(|(i, c)| match self.column(i) {
                None => Ok(Value::Null),
                Some(b) => decode(c, b),
            })
            .collect()
    }

    /// Appends the current tuple as an Avro record body, transcoding PostgreSQL's
    /// binary values straight to Avro (the hot path: no intermediate values).
    pub fn avro_body(&self, columns: &[Column], out: &mut Vec<u8>) -> Result<(), CopyError> {
        for (i, c) in columns.iter().enumerate() {
            let raw = self.column(i);
            if !c.not_null {
                match raw {
                    None => {
                        out.push(0);
                        continue;
                    }
                    Some(_) => out.push(2),
                }
            }
            let Some(b) = raw else {
                // NULL in a NOT NULL column cannot come from PostgreSQL.
                return Err(CopyError(format!("NULL in NOT NULL column {}", c.name)));
            };
            match c.decode {
                Decode::Bool => out.push((b.first().copied().unwrap_or(0) != 0) as u8),
                Decode::Int2 => zigzag(out, i16::from_be_bytes(be(b, "int2")?) as i64),
                Decode::Int4 => zigzag(out, i32::from_be_bytes(be(b, "int4")?) as i64),
                Decode::Int8 => zigzag(out, i64::from_be_bytes(be(b, "int8")?)),
                Decode::Float4 => {
                    out.extend_from_slice(&f32::from_be_bytes(be(b, "float4")?).to_le_bytes())
                }
                Decode::Float8 => {
                    out.extend_from_slice(&f64::from_be_bytes(be(b, "float8")?).to_le_bytes())
                }
                Decode::Text | Decode::Bytea => {
                    if c.decode == Decode::Text && std::str::from_utf8(b).is_err() {
                        return Err(CopyError(format!("column {} is not UTF-8", c.name)));
                    }
                    zigzag(out, b.len() as i64);
                    out.extend_from_slice(b);
                }
                _ => {
                    let v = decode(c, b)?;
                    crate::data::encode_avro_value(&c.field, &v, out);
                }
            }
        }
        Ok(())
    }
}

fn be<const N: usize>(b: &[u8], what: &str) -> Result<[u8; N], CopyError> {
    b.try_into()
        .map_err(|_| CopyError(format!("{what} value of {} bytes", b.len())))
}

/// A timestamp column's value in µs since the Unix epoch (`None` for other types).
pub fn timestamp_micros(c: &Column, b: &[u8]) -> Option<i64> {
    if c.decode != Decode::Timestamp {
        return None;
    }
    let us = i64::from_be_bytes(b.try_into().ok()?);
    Some(us.saturating_add(PG_EPOCH_MS * 1000))
}

/// A `timestamptz` literal for µs since the Unix epoch, exact to the microsecond.
pub fn timestamptz_literal(us: i64) -> String {
    let t = chrono::DateTime::from_timestamp_micros(us).unwrap_or_default();
    format!("'{}'::timestamptz", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
}

/// Decodes one binary field of column `c`.
pub fn decode(c: &Column, b: &[u8]) -> Result<Value, CopyError> {
    let text = |b: &[u8]| {
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| CopyError(format!("column {} is not UTF-8", c.name)))
    };
    Ok(match c.decode {
        Decode::Bool => Value::Boolean(b.first().copied().unwrap_or(0) != 0),
        Decode::Int2 => Value::Int16(i16::from_be_bytes(be(b, "int2")?)),
        Decode::Int4 => Value::Int32(i32::from_be_bytes(be(b, "int4")?)),
        Decode::Int8 => Value::Int64(i64::from_be_bytes(be(b, "int8")?)),
        Decode::Float4 => Value::Float32(f32::from_be_bytes(be(b, "float4")?)),
        Decode::Float8 => Value::Float64(f64::from_be_bytes(be(b, "float8")?)),
        Decode::Text => Value::String(text(b)?),
        Decode::Jsonb => Value::String(text(b.get(1..).unwrap_or_default())?),
        Decode::Bytea => Value::Bytes(b.to_vec()),
        Decode::Date => {
            let d = i32::from_be_bytes(be(b, "date")?);
            // ±infinity are i32::MAX / MIN; keep them at the extremes.
            Value::Date(d.saturating_add(PG_EPOCH_DAYS))
        }
        Decode::Time => Value::Time((i64::from_be_bytes(be(b, "time")?) / 1000) as i32),
        Decode::Timestamp => {
            let us = i64::from_be_bytes(be(b, "timestamp")?);
            Value::Timestamp((us.div_euclid(1000)).saturating_add(PG_EPOCH_MS))
        }
        Decode::Uuid => {
            let u: [u8; 16] = be(b, "uuid")?;
            let h: String = u.iter().map(|x| format!("{x:02x}")).collect();
            Value::String(format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            ))
        }
        Decode::NumericText => numeric_value(&c.field, &text(b)?)
            .map_err(|e| CopyError(format!("column {}: {e}", c.name)))?,
    })
}

/// A numeric's text form as the column's Connect type.
fn numeric_value(field: &FieldType, s: &str) -> Result<Value, String> {
    if s == "NaN" || s.ends_with("Infinity") {
        return match field {
            FieldType::Float64 => Ok(Value::Float64(
                s.replace("Infinity", "inf").parse().unwrap_or(f64::NAN),
            )),
            FieldType::String => Ok(Value::String(s.to_string())),
            _ => Err(format!("{s} cannot be represented as {field:?}")),
        };
    }
    match field {
        FieldType::String => Ok(Value::String(s.to_string())),
        FieldType::Float64 => s.parse().map(Value::Float64).map_err(|e| e.to_string()),
        FieldType::Int16 => s.parse().map(Value::Int16).map_err(|e| e.to_string()),
        FieldType::Int32 => s.parse().map(Value::Int32).map_err(|e| e.to_string()),
        FieldType::Int64 => s.parse().map(Value::Int64).map_err(|e| e.to_string()),
        FieldType::Decimal { scale, .. } => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            let mut digits = String::from(int);
            let scale = *scale as usize;
            let mut frac = frac.to_string();
            if frac.len() > scale {
                return Err(format!("{s} has more than {scale} decimal places"));
            }
            while frac.len() < scale {
                frac.push('0');
            }
            digits.push_str(&frac);
            digits
                .parse::<i128>()
                .map(Value::Decimal)
                .map_err(|e| format!("{s}: {e}"))
        }
        other => Err(format!("numeric cannot map to {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted() {
        assert_eq!(quote_ident("cust\"omers"), "\"cust\"\"omers\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        let t = TableId {
            schema: "public".into(),
            table: "customers".into(),
        };
        assert_eq!(t.quoted(), "\"public\".\"customers\"");
    }

    #[test]
    fn numeric_mapping_follows_confluent() {
        let tm = |p: i32, s: i32| ((p << 16) | s) + 4;
        assert_eq!(
            numeric_field(tm(10, 2), NumericMapping::None),
            FieldType::Decimal {
                scale: 2,
                precision: Some(10)
            }
        );
        assert_eq!(
            numeric_field(tm(4, 0), NumericMapping::BestFit),
            FieldType::Int16
        );
        assert_eq!(
            numeric_field(tm(12, 0), NumericMapping::BestFit),
            FieldType::Int64
        );
        assert_eq!(
            numeric_field(tm(10, 2), NumericMapping::BestFit),
            FieldType::Float64
        );
        assert_eq!(numeric_field(-1, NumericMapping::None), FieldType::String);
        assert_eq!(
            numeric_value(
                &FieldType::Decimal {
                    scale: 2,
                    precision: None
                },
                "-12.5"
            )
            .unwrap(),
            Value::Decimal(-1250)
        );
    }

    #[test]
    fn parses_a_binary_copy_stream_fed_in_pieces() {
        let columns = vec![
            map_column(
                "n".into(),
                "int4".into(),
                false,
                -1,
                NumericMapping::None,
                "UTC",
            ),
            map_column(
                "s".into(),
                "text".into(),
                false,
                -1,
                NumericMapping::None,
                "UTC",
            ),
            map_column(
                "d".into(),
                "date".into(),
                false,
                -1,
                NumericMapping::None,
                "UTC",
            ),
        ];
        let mut data = Vec::new();
        data.extend_from_slice(SIGNATURE);
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&0u32.to_be_bytes());
        data.extend_from_slice(&4i16.to_be_bytes());
        data.extend_from_slice(&6i32.to_be_bytes());
        data.extend_from_slice(&7u32.to_be_bytes());
        data.extend_from_slice(&3u16.to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&42i32.to_be_bytes());
        data.extend_from_slice(&(-1i32).to_be_bytes());
        data.extend_from_slice(&4i32.to_be_bytes());
        data.extend_from_slice(&1i32.to_be_bytes()); // 2000-01-02
        data.extend_from_slice(&(-1i16).to_be_bytes());
        let mut p = CopyParser::new(1);
        let mut rows = Vec::new();
        for byte in data {
            p.feed(&[byte]);
            while p.advance_tuple(columns.len()).unwrap() {
                rows.push((p.ctid().unwrap(), p.values(&columns).unwrap()));
                let mut avro = Vec::new();
                p.avro_body(&columns, &mut avro).unwrap();
                assert_eq!(avro[..2], [2, 84], "union branch 1, then 42 zigzag-encoded");
            }
        }
        assert!(p.finished());
        assert_eq!(
            rows,
            vec![(
                (7, 3),
                vec![Value::Int32(42), Value::Null, Value::Date(10_958)]
            )]
        );
    }
}
