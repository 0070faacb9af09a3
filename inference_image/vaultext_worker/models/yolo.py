"""The default detector: an Ultralytics-exported YOLO v8/11 ONNX model on ONNX Runtime.

Output layout `[batch, 4 + classes, anchors]` with boxes as centre x, centre y, width, height in input pixels.
Frames are letterboxed (aspect kept, grey padding); with a model whose height/width are dynamic the padding
only reaches the next multiple of the stride (a 16:9 frame runs at 640x384 instead of 640x640).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from vaultext_worker.config import ModelSettings
from vaultext_worker.models.coco import COCO_CLASSES
from vaultext_worker.models.nms import nms
from vaultext_worker.models.protocol import Detections, Image

log = logging.getLogger(__name__)

PROVIDER_ORDER = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
PAD_VALUE = 114
STRIDE = 32
MAX_CANDIDATES = 30_000


def choose_providers(available: Sequence[str]) -> list[str]:
    """TensorRT, then CUDA, then CPU: whichever of them this ONNX Runtime build offers, in that order."""
    chosen = [provider for provider in PROVIDER_ORDER if provider in available]
    return chosen or ["CPUExecutionProvider"]


def provider_options(providers: Sequence[str], settings: ModelSettings) -> list[dict[str, str]]:
    """TensorRT builds an engine on first use: cache it (when a directory is given) and allow FP16."""
    options: list[dict[str, str]] = []
    for provider in providers:
        if provider == "TensorrtExecutionProvider":
            trt = {"trt_fp16_enable": str(bool(settings.extra.get("fp16", True)))}
            if settings.trt_cache_dir:
                trt |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": settings.trt_cache_dir}
            options.append(trt)
        else:
            options.append({})
    return options


def _class_names(settings: ModelSettings, metadata: dict[str, str], count: int) -> tuple[str, ...]:
    if settings.classes is not None:
        names = settings.classes
    elif "names" in metadata:
        parsed = ast.literal_eval(metadata["names"])  # Ultralytics writes a Python dict literal {0: 'person', ...}
        names = tuple(str(parsed[key]) for key in sorted(parsed)) if isinstance(parsed, dict) else tuple(parsed)
    else:
        names = COCO_CLASSES
    if len(names) != count:
        raise ValueError(f"the model scores {count} classes but {len(names)} class names are configured")
    return names


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


class YoloOnnx:
    """YOLO detector; the session is created once and reused for every batch."""

    def __init__(self, settings: ModelSettings, providers: Sequence[str] | None = None) -> None:
        path = Path(settings.path)
        if not path.is_file():
            raise FileNotFoundError(f"model file {path} does not exist")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        chosen = list(providers) if providers is not None else choose_providers(ort.get_available_providers())
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=chosen, provider_options=provider_options(chosen, settings)
        )
        self.providers: list[str] = list(self.session.get_providers())
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.half = model_input.type == "tensor(float16)"
        batch, _, height, width = model_input.shape
        self.fixed_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.fixed_shape = (height, width) if isinstance(height, int) and isinstance(width, int) else None
        self.input_size = self.fixed_shape[0] if self.fixed_shape else settings.input_size or 640
        self.rect = bool(settings.extra.get("rect", True)) and self.fixed_shape is None
        self.batch_size = self.fixed_batch or settings.batch_size
        self.conf_threshold = settings.conf_threshold
        self.iou_threshold = settings.iou_threshold
        self.max_detections = int(settings.extra.get("max_detections", 300))
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        channels = self._warm_up()
        if channels < 5:
            raise ValueError(f"expected an output of shape [batch, 4 + classes, anchors], got {channels} channels")
        self.class_names = _class_names(settings, metadata, channels - 4)
        self.name: str = metadata.get("description", "") or path.stem
        self.version: str = metadata.get("version", "") + ("+" if metadata.get("version") else "") + _fingerprint(path)
        log.info("loaded %s (%s) on %s, input %s", path, self.version, self.providers, model_input.shape)

    def _warm_up(self) -> int:
        """One inference on a blank picture: first-call costs (TensorRT engine build) are paid at start-up,
        not on the first recording, and the output layout is known. Returns the output's channel count."""
        height, width = self.fixed_shape or (self.input_size, self.input_size)
        blank = np.zeros((self.fixed_batch or 1, 3, height, width), dtype=np.float16 if self.half else np.float32)
        output = self.session.run(None, {self.input_name: blank})[0]
        if output.ndim != 3:
            raise ValueError(f"expected an output of shape [batch, 4 + classes, anchors], got {output.shape}")
        return int(output.shape[1])

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        ratio = min(self.input_size / width, self.input_size / height)
        return max(1, round(width * ratio)), max(1, round(height * ratio))

    def canvas_size(self, width: int, height: int) -> tuple[int, int]:
        """The padded input (w, h) for frames of this size."""
        if self.fixed_shape is not None:
            return self.fixed_shape[1], self.fixed_shape[0]
        if not self.rect:
            return self.input_size, self.input_size
        return math.ceil(width / STRIDE) * STRIDE, math.ceil(height / STRIDE) * STRIDE

    def predict(self, frames: Sequence[Image]) -> list[Detections]:
        results: list[Detections] = []
        for start in range(0, len(frames), self.batch_size):
            results.extend(self._predict_batch(frames[start : start + self.batch_size]))
        return results

    def _predict_batch(self, frames: Sequence[Image]) -> list[Detections]:
        fitted = [_fit(frame, self.input_size) for frame in frames]
        canvas_w = max(self.canvas_size(f.shape[1], f.shape[0])[0] for f, _ in fitted)
        canvas_h = max(self.canvas_size(f.shape[1], f.shape[0])[1] for f, _ in fitted)
        rows = self.fixed_batch or len(fitted)
        batch = np.full((rows, canvas_h, canvas_w, 3), PAD_VALUE, dtype=np.uint8)
        offsets = []
        for index, (frame, _) in enumerate(fitted):
            top, left = (canvas_h - frame.shape[0]) // 2, (canvas_w - frame.shape[1]) // 2
            batch[index, top : top + frame.shape[0], left : left + frame.shape[1]] = frame
            offsets.append((left, top))
        tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
        tensor *= np.float32(1 / 255)
        feed = tensor.astype(np.float16) if self.half else tensor
        output: NDArray[Any] = self.session.run(None, {self.input_name: feed})[0]
        return [
            self._detections(output[index], offsets[index], frame.shape, scale)
            for index, (frame, scale) in enumerate(fitted)
        ]

    def _detections(
        self, prediction: NDArray[Any], offset: tuple[int, int], shape: tuple[int, ...], scale: float
    ) -> Detections:
        rows = prediction.T.astype(np.float32, copy=False)  # [anchors, 4 + classes]
        class_scores = rows[:, 4:]
        class_ids = class_scores.argmax(axis=1)
        scores = class_scores[np.arange(len(rows)), class_ids]
        keep = scores > self.conf_threshold
        if not keep.any():
            return Detections()
        rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
        if len(scores) > MAX_CANDIDATES:
            top = np.argpartition(-scores, MAX_CANDIDATES)[:MAX_CANDIDATES]
            rows, class_ids, scores = rows[top], class_ids[top], scores[top]
        half_w, half_h = rows[:, 2] / 2, rows[:, 3] / 2
        boxes = np.stack([rows[:, 0] - half_w, rows[:, 1] - half_h, rows[:, 0] + half_w, rows[:, 1] + half_h], axis=1)
        boxes -= np.array([offset[0], offset[1], offset[0], offset[1]], dtype=np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, shape[1])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, shape[0])
        kept = nms(boxes, scores, self.iou_threshold, class_ids.astype(np.int64), self.max_detections)
        return Detections(
            (boxes[kept] * scale).astype(np.float32),
            scores[kept].astype(np.float32),
            [self.class_names[int(i)] for i in class_ids[kept]],
        )


def _fit(frame: Image, side: int) -> tuple[Image, float]:
    """A frame that fits in `side` x `side`, and the factor back to the given frame's pixels. Frames the
    runtime decodes already fit; others are shrunk here by nearest-neighbour sampling."""
    height, width = frame.shape[:2]
    if height <= side and width <= side:
        return frame, 1.0
    ratio = min(side / width, side / height)
    new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
    rows = np.minimum((np.arange(new_h) / ratio).astype(np.int64), height - 1)
    cols = np.minimum((np.arange(new_w) / ratio).astype(np.int64), width - 1)
    return frame[rows][:, cols], 1 / ratio
