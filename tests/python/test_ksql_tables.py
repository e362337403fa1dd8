"""The seed exercise's stateful half against `creek up`, with real clients:
customers classified with CASE and counted per category in 30-second tumbling
windows (CREATE TABLE ... AS SELECT ... WINDOW TUMBLING ... GROUP BY), fed by
confluent-kafka, read back with pull queries over the REST API; a SIGKILL in
the middle must leave the counts exact (no double counting, nothing lost)."""

from __future__ import annotations

import json

import requests
from confluent_kafka import Producer

from creekutil import create_topic, wait_until

WINDOW_START = 1_700_000_010_000  # a 30 s boundary
STATEMENTS = (
    "CREATE STREAM customers (id INT KEY, sexo STRING) "
    "WITH (kafka_topic='customers', value_format='JSON');"
    "CREATE TABLE per_genero AS SELECT "
    "CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' END AS genero, COUNT(*) AS n "
    "FROM customers WINDOW TUMBLING (SIZE 30 SECONDS) "
    "GROUP BY CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' END EMIT CHANGES;"
)


def ksql_url(server) -> str:
    return f"http://127.0.0.1:{server.aux_ports['--ksql-port']}"


def produce(server, first: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": server.bootstrap, "acks": "all"})
    for i in range(first, first + count):
        value = json.dumps({"sexo": "F" if i % 3 == 0 else "M"})
        producer.produce("customers", key=i.to_bytes(4, "big"), value=value,
                         timestamp=WINDOW_START + i % 30_000)
    assert producer.flush(30) == 0


def counts(server) -> dict:
    """The table's rows by a pull query: {genero: (windowstart, n)}."""
    r = requests.post(f"{ksql_url(server)}/query",
                      json={"ksql": "SELECT * FROM per_genero;", "streamsProperties": {}},
                      timeout=30)
    assert r.status_code == 200, r.text
    body = r.json()
    schema = body[0]["header"]["schema"]
    assert schema == ("`GENERO` STRING KEY, `WINDOWSTART` BIGINT KEY, "
                      "`WINDOWEND` BIGINT KEY, `N` BIGINT"), schema
    rows = [item["row"]["columns"] for item in body[1:] if "row" in item]
    return {g: (start, n) for g, start, _end, n in rows}


def expected(total: int) -> dict:
    feminino = sum(1 for i in range(total) if i % 3 == 0)
    return {"feminino": (WINDOW_START, feminino),
            "masculino": (WINDOW_START, total - feminino)}


def test_windowed_counts_survive_sigkill(creek):
    create_topic(creek, "customers")
    r = requests.post(f"{ksql_url(creek)}/ksql", json={
        "ksql": STATEMENTS,
        "streamsProperties": {"auto.offset.reset": "earliest"}}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()[1]["commandStatus"]["queryId"] == "CTAS_PER_GENERO_0"

    produce(creek, 0, 3000)
    wait_until(lambda: counts(creek) == expected(3000), 30, what="first counts")

    # A crash, more customers, a restart: the query resumes where its state
    # says it stopped.
    creek.kill()
    creek.start()
    produce(creek, 3000, 2000)
    wait_until(lambda: counts(creek) == expected(5000), 30, what="counts after the crash")

    # Pull query restrictions answer ksqlDB's errors.
    r = requests.post(f"{ksql_url(creek)}/query",
                      json={"ksql": "SELECT * FROM customers GROUP BY sexo;"}, timeout=30)
    assert r.status_code == 400
    assert "Pull queries don't support GROUP BY clauses" in r.json()["message"]
