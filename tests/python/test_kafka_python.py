"""kafka-python (pure Python client) producer, group consumer and admin.

api_version is never pinned, so the client probes the broker (ApiVersions).
"""

from __future__ import annotations

import time
import warnings

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from creekutil import create_topic, list_topics_cli


def _probe_timeout(cls, ms=30000):
    """Generous version-probe timeout under whichever name this kafka-python has.

    kafka-python 2.x calls it api_version_auto_timeout_ms, 3.x bootstrap_timeout_ms.
    """
    for key in ("api_version_auto_timeout_ms", "bootstrap_timeout_ms"):
        if key in cls.DEFAULT_CONFIG:
            return {key: ms}
    return {}


def _producer(server):
    return KafkaProducer(bootstrap_servers=server.bootstrap, acks="all",
                         request_timeout_ms=30000, **_probe_timeout(KafkaProducer))


def _consumer(server, topic, group):
    return KafkaConsumer(
        topic, bootstrap_servers=server.bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=10000, heartbeat_interval_ms=1000,
        **_probe_timeout(KafkaConsumer))


def _send(producer, topic, start, stop):
    futures = [producer.send(topic, key=f"k{i % 13}".encode(), value=f"v{i}".encode())
               for i in range(start, stop)]
    producer.flush(timeout=30)
    metas = [f.get(timeout=30) for f in futures]
    assert all(f.succeeded() for f in futures)
    return metas


def _consume(consumer, expected, timeout=60.0, settle=1.5):
    """Poll until `expected` records arrived, then a bit longer to catch extras."""
    got = []
    deadline = time.monotonic() + timeout
    settle_until = None
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            got.extend(records)
        if len(got) >= expected:
            settle_until = settle_until or time.monotonic() + settle
            if time.monotonic() >= settle_until:
                break
    return got


def test_produce_consume_commit_resume(creek_shared):
    topic, group = "kp-main", "kp-main-g"
    create_topic(creek_shared, topic, partitions=2)

    producer = _producer(creek_shared)
    try:
        assert producer.config["api_version"] is not None
        metas = _send(producer, topic, 0, 500)
    finally:
        producer.close(timeout=10)
    assert {m.topic for m in metas} == {topic}
    assert len({(m.partition, m.offset) for m in metas}) == 500
    ends = {}
    for m in metas:
        ends[m.partition] = max(ends.get(m.partition, 0), m.offset + 1)

    c1 = _consumer(creek_shared, topic, group)
    try:
        got = _consume(c1, 500)
        values = sorted(int(r.value[1:]) for r in got)
        assert values == list(range(500)), f"got {len(got)} records"
        assert {(r.partition, r.offset) for r in got} == {(m.partition, m.offset) for m in metas}
        for r in got:
            assert r.key == f"k{int(r.value[1:]) % 13}".encode()
        c1.commit()
        for p, end in ends.items():
            assert c1.committed(TopicPartition(topic, p)) == end
    finally:
        c1.close(autocommit=False)

    producer = _producer(creek_shared)
    try:
        _send(producer, topic, 500, 550)
    finally:
        producer.close(timeout=10)

    c2 = _consumer(creek_shared, topic, group)
    try:
        got2 = _consume(c2, 50)
    finally:
        c2.close(autocommit=False)
    values2 = sorted(int(r.value[1:]) for r in got2)
    assert values2 == list(range(500, 550)), (
        f"resumed consumer saw {len(values2)} records, first: {values2[:10]}")


def test_admin_create_list_delete(creek_shared):
    topic = "kp-admin"
    admin = KafkaAdminClient(bootstrap_servers=creek_shared.bootstrap,
                             **_probe_timeout(KafkaAdminClient))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
        assert topic in admin.list_topics()
        assert topic in list_topics_cli(creek_shared)
        (desc,) = [t for t in admin.describe_topics([topic])]
        assert len(desc["partitions"]) == 3, desc
        admin.delete_topics([topic])
        deadline = time.monotonic() + 15
        while topic in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert topic not in admin.list_topics()
        assert topic not in list_topics_cli(creek_shared)
    finally:
        admin.close()
