"""Export a speed-realistic detector: YOLOv8n built from Ultralytics' own model definition with random
weights (nothing downloaded), to ONNX with dynamic batch/height/width. Run with the bench venv's Python."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path


def main(target: str, definition: str = "yolov8n.yaml") -> int:
    from ultralytics import YOLO  # type: ignore[import-not-found]  # only in the bench venv

    with tempfile.TemporaryDirectory() as scratch:
        model = YOLO(definition)
        exported = Path(model.export(format="onnx", imgsz=640, dynamic=True, simplify=False, opset=17, project=scratch))
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(exported), target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
