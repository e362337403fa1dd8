//! `creek up`: open the log, serve the Kafka protocol, shut down cleanly on a signal.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use creek_kafka::{Broker, BrokerConfig};
use creek_log::{FlushPolicy, Log, LogConfig};
use tracing::info;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Where topics, offsets and metadata are kept.
    #[arg(long, default_value = "./creek-data")]
    pub data_dir: PathBuf,
    /// Address to listen on. Use 0.0.0.0 to accept connections from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Host name given to clients in metadata (defaults to --host, or 127.0.0.1 for 0.0.0.0).
    #[arg(long)]
    pub advertised_host: Option<String>,
    #[arg(long, default_value_t = 9092)]
    pub kafka_port: u16,
    /// Reserved for the Schema Registry (not part of this build yet).
    #[arg(long, default_value_t = 8081)]
    pub registry_port: u16,
    /// Reserved for Kafka Connect (not part of this build yet).
    #[arg(long, default_value_t = 8083)]
    pub connect_port: u16,
    /// Reserved for ksqlDB (not part of this build yet).
    #[arg(long, default_value_t = 8088)]
    pub ksql_port: u16,
    /// Do not create topics on first produce or metadata request.
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

pub fn run(args: UpArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: UpArgs) -> anyhow::Result<()> {
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

    let kafka_addr = format!("{}:{}", args.host, args.kafka_port);
    let listener = creek_kafka::bind(&kafka_addr)
        .await
        .with_context(|| format!("listening for Kafka clients on {kafka_addr}"))?;
    let bound = listener.local_addr()?;
    let advertised_host = args.advertised_host.clone().unwrap_or_else(|| {
        if args.host == "0.0.0.0" || args.host == "::" {
            "127.0.0.1".to_string()
        } else {
            args.host.clone()
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
    let maintenance = tokio::spawn(log.clone().run_maintenance(shutdown_rx.clone()));
    let server = tokio::spawn(broker.serve(listener, shutdown_rx));

    println!(
        "creek ready: kafka={}:{} data={} (started in {} ms; registry, connect and ksql are not part of this build yet)",
        advertised_host,
        bound.port(),
        args.data_dir.display(),
        started.elapsed().as_millis()
    );

    wait_for_signal().await;
    info!("shutting down");
    let _ = shutdown_tx.send(true);
    let _ = server.await;
    let _ = maintenance.await;
    tokio::task::spawn_blocking(move || log.flush_all()).await??;
    println!("creek stopped: log flushed");
    Ok(())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
