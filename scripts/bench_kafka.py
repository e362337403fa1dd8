#!/usr/bin/env python3
"""creek's broker against Apache Kafka 4.4.0, same machine, same tools, same run.

Usage: scripts/bench_kafka.py [--records N] [--sizes 100,1000] [--partitions 1,3]
                              [--latency-records N] [--json]
(CREEK_BIN: the creek binary, default the release build; scripts/bench-kafka.sh builds it.)

Both brokers run at once on free loopback ports with their data in one temporary
folder: Apache Kafka as one KRaft broker+controller (scripts/kafka.sh start, heap
768 MB) and `creek up`. For each record size and partition count, on each broker in
turn (creek first, then Kafka), a fresh topic, then Kafka's own tools:

- kafka-producer-perf-test: N records, acks=all, unthrottled -> records/s and the
  tool's produce latency (send -> acknowledgement);
- kafka-consumer-perf-test: the same N records by a new group -> records/s;
- kafka-e2e-latency (on the first partition count only): records one at a time, each
  sent once the last arrived -> produce -> consume latency p50/p99/p99.9.

Beside each figure: the broker process's CPU seconds per million records for the phase
(from /proc/PID/stat) and its peak resident memory (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO / "scripts" / "kafka.sh"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    m = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) / 1024 if m else float("nan")


def tool(name: str, *args: str, timeout: float = 900) -> str:
    cp = subprocess.run([str(KAFKA_SH), "tool", name, *args], capture_output=True, text=True,
                        timeout=timeout)
    if cp.returncode != 0:
        sys.exit(f"{name} failed ({cp.returncode}): {' '.join(args)}\n{cp.stdout}\n{cp.stderr}")
    return cp.stdout


class Broker:
    def __init__(self, name: str, bootstrap: str, pid: int):
        self.name, self.bootstrap, self.pid = name, bootstrap, pid

    def create_topic(self, topic: str, partitions: int) -> None:
        tool("kafka-topics", "--bootstrap-server", self.bootstrap, "--create", "--topic", topic,
             "--partitions", str(partitions), "--replication-factor", "1")


def start_creek(workdir: Path) -> tuple[Broker, subprocess.Popen]:
    binary = os.environ.get("CREEK_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "release" / "creek")
    port = free_port()
    log = open(workdir / "creek.log", "w")
    proc = subprocess.Popen(
        [binary, "up", "--data-dir", str(workdir / "creek-data"), "--kafka-port", str(port),
         "--registry-port", "0", "--connect-port", "0", "--ksql-port", "0"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    if not line.startswith("creek ready"):
        sys.exit(f"creek up did not start: {line}\n{(workdir / 'creek.log').read_text()}")
    return Broker("creek", f"127.0.0.1:{port}", proc.pid), proc


def start_kafka(workdir: Path) -> Broker:
    bootstrap = subprocess.run([str(KAFKA_SH), "start", str(workdir / "kafka")],
                               capture_output=True, text=True, check=True).stdout.split()[-1]
    pid = int((workdir / "kafka" / "node-1" / "pid").read_text())
    return Broker("kafka", bootstrap, pid)


def produce(broker: Broker, topic: str, records: int, size: int) -> dict:
    before = cpu_seconds(broker.pid)
    out = tool("kafka-producer-perf-test", "--topic", topic, "--num-records", str(records),
               "--record-size", str(size), "--throughput", "-1", "--command-property",
               f"bootstrap.servers={broker.bootstrap}", "acks=all", "linger.ms=5",
               "batch.size=131072")
    cpu = cpu_seconds(broker.pid) - before
    final = [l for l in out.splitlines() if re.match(rf"^{records} records sent", l)][-1]
    rate = float(re.search(r"([\d.]+) records/sec", final).group(1))
    p = {k: float(v) for v, k in re.findall(r"([\d.]+) ms (50th|99th|99\.9th)", final)}
    return {"records_per_s": rate, "ack_p50_ms": p.get("50th"), "ack_p99_ms": p.get("99th"),
            "cpu_s_per_million": cpu / records * 1e6}


def consume(broker: Broker, topic: str, records: int) -> dict:
    before = cpu_seconds(broker.pid)
    out = tool("kafka-consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic",
               topic, "--num-records", str(records), "--timeout", "120000", "--group",
               f"bench-{topic}")
    cpu = cpu_seconds(broker.pid) - before
    row = out.strip().splitlines()[-1].split(", ")
    consumed, fetch_rate = int(row[4]), float(row[9])
    if consumed < records:
        sys.exit(f"{broker.name}: consumed {consumed} of {records} records of {topic}")
    return {"records_per_s": fetch_rate, "cpu_s_per_million": cpu / records * 1e6}


def e2e_latency(broker: Broker, topic: str, records: int, size: int) -> dict:
    out = tool("kafka-e2e-latency", "--bootstrap-server", broker.bootstrap, "--topic", topic,
               "--num-records", str(records), "--producer-acks", "all", "--record-size",
               str(size))
    m = re.search(r"Percentiles: 50th = ([\d.]+), 99th = ([\d.]+), 99.9th = ([\d.]+)", out)
    if not m:
        sys.exit(f"{broker.name}: no percentiles in kafka-e2e-latency's output:\n{out}")
    p = dict(zip(("p50", "p99", "p999"), m.groups()))
    return {k: float(v) for k, v in p.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--partitions", default="1,3")
    ap.add_argument("--latency-records", type=int, default=5000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    partitions = [int(p) for p in args.partitions.split(",")]

    work = Path(tempfile.mkdtemp(prefix="creek-bench-kafka-"))
    creek_proc = None
    try:
        creek, creek_proc = start_creek(work)
        kafka = start_kafka(work)
        results = []
        for size in sizes:
            for parts in partitions:
                # Fewer records of 1 KB keep the run's disk use alike.
                records = args.records if size <= 100 else max(args.records // 5, 1000)
                for broker in (creek, kafka):
                    topic = f"perf-{size}b-{parts}p"
                    broker.create_topic(topic, parts)
                    row = {"broker": broker.name, "size": size, "partitions": parts,
                           "records": records,
                           "produce": produce(broker, topic, records, size),
                           "consume": consume(broker, topic, records)}
                    if parts == partitions[0]:
                        lat_topic = f"lat-{size}b"
                        broker.create_topic(lat_topic, 1)
                        row["e2e"] = e2e_latency(broker, lat_topic, args.latency_records, size)
                    results.append(row)
                    print(f"# {json.dumps(row)}", file=sys.stderr)
        memory = {b.name: peak_rss_mb(b.pid) for b in (creek, kafka)}
    finally:
        if creek_proc:
            creek_proc.terminate()
            creek_proc.wait(30)
        subprocess.run([str(KAFKA_SH), "stop", str(work / "kafka")], check=False)
        shutil.rmtree(work, ignore_errors=True)

    if args.json:
        print(json.dumps({"results": results, "peak_rss_mb": memory}))
        return
    print(f"creek vs Apache Kafka 4.4.0, kafka-producer/consumer-perf-test, acks=all "
          f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs)")
    print("| size | partitions | broker | produce rec/s | ack p50/p99 ms | produce CPU s/M "
          "| consume rec/s | consume CPU s/M | e2e p50/p99/p99.9 ms |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        e = r.get("e2e")
        e2e = f"{e['p50']:.2f} / {e['p99']:.2f} / {e['p999']:.2f}" if e else ""
        print(f"| {r['size']} B | {r['partitions']} | {r['broker']} "
              f"| {r['produce']['records_per_s']:,.0f} "
              f"| {r['produce']['ack_p50_ms']:.0f} / {r['produce']['ack_p99_ms']:.0f} "
              f"| {r['produce']['cpu_s_per_million']:.2f} "
              f"| {r['consume']['records_per_s']:,.0f} "
              f"| {r['consume']['cpu_s_per_million']:.2f} | {e2e} |")
    print(f"peak resident memory: creek {memory['creek']:.0f} MB, "
          f"Kafka {memory['kafka']:.0f} MB")


if __name__ == "__main__":
    main()
