//! One handler per API: requests in, log and coordinator calls, responses out.

use creek_log::now_ms;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use creek_log::{CommittedOffset, FlushPolicy, LogError, Partition, Topic};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tracing::{info, warn};
use uuid::Uuid;

use crate::coordinator::{GroupState, JoinRequest};
use crate::errors::*;
use crate::versions::SUPPORTED;
use crate::Broker;

/// One partition of a fetch: index, the partition if it exists, offset, max bytes.
type FetchTarget = (i32, Option<Arc<Partition>>, i64, usize);
/// A described config: name, value, Kafka config source.
type ConfigEntry = (String, String, i8);

pub(crate) struct RequestContext {
    pub version: i16,
    pub client_id: String,
    pub client_host: String,
}

fn sb(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

fn topic_name(s: &str) -> TopicName {
    TopicName(sb(s))
}

/// Fills a fetched partition's offsets; log start only exists from Fetch v5.
fn set_fetch_offsets(pd: &mut PartitionData, version: i16, high_watermark: i64, log_start: i64) {
    pd.high_watermark = high_watermark;
    pd.last_stable_offset = high_watermark;
    if version >= 5 {
        pd.log_start_offset = log_start;
    }
}

pub(crate) fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.error_code = error_code;
    resp.api_keys = SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = *key as i16;
            v.min_version = *min;
            v.max_version = *max;
            v
        })
        .collect();
    // No supported/finalized features: they are tagged fields, and librdkafka 2.0.2
    // (Debian's kcat) rejects an ApiVersions v3 reply that carries them.
    resp
}

impl Broker {
    pub(crate) async fn dispatch(
        &self,
        request: RequestKind,
        ctx: &RequestContext,
    ) -> Option<ResponseKind> {
        let v = ctx.version;
        Some(match request {
            RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions_response(NONE)),
            RequestKind::Metadata(r) => ResponseKind::Metadata(self.metadata(r, v)),
            RequestKind::Produce(r) => ResponseKind::Produce(self.produce(r, v).await?),
            RequestKind::Fetch(r) => ResponseKind::Fetch(self.fetch(r, v).await),
            RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(self.list_offsets(r, v)),
            RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(self.create_topics(r, v)),
            RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(self.delete_topics(r, v)),
            RequestKind::CreatePartitions(r) => {
                ResponseKind::CreatePartitions(self.create_partitions(r))
            }
            RequestKind::DescribeConfigs(r) => {
                ResponseKind::DescribeConfigs(self.describe_configs(r))
            }
            RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(self.alter_configs(r)),
            RequestKind::IncrementalAlterConfigs(r) => {
                ResponseKind::IncrementalAlterConfigs(self.incremental_alter_configs(r))
            }
            RequestKind::InitProducerId(r) => {
                ResponseKind::InitProducerId(self.init_producer_id(r))
            }
            RequestKind::FindCoordinator(r) => {
                ResponseKind::FindCoordinator(self.find_coordinator(r, v))
            }
            RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(self.join_group(r, ctx).await),
            RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(self.sync_group(r, v).await),
            RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(self.heartbeat(r)),
            RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(self.leave_group(r, v)),
            RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(self.offset_commit(r)),
            RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(self.offset_fetch(r, v)),
            RequestKind::DescribeGroups(r) => {
                ResponseKind::DescribeGroups(self.describe_groups(r, v))
            }
            RequestKind::ListGroups(r) => ResponseKind::ListGroups(self.list_groups(r, v)),
            RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(self.delete_groups(r)),
            other => {
                // Unreachable: versions::supported() gates dispatch. Never panic on it.
                warn!("request {other:?} reached dispatch without a handler");
                return None;
            }
        })
    }

    /// Looks a topic up, creating it if auto-creation is on and `may_create`.
    fn topic_or_create(&self, name: &str, may_create: bool) -> Result<Arc<Topic>, LogError> {
        if let Some(t) = self.log.topic(name) {
            return Ok(t);
        }
        if may_create && self.config.auto_create_topics {
            match self
                .log
                .create_topic(name, self.config.default_partitions, BTreeMap::new())
            {
                Ok(t) => return Ok(t),
                Err(LogError::TopicAlreadyExists(_)) => {
                    if let Some(t) = self.log.topic(name) {
                        return Ok(t);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(LogError::UnknownTopicOrPartition(name.to_string()))
    }

    fn metadata(&self, req: MetadataRequest, version: i16) -> MetadataResponse {
        let mut resp = MetadataResponse::default();
        let mut broker = MetadataResponseBroker::default();
        broker.node_id = BrokerId(self.config.node_id);
        broker.host = sb(self.config.advertised_host.clone());
        broker.port = self.config.advertised_port;
        resp.brokers = vec![broker];
        resp.cluster_id = Some(sb(self.config.cluster_id.clone()));
        resp.controller_id = BrokerId(self.config.node_id);
        if (8..=10).contains(&version) {
            resp.cluster_authorized_operations = i32::MIN;
        }

        let all = match &req.topics {
            None => true,
            Some(list) => version == 0 && list.is_empty(),
        };
        let may_create = version < 4 || req.allow_auto_topic_creation;
        let mut requested: Vec<(Option<String>, Uuid)> = Vec::new();
        if all {
            for t in self.log.topics() {
                requested.push((Some(t.name.clone()), Uuid::nil()));
            }
        } else {
            for t in req.topics.unwrap_or_default() {
                requested.push((t.name.map(|n| n.0.to_string()), t.topic_id));
            }
        }
        for (name, id) in requested {
            let mut topic = MetadataResponseTopic::default();
            if version >= 8 {
                topic.topic_authorized_operations = i32::MIN;
            }
            let found = match &name {
                Some(n) => self.topic_or_create(n, may_create && !all),
                None => self
                    .log
                    .topics()
                    .into_iter()
                    .find(|t| t.id == id)
                    .ok_or_else(|| LogError::UnknownTopicOrPartition(id.to_string())),
            };
            match found {
                Ok(t) => {
                    topic.name = Some(topic_name(&t.name));
                    topic.topic_id = t.id;
                    topic.is_internal = t.is_internal();
                    topic.partitions = (0..t.partition_count())
                        .map(|p| {
                            let mut part = MetadataResponsePartition::default();
                            part.partition_index = p;
                            part.leader_id = BrokerId(self.config.node_id);
                            if version >= 7 {
                                part.leader_epoch = 0;
                            }
                            part.replica_nodes = vec![BrokerId(self.config.node_id)];
                            part.isr_nodes = vec![BrokerId(self.config.node_id)];
                            part
                        })
                        .collect();
                }
                Err(e) => {
                    topic.name = name.as_deref().map(topic_name);
                    topic.topic_id = id;
                    topic.error_code = e.kafka_code();
                }
            }
            resp.topics.push(topic);
        }
        resp
    }

    async fn produce(&self, req: ProduceRequest, version: i16) -> Option<ProduceResponse> {
        let acks = req.acks;
        let mut resp = ProduceResponse::default();
        for topic_data in req.topic_data {
            let name = topic_data.name.0.to_string();
            let mut topic_resp = TopicProduceResponse::default();
            topic_resp.name = topic_data.name.clone();
            // As in Kafka, only a Metadata request may create a topic; a produce to a
            // missing one answers UNKNOWN_TOPIC_OR_PARTITION.
            let topic = self.topic_or_create(&name, false);
            for pd in topic_data.partition_data {
                let mut pr = PartitionProduceResponse::default();
                pr.index = pd.index;
                pr.base_offset = -1;
                pr.log_append_time_ms = -1;
                let result = if req.transactional_id.is_some() {
                    Err(LogError::TransactionsNotSupported)
                } else if !matches!(acks, -1..=1) {
                    pr.error_code = INVALID_REQUIRED_ACKS;
                    topic_resp.partition_responses.push(pr);
                    continue;
                } else {
                    match &topic {
                        Err(_) => Err(LogError::UnknownTopicOrPartition(format!(
                            "{name}-{}",
                            pd.index
                        ))),
                        Ok(t) => match t.partition(pd.index) {
                            None => Err(LogError::UnknownTopicOrPartition(format!(
                                "{name}-{}",
                                pd.index
                            ))),
                            Some(p) => {
                                let records = pd.records.unwrap_or_default();
                                let config = t.config();
                                let data = records;
                                if config.flush == FlushPolicy::EveryBatch {
                                    tokio::task::block_in_place(|| p.append(data, &config))
                                } else {
                                    p.append(data, &config)
                                }
                            }
                        },
                    }
                };
                match result {
                    Ok(r) => {
                        pr.base_offset = r.base_offset;
                        if version >= 5 {
                            pr.log_start_offset = r.log_start_offset;
                        }
                    }
                    Err(e) => {
                        if !matches!(e, LogError::UnknownTopicOrPartition(_)) {
                            warn!(topic = %name, partition = pd.index, rejected = true, "produce rejected: {e}");
                        }
                        pr.error_code = e.kafka_code();
                        if version >= 8 {
                            pr.error_message = Some(sb(e.to_string()));
                        }
                    }
                }
                topic_resp.partition_responses.push(pr);
            }
            resp.responses.push(topic_resp);
        }
        if acks == 0 {
            None
        } else {
            Some(resp)
        }
    }

    async fn fetch(&self, req: FetchRequest, version: i16) -> FetchResponse {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
        let max_total = if req.max_bytes > 0 {
            req.max_bytes as usize
        } else {
            usize::MAX
        };
        let min_bytes = req.min_bytes.max(0) as usize;
        // Resolve partitions once; unknown ones are answered with an error.
        let targets: Vec<(String, Vec<FetchTarget>)> = req
            .topics
            .iter()
            .map(|t| {
                let name = t.topic.0.to_string();
                let topic = self.log.topic(&name);
                let parts = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let part = topic.as_ref().and_then(|tp| tp.partition(p.partition));
                        (
                            p.partition,
                            part,
                            p.fetch_offset,
                            p.partition_max_bytes.max(0) as usize,
                        )
                    })
                    .collect();
                (name, parts)
            })
            .collect();
        loop {
            let waiting: Vec<Arc<Partition>> = targets
                .iter()
                .flat_map(|(_, ps)| ps.iter().filter_map(|(_, p, _, _)| p.clone()))
                .collect();
            let notified: Vec<_> = waiting.iter().map(|p| Box::pin(p.appended())).collect();
            let mut resp = FetchResponse::default();
            resp.session_id = 0; // no incremental fetch sessions: clients send full requests
            let mut total = 0usize;
            let mut has_error = false;
            for (name, parts) in &targets {
                let mut topic_resp = FetchableTopicResponse::default();
                topic_resp.topic = topic_name(name);
                for (index, part, offset, part_max) in parts {
                    let mut pd = PartitionData::default();
                    pd.partition_index = *index;
                    pd.high_watermark = -1;
                    pd.last_stable_offset = -1;
                    match part {
                        None => {
                            pd.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                            has_error = true;
                        }
                        Some(p) => {
                            // KIP-74: the first non-empty partition may exceed the total limit.
                            let remaining = max_total.saturating_sub(total);
                            let limit = if total == 0 {
                                (*part_max).min(max_total)
                            } else {
                                (*part_max).min(remaining)
                            };
                            let read = if total > 0 && remaining == 0 {
                                Ok(None)
                            } else {
                                p.read(*offset, limit.max(1)).map(Some)
                            };
                            match read {
                                Ok(Some(slice)) => {
                                    set_fetch_offsets(
                                        &mut pd,
                                        version,
                                        slice.high_watermark,
                                        slice.log_start_offset,
                                    );
                                    total += slice.records.len();
                                    pd.records = Some(slice.records);
                                }
                                Ok(None) => {
                                    set_fetch_offsets(
                                        &mut pd,
                                        version,
                                        p.high_watermark(),
                                        p.log_start_offset(),
                                    );
                                    pd.records = Some(Bytes::new());
                                }
                                Err(e) => {
                                    pd.error_code = e.kafka_code();
                                    set_fetch_offsets(
                                        &mut pd,
                                        version,
                                        p.high_watermark(),
                                        p.log_start_offset(),
                                    );
                                    has_error = true;
                                }
                            }
                        }
                    }
                    topic_resp.partitions.push(pd);
                }
                resp.responses.push(topic_resp);
            }
            if total >= min_bytes.max(1)
                || has_error
                || tokio::time::Instant::now() >= deadline
                || notified.is_empty()
            {
                return resp;
            }
            let _ = tokio::time::timeout_at(deadline, futures::future::select_all(notified)).await;
        }
    }

    fn list_offsets(&self, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let mut resp = ListOffsetsResponse::default();
        for t in req.topics {
            let name = t.name.0.to_string();
            let mut tr = ListOffsetsTopicResponse::default();
            tr.name = t.name.clone();
            for p in t.partitions {
                let mut pr = ListOffsetsPartitionResponse::default();
                pr.partition_index = p.partition_index;
                pr.timestamp = -1;
                pr.offset = -1;
                if version >= 4 {
                    pr.leader_epoch = 0;
                }
                match self.log.partition(&name, p.partition_index) {
                    Err(e) => pr.error_code = e.kafka_code(),
                    Ok(part) => match p.timestamp {
                        -1 => pr.offset = part.high_watermark(),
                        -2 => pr.offset = part.log_start_offset(),
                        ts if ts >= 0 => match part.offset_for_timestamp(ts) {
                            Ok(Some((offset, timestamp))) => {
                                pr.offset = offset;
                                pr.timestamp = timestamp;
                            }
                            Ok(None) => {}
                            Err(e) => pr.error_code = e.kafka_code(),
                        },
                        _ => pr.error_code = UNSUPPORTED_VERSION,
                    },
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }

    fn create_topics(&self, req: CreateTopicsRequest, version: i16) -> CreateTopicsResponse {
        let mut resp = CreateTopicsResponse::default();
        let mut seen = HashSet::new();
        let duplicates: HashSet<String> = req
            .topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|n| !seen.insert(n.clone()))
            .collect();
        for t in req.topics {
            let name = t.name.0.to_string();
            let mut r = CreatableTopicResult::default();
            r.name = t.name.clone();
            let outcome: Result<Arc<Topic>, (i16, String)> = (|| {
                if duplicates.contains(&name) {
                    return Err((
                        INVALID_REQUEST,
                        format!("Create topics request contains topic '{name}' more than once"),
                    ));
                }
                let mut partitions = t.num_partitions;
                if !t.assignments.is_empty() {
                    let ok = t.assignments.iter().all(|a| {
                        a.broker_ids.len() == 1 && a.broker_ids[0].0 == self.config.node_id
                    });
                    if !ok {
                        return Err((
                            INVALID_REPLICA_ASSIGNMENT,
                            "replica assignments must name broker 0 only".into(),
                        ));
                    }
                    partitions = t.assignments.len() as i32;
                }
                if partitions == -1 {
                    partitions = self.config.default_partitions;
                }
                if t.replication_factor > 1 {
                    return Err((
                        INVALID_REPLICATION_FACTOR,
                        format!(
                            "Replication factor: {} larger than available brokers: 1.",
                            t.replication_factor
                        ),
                    ));
                }
                if t.replication_factor == 0 || t.replication_factor < -1 {
                    return Err((
                        INVALID_REPLICATION_FACTOR,
                        "Replication factor must be larger than 0, or -1 to use the default value."
                            .into(),
                    ));
                }
                let configs: BTreeMap<String, String> = t
                    .configs
                    .iter()
                    .filter_map(|c| {
                        c.value
                            .as_ref()
                            .map(|v| (c.name.to_string(), v.to_string()))
                    })
                    .collect();
                let err = |e: LogError| (e.kafka_code(), e.to_string());
                if req.validate_only {
                    self.log
                        .validate_new_topic(&name, partitions, &configs)
                        .map_err(err)?;
                    return Err((NONE, String::new()));
                }
                self.log
                    .create_topic(&name, partitions, configs)
                    .map_err(err)
            })();
            match outcome {
                Ok(topic) if version >= 5 => {
                    if version >= 7 {
                        r.topic_id = topic.id;
                    }
                    r.num_partitions = topic.partition_count();
                    r.replication_factor = 1;
                    r.configs = Some(
                        topic
                            .config()
                            .describe()
                            .into_iter()
                            .map(|(k, v, is_default)| {
                                let mut c = CreatableTopicConfigs::default();
                                c.name = sb(k);
                                c.value = Some(sb(v));
                                c.config_source = if is_default { 5 } else { 1 };
                                c
                            })
                            .collect(),
                    );
                }
                Ok(_) => {}
                Err((NONE, _)) if version < 5 => {}
                Err((NONE, _)) => {
                    r.num_partitions = if t.num_partitions > 0 {
                        t.num_partitions
                    } else {
                        self.config.default_partitions
                    };
                    r.replication_factor = 1;
                }
                Err((code, message)) => {
                    info!(topic = %name, rejected = true, "create topic refused: {message}");
                    r.error_code = code;
                    r.error_message = Some(sb(message));
                }
            }
            resp.topics.push(r);
        }
        resp
    }

    fn delete_topics(&self, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
        let mut resp = DeleteTopicsResponse::default();
        let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
            req.topics
                .into_iter()
                .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
                .collect()
        } else {
            req.topic_names
                .into_iter()
                .map(|n| (Some(n.0.to_string()), Uuid::nil()))
                .collect()
        };
        for (name, id) in targets {
            let mut r = DeletableTopicResult::default();
            let name = name.or_else(|| {
                self.log
                    .topics()
                    .into_iter()
                    .find(|t| t.id == id)
                    .map(|t| t.name.clone())
            });
            if version >= 6 {
                r.topic_id = id;
            }
            match name {
                None => {
                    r.error_code = 100; // UNKNOWN_TOPIC_ID
                    if version >= 5 {
                        r.error_message = Some(sb(format!("unknown topic id {id}")));
                    }
                }
                Some(n) => {
                    r.name = Some(topic_name(&n));
                    if let Some(t) = self.log.topic(&n) {
                        if version >= 6 {
                            r.topic_id = t.id;
                        }
                    }
                    if let Err(e) = self.log.delete_topic(&n) {
                        r.error_code = e.kafka_code();
                        if version >= 5 {
                            r.error_message = Some(sb(e.to_string()));
                        }
                    }
                }
            }
            resp.responses.push(r);
        }
        resp
    }

    fn create_partitions(&self, req: CreatePartitionsRequest) -> CreatePartitionsResponse {
        let mut resp = CreatePartitionsResponse::default();
        for t in req.topics {
            let mut r = CreatePartitionsTopicResult::default();
            r.name = t.name.clone();
            let bad_assignment = t.assignments.as_ref().is_some_and(|a| {
                a.iter()
                    .any(|x| x.broker_ids.iter().any(|b| b.0 != self.config.node_id))
            });
            if bad_assignment {
                r.error_code = INVALID_REPLICA_ASSIGNMENT;
                r.error_message = Some(sb("replica assignments must name broker 0 only"));
            } else if let Err(e) = self
                .log
                .create_partitions(&t.name.0, t.count, req.validate_only)
            {
                r.error_code = e.kafka_code();
                r.error_message = Some(sb(e.to_string()));
            }
            resp.results.push(r);
        }
        resp
    }

    fn broker_configs(&self) -> Vec<(String, String)> {
        let d = self.log.defaults();
        vec![
            (
                "auto.create.topics.enable".into(),
                self.config.auto_create_topics.to_string(),
            ),
            (
                "num.partitions".into(),
                self.config.default_partitions.to_string(),
            ),
            ("default.replication.factor".into(), "1".into()),
            ("log.retention.ms".into(), d.retention_ms.to_string()),
            ("log.retention.bytes".into(), d.retention_bytes.to_string()),
            ("log.segment.bytes".into(), d.segment_bytes.to_string()),
            ("message.max.bytes".into(), d.max_message_bytes.to_string()),
            (
                "socket.request.max.bytes".into(),
                self.config.max_request_bytes.to_string(),
            ),
            (
                "group.initial.rebalance.delay.ms".into(),
                self.config.initial_rebalance_delay.as_millis().to_string(),
            ),
        ]
    }

    fn describe_configs(&self, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
        let mut resp = DescribeConfigsResponse::default();
        for res in req.resources {
            let mut r = DescribeConfigsResult::default();
            r.resource_type = res.resource_type;
            r.resource_name = res.resource_name.clone();
            let wanted = |k: &str| {
                res.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|x| x.as_str() == k))
            };
            let entries: Result<Vec<ConfigEntry>, (i16, String)> = match res.resource_type {
                2 => match self.log.topic(&res.resource_name) {
                    Some(t) => Ok(t
                        .config()
                        .describe()
                        .into_iter()
                        .map(|(k, v, is_default)| (k, v, if is_default { 5 } else { 1 }))
                        .collect()),
                    None => Err((
                        UNKNOWN_TOPIC_OR_PARTITION,
                        format!("topic {} does not exist", res.resource_name.as_str()),
                    )),
                },
                4 if res.resource_name.is_empty()
                    || res.resource_name.as_str() == self.config.node_id.to_string() =>
                {
                    Ok(self
                        .broker_configs()
                        .into_iter()
                        .map(|(k, v)| (k, v, 4))
                        .collect())
                }
                4 => Err((
                    INVALID_REQUEST,
                    format!("unknown broker {}", res.resource_name.as_str()),
                )),
                other => Err((
                    INVALID_REQUEST,
                    format!("describing resource type {other} is not supported yet"),
                )),
            };
            match entries {
                Ok(entries) => {
                    r.configs = entries
                        .into_iter()
                        .filter(|(k, _, _)| wanted(k))
                        .map(|(k, v, source)| {
                            let mut c = DescribeConfigsResourceResult::default();
                            c.name = sb(k);
                            c.value = Some(sb(v));
                            c.config_source = source;
                            c.read_only = source == 4;
                            c
                        })
                        .collect();
                }
                Err((code, message)) => {
                    r.error_code = code;
                    r.error_message = Some(sb(message));
                }
            }
            resp.results.push(r);
        }
        resp
    }

    fn init_producer_id(&self, req: InitProducerIdRequest) -> InitProducerIdResponse {
        let mut resp = InitProducerIdResponse::default();
        resp.producer_id = ProducerId(-1);
        resp.producer_epoch = -1;
        if req
            .transactional_id
            .as_ref()
            .is_some_and(|t| !t.0.is_empty())
        {
            warn!(
                rejected = true,
                "InitProducerId with a transactional.id: transactions are not supported yet"
            );
            resp.error_code = UNSUPPORTED_VERSION;
            return resp;
        }
        if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
            // KIP-360: an idempotent producer bumping its epoch after an error.
            resp.producer_id = req.producer_id;
            resp.producer_epoch = req.producer_epoch + 1;
            return resp;
        }
        match self.log.next_producer_id() {
            Ok(id) => {
                resp.producer_id = ProducerId(id);
                resp.producer_epoch = 0;
            }
            Err(e) => resp.error_code = e.kafka_code(),
        }
        resp
    }

    fn find_coordinator(
        &self,
        req: FindCoordinatorRequest,
        version: i16,
    ) -> FindCoordinatorResponse {
        let mut resp = FindCoordinatorResponse::default();
        let supported = req.key_type == 0;
        let (code, message) = if supported {
            (NONE, None)
        } else {
            (
                UNSUPPORTED_VERSION,
                Some(sb("transaction coordinators are not supported yet")),
            )
        };
        if version >= 4 {
            resp.coordinators = req
                .coordinator_keys
                .into_iter()
                .map(|key| {
                    let mut c = Coordinator::default();
                    c.key = key;
                    c.node_id = BrokerId(self.config.node_id);
                    c.host = sb(self.config.advertised_host.clone());
                    c.port = self.config.advertised_port;
                    c.error_code = code;
                    c.error_message = message.clone();
                    c
                })
                .collect();
        } else {
            resp.error_code = code;
            if version >= 1 {
                resp.error_message = message;
            }
            resp.node_id = BrokerId(self.config.node_id);
            resp.host = sb(self.config.advertised_host.clone());
            resp.port = self.config.advertised_port;
        }
        resp
    }

    async fn join_group(&self, req: JoinGroupRequest, ctx: &RequestContext) -> JoinGroupResponse {
        let mut resp = JoinGroupResponse::default();
        resp.generation_id = -1;
        if req.group_id.0.is_empty() {
            resp.error_code = INVALID_GROUP_ID;
            return resp;
        }
        let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        let rebalance = if ctx.version >= 1 {
            Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64)
        } else {
            session
        };
        let outcome = self
            .groups
            .join(JoinRequest {
                group_id: req.group_id.0.to_string(),
                member_id: req.member_id.to_string(),
                group_instance_id: req.group_instance_id.map(|s| s.to_string()),
                client_id: ctx.client_id.clone(),
                client_host: ctx.client_host.clone(),
                session_timeout: session,
                rebalance_timeout: rebalance,
                protocol_type: req.protocol_type.to_string(),
                protocols: req
                    .protocols
                    .into_iter()
                    .map(|p| (p.name.to_string(), p.metadata))
                    .collect(),
                supports_skip_assignment: ctx.version >= 9,
            })
            .await;
        resp.error_code = outcome.error;
        if ctx.version >= 9 {
            resp.skip_assignment = outcome.skip_assignment;
        }
        resp.generation_id = outcome.generation;
        if ctx.version >= 7 {
            resp.protocol_type = outcome.protocol_type.map(sb);
            resp.protocol_name = outcome.protocol_name.map(sb);
        } else {
            resp.protocol_name = Some(sb(outcome.protocol_name.unwrap_or_default()));
        }
        resp.leader = sb(outcome.leader);
        resp.member_id = sb(outcome.member_id);
        resp.members = outcome
            .members
            .into_iter()
            .map(|(id, instance, metadata)| {
                let mut m = JoinGroupResponseMember::default();
                m.member_id = sb(id);
                if ctx.version >= 5 {
                    m.group_instance_id = instance.map(sb);
                }
                m.metadata = metadata;
                m
            })
            .collect();
        resp
    }

    async fn sync_group(&self, req: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let outcome = self
            .groups
            .sync(
                &req.group_id.0,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                req.assignments
                    .into_iter()
                    .map(|a| (a.member_id.to_string(), a.assignment))
                    .collect(),
            )
            .await;
        let mut resp = SyncGroupResponse::default();
        resp.error_code = outcome.error;
        if version >= 5 {
            resp.protocol_type = outcome.protocol_type.map(sb);
            resp.protocol_name = outcome.protocol_name.map(sb);
        }
        resp.assignment = outcome.assignment;
        resp
    }

    fn heartbeat(&self, req: HeartbeatRequest) -> HeartbeatResponse {
        let mut resp = HeartbeatResponse::default();
        resp.error_code = self.groups.heartbeat(
            &req.group_id.0,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        );
        resp
    }

    fn leave_group(&self, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let mut resp = LeaveGroupResponse::default();
        if version < 3 {
            let codes = self
                .groups
                .leave(&req.group_id.0, &[(req.member_id.to_string(), None)]);
            resp.error_code = codes[0];
        } else {
            let members: Vec<(String, Option<String>)> = req
                .members
                .iter()
                .map(|m| {
                    (
                        m.member_id.to_string(),
                        m.group_instance_id.as_ref().map(|i| i.to_string()),
                    )
                })
                .collect();
            let codes = self.groups.leave(&req.group_id.0, &members);
            resp.members = req
                .members
                .into_iter()
                .zip(codes)
                .map(|(m, code)| {
                    let mut r = MemberResponse::default();
                    r.member_id = m.member_id;
                    r.group_instance_id = m.group_instance_id;
                    r.error_code = code;
                    r
                })
                .collect();
        }
        resp
    }

    fn offset_commit(&self, req: OffsetCommitRequest) -> OffsetCommitResponse {
        let group = req.group_id.0.to_string();
        let check = if group.is_empty() {
            INVALID_GROUP_ID
        } else {
            self.groups.validate_commit(
                &group,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id_or_member_epoch,
            )
        };
        let now = now_ms();
        let mut resp = OffsetCommitResponse::default();
        let mut to_commit = Vec::new();
        for t in &req.topics {
            let name = t.name.0.to_string();
            let mut tr = OffsetCommitResponseTopic::default();
            tr.name = t.name.clone();
            for p in &t.partitions {
                let mut pr = OffsetCommitResponsePartition::default();
                pr.partition_index = p.partition_index;
                pr.error_code = if check != NONE {
                    check
                } else if self.log.partition(&name, p.partition_index).is_err() {
                    UNKNOWN_TOPIC_OR_PARTITION
                } else {
                    to_commit.push((
                        name.clone(),
                        p.partition_index,
                        CommittedOffset {
                            offset: p.committed_offset,
                            metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                            commit_timestamp: now,
                        },
                    ));
                    NONE
                };
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        if !to_commit.is_empty() {
            if let Err(e) = self.log.commit_offsets(&group, &to_commit) {
                warn!(group = %group, "offset commit failed: {e}");
                for t in resp.topics.iter_mut() {
                    for p in t.partitions.iter_mut() {
                        if p.error_code == NONE {
                            p.error_code = e.kafka_code();
                        }
                    }
                }
            }
        }
        resp
    }

    fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let group = req.group_id.0.to_string();
        let committed = self.log.committed_offsets(&group);
        let mut resp = OffsetFetchResponse::default();
        let requested: Vec<(String, Vec<i32>)> = match req.topics {
            Some(topics) => topics
                .into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect(),
            None => {
                // All committed offsets of the group (v2+).
                let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for (t, p) in committed.keys() {
                    by_topic.entry(t.clone()).or_default().push(*p);
                }
                by_topic.into_iter().collect()
            }
        };
        for (name, partitions) in requested {
            let mut tr = OffsetFetchResponseTopic::default();
            tr.name = topic_name(&name);
            for p in partitions {
                let mut pr = OffsetFetchResponsePartition::default();
                pr.partition_index = p;
                match committed.get(&(name.clone(), p)) {
                    Some(c) => {
                        pr.committed_offset = c.offset;
                        pr.metadata = Some(sb(c.metadata.clone().unwrap_or_default()));
                    }
                    None => {
                        pr.committed_offset = -1;
                        pr.metadata = Some(sb(""));
                        if version <= 1 && self.log.partition(&name, p).is_err() {
                            pr.error_code = UNKNOWN_TOPIC_OR_PARTITION;
                        }
                    }
                }
                tr.partitions.push(pr);
            }
            resp.topics.push(tr);
        }
        resp
    }

    fn describe_groups(&self, req: DescribeGroupsRequest, version: i16) -> DescribeGroupsResponse {
        let mut resp = DescribeGroupsResponse::default();
        let with_offsets = self.log.groups_with_offsets();
        for g in req.groups {
            let id = g.0.to_string();
            let mut d = DescribedGroup::default();
            d.group_id = g;
            if version >= 3 {
                d.authorized_operations = i32::MIN;
            }
            match self.groups.describe(&id) {
                Some(s) => {
                    d.group_state = sb(s.state.name());
                    d.protocol_type = sb(s.protocol_type);
                    d.protocol_data = sb(s.protocol);
                    d.members = s
                        .members
                        .into_iter()
                        .map(|(mid, inst, client, host, meta, assignment)| {
                            let mut m = DescribedGroupMember::default();
                            m.member_id = sb(mid);
                            if version >= 4 {
                                m.group_instance_id = inst.map(sb);
                            }
                            m.client_id = sb(client);
                            m.client_host = sb(host);
                            m.member_metadata = meta;
                            m.member_assignment = assignment;
                            m
                        })
                        .collect();
                }
                None if with_offsets.contains(&id) => {
                    d.group_state = sb(GroupState::Empty.name());
                    d.protocol_type = sb("consumer");
                }
                None => d.group_state = sb("Dead"),
            }
            resp.groups.push(d);
        }
        resp
    }

    fn list_groups(&self, req: ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let mut resp = ListGroupsResponse::default();
        let mut ids: Vec<String> = self.groups.group_ids();
        for g in self.log.groups_with_offsets() {
            if !ids.contains(&g) {
                ids.push(g);
            }
        }
        ids.sort();
        for id in ids {
            let (state, protocol_type) = match self.groups.describe(&id) {
                Some(s) => (s.state.name().to_string(), s.protocol_type),
                None => ("Empty".to_string(), "consumer".to_string()),
            };
            if !req.states_filter.is_empty()
                && !req
                    .states_filter
                    .iter()
                    .any(|f| f.as_str().eq_ignore_ascii_case(&state))
            {
                continue;
            }
            let mut l = ListedGroup::default();
            l.group_id = GroupId(sb(id));
            l.protocol_type = sb(protocol_type);
            if version >= 4 {
                l.group_state = sb(state);
            }
            if version >= 5 {
                l.group_type = sb("classic");
            }
            resp.groups.push(l);
        }
        resp
    }

    fn delete_groups(&self, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut resp = DeleteGroupsResponse::default();
        let with_offsets = self.log.groups_with_offsets();
        for g in req.groups_names {
            let id = g.0.to_string();
            let mut r = DeletableGroupResult::default();
            r.group_id = g;
            let known = self.groups.describe(&id).is_some() || with_offsets.contains(&id);
            if !known {
                r.error_code = GROUP_ID_NOT_FOUND;
            } else if !self.groups.delete_if_empty(&id) {
                r.error_code = NON_EMPTY_GROUP;
            } else if let Err(e) = self.log.delete_group_offsets(&id) {
                r.error_code = e.kafka_code();
            }
            resp.results.push(r);
        }
        resp
    }
}
