//! Runs ksqlDB's query-validation tests (QTT) through creek's engine.
//!
//! Each test variant gets a fresh embedded log and registry in a temporary
//! folder; statements run in order; input records are serialized with the
//! format of the source reading their topic and fed one at a time, running
//! every query until idle after each; the records queries produced are then
//! compared with the expected outputs by ksqlDB's rules (see
//! `../shared/ksql-qtt/README.md`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use creek_schema::registry::Registry;
use creek_sql::types::{Field, SqlType};
use creek_sql::value::Value;
use creek_store::{LogStore, ProducerRecord};
use serde_json::Value as Json;

use crate::engine::{Engine, EngineConfig, Session};
use crate::format::{self, FormatKind, RowFormat};
use crate::metastore::DataSource;

/// Outcome of one test variant.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One variant's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// `<file stem> - <test name>[ - <FORMAT>][ - <CONFIG>]`
    pub name: String,
    pub outcome: Outcome,
}

pub use creek_sql::qtt_files::strip_comments;

/// The `.json` files of a folder, or the file itself.
pub fn test_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        Ok(files)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

/// Functions that exist only in ksqlDB's test build.
const TEST_ONLY_FUNCTIONS: &[&str] = &[
    "TEST_UDF",
    "TEST_UDAF",
    "MULTI_ARG",
    "FOUR_ARG",
    "FIVE_ARG",
    "VAR_ARG",
    "MID_VAR_ARG",
    "GENERIC_VAR_ARG",
    "OBJ_COL_ARG",
    "TEST_UDTF",
    "BAD_UDF",
    "THROWING_UDTF",
    "TOSTRUCT",
];

struct Variant {
    name: String,
    test: Json,
    format: Option<String>,
    config: Option<String>,
}

fn variants(stem: &str, test: &Json) -> Vec<Variant> {
    let name = test["name"].as_str().unwrap_or("?");
    let formats: Vec<Option<String>> = match test["format"].as_array() {
        Some(f) if !f.is_empty() => f.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![None],
    };
    let configs: Vec<Option<String>> = match test["config"].as_array() {
        Some(c) if !c.is_empty() => c.iter().map(|x| x.as_str().map(str::to_string)).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for f in &formats {
        for c in &configs {
            let mut n = format!("{stem} - {name}");
            if let Some(f) = f {
                n.push_str(&format!(" - {f}"));
            }
            if let Some(c) = c {
                n.push_str(&format!(" - {c}"));
            }
            out.push(Variant {
                name: n,
                test: test.clone(),
                format: f.clone(),
                config: c.clone(),
            });
        }
    }
    out
}

/// Runs every test of one file.
pub async fn run_file(path: &Path, open: OpenStore) -> Result<Vec<CaseResult>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: Json = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut results = Vec::new();
    for test in doc["tests"].as_array().cloned().unwrap_or_default() {
        for variant in variants(&stem, &test) {
            let outcome = run_variant(&variant, open).await;
            results.push(CaseResult {
                name: variant.name,
                outcome,
            });
        }
    }
    Ok(results)
}

fn skip_reason(v: &Variant, statements: &[String]) -> Option<String> {
    if v.test["enabled"] == Json::Bool(false) {
        return Some("disabled upstream".into());
    }
    let all = statements.join("\n").to_ascii_uppercase();
    for f in TEST_ONLY_FUNCTIONS {
        if all.contains(&format!("{f}(")) {
            return Some(format!("test-only function {f}"));
        }
    }
    for fmt in ["PROTOBUF", "JSON_SR"] {
        if all.contains(fmt) {
            return Some(format!("format {fmt}"));
        }
    }
    if let Some(topics) = v.test["topics"].as_array() {
        for t in topics {
            for k in ["format", "keyFormat", "valueFormat"] {
                if let Some(f) = t[k].as_str() {
                    if f.contains("PROTOBUF") || f == "JSON_SR" {
                        return Some(format!("format {f}"));
                    }
                }
            }
        }
    }
    None
}

async fn run_variant(v: &Variant, open: OpenStore) -> Outcome {
    let mut statements: Vec<String> = v.test["statements"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(f) = &v.format {
        for s in &mut statements {
            *s = s.replace("{FORMAT}", f);
        }
    }
    if let Some(reason) = skip_reason(v, &statements) {
        return Outcome::Skipped(reason);
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return Outcome::Failed(format!("tempdir: {e}")),
    };
    match run_in(v, &statements, dir.path(), open).await {
        Ok(()) => Outcome::Passed,
        Err(e) => Outcome::Failed(e),
    }
}

fn expected_exception(v: &Variant) -> Option<String> {
    let e = v.test.get("expectedException")?;
    Some(e["message"].as_str().unwrap_or("").to_string())
}

async fn run_in(
    v: &Variant,
    statements: &[String],
    dir: &Path,
    open: OpenStore,
) -> Result<(), String> {
    let store = open(dir)?;
    let registry = Registry::open(store.clone())
        .await
        .map_err(|e| e.to_string())?;
    // Upstream's runner uses a mock registry that never checks compatibility.
    registry
        .set_compatibility(None, creek_schema::CompatibilityLevel::None)
        .await
        .map_err(|e| e.to_string())?;
    let engine = Engine::new(
        store.clone(),
        Some(registry.clone()),
        EngineConfig {
            service_id: "some.ksql.service.id".into(),
            default_partitions: 4,
            spawn_queries: false,
            connect_url: None,
            state_limits: Default::default(),
        },
    );
    *engine.output_tap.lock() = Some(Vec::new());
    let mut session = test_session(&v.test, v.config.as_deref());
    let mut formats = TestFormats::default();
    let topic_schemas = create_test_topics(&v.test, statements, &store, &registry, 4).await?;

    // Statements.
    let expected_error = expected_exception(v);
    let script = statements.join("\n");
    let parsed = match creek_sql::parse_script(&script) {
        Ok(p) => p,
        Err(e) => {
            // Like ksqlDB's statement exceptions, name the failing statement.
            let mut first_line = 1;
            let mut failing = None;
            for s in statements {
                let lines = s.lines().count().max(1) as u32;
                if e.line < first_line + lines {
                    failing = Some(s);
                    break;
                }
                first_line += lines;
            }
            let e = match failing {
                Some(s) => format!("{e}\nStatement: {s}"),
                None => e.to_string(),
            };
            return match expected_error {
                Some(m) if e.contains(&m) || m.is_empty() => Ok(()),
                Some(m) => Err(format!("expected error containing {m:?}, got {e}")),
                None => Err(format!("parse error: {e}")),
            };
        }
    };
    let count = parsed.len();
    for (i, stmt) in parsed.iter().enumerate() {
        let text = match Engine::substitute(&stmt.text, &session) {
            Ok(text) => text,
            Err(e) => return check_error(&expected_error, &e.to_string(), i + 1 == count),
        };
        let statement = if text != stmt.text {
            match creek_sql::parse_statement(&text) {
                Ok(s) => s,
                Err(e) => return check_error(&expected_error, &e.to_string(), i + 1 == count),
            }
        } else {
            stmt.statement.clone()
        };
        if let Err(e) = engine.execute(&statement, &text, &mut session).await {
            return check_error(&expected_error, &e.to_string(), i + 1 == count);
        }
    }
    if engine.queries().is_empty() && expected_error.is_none() {
        // Upstream requires a persistent query; nothing to check without one.
    }

    // Inputs.
    let metastore = engine.metastore();
    for record in v.test["inputs"].as_array().into_iter().flatten() {
        let topic = record["topic"].as_str().unwrap_or_default();
        let source = metastore
            .sources
            .values()
            .find(|s| s.topic == topic)
            .cloned();
        let produced = encode_input(
            &mut formats,
            &engine,
            source.as_deref(),
            topic_schemas.get(topic),
            record,
        )
        .await;
        let produced = match produced {
            Ok(p) => p,
            Err(e) => return check_error(&expected_error, &e, true),
        };
        store
            .produce(topic, 0, vec![produced])
            .await
            .map_err(|e| e.to_string())?;
        if let Err(e) = engine.run_until_idle().await {
            return check_error(&expected_error, &e.to_string(), true);
        }
    }
    if let Some(m) = expected_error {
        return Err(format!(
            "expected an error containing {m:?}, but none occurred"
        ));
    }

    // Outputs.
    let tap = engine.output_tap.lock().take().unwrap_or_default();
    let metastore = engine.metastore();
    let expected: Vec<&Json> = v.test["outputs"].as_array().into_iter().flatten().collect();
    let mut topics: Vec<String> = Vec::new();
    for e in &expected {
        let t = e["topic"].as_str().unwrap_or_default().to_string();
        if !topics.contains(&t) {
            topics.push(t);
        }
    }
    for topic in topics {
        let want: Vec<&&Json> = expected
            .iter()
            .filter(|e| e["topic"].as_str() == Some(topic.as_str()))
            .collect();
        let got: Vec<&ProducerRecord> = tap
            .iter()
            .filter(|(t, _)| *t == topic)
            .map(|(_, r)| r)
            .collect();
        let source = metastore
            .sources
            .values()
            .find(|s| s.topic == topic)
            .cloned();
        for (i, w) in want.iter().enumerate() {
            let Some(g) = got.get(i) else {
                // The processing log usually says why a record went missing.
                let log_topic = engine.processing_log_topic();
                let why = tap
                    .iter()
                    .find(|(t, _)| *t == log_topic && topic != log_topic)
                    .and_then(|(_, r)| r.value.as_ref())
                    .map(|v| format!(" (processing log: {})", String::from_utf8_lossy(v)))
                    .unwrap_or_default();
                return Err(format!(
                    "topic {topic}: expected {} records, got {}; missing {}{why}",
                    want.len(),
                    got.len(),
                    w
                ));
            };
            let actual = decode_output(&mut formats, &engine, source.as_deref(), g).await?;
            if !json_matches(&w["value"], &actual.1) {
                return Err(format!(
                    "topic {topic} record {i}: value {} != expected {}",
                    actual.1, w["value"]
                ));
            }
            let want_key = w.get("key").cloned().unwrap_or(Json::Null);
            if !json_matches(&want_key, &actual.0) {
                return Err(format!(
                    "topic {topic} record {i}: key {} != expected {}",
                    actual.0, want_key
                ));
            }
            // Windows are checked on windowed sinks: windowed aggregations
            // and queries over windowed sources.
            if let (Some(want), Some(s)) = (
                w.get("window"),
                source.as_deref().filter(|s| s.window.is_some()),
            ) {
                let got = output_window(s, g)?.map(|(_, w)| w);
                let expected = (want["start"].as_i64(), want["end"].as_i64());
                if got.map(|(a, b)| (Some(a), Some(b))) != Some(expected) {
                    return Err(format!(
                        "topic {topic} record {i}: window {got:?} != expected {want}"
                    ));
                }
            }
            if let Some(ts) = w.get("timestamp").and_then(|t| t.as_i64()) {
                if g.timestamp != Some(ts) {
                    return Err(format!(
                        "topic {topic} record {i}: timestamp {:?} != expected {ts}",
                        g.timestamp
                    ));
                }
            }
        }
        if got.len() > want.len() {
            return Err(format!(
                "topic {topic}: expected {} records, got {} (extra)",
                want.len(),
                got.len()
            ));
        }
    }
    Ok(())
}

/// A test's session: `auto.offset.reset=earliest` and its `properties`,
/// with `{CONFIG}` replaced by the variant's config value.
pub(crate) fn test_session(test: &Json, config: Option<&str>) -> Session {
    let mut session = Session::default();
    session
        .properties
        .insert("auto.offset.reset".into(), "earliest".into());
    for (k, val) in test["properties"].as_object().into_iter().flatten() {
        let mut s = match val {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        };
        if s == "{CONFIG}" {
            s = config.unwrap_or_default().to_string();
        }
        session.properties.insert(k.clone(), s);
    }
    session
}

/// Creates a test's topics: the declared ones (registering their AVRO
/// schemas, under the ids they name), then those named by statements and
/// input records with `partitions` partitions. Returns the declared schemas.
pub(crate) async fn create_test_topics(
    test: &Json,
    statements: &[String],
    store: &Arc<dyn LogStore>,
    registry: &Registry,
    partitions: i32,
) -> Result<BTreeMap<String, TopicSchema>, String> {
    let mut topic_schemas: BTreeMap<String, TopicSchema> = BTreeMap::new();
    // Upstream collects the declared topics and those its CREATE statements
    // give a schema into a Java HashMap and registers their schemas in that
    // map's order, so a schema's implicit id depends on its topic's hash.
    enum Declared<'a> {
        Test(&'a Json),
        Statement { key: bool, value: bool },
    }
    let mut all: Vec<(String, Declared)> = Vec::new();
    for t in test["topics"].as_array().into_iter().flatten() {
        if let Some(name) = t["name"].as_str() {
            all.retain(|(n, _)| n != name);
            all.push((name.to_string(), Declared::Test(t)));
        }
    }
    for text in statements {
        if let Some((topic, key, value)) = statement_schemas(text) {
            if !all.iter().any(|(n, _)| *n == topic) {
                all.push((topic, Declared::Statement { key, value }));
            }
        }
    }
    let all = format::java_hash_map_order_by(all, 16, |(name, _)| name.as_str());
    let mut next_id = 1;
    for (name, declared) in &all {
        let t = match declared {
            Declared::Test(t) => *t,
            Declared::Statement { key, value } => {
                // The engine registers these when it runs the statement; they
                // only take up ids here.
                next_id += i32::from(*key) + i32::from(*value);
                continue;
            }
        };
        let declared = t["partitions"].as_i64().unwrap_or(1) as i32;
        let _ = store.create_topic(name, declared, BTreeMap::new()).await;
        let key_format = t["keyFormat"].as_str().map(str::to_string);
        let value_format = t["valueFormat"]
            .as_str()
            .or(t["format"].as_str())
            .map(str::to_string);
        let key_schema = t.get("keySchema").filter(|s| !s.is_null()).cloned();
        let value_schema = t
            .get("valueSchema")
            .or(t.get("schema"))
            .filter(|s| !s.is_null())
            .cloned();
        for (schema, suffix, fmt, id_key) in [
            (&key_schema, "key", &key_format, "keySchemaId"),
            (&value_schema, "value", &value_format, "valueSchemaId"),
        ] {
            let Some(schema) = schema else { continue };
            if fmt.as_deref().unwrap_or("AVRO") != "AVRO" {
                continue;
            }
            let subject = format!("{name}-{suffix}");
            let text = schema.to_string();
            let id = match t[id_key].as_i64() {
                Some(id) => id as i32,
                None => {
                    next_id += 1;
                    next_id - 1
                }
            };
            registry
                .register_with_id(&subject, &text, id)
                .await
                .map_err(|e| format!("registering the test schema: {e}"))?;
        }
        topic_schemas.insert(
            name.to_string(),
            (key_schema, value_schema, key_format, value_format),
        );
    }
    // A statement's own PARTITIONS wins over the default.
    let named = statements
        .iter()
        .filter_map(|s| kafka_topic_of(s).map(|t| (t, partitions_of(s).unwrap_or(partitions))))
        .chain(
            test["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["topic"].as_str().map(|t| (t.to_string(), partitions))),
        );
    for (t, n) in named {
        if store.describe_topic(&t).await.is_err() {
            let _ = store.create_topic(&t, n, BTreeMap::new()).await;
        }
    }
    Ok(topic_schemas)
}

fn check_error(expected: &Option<String>, got: &str, last: bool) -> Result<(), String> {
    match expected {
        Some(m) if last && got.contains(m.as_str()) => Ok(()),
        Some(m) => Err(format!("expected error containing {m:?}, got {got:?}")),
        None => Err(got.to_string()),
    }
}

/// For a CREATE STREAM/TABLE with columns: its topic and whether it gives
/// the key and the value an AVRO schema.
fn statement_schemas(text: &str) -> Option<(String, bool, bool)> {
    use creek_sql::ast::{ColumnConstraint, Literal, Statement};
    let Ok(Statement::CreateSource {
        columns,
        properties,
        ..
    }) = creek_sql::parse_statement(text)
    else {
        return None;
    };
    let prop = |name: &str| {
        properties.iter().find_map(|(k, v)| match v {
            Literal::String(s) if k.eq_ignore_ascii_case(name) => Some(s.to_ascii_uppercase()),
            _ => None,
        })
    };
    let topic = properties.iter().find_map(|(k, v)| match v {
        Literal::String(s) if k.eq_ignore_ascii_case("KAFKA_TOPIC") => Some(s.clone()),
        _ => None,
    })?;
    let format = prop("FORMAT");
    let avro = |f: Option<String>| f.or(format.clone()).as_deref() == Some("AVRO");
    let has = |key: bool| {
        columns.iter().any(|c| {
            matches!(
                c.constraint,
                ColumnConstraint::Key | ColumnConstraint::PrimaryKey
            ) == key
                && !matches!(
                    c.constraint,
                    ColumnConstraint::Headers | ColumnConstraint::Header(_)
                )
        })
    };
    let key = has(true) && avro(prop("KEY_FORMAT"));
    let value = has(false) && avro(prop("VALUE_FORMAT"));
    Some((topic, key, value))
}

/// The `kafka_topic` a CREATE statement names, if any.
/// The `PARTITIONS=n` of a CREATE statement, if it has one.
fn partitions_of(statement: &str) -> Option<i32> {
    let lower = statement.to_ascii_lowercase();
    let i = lower.find("partitions")?;
    let rest = lower[i + "partitions".len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

pub fn kafka_topic_of(statement: &str) -> Option<String> {
    let lower = statement.to_ascii_lowercase();
    let i = lower.find("kafka_topic")?;
    let rest = &statement[i + "kafka_topic".len()..];
    let start = rest.find('\'')? + 1;
    let end = rest[start..].find('\'')? + start;
    Some(rest[start..end].to_string())
}

fn columns_type(cols: &[format::Column]) -> SqlType {
    SqlType::Struct(
        cols.iter()
            .map(|c| Field::new(c.name.clone(), c.ty.clone()))
            .collect(),
    )
}

/// A row from test JSON: an object of columns, or a bare value for one column.
fn json_row(json: &Json, cols: &[format::Column]) -> Result<Vec<Value>, String> {
    if cols.len() == 1 && !json.is_object() {
        return Ok(vec![format::json_to_value(json, &cols[0].ty)?]);
    }
    if cols.len() == 1 {
        // An object may be the single column's own STRUCT/MAP value.
        let lookup = json.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&cols[0].name))
        });
        let nested = matches!(cols[0].ty, SqlType::Struct(_) | SqlType::Map(..));
        if lookup.is_none() && nested {
            return Ok(vec![format::json_to_value(json, &cols[0].ty)?]);
        }
    }
    match format::json_to_value(json, &columns_type(cols))? {
        Value::Struct(fields) => Ok(fields.into_iter().map(|(_, v)| v).collect()),
        Value::Null => Ok(vec![Value::Null; cols.len()]),
        other => Err(format!("expected a row, got {other:?}")),
    }
}

pub type TopicSchema = (Option<Json>, Option<Json>, Option<String>, Option<String>);

pub async fn encode_input(
    formats: &mut TestFormats,
    engine: &Engine,
    source: Option<&DataSource>,
    topic_schema: Option<&TopicSchema>,
    record: &Json,
) -> Result<ProducerRecord, String> {
    let key_json = record.get("key").cloned().unwrap_or(Json::Null);
    let value_json = record.get("value").cloned().unwrap_or(Json::Null);
    let headers = record["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let k = h["KEY"].as_str().unwrap_or_default().to_string();
            let v = h["VALUE"].as_str().map(|b| {
                use base64::Engine as _;
                bytes::Bytes::from(
                    base64::engine::general_purpose::STANDARD
                        .decode(b)
                        .unwrap_or_default(),
                )
            });
            (k, v)
        })
        .collect();
    let timestamp = Some(record["timestamp"].as_i64().unwrap_or(0));
    let (key, value) = match source {
        None => (raw_json(&key_json), raw_json(&value_json)),
        Some(s) => {
            // Whether the test registered its own AVRO schema for the key (0)
            // or value (1) of this topic: records are then written with it.
            let topic_avro = |i: usize| {
                topic_schema.is_some_and(|t| {
                    let (schema, fmt) = if i == 0 { (&t.0, &t.2) } else { (&t.1, &t.3) };
                    schema.is_some() && fmt.as_deref().unwrap_or("AVRO") == "AVRO"
                })
            };
            let key = if key_json.is_null() {
                None
            } else if s.key_columns().next().is_none() {
                // A keyless stream ignores the key: write it as given.
                raw_json(&key_json)
            } else if topic_avro(0) {
                Some(avro_from_test_json(engine, &s.topic, true, &key_json)?)
            } else {
                encode_with(formats, engine, s, true, &key_json).await?
            };
            let value = if value_json.is_null() {
                None
            } else if topic_avro(1) {
                Some(avro_from_test_json(engine, &s.topic, false, &value_json)?)
            } else {
                encode_with(formats, engine, s, false, &value_json).await?
            };
            (key, value)
        }
    };
    // A windowed source's keys carry the record's window.
    let window = record
        .get("window")
        .and_then(|w| Some((w["start"].as_i64()?, w["end"].as_i64()?)));
    let key = match (key, source.and_then(|s| s.window), window) {
        (Some(k), Some(w), Some(window)) => Some(format::windowed_key(w.kind, &k, window)),
        (k, _, _) => k,
    };
    Ok(ProducerRecord {
        key: key.map(bytes::Bytes::from),
        value: value.map(bytes::Bytes::from),
        headers,
        timestamp,
    })
}

fn raw_json(j: &Json) -> Option<Vec<u8>> {
    match j {
        Json::Null => None,
        Json::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

/// Row formats of the sources a test reads and writes, built once per source
/// side (building one for an AVRO sink registers its schema).
#[derive(Default)]
pub struct TestFormats {
    built: HashMap<(String, bool), Arc<dyn RowFormat>>,
}

impl TestFormats {
    async fn get(
        &mut self,
        engine: &Engine,
        s: &DataSource,
        key: bool,
    ) -> Result<Arc<dyn RowFormat>, String> {
        if let Some(f) = self.built.get(&(s.name.clone(), key)) {
            return Ok(f.clone());
        }
        let (spec, cols) = if key {
            (&s.key_format, s.key_format_columns())
        } else {
            (&s.value_format, s.value_format_columns())
        };
        let ctx = format::FormatContext {
            registry: engine.registry.clone(),
            topic: s.topic.clone(),
            is_key: key,
        };
        let f = format::build(spec, &cols, &ctx).await?;
        self.built.insert((s.name.clone(), key), f.clone());
        Ok(f)
    }
}

async fn encode_with(
    formats: &mut TestFormats,
    engine: &Engine,
    s: &DataSource,
    key: bool,
    json: &Json,
) -> Result<Option<Vec<u8>>, String> {
    let spec = if key { &s.key_format } else { &s.value_format };
    let cols = if key {
        s.key_format_columns()
    } else {
        s.value_format_columns()
    };
    match spec.kind {
        // Text formats take the test's JSON as written.
        FormatKind::Json => Ok(Some(json.to_string().into_bytes())),
        FormatKind::Delimited => Ok(raw_json(json)),
        FormatKind::None => Ok(None),
        _ => {
            let fmt = formats.get(engine, s, key).await?;
            let row = json_row(json, &cols)?;
            fmt.serialize(Some(&row))
        }
    }
}

/// Serializes test JSON with the Avro schema a test registered for its topic.
fn avro_from_test_json(
    engine: &Engine,
    topic: &str,
    key: bool,
    json: &Json,
) -> Result<Vec<u8>, String> {
    let registry = engine.registry.as_ref().ok_or("no registry")?;
    let subject = format!("{topic}-{}", if key { "key" } else { "value" });
    let (_version, registered) = registry
        .latest(&subject)
        .ok_or_else(|| format!("no schema registered for {subject}"))?;
    let id = registered.id;
    let value = json_to_avro(json, &registered.avro)
        .map_err(|e| format!("test record does not fit the topic's schema: {e}"))?;
    #[allow(deprecated)]
    let body = apache_avro::to_avro_datum(&registered.avro, value).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(body.len() + 5);
    creek_avro::wire::frame(id, &body, &mut out);
    Ok(out)
}

/// Decodes an output record to (key JSON, value JSON) for comparison.
pub async fn decode_output(
    formats: &mut TestFormats,
    engine: &Engine,
    source: Option<&DataSource>,
    record: &ProducerRecord,
) -> Result<(Json, Json), String> {
    let Some(s) = source else {
        let text = |b: &Option<bytes::Bytes>| match b {
            None => Json::Null,
            Some(b) => serde_json::from_slice(b)
                .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(b).to_string())),
        };
        return Ok((text(&record.key), text(&record.value)));
    };
    let mut out = Vec::new();
    for key in [true, false] {
        let spec = if key { &s.key_format } else { &s.value_format };
        let cols = if key {
            s.key_format_columns()
        } else {
            s.value_format_columns()
        };
        let bytes = if key { &record.key } else { &record.value };
        let Some(bytes) = bytes else {
            out.push(Json::Null);
            continue;
        };
        let bytes = &match (key, output_window(s, record)?) {
            (true, Some((inner, _))) => bytes::Bytes::from(inner),
            _ => bytes.clone(),
        };
        let json = match spec.kind {
            FormatKind::Json => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
            FormatKind::Delimited => Json::String(String::from_utf8_lossy(bytes).to_string()),
            // Decoded with its writer schema, so unwrapped values stay bare.
            FormatKind::Avro => avro_to_test_json(engine, bytes)?,
            _ => {
                let fmt = formats.get(engine, s, key).await?;
                match fmt.deserialize(Some(bytes))? {
                    None => Json::Null,
                    Some(row)
                        if cols.len() == 1
                            && (key
                                || spec.kind == FormatKind::Kafka
                                || spec.wrap_single_value == Some(false)) =>
                    {
                        format::value_to_json(&row[0])
                    }
                    Some(row) => {
                        let mut obj = serde_json::Map::new();
                        for (c, v) in cols.iter().zip(row) {
                            obj.insert(c.name.clone(), format::value_to_json(&v));
                        }
                        Json::Object(obj)
                    }
                }
            }
        };
        out.push(json);
    }
    Ok((out.remove(0), out.remove(0)))
}

/// A windowed sink's record: its key bytes without the window, and the
/// window `[start, end)`.
#[allow(clippy::type_complexity)]
pub fn output_window(
    s: &DataSource,
    record: &ProducerRecord,
) -> Result<Option<(Vec<u8>, (i64, i64))>, String> {
    let (Some(w), Some(key)) = (&s.window, &record.key) else {
        return Ok(None);
    };
    let (inner, window) = format::split_windowed_key(w, key)?;
    Ok(Some((inner.to_vec(), window)))
}

/// An Avro record decoded with its writer schema to JSON, the way the
/// upstream runner renders it (records as objects, unions unwrapped,
/// decimals as exact numbers, bytes as base64).
fn avro_to_test_json(engine: &Engine, bytes: &[u8]) -> Result<Json, String> {
    let registry = engine.registry.as_ref().ok_or("no registry")?;
    let (id, body) = creek_avro::wire::split(bytes).map_err(|e| e.to_string())?;
    let schema = registry
        .schema_by_id(id)
        .ok_or_else(|| format!("schema id {id} not found"))?;
    let mut reader = body;
    #[allow(deprecated)]
    let value = apache_avro::from_avro_datum(&schema.avro, &mut reader, None)
        .map_err(|e| format!("bad Avro record: {e}"))?;
    Ok(avro_json(&value, &schema.avro))
}

fn avro_json(v: &apache_avro::types::Value, schema: &apache_avro::Schema) -> Json {
    use apache_avro::types::Value as A;
    use apache_avro::Schema;
    use base64::Engine as _;
    match (v, schema) {
        (A::Union(i, inner), Schema::Union(u)) => match u.variants().get(*i as usize) {
            Some(s) => avro_json(inner, s),
            None => Json::Null,
        },
        (A::Null, _) => Json::Null,
        (A::Boolean(b), _) => Json::Bool(*b),
        (A::Int(i) | A::Date(i) | A::TimeMillis(i), _) => Json::from(*i),
        (A::Long(i) | A::TimestampMillis(i) | A::TimeMicros(i) | A::TimestampMicros(i), _) => {
            Json::from(*i)
        }
        (A::Float(f), _) => serde_json::Number::from_f64(*f as f64)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        (A::Double(f), _) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        (A::String(s) | A::Enum(_, s), _) => Json::String(s.clone()),
        (A::Bytes(b) | A::Fixed(_, b), _) => {
            Json::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (A::Decimal(d), s) => {
            let scale = match s {
                Schema::Decimal(d) => d.scale as u32,
                _ => 0,
            };
            let bytes: Vec<u8> = d.try_into().unwrap_or_default();
            let mut buf = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                [0xffu8; 16]
            } else {
                [0u8; 16]
            };
            let n = bytes.len().min(16);
            buf[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
            let text = creek_sql::value::Decimal::new(i128::from_be_bytes(buf), scale).to_string();
            serde_json::from_str(&text).unwrap_or(Json::String(text))
        }
        // ksqlDB writes maps as arrays of key/value records (Connect's MapEntry).
        (A::Array(items), Schema::Array(a)) if matches!(&*a.items, Schema::Record(r) if r.fields.len() == 2 && r.fields[0].name == "key" && r.fields[1].name == "value") =>
        {
            let Schema::Record(r) = &*a.items else {
                return Json::Null;
            };
            let mut obj = serde_json::Map::new();
            for item in items {
                if let A::Record(kv) = item {
                    let key = match avro_json(&kv[0].1, &r.fields[0].schema) {
                        Json::String(s) => s,
                        Json::Null => "null".into(),
                        other => other.to_string(),
                    };
                    obj.insert(key, avro_json(&kv[1].1, &r.fields[1].schema));
                }
            }
            Json::Object(obj)
        }
        (A::Array(items), Schema::Array(a)) => {
            Json::Array(items.iter().map(|i| avro_json(i, &a.items)).collect())
        }
        (A::Map(m), Schema::Map(ms)) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), avro_json(v, &ms.types)))
                .collect(),
        ),
        (A::Record(fields), Schema::Record(r)) => Json::Object(
            fields
                .iter()
                .zip(&r.fields)
                .map(|((k, v), f)| (k.clone(), avro_json(v, &f.schema)))
                .collect(),
        ),
        (other, _) => Json::String(format!("{other:?}")),
    }
}

/// ksqlDB's comparison of an expected test value with an actual one.
pub fn json_matches(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            e.len() == a.len()
                && e.iter().all(|(k, ev)| {
                    let av = a
                        .get(k)
                        .or_else(|| a.get(&k.to_ascii_uppercase()))
                        .or_else(|| {
                            a.iter()
                                .find(|(ak, _)| ak.eq_ignore_ascii_case(k))
                                .map(|(_, v)| v)
                        });
                    // ksqlDB's comparator reads an absent field as null.
                    json_matches(ev, av.unwrap_or(&Json::Null))
                })
        }
        (Json::Array(e), Json::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(x, y)| json_matches(x, y))
        }
        (Json::Number(e), Json::Number(a)) => {
            let (es, as_) = (e.to_string(), a.to_string());
            if es == as_ {
                return true;
            }
            let int = |s: &str| !s.contains(['.', 'e', 'E']);
            if int(&es) && int(&as_) {
                return es.parse::<i128>().ok() == as_.parse::<i128>().ok();
            }
            match (e.as_f64(), a.as_f64()) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-6 || (x.is_nan() && y.is_nan()),
                _ => false,
            }
        }
        (Json::String(e), Json::Number(a)) => {
            // A decimal written as a string, its integer part zero-padded to
            // the type's precision ("005.4" for 5.4 as DECIMAL(4,1)); the
            // scale still has to match.
            let unpadded = |s: &str| {
                let (sign, digits) = match s.strip_prefix('-') {
                    Some(d) => ("-", d),
                    None => ("", s),
                };
                let trimmed = digits.trim_start_matches('0');
                let trimmed = if trimmed.is_empty() || trimmed.starts_with('.') {
                    format!("0{trimmed}")
                } else {
                    trimmed.to_string()
                };
                format!("{sign}{trimmed}")
            };
            unpadded(e) == unpadded(&a.to_string())
        }
        (Json::Number(e), Json::String(a)) => {
            a == &e.to_string() || a.parse::<f64>().ok() == e.as_f64()
        }
        _ => expected == actual,
    }
}

/// Runs files and prints one line per file plus the summary; returns all results.
pub async fn run_paths(
    paths: &[PathBuf],
    verbose: bool,
    open: OpenStore,
) -> Result<Vec<CaseResult>, String> {
    run_paths_with(
        paths,
        verbose,
        |file| async move { run_file(&file, open).await },
    )
    .await
}

/// Opens the log one conformance case runs against, in a fresh folder of its own
/// (the caller chooses the implementation: creek's embedded log, say).
pub type OpenStore = fn(&Path) -> Result<Arc<dyn LogStore>, String>;

/// [`run_paths`] with another runner for each file (the REST runner's).
pub async fn run_paths_with<F, Fut>(
    paths: &[PathBuf],
    verbose: bool,
    run_file: F,
) -> Result<Vec<CaseResult>, String>
where
    F: Fn(PathBuf) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<CaseResult>, String>>,
{
    let mut all = Vec::new();
    for path in paths {
        for file in test_files(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let results = run_file(file.clone()).await?;
            print_file(&file, &results, verbose);
            all.extend(results);
        }
    }
    print_summary(&all);
    Ok(all)
}

fn count(results: &[CaseResult], f: fn(&Outcome) -> bool) -> usize {
    results.iter().filter(|r| f(&r.outcome)).count()
}

/// One file's line (`f.json: N passed, N failed, N skipped`), and with
/// `verbose` every case with its outcome.
pub fn print_file(file: &Path, results: &[CaseResult], verbose: bool) {
    println!(
        "{}: {} passed, {} failed, {} skipped",
        file.file_name().unwrap_or_default().to_string_lossy(),
        count(results, |o| matches!(o, Outcome::Passed)),
        count(results, |o| matches!(o, Outcome::Failed(_))),
        count(results, |o| matches!(o, Outcome::Skipped(_))),
    );
    if verbose {
        for r in results {
            match &r.outcome {
                Outcome::Passed => println!("  PASS {}", r.name),
                Outcome::Failed(m) => println!("  FAIL {}: {}", r.name, m.replace('\n', " ")),
                Outcome::Skipped(m) => println!("  SKIP {}: {m}", r.name),
            }
        }
    }
}

/// The closing line: `N passed, N failed, N skipped`.
pub fn print_summary(all: &[CaseResult]) {
    println!(
        "{} passed, {} failed, {} skipped",
        count(all, |o| matches!(o, Outcome::Passed)),
        count(all, |o| matches!(o, Outcome::Failed(_))),
        count(all, |o| matches!(o, Outcome::Skipped(_))),
    );
}

/// Test JSON to an Avro value of `schema` (field names matched
/// case-insensitively, unions by the first branch that fits).
fn json_to_avro(
    json: &Json,
    schema: &apache_avro::Schema,
) -> Result<apache_avro::types::Value, String> {
    use apache_avro::types::Value as A;
    use apache_avro::Schema;
    let bad = || format!("{json} does not fit {schema:?}");
    Ok(match schema {
        Schema::Null => match json {
            Json::Null => A::Null,
            _ => return Err(bad()),
        },
        Schema::Boolean => A::Boolean(json.as_bool().ok_or_else(bad)?),
        Schema::Int => A::Int(json.as_i64().ok_or_else(bad)? as i32),
        Schema::Long => A::Long(json.as_i64().ok_or_else(bad)?),
        Schema::Float => A::Float(json.as_f64().ok_or_else(bad)? as f32),
        Schema::Double => A::Double(json.as_f64().ok_or_else(bad)?),
        // Like ksqlDB's test serializer, a number or boolean where the schema
        // wants a string is written as its text.
        Schema::String => A::String(match json {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Bool(b) => b.to_string(),
            _ => return Err(bad()),
        }),
        Schema::Bytes => A::Bytes(match json {
            Json::String(s) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .unwrap_or_else(|_| s.as_bytes().to_vec())
            }
            _ => return Err(bad()),
        }),
        Schema::Date => A::Date(json.as_i64().ok_or_else(bad)? as i32),
        Schema::TimeMillis => A::TimeMillis(json.as_i64().ok_or_else(bad)? as i32),
        Schema::TimestampMillis => A::TimestampMillis(json.as_i64().ok_or_else(bad)?),
        Schema::Decimal(d) => {
            let text = match json {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            let dec = creek_sql::value::Decimal::parse(&text)
                .and_then(|x| x.rescale(d.scale as u32))
                .ok_or_else(bad)?;
            A::Decimal(apache_avro::Decimal::from(
                dec.unscaled.to_be_bytes().to_vec(),
            ))
        }
        Schema::Array(a) => A::Array(
            json.as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|i| json_to_avro(i, &a.items))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Map(m) => A::Map(
            json.as_object()
                .ok_or_else(bad)?
                .iter()
                .map(|(k, v)| Ok((k.clone(), json_to_avro(v, &m.types)?)))
                .collect::<Result<_, String>>()?,
        ),
        Schema::Record(r) => {
            let obj = json.as_object().ok_or_else(bad)?;
            let mut fields = Vec::new();
            for f in &r.fields {
                let v = obj
                    .get(&f.name)
                    .or_else(|| {
                        obj.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&f.name))
                            .map(|(_, v)| v)
                    })
                    .unwrap_or(&Json::Null);
                fields.push((f.name.clone(), json_to_avro(v, &f.schema)?));
            }
            A::Record(fields)
        }
        Schema::Union(u) => {
            for (i, variant) in u.variants().iter().enumerate() {
                if let Ok(v) = json_to_avro(json, variant) {
                    return Ok(A::Union(i as u32, Box::new(v)));
                }
            }
            return Err(bad());
        }
        Schema::Enum(e) => {
            let s = json.as_str().ok_or_else(bad)?;
            let i = e.symbols.iter().position(|x| x == s).ok_or_else(bad)?;
            A::Enum(i as u32, s.to_string())
        }
        _ => return Err(format!("unsupported Avro schema in a test: {schema:?}")),
    })
}
