//! `creek bench lake`: the lake sink's Parquet path alone, in memory: N seed records
//! (Avro bodies of the seed schema, as the JDBC source writes them) appended to
//! `FileBuilder`s of `flush.size` rows, each full file finished (encoded to Parquet,
//! snappy) on a thread of its own with at most `--in-flight` at once, as the S3
//! sink's commits run. No log, no disk, no offsets: for tuning the encoder; the
//! figure to compare with pyarrow comes from `scripts/bench-lake.sh`.
//!
//! Prints the wall time of the pipeline (with the minor page faults and peak
//! resident memory), then the same work on one thread split in its two halves
//! (decode into Arrow builders; encode to Parquet). The files share one
//! `ParquetHints`, as the sink's files of a partition do; `CREEK_LAKE_NO_HINTS=1`
//! makes each file start from scratch, for comparison.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use creek_lake::{FileBuilder, FormatConfig, FormatKind, ParquetHints, SinkValue};
use creek_pg::{CustomerGenerator, Locale};
use creek_schema::RegisteredSchema;

use crate::bench_seed::{encode_seed_value, seed_schema, start_perf, stop_perf};

/// `creek bench lake`'s flags.
#[derive(clap::Args, Debug)]
pub struct LakeBench {
    /// Seed records.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Rows per file (the sink's flush.size).
    #[arg(long, default_value_t = 100_000)]
    pub flush_size: usize,
    /// Files being finished at once (the sink's commits in flight).
    #[arg(long, default_value_t = 2)]
    pub in_flight: usize,
    /// Times to repeat the pipeline (each is printed).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Also write the files of the last run into DIR (default: nothing is written).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

pub fn lake(args: LakeBench) -> anyhow::Result<()> {
    let json = seed_schema();
    let avro = creek_avro::parse(&json).context("the seed schema")?;
    let schema = Arc::new(RegisteredSchema::new(1, json, avro));
    let mut generator = CustomerGenerator::with_seed(Locale::En, 42);
    let mut values = Vec::with_capacity(args.records as usize);
    let mut bytes = 0usize;
    let mut id = 0u64;
    while id < args.records {
        let chunk = (args.records - id).min(1000) as usize;
        for c in generator.batch(chunk) {
            id += 1;
            let mut v = Vec::with_capacity(320);
            let millis = c.dt_update.and_utc().timestamp_millis();
            encode_seed_value(1, id, &c, c.sexo, millis, &mut v);
            bytes += v.len() - 5;
            values.push(SinkValue::Avro {
                schema: schema.clone(),
                body: Bytes::from(v).slice(5..),
            });
        }
    }
    let no_hints = std::env::var_os("CREEK_LAKE_NO_HINTS").is_some();
    let mut config = FormatConfig::new(FormatKind::Parquet);
    config.atomic_appends = false;
    println!(
        "# {} seed records, {:.0} B of Avro each, flush.size {}, {} in flight",
        values.len(),
        bytes as f64 / values.len().max(1) as f64,
        args.flush_size,
        args.in_flight
    );

    for run in 1..=args.runs {
        let profiler = if run == args.runs {
            start_perf()?
        } else {
            None
        };
        let (faults0, _) = faults_and_peak();
        let t = Instant::now();
        let mut jobs: VecDeque<std::thread::JoinHandle<anyhow::Result<usize>>> = VecDeque::new();
        let mut out = 0usize;
        let hints = ParquetHints::default();
        for (i, chunk) in values.chunks(args.flush_size).enumerate() {
            let mut file = FileBuilder::new(&config);
            if !no_hints {
                file = file.with_hints(&hints);
            }
            for v in chunk {
                file.append(v)?;
            }
            while jobs.len() >= args.in_flight.max(1) {
                out += jobs
                    .pop_front()
                    .expect("non-empty")
                    .join()
                    .expect("no panic")?;
            }
            let out_dir = args.out.clone().filter(|_| run == args.runs);
            jobs.push_back(std::thread::spawn(move || {
                let data = file.finish()?;
                if let Some(dir) = out_dir {
                    std::fs::write(dir.join(format!("{i:05}.parquet")), &data)?;
                }
                Ok(data.len())
            }));
        }
        for job in jobs {
            out += job.join().expect("no panic")?;
        }
        let secs = t.elapsed().as_secs_f64();
        stop_perf(profiler)?;
        let (faults1, peak) = faults_and_peak();
        println!(
            "run {run}: pipeline {:.0} rows/s ({secs:.3} s, {:.1} MB of Parquet; {} page faults, peak RSS {} MB)",
            values.len() as f64 / secs,
            out as f64 / 1e6,
            faults1 - faults0,
            peak / 1024
        );
    }

    // The two halves on one thread.
    let (mut decode, mut encode) = (0f64, 0f64);
    let hints = ParquetHints::default();
    for chunk in values.chunks(args.flush_size) {
        let t = Instant::now();
        let mut file = FileBuilder::new(&config);
        if !no_hints {
            file = file.with_hints(&hints);
        }
        for v in chunk {
            file.append(v)?;
        }
        decode += t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::hint::black_box(file.finish()?);
        encode += t.elapsed().as_secs_f64();
    }
    println!(
        "one thread: decode {:.0} rows/s ({decode:.3} s), encode {:.0} rows/s ({encode:.3} s)",
        values.len() as f64 / decode,
        values.len() as f64 / encode
    );
    Ok(())
}

/// Minor page faults of this process so far, and its peak resident memory in KiB.
fn faults_and_peak() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let faults = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(7)?.parse().ok())
        .unwrap_or(0);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0);
    (faults, peak)
}
