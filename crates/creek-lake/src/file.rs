//! [`FileBuilder`]: one output file being built in memory, in any format.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use creek_schema::RegisteredSchema;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Encoding, PageType};
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use serde_json::Value;

use crate::columns::{arrow_field, col_for_inferred, StructCol};
use crate::config::{FormatConfig, FormatKind, StreamCompression};
use crate::container::ContainerWriter;
use crate::infer::{struct_fields, Shape};
use crate::json::{base64_into, render_body};
use crate::LakeError;
use creek_avro::{Node, Reader};

/// A record's value as the sink receives it after the converter.
#[derive(Debug, Clone)]
pub enum SinkValue {
    /// Confluent-framed Avro already split: the registered writer schema and the
    /// datum body (without the 5-byte prefix).
    Avro {
        schema: Arc<RegisteredSchema>,
        body: Bytes,
    },
    /// JsonConverter output (schemaless, or an envelope's payload): a parsed value.
    Json(Value),
    /// ByteArrayConverter / StringConverter output.
    Bytes(Bytes),
}

impl SinkValue {
    fn kind(&self) -> &'static str {
        match self {
            SinkValue::Avro { .. } => "an Avro record",
            SinkValue::Json(_) => "a schemaless JSON value",
            SinkValue::Bytes(_) => "raw bytes",
        }
    }
}

/// Rows per Parquet row group; also how many rows the Arrow builders hold at once.
const ROW_GROUP_ROWS: usize = 100_000;
/// A row group is also closed after this many bytes of Avro bodies, which keeps
/// each Arrow column far below its 2 GiB offset limit.
const ROW_GROUP_BODY_BYTES: usize = 256 << 20;

/// One output file being built in memory (the sink buffers at most `flush.size`
/// records per file). Appending is all-or-nothing per record: a record that fails
/// leaves the file as it was, so the caller may skip it and go on.
pub struct FileBuilder {
    config: FormatConfig,
    len: usize,
    schema: Option<Arc<RegisteredSchema>>,
    state: State,
    /// Reused buffer for one rendered JSON line.
    scratch: Vec<u8>,
    hints: Option<ParquetHints>,
}

/// What the last Parquet file of Avro records showed, for the next one of the same
/// schema: which columns overflowed their dictionary (more distinct values than a
/// dictionary page holds, as unique names, emails or addresses do). Parquet then
/// writes the rest of such a column PLAIN anyway; the next file writes it PLAIN from
/// the start, without first hashing values into a dictionary it would drop. Every
/// [`PROBE_EVERY`]th file tries all dictionaries again, so a column whose values
/// start to repeat gets its dictionary back. Files written one after another share
/// one (the sink keeps one per topic-partition): [`FileBuilder::with_hints`].
#[derive(Clone, Default)]
pub struct ParquetHints(Arc<Mutex<Option<Hint>>>);

/// Files between two that try every column's dictionary again.
const PROBE_EVERY: u32 = 16;

struct Hint {
    schema_id: i32,
    /// Columns written without a dictionary.
    plain: Vec<ColumnPath>,
    /// The last row group's rows and string column sizes (`StructCol::byte_sizes`),
    /// which the next file's builders start with room for.
    rows: usize,
    byte_sizes: Vec<usize>,
    /// Files written since the last that tried every dictionary.
    since_probe: u32,
}

impl ParquetHints {
    /// The columns to write PLAIN in the next file of `schema_id` (empty: try every
    /// dictionary).
    fn plain_columns(&self, schema_id: i32) -> Vec<ColumnPath> {
        let hint = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*hint {
            Some(h) if h.schema_id == schema_id && h.since_probe < PROBE_EVERY => h.plain.clone(),
            _ => Vec::new(),
        }
    }

    /// The rows and string column sizes of the last row group of `schema_id`.
    fn sizes(&self, schema_id: i32) -> Option<(usize, Vec<usize>)> {
        let hint = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match &*hint {
            Some(h) if h.schema_id == schema_id && h.rows > 0 => {
                Some((h.rows, h.byte_sizes.clone()))
            }
            _ => None,
        }
    }

    /// Records a finished file of `schema_id` written with `plain` columns, whose
    /// row groups are `groups` and whose last row group had `sizes`.
    fn record(
        &self,
        schema_id: i32,
        plain: Vec<ColumnPath>,
        groups: &[RowGroupMetaData],
        (rows, byte_sizes): (usize, Vec<usize>),
    ) {
        let probed = plain.is_empty();
        let mut plain = plain;
        for group in groups {
            for c in group.columns() {
                let fell_back = c.dictionary_page_offset().is_some()
                    && c.page_encoding_stats().is_some_and(|stats| {
                        stats.iter().any(|p| {
                            matches!(p.page_type, PageType::DATA_PAGE | PageType::DATA_PAGE_V2)
                                && p.encoding == Encoding::PLAIN
                        })
                    });
                if fell_back && !plain.contains(c.column_path()) {
                    plain.push(c.column_path().clone());
                }
            }
        }
        let mut hint = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let since_probe = match &*hint {
            Some(h) if h.schema_id == schema_id && !probed => h.since_probe + 1,
            _ => 0,
        };
        *hint = Some(Hint {
            schema_id,
            plain,
            rows,
            byte_sizes,
            since_probe,
        });
    }
}

enum State {
    Empty,
    ParquetAvro(Box<ParquetAvro>),
    ParquetJson {
        shape: Shape,
        values: Vec<Value>,
    },
    Text(TextOut),
    Container(ContainerWriter),
    /// A record failed half-way through the Parquet columns (which `check` should
    /// have prevented); the file cannot be finished.
    Broken(String),
}

struct ParquetAvro {
    node: Arc<Node>,
    root: StructCol,
    schema: SchemaRef,
    writer: ArrowWriter<Vec<u8>>,
    rows: usize,
    body_bytes: usize,
    schema_id: i32,
    /// Columns written without a dictionary, from the hints.
    plain: Vec<ColumnPath>,
    /// Rows and string column sizes of the last row group written (or of the hints).
    sizes: (usize, Vec<usize>),
    hints: Option<ParquetHints>,
}

/// The bytes of a JSON-lines or ByteArray file, gzipped as they come when asked.
enum TextOut {
    Plain(Vec<u8>),
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
}

impl TextOut {
    fn write(&mut self, data: &[u8]) -> Result<(), LakeError> {
        match self {
            TextOut::Plain(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            TextOut::Gzip(g) => g.write_all(data).map_err(|e| LakeError::encode("gzip", e)),
        }
    }

    fn finish(self) -> Result<Vec<u8>, LakeError> {
        match self {
            TextOut::Plain(v) => Ok(v),
            TextOut::Gzip(g) => g.finish().map_err(|e| LakeError::encode("gzip", e)),
        }
    }
}

impl FileBuilder {
    /// An empty file. The config is expected to have passed [`FormatConfig::validate`];
    /// an invalid codec surfaces at the first append or at `finish`.
    pub fn new(config: &FormatConfig) -> Self {
        FileBuilder {
            config: config.clone(),
            len: 0,
            schema: None,
            state: State::Empty,
            scratch: Vec::new(),
            hints: None,
        }
    }

    /// Shares `hints` with the other files of the same stream (Parquet only).
    pub fn with_hints(mut self, hints: &ParquetHints) -> Self {
        self.hints = Some(hints.clone());
        self
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The schema id of the Avro records in this file, if any (the sink rotates
    /// when it changes).
    pub fn schema_id(&self) -> Option<i32> {
        self.schema.as_ref().map(|s| s.id)
    }

    /// Appends one record; errors name what could not be converted (the caller adds
    /// topic/partition/offset). A failed record leaves the file unchanged.
    pub fn append(&mut self, value: &SinkValue) -> Result<(), LakeError> {
        if let State::Broken(why) = &self.state {
            return Err(LakeError::convert(format!(
                "this file can no longer be written after an earlier failure: {why}"
            )));
        }
        if let SinkValue::Avro { schema, .. } = value {
            match &self.schema {
                Some(current) if current.id != schema.id => {
                    return Err(LakeError::SchemaChanged {
                        expected: current.id,
                        got: schema.id,
                    })
                }
                _ => {}
            }
        }
        match self.config.kind {
            FormatKind::Parquet => self.append_parquet(value)?,
            FormatKind::Json => self.append_json(value)?,
            FormatKind::Avro => self.append_container(value)?,
            FormatKind::ByteArray => self.append_bytes(value)?,
        }
        if let SinkValue::Avro { schema, .. } = value {
            if self.schema.is_none() {
                self.schema = Some(schema.clone());
            }
        }
        self.len += 1;
        Ok(())
    }

    fn wrong_value(&self, value: &SinkValue, needs: &str) -> LakeError {
        LakeError::convert(format!(
            "{} cannot write {}: it needs {needs}",
            self.config.kind.name(),
            value.kind()
        ))
    }

    fn mixed(&self, value: &SinkValue) -> LakeError {
        LakeError::convert(format!(
            "{} file already holds records of another kind than {}: rotate the file first",
            self.config.kind.name(),
            value.kind()
        ))
    }

    fn append_parquet(&mut self, value: &SinkValue) -> Result<(), LakeError> {
        match value {
            SinkValue::Avro { schema, body } => {
                if matches!(self.state, State::Empty) {
                    self.state = State::ParquetAvro(Box::new(ParquetAvro::new(
                        schema,
                        &self.config,
                        self.hints.clone(),
                    )?));
                }
                let State::ParquetAvro(p) = &mut self.state else {
                    return Err(self.mixed(value));
                };
                // Check first, so that a bad record never reaches half the columns
                // (only when the caller may skip it and go on).
                let atomic = self.config.atomic_appends;
                if atomic {
                    creek_avro::check(&p.node, body).map_err(crate::convert_error)?;
                }
                // A full row group is encoded when the next row arrives, not when the
                // last one does: a file of exactly one group (flush.size = group size)
                // is then encoded in `finish`, which callers may run on another thread.
                if p.rows >= ROW_GROUP_ROWS || p.body_bytes >= ROW_GROUP_BODY_BYTES {
                    p.write_row_group()?;
                    // The next row group is likely the size of this one.
                    reserve(&mut p.root, &p.sizes);
                }
                let mut r = if atomic {
                    Reader::new_checked(body)
                } else {
                    Reader::new(body)
                };
                if let Err(e) = p.root.decode(&mut r) {
                    let why = e.to_string();
                    self.state = State::Broken(why.clone());
                    return Err(LakeError::Convert(why));
                }
                p.rows += 1;
                p.body_bytes += body.len();
                Ok(())
            }
            SinkValue::Json(v) => {
                if !self.config.infer_schema {
                    return Err(self.wrong_value(
                        value,
                        "records with a schema (Avro); schema inference for schemaless JSON is off",
                    ));
                }
                if !v.is_object() {
                    return Err(LakeError::convert(format!(
                        "ParquetFormat needs JSON objects (a row's fields) but got {}",
                        json_kind(v)
                    )));
                }
                if matches!(self.state, State::Empty) {
                    self.config.parquet_compression()?;
                    self.state = State::ParquetJson {
                        shape: Shape::Null,
                        values: Vec::new(),
                    };
                }
                let State::ParquetJson { shape, values } = &mut self.state else {
                    return Err(self.mixed(value));
                };
                shape.absorb(v);
                values.push(v.clone());
                Ok(())
            }
            SinkValue::Bytes(_) => {
                Err(self.wrong_value(value, "records with a schema (Avro) or JSON objects"))
            }
        }
    }

    fn text_out(&mut self) -> Result<&mut TextOut, LakeError> {
        if matches!(self.state, State::Empty) {
            let out = match self.config.stream_compression()? {
                StreamCompression::None => TextOut::Plain(Vec::new()),
                StreamCompression::Gzip => TextOut::Gzip(flate2::write::GzEncoder::new(
                    Vec::new(),
                    self.config.zlib_level(),
                )),
            };
            self.state = State::Text(out);
        }
        match &mut self.state {
            State::Text(out) => Ok(out),
            _ => unreachable!("text formats only ever hold text"),
        }
    }

    fn append_json(&mut self, value: &SinkValue) -> Result<(), LakeError> {
        let numeric = self.config.decimal_numeric()?;
        let mut line = std::mem::take(&mut self.scratch);
        line.clear();
        let rendered = match value {
            SinkValue::Avro { schema, body } => crate::plan_of(schema).and_then(|node| {
                render_body(node, body, &mut line, numeric).map_err(crate::convert_error)
            }),
            SinkValue::Json(v) => {
                serde_json::to_writer(&mut line, v).map_err(|e| LakeError::encode("JSON", e))
            }
            // Jackson writes a byte[] as a base64 string.
            SinkValue::Bytes(b) => {
                line.push(b'"');
                base64_into(&mut line, b);
                line.push(b'"');
                Ok(())
            }
        };
        let result = rendered.and_then(|()| {
            line.push(b'\n');
            self.text_out()?.write(&line)
        });
        self.scratch = line;
        result
    }

    fn append_bytes(&mut self, value: &SinkValue) -> Result<(), LakeError> {
        let SinkValue::Bytes(b) = value else {
            return Err(self.wrong_value(
                value,
                "raw bytes (value.converter ByteArrayConverter or StringConverter)",
            ));
        };
        let separator = self.config.bytearray_separator.clone();
        let out = self.text_out()?;
        out.write(b)?;
        out.write(&separator)
    }

    fn append_container(&mut self, value: &SinkValue) -> Result<(), LakeError> {
        let SinkValue::Avro { schema, body } = value else {
            return Err(self.wrong_value(value, "Avro records with a schema"));
        };
        let node = crate::plan_of(schema)?;
        creek_avro::validate(node, body).map_err(crate::convert_error)?;
        if matches!(self.state, State::Empty) {
            let codec = self.config.container_codec()?;
            self.state = State::Container(ContainerWriter::new(
                &schema.schema_json,
                codec,
                self.config.zlib_level(),
            ));
        }
        let State::Container(w) = &mut self.state else {
            unreachable!("AvroFormat files only ever hold a container")
        };
        w.append(body)
    }

    /// The finished object's bytes.
    pub fn finish(self) -> Result<Bytes, LakeError> {
        let bytes = match self.state {
            State::Empty => match self.config.kind {
                FormatKind::Parquet => return Err(LakeError::Empty("Parquet")),
                FormatKind::Avro => return Err(LakeError::Empty("Avro")),
                FormatKind::Json | FormatKind::ByteArray => {
                    let mut empty = FileBuilder::new(&self.config);
                    empty.text_out()?;
                    match empty.state {
                        State::Text(out) => out.finish()?,
                        _ => unreachable!(),
                    }
                }
            },
            State::ParquetAvro(p) => p.finish()?,
            State::ParquetJson { shape, values } => parquet_from_json(&self.config, shape, values)?,
            State::Text(out) => out.finish()?,
            State::Container(w) => w.finish()?,
            State::Broken(why) => {
                return Err(LakeError::convert(format!(
                    "this file cannot be finished after an earlier failure: {why}"
                )))
            }
        };
        Ok(Bytes::from(bytes))
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn writer_properties(config: &FormatConfig) -> Result<WriterProperties, LakeError> {
    Ok(properties_builder(config)?.build())
}

fn properties_builder(config: &FormatConfig) -> Result<WriterPropertiesBuilder, LakeError> {
    Ok(WriterProperties::builder()
        .set_compression(config.parquet_compression()?.to_parquet())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS)))
}

/// Writes `batch` as one row group, first making room in `writer`'s output for it
/// (so that the buffer does not grow by doubling and copying).
fn write_group(writer: &mut ArrowWriter<Vec<u8>>, batch: &RecordBatch) -> Result<(), LakeError> {
    writer
        .write(batch)
        .map_err(|e| LakeError::encode("Parquet", e))?;
    let encoded = writer.in_progress_size();
    writer.inner_mut().reserve(encoded + encoded / 8);
    writer.flush().map_err(|e| LakeError::encode("Parquet", e))
}

impl ParquetAvro {
    fn new(
        schema: &Arc<RegisteredSchema>,
        config: &FormatConfig,
        hints: Option<ParquetHints>,
    ) -> Result<Self, LakeError> {
        let schema_id = schema.id;
        let node = crate::plan_of(schema)?.clone();
        let mut root = StructCol::for_record(&node)?;
        let Node::Record(fields) = &*node else {
            unreachable!("for_record accepts records only")
        };
        let arrow_fields: Result<Vec<_>, _> = fields
            .iter()
            .map(|f| arrow_field(&f.name, &f.node))
            .collect();
        let schema = Arc::new(ArrowSchema::new(arrow_fields?));
        let plain = hints
            .as_ref()
            .map(|h| h.plain_columns(schema_id))
            .unwrap_or_default();
        let sizes = hints
            .as_ref()
            .and_then(|h| h.sizes(schema_id))
            .unwrap_or_default();
        reserve(&mut root, &sizes);
        let mut properties = properties_builder(config)?;
        for column in &plain {
            properties = properties.set_column_dictionary_enabled(column.clone(), false);
        }
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties.build()))
            .map_err(|e| LakeError::encode("Parquet", e))?;
        Ok(ParquetAvro {
            node,
            root,
            schema,
            writer,
            rows: 0,
            body_bytes: 0,
            schema_id,
            plain,
            sizes,
            hints,
        })
    }

    fn write_row_group(&mut self) -> Result<(), LakeError> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut byte_sizes = Vec::new();
        self.root.byte_sizes(&mut byte_sizes);
        self.sizes = (self.rows, byte_sizes);
        let columns = self.root.finish_columns()?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| LakeError::encode("Parquet", e))?;
        write_group(&mut self.writer, &batch)?;
        self.rows = 0;
        self.body_bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, LakeError> {
        self.write_row_group()?;
        if let Some(hints) = &self.hints {
            hints.record(
                self.schema_id,
                std::mem::take(&mut self.plain),
                self.writer.flushed_row_groups(),
                std::mem::take(&mut self.sizes),
            );
        }
        self.writer
            .into_inner()
            .map_err(|e| LakeError::encode("Parquet", e))
    }
}

/// Room in `root`'s string columns for a row group of `sizes` (rows, bytes per
/// column), with an eighth more.
fn reserve(root: &mut StructCol, (rows, bytes): &(usize, Vec<usize>)) {
    if *rows > 0 {
        let rows = rows + rows / 8;
        root.reserve(rows, &mut bytes.iter().map(|b| b + b / 8));
    }
}

/// Parquet for schemaless JSON: the schema inferred from all of the file's records.
fn parquet_from_json(
    config: &FormatConfig,
    shape: Shape,
    values: Vec<Value>,
) -> Result<Vec<u8>, LakeError> {
    let Shape::Object(fields) = shape else {
        unreachable!("only objects are accepted")
    };
    if fields.is_empty() {
        return Err(LakeError::convert(
            "the JSON records have no fields at all, and a Parquet file needs at least one column",
        ));
    }
    let fields = struct_fields(&fields);
    let schema = Arc::new(ArrowSchema::new(fields.clone()));
    let cols = fields
        .iter()
        .map(|f| col_for_inferred(f.data_type()))
        .collect();
    let mut root = StructCol::from_parts(fields, cols);
    let mut writer =
        ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties(config)?))
            .map_err(|e| LakeError::encode("Parquet", e))?;
    for chunk in values.chunks(ROW_GROUP_ROWS) {
        for v in chunk {
            let Value::Object(map) = v else {
                unreachable!("only objects are accepted")
            };
            root.append_object(map).map_err(crate::convert_error)?;
        }
        let batch = RecordBatch::try_new(schema.clone(), root.finish_columns()?)
            .map_err(|e| LakeError::encode("Parquet", e))?;
        write_group(&mut writer, &batch)?;
    }
    writer
        .into_inner()
        .map_err(|e| LakeError::encode("Parquet", e))
}
