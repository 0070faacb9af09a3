"""Baseline: Ultralytics' `YOLO(<onnx>).predict(source=clip, vid_stride=k)` over clips, timed per clip.
Run with the bench venv's Python; prints one JSON object."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--stride", type=int, required=True)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("clips", nargs="+")
    args = parser.parse_args()
    from ultralytics import YOLO  # type: ignore[import-not-found]  # only in the bench venv

    model = YOLO(args.model, task="detect")
    options: dict[str, Any] = {
        "vid_stride": args.stride,
        "imgsz": args.imgsz,
        "conf": 0.25,
        "iou": 0.45,
        "stream": True,
        "verbose": False,
        "device": "cpu",
    }
    for _ in model.predict(source=args.clips[0], **options):  # warm-up: session creation, first-call costs
        pass
    shapes: list[tuple[int, ...]] = []
    session = model.predictor.model.session
    original_run = session.run

    def recording_run(names: Any, feed: dict[str, Any], *rest: Any) -> Any:
        shapes.append(tuple(next(iter(feed.values())).shape))
        return original_run(names, feed, *rest)

    session.run = recording_run
    seconds, frames = [], []
    for clip in args.clips:
        started = time.perf_counter()
        count = sum(1 for _ in model.predict(source=clip, **options))
        seconds.append(time.perf_counter() - started)
        frames.append(count)
    print(json.dumps({"seconds": seconds, "frames": frames, "input_shapes": sorted(set(shapes))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
