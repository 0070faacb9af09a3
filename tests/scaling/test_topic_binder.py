"""Topic binding against the sandbox's real broker: create missing topics, never shrink, grow only on request."""

from __future__ import annotations

from typing import Any

import pytest

from vaultext_operator.sources.base import KafkaConnection
from vaultext_operator.sources.topics import TopicBinder, TopicWish

from .cluster import wait_for
from .kafka_helpers import create_topic, unique

pytestmark = pytest.mark.kafka


def test_creates_missing_keeps_existing_grows_only_when_asked(kafka: Any) -> None:
    connection = KafkaConnection(kafka.bootstrap)
    binder = TopicBinder(timeout=20)
    small, big, missing = unique("in"), unique("big"), unique("out")
    create_topic(kafka.bootstrap, small, 2)
    create_topic(kafka.bootstrap, big, 16)

    report = binder.ensure(connection, [TopicWish(small, 8), TopicWish(big, 8), TopicWish(missing, 8)])
    assert report.created == [missing] and report.grown == [] and report.errors == {}
    assert report.partitions == {small: 2, big: 16, missing: 8}  # never shrunk, not grown unasked

    grown = binder.ensure(connection, [TopicWish(small, 8, grow=True), TopicWish(big, 8, grow=True)])
    assert grown.grown == [small] and grown.created == []
    assert grown.partitions == {small: 8, big: 16}
    wait_for(lambda: binder.existing_partitions(connection, [small, big]) == {small: 8, big: 16}, 10,
             "the broker's metadata to show 8 partitions")


def test_a_refused_topic_is_reported_not_raised(kafka: Any) -> None:
    bad = "x" * 300  # longer than Kafka allows
    report = TopicBinder(timeout=20).ensure(KafkaConnection(kafka.bootstrap), [TopicWish(bad, 1)])
    assert bad in report.errors and bad not in report.partitions
