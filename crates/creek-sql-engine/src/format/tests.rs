//! Round trips, ksqlDB's edge cases and errors for every format.

use std::collections::BTreeMap;
use std::sync::Arc;

use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_schema::registry::Registry;
use creek_sql::types::{Field, SqlType};
use creek_sql::value::{Decimal, Value};
use creek_store::LogStore;
use serde_json::json;

use super::*;

fn col(name: &str, ty: SqlType) -> Column {
    Column {
        name: name.into(),
        ty,
    }
}

fn spec(kind: FormatKind) -> FormatSpec {
    FormatSpec {
        kind,
        properties: BTreeMap::new(),
        wrap_single_value: None,
    }
}

fn ctx(topic: &str, is_key: bool, registry: Option<Arc<Registry>>) -> FormatContext {
    FormatContext {
        registry,
        topic: topic.into(),
        is_key,
    }
}

async fn fmt(kind: FormatKind, columns: &[Column], is_key: bool) -> Arc<dyn RowFormat> {
    build(&spec(kind), columns, &ctx("t", is_key, None))
        .await
        .unwrap()
}

async fn build_err(spec: &FormatSpec, columns: &[Column], is_key: bool) -> String {
    match build(spec, columns, &ctx("t", is_key, None)).await {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn dec(text: &str) -> Value {
    Value::Decimal(Decimal::parse(text).unwrap())
}

fn s(text: &str) -> Value {
    Value::string(text)
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.unwrap()).unwrap()
}

// ---------------------------------------------------------------- names

#[test]
fn parses_format_names_case_insensitively() {
    assert_eq!(parse_format("json").unwrap(), FormatKind::Json);
    assert_eq!(parse_format("AvRo").unwrap(), FormatKind::Avro);
    assert_eq!(parse_format("Kafka").unwrap(), FormatKind::Kafka);
    assert_eq!(parse_format("delimited").unwrap(), FormatKind::Delimited);
    assert_eq!(parse_format("none").unwrap(), FormatKind::None);
    assert_eq!(
        parse_format("protobuf_nosr").unwrap(),
        FormatKind::ProtobufNoSr
    );
    assert_eq!(parse_format("json_sr").unwrap(), FormatKind::JsonSr);
    assert_eq!(parse_format("FOO").unwrap_err(), "Unknown format: FOO");
}

#[tokio::test]
async fn protobuf_is_not_supported_yet() {
    let e = build_err(
        &spec(FormatKind::Protobuf),
        &[col("A", SqlType::Int)],
        false,
    )
    .await;
    assert_eq!(e, "not supported yet: the PROTOBUF format");
    let e = build_err(&spec(FormatKind::JsonSr), &[col("A", SqlType::Int)], false).await;
    assert_eq!(e, "not supported yet: the JSON_SR format");
}

// ---------------------------------------------------------------- KAFKA

#[tokio::test]
async fn kafka_round_trips_each_supported_type() {
    let cases = [
        (SqlType::Int, Value::Int(-7), vec![0xff, 0xff, 0xff, 0xf9]),
        (
            SqlType::Bigint,
            Value::Bigint(1),
            vec![0, 0, 0, 0, 0, 0, 0, 1],
        ),
        (
            SqlType::Double,
            Value::Double(1.5),
            1.5f64.to_be_bytes().to_vec(),
        ),
        (SqlType::String, s("héllo"), "héllo".as_bytes().to_vec()),
        (
            SqlType::Bytes,
            Value::bytes(&[1u8, 2, 3][..]),
            vec![1, 2, 3],
        ),
    ];
    for (ty, v, bytes) in cases {
        let f = fmt(FormatKind::Kafka, &[col("K", ty)], true).await;
        assert_eq!(
            f.serialize(Some(std::slice::from_ref(&v))).unwrap(),
            Some(bytes.clone())
        );
        assert_eq!(f.deserialize(Some(&bytes)).unwrap(), Some(vec![v]));
        assert_eq!(f.deserialize(None).unwrap(), None);
        assert_eq!(f.serialize(Some(&[Value::Null])).unwrap(), None);
    }
}

#[tokio::test]
async fn kafka_checks_sizes_columns_and_types() {
    let f = fmt(FormatKind::Kafka, &[col("K", SqlType::Int)], true).await;
    assert_eq!(
        f.deserialize(Some(&[1, 2])).unwrap_err(),
        "Size of data received by IntegerDeserializer is not 4"
    );
    let e = build_err(
        &spec(FormatKind::Kafka),
        &[col("V0", SqlType::Int), col("V1", SqlType::String)],
        false,
    )
    .await;
    assert_eq!(
        e,
        "The 'KAFKA' format only supports a single field. Got: [`V0` INTEGER, `V1` STRING]"
    );
    let e = build_err(
        &spec(FormatKind::Kafka),
        &[col("K1", SqlType::Int), col("K2", SqlType::Int)],
        true,
    )
    .await;
    assert!(
        e.ends_with("Got: [`K1` INTEGER KEY, `K2` INTEGER KEY]"),
        "{e}"
    );
    let e = build_err(
        &spec(FormatKind::Kafka),
        &[col("K", SqlType::Boolean)],
        true,
    )
    .await;
    assert_eq!(e, "The 'KAFKA' format does not support type 'BOOLEAN'");
    let e = build_err(
        &spec(FormatKind::Kafka),
        &[col("K", SqlType::decimal(2, 1))],
        true,
    )
    .await;
    assert_eq!(e, "The 'KAFKA' format does not support type 'DECIMAL'");
}

#[tokio::test]
async fn kafka_without_columns_ignores_the_payload() {
    let f = fmt(FormatKind::Kafka, &[], true).await;
    assert_eq!(f.deserialize(Some(b"whatever")).unwrap(), Some(vec![]));
    assert_eq!(f.serialize(Some(&[])).unwrap(), None);
}

// ---------------------------------------------------------------- NONE

#[tokio::test]
async fn none_has_no_columns() {
    let f = fmt(FormatKind::None, &[], true).await;
    assert_eq!(f.deserialize(Some(b"\x00abc")).unwrap(), Some(vec![]));
    assert_eq!(f.serialize(Some(&[])).unwrap(), None);
    let e = build_err(&spec(FormatKind::None), &[col("K", SqlType::String)], true).await;
    assert_eq!(
        e,
        "The 'NONE' format can only be used when no columns are defined. Got: [`K` STRING KEY]"
    );
    let e = build_err(&spec(FormatKind::None), &[col("FOO", SqlType::Int)], false).await;
    assert!(e.ends_with("Got: [`FOO` INTEGER]"), "{e}");
}

// ---------------------------------------------------------------- JSON

fn all_types() -> Vec<Column> {
    vec![
        col("B", SqlType::Boolean),
        col("I", SqlType::Int),
        col("L", SqlType::Bigint),
        col("D", SqlType::Double),
        col("DEC", SqlType::decimal(4, 2)),
        col("S", SqlType::String),
        col("BY", SqlType::Bytes),
        col("DT", SqlType::Date),
        col("TM", SqlType::Time),
        col("TS", SqlType::Timestamp),
        col("A", SqlType::array(SqlType::Int)),
        col("M", SqlType::map(SqlType::String, SqlType::Double)),
        col(
            "ST",
            SqlType::Struct(vec![
                Field::new("F1", SqlType::String),
                Field::new("F2", SqlType::array(SqlType::decimal(3, 1))),
            ]),
        ),
    ]
}

fn all_values() -> Vec<Value> {
    vec![
        Value::Boolean(true),
        Value::Int(1),
        Value::Bigint(400000000000),
        Value::Double(1.25),
        dec("12.30"),
        s("hi \"there\""),
        Value::bytes(&b"variations"[..]),
        Value::Date(18000),
        Value::Time(4000),
        Value::Timestamp(1600000000000),
        Value::Array(vec![Value::Int(1), Value::Null]),
        Value::Map(vec![(s("a"), Value::Double(1.5))]),
        Value::Struct(vec![
            (Arc::from("F1"), s("x")),
            (Arc::from("F2"), Value::Array(vec![dec("1.0")])),
        ]),
    ]
}

#[tokio::test]
async fn json_round_trips_every_type_with_columns_in_order() {
    let f = fmt(FormatKind::Json, &all_types(), false).await;
    let bytes = f.serialize(Some(&all_values())).unwrap();
    let t = text(bytes.clone());
    assert_eq!(
        t,
        r#"{"B":true,"I":1,"L":400000000000,"D":1.25,"DEC":12.30,"S":"hi \"there\"","BY":"dmFyaWF0aW9ucw==","DT":18000,"TM":4000,"TS":1600000000000,"A":[1,null],"M":{"a":1.5},"ST":{"F1":"x","F2":[1.0]}}"#
    );
    let row = f.deserialize(bytes.as_deref()).unwrap().unwrap();
    assert_eq!(row, all_values());
    // Scale is kept exactly.
    assert!(matches!(&row[4], Value::Decimal(d) if d.scale == 2 && d.unscaled == 1230));
}

#[tokio::test]
async fn json_matches_properties_case_insensitively_and_coerces() {
    let cols = vec![
        col("FOO", SqlType::Int),
        col("BAR", SqlType::String),
        col("TS", SqlType::Timestamp),
        col("D", SqlType::decimal(5, 2)),
        col(
            "ST",
            SqlType::Struct(vec![Field::new("INNER", SqlType::Bigint)]),
        ),
        col("MISSING", SqlType::Int),
        col("quoted", SqlType::Int),
    ];
    let f = fmt(FormatKind::Json, &cols, false).await;
    let row = f
        .deserialize(Some(
            br#"{"foo":"123","Bar":12.50,"ts":1000,"d":"1.5","st":{"inner":"7"},"QUOTED":1}"#,
        ))
        .unwrap()
        .unwrap();
    assert_eq!(
        row,
        vec![
            Value::Int(123),
            s("12.50"),
            Value::Timestamp(1000),
            dec("1.50"),
            Value::Struct(vec![(Arc::from("INNER"), Value::Bigint(7))]),
            Value::Null,
            // A quoted lower-case column only matches its exact name.
            Value::Null,
        ]
    );
    // Objects and arrays read as STRING are their JSON text; booleans too.
    let f = fmt(FormatKind::Json, &[col("S", SqlType::String)], false).await;
    assert_eq!(
        f.deserialize(Some(br#"{"S":{"a":[1,2]}}"#)).unwrap(),
        Some(vec![s(r#"{"a":[1,2]}"#)])
    );
    assert_eq!(
        f.deserialize(Some(br#"{"S":true}"#)).unwrap(),
        Some(vec![s("true")])
    );
}

#[tokio::test]
async fn json_errors_like_ksqldb() {
    let f = fmt(FormatKind::Json, &[col("FOO", SqlType::Int)], false).await;
    let e = f.deserialize(Some(b"{not json")).unwrap_err();
    assert!(
        e.starts_with("Failed to deserialize value from topic: t."),
        "{e}"
    );
    let e = f.deserialize(Some(br#"{"FOO":"abc"}"#)).unwrap_err();
    assert!(
        e.contains("Can't coerce string to type. targetType: INTEGER"),
        "{e}"
    );
    let e = f.deserialize(Some(br#"{"FOO":[1]}"#)).unwrap_err();
    assert!(
        e.contains("Can't convert type. sourceType: ArrayNode, requiredType: INTEGER, path: $.FOO"),
        "{e}"
    );
    let e = f.deserialize(Some(b"[1]")).unwrap_err();
    assert!(e.contains("sourceType: ArrayNode"), "{e}");
    let e = build_err(
        &spec(FormatKind::Json),
        &[col("M", SqlType::map(SqlType::Int, SqlType::Int))],
        false,
    )
    .await;
    assert_eq!(e, "JSON only supports MAP types with STRING keys");
    let mut sp = spec(FormatKind::Json);
    sp.wrap_single_value = Some(true);
    let e = build_err(
        &sp,
        &[col("A", SqlType::Int), col("B", SqlType::Int)],
        false,
    )
    .await;
    assert_eq!(
        e,
        "'WRAP_SINGLE_VALUE' is only valid for single-field value schemas"
    );
    let mut sp = spec(FormatKind::Json);
    sp.properties.insert("fullSchemaName".into(), "a.B".into());
    let e = build_err(&sp, &[col("A", SqlType::Int)], false).await;
    assert_eq!(
        e,
        "JSON does not support the following configs: [fullSchemaName]"
    );
    let mut sp = spec(FormatKind::Avro);
    sp.properties.insert("delimiter".into(), "|".into());
    let e = build_err(&sp, &[col("A", SqlType::Int)], false).await;
    assert_eq!(
        e,
        "AVRO does not support the following configs: [delimiter]"
    );
}

#[tokio::test]
async fn json_unwraps_single_columns() {
    // Values: only with WRAP_SINGLE_VALUE=false.
    let mut sp = spec(FormatKind::Json);
    sp.wrap_single_value = Some(false);
    let cols = [col("FOO", SqlType::String)];
    let f = build(&sp, &cols, &ctx("t", false, None)).await.unwrap();
    assert_eq!(
        f.deserialize(Some(br#""bar""#)).unwrap(),
        Some(vec![s("bar")])
    );
    assert_eq!(text(f.serialize(Some(&[s("bar")])).unwrap()), r#""bar""#);
    assert_eq!(f.serialize(Some(&[Value::Null])).unwrap(), None);
    // A wrapped single value.
    let f = fmt(FormatKind::Json, &cols, false).await;
    assert_eq!(
        text(f.serialize(Some(&[s("bar")])).unwrap()),
        r#"{"FOO":"bar"}"#
    );
    // Keys: a single key column is unwrapped by default.
    let f = fmt(FormatKind::Json, &[col("K", SqlType::Int)], true).await;
    assert_eq!(
        f.deserialize(Some(b"10")).unwrap(),
        Some(vec![Value::Int(10)])
    );
    assert_eq!(text(f.serialize(Some(&[Value::Int(10)])).unwrap()), "10");
    // An unwrapped struct.
    let mut sp = spec(FormatKind::Json);
    sp.wrap_single_value = Some(false);
    let st = SqlType::Struct(vec![Field::new("F1", SqlType::String)]);
    let f = build(&sp, &[col("FOO", st)], &ctx("t", false, None))
        .await
        .unwrap();
    let row = f.deserialize(Some(br#"{"F1":"bar"}"#)).unwrap().unwrap();
    assert_eq!(text(f.serialize(Some(&row)).unwrap()), r#"{"F1":"bar"}"#);
    // Multi-column keys are objects.
    let f = fmt(
        FormatKind::Json,
        &[col("K1", SqlType::Int), col("K2", SqlType::String)],
        true,
    )
    .await;
    assert_eq!(
        f.deserialize(Some(br#"{"K1":1,"K2":"a"}"#)).unwrap(),
        Some(vec![Value::Int(1), s("a")])
    );
}

#[test]
fn json_value_mapping_keeps_decimals_exact() {
    let j: serde_json::Value = serde_json::from_str("12.30").unwrap();
    let v = json_to_value(&j, &SqlType::decimal(4, 2)).unwrap();
    assert!(matches!(&v, Value::Decimal(d) if d.unscaled == 1230 && d.scale == 2));
    assert_eq!(value_to_json(&v).to_string(), "12.30");
    // Rescaled to the type's scale.
    let j: serde_json::Value = serde_json::from_str("1").unwrap();
    let v = json_to_value(&j, &SqlType::decimal(4, 2)).unwrap();
    assert_eq!(value_to_json(&v).to_string(), "1.00");
    let e = json_to_value(&json!(123.4), &SqlType::decimal(3, 2)).unwrap_err();
    assert!(e.starts_with("Numeric field overflow: A field with precision 3 and scale 2 must round to an absolute value less than 10^1. Got 123.4"), "{e}");
    let j: serde_json::Value = serde_json::from_str("1.234").unwrap();
    let e = json_to_value(&j, &SqlType::decimal(3, 2)).unwrap_err();
    assert!(
        e.starts_with(
            "Cannot fit decimal '1.234' into DECIMAL(3, 2) without rounding. (Requires 4,3)"
        ),
        "{e}"
    );
    // Strings coerce; arrays read as STRING are their elements' text.
    assert_eq!(
        json_to_value(&json!("-01.10"), &SqlType::decimal(3, 2)).unwrap(),
        dec("-1.10")
    );
    assert_eq!(
        json_to_value(&json!(["a", 1, null]), &SqlType::String).unwrap(),
        s("[a, 1, null]")
    );
    let e = json_to_value(&json!("true"), &SqlType::Boolean).unwrap_err();
    assert_eq!(
        e,
        "Can't convert type. sourceType: TextNode, requiredType: BOOLEAN, path: $"
    );
    // Big integers stay exact.
    let j: serde_json::Value = serde_json::from_str("9223372036854775807").unwrap();
    assert_eq!(
        json_to_value(&j, &SqlType::Bigint).unwrap(),
        Value::Bigint(i64::MAX)
    );
    assert_eq!(
        json_to_value(&json!("dmFyaWF0aW9ucw=="), &SqlType::Bytes).unwrap(),
        Value::bytes(&b"variations"[..])
    );
    assert_eq!(
        json_to_value(&json!("2020-01-02"), &SqlType::Date).unwrap(),
        Value::Date(18263)
    );
    assert_eq!(
        json_to_value(&json!(null), &SqlType::Int).unwrap(),
        Value::Null
    );
    assert_eq!(value_to_json(&Value::Double(f64::NAN)), json!("NaN"));
    assert_eq!(value_to_json(&Value::Timestamp(5)), json!(5));
    let m = json_to_value(
        &json!({"a": {"X": 1}}),
        &SqlType::map(
            SqlType::String,
            SqlType::Struct(vec![Field::new("X", SqlType::Int)]),
        ),
    )
    .unwrap();
    assert_eq!(value_to_json(&m), json!({"a": {"X": 1}}));
}

/// Query rows over REST show times as ksqlDB's ApiJsonMapper writes them.
#[test]
fn api_json_renders_times_as_text() {
    assert_eq!(value_to_api_json(&Value::Date(12345)), json!("2003-10-20"));
    assert_eq!(value_to_api_json(&Value::Time(12_000)), json!("00:00:12"));
    // LocalTime of whole seconds: milliseconds go, zero seconds are not shown.
    assert_eq!(value_to_api_json(&Value::Time(36_000_999)), json!("10:00"));
    assert_eq!(
        value_to_api_json(&Value::Timestamp(12_343_335)),
        json!("1970-01-01T03:25:43.335")
    );
    assert_eq!(
        value_to_api_json(&Value::Array(vec![Value::Date(0), Value::Null])),
        json!(["1970-01-01", null])
    );
    // Structs go through Connect's JsonConverter in ksqlDB: numbers stay.
    let s = Value::Struct(vec![("T".into(), Value::Timestamp(5))]);
    assert_eq!(value_to_api_json(&s), json!({"T": 5}));
    assert_eq!(value_to_api_json(&Value::Int(3)), json!(3));
}

// ---------------------------------------------------------------- DELIMITED

#[tokio::test]
async fn delimited_round_trips_with_quoting() {
    let cols = vec![
        col("S", SqlType::String),
        col("I", SqlType::Int),
        col("D", SqlType::Double),
        col("DEC", SqlType::decimal(4, 2)),
        col("B", SqlType::Boolean),
        col("N", SqlType::Bigint),
    ];
    let f = fmt(FormatKind::Delimited, &cols, false).await;
    let row = vec![
        s("a,\"b\""),
        Value::Int(5),
        Value::Double(1.0),
        dec("1.50"),
        Value::Boolean(true),
        Value::Null,
    ];
    let bytes = f.serialize(Some(&row)).unwrap();
    assert_eq!(text(bytes.clone()), r#""a,""b""",5,1.0,1.50,true,"#);
    assert_eq!(f.deserialize(bytes.as_deref()).unwrap(), Some(row));
    let e = f.deserialize(Some(b"a,1")).unwrap_err();
    assert!(
        e.contains("Column count mismatch on deserialization. topic: t, expected: 6, got: 2"),
        "{e}"
    );
    // commons-csv quotes a first field not starting with a letter or digit.
    let f = fmt(
        FormatKind::Delimited,
        &[
            col("D", SqlType::decimal(4, 2)),
            col("E", SqlType::decimal(4, 2)),
        ],
        false,
    )
    .await;
    let row = [dec("-0.50"), dec("-0.50")];
    let bytes = f.serialize(Some(&row)).unwrap();
    assert_eq!(text(bytes.clone()), r#""-0.50",-0.50"#);
    assert_eq!(f.deserialize(bytes.as_deref()).unwrap().unwrap(), row);
    assert_eq!(
        f.deserialize(Some(b"01.12,2\r\n")).unwrap().unwrap(),
        [dec("1.12"), dec("2.00")]
    );
}

#[tokio::test]
async fn delimited_named_delimiters() {
    let mut sp = spec(FormatKind::Delimited);
    sp.properties.insert("delimiter".into(), "TAB".into());
    let cols = [col("A", SqlType::Int), col("B", SqlType::String)];
    let f = build(&sp, &cols, &ctx("t", false, None)).await.unwrap();
    assert_eq!(
        f.deserialize(Some(b"1\thello world")).unwrap(),
        Some(vec![Value::Int(1), s("hello world")])
    );
    assert_eq!(
        text(f.serialize(Some(&[Value::Int(2), s("x,y")])).unwrap()),
        "2\tx,y"
    );
    sp.properties.insert("delimiter".into(), "|".into());
    let f = build(&sp, &cols, &ctx("t", false, None)).await.unwrap();
    assert_eq!(
        f.deserialize(Some(b"1|")).unwrap(),
        Some(vec![Value::Int(1), Value::Null])
    );
    sp.properties.insert("delimiter".into(), "ab".into());
    assert!(build_err(&sp, &cols, false)
        .await
        .starts_with("Invalid delimiter value"));
    let e = build_err(
        &spec(FormatKind::Delimited),
        &[col(
            "ROWKEY",
            SqlType::Struct(vec![Field::new("A", SqlType::Int)]),
        )],
        true,
    )
    .await;
    assert_eq!(
        e,
        "The 'DELIMITED' format does not support type 'STRUCT', column: `ROWKEY`"
    );
}

#[test]
fn java_double_text() {
    assert_eq!(java_double(1.0), "1.0");
    assert_eq!(java_double(0.001), "0.001");
    assert_eq!(java_double(1e7), "1.0E7");
    assert_eq!(java_double(1.5e-4), "1.5E-4");
    assert_eq!(java_double(-2.5), "-2.5");
}

// ---------------------------------------------------------------- AVRO

async fn registry(dir: &std::path::Path) -> Arc<Registry> {
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(
        Log::open(dir, LogConfig::default()).unwrap(),
    ));
    Registry::open(store).await.unwrap()
}

/// Frames `value` written with the registered schema `id`.
fn avro_payload(reg: &Registry, id: i32, value: apache_avro::types::Value) -> Vec<u8> {
    let schema = reg.schema_by_id(id).unwrap();
    let body = apache_avro::writer::datum::GenericDatumWriter::builder(&schema.avro)
        .build()
        .unwrap()
        .write_value_to_vec(value)
        .unwrap();
    let mut out = Vec::new();
    creek_avro::wire::frame(id, &body, &mut out);
    out
}

#[tokio::test]
async fn avro_round_trips_and_registers_ksqldb_schema() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let c = ctx("orders", false, Some(reg.clone()));
    let f = build(&spec(FormatKind::Avro), &all_types(), &c)
        .await
        .unwrap();
    let (_, registered) = reg.latest("orders-value").unwrap();
    let id = registered.id;
    let schema: serde_json::Value = serde_json::from_str(&registered.schema_json).unwrap();
    assert_eq!(schema["name"], "KsqlDataSourceSchema");
    assert_eq!(schema["namespace"], "io.confluent.ksql.avro_schemas");
    assert_eq!(
        schema["fields"][0],
        json!({"name": "B", "type": ["null", "boolean"], "default": null})
    );
    assert_eq!(schema["fields"][4]["type"][1]["logicalType"], "decimal");
    assert_eq!(schema["fields"][7]["type"][1]["logicalType"], "date");
    assert_eq!(schema["fields"][8]["type"][1]["logicalType"], "time-millis");
    assert_eq!(
        schema["fields"][9]["type"][1]["logicalType"],
        "timestamp-millis"
    );
    // Maps as Connect's AvroData writes them: arrays of named entries.
    let m = &schema["fields"][11]["type"][1];
    assert_eq!(m["type"], "array");
    assert_eq!(m["items"]["name"], "KsqlDataSourceSchema_M");
    assert_eq!(m["items"]["connect.internal.type"], "MapEntry");
    assert_eq!(m["items"]["fields"][0]["name"], "key");
    assert_eq!(
        schema["fields"][12]["type"][1]["name"],
        "KsqlDataSourceSchema_ST"
    );

    let bytes = f.serialize(Some(&all_values())).unwrap().unwrap();
    assert_eq!(bytes[0], 0);
    assert_eq!(i32::from_be_bytes(bytes[1..5].try_into().unwrap()), id);
    let row = f.deserialize(Some(&bytes)).unwrap().unwrap();
    assert_eq!(row, all_values());
    assert!(matches!(&row[4], Value::Decimal(d) if d.scale == 2 && d.unscaled == 1230));

    let nulls = vec![Value::Null; all_types().len()];
    let bytes = f.serialize(Some(&nulls)).unwrap().unwrap();
    assert_eq!(f.deserialize(Some(&bytes)).unwrap().unwrap(), nulls);
    assert_eq!(f.serialize(None).unwrap(), None);
    assert_eq!(f.deserialize(None).unwrap(), None);

    // Building again registers nothing new.
    build(&spec(FormatKind::Avro), &all_types(), &c)
        .await
        .unwrap();
    assert_eq!(reg.latest("orders-value").unwrap().1.id, id);
}

#[tokio::test]
async fn avro_skips_unwanted_columns_but_still_reads_the_whole_record() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let c = ctx("skips", false, Some(reg.clone()));
    let f = build(&spec(FormatKind::Avro), &all_types(), &c)
        .await
        .unwrap();
    let bytes = f.serialize(Some(&all_values())).unwrap().unwrap();
    let mut wanted = vec![false; all_types().len()];
    wanted[0] = true;
    wanted[5] = true;
    let row = f
        .deserialize_wanted(Some(&bytes), &wanted)
        .unwrap()
        .unwrap();
    for (i, (got, full)) in row.iter().zip(all_values()).enumerate() {
        if wanted[i] {
            assert_eq!(*got, full, "column {i}");
        } else {
            assert_eq!(*got, Value::Null, "column {i}");
        }
    }
    // Everything wanted, or no mask: the same as deserialize.
    let all = f.deserialize(Some(&bytes)).unwrap().unwrap();
    assert_eq!(
        f.deserialize_wanted(Some(&bytes), &[]).unwrap().unwrap(),
        all
    );
    // A truncated record still fails.
    assert!(f
        .deserialize_wanted(Some(&bytes[..bytes.len() - 3]), &wanted)
        .is_err());
}

#[tokio::test]
async fn avro_reads_records_of_another_compatible_writer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    // The producer's schema: lower-case names, non-optional fields, an
    // extra field, an enum, a float, a nested record, no field for `MISSING`.
    let writer = r#"{"type":"record","name":"blah","fields":[
        {"name":"id","type":"long"},
        {"name":"extra","type":"string"},
        {"name":"suit","type":{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS"]}},
        {"name":"price","type":"float"},
        {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":3}},
        {"name":"count","type":"int"},
        {"name":"inner","type":["null",{"type":"record","name":"Inner","fields":[{"name":"f1","type":"int"}]}]},
        {"name":"tags","type":{"type":"map","values":"int"}}
    ]}"#;
    let id = reg.register("input-value", writer).await.unwrap();
    use apache_avro::types::Value as A;
    let payload = avro_payload(
        &reg,
        id,
        A::Record(vec![
            ("id".into(), A::Long(42)),
            ("extra".into(), A::String("x".into())),
            ("suit".into(), A::Enum(1, "HEARTS".into())),
            ("price".into(), A::Float(4.0)),
            (
                "amount".into(),
                A::Decimal(apache_avro::Decimal::from(12345i32.to_be_bytes())),
            ),
            ("count".into(), A::Int(3)),
            (
                "inner".into(),
                A::Union(1, Box::new(A::Record(vec![("f1".into(), A::Int(9))]))),
            ),
            (
                "tags".into(),
                A::Map([("a".to_string(), A::Int(1))].into_iter().collect()),
            ),
        ]),
    );
    // The reading source declares its own columns: a different (but
    // compatible) schema, registered by build.
    let cols = vec![
        col("ID", SqlType::Bigint),
        col("SUIT", SqlType::String),
        col("PRICE", SqlType::Double),
        col("AMOUNT", SqlType::decimal(6, 3)),
        col("COUNT", SqlType::String),
        col(
            "INNER",
            SqlType::Struct(vec![Field::new("F1", SqlType::Int)]),
        ),
        col("TAGS", SqlType::map(SqlType::String, SqlType::Bigint)),
        col("MISSING", SqlType::Int),
    ];
    let f = build(
        &spec(FormatKind::Avro),
        &cols,
        &ctx("input", false, Some(reg.clone())),
    )
    .await
    .unwrap();
    let row = f.deserialize(Some(&payload)).unwrap().unwrap();
    assert_eq!(
        row,
        vec![
            Value::Bigint(42),
            s("HEARTS"),
            Value::Double(4.0),
            dec("12.345"),
            s("3"),
            Value::Struct(vec![(Arc::from("F1"), Value::Int(9))]),
            Value::Map(vec![(s("a"), Value::Bigint(1))]),
            Value::Null,
        ]
    );

    // Inference from the same subject: names upper-cased, types mapped.
    let cols = infer_columns(FormatKind::Avro, &ctx("input", false, Some(reg.clone())))
        .await
        .unwrap();
    let names: Vec<&str> = cols.iter().map(|c| c.name.as_str()).collect();
    assert!(names.starts_with(&["ID", "EXTRA", "SUIT", "PRICE", "AMOUNT"]));
}

#[tokio::test]
async fn avro_infers_columns_as_ksqldb() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let writer = r#"{"type":"record","name":"blah","fields":[
        {"name":"c1","type":"boolean"},
        {"name":"c2","type":["null","int"]},
        {"name":"c3","type":{"type":"int","logicalType":"date"}},
        {"name":"c4","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"c5","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},
        {"name":"c6","type":{"type":"record","name":"something","fields":[{"name":"f1","type":"int"}]}},
        {"name":"c7","type":{"type":"array","items":"something"}},
        {"name":"c8","type":{"type":"map","values":["null","string"]}}
    ]}"#;
    reg.register("input-value", writer).await.unwrap();
    let c = ctx("input", false, Some(reg.clone()));
    let cols = infer_columns(FormatKind::Avro, &c).await.unwrap();
    let something = SqlType::Struct(vec![Field::new("F1", SqlType::Int)]);
    assert_eq!(
        cols,
        vec![
            col("C1", SqlType::Boolean),
            col("C2", SqlType::Int),
            col("C3", SqlType::Date),
            col("C4", SqlType::Timestamp),
            col("C5", SqlType::decimal(4, 2)),
            col("C6", something.clone()),
            col("C7", SqlType::array(something)),
            col("C8", SqlType::map(SqlType::String, SqlType::String)),
        ]
    );
    // WRAP_SINGLE_VALUE=false: the record is one ROWVAL column.
    let cols = infer_columns_with(FormatKind::Avro, &c, Some(false))
        .await
        .unwrap();
    assert_eq!(cols.len(), 1);
    assert_eq!(cols[0].name, "ROWVAL");

    // Keys: one ROWKEY column.
    reg.register("input-key", r#"{"type":"int"}"#)
        .await
        .unwrap();
    let cols = infer_columns(FormatKind::Avro, &ctx("input", true, Some(reg.clone())))
        .await
        .unwrap();
    assert_eq!(cols, vec![col("ROWKEY", SqlType::Int)]);

    // By schema id: names kept as they are.
    let id = reg.latest("input-value").unwrap().1.id;
    let cols = infer_columns_by_id(FormatKind::Avro, &c, id, None)
        .await
        .unwrap();
    assert_eq!(cols[0], col("c1", SqlType::Boolean));
    assert_eq!(
        cols[5],
        col("c6", SqlType::Struct(vec![Field::new("f1", SqlType::Int)]))
    );

    let e = infer_columns(
        FormatKind::Avro,
        &ctx("input_topic", false, Some(reg.clone())),
    )
    .await
    .unwrap_err();
    assert_eq!(
        e,
        "Schema for message values on topic 'input_topic' does not exist in the Schema Registry."
    );
}

#[tokio::test]
async fn avro_unwrapped_keys_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    // A single key column is a bare Avro type.
    let c = ctx("t", true, Some(reg.clone()));
    let f = build(&spec(FormatKind::Avro), &[col("K", SqlType::Int)], &c)
        .await
        .unwrap();
    assert_eq!(reg.latest("t-key").unwrap().1.schema_json, r#""int""#);
    let bytes = f.serialize(Some(&[Value::Int(10)])).unwrap().unwrap();
    assert_eq!(
        f.deserialize(Some(&bytes)).unwrap(),
        Some(vec![Value::Int(10)])
    );
    assert_eq!(f.serialize(Some(&[Value::Null])).unwrap(), None);

    // A struct key is a record named by fullSchemaName.
    let mut sp = spec(FormatKind::Avro);
    sp.properties.insert(
        "fullSchemaName".into(),
        "io.confluent.ksql.avro_schemas.OutputKey".into(),
    );
    let st = SqlType::Struct(vec![Field::new("F1", SqlType::String)]);
    let c = ctx("out", true, Some(reg.clone()));
    let f = build(&sp, &[col("ROWKEY", st)], &c).await.unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&reg.latest("out-key").unwrap().1.schema_json).unwrap();
    assert_eq!(schema["name"], "OutputKey");
    assert_eq!(schema["type"], "record");
    let key = vec![Value::Struct(vec![(Arc::from("F1"), s("foo"))])];
    let bytes = f.serialize(Some(&key)).unwrap().unwrap();
    assert_eq!(f.deserialize(Some(&bytes)).unwrap(), Some(key));

    // An anonymous (unwrapped) value read with coercion: int -> STRING.
    let id = reg.register("in-value", r#""int""#).await.unwrap();
    let payload = avro_payload(&reg, id, apache_avro::types::Value::Int(10));
    let mut sp = spec(FormatKind::Avro);
    sp.wrap_single_value = Some(false);
    let f = build(
        &sp,
        &[col("FOO", SqlType::String)],
        &ctx("in", false, Some(reg.clone())),
    )
    .await
    .unwrap();
    assert_eq!(f.deserialize(Some(&payload)).unwrap(), Some(vec![s("10")]));
    // The subject already holds an incompatible schema: reading still works,
    // writing reports the registration failure.
    assert!(f.serialize(Some(&[s("x")])).is_err());
}

#[tokio::test]
async fn avro_errors_and_schema_id() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let c = ctx("t", false, Some(reg.clone()));
    let e = match build(
        &spec(FormatKind::Avro),
        &[col(
            "1AvroDoesNotLikeFieldsThatStartWithNumbers",
            SqlType::Int,
        )],
        &c,
    )
    .await
    {
        Err(e) => e,
        Ok(_) => panic!(),
    };
    assert_eq!(e, "Schema is not compatible with Avro: Illegal initial character: 1AvroDoesNotLikeFieldsThatStartWithNumbers");
    let e = match build(
        &spec(FormatKind::Avro),
        &[col("M", SqlType::map(SqlType::Int, SqlType::Int))],
        &c,
    )
    .await
    {
        Err(e) => e,
        Ok(_) => panic!(),
    };
    assert_eq!(e, "Avro only supports MAPs with STRING keys");
    let mut sp = spec(FormatKind::Avro);
    sp.properties.insert("fullSchemaName".into(), "".into());
    let e = match build(&sp, &[col("A", SqlType::Int)], &c).await {
        Err(e) => e,
        Ok(_) => panic!(),
    };
    assert_eq!(
        e,
        "fullSchemaName cannot be empty. Format configuration: {fullSchemaName=}"
    );

    // schemaId: write with a registered schema instead of a generated one.
    let id = reg
        .register(
            "model-value",
            r#"{"type":"record","name":"model","fields":[{"name":"id","type":"string"},{"name":"n","type":"int","default":5}]}"#,
        )
        .await
        .unwrap();
    let mut sp = spec(FormatKind::Avro);
    sp.properties.insert("schemaId".into(), id.to_string());
    let cols = [col("ID", SqlType::String), col("N", SqlType::Int)];
    let f = build(&sp, &cols, &ctx("model", false, Some(reg.clone())))
        .await
        .unwrap();
    let bytes = f.serialize(Some(&[s("1"), Value::Null])).unwrap().unwrap();
    assert_eq!(i32::from_be_bytes(bytes[1..5].try_into().unwrap()), id);
    assert_eq!(
        f.deserialize(Some(&bytes)).unwrap(),
        Some(vec![s("1"), Value::Int(5)])
    );
    // Garbage payloads are errors, not panics.
    assert!(f.deserialize(Some(&[1, 2])).is_err());
    assert!(f.deserialize(Some(&[0, 0, 0, 0, 99, 1])).is_err());
}

#[tokio::test]
async fn avro_payloads_from_and_to_json() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let schema = r#"{"type":"record","name":"blah","fields":[
        {"name":"c1","type":{"type":"enum","name":"Suit","symbols":["SPADES","HEARTS"]}},
        {"name":"c2","type":["null","bytes"]},
        {"name":"c3","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}},
        {"name":"c4","type":{"type":"map","values":["null","int"]}},
        {"name":"c5","type":{"type":"array","items":{"type":"record","name":"kv","connect.internal.type":"MapEntry","fields":[{"name":"key","type":["null","string"]},{"name":"value","type":["null","double"]}]}}}
    ]}"#;
    let id = reg.register("x-value", schema).await.unwrap();
    let j: serde_json::Value = serde_json::from_str(
        r#"{"c1":"HEARTS","c2":"ew==","c3":10.50,"c4":{"a":1,"b":null},"c5":{"k":1.5}}"#,
    )
    .unwrap();
    let payload = avro_payload_from_json(&reg, id, &j).unwrap();
    let back = avro_payload_to_json(&reg, &payload).unwrap();
    assert_eq!(back.to_string(), j.to_string());
    // Read by a source with upper-case columns: maps written as entry arrays too.
    let cols = [
        col("C1", SqlType::String),
        col("C3", SqlType::decimal(4, 2)),
        col("C5", SqlType::map(SqlType::String, SqlType::Double)),
    ];
    let f = build(
        &spec(FormatKind::Avro),
        &cols,
        &ctx("y", false, Some(reg.clone())),
    )
    .await
    .unwrap();
    assert_eq!(
        f.deserialize(Some(&payload)).unwrap().unwrap(),
        vec![
            s("HEARTS"),
            dec("10.50"),
            Value::Map(vec![(s("k"), Value::Double(1.5))])
        ]
    );
}

#[tokio::test]
#[ignore]
async fn bench_formats() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let c = ctx("bench", false, Some(reg.clone()));
    let cols = all_types();
    let row = all_values();
    for (name, kind) in [("json", FormatKind::Json), ("avro", FormatKind::Avro)] {
        let f = build(&spec(kind), &cols, &c).await.unwrap();
        let bytes = f.serialize(Some(&row)).unwrap().unwrap();
        let n = 20_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(f.deserialize(Some(&bytes)).unwrap());
        }
        let de = t.elapsed() / n;
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(f.serialize(Some(&row)).unwrap());
        }
        let ser = t.elapsed() / n;
        println!("{name}: deserialize {de:?}, serialize {ser:?}");
    }
}

#[tokio::test]
async fn avro_codec_agrees_with_apache_avro() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let c = ctx("eq", false, Some(reg.clone()));
    let f = build(&spec(FormatKind::Avro), &all_types(), &c)
        .await
        .unwrap();
    for row in [all_values(), vec![Value::Null; all_types().len()]] {
        let payload = f.serialize(Some(&row)).unwrap().unwrap();
        let (id, body) = creek_avro::wire::split(&payload).unwrap();
        let schema = reg.schema_by_id(id).unwrap();
        // apache-avro reads what creek writes, and writes it back byte for byte.
        let av = apache_avro::reader::datum::GenericDatumReader::builder(&schema.avro)
            .build()
            .unwrap()
            .read_value(&mut &body[..])
            .unwrap();
        let again = apache_avro::writer::datum::GenericDatumWriter::builder(&schema.avro)
            .build()
            .unwrap()
            .write_value_to_vec(av)
            .unwrap();
        assert_eq!(&again[..], body);
        // creek reads back what it wrote.
        assert_eq!(f.deserialize(Some(&payload)).unwrap().unwrap(), row);
        // Truncated data is an error, not a panic.
        for n in 1..body.len() {
            assert!(f.deserialize(Some(&payload[..5 + n])).is_err() || n == 0);
        }
    }
}

#[tokio::test]
async fn avro_schema_id_fills_defaults_of_nested_fields() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let schema = r#"{"fields": [{"name": "eventID", "type": "string"}, {"name": "transaction", "type": {"fields": [{"name": "num_shares", "type": "int", "default": 0}, {"name": "amount", "type": ["null", "int"]}, {"name": "customer", "type": {"fields": [{"name": "first_name", "type": "string"}], "name": "customer", "type": "record"}}], "name": "transaction", "type": "record"}}, {"name": "optField", "type": "string", "default": "foo"}], "name": "Transaction", "namespace": "com.acme.namespace", "type": "record"}"#;
    let id = reg
        .register("model-transaction-value", schema)
        .await
        .unwrap();
    let cols = infer_columns_by_id(
        FormatKind::Avro,
        &ctx("model-transaction", false, Some(reg.clone())),
        id,
        None,
    )
    .await
    .unwrap();
    assert_eq!(cols[0].name, "eventID");
    let mut sp = spec(FormatKind::Avro);
    sp.properties.insert("schemaId".into(), id.to_string());
    // The query writes only `eventID` and `transaction`.
    let written = [cols[0].clone(), cols[1].clone()];
    let f = build(
        &sp,
        &written,
        &ctx("model-transaction", false, Some(reg.clone())),
    )
    .await
    .unwrap();
    let txn = Value::Struct(vec![
        (Arc::from("num_shares"), Value::Null),
        (Arc::from("amount"), Value::Null),
        (
            Arc::from("customer"),
            Value::Struct(vec![(Arc::from("first_name"), s("Jill"))]),
        ),
    ]);
    let bytes = f.serialize(Some(&[s("1"), txn])).unwrap().unwrap();
    assert_eq!(
        avro_payload_to_json(&reg, &bytes).unwrap(),
        json!({"eventID": "1", "transaction": {"num_shares": 0, "amount": null, "customer": {"first_name": "Jill"}}, "optField": "foo"})
    );
}

#[tokio::test]
async fn edge_cases() {
    // JSON: a `null` document is a null row; an array is not a row.
    let f = fmt(FormatKind::Json, &[col("FOO", SqlType::Int)], false).await;
    assert_eq!(f.deserialize(Some(b"null")).unwrap(), None);
    let e = f.deserialize(Some(b"[1]")).unwrap_err();
    assert!(
        e.contains("sourceType: ArrayNode, requiredType: STRUCT<`FOO` INTEGER>"),
        "{e}"
    );
    // JSON keys wrapped on request.
    let mut sp = spec(FormatKind::Json);
    sp.wrap_single_value = Some(true);
    let f = build(&sp, &[col("K", SqlType::Int)], &ctx("t", true, None))
        .await
        .unwrap();
    assert_eq!(
        text(f.serialize(Some(&[Value::Int(1)])).unwrap()),
        r#"{"K":1}"#
    );
    // DELIMITED: quoted delimiters and quotes.
    let f = fmt(
        FormatKind::Delimited,
        &[col("A", SqlType::String), col("B", SqlType::Int)],
        false,
    )
    .await;
    assert_eq!(
        f.deserialize(Some(br#""a,""b""",1"#)).unwrap(),
        Some(vec![s("a,\"b\""), Value::Int(1)])
    );
    assert!(f.deserialize(Some(br#""a,1"#)).is_err());
    // A single-column DELIMITED value row of NULL is empty text.
    let f = fmt(FormatKind::Delimited, &[col("A", SqlType::Int)], false).await;
    assert_eq!(f.serialize(Some(&[Value::Null])).unwrap(), Some(vec![]));
    assert_eq!(f.deserialize(Some(b"")).unwrap(), Some(vec![Value::Null]));
    // KAFKA strings are read leniently.
    let f = fmt(FormatKind::Kafka, &[col("K", SqlType::String)], true).await;
    assert_eq!(
        f.deserialize(Some(&[b'a', 0xff])).unwrap(),
        Some(vec![s("a\u{fffd}")])
    );
    // AVRO: bad framing and unknown ids are errors.
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let f = build(
        &spec(FormatKind::Avro),
        &[col("A", SqlType::Int)],
        &ctx("t", false, Some(reg)),
    )
    .await
    .unwrap();
    let e = f.deserialize(Some(&[1, 0, 0, 0, 1, 2])).unwrap_err();
    assert!(e.contains("unknown magic byte 1"), "{e}");
    let e = f.deserialize(Some(&[0, 0, 0, 0, 99, 2])).unwrap_err();
    assert!(e.contains("Schema with id 99 does not exist"), "{e}");
    // AVRO needs a registry.
    let e = build_err(&spec(FormatKind::Avro), &[col("A", SqlType::Int)], false).await;
    assert_eq!(e, "The AVRO format needs a schema registry");
}

#[tokio::test]
async fn json_without_columns() {
    let f = fmt(FormatKind::Json, &[], false).await;
    assert_eq!(text(f.serialize(Some(&[])).unwrap()), "{}");
    assert_eq!(f.deserialize(Some(br#"{"A":1}"#)).unwrap(), Some(vec![]));
    let f = fmt(FormatKind::Json, &[], true).await;
    assert_eq!(f.deserialize(Some(b"not json")).unwrap(), Some(vec![]));
    assert_eq!(f.serialize(Some(&[])).unwrap(), None);
}

#[tokio::test]
async fn avro_sources_register_only_if_the_subject_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let producer = r#"{"type":"record","name":"blah","fields":[{"name":"c1","type":"int"},{"name":"c2","type":["null","string"],"default":null}]}"#;
    let id = reg.register("src-value", producer).await.unwrap();
    let cols = [col("C1", SqlType::Int)];
    let f = build_with(
        &spec(FormatKind::Avro),
        &cols,
        &ctx("src", false, Some(reg.clone())),
        Registration::IfAbsent,
    )
    .await
    .unwrap();
    // Nothing registered; writes use the subject's schema.
    assert_eq!(reg.latest("src-value").unwrap().1.id, id);
    let bytes = f.serialize(Some(&[Value::Int(7)])).unwrap().unwrap();
    assert_eq!(i32::from_be_bytes(bytes[1..5].try_into().unwrap()), id);
    assert_eq!(
        avro_payload_to_json(&reg, &bytes).unwrap(),
        json!({"c1": 7, "c2": null})
    );
    assert_eq!(
        f.deserialize(Some(&bytes)).unwrap(),
        Some(vec![Value::Int(7)])
    );
    // An empty subject gets the columns' schema.
    build_with(
        &spec(FormatKind::Avro),
        &cols,
        &ctx("fresh", false, Some(reg.clone())),
        Registration::IfAbsent,
    )
    .await
    .unwrap();
    assert!(reg.latest("fresh-value").is_some());
}

#[tokio::test]
async fn avro_unions_of_several_types_are_structs() {
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path()).await;
    let schema =
        r#"{"type":"record","name":"r","fields":[{"name":"u","type":["null","int","string"]}]}"#;
    let id = reg.register("un-value", schema).await.unwrap();
    let c = ctx("un", false, Some(reg.clone()));
    let cols = infer_columns(FormatKind::Avro, &c).await.unwrap();
    let ty = SqlType::Struct(vec![
        Field::new("INT", SqlType::Int),
        Field::new("STRING", SqlType::String),
    ]);
    assert_eq!(cols, vec![col("U", ty)]);
    let f = build_with(&spec(FormatKind::Avro), &cols, &c, Registration::IfAbsent)
        .await
        .unwrap();
    let payload = avro_payload_from_json(&reg, id, &json!({"u": null})).unwrap();
    assert_eq!(
        f.deserialize(Some(&payload)).unwrap(),
        Some(vec![Value::Null])
    );
    // Written by another producer: the string branch.
    use apache_avro::types::Value as A;
    let payload = avro_payload(
        &reg,
        id,
        A::Record(vec![(
            "u".into(),
            A::Union(2, Box::new(A::String("x".into()))),
        )]),
    );
    let row = f.deserialize(Some(&payload)).unwrap().unwrap();
    assert_eq!(
        row,
        vec![Value::Struct(vec![
            (Arc::from("INT"), Value::Null),
            (Arc::from("STRING"), s("x")),
        ])]
    );
    // And written back through the subject's schema.
    let bytes = f.serialize(Some(&row)).unwrap().unwrap();
    assert_eq!(&bytes[5..], &payload[5..]);
}

#[test]
fn json_maps_iterate_in_java_hash_map_order() {
    // ksqlDB copies a JSON object into `new HashMap<>(3)`: four buckets, so
    // "yes, thanks" and "sure, yeah" share bucket 0 ahead of "nope" in 1.
    let ty = SqlType::map(SqlType::String, SqlType::Double);
    let json: serde_json::Value =
        serde_json::from_str(r#"{"yes, thanks": 3.5, "nope": 7.3, "sure, yeah": 2.1}"#).unwrap();
    let Value::Map(entries) = json_to_value(&json, &ty).unwrap() else {
        panic!("not a map");
    };
    let keys: Vec<String> = entries
        .iter()
        .map(|(k, _)| match k {
            Value::String(s) => s.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(keys, ["yes, thanks", "sure, yeah", "nope"]);
}
