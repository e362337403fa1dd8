//! Sends a realistic request for every advertised API at every advertised version
//! over a real socket and checks that a decodable response comes back. This catches
//! responses that set fields a version cannot carry (which would close connections of
//! older clients such as kafka-python).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use creek_kafka::{versions::SUPPORTED, Broker, BrokerConfig};
use creek_log::{Log, LogConfig};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn s(x: &str) -> StrBytes {
    StrBytes::from_string(x.to_string())
}

fn batch() -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::from_static(b"v")),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn request_for(key: ApiKey, v: i16) -> RequestKind {
    let topic = TopicName(s("t"));
    match key {
        ApiKey::ApiVersions => RequestKind::ApiVersions(ApiVersionsRequest::default()),
        ApiKey::Metadata => {
            let mut r = MetadataRequest::default();
            let mut t = MetadataRequestTopic::default();
            t.name = Some(topic);
            r.topics = Some(vec![t]);
            RequestKind::Metadata(r)
        }
        ApiKey::Produce => {
            let mut r = ProduceRequest::default();
            r.acks = -1;
            r.timeout_ms = 1000;
            let mut p = PartitionProduceData::default();
            p.records = Some(batch());
            let mut t = TopicProduceData::default();
            t.name = topic;
            t.partition_data = vec![p];
            r.topic_data = vec![t];
            RequestKind::Produce(r)
        }
        ApiKey::Fetch => {
            let mut r = FetchRequest::default();
            r.max_wait_ms = 10;
            r.min_bytes = 1;
            r.max_bytes = 1 << 20;
            let mut p = FetchPartition::default();
            p.partition_max_bytes = 1 << 20;
            let mut t = FetchTopic::default();
            t.topic = topic;
            t.partitions = vec![p];
            r.topics = vec![t];
            RequestKind::Fetch(r)
        }
        ApiKey::ListOffsets => {
            let mut r = ListOffsetsRequest::default();
            let mut p = ListOffsetsPartition::default();
            p.timestamp = 0;
            let mut t = ListOffsetsTopic::default();
            t.name = topic;
            t.partitions = vec![p];
            r.topics = vec![t];
            RequestKind::ListOffsets(r)
        }
        ApiKey::CreateTopics => {
            let mut r = CreateTopicsRequest::default();
            let mut t = CreatableTopic::default();
            t.name = TopicName(s(&format!("created-v{v}")));
            t.num_partitions = 1;
            t.replication_factor = 1;
            r.topics = vec![t];
            r.timeout_ms = 1000;
            RequestKind::CreateTopics(r)
        }
        ApiKey::DeleteTopics => {
            let mut r = DeleteTopicsRequest::default();
            let name = TopicName(s(&format!("created-v{}", v + 1)));
            if v >= 6 {
                let mut t = DeleteTopicState::default();
                t.name = Some(name);
                r.topics = vec![t];
            } else {
                r.topic_names = vec![name];
            }
            r.timeout_ms = 1000;
            RequestKind::DeleteTopics(r)
        }
        ApiKey::CreatePartitions => {
            let mut r = CreatePartitionsRequest::default();
            let mut t = CreatePartitionsTopic::default();
            t.name = TopicName(s("grow"));
            t.count = 2 + v as i32;
            r.topics = vec![t];
            r.timeout_ms = 1000;
            RequestKind::CreatePartitions(r)
        }
        ApiKey::DescribeConfigs => {
            let mut r = DescribeConfigsRequest::default();
            let mut res = DescribeConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("t");
            let mut broker = DescribeConfigsResource::default();
            broker.resource_type = 4;
            broker.resource_name = s("0");
            r.resources = vec![res, broker];
            RequestKind::DescribeConfigs(r)
        }
        ApiKey::AlterConfigs => {
            let mut r = AlterConfigsRequest::default();
            let mut c = alter_configs_request::AlterableConfig::default();
            c.name = s("retention.ms");
            c.value = Some(s("600000"));
            let mut res = alter_configs_request::AlterConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("t");
            res.configs = vec![c];
            let mut broker = alter_configs_request::AlterConfigsResource::default();
            broker.resource_type = 4;
            broker.resource_name = s("0");
            r.resources = vec![res, broker];
            RequestKind::AlterConfigs(r)
        }
        ApiKey::IncrementalAlterConfigs => {
            let mut r = IncrementalAlterConfigsRequest::default();
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = s("retention.ms");
            c.config_operation = 0;
            c.value = Some(s("700000"));
            let mut res = incremental_alter_configs_request::AlterConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("t");
            res.configs = vec![c];
            r.resources = vec![res];
            RequestKind::IncrementalAlterConfigs(r)
        }
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdRequest::default();
            r.transaction_timeout_ms = 1000;
            RequestKind::InitProducerId(r)
        }
        ApiKey::FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if v >= 4 {
                r.coordinator_keys = vec![s("g")];
            } else {
                r.key = s("g");
            }
            RequestKind::FindCoordinator(r)
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default();
            r.group_id = GroupId(s(&format!("join-v{v}")));
            r.session_timeout_ms = 10_000;
            r.rebalance_timeout_ms = 10_000;
            r.protocol_type = s("consumer");
            let mut p = JoinGroupRequestProtocol::default();
            p.name = s("range");
            p.metadata = Bytes::from_static(b"meta");
            r.protocols = vec![p];
            RequestKind::JoinGroup(r)
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupRequest::default();
            r.group_id = GroupId(s("g"));
            r.member_id = s("nobody");
            RequestKind::SyncGroup(r)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = GroupId(s("g"));
            RequestKind::Heartbeat(r)
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            r.group_id = GroupId(s("g"));
            if v < 3 {
                r.member_id = s("nobody");
            }
            RequestKind::LeaveGroup(r)
        }
        ApiKey::OffsetCommit => {
            let mut r = OffsetCommitRequest::default();
            r.group_id = GroupId(s("standalone"));
            r.generation_id_or_member_epoch = -1;
            let mut p = OffsetCommitRequestPartition::default();
            p.committed_offset = 1;
            let mut t = OffsetCommitRequestTopic::default();
            t.name = topic;
            t.partitions = vec![p];
            r.topics = vec![t];
            RequestKind::OffsetCommit(r)
        }
        ApiKey::OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            r.group_id = GroupId(s("standalone"));
            let mut t = OffsetFetchRequestTopic::default();
            t.name = topic;
            t.partition_indexes = vec![0];
            r.topics = Some(vec![t]);
            RequestKind::OffsetFetch(r)
        }
        ApiKey::DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![GroupId(s("standalone")), GroupId(s("join-v0"))];
            RequestKind::DescribeGroups(r)
        }
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => {
            let mut r = DeleteGroupsRequest::default();
            r.groups_names = vec![GroupId(s("missing"))];
            RequestKind::DeleteGroups(r)
        }
        other => panic!("no sample request for {other:?}"),
    }
}

async fn roundtrip(
    stream: &mut TcpStream,
    key: ApiKey,
    v: i16,
    correlation: i32,
    req: &RequestKind,
) -> ResponseKind {
    let mut header = RequestHeader::default();
    header.request_api_key = key as i16;
    header.request_api_version = v;
    header.correlation_id = correlation;
    header.client_id = Some(s("every-version"));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    use kafka_protocol::protocol::{Decodable, Encodable};
    header
        .encode(&mut buf, key.request_header_version(v))
        .unwrap();
    req.encode(&mut buf, v)
        .unwrap_or_else(|e| panic!("test could not encode {key:?} v{v}: {e}"));
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&buf).await.unwrap();
    let size = tokio::time::timeout(Duration::from_secs(5), stream.read_i32())
        .await
        .unwrap_or_else(|_| panic!("{key:?} v{v}: no response"))
        .unwrap_or_else(|e| panic!("{key:?} v{v}: connection closed: {e}"));
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame).await.unwrap();
    let mut frame = Bytes::from(frame);
    let rh = ResponseHeader::decode(&mut frame, key.response_header_version(v)).unwrap();
    assert_eq!(rh.correlation_id, correlation);
    ResponseKind::decode(key, &mut frame, v)
        .unwrap_or_else(|e| panic!("{key:?} v{v}: undecodable response: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_advertised_version_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    log.create_topic("t", 1, BTreeMap::new()).unwrap();
    log.create_topic("grow", 1, BTreeMap::new()).unwrap();
    for v in 2..=8 {
        log.create_topic(&format!("created-v{v}"), 1, BTreeMap::new())
            .ok();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = Broker::new(
        log,
        BrokerConfig {
            advertised_port: port as i32,
            ..BrokerConfig::default()
        },
    );
    let (_tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&broker).serve(listener, rx));

    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut correlation = 0;
    for (key, min, max) in SUPPORTED {
        for v in *min..=*max {
            let req = request_for(*key, v);
            correlation += 1;
            let resp = roundtrip(&mut stream, *key, v, correlation, &req).await;
            match (&resp, key) {
                (ResponseKind::Produce(p), _) => {
                    assert_eq!(
                        p.responses[0].partition_responses[0].error_code, 0,
                        "produce v{v}"
                    )
                }
                (ResponseKind::Metadata(m), _) => {
                    assert_eq!(m.topics[0].error_code, 0, "metadata v{v}")
                }
                (ResponseKind::Fetch(f), _) => {
                    let p = &f.responses[0].partitions[0];
                    assert_eq!(p.error_code, 0, "fetch v{v}");
                    assert!(
                        !p.records.as_ref().unwrap().is_empty(),
                        "fetch v{v} returned no records"
                    );
                }
                (ResponseKind::ListOffsets(l), _) => {
                    assert_eq!(
                        l.topics[0].partitions[0].offset, 0,
                        "list offsets by timestamp v{v}"
                    )
                }
                (ResponseKind::JoinGroup(j), _) => assert_eq!(j.error_code, 0, "join v{v}"),
                (ResponseKind::CreatePartitions(c), _) => {
                    assert_eq!(c.results[0].error_code, 0, "create partitions v{v}")
                }
                (ResponseKind::DescribeConfigs(d), _) => {
                    assert_eq!(d.results[0].error_code, 0);
                    assert!(d.results[0]
                        .configs
                        .iter()
                        .any(|c| c.name.as_str() == "retention.ms"));
                }
                (ResponseKind::InitProducerId(i), _) => {
                    assert!(i.producer_id.0 >= 0, "init producer id v{v}")
                }
                _ => {}
            }
        }
    }
    // An unsupported ApiVersions version is answered (in v0) rather than dropped.
    let mut header = RequestHeader::default();
    header.request_api_key = ApiKey::ApiVersions as i16;
    header.request_api_version = 99;
    header.correlation_id = 7;
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    use kafka_protocol::protocol::{Decodable, Encodable};
    header.encode(&mut buf, 1).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[0..4].copy_from_slice(&len.to_be_bytes());
    stream.write_all(&buf).await.unwrap();
    let size = stream.read_i32().await.unwrap();
    let mut frame = vec![0u8; size as usize];
    stream.read_exact(&mut frame).await.unwrap();
    let mut frame = Bytes::from(frame);
    ResponseHeader::decode(&mut frame, 0).unwrap();
    let resp = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(resp.error_code, 35);
    assert!(!resp.api_keys.is_empty());
}
