//! creek-server: creek's services wired together in one process — the Kafka
//! broker, the Schema Registry, Kafka Connect and the ksqlDB engine over one log.
//! The `creek` binary only parses flags into a [`ServerConfig`] and hands it here.
//!
//! Principal types and how data flows through them:
//!
//! - [`ServerConfig`]: everything `creek up` can be told — the data directory, the
//!   [`Listen`] addresses, the log's retention and flushing, broker limits,
//!   worker-wide Connect converter settings and ksqlDB server properties. Its
//!   [`Default`] is `creek up` without flags.
//! - [`start`] checks the settings, opens the log (`creek-log`) and starts, in this
//!   order, the log's maintenance, the broker on its Kafka port, the registry
//!   (replaying `_schemas`), the Connect worker (replaying its three topics) and the
//!   SQL engine (replaying its command topic), each HTTP service on its own port. The
//!   registry, Connect and the engine reach the log through `creek_store::LogStore`.
//! - [`Services`] is the running set: the URLs and addresses it serves, the log
//!   store, the startup time. [`Services::stop`] stops connector tasks first, then
//!   the servers, then flushes the log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use creek_kafka::{Broker, BrokerConfig};
use creek_log::{EmbeddedLog, FlushPolicy, Log, LogConfig};
use creek_store::LogStore;
use tracing::info;

/// Where the services listen; port 0 picks a free port.
#[derive(Debug, Clone)]
pub struct Listen {
    pub host: String,
    pub kafka_port: u16,
    pub registry_port: u16,
    pub connect_port: u16,
    pub ksql_port: u16,
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            host: "127.0.0.1".into(),
            kafka_port: 9092,
            registry_port: 8081,
            connect_port: 8083,
            ksql_port: 8088,
        }
    }
}

impl Listen {
    /// Every port 0: free ports (tests and benchmarks).
    pub fn any_free_port() -> Listen {
        Listen {
            kafka_port: 0,
            registry_port: 0,
            connect_port: 0,
            ksql_port: 0,
            ..Listen::default()
        }
    }

    /// Each service's name, port and the `creek up` flag that changes it.
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

/// How the services run: `creek up`'s flags, parsed.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where topics, offsets and metadata are kept.
    pub data_dir: PathBuf,
    pub listen: Listen,
    /// Host name given to clients in metadata (default: the listen host, or
    /// 127.0.0.1 for a wildcard address).
    pub advertised_host: Option<String>,
    /// Worker-wide Connect converter settings (key.converter*, value.converter*).
    pub connect_properties: BTreeMap<String, String>,
    /// ksqlDB server properties, in the order given.
    pub ksql_properties: Vec<(String, String)>,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    pub flush_every_batch: bool,
    pub flush_interval: Duration,
    pub log_retention_ms: i64,
    pub log_retention_bytes: i64,
    pub log_segment_bytes: u64,
    pub ksql_groups_in_memory: usize,
    pub max_request_bytes: usize,
    pub group_initial_rebalance_delay: Duration,
    /// An external Kafka cluster to keep everything in (`--bootstrap-servers`):
    /// then no embedded log or broker starts, and the log settings above do not
    /// apply.
    pub cluster: Option<creek_cluster::ClusterConfig>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            data_dir: PathBuf::from("./creek-data"),
            listen: Listen::default(),
            advertised_host: None,
            connect_properties: BTreeMap::new(),
            ksql_properties: Vec::new(),
            auto_create_topics: true,
            num_partitions: 1,
            flush_every_batch: false,
            flush_interval: Duration::from_millis(1000),
            log_retention_ms: 7 * 24 * 3600 * 1000,
            log_retention_bytes: -1,
            log_segment_bytes: 1 << 30,
            ksql_groups_in_memory: 100_000,
            max_request_bytes: 100 * 1024 * 1024,
            group_initial_rebalance_delay: Duration::ZERO,
            cluster: None,
        }
    }
}

impl ServerConfig {
    /// Refuses settings that cannot work, before anything starts: an unknown
    /// worker-wide Connect property, a ksqlDB property with a bad value.
    pub fn check(&self) -> anyhow::Result<()> {
        for (k, v) in &self.connect_properties {
            creek_connect::WorkerConfig::check_property(k, v)
                .map_err(|e| anyhow::anyhow!("--connect-property {k}: {e}"))?;
        }
        for (k, v) in &self.ksql_properties {
            if k == "ksql.service.id" && v.trim().is_empty() {
                anyhow::bail!(
                    "--ksql-property ksql.service.id: must not be empty (default: default_)"
                );
            }
            if k == "ksql.hidden.topics" {
                creek_sql_engine::engine::show::HiddenTopics::new(Some(v))
                    .map_err(|e| anyhow::anyhow!("--ksql-property {k}: {e}"))?;
            }
        }
        Ok(())
    }
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
    /// The log: creek's own, in-process, or the external cluster's.
    pub store: Arc<dyn LogStore>,
    /// From opening the log to all ports accepting connections.
    pub startup: Duration,
    /// The embedded log, when creek serves its own (no `--bootstrap-servers`).
    log: Option<Arc<Log>>,
    connect: creek_connect::Worker,
    engine: Arc<creek_sql_engine::engine::Engine>,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Services {
    /// Stops accepting work, lets every server finish, then flushes the log.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Connector tasks first: nothing new is read or written while the
        // servers wind down.
        self.connect.stop_all().await;
        // Queries leave their groups, so other workers take them over at once.
        self.engine.stop_queries().await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        if let Some(log) = self.log {
            tokio::task::spawn_blocking(move || log.flush_all()).await??;
        }
        Ok(())
    }
}

/// Opens the embedded log under `args.data_dir` (or connects to the external
/// cluster of `args.cluster`) and starts every service on its port.
pub async fn start(args: &ServerConfig) -> anyhow::Result<Services> {
    args.check()?;
    let started = Instant::now();
    let advertised_host = args.advertised_host.clone().unwrap_or_else(|| {
        if args.listen.host == "0.0.0.0" || args.listen.host == "::" {
            "127.0.0.1".to_string()
        } else {
            args.listen.host.clone()
        }
    });
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let Served {
        store,
        log,
        kafka,
        cluster_id,
    } = match &args.cluster {
        Some(cluster) => serve_cluster(cluster).await?,
        None => serve_embedded(args, &advertised_host, &shutdown_rx, &mut tasks).await?,
    };

    // Every service's state topics at once: on a fresh cluster each creation waits
    // for the brokers' metadata, and one wait for all keeps the first start short.
    let engine_config = creek_sql_engine::engine::EngineConfig {
        // ksqlDB names its command topic and internal topics after it.
        service_id: args
            .ksql_properties
            .iter()
            .rev()
            .find(|(k, _)| k == "ksql.service.id")
            .map_or_else(|| "default_".to_string(), |(_, v)| v.clone()),
        ..Default::default()
    };
    let mut connect_topics = creek_connect::InternalTopics::default();
    for (k, v) in &args.connect_properties {
        connect_topics.set_property(k, v);
    }
    let mut internal_topics = vec![creek_schema::Registry::internal_topic()];
    internal_topics.extend(connect_topics.specs());
    internal_topics.extend(engine_config.internal_topics());
    creek_store::ensure_topics(store.as_ref(), &internal_topics)
        .await
        .map_err(|(topic, e)| anyhow::anyhow!("creating the internal topic {topic}: {e}"))?;

    let registry = creek_schema::Registry::open(store.clone())
        .await
        .context("opening the schema registry (_schemas topic)")?;
    // Other workers on the cluster register schemas too.
    registry.follow(shutdown_rx.clone());
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
    for (k, v) in &args.connect_properties {
        worker_config
            .set_property(k, v)
            .map_err(|e| anyhow::anyhow!("--connect-property {k}: {e}"))?;
    }
    worker_config.kafka_cluster_id = Some(cluster_id.clone());
    let worker = creek_connect::Worker::start(store.clone(), worker_config)
        .await
        .context("starting the Connect worker")?;
    tasks.push(tokio::spawn(serve_http(
        connect_listener,
        creek_connect::router(worker.clone()),
        shutdown_rx.clone(),
    )));

    // The SQL engine reaches the log through LogStore too; connectors go through
    // Connect's REST API.
    // Spill files of a previous run are stale: state comes back from changelogs.
    let spill_dir = args.data_dir.join("ksql-state");
    let _ = std::fs::remove_dir_all(&spill_dir);
    std::fs::create_dir_all(&spill_dir)
        .with_context(|| format!("creating {}", spill_dir.display()))?;
    let engine = creek_sql_engine::engine::Engine::new(
        store.clone(),
        Some(registry.clone()),
        creek_sql_engine::engine::EngineConfig {
            default_partitions: 1,
            spawn_queries: true,
            connect_url: Some(connect_url.clone()),
            state_limits: creek_sql_engine::aggregate::StateLimits {
                groups_in_memory: args.ksql_groups_in_memory,
                spill_dir: spill_dir.clone(),
            },
            ..engine_config
        },
    );
    // Bad values were refused by `check`, at start, not in every later statement.
    for (k, v) in &args.ksql_properties {
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
    // Other workers of the service id append statements too.
    engine.follow_commands(shutdown_rx.clone());
    let ksql_listener = bind_http(&args.listen.host, args.listen.ksql_port, "ksqlDB").await?;
    let ksql_url = format!(
        "http://{advertised_host}:{}",
        ksql_listener.local_addr()?.port()
    );
    tasks.push(tokio::spawn(serve_http(
        ksql_listener,
        creek_sql_engine::rest::router_with_shutdown(
            engine.clone(),
            cluster_id,
            shutdown_rx.clone(),
        ),
        shutdown_rx.clone(),
    )));

    Ok(Services {
        kafka,
        registry_url,
        connect_url,
        ksql_url,
        store,
        startup: started.elapsed(),
        log,
        connect: worker,
        engine,
        shutdown: shutdown_tx,
        tasks,
    })
}

/// The log the services run on, and what clients are told about it.
struct Served {
    store: Arc<dyn LogStore>,
    /// The embedded log (to flush on stop), when creek serves its own.
    log: Option<Arc<Log>>,
    /// Where Kafka clients bootstrap from.
    kafka: String,
    /// The Kafka cluster id ksqlDB reports.
    cluster_id: String,
}

/// Opens the embedded log under the data directory and starts its maintenance and
/// the broker on the Kafka port.
async fn serve_embedded(
    args: &ServerConfig,
    advertised_host: &str,
    shutdown_rx: &tokio::sync::watch::Receiver<bool>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Served> {
    let log_config = LogConfig {
        segment_bytes: args.log_segment_bytes,
        retention_ms: args.log_retention_ms,
        retention_bytes: args.log_retention_bytes,
        flush: if args.flush_every_batch {
            FlushPolicy::EveryBatch
        } else {
            FlushPolicy::Interval(args.flush_interval.max(Duration::from_millis(1)))
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
    let cluster_id = Broker::cluster_id_for(&log);
    let config = BrokerConfig {
        advertised_host: advertised_host.to_string(),
        advertised_port: bound.port() as i32,
        cluster_id: cluster_id.clone(),
        auto_create_topics: args.auto_create_topics,
        default_partitions: args.num_partitions,
        max_request_bytes: args.max_request_bytes,
        initial_rebalance_delay: args.group_initial_rebalance_delay,
        ..BrokerConfig::default()
    };
    let broker = Broker::new(log.clone(), config);
    let maintenance = log.clone().run_maintenance(shutdown_rx.clone());
    tasks.push(tokio::spawn(async move {
        let _ = maintenance.await;
    }));
    let server = broker.serve(listener, shutdown_rx.clone());
    tasks.push(tokio::spawn(async move {
        let _ = server.await;
    }));
    Ok(Served {
        store: Arc::new(EmbeddedLog::new(log.clone())),
        cluster_id,
        log: Some(log),
        kafka: format!("{advertised_host}:{}", bound.port()),
    })
}

/// Connects to the external cluster: no embedded log, no broker.
async fn serve_cluster(cluster: &creek_cluster::ClusterConfig) -> anyhow::Result<Served> {
    // The error's own text names the servers and what to check (as a string: its
    // source would repeat it).
    let store = creek_cluster::ClusterLog::connect(cluster.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cluster_id = store
        .cluster_id()
        .await
        .unwrap_or_else(|| cluster.bootstrap_servers().to_string());
    info!(bootstrap_servers = cluster.bootstrap_servers(), %cluster_id, "on an external Kafka cluster");
    Ok(Served {
        store: Arc::new(store),
        log: None,
        kafka: cluster.bootstrap_servers().to_string(),
        cluster_id,
    })
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
