//! `creek bench sql`: a persistent filter + projection with date formatting over
//! N Avro seed records already in the log (Avro in, Avro out), in input records/s.
//!
//! Setup (not timed): an embedded log and Schema Registry in a temporary folder; the
//! seed's `customers` value schema (as the JDBC source writes it: Connect-style Avro,
//! every column optional, DATE and TIMESTAMP logical types) registered under
//! `psg-customers-value`; N rows from [`creek_pg::CustomerGenerator`] (fixed seed)
//! appended in Confluent wire format to `psg-customers`.
//!
//! Timed: `Engine::run_until_idle` for the seed's persistent query until the sink topic
//! holds every expected row. Peer, same run, same records: a raw read of the log, and
//! the same read with every value decoded and re-encoded by apache-avro's generic
//! reader/writer (no filter, no projection) — the floor a query over this data pays.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::Schema;
use apache_avro::writer::datum::GenericDatumWriter;
use bytes::Bytes;
use clap::Args;
use creek_log::{EmbeddedLog, Log, LogConfig, LogStore, OffsetSpec, ProducerRecord};
use creek_pg::{CustomerGenerator, Locale};
use creek_schema::registry::Registry;
use creek_sql_engine::engine::{Engine, EngineConfig, Session};

const TOPIC: &str = "psg-customers";
const SINK: &str = "ADULTS";

/// ksqlDB's capacity-planning guide: about 50k records/s per core for a
/// project/filter query.
const KSQLDB_PER_CORE: f64 = 50_000.0;
/// The target on this 2-core machine.
const TARGET: f64 = 500_000.0;

const STATEMENTS: &str =
    "CREATE STREAM custstream WITH (kafka_topic='psg-customers', value_format='AVRO');
CREATE STREAM adults AS SELECT id, UCASE(nome) AS nome, sexo, email, \
TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') AS nascimento, \
FORMAT_TIMESTAMP(dt_update, 'yyyy-MM-dd HH:mm:ss') AS atualizado \
FROM custstream WHERE sexo = 'F' OR id % 2 = 0 EMIT CHANGES;";

#[derive(Args, Debug)]
pub struct SqlBench {
    /// Seed records in the source topic.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep the temporary folder (its path is printed).
    #[arg(long)]
    pub keep: bool,
}

/// The seed table's value schema, as the JDBC source registers it.
fn seed_schema() -> String {
    let opt = |name: &str, t: serde_json::Value| serde_json::json!({"name": name, "type": ["null", t], "default": null});
    serde_json::json!({
        "type": "record",
        "name": "customers",
        "fields": [
            opt("id", serde_json::json!("int")),
            opt("nome", serde_json::json!("string")),
            opt("sexo", serde_json::json!("string")),
            opt("endereco", serde_json::json!("string")),
            opt("telefone", serde_json::json!("string")),
            opt("email", serde_json::json!("string")),
            opt("foto", serde_json::json!("string")),
            opt("nascimento", serde_json::json!({"type": "int", "connect.version": 1,
                "connect.name": "org.apache.kafka.connect.data.Date", "logicalType": "date"})),
            opt("profissao", serde_json::json!("string")),
            opt("dt_update", serde_json::json!({"type": "long", "connect.version": 1,
                "connect.name": "org.apache.kafka.connect.data.Timestamp",
                "logicalType": "timestamp-millis"})),
        ],
        "connect.name": "customers",
    })
    .to_string()
}

fn zigzag(v: i64, out: &mut Vec<u8>) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn opt_str(s: &str, out: &mut Vec<u8>) {
    out.push(2); // union branch 1
    zigzag(s.len() as i64, out);
    out.extend_from_slice(s.as_bytes());
}

fn opt_long(v: i64, out: &mut Vec<u8>) {
    out.push(2);
    zigzag(v, out);
}

/// Produces `n` seed rows; returns (payload bytes, rows the query keeps).
async fn load(store: &Arc<dyn LogStore>, schema_id: i32, n: u64) -> anyhow::Result<(u64, u64)> {
    let mut generator = CustomerGenerator::with_seed(Locale::En, 42);
    let mut bytes = 0u64;
    let mut kept = 0u64;
    let mut id = 0u64;
    while id < n {
        let chunk = (n - id).min(1000) as usize;
        let mut records = Vec::with_capacity(chunk);
        for c in generator.batch(chunk) {
            id += 1;
            let mut v = Vec::with_capacity(320);
            v.push(0);
            v.extend_from_slice(&schema_id.to_be_bytes());
            opt_long(id as i64, &mut v);
            opt_str(&c.nome, &mut v);
            opt_str(c.sexo, &mut v);
            opt_str(&c.endereco, &mut v);
            opt_str(&c.telefone, &mut v);
            opt_str(&c.email, &mut v);
            opt_str(&c.foto, &mut v);
            let days = c
                .nascimento
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp().div_euclid(86_400))
                .unwrap_or(0);
            opt_long(days, &mut v);
            opt_str(&c.profissao, &mut v);
            let millis = c.dt_update.and_utc().timestamp_millis();
            opt_long(millis, &mut v);
            if c.sexo == "F" || id.is_multiple_of(2) {
                kept += 1;
            }
            bytes += v.len() as u64;
            records.push(ProducerRecord {
                key: None,
                value: Some(Bytes::from(v)),
                headers: Vec::new(),
                timestamp: Some(millis),
            });
        }
        store.produce(TOPIC, 0, records).await?;
    }
    Ok((bytes, kept))
}

async fn end_offset(store: &Arc<dyn LogStore>, topic: &str) -> anyhow::Result<i64> {
    Ok(store
        .list_offset(topic, 0, OffsetSpec::Latest)
        .await?
        .unwrap_or(0))
}

/// Reads the whole topic with fetches of the size the engine uses; with `avro`,
/// decodes and re-encodes each value with apache-avro's generic datum reader/writer.
async fn read_all(
    store: &Arc<dyn LogStore>,
    schema: Option<&Schema>,
    n: u64,
) -> anyhow::Result<(u64, u64)> {
    let (reader, writer) = match schema {
        Some(s) => (
            Some(GenericDatumReader::builder(s).build()?),
            Some(GenericDatumWriter::builder(s).build()?),
        ),
        None => (None, None),
    };
    let mut offset = 0i64;
    let mut seen = 0u64;
    let mut out_bytes = 0u64;
    while seen < n {
        let f = store
            .fetch(TOPIC, 0, offset, 1 << 20, Duration::ZERO)
            .await?;
        if f.records.is_empty() {
            break;
        }
        for r in &f.records {
            offset = r.offset + 1;
            seen += 1;
            if let (Some(reader), Some(writer)) = (&reader, &writer) {
                let v = r.value.as_deref().unwrap_or_default();
                let mut body = &v[5..];
                let av = reader.read_value(&mut body)?;
                let mut out = Vec::with_capacity(v.len());
                out.extend_from_slice(&v[..5]);
                out.extend_from_slice(&writer.write_value_to_vec(av)?);
                out_bytes += out.len() as u64;
            } else {
                out_bytes += r.value.as_ref().map_or(0, |v| v.len() as u64);
            }
        }
    }
    Ok((seen, out_bytes))
}

/// With `CREEK_PERF=FILE`, `perf record` (flat samples) attached to this process for the timed
/// query only.
fn start_perf() -> anyhow::Result<Option<std::process::Child>> {
    let Some(file) = std::env::var_os("CREEK_PERF").filter(|f| !f.is_empty()) else {
        return Ok(None);
    };
    let child = std::process::Command::new("perf")
        .args(["record", "-F", "999", "-o"])
        .arg(file)
        .arg("-p")
        .arg(std::process::id().to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting perf")?;
    std::thread::sleep(Duration::from_millis(500));
    Ok(Some(child))
}

fn stop_perf(child: Option<std::process::Child>) -> anyhow::Result<()> {
    if let Some(mut child) = child {
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()?;
        child.wait()?;
    }
    Ok(())
}

pub fn sql(args: SqlBench) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sql_async(args))
}

async fn sql_async(args: SqlBench) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("creek-bench-sql-")
        .tempdir()?;
    let log = Log::open(dir.path(), LogConfig::default()).context("opening the log")?;
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(log));
    let registry = Registry::open(store.clone())
        .await
        .context("opening the registry")?;
    store.create_topic(TOPIC, 1, BTreeMap::new()).await?;
    let schema_text = seed_schema();
    let schema_id = registry
        .register(&format!("{TOPIC}-value"), &schema_text)
        .await
        .context("registering the seed schema")?;

    let t = Instant::now();
    let (payload_bytes, expected) = load(&store, schema_id, args.records).await?;
    let load_secs = t.elapsed().as_secs_f64();
    if !args.json {
        eprintln!(
            "loaded {} records ({:.1} MB of Avro, {:.0} B/record) in {load_secs:.2} s; \
             the query keeps {expected}",
            args.records,
            payload_bytes as f64 / 1e6,
            payload_bytes as f64 / args.records.max(1) as f64
        );
    }

    // Peer, before the query (same records, warm page cache): raw read, then
    // read + apache-avro decode and re-encode.
    let t = Instant::now();
    let (read, _) = read_all(&store, None, args.records).await?;
    let raw_secs = t.elapsed().as_secs_f64();
    if read != args.records {
        bail!("raw read saw {read} of {} records", args.records);
    }
    let schema = Schema::parse_str(&schema_text)?;
    let t = Instant::now();
    read_all(&store, Some(&schema), args.records).await?;
    let avro_secs = t.elapsed().as_secs_f64();

    // The query.
    let engine = Engine::new(
        store.clone(),
        Some(registry.clone()),
        EngineConfig {
            service_id: "bench_".into(),
            default_partitions: 1,
            spawn_queries: false,
            ..EngineConfig::default()
        },
    );
    let mut session = Session::default();
    session
        .properties
        .insert("auto.offset.reset".into(), "earliest".into());
    for stmt in creek_sql::parse_script(STATEMENTS)? {
        engine
            .execute(&stmt.statement, &stmt.text, &mut session)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", stmt.text))?;
    }
    let profiler = start_perf()?;
    let t = Instant::now();
    engine.run_until_idle().await?;
    let query_secs = t.elapsed().as_secs_f64();
    stop_perf(profiler)?;
    let produced = end_offset(&store, SINK).await?;
    if produced as u64 != expected {
        bail!("the sink {SINK} holds {produced} records, expected {expected}");
    }
    let sample = store
        .fetch(SINK, 0, 0, 1 << 16, Duration::ZERO)
        .await?
        .records
        .into_iter()
        .next()
        .and_then(|r| r.value)
        .map(|v| creek_sql_engine::format::avro_payload_to_json(&registry, &v))
        .transpose()
        .map_err(|e| anyhow::anyhow!("decoding a sink record: {e}"))?;

    let n = args.records as f64;
    let query_rps = n / query_secs;
    let raw_rps = n / raw_secs;
    let avro_rps = n / avro_secs;
    if args.json {
        let line = serde_json::json!({
            "records": args.records,
            "payload_bytes": payload_bytes,
            "sink_records": produced,
            "query_seconds": query_secs,
            "query_records_per_s": query_rps,
            "peer_raw_read_records_per_s": raw_rps,
            "peer_avro_decode_encode_records_per_s": avro_rps,
            "query_over_avro_peer": query_rps / avro_rps,
            "ksqldb_reference_records_per_s_per_core": KSQLDB_PER_CORE,
            "target_records_per_s": TARGET,
            "sample_output": sample,
        });
        println!("{line}");
    } else {
        println!(
            "creek bench sql: {} Avro seed records ({:.0} B each) -> {produced} in {SINK}",
            args.records,
            payload_bytes as f64 / n.max(1.0)
        );
        println!("  query (filter + projection + date formatting, Avro in/out):");
        println!(
            "    {:>12.0} input records/s ({query_secs:.2} s)",
            query_rps
        );
        println!("  peer, same run, same records:");
        println!(
            "    {:>12.0} records/s raw log read ({raw_secs:.2} s)",
            raw_rps
        );
        println!(
            "    {:>12.0} records/s log read + apache-avro decode + re-encode ({avro_secs:.2} s)",
            avro_rps
        );
        println!(
            "  query / apache-avro peer: {:.2}; query / target {TARGET:.0}: {:.2}; \
             ksqlDB guide: ~{KSQLDB_PER_CORE:.0} records/s per core",
            query_rps / avro_rps,
            query_rps / TARGET
        );
        if let Some(s) = sample {
            println!("  first sink record: {s}");
        }
    }
    if args.keep {
        let path = dir.keep();
        eprintln!("kept {}", path.display());
    }
    Ok(())
}
