"""Fixtures of the worker tests: the Vault stand-in, generated recordings and the checkable ONNX detector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultext_sandbox.synthetic.detector import CLASSES, write_detector
from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_sandbox.vault_standin import VaultStandIn

SMALL = RecordingSpec(width=320, height=180, seconds=4.0, fps=10, seed=1)
LONG = RecordingSpec(width=320, height=180, seconds=10.0, fps=10, seed=2)


@pytest.fixture
def vault() -> Iterator[VaultStandIn]:
    with VaultStandIn() as running:
        yield running


@pytest.fixture(scope="session")
def detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkable detector with dynamic height and width."""
    return write_detector(tmp_path_factory.mktemp("models") / "colour-boxes.onnx")


@pytest.fixture(scope="session")
def detector_320(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkable detector with a fixed 320x320 input and batch dimension."""
    return write_detector(tmp_path_factory.mktemp("models") / "colour-boxes-320.onnx", fixed_size=320)


@pytest.fixture(scope="session")
def small_clip() -> bytes:
    return cached_recording(SMALL).read_bytes()


@pytest.fixture(scope="session")
def long_clip() -> bytes:
    """10 s at 10 fps with a keyframe every 2 s: keyframes at 0, 2, 4, 6 and 8 s."""
    return cached_recording(LONG).read_bytes()


__all__ = ["CLASSES", "LONG", "SMALL"]
