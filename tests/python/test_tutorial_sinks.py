"""The completed tutorial's end against `creek up`: its ksql streams and windowed
table over the JDBC source, and its two S3 sinks posted verbatim (only bucket and
region adapted, plus creek's `store.url` for a local folder). The lake must hold
exactly the young customers (Parquet) and the final count per (window, idadecat)
(JSON with `.keys.json` files). Plus what Connect users meet in their first hour:
unknown keys and typos, invalid values, paths that would leave the store, and
failures (wrong password, database down, missing table, unreachable store) that
must show FAILED with the cause at once and retry on restart."""

from __future__ import annotations

import base64
import json
import socket
import struct
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
from confluent_kafka import Consumer, TopicPartition

from test_jdbc_source import fake, seed_connector

BUCKET = "datalake"
REGION = "us-east-1"

STATEMENTS = [
    "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');",
    "create stream jovens WITH (kafka_topic='jovens', value_format='AVRO') AS select nome, telefone, email, profissao, DATETOSTRING(nascimento, 'yyyy-MM-dd') as dt_nascimento, TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt from custstream WHERE DATETOSTRING(nascimento, 'yyyy-MM-dd') >= '2000-01-01' emit changes;",
    "create stream idadeclass WITH (kafka_topic='idadeclass', value_format='AVRO') AS select nome, telefone, email, profissao, CASE WHEN DATETOSTRING(nascimento, 'yyyy-MM-dd') >= '2000-01-01' THEN 'JOVEM' ELSE 'ADULTO' END AS idadecat, TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt from custstream emit changes;",
    "create table idadecont WITH (kafka_topic='idadecont', value_format='AVRO') AS select idadecat, count(idadecat) as contagem from idadeclass window tumbling (size 30 seconds) group by idadecat emit changes;",
]


def tutorial_sinks(store_url: str) -> list[dict]:
    """The tutorial's two sink configs, verbatim but for bucket, region and store.url."""
    jovens = {"name": "s3-jovens-sink", "config": {
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
        "flush.size": 10, "schema.compatibility": "FULL", "s3.bucket.name": BUCKET,
        "s3.region": REGION, "s3.object.tagging": True, "s3.ssea.name": "AES256",
        "topics.dir": "raw-data/kafka", "storage.class": "io.confluent.connect.s3.storage.S3Storage",
        "tasks.max": 1, "topics": "jovens"}}
    contagem = {"name": "s3-contagem-sink", "config": {
        "connector.class": "io.confluent.connect.s3.S3SinkConnector",
        "format.class": "io.confluent.connect.s3.format.json.JsonFormat",
        "keys.format.class": "io.confluent.connect.s3.format.json.JsonFormat",
        "schema.generator.class": "io.confluent.connect.storage.hive.schema.DefaultSchemaGenerator",
        "flush.size": 10, "schema.compatibility": "NONE", "s3.bucket.name": BUCKET,
        "s3.region": REGION, "s3.object.tagging": True, "s3.ssea.name": "AES256",
        "topics.dir": "raw-data/kafka", "storage.class": "io.confluent.connect.s3.storage.S3Storage",
        "tasks.max": 1, "topics": "idadecont", "store.kafka.keys": True}}
    for body in (jovens, contagem):
        body["config"]["store.url"] = store_url
    return [jovens, contagem]


def ksql(server, statement: str) -> list:
    url = f"http://127.0.0.1:{server.aux_ports['--ksql-port']}"
    r = requests.post(f"{url}/ksql", json={
        "ksql": statement,
        "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest",
                              "auto.offset.reset": "earliest"}}, timeout=60)
    assert r.status_code == 200, (statement, r.text)
    return r.json()


def end_offset(server, topic: str) -> int:
    c = Consumer({"bootstrap.servers": server.bootstrap, "group.id": "offsets"})
    try:
        meta = c.list_topics(topic, timeout=10).topics[topic]
        if meta.error is not None:
            return 0
        assert len(meta.partitions) == 1, f"{topic} has {len(meta.partitions)} partitions"
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def wait_for(what: str, fn, timeout: float = 60.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def insert_customer(postgres, young: bool, i: int) -> None:
    born = "2003-05-0%d" % (1 + i % 9) if young else "1970-05-0%d" % (1 + i % 9)
    with postgres.connect(autocommit=True) as conn:
        conn.execute(
            "INSERT INTO customers (nome, sexo, endereco, telefone, email, foto, nascimento,"
            " profissao, dt_update) VALUES (%s, 'F', 'Rua A', %s, %s, '', %s, 'Dev', localtimestamp)",
            (f"Topup {young} {i}", f"+55 11 9000-{i:04d}", f"topup{young}{i}@example.com", born))


def top_up(server, postgres, topic: str, young: bool) -> None:
    """Adds rows one at a time until `topic` holds a multiple of flush.size (10)
    records, so that the sink commits them all (the tutorial's configs have no
    rotate interval)."""
    i = 0
    settled = wait_for(f"{topic} to settle", lambda: _settled(server, topic))
    while settled % 10 != 0:
        insert_customer(postgres, young, i)
        i += 1
        before = settled
        wait_for(f"{topic} to grow", lambda: end_offset(server, topic) > before)
        settled = wait_for(f"{topic} to settle", lambda: _settled(server, topic))


def _settled(server, topic: str) -> int | None:
    a = end_offset(server, topic)
    time.sleep(1.5)
    b = end_offset(server, topic)
    return b if a == b and b > 0 else None


def decode_windowed_key(line: str) -> tuple[str, int]:
    """A KAFKA-format windowed key (the string, then the window start as 8 big-endian
    bytes), as the sink writes raw bytes into JSON: base64."""
    raw = base64.b64decode(json.loads(line))
    return raw[:-8].decode(), struct.unpack(">q", raw[-8:])[0]


def test_the_tutorial_sinks_deliver_the_young_and_the_counts(creek_factory, postgres, tmp_path):
    # cp-all-in-one's Connect worker reads keys with the StringConverter: that is
    # the worker the tutorial's count sink ran on (its config names no converter).
    creek = creek_factory(extra_args=[
        "--connect-property", "key.converter=org.apache.kafka.connect.storage.StringConverter"])
    fake(postgres, 300, n=300)
    r = requests.post(f"{creek.connect_url}/connectors", json=seed_connector(postgres.jdbc_url))
    assert r.status_code == 201, r.text
    wait_for("psg-customers", lambda: end_offset(creek, "psg-customers") >= 300)
    for statement in STATEMENTS:
        ksql(creek, statement)

    lake = tmp_path / "lake"
    for body in tutorial_sinks(f"file://{lake}"):
        r = requests.post(f"{creek.connect_url}/connectors", json=body)
        assert r.status_code == 201, r.text
    # Known keys creek does not act on are named in connect.log, not refused.
    log = (creek.data_dir / "logs" / "connect.log").read_text()
    for k in ("s3.object.tagging", "s3.ssea.name", "schema.generator.class"):
        assert k in log and "accepted but not implemented yet" in log, k

    top_up(creek, postgres, "jovens", young=True)
    top_up(creek, postgres, "idadecont", young=False)

    with postgres.connect() as conn:
        young = Counter(conn.execute(
            "SELECT nome, telefone, email, profissao, to_char(nascimento, 'YYYY-MM-DD') "
            "FROM customers WHERE nascimento >= '2000-01-01'").fetchall())
        per_class = dict(conn.execute(
            "SELECT CASE WHEN nascimento >= '2000-01-01' THEN 'JOVEM' ELSE 'ADULTO' END, count(*) "
            "FROM customers GROUP BY 1").fetchall())
    assert sum(young.values()) > 0 and set(per_class) == {"JOVEM", "ADULTO"}

    root = lake / BUCKET / "raw-data" / "kafka"

    def jovens_rows():
        rows = Counter()
        for p in sorted((root / "jovens").rglob("*.parquet")):
            for r in pq.read_table(p).to_pylist():
                rows[(r["NOME"], r["TELEFONE"], r["EMAIL"], r["PROFISSAO"], r["DT_NASCIMENTO"])] += 1
        return rows
    wait_for("the young customers in the lake",
             lambda: sum(jovens_rows().values()) >= sum(young.values()))
    assert jovens_rows() == young

    def last_counts():
        last: dict[tuple[str, int], int] = {}
        for values in sorted((root / "idadecont").rglob("*.json")):
            if values.name.endswith(".keys.json"):
                continue
            keys = values.with_name(values.name[:-len(".json")] + ".keys.json")
            if not keys.exists():
                return None
            for k, v in zip(keys.read_text().splitlines(), values.read_text().splitlines(),
                            strict=True):
                last[decode_windowed_key(k)] = json.loads(v)["CONTAGEM"]
        return last

    def totals():
        last = last_counts() or {}
        out = Counter()
        for (cat, _window), n in last.items():
            out[cat] += n
        return out if out == Counter(per_class) else None
    # Each window's last count, summed over the windows, is PostgreSQL's count.
    wait_for("the final counts in the lake", totals)
    end = end_offset(creek, "idadecont")

    def committed():
        offsets = requests.get(f"{creek.connect_url}/connectors/s3-contagem-sink/offsets").json()
        return [o["offset"]["kafka_offset"] for o in offsets["offsets"]] == [end]
    wait_for("the sink's offset at the end of idadecont", committed, timeout=20)
