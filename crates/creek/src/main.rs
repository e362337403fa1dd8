//! `creek`: the whole streaming pipeline as one binary.
//!
//! Subcommands: `up` (run the services), `demo` (the seed's whole pipeline with a
//! status screen), `topics` (kafka-topics' flags, a Kafka client), `bench`
//! (reproducible benchmarks), `fake` (the seed's data generator), `ksql` (the
//! ksqlDB CLI), `qtt` (ksqlDB's conformance files).
//! Each lives in its own module. `main` only parses flags: `up` and `demo` hand a
//! `creek_server::ServerConfig` to the services' wiring in `creek-server`.

mod bench;
mod bench_aggregate;
mod bench_avro;
mod bench_lake;
mod bench_latency;
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

/// mimalloc asks for transparent huge pages on its memory. The first touch of one
/// zeroes 2 MiB at once, and on the 2-vCPU VMs creek is measured on that made a cold
/// lake sink (the first files after start) 1.6–1.9× slower: `creek bench lake`'s
/// first run 1.23–1.43 s with them, 0.75–0.90 s without; warm runs are the same
/// either way. Idle resident memory also halves. Same as `MIMALLOC_ALLOW_THP=0`.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE only sets a flag on this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

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
    /// Serve Kafka (:9092), Schema Registry (:8081), Connect (:8083) and ksqlDB (:8088) until Ctrl-C / SIGTERM.
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
    ///
    /// Each row's first name (and title) is one of its `sexo`; `nascimento` gives ages 0
    /// to 115 on the day the row is made. `dt_update` is the time the row was made in this
    /// machine's local time zone (TZ, else /etc/localtime), stored without a zone in the
    /// seed's `timestamp without time zone` column: TZ=UTC creek fake … stores UTC.
    Fake(fake::FakeArgs),
    /// Run ksqlDB query-validation-test files through creek's SQL engine.
    Qtt(qtt::QttArgs),
    /// A ksqlDB-CLI-compatible client for the SQL engine's REST API.
    Ksql(ksql::KsqlArgs),
}

fn main() {
    no_transparent_huge_pages();
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand says what it does, and every flag says what it does and
    /// its default: clap prints `[default: …]` for flags with a default value; an
    /// option without one must say in words what happens when it is left out.
    #[test]
    fn every_flag_is_described_with_its_default() {
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let name = arg
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .unwrap_or_else(|| id.to_string());
                let help = arg
                    .get_long_help()
                    .or(arg.get_help())
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if help.is_empty() {
                    problems.push(format!("{path} {name}: no help text"));
                    continue;
                }
                let takes_value = arg.get_action().takes_values();
                let has_default = !arg.get_default_values().is_empty();
                let shown = has_default && !arg.is_hide_default_value_set();
                if takes_value
                    && !arg.is_required_set()
                    && !shown
                    && !help.to_lowercase().contains("default")
                {
                    problems.push(format!("{path} {name}: the help does not give the default"));
                }
            }
            for sub in cmd.get_subcommands() {
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    problems.push(format!("{sub_path}: no description"));
                }
                walk(sub, &sub_path, problems);
            }
        }
        let mut problems = Vec::new();
        walk(&super::Cli::command(), "creek", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    /// `creek up --help` names each service it starts and its port.
    #[test]
    fn up_help_names_every_service_and_port() {
        let help = super::Cli::command()
            .find_subcommand_mut("up")
            .expect("up")
            .render_long_help()
            .to_string();
        for (service, port) in [
            ("Kafka", "9092"),
            ("Schema Registry", "8081"),
            ("Kafka Connect", "8083"),
            ("ksqlDB", "8088"),
        ] {
            assert!(
                help.contains(service) && help.contains(port),
                "{service} {port}"
            );
        }
    }
}
