"""Warm start of the whole sandbox and its memory once up.

    .venv/bin/python bench/sandbox_startup.py [--runs 3]

Starts the sandbox with the CLI (control plane + 2 fake GPU nodes, Kafka, Prometheus) several times against
cached binaries and prints the median time to "up", the time of the control plane alone as a baseline, and the
resident memory of every process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from vaultext_sandbox import Sandbox
from vaultext_sandbox.processes import rss_mib

TARGET_SECONDS = 30.0


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultext_sandbox", *args], capture_output=True, text=True, env=env,
                          check=True, timeout=600)


def time_full_start(env: dict[str, str]) -> tuple[float, dict[str, float]]:
    started = time.monotonic()
    cli("up", "--with-prometheus", env=env)
    elapsed = time.monotonic() - started
    try:
        status = json.loads(cli("status", "--json", env=env).stdout)
        memory = {name: rss_mib(info["pid"]) for name, info in status["processes"].items()}
    finally:
        cli("down", env=env)
    return elapsed, memory


def time_control_plane_only() -> float:
    sandbox = Sandbox()
    started = time.monotonic()
    try:
        sandbox.kube()
        return time.monotonic() - started
    finally:
        sandbox.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cli("build", env=dict(os.environ))  # the cache is warm after this; it is not part of what is measured
    with tempfile.TemporaryDirectory() as state_dir:
        env = {**os.environ, "VAULTEXT_SANDBOX_STATE": f"{state_dir}/state.json"}
        full: list[float] = []
        memory: dict[str, float] = {}
        for run in range(1, args.runs + 1):
            elapsed, memory = time_full_start(env)
            full.append(elapsed)
            print(f"run {run}/{args.runs}: sandbox up in {elapsed:.1f} s", file=sys.stderr)
        baseline = [time_control_plane_only() for _ in range(args.runs)]
    median_full, median_baseline = statistics.median(full), statistics.median(baseline)
    print(f"warm start, everything (cluster + 2 GPU nodes + Kafka + Prometheus): median {median_full:.1f} s "
          f"over {args.runs} runs (target < {TARGET_SECONDS:.0f} s)")
    print(f"baseline, control plane alone: median {median_baseline:.1f} s; ratio everything/control plane "
          f"{median_full / median_baseline:.2f}")
    print("resident memory once up (MiB):")
    for name, mib in sorted(memory.items(), key=lambda item: -item[1]):
        print(f"  {name:26} {mib:8.1f}")
    print(f"  {'total':26} {sum(memory.values()):8.1f}")
    return 0 if median_full < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
