//! [`FileBuilder`]: one output file being built in memory, in any format.

use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::{Schema as ArrowSchema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use creek_schema::RegisteredSchema;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
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
        }
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
                    self.state =
                        State::ParquetAvro(Box::new(ParquetAvro::new(schema, &self.config)?));
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
    Ok(WriterProperties::builder()
        .set_compression(config.parquet_compression()?.to_parquet())
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build())
}

impl ParquetAvro {
    fn new(schema: &Arc<RegisteredSchema>, config: &FormatConfig) -> Result<Self, LakeError> {
        let node = crate::plan_of(schema)?.clone();
        let root = StructCol::for_record(&node)?;
        let Node::Record(fields) = &*node else {
            unreachable!("for_record accepts records only")
        };
        let arrow_fields: Result<Vec<_>, _> = fields
            .iter()
            .map(|f| arrow_field(&f.name, &f.node))
            .collect();
        let schema = Arc::new(ArrowSchema::new(arrow_fields?));
        let writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties(config)?))
                .map_err(|e| LakeError::encode("Parquet", e))?;
        Ok(ParquetAvro {
            node,
            root,
            schema,
            writer,
            rows: 0,
            body_bytes: 0,
        })
    }

    fn write_row_group(&mut self) -> Result<(), LakeError> {
        if self.rows == 0 {
            return Ok(());
        }
        let columns = self.root.finish_columns()?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .map_err(|e| LakeError::encode("Parquet", e))?;
        self.writer
            .write(&batch)
            .and_then(|()| self.writer.flush())
            .map_err(|e| LakeError::encode("Parquet", e))?;
        self.rows = 0;
        self.body_bytes = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, LakeError> {
        self.write_row_group()?;
        self.writer
            .into_inner()
            .map_err(|e| LakeError::encode("Parquet", e))
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
        writer
            .write(&batch)
            .and_then(|()| writer.flush())
            .map_err(|e| LakeError::encode("Parquet", e))?;
    }
    writer
        .into_inner()
        .map_err(|e| LakeError::encode("Parquet", e))
}
