//! `creek bench sql`: a persistent filter + projection with date formatting over
//! N Avro seed records already in the log (Avro in, Avro out), in input records/s.
//!
//! Setup (not timed): the seed's records in an embedded log ([`SeedLog`]).
//!
//! Timed: `Engine::run_until_idle` for the seed's persistent query until the sink topic
//! holds every expected row. Peer, same run, same records ([`SeedLog::peer`]): a raw
//! read of the log, and the same read with every value decoded and re-encoded by
//! apache-avro's generic reader/writer (no filter, no projection) — the floor a query
//! over this data pays.

use std::time::Duration;

use anyhow::bail;

use crate::bench_seed::{SeedBenchArgs, SeedLog, CUSTSTREAM, PROJECTION};

const SINK: &str = "ADULTS";

/// ksqlDB's capacity-planning guide: about 50k records/s per core for a
/// project/filter query.
const KSQLDB_PER_CORE: f64 = 50_000.0;
/// The target on this 2-core machine.
const TARGET: f64 = 500_000.0;

/// `creek bench sql`'s flags.
pub type SqlBench = SeedBenchArgs;

pub fn sql(args: SqlBench) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(sql_async(args))
}

async fn sql_async(args: SqlBench) -> anyhow::Result<()> {
    let mut expected = 0u64;
    let seed = SeedLog::open(
        "creek-bench-sql-",
        args.records,
        args.bootstrap_servers.as_deref(),
        |row| {
            if row.customer.sexo == "F" || row.id.is_multiple_of(2) {
                expected += 1;
            }
        },
    )
    .await?;
    if !args.json {
        eprintln!(
            "loaded {} records ({:.1} MB of Avro, {:.0} B/record) in {:.2} s; \
             the query keeps {expected}",
            args.records,
            seed.payload_bytes as f64 / 1e6,
            seed.record_size(),
            seed.load_secs
        );
    }
    let peer = seed.peer().await?;

    // The query.
    let engine = seed.engine(&format!("{CUSTSTREAM}\n{PROJECTION}")).await?;
    let query_secs = seed.run_timed(&engine, true).await?;
    let produced = seed.end_offset(SINK).await?;
    if produced as u64 != expected {
        bail!("the sink {SINK} holds {produced} records, expected {expected}");
    }
    let sample = seed
        .store
        .fetch(SINK, 0, 0, 1 << 16, Duration::ZERO)
        .await?
        .records
        .into_iter()
        .next()
        .and_then(|r| r.value)
        .map(|v| creek_sql_engine::format::avro_payload_to_json(&seed.registry, &v))
        .transpose()
        .map_err(|e| anyhow::anyhow!("decoding a sink record: {e}"))?;

    let n = args.records as f64;
    let query_rps = n / query_secs;
    let raw_rps = n / peer.raw_secs;
    let avro_rps = n / peer.avro_secs;
    let (raw_secs, avro_secs) = (peer.raw_secs, peer.avro_secs);
    if args.json {
        let line = serde_json::json!({
            "records": args.records,
            "payload_bytes": seed.payload_bytes,
            "sink_records": produced,
            "query_seconds": query_secs,
            "query_records_per_s": query_rps,
            "peer_raw_read_records_per_s": raw_rps,
            "peer_avro_decode_encode_records_per_s": avro_rps,
            "query_over_avro_peer": query_rps / avro_rps,
            "ksqldb_reference_records_per_s_per_core": KSQLDB_PER_CORE,
            "target_records_per_s": TARGET,
            "sample_output": sample,
        });
        println!("{line}");
    } else {
        println!(
            "creek bench sql: {} Avro seed records ({:.0} B each) -> {produced} in {SINK}",
            args.records,
            seed.record_size()
        );
        println!("  query (filter + projection + date formatting, Avro in/out):");
        println!(
            "    {:>12.0} input records/s ({query_secs:.2} s)",
            query_rps
        );
        println!("  peer, same run, same records:");
        println!(
            "    {:>12.0} records/s raw log read ({raw_secs:.2} s)",
            raw_rps
        );
        println!(
            "    {:>12.0} records/s log read + apache-avro decode + re-encode ({avro_secs:.2} s)",
            avro_rps
        );
        println!(
            "  query / apache-avro peer: {:.2}; query / target {TARGET:.0}: {:.2}; \
             ksqlDB guide: ~{KSQLDB_PER_CORE:.0} records/s per core",
            query_rps / avro_rps,
            query_rps / TARGET
        );
        if let Some(s) = sample {
            println!("  first sink record: {s}");
        }
    }
    seed.finish(args.keep);
    Ok(())
}
