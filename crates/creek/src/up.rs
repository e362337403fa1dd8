//! `creek up`: open the log, serve the Kafka protocol, shut down cleanly on a signal.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use creek_kafka::{Broker, BrokerConfig};
use creek_log::{EmbeddedLog, FlushPolicy, Log, LogConfig};
use creek_store::LogStore;
use tracing::info;

/// Where the services listen (shared by `creek up` and `creek demo`).
#[derive(Args, Debug, Clone)]
pub struct ListenArgs {
    /// Address to listen on. Use 0.0.0.0 to accept connections from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Kafka port (0: any free port, as for the others).
    #[arg(long, default_value_t = 9092)]
    pub kafka_port: u16,
    /// Schema Registry REST port.
    #[arg(long, default_value_t = 8081)]
    pub registry_port: u16,
    /// Kafka Connect REST port.
    #[arg(long, default_value_t = 8083)]
    pub connect_port: u16,
    /// ksqlDB REST API port (/ksql, /query, /query-stream, /info).
    #[arg(long, default_value_t = 8088)]
    pub ksql_port: u16,
}

impl ListenArgs {
    /// Each service's name, port and the flag that changes it.
    fn services(&self) -> [(&'static str, u16, &'static str); 4] {
        [
            ("Kafka", self.kafka_port, "--kafka-port"),
            ("Schema Registry", self.registry_port, "--registry-port"),
            ("Kafka Connect", self.connect_port, "--connect-port"),
            ("ksqlDB", self.ksql_port, "--ksql-port"),
        ]
    }

    /// Fails, naming the port and its flag, when a port is taken, so nothing
    /// (PostgreSQL, the log, a half-started set of services) starts for nothing.
    /// A port can still be taken between this check and the bind: then the bind's
    /// own error names it.
    pub fn check_ports_free(&self) -> anyhow::Result<()> {
        let mut busy = Vec::new();
        for (service, port, flag) in self.services() {
            if port == 0 {
                continue;
            }
            if let Err(e) = std::net::TcpListener::bind((self.host.as_str(), port)) {
                let why = if e.kind() == std::io::ErrorKind::AddrInUse {
                    "is already in use (another creek, Kafka or service?)".to_string()
                } else {
                    format!("cannot be opened: {e}")
                };
                busy.push(format!(
                    "port {port} for {service} on {} {why}; stop what holds it or pass {flag} N (0 picks a free port)",
                    self.host
                ));
            }
        }
        if !busy.is_empty() {
            anyhow::bail!("{}", busy.join("\n"));
        }
        Ok(())
    }
}

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where topics, offsets and metadata are kept.
    #[arg(long, default_value = "./creek-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub listen: ListenArgs,
    /// Host name given to clients in metadata (defaults to --host, or 127.0.0.1 for 0.0.0.0).
    #[arg(long)]
    pub advertised_host: Option<String>,
    /// A worker-wide Connect converter setting, KEY=VALUE (repeatable), as in a
    /// worker's properties file: key.converter, value.converter and their
    /// `.schemas.enable` / `.schema.registry.url` settings (default: as Confluent's
    /// cp-all-in-one worker, StringConverter keys and Avro values with creek's registry).
    #[arg(long = "connect-property", value_name = "KEY=VALUE")]
    pub connect_properties: Vec<String>,
    /// A ksqlDB server property, KEY=VALUE (repeatable), as a line of ksqlDB's
    /// server properties file: the value statements see unless a session SETs it
    /// (e.g. ksql.hidden.topics, auto.offset.reset) (default: ksqlDB's defaults).
    #[arg(long = "ksql-property", value_name = "KEY=VALUE")]
    pub ksql_properties: Vec<String>,
    /// Kafka's auto.create.topics.enable=false: a Metadata request never creates a
    /// missing topic (default: enabled, as in Apache Kafka; a client's Metadata request
    /// with allow_auto_topic_creation=false never creates one either way).
    #[arg(long)]
    pub no_auto_create_topics: bool,
    /// Partitions of auto-created topics (Kafka's num.partitions).
    #[arg(long, default_value_t = 1)]
    pub num_partitions: i32,
    /// fsync every appended batch instead of on an interval.
    #[arg(long)]
    pub flush_every_batch: bool,
    /// fsync interval for dirty partitions, in ms (log.flush.interval.ms).
    #[arg(long, default_value_t = 1000)]
    pub flush_interval_ms: u64,
    /// log.retention.ms (-1: keep forever).
    #[arg(long, default_value_t = 7 * 24 * 3600 * 1000, allow_hyphen_values = true)]
    pub log_retention_ms: i64,
    /// Aggregation groups (group-windows) each persistent query keeps in
    /// memory; the least recently used beyond this spill to disk under
    /// DATA_DIR/ksql-state (scratch: the changelog topics are the truth).
    #[arg(long, default_value_t = 100_000)]
    pub ksql_groups_in_memory: usize,
    /// log.retention.bytes per partition (-1: no limit).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub log_retention_bytes: i64,
    /// log.segment.bytes.
    #[arg(long, default_value_t = 1 << 30)]
    pub log_segment_bytes: u64,
    /// socket.request.max.bytes: larger frames close the connection.
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// group.initial.rebalance.delay.ms.
    #[arg(long, default_value_t = 0)]
    pub group_initial_rebalance_delay_ms: u64,
}

impl UpArgs {
    /// `creek up` with no flags: what the demo and the benchmarks start from.
    pub fn defaults() -> anyhow::Result<UpArgs> {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            up: UpArgs,
        }
        Ok(<Defaults as clap::Parser>::try_parse_from(["creek"])
            .context("creek up's defaults")?
            .up)
    }
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    args.listen.check_ports_free()?;
    crate::logging::init_logging(&args.data_dir, true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: UpArgs) -> anyhow::Result<()> {
    // Take over SIGTERM before anything else: a signal that arrives while the
    // services start (or just after the ready line) must still stop us cleanly.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let services = start(&args).await?;
    println!(
        "creek ready: kafka={} registry={} connect={} ksql={} data={} logs={} (started in {} ms)",
        services.kafka,
        services.registry_url,
        services.connect_url,
        services.ksql_url,
        args.data_dir.display(),
        args.data_dir.join("logs").display(),
        services.startup.as_millis()
    );
    wait_for_signal(term).await;
    info!("shutting down");
    services.stop().await?;
    println!("creek stopped: log flushed");
    Ok(())
}

/// creek's services running in this process: the broker, Schema Registry,
/// Connect and the ksqlDB engine over one log. `creek up` and `creek demo`
/// both run them; [`Services::stop`] shuts them down and flushes the log.
pub struct Services {
    /// `host:port` Kafka clients bootstrap from.
    pub kafka: String,
    pub registry_url: String,
    pub connect_url: String,
    pub ksql_url: String,
    /// The log, in-process.
    pub store: Arc<dyn LogStore>,
    /// From opening the log to all ports accepting connections.
    pub startup: Duration,
    log: Arc<Log>,
    connect: creek_connect::Worker,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Stops accepting work, lets every server finish, then flushes the log.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Connector tasks first: nothing new is read or written while the
        // servers wind down.
        self.connect.shutdown();
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let log = self.log;
        tokio::task::spawn_blocking(move || log.flush_all()).await??;
        // The rejections the log bound left out and has not summed up yet.
        crate::logging::flush_rejected();
        Ok(())
    }
}

/// Opens the log under `args.data_dir` and starts every service on its port.
pub async fn start(args: &UpArgs) -> anyhow::Result<Services> {
    let started = Instant::now();
    let log_config = LogConfig {
        segment_bytes: args.log_segment_bytes,
        retention_ms: args.log_retention_ms,
        retention_bytes: args.log_retention_bytes,
        flush: if args.flush_every_batch {
            FlushPolicy::EveryBatch
        } else {
            FlushPolicy::Interval(Duration::from_millis(args.flush_interval_ms.max(1)))
        },
        ..LogConfig::default()
    };
    let data_dir = args.data_dir.clone();
    let log = tokio::task::spawn_blocking(move || Log::open(&data_dir, log_config))
        .await?
        .with_context(|| format!("opening data directory {}", args.data_dir.display()))?;

    let kafka_addr = format!("{}:{}", args.listen.host, args.listen.kafka_port);
    let listener = creek_kafka::bind(&kafka_addr)
        .await
        .with_context(|| format!("listening for Kafka clients on {kafka_addr}"))?;
    let bound = listener.local_addr()?;
    let advertised_host = args.advertised_host.clone().unwrap_or_else(|| {
        if args.listen.host == "0.0.0.0" || args.listen.host == "::" {
            "127.0.0.1".to_string()
        } else {
            args.listen.host.clone()
        }
    });
    let config = BrokerConfig {
        advertised_host: advertised_host.clone(),
        advertised_port: bound.port() as i32,
        cluster_id: Broker::cluster_id_for(&log),
        auto_create_topics: !args.no_auto_create_topics,
        default_partitions: args.num_partitions,
        max_request_bytes: args.max_request_bytes,
        initial_rebalance_delay: Duration::from_millis(args.group_initial_rebalance_delay_ms),
        ..BrokerConfig::default()
    };
    let broker = Broker::new(log.clone(), config);
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let maintenance = log.clone().run_maintenance(shutdown_rx.clone());
    tasks.push(tokio::spawn(async move {
        let _ = maintenance.await;
    }));
    let server = broker.serve(listener, shutdown_rx.clone());
    tasks.push(tokio::spawn(async move {
        let _ = server.await;
    }));

    // Schema Registry and Connect reach the log in-process, through LogStore.
    let store: Arc<dyn LogStore> = Arc::new(EmbeddedLog::new(log.clone()));
    let registry = creek_schema::Registry::open(store.clone())
        .await
        .context("opening the schema registry (_schemas topic)")?;
    let registry_listener = bind_http(
        &args.listen.host,
        args.listen.registry_port,
        "the schema registry",
    )
    .await?;
    let registry_url = format!(
        "http://{advertised_host}:{}",
        registry_listener.local_addr()?.port()
    );
    tasks.push(tokio::spawn(serve_http(
        registry_listener,
        creek_schema::router(registry.clone()),
        shutdown_rx.clone(),
    )));

    let connect_listener =
        bind_http(&args.listen.host, args.listen.connect_port, "Kafka Connect").await?;
    let connect_port = connect_listener.local_addr()?.port();
    let connect_url = format!("http://{advertised_host}:{connect_port}");
    let mut worker_config = creek_connect::WorkerConfig::new(
        format!("{advertised_host}:{connect_port}"),
        creek_connect::converter::ConverterContext {
            registry: registry.clone(),
            registry_url: registry_url.clone(),
        },
    );
    worker_config.converter_defaults = connect_properties(&args.connect_properties)?;
    let worker = creek_connect::Worker::start(store.clone(), worker_config)
        .await
        .context("starting the Connect worker")?;
    tasks.push(tokio::spawn(serve_http(
        connect_listener,
        creek_connect::router(worker.clone()),
        shutdown_rx.clone(),
    )));

    // The SQL engine reaches the log in-process too; connectors go through Connect's REST API.
    let cluster_id = Broker::cluster_id_for(&log);
    // Spill files of a previous run are stale: state comes back from changelogs.
    let spill_dir = args.data_dir.join("ksql-state");
    let _ = std::fs::remove_dir_all(&spill_dir);
    std::fs::create_dir_all(&spill_dir)
        .with_context(|| format!("creating {}", spill_dir.display()))?;
    let engine = creek_sql_engine::engine::Engine::new(
        store.clone(),
        Some(registry.clone()),
        creek_sql_engine::engine::EngineConfig {
            service_id: "default_".into(),
            default_partitions: 1,
            spawn_queries: true,
            connect_url: Some(connect_url.clone()),
            state_limits: creek_sql_engine::aggregate::StateLimits {
                groups_in_memory: args.ksql_groups_in_memory,
                spill_dir: spill_dir.clone(),
            },
        },
    );
    for flag in &args.ksql_properties {
        let (k, v) = key_value("--ksql-property", flag)?;
        // A bad value fails here, at start, not in every later statement.
        if k == "ksql.hidden.topics" {
            creek_sql_engine::engine::show::HiddenTopics::new(Some(v))
                .map_err(|e| anyhow::anyhow!("--ksql-property {k}: {e}"))?;
        }
        engine.set_server_property(k, v);
    }
    // Sources, types and persistent queries come back from the command topic.
    let replayed = engine
        .recover()
        .await
        .map_err(|e| anyhow::anyhow!("replaying the ksqlDB command topic: {e}"))?;
    engine
        .create_processing_log_stream()
        .await
        .map_err(|e| anyhow::anyhow!("creating the KSQL_PROCESSING_LOG stream: {e}"))?;
    info!(statements = replayed, "ksqlDB metastore recovered");
    let ksql_listener = bind_http(&args.listen.host, args.listen.ksql_port, "ksqlDB").await?;
    let ksql_url = format!(
        "http://{advertised_host}:{}",
        ksql_listener.local_addr()?.port()
    );
    tasks.push(tokio::spawn(serve_http(
        ksql_listener,
        creek_sql_engine::rest::router_with_shutdown(engine, cluster_id, shutdown_rx.clone()),
        shutdown_rx.clone(),
    )));

    Ok(Services {
        kafka: format!("{advertised_host}:{}", bound.port()),
        registry_url,
        connect_url,
        ksql_url,
        store,
        startup: started.elapsed(),
        log,
        connect: worker,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// Parses `--connect-property KEY=VALUE` flags; only converter settings are worker-wide.
fn connect_properties(flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for flag in flags {
        let (k, v) = key_value("--connect-property", flag)?;
        if !["key.converter", "value.converter"]
            .iter()
            .any(|p| k == *p || k.starts_with(&format!("{p}.")))
        {
            anyhow::bail!(
                "--connect-property {k}: unknown worker property (creek accepts key.converter*, value.converter*)"
            );
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// A `KEY=VALUE` flag value, both sides trimmed.
fn key_value<'a>(flag: &str, value: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    let (k, v) = value
        .split_once('=')
        .with_context(|| format!("{flag} {value:?}: expected KEY=VALUE"))?;
    Ok((k.trim(), v.trim()))
}

async fn bind_http(host: &str, port: u16, what: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let addr = format!("{host}:{port}");
    tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("listening for {what} on {addr}"))
}

async fn serve_http(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|s| *s).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

async fn wait_for_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
