"""One recording end to end: download → decode the sampled frames → predict → the result `data` object."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vaultext_worker.config import SamplingSettings
from vaultext_worker.models.protocol import Detections, Model
from vaultext_worker.runtime.decode import Image, RecordingDecoder, RecordingInfo
from vaultext_worker.runtime.errors import BadVideoError
from vaultext_worker.runtime.events import RESULT_SCHEMA, VaultEvent

StageObserver = Callable[[str, float], None]
T = TypeVar("T")


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
            self.add(name, time.perf_counter() - started)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        if self.observe is not None:
            self.observe(name, seconds)


@dataclass
class FrameResult:
    time: float
    width: int  # of the image the model saw
    height: int
    detections: Detections


def result_data(
    info: RecordingInfo,
    frames: list[FrameResult],
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
    for frame in frames:
        source = frame.detections.scaled(info.source_width / frame.width, info.source_height / frame.height)
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
        "frameTimes": [round(frame.time, 3) for frame in frames],
        "frameSize": {"width": info.source_width, "height": info.source_height},
        "durationSeconds": round(info.duration_s, 3),
        "sampling": {"mode": sampling.mode, "plan": info.plan.kind, "frames": len(frames)},
        "model": {"name": model.name, "version": model.version},
        "counts": dict(totals),
        "peakCounts": dict(peaks),
        "timingsMs": {stage: round(seconds * 1000, 2) for stage, seconds in timings.seconds.items()},
    }


def prefetched(source: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Items of `source` produced by a background thread up to `depth` ahead: decoding the next chunk of
    frames overlaps inference on this one (PyAV and ONNX Runtime both release the GIL)."""
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    abandoned = threading.Event()

    def offer(kind: str, value: Any) -> bool:
        while not abandoned.is_set():
            try:
                channel.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer("item", item):
                    return
            offer("end", None)
        except BaseException as error:  # noqa: BLE001 - not swallowed: the consuming thread raises it
            offer("error", error)

    producer = threading.Thread(target=produce, name="decode", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = channel.get()
            if kind == "error":
                raise value
            if kind == "end":
                return
            yield value
    finally:
        abandoned.set()
        producer.join()


def _timed_chunks(
    frames: Iterable[tuple[float, Image]], size: int, timings: Timings
) -> Iterator[list[tuple[float, Image]]]:
    chunk: list[tuple[float, Image]] = []
    iterator = iter(frames)
    while True:
        started = time.perf_counter()
        item = next(iterator, None)
        timings.add("decode", time.perf_counter() - started)
        if item is None:
            break
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Analyser:
    """Decode + predict for in-memory recordings; the model is loaded once by the caller and reused.
    Frames flow through in chunks of `chunk_frames`, so a long recording never sits in memory decoded."""

    def __init__(
        self, model: Model, sampling: SamplingSettings, observe: StageObserver | None = None, chunk_frames: int = 8
    ) -> None:
        self.model = model
        self.sampling = sampling
        self.observe = observe
        self.chunk_frames = max(1, chunk_frames)

    def analyse(self, data: bytes, timings: Timings | None = None) -> dict[str, Any]:
        timings = timings or Timings(observe=self.observe)
        sampling = self.sampling
        decoder = RecordingDecoder(data, sampling.mode, sampling.frames, sampling.interval_s, self.model.frame_size)
        results: list[FrameResult] = []
        for chunk in prefetched(_timed_chunks(decoder, self.chunk_frames, timings)):
            with timings.stage("inference"):
                detections = self.model.predict([image for _, image in chunk])
            if len(detections) != len(chunk):
                raise RuntimeError(f"the model answered {len(detections)} results for {len(chunk)} frames")
            for (time_s, image), found in zip(chunk, detections, strict=True):
                results.append(FrameResult(time_s, image.shape[1], image.shape[0], found))
        if not results:
            raise BadVideoError("no frame could be decoded")
        return result_data(decoder.info, results, self.model, sampling, timings)

    def process(self, event: VaultEvent, download: Callable[[VaultEvent], bytes]) -> dict[str, Any]:
        timings = Timings(observe=self.observe)
        started = time.perf_counter()
        with timings.stage("download"):
            data = download(event)
        result = self.analyse(data, timings)
        result["timingsMs"]["total"] = round((time.perf_counter() - started) * 1000, 2)
        result["bytes"] = len(data)
        return result
