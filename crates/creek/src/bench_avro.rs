//! `creek bench avro`: the Avro codec alone, on N seed records in memory, single
//! thread, against apache-avro in the same run.
//!
//! Setup (not timed): the seed's records in an embedded log ([`SeedLog`]), read
//! back into memory; the SQL engine's AVRO value format over the inferred columns.
//!
//! Timed, each over every record: creek's decode (Confluent-framed payload to the
//! engine's row of SQL values, through the writer schema's cached `creek_avro`
//! plan), and decode + encode (the row written back with the same schema); then
//! apache-avro 0.22's generic datum reader, and reader + writer, on the same bodies.
//! With `--bodies FILE` the Avro bodies (each a 4-byte little-endian length, then the
//! body) and the schema (`FILE.avsc`) are written out so that
//! `scripts/bench_avro.py` can time Python's fastavro on the same records
//! (`scripts/bench-avro.sh` runs both).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::writer::datum::GenericDatumWriter;
use bytes::Bytes;
use creek_sql_engine::format::{
    build_with, infer_columns_with, FormatContext, FormatKind, FormatSpec, Registration,
};

use crate::bench_seed::{seed_schema, SeedLog, TOPIC};

/// `creek bench avro`'s flags.
#[derive(clap::Args, Debug)]
pub struct AvroBench {
    /// Seed records.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Also write the Avro bodies to FILE (and the schema to FILE.avsc) for
    /// scripts/bench_avro.py (default: nothing is written).
    #[arg(long)]
    pub bodies: Option<PathBuf>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn avro(args: AvroBench) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(avro_async(args))
}

async fn avro_async(args: AvroBench) -> anyhow::Result<()> {
    let seed = SeedLog::open("creek-bench-avro-", args.records, None, |_| {}).await?;
    let payloads = read_payloads(&seed).await?;
    if payloads.len() as u64 != args.records {
        bail!("read {} of {} records", payloads.len(), args.records);
    }
    if let Some(path) = &args.bodies {
        write_bodies(path, &payloads)?;
    }

    // creek: the SQL engine's AVRO format.
    let ctx = FormatContext {
        registry: Some(seed.registry.clone()),
        topic: TOPIC.to_string(),
        is_key: false,
    };
    let columns = infer_columns_with(FormatKind::Avro, &ctx, None)
        .await
        .map_err(anyhow::Error::msg)?;
    let spec = FormatSpec {
        kind: FormatKind::Avro,
        properties: Default::default(),
        wrap_single_value: None,
    };
    // IfAbsent: writes use the subject's schema, the seed's own, as the peer does.
    let format = build_with(&spec, &columns, &ctx, Registration::IfAbsent)
        .await
        .map_err(anyhow::Error::msg)?;
    let first = format
        .deserialize(Some(&payloads[0]))
        .map_err(anyhow::Error::msg)?
        .context("the first record is null")?;
    let again = format
        .serialize(Some(&first))
        .map_err(anyhow::Error::msg)?
        .context("the first row encodes to null")?;
    if again[5..] != payloads[0][5..] {
        bail!("creek's round trip changed the first record's body");
    }
    let creek_decode = timed(|| {
        for p in &payloads {
            std::hint::black_box(format.deserialize(Some(p)).map_err(anyhow::Error::msg)?);
        }
        Ok(())
    })?;
    let creek_round_trip = timed(|| {
        for p in &payloads {
            let row = format.deserialize(Some(p)).map_err(anyhow::Error::msg)?;
            std::hint::black_box(
                format
                    .serialize(row.as_deref())
                    .map_err(anyhow::Error::msg)?,
            );
        }
        Ok(())
    })?;

    // apache-avro, same bodies.
    let schema = apache_avro::Schema::parse_str(&seed_schema())?;
    let reader = GenericDatumReader::builder(&schema).build()?;
    let writer = GenericDatumWriter::builder(&schema).build()?;
    let apache_decode = timed(|| {
        for p in &payloads {
            std::hint::black_box(reader.read_value(&mut &p[5..])?);
        }
        Ok(())
    })?;
    let apache_round_trip = timed(|| {
        for p in &payloads {
            let v = reader.read_value(&mut &p[5..])?;
            let mut out = Vec::with_capacity(p.len());
            out.extend_from_slice(&p[..5]);
            out.extend_from_slice(&writer.write_value_to_vec(v)?);
            std::hint::black_box(out);
        }
        Ok(())
    })?;

    let n = args.records as f64;
    let rps = |d: Duration| n / d.as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "records": args.records,
                "record_bytes": seed.record_size(),
                "creek_decode_rps": rps(creek_decode),
                "creek_round_trip_rps": rps(creek_round_trip),
                "apache_avro_decode_rps": rps(apache_decode),
                "apache_avro_round_trip_rps": rps(apache_round_trip),
            })
        );
    } else {
        println!(
            "creek bench avro: {} seed records ({:.0} B each), one thread",
            args.records,
            seed.record_size()
        );
        println!(
            "  decode to SQL rows:   creek {:>10.0} records/s   apache-avro {:>10.0}   creek / apache-avro {:.2}",
            rps(creek_decode),
            rps(apache_decode),
            apache_decode.as_secs_f64() / creek_decode.as_secs_f64()
        );
        println!(
            "  decode + encode:      creek {:>10.0} records/s   apache-avro {:>10.0}   creek / apache-avro {:.2}",
            rps(creek_round_trip),
            rps(apache_round_trip),
            apache_round_trip.as_secs_f64() / creek_round_trip.as_secs_f64()
        );
    }
    seed.finish(false);
    Ok(())
}

fn timed(f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<Duration> {
    let t = Instant::now();
    f()?;
    Ok(t.elapsed())
}

async fn read_payloads(seed: &SeedLog) -> anyhow::Result<Vec<Bytes>> {
    let mut out = Vec::with_capacity(seed.records as usize);
    let mut offset = 0;
    while (out.len() as u64) < seed.records {
        let f = seed
            .store
            .fetch(TOPIC, 0, offset, 1 << 20, Duration::ZERO)
            .await?;
        if f.records.is_empty() {
            break;
        }
        for r in f.records {
            offset = r.offset + 1;
            out.push(r.value.context("a seed record without a value")?);
        }
    }
    Ok(out)
}

fn write_bodies(path: &std::path::Path, payloads: &[Bytes]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for p in payloads {
        let body = &p[5..];
        f.write_all(&(body.len() as u32).to_le_bytes())?;
        f.write_all(body)?;
    }
    f.flush()?;
    let mut avsc = path.as_os_str().to_owned();
    avsc.push(".avsc");
    std::fs::write(&avsc, seed_schema())?;
    Ok(())
}
