"""The replica policy over time: one-step scale-up, stabilization, cooldown, fallback, GPU cap, drain, pause."""

from __future__ import annotations

from typing import Any

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.lag import PartitionOffsets, summarize
from vaultext_operator.scaling.policy import Decision, ScalingHistory, ScalingInput, decide
from vaultext_operator.scaling.rates import OffsetSnapshot, Rates, drain_seconds


def spec(**fields: Any) -> AutoscalingSpec:
    return AutoscalingSpec.model_validate(fields)


def lagging(lags: list[int], s: AutoscalingSpec) -> Any:
    return summarize([PartitionOffsets(committed=0, latest=lag) for lag in lags], None, s)


def step(s: AutoscalingSpec, lags: list[int], current: int, now: float, history: ScalingHistory,
         **extra: Any) -> Decision:
    return decide(ScalingInput(spec=s, current_replicas=current, now=now, summary=lagging(lags, s), **extra),
                  history)


def test_500_messages_on_12_partitions_scale_0_to_8_in_one_step() -> None:
    s = spec(maxReplicas=8, minReplicas=0)
    lags = [42] * 11 + [38]
    decision = step(s, lags, current=0, now=0.0, history=ScalingHistory())
    assert decision.desired_replicas == 8
    wide = step(spec(maxReplicas=20, minReplicas=0), lags, current=0, now=0.0, history=ScalingHistory())
    assert wide.desired_replicas == 12
    assert "12 partitions" in wide.reason


def test_scale_down_waits_for_the_stabilization_window_and_takes_the_highest() -> None:
    s = spec(maxReplicas=10, scaleDownStabilizationSeconds=120)
    history = ScalingHistory()
    d = step(s, [100] * 10, current=1, now=0.0, history=history)
    assert d.desired_replicas == 10
    d = step(s, [30] * 10, current=10, now=60.0, history=d.history)  # recommends 30 per 10 -> ... 10 (cap)
    d = step(s, [3] * 10, current=10, now=100.0, history=d.history)  # recommends 3
    assert d.desired_replicas == 10 and "held at 10" in d.reason
    d = step(s, [3] * 10, current=10, now=181.0, history=d.history)  # window now holds 3 and 3
    assert d.desired_replicas == 3
    d = step(s, [0] * 10, current=3, now=200.0, history=d.history)
    assert d.desired_replicas == 3
    d = step(s, [0] * 10, current=3, now=321.0, history=d.history)
    assert d.desired_replicas == 1  # minReplicas, never 0


def test_scale_to_zero_only_after_cooldown() -> None:
    s = spec(minReplicas=0, cooldownPeriod=300, scaleDownStabilizationSeconds=0)
    d = step(s, [50], current=0, now=0.0, history=ScalingHistory())
    assert d.desired_replicas == 1 and d.active
    d = step(s, [0], current=1, now=10.0, history=d.history)
    assert d.desired_replicas == 1
    d = step(s, [0], current=1, now=299.0, history=d.history)
    assert d.desired_replicas == 1
    d = step(s, [0], current=1, now=300.0, history=d.history)
    assert d.desired_replicas == 0 and "cooldownPeriod" in d.reason


def test_activation_threshold_from_zero() -> None:
    s = spec(minReplicas=0, activationLagThreshold=5)
    assert step(s, [5], current=0, now=0.0, history=ScalingHistory()).desired_replicas == 0
    assert step(s, [6], current=0, now=0.0, history=ScalingHistory()).desired_replicas == 1


def test_max_scale_up_step() -> None:
    s = spec(maxReplicas=20, maxScaleUpStep=3)
    d = step(s, [100] * 20, current=2, now=0.0, history=ScalingHistory())
    assert d.desired_replicas == 5 and d.recommendation == 20


def test_gpu_capacity_caps_and_says_so() -> None:
    s = spec(maxReplicas=10)
    d = step(s, [1000] * 12, current=1, now=0.0, history=ScalingHistory(), schedulable_replicas=4)
    assert (d.desired_replicas, d.gpu_limited, d.recommendation) == (4, True, 10)
    assert "GPU capacity allows 4" in d.reason


def test_unreadable_lag_holds_then_falls_back() -> None:
    s = spec(maxReplicas=10, fallback={"failureThreshold": 3, "replicas": 2})
    history = ScalingHistory()
    for poll in (1, 2):
        d = decide(ScalingInput(spec=s, current_replicas=7, now=float(poll), summary=None, error="broker down"),
                   history)
        history = d.history
        assert (d.desired_replicas, d.lag_unreadable, d.fallback_applied) == (7, True, False)
        assert "broker down" in d.reason
    d = decide(ScalingInput(spec=s, current_replicas=7, now=3.0, summary=None, error="x"), history)
    assert (d.desired_replicas, d.fallback_applied) == (2, True)
    recovered = step(s, [25], current=2, now=4.0, history=d.history)
    assert recovered.history.failed_polls == 0 and recovered.desired_replicas == 1


def test_unreadable_without_fallback_holds_current() -> None:
    d = decide(ScalingInput(spec=spec(), current_replicas=5, now=0.0, summary=None), ScalingHistory())
    assert d.desired_replicas == 5


def test_pause_freezes_replicas() -> None:
    d = step(spec(maxReplicas=10), [1000] * 10, current=3, now=0.0, history=ScalingHistory(), paused_replicas=3)
    assert d.desired_replicas == 3 and "paused" in d.reason


def test_drain_target_sizes_from_measured_rates() -> None:
    s = spec(maxReplicas=50, targetDrainSeconds=60, lagThreshold=1000)
    rates = Rates(per_replica=5.0, arrival=10.0)
    d = step(s, [300] * 12, current=1, now=0.0, history=ScalingHistory(), rates=rates)
    # 3600 messages in 60 s = 60/s, plus 10/s arriving -> 70/s at 5/s each -> 14, capped at 12 partitions
    assert d.desired_replicas == 12
    d = step(s, [100] * 12, current=1, now=0.0, history=ScalingHistory(), rates=rates)
    assert d.desired_replicas == 6  # (1200/60 + 10) / 5 = 6
    estimate = drain_seconds(1200, d.desired_replicas, rates)
    assert estimate is not None and estimate <= 60
    # without a known rate, the message threshold applies
    no_rate = step(s, [100] * 12, current=1, now=0.0, history=ScalingHistory())
    assert no_rate.desired_replicas == 2


def test_rates_learn_only_while_backlogged() -> None:
    rates = Rates()
    rates = rates.observe(OffsetSnapshot(at=0.0, committed_sum=0, latest_sum=100, total_lag=100, replicas=2))
    rates = rates.observe(OffsetSnapshot(at=10.0, committed_sum=40, latest_sum=120, total_lag=80, replicas=2))
    assert rates.per_replica == 2.0 and rates.arrival == 2.0
    idle = rates.observe(OffsetSnapshot(at=20.0, committed_sum=120, latest_sum=120, total_lag=0, replicas=2))
    assert idle.per_replica == 2.0  # an interval that ended idle teaches nothing about capacity
    ramp = rates.observe(OffsetSnapshot(at=20.0, committed_sum=45, latest_sum=130, total_lag=85, replicas=5))
    assert ramp.per_replica == 2.0  # ready replicas changed during the interval: no sample


def test_bursty_commits_average_over_the_busy_stretch() -> None:
    rates = Rates()
    committed = 0
    for step, burst in enumerate([0, 20, 0, 20, 0, 20]):  # a consumer committing every other 2-s poll
        committed += burst
        rates = rates.observe(OffsetSnapshot(at=2.0 * step, committed_sum=committed, latest_sum=1000,
                                             total_lag=1000 - committed, replicas=1))
        if step == 1:
            assert rates.per_replica is None  # 2 s of evidence is not enough
    assert rates.per_replica is not None and abs(rates.per_replica - 6.0) < 0.01  # 60 over the 10-s stretch
