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
