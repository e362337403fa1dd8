//! `creek demo`: the seed's whole pipeline in one command.
//!
//! PostgreSQL (a throwaway cluster unless `--connection-string` names one) is
//! filled continuously by `creek fake`'s generator; creek's services start in
//! this process (as `creek up` runs them); topic `psg-customers` is created and
//! the seed's own connector JSON (`demo/connect_postgres.config`, copied from
//! the seed) is posted to Connect with this database's address; ksqlDB
//! statements build `custstream` and streams and a table from it (CASE, a
//! filter, a 30-second tumbling count); a lake sink writes Parquet under the
//! data dir. A status screen redraws every second until Ctrl-C or
//! `--duration`; then the generator stops, the pipeline drains into the lake,
//! everything stops and a summary names the lake files.
//!
//! The demo talks to its services over their public APIs (Connect and ksqlDB
//! REST), exactly as a user following the seed would.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use creek_pg::{CopyWriter, CustomerGenerator, Locale, TempPostgres};
use creek_store::OffsetSpec;
use serde_json::{json, Value as Json};

use crate::up::{self, ListenArgs, Services, UpArgs};

/// The seed's connector config, verbatim (its password is a placeholder).
const SEED_CONNECTOR: &str = include_str!("demo/connect_postgres.config");

/// Marks a data dir as the demo's own, so a later run may clear it.
const MARKER: &str = ".creek-demo";

/// The seed's `custstream`, then what its exercise goes on to build: a CASE
/// classification, a filter, and a count per class in 30-second windows.
/// Age groups come from each person's age on the day the record is processed
/// (today's yyyyMMdd minus the birth date's, divided by 10000, is the age in whole
/// years), so they stay right whatever the date, unlike fixed cut-off dates:
/// under 18 `menor`, under 65 `adulto`, else `idoso`.
const STATEMENTS: &[&str] = &[
    "CREATE STREAM custstream WITH (kafka_topic='psg-customers', value_format='AVRO');",
    "CREATE STREAM customers_classified AS SELECT nome, email, profissao, \
     TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') AS dt_nascimento, \
     CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' END AS genero, \
     CASE WHEN CAST(FORMAT_DATE(FROM_DAYS(UNIX_DATE()), 'yyyyMMdd') AS INT) \
               - CAST(FORMAT_DATE(nascimento, 'yyyyMMdd') AS INT) < 180000 THEN 'menor' \
          WHEN CAST(FORMAT_DATE(FROM_DAYS(UNIX_DATE()), 'yyyyMMdd') AS INT) \
               - CAST(FORMAT_DATE(nascimento, 'yyyyMMdd') AS INT) < 650000 THEN 'adulto' \
          ELSE 'idoso' END AS faixa_etaria \
     FROM custstream EMIT CHANGES;",
    "CREATE STREAM customers_seniors AS SELECT nome, email, dt_nascimento \
     FROM customers_classified WHERE faixa_etaria = 'idoso' EMIT CHANGES;",
    "CREATE TABLE customers_per_age_group AS SELECT faixa_etaria, \
     AS_VALUE(faixa_etaria) AS faixa, \
     TIMESTAMPTOSTRING(WINDOWSTART, 'yyyy-MM-dd HH:mm:ss', 'UTC') AS janela_inicio, \
     COUNT(*) AS total \
     FROM customers_classified WINDOW TUMBLING (SIZE 30 SECONDS) \
     GROUP BY faixa_etaria EMIT CHANGES;",
];

/// Topics the lake sink delivers.
const LAKE_TOPICS: &str = "psg-customers,CUSTOMERS_CLASSIFIED,CUSTOMERS_PER_AGE_GROUP";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// PostgreSQL to fill and read, e.g. postgresql://postgres:SENHA@localhost:5432/postgres
    /// (default: a throwaway cluster from the machine's PostgreSQL binaries).
    #[arg(long, value_name = "URL")]
    pub connection_string: Option<String>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// The log, service logs and the lake. A previous demo's dir is cleared at start.
    #[arg(long, default_value = "./creek-demo", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Customers generated per second.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: u64,
    /// Faker locale of the customers: en_US (the seed's) or pt_BR.
    #[arg(long, default_value = "en_US")]
    pub locale: Locale,
    #[command(flatten)]
    pub listen: ListenArgs,
}

pub fn run(args: DemoArgs) -> Result<()> {
    // Before PostgreSQL, the data dir or anything else: a busy port is named at once.
    args.listen.check_ports_free()?;
    prepare_data_dir(&args.data_dir)?;
    let data_dir = std::path::absolute(&args.data_dir)
        .with_context(|| format!("resolving {}", args.data_dir.display()))?;
    crate::logging::init_logging(&data_dir, false)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(demo(args, data_dir))
}

/// A fresh data dir: created, or cleared when a previous demo made it. Anything
/// else that is not empty is refused rather than deleted.
fn prepare_data_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            if !dir.join(MARKER).exists() {
                bail!(
                    "{} is not empty and was not made by creek demo; pass --data-dir with a new or empty directory",
                    dir.display()
                );
            }
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("clearing the previous demo in {}", dir.display()))?;
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by creek demo; cleared by the next run\n",
    )
    .with_context(|| format!("writing {}", dir.join(MARKER).display()))?;
    Ok(())
}

async fn demo(args: DemoArgs, data_dir: PathBuf) -> Result<()> {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let began = Instant::now();
    let postgres = match &args.connection_string {
        Some(_) => None,
        None => {
            println!("starting a throwaway PostgreSQL …");
            Some(TempPostgres::start().await.context(
                "starting a throwaway PostgreSQL (or pass --connection-string to use yours)",
            )?)
        }
    };
    let connection_string = match (&args.connection_string, &postgres) {
        (Some(cs), _) => cs.clone(),
        (None, Some(pg)) => pg.connection_string(),
        (None, None) => unreachable!("a throwaway PostgreSQL runs when none is given"),
    };
    let result = run_pipeline(&args, &data_dir, &connection_string, term, began).await;
    if let Some(pg) = postgres {
        pg.stop().await;
    }
    result
}

async fn run_pipeline(
    args: &DemoArgs,
    data_dir: &Path,
    connection_string: &str,
    term: tokio::signal::unix::Signal,
    began: Instant,
) -> Result<()> {
    let jdbc = creek_pg::jdbc_target(connection_string)?;
    let services = up::start(&up_args(args, data_dir)?).await?;
    let generated = Arc::new(Generated::default());
    let pipeline = async {
        let generator = start_generator(connection_string, args, generated.clone()).await?;
        let setup = set_up(&services, &jdbc, data_dir).await;
        Ok::<_, anyhow::Error>((generator, setup))
    }
    .await;
    let (generator, setup) = match pipeline {
        Ok(v) => v,
        Err(e) => {
            up::stop(services).await?;
            return Err(e);
        }
    };
    if let Err(e) = setup {
        generator.abort();
        up::stop(services).await?;
        return Err(e);
    }
    println!(
        "creek demo: pipeline running (services ready in {} ms, pipeline in {} ms)",
        services.startup.as_millis(),
        began.elapsed().as_millis()
    );

    let mut screen = Screen::new(args, &services, data_dir);
    watch(&mut screen, &services, &generated, args.duration, term).await;
    generator.abort();
    let _ = generator.await;
    let last = drain(&mut screen, &services, &generated).await;
    up::stop(services).await?;
    print!("{}", summary(&last, data_dir, began.elapsed()));
    Ok(())
}

/// What the generator has done: rows appended, and its latest failure
/// (a database that went away), shown on the status screen.
#[derive(Default)]
struct Generated {
    rows: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

/// `creek up`'s settings with the demo's data dir, address and ports.
fn up_args(args: &DemoArgs, data_dir: &Path) -> Result<UpArgs> {
    let mut up = UpArgs::defaults()?;
    up.data_dir = data_dir.to_path_buf();
    up.listen = args.listen.clone();
    Ok(up)
}

/// Appends `rate` customers a second (in four batches) to table `customers`,
/// creating it first, as `creek fake` does.
async fn start_generator(
    connection_string: &str,
    args: &DemoArgs,
    generated: Arc<Generated>,
) -> Result<tokio::task::JoinHandle<()>> {
    let client = creek_pg::connect(connection_string).await?;
    creek_pg::ensure_table(&client, "customers").await?;
    let writer = CopyWriter::prepare(&client, "customers").await?;
    let mut generator = CustomerGenerator::new(args.locale);
    let per_tick = args.rate.div_ceil(4) as usize;
    let period = Duration::from_secs_f64(per_tick as f64 / args.rate as f64);
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let rows = generator.batch(per_tick);
            match writer.write(&client, creek_pg::encode_copy(&rows)).await {
                Ok(_) => {
                    generated
                        .rows
                        .fetch_add(rows.len() as u64, Ordering::Relaxed);
                    *generated
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = None;
                }
                Err(e) => {
                    *generated
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = Some(format!("{e:#}"));
                }
            }
        }
    }))
}

/// The seed's steps 6–8 and the lake, through the services' public APIs.
async fn set_up(services: &Services, jdbc: &creek_pg::JdbcTarget, data_dir: &Path) -> Result<()> {
    // 6: the topic, as `kafka-topics --create … --partitions 1 --topic psg-customers`.
    services
        .store
        .create_topic("psg-customers", 1, BTreeMap::new())
        .await
        .context("creating topic psg-customers")?;

    // 7: the seed's connector JSON, pointed at this database.
    let http = reqwest::Client::new();
    let mut connector: Json =
        serde_json::from_str(SEED_CONNECTOR).context("the seed's connector JSON")?;
    connector["config"]["connection.url"] = json!(jdbc.url);
    connector["config"]["connection.user"] = json!(jdbc.user);
    connector["config"]["connection.password"] = json!(jdbc.password);
    post_connector(&http, &services.connect_url, &connector).await?;

    // 8: custstream and what the exercise derives from it. ksqlDB reads the
    // stream's columns from the registry, so the source's first rows (and
    // their schema) must be there first.
    wait_for_value_schema(&http, &services.registry_url, "psg-customers").await?;
    for statement in STATEMENTS {
        let request = json!({
            "ksql": statement,
            "streamsProperties": {"auto.offset.reset": "earliest"},
        });
        post(
            &http,
            &format!("{}/ksql", services.ksql_url),
            &request,
            "ksqlDB",
        )
        .await
        .with_context(|| format!("running {statement}"))?;
    }

    // The lake: Confluent's S3 sink writing Parquet into a local folder.
    let lake = json!({
        "name": "lake",
        "config": {
            "connector.class": "io.confluent.connect.s3.S3SinkConnector",
            "topics": LAKE_TOPICS,
            "flush.size": 1000,
            "rotate.schedule.interval.ms": 5000,
            "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
            "s3.bucket.name": "datalake",
            "store.url": format!("file://{}", data_dir.join("lake").display()),
        }
    });
    post_connector(&http, &services.connect_url, &lake).await
}

async fn wait_for_value_schema(
    http: &reqwest::Client,
    registry_url: &str,
    topic: &str,
) -> Result<()> {
    let url = format!("{registry_url}/subjects/{topic}-value/versions/latest");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if found {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no schema for {topic} after 60 s: see the JDBC source's errors in logs/connect.log");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post_connector(http: &reqwest::Client, connect_url: &str, body: &Json) -> Result<()> {
    let name = body["name"].as_str().unwrap_or("?");
    post(
        http,
        &format!("{connect_url}/connectors"),
        body,
        "Kafka Connect",
    )
    .await
    .with_context(|| format!("registering connector {name}"))
}

/// POSTs JSON; an error status is an error carrying the service's answer.
async fn post(http: &reqwest::Client, url: &str, body: &Json, service: &str) -> Result<()> {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("reaching {service} at {url}"))?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        bail!("{service} answered {status}: {text}");
    }
    Ok(())
}

/// Redraws the status until Ctrl-C, SIGTERM or the end of `duration`.
async fn watch(
    screen: &mut Screen,
    services: &Services,
    generated: &Generated,
    duration: Option<u64>,
    mut term: tokio::signal::unix::Signal,
) {
    let deadline = async {
        match duration {
            Some(secs) => tokio::time::sleep(Duration::from_secs(secs)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let status = screen.sample(services, generated).await;
                screen.show(&status);
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = &mut deadline => break,
        }
    }
}

/// With the generator stopped, waits (a few seconds at most; Ctrl-C skips
/// it) for the source, the queries and the lake sink to deliver what is
/// left, so the summary's lake holds every generated row. Returns the last
/// look at the pipeline.
async fn drain(screen: &mut Screen, services: &Services, generated: &Generated) -> Status {
    println!("\ncreek demo: stopping; letting the lake catch up (Ctrl-C to skip) …");
    let deadline = tokio::time::sleep(LAKE_CATCH_UP);
    tokio::pin!(deadline);
    loop {
        let status = screen.sample(services, generated).await;
        if status.caught_up() {
            return status;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = tokio::signal::ctrl_c() => return status,
            _ = &mut deadline => return status,
        }
    }
}

/// Longer than the lake sink's rotation interval, so its open files close.
const LAKE_CATCH_UP: Duration = Duration::from_secs(12);

/// One look at the pipeline.
struct Status {
    at: Instant,
    generated: u64,
    /// Topic → records (end offsets summed over partitions).
    topics: BTreeMap<String, i64>,
    /// The generator's latest failure, while it lasts.
    generator_error: Option<String>,
    /// (connector, state of the connector and its tasks).
    connectors: Vec<(String, String)>,
    /// (query id, sink topic, state).
    queries: Vec<(String, String, String)>,
    /// The newest window of `customers_per_age_group` by pull query:
    /// (window start, [(age group, count)]).
    latest_window: Option<(String, Vec<(String, i64)>)>,
    /// (file, rows) of every Parquet file in the lake.
    lake_files: Vec<(PathBuf, i64)>,
}

impl Status {
    /// Every generated row is in `psg-customers`, and every record of each
    /// topic the lake sink reads is in the lake.
    fn caught_up(&self) -> bool {
        let records = |topic: &str| self.topics.get(topic).copied().unwrap_or(0);
        let in_lake = |topic: &str| -> i64 {
            self.lake_files
                .iter()
                .filter(|(path, _)| lake_topic(path) == topic)
                .map(|(_, rows)| rows)
                .sum()
        };
        records("psg-customers") == self.generated as i64
            && LAKE_TOPICS.split(',').all(|t| in_lake(t) == records(t))
    }
}

/// The status screen: the addresses, and rates from the previous sample.
struct Screen {
    interactive: bool,
    header: String,
    lake: PathBuf,
    ksql_url: String,
    connect_url: String,
    known_files: HashMap<PathBuf, i64>,
    /// One HTTP client (and its connections) for every sample.
    http: reqwest::Client,
    /// The newest window start the pull query has shown.
    newest_window: Option<i64>,
    previous: Option<Status>,
    last_line: Instant,
}

impl Screen {
    fn new(args: &DemoArgs, services: &Services, data_dir: &Path) -> Screen {
        let lake = data_dir.join("lake");
        let glob = lake.join("datalake/topics/psg-customers/*/*.parquet");
        let mut header = String::new();
        let _ = writeln!(
            header,
            "creek demo — PostgreSQL → JDBC source → log → ksqlDB → lake (Ctrl-C stops)"
        );
        let _ = writeln!(
            header,
            "  kafka {}   registry {}   connect {}   ksql {}",
            services.kafka, services.registry_url, services.connect_url, services.ksql_url
        );
        let _ = writeln!(
            header,
            "  kcat -b {} -L   (Avro clients: schema.registry.url={})",
            services.kafka, services.registry_url
        );
        let _ = writeln!(header, "  creek ksql {}", services.ksql_url);
        let _ = writeln!(
            header,
            "  duckdb -c \"SELECT count(*) FROM read_parquet('{}')\"",
            glob.display()
        );
        let _ = writeln!(
            header,
            "  data {}   logs {}",
            data_dir.display(),
            data_dir.join("logs").display()
        );
        let _ = args;
        Screen {
            interactive: std::io::stdout().is_terminal(),
            header,
            lake,
            ksql_url: services.ksql_url.clone(),
            connect_url: services.connect_url.clone(),
            known_files: HashMap::new(),
            http: reqwest::Client::new(),
            newest_window: None,
            previous: None,
            last_line: Instant::now(),
        }
    }

    async fn sample(&mut self, services: &Services, generated: &Generated) -> Status {
        let mut topics = BTreeMap::new();
        if let Ok(list) = services.store.list_topics().await {
            // Internal topics (Connect's, ksqlDB's state) would crowd the screen.
            let shown = |name: &str| !name.starts_with('_') && !name.starts_with("connect-");
            for topic in list.iter().filter(|t| !t.internal && shown(&t.name)) {
                let mut records = 0;
                for p in 0..topic.partitions {
                    if let Ok(Some(end)) = services
                        .store
                        .list_offset(&topic.name, p, OffsetSpec::Latest)
                        .await
                    {
                        records += end;
                    }
                }
                topics.insert(topic.name.clone(), records);
            }
        }
        let newest = self.newest_window;
        let latest_window = latest_window(&self.http, &self.ksql_url, newest).await.map(
            |(newest, start, counts)| {
                self.newest_window = Some(newest);
                (start, counts)
            },
        );
        let generator_error = generated
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        Status {
            at: Instant::now(),
            generated: generated.rows.load(Ordering::Relaxed),
            generator_error,
            topics,
            connectors: connector_states(&self.http, &self.connect_url).await,
            queries: persistent_queries(&self.http, &self.ksql_url).await,
            latest_window,
            lake_files: lake_files(&self.lake, &mut self.known_files),
        }
    }

    fn show(&mut self, status: &Status) {
        let text = render(&self.header, status, self.previous.as_ref());
        if self.interactive {
            print!("\x1b[H\x1b[2J{text}");
            let _ = std::io::stdout().flush();
        } else if self.previous.is_none() {
            // Not a terminal (a log or CI): the addresses once, then a short
            // line now and then.
            print!("{}", self.header);
        } else if self.last_line.elapsed() >= Duration::from_secs(5) {
            println!(
                "creek demo: {} rows generated, {} in psg-customers, {} lake files with {} rows",
                status.generated,
                status.topics.get("psg-customers").copied().unwrap_or(0),
                status.lake_files.len(),
                status.lake_files.iter().map(|(_, r)| r).sum::<i64>()
            );
            self.last_line = Instant::now();
        }
        self.previous = Some(Status {
            at: status.at,
            generated: status.generated,
            topics: status.topics.clone(),
            generator_error: None,
            connectors: Vec::new(),
            queries: Vec::new(),
            latest_window: None,
            lake_files: Vec::new(),
        });
    }
}

fn render(header: &str, now: &Status, before: Option<&Status>) -> String {
    let secs = before.map_or(0.0, |b| now.at.duration_since(b.at).as_secs_f64());
    let rate = |new: i64, old: Option<i64>| match old {
        Some(old) if secs > 0.0 => format!("{:>8.0}/s", (new - old) as f64 / secs),
        _ => format!("{:>10}", ""),
    };
    let mut out = String::from(header);
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "PostgreSQL  customers: {:>10} rows generated {}",
        now.generated,
        rate(now.generated as i64, before.map(|b| b.generated as i64))
    );
    if let Some(e) = &now.generator_error {
        let _ = writeln!(out, "  generator failing: {e}");
    }
    let _ = writeln!(out, "\nConnectors");
    for (name, state) in &now.connectors {
        let _ = writeln!(out, "  {name:<42} {state}");
    }
    let _ = writeln!(out, "\nTopics (records, rate)");
    for (topic, records) in &now.topics {
        let old = before.and_then(|b| b.topics.get(topic).copied());
        let _ = writeln!(out, "  {topic:<42} {records:>10} {}", rate(*records, old));
    }
    let _ = writeln!(out, "\nPersistent queries (output rate)");
    for (id, sink, state) in &now.queries {
        let records = now.topics.get(sink).copied().unwrap_or(0);
        let old = before.and_then(|b| b.topics.get(sink).copied());
        let _ = writeln!(
            out,
            "  {id:<34} {state:<8} → {sink:<26} {}",
            rate(records, old)
        );
    }
    if let Some((start, counts)) = &now.latest_window {
        let _ = writeln!(
            out,
            "\nSELECT * FROM customers_per_age_group;  (pull query: newest window, from {start})"
        );
        for (group, total) in counts {
            let _ = writeln!(out, "  {group:<12} {total:>8}");
        }
    }
    let rows: i64 = now.lake_files.iter().map(|(_, r)| r).sum();
    let _ = writeln!(
        out,
        "\nLake: {} Parquet files, {rows} rows",
        now.lake_files.len()
    );
    let mut per_topic: BTreeMap<String, (usize, i64)> = BTreeMap::new();
    for (path, rows) in &now.lake_files {
        let entry = per_topic.entry(lake_topic(path)).or_default();
        entry.0 += 1;
        entry.1 += rows;
    }
    for (topic, (files, rows)) in per_topic {
        let _ = writeln!(out, "  {topic:<42} {files:>4} files {rows:>10} rows");
    }
    out
}

const SUMMARY_FILES_PER_TOPIC: usize = 20;

fn summary(last: &Status, data_dir: &Path, ran: Duration) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\ncreek demo stopped after {:.0} s", ran.as_secs_f64());
    let _ = writeln!(out, "  {} customers generated", last.generated);
    if last.caught_up() {
        let _ = writeln!(out, "  every generated row reached the lake");
    } else {
        let _ = writeln!(
            out,
            "  the lake had not caught up when the demo stopped (the rest stays in the log)"
        );
    }
    for (topic, records) in &last.topics {
        let _ = writeln!(out, "  topic {topic}: {records} records");
    }
    let _ = writeln!(out, "  lake files ({}):", last.lake_files.len());
    // A long run makes thousands: the first few of each topic, then a count.
    let mut shown: BTreeMap<String, usize> = BTreeMap::new();
    for (path, rows) in &last.lake_files {
        let count = shown.entry(lake_topic(path)).or_default();
        *count += 1;
        if *count <= SUMMARY_FILES_PER_TOPIC {
            let _ = writeln!(out, "    {} ({rows} rows)", path.display());
        }
    }
    for (topic, count) in &shown {
        if *count > SUMMARY_FILES_PER_TOPIC {
            let _ = writeln!(
                out,
                "    … and {} more files of {topic}",
                count - SUMMARY_FILES_PER_TOPIC
            );
        }
    }
    let _ = writeln!(
        out,
        "  data, logs and lake stay in {} (the next demo clears it)",
        data_dir.display()
    );
    out
}

/// The topic a lake file belongs to: `…/topics/<topic>/<partition>/<file>`.
fn lake_topic(path: &Path) -> String {
    let parts: Vec<_> = path
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts
        .iter()
        .position(|p| p == "topics")
        .and_then(|i| parts.get(i + 1).cloned())
        .unwrap_or_default()
}

/// One sample's answer from a service: NULL when it is slow or down, so
/// the screen goes on with what it has.
async fn sample_json(request: reqwest::RequestBuilder) -> Json {
    match request.timeout(Duration::from_secs(2)).send().await {
        Ok(response) => response.json().await.unwrap_or(Json::Null),
        Err(_) => Json::Null,
    }
}

/// Every connector's state as Connect's `/connectors?expand=status` gives
/// it: `RUNNING (1/1 tasks RUNNING)`, or the first line of a failed task's
/// trace, which says what to fix.
async fn connector_states(http: &reqwest::Client, connect_url: &str) -> Vec<(String, String)> {
    let body = sample_json(http.get(format!("{connect_url}/connectors?expand=status"))).await;
    let Some(connectors) = body.as_object() else {
        return Vec::new();
    };
    connectors
        .iter()
        .map(|(name, c)| {
            let status = &c["status"];
            let tasks = status["tasks"].as_array().cloned().unwrap_or_default();
            let running = tasks.iter().filter(|t| t["state"] == "RUNNING").count();
            let failed = tasks.iter().find(|t| t["state"] == "FAILED");
            let state = match failed {
                Some(t) => format!(
                    "FAILED: {}",
                    t["trace"]
                        .as_str()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("")
                ),
                None => format!(
                    "{} ({running}/{} tasks RUNNING)",
                    status["connector"]["state"].as_str().unwrap_or("?"),
                    tasks.len()
                ),
            };
            (name.clone(), state)
        })
        .collect()
}

/// The newest 30-second window of `customers_per_age_group`, by the pull
/// query a user would type: what the windowed count looks like right now.
async fn latest_window(
    http: &reqwest::Client,
    ksql_url: &str,
    since: Option<i64>,
) -> Option<(i64, String, Vec<(String, i64)>)> {
    let request = http
        .post(format!("{ksql_url}/query"))
        // From the newest window seen on: the table keeps every window. (Not
        // the clock: record times are the database's local dt_update.)
        .json(&json!({"ksql": match since {
            Some(start) => format!(
                "SELECT * FROM customers_per_age_group WHERE WINDOWSTART >= {start};"
            ),
            None => "SELECT * FROM customers_per_age_group;".to_string(),
        }}));
    let body = sample_json(request).await;
    // Columns: FAIXA_ETARIA, WINDOWSTART, WINDOWEND, FAIXA, JANELA_INICIO, TOTAL.
    let rows: Vec<&Json> = body
        .as_array()?
        .iter()
        .map(|r| &r["row"]["columns"])
        .filter(|c| c.is_array())
        .collect();
    let newest = rows.iter().filter_map(|r| r[1].as_i64()).max()?;
    let in_newest: Vec<&&Json> = rows
        .iter()
        .filter(|r| r[1].as_i64() == Some(newest))
        .collect();
    let mut counts: Vec<(String, i64)> = in_newest
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or("").to_string(),
                r[5].as_i64().unwrap_or(0),
            )
        })
        .collect();
    counts.sort();
    let start = in_newest
        .first()
        .and_then(|r| r[4].as_str())
        .unwrap_or("")
        .to_string();
    Some((newest, start, counts))
}

/// Persistent queries as `SHOW QUERIES` lists them.
async fn persistent_queries(
    http: &reqwest::Client,
    ksql_url: &str,
) -> Vec<(String, String, String)> {
    let request = http
        .post(format!("{ksql_url}/ksql"))
        .json(&json!({"ksql": "SHOW QUERIES;"}));
    sample_json(request).await[0]["queries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| {
            let text = |v: &Json| v.as_str().unwrap_or_default().to_string();
            (
                text(&q["id"]),
                text(&q["sinkKafkaTopics"][0]),
                text(&q["state"]),
            )
        })
        .collect()
}

/// Every Parquet file under the lake, with its row count from the footer.
/// `known` remembers each file's rows: lake files never change once they
/// appear, so a footer is read once however long the demo runs.
fn lake_files(lake: &Path, known: &mut HashMap<PathBuf, i64>) -> Vec<(PathBuf, i64)> {
    let mut files = Vec::new();
    let mut dirs = vec![lake.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                let rows = match known.get(&path) {
                    Some(rows) => Some(*rows),
                    None => parquet_rows(&path),
                };
                if let Some(rows) = rows {
                    known.insert(path.clone(), rows);
                    files.push((path, rows));
                }
            }
        }
    }
    files.sort();
    files
}

fn parquet_rows(path: &Path) -> Option<i64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = std::fs::File::open(path).ok()?;
    let reader = SerializedFileReader::new(file).ok()?;
    Some(reader.metadata().file_metadata().num_rows())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_connector_is_the_seeds_json() {
        let connector: Json = serde_json::from_str(SEED_CONNECTOR).unwrap();
        assert_eq!(connector["name"], "postg-connector");
        assert_eq!(connector["config"]["topic.prefix"], "psg-");
        assert_eq!(connector["config"]["mode"], "timestamp");
    }

    #[test]
    fn a_data_dir_not_made_by_the_demo_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        let e = prepare_data_dir(dir.path()).unwrap_err();
        assert!(e.to_string().contains("not made by creek demo"), "{e}");
        assert!(dir.path().join("precious.txt").exists());

        let demo_dir = dir.path().join("demo");
        prepare_data_dir(&demo_dir).unwrap();
        std::fs::write(demo_dir.join("old-segment"), "x").unwrap();
        prepare_data_dir(&demo_dir).unwrap();
        assert!(!demo_dir.join("old-segment").exists());
        assert!(demo_dir.join(MARKER).exists());
    }

    #[test]
    fn lake_files_belong_to_their_topic() {
        let p = Path::new(
            "/d/lake/datalake/topics/psg-customers/partition=0/psg-customers+0+0.parquet",
        );
        assert_eq!(lake_topic(p), "psg-customers");
    }
}
