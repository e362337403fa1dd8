#!/usr/bin/env python3
"""How long a just-started Kafka client waits before a topic it created shows up
in metadata: the peer figure beside creek's first start on a cluster
(BENCHMARKS.md). Uses confluent-kafka (librdkafka), as creek does.

    python3 scripts/kafka-topic-visibility.py HOST:PORT [SECONDS_BEFORE_CREATE]
"""
import sys
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
settle = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
admin = AdminClient({"bootstrap.servers": bootstrap})
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "visibility-probe"})
consumer.list_topics(timeout=10)
time.sleep(settle)
for n in range(2):
    name = f"visibility-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    for f in admin.create_topics([NewTopic(name, 1)], operation_timeout=30).values():
        f.result()
    created = time.monotonic()
    while consumer.list_topics(topic=name, timeout=10).topics[name].error:
        pass
    visible = time.monotonic()
    print(
        f"topic {n + 1}: created in {(created - started) * 1000:.0f} ms, "
        f"visible to the consumer {(visible - created) * 1000:.0f} ms later"
    )
consumer.close()
