"""The lake sink (Confluent's S3SinkConnector) against `creek up`, checked with real
readers: pyarrow and DuckDB for Parquet, fastavro for Avro, plain gzip/JSON, and an
S3-compatible server on loopback (moto) through object_store's AWS client."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
from confluent_kafka import Producer

from creekutil import creek_bin

TOPIC = "psg-customers"


def fake(postgres, total: int, n: int = 500):
    subprocess.run([str(creek_bin()), "fake", "-cs", postgres.connection_string, "-n", str(n),
                    "--interval", "0", "--total", str(total), "--silent"],
                   check=True, capture_output=True, timeout=120)


def jdbc_source(server, postgres):
    cfg = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector", "tasks.max": 1,
        "connection.url": postgres.jdbc_url, "connection.user": "postgres",
        "mode": "timestamp", "timestamp.column.name": "dt_update",
        "table.whitelist": "public.customers", "topic.prefix": "psg-",
        "validate.non.null": "false", "poll.interval.ms": 200,
    }
    r = requests.post(f"{server.connect_url}/connectors", json={"name": "postg-connector", "config": cfg})
    assert r.status_code == 201, r.text


def sink(server, name: str, **config) -> requests.Response:
    base = {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "tasks.max": 1}
    base.update({k.replace("_", "."): v for k, v in config.items()})
    return requests.post(f"{server.connect_url}/connectors", json={"name": name, "config": base})


def files(root: Path, suffix: str) -> list[Path]:
    return sorted(p for p in root.rglob(f"*{suffix}") if p.is_file())


def wait_rows(count_fn, expect: int, timeout: float = 40.0) -> int:
    deadline = time.time() + timeout
    got = -1
    while time.time() < deadline:
        got = count_fn()
        if got >= expect:
            return got
        time.sleep(0.3)
    return got


def task_status(server, name: str, state: str = "FAILED", timeout: float = 15.0) -> dict:
    """The connector's status once its first task is in `state` (or at the timeout)."""
    deadline = time.time() + timeout
    while True:
        status = requests.get(f"{server.connect_url}/connectors/{name}/status").json()
        if (status["tasks"] and status["tasks"][0]["state"] == state) or time.time() > deadline:
            return status
        time.sleep(0.2)


def parquet_rows(root: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in files(root, ".parquet"))


def test_seed_rows_land_in_parquet_read_by_pyarrow_and_duckdb(creek, postgres, tmp_path):
    fake(postgres, 2000)
    jdbc_source(creek, postgres)
    lake = tmp_path / "lake"
    r = sink(creek, "lake-sink", topics=TOPIC,
             **{"format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
                "flush.size": 500, "s3.bucket.name": "datalake",
                "store.url": f"file://{lake}"})
    assert r.status_code == 201, r.text
    root = lake / "datalake" / "topics" / TOPIC / "partition=0"
    assert wait_rows(lambda: parquet_rows(lake), 2000) == 2000
    names = [p.name for p in files(root, ".parquet")]
    assert names[0] == "psg-customers+0+0000000000.snappy.parquet", names
    assert len(names) == 4  # flush.size 500

    table = pq.read_table(root)
    assert table.num_rows == 2000
    schema = table.schema
    assert schema.field("nascimento").type == pa.date32()
    assert schema.field("dt_update").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("nome").type == pa.string()
    assert schema.field("nome").nullable

    con = duckdb.connect()
    n, = con.execute(f"SELECT count(*) FROM read_parquet('{root}/*.parquet')").fetchone()
    assert n == 2000
    import psycopg
    with psycopg.connect(postgres.connection_string) as conn:
        expected = sorted(conn.execute("SELECT email, nascimento FROM customers").fetchall())
    got = sorted(con.execute(f"SELECT email, nascimento FROM read_parquet('{root}/*.parquet')").fetchall())
    assert got == expected

    offsets = requests.get(f"{creek.connect_url}/connectors/lake-sink/offsets").json()["offsets"]
    assert offsets == [{"partition": {"kafka_topic": TOPIC, "kafka_partition": 0},
                        "offset": {"kafka_offset": 2000}}]
    status = requests.get(f"{creek.connect_url}/connectors/lake-sink/status").json()
    assert status["type"] == "sink" and status["tasks"][0]["state"] == "RUNNING"


def produce_json(server, topic: str, start: int, count: int, partitions: int = 1):
    """Records spread evenly over `partitions`, so flush.size divides each one's share."""
    p = Producer({"bootstrap.servers": server.bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, json.dumps({"id": i, "city": ["Recife", "Natal"][i % 2],
                                     "at": 1618269963655 + i * 1000}).encode(),
                  partition=i % partitions)
    assert p.flush(30) == 0


def json_values(root: Path) -> list[dict]:
    out = []
    for f in files(root, ".json.gz"):
        out += [json.loads(l) for l in gzip.decompress(f.read_bytes()).decode().splitlines() if l]
    return out


def test_json_gzip_field_partitions_and_exactly_once_after_kill_9(creek, tmp_path):
    subprocess.run([str(creek_bin()), "topics", "--create", "--bootstrap-server", creek.bootstrap,
                    "--partitions", "2", "--replication-factor", "1", "--topic", "events"],
                   check=True, capture_output=True, timeout=30)
    produce_json(creek, "events", 0, 3000, partitions=2)
    lake = tmp_path / "lake"
    r = sink(creek, "events-lake", topics="events",
             **{"format.class": "JsonFormat", "flush.size": 100,
                "s3.compression.type": "gzip", "s3.bucket.name": "b",
                "store.url": f"file://{lake}",
                "partitioner.class": "io.confluent.connect.storage.partitioner.FieldPartitioner",
                "partition.field.name": "city",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    assert r.status_code == 201, r.text
    time.sleep(0.05)
    creek.kill()  # kill -9 in the middle of delivery
    produce_after = 2000
    creek.start()
    produce_json(creek, "events", 3000, produce_after, partitions=2)
    total = 3000 + produce_after
    assert wait_rows(lambda: len(json_values(lake)), total) >= total
    time.sleep(1.0)
    values = json_values(lake)
    ids = sorted(v["id"] for v in values)
    assert ids == list(range(total)), "lost or doubled records in the lake"
    cities = {p.name for p in (lake / "b" / "topics" / "events").iterdir()}
    assert cities == {"city=Recife", "city=Natal"}
    for f in files(lake, ".json.gz"):
        topic, partition, offset = f.name[: -len(".json.gz")].split("+")
        assert topic == "events" and partition in ("0", "1") and len(offset) == 10


def test_avro_files_and_time_based_partitions(creek, postgres, tmp_path):
    import fastavro
    fake(postgres, 300, n=300)
    jdbc_source(creek, postgres)
    lake = tmp_path / "lake"
    r = sink(creek, "avro-lake", topics=TOPIC,
             **{"format.class": "io.confluent.connect.s3.format.avro.AvroFormat",
                "avro.codec": "deflate", "flush.size": 1000, "rotate.schedule.interval.ms": 1000,
                "s3.bucket.name": "b", "store.url": f"file://{lake}",
                "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
                "path.format": "'year'=YYYY/'month'=MM/'day'=dd", "partition.duration.ms": 86400000,
                "timezone": "UTC", "locale": "en-US", "timestamp.extractor": "RecordField",
                "timestamp.field": "dt_update"})
    assert r.status_code == 201, r.text

    def avro_count():
        return sum(len(list(fastavro.reader(open(f, "rb")))) for f in files(lake, ".avro"))
    # 300 < flush.size: only the wall-clock schedule can flush this idle partition.
    assert wait_rows(avro_count, 300, timeout=20) == 300
    f = files(lake, ".avro")[0]
    today = time.strftime("year=%Y/month=%m/day=%d", time.gmtime())
    assert today in str(f), f
    with open(f, "rb") as fh:
        reader = fastavro.reader(fh)
        assert reader.codec == "deflate"
        assert reader.writer_schema["name"] == "customers"


def test_schemaless_json_becomes_parquet_with_an_inferred_schema(creek, tmp_path):
    produce_json(creek, "clicks", 0, 250)
    lake = tmp_path / "lake"
    r = sink(creek, "clicks-lake", topics="clicks",
             **{"format.class": "ParquetFormat", "flush.size": 250, "s3.bucket.name": "b",
                "store.url": f"file://{lake}",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    assert r.status_code == 201, r.text
    assert wait_rows(lambda: parquet_rows(lake), 250) == 250
    t = pq.read_table(files(lake, ".parquet")[0])
    assert t.schema.field("id").type == pa.int64()
    assert t.schema.field("city").type == pa.string()


def test_unconvertible_records_fail_the_task_or_are_skipped(creek, tmp_path):
    p = Producer({"bootstrap.servers": creek.bootstrap})
    p.produce("mixed", b'{"id": 1}')
    p.produce("mixed", b"not json at all")
    p.produce("mixed", b'{"id": 3}')
    assert p.flush(10) == 0
    common = {"format.class": "JsonFormat", "flush.size": 3, "s3.bucket.name": "b",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false", "retry.backoff.ms": 200}
    r = sink(creek, "strict", topics="mixed", **common, **{"store.url": f"file://{tmp_path}/strict"})
    assert r.status_code == 201, r.text
    status = task_status(creek, "strict")
    trace = status["tasks"][0].get("trace", "")
    assert "topic mixed partition 0 offset 1" in trace, status

    r = sink(creek, "tolerant", topics="mixed", **common,
             **{"store.url": f"file://{tmp_path}/tolerant", "errors.tolerance": "all"})
    assert r.status_code == 201, r.text
    lake = tmp_path / "tolerant"
    assert wait_rows(lambda: len(files(lake, ".json")), 1) == 1
    lines = files(lake, ".json")[0].read_text().splitlines()
    assert [json.loads(l)["id"] for l in lines] == [1, 3]


@pytest.mark.parametrize("change,key", [
    ({"format.class": "CsvFormat"}, "format.class"),
    ({"flush.size": None}, "flush.size"),
    ({"s3.bucket.name": None}, "s3.bucket.name"),
    ({"partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"}, "timezone"),
    ({"parquet.codec": "lzo"}, "parquet.codec"),
    ({"store.kafka.headers": "true", "headers.format.class": "ByteArrayFormat"},
     "headers.format.class"),
    ({"store.kafka.keys": "true", "keys.format.class": "CsvFormat"}, "keys.format.class"),
    ({"transforms": "mask"}, "transforms"),
    ({"topics.dir": "../outside"}, "topics.dir"),
    ({"partitioner.class": "TimeBasedPartitioner", "timezone": "UTC",
      "partition.duration.ms": 3600000, "path.format": "'month'=MMM", "locale": "pt-BR"},
     "locale"),
])
def test_bad_sink_configs_answer_400_naming_the_key(creek, tmp_path, change, key):
    cfg = {"topics": "t", "format.class": "ParquetFormat", "flush.size": 10,
           "s3.bucket.name": "b", "store.url": f"file://{tmp_path}"}
    for k, v in change.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    r = sink(creek, "bad", **cfg)
    assert r.status_code == 400, r.text
    assert key in r.json()["message"]


def test_harmless_s3_keys_are_accepted(creek, tmp_path):
    r = sink(creek, "ok", **{"topics": "t", "format.class": "JsonFormat", "flush.size": 10,
                             "s3.bucket.name": "b", "store.url": f"file://{tmp_path}",
                             "s3.ssea.name": "AES256", "s3.object.tagging": "true"})
    assert r.status_code == 201, r.text


# ---------------------------------------------------------------- S3 (moto)

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto_s3(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(tmp_path / "moto.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            requests.get(url, timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.2)
    try:
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_s3_compatible_store_through_the_aws_client(creek, postgres, moto_s3):
    import boto3
    s3 = boto3.client("s3", endpoint_url=moto_s3, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    s3.create_bucket(Bucket="datalake")
    fake(postgres, 600, n=600)
    jdbc_source(creek, postgres)
    common = {"topics": TOPIC, "format.class": "ParquetFormat", "flush.size": 200,
              "store.url": moto_s3, "s3.region": "us-east-1",
              "aws.access.key.id": "testing", "aws.secret.access.key": "testing",
              "retry.backoff.ms": 300}
    r = sink(creek, "s3-sink", **common, **{"s3.bucket.name": "datalake"})
    assert r.status_code == 201, r.text
    assert r.json()["config"]["aws.secret.access.key"] == "[hidden]"

    def s3_rows():
        listing = s3.list_objects_v2(Bucket="datalake", Prefix=f"topics/{TOPIC}/")
        total = 0
        for o in listing.get("Contents", []):
            body = s3.get_object(Bucket="datalake", Key=o["Key"])["Body"].read()
            total += pq.read_table(io.BytesIO(body)).num_rows
        return total
    assert wait_rows(s3_rows, 600) == 600
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="datalake")["Contents"]]
    assert f"topics/{TOPIC}/partition=0/{TOPIC}+0+0000000000.snappy.parquet" in keys

    # A bucket that does not exist: the task goes FAILED with the store's error.
    r = sink(creek, "no-bucket", **common, **{"s3.bucket.name": "missing-bucket"})
    assert r.status_code == 201, r.text
    st = task_status(creek, "no-bucket")
    assert st["tasks"][0]["state"] == "FAILED", st
    assert "missing-bucket" in st["tasks"][0]["trace"] or "NoSuchBucket" in st["tasks"][0]["trace"]
    assert "testing" not in json.dumps(st)


def test_keys_are_stored_beside_the_values(creek, tmp_path):
    p = Producer({"bootstrap.servers": creek.bootstrap})
    for i in range(10):
        p.produce("keyed", key=json.dumps({"k": i}).encode(), value=json.dumps({"id": i}).encode())
    assert p.flush(10) == 0
    lake = tmp_path / "lake"
    r = sink(creek, "keyed-lake", topics="keyed",
             **{"format.class": "JsonFormat", "flush.size": 10, "s3.bucket.name": "b",
                "store.url": f"file://{lake}", "store.kafka.keys": "true",
                "keys.format.class": "io.confluent.connect.s3.format.json.JsonFormat",
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable": "false",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    assert r.status_code == 201, r.text
    root = lake / "b" / "topics" / "keyed" / "partition=0"
    assert wait_rows(lambda: len(files(root, ".json")), 2) == 2
    values = (root / "keyed+0+0000000000.json").read_text().splitlines()
    keys = (root / "keyed+0+0000000000.keys.json").read_text().splitlines()
    assert [json.loads(k)["k"] for k in keys] == [json.loads(v)["id"] for v in values] == list(range(10))


@pytest.fixture
def moto_s3_with_auth(tmp_path):
    """moto checking signatures: the first 4 calls (IAM setup) are unauthenticated."""
    import boto3
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
    proc = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=open(tmp_path / "moto.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:  # a TCP connect, not a request: requests count as actions
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        iam = boto3.client("iam", endpoint_url=url, aws_access_key_id="setup",
                           aws_secret_access_key="setup", region_name="us-east-1")
        iam.create_user(UserName="creek")
        policy = iam.create_policy(PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        iam.attach_user_policy(UserName="creek", PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName="creek")["AccessKey"]
        s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=key["AccessKeyId"],
                          aws_secret_access_key=key["SecretAccessKey"], region_name="us-east-1")
        s3.create_bucket(Bucket="lake")
        yield url, key["AccessKeyId"], key["SecretAccessKey"], s3
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_wrong_s3_credentials_fail_the_task_until_fixed(creek, moto_s3_with_auth):
    url, key_id, secret, s3 = moto_s3_with_auth
    produce_json(creek, "creds", 0, 20)
    # Object keys without '=' or '+': moto's signature check disagrees with the AWS
    # client's encoding of those characters in paths (real S3 accepts both).
    cfg = {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": "creds",
           "format.class": "JsonFormat", "flush.size": 20, "s3.bucket.name": "lake",
           "store.url": url, "s3.region": "us-east-1", "retry.backoff.ms": 200,
           "file.delim": "-", "partitioner.class": "TimeBasedPartitioner", "path.format": "YYYY",
           "partition.duration.ms": 3600000, "timezone": "UTC",
           "aws.access.key.id": key_id, "aws.secret.access.key": "not-the-secret",
           "value.converter": "org.apache.kafka.connect.json.JsonConverter",
           "value.converter.schemas.enable": "false"}
    r = requests.post(f"{creek.connect_url}/connectors", json={"name": "creds", "config": cfg})
    assert r.status_code == 201, r.text
    st = task_status(creek, "creds", timeout=20)
    assert st["tasks"][0]["state"] == "FAILED", st
    assert "not-the-secret" not in json.dumps(st)
    assert "not-the-secret" not in (creek.data_dir / "logs" / "connect.log").read_text()
    assert s3.list_objects_v2(Bucket="lake").get("KeyCount", 0) == 0

    fixed = dict(cfg, **{"aws.secret.access.key": secret})
    assert requests.put(f"{creek.connect_url}/connectors/creds/config", json=fixed).status_code == 200

    def delivered():
        return s3.list_objects_v2(Bucket="lake").get("KeyCount", 0)
    assert wait_rows(delivered, 1) == 1


@pytest.mark.parametrize("compat,files_expected", [("BACKWARD", 2), ("NONE", 3)])
def test_schema_compatibility_projects_or_rotates(creek, tmp_path, compat, files_expected):
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
    topic = f"evolve-{compat.lower()}"
    registry = SchemaRegistryClient({"url": creek.registry_url})
    v1 = json.dumps({"type": "record", "name": "reading", "fields": [
        {"name": "id", "type": "int"}]})
    v2 = json.dumps({"type": "record", "name": "reading", "fields": [
        {"name": "id", "type": "int"}, {"name": "unit", "type": "string", "default": "C"}]})
    ser1 = AvroSerializer(registry, v1)
    ser2 = AvroSerializer(registry, v2)
    p = Producer({"bootstrap.servers": creek.bootstrap})
    ctx = SerializationContext(topic, MessageField.VALUE)
    rows = [(ser1, {"id": 0}), (ser1, {"id": 1}), (ser2, {"id": 2, "unit": "F"}),
            (ser1, {"id": 3})]  # an old-schema record after a new one
    for ser, value in rows:
        p.produce(topic, ser(value, ctx))
    assert p.flush(10) == 0
    lake = tmp_path / "lake"
    r = sink(creek, f"evolve-{compat.lower()}", topics=topic,
             **{"format.class": "ParquetFormat", "flush.size": 100,
                "rotate.schedule.interval.ms": 500, "schema.compatibility": compat,
                "s3.bucket.name": "b", "store.url": f"file://{lake}"})
    assert r.status_code == 201, r.text
    assert wait_rows(lambda: parquet_rows(lake), 4) == 4
    parquet_files = files(lake, ".parquet")
    assert len(parquet_files) == files_expected, parquet_files
    last = pq.read_table(parquet_files[-1]).to_pylist()
    if compat == "BACKWARD":
        # The old record was projected to the newer schema, with the field's default.
        assert last == [{"id": 2, "unit": "F"}, {"id": 3, "unit": "C"}]
    else:
        assert last == [{"id": 3}]


@pytest.mark.parametrize("fmt", ["JsonFormat", "ParquetFormat", "AvroFormat"])
def test_headers_are_stored_beside_the_values(creek, tmp_path, fmt):
    topic = f"with-headers-{fmt.lower()}"
    p = Producer({"bootstrap.servers": creek.bootstrap})
    for i in range(4):
        p.produce(topic, json.dumps({"id": i}).encode(), headers=[("trace", f"t{i}"), ("src", "pg")])
    assert p.flush(10) == 0
    lake = tmp_path / "lake"
    r = sink(creek, topic, topics=topic,
             **{"format.class": "JsonFormat", "flush.size": 4, "s3.bucket.name": "b",
                "store.url": f"file://{lake}", "store.kafka.headers": "true",
                "headers.format.class": fmt,
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    assert r.status_code == 201, r.text
    root = lake / "b" / "topics" / topic / "partition=0"
    ext = {"JsonFormat": ".json", "ParquetFormat": ".snappy.parquet", "AvroFormat": ".avro"}[fmt]
    path = root / f"{topic}+0+0000000000.headers{ext}"
    assert wait_rows(lambda: int(path.exists()), 1) == 1, list(root.iterdir()) if root.exists() else []
    want = [[{"key": "trace", "value": f"t{i}"}, {"key": "src", "value": "pg"}] for i in range(4)]
    if fmt == "JsonFormat":
        got = [json.loads(l) for l in path.read_text().splitlines()]
    elif fmt == "ParquetFormat":
        got = [row["headers"] for row in pq.read_table(path).to_pylist()]
    else:
        import fastavro
        with open(path, "rb") as fh:
            got = list(fastavro.reader(fh))
    assert got == want


def test_parquet_key_files_envelope_the_key(creek, tmp_path):
    p = Producer({"bootstrap.servers": creek.bootstrap})
    for i in range(5):
        p.produce("pkeys", key=json.dumps({"k": i}).encode(), value=json.dumps({"id": i}).encode())
    assert p.flush(10) == 0
    lake = tmp_path / "lake"
    r = sink(creek, "pkeys", topics="pkeys",
             **{"format.class": "ParquetFormat", "flush.size": 5, "s3.bucket.name": "b",
                "store.url": f"file://{lake}", "store.kafka.keys": "true",
                "keys.format.class": "ParquetFormat",
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable": "false",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    assert r.status_code == 201, r.text
    path = lake / "b" / "topics" / "pkeys" / "partition=0" / "pkeys+0+0000000000.keys.snappy.parquet"
    assert wait_rows(lambda: int(path.exists()), 1) == 1
    assert pq.read_table(path).to_pylist() == [{"key": {"k": i}} for i in range(5)]


def test_null_values_fail_or_are_ignored(creek, tmp_path):
    p = Producer({"bootstrap.servers": creek.bootstrap})
    p.produce("tombstones", key=b"a", value=b'{"id": 1}')
    p.produce("tombstones", key=b"a", value=None)
    p.produce("tombstones", key=b"b", value=b'{"id": 2}')
    assert p.flush(10) == 0
    common = {"topics": "tombstones", "format.class": "JsonFormat", "flush.size": 3,
              "s3.bucket.name": "b", "retry.backoff.ms": 200,
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false"}
    assert sink(creek, "nulls-fail", **common, **{"store.url": f"file://{tmp_path}/f"}).status_code == 201
    st = task_status(creek, "nulls-fail")
    assert "null value at topic tombstones partition 0 offset 1" in st["tasks"][0]["trace"], st
    r = sink(creek, "nulls-ignore", **common, **{"store.url": f"file://{tmp_path}/i",
                                                "behavior.on.null.values": "ignore"})
    assert r.status_code == 201, r.text
    lake = tmp_path / "i"
    assert wait_rows(lambda: len(files(lake, ".json")), 1) == 1
    assert [json.loads(l)["id"] for l in files(lake, ".json")[0].read_text().splitlines()] == [1, 2]
