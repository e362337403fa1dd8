//! `creek bench aggregate`: a tumbling-window COUNT grouped by a low-cardinality
//! column over N Avro seed records already in the log, in input records/s.
//!
//! Setup (not timed): the seed's records in an embedded log ([`SeedLog`]).
//!
//! Timed: `Engine::run_until_idle` for the seed exercise's aggregation (customers per
//! `sexo` in 30-second tumbling windows, EMIT CHANGES: one updated row per input
//! record) until every input record is consumed. The sink is then read back: it must
//! hold one update per input record, and the last count of each group-window must
//! equal the count worked out from the seed rows (so the counts sum to N).
//!
//! Peer, same run, same records: the raw log read and the apache-avro decode +
//! re-encode floor of `creek bench sql`, and that benchmark's projection query run
//! by the same engine just before the aggregation.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;

use crate::bench_seed::{SeedBenchArgs, SeedLog, CUSTSTREAM, PROJECTION};

const SINK: &str = "PER_SEX";
const PROJECTION_SINK: &str = "ADULTS";
const WINDOW_MS: i64 = 30_000;

/// ksqlDB's capacity-planning guide: aggregations at roughly a quarter of
/// project/filter, about 12k records/s per core.
const KSQLDB_PER_CORE: f64 = 12_000.0;
/// The target on this 2-core machine.
const TARGET: f64 = 250_000.0;

const AGGREGATION: &str = "CREATE TABLE per_sex AS SELECT sexo, COUNT(*) AS n FROM custstream \
WINDOW TUMBLING (SIZE 30 SECONDS) GROUP BY sexo EMIT CHANGES;";

/// `creek bench aggregate`'s flags.
pub type AggregateBench = SeedBenchArgs;

pub fn aggregate(args: AggregateBench) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(aggregate_async(args))
}

/// (sexo, window start) → customers.
type Counts = BTreeMap<(String, i64), u64>;

async fn aggregate_async(args: AggregateBench) -> anyhow::Result<()> {
    let mut expected = Counts::new();
    let mut projected = 0u64;
    let seed = SeedLog::open(
        "creek-bench-aggregate-",
        args.records,
        args.bootstrap_servers.as_deref(),
        |row| {
            let start = row.timestamp - row.timestamp.rem_euclid(WINDOW_MS);
            *expected
                .entry((row.customer.sexo.to_string(), start))
                .or_default() += 1;
            if row.customer.sexo == "F" || row.id.is_multiple_of(2) {
                projected += 1;
            }
        },
    )
    .await?;
    if !args.json {
        eprintln!(
            "loaded {} records ({:.1} MB of Avro, {:.0} B/record) in {:.2} s; \
             {} group-windows expected",
            args.records,
            seed.payload_bytes as f64 / 1e6,
            seed.record_size(),
            seed.load_secs,
            expected.len()
        );
    }
    let peer = seed.peer().await?;

    // The projection query first, then the aggregation, in one engine.
    let engine = seed.engine(&format!("{CUSTSTREAM}\n{PROJECTION}")).await?;
    let projection_secs = seed.run_timed(&engine, false).await?;
    let produced = seed.end_offset(PROJECTION_SINK).await?;
    if produced as u64 != projected {
        bail!("the sink {PROJECTION_SINK} holds {produced} records, expected {projected}");
    }
    seed.execute(&engine, AGGREGATION).await?;
    let query_secs = seed.run_timed(&engine, true).await?;

    let (updates, finals) = read_results(&seed).await?;
    if updates != args.records {
        bail!(
            "the sink {SINK} holds {updates} updates, expected one per input record ({})",
            args.records
        );
    }
    let total: u64 = finals.values().sum();
    if finals != expected || total != args.records {
        bail!(
            "the final counts per group-window ({total} in all) differ from the input's: \
             got {finals:?}, expected {expected:?}"
        );
    }

    let n = args.records as f64;
    let query_rps = n / query_secs;
    let projection_rps = n / projection_secs;
    let raw_rps = n / peer.raw_secs;
    let avro_rps = n / peer.avro_secs;
    if args.json {
        let line = serde_json::json!({
            "records": args.records,
            "payload_bytes": seed.payload_bytes,
            "sink_records": updates,
            "group_windows": finals.len(),
            "query_seconds": query_secs,
            "query_records_per_s": query_rps,
            "peer_projection_query_records_per_s": projection_rps,
            "peer_raw_read_records_per_s": raw_rps,
            "peer_avro_decode_encode_records_per_s": avro_rps,
            "query_over_projection_peer": query_rps / projection_rps,
            "query_over_avro_peer": query_rps / avro_rps,
            "ksqldb_reference_records_per_s_per_core": KSQLDB_PER_CORE,
            "target_records_per_s": TARGET,
            "final_counts": finals
                .iter()
                .map(|((sexo, start), n)| serde_json::json!({"sexo": sexo, "window_start": start, "n": n}))
                .collect::<Vec<_>>(),
        });
        println!("{line}");
    } else {
        println!(
            "creek bench aggregate: {} Avro seed records ({:.0} B each) -> {updates} updates \
             of {} group-windows in {SINK}",
            args.records,
            seed.record_size(),
            finals.len()
        );
        println!("  query (tumbling 30 s COUNT(*) GROUP BY sexo, EMIT CHANGES, Avro in/out):");
        println!("    {query_rps:>12.0} input records/s ({query_secs:.2} s)");
        println!("  peer, same run, same records:");
        println!(
            "    {projection_rps:>12.0} records/s creek bench sql's filter + projection query \
             ({projection_secs:.2} s)"
        );
        println!(
            "    {raw_rps:>12.0} records/s raw log read ({:.2} s)",
            peer.raw_secs
        );
        println!(
            "    {avro_rps:>12.0} records/s log read + apache-avro decode + re-encode ({:.2} s)",
            peer.avro_secs
        );
        println!(
            "  aggregation / projection: {:.2}; aggregation / apache-avro peer: {:.2}; \
             aggregation / target {TARGET:.0}: {:.2}; ksqlDB guide: ~{KSQLDB_PER_CORE:.0} \
             records/s per core",
            query_rps / projection_rps,
            query_rps / avro_rps,
            query_rps / TARGET
        );
        for ((sexo, start), n) in &finals {
            println!("  final: sexo {sexo}, window from {start}: {n}");
        }
    }
    seed.finish(args.keep);
    Ok(())
}

/// Reads the aggregation's sink back: the number of updates, and the last count of
/// each (sexo, window start).
async fn read_results(seed: &SeedLog) -> anyhow::Result<(u64, Counts)> {
    let end = seed.end_offset(SINK).await?;
    let mut latest: HashMap<Bytes, Bytes> = HashMap::new();
    let mut offset = 0i64;
    let mut updates = 0u64;
    while offset < end {
        let f = seed
            .store
            .fetch(SINK, 0, offset, 1 << 20, Duration::ZERO)
            .await?;
        if f.records.is_empty() {
            break;
        }
        for r in f.records {
            offset = r.offset + 1;
            updates += 1;
            let (Some(k), Some(v)) = (r.key, r.value) else {
                bail!("a sink record at offset {} lacks a key or value", r.offset);
            };
            latest.insert(k, v);
        }
    }
    let mut finals = Counts::new();
    for (k, v) in latest {
        let (sexo, start) = creek_sql_engine::format::split_time_windowed_key(&k)
            .map_err(|e| anyhow::anyhow!("a sink key: {e}"))?;
        let sexo = std::str::from_utf8(sexo).context("a sink key's sexo")?;
        let value = creek_sql_engine::format::avro_payload_to_json(&seed.registry, &v)
            .map_err(|e| anyhow::anyhow!("decoding a sink record: {e}"))?;
        let Some(n) = value["N"].as_u64() else {
            bail!("a sink record without a count: {value}");
        };
        finals.insert((sexo.to_string(), start), n);
    }
    Ok((updates, finals))
}
