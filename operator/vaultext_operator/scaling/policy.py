"""The replica policy: (lag, rates, current replicas, spec, clock, history) -> desired replicas + reason.

Pure and deterministic; the loop owns I/O and keeps the returned history for the next call.
Compared with KEDA + the HPA: one step to the target (no +100 %/+4 pods per 15 s), an exact cap at the
partition count (no P+1 from capping the metric before the HPA's ceil, no P-1 from the HPA's 10 % tolerance),
seconds-of-backlog sizing, and a GPU-capacity cap instead of Pending pods. A share group (KIP-932) reads every
partition with all its consumers, so it has no partition cap and no even spread over partitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.lag import LagSummary, next_even_factor, partition_cap, replicas_for_lag
from vaultext_operator.scaling.rates import Rates, drain_seconds


@dataclass(frozen=True, slots=True)
class ScalingHistory:
    """What the policy remembers between polls."""

    recommendations: tuple[tuple[float, int], ...] = ()  # (time, recommendation) inside the window
    last_active_at: float | None = None
    failed_polls: int = 0
    last_scale_at: float | None = None


@dataclass(frozen=True, slots=True)
class ScalingInput:
    spec: AutoscalingSpec
    current_replicas: int
    now: float  # seconds, monotonic
    summary: LagSummary | None  # None: lag could not be read this poll
    rates: Rates = field(default_factory=Rates)
    schedulable_replicas: int | None = None  # GPU capacity for this extension; None = not limited
    paused_replicas: int | None = None
    error: str | None = None  # why lag could not be read
    hold_scale_up: str | None = None  # why this lag must not add replicas (scale-down unaffected)
    share_group: bool = False  # consumers share partitions (KIP-932): no partition cap


@dataclass(frozen=True, slots=True)
class Decision:
    desired_replicas: int
    reason: str
    active: bool
    recommendation: int  # before stabilization and the GPU cap
    gpu_limited: bool
    lag_unreadable: bool
    fallback_applied: bool
    drain_seconds: float | None
    history: ScalingHistory


def decide(inp: ScalingInput, history: ScalingHistory) -> Decision:
    if inp.paused_replicas is not None:
        return _held(inp, history, inp.paused_replicas, f"paused at {inp.paused_replicas} by annotation")
    if inp.summary is None:
        return _unreadable(inp, history)
    return _from_lag(inp, inp.summary, history)


def _held(inp: ScalingInput, history: ScalingHistory, replicas: int, reason: str) -> Decision:
    return Decision(
        desired_replicas=replicas,
        reason=reason,
        active=False,
        recommendation=replicas,
        gpu_limited=False,
        lag_unreadable=False,
        fallback_applied=False,
        drain_seconds=None,
        history=history,
    )


def _unreadable(inp: ScalingInput, history: ScalingHistory) -> Decision:
    failed = history.failed_polls + 1
    fallback = inp.spec.fallback
    threshold = fallback.failure_threshold if fallback is not None else 1
    use_fallback = fallback is not None and fallback.replicas is not None and failed >= threshold
    replicas = fallback.replicas if use_fallback and fallback and fallback.replicas is not None else None
    desired = inp.current_replicas if replicas is None else replicas
    what = f"fallback {desired}" if use_fallback else f"holding {desired}"
    return Decision(
        desired_replicas=desired,
        reason=f"lag unreadable for {failed} poll(s) ({inp.error or 'no answer'}); {what}",
        active=False,
        recommendation=desired,
        gpu_limited=False,
        lag_unreadable=True,
        fallback_applied=use_fallback,
        drain_seconds=None,
        history=ScalingHistory(
            history.recommendations, history.last_active_at, failed, history.last_scale_at
        ),
    )


def _target(inp: ScalingInput, summary: LagSummary, steps: list[str]) -> int:
    """Replicas the backlog asks for, before bounds and the stabilization window."""
    spec = inp.spec
    per_replica = inp.rates.per_replica
    if spec.target_drain_seconds is not None and per_replica is not None and per_replica > 0:
        arrival = inp.rates.arrival or 0.0
        needed_rate = summary.total_lag / spec.target_drain_seconds + arrival
        target = math.ceil(needed_rate / per_replica)
        steps.append(
            f"drain {summary.total_lag} in {spec.target_drain_seconds}s with arrivals {arrival:.2f}/s "
            f"at {per_replica:.2f}/s per replica -> {target}"
        )
    else:
        target = replicas_for_lag(summary.total_lag, spec.lag_threshold)
        steps.append(f"lag {summary.total_lag} / lagThreshold {spec.lag_threshold} -> {target}")
    if inp.share_group:
        steps.append(f"share group: no partition cap ({summary.partition_count} partitions)")
    elif spec.ensure_even_distribution_of_partitions and summary.partition_count > 0 and target > 0:
        even = next_even_factor(target, summary.partition_count)
        if even != target:
            steps.append(f"even over {summary.partition_count} partitions -> {even}")
        target = even
    cap = None if inp.share_group else partition_cap(summary, spec)
    if cap is not None and target > cap:
        which = "partitions with lag" if spec.limit_to_partitions_with_lag else "partitions"
        steps.append(f"capped at {cap} {which}")
        target = cap
    if target > spec.max_replicas:
        steps.append(f"capped at maxReplicas {spec.max_replicas}")
        target = spec.max_replicas
    return target


def _from_lag(inp: ScalingInput, summary: LagSummary, history: ScalingHistory) -> Decision:
    spec, now, current = inp.spec, inp.now, inp.current_replicas
    active = summary.total_lag_with_persistent > spec.activation_lag_threshold
    last_active_at = now if active else history.last_active_at
    steps: list[str] = []
    target = _target(inp, summary, steps)
    to_zero = False
    if active:
        floor = max(spec.min_replicas, 1)
    elif spec.min_replicas > 0:
        floor = spec.min_replicas
    elif current == 0:
        floor, target = 0, 0
        steps.append(f"inactive (lag {summary.total_lag_with_persistent} <= activation "
                     f"{spec.activation_lag_threshold}); stays at 0")
    elif last_active_at is None or now - last_active_at >= spec.cooldown_period:
        floor, target, to_zero = 0, 0, True
        steps.append(f"no lag above activation for cooldownPeriod {spec.cooldown_period}s -> 0")
    else:
        floor = 1
    if target < floor:
        steps.append(f"raised to {'minReplicas' if floor == spec.min_replicas else 'active minimum'} {floor}")
        target = floor
    recommendation = target

    window_start = now - spec.scale_down_stabilization_seconds
    kept = tuple((t, r) for t, r in history.recommendations if t > window_start)
    if recommendation > current:
        stabilized = recommendation
        # minReplicas is a bound, not a scaling step: reaching it is never rate-limited
        stepped_from = max(current, spec.min_replicas)
        if spec.max_scale_up_step is not None and recommendation - stepped_from > spec.max_scale_up_step:
            stabilized = stepped_from + spec.max_scale_up_step
            steps.append(f"step limited to +{spec.max_scale_up_step}")
        if inp.hold_scale_up is not None and stabilized > stepped_from:
            stabilized = stepped_from  # minReplicas is still reached: it is a bound, not the lag's ask
            steps.append(f"held at {stabilized}: {inp.hold_scale_up}")
    elif recommendation < current and not to_zero:
        highest = max([recommendation, *(r for _, r in kept)])
        stabilized = min(current, highest)
        if stabilized > recommendation:
            steps.append(
                f"held at {stabilized}: highest recommendation in the last "
                f"{spec.scale_down_stabilization_seconds}s"
            )
    else:
        stabilized = recommendation

    desired, gpu_limited = stabilized, False
    if inp.schedulable_replicas is not None and desired > inp.schedulable_replicas:
        desired, gpu_limited = inp.schedulable_replicas, True
        steps.append(f"GPU capacity allows {inp.schedulable_replicas}")

    return Decision(
        desired_replicas=desired,
        reason="; ".join(steps),
        active=active,
        recommendation=recommendation,
        gpu_limited=gpu_limited,
        lag_unreadable=False,
        fallback_applied=False,
        drain_seconds=drain_seconds(summary.total_lag, desired, inp.rates),
        history=ScalingHistory(
            recommendations=(*kept, (now, recommendation)),
            last_active_at=last_active_at,
            failed_polls=0,
            last_scale_at=now if desired != current else history.last_scale_at,
        ),
    )
