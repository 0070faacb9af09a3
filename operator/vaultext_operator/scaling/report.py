"""What the autoscaler writes to `status` (pure): its fields and its conditions."""

from __future__ import annotations

from typing import Any

from vaultext_operator.conditions import Verdict
from vaultext_operator.scaling.policy import Decision
from vaultext_operator.scaling.rates import Rates

SCALING_ACTIVE = "ScalingActive"
GPU_CAPACITY_LIMITED = "GPUCapacityLimited"
TOPICS_READY = "TopicsReady"
PARTITIONS_LIMIT_REPLICAS = "PartitionsBelowMaxReplicas"
AUTOSCALER_TYPES = (SCALING_ACTIVE, GPU_CAPACITY_LIMITED, TOPICS_READY, PARTITIONS_LIMIT_REPLICAS)


def scaling_conditions(decision: Decision, paused: bool, error: str | None) -> dict[str, Verdict]:
    if paused:
        active = Verdict("False", "Paused", decision.reason)
    elif decision.lag_unreadable:
        reason = "FallbackReplicas" if decision.fallback_applied else "LagUnreadable"
        active = Verdict("False", reason, error or decision.reason)
    else:
        active = Verdict("True", "LagRead", decision.reason)
    result = {SCALING_ACTIVE: active}
    if not decision.lag_unreadable and not paused:
        result[GPU_CAPACITY_LIMITED] = (
            Verdict("True", "InsufficientGPUs",
                             f"recommended {decision.recommendation} replicas, the cluster's free GPUs hold "
                             f"{decision.desired_replicas}")
            if decision.gpu_limited
            else Verdict("False", "EnoughGPUs", "every recommended replica can be scheduled")
        )
    return result


def partition_condition(partitions: int, max_replicas: int, allow_idle: bool) -> Verdict:
    if partitions < max_replicas and not allow_idle:
        return Verdict("True", "FewerPartitionsThanMaxReplicas",
                                f"the input topic has {partitions} partitions: at most {partitions} of "
                                f"maxReplicas {max_replicas} replicas can consume")
    return Verdict("False", "EnoughPartitions", f"{partitions} partitions >= maxReplicas {max_replicas}")


def status_fields(decision: Decision, lag: int | None, partitions: int | None, rates: Rates) -> dict[str, Any]:
    measured = {
        key: round(value, 3)
        for key, value in (("arrival", rates.arrival), ("perReplica", rates.per_replica),
                           ("consumption", rates.consumption))
        if value is not None
    }
    return {
        "lag": lag,
        "desiredReplicas": decision.desired_replicas,
        "partitions": partitions,
        "rates": measured or None,
        "drainSeconds": round(decision.drain_seconds, 1) if decision.drain_seconds is not None else None,
    }
