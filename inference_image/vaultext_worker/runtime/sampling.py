"""Which frames of a recording to look at (pure: no decoding here).

A plan says either "decode exactly these keyframes" (nothing else is decoded), "decode up to these times"
(first frame at or after each time) or "decode every frame".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SAMPLING_MODES = ("even", "even-exact", "interval", "keyframes", "all")

PlanKind = Literal["keyframes", "exact", "all"]


@dataclass(frozen=True)
class SamplePlan:
    kind: PlanKind
    times: tuple[float, ...] = ()


def even_times(duration_s: float, count: int) -> list[float]:
    """`count` instants spread evenly, each at the middle of its slice of the recording."""
    if count <= 0 or duration_s <= 0:
        return [0.0] if count > 0 else []
    return [(index + 0.5) * duration_s / count for index in range(count)]


def spread_keyframes(keyframe_times: Sequence[float], count: int) -> list[float]:
    """`count` distinct keyframes spread evenly over the ones there are (needs len(keyframe_times) >= count)."""
    keyframes = sorted(keyframe_times)
    total = len(keyframes)
    return [keyframes[math.floor((index + 0.5) * total / count)] for index in range(count)]


def interval_times(duration_s: float, interval_s: float) -> list[float]:
    count = max(1, math.ceil(duration_s / interval_s - 1e-9))
    return [index * interval_s for index in range(count)]


def plan_sampling(
    mode: str,
    duration_s: float,
    keyframe_times: Sequence[float],
    frames: int = 5,
    interval_s: float = 1.0,
) -> SamplePlan:
    """Turn a sampling mode into a plan for one recording."""
    if mode == "even":
        if len(keyframe_times) >= frames:
            return SamplePlan("keyframes", tuple(spread_keyframes(keyframe_times, frames)))
        return SamplePlan("exact", tuple(even_times(duration_s, frames)))
    if mode == "even-exact":
        return SamplePlan("exact", tuple(even_times(duration_s, frames)))
    if mode == "interval":
        return SamplePlan("exact", tuple(interval_times(duration_s, interval_s)))
    if mode == "keyframes":
        return SamplePlan("keyframes", tuple(sorted(keyframe_times)))
    if mode == "all":
        return SamplePlan("all")
    raise ValueError(f"unknown sampling mode {mode!r}; expected one of {', '.join(SAMPLING_MODES)}")
