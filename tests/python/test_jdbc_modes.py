"""The JDBC source's modes and mappings beyond the seed's config: incrementing mode,
tables spread over tasks, new tables picked up, NUMERIC → Avro decimal, DATE/TIME,
db.timezone for naive timestamps, bulk mode."""

from __future__ import annotations

import datetime
import decimal
import time

import psycopg
import requests
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def avro_rows(server, topic: str, expect: int, timeout: float = 20.0) -> list[dict]:
    deser = AvroDeserializer(SchemaRegistryClient({"url": server.registry_url}))
    consumer = Consumer({"bootstrap.servers": server.bootstrap, "group.id": f"m-{time.time()}"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    rows = []
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and len(rows) < expect:
            msg = consumer.poll(0.3)
            if msg is not None and not msg.error():
                rows.append(deser(msg.value(), SerializationContext(topic, MessageField.VALUE)))
    finally:
        consumer.close()
    return rows


def post(server, name: str, config: dict) -> dict:
    r = requests.post(f"{server.connect_url}/connectors", json={"name": name, "config": config})
    assert r.status_code == 201, r.text
    return r.json()


def test_incrementing_tasks_new_tables_and_types(creek, postgres):
    with psycopg.connect(postgres.connection_string, autocommit=True) as conn:
        for t in ("orders_a", "orders_b", "orders_c"):
            conn.execute(f"CREATE TABLE {t} (id serial PRIMARY KEY, amount numeric(10,2) NOT NULL, "
                         "day date, at time, seen timestamp NOT NULL DEFAULT '2021-04-12 23:26:03.655')")
            conn.execute(f"INSERT INTO {t} (amount, day, at) SELECT g * 1.25, '2021-04-12', '13:14:15' "
                         "FROM generate_series(1, 50) g")
    info = post(creek, "orders", {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": postgres.jdbc_url, "connection.user": "postgres",
        "mode": "incrementing", "incrementing.column.name": "id",
        "schema.pattern": "public", "topic.prefix": "db-",
        "tasks.max": 2, "poll.interval.ms": 100, "table.poll.interval.ms": 300,
        "db.timezone": "America/Sao_Paulo"})
    assert len(info["tasks"]) == 2  # three tables spread over tasks.max = 2

    for t in ("orders_a", "orders_b", "orders_c"):
        rows = avro_rows(creek, f"db-{t}", 50)
        assert [r["id"] for r in rows] == list(range(1, 51))
        assert rows[1]["amount"] == decimal.Decimal("2.50")
        assert rows[0]["day"] == datetime.date(2021, 4, 12)
        assert rows[0]["at"] == datetime.time(13, 14, 15)
        # A naive 23:26:03.655 in São Paulo (UTC-3) is 02:26:03.655 UTC the next day.
        assert rows[0]["seen"] == datetime.datetime(2021, 4, 13, 2, 26, 3, 655000,
                                                    tzinfo=datetime.timezone.utc)

    # Incrementing mode: updates are not new rows; inserts are.
    with psycopg.connect(postgres.connection_string, autocommit=True) as conn:
        conn.execute("UPDATE orders_a SET amount = 0 WHERE id = 1")
        conn.execute("INSERT INTO orders_a (amount) VALUES (99.99)")
        # A new table is picked up within table.poll.interval.ms.
        conn.execute("CREATE TABLE orders_d (id bigserial PRIMARY KEY, note text)")
        conn.execute("INSERT INTO orders_d (note) VALUES ('late table')")
    rows = avro_rows(creek, "db-orders_a", 52, timeout=5)
    assert len(rows) == 51 and rows[-1]["id"] == 51
    assert avro_rows(creek, "db-orders_d", 1)[0]["note"] == "late table"

    status = requests.get(f"{creek.connect_url}/connectors/orders/status").json()
    assert [t["state"] for t in status["tasks"]] == ["RUNNING", "RUNNING"]


def test_bulk_mode_copies_the_whole_table_each_poll(creek, postgres):
    with psycopg.connect(postgres.connection_string, autocommit=True) as conn:
        conn.execute("CREATE TABLE flags (name text, on_ boolean)")
        conn.execute("INSERT INTO flags VALUES ('a', true), ('b', false)")
    post(creek, "flags", {
        "connector.class": "JdbcSourceConnector", "connection.url": postgres.jdbc_url,
        "mode": "bulk", "table.whitelist": "public.flags", "topic.prefix": "bulk-",
        "poll.interval.ms": 300})
    rows = avro_rows(creek, "bulk-flags", 6, timeout=10)
    assert len(rows) >= 4  # at least two full copies
    assert {(r["name"], r["on_"]) for r in rows} == {("a", True), ("b", False)}
