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
        };
        Ok(config)
    }
}

/// Starts the services `args` describe.
pub async fn start(args: &UpArgs) -> anyhow::Result<Services> {
    creek_server::start(&args.server_config()?).await
}

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    // Bad settings and taken ports fail before anything is opened or logged.
    let config = args.server_config()?;
    config.check()?;
    args.listen.check_ports_free()?;
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
