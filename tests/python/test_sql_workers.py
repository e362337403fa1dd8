"""Several creek workers with one `ksql.service.id` on Apache Kafka form one ksqlDB
cluster, as ksqlDB servers of a service id do: every worker follows the shared
command topic, so a statement run on one is run on all; each persistent query's
source partitions are shared among the workers through Kafka's group membership
(the query's consumer group `_confluent-ksql-<service id>query_<ID>`), and a worker
killed with SIGKILL leaves its partitions to the others.
"""

from __future__ import annotations

import json
import subprocess
import time

import requests
from confluent_kafka import Consumer, ConsumerGroupState, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from creekutil import (CreekServer, creek_bin, kafka,  # noqa: F401 (kafka: the fixture)
                       kafka_tool, wait_until, window_counts)
from test_external_cluster import ksql_with, lake_rows
from test_jdbc_source import seed_connector

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


def read_records(bootstrap, topic, partitions, decode=json.loads):
    """Every committed (key, decoded value) of `topic`, all partitions, read to
    the end (partition EOF ends each: under read_committed a transaction's marker
    is the last offset, never a record)."""
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
            out.append((m.key().decode() if m.key() else None, decode(m.value())))
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
        # Each worker says what it runs of a shared query: DESCRIBE EXTENDED's
        # statistics and EXPLAIN's tasks (two of the four repartition partitions).
        counts_id = counts.rsplit("query_", 1)[1]
        described = ksql(a, "DESCRIBE ITEM_COUNTS EXTENDED;")[0]["sourceDescription"]
        assert f"{counts_id} on this worker:" in described["statistics"], described
        explained = ksql(a, f"EXPLAIN {counts_id};")[0]["queryDescription"]
        stage_two = [t for t in explained["tasksMetadata"] if t["taskId"].startswith("1_")]
        assert len(stage_two) == 2, explained["tasksMetadata"]
        # Standby replicas are not kept yet: asking for them is refused.
        r = ksql_with(a, "CREATE STREAM small_orders AS SELECT item FROM orders "
                         "WHERE qty < 10 EMIT CHANGES;", {"num.standby.replicas": "1"})
        assert r.status_code == 400 and "not supported yet" in r.text, r.text
        # A worker of the service id that would run the queries differently
        # (another processing.guarantee) gets no share, and says why.
        odd = CreekServer(tmp_path / "odd", name="worker-odd", extra_args=shared + [
            "--ksql-property", "ksql.streams.processing.guarantee=exactly_once_v2"])
        odd.start()
        try:
            wait_until(lambda: "differently from the group's leader" in odd.log_tail(400), 60,
                       interval=0.5, what="the odd worker to report it gets no share")
            wait_until(lambda: sorted(map(len, shares(kafka, csas).values())) == [0, 2, 2],
                       60, interval=0.5, what="the projection to stay on the two workers")
        finally:
            odd.dispose()
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


def test_three_workers_run_the_seed_and_survive_a_kill_and_a_newcomer(kafka, postgres,
                                                                      tmp_path):
    """The seed's pipeline on three creek workers of one Connect group.id and one
    ksql.service.id (issue 19's scenario): the JDBC source (tasks.max 2,
    exactly.once.source.support), a CSAS and a windowed CTAS (exactly_once_v2), the
    lake sink (tasks.max 2). Two workers start; the third joins mid-way; one is
    killed with SIGKILL and started again while the generator goes on. The lake, the
    CSAS output and the window counts then hold exactly what one worker alone
    produces: every row of the table once."""
    gen = [str(creek_bin()), "fake", "-cs", postgres.connection_string, "--silent"]
    subprocess.run(gen + ["-n", "100", "--interval", "0", "--total", "200"], check=True,
                   capture_output=True, timeout=120)
    shared = ["--bootstrap-servers", kafka,
              "--ksql-property", "ksql.service.id=seedworkers_",
              "--connect-property", "group.id=seed-workers",
              "--connect-property", "config.storage.topic=seedworkers-configs",
              "--connect-property", "offset.storage.topic=seedworkers-offsets",
              "--connect-property", "status.storage.topic=seedworkers-status",
              "--connect-property", "exactly.once.source.support=enabled"]
    crew = [CreekServer(tmp_path / n, name=n, extra_args=shared)
            for n in ("worker-a", "worker-b", "worker-c")]
    a, b, c = crew
    a.start()
    b.start()
    lake = tmp_path / "lake"
    try:
        connector = seed_connector(postgres.jdbc_url)
        connector["config"]["tasks.max"] = 2
        connector["config"]["topic.prefix"] = "seedworkers-"
        r = requests.post(f"{a.connect_url}/connectors", json=connector, timeout=30)
        assert r.status_code == 201, r.text
        wait_until(lambda: requests.get(
            f"{b.registry_url}/subjects/seedworkers-customers-value/versions/latest",
            timeout=10).status_code == 200, 60, interval=0.2,
            what="the source's schema in the registry")
        eos = {"auto.offset.reset": "earliest", "processing.guarantee": "exactly_once_v2"}
        for statement in [
            "CREATE STREAM custstream WITH (kafka_topic='seedworkers-customers', "
            "value_format='AVRO');",
            "CREATE STREAM custgender AS SELECT nome, email, CASE WHEN sexo = 'F' THEN "
            "'feminino' ELSE 'masculino' END AS genero FROM custstream EMIT CHANGES;",
            "CREATE TABLE per_sex AS SELECT sexo, COUNT(*) AS n FROM custstream "
            "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY sexo EMIT CHANGES;",
        ]:
            r = ksql_with(b, statement, eos)
            assert r.status_code == 200, r.text
        r = requests.post(f"{b.connect_url}/connectors", timeout=30, json={
            "name": "lake", "config": {
                "connector.class": "io.confluent.connect.s3.S3SinkConnector",
                "tasks.max": 2, "topics": "seedworkers-customers,CUSTGENDER",
                "flush.size": 100, "rotate.schedule.interval.ms": 1000,
                "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
                "s3.bucket.name": "datalake", "store.url": f"file://{lake}"}})
        assert r.status_code == 201, r.text
        generator = subprocess.Popen(gen + ["-n", "20", "--interval", "0.3", "--total", "600"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: lake_rows(lake, "CUSTGENDER")[0] >= 250, 90, interval=0.5,
                   what="the first rows in the lake")
        c.start()  # a newcomer mid-way
        wait_until(lambda: lake_rows(lake, "CUSTGENDER")[0] >= 400, 90, interval=0.5,
                   what="more rows in the lake after the third worker joined")
        a.kill()
        time.sleep(2)
        a.start()
        assert generator.wait(120) == 0, generator.stderr.read()

        with postgres.connect() as conn:
            table = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
            distinct = conn.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM customers) "
                                    "AS d").fetchone()[0]
        assert table == 800

        def complete():
            return lake_rows(lake, "seedworkers-customers")[0] >= table \
                and lake_rows(lake, "CUSTGENDER")[0] >= table
        wait_until(complete, 180, interval=0.5, what="every row of the table in the lake")
        time.sleep(3)  # a duplicate would show up now
        assert lake_rows(lake, "seedworkers-customers") == (table, distinct)
        assert lake_rows(lake, "CUSTGENDER")[0] == table
        assert len(read_records(kafka, "CUSTGENDER", 1, decode=bytes)) == table
        wait_until(lambda: sum(window_counts(kafka, b.registry_url, "PER_SEX").values())
                   == table, 60, what="the window counts to add up to the table")
    finally:
        for server in crew:
            server.dispose()



def test_a_deleted_changelog_stops_its_query_saying_so(kafka, tmp_path):
    """A worker that comes back to an aggregation whose changelog topic was deleted
    does not start the state again from nothing: the query stops (ERROR), naming
    the topic and what to do, and the worker stays up."""
    kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--create", "--topic", "clicks_cl",
               "--partitions", "2", "--replication-factor", "1")
    produce(kafka, "clicks_cl", [{"item": f"i{i % 3}", "qty": i} for i in range(30)])
    shared = ["--bootstrap-servers", kafka, "--ksql-property", "ksql.service.id=lost_"]
    server = CreekServer(tmp_path / "w", name="worker", extra_args=shared)
    server.start()
    try:
        ksql(server, "CREATE STREAM clicks_cl (item VARCHAR, qty INT) "
                     "WITH (kafka_topic='clicks_cl', value_format='JSON');")
        ksql(server, "CREATE TABLE per_item_cl AS SELECT item, COUNT(*) AS n FROM clicks_cl "
                     "GROUP BY item EMIT CHANGES;")
        wait_until(lambda: latest_counts(kafka, "PER_ITEM_CL", 2) == {"i0": 10, "i1": 10,
                                                                      "i2": 10},
                   60, interval=0.5, what="the counts")
        (query,) = query_ids(server)
        assert server.stop() == 0
        changelog = f"_confluent-ksql-lost_query_{query}-Aggregate-Aggregate-Materialize-changelog"
        kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--delete", "--topic", changelog)
        server.start()

        def failed():
            q = ksql(server, f"EXPLAIN {query};")[0]["queryDescription"]
            return q["state"] == "ERROR" and q["queryErrors"] and q["queryErrors"][0]
        error = wait_until(failed, 60, interval=0.5, what="the query to stop")
        assert changelog in error["errorMessage"] and "missing" in error["errorMessage"], error
        # The worker answers on, and the other statements work.
        assert "CLICKS_CL" in source_names(server)
    finally:
        server.dispose()
