"""Crash (SIGKILL) and clean-shutdown (SIGTERM) durability."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict

from confluent_kafka import Consumer, Producer, TopicPartition

from creekutil import (
    call_with_timeout,
    consume_all_confluent,
    create_topic,
    creek_topics,
    kcat,
    list_topics_cli,
)


MAX_RATE = 50_000  # records per second


class _ProducerThread(threading.Thread):
    """Idempotent producer writing value=str(seq), key=str(seq % 7) as fast as it can."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True, name="crash-producer")
        self.topic = topic
        self.stop_event = threading.Event()
        self.acked = []          # (partition, offset, value) of successful deliveries
        self.failed = []         # (error, value) of failed deliveries
        self.client_errors = []  # errors reported through error_cb
        self.produced = 0
        self.exc = None
        self.producer = Producer({
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 60000,      # outlive the broker outage
            "retry.backoff.ms": 100,
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            "error_cb": self.client_errors.append,
        })

    def _on_delivery(self, err, msg):
        if err is None:
            self.acked.append((msg.partition(), msg.offset(), msg.value().decode()))
        else:
            self.failed.append((err, msg.value().decode()))

    def run(self):
        try:
            seq = 0
            t0 = time.monotonic()
            while not self.stop_event.is_set():
                # Keep the backlog and the total bounded (at most MAX_RATE/s) so
                # verification stays quick even against a very fast broker.
                if len(self.producer) > 20000 or seq > MAX_RATE * (time.monotonic() - t0):
                    self.producer.poll(0.005)
                    continue
                try:
                    self.producer.produce(self.topic, key=str(seq % 7), value=str(seq),
                                          on_delivery=self._on_delivery)
                except BufferError:
                    self.producer.poll(0.01)
                    continue
                seq += 1
                self.produced = seq
                if seq % 100 == 0:
                    self.producer.poll(0)
        except BaseException as e:  # reported by the test
            self.exc = e


def test_sigkill_mid_produce_keeps_acknowledged_records_exactly_once(creek):
    topic = "crash-idem"
    create_topic(creek, topic, partitions=3)
    worker = _ProducerThread(creek.bootstrap, topic)
    worker.start()
    try:
        time.sleep(1.5)
        acked_before_kill = len(worker.acked)
        creek.kill()
        creek.restart()
        time.sleep(1.0)
    finally:
        worker.stop_event.set()
        worker.join(10)
    assert not worker.is_alive(), "producer thread did not stop"
    assert worker.exc is None, f"producer thread raised {worker.exc!r}"
    remaining = worker.producer.flush(30)

    records = consume_all_confluent(creek.bootstrap, topic, 3, timeout=120)
    produced, acked = worker.produced, worker.acked
    summary = (f"produced={produced} acked={len(acked)} (before kill: {acked_before_kill}) "
               f"failed={len(worker.failed)} unflushed={remaining} stored={len(records)}")
    print(summary)  # shown with -rP / -s
    assert acked_before_kill > 0, f"nothing was acknowledged before the kill: {summary}"

    # No value may be stored twice (idempotent retries across the crash).
    counts = Counter(value for _, _, _, value, _, _ in records)
    dups = sorted((int(v), n) for v, n in counts.items() if n > 1)
    assert not dups, f"{len(dups)} values stored more than once, e.g. {dups[:10]}; {summary}"

    # Per partition: offsets strictly increasing, and (idempotence keeps order)
    # sequence numbers strictly increasing; every key stays on one partition.
    by_part = defaultdict(list)
    key_parts = defaultdict(set)
    for p, off, key, value, _, _ in records:
        by_part[p].append((off, int(value)))
        key_parts[key].add(p)
        assert key == str(int(value) % 7).encode(), (p, off, key, value)
    for p, items in by_part.items():
        offs = [o for o, _ in items]
        assert all(a < b for a, b in zip(offs, offs[1:])), f"partition {p} offsets not increasing"
        seqs = [s for _, s in items]
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if not a < b]
        assert not bad, f"partition {p}: produce order violated, e.g. {bad[:5]}; {summary}"
    assert all(len(ps) == 1 for ps in key_parts.values()), key_parts

    # Every acknowledged record is at its acknowledged (partition, offset).
    stored = {(p, off): value.decode() for p, off, _, value, _, _ in records}
    missing = [(p, o, v) for p, o, v in acked if stored.get((p, o)) != v]
    assert not missing, (
        f"{len(missing)} acknowledged records not found at their offset, e.g. "
        f"{[(a, stored.get(a[:2])) for a in missing[:5]]}; {summary}")

    # The producer must have survived the outage: everything delivered in the end.
    assert remaining == 0, f"flush(30) left {remaining} messages undelivered; {summary}"
    assert not worker.failed, f"delivery failures, first {worker.failed[:3]}; {summary}"
    fatal = [e for e in worker.client_errors if e.fatal()]
    assert not fatal, f"fatal producer errors: {fatal}; {summary}"
    assert len(acked) == produced, summary
    assert len(records) == produced, summary


def test_sigterm_exits_zero_and_restart_serves_data(creek):
    topic, group = "crash-clean", "crash-clean-g"
    create_topic(creek, topic, partitions=2)
    lines = [f"m{i}" for i in range(300)]
    kcat("-P", "-b", creek.bootstrap, "-t", topic, "-K:",
         input="".join(f"k{i % 5}:{v}\n" for i, v in enumerate(lines)))

    before = consume_all_confluent(creek.bootstrap, topic, 2)
    assert sorted(v.decode() for _, _, _, v, _, _ in before) == sorted(lines)

    # Commit a group offset (partition 0 -> 7) so we can check it survives too.
    c = Consumer({"bootstrap.servers": creek.bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    finally:
        call_with_timeout(c.close, 20, "Consumer.close")

    creek.stop()   # SIGTERM; asserts exit code 0
    creek.start()  # same port, same data dir

    assert topic in list_topics_cli(creek)
    desc = creek_topics(creek, "--describe", "--topic", topic).stdout
    assert "PartitionCount: 2" in desc, desc
    after = consume_all_confluent(creek.bootstrap, topic, 2)
    # Same records at the same (partition, offset), same keys/values/timestamps.
    assert sorted(after, key=lambda r: r[:2]) == sorted(before, key=lambda r: r[:2])

    c = Consumer({"bootstrap.servers": creek.bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert tp.error is None and tp.offset == 7, tp
    finally:
        call_with_timeout(c.close, 20, "Consumer.close")

    # And it accepts new writes after the restart, appended after the old data.
    p = Producer({"bootstrap.servers": creek.bootstrap, "acks": "all",
                  "enable.idempotence": True})
    res = []
    p.produce(topic, value=b"after-restart", partition=1,
              on_delivery=lambda err, msg: res.append((err, msg.offset())))
    assert p.flush(30) == 0
    ((err, off),) = res
    assert err is None, err
    assert off == sum(1 for r in before if r[0] == 1)


def test_sigkill_idle_then_restart_keeps_data(creek):
    topic = "crash-idle"
    create_topic(creek, topic, partitions=1)
    # kcat -P returns once every message is acknowledged (acks=all): an
    # acknowledged write must survive an immediate process crash.
    kcat("-P", "-b", creek.bootstrap, "-t", topic, input="".join(f"x{i}\n" for i in range(100)))
    creek.kill()
    creek.start()
    out = kcat("-C", "-b", creek.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q").stdout
    assert out.splitlines() == [f"x{i}" for i in range(100)]

