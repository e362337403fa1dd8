//! creek-kafka: a Kafka wire-protocol broker over [`creek_log::Log`].
//!
//! Principal types and how data flows through them:
//!
//! - [`Broker`] holds the log, the [`BrokerConfig`] (advertised address, cluster id,
//!   auto-creation) and the [`coordinator::GroupCoordinator`].
//! - [`Broker::serve`] accepts TCP connections. Each connection reads size-prefixed
//!   frames, decodes them with the `kafka-protocol` codecs, and handles requests one
//!   at a time in arrival order (as Kafka does, so pipelined produces keep their
//!   order) and writes each response itself (a hand-off to a writer task cost a
//!   cross-thread wake-up per response).
//! - `handlers` turns each request into log or coordinator calls. Produced record
//!   batches go to the log as received; fetched batches come back as stored.
//!   `alter_configs` changes topic configurations (`kafka-configs --alter`).
//!
//! Bad input never takes the process down: an unknown API key, an unsupported
//! version (other than ApiVersions, which answers UNSUPPORTED_VERSION), an
//! oversized or undecodable frame closes that connection only. Such events carry the
//! field `rejected = true`, by which the binary's log rate-limits them (a client
//! flooding bad requests cannot grow the logs without bound).

mod alter_configs;
pub mod client;
pub mod coordinator;
pub mod errors;
mod handlers;
pub mod versions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use creek_log::Log;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::coordinator::GroupCoordinator;

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub node_id: i32,
    /// Host clients are told to connect to (Metadata, FindCoordinator).
    pub advertised_host: String,
    pub advertised_port: i32,
    pub cluster_id: String,
    /// Kafka's `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// Kafka's `num.partitions`, for auto-created topics and CreateTopics without a count.
    pub default_partitions: i32,
    /// Kafka's `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// Kafka's `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            node_id: 0,
            advertised_host: "127.0.0.1".into(),
            advertised_port: 9092,
            cluster_id: "creek".into(),
            auto_create_topics: true,
            default_partitions: 1,
            max_request_bytes: 100 * 1024 * 1024,
            initial_rebalance_delay: Duration::ZERO,
        }
    }
}

pub struct Broker {
    pub log: Arc<Log>,
    pub config: BrokerConfig,
    pub groups: Arc<GroupCoordinator>,
}

/// Why a connection is closed instead of answered.
#[derive(Debug, thiserror::Error)]
enum FrameError {
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("{0:?} v{1} is not supported")]
    UnsupportedVersion(ApiKey, i16),
    #[error("malformed request: {0}")]
    Malformed(String),
}

impl Broker {
    pub fn new(log: Arc<Log>, config: BrokerConfig) -> Arc<Broker> {
        let groups = GroupCoordinator::new(config.initial_rebalance_delay);
        Arc::new(Broker {
            log,
            config,
            groups,
        })
    }

    /// Reads or creates the cluster id kept in the data directory.
    pub fn cluster_id_for(log: &Log) -> String {
        let path = log.dir().join("cluster-id");
        if let Ok(id) = std::fs::read_to_string(&path) {
            if !id.trim().is_empty() {
                return id.trim().to_string();
            }
        }
        let id = uuid::Uuid::new_v4().simple().to_string()[..22].to_string();
        let _ = std::fs::write(&path, &id);
        id
    }

    /// Accepts connections until `shutdown` flips to true.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) {
        tokio::spawn(self.groups.clone().run_ticker(shutdown.clone()));
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let broker = self.clone();
                        let shutdown = shutdown.clone();
                        tokio::spawn(async move {
                            if let Err(e) = broker.serve_connection(stream, peer, shutdown).await {
                                debug!(%peer, "connection ended: {e}");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = shutdown.changed() => break,
            }
        }
    }

    async fn serve_connection(
        self: Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let client_host = format!("/{}", peer.ip());
        let (read_half, write_half) = stream.into_split();
        let mut reader = BufReader::with_capacity(64 * 1024, read_half);
        // Responses are written by this task, in request order as Kafka requires:
        // a hand-off to a writer task cost a cross-thread wake-up per response.
        let mut out = BufWriter::with_capacity(64 * 1024, write_half);
        loop {
            let size = tokio::select! {
                size = reader.read_i32() => match size {
                    Ok(n) => n,
                    Err(_) => break, // peer closed
                },
                _ = shutdown.changed() => break,
            };
            if size < 8 || size as usize > self.config.max_request_bytes {
                warn!(%peer, size, max = self.config.max_request_bytes, rejected = true, "closing connection: invalid request size");
                break;
            }
            // Read into spare capacity: no zero-fill of (possibly megabyte) frames.
            let mut frame = BytesMut::with_capacity(size as usize);
            let mut truncated = false;
            while frame.len() < size as usize {
                let want = size as usize - frame.len();
                let mut limited = (&mut reader).take(want as u64);
                match limited.read_buf(&mut frame).await {
                    Ok(0) | Err(_) => {
                        truncated = true;
                        break;
                    }
                    Ok(_) => {}
                }
            }
            if truncated {
                debug!(%peer, "closing connection: truncated request");
                break;
            }
            match self.handle_frame(frame.freeze(), &client_host).await {
                Ok(Some(response)) => {
                    // Flushed at once: the next request may be a long-polling fetch.
                    if out.write_all(&response).await.is_err() || out.flush().await.is_err() {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    warn!(%peer, rejected = true, "closing connection: {e}");
                    break;
                }
            }
        }
        let _ = out.flush().await;
        out.shutdown().await
    }

    async fn handle_frame(
        &self,
        mut frame: Bytes,
        client_host: &str,
    ) -> Result<Option<BytesMut>, FrameError> {
        let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
        let api_key = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
        let in_range =
            versions::supported(api_key).is_some_and(|(min, max)| (min..=max).contains(&version));
        if !in_range {
            if api_key == ApiKey::ApiVersions {
                // Answer in v0 so any client can read our supported range and retry.
                let body = ResponseKind::ApiVersions(handlers::api_versions_response(
                    errors::UNSUPPORTED_VERSION,
                ));
                return Ok(Some(encode_response(
                    ApiKey::ApiVersions,
                    0,
                    correlation_id,
                    &body,
                )?));
            }
            return Err(FrameError::UnsupportedVersion(api_key, version));
        }
        let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
            .map_err(|e| FrameError::Malformed(format!("request header: {e}")))?;
        let request = RequestKind::decode(api_key, &mut frame, version)
            .map_err(|e| FrameError::Malformed(format!("{api_key:?} v{version}: {e}")))?;
        let client_id = header
            .client_id
            .as_ref()
            .map(|s| s.to_string())
            .unwrap_or_default();
        let ctx = handlers::RequestContext {
            version,
            client_id,
            client_host: client_host.to_string(),
        };
        let Some(response) = self.dispatch(request, &ctx).await else {
            return Ok(None);
        };
        Ok(Some(encode_response(
            api_key,
            version,
            correlation_id,
            &response,
        )?))
    }
}

fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, FrameError> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut buf, api_key.response_header_version(version))
        .map_err(|e| FrameError::Malformed(format!("encoding response header: {e}")))?;
    body.encode(&mut buf, version).map_err(|e| {
        FrameError::Malformed(format!("encoding {api_key:?} v{version} response: {e}"))
    })?;
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Binds and serves a broker on `addr`; returns the bound address.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr()?, "kafka listener bound");
    Ok(listener)
}
