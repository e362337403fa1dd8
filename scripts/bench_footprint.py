#!/usr/bin/env python3
"""creek's footprint: time from launching `creek up` to all four ports accepting
connections, idle resident memory, and resident memory under load (`creek demo`
generating, sourcing, querying and sinking the seed's rows).

Usage: scripts/bench_footprint.py CREEK_BIN [--rate ROWS_PER_S] [--seconds S]
       scripts/bench_footprint.py CREEK_BIN --bootstrap-servers HOST:PORT --startup-only
With --bootstrap-servers creek runs on that Kafka cluster (no broker of its own) and
start-up counts until its three HTTP ports accept; the first run on a fresh cluster
also creates creek's internal topics there.
Prints a Markdown table row set; BENCHMARKS.md records the figures."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05):
            return True
    except OSError:
        return False


def startup(creek: str, runs: int, bootstrap: str | None = None
            ) -> tuple[list[float], list[int]]:
    """Launch → every port accepting, and idle RSS 2 s later, over `runs` fresh starts."""
    times, idle = [], []
    for _ in range(runs):
        ports = [free_port() for _ in range(4)]
        with tempfile.TemporaryDirectory() as data:
            cluster = ["--bootstrap-servers", bootstrap] if bootstrap else []
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [creek, "up", "--data-dir", data, "--kafka-port", str(ports[0]),
                 "--registry-port", str(ports[1]), "--connect-port", str(ports[2]),
                 "--ksql-port", str(ports[3])] + cluster,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # On a cluster creek opens no Kafka port of its own.
            pending = set(ports[1:] if bootstrap else ports)
            while pending and time.perf_counter() - t0 < 30:
                pending = {p for p in pending if not accepts(p)}
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(2)
            idle.append(rss_kb(proc.pid))
            proc.terminate()
            proc.wait(timeout=30)
    return times, idle


def loaded(creek: str, rate: int, seconds: int) -> tuple[int, int, str]:
    """Peak and final RSS of `creek demo` (every service, a generator, three
    persistent queries and a Parquet lake sink in one process) at `rate` rows/s."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [creek, "demo", "--duration", str(seconds), "--rate", str(rate),
             "--data-dir", f"{tmp}/demo", "--kafka-port", "0", "--registry-port", "0",
             "--connect-port", "0", "--ksql-port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, rss_kb(proc.pid, "VmHWM"))
            except FileNotFoundError:
                break
            time.sleep(0.5)
        out = proc.stdout.read()
        summary = re.search(r"(\d+) customers generated", out)
        return peak, int(summary.group(1)) if summary else 0, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("creek")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--bootstrap-servers", help="run creek on this Kafka cluster")
    ap.add_argument("--startup-only", action="store_true", help="skip the loaded run")
    a = ap.parse_args()
    times, idle = startup(a.creek, a.runs, a.bootstrap_servers)
    if a.bootstrap_servers:
        print(f"| first start on {a.bootstrap_servers} (creates creek's internal topics) "
              f"| {times[0]:.1f} ms |")
        times = times[1:] or times
    times.sort()
    idle.sort()
    ports = "the 3 HTTP ports" if a.bootstrap_servers else "all 4 ports"
    print(f"| launch → {ports} accepting (median of {len(times)}) | {times[len(times)//2]:.1f} ms "
          f"(min {times[0]:.1f}, max {times[-1]:.1f}) |")
    print(f"| idle resident memory, `creek up` (median) | {idle[len(idle)//2] / 1024:.1f} MB |")
    if a.startup_only:
        return
    peak, rows, _ = loaded(a.creek, a.rate, a.seconds)
    print(f"| peak resident memory, `creek demo --rate {a.rate}` for {a.seconds} s "
          f"({rows} rows through source, 3 queries and the lake sink) | {peak / 1024:.1f} MB |")


if __name__ == "__main__":
    main()
