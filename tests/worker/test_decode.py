from __future__ import annotations

import numpy as np
import pytest

from vaultext_worker.runtime.decode import decode_recording
from vaultext_worker.runtime.errors import BadVideoError

from .conftest import LONG


def test_even_decodes_only_the_keyframes_of_a_long_recording(long_clip: bytes) -> None:
    decoded = decode_recording(long_clip, mode="even", frames=5)
    assert decoded.plan.kind == "keyframes"
    assert decoded.times == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])
    assert decoded.duration_s == pytest.approx(10.0)
    assert (decoded.source_width, decoded.source_height) == (LONG.width, LONG.height)


def test_even_exact_decodes_the_first_frame_at_or_after_each_time(long_clip: bytes) -> None:
    decoded = decode_recording(long_clip, mode="even-exact", frames=4)
    assert decoded.plan.kind == "exact"
    assert decoded.times == pytest.approx([1.3, 3.8, 6.3, 8.8], abs=0.001)


def test_interval_keyframes_and_all(long_clip: bytes) -> None:
    interval = decode_recording(long_clip, mode="interval", interval_s=3.0)
    assert interval.times == pytest.approx([0.0, 3.0, 6.0, 9.0])
    keyframes = decode_recording(long_clip, mode="keyframes")
    assert keyframes.times == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0])
    every = decode_recording(long_clip, mode="all")
    assert len(every.images) == 100
    assert every.times == pytest.approx([i / 10 for i in range(100)])


def test_frames_are_scaled_and_rgb(long_clip: bytes) -> None:
    decoded = decode_recording(long_clip, mode="keyframes", size_for=lambda w, h: (w // 2, h // 2))
    image = decoded.images[1]
    assert image.shape == (LONG.height // 2, LONG.width // 2, 3)
    assert image.dtype == np.uint8
    # the red rectangle is drawn in pure red: the RGB order is right when red pixels exist
    red = (image[:, :, 0] > 200) & (image[:, :, 1] < 60) & (image[:, :, 2] < 60)
    assert red.sum() > 20


def test_decoded_picture_matches_what_was_drawn(long_clip: bytes) -> None:
    decoded = decode_recording(long_clip, mode="even-exact", frames=3)
    for time, image in zip(decoded.times, decoded.images, strict=True):
        x1, y1, x2, y2 = LONG.boxes_at(time)["green"]
        green = (image[:, :, 1] > 200) & (image[:, :, 0] < 60) & (image[:, :, 2] < 60)
        ys, xs = np.nonzero(green)
        assert abs(xs.min() - x1) <= 2 and abs(xs.max() + 1 - x2) <= 2
        assert abs(ys.min() - y1) <= 2 and abs(ys.max() + 1 - y2) <= 2


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"this is not a video" * 100, "cannot decode"),
        (bytes(4096), "cannot decode"),
    ],
)
def test_bad_bytes(data: bytes, reason: str) -> None:
    with pytest.raises(BadVideoError, match=reason):
        decode_recording(data)


def test_truncated_recording(long_clip: bytes) -> None:
    with pytest.raises(BadVideoError):
        decode_recording(long_clip[: len(long_clip) // 2])
