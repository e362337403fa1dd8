"""Apache Kafka 4.4.0's own command-line tools against creek's broker.

The tools are the classes behind Kafka's bin/*.sh scripts, run by scripts/kafka.sh from
the jars it fetches from Maven Central (cached outside the clone; scripts/install-deps.sh
fetches them): kafka-topics, kafka-console-producer/consumer, kafka-consumer-groups
(describe, lag, reset offsets, delete), kafka-configs (describe, alter),
kafka-get-offsets and the producer/consumer perf tests. Missing jars or a missing JDK
fail the run; they are never a skip.
"""

from __future__ import annotations

import os
import re

import pytest

from creekutil import kafka_libs, kafka_tool

# Tools start faster without the optimizing JIT; these runs are short.
TOOL_ENV = {**os.environ, "CREEK_KAFKA_TOOL_OPTS": "-XX:TieredStopAtLevel=1 -Xshare:auto"}


@pytest.fixture(scope="module")
def kafka_jars():
    kafka_libs()


def tool(name, *args, input=None, check=True, timeout=90.0):
    """Runs one Kafka tool; returns the completed process (text)."""
    return kafka_tool(name, *args, input=input, check=check, timeout=timeout, env=TOOL_ENV)


def group_rows(bootstrap, group):
    """kafka-consumer-groups --describe as {partition: (current, end, lag)}."""
    out = tool("kafka-consumer-groups", "--bootstrap-server", bootstrap, "--describe",
               "--group", group).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] == group and cols[2].isdigit():
            rows[int(cols[2])] = tuple(-1 if c == "-" else int(c) for c in cols[3:6])
    return rows


def test_topics_create_describe_alter_delete(kafka_jars, creek_shared):
    b = creek_shared.bootstrap
    cp = tool("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "kt-topics",
              "--partitions", "2", "--replication-factor", "1", "--config",
              "retention.ms=3600000")
    assert "Created topic kt-topics." in cp.stdout
    assert "kt-topics" in tool("kafka-topics", "--bootstrap-server", b, "--list").stdout.split()
    described = tool("kafka-topics", "--bootstrap-server", b, "--describe", "--topic",
                     "kt-topics").stdout
    assert "PartitionCount: 2" in described and "retention.ms=3600000" in described, described
    tool("kafka-topics", "--bootstrap-server", b, "--alter", "--topic", "kt-topics",
         "--partitions", "3")
    described = tool("kafka-topics", "--bootstrap-server", b, "--describe", "--topic",
                     "kt-topics").stdout
    assert "PartitionCount: 3" in described, described
    # A topic that exists already: Kafka's own error, a non-zero exit.
    again = tool("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "kt-topics",
                 check=False)
    assert again.returncode != 0 and "already exists" in again.stdout + again.stderr
    tool("kafka-topics", "--bootstrap-server", b, "--delete", "--topic", "kt-topics")
    assert "kt-topics" not in tool("kafka-topics", "--bootstrap-server", b,
                                   "--list").stdout.split()


def test_console_producer_consumer_and_groups(kafka_jars, creek_shared):
    b = creek_shared.bootstrap
    tool("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "kt-console",
         "--partitions", "1")
    lines = "".join(f"k{i}:v{i}\n" for i in range(10))
    tool("kafka-console-producer", "--bootstrap-server", b, "--topic", "kt-console",
         "--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
         input=lines)
    out = tool("kafka-console-consumer", "--bootstrap-server", b, "--topic", "kt-console",
               "--from-beginning", "--max-messages", "10", "--group", "kt-group",
               "--formatter-property", "print.key=true", "--formatter-property",
               "key.separator=:").stdout
    assert out.split() == [f"k{i}:v{i}" for i in range(10)], out
    offsets = tool("kafka-get-offsets", "--bootstrap-server", b, "--topic", "kt-console").stdout
    assert offsets.split() == ["kt-console:0:10"], offsets

    assert "kt-group" in tool("kafka-consumer-groups", "--bootstrap-server", b,
                              "--list").stdout.split()
    assert group_rows(b, "kt-group") == {0: (10, 10, 0)}
    # Reset offsets: dry run changes nothing, --execute does; lag follows.
    tool("kafka-consumer-groups", "--bootstrap-server", b, "--group", "kt-group",
         "--reset-offsets", "--to-earliest", "--topic", "kt-console", "--dry-run")
    assert group_rows(b, "kt-group") == {0: (10, 10, 0)}
    tool("kafka-consumer-groups", "--bootstrap-server", b, "--group", "kt-group",
         "--reset-offsets", "--to-offset", "4", "--topic", "kt-console", "--execute")
    assert group_rows(b, "kt-group") == {0: (4, 10, 6)}
    tool("kafka-consumer-groups", "--bootstrap-server", b, "--group", "kt-group",
         "--reset-offsets", "--shift-by", "3", "--topic", "kt-console", "--execute")
    assert group_rows(b, "kt-group") == {0: (7, 10, 3)}
    # The group resumes where the reset put it.
    out = tool("kafka-console-consumer", "--bootstrap-server", b, "--topic", "kt-console",
               "--max-messages", "3", "--group", "kt-group").stdout
    assert out.split() == ["v7", "v8", "v9"], out
    deleted = tool("kafka-consumer-groups", "--bootstrap-server", b, "--delete", "--group",
                   "kt-group").stdout
    assert "was successful" in deleted, deleted
    assert "kt-group" not in tool("kafka-consumer-groups", "--bootstrap-server", b,
                                  "--list").stdout.split()


def test_configs_describe_and_alter(kafka_jars, creek_shared):
    b = creek_shared.bootstrap
    tool("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "kt-configs")

    def dynamic():
        out = tool("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics",
                   "--entity-name", "kt-configs", "--describe").stdout
        return dict(re.findall(r"^\s+([a-z.]+)=(\S*) sensitive", out, re.M))

    assert dynamic() == {}
    tool("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics", "--entity-name",
         "kt-configs", "--alter", "--add-config", "retention.ms=200000,cleanup.policy=delete")
    assert dynamic() == {"retention.ms": "200000", "cleanup.policy": "delete"}
    tool("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics", "--entity-name",
         "kt-configs", "--alter", "--delete-config", "retention.ms")
    assert dynamic() == {"cleanup.policy": "delete"}
    # A value the topic cannot take: Kafka's tool reports creek's reason.
    bad = tool("kafka-configs", "--bootstrap-server", b, "--entity-type", "topics",
               "--entity-name", "kt-configs", "--alter", "--add-config",
               "retention.ms=soon", check=False)
    assert bad.returncode != 0 and "retention.ms=soon" in bad.stdout + bad.stderr
    # Broker settings are creek up's flags: refused, naming why.
    broker = tool("kafka-configs", "--bootstrap-server", b, "--entity-type", "brokers",
                  "--entity-name", "0", "--alter", "--add-config", "log.retention.ms=1",
                  check=False)
    assert broker.returncode != 0
    assert "not supported yet" in broker.stdout + broker.stderr


def test_perf_tools(kafka_jars, creek_shared):
    b = creek_shared.bootstrap
    tool("kafka-topics", "--bootstrap-server", b, "--create", "--topic", "kt-perf",
         "--partitions", "3")
    produced = tool("kafka-producer-perf-test", "--topic", "kt-perf", "--num-records", "30000",
                    "--record-size", "100", "--throughput", "-1", "--command-property",
                    f"bootstrap.servers={b}", "acks=all").stdout
    assert re.search(r"^30000 records sent", produced, re.M), produced
    consumed = tool("kafka-consumer-perf-test", "--bootstrap-server", b, "--topic", "kt-perf",
                    "--num-records", "30000", "--timeout", "60000").stdout
    # The CSV line: ..., data.consumed.in.nMsg (5th column) = 30000.
    row = consumed.strip().splitlines()[-1].split(", ")
    assert int(row[4]) == 30000, consumed
