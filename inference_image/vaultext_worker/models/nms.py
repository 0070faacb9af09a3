"""Vectorised non-maximum suppression in numpy."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def box_iou(box: NDArray[np.float32], boxes: NDArray[np.float32]) -> NDArray[np.float32]:
    """IoU of one [x1, y1, x2, y2] box against many."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    result: NDArray[np.float32] = inter / np.maximum(area + areas - inter, 1e-9)
    return result


def nms(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float32],
    iou_threshold: float,
    class_ids: NDArray[np.int64] | None = None,
    max_detections: int = 300,
) -> NDArray[np.int64]:
    """Indexes of kept boxes, best score first. With `class_ids`, boxes of different classes never suppress
    each other (they are shifted apart by class before the greedy pass)."""
    if len(boxes) == 0:
        return np.zeros((0,), dtype=np.int64)
    work = boxes.astype(np.float32, copy=True)
    if class_ids is not None:
        span = float(work.max()) + 1.0
        work += (class_ids.astype(np.float32) * span)[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_detections:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(work[best], work[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)
