"""The completed tutorial's end against `creek up`: its ksql streams and windowed
table over the JDBC source, and its two S3 sinks posted verbatim (only bucket and
region adapted, plus creek's `store.url` for a local folder). The lake must hold
exactly the young customers (Parquet) and the final count per (window, idadecat)
(JSON with `.keys.json` files). Plus what Connect users meet in their first hour:
unknown keys and typos, invalid values, paths that would leave the store, and
failures (wrong password, database down, missing table, unreachable store) that
must show FAILED with the cause at once and retry on restart."""

from __future__ import annotations

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

from creekutil import consume_all_confluent
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


def decode_windowed_key(raw: bytes) -> tuple[str, int]:
    """A KAFKA-format windowed key: the string, then the window start as 8 big-endian
    bytes."""
    return raw[:-8].decode(), struct.unpack(">q", raw[-8:])[0]


def as_string_converter_json(raw: bytes) -> str:
    """A key as Confluent's sink writes it with the worker's StringConverter into a
    JsonFormat file: Java decodes the bytes as UTF-8 (invalid ones replaced), Jackson
    writes the string."""
    return json.dumps(raw.decode("utf-8", errors="replace"), ensure_ascii=False)


def test_the_tutorial_sinks_deliver_the_young_and_the_counts(creek_factory, postgres, tmp_path):
    # A plain `creek up`: its Connect worker reads keys with the StringConverter, as
    # cp-all-in-one's worker (the tutorial's) does; the sink configs name no converter.
    creek = creek_factory()
    fake(postgres, 300, n=300)
    r = requests.post(f"{creek.connect_url}/connectors", json=seed_connector(postgres.jdbc_url))
    assert r.status_code == 201, r.text
    wait_for("psg-customers", lambda: end_offset(creek, "psg-customers") >= 300)
    for statement in STATEMENTS:
        ksql(creek, statement)

    lake = tmp_path / "lake"
    for body in tutorial_sinks(f"file://{lake}"):
        v = requests.put(f"{creek.connect_url}/connector-plugins/S3SinkConnector/config/validate",
                         json=dict(body["config"], name=body["name"])).json()
        assert v["error_count"] == 0, v
        ssea = next(c["value"] for c in v["configs"] if c["definition"]["name"] == "s3.ssea.name")
        assert ssea["errors"] == [] and "no effect" in ssea["warnings"][0], ssea
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

    def lake_rows():
        """(key line, value line) in offset order: files named by start offset."""
        rows = []
        files = [v for v in (root / "idadecont").rglob("*.json")
                 if not v.name.endswith(".keys.json")]
        for values in sorted(files, key=lambda f: int(f.name.split("+")[-1].split(".")[0])):
            keys = values.with_name(values.name[:-len(".json")] + ".keys.json")
            if not keys.exists():
                return None
            rows += zip(keys.read_text().splitlines(), values.read_text().splitlines(),
                        strict=True)
        return rows

    def complete():
        end = end_offset(creek, "idadecont")
        rows = lake_rows()
        return rows if rows is not None and len(rows) == end else None
    rows = wait_for("every idadecont record in the lake", complete)
    records = consume_all_confluent(creek.bootstrap, "idadecont", 1)
    assert len(records) == len(rows)
    # Keys as Confluent's StringConverter + JsonFormat write them, row-aligned.
    assert [k for k, _v in rows] == [as_string_converter_json(r[2]) for r in records]
    # Each window's last count, summed over the windows, is PostgreSQL's count.
    last: dict[tuple[str, int], int] = {}
    for (_k, v), record in zip(rows, records):
        last[decode_windowed_key(record[2])] = json.loads(v)["CONTAGEM"]
    out = Counter()
    for (cat, _window), n in last.items():
        out[cat] += n
    assert out == Counter(per_class), (out, per_class)
    end = end_offset(creek, "idadecont")

    def committed():
        offsets = requests.get(f"{creek.connect_url}/connectors/s3-contagem-sink/offsets").json()
        return [o["offset"]["kafka_offset"] for o in offsets["offsets"]] == [end]
    wait_for("the sink's offset at the end of idadecont", committed, timeout=20)


# ------------------------------------------------------------ configs as Connect has them

def sink_config(tmp_path, **extra) -> dict:
    cfg = {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": "t",
           "format.class": "JsonFormat", "flush.size": 10, "s3.bucket.name": BUCKET,
           "store.url": f"file://{tmp_path / 'lake'}"}
    cfg.update(extra)
    return cfg


def validate(server, cfg: dict) -> dict:
    r = requests.put(f"{server.connect_url}/connector-plugins/S3SinkConnector/config/validate",
                     json=dict(cfg, name="v"))
    assert r.status_code == 200, r.text
    return r.json()


def entry(v: dict, key: str) -> dict:
    return next(c["value"] for c in v["configs"] if c["definition"]["name"] == key)


def test_unknown_keys_are_accepted_with_a_warning_and_a_suggestion(creek_shared, tmp_path):
    cfg = sink_config(tmp_path, **{"flush.sise": 5, "my.own.note": "x", "s3.part.size": 5242880,
                                   "s3.proxy.password": "proxy-secret"})
    v = validate(creek_shared, cfg)
    assert v["error_count"] == 0, v
    typo = entry(v, "flush.sise")
    assert typo["errors"] == [] and "did you mean flush.size?" in typo["warnings"][0]
    assert "accepted and ignored" in entry(v, "my.own.note")["warnings"][0]
    assert "accepted but not implemented yet" in entry(v, "s3.proxy.password")["warnings"][0]
    assert entry(v, "s3.proxy.password")["value"] == "[hidden]"
    assert "proxy-secret" not in json.dumps(v)
    assert entry(v, "flush.size")["warnings"] == []

    r = requests.post(f"{creek_shared.connect_url}/connectors", json={"name": "typo", "config": cfg})
    assert r.status_code == 201, r.text
    assert r.json()["config"]["s3.proxy.password"] == "[hidden]"
    log = (creek_shared.data_dir / "logs" / "connect.log").read_text()
    assert "did you mean flush.size?" in log
    assert "proxy-secret" not in log
    assert requests.delete(f"{creek_shared.connect_url}/connectors/typo").status_code == 204


@pytest.mark.parametrize("change,key", [
    ({"flush.size": "ten"}, "flush.size"),
    ({"s3.object.tagging": "sometimes"}, "s3.object.tagging"),
    ({"s3.ssea.name": "ROT13"}, "s3.ssea.name"),
    ({"errors.tolerance": "most"}, "errors.tolerance"),
    ({"transforms": "mask"}, "transforms"),
    ({"errors.deadletterqueue.topic.name": "dlq"}, "errors.deadletterqueue.topic.name"),
    ({"topics.dir": "../x"}, "topics.dir"),
    ({"topics.dir": "/etc"}, "topics.dir"),
    ({"topics.dir": "raw/../../x"}, "topics.dir"),
    ({"directory.delim": "/../"}, "directory.delim"),
    ({"file.delim": "/../"}, "file.delim"),
    ({"partitioner.class": "TimeBasedPartitioner", "timezone": "UTC",
      "partition.duration.ms": 3600000, "path.format": "'..'/YYYY"}, "path.format"),
    ({"s3.bucket.name": ".."}, "s3.bucket.name"),
])
def test_invalid_values_and_escaping_paths_are_a_400_naming_the_key(creek_shared, tmp_path,
                                                                     change, key):
    r = requests.post(f"{creek_shared.connect_url}/connectors",
                      json={"name": "bad", "config": sink_config(tmp_path, **change)})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == 400 and key in r.json()["message"], r.text
    assert requests.get(f"{creek_shared.connect_url}/connectors").json() == []
    v = validate(creek_shared, sink_config(tmp_path, **change))
    assert v["error_count"] >= 1 and entry(v, key)["errors"], v
    assert not (tmp_path / "x").exists() and not (tmp_path / "lake" / "x").exists()


# ------------------------------------------------------------ failures say why, at once

def status(server, name: str) -> dict:
    return requests.get(f"{server.connect_url}/connectors/{name}/status").json()


def failed_within(server, name: str, seconds: float) -> dict:
    start = time.time()
    st = wait_for(f"{name} FAILED", lambda: (s := status(server, name))["tasks"]
                  and s["tasks"][0]["state"] == "FAILED" and s, timeout=seconds)
    assert time.time() - start < seconds
    return st


def running(server, name: str, timeout: float = 20.0) -> dict:
    return wait_for(f"{name} RUNNING", lambda: (s := status(server, name))["tasks"]
                    and all(t["state"] == "RUNNING" for t in s["tasks"]) and s, timeout=timeout)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_wrong_password_is_failed_at_once_and_a_restart_retries(creek_shared):
    from pgutil import TempPostgres
    with TempPostgres(password="right-one") as pg:
        fake(pg, 5, n=5)
        body = seed_connector(pg.jdbc_url)
        body["name"] = "wrong-password"
        # Confluent's defaults: 3 attempts 10 s apart. The first failure must show.
        body["config"].update({"connection.password": "wrong-one", "connection.attempts": 3,
                               "connection.backoff.ms": 10000})
        r = requests.post(f"{creek_shared.connect_url}/connectors", json=body)
        assert r.status_code == 201, r.text
        st = failed_within(creek_shared, "wrong-password", 5)
        trace = st["tasks"][0]["trace"]
        assert "password authentication failed" in trace and "attempt 1 of 3" in trace, trace
        assert "wrong-one" not in json.dumps(st)

        # A restart with includeTasks answers 202 with the status and tries again now.
        r = requests.post(f"{creek_shared.connect_url}/connectors/wrong-password/restart"
                          "?includeTasks=true&onlyFailed=true")
        assert r.status_code == 202, r.text
        assert r.json()["tasks"][0]["state"] in ("RESTARTING", "FAILED")
        failed_within(creek_shared, "wrong-password", 5)
        # Fixing the password in the database, then restarting the task, runs it.
        with pg.connect(autocommit=True) as conn:
            conn.execute("ALTER USER postgres PASSWORD 'wrong-one'")
        r = requests.post(f"{creek_shared.connect_url}/connectors/wrong-password/tasks/0/restart")
        assert r.status_code == 204, r.text
        running(creek_shared, "wrong-password")
        log = (creek_shared.data_dir / "logs" / "connect.log").read_text()
        assert "wrong-one" not in log and "right-one" not in log
        requests.delete(f"{creek_shared.connect_url}/connectors/wrong-password")


def test_unreachable_database_is_failed_at_once(creek_shared):
    # A password inside the URL is a password too.
    body = seed_connector(
        f"jdbc:postgresql://127.0.0.1:{closed_port()}/postgres?password=url-secret")
    body["name"] = "no-database"
    r = requests.post(f"{creek_shared.connect_url}/connectors", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["config"]["connection.url"].endswith("?password=[hidden]"), r.text
    st = failed_within(creek_shared, "no-database", 5)
    assert "could not connect" in st["tasks"][0]["trace"], st
    shown = json.dumps(st) + json.dumps(requests.get(
        f"{creek_shared.connect_url}/connectors/no-database/tasks").json())
    assert "url-secret" not in shown + (creek_shared.data_dir / "logs" / "connect.log").read_text()
    assert st["connector"]["state"] == "RUNNING"
    assert requests.post(
        f"{creek_shared.connect_url}/connectors/no-database/restart").status_code == 204
    failed_within(creek_shared, "no-database", 5)
    requests.delete(f"{creek_shared.connect_url}/connectors/no-database")


def test_missing_table_is_failed_and_a_restart_after_creating_it_runs(creek_shared, postgres):
    fake(postgres, 5, n=5)
    body = seed_connector(postgres.jdbc_url)
    body["name"] = "missing-table"
    body["config"].update({"connection.backoff.ms": 60000, "topic.prefix": "missing-"})
    r = requests.post(f"{creek_shared.connect_url}/connectors", json=body)
    assert r.status_code == 201, r.text
    running(creek_shared, "missing-table")
    with postgres.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE customers RENAME TO customers_away")
    # The running task hits the missing table on its next poll; a restart looks again.
    requests.post(f"{creek_shared.connect_url}/connectors/missing-table/restart")
    st = failed_within(creek_shared, "missing-table", 5)
    assert "public.customers" in st["tasks"][0]["trace"], st
    with postgres.connect(autocommit=True) as conn:
        conn.execute("ALTER TABLE customers_away RENAME TO customers")
    r = requests.post(f"{creek_shared.connect_url}/connectors/missing-table/restart?includeTasks=true")
    assert r.status_code == 202, r.text
    running(creek_shared, "missing-table")
    requests.delete(f"{creek_shared.connect_url}/connectors/missing-table")


def test_unreachable_store_is_failed_at_once(creek_shared):
    body = {"name": "no-store", "config": {
        "connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": "t",
        "format.class": "JsonFormat", "flush.size": 10, "s3.bucket.name": BUCKET,
        "store.url": f"http://127.0.0.1:{closed_port()}", "aws.access.key.id": "id",
        "aws.secret.access.key": "store-secret", "retry.backoff.ms": 60000}}
    r = requests.post(f"{creek_shared.connect_url}/connectors", json=body)
    assert r.status_code == 201, r.text
    st = failed_within(creek_shared, "no-store", 8)
    assert "not reachable" in st["tasks"][0]["trace"], st
    assert "store-secret" not in json.dumps(st)
    assert requests.post(
        f"{creek_shared.connect_url}/connectors/no-store/tasks/0/restart").status_code == 204
    failed_within(creek_shared, "no-store", 8)
    r = requests.post(f"{creek_shared.connect_url}/connectors/no-store/restart"
                      "?includeTasks=true&onlyFailed=true")
    assert r.status_code == 202 and r.json()["tasks"][0]["state"] in ("RESTARTING", "FAILED"), r.text
    failed_within(creek_shared, "no-store", 8)
    requests.delete(f"{creek_shared.connect_url}/connectors/no-store")
