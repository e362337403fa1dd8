"""`creek ksql`: the ksqlDB-compatible command-line client.

The tests that need a server skip while `creek up` does not answer ksqlDB's
GET /info on its --ksql-port (the REST API is being built separately).
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from creekutil import HOST, free_port, require_creek_bin, run


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
    proc = subprocess.Popen([str(require_creek_bin()), "ksql", ksql_url, "-e",
                             "SELECT * FROM cli_int EMIT CHANGES;"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import signal
        import time
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    assert "Query terminated" in out, out + err
