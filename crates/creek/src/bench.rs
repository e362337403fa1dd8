//! `creek bench`: reproducible benchmarks. `broker` produces N records and consumes
//! them back in a consumer group with librdkafka, against any Kafka-compatible broker,
//! so creek and a peer are measured with the same client in the same run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub suite: Suite,
}

#[derive(Subcommand, Debug)]
pub enum Suite {
    /// Produce then group-consume N records through a Kafka-compatible broker.
    Broker(BrokerBench),
    /// A persistent filter + projection query over Avro seed records in an embedded log.
    Sql(crate::bench_sql::SqlBench),
    /// A tumbling-window COUNT grouped by a low-cardinality column over Avro seed
    /// records in an embedded log.
    Aggregate(crate::bench_aggregate::AggregateBench),
    /// The Avro codec alone: seed records decoded to SQL rows and encoded back,
    /// against apache-avro in the same run.
    Avro(crate::bench_avro::AvroBench),
    /// The lake sink's Parquet path alone: seed records in memory decoded into Arrow
    /// builders and encoded to Parquet files, as the S3 sink does.
    Lake(crate::bench_lake::LakeBench),
    /// Per-record latency through a running creek (topic, CSAS, windowed COUNT) at
    /// fixed rates, and idle CPU.
    Latency(crate::bench_latency::LatencyBench),
}

#[derive(Args, Debug)]
pub struct BrokerBench {
    /// The broker, HOST:PORT.
    #[arg(long)]
    pub bootstrap: String,
    /// Records to produce and consume.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Partitions of the benchmark topic.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// Producer client instances, each on its own thread, sharing the records.
    #[arg(long, default_value_t = 1)]
    pub producers: u64,
    /// Producer acks (all, 1 or 0).
    #[arg(long, default_value = "all")]
    pub acks: String,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
    /// The broker's process id, to report its peak resident memory (VmHWM) and CPU
    /// time (default: not reported).
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// A label for the broker in the output.
    #[arg(long, default_value = "broker")]
    pub label: String,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.suite {
        Suite::Broker(b) => broker(b),
        Suite::Sql(s) => crate::bench_sql::sql(s),
        Suite::Avro(a) => crate::bench_avro::avro(a),
        Suite::Lake(l) => crate::bench_lake::lake(l),
        Suite::Aggregate(a) => crate::bench_aggregate::aggregate(a),
        Suite::Latency(l) => crate::bench_latency::run(l),
    }
}

#[derive(Default)]
struct Deliveries {
    ok: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap();
                if first.is_none() {
                    *first = Some(e.to_string());
                }
            }
        }
    }
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = user_hz();
    Some((utime + stime) / ticks)
}

/// USER_HZ; 100 on every Linux architecture creek targets.
fn user_hz() -> f64 {
    100.0
}

/// Produces `count` records with one librdkafka producer and waits for every delivery.
fn produce_share(args: &BrokerBench, topic: &str, count: u64) -> anyhow::Result<()> {
    let producer: BaseProducer<Deliveries> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("acks", &args.acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .create_with_context(Deliveries::default())
        .context("creating the producer")?;
    let payload: Vec<u8> = (0..args.record_size)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    for i in 0..count {
        let key = (i % 1024).to_string();
        let mut record = BaseRecord::<str, [u8]>::to(topic)
            .key(&key)
            .payload(&payload[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("producing record {i}: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .context("flushing the producer")?;
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!(
            "{failed} records failed delivery; first error: {}",
            ctx.first_error.lock().unwrap().clone().unwrap_or_default()
        );
    }
    Ok(())
}

fn broker(args: BrokerBench) -> anyhow::Result<()> {
    let cpu = || args.broker_pid.and_then(cpu_seconds);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let topic = format!("creek-bench-{stamp}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .create()?;
    let created = runtime.block_on(admin.create_topics(
        [&NewTopic::new(
            &topic,
            args.partitions,
            TopicReplication::Fixed(1),
        )],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))?;
    for r in created {
        if let Err((name, code)) = r {
            bail!("creating benchmark topic {name}: {code}");
        }
    }
    // Give brokers that create topics asynchronously a moment to publish metadata.
    std::thread::sleep(Duration::from_millis(500));

    // Produce: `--producers` client instances, each on its own thread, share the records.
    let cpu_before_produce = cpu();
    let started = Instant::now();
    let producers = args.producers.max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..producers)
            .map(|n| {
                let share = args.records / producers + u64::from(n < args.records % producers);
                let (args, topic) = (&args, &topic);
                scope.spawn(move || produce_share(args, topic, share))
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| bail!("a producer thread panicked"))
        })
    })?;
    let produce_secs = started.elapsed().as_secs_f64();
    let cpu_after_produce = cpu();

    // Consume in a consumer group.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set("group.id", format!("{topic}-group"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the consumer")?;
    consumer.subscribe(&[&topic])?;
    let cpu_before_consume = cpu();
    let subscribed = Instant::now();
    let mut first_record: Option<Instant> = None;
    let mut consumed = 0u64;
    let mut consumed_bytes = 0u64;
    let deadline = subscribed + Duration::from_secs(600);
    while consumed < args.records {
        if Instant::now() > deadline {
            bail!(
                "consumed only {consumed} of {} records within 10 minutes",
                args.records
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                first_record.get_or_insert_with(Instant::now);
                consumed += 1;
                consumed_bytes += m.payload_len() as u64;
            }
            Some(Err(e)) => bail!("consuming: {e}"),
            None => {}
        }
    }
    let done = Instant::now();
    let cpu_after_consume = cpu();
    let spent = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    let produce_cpu = spent(cpu_before_produce, cpu_after_produce);
    let consume_cpu = spent(cpu_before_consume, cpu_after_consume);
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .context("committing offsets")?;
    let first_record = first_record.unwrap_or(done);
    let join_secs = first_record.duration_since(subscribed).as_secs_f64();
    let consume_secs = done.duration_since(first_record).as_secs_f64().max(1e-9);

    let mb = (args.records * args.record_size as u64) as f64 / 1e6;
    let produce_rps = args.records as f64 / produce_secs;
    let consume_rps = consumed as f64 / consume_secs;
    let rss = args.broker_pid.and_then(peak_rss_kb);
    if args.json {
        let line = serde_json::json!({
            "label": args.label,
            "bootstrap": args.bootstrap,
            "records": args.records,
            "record_size": args.record_size,
            "partitions": args.partitions,
            "producers": args.producers,
            "acks": args.acks,
            "produce_seconds": produce_secs,
            "produce_records_per_s": produce_rps,
            "produce_mb_per_s": mb / produce_secs,
            "consume_seconds": consume_secs,
            "consume_group_join_seconds": join_secs,
            "consume_records_per_s": consume_rps,
            "consume_mb_per_s": consumed_bytes as f64 / 1e6 / consume_secs,
            "broker_peak_rss_kb": rss,
            "broker_cpu_seconds_produce": produce_cpu,
            "broker_cpu_seconds_consume": consume_cpu,
        });
        println!("{line}");
    } else {
        println!(
            "{} at {}: {} records of {} bytes, {} partition(s), acks={}",
            args.label, args.bootstrap, args.records, args.record_size, args.partitions, args.acks
        );
        println!(
            "  produce: {:>12.0} records/s {:>8.1} MB/s ({:.2} s)",
            produce_rps,
            mb / produce_secs,
            produce_secs
        );
        println!(
            "  consume: {:>12.0} records/s {:>8.1} MB/s ({:.2} s, after {:.2} s to join the group)",
            consume_rps,
            consumed_bytes as f64 / 1e6 / consume_secs,
            consume_secs,
            join_secs
        );
        if let (Some(p), Some(c)) = (produce_cpu, consume_cpu) {
            println!("  broker CPU: {p:.2} s while producing, {c:.2} s while consuming");
        }
        if let Some(kb) = rss {
            println!("  broker peak RSS: {:.1} MB", kb as f64 / 1024.0);
        }
    }
    Ok(())
}
