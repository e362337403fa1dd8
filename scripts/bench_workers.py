#!/usr/bin/env python3
"""creek workers sharing queries on a Kafka cluster.

Measures, on one cluster and in one run:
- throughput of the filter/projection query and of the windowed-count query
  (GROUP BY re-keyed through a repartition topic) with one and with two
  `creek up` workers of one ksql.service.id, while the query's group is stable
  with all of them (records the query had read before that are left out);
- CPU seconds per million records of the workers and of the broker in that window;
- fail-over: two workers hold a count over `--failover-keys` distinct keys, input
  keeps arriving, one worker is killed with SIGKILL; the time until every
  stage-two partition it owned moves (commits) again on the other worker.

Usage: scripts/bench_workers.py CREEK_BIN --bootstrap-servers HOST:PORT
           [--records N] [--partitions P] [--failover-keys K] [--broker-pid PID]
The cluster: `scripts/kafka.sh start DIR` (one KRaft node). Prints Markdown rows;
BENCHMARKS.md records them."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import requests
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Worker:
    def __init__(self, creek: str, bootstrap: str, service: str, log: str | None = None):
        self.data = tempfile.TemporaryDirectory()
        stderr = open(f"{log}.{time.time_ns()}.log", "w") if log else subprocess.DEVNULL
        self.ports = [free_port() for _ in range(4)]
        self.proc = subprocess.Popen(
            [creek, "up", "--data-dir", self.data.name, "--kafka-port", str(self.ports[0]),
             "--registry-port", str(self.ports[1]), "--connect-port", str(self.ports[2]),
             "--ksql-port", str(self.ports[3]), "--bootstrap-servers", bootstrap,
             "--ksql-property", f"ksql.service.id={service}"],
            stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.url}/info", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.05)
        raise SystemExit("a worker did not start within 60 s")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports[3]}"

    def ksql(self, statement: str, props=None):
        r = requests.post(f"{self.url}/ksql", json={
            "ksql": statement,
            "streamsProperties": props or {"auto.offset.reset": "earliest"}}, timeout=60)
        if r.status_code != 200:
            raise SystemExit(f"{statement}: {r.text}")
        return r.json()

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
        self.data.cleanup()


def produce(bootstrap: str, topic: str, records: int, partitions: int, admin: AdminClient,
            keys: int | None = None) -> None:
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1 << 20,
                  "queue.buffering.max.messages": 1_000_000})
    base = int(time.time() * 1000) - records
    for i in range(records):
        key = i if keys is None else i % keys
        value = json.dumps({"id": key, "item": f"i{i % 100}", "qty": i % 1000})
        while True:
            try:
                p.produce(topic, value.encode(), key=str(key).encode(), timestamp=base + i)
                break
            except BufferError:
                p.poll(0.05)
    p.flush(120)


def committed(admin: AdminClient, group: str, topic: str, partitions: int) -> dict[int, int]:
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p) for p in range(partitions)])
    result = admin.list_consumer_group_offsets([request])[group].result(30)
    return {tp.partition: max(tp.offset, 0) for tp in result.topic_partitions}


def ends(bootstrap: str, topic: str, partitions: int) -> int:
    from confluent_kafka import Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ends"})
    try:
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(partitions))
    finally:
        c.close()


def members(admin: AdminClient, group: str) -> list:
    """The members of a stable group (empty while it rebalances)."""
    from confluent_kafka import ConsumerGroupState
    try:
        g = admin.describe_consumer_groups([group])[group].result(30)
    except Exception:  # not there yet
        return []
    return g.members if g.state == ConsumerGroupState.STABLE else []


def wait(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out waiting for {what}")


QUERIES = {
    "projection": ("CREATE STREAM out_{n} AS SELECT id, UCASE(item) AS item, qty * 2 AS q2 "
                   "FROM in_{n} WHERE qty >= 0 EMIT CHANGES;", "CSAS_OUT_{N}_0"),
    "windowed count": ("CREATE TABLE out_{n} AS SELECT item, COUNT(*) AS c FROM in_{n} "
                       "WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY item EMIT CHANGES;",
                       "CTAS_OUT_{N}_0"),
}


def throughput(args, admin, kind: str, workers: int, broker_pid: int | None) -> dict:
    run = f"{kind.split()[0][:4]}{workers}x{int(time.time()) % 100000}"
    topic, service = f"in-{run}", f"bench{run}_"
    produce(args.bootstrap_servers, topic, args.records, args.partitions, admin)
    crew = [Worker(args.creek, args.bootstrap_servers, service) for _ in range(workers)]
    try:
        crew[0].ksql(f"CREATE STREAM in_{run} (id INT, item VARCHAR, qty INT) "
                     f"WITH (kafka_topic='{topic}', value_format='JSON');")
        statement, query = QUERIES[kind]
        crew[0].ksql(statement.format(n=run))
        group = f"_confluent-ksql-{service}query_{query.format(N=run.upper())}"
        stable = wait(lambda: (lambda m: m if len(m) == workers else None)(
            members(admin, group)), 60, "the group to be stable")
        split = sorted(sum(1 for tp in m.assignment.topic_partitions if tp.topic == topic)
                       for m in stable)
        t0 = time.monotonic()
        c0 = sum(committed(admin, group, topic, args.partitions).values())
        cpu0 = [cpu_seconds(w.proc.pid) for w in crew]
        broker0 = cpu_seconds(broker_pid) if broker_pid else None
        repartition = f"{group}-Aggregate-GroupBy-repartition"

        def done():
            if sum(committed(admin, group, topic, args.partitions).values()) < args.records:
                return False
            if kind == "projection":
                return True
            return sum(committed(admin, group, repartition, args.partitions).values()) >= ends(
                args.bootstrap_servers, repartition, args.partitions)
        wait(done, 600, "the query to finish", interval=0.1)
        t1 = time.monotonic()
        worker_cpu = sum(cpu_seconds(w.proc.pid) for w in crew) - sum(cpu0)
        broker_cpu = cpu_seconds(broker_pid) - broker0 if broker_pid else None
        measured = args.records - c0
        return {"kind": kind, "workers": workers, "records": measured, "before": c0,
                "split": split,
                "seconds": t1 - t0, "rate": measured / (t1 - t0),
                "worker_cpu_per_m": worker_cpu / measured * 1e6,
                "broker_cpu_per_m": broker_cpu / measured * 1e6 if broker_cpu else None}
    finally:
        for w in crew:
            w.stop()


def failover(args, admin) -> dict:
    run = f"fo{int(time.time()) % 100000}"
    topic, service = f"in-{run}", f"bench{run}_"
    keys = args.failover_keys
    produce(args.bootstrap_servers, topic, keys, args.partitions, admin)
    crew = [Worker(args.creek, args.bootstrap_servers, service, args.keep_logs)
            for _ in range(2)]
    stop_feed = threading.Event()
    try:
        crew[0].ksql(f"CREATE STREAM in_{run} (id INT, item VARCHAR, qty INT) "
                     f"WITH (kafka_topic='{topic}', value_format='JSON');")
        crew[0].ksql(f"CREATE TABLE per_id_{run} AS SELECT id, COUNT(*) AS c FROM in_{run} "
                     "GROUP BY id EMIT CHANGES;")
        group = f"_confluent-ksql-{service}query_CTAS_PER_ID_{run.upper()}_0"
        repartition = f"{group}-Aggregate-GroupBy-repartition"
        wait(lambda: len(members(admin, group)) == 2, 60, "the group to be stable")
        wait(lambda: sum(committed(admin, group, repartition, args.partitions).values())
             >= keys, 600, "the state to hold every key", interval=0.2)

        def feed():  # a steady trickle over every partition
            p = Producer({"bootstrap.servers": args.bootstrap_servers, "linger.ms": 5})
            i = 0
            while not stop_feed.is_set():
                for _ in range(50):
                    p.produce(topic, json.dumps({"id": i % keys, "item": "x", "qty": 1}).encode(),
                              key=str(i).encode())
                    i += 1
                p.poll(0)
                time.sleep(0.01)
            p.flush(30)
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        time.sleep(2)
        victim = crew[1]
        owned = [tp.partition for m in members(admin, group)
                 if f"-{victim.proc.pid}-" in m.client_id
                 for tp in m.assignment.topic_partitions if tp.topic == repartition]
        at_kill = committed(admin, group, repartition, args.partitions)
        t_kill = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)

        def moved():
            now = committed(admin, group, repartition, args.partitions)
            return all(now[p] > at_kill[p] for p in owned)
        wait(moved, 300, "the killed worker's partitions to move again", interval=0.05)
        return {"keys": keys, "owned": owned, "seconds": time.monotonic() - t_kill}
    finally:
        stop_feed.set()
        for w in crew:
            w.stop(signal.SIGTERM)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("creek")
    ap.add_argument("--bootstrap-servers", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--failover-keys", type=int, default=1_000_000)
    ap.add_argument("--broker-pid", type=int,
                    help="the broker's pid, to count its CPU too (default: the only "
                         "kafka.Kafka process, if there is one)")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--failover-only", action="store_true")
    ap.add_argument("--keep-logs", metavar="PREFIX",
                    help="write the fail-over workers' logs to PREFIX.<ns>.log")
    args = ap.parse_args()
    broker_pid = args.broker_pid
    if broker_pid is None:
        found = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True,
                               text=True).stdout.split()
        broker_pid = int(found[0]) if len(found) == 1 else None
    admin = AdminClient({"bootstrap.servers": args.bootstrap_servers})
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{args.records} JSON records over {args.partitions} partitions")
    print("| query | workers | source partitions per worker | records/s | worker CPU s per M "
          "| broker CPU s per M | read before the group was stable |")
    print("|---|---|---|---|---|---|---|")
    for kind in [] if args.failover_only else QUERIES:
        for workers in (1, 2):
            r = throughput(args, admin, kind, workers, broker_pid)
            broker = f"{r['broker_cpu_per_m']:.1f}" if r["broker_cpu_per_m"] else "n/a"
            print(f"| {kind} | {workers} | {'/'.join(map(str, r['split']))} "
                  f"| {r['rate']:,.0f} | {r['worker_cpu_per_m']:.1f} "
                  f"| {broker} | {r['before']:,} |", flush=True)
    if not args.skip_failover:
        f = failover(args, admin)
        print(f"\nfail-over, no standbys, {f['keys']:,} keys of state: SIGKILL → the killed "
              f"worker's stage-two partitions {f['owned']} committing again on the other: "
              f"{f['seconds']:.1f} s")


if __name__ == "__main__":
    main()
