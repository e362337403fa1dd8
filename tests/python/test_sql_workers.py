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


def read_records(bootstrap, topic, partitions):
    """Every committed (key, value) of `topic`, all partitions, read to the end
    (partition EOF ends each: under read_committed a transaction's marker is the
    last offset, never a record)."""
    from confluent_kafka import KafkaError
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed",
                  "enable.partition.eof": True, "log_level": 2})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, ended = [], set()
    try:
        deadline = time.monotonic() + 30
        while len(ended) < partitions and time.monotonic() < deadline:
            m = c.poll(1)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    ended.add(m.partition())
                continue
            out.append((m.key().decode() if m.key() else None, json.loads(m.value())))
    finally:
        c.close()
    return out


def read_values(bootstrap, topic, partitions):
    return [v for _, v in read_records(bootstrap, topic, partitions)]


def latest_counts(bootstrap, topic, partitions):
    return {k: v["N"] for k, v in read_records(bootstrap, topic, partitions)}


def shares(bootstrap, group, topic="orders"):
    """Each member's partitions of `topic` in a stable group, by client and member id."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    described = admin.describe_consumer_groups([group])[group].result(timeout=30)
    if described.state != ConsumerGroupState.STABLE:
        return {}
    return {m.client_id + "@" + m.member_id: sorted(
        tp.partition for tp in m.assignment.topic_partitions if tp.topic == topic)
        for m in described.members}


def owner_of(bootstrap, group, servers):
    """The server whose process is the group's only member with partitions."""
    owners = [member for member, parts in shares(bootstrap, group).items() if parts]
    if len(owners) != 1:
        return None
    for server in servers:
        if server.is_running() and f"-{server.proc.pid}-" in owners[0]:
            return server
    return None


def orders(start, end):
    return [{"item": f"i{i % 10}", "qty": i} for i in range(start, end)]


def expected_counts(end):
    return {f"i{k}": len(range(k, end, 10)) for k in range(10)}


def even_counts(end):
    return {f"i{k}": len(range(k, end, 10)) for k in range(0, 10, 2)}


def test_workers_share_statements_and_query_partitions(kafka, tmp_path):
    kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--create", "--topic", "orders",
               "--partitions", "4", "--replication-factor", "1")
    produce(kafka, "orders", orders(0, 1000))
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
        ksql(a, "CREATE TABLE item_counts AS SELECT item, COUNT(*) AS n FROM orders "
                "GROUP BY item EMIT CHANGES;")
        ksql(a, "CREATE TABLE even_counts AS SELECT item, COUNT(*) AS n FROM orders "
                "WHERE qty % 2 = 0 GROUP BY item EMIT CHANGES;",
             {"auto.offset.reset": "earliest", "processing.guarantee": "exactly_once_v2"})
        # The other worker runs what the first recorded, under the same query ids.
        wait_until(lambda: {"ORDERS", "BIG_ORDERS", "ITEM_COUNTS", "EVEN_COUNTS"}
                   <= source_names(b), 30, interval=0.3,
                   what="worker-b to run the statements worker-a recorded")
        ids = query_ids(a)
        assert ids == query_ids(b) and len(ids) == 3
        group = {q.split("_")[1]: f"_confluent-ksql-{SERVICE}query_{q}" for q in ids}
        csas, counts, ctas = group["BIG"], group["ITEM"], group["EVEN"]
        repartition = f"{counts}-Aggregate-GroupBy-repartition"
        # Kafka's own admin API sees each query's group. The projection: two
        # members, two source partitions each. The at-least-once aggregation:
        # two source partitions (stage one) and two repartition partitions
        # (stage two: its tasks, with their state) each. The exactly-once
        # aggregation runs whole on one of them.
        wait_until(lambda: sorted(map(len, shares(kafka, csas).values())) == [2, 2], 60,
                   interval=0.5, what="each worker to own two partitions of the projection")
        wait_until(lambda: sorted(map(len, shares(kafka, counts, repartition).values()))
                   == [2, 2], 60, interval=0.5,
                   what="each worker to own two tasks of the aggregation")
        wait_until(lambda: owner_of(kafka, ctas, [a, b]) is not None, 60, interval=0.5,
                   what="one worker to own the exactly-once aggregation")
        wait_until(lambda: len(read_values(kafka, "BIG_ORDERS", 4)) >= 900, 60, interval=1,
                   what="the CSAS output")
        assert sorted(v["QTY"] for v in read_values(kafka, "BIG_ORDERS", 4)) == list(
            range(100, 1000))
        wait_until(lambda: latest_counts(kafka, "ITEM_COUNTS", 4) == expected_counts(1000),
                   60, interval=1, what="the counts")
        wait_until(lambda: latest_counts(kafka, "EVEN_COUNTS", 4) == even_counts(1000),
                   60, interval=1, what="the exactly-once counts")

        # The aggregation's owner is killed with SIGKILL: the other worker takes
        # everything over (after the session timeout), the aggregation with its
        # state from the changelog; nothing is lost and no count is doubled.
        owner = owner_of(kafka, ctas, [a, b])
        survivor = b if owner is a else a
        owner.kill()
        produce(kafka, "orders", orders(1000, 1500))
        wait_until(lambda: list(map(len, shares(kafka, csas).values())) == [4], 60,
                   interval=0.5, what=f"{survivor.name} to own every partition of the projection")
        wait_until(lambda: owner_of(kafka, ctas, [survivor]) is survivor, 60, interval=0.5,
                   what=f"{survivor.name} to own the aggregation")
        wait_until(lambda: latest_counts(kafka, "ITEM_COUNTS", 4) == expected_counts(1500),
                   60, interval=1, what="the counts after the kill")
        wait_until(lambda: latest_counts(kafka, "EVEN_COUNTS", 4) == even_counts(1500),
                   60, interval=1, what="the exactly-once counts after the kill")
        assert {
            v["QTY"] for v in read_values(kafka, "BIG_ORDERS", 4)} == set(range(100, 1500))

        # Restarted, the worker gets its share of the projection back.
        owner.start()
        wait_until(lambda: sorted(map(len, shares(kafka, csas).values())) == [2, 2], 60,
                   interval=0.5, what="the restarted worker to get two partitions back")
        produce(kafka, "orders", orders(1500, 2000))
        wait_until(lambda: sorted(map(len, shares(kafka, counts, repartition).values()))
                   == [2, 2], 60, interval=0.5,
                   what="the restarted worker to get two tasks of the aggregation back")
        wait_until(lambda: latest_counts(kafka, "ITEM_COUNTS", 4) == expected_counts(2000),
                   60, interval=1, what="the counts after the restart")
        wait_until(lambda: latest_counts(kafka, "EVEN_COUNTS", 4) == even_counts(2000),
                   60, interval=1, what="the exactly-once counts after the restart")
        wait_until(lambda: {v["QTY"] for v in read_values(kafka, "BIG_ORDERS", 4)} == set(
            range(100, 2000)), 60, interval=1, what="the CSAS output after the restart")
    finally:
        a.dispose()
        b.dispose()
