//! `creek topics`: kafka-topics' flags and output, as a Kafka client (librdkafka), so it
//! works against creek or any other Kafka-compatible broker.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

#[derive(Args, Debug)]
pub struct TopicsArgs {
    /// The broker to connect to, HOST:PORT (kafka-topics' --bootstrap-server).
    #[arg(long)]
    pub bootstrap_server: String,
    /// Create a topic.
    #[arg(long)]
    pub create: bool,
    /// List topic names.
    #[arg(long)]
    pub list: bool,
    /// Describe one topic (--topic) or all.
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// Change a topic's partition count (--partitions).
    #[arg(long)]
    pub alter: bool,
    /// The topic to create, describe, alter or delete (default for --describe: all topics).
    #[arg(long)]
    pub topic: Option<String>,
    /// Partition count: of the new topic with --create (default: the broker's
    /// num.partitions), the new total with --alter.
    #[arg(long)]
    pub partitions: Option<i32>,
    /// With --create: replicas per partition (default: the broker's default; creek has 1).
    #[arg(long)]
    pub replication_factor: Option<i32>,
    /// A topic config override, KEY=VALUE; repeatable (default: the broker's topic defaults).
    #[arg(long = "config")]
    pub configs: Vec<String>,
    /// With --create: succeed if the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// With --describe / --delete / --alter: succeed if the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
    /// With --list / --describe: leave out internal topics.
    #[arg(long)]
    pub exclude_internal: bool,
}

const TIMEOUT: Duration = Duration::from_secs(15);

pub fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let actions = [
        args.create,
        args.list,
        args.describe,
        args.delete,
        args.alter,
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if actions != 1 {
        bail!("exactly one of --create, --list, --describe, --alter or --delete must be given");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &args.bootstrap_server)
            .set("socket.timeout.ms", "10000")
            .set("allow.auto.create.topics", "false")
            .create()
            .context("creating the Kafka admin client")?;
        if args.create {
            create(&admin, &args).await
        } else if args.list {
            list(&admin, &args)
        } else if args.describe {
            describe(&admin, &args).await
        } else if args.delete {
            delete(&admin, &args).await
        } else {
            alter(&admin, &args).await
        }
    })
}

fn require_topic(args: &TopicsArgs) -> anyhow::Result<&str> {
    args.topic
        .as_deref()
        .context("--topic is required for this action")
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT))
}

async fn create(
    admin: &AdminClient<DefaultClientContext>,
    args: &TopicsArgs,
) -> anyhow::Result<()> {
    let topic = require_topic(args)?;
    let partitions = args.partitions.unwrap_or(-1);
    let replication = args.replication_factor.unwrap_or(-1);
    let mut pairs = Vec::new();
    for c in &args.configs {
        let (k, v) = c
            .split_once('=')
            .with_context(|| format!("--config {c}: expected KEY=VALUE"))?;
        pairs.push((k.to_string(), v.to_string()));
    }
    let mut new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (k, v) in &pairs {
        new_topic = new_topic.set(k, v);
    }
    let results = admin
        .create_topics([&new_topic], &options())
        .await
        .context("sending CreateTopics")?;
    for r in results {
        match r {
            Ok(name) => println!("Created topic {name}."),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
                if args.if_not_exists => {}
            Err((name, code)) => {
                bail!("Error while executing topic command : topic '{name}': {code}")
            }
        }
    }
    Ok(())
}

fn list(admin: &AdminClient<DefaultClientContext>, args: &TopicsArgs) -> anyhow::Result<()> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .context("fetching metadata")?;
    let mut names: Vec<&str> = metadata
        .topics()
        .iter()
        .map(|t| t.name())
        .filter(|n| !(args.exclude_internal && n.starts_with("__")))
        .collect();
    names.sort();
    for n in names {
        println!("{n}");
    }
    Ok(())
}

async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    args: &TopicsArgs,
) -> anyhow::Result<()> {
    // Metadata for all topics, never for one by name: librdkafka asks for a named
    // topic with allow_auto_topic_creation=true, and describing must create nothing.
    let metadata = admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .context("fetching metadata")?;
    let mut topics: Vec<_> = metadata
        .topics()
        .iter()
        .filter(|t| args.topic.as_deref().is_none_or(|want| t.name() == want))
        .filter(|t| !(args.exclude_internal && t.name().starts_with("__")))
        .collect();
    if let Some(want) = args.topic.as_deref() {
        if topics.is_empty() && !args.if_exists {
            // kafka-topics' words (TopicCommand.ensureTopicExists).
            bail!(
                "Error while executing topic command : Topic '{want}' does not exist as expected"
            );
        }
    }
    topics.sort_by_key(|t| t.name().to_string());
    // librdkafka does not expose topic ids; ask with a raw Metadata request, best effort.
    let names: Vec<String> = topics.iter().map(|t| t.name().to_string()).collect();
    let ids = creek_kafka::client::topic_ids(&args.bootstrap_server, &names)
        .await
        .unwrap_or_default();
    for t in topics {
        if let Some(err) = t.error() {
            let code: rdkafka::types::RDKafkaErrorCode = err.into();
            bail!(
                "Error while executing topic command : topic '{}': {code}",
                t.name()
            );
        }
        let configs = admin
            .describe_configs([&ResourceSpecifier::Topic(t.name())], &options())
            .await
            .ok()
            .and_then(|mut v| v.pop())
            .and_then(|r| r.ok())
            .map(|r| {
                r.entries
                    .iter()
                    .filter(|e| !e.is_default)
                    .map(|e| format!("{}={}", e.name, e.value.clone().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let replication = t
            .partitions()
            .first()
            .map(|p| p.replicas().len())
            .unwrap_or(0);
        let id = ids
            .get(t.name())
            .map(|u| kafka_uuid(u.as_bytes()))
            .unwrap_or_else(|| "(unknown)".into());
        println!(
            "Topic: {}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {}\tConfigs: {}",
            t.name(),
            id,
            t.partitions().len(),
            replication,
            configs
        );
        let mut parts: Vec<_> = t.partitions().iter().collect();
        parts.sort_by_key(|p| p.id());
        for p in parts {
            let join = |ids: &[i32]| {
                ids.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            println!(
                "\tTopic: {}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                t.name(),
                p.id(),
                p.leader(),
                join(p.replicas()),
                join(p.isr())
            );
        }
    }
    Ok(())
}

async fn delete(
    admin: &AdminClient<DefaultClientContext>,
    args: &TopicsArgs,
) -> anyhow::Result<()> {
    let topic = require_topic(args)?;
    let results = admin
        .delete_topics(&[topic], &options())
        .await
        .context("sending DeleteTopics")?;
    check_results(results, args.if_exists)
}

async fn alter(admin: &AdminClient<DefaultClientContext>, args: &TopicsArgs) -> anyhow::Result<()> {
    let topic = require_topic(args)?;
    let partitions = args.partitions.context("--alter needs --partitions")?;
    let results = admin
        .create_partitions(
            [&NewPartitions::new(topic, partitions.max(0) as usize)],
            &options(),
        )
        .await
        .context("sending CreatePartitions")?;
    check_results(results, args.if_exists)
}

/// Fails on the first per-topic error, except a missing topic when `--if-exists` was given.
fn check_results(results: Vec<rdkafka::admin::TopicResult>, if_exists: bool) -> anyhow::Result<()> {
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) if if_exists => {}
            Err((name, rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                bail!("Error while executing topic command : Topic '{name}' does not exist as expected")
            }
            Err((name, code)) => {
                bail!("Error while executing topic command : topic '{name}': {code}")
            }
        }
    }
    Ok(())
}

/// Kafka prints topic ids as URL-safe base64 without padding (22 characters).
fn kafka_uuid(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (*b as u32) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn topic_ids_print_like_kafka() {
        // 0x00.. -> "AAAAAAAAAAAAAAAAAAAAAA"; a known value checked against Java's Uuid.toString().
        assert_eq!(super::kafka_uuid(&[0; 16]), "AAAAAAAAAAAAAAAAAAAAAA");
        let bytes = [
            0xe5, 0x91, 0xda, 0xf0, 0xc9, 0xd1, 0x41, 0x58, 0xba, 0xab, 0x33, 0xa5, 0xd9, 0x99,
            0x15, 0x9e,
        ];
        assert_eq!(super::kafka_uuid(&bytes), "5ZHa8MnRQVi6qzOl2ZkVng");
    }
}
