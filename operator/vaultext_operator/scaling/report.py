"""What the autoscaler writes to `status` (pure): its fields and its conditions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from vaultext_operator.api.status import ScalingState
from vaultext_operator.conditions import Verdict
from vaultext_operator.scaling.policy import Decision, ScalingHistory
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


def partition_condition(partitions: int, max_replicas: int, allow_idle: bool, share: bool = False) -> Verdict:
    if share:
        return Verdict("False", "ShareGroup", f"a share group reads its {partitions} partitions with every replica: "
                                              f"no partition cap, up to maxReplicas {max_replicas}")
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


MAX_REMEMBERED = 32  # recommendations kept in status


def staircase(recommendations: tuple[tuple[float, int], ...]) -> tuple[tuple[float, int], ...]:
    """The recommendations that can still be the highest of some future window: each one higher than every later
    one. An entry with a later one at least as high never bounds a scale-down again (the later one outlives it)."""
    kept: list[tuple[float, int]] = []
    for at, replicas in recommendations:
        while kept and kept[-1][1] <= replicas:
            kept.pop()
        kept.append((at, replicas))
    return tuple(kept[-MAX_REMEMBERED:])


def scaling_state(history: ScalingHistory, rates: Rates) -> dict[str, Any]:
    """`status.scalingState`: the policy's memory, so a restarted or newly elected operator goes on with it."""
    state: dict[str, Any] = {
        "recommendations": [{"at": round(at, 3), "replicas": replicas}
                            for at, replicas in staircase(history.recommendations)],
        "lastActiveTime": history.last_active_at,
        "lastScaleAt": history.last_scale_at,
        "perReplicaRate": round(rates.per_replica, 4) if rates.per_replica is not None else None,
        "arrivalRate": round(rates.arrival, 4) if rates.arrival is not None else None,
    }
    return {key: value for key, value in state.items() if value is not None}


def restore(state: Mapping[str, Any] | None) -> tuple[ScalingHistory, Rates] | None:
    """The history and rates from `status.scalingState`; None when there is none (or it is unreadable)."""
    if not state:
        return None
    try:
        model = ScalingState.model_validate(state)
    except ValidationError:
        return None
    history = ScalingHistory(
        recommendations=tuple((r.at, r.replicas) for r in model.recommendations),
        last_active_at=model.last_active_time,
        last_scale_at=model.last_scale_at,
    )
    return history, Rates(per_replica=model.per_replica_rate, arrival=model.arrival_rate)


def state_moved(live: Mapping[str, Any] | None, wanted: Mapping[str, Any], tolerance: float,
                floor: int = 0) -> bool:
    """Whether status must be written for the memory alone: the window's bounding recommendations changed, or
    one of them moved by more than `tolerance` seconds (so status never makes a window end much too early).

    Recommendations at or below `floor` (minReplicas) bound no scale-down, so their times alone never force a
    write: an idle extension's status then stays as it is instead of being rewritten every `tolerance`."""
    before = (live or {}).get("recommendations") or []
    after = wanted.get("recommendations") or []
    if [r.get("replicas") for r in before] != [r["replicas"] for r in after]:
        return True
    return any(abs(float(b.get("at") or 0) - a["at"]) > tolerance
               for b, a in zip(before, after, strict=True) if a["replicas"] > floor)
