//! Helpers shared by the tests that read ksqlDB's QTT files.

pub use creek_sql::qtt_files::strip_comments;

use std::path::PathBuf;

/// ksqlDB's conformance folders: `ksql-qtt` and `ksql-qtt-rest` in `../shared` beside
/// the repository, or in `$CREEK_SHARED_DIR`. Missing, the test fails and says where
/// it looked, rather than passing without having read a file.
#[allow(dead_code)]
pub fn qtt_dirs() -> [PathBuf; 2] {
    let shared = std::env::var_os("CREEK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../../shared"));
    let dirs = [shared.join("ksql-qtt"), shared.join("ksql-qtt-rest")];
    for dir in &dirs {
        assert!(
            dir.is_dir(),
            "ksqlDB's conformance files are missing: {} does not exist (they come from \
             ../shared beside the repository; set CREEK_SHARED_DIR to where they are)",
            dir.display()
        );
    }
    dirs
}

/// This crate's folder, read when the test runs (cargo sets it): `env!` would keep
/// the path the test was compiled at, wrong when a cached target dir was built
/// from a checkout elsewhere.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
