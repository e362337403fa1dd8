"""Several creek workers with one Connect `group.id` on Apache Kafka share the
connectors and tasks through Kafka's group membership (Connect's group protocol),
as Connect's distributed workers do: a JDBC source with `tasks.max` 2 over two
tables runs one task per worker, any worker answers the status of every task with
the worker that runs it, a worker killed with SIGKILL leaves its task to the
other, and a restarted worker gets a share again. Sources deliver in transactions
(`exactly.once.source.support=enabled`), so every row arrives exactly once across
the moves.
"""

from __future__ import annotations

import time

import requests
from confluent_kafka import Consumer, TopicPartition

from creekutil import CreekServer, kafka, wait_until  # noqa: F401 (kafka: the fixture)
from test_jdbc_source import fake, seed_connector


def count_records(bootstrap: str, topic: str) -> int:
    """Committed records in partition 0 of `topic` (read_committed)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"count-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, low)])
        n, idle_until = 0, time.monotonic() + 2
        while time.monotonic() < idle_until:
            m = c.poll(0.2)
            if m is not None and not m.error():
                n += 1
                idle_until = time.monotonic() + 1
            if m is not None and not m.error() and m.offset() + 1 >= high:
                break
        return n
    finally:
        c.close()


def task_workers(url: str, name: str) -> list[tuple[str, str]]:
    """(state, worker_id) of each task, as this worker answers."""
    r = requests.get(f"{url}/connectors/{name}/status", timeout=10)
    if r.status_code != 200:
        return []
    return [(t["state"], t["worker_id"]) for t in r.json()["tasks"]]


def worker_id(server: CreekServer) -> str:
    return f"127.0.0.1:{server.aux_ports['--connect-port']}"


def test_two_workers_share_a_source_and_take_over_after_sigkill(kafka, postgres, tmp_path):
    fake(postgres, 200)
    with postgres.connect() as conn:
        conn.execute("CREATE TABLE customers_b AS SELECT * FROM customers")
    shared = ["--bootstrap-servers", kafka,
              "--connect-property", "group.id=creek-workers",
              "--connect-property", "exactly.once.source.support=enabled"]
    a = CreekServer(tmp_path / "a", name="worker-a", extra_args=shared)
    b = CreekServer(tmp_path / "b", name="worker-b", extra_args=shared)
    a.start()
    b.start()
    try:
        connector = seed_connector(postgres.jdbc_url)
        connector["config"]["tasks.max"] = 2
        connector["config"]["table.whitelist"] = "public.customers,public.customers_b"
        r = requests.post(f"{a.connect_url}/connectors", json=connector, timeout=30)
        assert r.status_code == 201, r.text
        name = connector["name"]

        # One task per worker, and either worker says so.
        both = {worker_id(a), worker_id(b)}
        for server in (a, b):
            wait_until(lambda s=server: sorted(task_workers(s.connect_url, name)) == sorted(
                ("RUNNING", w) for w in both), 60, interval=0.3,
                what=f"{server.name} to report a task on each worker")
        wait_until(lambda: count_records(kafka, "psg-customers") == 200
                   and count_records(kafka, "psg-customers_b") == 200, 60, interval=1,
                   what="both tables in their topics")

        # Restarting b's task through a's REST API restarts it on b (forwarded,
        # as Connect does), not a second copy on a.
        on_b = [i for i, (_, w) in enumerate(task_workers(a.connect_url, name))
                if w == worker_id(b)]
        assert len(on_b) == 1
        r = requests.post(f"{a.connect_url}/connectors/{name}/tasks/{on_b[0]}/restart",
                          timeout=30)
        assert r.status_code == 204, r.text
        wait_until(lambda: "task restarted" in b.log_tail(400), 30, interval=0.3,
                   what="worker b to restart its task")
        assert "task restarted" not in a.log_tail(400)
        assert sorted(task_workers(a.connect_url, name)) == sorted(
            ("RUNNING", w) for w in both)

        # Worker b dies; a takes its task after b's session times out, and
        # resumes from the offsets b committed.
        b.kill()
        with postgres.connect() as conn:
            conn.execute("INSERT INTO customers_b SELECT * FROM customers LIMIT 100")
        fake(postgres, 100)
        wait_until(lambda: task_workers(a.connect_url, name) == [("RUNNING", worker_id(a))] * 2,
                   60, interval=0.5, what="worker a to run both tasks")
        wait_until(lambda: count_records(kafka, "psg-customers") >= 300
                   and count_records(kafka, "psg-customers_b") >= 300, 60, interval=1,
                   what="the new rows after the take-over")

        # b comes back and gets a share again.
        b.start()
        for server in (a, b):
            wait_until(lambda s=server: sorted(task_workers(s.connect_url, name)) == sorted(
                ("RUNNING", w) for w in both), 60, interval=0.3,
                what=f"{server.name} to report the tasks spread again")
        fake(postgres, 50)
        with postgres.connect() as conn:
            conn.execute("INSERT INTO customers_b SELECT * FROM customers LIMIT 50")
        wait_until(lambda: count_records(kafka, "psg-customers") >= 350
                   and count_records(kafka, "psg-customers_b") >= 350, 60, interval=1,
                   what="the rows after the restart")
        time.sleep(2)
        # Exactly once across both moves: nothing lost, nothing doubled.
        assert count_records(kafka, "psg-customers") == 350
        assert count_records(kafka, "psg-customers_b") == 350
    finally:
        for server in (a, b):
            if server.is_running():
                server.stop()
