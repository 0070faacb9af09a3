#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU: a venv with the worker's CUDA flavour (onnxruntime-gpu) and TensorRT's
# libraries, then frames/s and recordings/s for TensorRT, CUDA and CPU (baseline) in one run.
#   bash bench/worker/gpu.sh [--model yolo11n.onnx] [--clips 4] [--repeats 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v nvidia-smi >/dev/null && nvidia-smi -L || { echo "no NVIDIA GPU visible (nvidia-smi)" >&2; exit 2; }
venv="${GPU_BENCH_VENV:-$HOME/.cache/vaultext-bench/gpu}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -e . "./inference_image[cuda]" "tensorrt-cu12-libs>=10,<11" onnx
fi
libs="$("$venv/bin/python" -c 'import tensorrt_libs, os; print(os.path.dirname(tensorrt_libs.__file__))' 2>/dev/null || true)"
LD_LIBRARY_PATH="${libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$venv/bin/python" bench/worker/bench_gpu.py "$@"
