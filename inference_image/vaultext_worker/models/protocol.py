"""What a model must offer the runtime. A data scientist's image implements only this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]


@dataclass
class Detections:
    """Detections in one frame; `boxes` are [x1, y1, x2, y2] in the pixels of the frame given to `predict`."""

    boxes: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0, 4), dtype=np.float32))
    scores: NDArray[np.float32] = field(default_factory=lambda: np.zeros((0,), dtype=np.float32))
    labels: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (len(self.boxes) == len(self.scores) == len(self.labels)):
            sizes = f"{len(self.boxes)} boxes, {len(self.scores)} scores, {len(self.labels)} labels"
            raise ValueError(f"detections differ in length: {sizes}")

    def scaled(self, scale_x: float, scale_y: float) -> Detections:
        factors = np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)
        return Detections(self.boxes * factors, self.scores, list(self.labels))


@runtime_checkable
class Model(Protocol):
    """A detector. Loaded once per process; `predict` gets the sampled frames of one recording."""

    name: str
    version: str

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """The size (w, h) the runtime should decode a `width` x `height` recording to."""
        ...

    def predict(self, frames: Sequence[Image]) -> list[Detections]:
        """One `Detections` per RGB uint8 frame (H x W x 3), in order."""
        ...
