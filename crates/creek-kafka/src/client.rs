//! A minimal raw Kafka client for what librdkafka does not expose (topic ids).

use std::collections::HashMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Asks `bootstrap` (HOST:PORT) for the ids of `topics` (all topics if empty) with
/// Metadata v10+, which every Kafka since 2.8 answers.
pub async fn topic_ids(
    bootstrap: &str,
    topics: &[String],
) -> anyhow::Result<HashMap<String, uuid::Uuid>> {
    let version = 12;
    let mut stream =
        tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(bootstrap)).await??;
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::Metadata as i16;
    header.request_api_version = version;
    header.correlation_id = 1;
    header.client_id = Some(StrBytes::from_static_str("creek-topics"));
    let mut req = MetadataRequest::default();
    // Asking about a topic must never create it (kafka-protocol defaults to true).
    req.allow_auto_topic_creation = false;
    req.topics = if topics.is_empty() {
        None
    } else {
        Some(
            topics
                .iter()
                .map(|t| {
                    let mut rt = MetadataRequestTopic::default();
                    rt.name = Some(TopicName(StrBytes::from_string(t.clone())));
                    rt
                })
                .collect(),
        )
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header.encode(&mut buf, ApiKey::Metadata.request_header_version(version))?;
    req.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&buf).await?;
    let size = tokio::time::timeout(Duration::from_secs(10), stream.read_i32()).await??;
    let mut frame = vec![0u8; size.max(0) as usize];
    stream.read_exact(&mut frame).await?;
    let mut frame = Bytes::from(frame);
    ResponseHeader::decode(
        &mut frame,
        ApiKey::Metadata.response_header_version(version),
    )?;
    let resp = MetadataResponse::decode(&mut frame, version)?;
    Ok(resp
        .topics
        .into_iter()
        .filter_map(|t| t.name.map(|n| (n.0.to_string(), t.topic_id)))
        .collect())
}
