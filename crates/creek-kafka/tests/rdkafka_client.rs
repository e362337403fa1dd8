//! rust-rdkafka (librdkafka) against an in-process creek broker: admin, idempotent
//! producer, group consumer with commit and resume.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use creek_kafka::{Broker, BrokerConfig};
use creek_log::{Log, LogConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::Offset;

async fn start_broker(dir: &std::path::Path) -> (String, tokio::sync::watch::Sender<bool>) {
    let log = Log::open(dir, LogConfig::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let broker = Broker::new(
        log,
        BrokerConfig {
            advertised_port: port as i32,
            ..BrokerConfig::default()
        },
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&broker).serve(listener, rx));
    (format!("127.0.0.1:{port}"), tx)
}

fn consume(bootstrap: &str, group: &str, topic: &str, want: usize) -> Vec<(i32, i64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < want && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let value = String::from_utf8(m.payload().unwrap().to_vec()).unwrap();
            seen.push((m.partition(), m.offset(), value));
        }
    }
    // Nothing more should arrive.
    assert!(consumer.poll(Duration::from_millis(300)).is_none());
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rdkafka_produce_group_consume_commit_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (bootstrap, _shutdown) = start_broker(dir.path()).await;

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            [&NewTopic::new("orders", 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created[0].is_ok(), "{created:?}");
    let refused = admin
        .create_topics(
            [&NewTopic::new("replicated", 1, TopicReplication::Fixed(3))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(refused[0].is_err(), "replication factor 3 must be refused");

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()
        .unwrap();
    let mut acked = BTreeMap::new();
    for i in 0..300 {
        let value = format!("order-{i}");
        let key = format!("customer-{}", i % 11);
        let delivery = producer
            .send(
                FutureRecord::to("orders").key(&key).payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        acked.insert(value, (delivery.partition, delivery.offset));
    }

    let bs = bootstrap.clone();
    let first = tokio::task::spawn_blocking(move || consume(&bs, "billing", "orders", 300))
        .await
        .unwrap();
    assert_eq!(first.len(), 300);
    let values: HashSet<_> = first.iter().map(|(_, _, v)| v.clone()).collect();
    assert_eq!(values.len(), 300, "every record exactly once");
    for (p, o, v) in &first {
        assert_eq!(acked[v], (*p, *o), "{v} read where it was acknowledged");
    }

    // Resume: after the commit, the group sees only new records.
    for i in 300..310 {
        let value = format!("order-{i}");
        producer
            .send(
                FutureRecord::<str, _>::to("orders").payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
    let bs = bootstrap.clone();
    let second = tokio::task::spawn_blocking(move || consume(&bs, "billing", "orders", 10))
        .await
        .unwrap();
    let mut got: Vec<_> = second.into_iter().map(|(_, _, v)| v).collect();
    got.sort();
    let mut want: Vec<_> = (300..310).map(|i| format!("order-{i}")).collect();
    want.sort();
    assert_eq!(got, want);

    // Watermarks and offsets by time agree with what was produced.
    let bs = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bs)
            .create()
            .unwrap();
        let total: i64 = (0..3)
            .map(|p| {
                let (low, high) = c
                    .fetch_watermarks("orders", p, Duration::from_secs(5))
                    .unwrap();
                assert_eq!(low, 0);
                high
            })
            .sum();
        assert_eq!(total, 310);
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("orders", 0, Offset::Offset(0))
            .unwrap();
        let found = c.offsets_for_times(tpl, Duration::from_secs(5)).unwrap();
        assert_eq!(found.elements()[0].offset(), Offset::Offset(0));
    })
    .await
    .unwrap();
}
