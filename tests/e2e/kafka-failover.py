#!/usr/bin/env python3
"""creek on a three-broker Apache Kafka 4.4.0 cluster, one broker SIGKILLed mid-way.

Usage: tests/e2e/kafka-failover.py [--records N]     (CREEK_BIN: the creek binary,
default the debug build under $CARGO_TARGET_DIR or ./target)

1. scripts/kafka.sh starts three combined broker+controller nodes (replication factor
   3, min.insync.replicas 2) on free loopback ports.
2. `creek up --bootstrap-servers … --replication-factor 3` runs ksqlDB on it: a stream
   over `events` (JSON), a CSAS keeping every event and a CTAS counting per key.
3. A producer (acks=all, idempotent) writes N events, one every millisecond or so;
   halfway through, one broker is killed with SIGKILL.
4. Then: every acknowledged event is in the CSAS output exactly once, every key's
   final count equals the events sent for it, and creek is still running.

Exit 0 and "kafka failover: OK" when all holds; a message naming what failed otherwise.
Long (about a minute or two); not in CI, named in the README.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "scripts" / "kafka.sh"
KEYS = [f"k{i}" for i in range(10)]


def fail(why: str) -> None:
    print(f"kafka failover: FAILED: {why}", file=sys.stderr)
    sys.exit(1)


def ksql(url: str, statement: str) -> None:
    import urllib.request
    body = json.dumps({"ksql": statement,
                       "streamsProperties": {"auto.offset.reset": "earliest"}}).encode()
    req = urllib.request.Request(f"{url}/ksql", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        if r.status != 200:
            fail(f"{statement}: HTTP {r.status}")


def read_topic(bootstrap: str, topic: str, until: int, timeout: float) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out, deadline = [], time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            # Past the expected count and quiet for a while: all is in.
            if len(out) >= until and time.monotonic() - quiet_since > 3:
                break
            continue
        quiet_since = time.monotonic()
        out.append((m.key().decode() if m.key() else None, json.loads(m.value())))
    c.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    args = ap.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    creek_bin = os.environ.get("CREEK_BIN") or str(target / "debug" / "creek")
    work = Path(tempfile.mkdtemp(prefix="creek-kafka-failover-"))
    env = {**os.environ, "CREEK_KAFKA_HEAP": os.environ.get("CREEK_KAFKA_HEAP", "512m")}
    creek = None
    try:
        bootstrap = subprocess.run([str(KAFKA_SH), "start", str(work / "cluster"), "3"],
                                   capture_output=True, text=True, env=env, check=True,
                                   timeout=300).stdout.split()[-1]
        print(f"three brokers at {bootstrap}")
        subprocess.run([str(KAFKA_SH), "tool", "kafka-topics", "--bootstrap-server", bootstrap,
                        "--create", "--topic", "events", "--partitions", "1",
                        "--replication-factor", "3"], check=True, capture_output=True)
        log = open(work / "creek.log", "w")
        creek = subprocess.Popen(
            [creek_bin, "up", "--data-dir", str(work / "creek"), "--bootstrap-servers", bootstrap,
             "--replication-factor", "3", "--registry-port", "0", "--connect-port", "0",
             "--ksql-port", "0"], stdout=subprocess.PIPE, stderr=log, text=True)
        ready = creek.stdout.readline()
        if not ready.startswith("creek ready"):
            fail(f"creek did not start: {ready}\n{(work / 'creek.log').read_text()[-3000:]}")
        ksql_url = ready.split("ksql=")[1].split()[0]
        ksql(ksql_url, "CREATE STREAM events (id INT, k VARCHAR) "
                       "WITH (kafka_topic='events', value_format='JSON');")
        ksql(ksql_url, "CREATE STREAM kept AS SELECT id, k FROM events EMIT CHANGES;")
        ksql(ksql_url, "CREATE TABLE per_key AS SELECT k, COUNT(*) AS n FROM events "
                       "GROUP BY k EMIT CHANGES;")

        acked: dict[int, str] = {}
        lock = threading.Lock()

        def on_delivery(err, msg):
            if err is None:
                row = json.loads(msg.value())
                with lock:
                    acked[row["ID"]] = row["K"]

        # Connection errors to the killed broker are expected: delivery reports
        # say what was acknowledged, so librdkafka's own error lines stay quiet.
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                      "enable.idempotence": True, "linger.ms": 1, "log_level": 2})
        killed = False
        for i in range(args.records):
            row = {"ID": i, "K": KEYS[i % len(KEYS)]}
            p.produce("events", json.dumps(row).encode(), on_delivery=on_delivery)
            p.poll(0)
            if i % 100 == 0:
                time.sleep(0.05)
            if not killed and i >= args.records // 2:
                subprocess.run([str(KAFKA_SH), "kill", str(work / "cluster"), "2"], check=True)
                print(f"SIGKILLed broker 2 after {i} events")
                killed = True
        if p.flush(120) != 0:
            fail("the producer could not deliver every event within 120 s")
        del p
        print(f"{len(acked)} of {args.records} events acknowledged")

        kept = read_topic(bootstrap, "KEPT", len(acked), timeout=180)
        ids = [v["ID"] for _, v in kept]
        missing = sorted(set(acked) - set(ids))
        dups = len(ids) - len(set(ids))
        if missing:
            fail(f"{len(missing)} acknowledged events missing from KEPT (first: {missing[:5]})")
        if dups:
            fail(f"{dups} duplicate events in KEPT")
        expected = {}
        for k in acked.values():
            expected[k] = expected.get(k, 0) + 1
        finals = {}
        for k, v in read_topic(bootstrap, "PER_KEY", 1, timeout=60):
            finals[k] = v["N"]
        if finals != expected:
            fail(f"final counts {finals} differ from the events sent {expected}")
        if creek.poll() is not None:
            fail(f"creek exited with {creek.returncode}")
        print(f"KEPT holds all {len(ids)} events once; PER_KEY counts match; creek runs")
        print("kafka failover: OK")
    finally:
        if creek and creek.poll() is None:
            creek.send_signal(signal.SIGTERM)
            try:
                creek.wait(30)
            except subprocess.TimeoutExpired:
                creek.kill()
        subprocess.run([str(KAFKA_SH), "stop", str(work / "cluster")], check=False)
        print(f"work dir (logs): {work}")


if __name__ == "__main__":
    main()
