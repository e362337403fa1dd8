"""`creek topics` admin CLI."""

from __future__ import annotations

import re

from creekutil import create_topic, creek_topics, list_topics_cli


def test_create_list_describe_delete(creek_shared):
    create_topic(creek_shared, "cli-a", partitions=3)
    create_topic(creek_shared, "cli-b", partitions=1)
    names = list_topics_cli(creek_shared)
    assert {"cli-a", "cli-b"} <= set(names), names
    assert len(names) == len(set(names)), names

    out = creek_topics(creek_shared, "--describe", "--topic", "cli-a").stdout
    head = [line for line in out.splitlines() if line.startswith("Topic:")]
    parts = [line for line in out.splitlines() if line.startswith("\tTopic:")]
    assert len(head) == 1 and "\tPartitionCount: 3\t" in head[0], out
    assert re.search(r"\tTopicId: \S+\t", head[0]), out
    assert [re.search(r"\tPartition: (\d+)\t", line).group(1) for line in parts] == \
        ["0", "1", "2"], out

    # --describe without --topic covers every topic.
    out = creek_topics(creek_shared, "--describe").stdout
    described = re.findall(r"^Topic: (\S+)\t", out, flags=re.M)
    assert {"cli-a", "cli-b"} <= set(described), out

    creek_topics(creek_shared, "--delete", "--topic", "cli-b")
    assert "cli-b" not in list_topics_cli(creek_shared)
    assert "cli-a" in list_topics_cli(creek_shared)

    # A deleted name can be created again, fresh.
    create_topic(creek_shared, "cli-b", partitions=2)
    out = creek_topics(creek_shared, "--describe", "--topic", "cli-b").stdout
    assert "\tPartitionCount: 2\t" in out, out


def _assert_cli_error(cp):
    assert cp.returncode != 0, f"expected failure, got 0\nstdout:{cp.stdout}"
    assert cp.stderr.strip(), "expected an error message on stderr"


def test_errors_exit_nonzero(creek_shared):
    create_topic(creek_shared, "cli-dup", partitions=1)
    _assert_cli_error(creek_topics(creek_shared, "--create", "--topic", "cli-dup",
                                   "--partitions", "1", "--replication-factor", "1",
                                   check=False))
    _assert_cli_error(creek_topics(creek_shared, "--create", "--topic", "cli-rf3",
                                   "--partitions", "1", "--replication-factor", "3",
                                   check=False))
    assert "cli-rf3" not in list_topics_cli(creek_shared)
    _assert_cli_error(creek_topics(creek_shared, "--delete", "--topic", "cli-never",
                                   check=False))
    _assert_cli_error(creek_topics(creek_shared, "--describe", "--topic", "cli-never",
                                   check=False))
