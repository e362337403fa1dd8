//! Encodes N synthetic records shaped like the seed's `customers` rows (as the JDBC
//! source writes them: every column an optional Avro union, Connect annotations) to
//! Parquet in memory and prints the rate, for BENCHMARKS.md.
//!
//!     cargo run --release -p creek-lake --example parquet_encode [ROWS] [CODEC]
//!
//! Only `FileBuilder::append` + `finish` are timed; the Avro bodies are built first.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use creek_avro::put_long;
use creek_lake::{FileBuilder, FormatConfig, FormatKind, SinkValue};
use creek_schema::RegisteredSchema;

const SCHEMA: &str = r#"{"type":"record","name":"customers","fields":[
  {"name":"nome","type":["null","string"],"default":null},
  {"name":"sexo","type":["null","string"],"default":null},
  {"name":"endereco","type":["null","string"],"default":null},
  {"name":"telefone","type":["null","string"],"default":null},
  {"name":"email","type":["null","string"],"default":null},
  {"name":"foto","type":["null","string"],"default":null},
  {"name":"nascimento","type":["null",{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null},
  {"name":"profissao","type":["null","string"],"default":null},
  {"name":"dt_update","type":["null",{"type":"long","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Timestamp","logicalType":"timestamp-millis"}],"default":null}
],"connect.name":"customers"}"#;

const FIRST: &[&str] = &[
    "Ana", "Bruno", "Carla", "Daniel", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela",
    "João", "Larissa", "Marcos", "Natália", "Otávio", "Paula", "Rafael", "Sofia", "Tiago",
];
const LAST: &[&str] = &[
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
];
const STREETS: &[&str] = &[
    "Rua das Flores",
    "Avenida Paulista",
    "Travessa do Comércio",
    "Praça da Sé",
    "Alameda Santos",
    "Rua Augusta",
];
const JOBS: &[&str] = &[
    "Engenheiro de software",
    "Professora",
    "Médico",
    "Analista de dados",
    "Advogada",
    "Designer gráfico",
    "Contador",
    "Enfermeira",
];

/// A small deterministic generator, so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn put_opt_str(out: &mut Vec<u8>, s: &str) {
    put_long(out, 1);
    put_long(out, s.len() as i64);
    out.extend_from_slice(s.as_bytes());
}

fn customer(rng: &mut Rng, i: u64) -> Bytes {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let mut b = Vec::with_capacity(256);
    put_opt_str(&mut b, &format!("{first} {last}"));
    put_opt_str(&mut b, if rng.below(2) == 0 { "M" } else { "F" });
    put_opt_str(
        &mut b,
        &format!(
            "{}, {}\nApto. {}\n{:05}-{:03} São Paulo / SP",
            rng.pick(STREETS),
            rng.below(2000),
            rng.below(300),
            rng.below(100_000),
            rng.below(1000)
        ),
    );
    put_opt_str(
        &mut b,
        &format!("+55 11 9{:04}-{:04}", rng.below(10_000), rng.below(10_000)),
    );
    put_opt_str(
        &mut b,
        &format!(
            "{}.{}{}@example.{}",
            first.to_lowercase(),
            last.to_lowercase(),
            rng.below(100),
            ["org", "com", "net"][rng.below(3) as usize]
        ),
    );
    put_opt_str(
        &mut b,
        &format!(
            "https://picsum.photos/seed/{}/200/300",
            rng.below(1_000_000)
        ),
    );
    put_long(&mut b, 1);
    put_long(&mut b, -25_000 + rng.below(45_000) as i64);
    put_opt_str(&mut b, rng.pick(JOBS));
    put_long(&mut b, 1);
    put_long(&mut b, 1_618_269_963_655 + i as i64 * 7);
    Bytes::from(b)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .map(|a| a.parse().expect("ROWS is a number"))
        .unwrap_or(1_000_000);
    let codec = args.next().unwrap_or_else(|| "snappy".into());

    let schema = Arc::new(RegisteredSchema::new(
        1,
        SCHEMA.into(),
        apache_avro::Schema::parse_str(SCHEMA).expect("the schema parses"),
    ));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let values: Vec<SinkValue> = (0..rows as u64)
        .map(|i| SinkValue::Avro {
            schema: schema.clone(),
            body: customer(&mut rng, i),
        })
        .collect();
    let avro_bytes: usize = values
        .iter()
        .map(|v| match v {
            SinkValue::Avro { body, .. } => body.len(),
            _ => 0,
        })
        .sum();

    let mut config = FormatConfig::new(FormatKind::Parquet);
    config.parquet_codec = codec.clone();
    config.validate().expect("a valid parquet.codec");

    let start = Instant::now();
    let mut file = FileBuilder::new(&config);
    for v in &values {
        file.append(v).expect("the record converts");
    }
    let parquet = file.finish().expect("the file finishes");
    let secs = start.elapsed().as_secs_f64();

    println!(
        "parquet_encode: {rows} rows ({:.1} MB of Avro) -> {:.1} MB Parquet ({codec}) in {:.3} s: {:.0} rows/s",
        avro_bytes as f64 / 1e6,
        parquet.len() as f64 / 1e6,
        secs,
        rows as f64 / secs
    );
}
