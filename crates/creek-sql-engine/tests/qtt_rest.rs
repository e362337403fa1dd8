//! ksqlDB's REST conformance files (`../shared/ksql-qtt-rest/`).

use std::path::PathBuf;

use creek_sql_engine::qtt::Outcome;

fn embedded_log(
    dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn creek_store::LogStore>, String> {
    let log =
        creek_log::Log::open(dir, creek_log::LogConfig::default()).map_err(|e| e.to_string())?;
    Ok(std::sync::Arc::new(creek_log::EmbeddedLog::new(log)))
}

/// `ksql-qtt-rest` in `../shared` beside the repository, or in `$CREEK_SHARED_DIR`;
/// missing, the test fails saying where it looked.
fn rest_qtt_dir() -> PathBuf {
    let shared = std::env::var_os("CREEK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("../../../shared"));
    let dir = shared.join("ksql-qtt-rest");
    assert!(
        dir.is_dir(),
        "ksqlDB's REST conformance files are missing: {} does not exist (they come from \
         ../shared beside the repository; set CREEK_SHARED_DIR to where they are)",
        dir.display()
    );
    dir
}

#[tokio::test]
async fn rest_qtt_push_queries() {
    let file = rest_qtt_dir().join("push-queries.json");
    let verbose = std::env::var("QTT_VERBOSE").is_ok();
    if std::env::var("QTT_REST_ALL").is_ok() {
        // Every file, for a summary (not asserted).
        let all = file.parent().unwrap().to_path_buf();
        creek_sql_engine::qtt_rest::run_paths(&[all], verbose, embedded_log)
            .await
            .unwrap();
    }
    let results = creek_sql_engine::qtt_rest::run_paths(&[file], verbose, embedded_log)
        .await
        .unwrap();
    for name in [
        "push-queries - only key column",
        "push-queries - only value column",
        "push-queries - non-windowed stream - STRING key",
    ] {
        let r = results.iter().find(|r| r.name == name).expect(name);
        assert_eq!(r.outcome, Outcome::Passed, "{name}");
    }
}

#[tokio::test]
async fn rest_qtt_pull_queries_against_streams() {
    let file = rest_qtt_dir().join("pull-queries-against-streams.json");
    let results = creek_sql_engine::qtt_rest::run_paths(&[file], false, embedded_log)
        .await
        .unwrap();
    for name in [
        "pull-queries-against-streams - simple",
        "pull-queries-against-streams - empty response on empty stream",
        "pull-queries-against-streams - where clause",
        "pull-queries-against-streams - error on JOIN",
    ] {
        let r = results.iter().find(|r| r.name == name).expect(name);
        assert_eq!(r.outcome, Outcome::Passed, "{name}");
    }
}

/// This crate's folder, read when the test runs (cargo sets it): `env!` would keep
/// the path the test was compiled at, wrong when a cached target dir was built
/// from a checkout elsewhere.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}
