"""ksqlDB's REST API served by `creek up` on --ksql-port: records produced with
confluent-kafka, a stream created over /ksql, push queries over /query-stream and
/query, error bodies, SHOW/DESCRIBE, PRINT.

Uses only the standard library for HTTP (http.client reads the chunked
streaming responses line by line).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import Producer

from creekutil import HOST, create_topic


def ksql_port(server) -> int:
    return server.aux_ports["--ksql-port"]


def post(server, path: str, body, headers=None):
    """(status, parsed JSON body) of a request that ends."""
    req = urllib.request.Request(
        f"http://{HOST}:{ksql_port(server)}{path}", data=json.dumps(body).encode(),
        method="POST", headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            data = resp.read()
            return resp.status, json.loads(data) if data else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ksql(server, sql: str, props=None):
    return post(server, "/ksql", {"ksql": sql, "streamsProperties": props or {}})


def produce(server, topic: str, records):
    p = Producer({"bootstrap.servers": server.bootstrap})
    for key, value in records:
        p.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert p.flush(15) == 0


class Stream:
    """A streaming POST whose response is read line by line."""

    def __init__(self, server, path, body, accept=None):
        self.conn = http.client.HTTPConnection(HOST, ksql_port(server), timeout=15)
        headers = {"Content-Type": "application/json"}
        if accept:
            headers["Accept"] = accept
        self.conn.request("POST", path, body=json.dumps(body), headers=headers)
        self.resp = self.conn.getresponse()

    def line(self) -> str:
        return self.resp.readline().decode()

    def close(self):
        self.conn.close()


@pytest.fixture
def orders(creek):
    create_topic(creek, "orders", 1)
    produce(creek, "orders", [("k1", {"ID": 1, "ITEM": "apple", "QTY": 3}),
                              ("k2", {"ID": 2, "ITEM": "pear", "QTY": 5})])
    status, body = ksql(creek, "CREATE STREAM ORDERS (K STRING KEY, ID INT, ITEM STRING, QTY INT) "
                               "WITH (KAFKA_TOPIC='orders', VALUE_FORMAT='JSON');")
    assert status == 200, body
    assert body[0]["@type"] == "currentStatus"
    return creek


def test_ready_line_and_info(creek):
    assert f"ksql=http://{HOST}:{ksql_port(creek)}" in creek.ready_line
    with urllib.request.urlopen(f"http://{HOST}:{ksql_port(creek)}/info", timeout=10) as r:
        info = json.loads(r.read())["KsqlServerInfo"]
    assert info["serverStatus"] == "RUNNING"
    assert info["ksqlServiceId"] == "default_"
    assert info["kafkaClusterId"]


def test_show_streams_describe_and_errors(orders):
    status, body = ksql(orders, "SHOW STREAMS;")
    assert status == 200, body
    streams = [s for s in body[0]["streams"] if s["name"] != "KSQL_PROCESSING_LOG"]
    assert [s["name"] for s in streams] == ["ORDERS"]
    assert streams[0]["topic"] == "orders"
    assert streams[0]["valueFormat"] == "JSON"

    status, body = ksql(orders, "DESCRIBE ORDERS;")
    assert status == 200, body
    fields = body[0]["sourceDescription"]["fields"]
    assert [f["name"] for f in fields] == ["K", "ID", "ITEM", "QTY"]
    assert fields[0]["type"] == "KEY"

    status, body = ksql(orders, "SHOW TOPICS;")
    assert status == 200
    assert "orders" in [t["name"] for t in body[0]["topics"]]
    assert not any(t["name"].startswith("_") for t in body[0]["topics"])

    status, body = ksql(orders, "CREATE STREAM OOPS WITH (;")
    assert status == 400
    assert body["@type"] == "statement_error"
    assert body["error_code"] == 40001
    assert body["message"]

    status, body = ksql(orders, "SELECT * FROM ORDERS EMIT CHANGES;")
    assert status == 400
    assert body["error_code"] == 40002


def test_query_stream_push_query(orders):
    # From the beginning: the two rows already there, then one produced later.
    s = Stream(orders, "/query-stream",
               {"sql": "SELECT ID, ITEM, QTY * 2 AS DOUBLE_QTY FROM ORDERS EMIT CHANGES LIMIT 3;",
                "properties": {"auto.offset.reset": "earliest"}})
    try:
        assert s.resp.status == 200
        assert s.resp.getheader("Content-Type") == "application/vnd.ksqlapi.delimited.v1"
        meta = json.loads(s.line())
        assert meta["columnNames"] == ["ID", "ITEM", "DOUBLE_QTY"]
        assert meta["columnTypes"] == ["INTEGER", "STRING", "INTEGER"]
        assert meta["queryId"].startswith("transient_ORDERS_")
        assert json.loads(s.line()) == [1, "apple", 6]
        assert json.loads(s.line()) == [2, "pear", 10]
        produce(orders, "orders", [("k3", {"ID": 3, "ITEM": "plum", "QTY": 7})])
        assert json.loads(s.line()) == [3, "plum", 14]
        rest = s.resp.read().decode()  # LIMIT reached: the response ends
        assert rest.strip() == ""
    finally:
        s.close()


def test_query_endpoint_and_close(orders):
    s = Stream(orders, "/query", {"ksql": "SELECT ITEM FROM ORDERS WHERE QTY > 4 EMIT CHANGES LIMIT 1;",
                                  "streamsProperties": {"auto.offset.reset": "earliest"}})
    try:
        body = json.loads(s.resp.read())
    finally:
        s.close()
    assert body[0]["header"]["schema"] == "`ITEM` STRING"
    assert body[1] == {"row": {"columns": ["pear"]}}
    assert body[2] == {"finalMessage": "Limit Reached"}

    # A push query from latest, ended by /close-query.
    s = Stream(orders, "/query-stream", {"sql": "SELECT * FROM ORDERS EMIT CHANGES;"})
    try:
        meta = json.loads(s.line())
        status, _ = post(orders, "/close-query", {"queryId": meta["queryId"]})
        assert status == 200
        deadline = time.time() + 10
        rest = s.resp.read().decode()
        assert time.time() < deadline
        assert rest.strip() == ""
    finally:
        s.close()


def test_print_topic(orders):
    s = Stream(orders, "/query", {"ksql": "PRINT 'orders' FROM BEGINNING LIMIT 2;"})
    try:
        text = s.resp.read().decode()
    finally:
        s.close()
    lines = text.splitlines()
    assert lines[0] == "Key format: KAFKA_STRING", text
    assert lines[1] == "Value format: JSON", text
    assert "key: k1, value: " in lines[2], text
    assert lines[2].endswith(", partition: 0"), text
    assert len(lines) == 4, text


def test_query_stream_over_http2_cleartext(orders):
    """HTTP/2 with prior knowledge (h2c), as ksqlDB's Java client speaks it."""
    import subprocess
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "-X", "POST", "-w", "\n%{http_version}",
         "-H", "Content-Type: application/json",
         "-d", json.dumps({"sql": "SELECT ITEM FROM ORDERS EMIT CHANGES LIMIT 2;",
                           "properties": {"auto.offset.reset": "earliest"}}),
         f"http://{HOST}:{ksql_port(orders)}/query-stream"],
        capture_output=True, text=True, timeout=30, check=True).stdout
    lines = out.splitlines()
    assert lines[-1] == "2", out
    assert json.loads(lines[0])["columnNames"] == ["ITEM"]
    assert [json.loads(x) for x in lines[1:3]] == [["apple"], ["pear"]]


def test_connectors_through_connect(orders, tmp_path):
    lake = tmp_path / "lake"
    status, body = ksql(orders, f"""CREATE SINK CONNECTOR lake WITH (
        "connector.class"='io.confluent.connect.s3.S3SinkConnector', "topics"='orders',
        "format.class"='io.confluent.connect.s3.format.json.JsonFormat', "flush.size"='1',
        "s3.bucket.name"='b', "store.url"='file://{lake}',
        "value.converter"='org.apache.kafka.connect.json.JsonConverter',
        "value.converter.schemas.enable"='false',
        "key.converter"='org.apache.kafka.connect.storage.StringConverter');""")
    assert status == 200, body
    assert body[0]["@type"] == "connector_info"
    assert body[0]["info"]["name"] == "LAKE"
    assert body[0]["info"]["type"] == "sink"

    status, body = ksql(orders, "SHOW CONNECTORS;")
    assert status == 200, body
    assert [c["name"] for c in body[0]["connectors"]] == ["LAKE"]
    assert body[0]["connectors"][0]["className"] == "io.confluent.connect.s3.S3SinkConnector"

    status, body = ksql(orders, "DESCRIBE CONNECTOR lake;")
    assert status == 200, body
    assert body[0]["@type"] == "connector_description"
    assert body[0]["connectorClass"] == "io.confluent.connect.s3.S3SinkConnector"

    status, body = ksql(orders, "DROP CONNECTOR lake;")
    assert status == 200, body
    assert body[0] == {"@type": "drop_connector", "statementText": "DROP CONNECTOR lake;",
                       "connectorName": "LAKE", "warnings": []}
    status, body = ksql(orders, "DROP CONNECTOR IF EXISTS lake;")
    assert status == 200, body
    assert body[0]["@type"] == "warning_entity"
    status, body = ksql(orders, "DROP CONNECTOR lake;")
    assert status == 400
    assert body["error_code"] == 40001


def test_persistent_query_and_inserts_stream(orders):
    status, body = ksql(orders, "CREATE STREAM BIG_ORDERS AS SELECT K, ITEM, QTY FROM ORDERS WHERE QTY > 4;",
                        {"auto.offset.reset": "earliest"})
    assert status == 200, body
    query_id = body[0]["commandStatus"]["queryId"]
    status, body = ksql(orders, "SHOW QUERIES;")
    assert [q["id"] for q in body[0]["queries"]] == [query_id]
    assert body[0]["queries"][0]["state"] == "RUNNING"

    # Rows inserted over /inserts-stream flow through the persistent query.
    conn = http.client.HTTPConnection(HOST, ksql_port(orders), timeout=15)
    try:
        payload = "\n".join(json.dumps(x) for x in [
            {"target": "ORDERS"},
            {"K": "k9", "ID": 9, "ITEM": "fig", "QTY": 9},
            {"K": "k10", "ID": 10, "ITEM": "kiwi", "QTY": 1},
        ]) + "\n"
        conn.request("POST", "/inserts-stream", body=payload)
        acks = [json.loads(x) for x in conn.getresponse().read().decode().splitlines()]
    finally:
        conn.close()
    assert acks == [{"status": "ok", "seq": 0}, {"status": "ok", "seq": 1}]

    s = Stream(orders, "/query-stream", {"sql": "SELECT * FROM BIG_ORDERS EMIT CHANGES LIMIT 2;",
                                         "properties": {"auto.offset.reset": "earliest"}})
    try:
        meta = json.loads(s.line())
        assert meta["columnNames"] == ["K", "ITEM", "QTY"]
        assert json.loads(s.line()) == ["k2", "pear", 5]
        assert json.loads(s.line()) == ["k9", "fig", 9]
    finally:
        s.close()
    status, body = ksql(orders, f"TERMINATE {query_id};")
    assert status == 200, body


def test_shutdown_ends_open_push_queries(orders):
    s = Stream(orders, "/query-stream", {"sql": "SELECT * FROM ORDERS EMIT CHANGES;"})
    p = Stream(orders, "/query", {"ksql": "PRINT 'orders';"})
    try:
        json.loads(s.line())
        started = time.time()
        assert orders.stop() == 0
        assert time.time() - started < 10
    finally:
        s.close()
        p.close()


def test_streams_and_queries_survive_a_restart(orders):
    status, body = ksql(orders, "CREATE STREAM PEARS AS SELECT * FROM ORDERS WHERE ITEM = 'pear';",
                        {"auto.offset.reset": "earliest"})
    assert status == 200, body
    orders.restart()
    status, body = ksql(orders, "SHOW STREAMS; SHOW QUERIES;")
    assert status == 200, body
    names = sorted(s["name"] for s in body[0]["streams"])
    assert names == ["KSQL_PROCESSING_LOG", "ORDERS", "PEARS"]
    assert [q["sinks"] for q in body[1]["queries"]] == [["PEARS"]]
    s = Stream(orders, "/query-stream", {"sql": "SELECT ITEM FROM PEARS EMIT CHANGES LIMIT 1;",
                                         "properties": {"auto.offset.reset": "earliest"}})
    try:
        json.loads(s.line())
        assert json.loads(s.line()) == ["pear"]
    finally:
        s.close()
