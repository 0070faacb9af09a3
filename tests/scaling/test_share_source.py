"""Share-group lag from the sandbox's real broker (Kafka 4.4), beside consumer groups in the same batched poll."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient  # type: ignore[attr-defined]

from vaultext_operator.scaling.lag import NO_COMMIT
from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagResult, LagTarget
from vaultext_operator.sources.kafka_admin import KafkaAdminLagSource

from .kafka_helpers import commit, create_topic, produce, share_consume, unique

pytestmark = pytest.mark.kafka


@pytest.fixture
def source() -> Iterator[KafkaAdminLagSource]:
    lag_source = KafkaAdminLagSource(timeout=10)
    yield lag_source
    lag_source.close()


def poll_until(source: KafkaAdminLagSource, targets: list[LagTarget], done: Any, seconds: float = 30
               ) -> dict[LagTarget, LagResult]:
    deadline = time.monotonic() + seconds
    while True:
        results = dict(source.poll(targets))
        if done(results) or time.monotonic() > deadline:
            return results
        time.sleep(0.5)


def lags(result: LagResult) -> list[int]:
    assert isinstance(result, LagReading), result
    return [(p.latest or 0) - p.committed for p in result.partitions]


def test_share_group_lag_from_the_broker_beside_a_consumer_group(kafka: Any, source: KafkaAdminLagSource) -> None:
    topic, share_group, consumer_group = unique("in"), unique("s"), unique("g")
    create_topic(kafka.bootstrap, topic, 3)
    produce(kafka.bootstrap, topic, {0: 100, 1: 100, 2: 100})
    connection = KafkaConnection(kafka.bootstrap)
    share = LagTarget(connection, share_group, topic, share=True)
    group = LagTarget(connection, consumer_group, topic)

    # a fresh broker answers COORDINATOR_NOT_AVAILABLE until its group topic exists: the next poll asks again
    fresh = poll_until(source, [share], lambda r: isinstance(r[share], LagReading))[share]
    # no member yet: no state, counted like a group without commits
    assert isinstance(fresh, LagReading) and fresh.partition_ids == (0, 1, 2)
    assert [(p.committed, p.latest) for p in fresh.partitions] == [(NO_COMMIT, 100)] * 3

    share_consume(kafka.bootstrap, share_group, topic, 300)
    produce(kafka.bootstrap, topic, {0: 200, 1: 200, 2: 200})
    commit(kafka.bootstrap, consumer_group, topic, {0: 250, 1: 300, 2: 0})
    results = poll_until(source, [share, group], lambda r: isinstance(r[share], LagReading)
                         and all(p.committed != NO_COMMIT for p in r[share].partitions) and lags(r[share]) == [200] * 3)
    assert lags(results[share]) == [200, 200, 200], results[share]
    assert [p.latest for p in results[share].partitions] == [300, 300, 300]  # type: ignore[union-attr]
    assert lags(results[group]) == [50, 0, 300]


def test_share_groups_switched_off_fail_alone_and_clearly(kafka: Any, source: KafkaAdminLagSource) -> None:
    topic, group = unique("in"), unique("g")
    create_topic(kafka.bootstrap, topic, 2)
    produce(kafka.bootstrap, topic, {0: 4, 1: 6})
    commit(kafka.bootstrap, group, topic, {0: 4})
    connection = KafkaConnection(kafka.bootstrap)
    share = LagTarget(connection, unique("s"), topic, share=True)
    consumer = LagTarget(connection, group, topic)
    features = KafkaAdminClient(bootstrap_servers=[kafka.bootstrap])
    try:
        assert features.update_features({"share.version": ("SAFE_DOWNGRADE", 0)}) == {"share.version": "OK"}
        results = poll_until(source, [share, consumer], lambda r: isinstance(r[share], LagFailure))
    finally:
        features.update_features({"share.version": ("UPGRADE", 2)})
        features.close()
    failed = results[share]
    assert isinstance(failed, LagFailure), failed
    assert "cannot describe share groups" in failed.error and "share.version" in failed.error
    reading = results[consumer]
    assert isinstance(reading, LagReading)
    assert [(p.committed, p.latest) for p in reading.partitions] == [(4, 4), (NO_COMMIT, 6)]
