"""`creek up --bootstrap-servers`: the registry, Connect and ksqlDB on a real Apache
Kafka 4.4.0 (one KRaft node started by scripts/kafka.sh), no embedded broker.

Checks that state lives where the peers keep it (`_schemas` and Connect's topics
compacted, the ksqlDB command topic and query-internal topics named as ksqlDB names
them), that a projection and an aggregation run on the cluster, and that a restart of
creek on the same cluster brings every schema and query back, resuming without loss
or duplicates. Missing jars or a missing JDK fail the run; they are never a skip.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict

import pyarrow.parquet as pq
import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from creekutil import (CreekServer, creek_bin, kafka,  # noqa: F401 (kafka: the fixture)
                       kafka_tool, latest_per_key, wait_until, window_counts)
from test_jdbc_source import seed_connector


def topic_configs(bootstrap, topic):
    return kafka_tool("kafka-configs", "--bootstrap-server", bootstrap, "--entity-type",
                      "topics", "--entity-name", topic, "--describe").stdout


def ksql(server, statement):
    url = f"http://127.0.0.1:{server.aux_ports['--ksql-port']}/ksql"
    r = requests.post(url, json={"ksql": statement,
                                 "streamsProperties": {"auto.offset.reset": "earliest"}},
                      timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def read_all(bootstrap, topic, expected, timeout=60.0):
    """Every record of partition 0 of `topic`, waiting until there are `expected`."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                key = m.key().decode() if m.key() else None
                out.append((key, json.loads(m.value())))
        # Anything beyond what is expected is a duplicate: look a little longer.
        end = time.monotonic() + 2
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                key = m.key().decode() if m.key() else None
                out.append((key, json.loads(m.value())))
    finally:
        c.close()
    return out


def produce(bootstrap, topic, rows):
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for row in rows:
        p.produce(topic, json.dumps(row).encode())
    assert p.flush(30) == 0


def test_registry_and_ksql_on_apache_kafka_survive_a_restart(kafka, tmp_path):
    server = CreekServer(tmp_path / "creek", extra_args=["--bootstrap-servers", kafka])
    server.start()
    try:
        assert f"kafka={kafka}" in server.ready_line
        # The registry keeps its schemas in the cluster's compacted _schemas.
        r = requests.post(f"{server.registry_url}/subjects/people-value/versions",
                          json={"schema": json.dumps({"type": "record", "name": "P", "fields": [
                              {"name": "name", "type": "string"}]})}, timeout=30)
        assert r.status_code == 200, r.text
        schema_id = r.json()["id"]
        assert "cleanup.policy=compact" in topic_configs(kafka, "_schemas")
        for topic in ("connect-configs", "connect-offsets", "connect-status"):
            assert "cleanup.policy=compact" in topic_configs(kafka, topic), topic

        produce(kafka, "people", [{"name": "ana", "age": 30}, {"name": "bo", "age": 10}])
        ksql(server, "CREATE STREAM people (name VARCHAR, age INT) "
                     "WITH (kafka_topic='people', value_format='JSON');")
        ksql(server, "CREATE STREAM adults AS SELECT name, age FROM people "
                     "WHERE age >= 18 EMIT CHANGES;")
        ksql(server, "CREATE TABLE per_name AS SELECT name, COUNT(*) AS n FROM people "
                     "GROUP BY name EMIT CHANGES;")
        assert [v for _, v in read_all(kafka, "ADULTS", 1)] == [{"NAME": "ana", "AGE": 30}]
        assert read_all(kafka, "PER_NAME", 2) == [("ana", {"N": 1}), ("bo", {"N": 1})]
        topics = Consumer({"bootstrap.servers": kafka, "group.id": "list"}).list_topics(
            timeout=30).topics
        for name in ("_confluent-ksql-default__command_topic",
                     "_confluent-ksql-default_query_CTAS_PER_NAME_1-Aggregate-GroupBy-repartition",
                     "_confluent-ksql-default_query_CTAS_PER_NAME_1-Aggregate-Aggregate-"
                     "Materialize-changelog"):
            assert name in topics, sorted(topics)

        # Stopped, the cluster takes more records; restarted, creek resumes.
        assert server.stop() == 0
        produce(kafka, "people", [{"name": "ana", "age": 40}, {"name": "cy", "age": 50}])
        server.start()
        assert [v for _, v in read_all(kafka, "ADULTS", 3)] == [
            {"NAME": "ana", "AGE": 30}, {"NAME": "ana", "AGE": 40}, {"NAME": "cy", "AGE": 50}]
        assert read_all(kafka, "PER_NAME", 4) == [
            ("ana", {"N": 1}), ("bo", {"N": 1}), ("ana", {"N": 2}), ("cy", {"N": 1})]
        # The schema is still there, under the same id.
        r = requests.get(f"{server.registry_url}/subjects/people-value/versions/1", timeout=30)
        assert r.status_code == 200 and r.json()["id"] == schema_id, r.text
    finally:
        server.dispose()


def ksql_with(server, statement, properties):
    url = f"http://127.0.0.1:{server.aux_ports['--ksql-port']}/ksql"
    return requests.post(url, json={"ksql": statement, "streamsProperties": properties},
                         timeout=60)


def test_exactly_once_queries_on_apache_kafka_survive_kill_9(kafka, tmp_path):
    """processing.guarantee=exactly_once_v2: a CSAS and a GROUP BY count commit each
    step's output, changelog and offsets as one Kafka transaction. creek is killed
    with SIGKILL while they work through 20,000 events, then started again: a
    read_committed consumer sees every output exactly once and the right counts."""
    events = [{"user": f"u{i % 7}", "n": i} for i in range(20_000)]
    produce(kafka, "clicks", events)
    server = CreekServer(tmp_path / "creek", extra_args=["--bootstrap-servers", kafka])
    server.start()
    try:
        eos = {"auto.offset.reset": "earliest", "processing.guarantee": "exactly_once_v2"}
        for statement in [
                "CREATE STREAM clicks (user VARCHAR, n INT) "
                "WITH (kafka_topic='clicks', value_format='JSON');",
                "CREATE STREAM clicks_copy AS SELECT user, n FROM clicks EMIT CHANGES;",
                "CREATE TABLE clicks_per_user AS SELECT user, COUNT(*) AS c FROM clicks "
                "GROUP BY user EMIT CHANGES;"]:
            r = ksql_with(server, statement, eos)
            assert r.status_code == 200, r.text
        # Kill while the queries are part-way through.
        wait_until(lambda: 0 < end_offset(kafka, "CLICKS_COPY"), 60, interval=0.05,
                   what="the first outputs")
        server.kill()
        server.start()
        copies = read_all(kafka, "CLICKS_COPY", len(events), timeout=120)
        assert sorted(v["N"] for _, v in copies) == list(range(len(events)))
        wait_until(lambda: final_counts(kafka) == {f"u{i}": len(range(i, 20_000, 7))
                                                    for i in range(7)},
                   60, interval=0.5, what="the counts of every user")
    finally:
        server.dispose()


def end_offset(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets",
                  "isolation.level": "read_committed"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    finally:
        c.close()


def final_counts(bootstrap):
    """The newest count per user in CLICKS_PER_USER (read_committed)."""
    return latest_per_key(bootstrap, "CLICKS_PER_USER",
                          lambda key, value: (key.decode(), json.loads(value)["C"]))


def test_exactly_once_needs_transactions(tmp_path):
    """creek's own broker has no transactions yet: the statement says so."""
    server = CreekServer(tmp_path / "creek")
    server.start()
    try:
        r = ksql_with(server, "CREATE STREAM s (a INT) WITH (kafka_topic='s', "
                              "value_format='JSON', partitions=1);", {})
        assert r.status_code == 200, r.text
        r = ksql_with(server, "CREATE STREAM t AS SELECT a FROM s EMIT CHANGES;",
                      {"processing.guarantee": "exactly_once_v2"})
        assert r.status_code == 400, r.text
        assert "transactions are not supported yet" in r.json()["message"], r.text
        r = ksql_with(server, "CREATE STREAM t AS SELECT a FROM s EMIT CHANGES;",
                      {"processing.guarantee": "twice"})
        assert r.status_code == 400 and "unknown value 'twice'" in r.json()["message"], r.text
    finally:
        server.dispose()


def lake_rows(lake, topic):
    """Rows and distinct rows of the Parquet files the lake sink wrote for `topic`."""
    files = sorted(lake.glob(f"datalake/topics/{topic}/*/*.parquet"))
    tables = [pq.read_table(f) for f in files]
    distinct = set()
    for t in tables:
        distinct.update(zip(*(t.column(c).to_pylist() for c in t.column_names)))
    return sum(t.num_rows for t in tables), len(distinct)


def test_the_seed_pipeline_on_apache_kafka_survives_kill_9(kafka, postgres, tmp_path):
    """The seed end to end with creek on Apache Kafka, exactly once: the generator
    fills PostgreSQL, the seed's JDBC source copies rows into psg-customers as Avro
    (records and offsets in one transaction: exactly.once.source.support=enabled),
    a stream, a CSAS and a windowed CTAS run on it (exactly_once_v2), and the lake
    sink writes Parquet. creek is killed with SIGKILL mid-way while the generator
    goes on, then started again: every row of the table reaches the lake once,
    through both the source topic and the CSAS, and the window counts add up to
    the table. The internal topics carry the names configured as a ksqlDB server
    and a Connect worker would be configured."""
    gen = [str(creek_bin()), "fake", "-cs", postgres.connection_string, "--silent"]
    subprocess.run(gen + ["-n", "100", "--interval", "0", "--total", "200"], check=True,
                   capture_output=True, timeout=120)
    names = ["--ksql-property", "ksql.service.id=seed_",
             "--connect-property", "config.storage.topic=seed-configs",
             "--connect-property", "offset.storage.topic=seed-offsets",
             "--connect-property", "status.storage.topic=seed-status",
             "--connect-property", "exactly.once.source.support=enabled"]
    server = CreekServer(tmp_path / "creek", extra_args=["--bootstrap-servers", kafka] + names)
    server.start()
    lake = tmp_path / "lake"
    try:
        connector = seed_connector(postgres.jdbc_url)
        r = requests.post(f"{server.connect_url}/connectors", json=connector, timeout=30)
        assert r.status_code == 201, r.text
        statements = [
            "CREATE STREAM custstream WITH (kafka_topic='psg-customers', value_format='AVRO');",
            "CREATE STREAM custgender AS SELECT nome, email, CASE WHEN sexo = 'F' THEN "
            "'feminino' ELSE 'masculino' END AS genero FROM custstream EMIT CHANGES;",
            "CREATE TABLE per_sex AS SELECT sexo, COUNT(*) AS n FROM custstream "
            "WINDOW TUMBLING (SIZE 1 HOUR) GROUP BY sexo EMIT CHANGES;",
        ]
        wait_until(lambda: requests.get(
            f"{server.registry_url}/subjects/psg-customers-value/versions/latest",
            timeout=10).status_code == 200, 60, interval=0.2,
            what="the source's schema in the registry")
        eos = {"auto.offset.reset": "earliest", "processing.guarantee": "exactly_once_v2"}
        for statement in statements:
            r = ksql_with(server, statement, eos)
            assert r.status_code == 200, r.text
        r = requests.post(f"{server.connect_url}/connectors", timeout=30, json={
            "name": "lake", "config": {
                "connector.class": "io.confluent.connect.s3.S3SinkConnector",
                "topics": "psg-customers,CUSTGENDER", "flush.size": 100,
                "rotate.schedule.interval.ms": 1000,
                "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
                "s3.bucket.name": "datalake", "store.url": f"file://{lake}"}})
        assert r.status_code == 201, r.text
        # The generator goes on while creek stops and starts again.
        generator = subprocess.Popen(gen + ["-n", "20", "--interval", "0.05", "--total", "600"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: lake_rows(lake, "CUSTGENDER")[0] >= 300, 90, interval=0.5,
                   what="the first rows in the lake")
        server.kill()
        time.sleep(1)
        server.start()
        assert generator.wait(120) == 0, generator.stderr.read()

        with postgres.connect() as conn:
            table = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        assert table == 800

        def complete():
            return lake_rows(lake, "psg-customers")[0] >= table \
                and lake_rows(lake, "CUSTGENDER")[0] >= table
        wait_until(complete, 120, interval=0.5, what="every row of the table in the lake")
        time.sleep(2)  # a duplicate would show up now
        with postgres.connect() as conn:
            distinct = conn.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM customers) "
                                    "AS d").fetchone()[0]
        assert lake_rows(lake, "psg-customers") == (table, distinct)
        assert lake_rows(lake, "CUSTGENDER")[0] == table
        wait_until(lambda: sum(window_counts(kafka, server.registry_url, "PER_SEX").values())
                   == table, 60, what="the window counts to add up to the table")
        topics = Consumer({"bootstrap.servers": kafka, "group.id": "list"}).list_topics(
            timeout=30).topics
        for name in ("seed-configs", "seed-offsets", "seed-status", "seed_ksql_processing_log",
                     "_confluent-ksql-seed__command_topic",
                     "_confluent-ksql-seed_query_CTAS_PER_SEX_1-Aggregate-GroupBy-repartition"):
            assert name in topics, sorted(topics)
    finally:
        server.dispose()


def test_an_unreachable_cluster_fails_naming_it(tmp_path):
    server = CreekServer(tmp_path / "creek", extra_args=[
        "--bootstrap-servers", "127.0.0.1:1", "--cluster-timeout-ms", "3000"])
    argv = server.argv()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "127.0.0.1:1" in done.stderr and "bootstrap.servers" in done.stderr, done.stderr


def test_a_replication_factor_above_the_brokers_fails_naming_the_setting(kafka, tmp_path):
    # A topic creek must create (the others may exist from earlier tests).
    server = CreekServer(tmp_path / "creek", extra_args=[
        "--bootstrap-servers", kafka, "--replication-factor", "3",
        "--connect-property", "config.storage.topic=rf3-configs"])
    done = subprocess.run(server.argv(), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "replication factor 3 needs 3 brokers" in done.stderr, done.stderr
    assert "has 1" in done.stderr and "--replication-factor" in done.stderr, done.stderr
    assert done.stderr.count("needs 3 brokers") == 1, done.stderr


def test_a_source_topic_deleted_under_a_query_puts_it_in_error(kafka, tmp_path):
    """librdkafka notices a deleted topic only at its next metadata refresh; creek's
    idle queries look at least every 30 s, so the query goes to ERROR naming the
    topic instead of waiting silently."""
    kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--create", "--topic", "doomed",
               "--partitions", "1", "--replication-factor", "1")
    server = CreekServer(tmp_path / "creek", extra_args=["--bootstrap-servers", kafka])
    server.start()
    try:
        ksql(server, "CREATE STREAM doomed (a INT) WITH (kafka_topic='doomed', "
                     "value_format='JSON');")
        ksql(server, "CREATE STREAM doomed_copy AS SELECT a FROM doomed EMIT CHANGES;")
        kafka_tool("kafka-topics", "--bootstrap-server", kafka, "--delete", "--topic", "doomed")

        # The query id's number depends on the statements the shared cluster's
        # command topic already holds.
        query = next(q["id"] for q in ksql(server, "SHOW QUERIES;")[0]["queries"]
                     if q["id"].startswith("CSAS_DOOMED_COPY_"))

        def state():
            queries = ksql(server, "SHOW QUERIES;")[0]["queries"]
            return {q["id"]: q["state"] for q in queries}.get(query)
        wait_until(lambda: state() == "ERROR", 60, interval=1,
                   what="the query over the deleted topic to be in ERROR")
        explained = ksql(server, f"EXPLAIN {query};")[0]["queryDescription"]
        assert "doomed" in json.dumps(explained["queryErrors"]), explained
    finally:
        server.dispose()
