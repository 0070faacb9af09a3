"""Worker throughput on CPU against Ultralytics' own video predict, on the same ONNX model and clips.

    .venv/bin/python bench/worker/bench_worker.py [--clips 4] [--repeats 3]

(a) 5 frames per recording: Ultralytics with the vid_stride that yields 5 frames; ours with its default
    sampling (evenly spread, snapped to keyframes, so only keyframes are decoded).
(b) identical frames and input shape: Ultralytics at vid_stride=5; ours sampling the same instants.
Also the decode-only rate of each sampling mode and of a naive decode-every-frame loop, and the bare ONNX Runtime
inference rate on the frames of (a) (letterboxed tensors prepared beforehand: session.run alone), with the
worker's end-to-end frame rate as a share of it.
Ultralytics runs in its own venv (VAULTEXT_BENCH_VENV, default ~/.cache/vaultext-bench/ultra).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording  # noqa: E402
from vaultext_worker.config import ModelSettings, SamplingSettings  # noqa: E402
from vaultext_worker.models.yolo import PAD_VALUE, YoloOnnx  # noqa: E402
from vaultext_worker.runtime.decode import decode_recording  # noqa: E402
from vaultext_worker.runtime.pipeline import Analyser  # noqa: E402
from vaultext_worker.runtime.sampling import SAMPLING_MODES  # noqa: E402

CACHE = Path.home() / ".cache" / "vaultext-bench"
VENV = Path(os.environ.get("VAULTEXT_BENCH_VENV", CACHE / "ultra"))
FPS, SECONDS, GOP_S = 25, 10.0, 2.0


def speed_model() -> Path:
    path = CACHE / "models" / "yolov8n-random.onnx"
    if not path.exists():
        # a scratch working directory: the export writes beside it, and BENCH_VENV may live anywhere
        with tempfile.TemporaryDirectory(prefix="vaultext-export-") as scratch:
            subprocess.run(
                [str(VENV / "bin" / "python"), str(Path(__file__).with_name("make_speed_model.py")), str(path)],
                check=True,
                cwd=scratch,
            )
    return path


def clips(count: int) -> list[Path]:
    specs = [RecordingSpec(1280, 720, SECONDS, FPS, GOP_S, seed=seed, noise=4) for seed in range(count)]
    return [cached_recording(spec) for spec in specs]


def ours(analyser: Analyser, paths: list[Path]) -> tuple[float, int]:
    started = time.perf_counter()
    frames = sum(len(analyser.analyse(path.read_bytes())["frameTimes"]) for path in paths)
    return time.perf_counter() - started, frames


def theirs(model: Path, stride: int, paths: list[Path]) -> tuple[float, int, list[Any]]:
    done = subprocess.run(
        [
            str(VENV / "bin" / "python"),
            str(Path(__file__).with_name("ultra_runner.py")),
            "--model",
            str(model),
            "--stride",
            str(stride),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "YOLO_OFFLINE": "1"},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return sum(result["seconds"]), sum(result["frames"]), result["input_shapes"]


def naive_decode(data: bytes) -> int:
    """Upstream style: decode every frame single-threaded and convert each to a full-size RGB array."""
    import io

    count = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def scenario(
    name: str, analyser: Analyser, model: Path, stride: int, paths: list[Path], repeats: int
) -> dict[str, Any]:
    analyser.analyse(paths[0].read_bytes())  # warm-up
    rows: dict[str, list[float]] = {"ours_rps": [], "ours_fps": [], "theirs_rps": [], "theirs_fps": []}
    shapes: list[Any] = []
    frames_ours = frames_theirs = 0
    for _ in range(repeats):
        seconds, frames_ours = ours(analyser, paths)
        rows["ours_rps"].append(len(paths) / seconds)
        rows["ours_fps"].append(frames_ours / seconds)
        seconds, frames_theirs, shapes = theirs(model, stride, paths)
        rows["theirs_rps"].append(len(paths) / seconds)
        rows["theirs_fps"].append(frames_theirs / seconds)
    medians = {key: statistics.median(values) for key, values in rows.items()}
    ratio = medians["ours_rps"] / medians["theirs_rps"]
    print(
        f"\n({name}) frames per recording: ours {frames_ours / len(paths):.0f}, "
        f"ultralytics {frames_theirs / len(paths):.0f} (vid_stride={stride}); ultralytics input {shapes}"
    )
    print(f"  ours        {medians['ours_rps']:7.2f} recordings/s  {medians['ours_fps']:8.1f} frames/s")
    print(f"  ultralytics {medians['theirs_rps']:7.2f} recordings/s  {medians['theirs_fps']:8.1f} frames/s")
    print(f"  ratio       {ratio:7.2f}x")
    return {
        "medians": medians,
        "runs": rows,
        "ratio": ratio,
        "stride": stride,
        "ultralytics_input": shapes,
        "frames_per_recording": {"ours": frames_ours / len(paths), "theirs": frames_theirs / len(paths)},
    }


def letterboxed(model: YoloOnnx, frames: list[Any]) -> list[Any]:
    """The input tensors YoloOnnx.predict builds for `frames`, one per batch, made once, outside the timing."""
    tensors = []
    for start in range(0, len(frames), model.batch_size):
        chunk = frames[start : start + model.batch_size]
        canvas_w = max(model.canvas_size(f.shape[1], f.shape[0])[0] for f in chunk)
        canvas_h = max(model.canvas_size(f.shape[1], f.shape[0])[1] for f in chunk)
        batch = np.full((model.fixed_batch or len(chunk), canvas_h, canvas_w, 3), PAD_VALUE, dtype=np.uint8)
        for index, frame in enumerate(chunk):
            top, left = (canvas_h - frame.shape[0]) // 2, (canvas_w - frame.shape[1]) // 2
            batch[index, top : top + frame.shape[0], left : left + frame.shape[1]] = frame
        tensor = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255)
        tensors.append(tensor.astype(np.float16) if model.half else tensor)
    return tensors


def bare_inference(model: YoloOnnx, paths: list[Path], repeats: int, end_to_end_fps: float) -> dict[str, float]:
    """session.run alone on the frames the worker infers in (a): the ceiling the worker's rate is a share of."""
    per_recording = [
        decode_recording(path.read_bytes(), "even", 5, size_for=model.frame_size).images for path in paths
    ]
    tensors = [tensor for frames in per_recording for tensor in letterboxed(model, frames)]
    frames = sum(len(images) for images in per_recording)
    model.session.run(None, {model.input_name: tensors[0]})  # warm-up
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for tensor in tensors:
            model.session.run(None, {model.input_name: tensor})
        runs.append(time.perf_counter() - started)
    fps = frames / statistics.median(runs)
    share = end_to_end_fps / fps
    print(f"\nbare ONNX Runtime on the frames of (a): {fps:8.1f} frames/s ({len(tensors)} batches)")
    print(f"  worker end to end (download excluded) {end_to_end_fps:8.1f} frames/s = {share:.0%} of it")
    return {"frames_per_s": fps, "frames": frames, "worker_share": share}


def decode_rates(paths: list[Path], model: YoloOnnx, repeats: int) -> dict[str, dict[str, float]]:
    datas = [path.read_bytes() for path in paths]
    rates: dict[str, dict[str, float]] = {}
    print("\ndecode only (720p, 10 s, GOP 2 s; frames scaled to the model's letterbox size):")
    for mode in (*SAMPLING_MODES, "naive-every-frame"):
        runs = []
        frames = 0
        for _ in range(repeats):
            started = time.perf_counter()
            if mode == "naive-every-frame":
                frames = sum(naive_decode(data) for data in datas)
            else:
                frames = sum(len(decode_recording(d, mode, 5, 1.0, size_for=model.frame_size).images) for d in datas)
            runs.append(time.perf_counter() - started)
        seconds = statistics.median(runs)
        rates[mode] = {
            "recordings_per_s": len(datas) / seconds,
            "frames_per_s": frames / seconds,
            "frames_per_recording": frames / len(datas),
        }
        print(
            f"  {mode:18s} {rates[mode]['recordings_per_s']:8.2f} recordings/s {rates[mode]['frames_per_s']:8.1f} "
            f"frames/s ({frames / len(datas):.0f} frames/recording)"
        )
    return rates


def plot(results: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = ["(a) 5 frames", "(b) same frames"]
    ours_values = [results[k]["medians"]["ours_rps"] for k in ("a", "b")]
    their_values = [results[k]["medians"]["theirs_rps"] for k in ("a", "b")]
    x = np.arange(2)
    left.bar(x - 0.2, ours_values, 0.4, label="vaultext worker")
    left.bar(x + 0.2, their_values, 0.4, label="ultralytics predict")
    left.set_xticks(x, labels)
    left.set_ylabel("recordings / s (CPU)")
    left.legend()
    modes = list(results["decode"])
    right.barh(modes, [results["decode"][m]["recordings_per_s"] for m in modes])
    right.set_xlabel("decode-only recordings / s")
    figure.tight_layout()
    figure.savefig(target, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    model_path = speed_model()
    paths = clips(args.clips)
    size = sum(p.stat().st_size for p in paths) / len(paths)
    print(
        f"{len(paths)} clips 1280x720, {SECONDS:.0f} s at {FPS} fps, GOP {GOP_S:.0f} s, {size / 1e6:.1f} MB each; "
        f"model {model_path.name}; {os.cpu_count()} CPUs"
    )
    model = YoloOnnx(ModelSettings(path=str(model_path)))
    print(f"providers {model.providers}")
    frames_5 = round(FPS * SECONDS / 5)
    results: dict[str, Any] = {
        "a": scenario("a", Analyser(model, SamplingSettings("even", 5)), model_path, frames_5, paths, args.repeats),
        "b": scenario(
            "b", Analyser(model, SamplingSettings("interval", interval_s=5 / FPS)), model_path, 5, paths, args.repeats
        ),
    }
    results["bare_inference"] = bare_inference(model, paths, args.repeats, results["a"]["medians"]["ours_fps"])
    results["decode"] = decode_rates(paths, model, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "worker.json").write_text(json.dumps(results, indent=2))
    plot(results, args.out / "worker.png")
    print(f"\nresults in {args.out / 'worker.json'} and {args.out / 'worker.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
