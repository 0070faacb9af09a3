"""Per-partition lag exactly as KEDA's Kafka scaler counts it, plus the partition caps.

Differences from KEDA, on purpose: `earliest` without a commit counts `high - logStart` (KEDA counts `high`,
which overstates the backlog once retention has deleted the head of the log), and a negative difference
(a commit ahead of a stale watermark) counts as 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from vaultext_operator.api.autoscaling import AutoscalingSpec

NO_COMMIT = -1


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """One partition as read from the broker: committed offset of the group and the watermarks."""

    committed: int  # NO_COMMIT when the group has no committed offset
    latest: int | None  # high watermark; None when absent from the watermark answer
    log_start: int | None = None  # low watermark; None when unknown


@dataclass(frozen=True, slots=True)
class PartitionLag:
    lag: int  # counted for scaling
    lag_with_persistent: int  # counted for activation (KEDA's `lagWithPersistent`)


@dataclass(frozen=True, slots=True)
class LagSummary:
    partitions: tuple[PartitionLag, ...]
    total_lag: int
    total_lag_with_persistent: int
    partition_count: int
    partitions_with_lag: int


def partition_lag(
    offsets: PartitionOffsets, previous_committed: int | None, spec: AutoscalingSpec
) -> PartitionLag:
    """KEDA's getLagForPartition on our inputs."""
    if offsets.committed == NO_COMMIT:
        if spec.offset_reset_policy == "latest":
            value = 0 if spec.scale_to_zero_on_invalid_offset else 1
            return PartitionLag(value, value)
        if spec.scale_to_zero_on_invalid_offset:
            return PartitionLag(0, 0)
    if offsets.latest is None:
        return PartitionLag(0, 0)
    if offsets.committed == NO_COMMIT:
        backlog = max(0, offsets.latest - (offsets.log_start or 0))
        return PartitionLag(backlog, backlog)
    lag = max(0, offsets.latest - offsets.committed)
    if spec.exclude_persistent_lag and previous_committed == offsets.committed:
        return PartitionLag(0, lag)
    return PartitionLag(lag, lag)


def summarize(
    partitions: Sequence[PartitionOffsets],
    previous_committed: Sequence[int | None] | None,
    spec: AutoscalingSpec,
) -> LagSummary:
    if previous_committed is not None and len(previous_committed) != len(partitions):
        raise ValueError(
            f"previousCommitted has {len(previous_committed)} entries for {len(partitions)} partitions"
        )
    lags = tuple(
        partition_lag(p, previous_committed[i] if previous_committed is not None else None, spec)
        for i, p in enumerate(partitions)
    )
    return LagSummary(
        partitions=lags,
        total_lag=sum(p.lag for p in lags),
        total_lag_with_persistent=sum(p.lag_with_persistent for p in lags),
        partition_count=len(lags),
        partitions_with_lag=sum(1 for p in lags if p.lag > 0),
    )


def factors(n: int) -> list[int]:
    """Divisors of n in ascending order (empty for n < 1)."""
    if n < 1:
        return []
    small = [i for i in range(1, math.isqrt(n) + 1) if n % i == 0]
    return sorted(set(small + [n // i for i in small]))


def next_even_factor(replicas: int, partition_count: int) -> int:
    """Smallest divisor of the partition count >= replicas, so every consumer owns as many partitions."""
    for factor in factors(partition_count):
        if factor >= replicas:
            return factor
    return partition_count


def replicas_for_lag(total_lag: int, lag_threshold: int) -> int:
    """ceil(totalLag / lagThreshold) in integers (no float rounding on large offsets)."""
    return -(-total_lag // lag_threshold)


def partition_cap(summary: LagSummary, spec: AutoscalingSpec) -> int | None:
    """Most replicas that can do work: partitions (or those with lag); None with allowIdleConsumers."""
    if spec.limit_to_partitions_with_lag:
        return summary.partitions_with_lag
    if spec.allow_idle_consumers:
        return None
    return summary.partition_count
