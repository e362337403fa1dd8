#!/usr/bin/env python3
"""The lake sink's Parquet delivery against pyarrow's own Parquet writer.

In one run: ROWS seed rows made by `creek fake` are copied by the JDBC source into
topic psg-customers as Avro (not timed); then
  1. creek: the S3 sink (ParquetFormat, snappy, flush.size 100000, a local folder)
     is posted; time from the POST until the folder holds ROWS rows;
  2. pyarrow: the same rows as one in-memory Arrow table written to Parquet with
     snappy into memory (`pq.write_table`, best of 3).
Prints rows/s of both and the ratio. Usage: scripts/bench-lake.sh [ROWS]
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from pgutil import TempPostgres  # noqa: E402
from creekutil import free_port  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402


def post(port: int, body: dict) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/connectors", method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        raise SystemExit(f"POST /connectors failed: {e.code} {e.read().decode()}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def committed(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/connectors/lake/offsets") as r:
        return sum(o["offset"]["kafka_offset"] for o in json.load(r)["offsets"])


def lake_rows(root: Path) -> int:
    total = 0
    for p in root.rglob("*.parquet"):
        try:
            total += pq.ParquetFile(p).metadata.num_rows
        except Exception:  # noqa: BLE001 - a file being renamed into place
            pass
    return total


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    creek = Path(os.environ.get("CREEK_BIN", ROOT / "target" / "release" / "creek"))
    with TempPostgres() as pg, tempfile.TemporaryDirectory() as work:
        subprocess.run([str(creek), "fake", "-cs", pg.connection_string, "-n", "10000",
                        "--interval", "0", "--silent", "--total", str(rows)], check=True,
                       stdout=subprocess.DEVNULL)
        kafka, connect = free_port(), free_port()
        proc = subprocess.Popen([str(creek), "up", "--data-dir", f"{work}/data", "--kafka-port",
                                 str(kafka), "--registry-port", str(free_port()),
                                 "--connect-port", str(connect), "--ksql-port", str(free_port())],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout.readline().startswith("creek ready:")
            post(connect, {"name": "src", "config": {
                "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                "connection.url": pg.jdbc_url, "connection.user": "postgres", "mode": "timestamp",
                "timestamp.column.name": "dt_update", "table.whitelist": "public.customers",
                "topic.prefix": "psg-", "validate.non.null": "false", "batch.max.rows": 1000}})
            consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{kafka}", "group.id": "bench"})
            while True:
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition("psg-customers", 0), 5)
                except Exception:  # noqa: BLE001 - topic not there yet
                    high = 0
                if high >= rows:
                    break
                time.sleep(0.05)
            consumer.close()
            # Stop the source: its polls scan the whole table in PostgreSQL, which
            # would compete with the sink for the two cores.
            req = urllib.request.Request(f"http://127.0.0.1:{connect}/connectors/src", method="DELETE")
            urllib.request.urlopen(req).read()
            print(f"# {time.strftime('%Y-%m-%d')} rows={rows} (Avro records in psg-customers)")

            lake = Path(work) / "lake"
            # CREEK_PERF=FILE profiles creek during the sink phase (for tuning).
            perf = subprocess.Popen(["perf", "record", "-g", "-o", os.environ["CREEK_PERF"],
                                     "-p", str(proc.pid)], stderr=subprocess.DEVNULL) \
                if os.environ.get("CREEK_PERF") else None
            cpu0 = cpu_seconds(proc.pid)
            t = time.perf_counter()
            post(connect, {"name": "lake", "config": {
                "connector.class": "io.confluent.connect.s3.S3SinkConnector",
                "topics": "psg-customers", "flush.size": 100000,
                "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
                "s3.bucket.name": "lake", "store.url": f"file://{lake}"}})
            # Offsets move only after the files are written: polling them (one small
            # HTTP call) costs far less CPU than reading Parquet footers would.
            while committed(connect) < rows:
                time.sleep(0.02)
            elapsed = time.perf_counter() - t
            assert lake_rows(lake) == rows, "the lake does not hold every row exactly once"
            if perf:
                perf.send_signal(2)
                perf.wait(30)
            cpu = cpu_seconds(proc.pid) - cpu0
            print(f"creek lake sink (log → Parquet files): {rows / elapsed:,.0f} rows/s "
                  f"({elapsed:.2f} s, creek CPU {cpu:.2f} s)")
        finally:
            proc.terminate()
            proc.wait(30)

        table = pa.concat_tables(pq.read_table(p) for p in sorted(lake.rglob("*.parquet")))
        table = table.combine_chunks()
        best = None
        for _ in range(3):
            buf = io.BytesIO()
            t = time.perf_counter()
            pq.write_table(table, buf, compression="snappy")
            took = time.perf_counter() - t
            best = took if best is None else min(best, took)
        print(f"pyarrow write_table (in-memory table → Parquet, snappy): {rows / best:,.0f} rows/s "
              f"(best of 3: {best:.2f} s)")
        print(f"ratio creek / pyarrow: {best / elapsed:.2f}")


if __name__ == "__main__":
    main()
