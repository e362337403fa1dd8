"""Several creek workers with one `ksql.service.id` on Apache Kafka form one ksqlDB
cluster, as ksqlDB servers of a service id do: every worker follows the shared
command topic, so a statement run on one is run on all; each persistent query's
source partitions are shared among the workers through Kafka's group membership
(the query's consumer group `_confluent-ksql-<service id>query_<ID>`), and a worker
killed with SIGKILL leaves its partitions to the others.
"""

from __future__ import annotations

import json
import time

import requests
from confluent_kafka import Consumer, ConsumerGroupState, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from creekutil import CreekServer, kafka, kafka_tool, wait_until  # noqa: F401 (kafka: the fixture)

SERVICE = "workers_"


def ksql(server, statement, properties=None):
    url = f"http://127.0.0.1:{server.aux_ports['--ksql-port']}/ksql"
    r = requests.post(url, json={"ksql": statement, "streamsProperties": properties or {
        "auto.offset.reset": "earliest"}}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def source_names(server) -> set[str]:
    return {s["name"] for s in ksql(server, "SHOW STREAMS;")[0]["streams"]} | {
        t["name"] for t in ksql(server, "SHOW TABLES;")[0]["tables"]}


def query_ids(server) -> set[str]:
    return {q["id"] for q in ksql(server, "SHOW QUERIES;")[0]["queries"]}


def produce(bootstrap, topic, rows):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, row in enumerate(rows):
        p.produce(topic, json.dumps(row).encode(), key=str(i).encode())
    assert p.flush(30) == 0


def read_values(bootstrap, topic, partitions):
    """Every committed value of `topic` (all partitions), read to the end."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    out = []
    try:
        ends = {}
        for p in range(partitions):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        c.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + 30
        done = set()
        while len(done) < len(ends) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            out.append(json.loads(m.value()))
            if m.offset() + 1 >= ends[m.partition()]:
                done.add(m.partition())
    finally:
        c.close()
    return out


def shares(bootstrap, group):
    """Each member's partitions of a stable group, by client id."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    if described.state != ConsumerGroupState.STABLE:
        return {}
    return {m.client_id + "@" + m.member_id: sorted(tp.partition for tp in
                                                    m.assignment.topic_partitions)
            for m in described.members}


def test_workers_share_statements_and_query_partitions(kafka, tmp_path):
    kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--create", "--topic", "orders",
               "--partitions", "4", "--replication-factor", "1")
    produce(kafka, "orders", [{"item": f"i{i}", "qty": i} for i in range(1000)])
    shared = ["--bootstrap-servers", kafka, "--ksql-property", f"ksql.service.id={SERVICE}"]
    a = CreekServer(tmp_path / "a", name="worker-a", extra_args=shared)
    b = CreekServer(tmp_path / "b", name="worker-b", extra_args=shared)
    a.start()
    b.start()
    try:
        ksql(a, "CREATE STREAM orders (item VARCHAR, qty INT) "
                "WITH (kafka_topic='orders', value_format='JSON');")
        ksql(a, "CREATE STREAM big_orders AS SELECT item, qty FROM orders "
                "WHERE qty >= 100 EMIT CHANGES;")
        # The other worker runs what the first recorded, under the same query id.
        wait_until(lambda: {"ORDERS", "BIG_ORDERS"} <= source_names(b), 30, interval=0.3,
                   what="worker-b to run the statements worker-a recorded")
        assert query_ids(a) == query_ids(b) and len(query_ids(a)) == 1
        (query,) = query_ids(a)
        group = f"_confluent-ksql-{SERVICE}query_{query}"
        # Kafka's own admin API sees the query's group: two members, two
        # source partitions each.
        wait_until(lambda: sorted(map(len, shares(kafka, group).values())) == [2, 2], 60,
                   interval=0.5, what="each worker to own two partitions of the query")
        wait_until(lambda: len(read_values(kafka, "BIG_ORDERS", 4)) >= 900, 60, interval=1,
                   what="the CSAS output")
        values = read_values(kafka, "BIG_ORDERS", 4)
        assert sorted(v["QTY"] for v in values) == list(range(100, 1000))

        # A worker killed with SIGKILL: the other takes all partitions over
        # (after the session timeout) and nothing is lost.
        a.kill()
        produce(kafka, "orders", [{"item": f"j{i}", "qty": i} for i in range(1000, 1500)])
        wait_until(lambda: list(map(len, shares(kafka, group).values())) == [4], 60,
                   interval=0.5, what="worker-b to own every partition of the query")
        wait_until(lambda: len(read_values(kafka, "BIG_ORDERS", 4)) >= 1400, 60, interval=1,
                   what="the CSAS output after the kill")
        qty = [v["QTY"] for v in read_values(kafka, "BIG_ORDERS", 4)]
        assert set(qty) == set(range(100, 1500))
    finally:
        a.dispose()
        b.dispose()
