"""kcat (librdkafka 2.0 CLI) against a shared creek broker."""

from __future__ import annotations

import json

from creekutil import create_topic, kcat


def _consume(bootstrap, topic, *extra, timeout=30.0):
    cp = kcat("-C", "-b", bootstrap, "-t", topic, "-e", "-q", *extra, timeout=timeout)
    return cp.stdout


def _metadata(bootstrap, *extra):
    cp = kcat("-L", "-J", "-b", bootstrap, "-m", "10", *extra)
    return json.loads(cp.stdout)


def test_metadata_lists_broker_and_topic(creek_shared):
    create_topic(creek_shared, "kcat-meta", partitions=2)
    md = _metadata(creek_shared.bootstrap)

    brokers = md["brokers"]
    assert len(brokers) == 1, md
    assert brokers[0]["name"] == creek_shared.bootstrap, md
    broker_id = brokers[0]["id"]

    topics = {t["topic"]: t for t in md["topics"]}
    assert "kcat-meta" in topics, md
    t = topics["kcat-meta"]
    assert "error" not in t, t
    parts = sorted(t["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1], t
    for p in parts:
        assert p["leader"] == broker_id, p
        assert [r["id"] for r in p["replicas"]] == [broker_id], p
        assert [r["id"] for r in p["isrs"]] == [broker_id], p

    # Plain-text form, restricted to one topic.
    text = kcat("-L", "-b", creek_shared.bootstrap, "-t", "kcat-meta", "-m", "10").stdout
    assert f"at {creek_shared.bootstrap}" in text, text
    assert 'topic "kcat-meta" with 2 partitions' in text, text


def test_produce_consume_lines_auto_created_topic(creek_shared):
    topic = "kcat-lines"  # never created explicitly: produce must auto-create it
    lines = [f"line-{i:04d} the quick brown fox {i * 7919}" for i in range(200)]
    kcat("-P", "-b", creek_shared.bootstrap, "-t", topic, input="\n".join(lines) + "\n")

    assert _consume(creek_shared.bootstrap, topic, "-o", "beginning").splitlines() == lines

    md = _metadata(creek_shared.bootstrap, "-t", topic)
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert len(t["partitions"]) == 1, f"auto-created topic should have 1 partition: {t}"


def test_keys(creek_shared):
    topic = "kcat-keys"
    create_topic(creek_shared, topic, partitions=1)
    lines = [f"key-{i % 5}:value-{i}" for i in range(50)]
    kcat("-P", "-b", creek_shared.bootstrap, "-t", topic, "-K:", input="\n".join(lines) + "\n")

    out = _consume(creek_shared.bootstrap, topic, "-o", "beginning", "-K:")
    assert out.splitlines() == lines

    out = _consume(creek_shared.bootstrap, topic, "-o", "beginning",
                   "-f", "%k|%s|%p|%o\n")
    expected = [f"key-{i % 5}|value-{i}|0|{i}" for i in range(50)]
    assert out.splitlines() == expected


def test_specific_partition_and_offset(creek_shared):
    topic = "kcat-partitions"
    create_topic(creek_shared, topic, partitions=3)
    b = creek_shared.bootstrap
    counts = {0: 5, 1: 10, 2: 3}
    for p, n in counts.items():
        msgs = "".join(f"p{p}-m{i}\n" for i in range(n))
        kcat("-P", "-b", b, "-t", topic, "-p", str(p), input=msgs)

    # Partition 1 from absolute offset 4.
    out = _consume(b, topic, "-p", "1", "-o", "4", "-f", "%p %o %s\n")
    assert out.splitlines() == [f"1 {i} p1-m{i}" for i in range(4, 10)]

    # Partition 1, last 3 messages (relative offset from the end).
    out = _consume(b, topic, "-p", "1", "-o", "-3", "-f", "%p %o %s\n")
    assert out.splitlines() == [f"1 {i} p1-m{i}" for i in range(7, 10)]

    # Partition 2 from the beginning holds only its own messages.
    out = _consume(b, topic, "-p", "2", "-o", "beginning", "-f", "%p %o %s\n")
    assert out.splitlines() == [f"2 {i} p2-m{i}" for i in range(3)]

    # Whole topic: every partition, each in offset order.
    out = _consume(b, topic, "-o", "beginning", "-f", "%p %o %s\n")
    got = {}
    for line in out.splitlines():
        p, o, v = line.split(" ")
        got.setdefault(int(p), []).append((int(o), v))
    assert got == {p: [(i, f"p{p}-m{i}") for i in range(n)] for p, n in counts.items()}

    # Starting at the end yields nothing.
    assert _consume(b, topic, "-p", "0", "-o", "end") == ""


def test_headers(creek_shared):
    topic = "kcat-headers"
    create_topic(creek_shared, topic, partitions=1)
    kcat("-P", "-b", creek_shared.bootstrap, "-t", topic, "-H", "a=1", "-H", "trace=xyz",
         input="with-headers\n")
    out = _consume(creek_shared.bootstrap, topic, "-o", "beginning", "-f", "%h|%s\n")
    assert out.splitlines() == ["a=1,trace=xyz|with-headers"]


def test_large_values(creek_shared):
    topic = "kcat-large"
    create_topic(creek_shared, topic, partitions=1)
    values = [chr(ord("a") + i) * (150_000 + i) for i in range(5)]
    kcat("-P", "-b", creek_shared.bootstrap, "-t", topic, input="\n".join(values) + "\n")
    out = _consume(creek_shared.bootstrap, topic, "-o", "beginning")
    assert [len(v) for v in out.splitlines()] == [len(v) for v in values]
    assert out.splitlines() == values
