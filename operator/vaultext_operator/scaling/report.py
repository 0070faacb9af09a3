"""What the autoscaler writes to `status` (pure): its fields and its conditions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vaultext_operator.scaling.policy import Decision
from vaultext_operator.scaling.rates import Rates

SCALING_ACTIVE = "ScalingActive"
GPU_CAPACITY_LIMITED = "GPUCapacityLimited"
TOPICS_READY = "TopicsReady"
PARTITIONS_LIMIT_REPLICAS = "PartitionsBelowMaxReplicas"
AUTOSCALER_TYPES = (SCALING_ACTIVE, GPU_CAPACITY_LIMITED, TOPICS_READY, PARTITIONS_LIMIT_REPLICAS)
MAX_REASON = 1024  # status.lastScaleReason's schema bound


@dataclass(frozen=True, slots=True)
class ConditionVerdict:
    status: str
    reason: str
    message: str


def scaling_conditions(decision: Decision, paused: bool, error: str | None) -> dict[str, ConditionVerdict]:
    if paused:
        active = ConditionVerdict("False", "Paused", decision.reason)
    elif decision.lag_unreadable:
        reason = "FallbackReplicas" if decision.fallback_applied else "LagUnreadable"
        active = ConditionVerdict("False", reason, error or decision.reason)
    else:
        active = ConditionVerdict("True", "LagRead", decision.reason)
    result = {SCALING_ACTIVE: active}
    if not decision.lag_unreadable and not paused:
        result[GPU_CAPACITY_LIMITED] = (
            ConditionVerdict("True", "InsufficientGPUs",
                             f"recommended {decision.recommendation} replicas, the cluster's free GPUs hold "
                             f"{decision.desired_replicas}")
            if decision.gpu_limited
            else ConditionVerdict("False", "EnoughGPUs", "every recommended replica can be scheduled")
        )
    return result


def partition_condition(partitions: int, max_replicas: int, allow_idle: bool) -> ConditionVerdict:
    if partitions < max_replicas and not allow_idle:
        return ConditionVerdict("True", "FewerPartitionsThanMaxReplicas",
                                f"the input topic has {partitions} partitions: at most {partitions} of "
                                f"maxReplicas {max_replicas} replicas can consume")
    return ConditionVerdict("False", "EnoughPartitions", f"{partitions} partitions >= maxReplicas {max_replicas}")


def merge_conditions(previous: list[dict[str, Any]], verdicts: dict[str, ConditionVerdict], generation: int,
                     now_iso: str) -> list[dict[str, Any]]:
    """Our condition types replaced, every other type kept; lastTransitionTime moves only on a flip."""
    by_type = {c.get("type"): c for c in previous}
    merged = [c for c in previous if c.get("type") not in verdicts]
    for kind, verdict in verdicts.items():
        before = by_type.get(kind) or {}
        flipped = before.get("status") != verdict.status
        merged.append({
            "type": kind, "status": verdict.status, "reason": verdict.reason,
            "message": verdict.message[:32768],
            "lastTransitionTime": now_iso if flipped else before.get("lastTransitionTime", now_iso),
            "observedGeneration": generation,
        })  # fmt: skip
    return merged


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
