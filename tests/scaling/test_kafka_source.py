"""The batched Kafka admin lag source against the sandbox's real broker."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets
from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagTarget
from vaultext_operator.sources.kafka_admin import KafkaAdminLagSource

from .kafka_helpers import commit, create_topic, produce, unique

pytestmark = pytest.mark.kafka


def test_offsets_for_many_groups_in_one_poll(kafka: Any) -> None:
    first, second = unique("in"), unique("in")
    create_topic(kafka.bootstrap, first, 4)
    create_topic(kafka.bootstrap, second, 2)
    produce(kafka.bootstrap, first, {0: 10, 1: 20, 2: 30, 3: 40})
    produce(kafka.bootstrap, second, {0: 5, 1: 7})
    busy, fresh, other = unique("g"), unique("g"), unique("g")
    commit(kafka.bootstrap, busy, first, {0: 10, 1: 5, 2: 0})
    commit(kafka.bootstrap, other, second, {1: 7})
    connection = KafkaConnection(kafka.bootstrap)
    targets = [
        LagTarget(connection, busy, first),
        LagTarget(connection, fresh, first, need_log_start=True),
        LagTarget(connection, other, second),
        LagTarget(connection, unique("g"), unique("missing")),
    ]
    source = KafkaAdminLagSource(timeout=10)
    results = source.poll(targets)
    busy_reading = results[targets[0]]
    assert isinstance(busy_reading, LagReading)
    assert busy_reading.partition_ids == (0, 1, 2, 3)
    assert [p.committed for p in busy_reading.partitions] == [10, 5, 0, NO_COMMIT]
    assert [p.latest for p in busy_reading.partitions] == [10, 20, 30, 40]
    fresh_reading = results[targets[1]]
    assert isinstance(fresh_reading, LagReading)
    assert fresh_reading.partitions[3] == PartitionOffsets(NO_COMMIT, 40, 0)
    other_reading = results[targets[2]]
    assert isinstance(other_reading, LagReading)
    assert [(p.committed, p.latest) for p in other_reading.partitions] == [(NO_COMMIT, 5), (7, 7)]
    missing = results[targets[3]]
    assert isinstance(missing, LagFailure) and "does not exist" in missing.error


@pytest.mark.slow
def test_broker_outage_is_a_failure_with_the_broker_error_then_recovers(kafka: Any) -> None:
    topic, group = unique("in"), unique("g")
    create_topic(kafka.bootstrap, topic, 1)
    produce(kafka.bootstrap, topic, {0: 3})
    target = LagTarget(KafkaConnection(kafka.bootstrap), group, topic)
    source = KafkaAdminLagSource(timeout=2)
    assert isinstance(source.poll([target])[target], LagReading)
    kafka.stop()
    try:
        failed = source.poll([target])[target]
        assert isinstance(failed, LagFailure)
        assert kafka.bootstrap in failed.error and len(failed.error) > len(kafka.bootstrap) + 10
    finally:
        kafka.start()
    for _ in range(30):
        again = source.poll([target])[target]
        if isinstance(again, LagReading):
            break
    assert isinstance(again, LagReading) and again.partitions[0].latest == 3


@pytest.fixture
def black_holes() -> Iterator[list[str]]:
    """Two dead clusters: one accepts connections and never answers (the worst a dead cluster can do), the
    other refuses them (it fails every poll anew)."""
    hole, closed = socket.socket(), socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)
    closed.bind(("127.0.0.1", 0))
    refused = f"127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    try:
        yield [f"127.0.0.1:{hole.getsockname()[1]}", refused]
    finally:
        hole.close()


def test_dead_clusters_cost_their_own_extensions_only_and_are_logged_once(
        kafka: Any, black_holes: list[str], caplog: pytest.LogCaptureFixture) -> None:
    topic = unique("in")
    create_topic(kafka.bootstrap, topic, 1)
    produce(kafka.bootstrap, topic, {0: 4})
    live = LagTarget(KafkaConnection(kafka.bootstrap), unique("g"), topic)
    commit(kafka.bootstrap, live.group, topic, {0: 0})  # the group (and the offsets topic) exist
    dead = [LagTarget(KafkaConnection(address), unique("g"), topic) for address in black_holes]
    latencies: list[str] = []
    source = KafkaAdminLagSource(timeout=2, observe_latency=lambda cluster, _: latencies.append(cluster))
    try:
        deadline = time.monotonic() + 30  # a broker that just started may not have a coordinator yet
        while not isinstance(source.poll([live])[live], LagReading):
            assert time.monotonic() < deadline, "the live cluster never answered"
            time.sleep(0.5)
        with caplog.at_level(logging.INFO, logger="vaultext_operator.sources.kafka_admin"):
            durations = []
            for _ in range(8):  # the dead clusters' polls time out meanwhile (2 s) and are tried again
                started = time.monotonic()
                results = source.poll([*dead, live])
                durations.append(time.monotonic() - started)
                live_reading = results[live]
                assert isinstance(live_reading, LagReading) and live_reading.partitions[0].latest == 4
                assert all(isinstance(results[target], LagFailure) for target in dead)
                time.sleep(0.5)
        # the live cluster's poll never waits for a dead one's timeout (2 s): dead clusters use a lane of their own
        assert max(durations) < 1.5, durations
        ours = KafkaAdminLagSource.__module__
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == ours]
        for address in black_holes:
            assert sum(address in r.getMessage() for r in warnings) == 1, [r.getMessage() for r in warnings]
        assert kafka.bootstrap in latencies
    finally:
        source.close()
