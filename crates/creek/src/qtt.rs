//! `creek qtt PATH...`: runs ksqlDB's query-validation-test files through
//! creek's SQL engine and prints one line per file and a summary.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use creek_sql_engine::qtt::{run_paths, Outcome};

#[derive(Args)]
pub struct QttArgs {
    /// QTT files or folders of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print every case with its outcome and failure reason.
    #[arg(short, long)]
    verbose: bool,
    /// A file listing case names (one per line) that must pass; the command
    /// fails if any of them does not (default: no list, the command reports only).
    #[arg(long)]
    must_pass: Option<PathBuf>,
    /// Write the names of the passing cases to this file (default: not written).
    #[arg(long)]
    write_passing: Option<PathBuf>,
    /// The files are ksqlDB's REST tests (`ksql-qtt-rest/`): run them through
    /// the REST layer (`/ksql`, `/query`) and compare the responses.
    #[arg(long)]
    rest: bool,
}

/// Each case runs against a fresh embedded log in its own folder.
fn embedded_log(
    dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn creek_store::LogStore>, String> {
    let log =
        creek_log::Log::open(dir, creek_log::LogConfig::default()).map_err(|e| e.to_string())?;
    Ok(std::sync::Arc::new(creek_log::EmbeddedLog::new(log)))
}

pub fn run(args: QttArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime
        .block_on(async {
            if args.rest {
                creek_sql_engine::qtt_rest::run_paths(&args.paths, args.verbose, embedded_log).await
            } else {
                run_paths(&args.paths, args.verbose, embedded_log).await
            }
        })
        .map_err(anyhow::Error::msg)?;
    if let Some(path) = &args.write_passing {
        let passing: Vec<&str> = results
            .iter()
            .filter(|r| r.outcome == Outcome::Passed)
            .map(|r| r.name.as_str())
            .collect();
        std::fs::write(path, passing.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.must_pass {
        let list =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut missing = Vec::new();
        for name in list
            .lines()
            // Names may end in a space (upstream's test names do).
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            match results.iter().find(|r| r.name == name) {
                Some(r) if r.outcome == Outcome::Passed => {}
                Some(r) => missing.push(format!("{name}: {:?}", r.outcome)),
                None => missing.push(format!("{name}: not found")),
            }
        }
        if !missing.is_empty() {
            for m in &missing {
                eprintln!("must-pass case failed: {m}");
            }
            bail!("{} must-pass cases failed", missing.len());
        }
    }
    Ok(())
}
