from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vaultext_worker.config import ModelSettings
from vaultext_worker.models.nms import nms
from vaultext_worker.models.yolo import YoloOnnx, choose_providers
from vaultext_worker.runtime.decode import decode_recording

from .conftest import LONG


def _reference_iou(a: list[float], b: list[float]) -> float:
    """IoU from its definition, written apart from the production code: overlap area over union area."""
    overlap_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    overlap_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = overlap_w * overlap_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def _brute_force_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    rows = boxes.astype(float).tolist()
    keep: list[int] = []
    for index in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        if all(_reference_iou(rows[index], rows[k]) <= threshold for k in keep):
            keep.append(index)
    return keep


def test_reference_iou_on_known_boxes() -> None:
    assert _reference_iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert _reference_iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert _reference_iou([0, 0, 10, 10], [20, 20, 30, 30]) == 0.0


def test_nms_suppresses_overlaps_within_a_class_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], dtype=np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5, class_ids=np.array([0, 0, 0, 1])).tolist() == [0, 2, 3]
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


@given(
    st.lists(
        st.tuples(
            st.integers(0, 100), st.integers(0, 100), st.integers(1, 60), st.integers(1, 60), st.integers(1, 999)
        ),
        min_size=1,
        max_size=40,
    ),
    st.floats(0.1, 0.9),
)
def test_nms_agrees_with_the_definition(rows: list[tuple[int, int, int, int, int]], threshold: float) -> None:
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in rows], dtype=np.float32)
    scores = np.array([s / 1000 for *_, s in rows], dtype=np.float32)
    assert nms(boxes, scores, threshold).tolist() == _brute_force_nms(boxes, scores, threshold)


def test_providers_are_tried_tensorrt_cuda_cpu() -> None:
    available = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", "AzureExecutionProvider"]
    assert choose_providers(available) == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_letterbox_size_keeps_the_aspect(detector: Path) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector), input_size=640))
    assert model.frame_size(1280, 720) == (640, 360)
    assert model.frame_size(480, 640) == (480, 640)
    assert model.canvas_size(640, 360) == (640, 384)  # dynamic input: padded to the stride only
    assert model.class_names == ("red", "green", "blue")
    assert model.name == "colour-boxes"


def _check_boxes(model: YoloOnnx, clip: bytes, tolerance: float) -> None:
    decoded = decode_recording(clip, mode="even-exact", frames=4, size_for=model.frame_size)
    found = model.predict(decoded.images)
    assert len(found) == 4
    for time, image, detections in zip(decoded.times, decoded.images, found, strict=True):
        assert sorted(detections.labels) == ["blue", "green", "red"]  # the echo anchors were suppressed
        scale = LONG.width / image.shape[1]
        truth = LONG.boxes_at(time)
        for label, box, score in zip(detections.labels, detections.boxes, detections.scores, strict=True):
            assert score == pytest.approx(0.9)
            assert np.abs(box * scale - np.array(truth[label])).max() <= tolerance


def test_checkable_detector_finds_the_shapes_dynamic_input(detector: Path, long_clip: bytes) -> None:
    _check_boxes(YoloOnnx(ModelSettings(path=str(detector), input_size=320)), long_clip, tolerance=3)


def test_checkable_detector_finds_the_shapes_fixed_input(detector_320: Path, long_clip: bytes) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector_320), batch_size=3))
    assert model.input_size == 320 and model.canvas_size(320, 180) == (320, 320)
    _check_boxes(model, long_clip, tolerance=3)


def test_batching_does_not_change_results(detector: Path, long_clip: bytes) -> None:
    one = YoloOnnx(ModelSettings(path=str(detector), batch_size=1))
    many = YoloOnnx(ModelSettings(path=str(detector), batch_size=8))
    frames = decode_recording(long_clip, mode="keyframes", size_for=one.frame_size).images
    for a, b in zip(one.predict(frames), many.predict(frames), strict=True):
        assert a.labels == b.labels
        np.testing.assert_allclose(a.boxes, b.boxes)


def test_oversized_frames_are_shrunk_and_boxes_mapped_back(detector: Path, long_clip: bytes) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector), input_size=160))
    decoded = decode_recording(long_clip, mode="keyframes")  # full 320x180 frames, larger than 160
    assert len(decoded.images) == 5 and decoded.images[0].shape == (180, 320, 3)
    for time, detections in zip(decoded.times, model.predict(decoded.images), strict=True):
        truth = LONG.boxes_at(time)
        assert sorted(detections.labels) == ["blue", "green", "red"]
        for label, box in zip(detections.labels, detections.boxes, strict=True):
            assert np.abs(box - np.array(truth[label])).max() <= 4


def test_blank_frames_give_no_detections(detector: Path) -> None:
    model = YoloOnnx(ModelSettings(path=str(detector)))
    result = model.predict([np.full((90, 160, 3), 80, dtype=np.uint8)])
    assert result[0].labels == [] and result[0].boxes.shape == (0, 4)


def test_wrong_number_of_class_names_is_refused(detector: Path) -> None:
    with pytest.raises(ValueError, match="3 classes but 2 class names"):
        YoloOnnx(ModelSettings(path=str(detector), classes=("a", "b")))


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        YoloOnnx(ModelSettings(path=str(tmp_path / "absent.onnx")))
