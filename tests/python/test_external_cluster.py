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

import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition

from creekutil import KAFKA_SH, CreekServer, kafka_tool



@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    """One Apache Kafka node for the module; its bootstrap servers."""
    work = tmp_path_factory.mktemp("kafka")
    started = subprocess.run([str(KAFKA_SH), "start", str(work / "cluster")],
                             capture_output=True, text=True, timeout=300)
    if started.returncode != 0:
        pytest.fail(f"scripts/kafka.sh start failed (exit {started.returncode}); Apache Kafka "
                    f"is required (scripts/install-deps.sh fetches it):\n{started.stdout}\n"
                    f"{started.stderr}", pytrace=False)
    try:
        yield started.stdout.split()[-1]
    finally:
        subprocess.run([str(KAFKA_SH), "stop", str(work / "cluster")], timeout=60)


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


def test_an_unreachable_cluster_fails_naming_it(tmp_path):
    server = CreekServer(tmp_path / "creek", extra_args=[
        "--bootstrap-servers", "127.0.0.1:1", "--cluster-timeout-ms", "3000"])
    argv = server.argv()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "127.0.0.1:1" in done.stderr and "bootstrap.servers" in done.stderr, done.stderr
