"""confluent-kafka (librdkafka) admin, idempotent producer and group consumers."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import (
    OFFSET_END,
    OFFSET_INVALID,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from creekutil import call_with_timeout, consume_all_confluent, creek_topics


def _admin(server):
    return AdminClient({"bootstrap.servers": server.bootstrap})


def _create(server, topic, partitions, replication_factor=1):
    admin = _admin(server)  # must outlive the future, or it resolves as _DESTROY
    fs = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor)],
        operation_timeout=10, request_timeout=15)
    return fs[topic].result(timeout=20)


def _topic_partitions(server, topic):
    md = _admin(server).list_topics(timeout=10)
    t = md.topics.get(topic)
    if t is None:
        return None
    assert t.error is None, t.error
    return sorted(t.partitions)


def _produce(server, topic, records, **conf):
    """Idempotent acks=all produce of (key, value[, timestamp]) tuples.

    Returns the list of (key, value, partition, offset) delivery reports; fails the
    test if any delivery reported an error.
    """
    pconf = {"bootstrap.servers": server.bootstrap, "enable.idempotence": True,
             "acks": "all", "linger.ms": 5, "message.timeout.ms": 30000}
    pconf.update(conf)
    p = Producer(pconf)
    delivered, errors = [], []

    def cb(err, msg):
        if err is not None:
            errors.append((err, msg.key(), msg.value()))
        else:
            delivered.append((msg.key(), msg.value(), msg.partition(), msg.offset()))

    for rec in records:
        kwargs = {"timestamp": rec[2]} if len(rec) > 2 else {}
        while True:
            try:
                p.produce(topic, key=rec[0], value=rec[1], on_delivery=cb, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(30)
    assert remaining == 0, f"{remaining} messages still undelivered after flush(30)"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    assert len(delivered) == len(records)
    return delivered


# ------------------------------------------------------------------ admin
def test_admin_create_and_list_topics(creek_shared):
    assert _create(creek_shared, "ck-admin-4", 4) is None
    assert _topic_partitions(creek_shared, "ck-admin-4") == [0, 1, 2, 3]

    md = _admin(creek_shared).list_topics(timeout=10)
    assert len(md.brokers) == 1, md.brokers
    (broker,) = md.brokers.values()
    assert f"{broker.host}:{broker.port}" == creek_shared.bootstrap
    for p in md.topics["ck-admin-4"].partitions.values():
        assert p.leader == broker.id and p.replicas == [broker.id] and p.isrs == [broker.id]

    # Creating it again is TOPIC_ALREADY_EXISTS.
    with pytest.raises(KafkaException) as ei:
        _create(creek_shared, "ck-admin-4", 4)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, ei.value


def test_admin_replication_factor_3_fails(creek_shared):
    with pytest.raises(KafkaException) as ei:
        _create(creek_shared, "ck-admin-rf3", 4, replication_factor=3)
    assert ei.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, ei.value
    assert _topic_partitions(creek_shared, "ck-admin-rf3") is None


@pytest.mark.parametrize("name", [
    pytest.param("bad topic", id="space"),
    pytest.param("bad/topic", id="slash"),
    pytest.param("..", id="dotdot"),
    pytest.param("x" * 250, id="too-long"),
    pytest.param("ck\u00e9", id="non-ascii"),
])
def test_admin_invalid_topic_name_fails(creek_shared, name):
    with pytest.raises(KafkaException) as ei:
        _create(creek_shared, name, 1)
    assert ei.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, ei.value
    assert _topic_partitions(creek_shared, name) is None


def test_cli_describe_shows_partition_count(creek_shared):
    topic = "ck-describe"
    _create(creek_shared, topic, 4)
    out = creek_topics(creek_shared, "--describe", "--topic", topic).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    assert re.match(rf"^Topic: {re.escape(topic)}\t", lines[0]), out
    assert re.search(r"\tPartitionCount: 4\t", lines[0]), out
    assert re.search(r"\tReplicationFactor: 1\t", lines[0]), out
    part_lines = [line for line in lines[1:] if line.lstrip().startswith("Topic:")]
    assert len(part_lines) == 4, out
    for i, line in enumerate(part_lines):
        assert re.match(
            rf"\tTopic: {re.escape(topic)}\tPartition: {i}\tLeader: 0\tReplicas: 0\tIsr: 0(\s|$)",
            line), repr(line)


# --------------------------------------------------------------- producer
def test_idempotent_producer_2000_keyed(creek_shared):
    topic = "ck-idem"
    _create(creek_shared, topic, 4)
    records = [(f"k{i % 37}".encode(), f"v{i}".encode()) for i in range(2000)]
    delivered = _produce(creek_shared, topic, records)

    by_part = defaultdict(list)
    key_parts = defaultdict(set)
    for key, value, p, off in delivered:
        by_part[p].append((off, value))
        key_parts[key].add(p)
    assert all(len(ps) == 1 for ps in key_parts.values()), "a key landed on >1 partition"
    assert len(by_part) > 1, "37 keys should hash onto more than one of 4 partitions"
    for p, items in by_part.items():
        offsets = sorted(o for o, _ in items)
        assert offsets == list(range(len(items))), f"partition {p}: offsets not dense from 0"
        # Idempotence keeps produce order within a partition.
        ordered = [int(v[1:]) for _, v in sorted(items)]
        assert ordered == sorted(ordered), f"partition {p}: order not preserved"

    # What was acknowledged is what is stored.
    stored = {(p, o): (k, v) for p, o, k, v, _, _ in
              consume_all_confluent(creek_shared.bootstrap, topic, 4)}
    assert stored == {(p, o): (k, v) for k, v, p, o in delivered}


# --------------------------------------------------------------- consumers
def _group_consumer(server, group, topic, revoked_commits):
    c = Consumer({
        "bootstrap.servers": server.bootstrap, "group.id": group,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "session.timeout.ms": 10000, "heartbeat.interval.ms": 500,
    })

    def on_revoke(consumer, partitions):
        # Commit what was consumed so a surprise rebalance cannot cause duplicates.
        try:
            consumer.commit(asynchronous=False)
            revoked_commits.append([tp.partition for tp in partitions])
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                raise

    c.subscribe([topic], on_revoke=on_revoke)
    return c


def _poll_into(c, seen, who):
    m = c.poll(0.1)
    if m is None:
        return
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            return
        raise KafkaException(m.error())
    seen.append((who, m.partition(), m.offset(), m.value()))


def test_group_split_commit_and_resume(creek_shared):
    topic, group = "ck-group", "ck-group-g1"
    _create(creek_shared, topic, 4)
    revoked = []
    c1 = _group_consumer(creek_shared, group, topic, revoked)
    c2 = _group_consumer(creek_shared, group, topic, revoked)
    seen = []
    try:
        # 1. Both members join and split the 4 partitions between them.
        deadline = time.monotonic() + 60
        while True:
            _poll_into(c1, seen, "c1")
            _poll_into(c2, seen, "c2")
            a1 = {tp.partition for tp in c1.assignment()}
            a2 = {tp.partition for tp in c2.assignment()}
            if a1 and a2 and not (a1 & a2) and (a1 | a2) == {0, 1, 2, 3}:
                break
            assert time.monotonic() < deadline, (
                f"group never stabilised with both members: c1={a1} c2={a2}")
        assert not seen, "nothing was produced yet"

        # 2. Produce 2000 keyed records while both are members.
        records = [(f"k{i % 41}".encode(), f"v{i}".encode()) for i in range(2000)]
        delivered = _produce(creek_shared, topic, records)
        expected = {(p, o): v for _, v, p, o in delivered}

        # 3. Interleaved polling until every record has been seen.
        deadline = time.monotonic() + 60
        while len(seen) < 2000 and time.monotonic() < deadline:
            _poll_into(c1, seen, "c1")
            _poll_into(c2, seen, "c2")
        # A little more polling must not yield anything new (no duplicates).
        settle = time.monotonic() + 1.5
        while time.monotonic() < settle:
            _poll_into(c1, seen, "c1")
            _poll_into(c2, seen, "c2")

        got = Counter((p, o) for _, p, o, _ in seen)
        dups = [k for k, n in got.items() if n > 1]
        assert not dups, f"{len(dups)} records seen more than once, e.g. {dups[:5]}"
        assert len(seen) == 2000, f"saw {len(seen)} of 2000 records"
        assert {(p, o): v for _, p, o, v in seen} == expected
        whos = {who for who, _, _, _ in seen}
        assert whos == {"c1", "c2"}, f"records were not split between consumers: {whos}"
        for who, p, _, _ in seen:
            owner = c1 if who == "c1" else c2
            assert p in {tp.partition for tp in owner.assignment()}

        # 4. Synchronous commit; committed offsets are the end offsets.
        ends = Counter(p for _, _, p, _ in delivered)
        for c in (c1, c2):
            c.commit(asynchronous=False)
        committed = {}
        for c in (c1, c2):
            for tp in c.committed(c.assignment(), timeout=10):
                assert tp.error is None, tp
                committed[tp.partition] = tp.offset
        assert set(committed) == {0, 1, 2, 3}, committed
        for p in range(4):
            if ends.get(p):
                assert committed[p] == ends[p], (p, committed, ends)
            else:  # nothing consumed there, so nothing (or 0) committed
                assert committed[p] in (0, OFFSET_INVALID), (p, committed)
    finally:
        call_with_timeout(c1.close, 20, "c1.close")
        call_with_timeout(c2.close, 20, "c2.close")

    # 5. 100 more records; a new member of the group sees exactly those.
    more = [(f"k{i % 41}".encode(), f"v{i}".encode()) for i in range(2000, 2100)]
    delivered_more = _produce(creek_shared, topic, more)
    c3 = _group_consumer(creek_shared, group, topic, [])
    seen3 = []
    try:
        deadline = time.monotonic() + 60
        while len(seen3) < 100 and time.monotonic() < deadline:
            _poll_into(c3, seen3, "c3")
        settle = time.monotonic() + 1.5
        while time.monotonic() < settle:
            _poll_into(c3, seen3, "c3")
    finally:
        call_with_timeout(c3.close, 20, "c3.close")
    values = sorted(int(v[1:]) for _, _, _, v in seen3)
    assert values == list(range(2000, 2100)), (
        f"resumed consumer saw {len(values)} records; first few: {values[:10]}")
    assert {(p, o) for _, p, o, _ in seen3} == {(p, o) for _, _, p, o in delivered_more}


def test_watermarks_and_offsets_for_times(creek_shared):
    topic = "ck-times"
    _create(creek_shared, topic, 2)
    base = 1_700_000_000_000
    # Partition 0: 10 records with timestamps base, base+1000, ...; partition 1 empty.
    p = Producer({"bootstrap.servers": creek_shared.bootstrap, "acks": "all",
                  "enable.idempotence": True})
    errors = []
    for i in range(10):
        p.produce(topic, value=f"t{i}".encode(), partition=0, timestamp=base + i * 1000,
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(30) == 0 and not errors, errors

    c = Consumer({"bootstrap.servers": creek_shared.bootstrap, "group.id": "ck-times-g",
                  "enable.auto.commit": False})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10,
                                       cached=False) == (0, 10)
        assert c.get_watermark_offsets(TopicPartition(topic, 1), timeout=10,
                                       cached=False) == (0, 0)

        def lookup(ts):
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, tp
            return tp.offset

        assert lookup(0) == 0
        assert lookup(base) == 0
        assert lookup(base + 5000) == 5
        assert lookup(base + 4500) == 5  # first record with timestamp >= ts
        assert lookup(base + 9000) == 9
        assert lookup(base + 9001) in (OFFSET_END, -1)  # nothing that late

        # Timestamps round-trip as CreateTime.
        c.assign([TopicPartition(topic, 0, 3)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 7 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                raise KafkaException(m.error())
            got.append((m.offset(), m.value(), m.timestamp()))
        assert got == [(i, f"t{i}".encode(), (TIMESTAMP_CREATE_TIME, base + i * 1000))
                       for i in range(3, 10)]
    finally:
        call_with_timeout(c.close, 20, "Consumer.close")
