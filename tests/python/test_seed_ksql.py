"""The seed's step 8 against `creek up`: after its steps 5-7 (creek fake, the
seed's connector JSON), the seed's own ksql statements run through `creek ksql`:
show topics, show connectors, print psg-customers (unquoted, with a dash),
create stream custstream over the Avro topic with the schema from the registry,
show streams, and the select that formats dates. A DATE formats as the real
birth date (the seed's ksqlDB printed 1970-01-01)."""

from __future__ import annotations

import os
import subprocess

import requests

from creekutil import creek_bin
from test_jdbc_source import fake, post_with_curl, seed_connector, wait_status


def ksql(server, statements: str, timeout: float = 60.0) -> str:
    url = f"http://127.0.0.1:{server.aux_ports['--ksql-port']}"
    # A wide terminal, so that push-query cells are not cut.
    res = subprocess.run([str(creek_bin()), "ksql", url, "-e", statements],
                         capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "COLUMNS": "400"})
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_seed_step_8(creek, postgres, tmp_path):
    fake(postgres, 20, n=20)
    res = post_with_curl(creek.connect_url, seed_connector(postgres.jdbc_url), tmp_path)
    assert res.returncode == 0, res.stderr
    wait_status(creek.connect_url, "RUNNING")
    births = {}
    with postgres.connect() as conn:
        for nome, nascimento in conn.execute("SELECT nome, nascimento FROM customers"):
            births[nome] = nascimento.isoformat()

    out = ksql(creek, "show topics;")
    assert "psg-customers" in out
    assert "default_ksql_processing_log" in out
    # Internal topics only with SHOW ALL TOPICS, as in ksqlDB.
    for internal in ("connect-configs", "connect-offsets", "connect-status", "_schemas",
                     "_confluent-ksql-default__command_topic"):
        assert internal not in out, out
        assert internal in ksql(creek, "show all topics;")

    out = ksql(creek, "show connectors;")
    assert "postg-connector" in out and "RUNNING" in out

    out = ksql(creek, "print psg-customers from beginning limit 2;")
    assert "Value format: AVRO" in out, out
    assert out.count("rowtime:") == 2, out

    out = ksql(creek, "create stream custstream WITH (kafka_topic='psg-customers', value_format='AVRO');")
    assert "Stream created" in out
    out = ksql(creek, "show streams;")
    assert "CUSTSTREAM" in out and "KSQL_PROCESSING_LOG" in out

    # The seed's select (a LIMIT so that the non-interactive run ends).
    out = ksql(creek, "SET 'auto.offset.reset'='earliest';\n"
                      "select nome, telefone, email, \n"
                      "TIMESTAMPTOSTRING(nascimento, 'yyyy-MM-dd', 'UTC') as dt_nascimento,\n"
                      "TIMESTAMPTOSTRING(dt_update, 'yyyy-MM-dd HH:mm:ss.SSS', 'UTC') as dt_updt_conv\n"
                      "from custstream emit changes limit 5;")
    assert "DT_NASCIMENTO" in out and "DT_UPDT_CONV" in out, out
    rows = [line for line in out.splitlines() if line.startswith("|") and "@" in line]
    assert len(rows) == 5, out
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        nome, dt_nascimento = cells[0], cells[3]
        assert births[nome] == dt_nascimento, (nome, dt_nascimento)
        assert dt_nascimento != "1970-01-01"

    # The DATE column itself prints as ksqlDB prints a DATE, not a day count.
    out = ksql(creek, "SET 'auto.offset.reset'='earliest';\n"
                      "select nome, nascimento from custstream emit changes limit 3;")
    rows = [line for line in out.splitlines() if line.startswith("|") and "NOME" not in line]
    assert len(rows) == 3, out
    for row in rows:
        nome, nascimento = [c.strip() for c in row.strip("|").split("|")]
        assert births[nome] == nascimento, (nome, nascimento)

    # A derived stream over the REST API: the seed's exercise goes on with CASE.
    url = f"http://127.0.0.1:{creek.aux_ports['--ksql-port']}"
    r = requests.post(f"{url}/ksql", json={
        "ksql": "CREATE STREAM custgender AS SELECT nome, "
                "CASE WHEN sexo = 'F' THEN 'feminino' ELSE 'masculino' END AS genero "
                "FROM custstream EMIT CHANGES;",
        "streamsProperties": {"ksql.streams.auto.offset.reset": "earliest",
                              "auto.offset.reset": "earliest"}})
    assert r.status_code == 200, r.text
    assert r.json()[0]["commandStatus"]["queryId"] == "CSAS_CUSTGENDER_0"
