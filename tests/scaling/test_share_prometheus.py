"""Share-group lag on the operator's /metrics (`kafka_sharegroup_lag`), read back through the sandbox's real
Prometheus by the default share-group query."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest

from vaultext_operator.metrics import OperatorMetrics
from vaultext_operator.scaling.lag import PartitionOffsets
from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagTarget
from vaultext_operator.sources.prometheus import PrometheusLagSource
from vaultext_sandbox.processes import free_port

from .kafka_helpers import unique
from .test_prometheus_source import poll_until

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def test_share_group_lag_is_exported_under_its_own_names_and_read_back(prometheus: Any) -> None:
    metrics = OperatorMetrics()
    port = free_port()
    metrics.serve(port)
    share = LagTarget(KafkaConnection("unused:9092"), unique("s"), unique("in"), "ns", "ext", share=True)
    reading = LagReading((0, 1, 2), (PartitionOffsets(70, 200), PartitionOffsets(0, 0), PartitionOffsets(5, 45)))
    metrics.record_lag(share, reading, [130, 0, 40])
    text = generate_latest(metrics.registry).decode()
    assert f'kafka_sharegroup_lag_sum{{sharegroup="{share.group}",topic="{share.topic}"}} 170.0' in text
    assert share.group not in "".join(line for line in text.splitlines() if line.startswith("kafka_consumergroup"))
    prometheus.add_target(unique("job"), f"127.0.0.1:{port}")

    source = PrometheusLagSource()
    source.set_query(share, prometheus.url, None)
    result = poll_until(source, share, LagReading)
    assert isinstance(result, LagReading)
    assert result.partition_ids == (0, 1, 2)
    assert [p.latest for p in result.partitions] == [130, 0, 40]

    as_consumer_group = LagTarget(share.connection, share.group, share.topic)  # same name, other kind
    source.set_query(as_consumer_group, prometheus.url, None)
    empty = source.poll([as_consumer_group])[as_consumer_group]
    assert isinstance(empty, LagFailure) and "kafka_consumergroup_lag" in empty.error

    metrics.forget("ns", "ext", share, (0, 1, 2))
    assert share.group not in generate_latest(metrics.registry).decode()
