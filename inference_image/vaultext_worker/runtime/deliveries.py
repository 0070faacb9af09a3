"""How many times a message was handed out without its handling ever finishing: poison detection.

Before a message is processed, its own offset is committed again (the group's position does not move) with
`vaultext-deliveries:<offset>:<count>` as the commit's metadata. A worker killed while processing (out of memory,
a crashing decoder) leaves that count behind; the next consumer of the partition reads it back from the group
coordinator and adds one. Past the limit the message is dead-lettered as `poison` instead of processed. The
count lives with the group's offsets: no extra topic, nothing to clean up, and it moves with the partition.
"""

from __future__ import annotations

import logging
import re

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

log = logging.getLogger(__name__)
_METADATA = re.compile(r"^vaultext-deliveries:(\d+):(\d+)$")


def encode(offset: int, count: int) -> str:
    return f"vaultext-deliveries:{offset}:{count}"


def decode(metadata: str | None) -> tuple[int, int] | None:
    """(offset, count) from a commit's metadata; None for anything else (also what other clients wrote)."""
    found = _METADATA.match(metadata or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


class DeliveryCounter:
    def __init__(self, consumer: Consumer, timeout_s: float = 10.0) -> None:
        self._consumer = consumer
        self._timeout_s = timeout_s
        self._known: dict[tuple[str, int], tuple[int, int]] = {}  # partition → (offset, deliveries)

    def forget(self) -> None:
        """After a rebalance another member may have counted meanwhile: read the coordinator again."""
        self._known.clear()

    def begin(self, message: Message) -> int:
        """Count this delivery durably before processing; returns the count, this one included."""
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        previous = self._known.get((topic, partition)) or self._read(topic, partition)
        count = previous[1] + 1 if previous is not None and previous[0] == offset else 1
        self._write(topic, partition, offset, count)
        return count

    def give_back(self, message: Message, count: int) -> None:
        """The worker stops with the message unfinished but alive (SIGTERM, broker trouble): this delivery
        does not count. Only while the group's position is still this message: never moves it back."""
        topic, partition, offset = message.topic() or "", message.partition() or 0, message.offset() or 0
        if self._known.get((topic, partition)) == (offset, count):
            self._write(topic, partition, offset, count - 1)

    def finished(self, message: Message) -> None:
        """The message's offset + 1 was committed (no metadata): the next message starts at zero."""
        self._known[(message.topic() or "", message.partition() or 0)] = ((message.offset() or 0) + 1, 0)

    def _read(self, topic: str, partition: int) -> tuple[int, int] | None:
        try:
            committed = self._consumer.committed([TopicPartition(topic, partition)], timeout=self._timeout_s)
        except KafkaException as error:
            log.warning("cannot read the delivery count of %s/%d (%s); counting from 1", topic, partition, error)
            return None
        return decode(committed[0].metadata) if committed else None

    def _write(self, topic: str, partition: int, offset: int, count: int) -> None:
        position = TopicPartition(topic, partition, offset, metadata=encode(offset, count))
        try:
            self._consumer.commit(offsets=[position], asynchronous=False)
        except KafkaException as error:
            # e.g. the partition moved meanwhile: whoever owns it now counts its own delivery
            log.warning("cannot record delivery %d of %s/%d@%d (%s)", count, topic, partition, offset, error)
            return
        self._known[(topic, partition)] = (offset, count)
