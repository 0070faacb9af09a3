"""Properties of the pure policy over generated specs, offsets and histories."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets, replicas_for_lag, summarize
from vaultext_operator.scaling.policy import ScalingHistory, ScalingInput, decide


@st.composite
def specs(draw: st.DrawFn) -> AutoscalingSpec:
    max_replicas = draw(st.integers(1, 64))
    idle = draw(st.booleans())
    return AutoscalingSpec(
        min_replicas=draw(st.integers(0, max_replicas)),
        max_replicas=max_replicas,
        lag_threshold=draw(st.integers(1, 1000)),
        activation_lag_threshold=draw(st.integers(0, 50)),
        offset_reset_policy=draw(st.sampled_from(["latest", "earliest"])),
        allow_idle_consumers=idle,
        limit_to_partitions_with_lag=not idle and draw(st.booleans()),
        ensure_even_distribution_of_partitions=not idle and draw(st.booleans()),
        scale_to_zero_on_invalid_offset=draw(st.booleans()),
        cooldown_period=draw(st.integers(0, 600)),
        scale_down_stabilization_seconds=draw(st.integers(0, 600)),
        max_scale_up_step=draw(st.none() | st.integers(1, 10)),
    )


@st.composite
def offsets(draw: st.DrawFn) -> PartitionOffsets:
    latest = draw(st.none() | st.integers(0, 10**12))
    committed = draw(st.just(NO_COMMIT) | st.integers(0, latest if latest is not None else 10**12))
    return PartitionOffsets(committed=committed, latest=latest, log_start=draw(st.none() | st.integers(0, 10)))


histories = st.builds(
    ScalingHistory,
    recommendations=st.lists(st.tuples(st.floats(-600, 0), st.integers(0, 64)), max_size=5).map(tuple),
    last_active_at=st.none() | st.floats(-1000, 0),
)


@settings(max_examples=400, deadline=None)
@given(specs(), st.lists(offsets(), min_size=1, max_size=40), st.integers(0, 64), histories,
       st.none() | st.integers(0, 64))
def test_bounds_and_caps(spec: AutoscalingSpec, parts: list[PartitionOffsets], current: int,
                         history: ScalingHistory, schedulable: int | None) -> None:
    summary = summarize(parts, None, spec)
    decision = decide(ScalingInput(spec, current, 0.0, summary, schedulable_replicas=schedulable), history)
    desired = decision.desired_replicas
    assert 0 <= desired <= max(spec.max_replicas, current)
    if schedulable is not None:
        assert desired <= schedulable
    if not decision.gpu_limited:
        assert desired >= min(spec.min_replicas, max(current, decision.recommendation))
    if decision.active and spec.max_scale_up_step is None and not decision.gpu_limited:
        assert desired >= 1
    if not spec.allow_idle_consumers:
        # never more consumers than partitions (or partitions with lag), unless minReplicas/current say so
        cap = summary.partitions_with_lag if spec.limit_to_partitions_with_lag else summary.partition_count
        # one replica stays while lag was above activation within cooldownPeriod (KEDA's cooldown)
        cooling = current > 0 and history.last_active_at is not None and -history.last_active_at < spec.cooldown_period
        assert decision.recommendation <= max(cap, spec.min_replicas, 1 if decision.active or cooling else 0)
    if decision.recommendation > current and spec.max_scale_up_step is None:
        target = decision.recommendation if schedulable is None else min(decision.recommendation, schedulable)
        assert desired == target  # one step to the target
    if desired < current and not decision.gpu_limited:
        window = [r for t, r in history.recommendations if t > -spec.scale_down_stabilization_seconds]
        if decision.recommendation > 0 or spec.min_replicas > 0:
            assert all(r <= desired for r in window)  # scale down never below a recommendation in the window


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 64), st.integers(1, 100), st.integers(1, 64), st.integers(0, 10**6))
def test_exact_partition_cap(partitions: int, threshold: int, current: int, extra: int) -> None:
    spec = AutoscalingSpec(max_replicas=128, lag_threshold=threshold, scale_down_stabilization_seconds=0)
    per_partition = threshold + extra  # total lag >= partitions * threshold
    parts = [PartitionOffsets(committed=0, latest=per_partition) for _ in range(partitions)]
    decision = decide(ScalingInput(spec, min(current, partitions), 0.0, summarize(parts, None, spec)),
                      ScalingHistory())
    assert decision.desired_replicas == partitions


@settings(max_examples=300, deadline=None)
@given(specs(), st.lists(st.integers(0, 10**6), min_size=1, max_size=30), st.integers(0, 10**6),
       st.integers(0, 64))
def test_more_lag_never_means_fewer_replicas(spec: AutoscalingSpec, lags: list[int], more: int,
                                             current: int) -> None:
    def desired(values: list[int]) -> int:
        parts = [PartitionOffsets(committed=0, latest=v) for v in values]
        return decide(ScalingInput(spec, current, 0.0, summarize(parts, None, spec)), ScalingHistory()).desired_replicas

    grown = [lags[0] + more, *lags[1:]]
    if not spec.limit_to_partitions_with_lag or (lags[0] > 0 or more == 0):
        assert desired(grown) >= desired(lags)


@given(st.integers(0, 10**15), st.integers(1, 10**6))
def test_replicas_for_lag_is_exact_ceiling(lag: int, threshold: int) -> None:
    replicas = replicas_for_lag(lag, threshold)
    assert replicas * threshold >= lag > (replicas - 1) * threshold or lag == replicas == 0
