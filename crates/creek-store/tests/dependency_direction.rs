//! The log seam holds: outside the broker (`creek-kafka`), the embedded log itself,
//! the crate that wires the services (`creek-server`) and the binary (its
//! benchmarks open a log of their own), code reaches a log only through
//! creek-store's `LogStore`. A source file that names `creek_log` elsewhere fails
//! this test, unless it is listed below with the reason it needs the embedded log.

use std::path::{Path, PathBuf};

/// Crates that may use the embedded log directly.
const LOG_USERS: &[&str] = &["creek-log", "creek-kafka", "creek-server", "creek"];

/// Files elsewhere that open an embedded log on purpose.
const ALLOWED: &[(&str, &str)] = &[("creek-sql-engine/src/format/tests.rs", "unit tests")];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_broker_and_the_binary_use_the_embedded_log() {
    let crates = manifest_dir().join("..");
    let mut offenders = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).expect("the crates folder") {
        let dir = entry.expect("a crate").path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if LOG_USERS.contains(&name.as_str()) {
            continue;
        }
        // Normal dependencies only: tests may open an embedded log.
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let normal = manifest
            .split("[dev-dependencies]")
            .next()
            .unwrap_or_default();
        let depends = normal.lines().any(|l| l.trim().starts_with("creek-log"));
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for file in files {
            checked += 1;
            let relative = file
                .strip_prefix(&crates)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let text = std::fs::read_to_string(&file).unwrap();
            // Unit-test modules at the end of a file may use it.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            if code.contains("creek_log") && !ALLOWED.iter().any(|(f, _)| *f == relative) {
                offenders.push(relative);
            }
        }
        if depends
            && !ALLOWED
                .iter()
                .any(|(f, _)| f.starts_with(&format!("{name}/")))
        {
            offenders.push(format!("{name}/Cargo.toml depends on creek-log"));
        }
    }
    assert!(
        checked > 50,
        "looked at only {checked} files: wrong folder?"
    );
    assert!(
        offenders.is_empty(),
        "these reach the embedded log around the LogStore seam (use creek_store):\n{}",
        offenders.join("\n")
    );
}

/// This crate's folder, read when the test runs (cargo sets it): `env!` would keep
/// the path the test was compiled at, wrong when a cached target dir was built
/// from a checkout elsewhere.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
