"""`creek ksql`: the ksqlDB-compatible command-line client.

The tests that need a server skip while `creek up` does not answer ksqlDB's
GET /info on its --ksql-port (the REST API is being built separately).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from creekutil import HOST, free_port, require_creek_bin, run


def interrupt_after(argv, marker, timeout=20.0):
    """Run argv, send SIGINT once a stdout line contains `marker`, and return
    (returncode, stdout, stderr)."""
    proc = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    seen = threading.Event()

    def pump():
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                seen.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert seen.wait(timeout), f"no {marker!r} in the output: {''.join(lines)}"
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout)
        reader.join(5)
        return proc.returncode, "".join(lines), proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def ksql(url, *args, input=None, check=False, timeout=60.0):
    return run([require_creek_bin(), "ksql", url, *args], input=input, check=check,
               timeout=timeout, what="creek ksql")


def _ksql_url(server) -> str:
    return f"http://{HOST}:{server.aux_ports['--ksql-port']}"


@pytest.fixture
def ksql_url(creek_shared):
    url = _ksql_url(creek_shared)
    try:
        with urllib.request.urlopen(f"{url}/info", timeout=5) as resp:
            info = json.load(resp)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            pytest.skip("this build has no ksqlDB REST API (GET /info answers 404)")
        raise
    except (urllib.error.URLError, ConnectionError) as e:
        pytest.skip(f"no ksqlDB REST API on {url}: {e}")
    assert "KsqlServerInfo" in info, info
    return url


# ------------------------------------------------------------ a fake ksqlDB server

STREAMS = {"@type": "streams", "statementText": "SHOW STREAMS;", "warnings": [], "streams": [
    {"type": "STREAM", "name": "ORDERS", "topic": "orders", "keyFormat": "KAFKA",
     "valueFormat": "JSON", "isWindowed": False}]}


class FakeKsqlHandler(BaseHTTPRequestHandler):
    """Answers like ksqlDB's REST API, from canned responses; records requests."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/info":
            self._json(200, {"KsqlServerInfo": {"version": "0.29.0-fake",
                                                "serverStatus": "RUNNING"}})
        else:
            self._json(404, {"error_code": 40400, "message": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.server.requests.append((self.path, body))
        sql = body.get("ksql", "")
        words = " ".join(sql.upper().split())
        if self.path == "/ksql":
            if words.startswith("SHOW STREAMS"):
                self._json(200, [STREAMS])
            elif words.startswith("CREATE"):
                self._json(200, [{"@type": "currentStatus", "statementText": sql,
                                  "commandId": "stream/X/create",
                                  "commandStatus": {"status": "SUCCESS",
                                                    "message": "Stream created"},
                                  "commandSequenceNumber": 1, "warnings": []}])
            else:
                self._json(400, {"@type": "statement_error", "error_code": 40001,
                                 "message": f"Cannot handle: {sql}",
                                 "statementText": sql, "entities": []})
        elif self.path == "/query":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(text):
                data = text.encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            header = {"header": {"queryId": "transient_1",
                                 "schema": "`ID` INTEGER, `NAME` STRING"}}
            chunk("[" + json.dumps(header))
            for i, name in [(1, "alice"), (2, "bob;semi")]:
                chunk(",\n" + json.dumps({"row": {"columns": [i, name]}}))
            try:
                if "LIMIT" in sql.upper():
                    chunk(",\n" + json.dumps({"finalMessage": "Limit Reached"}) + "]\n")
                    chunk("")
                else:  # a push query: rows until the client goes away
                    for _ in range(600):
                        time.sleep(0.05)
                        chunk("\n")
                    chunk("]")
                    chunk("")
            except OSError:
                self.server.disconnected.set()
        elif self.path == "/close-query":
            self._json(200, {})
        else:
            self._json(404, {"error_code": 40400, "message": "not found"})


@pytest.fixture
def fake_ksql():
    srv = ThreadingHTTPServer((HOST, 0), FakeKsqlHandler)
    srv.requests = []
    srv.disconnected = threading.Event()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    srv.url = f"http://{HOST}:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def test_fake_show_streams_and_session_state(fake_ksql):
    cp = ksql(fake_ksql.url, "-e", "SET 'auto.offset.reset'='earliest'; DEFINE t = 'x';"
              " SHOW STREAMS; CREATE STREAM ${t} (id INT) WITH (kafka_topic='x');")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert (" Stream Name | Kafka Topic | Key Format | Value Format | Windowed \n"
            "------------------------------------------------------------------\n"
            " ORDERS      | orders      | KAFKA      | JSON         | false    \n"
            "------------------------------------------------------------------\n") \
        in cp.stdout, cp.stdout
    assert " Message        \n----------------\n Stream created \n" in cp.stdout, cp.stdout
    path, body = fake_ksql.requests[-1]
    assert path == "/ksql"
    assert body["ksql"].startswith("CREATE STREAM x (id INT)"), body
    assert body["streamsProperties"] == {"auto.offset.reset": "earliest"}, body
    assert body["sessionVariables"] == {"t": "x"}, body
    assert "commandSequenceNumber" not in body, body  # nothing ran before it


def test_fake_later_requests_wait_for_earlier_commands(fake_ksql):
    cp = ksql(fake_ksql.url, "-e", "CREATE STREAM a (id INT) WITH (kafka_topic='a');"
              " SHOW STREAMS; SELECT * FROM a EMIT CHANGES LIMIT 2;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    seqs = [(path, body.get("commandSequenceNumber")) for path, body in fake_ksql.requests]
    assert seqs == [("/ksql", None), ("/ksql", 1), ("/query", 1)], seqs


def test_fake_define_flag_and_json_output(fake_ksql):
    cp = ksql(fake_ksql.url, "--define", "t=orders", "--output", "JSON", "-e",
              "CREATE STREAM ${t} (id INT) WITH (kafka_topic='${t}');"
              " SELECT * FROM x EMIT CHANGES LIMIT 2;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    path, body = fake_ksql.requests[0]
    assert body["ksql"] == "CREATE STREAM orders (id INT) WITH (kafka_topic='orders');", body
    assert body["sessionVariables"] == {"t": "orders"}, body
    decoder = json.JSONDecoder()
    text, docs = cp.stdout.strip(), []
    while text:
        doc, end = decoder.raw_decode(text)
        docs.append(doc)
        text = text[end:].lstrip()
        if text.startswith("Query terminated"):
            break
    assert docs[0][0]["commandStatus"]["message"] == "Stream created", docs
    assert docs[2] == {"row": {"columns": [1, "alice"]}}, docs


def test_fake_config_file_properties(fake_ksql, tmp_path):
    conf = tmp_path / "cli.properties"
    conf.write_text("# session defaults\nauto.offset.reset=earliest\n")
    cp = ksql(fake_ksql.url, "--config-file", str(conf), "-e", "SHOW STREAMS;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert fake_ksql.requests[-1][1]["streamsProperties"] == {"auto.offset.reset": "earliest"}


def test_fake_error_is_printed_and_exits_nonzero(fake_ksql):
    cp = ksql(fake_ksql.url, "-e", "DESCRIBE NOPE; SHOW STREAMS;")
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert cp.stderr.strip() == "Cannot handle: DESCRIBE NOPE;", cp.stderr
    assert "Stream Name" not in cp.stdout  # stopped at the failure


def test_fake_interactive_continues_after_error(fake_ksql):
    cp = ksql(fake_ksql.url, input="DESCRIBE\n  NOPE;\nSHOW\nSTREAMS;\nquit\n")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "Server v0.29.0-fake located at" in cp.stdout
    assert "Server Status: RUNNING" in cp.stdout
    assert "Cannot handle: DESCRIBE\n  NOPE;" in cp.stderr
    assert " ORDERS      | orders " in cp.stdout


def test_fake_limited_query(fake_ksql):
    cp = ksql(fake_ksql.url, "-e", "SELECT * FROM orders EMIT CHANGES LIMIT 2;",
              timeout=20)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    lines = cp.stdout.splitlines()
    assert re.fullmatch(r"\+-+\+-+\+", lines[0]), cp.stdout
    assert re.fullmatch(r"\|ID +\|NAME +\|", lines[1]), cp.stdout
    assert re.fullmatch(r"\|1 +\|alice +\|", lines[3]), cp.stdout
    assert re.fullmatch(r"\|2 +\|bob;semi +\|", lines[4]), cp.stdout
    assert lines[5:] == ["Limit Reached", "Query terminated"], cp.stdout


def test_fake_push_query_interrupted(fake_ksql):
    rc, out, err = interrupt_after(
        [require_creek_bin(), "ksql", fake_ksql.url, "-e",
         "SELECT * FROM orders EMIT CHANGES; SHOW STREAMS;"], "bob;semi")
    assert rc == 0, out + err
    assert re.search(r"^\|2 +\|bob;semi +\|$", out, re.M), out
    assert "Query terminated" in out
    assert " ORDERS      | orders " in out  # went on with the next statement
    assert fake_ksql.disconnected.wait(10), "the query connection was not closed"
    assert ("/close-query", {"queryId": "transient_1"}) in fake_ksql.requests


def test_fake_query_row_limit_and_timeout(fake_ksql):
    cp = ksql(fake_ksql.url, "--query-row-limit", "1", "-e",
              "SELECT * FROM orders EMIT CHANGES;", timeout=20)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "|alice" in cp.stdout and "bob;semi" not in cp.stdout, cp.stdout
    assert cp.stdout.rstrip().endswith("Query terminated"), cp.stdout
    assert fake_ksql.disconnected.wait(10), "the query connection was not closed"

    start = time.monotonic()
    cp = ksql(fake_ksql.url, "--query-timeout", "700", "-e",
              "SELECT * FROM orders EMIT CHANGES; SHOW STREAMS;", timeout=20)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert time.monotonic() - start < 15
    assert "|bob;semi" in cp.stdout and "Query terminated" in cp.stdout, cp.stdout
    assert " ORDERS      | orders " in cp.stdout, cp.stdout


# ------------------------------------------------------------ no server needed

def test_session_statements_are_local():
    url = f"http://{HOST}:{free_port()}"  # nothing listens there
    cp = ksql(url, "-e", "SET 'auto.offset.reset'='earliest'; DEFINE topic = 'orders';"
              " SHOW VARIABLES; UNSET 'auto.offset.reset';")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "Successfully changed local property 'auto.offset.reset' to 'earliest'" in cp.stdout
    assert re.search(r"^ Variable Name \| Value +$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^ topic +\| orders +$", cp.stdout, re.M), cp.stdout
    assert "Successfully unset local property 'auto.offset.reset'" in cp.stdout


def test_unreachable_server_fails_with_message():
    url = f"http://{HOST}:{free_port()}"
    cp = ksql(url, "-e", "SHOW STREAMS;")
    assert cp.returncode != 0
    assert "Error issuing POST to KSQL server. path:/ksql" in cp.stderr, cp.stderr


def test_interactive_banner_help_and_exit():
    url = f"http://{HOST}:{free_port()}"
    cp = ksql(url, input="help\nexit\n")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert f"located at {url}" in cp.stdout, cp.stdout
    assert "does not appear to be a valid ksqlDB server" in cp.stdout, cp.stdout
    assert "RUN SCRIPT" in cp.stdout  # the help text
    assert "Exiting ksqlDB." in cp.stdout


def test_run_script_file(tmp_path):
    url = f"http://{HOST}:{free_port()}"
    script = tmp_path / "vars.sql"
    script.write_text("-- comment; with a semicolon\nDEFINE a = 'x;y';\nDEFINE b = 'z';\n")
    cp = ksql(url, "-e", f"RUN SCRIPT '{script}'; SHOW VARIABLES;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^ a +\| x;y +$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^ b +\| z +$", cp.stdout, re.M), cp.stdout

    cp = ksql(url, "-f", str(script), "-e", "SHOW VARIABLES;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^ a +\| x;y +$", cp.stdout, re.M), cp.stdout


# ---------------------------------------------------------------- with a server

def test_show_streams(ksql_url):
    cp = ksql(ksql_url, "-e", "SHOW STREAMS;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    lines = cp.stdout.splitlines()
    header = [i for i, line in enumerate(lines) if "Stream Name" in line]
    assert header, cp.stdout
    i = header[0]
    assert re.fullmatch(r" Stream Name +\| Kafka Topic +\| Key Format +\| Value Format +\|"
                        r" Windowed +", lines[i]), lines[i]
    assert set(lines[i + 1]) == {"-"} and len(lines[i + 1]) == len(lines[i]), cp.stdout


def test_show_topics(ksql_url):
    cp = ksql(ksql_url, "-e", "SHOW TOPICS;")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^ Kafka Topic +\| Partitions +\| Partition Replicas +$", cp.stdout,
                     re.M), cp.stdout


def test_failed_statement_exits_nonzero(ksql_url):
    cp = ksql(ksql_url, "-e", "DESCRIBE NO_SUCH_STREAM_ANYWHERE;")
    assert cp.returncode != 0, cp.stdout
    assert "NO_SUCH_STREAM_ANYWHERE" in cp.stderr.upper(), cp.stderr


def test_create_insert_and_limited_query(ksql_url):
    cp = ksql(ksql_url, "-e", """
        CREATE STREAM cli_s (id INT KEY, name STRING)
          WITH (kafka_topic='cli_s', partitions=1, value_format='JSON');
        INSERT INTO cli_s (id, name) VALUES (1, 'alice');
        INSERT INTO cli_s (id, name) VALUES (2, 'bob;semi');
        SET 'auto.offset.reset'='earliest';
        SELECT id, name FROM cli_s EMIT CHANGES LIMIT 2;
    """, timeout=60)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^ Message +$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^\|ID +\|NAME +\|$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^\|1 +\|alice +\|$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^\|2 +\|bob;semi +\|$", cp.stdout, re.M), cp.stdout
    assert "Query terminated" in cp.stdout, cp.stdout


def test_push_query_interrupted(ksql_url):
    """SIGINT ends a push query; with -e the CLI then goes on and exits 0."""
    ksql(ksql_url, "-e", "CREATE STREAM cli_int (id INT KEY, v STRING) WITH "
         "(kafka_topic='cli_int', partitions=1, value_format='JSON');")
    rc, out, err = interrupt_after(
        [require_creek_bin(), "ksql", ksql_url, "-e", "SELECT * FROM cli_int EMIT CHANGES;"],
        "|ID")
    assert rc == 0, out + err
    assert "Query terminated" in out, out + err


def test_print_topic(ksql_url):
    ksql(ksql_url, "-e", """
        CREATE STREAM cli_p (id INT KEY, name STRING)
          WITH (kafka_topic='cli_p', partitions=1, value_format='JSON');
        INSERT INTO cli_p (id, name) VALUES (7, 'seven');
    """, check=True)
    cp = ksql(ksql_url, "-e", "PRINT 'cli_p' FROM BEGINNING LIMIT 1;", timeout=30)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert re.search(r"^rowtime: .*key: 7, value: .*seven", cp.stdout, re.M), cp.stdout


def test_fake_interactive_terminal(fake_ksql, tmp_path):
    """On a terminal: `ksql>` prompt, `>` continuation, Ctrl-C ends a push query and
    returns to the prompt, history saved under $HOME/.creek."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = dict(os.environ, HOME=str(tmp_path), TERM="xterm")
    def controlling_terminal():  # so that Ctrl-C on the terminal sends SIGINT
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([str(require_creek_bin()), "ksql", fake_ksql.url],
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            preexec_fn=controlling_terminal)
    os.close(slave)
    seen = bytearray()

    def expect(text, timeout=15.0):
        deadline = time.monotonic() + timeout
        while text.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} on the terminal:\n{seen.decode(errors='replace')}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    assert text.encode() in seen, seen.decode(errors="replace")
                    return
                seen.extend(chunk)
        del seen[:seen.index(text.encode()) + len(text)]

    try:
        expect("ksql> ")
        os.write(master, b"SHOW\r")
        expect("> ")
        os.write(master, b"STREAMS;\r")
        expect(" ORDERS      | orders ")
        expect("ksql> ")
        os.write(master, b"SELECT * FROM orders EMIT CHANGES;\r")
        expect("|ID" + " " * 46 + "|NAME")  # 100 columns: two 48-wide cells
        expect("|bob;semi")
        os.write(master, b"\x03")  # Ctrl-C
        expect("Query terminated")
        expect("ksql> ")
        os.write(master, b"exit\r")
        expect("Exiting ksqlDB.")
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    history = (tmp_path / ".creek" / "ksql_history").read_text()
    assert "SHOW\\nSTREAMS;" in history, history
    assert "SELECT * FROM orders EMIT CHANGES;" in history, history
