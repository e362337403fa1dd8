"""Issue 16, "The first hour", through `creek up` and `creek ksql`: dates and times
as ksqlDB's REST API shows them, SHOW TOPICS without internal topics, the CLI's
messages and output in pipes, DESCRIBE EXTENDED statistics, and connector secrets
kept out of the server's logs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from creekutil import HOST, create_topic, require_creek_bin, wait_until
from test_ksql_rest import Stream, ksql, post

AVRO_TIMES = json.dumps({
    "type": "record", "name": "Times", "fields": [
        {"name": "ID", "type": "int"},
        {"name": "D", "type": {"type": "int", "logicalType": "date"}},
        {"name": "T", "type": {"type": "int", "logicalType": "time-millis"}},
        {"name": "TS", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    ]})
DATE, TIME, TIMESTAMP = "2003-10-20", "00:00:12", "1970-01-01T03:25:43.335"
EARLIEST = {"ksql.streams.auto.offset.reset": "earliest"}


def ksql_url(server) -> str:
    return f"http://{HOST}:{server.aux_ports['--ksql-port']}"


def cli(server, *args, env=None, timeout=60.0):
    """`creek ksql` with its output to pipes."""
    argv = [str(require_creek_bin()), "ksql", ksql_url(server), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def produce_json(server, topic, records):
    p = Producer({"bootstrap.servers": server.bootstrap})
    for key, value in records:
        p.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert p.flush(15) == 0


def log_files(server) -> list[str]:
    """Everything the server wrote as logs: stdout, stderr and each log file."""
    parts = ["\n".join(server.stdout_lines), server.log_path.read_text(errors="replace")]
    logs = server.data_dir / "logs"
    if logs.is_dir():
        parts += [p.read_text(errors="replace") for p in sorted(logs.rglob("*")) if p.is_file()]
    return parts


def server_logs(server) -> str:
    return "\n".join(log_files(server))


@pytest.fixture(scope="module")
def times(_creek_module_server):
    """A stream over an Avro topic with DATE, TIME and TIMESTAMP columns."""
    srv = _creek_module_server
    create_topic(srv, "avro_times", 1)
    serializer = AvroSerializer(SchemaRegistryClient({"url": srv.registry_url}), AVRO_TIMES)
    value = serializer(
        {"ID": 1, "D": dt.date(2003, 10, 20), "T": dt.time(0, 0, 12),
         "TS": dt.datetime(1970, 1, 1, 3, 25, 43, 335000, tzinfo=dt.timezone.utc)},
        SerializationContext("avro_times", MessageField.VALUE))
    p = Producer({"bootstrap.servers": srv.bootstrap})
    p.produce("avro_times", key=b"k", value=value)
    assert p.flush(15) == 0
    status, body = ksql(srv, "CREATE STREAM AVRO_TIMES WITH (KAFKA_TOPIC='avro_times', "
                             "VALUE_FORMAT='AVRO');")
    assert status == 200, body
    return srv


def read_query(server, sql):
    """The objects of a /query answer that ends (LIMIT or a pull query)."""
    s = Stream(server, "/query", {"ksql": sql, "streamsProperties": EARLIEST})
    try:
        assert s.resp.status == 200, s.resp.read()
        text = s.resp.read().decode()
    finally:
        s.close()
    return json.loads(text)


# ---------------------------------------------------------------- dates and times

def test_query_endpoint_shows_dates_and_times_as_text(times):
    rows = [o["row"]["columns"] for o in read_query(
        times, "SELECT D, T, TS FROM AVRO_TIMES EMIT CHANGES LIMIT 1;") if "row" in o]
    assert rows == [[DATE, TIME, TIMESTAMP]], rows
    # A pull query over the stream, SELECT *.
    rows = [o["row"]["columns"] for o in read_query(times, "SELECT * FROM AVRO_TIMES;")
            if "row" in o]
    assert rows == [[1, DATE, TIME, TIMESTAMP]], rows


def test_transient_aggregation_shows_timestamps_as_text(times):
    rows = [o["row"]["columns"] for o in read_query(
        times, "SELECT TS, COUNT(*) AS N FROM AVRO_TIMES GROUP BY TS EMIT CHANGES LIMIT 1;")
        if "row" in o]
    assert rows == [[TIMESTAMP, 1]], rows


@pytest.mark.parametrize("accept", ["application/vnd.ksqlapi.delimited.v1", "application/json"])
def test_query_stream_shows_dates_and_times_as_text(times, accept):
    s = Stream(times, "/query-stream",
               {"sql": "SELECT D, T, TS FROM AVRO_TIMES EMIT CHANGES LIMIT 1;",
                "properties": {"auto.offset.reset": "earliest"}}, accept=accept)
    try:
        assert s.resp.status == 200
        body = s.resp.read().decode()
    finally:
        s.close()
    if accept == "application/json":
        items = json.loads(body)
    else:
        items = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert items[0]["columnTypes"] == ["DATE", "TIME", "TIMESTAMP"], items
    assert [DATE, TIME, TIMESTAMP] in items[1:], items


def test_cli_prints_dates_and_times_as_text(times):
    cp = cli(times, "-e", "SET 'auto.offset.reset'='earliest'; "
                          "SELECT D, T, TS FROM AVRO_TIMES EMIT CHANGES LIMIT 1;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(rf"^\|{DATE} *\|{TIME} *\|{TIMESTAMP} *\|$", cp.stdout, re.M), cp.stdout


# ---------------------------------------------------------------- SHOW TOPICS

def topic_names(server, sql, props=None):
    status, body = ksql(server, sql, props)
    assert status == 200, body
    return {t["name"] for t in body[0]["topics"]}


def test_show_topics_hides_internal_topics(times):
    # The registry's _schemas exists (the Avro stream); a connector statement
    # makes Connect's topics exist too.
    ksql(times, "SHOW CONNECTORS;")
    every = topic_names(times, "SHOW ALL TOPICS;")
    internal = {"_schemas", "connect-configs", "connect-offsets", "connect-status",
                "_confluent-ksql-default__command_topic"}
    assert internal <= every, every
    assert "avro_times" in every
    shown = topic_names(times, "SHOW TOPICS;")
    assert not shown & internal, shown
    assert {"avro_times", "default_ksql_processing_log"} <= shown, shown
    extended = topic_names(times, "SHOW TOPICS EXTENDED;")
    assert extended == shown
    assert topic_names(times, "SHOW ALL TOPICS EXTENDED;") == every
    # ksql.hidden.topics replaces the list (ksqlDB's own topics stay hidden).
    custom = topic_names(times, "SHOW TOPICS;", {"ksql.hidden.topics": "avro_.*"})
    assert "avro_times" not in custom and "connect-configs" in custom, custom
    assert "_confluent-ksql-default__command_topic" not in custom


def test_hidden_topics_set_for_the_whole_server(creek_factory):
    """`creek up --ksql-property ksql.hidden.topics=…` is the server-wide setting,
    as a line of ksqlDB's server properties file; a session's SET still wins."""
    srv = creek_factory(extra_args=["--ksql-property", "ksql.hidden.topics=visible_.*"])
    create_topic(srv, "visible_one")
    shown = topic_names(srv, "SHOW TOPICS;")
    assert "visible_one" not in shown and "connect-configs" in shown, shown
    assert "visible_one" in topic_names(srv, "SHOW ALL TOPICS;")
    session = topic_names(srv, "SHOW TOPICS;", {"ksql.hidden.topics": "other"})
    assert "visible_one" in session, session


# ---------------------------------------------------------------- the CLI

def test_cli_prints_the_parsers_full_message(times):
    cp = cli(times, "-e", "SELEC 1;")
    assert cp.returncode != 0
    assert "line 1:1: Syntax Error" in cp.stderr, cp.stderr
    assert "Unknown statement 'SELEC'" in cp.stderr, cp.stderr
    assert "Did you mean 'SELECT'?" in cp.stderr, cp.stderr
    # A SELECT goes to /query, which answers only the first line: the CLI adds
    # what was expected.
    cp = cli(times, "-e", "SELECT * FROM AVRO_TIMES ORDER BY ID DESC;")
    assert cp.returncode != 0
    assert "line 1:32: Syntax Error\nExpecting ';'" in cp.stderr, cp.stderr


@pytest.fixture(scope="module")
def wide(_creek_module_server):
    srv = _creek_module_server
    create_topic(srv, "wide_values", 1)
    produce_json(srv, "wide_values", [("a", {"ID": 1, "V": "x" * 200}),
                                      ("b", {"ID": 2, "V": "first\nsecond\x1b[31m"})])
    status, body = ksql(srv, "CREATE STREAM WIDE_VALUES (ID INT, V STRING) WITH "
                             "(KAFKA_TOPIC='wide_values', VALUE_FORMAT='JSON');")
    assert status == 200, body
    return srv


@pytest.mark.parametrize("no_color", [False, True])
def test_cli_in_a_pipe_prints_whole_values_on_intact_rows(wide, no_color):
    env = dict(os.environ, COLUMNS="80")
    if no_color:
        env["NO_COLOR"] = "1"
    cp = cli(wide, "-e", "SET 'auto.offset.reset'='earliest'; "
                         "SELECT ID, V FROM WIDE_VALUES EMIT CHANGES LIMIT 2; "
                         "DESCRIBE NO_SUCH_SOURCE;", env=env)
    assert cp.returncode != 0  # the DESCRIBE fails, after the query
    assert "x" * 200 in cp.stdout, cp.stdout
    rows = [line for line in cp.stdout.splitlines() if line.startswith("|")]
    assert len(rows) == 3, cp.stdout  # header and two rows, one line each
    assert all(r.endswith("|") for r in rows), cp.stdout
    assert r"first\nsecond\u001B[31m" in cp.stdout, cp.stdout
    assert "\x1b" not in cp.stdout and "\x1b" not in cp.stderr


def test_describe_extended_counts_real_records(_creek_module_server):
    srv = _creek_module_server
    create_topic(srv, "counted", 1)
    produce_json(srv, "counted", [(f"k{i}", {"ID": i}) for i in range(7)])
    status, body = ksql(srv, "CREATE STREAM COUNTED (ID INT) WITH (KAFKA_TOPIC='counted', "
                             "VALUE_FORMAT='JSON'); "
                             "CREATE STREAM COUNTED_OUT AS SELECT ID FROM COUNTED;", EARLIEST)
    assert status == 200, body

    def described(name):
        cp = cli(srv, "-e", f"DESCRIBE {name} EXTENDED;")
        assert cp.returncode == 0, cp.stdout + cp.stderr
        return cp.stdout

    wait_until(lambda: "total-messages:         7" in described("COUNTED_OUT"), 30,
               what="the sink's producer count")
    src = described("COUNTED")
    assert "Local runtime statistics" in src
    assert re.search(r"consumer-total-messages: +7 ", src), src
    assert re.search(r"last-message: 20\d\d-\d\d-\d\dT", src), src
    out = described("COUNTED_OUT")
    assert re.search(r"messages-per-sec: +[\d.]+ +total-messages: +7 ", out), out


# ---------------------------------------------------------------- secrets and logs

def test_connector_password_never_reaches_the_log(creek):
    statement = ("CREATE SOURCE CONNECTOR leaky WITH ("
                 "'connector.class'='io.confluent.connect.jdbc.JdbcSourceConnector', "
                 "'connection.url'='jdbc:postgresql://127.0.0.1:1/nowhere', "
                 "'connection.user'='me', 'connection.password'='s3cr3t', "
                 "'mode'='bulk', 'topic.prefix'='leaky-');")
    status, body = ksql(creek, statement)
    assert "s3cr3t" not in json.dumps(body), body
    # A statement that fails to parse, and one that fails to run.
    status, body = ksql(creek, statement.replace("'mode'", "'mode' 'x'"))
    assert status == 400 and "s3cr3t" not in json.dumps(body), body
    status, body = ksql(creek, statement.replace("JdbcSourceConnector", "NoSuchConnector")
                        .replace("leaky", "leaky2"))
    assert status == 400 and "s3cr3t" not in json.dumps(body), body
    time.sleep(1)
    logs = server_logs(creek)
    assert "CREATE SOURCE CONNECTOR" in logs  # the statements are logged, masked
    assert "s3cr3t" not in logs


def test_a_failing_connector_shows_why_in_the_cli(creek):
    """A JDBC source whose database is away: SHOW CONNECTORS flags it at once as
    ksqlDB does, DESCRIBE CONNECTOR shows the task's cause, and no password (of the
    key or inside the URL) reaches the CLI's output or the logs."""
    statement = ("CREATE SOURCE CONNECTOR away WITH ("
                 "'connector.class'='io.confluent.connect.jdbc.JdbcSourceConnector', "
                 "'connection.url'='jdbc:postgresql://127.0.0.1:1/nowhere', "
                 "'connection.user'='me', 'connection.password'='pw-in-key', "
                 "'mode'='bulk', 'topic.prefix'='away-');")
    cp = cli(creek, "-e", statement)
    assert cp.returncode == 0, cp.stderr
    shown = wait_until(
        lambda: (lambda out: out if "WARNING (0/1 tasks RUNNING)" in out else None)(
            cli(creek, "-e", "SHOW CONNECTORS;").stdout),
        timeout=15, what="SHOW CONNECTORS to flag the failed task")
    assert "AWAY" in shown, shown
    described = cli(creek, "-e", "DESCRIBE CONNECTOR away;")
    assert described.returncode == 0, described.stderr
    assert "FAILED" in described.stdout and "could not connect" in described.stdout, \
        described.stdout
    # A user:password@ in the URL is refused, without echoing the password.
    refused = cli(creek, "-e", statement.replace("127.0.0.1:1", "bob:pw-in-url@127.0.0.1:1")
                  .replace("away", "away2"))
    assert refused.returncode != 0 and "connection.password" in refused.stderr, refused
    time.sleep(1)
    everything = (shown + described.stdout + described.stderr + refused.stdout
                  + refused.stderr + server_logs(creek))
    assert "pw-in-key" not in everything and "pw-in-url" not in everything


def test_a_flood_of_bad_statements_is_logged_at_a_bounded_rate(creek):
    for i in range(60):
        status, _ = post(creek, "/ksql", {"ksql": f"SELEC {i};", "streamsProperties": {}})
        assert status == 400
    # Each log (stderr, the ksqlDB log file) has the first five only.
    for log in log_files(creek):
        assert len(re.findall(r"syntax error", log)) <= 5, log[-3000:]
    assert "SELEC 4;" in server_logs(creek) and "SELEC 5;" not in server_logs(creek)
    # After the interval, the rest are counted in one line (written when the
    # interval ends, at the latest with the next rejected statement).
    time.sleep(10.5)
    post(creek, "/ksql", {"ksql": "SELEC 60;", "streamsProperties": {}})
    wait_until(lambda: "55 more rejected requests like the last were not logged"
               in server_logs(creek), 10, what="the summary line")


@pytest.mark.parametrize("no_color", [False, True])
def test_cli_colour_only_on_a_terminal_without_no_color(times, no_color):
    """An error is red on a terminal, unless NO_COLOR is set."""
    import pty

    master, slave = pty.openpty()
    env = dict(os.environ, TERM="xterm")
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    proc = subprocess.Popen([str(require_creek_bin()), "ksql", ksql_url(times), "-e",
                             "SELEC 1;"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=slave, env=env)
    os.close(slave)
    proc.wait(30)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    assert b"Unknown statement 'SELEC'" in err, err
    assert (b"\x1b[" in err) != no_color, err
