"""Small helpers for tests that drive the sandbox's real Kafka broker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, Producer, ShareConsumer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(30)


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, value=f"m{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def share_consume(bootstrap: str, group: str, topic: str, count: int, timeout: float = 60) -> None:
    """Join the share group `group` reading from the log start (`share.auto.offset.reset=earliest`, set on the
    group through the Admin API), accept `count` records, and leave: the group then has state on the broker."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    earliest = ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)
    for future in admin.incremental_alter_configs(
            [ConfigResource(ResourceType.GROUP, group, incremental_configs=[earliest])]).values():
        future.result(30)
    consumer = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group})  # implicit acknowledgement
    received, deadline = 0, time.monotonic() + timeout
    try:
        consumer.subscribe([topic])
        while received < count:
            assert time.monotonic() < deadline, f"share group {group} received {received} of {count}"
            received += sum(1 for message in consumer.poll(0.5) if message.error() is None)
        consumer.poll(0.1)  # accepts the last batch
    finally:
        consumer.close()
