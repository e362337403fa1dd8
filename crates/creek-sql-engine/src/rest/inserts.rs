//! `POST /inserts-stream`: the first line names the target
//! (`{"target": "S", "properties": {}}`), every further line is a row as a
//! JSON object; each row is acknowledged with `{"status":"ok","seq":n}` (or
//! an error object) on the response, one per line.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use creek_sql::value::Value;
use futures::StreamExt;
use serde_json::{json, Value as Json};

use crate::engine::Engine;
use crate::format::json_to_value;
use crate::metastore::{ColumnRole, DataSource};
use crate::query::{ResultRow, SinkEncoder};

/// Encodes and produces rows into one stream.
struct Inserter {
    engine: Arc<Engine>,
    source: Arc<DataSource>,
    encoder: SinkEncoder,
}

impl Inserter {
    async fn new(engine: &Arc<Engine>, target: &str) -> Result<Inserter, String> {
        let metastore = engine.metastore();
        let source = metastore
            .source(target)
            .or_else(|| metastore.source(&target.to_ascii_uppercase()))
            .cloned()
            .ok_or_else(|| {
                format!("Cannot insert values into an unknown stream/table: {target}")
            })?;
        if source.read_only {
            return Err(format!("Cannot insert into read-only source: {target}"));
        }
        let (key, value) = engine
            .build_formats(&source, true)
            .await
            .map_err(|e| e.to_string())?;
        let partitions = engine
            .log
            .describe_topic(&source.topic)
            .await
            .map(|d| d.partitions)
            .unwrap_or(1);
        let encoder = SinkEncoder {
            key,
            value,
            has_key: source.key_columns().next().is_some(),
            partitions,
            timestamp: None,
            window: None,
        };
        Ok(Inserter {
            engine: engine.clone(),
            source,
            encoder,
        })
    }

    async fn insert(&self, row: &Json) -> Result<(), String> {
        let obj = row
            .as_object()
            .ok_or_else(|| "Row must be a JSON object".to_string())?;
        let field = |name: &str| {
            obj.get(name)
                .or_else(|| {
                    obj.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                })
                .cloned()
                .unwrap_or(Json::Null)
        };
        for k in obj.keys() {
            let known = self
                .source
                .columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(k) && c.role != ColumnRole::Header(None));
            if !known && !k.eq_ignore_ascii_case("ROWTIME") {
                return Err(format!("Column name {k} does not exist."));
            }
        }
        let convert = |c: &crate::metastore::SourceColumn| -> Result<Value, String> {
            json_to_value(&field(&c.name), &c.ty)
                .map_err(|e| format!("Failed to convert value for column {}: {e}", c.name))
        };
        let key = self
            .source
            .key_columns()
            .map(convert)
            .collect::<Result<Vec<_>, _>>()?;
        let value = self
            .source
            .value_columns()
            .map(convert)
            .collect::<Result<Vec<_>, _>>()?;
        let rowtime = field("ROWTIME")
            .as_i64()
            .unwrap_or_else(creek_store::now_ms);
        let (partition, record) = self.encoder.encode(&ResultRow {
            key,
            value: Some(value),
            projection: Vec::new(),
            rowtime,
            window: None,
        })?;
        self.engine
            .log
            .produce(&self.source.topic, partition, vec![record])
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

fn ack(seq: u64, result: Result<(), String>) -> Bytes {
    let body = match result {
        Ok(()) => json!({"status": "ok", "seq": seq}),
        Err(message) => {
            json!({"status": "error", "seq": seq, "error_code": 40000, "message": message})
        }
    };
    Bytes::from(format!("{body}\n"))
}

pub(super) async fn inserts_stream(
    engine: Arc<Engine>,
    body: Body,
    shutdown: Option<tokio::sync::watch::Receiver<bool>>,
) -> Response {
    let mut stream = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    // The first line: the target.
    let first = loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            break Some(line);
        }
        match stream.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            _ if !buf.is_empty() => break Some(std::mem::take(&mut buf)),
            _ => break None,
        }
    };
    let target = first
        .and_then(|l| serde_json::from_slice::<Json>(&l).ok())
        .and_then(|j| j["target"].as_str().map(str::to_string));
    let Some(target) = target else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(super::error_body(
                40000,
                "Invalid JSON in inserts stream: the first line must name the target",
                None,
            )),
        )
            .into_response();
    };
    let inserter = match Inserter::new(&engine, &target).await {
        Ok(i) => i,
        Err(m) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(super::error_body(40001, &m, None)),
            )
                .into_response()
        }
    };
    let (tx, out) = super::channel_body(shutdown);
    tokio::spawn(async move {
        let mut seq = 0u64;
        let mut done = false;
        loop {
            while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=pos).collect();
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                let result = match serde_json::from_slice::<Json>(&line) {
                    Ok(row) => inserter.insert(&row).await,
                    Err(e) => Err(format!("Invalid JSON in inserts stream: {e}")),
                };
                if tx.send(ack(seq, result)).await.is_err() {
                    return;
                }
                seq += 1;
            }
            if done {
                if !buf.iter().all(|b| b.is_ascii_whitespace()) {
                    let line = std::mem::take(&mut buf);
                    let result = match serde_json::from_slice::<Json>(&line) {
                        Ok(row) => inserter.insert(&row).await,
                        Err(e) => Err(format!("Invalid JSON in inserts stream: {e}")),
                    };
                    let _ = tx.send(ack(seq, result)).await;
                }
                return;
            }
            match stream.next().await {
                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                _ => done = true,
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/vnd.ksqlapi.delimited.v1")
        .body(out)
        .unwrap()
}
