#!/usr/bin/env python3
"""Initial load by the seed's JDBC source config against PostgreSQL's own COPY.

In one run, on one throwaway PostgreSQL holding ROWS seed rows (made by `creek fake`):
  1. `psql \\copy (select * from customers) to /dev/null with (format binary)`: the
     fastest way out of PostgreSQL, the limit a source can approach;
  2. `creek up` + the seed's connector JSON (timestamp mode from zero, Avro through
     the registry, into topic psg-customers): time from POST until the topic holds
     ROWS records.
Prints rows/s of both and the ratio. Usage: scripts/bench-jdbc.sh [ROWS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
from pgutil import TempPostgres, find_bin_dir  # noqa: E402
from creekutil import free_port  # noqa: E402

from confluent_kafka import Consumer, TopicPartition  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    creek = Path(os.environ.get("CREEK_BIN", ROOT / "target" / "release" / "creek"))
    psql = find_bin_dir() / "psql"
    with TempPostgres() as pg, tempfile.TemporaryDirectory() as work:
        t = time.time()
        subprocess.run([str(creek), "fake", "-cs", pg.connection_string, "-n", "10000",
                        "--interval", "0", "--silent", "--total", str(rows)], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"# {time.strftime('%Y-%m-%d')} rows={rows} (generated in {time.time() - t:.1f} s)")
        # Hint bits and statistics settled, so both readers see the same heap.
        subprocess.run([str(psql), pg.connection_string, "-qc", "VACUUM ANALYZE customers"],
                       check=True)

        copy_times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([str(psql), pg.connection_string, "-qc",
                            "\\copy (select * from customers) to /dev/null with (format binary)"],
                           check=True)
            copy_times.append(time.perf_counter() - t)
        copy_best = min(copy_times)
        print(f"psql \\copy binary: {rows / copy_best:,.0f} rows/s (best of 3: {copy_best:.2f} s)")

        kafka, registry, connect = free_port(), free_port(), free_port()
        # CREEK_PERF=FILE records a profile of creek with `perf record` (for tuning).
        wrap = ["perf", "record", "-g", "-o", os.environ["CREEK_PERF"], "--"] \
            if os.environ.get("CREEK_PERF") else []
        proc = subprocess.Popen(wrap + [str(creek), "up", "--data-dir", f"{work}/data", "--kafka-port",
                                 str(kafka), "--registry-port", str(registry), "--connect-port",
                                 str(connect), "--ksql-port", str(free_port())],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout.readline().startswith("creek ready:")
            body = {"name": "postg-connector", "config": {
                "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
                "tasks.max": 1, "connection.url": pg.jdbc_url, "connection.user": "postgres",
                "connection.password": "SUA-SENHA", "mode": "timestamp",
                "timestamp.column.name": "dt_update", "table.whitelist": "public.customers",
                "topic.prefix": "psg-", "validate.non.null": "false", "poll.interval.ms": 500}}
            consumer = Consumer({"bootstrap.servers": f"127.0.0.1:{kafka}", "group.id": "bench"})
            cpu0 = cpu_seconds(proc.pid)
            t = time.perf_counter()
            req = urllib.request.Request(f"http://127.0.0.1:{connect}/connectors",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req).read()
            while True:
                try:
                    _, high = consumer.get_watermark_offsets(TopicPartition("psg-customers", 0),
                                                             timeout=5)
                except Exception:  # topic not created yet
                    high = 0
                if high >= rows:
                    break
                time.sleep(0.02)
            elapsed = time.perf_counter() - t
            cpu = cpu_seconds(proc.pid) - cpu0
            consumer.close()
            print(f"creek jdbc source: {rows / elapsed:,.0f} rows/s ({elapsed:.2f} s, "
                  f"creek CPU {cpu:.2f} s)")
            print(f"ratio creek / COPY: {copy_best / elapsed:.2f}")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
