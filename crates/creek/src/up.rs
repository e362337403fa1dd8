//! `creek up`: parse the flags into a `creek_server::ServerConfig`, start the
//! services, shut down cleanly on a signal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
pub use creek_server::Services;
use creek_server::{Listen, ServerConfig};
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
    pub fn listen(&self) -> Listen {
        Listen {
            host: self.host.clone(),
            kafka_port: self.kafka_port,
            registry_port: self.registry_port,
            connect_port: self.connect_port,
            ksql_port: self.ksql_port,
        }
    }

    /// Fails, naming the port and its flag, when a port is taken.
    pub fn check_ports_free(&self) -> anyhow::Result<()> {
        self.listen().check_ports_free()
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
    /// A Connect worker property, KEY=VALUE (repeatable), as in a worker's
    /// properties file: key.converter, value.converter and their `.schemas.enable` /
    /// `.schema.registry.url` settings; config.storage.topic, offset.storage.topic,
    /// status.storage.topic; exactly.once.source.support=enabled (source records and
    /// offsets in one transaction, on a cluster with transactions) and group.id (the
    /// Connect group: workers on one cluster with the same group.id share
    /// connectors and tasks; also the first part of a task's transactional id)
    /// (default: as Confluent's
    /// cp-all-in-one worker, StringConverter keys, Avro values with creek's registry,
    /// connect-configs, connect-offsets, connect-status, disabled, connect-cluster).
    #[arg(long = "connect-property", value_name = "KEY=VALUE")]
    pub connect_properties: Vec<String>,
    /// A ksqlDB server property, KEY=VALUE (repeatable), as a line of ksqlDB's
    /// server properties file: the value statements see unless a session SETs it
    /// (e.g. ksql.hidden.topics, auto.offset.reset); ksql.service.id names the
    /// command topic and query-internal topics (default: ksqlDB's defaults,
    /// ksql.service.id=default_).
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
    /// memory (each of its tasks, where workers of one ksql.service.id share
    /// queries); the least recently used beyond this spill to disk under
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
    /// Run on an existing Kafka cluster, HOST:PORT[,HOST:PORT…]: the registry,
    /// Connect and ksqlDB keep their topics there and no embedded broker starts
    /// (also $CREEK_BOOTSTRAP_SERVERS, or bootstrap.servers in --cluster-config)
    /// (default: creek's own broker and log).
    #[arg(long, value_name = "SERVERS")]
    pub bootstrap_servers: Option<String>,
    /// A client property for that cluster, KEY=VALUE (repeatable), under Kafka's
    /// own names: security.protocol, sasl.mechanism, sasl.username, sasl.password,
    /// ssl.ca.location, … Also from --cluster-config and from environment variables
    /// CREEK_CLUSTER_<KEY> (upper case, dots as underscores:
    /// CREEK_CLUSTER_SASL_PASSWORD); flags win over the environment, which wins
    /// over the file (default: none).
    #[arg(long = "cluster-property", value_name = "KEY=VALUE")]
    pub cluster_properties: Vec<String>,
    /// A Kafka client properties file (key=value lines, # comments), as Kafka's
    /// tools and Confluent Cloud's client snippets have (default: none).
    #[arg(long, value_name = "FILE")]
    pub cluster_config: Option<PathBuf>,
    /// Replication factor of the topics creek creates on the cluster (default:
    /// the cluster's default.replication.factor).
    #[arg(long, value_name = "N")]
    pub replication_factor: Option<i32>,
    /// How long one request to the cluster may take before it fails, in ms
    /// (connecting, metadata, admin requests, deliveries).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub cluster_timeout_ms: u64,
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

    /// The services' configuration these flags describe.
    pub fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let mut connect_properties = std::collections::BTreeMap::new();
        for flag in &self.connect_properties {
            let (k, v) = key_value("--connect-property", flag)?;
            connect_properties.insert(k.to_string(), v.to_string());
        }
        let mut ksql_properties = Vec::new();
        for flag in &self.ksql_properties {
            let (k, v) = key_value("--ksql-property", flag)?;
            ksql_properties.push((k.to_string(), v.to_string()));
        }
        let config = ServerConfig {
            data_dir: self.data_dir.clone(),
            listen: self.listen.listen(),
            advertised_host: self.advertised_host.clone(),
            connect_properties,
            ksql_properties,
            auto_create_topics: !self.no_auto_create_topics,
            num_partitions: self.num_partitions,
            flush_every_batch: self.flush_every_batch,
            flush_interval: Duration::from_millis(self.flush_interval_ms),
            log_retention_ms: self.log_retention_ms,
            log_retention_bytes: self.log_retention_bytes,
            log_segment_bytes: self.log_segment_bytes,
            ksql_groups_in_memory: self.ksql_groups_in_memory,
            max_request_bytes: self.max_request_bytes,
            group_initial_rebalance_delay: Duration::from_millis(
                self.group_initial_rebalance_delay_ms,
            ),
            cluster: self.cluster(std::env::vars())?,
        };
        Ok(config)
    }

    /// The external cluster these flags (with `env`, the environment) name, if any.
    fn cluster(
        &self,
        env: impl Iterator<Item = (String, String)>,
    ) -> anyhow::Result<Option<creek_cluster::ClusterConfig>> {
        let mut properties = std::collections::BTreeMap::new();
        if let Some(file) = &self.cluster_config {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--cluster-config {}: cannot read it", file.display()))?;
            properties.extend(properties_file(&text));
        }
        let mut bootstrap = properties.remove("bootstrap.servers");
        for (name, value) in env {
            if name == "CREEK_BOOTSTRAP_SERVERS" {
                bootstrap = Some(value);
            } else if let Some(key) = name.strip_prefix("CREEK_CLUSTER_") {
                properties.insert(key.to_lowercase().replace('_', "."), value);
            }
        }
        for flag in &self.cluster_properties {
            let (k, v) = key_value("--cluster-property", flag)?;
            properties.insert(k.to_string(), v.to_string());
        }
        if let Some(servers) = &self.bootstrap_servers {
            bootstrap = Some(servers.clone());
        }
        let Some(bootstrap) = bootstrap else {
            if !properties.is_empty() || self.replication_factor.is_some() {
                anyhow::bail!(
                    "cluster settings were given but no cluster: pass --bootstrap-servers \
                     HOST:PORT (or set CREEK_BOOTSTRAP_SERVERS, or bootstrap.servers in \
                     --cluster-config)"
                );
            }
            return Ok(None);
        };
        let mut config = creek_cluster::ClusterConfig::new(bootstrap, properties)
            .map_err(|e| anyhow::anyhow!("the Kafka cluster's client settings: {e}"))?;
        config = config.with_timeout(Duration::from_millis(self.cluster_timeout_ms.max(1)));
        if let Some(n) = self.replication_factor {
            if n < 1 {
                anyhow::bail!("--replication-factor {n}: expected 1 or more");
            }
            config = config.with_replication_factor(n);
        }
        Ok(Some(config))
    }
}

/// The `key=value` lines of a Java properties file (`#` and `!` comments; `:` also
/// separates, as in Java).
fn properties_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((l[..at].trim().to_string(), l[at + 1..].trim().to_string()))
        })
        .collect()
}

/// Starts the services `args` describe.
pub async fn start(args: &UpArgs) -> anyhow::Result<Services> {
    creek_server::start(&args.server_config()?).await
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    // Bad settings and taken ports fail before anything is opened or logged.
    let config = args.server_config()?;
    config.check()?;
    if config.cluster.is_some() {
        // No broker of its own: the Kafka port is not used.
        ListenArgs {
            kafka_port: 0,
            ..args.listen.clone()
        }
        .check_ports_free()?;
    } else {
        args.listen.check_ports_free()?;
    }
    crate::logging::init_logging(&args.data_dir, true)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: UpArgs, config: ServerConfig) -> anyhow::Result<()> {
    // Take over SIGTERM before anything else: a signal that arrives while the
    // services start (or just after the ready line) must still stop us cleanly.
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let services = creek_server::start(&config).await?;
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
    stop(services).await?;
    println!("creek stopped: log flushed");
    Ok(())
}

/// Stops the services, then writes the summary of rejected requests the log
/// bound still owes (`creek up` and `creek demo` both stop this way).
pub async fn stop(services: Services) -> anyhow::Result<()> {
    services.stop().await?;
    crate::logging::flush_rejected();
    Ok(())
}

/// A `KEY=VALUE` flag value, both sides trimmed.
fn key_value<'a>(flag: &str, value: &'a str) -> anyhow::Result<(&'a str, &'a str)> {
    let (k, v) = value
        .split_once('=')
        .with_context(|| format!("{flag} {value:?}: expected KEY=VALUE"))?;
    Ok((k.trim(), v.trim()))
}

async fn wait_for_signal(mut term: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod cluster_flag_tests {
    use super::*;

    fn args(flags: &[&str]) -> UpArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            up: UpArgs,
        }
        let argv = std::iter::once("creek").chain(flags.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().up
    }

    fn env(pairs: &[(&str, &str)]) -> std::vec::IntoIter<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn no_cluster_without_bootstrap_servers() {
        assert!(args(&[]).cluster(env(&[])).unwrap().is_none());
        let err = args(&["--cluster-property", "security.protocol=SSL"])
            .cluster(env(&[]))
            .unwrap_err();
        assert!(err.to_string().contains("--bootstrap-servers"), "{err}");
    }

    #[test]
    fn file_then_environment_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.properties");
        std::fs::write(
            &file,
            "# Confluent Cloud\nbootstrap.servers=file:9092\nsecurity.protocol=SASL_SSL\n\
             sasl.mechanism=PLAIN\nsasl.username=from-file\nsasl.password: file-secret\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let cluster = args(&["--cluster-config", file])
            .cluster(env(&[("CREEK_CLUSTER_SASL_USERNAME", "from-env")]))
            .unwrap()
            .unwrap();
        assert_eq!(cluster.bootstrap_servers(), "file:9092");
        assert_eq!(cluster.properties()["sasl.username"], "from-env");
        assert_eq!(cluster.properties()["sasl.password"], "file-secret");
        // Secrets never print.
        assert!(!format!("{cluster} {cluster:?}").contains("file-secret"));
        let cluster = args(&[
            "--cluster-config",
            file,
            "--bootstrap-servers",
            "flag:9092",
            "--cluster-property",
            "sasl.username=from-flag",
            "--replication-factor",
            "3",
        ])
        .cluster(env(&[
            ("CREEK_BOOTSTRAP_SERVERS", "env:9092"),
            ("CREEK_CLUSTER_SASL_USERNAME", "from-env"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(cluster.bootstrap_servers(), "flag:9092");
        assert_eq!(cluster.properties()["sasl.username"], "from-flag");
        assert_eq!(cluster.replication_factor(), 3);
    }

    #[test]
    fn unknown_client_property_is_named() {
        let err = args(&["--bootstrap-servers", "h:9092"])
            .cluster(env(&[("CREEK_CLUSTER_NO_SUCH_THING", "1")]))
            .unwrap_err();
        assert!(format!("{err:#}").contains("no.such.thing"), "{err:#}");
    }
}
