"""Recordings as Kerberos agents write them (fragmented MP4, H.264 or H.265) give the detections plain MP4 gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_worker.config import ModelSettings, SamplingSettings
from vaultext_worker.models.yolo import YoloOnnx
from vaultext_worker.runtime.pipeline import Analyser

PLAIN = RecordingSpec(width=320, height=180, seconds=6.0, fps=10, gop_seconds=1.0, seed=7)
FORMATS = [("h264", True), ("hevc", False), ("hevc", True)]


def analyse(detector: Path, spec: RecordingSpec, mode: str, frames: int) -> dict[str, Any]:
    model = YoloOnnx(ModelSettings(path=str(detector), input_size=320))
    return Analyser(model, SamplingSettings(mode, frames)).analyse(cached_recording(spec).read_bytes())


def test_the_synthetic_recordings_are_what_they_claim() -> None:
    fragmented = cached_recording(RecordingSpec(**{**PLAIN.__dict__, "codec": "hevc", "fragmented": True}))
    data = fragmented.read_bytes()
    assert b"moof" in data and (b"hvc1" in data or b"hev1" in data)
    assert b"moof" not in cached_recording(PLAIN).read_bytes()


@pytest.mark.parametrize(("codec", "fragmented"), FORMATS)
@pytest.mark.parametrize(("mode", "frames"), [("even", 5), ("even-exact", 4), ("all", 0)])
def test_same_detections_as_plain_mp4(detector: Path, codec: str, fragmented: bool, mode: str, frames: int) -> None:
    spec = RecordingSpec(**{**PLAIN.__dict__, "codec": codec, "fragmented": fragmented})
    expected = analyse(detector, PLAIN, mode, frames or 1)
    found = analyse(detector, spec, mode, frames or 1)
    assert found["sampling"] == expected["sampling"]
    assert found["frameTimes"] == expected["frameTimes"] and len(found["frameTimes"]) == (frames or 60)
    assert found["durationSeconds"] == expected["durationSeconds"] == 6.0
    assert found["labels"] == expected["labels"]
    assert found["counts"] == {"red": frames or 60, "green": frames or 60, "blue": frames or 60}
    for time, boxes, reference in zip(found["frameTimes"], found["boxes"], expected["boxes"], strict=True):
        np.testing.assert_allclose(boxes, reference, atol=2)
        truth = PLAIN.boxes_at(time)
        for label, box in zip(found["labels"][found["frameTimes"].index(time)], boxes, strict=True):
            assert np.abs(np.array(box) - np.array(truth[label])).max() <= 3
