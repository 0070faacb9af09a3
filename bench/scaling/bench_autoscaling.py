"""Autoscaling and scale benchmark against the sandbox (real apiserver and etcd, kwok GPU nodes, real Kafka,
the operator as a real process). Every part runs alone when only its flag is given:

    .venv/bin/python bench/scaling/bench_autoscaling.py --warm 1000 --cold 1000 --blackhole 100 [--baseline 10]
    .venv/bin/python bench/scaling/bench_autoscaling.py --groups 100,1000        # batched lag poll only
    .venv/bin/python bench/scaling/bench_autoscaling.py --blackhole 0 --runs 5   # reaction alone only

Prints, each with its baseline measured in the same run:
1. steady state (--warm N): the operator runs, N GPU extensions are created; seconds until every one is Ready;
   cold start (--cold N): N never-reconciled extensions exist, then the operator starts; seconds from its start
   until every one is Ready. Both with the operator's CPU seconds (from /proc), RSS peak and settled (30 s after),
   the load average and progress as it goes; baseline: the same for --baseline extensions (default 10);
2. reaction time (--blackhole B): 500 messages land on a 12-partition topic -> the Deployment asks for 8
   replicas (median of --runs); alone, then beside B extensions whose Kafka address is a black hole and one whose
   Prometheus query answers NaN; the second must stay within one polling interval of the first;
3. cost of ONE batched lag poll for N consumer groups x 16 partitions (median); baseline: one poll per group.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import fleet
import reaction
from fleet import GROUP, PLURAL, unique
from kafka import KafkaAdminClient, TopicPartition  # type: ignore[attr-defined]
from kafka.errors import KafkaError  # type: ignore[import-untyped]
from kafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from reaction import create_topics, produce

from vaultext_operator.sources.base import KafkaConnection, LagTarget
from vaultext_operator.sources.kafka_admin import KafkaAdminLagSource
from vaultext_sandbox import Sandbox

REPOSITORY = Path(__file__).resolve().parents[2]
CRD = REPOSITORY / "crds" / "vaultextensions.vault.kerberos.io.yaml"
PARTITIONS = 16


def bench_poll(bootstrap: str, groups: int, runs: int) -> None:
    topics = [unique("lag") for _ in range(max(1, groups // 10))]
    create_topics(bootstrap, topics, PARTITIONS)
    for topic in topics:
        produce(bootstrap, topic, {p: 5 for p in range(PARTITIONS)})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    connection = KafkaConnection(bootstrap)
    targets = []
    for index in range(groups):
        group, topic = unique("g"), topics[index % len(topics)]
        offsets = {TopicPartition(topic, p): OffsetAndMetadata(2, "", -1) for p in range(PARTITIONS)}
        for attempt in range(60):  # a fresh broker creates its offsets topic on the first group
            try:
                admin.alter_group_offsets(group, offsets)
                break
            except KafkaError:
                if attempt == 59:
                    raise
                time.sleep(0.5)
        targets.append(LagTarget(connection, group, topic))
    admin.close()
    source = KafkaAdminLagSource(timeout=30)
    source.poll(targets)  # connect and find coordinators once, as a running operator has
    batched = []
    for _ in range(runs):
        started = time.perf_counter()
        results = source.poll(targets)
        batched.append(time.perf_counter() - started)
    assert all(hasattr(r, "partitions") for r in results.values()), "a poll failed"
    naive_runs = max(1, min(runs, 3))
    naive = []
    for _ in range(naive_runs):
        started = time.perf_counter()
        for target in targets:
            source.poll([target])
        naive.append(time.perf_counter() - started)
    b, n = statistics.median(batched), statistics.median(naive)
    print(f"lag poll, {groups} groups x {PARTITIONS} partitions: batched median {b * 1000:.1f} ms "
          f"({runs} runs); one poll per group {n * 1000:.1f} ms; ratio {n / b:.1f}x")
    source.close()


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def bench_fleet(kube: Any, bootstrap: str, args: argparse.Namespace, workdir: Path) -> None:
    topic = unique("shared")
    create_topics(bootstrap, [topic], PARTITIONS)
    kube.add_gpu_nodes(4, gpus_per_node=8)
    parts = [("warm", fleet.warm, n) for n in sizes(args.warm)] + [("cold", fleet.cold, n) for n in sizes(args.cold)]
    baselines: dict[str, fleet.FleetResult] = {}
    results = []
    for label, run, count in parts:
        if label not in baselines:
            baselines[label] = run(kube, bootstrap, args.baseline, topic, workdir, args.timeout)
            print(baselines[label].line(), flush=True)
        results.append(run(kube, bootstrap, count, topic, workdir, args.timeout))
        print(results[-1].line(), flush=True)
    print("--- summary ---")
    for result in results:
        print(fleet.compare(result, baselines[result.label]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warm", default="", help="steady state: comma-separated counts, e.g. 1000,10000")
    parser.add_argument("--cold", default="", help="cold start: comma-separated counts, e.g. 1000,10000")
    parser.add_argument("--baseline", type=int, default=10, help="extensions in the warm/cold baseline")
    parser.add_argument("--timeout", type=float, default=900, help="give up waiting for Ready after this many s")
    parser.add_argument("--blackhole", type=int, default=None,
                        help="reaction: alone, then beside this many black-holed clusters (0: alone only)")
    parser.add_argument("--runs", type=int, default=5, help="reaction runs per case, lag poll runs")
    parser.add_argument("--polling-interval", type=int, default=5)
    parser.add_argument("--groups", default="", help="batched lag poll: comma-separated group counts")
    parser.add_argument("--controller-qps", type=int, default=0,
                        help="the sandbox controller-manager's requests/s (0: Kubernetes' default, 20)")
    args = parser.parse_args()
    if not (args.warm or args.cold or args.groups or args.blackhole is not None):
        parser.error("nothing to measure: give --warm, --cold, --blackhole or --groups")
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    if args.controller_qps:
        os.environ["VAULTEXT_SANDBOX_CONTROLLER_QPS"] = str(args.controller_qps)
    print(f"controller-manager QPS: {args.controller_qps or 'default (20)'}", flush=True)
    sandbox = Sandbox()
    workdir = Path(tempfile.mkdtemp(prefix="vaultext-bench-"))
    try:
        kube, kafka = sandbox.kube(), sandbox.kafka()
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
        deadline = time.monotonic() + 120  # a busy apiserver may not know the CRD for a moment after the apply
        while kube.kubectl("wait", "--for=condition=Established", "--timeout=30s", f"crd/{PLURAL}.{GROUP}",
                           check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError("the VaultExtension CRD was not established")
            time.sleep(1)
        for groups in sizes(args.groups):
            bench_poll(kafka.bootstrap, groups, args.runs)
        if args.blackhole is not None:
            prometheus_url = sandbox.prometheus().url if args.blackhole else ""
            reaction.bench_reaction(kube, kafka.bootstrap, prometheus_url, args.runs, args.polling_interval,
                                    args.blackhole, workdir)
        if args.warm or args.cold:
            bench_fleet(kube, kafka.bootstrap, args, workdir)
        print(f"(operator logs in {workdir}); load average at end: "
              f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    finally:
        sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
