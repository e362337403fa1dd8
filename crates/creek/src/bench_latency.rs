//! `creek bench latency`: how long one record takes through each hop of a running
//! creek, and what an idle pipeline costs.
//!
//! The benchmark starts creek's services in this process on free loopback ports
//! (`up::start`, a temporary data dir), registers the seed's value schema and runs
//! the seed's `custstream`, a filter + projection CSAS (`ADULTS`, as `creek bench
//! sql`) and a one-second tumbling COUNT table (`LAT_COUNTS`). A real client
//! (librdkafka, over TCP) then produces one seed-shaped Avro record at a time at each
//! fixed rate, and three consumers time each record's arrival:
//!
//! - `topic`: the record itself, read back from `psg-customers`;
//! - `csas`: its projection in `ADULTS` (matched by id);
//! - `count`: the windowed count's update it causes in `LAT_COUNTS` (matched by window
//!   and count: all records share one `sexo`, so the k-th record of a window makes
//!   count k).
//!
//! Latency is receive instant minus send instant, on one clock; a first second at the
//! first rate warms clients and queries up and is not counted. For the two query
//! hops the benchmark also reports the hop through the query alone: the output's
//! arrival minus the same record's arrival at the source topic's consumer (both
//! consumers are alike, so what remains is the query's read, work and append).
//! Each phase reports the CPU creek's threads used, apart from the clients'.
//! Last, with the clients gone and the queries still running, the process's CPU
//! time over a quiet interval gives the idle cost in percent of one core.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::bench_seed::{encode_seed_value, seed_schema, CUSTSTREAM, PROJECTION, TOPIC};
use crate::up::{self, UpArgs};

#[derive(Args, Debug)]
pub struct LatencyBench {
    /// Records per second of each phase, comma-separated.
    #[arg(long, default_value = "1000,10000", value_delimiter = ',')]
    pub rates: Vec<u64>,
    /// Seconds each rate runs.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Seconds of no traffic over which idle CPU is measured.
    #[arg(long, default_value_t = 10)]
    pub idle_seconds: u64,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

const COUNTS: &str = "CREATE TABLE lat_counts AS SELECT sexo, COUNT(*) AS n FROM custstream \
WINDOW TUMBLING (SIZE 1 SECOND) GROUP BY sexo EMIT CHANGES;";

/// The hops timed, and the topic each one is read from.
const HOPS: [(&str, &str); 3] = [
    ("topic", TOPIC),
    ("csas", "ADULTS"),
    ("count", "LAT_COUNTS"),
];

/// What a consumer saw: the key that identifies the record, and when.
type Arrivals = Arc<Mutex<Vec<(Match, Instant)>>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Match {
    /// A record by its id (the source topic, the projection).
    Id(u64),
    /// A windowed count's update: window start (ms) and count.
    Window(i64, i64),
}

pub fn run(args: LatencyBench) -> anyhow::Result<()> {
    if args.rates.is_empty() || args.rates.contains(&0) {
        bail!("--rates needs one or more rates above 0");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::Builder::new()
        .prefix("creek-bench-latency")
        .tempdir()?;
    let mut up_args = UpArgs::defaults()?;
    up_args.data_dir = dir.path().to_path_buf();
    up_args.listen.kafka_port = 0;
    up_args.listen.registry_port = 0;
    up_args.listen.connect_port = 0;
    up_args.listen.ksql_port = 0;
    let services = runtime.block_on(up::start(&up_args))?;
    let schema_id = runtime.block_on(set_up(&services))?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    let mut arrivals = Vec::new();
    for (hop, topic) in HOPS {
        let seen: Arrivals = Arc::default();
        arrivals.push((hop, seen.clone()));
        readers.push(read_arrivals(
            &services.kafka,
            topic,
            hop,
            seen,
            stop.clone(),
        )?);
    }

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &services.kafka)
        .set("linger.ms", "0")
        .set("acks", "1")
        .create()
        .context("creating the producer")?;
    let mut generator = creek_pg::CustomerGenerator::with_seed(creek_pg::Locale::En, 7);
    let mut results = Vec::new();
    let mut next_id = 1u64;
    // Counts per window as the table keeps them, across phases.
    let mut per_window: BTreeMap<i64, i64> = BTreeMap::new();
    // A first, unmeasured phase: clients connect and fetch metadata, queries warm up.
    let warm_up = std::iter::once((args.rates[0], 1, false));
    let phases = args.rates.iter().map(|&rate| (rate, args.seconds, true));
    for (rate, seconds, measured) in warm_up.chain(phases) {
        // Each match's send instant and the id of the record that caused it.
        let mut sent: HashMap<Match, (Instant, u64)> = HashMap::new();
        let first_id = next_id;
        let total = rate * seconds;
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let customers = generator.batch(total as usize);
        let start = Instant::now();
        let cpu_at_start = CpuSplit::now()?;
        let mut value = Vec::with_capacity(320);
        for (i, c) in customers.iter().enumerate() {
            let due = start + interval * i as u32;
            pace_until(due);
            let id = next_id;
            next_id += 1;
            let ts = creek_store::now_ms();
            value.clear();
            encode_seed_value(schema_id, id, c, "F", ts, &mut value);
            let record = BaseRecord::<(), [u8]>::to(TOPIC)
                .payload(&value)
                .timestamp(ts);
            let at = Instant::now();
            if let Err((e, _)) = producer.send(record) {
                bail!("producing record {id}: {e}");
            }
            producer.poll(Duration::ZERO);
            sent.insert(Match::Id(id), (at, id));
            let window = ts - ts.rem_euclid(1000);
            let n = per_window.entry(window).or_insert(0);
            *n += 1;
            sent.insert(Match::Window(window, *n), (at, id));
        }
        let cpu = CpuSplit::now()?.since(&cpu_at_start, start.elapsed());
        producer
            .flush(Duration::from_secs(10))
            .context("flushing the producer")?;
        // Let every hop catch up (the last window's count included).
        let deadline = Instant::now() + Duration::from_secs(15);
        let last = Match::Id(next_id - 1);
        while Instant::now() < deadline
            && arrivals
                .iter()
                .take(2)
                .any(|(_, seen)| !seen.lock().unwrap().iter().any(|(m, _)| *m == last))
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut hops = Vec::new();
        // When the source topic's consumer saw each record, by id.
        let mut at_source: HashMap<u64, Instant> = HashMap::new();
        for (hop, seen) in &arrivals {
            let mut latencies = Vec::new();
            let mut through_query = Vec::new();
            for (m, at) in seen.lock().unwrap().drain(..) {
                let in_phase = match m {
                    Match::Id(id) => id >= first_id,
                    Match::Window(..) => true,
                };
                let Some(&(sent_at, id)) = sent.get(&m).filter(|_| in_phase) else {
                    continue;
                };
                latencies.push(at.saturating_duration_since(sent_at));
                if *hop == "topic" {
                    at_source.insert(id, at);
                } else if let Some(seen_at) = at_source.get(&id) {
                    through_query.push(at.saturating_duration_since(*seen_at));
                }
            }
            latencies.sort();
            through_query.sort();
            let through_query = (*hop != "topic").then(|| Stats::of(&through_query, total));
            hops.push((*hop, Stats::of(&latencies, total), through_query));
        }
        if measured {
            results.push(Phase { rate, hops, cpu });
        }
    }
    drop(producer);
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.join();
    }

    // Idle: the services and their queries keep running, no client is connected.
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = process_cpu_seconds()?;
    let quiet = Duration::from_secs(args.idle_seconds.max(1));
    std::thread::sleep(quiet);
    let idle_cpu = (process_cpu_seconds()? - cpu_before) / quiet.as_secs_f64() * 100.0;

    runtime.block_on(services.stop())?;
    print_results(&results, idle_cpu, args.json);
    Ok(())
}

/// Schema, topic and the three queries, through the services' public APIs.
async fn set_up(services: &up::Services) -> anyhow::Result<i32> {
    services
        .store
        .create_topic(TOPIC, 1, BTreeMap::new())
        .await
        .context("creating psg-customers")?;
    let http = reqwest::Client::new();
    let registered: serde_json::Value = http
        .post(format!(
            "{}/subjects/{TOPIC}-value/versions",
            services.registry_url
        ))
        .json(&serde_json::json!({ "schema": seed_schema() }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let schema_id = registered["id"]
        .as_i64()
        .context("the registry's answer has no id")? as i32;
    for statement in [CUSTSTREAM, PROJECTION, COUNTS] {
        let answer = http
            .post(format!("{}/ksql", services.ksql_url))
            .json(&serde_json::json!({
                "ksql": statement,
                "streamsProperties": {"auto.offset.reset": "earliest"},
            }))
            .send()
            .await?;
        if !answer.status().is_success() {
            bail!("{statement}: {}", answer.text().await?);
        }
    }
    Ok(schema_id)
}

/// A consumer thread that records when each record of `topic` arrives.
fn read_arrivals(
    bootstrap: &str,
    topic: &str,
    hop: &'static str,
    seen: Arrivals,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("creek-bench-latency-{hop}"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1")
        .create()
        .context("creating a consumer")?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&assignment)?;
    let thread = std::thread::Builder::new().name(format!("{CLIENT_THREAD}{hop}"));
    Ok(thread.spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let at = Instant::now();
            let Some(m) = identify(hop, message.key(), message.payload()) else {
                continue;
            };
            seen.lock().unwrap().push((m, at));
        }
    })?)
}

/// Which sent record an output record stands for.
fn identify(hop: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> Option<Match> {
    let body = value?.get(5..)?;
    match hop {
        // Both start with the optional id: union branch 1, then the zig-zag value.
        "topic" | "csas" => {
            let (branch, rest) = body.split_first()?;
            (*branch == 2).then_some(())?;
            Some(Match::Id(zigzag(rest)? as u64))
        }
        _ => {
            // A KAFKA windowed key: the string, then the window start (8 bytes).
            let key = key?;
            let start = i64::from_be_bytes(key.get(key.len().checked_sub(8)?..)?.try_into().ok()?);
            let (branch, rest) = body.split_first()?;
            (*branch == 2).then_some(())?;
            Some(Match::Window(start, zigzag(rest)?))
        }
    }
}

/// The zig-zag varint at the start of `bytes`.
fn zigzag(bytes: &[u8]) -> Option<i64> {
    creek_avro::Reader::new(bytes).long().ok()
}

/// Sleeps until `due`. The producer does not spin: on two cores a spinning client
/// takes a whole core from creek and the consumers, and the tails measured would be
/// the benchmark's own. A sleep that overshoots (timer slack, ~50 µs) delays this
/// record a little and the next ones go out at once, so the rate holds on average;
/// each record's latency is timed from when it is actually sent.
fn pace_until(due: Instant) {
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// utime + stime of this process, in seconds.
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    cpu_seconds_of(&stat).context("unexpected /proc/self/stat")
}

/// utime + stime from a `/proc/…/stat` line, in seconds.
fn cpu_seconds_of(stat: &str) -> Option<f64> {
    // Fields after the command name (which may hold spaces) start after ")".
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

/// The name prefix of the benchmark's own consumer threads.
const CLIENT_THREAD: &str = "bench-";

/// CPU seconds of the process so far, and of its client threads (librdkafka's, the
/// benchmark's consumers and the producing main thread); creek's are the rest.
struct CpuSplit {
    process: f64,
    clients: f64,
}

impl CpuSplit {
    fn now() -> anyhow::Result<CpuSplit> {
        let process = process_cpu_seconds()?;
        let main = std::process::id().to_string();
        let mut clients = 0.0;
        for task in std::fs::read_dir("/proc/self/task")? {
            let task = task?;
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            let is_client = comm.starts_with("rdk:")
                || comm.starts_with(CLIENT_THREAD)
                || task.file_name().to_str() == Some(main.as_str());
            if is_client {
                if let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) {
                    clients += cpu_seconds_of(&stat).unwrap_or(0.0);
                }
            }
        }
        Ok(CpuSplit { process, clients })
    }

    /// Percent of one core used by creek and by the clients since `earlier`.
    fn since(&self, earlier: &CpuSplit, wall: Duration) -> PhaseCpu {
        let percent = |s: f64| s / wall.as_secs_f64().max(1e-9) * 100.0;
        let clients = self.clients - earlier.clients;
        PhaseCpu {
            creek: percent(self.process - earlier.process - clients),
            clients: percent(clients),
        }
    }
}

/// CPU used while a phase was producing, in percent of one core.
#[derive(Debug, Clone, Copy)]
struct PhaseCpu {
    creek: f64,
    clients: f64,
}

/// One measured rate: each hop's latency from produce (and through the query
/// alone, for the query hops), and the CPU used.
struct Phase {
    rate: u64,
    hops: Vec<(&'static str, Stats, Option<Stats>)>,
    cpu: PhaseCpu,
}

#[derive(Debug)]
struct Stats {
    seen: usize,
    expected: u64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
}

impl Stats {
    fn of(sorted: &[Duration], expected: u64) -> Stats {
        let at = |q: f64| {
            if sorted.is_empty() {
                return Duration::ZERO;
            }
            sorted[((sorted.len() - 1) as f64 * q).round() as usize]
        };
        Stats {
            seen: sorted.len(),
            expected,
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

fn print_results(results: &[Phase], idle_cpu: f64, json: bool) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let stats_json = |s: &Stats| {
        serde_json::json!({"seen": s.seen, "expected": s.expected,
            "p50_ms": ms(s.p50), "p99_ms": ms(s.p99),
            "p999_ms": ms(s.p999), "max_ms": ms(s.max)})
    };
    if json {
        let phases: Vec<_> = results
            .iter()
            .map(|phase| {
                let hops: serde_json::Map<String, serde_json::Value> = phase
                    .hops
                    .iter()
                    .map(|(hop, s, through)| {
                        let mut value = stats_json(s);
                        if let Some(t) = through {
                            value["through_query"] = stats_json(t);
                        }
                        (hop.to_string(), value)
                    })
                    .collect();
                serde_json::json!({"rate": phase.rate, "hops": hops,
                    "creek_cpu_percent": phase.cpu.creek,
                    "clients_cpu_percent": phase.cpu.clients})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"bench": "latency", "phases": phases, "idle_cpu_percent": idle_cpu})
        );
        return;
    }
    println!("creek bench latency: per record (ms); from produce, and through the query alone");
    println!(
        "{:>8}  {:<6} {:>13} {:>8} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
        "rate/s", "hop", "records", "p50", "p99", "p99.9", "max", "q p50", "q p99", "q p99.9"
    );
    for phase in results {
        for (hop, s, through) in &phase.hops {
            let query = through.as_ref().map_or(String::new(), |t| {
                format!("{:>8.3} {:>8.3} {:>8.3}", ms(t.p50), ms(t.p99), ms(t.p999))
            });
            println!(
                "{:>8}  {:<6} {:>13} {:>8.3} {:>8.3} {:>8.3} {:>8.3}   {}",
                phase.rate,
                hop,
                format!("{}/{}", s.seen, s.expected),
                ms(s.p50),
                ms(s.p99),
                ms(s.p999),
                ms(s.max),
                query
            );
        }
        println!(
            "{:>8}  CPU while producing: creek {:.1}%, clients {:.1}% of one core",
            phase.rate, phase.cpu.creek, phase.cpu.clients
        );
    }
    println!("idle CPU with the queries running and no traffic: {idle_cpu:.2}% of one core");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_ids_and_window_counts() {
        let mut v = vec![0, 0, 0, 0, 1, 2];
        v.push(84); // zig-zag 42
        assert_eq!(identify("csas", None, Some(&v)), Some(Match::Id(42)));
        let mut key = b"F".to_vec();
        key.extend_from_slice(&5_000i64.to_be_bytes());
        let value = [0, 0, 0, 0, 1, 2, 6]; // count 3
        assert_eq!(
            identify("count", Some(&key), Some(&value)),
            Some(Match::Window(5_000, 3))
        );
        assert_eq!(identify("topic", None, Some(&[0, 0, 0, 0, 1, 0])), None);
    }

    #[test]
    fn percentiles() {
        let d: Vec<Duration> = (1..=1000).map(Duration::from_millis).collect();
        let s = Stats::of(&d, 1000);
        assert_eq!(s.p50, Duration::from_millis(501));
        assert_eq!(s.p99, Duration::from_millis(990));
        assert_eq!(s.max, Duration::from_millis(1000));
    }
}
