//! `creek`: the whole streaming pipeline as one binary.
//!
//! Subcommands: `up` (run the services), `demo` (the seed's whole pipeline with a
//! status screen), `topics` (kafka-topics' flags, a Kafka client), `bench`
//! (reproducible benchmarks), `fake` (the seed's data generator), `ksql` (the
//! ksqlDB CLI), `qtt` (ksqlDB's conformance files).
//! Each lives in its own module.

mod bench;
mod bench_aggregate;
mod bench_seed;
mod bench_sql;
mod demo;
mod fake;
mod ksql;
mod logging;
mod qtt;
mod topics;
mod up;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed memory for reuse; with the system allocator every large
/// buffer (a Parquet file being built, a fetched batch) came back as fresh pages the
/// kernel had to zero, which was 15% of the lake sink's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "creek",
    version,
    about = "Kafka, Schema Registry, Connect and ksqlDB as one small binary"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start creek's services and serve until Ctrl-C / SIGTERM.
    ///
    /// Starts, in one process over one log in --data-dir: a Kafka-compatible broker
    /// (--kafka-port, default 9092), a Schema Registry (--registry-port, default 8081),
    /// Kafka Connect with the JDBC source and the lake (S3) sink (--connect-port,
    /// default 8083) and a ksqlDB-compatible SQL engine (--ksql-port, default 8088).
    /// Prints one "creek ready: ..." line when all accept connections.
    Up(up::UpArgs),
    /// The seed's whole pipeline in one command: PostgreSQL, generator, JDBC source, ksqlDB, Parquet lake, live status.
    Demo(demo::DemoArgs),
    /// Create, list, describe, alter and delete topics on any Kafka-compatible broker (kafka-topics' flags).
    Topics(topics::TopicsArgs),
    /// Run a benchmark suite.
    Bench(bench::BenchArgs),
    /// Insert fake customers into PostgreSQL, like the seed's make_fake_data.py (same flags).
    Fake(fake::FakeArgs),
    /// Run ksqlDB query-validation-test files through creek's SQL engine.
    Qtt(qtt::QttArgs),
    /// A ksqlDB-CLI-compatible client for the SQL engine's REST API.
    Ksql(ksql::KsqlArgs),
}

fn main() {
    let cli = Cli::parse_from(fake::normalize_args(std::env::args_os()));
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Topics(args) => topics::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Fake(args) => fake::run(args),
        Command::Qtt(args) => qtt::run(args),
        Command::Ksql(args) => ksql::run(args),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
