"""Share-group lag from the sandbox's real broker, beside consumer groups in the same batched poll."""

from __future__ import annotations

from typing import Any

import pytest

from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagTarget
from vaultext_operator.sources.kafka_admin import KafkaAdminLagSource

from .kafka_helpers import commit, create_topic, produce, unique

pytestmark = pytest.mark.kafka


def test_a_broker_without_share_groups_fails_them_alone_and_clearly(kafka: Any) -> None:
    topic = unique("in")
    create_topic(kafka.bootstrap, topic, 2)
    produce(kafka.bootstrap, topic, {0: 4, 1: 6})
    group = unique("g")
    commit(kafka.bootstrap, group, topic, {0: 4})
    connection = KafkaConnection(kafka.bootstrap)
    share = LagTarget(connection, unique("s"), topic, share=True)
    consumer = LagTarget(connection, group, topic)
    source = KafkaAdminLagSource(timeout=10)
    try:
        results = source.poll([share, consumer])
    finally:
        source.close()
    failed = results[share]
    assert isinstance(failed, LagFailure), failed
    assert "cannot describe share groups" in failed.error and "DescribeShareGroupOffsets" in failed.error
    reading = results[consumer]
    assert isinstance(reading, LagReading)
    assert [(p.committed, p.latest) for p in reading.partitions] == [(4, 4), (-1, 6)]
