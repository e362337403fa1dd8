"""The seed's steps 5-7 against `creek up`: `creek fake` fills the table, the seed's
connector JSON is posted with the seed's curl command, and confluent-kafka's own
AvroDeserializer (pointed at creek's registry) decodes the rows with the right
types. Then kill -9 and restart: new rows arrive, none lost or doubled. Plus
Connect's REST API and its error answers."""

from __future__ import annotations

import datetime
import json
import subprocess
import time
from collections import Counter

import pytest
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from creekutil import creek_bin

TOPIC = "psg-customers"
CONNECTOR = "postg-connector"


def seed_connector(jdbc_url: str) -> dict:
    """The seed's connect_postgres.config, verbatim apart from host and password."""
    return {
        "name": "postg-connector",
        "config": {
            "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "tasks.max": 1,
            "connection.url": jdbc_url,
            "connection.user": "postgres",
            "connection.password": "SUA-SENHA",
            "mode": "timestamp",
            "timestamp.column.name": "dt_update",
            "table.whitelist": "public.customers",
            "topic.prefix": "psg-",
            "validate.non.null": "false",
            "poll.interval.ms": 500,
        },
    }


def fake(postgres, total: int, n: int = 500):
    subprocess.run([str(creek_bin()), "fake", "-cs", postgres.connection_string, "-n", str(n),
                    "--interval", "0", "--total", str(total), "--silent"],
                   check=True, capture_output=True, timeout=120)


def post_with_curl(connect_url: str, body: dict, tmp_path) -> subprocess.CompletedProcess:
    cfg = tmp_path / "connect_postgres.config"
    cfg.write_text(json.dumps(body, indent=4))
    # The seed's own command line.
    return subprocess.run(["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
                           "--data", f"@{cfg}", f"{connect_url}/connectors"],
                          capture_output=True, text=True, timeout=30)


def read_topic(server, registry_url: str, expect: int, timeout: float = 30.0) -> list[dict]:
    deser = AvroDeserializer(SchemaRegistryClient({"url": registry_url}))
    consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": f"check-{time.time()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([TopicPartition(TOPIC, 0, 0)])
    rows = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and len(rows) < expect:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            rows.append(deser(msg.value(), SerializationContext(TOPIC, MessageField.VALUE)))
        # Anything beyond `expect` would be a duplicate: give it a moment to show up.
        end = time.time() + 1.5
        while time.time() < end:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                rows.append(deser(msg.value(), SerializationContext(TOPIC, MessageField.VALUE)))
    finally:
        consumer.close()
    return rows


def table_rows(postgres) -> Counter:
    import psycopg
    with psycopg.connect(postgres.connection_string) as conn:
        cur = conn.execute("SELECT nome, email, telefone, nascimento, dt_update FROM customers")
        return Counter((r[0], r[1], r[2], r[3], r[4].replace(microsecond=r[4].microsecond // 1000 * 1000))
                       for r in cur.fetchall())


def topic_rows(rows: list[dict]) -> Counter:
    out = Counter()
    for r in rows:
        ts = r["dt_update"].replace(tzinfo=None)
        out[(r["nome"], r["email"], r["telefone"], r["nascimento"], ts)] += 1
    return out


def wait_status(connect_url: str, state: str, timeout: float = 20.0) -> dict:
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = requests.get(f"{connect_url}/connectors/{CONNECTOR}/status").json()
        tasks = last.get("tasks", [])
        if tasks and all(t["state"] == state for t in tasks):
            return last
        time.sleep(0.2)
    raise AssertionError(f"tasks never reached {state}: {last}")


def test_seed_pipeline_survives_kill_9(creek, postgres, tmp_path):
    fake(postgres, 2000)
    subprocess.run([str(creek_bin()), "topics", "--create", "--bootstrap-server", creek.bootstrap,
                    "--partitions", "1", "--replication-factor", "1", "--topic", TOPIC],
                   check=True, capture_output=True, timeout=30)
    res = post_with_curl(creek.connect_url, seed_connector(postgres.jdbc_url), tmp_path)
    created = json.loads(res.stdout)
    assert created["name"] == CONNECTOR, res.stdout
    assert created["config"]["connection.password"] == "[hidden]"
    assert created["type"] == "source"

    rows = read_topic(creek, creek.registry_url, 2000)
    assert len(rows) == 2000
    first = rows[0]
    assert isinstance(first["nascimento"], datetime.date)
    assert not isinstance(first["nascimento"], datetime.datetime)
    assert isinstance(first["dt_update"], datetime.datetime)
    assert set(first) == {"nome", "sexo", "endereco", "telefone", "email", "foto", "nascimento",
                          "profissao", "dt_update"}
    subject = requests.get(f"{creek.registry_url}/subjects/{TOPIC}-value/versions/latest").json()
    schema = json.loads(subject["schema"])
    assert schema["name"] == "customers"

    status = wait_status(creek.connect_url, "RUNNING")
    assert status["connector"]["state"] == "RUNNING"
    assert "SUA-SENHA" not in creek.log_tail(2000)
    assert "SUA-SENHA" not in (creek.data_dir / "logs" / "connect.log").read_text()

    # kill -9 while rows are being written, then restart on the same data dir.
    writer = subprocess.Popen([str(creek_bin()), "fake", "-cs", postgres.connection_string,
                               "-n", "50", "--interval", "0.01", "--total", "3000", "--silent"])
    time.sleep(0.7)
    creek.kill()
    creek.start()
    assert writer.wait(timeout=120) == 0
    expected = table_rows(postgres)
    assert sum(expected.values()) == 5000
    rows = read_topic(creek, creek.registry_url, 5000, timeout=60)
    got = topic_rows(rows)
    assert sum(got.values()) == 5000, "lost or doubled rows after kill -9"
    assert got == expected

    offsets = requests.get(f"{creek.connect_url}/connectors/{CONNECTOR}/offsets").json()["offsets"]
    assert offsets[0]["partition"]["table"].endswith("public.customers")
    assert "timestamp" in offsets[0]["offset"]


def test_database_down_fails_the_task_then_recovers(creek, postgres, tmp_path):
    fake(postgres, 100, n=100)
    body = seed_connector(postgres.jdbc_url)
    body["config"]["connection.attempts"] = 1
    body["config"]["connection.backoff.ms"] = 200
    body["config"]["poll.interval.ms"] = 100
    assert post_with_curl(creek.connect_url, body, tmp_path).returncode == 0
    assert len(read_topic(creek, creek.registry_url, 100)) == 100

    postgres.stop_server()
    failed = wait_status(creek.connect_url, "FAILED")
    trace = failed["tasks"][0]["trace"]
    assert "127.0.0.1" in trace or "connect" in trace.lower()
    assert "SUA-SENHA" not in json.dumps(failed)

    postgres.start_server()
    wait_status(creek.connect_url, "RUNNING")
    fake(postgres, 100, n=100)
    assert len(read_topic(creek, creek.registry_url, 200)) == 200


def test_connect_rest_api(creek, postgres):
    fake(postgres, 10, n=10)
    url = creek.connect_url
    root = requests.get(url).json()
    assert "version" in root and "kafka_cluster_id" in root
    plugins = requests.get(f"{url}/connector-plugins").json()
    assert {"class": "io.confluent.connect.jdbc.JdbcSourceConnector", "type": "source"}.items() \
        <= plugins[0].items()

    cfg = seed_connector(postgres.jdbc_url)["config"]
    v = requests.put(f"{url}/connector-plugins/JdbcSourceConnector/config/validate",
                     json=dict(cfg, name=CONNECTOR)).json()
    assert v["error_count"] == 0, [c["value"] for c in v["configs"] if c["value"]["errors"]]
    v = requests.put(f"{url}/connector-plugins/JdbcSourceConnector/config/validate",
                     json=dict(cfg, name=CONNECTOR, mode="sometimes")).json()
    assert v["error_count"] == 1
    mode = next(c for c in v["configs"] if c["definition"]["name"] == "mode")
    assert "sometimes" in mode["value"]["errors"][0]
    password = next(c for c in v["configs"] if c["definition"]["name"] == "connection.password")
    assert password["value"]["value"] == "[hidden]"

    r = requests.post(f"{url}/connectors", json={"name": CONNECTOR, "config": cfg})
    assert r.status_code == 201, r.text
    r = requests.post(f"{url}/connectors", json={"name": CONNECTOR, "config": cfg})
    assert r.status_code == 409 and r.json()["error_code"] == 409

    assert requests.get(f"{url}/connectors").json() == [CONNECTOR]
    expanded = requests.get(f"{url}/connectors?expand=status&expand=info").json()
    assert expanded[CONNECTOR]["status"]["connector"]["state"] == "RUNNING"
    assert expanded[CONNECTOR]["info"]["config"]["connection.password"] == "[hidden]"
    assert requests.get(f"{url}/connectors/{CONNECTOR}/config").json()["mode"] == "timestamp"
    tasks = requests.get(f"{url}/connectors/{CONNECTOR}/tasks").json()
    assert tasks[0]["id"] == {"connector": CONNECTOR, "task": 0}
    assert tasks[0]["config"]["connection.password"] == "[hidden]"

    assert requests.put(f"{url}/connectors/{CONNECTOR}/pause").status_code == 202
    wait_status(url, "PAUSED")
    assert requests.put(f"{url}/connectors/{CONNECTOR}/resume").status_code == 202
    wait_status(url, "RUNNING")
    assert requests.post(f"{url}/connectors/{CONNECTOR}/restart").status_code in (200, 202, 204)
    wait_status(url, "RUNNING")

    # PUT config: update (200), keeping the masked password as it was.
    new = dict(cfg, **{"connection.password": "[hidden]", "poll.interval.ms": "1000"})
    r = requests.put(f"{url}/connectors/{CONNECTOR}/config", json=new)
    assert r.status_code == 200, r.text
    assert r.json()["config"]["poll.interval.ms"] == "1000"

    assert requests.delete(f"{url}/connectors/{CONNECTOR}").status_code == 204
    r = requests.get(f"{url}/connectors/{CONNECTOR}")
    assert r.status_code == 404 and r.json()["error_code"] == 404


@pytest.mark.parametrize("change,key", [
    ({"connection.url": None}, "connection.url"),
    ({"mode": "sometimes"}, "mode"),
    ({"connection.url": "jdbc:postgresql//nohost"}, "connection.url"),
    ({"table.whitelist": "public.nosuchtable"}, "nosuchtable"),
    ({"timestamp.column.name": "nosuchcolumn"}, "nosuchcolumn"),
    ({"transforms": "mask"}, "transforms"),
    ({"tasks.max": "many"}, "tasks.max"),
])
def test_bad_connector_configs_answer_400_naming_the_key(creek, postgres, change, key):
    fake(postgres, 1, n=1)
    cfg = seed_connector(postgres.jdbc_url)["config"]
    for k, v in change.items():
        if v is None:
            cfg.pop(k)
        else:
            cfg[k] = v
    r = requests.post(f"{creek.connect_url}/connectors", json={"name": "bad", "config": cfg})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error_code"] == 400
    assert key in body["message"]
    assert requests.get(f"{creek.connect_url}/connectors").json() == []


def test_malformed_json_is_a_400(creek):
    r = requests.post(f"{creek.connect_url}/connectors", data="{not json",
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error_code"] == 400


def _raw_values(server, topic: str, expect: int, timeout: float = 20.0) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": f"raw-{time.time()}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and len(out) < expect:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(msg.value())
    finally:
        consumer.close()
    return out


def test_worker_wide_and_per_connector_converters(creek_factory, postgres):
    fake(postgres, 5, n=5)
    server = creek_factory(extra_args=[
        "--connect-property", "value.converter=org.apache.kafka.connect.json.JsonConverter",
        "--connect-property", "value.converter.schemas.enable=false"])
    cfg = seed_connector(postgres.jdbc_url)["config"]
    r = requests.post(f"{server.connect_url}/connectors", json={"name": CONNECTOR, "config": cfg})
    assert r.status_code == 201, r.text
    rows = [json.loads(v) for v in _raw_values(server, TOPIC, 5)]
    assert len(rows) == 5
    assert isinstance(rows[0]["nascimento"], int)  # Connect's Date: days since the epoch
    assert "schema" not in rows[0]

    # A connector naming its own converter uses it (and its own settings).
    cfg = dict(cfg, **{"topic.prefix": "str-",
                       "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    r = requests.post(f"{server.connect_url}/connectors", json={"name": "as-strings", "config": cfg})
    assert r.status_code == 201, r.text
    values = _raw_values(server, "str-customers", 5)
    assert len(values) == 5 and values[0].startswith(b"Struct{nome=")


def test_unknown_worker_converter_is_refused_at_start(tmp_path):
    proc = subprocess.run([str(creek_bin()), "up", "--data-dir", str(tmp_path / "d"),
                           "--kafka-port", "0", "--registry-port", "0", "--connect-port", "0",
                           "--connect-property", "value.converter=com.example.Nope"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "com.example.Nope" in proc.stderr


def test_custom_query_mode(creek, postgres):
    import psycopg
    fake(postgres, 300, n=300)
    cfg = seed_connector(postgres.jdbc_url)["config"]
    del cfg["table.whitelist"]
    cfg.update({"query": "SELECT nome, sexo, dt_update FROM customers WHERE sexo = 'F'",
                "topic.prefix": "females", "poll.interval.ms": 100,
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false"})
    r = requests.post(f"{creek.connect_url}/connectors", json={"name": "females", "config": cfg})
    assert r.status_code == 201, r.text
    with psycopg.connect(postgres.connection_string) as conn:
        females = conn.execute("SELECT count(*) FROM customers WHERE sexo = 'F'").fetchone()[0]
    rows = [json.loads(v) for v in _raw_values(creek, "females", females)]
    assert len(rows) == females and all(r["sexo"] == "F" for r in rows)
    assert set(rows[0]) == {"nome", "sexo", "dt_update"}
    fake(postgres, 200, n=200)
    with psycopg.connect(postgres.connection_string) as conn:
        females = conn.execute("SELECT count(*) FROM customers WHERE sexo = 'F'").fetchone()[0]
    assert len(_raw_values(creek, "females", females)) == females

    bad = dict(cfg, query="SELECT nosuchcolumn FROM customers")
    r = requests.post(f"{creek.connect_url}/connectors", json={"name": "bad", "config": bad})
    assert r.status_code == 400 and "query" in r.json()["message"]


def test_wrong_password_fails_the_task_until_fixed(creek, tmp_path):
    from pgutil import TempPostgres
    with TempPostgres(password="right-one") as pg:
        fake(pg, 20, n=20)
        body = seed_connector(pg.jdbc_url)
        body["config"].update({"connection.password": "wrong-one", "connection.attempts": 1,
                               "connection.backoff.ms": 200})
        r = requests.post(f"{creek.connect_url}/connectors", json=body)
        assert r.status_code == 201, r.text
        failed = wait_status(creek.connect_url, "FAILED")
        assert "password authentication failed" in failed["tasks"][0]["trace"]
        text = json.dumps(failed) + (creek.data_dir / "logs" / "connect.log").read_text()
        assert "wrong-one" not in text and "right-one" not in text

        fixed = dict(body["config"], **{"connection.password": "right-one"})
        r = requests.put(f"{creek.connect_url}/connectors/{CONNECTOR}/config", json=fixed)
        assert r.status_code == 200, r.text
        wait_status(creek.connect_url, "RUNNING")
        assert len(read_topic(creek, creek.registry_url, 20)) == 20


def test_query_retry_attempts_then_restart(creek, postgres):
    import psycopg
    fake(postgres, 10, n=10)
    body = seed_connector(postgres.jdbc_url)
    body["config"].update({"query.retry.attempts": 0, "connection.backoff.ms": 100,
                           "poll.interval.ms": 100})
    assert requests.post(f"{creek.connect_url}/connectors", json=body).status_code == 201
    wait_status(creek.connect_url, "RUNNING")
    with psycopg.connect(postgres.connection_string, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers RENAME COLUMN dt_update TO dt_away")
    failed = wait_status(creek.connect_url, "FAILED")
    assert "dt_update" in failed["tasks"][0]["trace"]
    with psycopg.connect(postgres.connection_string, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers RENAME COLUMN dt_away TO dt_update")
    time.sleep(1.5)  # retries are exhausted: it stays FAILED until restarted
    assert requests.get(f"{creek.connect_url}/connectors/{CONNECTOR}/status").json()[
        "tasks"][0]["state"] == "FAILED"
    assert requests.post(f"{creek.connect_url}/connectors/{CONNECTOR}/restart").status_code == 204
    wait_status(creek.connect_url, "RUNNING")
