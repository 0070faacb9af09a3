from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vaultext_worker.config import ModelSettings, SamplingSettings
from vaultext_worker.models.yolo import YoloOnnx
from vaultext_worker.runtime.errors import BadVideoError
from vaultext_worker.runtime.pipeline import Analyser, prefetched

from .conftest import LONG


def test_prefetched_keeps_order_and_uses_another_thread() -> None:
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for item in range(50):
            threads.add(threading.current_thread().name)
            yield item

    assert list(prefetched(source(), depth=2)) == list(range(50))
    assert threads == {"decode"}


def test_prefetched_raises_the_producers_error() -> None:
    def source() -> Iterator[int]:
        yield 1
        raise BadVideoError("broken at frame 2")

    seen = []
    with pytest.raises(BadVideoError, match="frame 2"):
        for item in prefetched(source()):
            seen.append(item)
    assert seen == [1]


def test_a_consumer_that_stops_early_does_not_leave_the_producer_behind() -> None:
    produced = []

    def endless() -> Iterator[int]:
        item = 0
        while True:
            produced.append(item)
            yield item
            item += 1

    for item in prefetched(endless()):
        if item == 3:
            break
    count = len(produced)
    assert count <= 6  # the producer stopped a chunk or two ahead
    assert not any(t.name == "decode" for t in threading.enumerate())


def test_every_frame_in_chunks_through_the_model(detector: Path, long_clip: bytes) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector), input_size=320, batch_size=4))
    data = Analyser(model, SamplingSettings("all"), chunk_frames=7).analyse(long_clip)
    assert len(data["frameTimes"]) == 100 and data["sampling"] == {"mode": "all", "plan": "all", "frames": 100}
    assert data["frameTimes"] == sorted(data["frameTimes"])
    assert data["counts"] == {"red": 100, "green": 100, "blue": 100}
    assert data["peakCounts"] == {"red": 1, "green": 1, "blue": 1}
    assert {"decode", "inference"} <= set(data["timingsMs"])
    for index in (0, 37, 99):
        truth = LONG.boxes_at(data["frameTimes"][index])
        for label, box in zip(data["labels"][index], data["boxes"][index], strict=True):
            assert np.abs(np.array(box) - np.array(truth[label])).max() <= 3


def test_the_vault_ml_shape(detector: Path, small_clip: bytes) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector)))
    data = Analyser(model, SamplingSettings("even", 5)).analyse(small_clip)
    assert len(data["probabilities"]) == len(data["labels"]) == len(data["boxes"]) == 5
    assert all(isinstance(p, float) for frame in data["probabilities"] for p in frame)
    assert all(isinstance(label, str) for frame in data["labels"] for label in frame)
    assert all(len(box) == 4 for frame in data["boxes"] for box in frame)
    assert data["schema"] == "vaultext.result/v1" and data["model"]["name"] == "colour-boxes"
