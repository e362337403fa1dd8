//! The setup shared by the SQL engine benchmarks (`creek bench sql`, `creek bench
//! aggregate`): the seed's customers as Avro records in an embedded log, the peer
//! reads of those records, the engine that runs a benchmark's statements, and an
//! optional `perf` profile of the timed part.
//!
//! [`SeedLog::open`] (not timed): an embedded log (or, with `--bootstrap-servers`, an
//! external Kafka cluster through `creek-cluster`) and a Schema Registry on it; the seed's `customers` value schema (as the JDBC source writes it:
//! Connect-style Avro, every column optional, DATE and TIMESTAMP logical types)
//! registered under `psg-customers-value`; N rows from [`creek_pg::CustomerGenerator`]
//! (fixed seed) appended in Confluent wire format to `psg-customers`, each with its
//! `dt_update` as the record timestamp.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema::Schema;
use apache_avro::writer::datum::GenericDatumWriter;
use bytes::Bytes;
use creek_log::{EmbeddedLog, Log, LogConfig};
use creek_pg::{Customer, CustomerGenerator, Locale};
use creek_schema::registry::Registry;
use creek_sql_engine::engine::{Engine, EngineConfig, Session};
use creek_store::{LogStore, OffsetSpec, ProducerRecord};

/// The seed's topic, as the JDBC source names it.
pub const TOPIC: &str = "psg-customers";

/// The seed's stream over [`TOPIC`].
pub const CUSTSTREAM: &str =
    "CREATE STREAM custstream WITH (kafka_topic='psg-customers', value_format='AVRO');";

/// `creek bench sql`'s filter + projection (with date formatting), sink `ADULTS`;
/// also `creek bench aggregate`'s peer in the same engine.
pub const PROJECTION: &str =
    "CREATE STREAM adults AS SELECT id, UCASE(nome) AS nome, sexo, email, \
TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') AS nascimento, \
FORMAT_TIMESTAMP(dt_update, 'yyyy-MM-dd HH:mm:ss') AS atualizado \
FROM custstream WHERE sexo = 'F' OR id % 2 = 0 EMIT CHANGES;";

/// The flags of the benchmarks over the seed log.
#[derive(clap::Args, Debug)]
pub struct SeedBenchArgs {
    /// Seed records in the source topic.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Keep the temporary folder (its path is printed).
    #[arg(long)]
    pub keep: bool,
    /// Run on an external Kafka cluster, HOST:PORT[,…], instead of an embedded log
    /// (the cluster must not hold the benchmark's topics yet: start a fresh one)
    /// (default: an embedded log in a temporary folder).
    #[arg(long, value_name = "SERVERS")]
    pub bootstrap_servers: Option<String>,
}

/// The seed table's value schema, as the JDBC source registers it.
pub fn seed_schema() -> String {
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

fn opt_str(s: &str, out: &mut Vec<u8>) {
    out.push(2); // union branch 1
    creek_avro::put_str(out, s);
}

fn opt_long(v: i64, out: &mut Vec<u8>) {
    out.push(2);
    creek_avro::put_long(out, v);
}

/// One seed row as the JDBC source writes it: Confluent framing with `schema_id`,
/// then the Avro body of [`seed_schema`] (`sexo` and `dt_update` given apart, so a
/// benchmark can steer them).
pub fn encode_seed_value(
    schema_id: i32,
    id: u64,
    c: &Customer,
    sexo: &str,
    dt_update_ms: i64,
    v: &mut Vec<u8>,
) {
    creek_avro::wire::put_header(schema_id, v);
    opt_long(id as i64, v);
    opt_str(&c.nome, v);
    opt_str(sexo, v);
    opt_str(&c.endereco, v);
    opt_str(&c.telefone, v);
    opt_str(&c.email, v);
    opt_str(&c.foto, v);
    let days = c
        .nascimento
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp().div_euclid(86_400))
        .unwrap_or(0);
    opt_long(days, v);
    opt_str(&c.profissao, v);
    opt_long(dt_update_ms, v);
}

/// One seed row as appended: its id (from 1), the row, and its record timestamp
/// (`dt_update` in milliseconds).
pub struct SeedRow<'a> {
    pub id: u64,
    pub customer: &'a Customer,
    pub timestamp: i64,
}

/// The seed's records in an embedded log with its registry.
pub struct SeedLog {
    dir: tempfile::TempDir,
    pub store: Arc<dyn LogStore>,
    pub registry: Arc<Registry>,
    schema_text: String,
    pub records: u64,
    /// Avro bytes appended (Confluent framing included).
    pub payload_bytes: u64,
    pub load_secs: f64,
}

/// The peer, same run, same records: a raw read of the log, and the same read with
/// every value decoded and re-encoded by apache-avro's generic reader/writer.
pub struct Peer {
    pub raw_secs: f64,
    pub avro_secs: f64,
}

impl SeedLog {
    /// Appends `records` seed rows, showing each to `visit` (so a benchmark can work
    /// out the result it expects).
    /// On the Kafka cluster at `cluster` when given, else on an embedded log in a
    /// temporary folder.
    pub async fn open(
        prefix: &str,
        records: u64,
        cluster: Option<&str>,
        mut visit: impl FnMut(&SeedRow<'_>),
    ) -> anyhow::Result<SeedLog> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        let store: Arc<dyn LogStore> = match cluster {
            Some(servers) => {
                let config =
                    creek_cluster::ClusterConfig::new(servers, BTreeMap::<String, String>::new())?;
                Arc::new(creek_cluster::ClusterLog::connect(config).await?)
            }
            None => {
                let log = Log::open(dir.path(), LogConfig::default()).context("opening the log")?;
                Arc::new(EmbeddedLog::new(log))
            }
        };
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
        let mut generator = CustomerGenerator::with_seed(Locale::En, 42);
        let mut payload_bytes = 0u64;
        let mut id = 0u64;
        while id < records {
            let chunk = (records - id).min(1000) as usize;
            let mut batch = Vec::with_capacity(chunk);
            for c in generator.batch(chunk) {
                id += 1;
                let mut v = Vec::with_capacity(320);
                let millis = c.dt_update.and_utc().timestamp_millis();
                encode_seed_value(schema_id, id, &c, c.sexo, millis, &mut v);
                visit(&SeedRow {
                    id,
                    customer: &c,
                    timestamp: millis,
                });
                payload_bytes += v.len() as u64;
                batch.push(ProducerRecord {
                    key: None,
                    value: Some(Bytes::from(v)),
                    headers: Vec::new(),
                    timestamp: Some(millis),
                });
            }
            store.produce(TOPIC, 0, batch).await?;
        }
        Ok(SeedLog {
            dir,
            store,
            registry,
            schema_text,
            records,
            payload_bytes,
            load_secs: t.elapsed().as_secs_f64(),
        })
    }

    /// Avro bytes per record.
    pub fn record_size(&self) -> f64 {
        self.payload_bytes as f64 / self.records.max(1) as f64
    }

    /// Measures the peer (run it before the query: same records, warm page cache).
    pub async fn peer(&self) -> anyhow::Result<Peer> {
        let t = Instant::now();
        let read = self.read_all(None).await?;
        let raw_secs = t.elapsed().as_secs_f64();
        if read != self.records {
            bail!("raw read saw {read} of {} records", self.records);
        }
        let schema = Schema::parse_str(&self.schema_text)?;
        let t = Instant::now();
        self.read_all(Some(&schema)).await?;
        Ok(Peer {
            raw_secs,
            avro_secs: t.elapsed().as_secs_f64(),
        })
    }

    /// Reads the whole topic with fetches of the size the engine uses; with `schema`,
    /// decodes and re-encodes each value with apache-avro's generic datum
    /// reader/writer. Returns the records read.
    async fn read_all(&self, schema: Option<&Schema>) -> anyhow::Result<u64> {
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
        while seen < self.records {
            let f = self
                .store
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
        // Keeps the peer's work observable so it is not optimized away.
        std::hint::black_box(out_bytes);
        Ok(seen)
    }

    /// An engine over this log (queries stepped by `run_until_idle`, not spawned)
    /// that has executed `statements`.
    pub async fn engine(&self, statements: &str) -> anyhow::Result<Arc<Engine>> {
        let engine = Engine::new(
            self.store.clone(),
            Some(self.registry.clone()),
            EngineConfig {
                service_id: "bench_".into(),
                default_partitions: 1,
                spawn_queries: false,
                ..EngineConfig::default()
            },
        );
        self.execute(&engine, statements).await?;
        Ok(engine)
    }

    /// Executes `statements` with `auto.offset.reset=earliest`.
    pub async fn execute(&self, engine: &Arc<Engine>, statements: &str) -> anyhow::Result<()> {
        let mut session = Session::default();
        session
            .properties
            .insert("auto.offset.reset".into(), "earliest".into());
        for stmt in creek_sql::parse_script(statements)? {
            engine
                .execute(&stmt.statement, &stmt.text, &mut session)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {e}", stmt.text))?;
        }
        Ok(())
    }

    /// Times `run_until_idle`; returns seconds. With `profile`, `CREEK_PERF=FILE`
    /// records a `perf` profile of it.
    pub async fn run_timed(&self, engine: &Engine, profile: bool) -> anyhow::Result<f64> {
        let profiler = if profile { start_perf()? } else { None };
        let t = Instant::now();
        engine.run_until_idle().await?;
        let secs = t.elapsed().as_secs_f64();
        stop_perf(profiler)?;
        Ok(secs)
    }

    /// The next offset of a topic's partition 0.
    pub async fn end_offset(&self, topic: &str) -> anyhow::Result<i64> {
        Ok(self
            .store
            .list_offset(topic, 0, OffsetSpec::Latest)
            .await?
            .unwrap_or(0))
    }

    /// With `keep`, leaves the temporary folder in place and prints its path.
    pub fn finish(self, keep: bool) {
        if keep {
            let path = self.dir.keep();
            eprintln!("kept {}", path.display());
        }
    }
}

/// With `CREEK_PERF=FILE`, `perf record` (flat samples) attached to this process for the timed
/// query only.
pub fn start_perf() -> anyhow::Result<Option<std::process::Child>> {
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

pub fn stop_perf(child: Option<std::process::Child>) -> anyhow::Result<()> {
    if let Some(mut child) = child {
        std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()?;
        child.wait()?;
    }
    Ok(())
}
