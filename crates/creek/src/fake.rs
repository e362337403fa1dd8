//! `creek fake`: the seed's `make_fake_data.py`, same flags, much faster.
//!
//! Defaults are the seed's; the default connection string's password is `postgres`
//! (the seed had a placeholder there), shown masked like any printed password.
//!
//! Loop: generate N customers, append them to the table with one binary COPY (one
//! transaction), print them unless silent, sleep `--interval`; until `--total` rows
//! or Ctrl-C. The COPY statement is prepared once. With `--interval 0` the next batch
//! is generated and encoded on a blocking thread while the current one is being
//! written, so the generator and PostgreSQL work in parallel.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Args;
use creek_pg::{
    encode_copy, ensure_table, mask_password, quote_table, CopyWriter, Customer, CustomerGenerator,
    Locale, CUSTOMER_COLUMNS,
};

/// The seed's default had a password placeholder; `postgres` is the password of the
/// usual `docker run -e POSTGRES_PASSWORD=postgres postgres` setup. `--help` shows it
/// masked, like every printed connection string.
pub const DEFAULT_CONNECTION_STRING: &str =
    "postgresql://postgres:postgres@localhost:5432/postgres";

#[derive(Args, Debug, Clone)]
pub struct FakeArgs {
    /// Seconds to wait between batches (fractions allowed, 0 for none).
    #[arg(long, default_value_t = 0.5, value_parser = parse_interval, value_name = "INTERVAL")]
    pub interval: f64,
    /// Rows per batch (sample size).
    #[arg(short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..), value_name = "N")]
    pub n: u64,
    /// Connection string to the database (also -cs)
    /// [default: postgresql://postgres:***@localhost:5432/postgres]
    #[arg(
        long,
        default_value = DEFAULT_CONNECTION_STRING,
        hide_default_value = true,
        value_name = "CONNECTION_STRING"
    )]
    pub connection_string: String,
    /// Don't print the data: no value, or yes/no/true/false/1/0.
    #[arg(
        long,
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = parse_bool,
        value_name = "SILENT"
    )]
    pub silent: bool,
    /// Stop after this many rows (default: run until Ctrl-C).
    #[arg(long, value_name = "N")]
    pub total: Option<u64>,
    /// Table to append to, created with the seed's columns when missing (SCHEMA.TABLE allowed).
    #[arg(long, default_value = "customers", value_name = "NAME")]
    pub table: String,
    /// Faker locale of the data: en_US (the seed's) or pt_BR.
    #[arg(long, default_value = "en_US", value_name = "LOCALE")]
    pub locale: Locale,
}

/// argparse accepts the single-dash long option `-cs`; clap has no multi-letter short
/// options, so `-cs` / `-cs=URL` after `fake` are rewritten to `--connection-string`.
pub fn normalize_args<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "fake") {
        for arg in args.iter_mut().skip(2) {
            if arg == "-cs" {
                *arg = "--connection-string".into();
            } else if let Some(value) = arg.to_str().and_then(|a| a.strip_prefix("-cs=")) {
                *arg = format!("--connection-string={value}").into();
            }
        }
    }
    args
}

fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&v) {
        return Err(format!("'{s}' must be 0 or more seconds"));
    }
    Ok(v)
}

/// The seed's `str2bool`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "t" | "1" => Ok(true),
        "no" | "n" | "false" | "f" | "0" => Ok(false),
        _ => Err(format!(
            "boolean value expected (yes/no/true/false/1/0), got '{s}'"
        )),
    }
}

/// The parsed arguments the way Python prints an argparse Namespace, with the
/// password masked.
pub fn namespace(args: &FakeArgs) -> String {
    let py_bool = |b: bool| if b { "True" } else { "False" };
    format!(
        "Namespace(interval={:?}, n={}, connection_string={}, silent={}, total={}, table={}, locale={})",
        args.interval,
        args.n,
        py_str(&mask_password(&args.connection_string)),
        py_bool(args.silent),
        args.total.map_or("None".to_owned(), |t| t.to_string()),
        py_str(&args.table),
        py_str(args.locale.tag()),
    )
}

/// Python's `repr()` of a str (close enough for printable text).
fn py_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub fn run(args: FakeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(fake(args))
}

/// A generated batch and its COPY encoding.
struct Batch {
    rows: Vec<Customer>,
    data: Bytes,
}

fn make_batch(generator: &mut CustomerGenerator, n: usize) -> Batch {
    let rows = generator.batch(n);
    let data = encode_copy(&rows);
    Batch { rows, data }
}

async fn fake(args: FakeArgs) -> Result<()> {
    quote_table(&args.table)?; // reject a bad --table before connecting
    if !args.silent {
        println!("{}", namespace(&args));
    }
    let client = creek_pg::connect(&args.connection_string).await?;
    ensure_table(&client, &args.table).await?;
    let writer = CopyWriter::prepare(&client, &args.table).await?;

    let interrupted = Arc::new(AtomicBool::new(false));
    let interrupt = Arc::new(tokio::sync::Notify::new());
    {
        let (interrupted, interrupt) = (interrupted.clone(), interrupt.clone());
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                interrupted.store(true, Ordering::SeqCst);
                interrupt.notify_one();
            }
        });
    }

    let interval = Duration::from_secs_f64(args.interval);
    let batch_size = |done: u64| -> usize {
        let left = args
            .total
            .map_or(args.n, |t| t.saturating_sub(done).min(args.n));
        usize::try_from(left).unwrap_or(usize::MAX)
    };
    let started = Instant::now();
    let mut inserted: u64 = 0;
    // Generation runs on the blocking pool so it can overlap the COPY of the previous
    // batch; the mutex only hands the generator from one batch to the next.
    let generator = Arc::new(Mutex::new(CustomerGenerator::new(args.locale)));
    let generate = |n: usize| {
        let generator = generator.clone();
        tokio::task::spawn_blocking(move || {
            let mut generator = generator.lock().unwrap_or_else(|e| e.into_inner());
            make_batch(&mut generator, n)
        })
    };
    let mut next = generate(batch_size(0)).await?;
    let stdout = std::io::stdout();
    loop {
        let batch = next;
        let after = inserted + batch.rows.len() as u64;
        let more = batch_size(after) > 0;
        // Pipelining only without a pause: with one, the next batch must be generated
        // after the sleep so that dt_update stays the time its row was made.
        let pending = (more && interval.is_zero()).then(|| generate(batch_size(after)));
        writer
            .write(&client, batch.data)
            .await
            .with_context(|| format!("inserting {} rows into {}", batch.rows.len(), args.table))?;
        inserted = after;
        if !args.silent {
            let mut out = stdout.lock();
            out.write_all(render_table(&batch.rows).as_bytes())?;
            out.flush()?;
        }
        if !more || interrupted.load(Ordering::SeqCst) {
            break;
        }
        next = match pending {
            Some(handle) => handle.await?,
            None => {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = interrupt.notified() => break,
                }
                generate(batch_size(inserted)).await?
            }
        };
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "creek fake: {inserted} rows into {} in {secs:.2} s ({:.0} rows/s)",
        args.table,
        inserted as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// Rows longer than this print as head and tail, like pandas' default display.
const MAX_PRINTED_ROWS: usize = 60;
const HEAD_TAIL_ROWS: usize = 5;

/// A batch as an aligned text table with a 0-based index column, like the seed's
/// pandas DataFrame print; newlines inside values show as `\n`.
pub fn render_table(rows: &[Customer]) -> String {
    let header: Vec<String> = std::iter::once(String::new())
        .chain(CUSTOMER_COLUMNS.iter().map(|(name, _)| (*name).to_owned()))
        .collect();
    let shown: Vec<Option<usize>> = if rows.len() > MAX_PRINTED_ROWS {
        (0..HEAD_TAIL_ROWS)
            .map(Some)
            .chain(std::iter::once(None))
            .chain((rows.len() - HEAD_TAIL_ROWS..rows.len()).map(Some))
            .collect()
    } else {
        (0..rows.len()).map(Some).collect()
    };
    let cells: Vec<Vec<String>> = shown
        .iter()
        .map(|i| match i {
            Some(i) => {
                let c = &rows[*i];
                vec![
                    i.to_string(),
                    c.nome.clone(),
                    c.sexo.to_owned(),
                    c.endereco.replace('\n', "\\n"),
                    c.telefone.clone(),
                    c.email.clone(),
                    c.foto.clone(),
                    c.nascimento.to_string(),
                    c.profissao.clone(),
                    c.dt_update.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
                ]
            }
            None => vec!["...".to_owned(); header.len()],
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            let _ = write!(l, "{cell:<w$}");
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header);
    for row in &cells {
        line(row);
    }
    if rows.len() > MAX_PRINTED_ROWS {
        let _ = writeln!(
            out,
            "\n[{} rows x {} columns]",
            rows.len(),
            CUSTOMER_COLUMNS.len()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(clap::Subcommand)]
    enum Sub {
        Fake(FakeArgs),
    }

    fn parse(args: &[&str]) -> Result<FakeArgs, clap::Error> {
        let argv = normalize_args(
            ["creek", "fake"]
                .iter()
                .chain(args)
                .map(|s| OsString::from(*s)),
        );
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Sub::Fake(a) => a,
        })
    }

    #[test]
    fn defaults_match_the_seed() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.interval, 0.5);
        assert_eq!(a.n, 1);
        assert_eq!(a.connection_string, DEFAULT_CONNECTION_STRING);
        assert!(!a.silent);
        assert_eq!(a.total, None);
        assert_eq!(a.table, "customers");
        assert_eq!(a.locale, Locale::En);
    }

    #[test]
    fn silent_with_and_without_value() {
        assert!(parse(&["--silent"]).unwrap().silent);
        for (v, want) in [
            ("yes", true),
            ("no", false),
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
            ("True", true),
            ("NO", false),
        ] {
            assert_eq!(parse(&["--silent", v]).unwrap().silent, want, "{v}");
            assert_eq!(
                parse(&[&format!("--silent={v}")]).unwrap().silent,
                want,
                "{v}"
            );
        }
        // A flag after a bare --silent is not taken as its value.
        let a = parse(&["--silent", "-n", "5"]).unwrap();
        assert!(a.silent);
        assert_eq!(a.n, 5);
        assert!(parse(&["--silent", "maybe"]).is_err());
    }

    #[test]
    fn interval_fractions_and_other_flags() {
        assert_eq!(parse(&["--interval", "0.5"]).unwrap().interval, 0.5);
        assert_eq!(parse(&["--interval", "0"]).unwrap().interval, 0.0);
        assert_eq!(parse(&["--interval", "2"]).unwrap().interval, 2.0);
        assert!(parse(&["--interval", "-1"]).is_err());
        assert!(parse(&["--interval", "soon"]).is_err());
        assert!(parse(&["-n", "0"]).is_err());
        let a = parse(&[
            "-n",
            "100",
            "-cs",
            "postgresql://u:p@h:1/d",
            "--total",
            "1000",
            "--table",
            "public.customers",
            "--locale",
            "pt_BR",
        ])
        .unwrap();
        assert_eq!(a.n, 100);
        assert_eq!(a.connection_string, "postgresql://u:p@h:1/d");
        assert_eq!(a.total, Some(1000));
        assert_eq!(a.table, "public.customers");
        assert_eq!(a.locale, Locale::PtBr);
        assert_eq!(
            parse(&["-cs=postgresql://x"]).unwrap().connection_string,
            "postgresql://x"
        );
        assert_eq!(
            parse(&["--connection-string", "postgresql://y"])
                .unwrap()
                .connection_string,
            "postgresql://y"
        );
        assert!(parse(&["--locale", "xx"]).is_err());
    }

    #[test]
    fn namespace_line_masks_the_password() {
        let a = parse(&["--interval", "0", "--total", "7"]).unwrap();
        assert_eq!(
            namespace(&a),
            "Namespace(interval=0.0, n=1, connection_string='postgresql://postgres:***@localhost:5432/postgres', \
             silent=False, total=7, table='customers', locale='en_US')"
        );
        assert_eq!(py_str("it's"), "\"it's\"");
        assert_eq!(py_str("a\\b"), "'a\\\\b'");
    }

    #[test]
    fn table_rendering() {
        let rows = CustomerGenerator::with_seed(Locale::En, 1).batch(3);
        let text = render_table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].trim_start().starts_with("nome"));
        assert!(lines[0].ends_with("dt_update"));
        assert!(lines[1].starts_with("0  "));
        assert!(lines[1].contains(&rows[0].nome));
        assert!(lines[1].contains("\\n"));
        // Columns line up: "sexo" starts at the same column in every line.
        let col = lines[0].find("sexo").unwrap();
        for (l, c) in lines[1..].iter().zip(&rows) {
            assert_eq!(&l[col..col + 1], c.sexo, "{l}");
        }
        let many = CustomerGenerator::with_seed(Locale::En, 1).batch(100);
        let text = render_table(&many);
        assert!(text.contains("[100 rows x 9 columns]"));
        assert_eq!(text.lines().count(), 1 + 11 + 2);
    }
}
