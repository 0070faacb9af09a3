"""One recording end to end: download → decode the sampled frames → predict → the result `data` object."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from vaultext_worker.config import SamplingSettings
from vaultext_worker.models.protocol import Detections, Model
from vaultext_worker.runtime.decode import DecodedRecording, decode_recording
from vaultext_worker.runtime.events import RESULT_SCHEMA, VaultEvent

StageObserver = Callable[[str, float], None]


@dataclass
class Timings:
    seconds: dict[str, float] = field(default_factory=dict)
    observe: StageObserver | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            if self.observe is not None:
                self.observe(name, elapsed)


def result_data(
    recording: DecodedRecording,
    detections: list[Detections],
    model: Model,
    sampling: SamplingSettings,
    timings: Timings,
) -> dict[str, Any]:
    """The vault-ml keys (`probabilities`, `labels`, `boxes`: one list per sampled frame, boxes in source
    pixels) and our own versioned fields beside them."""
    probabilities: list[list[float]] = []
    labels: list[list[str]] = []
    boxes: list[list[list[float]]] = []
    totals: Counter[str] = Counter()
    peaks: Counter[str] = Counter()
    for image, found in zip(recording.images, detections, strict=True):
        scale_x = recording.source_width / image.shape[1]
        scale_y = recording.source_height / image.shape[0]
        source = found.scaled(scale_x, scale_y)
        probabilities.append([round(float(score), 4) for score in source.scores])
        labels.append(list(source.labels))
        boxes.append([[round(float(v), 1) for v in box] for box in source.boxes])
        frame_counts = Counter(source.labels)
        totals.update(frame_counts)
        for label, count in frame_counts.items():
            peaks[label] = max(peaks[label], count)
    return {
        "probabilities": probabilities,
        "labels": labels,
        "boxes": boxes,
        "schema": RESULT_SCHEMA,
        "frameTimes": [round(t, 3) for t in recording.times],
        "frameSize": {"width": recording.source_width, "height": recording.source_height},
        "durationSeconds": round(recording.duration_s, 3),
        "sampling": {"mode": sampling.mode, "plan": recording.plan.kind, "frames": len(recording.images)},
        "model": {"name": model.name, "version": model.version},
        "counts": dict(totals),
        "peakCounts": dict(peaks),
        "timingsMs": {stage: round(seconds * 1000, 2) for stage, seconds in timings.seconds.items()},
    }


class Analyser:
    """Decode + predict for in-memory recordings; the model is loaded once by the caller and reused."""

    def __init__(self, model: Model, sampling: SamplingSettings, observe: StageObserver | None = None) -> None:
        self.model = model
        self.sampling = sampling
        self.observe = observe

    def analyse(self, data: bytes, timings: Timings | None = None) -> dict[str, Any]:
        timings = timings or Timings(observe=self.observe)
        with timings.stage("decode"):
            recording = decode_recording(
                data,
                mode=self.sampling.mode,
                frames=self.sampling.frames,
                interval_s=self.sampling.interval_s,
                size_for=self.model.frame_size,
            )
        with timings.stage("inference"):
            detections = self.model.predict(recording.images)
        if len(detections) != len(recording.images):
            raise RuntimeError(f"the model answered {len(detections)} results for {len(recording.images)} frames")
        return result_data(recording, detections, self.model, self.sampling, timings)

    def process(self, event: VaultEvent, download: Callable[[VaultEvent], bytes]) -> dict[str, Any]:
        timings = Timings(observe=self.observe)
        started = time.perf_counter()
        with timings.stage("download"):
            data = download(event)
        result = self.analyse(data, timings)
        result["timingsMs"]["total"] = round((time.perf_counter() - started) * 1000, 2)
        result["bytes"] = len(data)
        return result
