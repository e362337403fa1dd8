//! ksqlDB's REST conformance files (`../shared/ksql-qtt-rest/`), when present.

use std::path::PathBuf;

use creek_sql_engine::qtt::Outcome;

#[tokio::test]
async fn rest_qtt_push_queries() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ksql-qtt-rest");
    let file = dir.join("push-queries.json");
    let file = if file.exists() {
        file
    } else {
        PathBuf::from("/work/shared/ksql-qtt-rest/push-queries.json")
    };
    if !file.exists() {
        eprintln!("no REST QTT files; skipping");
        return;
    }
    let verbose = std::env::var("QTT_VERBOSE").is_ok();
    if std::env::var("QTT_REST_ALL").is_ok() {
        // Every file, for a summary (not asserted).
        let all = file.parent().unwrap().to_path_buf();
        creek_sql_engine::qtt_rest::run_paths(&[all], verbose)
            .await
            .unwrap();
    }
    let results = creek_sql_engine::qtt_rest::run_paths(&[file], verbose)
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
    let file = PathBuf::from("/work/shared/ksql-qtt-rest/pull-queries-against-streams.json");
    if !file.exists() {
        eprintln!("no REST QTT files; skipping");
        return;
    }
    let results = creek_sql_engine::qtt_rest::run_paths(&[file], false)
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
