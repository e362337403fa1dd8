//! The services start on free ports over a fresh data directory, answer on every
//! port, stop, and come back with their state from the same directory; bad settings
//! are refused before anything starts.

use std::time::Duration;

use creek_server::{start, Listen, ServerConfig};

fn config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_path_buf(),
        listen: Listen::any_free_port(),
        ..ServerConfig::default()
    }
}

async fn get(url: &str) -> serde_json::Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_answer_stop_and_come_back_with_their_state() {
    let dir = tempfile::tempdir().unwrap();
    let services = start(&config(dir.path())).await.unwrap();
    // Kafka accepts connections; the three REST APIs answer.
    tokio::net::TcpStream::connect(&services.kafka)
        .await
        .unwrap();
    assert_eq!(
        get(&format!("{}/subjects", services.registry_url)).await,
        serde_json::json!([])
    );
    assert_eq!(
        get(&format!("{}/connectors", services.connect_url)).await,
        serde_json::json!([])
    );
    let info = get(&format!("{}/info", services.ksql_url)).await;
    assert!(info["KsqlServerInfo"]["version"].is_string(), "{info}");

    let schema = r#"{"type":"record","name":"r","fields":[{"name":"a","type":"int"}]}"#;
    let registered: serde_json::Value = reqwest::Client::new()
        .post(format!(
            "{}/subjects/t-value/versions",
            services.registry_url
        ))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(serde_json::json!({ "schema": schema }).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["id"].as_i64().unwrap();
    tokio::time::timeout(Duration::from_secs(30), services.stop())
        .await
        .unwrap()
        .unwrap();

    // Same directory: the schema is still there under its id.
    let services = start(&config(dir.path())).await.unwrap();
    let got = get(&format!("{}/schemas/ids/{id}", services.registry_url)).await;
    assert!(got["schema"].as_str().unwrap().contains("\"a\""), "{got}");
    services.stop().await.unwrap();
}

#[tokio::test]
async fn bad_settings_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.connect_properties
        .insert("offset.flush.interval.ms".into(), "10".into());
    let err = start(&c).await.err().unwrap().to_string();
    assert!(err.contains("unknown worker property"), "{err}");

    let mut c = config(dir.path());
    c.ksql_properties
        .push(("ksql.hidden.topics".into(), "(unclosed".into()));
    let err = start(&c).await.err().unwrap().to_string();
    assert!(err.contains("ksql.hidden.topics"), "{err}");
    // Nothing was opened: the data directory holds no log.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_taken_port_is_named_with_its_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = Listen {
        registry_port: taken.local_addr().unwrap().port(),
        ..Listen::any_free_port()
    };
    let err = listen.check_ports_free().unwrap_err().to_string();
    assert!(
        err.contains("Schema Registry") && err.contains("--registry-port"),
        "{err}"
    );
}
