"""Head-to-head: real KEDA v2.21.0 (its operator and metrics adapter, scaling through the controller-manager's HPA)
against the operator's builtin engine, on the same burst, in one run.

    python -m vaultext_sandbox build --with-keda     # once, about 5 minutes
    .venv/bin/python bench/keda/bench_keda.py [--runs 3] [--polling 5,30] [--no-cap-case] [--plot F.png]
                                              [--json F.json]

Both engines scale the same VaultExtension (only `engine` differs): minReplicas 0, maxReplicas 12,
lagThreshold 10, one GPU per replica on kwok GPU nodes. For each polling interval:
1. 500 messages land on 12 partitions (lag 500 -> 12 replicas, capped at the partition count); prints both
   trajectories (seconds after the burst -> replicas), the time to 12 replicas (median of --runs) and the ratio
   of the medians KEDA / builtin;
2. (polling 5 s) 55 messages on 5 partitions: KEDA settles at partitions + 1 (its cap applies only when
   lag / threshold in integers exceeds the partition count, and the HPA's ceil adds one: KEDA #4483), the
   builtin engine at the partition count.
The consumer group commits offset 0 on every partition first: kwok's pods never consume, and lag needs a commit.
Skipped (exit 0, with the reason) when KEDA's optional build is absent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from burst import REPOSITORY, Bench, Burst, OperatorProcess, Trajectory, unique
from kubernetes import client
from plot import plot

from vaultext_sandbox import Sandbox
from vaultext_sandbox.keda import MISSING_BUILD, keda_built
from vaultext_sandbox.netns import NEEDS_ROOT, can_make_namespaces

CRD = REPOSITORY / "crds" / "vaultextensions.vault.kerberos.io.yaml"
MESSAGES, PARTITIONS, TARGET = 500, 12, 12
CAP_MESSAGES, CAP_PARTITIONS = 55, 5
QUIET_SECONDS = 25  # longer than one HPA sync (15 s): a settled count stays put that long
GPU_NODES, GPUS_PER_NODE = 4, 4  # 16 GPUs: room for every replica of one extension at a time


def describe(trajectory: Trajectory) -> str:
    burst = trajectory.burst
    reached = f"time to {burst.target}: {trajectory.reached_at:.1f} s" if trajectory.reached_at is not None else ""
    return f"  {burst.engine:8} {trajectory.steps()}   {reached or f'settled at {trajectory.settled}'}"


def median_reach(runs: list[Trajectory]) -> float:
    return statistics.median(run.reached_at for run in runs if run.reached_at is not None)


def report(burst_runs: list[Trajectory], cap_runs: list[Trajectory]) -> list[str]:
    lines = [f"burst: {MESSAGES} messages over {PARTITIONS} partitions, lagThreshold 10, minReplicas 0, "
             f"maxReplicas 12, 1 GPU per replica on kwok nodes (seconds after the burst landed -> replicas)"]
    for polling in sorted({run.burst.polling_interval for run in burst_runs}):
        lines.append(f"pollingInterval {polling} s:")
        medians = {}
        for engine in ("keda", "builtin"):
            runs = [run for run in burst_runs if run.burst.polling_interval == polling and run.burst.engine == engine]
            if not runs:
                continue
            lines += [describe(run) for run in runs]
            medians[engine] = median_reach(runs)
            times = sorted(run.reached_at or 0.0 for run in runs)
            lines.append(f"  {engine:8} time to {TARGET}: median {medians[engine]:.1f} s over {len(runs)} runs "
                         f"(min {times[0]:.1f}, max {times[-1]:.1f})")
        if len(medians) == 2:
            lines.append(f"  ratio KEDA / builtin (medians): {medians['keda'] / medians['builtin']:.1f}x")
    if cap_runs:
        lines.append(f"{CAP_MESSAGES} messages over {CAP_PARTITIONS} partitions (lag 11 each), lagThreshold 10, "
                     f"pollingInterval {cap_runs[0].burst.polling_interval} s:")
        lines += [describe(run) for run in cap_runs]
        settled = {run.burst.engine: run.settled for run in cap_runs}
        lines.append(f"  settled: KEDA {settled.get('keda')} (partitions + 1: {CAP_PARTITIONS + 1}), "
                     f"builtin {settled.get('builtin')} (partitions: {CAP_PARTITIONS})")
    return lines


def as_json(runs: list[Trajectory]) -> list[dict[str, object]]:
    return [{"engine": run.burst.engine, "pollingInterval": run.burst.polling_interval,
             "partitions": run.burst.partitions, "messages": run.burst.messages, "target": run.burst.target,
             "reachedAt": run.reached_at, "settled": run.settled, "points": run.points} for run in runs]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polling", default="5,30", help="pollingInterval values, comma-separated")
    parser.add_argument("--runs", type=int, default=3, help="bursts per engine and polling interval (the HPA's "
                        "15 s sync falls at a random phase, so one run is one draw)")
    parser.add_argument("--no-cap-case", action="store_true", help=f"skip the {CAP_PARTITIONS}-partition case")
    parser.add_argument("--plot", type=Path, default=None, help="PNG of the trajectories (default: in the log dir)")
    parser.add_argument("--json", type=Path, default=None, help="also write the trajectories as JSON")
    args = parser.parse_args()
    if not keda_built():
        print(f"bench/keda skipped: {MISSING_BUILD}", file=sys.stderr)
        return 0
    if not can_make_namespaces():
        print(f"bench/keda skipped: {NEEDS_ROOT}", file=sys.stderr)
        return 0
    pollings = [int(value) for value in args.polling.split(",") if value]
    workdir = Path(tempfile.mkdtemp(prefix="vaultext-bench-keda-"))
    sandbox = Sandbox(with_keda=True)
    burst_runs: list[Trajectory] = []
    cap_runs: list[Trajectory] = []
    try:
        kube, kafka = sandbox.kube(), sandbox.kafka()
        sandbox.keda()
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/vaultextensions.vault.kerberos.io")
        kube.add_gpu_nodes(GPU_NODES, gpus_per_node=GPUS_PER_NODE)
        namespace = unique("bench-keda")
        client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": namespace}})
        kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                     "--from-literal=accessKey=a", "--from-literal=secretKey=b")
        operator = OperatorProcess(kube.kubeconfig, namespace, kafka.bootstrap, workdir / "operator.log")
        bench = Bench(kube.api, namespace, kafka.bootstrap)
        try:
            for run in range(1, args.runs + 1):
                for polling in pollings:
                    for engine in ("keda", "builtin"):
                        burst = Burst(engine, polling, PARTITIONS, MESSAGES, TARGET)
                        burst_runs.append(bench.run(burst, QUIET_SECONDS, timeout=2 * polling + 150))
                        print(describe(burst_runs[-1]), f"(pollingInterval {polling} s, run {run})", flush=True)
            if not args.no_cap_case:
                for engine in ("keda", "builtin"):
                    burst = Burst(engine, min(pollings), CAP_PARTITIONS, CAP_MESSAGES, None)
                    cap_runs.append(bench.run(burst, QUIET_SECONDS, timeout=2 * burst.polling_interval + 150))
                    print(describe(cap_runs[-1]), f"({CAP_PARTITIONS} partitions)", flush=True)
        finally:
            operator.stop()
        print("\n".join(["", *report(burst_runs, cap_runs)]))
        figure = args.plot or workdir / "keda_vs_builtin.png"
        plot(burst_runs, cap_runs, figure)
        print(f"plot: {figure}")
        if args.json:
            args.json.write_text(json.dumps({"burst": as_json(burst_runs), "cap": as_json(cap_runs)}, indent=1))
    finally:
        for part in ("cluster", "keda"):  # kept: the sandbox's folder goes with it
            if (sandbox.workdir / part / "logs").exists():
                shutil.copytree(sandbox.workdir / part / "logs", workdir / f"{part}-logs", dirs_exist_ok=True)
        sandbox.close()
        print(f"(logs of the operator, KEDA and the control plane: {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
