//! `ClusterLog` against a real Apache Kafka (scripts/kafka.sh: one KRaft node for
//! the whole test, in a temporary folder, stopped when the test ends or fails).
//! The scenarios follow the embedded log's tests (crates/creek-log/src/store.rs):
//! the same calls, the same answers, on an external cluster.
//!
//! Needs Java 17+ and Kafka's jars (`scripts/kafka.sh fetch`); without them the
//! test fails and says so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use creek_cluster::{ClusterConfig, ClusterLog};
use creek_store::group::{Assignor, JoinRequest, Member};
use creek_store::{
    encode_records, BatchBuilder, LogError, LogStore, OffsetSpec, ProducerRecord, ProducerSequence,
};
use tokio::time::Instant;

/// A Kafka node started by scripts/kafka.sh, stopped on drop (also when a
/// scenario panics: the test unwinds through it).
struct Kafka {
    script: PathBuf,
    dir: tempfile::TempDir,
    bootstrap: String,
}

impl Kafka {
    fn start() -> Kafka {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("scripts/kafka.sh");
        assert!(script.exists(), "{} is missing", script.display());
        let java = Command::new("java").arg("-version").output();
        assert!(
            java.is_ok_and(|o| o.status.success()),
            "this test runs Apache Kafka and needs Java 17+ on PATH \
             (scripts/install-deps.sh installs it)"
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path().join("kafka"))
            .output()
            .expect("running scripts/kafka.sh");
        assert!(
            out.status.success(),
            "scripts/kafka.sh start failed (it needs Java 17+ and Kafka's jars: \
             scripts/kafka.sh fetch):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bootstrap = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!bootstrap.is_empty(), "scripts/kafka.sh printed no address");
        Kafka {
            script,
            dir,
            bootstrap,
        }
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path().join("kafka"))
            .status();
    }
}

fn record(value: &str) -> ProducerRecord {
    ProducerRecord {
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        ..Default::default()
    }
}

async fn connect(bootstrap: &str) -> Arc<ClusterLog> {
    let config = ClusterConfig::new(bootstrap, [("client.rack", "test")])
        .unwrap()
        .with_timeout(Duration::from_secs(20));
    Arc::new(ClusterLog::connect(config).await.expect("connecting"))
}

/// One Kafka for every scenario, run in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_store_on_a_kafka_cluster() {
    let kafka = tokio::task::spawn_blocking(Kafka::start).await.unwrap();
    let store = connect(&kafka.bootstrap).await;
    // A second client, as another process would be: its reads do not know
    // what the first one wrote.
    let other = connect(&kafka.bootstrap).await;

    topics(&store).await;
    produce_and_fetch(&store, &other).await;
    long_polls(&store, &other).await;
    wake_ups(&store, &other).await;
    offsets_and_groups(&store, &other).await;
    batches(&store).await;
    transactions(&store, &other).await;
    group_membership(&store, &other).await;
    // The clients close while the cluster still answers them.
    drop((store, other));
    drop(kafka);
}

async fn topics(store: &Arc<ClusterLog>) {
    let configs = BTreeMap::from([("retention.ms".to_string(), "3600000".to_string())]);
    store.create_topic("orders", 2, configs).await.unwrap();
    let d = store.describe_topic("orders").await.unwrap();
    assert_eq!(
        (d.name.as_str(), d.partitions, d.internal),
        ("orders", 2, false)
    );
    assert!(
        d.configs
            .contains(&("retention.ms".into(), "3600000".into(), false)),
        "{:?}",
        d.configs
    );
    assert!(d
        .configs
        .iter()
        .any(|(name, _, default)| name == "cleanup.policy" && *default));
    let listed = store.list_topics().await.unwrap();
    assert!(listed
        .iter()
        .any(|t| t.name == "orders" && t.partitions == 2));

    assert!(matches!(
        store.create_topic("orders", 1, BTreeMap::new()).await,
        Err(LogError::TopicAlreadyExists(_))
    ));
    let bad = BTreeMap::from([("cleanup.policy".to_string(), "sometimes".to_string())]);
    let err = store.create_topic("bad", 1, bad).await.unwrap_err();
    assert!(matches!(err, LogError::InvalidConfig(_)), "{err}");
    assert_eq!(err.kafka_code(), 40);
    assert!(matches!(
        store.describe_topic("nope").await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));

    store.create_partitions("orders", 3).await.unwrap();
    assert_eq!(store.describe_topic("orders").await.unwrap().partitions, 3);
    assert!(matches!(
        store.create_partitions("orders", 2).await,
        Err(LogError::InvalidPartitions(_))
    ));

    store
        .create_topic("doomed", 1, BTreeMap::new())
        .await
        .unwrap();
    store.produce("doomed", 0, vec![record("x")]).await.unwrap();
    store.delete_topic("doomed").await.unwrap();
    assert!(matches!(
        store.describe_topic("doomed").await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));
    assert!(matches!(
        store.delete_topic("doomed").await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));
    assert!(matches!(
        store.produce("doomed", 0, vec![record("x")]).await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));
}

async fn produce_and_fetch(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    let recs = (0..3)
        .map(|i| ProducerRecord {
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: vec![
                ("h".into(), Some(Bytes::from_static(b"1"))),
                ("empty".into(), None),
            ],
            timestamp: Some(1000 + i),
        })
        .collect();
    assert_eq!(store.produce("orders", 1, recs).await.unwrap(), 0);

    // From the middle, on the writer and on another client.
    for client in [store, other] {
        let got = client
            .fetch("orders", 1, 1, 1 << 20, Duration::from_millis(10))
            .await
            .unwrap();
        assert_eq!(got.records.len(), 2, "{got:?}");
        let r = &got.records[0];
        assert_eq!((r.partition, r.offset, r.timestamp), (1, 1, 1001));
        assert_eq!(r.key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v1"[..]));
        assert_eq!(
            r.headers,
            vec![
                ("h".to_string(), Some(Bytes::from_static(b"1"))),
                ("empty".to_string(), None)
            ]
        );
        assert_eq!(got.records[1].offset, 2);
        assert_eq!(got.high_watermark, 3);
    }
    // A tombstone and a keyless record.
    let next = store
        .produce(
            "orders",
            1,
            vec![
                ProducerRecord {
                    key: Some(Bytes::from_static(b"k0")),
                    ..Default::default()
                },
                record("plain"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(next, 3);
    // Sequential reads continue; a read back seeks.
    let got = store
        .fetch("orders", 1, 3, 1 << 20, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.records.len(), 2);
    assert_eq!(got.records[0].value, None);
    assert_eq!(got.records[1].key, None);
    let got = store
        .fetch("orders", 1, 0, 1, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.records.len(), 1, "max_bytes still returns one record");
    assert_eq!(got.records[0].offset, 0);
    // A fetch returns what its consumer has; the next ones the rest.
    let mut offsets = Vec::new();
    while offsets.len() < 4 {
        let next = offsets.last().map_or(1, |o| o + 1);
        let got = store
            .fetch("orders", 1, next, 1 << 20, Duration::ZERO)
            .await
            .unwrap();
        assert!(!got.records.is_empty(), "records {next}.. are there");
        offsets.extend(got.records.iter().map(|r| r.offset));
    }
    assert_eq!(offsets, vec![1, 2, 3, 4]);

    // Past the end, and a partition that does not exist.
    let err = store
        .fetch("orders", 1, 100, 1 << 20, Duration::ZERO)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LogError::OffsetOutOfRange {
                offset: 100,
                start: 0,
                end: 5
            }
        ),
        "{err}"
    );
    assert!(matches!(
        store.fetch("orders", 7, 0, 1, Duration::ZERO).await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));

    // read_to_end replays what is there, from another client too, and stops at `until`.
    let mut many = Vec::new();
    for i in 0..500 {
        many.push(record(&format!("m{i}")));
    }
    assert_eq!(store.produce("orders", 2, many).await.unwrap(), 0);
    for client in [store, other] {
        let mut seen = Vec::new();
        let next = client
            .read_to_end("orders", 2, 0, None, &mut |r| seen.push(r.offset))
            .await
            .unwrap();
        assert_eq!(next, 500);
        assert_eq!(seen, (0..500).collect::<Vec<_>>());
    }
    let mut seen = Vec::new();
    let next = other
        .read_to_end("orders", 2, 490, Some(495), &mut |r| seen.push(r.offset))
        .await
        .unwrap();
    assert_eq!((seen, next), ((490..495).collect::<Vec<_>>(), 495));
    // An empty partition replays nothing, at once.
    let started = std::time::Instant::now();
    let next = other
        .read_to_end("orders", 0, 0, None, &mut |_| panic!("no records"))
        .await
        .unwrap();
    assert_eq!(next, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn long_polls(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    store
        .create_topic("polls", 1, BTreeMap::new())
        .await
        .unwrap();
    // A long poll wakes up when another client appends.
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let got = store
                .fetch("polls", 0, 0, 1 << 20, Duration::from_secs(15))
                .await;
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    other
        .produce("polls", 0, vec![record("late")])
        .await
        .unwrap();
    let (got, waited) = waiter.await.unwrap();
    let got = got.unwrap();
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records[0].value.as_deref(), Some(&b"late"[..]));
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");

    // Nothing more: the wait ends at max_wait with nothing.
    let started = std::time::Instant::now();
    let got = store
        .fetch("polls", 0, 1, 1 << 20, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(got.records.is_empty());
    assert_eq!(got.high_watermark, 1);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
        "waited {waited:?}"
    );
}

async fn wake_ups(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    store.create_topic("t", 3, BTreeMap::new()).await.unwrap();
    store.produce("t", 0, vec![record("old")]).await.unwrap();
    // Data already past a position answers at once, for the writer and for a
    // client that did not write it.
    for client in [store, other] {
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(client.wait_for_records("t", &[(0, 0)], soon).await.unwrap());
    }
    // Nothing new: the deadline ends the wait.
    let positions = [(0, 1), (1, 0), (2, 0)];
    for client in [store, other] {
        let started = std::time::Instant::now();
        let soon = Instant::now() + Duration::from_millis(300);
        assert!(!client
            .wait_for_records("t", &positions, soon)
            .await
            .unwrap());
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(290) && waited < Duration::from_secs(5),
            "waited {waited:?}"
        );
    }
    // An append to partition 2 by another client wakes a reader waiting on all
    // three, long before its deadline.
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let later = Instant::now() + Duration::from_secs(30);
            let woke = store
                .wait_for_records("t", &positions, later)
                .await
                .unwrap();
            (woke, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let appended = std::time::Instant::now();
    other.produce("t", 2, vec![record("new")]).await.unwrap();
    let (woke, waited) = waiter.await.unwrap();
    assert!(woke);
    assert!(
        waited < Duration::from_secs(5),
        "woke by the deadline, not the append: {waited:?}"
    );
    eprintln!(
        "wait_for_records woke {:?} after the append started",
        appended.elapsed()
    );
    // The record that woke it is there for the fetch.
    let got = store
        .fetch("t", 2, 0, 1 << 20, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(got.records.len(), 1);
    assert_eq!(got.records[0].value.as_deref(), Some(&b"new"[..]));
    let mut seen = Vec::new();
    let next = store
        .read_to_end("t", 2, 0, None, &mut |r| seen.push(r.offset))
        .await
        .unwrap();
    assert_eq!((seen, next), (vec![0], 1));
    // No positions: waits out the deadline.
    let started = std::time::Instant::now();
    let soon = Instant::now() + Duration::from_millis(100);
    assert!(!store.wait_for_records("t", &[], soon).await.unwrap());
    assert!(started.elapsed() >= Duration::from_millis(90));
}

async fn offsets_and_groups(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    // orders-1 holds offsets 0..5, timestamps 1000, 1001, 1002 and then now.
    assert_eq!(
        store
            .list_offset("orders", 1, OffsetSpec::Earliest)
            .await
            .unwrap(),
        Some(0)
    );
    assert_eq!(
        store
            .list_offset("orders", 1, OffsetSpec::Latest)
            .await
            .unwrap(),
        Some(5)
    );
    assert_eq!(
        store
            .list_offset("orders", 1, OffsetSpec::Timestamp(1001))
            .await
            .unwrap(),
        Some(1)
    );
    let future = creek_store::now_ms() + 3_600_000;
    assert_eq!(
        store
            .list_offset("orders", 1, OffsetSpec::Timestamp(future))
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.list_offset("nope", 0, OffsetSpec::Latest).await,
        Err(LogError::UnknownTopicOrPartition(_))
    ));

    store
        .commit_offsets("g", &[("orders".into(), 1, 3), ("t".into(), 2, 1)])
        .await
        .unwrap();
    for client in [store, other] {
        let committed = client.committed_offsets("g").await.unwrap();
        assert_eq!(committed[&("orders".to_string(), 1)], 3);
        assert_eq!(committed[&("t".to_string(), 2)], 1);
        assert_eq!(committed.len(), 2, "{committed:?}");
    }
    store
        .commit_offsets("g", &[("orders".into(), 1, 5)])
        .await
        .unwrap();
    assert_eq!(
        other.committed_offsets("g").await.unwrap()[&("orders".to_string(), 1)],
        5
    );
    assert!(store
        .committed_offsets("never-committed")
        .await
        .unwrap()
        .is_empty());
}

async fn batches(store: &Arc<ClusterLog>) {
    store.create_topic("b", 1, BTreeMap::new()).await.unwrap();
    let mut b = BatchBuilder::new(5_000, None);
    b.append(5_000, None, Some(b"first"));
    b.append(5_005, Some(b"k"), None);
    b.append(4_999, None, Some(&[7u8; 300]));
    assert_eq!(store.produce_batch("b", 0, b.finish()).await.unwrap(), 0);
    let encoded = encode_records(&[ProducerRecord {
        key: Some(Bytes::from_static(b"key")),
        value: Some(Bytes::from_static(b"value")),
        headers: vec![("trace".into(), Some(Bytes::from_static(b"abc")))],
        timestamp: Some(6_000),
    }])
    .unwrap();
    assert_eq!(
        store.produce_batch("b", 0, encoded.freeze()).await.unwrap(),
        3
    );
    let got = store
        .fetch("b", 0, 0, 1 << 20, Duration::ZERO)
        .await
        .unwrap();
    let shown: Vec<_> = got
        .records
        .iter()
        .map(|r| {
            (
                r.offset,
                r.timestamp,
                r.key.clone(),
                r.value.as_ref().map(Bytes::len),
            )
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (0, 5_000, None, Some(5)),
            (1, 5_005, Some(Bytes::from_static(b"k")), None),
            (2, 4_999, None, Some(300)),
            (3, 6_000, Some(Bytes::from_static(b"key")), Some(5)),
        ]
    );
    assert_eq!(got.records[3].headers[0].0, "trace");

    // Sequence-checked batches need a producer id, which the cluster cannot
    // give this store: it offers none, and refuses a batch that carries one.
    assert_eq!(store.init_producer_id().await.unwrap(), None);
    let mut b = BatchBuilder::new(
        1_000,
        Some(ProducerSequence {
            producer_id: 7,
            producer_epoch: 0,
            base_sequence: 0,
        }),
    );
    b.append(1_000, None, Some(b"v"));
    let err = store.produce_batch("b", 0, b.finish()).await.unwrap_err();
    assert!(err.to_string().contains("not supported yet"), "{err}");
}

/// Kafka transactions: a committed transaction's records and offsets appear
/// together, an aborted one's never; a second producer with the same id fences
/// the first.
async fn transactions(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    store.create_topic("tx", 2, BTreeMap::new()).await.unwrap();
    let tx = store.transactional_producer("creek-test-tx").await.unwrap();
    tx.begin().await.unwrap();
    tx.produce("tx", 0, vec![record("a"), record("b")])
        .await
        .unwrap();
    tx.produce("tx", 1, vec![record("c")]).await.unwrap();
    tx.send_offsets("tx-group", &[("tx".into(), 0, 42)])
        .await
        .unwrap();
    // Not committed yet: a reader sees nothing. (The group's offsets are
    // "unstable" until then: Kafka makes OffsetFetch wait for the outcome.)
    let seen = other
        .fetch("tx", 0, 0, 1 << 20, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(seen.records.is_empty(), "{:?}", seen.records);
    tx.commit().await.unwrap();
    let values = |fetched: creek_store::FetchResult| -> Vec<String> {
        fetched
            .records
            .iter()
            .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
            .collect()
    };
    let got = other
        .fetch("tx", 0, 0, 1 << 20, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(values(got), ["a", "b"]);
    assert_eq!(
        other.committed_offsets("tx-group").await.unwrap(),
        BTreeMap::from([(("tx".to_string(), 0), 42)])
    );

    // Aborted: its records are skipped by readers, the offsets stay.
    tx.begin().await.unwrap();
    tx.produce("tx", 0, vec![record("never")]).await.unwrap();
    tx.send_offsets("tx-group", &[("tx".into(), 0, 99)])
        .await
        .unwrap();
    tx.abort().await.unwrap();
    tx.begin().await.unwrap();
    tx.produce("tx", 0, vec![record("d")]).await.unwrap();
    tx.commit().await.unwrap();
    // Replaying the partition skips the aborted record and the markers.
    let mut replayed = Vec::new();
    other
        .read_to_end("tx", 0, 0, None, &mut |r| {
            replayed.push(String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        })
        .await
        .unwrap();
    assert_eq!(replayed, ["a", "b", "d"]);
    assert_eq!(
        other.committed_offsets("tx-group").await.unwrap()[&("tx".to_string(), 0)],
        42
    );

    // A new producer with the same id fences the old one.
    let successor = other.transactional_producer("creek-test-tx").await.unwrap();
    tx.begin().await.unwrap();
    let fenced = match tx.produce("tx", 0, vec![record("zombie")]).await {
        Err(e) => Err(e),
        Ok(()) => tx.commit().await,
    };
    assert!(fenced.is_err(), "a fenced producer must not commit");
    successor.begin().await.unwrap();
    successor.produce("tx", 1, vec![record("e")]).await.unwrap();
    successor.commit().await.unwrap();
    let got = other
        .fetch("tx", 1, 0, 1 << 20, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(values(got), ["c", "e"]);
}

/// A closed port: the connect fails within the timeout, naming the address and
/// what to check.
#[tokio::test]
async fn an_unreachable_cluster_fails_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bootstrap = format!("127.0.0.1:{port}");
    let config = ClusterConfig::new(&bootstrap, std::iter::empty::<(String, String)>())
        .unwrap()
        .with_timeout(Duration::from_secs(3));
    let started = std::time::Instant::now();
    let err = ClusterLog::connect(config)
        .await
        .err()
        .expect("no cluster there");
    let took = started.elapsed();
    let message = err.to_string();
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(message.contains(&bootstrap), "{message}");
    assert!(message.contains("bootstrap.servers"), "{message}");
    assert!(message.contains("security.protocol"), "{message}");
}

#[test]
fn secrets_are_masked_and_unknown_properties_are_named() {
    let config = ClusterConfig::new(
        "broker:9092",
        [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "creek"),
            ("sasl.password", "s3cr3t-value"),
            ("ssl.ca.location", "/etc/ssl/ca.pem"),
        ],
    )
    .unwrap();
    for shown in [format!("{config:?}"), config.to_string()] {
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("sasl.password"), "{shown}");
        assert!(shown.contains("/etc/ssl/ca.pem"), "{shown}");
    }
    let err = ClusterConfig::new("broker:9092", [("sasl.usrname", "creek")]).unwrap_err();
    assert!(matches!(err, LogError::InvalidConfig(_)));
    assert!(err.to_string().contains("sasl.usrname"), "{err}");
}

/// Deals the items round robin over the members, sorted by id, and writes each
/// member's share as "item,item,…".
struct Deal(Vec<&'static str>);

impl Assignor for Deal {
    fn assign(&self, protocol: &str, _leader: &str, members: &[Member]) -> Vec<(String, Bytes)> {
        assert_eq!(protocol, "deal");
        let mut shares = vec![Vec::new(); members.len()];
        for (i, item) in self.0.iter().enumerate() {
            shares[i % members.len()].push(*item);
        }
        members
            .iter()
            .zip(shares)
            .map(|(m, share)| (m.id.clone(), Bytes::from(share.join(","))))
            .collect()
    }
}

fn join_request(client: &str) -> JoinRequest {
    let mut request = JoinRequest::new("creek-test-workers", "connect", client);
    request.session_timeout = Duration::from_secs(6);
    request.rebalance_timeout = Duration::from_secs(10);
    request.heartbeat_interval = Duration::from_millis(300);
    request
}

fn share(data: &Bytes) -> Vec<String> {
    std::str::from_utf8(data)
        .unwrap()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Two members of one group split the work; when one leaves, the other gets all
/// of it; a requested rejoin starts a round with the same share.
async fn group_membership(store: &Arc<ClusterLog>, other: &Arc<ClusterLog>) {
    let deal = Arc::new(Deal(vec!["a", "b", "c", "d"]));
    let protocols = || vec![("deal".to_string(), Bytes::from_static(b"meta"))];
    let first = store
        .join_group(join_request("worker-1"), deal.clone())
        .await
        .unwrap();
    let alone = first.next_assignment(protocols()).await.unwrap();
    assert_eq!(share(&alone.data), ["a", "b", "c", "d"]);
    assert_eq!(alone.leader_id, alone.member_id);

    // A second member joins: the first sees a round start and rejoins.
    let second = other
        .join_group(join_request("worker-2"), deal.clone())
        .await
        .unwrap();
    let joining = tokio::spawn({
        let second = second.clone();
        async move { second.next_assignment(protocols()).await }
    });
    tokio::time::timeout(Duration::from_secs(10), first.rebalance_started())
        .await
        .expect("the first member hears of the round within a few heartbeats");
    let first_share = first.next_assignment(protocols()).await.unwrap();
    let second_share = joining.await.unwrap().unwrap();
    assert_eq!(first_share.generation, second_share.generation);
    assert!(first_share.generation > alone.generation);
    let mut all = share(&first_share.data);
    all.extend(share(&second_share.data));
    all.sort();
    assert_eq!(all, ["a", "b", "c", "d"], "every item once");
    assert_eq!(share(&first_share.data).len(), 2);

    // A member commits as the member of its round.
    store
        .create_topic("group-commits", 1, BTreeMap::new())
        .await
        .unwrap();
    let offsets = |o: i64| [("group-commits".to_string(), 0, o)];
    first
        .commit_offsets(first_share.generation, &offsets(5))
        .await
        .unwrap();

    // The second leaves: the first gets everything back without waiting for a
    // session timeout.
    second.leave().await;
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), first.rebalance_started())
        .await
        .expect("a leaving member starts a round");
    let back = first.next_assignment(protocols()).await.unwrap();
    assert_eq!(share(&back.data), ["a", "b", "c", "d"]);
    assert!(started.elapsed() < Duration::from_secs(6));
    // A commit for a round that is over is refused (another member may own
    // the partition now).
    let stale = first
        .commit_offsets(first_share.generation, &offsets(6))
        .await;
    assert!(
        matches!(stale, Err(LogError::GroupFenced { .. })),
        "{stale:?}"
    );
    first
        .commit_offsets(back.generation, &offsets(7))
        .await
        .unwrap();
    let committed = store.committed_offsets("creek-test-workers").await.unwrap();
    assert_eq!(committed.get(&("group-commits".to_string(), 0)), Some(&7));

    // A rejoin on request: a new generation, the same share.
    first.request_rejoin();
    first.rebalance_started().await;
    let again = first.next_assignment(protocols()).await.unwrap();
    assert!(again.generation > back.generation);
    assert_eq!(share(&again.data), ["a", "b", "c", "d"]);
    first.leave().await;
}
