//! Files built by `FileBuilder`, stored through a `file://` `Lake`, and read back
//! with independent readers (the parquet crate's reader, apache-avro's Reader).

use std::io::Read;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array, Decimal256Array};
use arrow::datatypes::{
    DataType, Date32Type, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType,
};
use bytes::Bytes;
use creek_avro::{put_bytes, put_long, put_str};
use creek_lake::{FileBuilder, FormatConfig, FormatKind, Lake, LakeError, ParquetHints, SinkValue};
use creek_schema::RegisteredSchema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{LogicalType, TimeUnit as PqTimeUnit};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::json;

const SCHEMA: &str = r#"{"type":"record","name":"order","namespace":"shop","fields":[
  {"name":"id","type":"long"},
  {"name":"name","type":["null","string"],"default":null},
  {"name":"born","type":["null",{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null},
  {"name":"at","type":{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}},
  {"name":"price","type":{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},
  {"name":"big","type":["null",{"type":"bytes","scale":3,"precision":64,"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}],"default":null},
  {"name":"addr","type":["null",{"type":"record","name":"address","fields":[{"name":"city","type":"string"},{"name":"zip","type":["null","int"]}]}],"default":null},
  {"name":"tags","type":{"type":"array","items":"string"}},
  {"name":"ratio","type":"double"}
],"connect.name":"shop.order"}"#;

fn schema(id: i32) -> Arc<RegisteredSchema> {
    Arc::new(RegisteredSchema::new(
        id,
        SCHEMA.into(),
        apache_avro::Schema::parse_str(SCHEMA).unwrap(),
    ))
}

/// Row `i`: even rows have every optional field set, odd rows have them null.
fn order(schema: &Arc<RegisteredSchema>, i: i64) -> SinkValue {
    let full = i % 2 == 0;
    let mut b = Vec::new();
    put_long(&mut b, i);
    if full {
        put_long(&mut b, 1);
        put_str(&mut b, &format!("name-{i}"));
        put_long(&mut b, 1);
        put_long(&mut b, 18_729 + i);
    } else {
        put_long(&mut b, 0);
        put_long(&mut b, 0);
    }
    put_long(&mut b, 1_618_269_963_655 + i);
    // price = -12.34 - i (unscaled -1234 - 100 i), big-endian two's complement.
    let price: i64 = -1234 - 100 * i;
    let raw = price.to_be_bytes();
    let skip = raw.iter().take_while(|&&x| x == 0xff).count().min(6);
    put_bytes(&mut b, &raw[skip..]);
    if full {
        put_long(&mut b, 1);
        put_bytes(&mut b, &[0x01, 0x00]); // 256 → 0.256
        put_long(&mut b, 1);
        put_str(&mut b, "Lisboa");
        put_long(&mut b, 1);
        put_long(&mut b, 1000 + i);
    } else {
        put_long(&mut b, 0);
        put_long(&mut b, 0);
    }
    put_long(&mut b, 2);
    put_str(&mut b, "a");
    put_str(&mut b, &format!("t{i}"));
    put_long(&mut b, 0);
    b.extend_from_slice(&(i as f64 / 2.0).to_le_bytes());
    SinkValue::Avro {
        schema: schema.clone(),
        body: b.into(),
    }
}

fn lake(dir: &tempfile::TempDir) -> Lake {
    Lake::open(
        &format!("file://{}", dir.path().display()),
        "lake",
        "",
        None,
        None,
        25 << 20,
    )
    .unwrap()
}

#[tokio::test]
async fn avro_to_parquet_keeps_logical_types_through_a_file_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(&dir);
    let config = FormatConfig::new(FormatKind::Parquet);
    config.validate().unwrap();
    let schema = schema(7);
    let mut file = FileBuilder::new(&config);
    for i in 0..1000 {
        file.append(&order(&schema, i)).unwrap();
    }
    assert_eq!(file.len(), 1000);
    assert_eq!(file.schema_id(), Some(7));
    let key = format!(
        "topics/orders/partition=0/orders+0+0000000000{}",
        config.extension()
    );
    assert!(key.ends_with(".snappy.parquet"));
    lake.put(&key, file.finish().unwrap()).await.unwrap();

    let path = dir.path().join("lake").join(&key);
    let data = Bytes::from(std::fs::read(&path).unwrap());

    // The Parquet schema, as any Parquet reader sees it.
    let reader = SerializedFileReader::new(data.clone()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 1000);
    let descr = meta.file_metadata().schema_descr();
    let logical = |path: &str| {
        descr
            .columns()
            .iter()
            .find(|c| c.path().string() == path)
            .unwrap_or_else(|| panic!("no column {path}"))
            .logical_type_ref()
            .cloned()
    };
    assert_eq!(logical("born"), Some(LogicalType::Date));
    assert_eq!(
        logical("at"),
        Some(LogicalType::timestamp(true, PqTimeUnit::MILLIS))
    );
    assert_eq!(logical("price"), Some(LogicalType::decimal(2, 10)));
    assert_eq!(logical("big"), Some(LogicalType::decimal(3, 64)));
    assert_eq!(logical("name"), Some(LogicalType::String));
    assert_eq!(logical("addr.city"), Some(LogicalType::String));
    let optional = |path: &str| {
        descr
            .columns()
            .iter()
            .find(|c| c.path().string() == path)
            .unwrap()
            .self_type()
            .get_basic_info()
            .repetition()
    };
    use parquet::basic::Repetition;
    assert_eq!(optional("name"), Repetition::OPTIONAL);
    assert_eq!(optional("id"), Repetition::REQUIRED);
    assert_eq!(optional("at"), Repetition::REQUIRED);

    // The values, through the Arrow reader.
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(data)
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let batch = &batches[0];
    let s = batch.schema();
    assert_eq!(
        s.field_with_name("at").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(
        s.field_with_name("born").unwrap().data_type(),
        &DataType::Date32
    );
    let ids = batch.column(0).as_primitive::<Int64Type>();
    assert_eq!(ids.value(3), 3);
    let names = batch.column(1).as_string::<i32>();
    assert_eq!(names.value(2), "name-2");
    assert!(names.is_null(3));
    let born = batch.column(2).as_primitive::<Date32Type>();
    assert_eq!(born.value(0), 18_729);
    assert!(born.is_null(1));
    let at = batch.column(3).as_primitive::<TimestampMillisecondType>();
    assert_eq!(at.value(5), 1_618_269_963_660);
    let price = batch
        .column(4)
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .unwrap();
    assert_eq!(price.value_as_string(0), "-12.34");
    assert_eq!(price.value_as_string(3), "-15.34");
    let big = batch
        .column(5)
        .as_any()
        .downcast_ref::<Decimal256Array>()
        .unwrap();
    assert_eq!(big.value_as_string(0), "0.256");
    assert!(big.is_null(1));
    let addr = batch.column(6).as_struct();
    assert!(addr.is_null(1));
    assert_eq!(addr.column(0).as_string::<i32>().value(0), "Lisboa");
    let tags = batch.column(7).as_list::<i32>();
    assert_eq!(tags.value(9).as_string::<i32>().value(1), "t9");
    let ratio = batch.column(8).as_primitive::<Float64Type>();
    assert_eq!(ratio.value(3), 1.5);
}

#[test]
fn every_parquet_codec_round_trips() {
    let schema = schema(1);
    for codec in ["none", "snappy", "gzip", "lz4", "zstd", "brotli"] {
        let mut config = FormatConfig::new(FormatKind::Parquet);
        config.parquet_codec = codec.into();
        config.validate().unwrap();
        let mut file = FileBuilder::new(&config);
        for i in 0..300 {
            file.append(&order(&schema, i)).unwrap();
        }
        let data = file.finish().unwrap();
        let rows: usize = ParquetRecordBatchReaderBuilder::try_new(data)
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap().num_rows())
            .sum();
        assert_eq!(rows, 300, "{codec}");
    }
}

#[test]
fn large_files_get_several_row_groups() {
    let schema = schema(1);
    let mut file = FileBuilder::new(&FormatConfig::new(FormatKind::Parquet));
    for i in 0..250_000 {
        file.append(&order(&schema, i)).unwrap();
    }
    let data = file.finish().unwrap();
    let reader = SerializedFileReader::new(data).unwrap();
    assert_eq!(reader.metadata().num_row_groups(), 3);
    assert_eq!(reader.metadata().file_metadata().num_rows(), 250_000);
}

#[test]
fn files_sharing_hints_write_overflowed_dictionaries_plain() {
    // `unique`: 20k distinct values of 100 bytes, more than a 1 MiB dictionary page
    // holds; `kind`: two values.
    const JSON: &str = r#"{"type":"record","name":"r","fields":[
      {"name":"unique","type":"string"},{"name":"kind","type":"string"}]}"#;
    let schema = Arc::new(RegisteredSchema::new(
        7,
        JSON.into(),
        apache_avro::Schema::parse_str(JSON).unwrap(),
    ));
    let row = |i: usize| {
        let mut b = Vec::new();
        put_str(&mut b, &format!("{i:0100}"));
        put_str(&mut b, if i.is_multiple_of(3) { "a" } else { "b" });
        SinkValue::Avro {
            schema: schema.clone(),
            body: b.into(),
        }
    };
    let hints = ParquetHints::default();
    let config = FormatConfig::new(FormatKind::Parquet);
    let files: Vec<Bytes> = (0..2)
        .map(|_| {
            let mut file = FileBuilder::new(&config).with_hints(&hints);
            for i in 0..20_000 {
                file.append(&row(i)).unwrap();
            }
            file.finish().unwrap()
        })
        .collect();
    let dictionaries = |data: &Bytes| -> Vec<bool> {
        let reader = SerializedFileReader::new(data.clone()).unwrap();
        let group = reader.metadata().row_group(0);
        group
            .columns()
            .iter()
            .map(|c| c.dictionary_page_offset().is_some())
            .collect()
    };
    // The first file tries both dictionaries; `unique` overflows hers, so the
    // second writes it PLAIN from the start and keeps `kind`'s.
    assert_eq!(dictionaries(&files[0]), [true, true]);
    assert_eq!(dictionaries(&files[1]), [false, true]);
    for data in &files {
        let batch = ParquetRecordBatchReaderBuilder::try_new(data.clone())
            .unwrap()
            .with_batch_size(20_000)
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(batch.num_rows(), 20_000);
        let unique = batch.column(0).as_string::<i32>();
        assert_eq!(unique.value(19_999), format!("{:0100}", 19_999));
        let kind = batch.column(1).as_string::<i32>();
        assert_eq!((kind.value(0), kind.value(1)), ("a", "b"));
    }
}

#[test]
fn a_bad_record_is_refused_whole_and_the_file_goes_on() {
    let schema = schema(1);
    let mut file = FileBuilder::new(&FormatConfig::new(FormatKind::Parquet));
    file.append(&order(&schema, 0)).unwrap();
    let SinkValue::Avro { body, .. } = order(&schema, 2) else {
        unreachable!()
    };
    // Cut in the middle of the record: the first fields would decode fine.
    let cut = SinkValue::Avro {
        schema: schema.clone(),
        body: body.slice(..body.len() - 3),
    };
    let err = file.append(&cut).unwrap_err();
    assert!(matches!(err, LakeError::Convert(_)), "{err}");
    // Invalid UTF-8 in the name.
    let mut bad = body.to_vec();
    let at = bad.iter().position(|&b| b == b'n').unwrap();
    bad[at] = 0xff;
    let err = file
        .append(&SinkValue::Avro {
            schema: schema.clone(),
            body: bad.into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("field name: "), "{err}");
    file.append(&order(&schema, 4)).unwrap();
    assert_eq!(file.len(), 2);
    let data = file.finish().unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(data)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(
        batch.column(0).as_primitive::<Int64Type>().values(),
        &[0, 4]
    );
}

#[test]
fn schema_changes_and_mixed_kinds_are_refused() {
    let mut file = FileBuilder::new(&FormatConfig::new(FormatKind::Parquet));
    file.append(&order(&schema(1), 0)).unwrap();
    let err = file.append(&order(&schema(2), 1)).unwrap_err();
    assert!(matches!(
        err,
        LakeError::SchemaChanged {
            expected: 1,
            got: 2
        }
    ));
    let err = file.append(&SinkValue::Json(json!({"a": 1}))).unwrap_err();
    assert!(err.to_string().contains("rotate"), "{err}");
    let err = file
        .append(&SinkValue::Bytes(Bytes::from_static(b"x")))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("ParquetFormat cannot write raw bytes"),
        "{err}"
    );

    let mut file = FileBuilder::new(&FormatConfig::new(FormatKind::Avro));
    let err = file.append(&SinkValue::Json(json!({"a": 1}))).unwrap_err();
    assert!(err.to_string().contains("AvroFormat cannot write"), "{err}");
    assert!(matches!(
        FileBuilder::new(&FormatConfig::new(FormatKind::Avro)).finish(),
        Err(LakeError::Empty("Avro"))
    ));
    let mut config = FormatConfig::new(FormatKind::Parquet);
    config.infer_schema = false;
    let err = FileBuilder::new(&config)
        .append(&SinkValue::Json(json!({"a": 1})))
        .unwrap_err();
    assert!(err.to_string().contains("inference"), "{err}");
}

#[test]
fn schemaless_json_becomes_parquet_with_an_inferred_schema() {
    let mut file = FileBuilder::new(&FormatConfig::new(FormatKind::Parquet));
    let records = [
        json!({"id": 1, "name": "Ana", "score": 1, "tags": ["a"], "addr": {"city": "Lisboa"}}),
        json!({"id": 2, "name": null, "score": 2.5, "tags": [], "addr": {"city": "Porto", "zip": 4000}, "extra": true}),
        json!({"id": 3, "name": "Bia", "score": 3, "addr": "unknown"}),
    ];
    for r in &records {
        file.append(&SinkValue::Json(r.clone())).unwrap();
    }
    let err = file.append(&SinkValue::Json(json!([1, 2]))).unwrap_err();
    assert!(err.to_string().contains("JSON objects"), "{err}");
    let data = file.finish().unwrap();
    let batch = ParquetRecordBatchReaderBuilder::try_new(data)
        .unwrap()
        .build()
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let s = batch.schema();
    // Fields in the order they are first seen (within one object, serde_json's
    // iteration order: sorted by name unless its preserve_order feature is on).
    let mut names: Vec<&str> = s.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names.pop(), Some("extra"));
    names.sort();
    assert_eq!(names, ["addr", "id", "name", "score", "tags"]);
    let ty = |name: &str| s.field_with_name(name).unwrap().data_type().clone();
    assert_eq!(ty("id"), DataType::Int64);
    assert_eq!(ty("score"), DataType::Float64);
    assert!(matches!(ty("tags"), DataType::List(_)));
    // An object in some records and a string in another: JSON text.
    assert_eq!(ty("addr"), DataType::Utf8);
    assert_eq!(ty("extra"), DataType::Boolean);
    let col = |name: &str| batch.column_by_name(name).unwrap().clone();
    let addr = col("addr");
    let addr = addr.as_string::<i32>();
    assert_eq!(addr.value(0), r#"{"city":"Lisboa"}"#);
    assert_eq!(addr.value(2), "unknown");
    assert_eq!(col("score").as_primitive::<Float64Type>().value(1), 2.5);
    assert!(col("name").is_null(1));
    assert!(col("tags").is_null(2));
    assert!(col("extra").is_null(0));
}

#[test]
fn json_lines_from_avro_json_and_bytes_with_gzip() {
    let mut config = FormatConfig::new(FormatKind::Json);
    config.compression = "gzip".into();
    config.validate().unwrap();
    assert_eq!(config.extension(), ".json.gz");
    let mut file = FileBuilder::new(&config);
    file.append(&order(&schema(3), 0)).unwrap();
    file.append(&SinkValue::Json(json!({"k": "v"}))).unwrap();
    file.append(&SinkValue::Bytes(Bytes::from_static(b"hi")))
        .unwrap();
    let data = file.finish().unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&data[..])
        .read_to_string(&mut text)
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        r#"{"id":0,"name":"name-0","born":18729,"at":1618269963655,"price":"+y4=","big":"AQA=","addr":{"city":"Lisboa","zip":1000},"tags":["a","t0"],"ratio":0.0}"#
    );
    assert_eq!(lines[1], r#"{"k":"v"}"#);
    assert_eq!(lines[2], r#""aGk=""#);
    assert!(text.ends_with('\n'));
}

#[test]
fn avro_container_with_snappy_is_readable_by_apache_avro() {
    let mut config = FormatConfig::new(FormatKind::Avro);
    config.avro_codec = "snappy".into();
    config.validate().unwrap();
    let schema = schema(9);
    let mut file = FileBuilder::new(&config);
    for i in 0..5000 {
        file.append(&order(&schema, i)).unwrap();
    }
    // A body that does not match the schema is refused before it reaches the file.
    let err = file
        .append(&SinkValue::Avro {
            schema: schema.clone(),
            body: Bytes::from_static(&[2]),
        })
        .unwrap_err();
    assert!(matches!(err, LakeError::Convert(_)), "{err}");
    let data = file.finish().unwrap();
    let reader = apache_avro::Reader::new(&data[..]).unwrap();
    assert_eq!(
        reader.writer_schema(),
        &apache_avro::Schema::parse_str(SCHEMA).unwrap()
    );
    let rows: Vec<_> = reader.map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 5000);
    let apache_avro::types::Value::Record(fields) = &rows[4999] else {
        panic!()
    };
    assert_eq!(fields[0].1, apache_avro::types::Value::Long(4999));
}

#[test]
fn bytearray_joins_values_with_the_separator() {
    let mut config = FormatConfig::new(FormatKind::ByteArray);
    config.bytearray_separator = b"|".to_vec();
    let mut file = FileBuilder::new(&config);
    file.append(&SinkValue::Bytes(Bytes::from_static(b"one")))
        .unwrap();
    file.append(&SinkValue::Bytes(Bytes::from_static(b"two")))
        .unwrap();
    let err = file.append(&order(&schema(1), 0)).unwrap_err();
    assert!(err.to_string().contains("ByteArrayFormat"), "{err}");
    assert_eq!(&file.finish().unwrap()[..], b"one|two|");
    assert_eq!(config.extension(), ".bin");
}

#[test]
fn file_builder_is_send() {
    fn send<T: Send>() {}
    send::<FileBuilder>();
    send::<Lake>();
}
