"""The autoscaler's memory in status: compact, exact for the stabilization window, restored as it was written."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.lag import PartitionOffsets, summarize
from vaultext_operator.scaling.policy import ScalingHistory, ScalingInput, decide
from vaultext_operator.scaling.rates import Rates
from vaultext_operator.scaling.report import restore, scaling_state, staircase, state_moved


@given(st.lists(st.integers(0, 50), min_size=1, max_size=60), st.integers(1, 30), st.integers(0, 60))
def test_the_staircase_gives_every_window_the_same_highest_recommendation(
        replicas: list[int], window: int, now: int) -> None:
    recommendations = tuple((float(t), r) for t, r in enumerate(replicas))
    kept = staircase(recommendations)
    assert all(a[1] > b[1] for a, b in itertools.pairwise(kept))  # compact: strictly falling
    start = now - window
    full = [r for t, r in recommendations if start < t <= now]
    compact = [r for t, r in kept if start < t <= now]
    if full and now >= len(replicas) - 1:  # the window ends at or after the newest recommendation
        assert max(full) == max(compact)


def test_a_restored_state_holds_the_scale_down_like_the_original() -> None:
    spec = AutoscalingSpec.model_validate({"maxReplicas": 8, "lagThreshold": 10, "scaleDownStabilizationSeconds": 60})
    busy = summarize([PartitionOffsets(0, 10)] * 8, None, spec)  # 80 messages: 8 replicas
    idle = summarize([PartitionOffsets(10, 10)] * 8, None, spec)
    history = decide(ScalingInput(spec, 1, 1000.0, busy), ScalingHistory()).history
    rates = Rates(per_replica=2.5, arrival=1.0)
    written = scaling_state(history, rates)
    restored = restore(written)
    assert restored is not None
    restored_history, restored_rates = restored
    assert (restored_rates.per_replica, restored_rates.arrival) == (2.5, 1.0)
    for now, held in ((1030.0, 8), (1061.0, 1)):  # inside the window: held at 8; after it: down to 1
        assert decide(ScalingInput(spec, 8, now, idle), restored_history).desired_replicas == held
        assert decide(ScalingInput(spec, 8, now, idle), history).desired_replicas == held


def test_an_unreadable_state_is_no_state() -> None:
    assert restore(None) is None
    assert restore({"recommendations": [{"at": "soon", "replicas": -1}]}) is None


def test_status_is_rewritten_when_the_bounding_recommendations_change_or_drift() -> None:
    before = {"recommendations": [{"at": 100.0, "replicas": 8}]}
    assert not state_moved(before, {"recommendations": [{"at": 110.0, "replicas": 8}]}, 15)
    assert state_moved(before, {"recommendations": [{"at": 120.0, "replicas": 8}]}, 15)
    assert state_moved(before, {"recommendations": [{"at": 100.0, "replicas": 8}, {"at": 101.0, "replicas": 2}]},
                       15)
    assert state_moved(None, {"recommendations": [{"at": 100.0, "replicas": 8}]}, 15)


def test_an_idle_extension_at_min_replicas_is_not_rewritten_for_the_time_alone() -> None:
    idle = {"recommendations": [{"at": 100.0, "replicas": 0}]}
    assert not state_moved(idle, {"recommendations": [{"at": 400.0, "replicas": 0}]}, 15, floor=0)
    assert state_moved(idle, {"recommendations": [{"at": 400.0, "replicas": 0}]}, 15, floor=-1)  # none is a floor
    busy = {"recommendations": [{"at": 100.0, "replicas": 2}]}  # above minReplicas 1: bounds a scale-down
    assert state_moved(busy, {"recommendations": [{"at": 400.0, "replicas": 2}]}, 15, floor=1)
