"""The worker's pipeline on each execution provider this ONNX Runtime build offers (TensorRT, CUDA, CPU).

Prints frames/s and recordings/s per provider, with the CPU provider as the baseline measured in the same run.
Run through ``bench/worker/gpu.sh`` on a machine with an NVIDIA GPU (it makes the venv with onnxruntime-gpu).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import onnxruntime as ort

from vaultext_sandbox.synthetic.detector import CLASSES, write_detector
from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_worker.config import ModelSettings, SamplingSettings
from vaultext_worker.models.yolo import YoloOnnx
from vaultext_worker.runtime.pipeline import Analyser

CANDIDATES = (
    ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    ["CUDAExecutionProvider", "CPUExecutionProvider"],
    ["CPUExecutionProvider"],
)


def run(model: Path | None, providers: list[str], clips: list[bytes], repeats: int) -> tuple[float, float]:
    """Median frames/s and recordings/s over ``repeats`` passes, after one warm-up pass (TensorRT builds here)."""
    path = model or write_detector(Path("/tmp/vaultext-bench-detector.onnx"))
    settings = ModelSettings(path=str(path), classes=None if model else CLASSES)
    analyser = Analyser(YoloOnnx(settings, providers=providers), SamplingSettings("all"))
    for clip in clips:
        analyser.analyse(clip)
    frames_per_s, recordings_per_s = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        frames = sum(len(analyser.analyse(clip)["frameTimes"]) for clip in clips)
        elapsed = time.perf_counter() - started
        frames_per_s.append(frames / elapsed)
        recordings_per_s.append(len(clips) / elapsed)
    return statistics.median(frames_per_s), statistics.median(recordings_per_s)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="an ONNX YOLO model (default: the synthetic detector)")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    available = set(ort.get_available_providers())
    print(f"ONNX Runtime {ort.__version__}, providers {sorted(available)}", flush=True)
    clips = [cached_recording(RecordingSpec(1280, 720, 10.0, 25, seed=seed)).read_bytes() for seed in range(args.clips)]
    rates = {}
    for providers in CANDIDATES:
        if providers[0] not in available:
            print(f"{providers[0]}: not offered by this build, skipped")
            continue
        rates[providers[0]] = run(args.model, providers, clips, args.repeats)
        fps, rps = rates[providers[0]]
        print(f"{providers[0]}: {fps:.1f} frames/s, {rps:.2f} recordings/s (median of {args.repeats})", flush=True)
    cpu = rates.get("CPUExecutionProvider")
    for name, (fps, _) in rates.items():
        if cpu and name != "CPUExecutionProvider":
            print(f"{name}: {fps / cpu[0]:.1f}x the CPU provider's frames/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
