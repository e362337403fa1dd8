"""A Kafka Streams 4.4.0 application (tests/java/KafkaStreamsWordCount.java, built with
javac against the jars scripts/kafka.sh fetches) against creek's broker.

At least once, the word count runs: its repartition and changelog topics are created
through the admin API, its group rebalances, and the counts come out. With
processing.guarantee=exactly_once_v2 it needs transactions, which creek's broker does
not have yet: it must fail at once with creek's "not supported yet", not hang.
Missing jars or a missing JDK fail the run; they are never a skip.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from creekutil import REPO, create_topic, kafka_libs

SOURCE = REPO / "tests" / "java" / "KafkaStreamsWordCount.java"
LOG_CONFIG = REPO / "scripts" / "kafka" / "log4j2.properties"


@pytest.fixture(scope="module")
def classpath(tmp_path_factory) -> str:
    jars = f"{kafka_libs()}/*"
    classes = tmp_path_factory.mktemp("streams-classes")
    built = subprocess.run(["javac", "-cp", jars, "-d", str(classes), str(SOURCE)],
                           capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.fail(f"javac failed:\n{built.stdout}\n{built.stderr}", pytrace=False)
    return os.pathsep.join([str(classes), jars])


def run_word_count(classpath, bootstrap, guarantee, state_dir, seconds):
    done = subprocess.run(
        ["java", "-Xmx256m", "-cp", classpath, f"-Dlog4j2.configurationFile={LOG_CONFIG}",
         "KafkaStreamsWordCount", bootstrap, guarantee, str(state_dir), str(seconds)],
        capture_output=True, text=True, timeout=seconds + 120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_word_count_at_least_once(classpath, creek, tmp_path):
    create_topic(creek, "words-in")
    create_topic(creek, "words-out")
    p = Producer({"bootstrap.servers": creek.bootstrap})
    for line in ["a b a", "c a", "b"]:
        p.produce("words-in", line.encode())
    assert p.flush(30) == 0
    out = run_word_count(classpath, creek.bootstrap, "at_least_once", tmp_path / "state", 10)
    assert "RUNNING: RUNNING" in out, out
    c = Consumer({"bootstrap.servers": creek.bootstrap, "group.id": "check",
                  "enable.auto.commit": False})
    c.assign([TopicPartition("words-out", 0, 0)])
    counts = {}
    while (m := c.poll(3.0)) is not None:
        if not m.error():
            counts[m.key().decode()] = int(m.value())
    c.close()
    assert counts == {"a": 3, "b": 2, "c": 1}


def test_exactly_once_v2_fails_clearly(classpath, creek, tmp_path):
    create_topic(creek, "words-in")
    create_topic(creek, "words-out")
    out = run_word_count(classpath, creek.bootstrap, "exactly_once_v2", tmp_path / "state", 60)
    assert out.startswith("FAILED:"), out
    assert "not supported yet" in out, out
