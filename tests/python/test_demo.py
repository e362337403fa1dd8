"""`creek demo`: the seed's whole pipeline in one command. While it runs, its
Parquet files are readable by DuckDB and its ksqlDB answers; when it stops, the
summary names lake files whose rows are the rows the generator made."""

from __future__ import annotations

import re
import subprocess
import time

import duckdb
import requests

from creekutil import require_creek_bin

PORTS = ["--kafka-port", "0", "--registry-port", "0", "--connect-port", "0", "--ksql-port", "0"]


def parquet_rows(pattern: str) -> int:
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{pattern}')").fetchall()[0][0]


def test_demo_runs_the_pipeline_into_a_readable_lake(tmp_path):
    data = tmp_path / "demo"
    proc = subprocess.Popen(
        [str(require_creek_bin()), "demo", "--duration", "25", "--rate", "40",
         "--data-dir", str(data), *PORTS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        ksql_url = None
        deadline = time.time() + 60
        while ksql_url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"ksql (http://\S+)", line)
            if m and "creek ksql" not in line:
                ksql_url = m.group(1)
        assert ksql_url, "".join(lines) + proc.stderr.read()

        queries = requests.post(f"{ksql_url}/ksql", json={"ksql": "SHOW QUERIES;"}).json()
        states = {q["id"]: q["state"] for q in queries[0]["queries"]}
        assert states == {"CSAS_CUSTOMERS_CLASSIFIED_0": "RUNNING",
                          "CSAS_CUSTOMERS_SENIORS_1": "RUNNING",
                          "CTAS_CUSTOMERS_PER_AGE_GROUP_2": "RUNNING"}, states

        # Readable while the demo writes: files appear atomically, whole.
        classified = f"{data}/lake/datalake/topics/CUSTOMERS_CLASSIFIED/*/*.parquet"
        seen = 0
        while time.time() < deadline and seen == 0:
            if list(data.glob("lake/datalake/topics/CUSTOMERS_CLASSIFIED/*/*.parquet")):
                seen = parquet_rows(classified)
            time.sleep(0.5)
        assert seen > 0
        groups = {r[0] for r in duckdb.sql(
            f"SELECT DISTINCT faixa_etaria FROM read_parquet('{classified}')").fetchall()}
        assert groups <= {"menor", "adulto", "idoso"} and groups, groups

        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            # SIGTERM first: the demo then stops its throwaway PostgreSQL too.
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert proc.returncode == 0, out + err
    generated = int(re.search(r"(\d+) customers generated", out).group(1))
    files = re.findall(r"^\s+(/\S+\.parquet) \((\d+) rows\)$", out, re.M)
    assert files, out
    for path, rows in files:
        assert parquet_rows(path) == int(rows), path
    lake = sum(int(r) for p, r in files if "/topics/psg-customers/" in p)
    in_topic = int(re.search(r"topic psg-customers: (\d+) records", out).group(1))
    classified = sum(int(r) for p, r in files if "/topics/CUSTOMERS_CLASSIFIED/" in p)
    # Stopping lets the pipeline drain: every generated row is in the lake.
    assert "every generated row reached the lake" in out, out
    assert lake == in_topic == generated == classified > 0, out


def test_a_directory_the_demo_did_not_make_is_left_alone(tmp_path):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    res = subprocess.run([str(require_creek_bin()), "demo", "--data-dir", str(tmp_path), *PORTS],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert "not made by creek demo" in res.stderr
    assert keep.read_text() == "mine"


def test_an_unreachable_database_is_named_without_its_password(tmp_path):
    res = subprocess.run(
        [str(require_creek_bin()), "demo", "--data-dir", str(tmp_path / "d"), *PORTS,
         "--connection-string", "postgresql://postgres:s3cret@127.0.0.1:1/postgres"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "127.0.0.1:1" in res.stderr, res.stderr
    assert "s3cret" not in res.stdout + res.stderr


def test_demo_fills_and_reads_a_given_database(postgres, tmp_path):
    res = subprocess.run(
        [str(require_creek_bin()), "demo", "--duration", "8", "--rate", "50",
         "--data-dir", str(tmp_path / "d"), *PORTS,
         "--connection-string", postgres.connection_string],
        capture_output=True, text=True, timeout=90)
    assert res.returncode == 0, res.stdout + res.stderr
    with postgres.connect() as conn:
        rows = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    generated = int(re.search(r"(\d+) customers generated", res.stdout).group(1))
    assert rows == generated > 0
    in_topic = int(re.search(r"topic psg-customers: (\d+) records", res.stdout).group(1))
    assert 0 < in_topic <= rows
