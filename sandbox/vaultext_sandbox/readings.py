"""Reading an extension's topics from outside, as a person checking on it would: what its results and dead-letter
topics hold, and how far its consumer group or share group is behind on the input topic."""

from __future__ import annotations

import json
import time
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition
from kafka import KafkaAdminClient  # type: ignore[attr-defined]
from kafka.errors import KafkaError  # type: ignore[import-untyped]

from vaultext_operator.scaling.lag import NO_COMMIT
from vaultext_operator.sources.share_offsets import (
    ShareGroupError,
    ShareOffsetsUnavailable,
    describe_share_group_offsets,
    partition_offsets,
)


class TopicCounter:
    """Reads a topic from its start and counts records by the recording key they carry."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.counts: dict[str, int] = {}
        self.reasons: dict[str, int] = {}  # dead-letter records: how many for each reason
        self.records = 0
        # log_level 2: a broker restart (a fault the tests inject on purpose) is not worth a line per retry.
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"counter-{uuid.uuid4().hex[:8]}",
                                   "log_level": 2, "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self._consumer.subscribe([topic])

    def poll(self, seconds: float = 0.5) -> int:
        """Read what arrived within ``seconds``; returns the total so far."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self._consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            self.records += 1
            key, reason = record_key(message.value() or b"")
            self.counts[key] = self.counts.get(key, 0) + 1
            if reason:
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return self.records

    def close(self) -> None:
        self._consumer.close()


def record_key(value: bytes) -> tuple[str, str]:
    """The recording a result or dead-letter record is about (``?`` when it cannot be told), and a dead-letter
    record's reason with its detail (empty for a result)."""
    try:
        record = json.loads(value)
    except ValueError:
        return "?", ""
    reason = ""
    if isinstance(record, dict) and isinstance(record.get("message"), dict):
        reason = f"{record.get('reason')}: {str(record.get('detail'))[:200]}"
        record = record["message"]  # a dead-letter record wraps the event
    payload = record.get("payload") if isinstance(record, dict) else None
    return (str(payload.get("key", "?")) if isinstance(payload, dict) else "?"), reason


def group_lag(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """The consumer group's lag on ``topic``: end offsets minus committed ones (uncommitted counts in full)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "log_level": 2})
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {tp.partition: tp.offset for tp in consumer.committed(assigned, timeout=10)}
        lag = 0
        for tp in assigned:
            low, high = consumer.get_watermark_offsets(tp, timeout=10)
            done = committed.get(tp.partition, -1)
            lag += high - (done if done >= 0 else low)
        return lag
    finally:
        consumer.close()


def share_group_lag(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """The share group's lag on ``topic`` as the broker counts it (DescribeShareGroupOffsets); a partition the group
    has no state for yet counts from its log start, where the worker starts a new group."""
    admin = KafkaAdminClient(bootstrap_servers=[bootstrap])
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"watermarks-{uuid.uuid4().hex[:8]}",
                         "log_level": 2})
    try:
        found = describe_share_group_offsets(admin, {group: {topic: list(range(partitions))}})[group]
        if isinstance(found, ShareGroupError):
            raise KafkaException(found.error)
        lag = 0
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            done = partition_offsets(found.partitions.get((topic, p)), high).committed
            lag += high - (low if done == NO_COMMIT else done)
        return lag
    except (KafkaError, ShareOffsetsUnavailable) as error:
        raise KafkaException(str(error)) from error
    finally:
        consumer.close()
        admin.close()
