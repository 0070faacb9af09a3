"""The Prometheus lag source against the sandbox's real Prometheus scraping the operator's real /metrics."""

from __future__ import annotations

import time
from typing import Any

import pytest

from vaultext_operator.metrics import OperatorMetrics
from vaultext_operator.scaling.lag import PartitionOffsets
from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagResult, LagTarget
from vaultext_operator.sources.prometheus import PrometheusLagSource
from vaultext_sandbox.processes import free_port

from .kafka_helpers import unique

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def poll_until(source: PrometheusLagSource, target: LagTarget, want: type, seconds: float = 30) -> LagResult:
    deadline = time.monotonic() + seconds
    while True:
        result = source.poll([target])[target]
        if isinstance(result, want) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_lag_per_partition_read_back_through_prometheus(prometheus: Any) -> None:
    metrics = OperatorMetrics()
    port = free_port()
    metrics.serve(port)
    target = LagTarget(KafkaConnection("unused:9092"), unique("g"), unique("in"), "ns", "ext")
    reading = LagReading((0, 1, 2), (PartitionOffsets(5, 12), PartitionOffsets(0, 0), PartitionOffsets(1, 31)))
    metrics.record_lag(target, reading, [7, 0, 30])
    prometheus.add_target(unique("job"), f"127.0.0.1:{port}")

    source = PrometheusLagSource()
    source.set_query(target, prometheus.url, None)
    result = poll_until(source, target, LagReading)
    assert isinstance(result, LagReading)
    assert result.partition_ids == (0, 1, 2)
    assert [p.latest for p in result.partitions] == [7, 0, 30]

    other = LagTarget(target.connection, unique("g"), target.topic)
    source.set_query(other, prometheus.url, None)
    empty = source.poll([other])[other]
    assert isinstance(empty, LagFailure) and "no series" in empty.error

    prometheus.stop()
    try:
        down = source.poll([target])[target]
        assert isinstance(down, LagFailure) and prometheus.url in down.error
    finally:
        prometheus.start()
    assert isinstance(poll_until(source, target, LagReading, 60), LagReading)


@pytest.mark.parametrize(("query", "complaint"), [
    ("vector(0) / 0", "NaN"),
    ("vector(1) / 0", "+Inf"),
    ("vector(-1) / 0", "-Inf"),
    ("scalar(vector(5))", "scalar"),
    ('"lag"', "scalar or string"),
    ("vector(3)[1m:10s]", "range vector"),
])
def test_an_unusable_answer_fails_that_extension_only(prometheus: Any, query: str, complaint: str) -> None:
    """Real Prometheus answers each of these; one extension's bad query never costs the others their lag."""
    source = PrometheusLagSource()
    good = LagTarget(KafkaConnection("unused:9092"), unique("g"), unique("in"), "ns", "good")
    bad = LagTarget(KafkaConnection("unused:9092"), unique("g"), unique("in"), "ns", "bad")
    source.set_query(good, prometheus.url, "vector(12)")
    source.set_query(bad, prometheus.url, query)
    deadline = time.monotonic() + 30
    while isinstance(results := source.poll([bad, good]), dict) and isinstance(results[good], LagFailure):
        assert time.monotonic() < deadline, results  # Prometheus may still be starting
        time.sleep(0.5)
    assert isinstance(results[good], LagReading) and results[good].partitions[0].latest == 12
    failure = results[bad]
    assert isinstance(failure, LagFailure) and complaint in failure.error, failure
