from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultext_worker.runtime.sampling import (
    even_times,
    interval_times,
    plan_sampling,
    spread_keyframes,
)


def test_even_times_are_slice_middles() -> None:
    assert even_times(10.0, 5) == [1.0, 3.0, 5.0, 7.0, 9.0]


def test_even_snaps_to_keyframes_when_there_are_enough() -> None:
    plan = plan_sampling("even", 10.0, [0.0, 2.0, 4.0, 6.0, 8.0], frames=5)
    assert plan.kind == "keyframes"
    assert plan.times == (0.0, 2.0, 4.0, 6.0, 8.0)


def test_even_spreads_over_many_keyframes() -> None:
    keyframes = [float(i) for i in range(20)]
    plan = plan_sampling("even", 20.0, keyframes, frames=4)
    assert plan.times == (2.0, 7.0, 12.0, 17.0)


def test_even_decodes_exact_times_when_keyframes_are_too_few() -> None:
    plan = plan_sampling("even", 10.0, [0.0, 5.0], frames=5)
    assert plan.kind == "exact"
    assert plan.times == (1.0, 3.0, 5.0, 7.0, 9.0)


def test_other_modes() -> None:
    assert plan_sampling("even-exact", 4.0, [0.0, 1.0, 2.0, 3.0], frames=2).times == (1.0, 3.0)
    assert plan_sampling("interval", 3.5, [0.0], interval_s=1.0).times == (0.0, 1.0, 2.0, 3.0)
    assert plan_sampling("keyframes", 6.0, [4.0, 0.0, 2.0]).times == (0.0, 2.0, 4.0)
    assert plan_sampling("all", 6.0, [0.0]).kind == "all"
    with pytest.raises(ValueError, match="unknown sampling mode"):
        plan_sampling("random", 6.0, [0.0])


def test_interval_never_asks_past_the_end() -> None:
    assert interval_times(2.0, 1.0) == [0.0, 1.0]
    assert interval_times(0.5, 2.0) == [0.0]


@given(
    keyframes=st.lists(st.floats(0, 3600, allow_nan=False), min_size=1, max_size=200, unique=True),
    count=st.integers(1, 50),
)
def test_spread_keyframes_are_distinct_and_ordered(keyframes: list[float], count: int) -> None:
    if len(keyframes) < count:
        return
    chosen = spread_keyframes(keyframes, count)
    assert len(chosen) == count
    assert len(set(chosen)) == count
    assert chosen == sorted(chosen)
    assert set(chosen) <= set(keyframes)


@given(duration=st.floats(0.01, 10_000), count=st.integers(1, 100))
def test_even_times_stay_inside_the_recording(duration: float, count: int) -> None:
    times = even_times(duration, count)
    assert len(times) == count
    assert all(0 <= t < duration for t in times)
    assert times == sorted(times)
