"""A model factory for the worker subprocess: the checkable detector, except that a square recording kills the
process as the kernel's OOM killer would (SIGKILL, no clean-up). Used via VAULTEXT_MODEL_FACTORY."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence

from vaultext_worker.config import ModelSettings
from vaultext_worker.models.protocol import Detections
from vaultext_worker.models.yolo import YoloOnnx
from vaultext_worker.runtime.decode import Image


class CrashingModel(YoloOnnx):
    def predict(self, frames: Sequence[Image]) -> list[Detections]:
        if any(frame.shape[0] == frame.shape[1] for frame in frames):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().predict(frames)


def build(settings: ModelSettings) -> CrashingModel:
    return CrashingModel(settings)
