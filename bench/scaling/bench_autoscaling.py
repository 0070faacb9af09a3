"""Autoscaling benchmark against the sandbox (real apiserver, real Kafka, the operator as a real process).

    .venv/bin/python bench/scaling/bench_autoscaling.py [--runs 5] [--groups 100,1000] [--extensions 1000]

Prints, each with its baseline measured in the same run:
1. reaction time: 500 messages land on a 12-partition topic -> the Deployment asks for 8 replicas (median);
   baseline: the polling interval (KEDA's default alone is 30 s, before the HPA's step limits);
2. cost of ONE batched lag poll for N consumer groups x 16 partitions (median); baseline: one poll per group;
3. time for N VaultExtensions to be reconciled by one operator (all Deployments present, autoscaler polling
   them all) and the operator's RSS; baseline: the same for 10 extensions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from kafka import KafkaAdminClient, TopicPartition  # type: ignore[attr-defined]
from kafka.errors import KafkaError  # type: ignore[import-untyped]
from kafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from kubernetes import client

from vaultext_operator.sources.base import KafkaConnection, LagTarget
from vaultext_operator.sources.kafka_admin import KafkaAdminLagSource
from vaultext_sandbox import Sandbox
from vaultext_sandbox.processes import rss_mib

REPOSITORY = Path(__file__).resolve().parents[2]
CRD = REPOSITORY / "crds" / "vaultextensions.vault.kerberos.io.yaml"
GROUP, VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"
PARTITIONS = 16


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1)
                                       for n in names]).values():
        future.result(60)


def produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for partition, count in per_partition.items():
        for i in range(count):
            producer.produce(topic, value=f"m{i}".encode(), partition=partition)
    producer.flush(60)


class Operator:
    def __init__(self, kube: Any, namespace: str, bootstrap: str, log: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "VAULTEXT_OPERATOR_HEALTH_PORT": "0",
               "VAULTEXT_OPERATOR_METRICS_PORT": "0", "VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
               "VAULTEXT_OPERATOR_LOG_LEVEL": "WARNING"}
        self.log = log.open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "vaultext_operator", "run", "-n", namespace],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPOSITORY)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def extension(name: str, topic: str, autoscaling: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VaultExtension", "metadata": {"name": name},
            "spec": {"image": "registry.example.com/acme/yolo:1.2", "gpu": {"count": 0},
                     "kafka": {"input": {"topic": topic}}, "autoscaling": autoscaling}}


def namespace_with_secret(kube: Any) -> str:
    name = unique("bench")
    client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": name}})
    kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", name,
                 "--from-literal=accessKey=a", "--from-literal=secretKey=b")
    return name


def deployment_replicas(apps: client.AppsV1Api, namespace: str, name: str) -> int | None:
    try:
        return int(apps.read_namespaced_deployment(name, namespace).spec.replicas or 0)
    except client.ApiException:
        return None


def wait(check: Any, timeout: float, interval: float = 0.02) -> float:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        time.sleep(interval)
    return time.monotonic()


def bench_reaction(kube: Any, bootstrap: str, runs: int, polling: int, workdir: Path) -> None:
    namespace = namespace_with_secret(kube)
    custom, apps = client.CustomObjectsApi(kube.api), client.AppsV1Api(kube.api)
    operator = Operator(kube, namespace, bootstrap, workdir / "reaction.log")
    reactions = []
    try:
        for run in range(runs):
            topic, name = unique("rec"), f"burst-{run}"
            create_topics(bootstrap, [topic], 12)
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, extension(
                name, topic, {"minReplicas": 0, "maxReplicas": 8, "pollingInterval": polling}))
            wait(lambda n=name: deployment_replicas(apps, namespace, n) == 0, 60)
            time.sleep(polling * 1.5)  # polled idle at least once, at an arbitrary phase of its interval
            produce(bootstrap, topic, {p: 42 if p < 8 else 41 for p in range(12)})
            landed = time.monotonic()
            reactions.append(wait(lambda n=name: deployment_replicas(apps, namespace, n) == 8, 4 * polling)
                             - landed)
    finally:
        operator.stop()
    median = statistics.median(reactions)
    print(f"reaction (500 msgs -> 8 replicas, one step), pollingInterval {polling}s: "
          f"median {median:.2f}s over {runs} runs (min {min(reactions):.2f}, max {max(reactions):.2f}); "
          f"ratio to the polling interval {median / polling:.2f}; KEDA's default polling alone: 30 s")


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


def bench_many(kube: Any, bootstrap: str, count: int, workdir: Path) -> tuple[float, float]:
    namespace = namespace_with_secret(kube)
    topic = unique("shared")
    create_topics(bootstrap, [topic], PARTITIONS)
    custom, apps = client.CustomObjectsApi(kube.api), client.AppsV1Api(kube.api)
    for index in range(count):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, extension(
            f"ext-{index}", topic, {"minReplicas": 0, "maxReplicas": 4, "topics": {"provisioner": "none"}}))
    started = time.monotonic()
    operator = Operator(kube, namespace, bootstrap, workdir / f"many-{count}.log")
    try:
        wait(lambda: len(apps.list_namespaced_deployment(namespace).items) >= count, 1800, 1.0)
        elapsed = time.monotonic() - started
        time.sleep(10)  # the autoscaler polls all of them a few times
        rss = rss_mib(operator.process.pid)
    finally:
        operator.stop()
    client.CoreV1Api(kube.api).delete_namespace(namespace)
    return elapsed, rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--polling-interval", type=int, default=5)
    parser.add_argument("--groups", default="100,1000")
    parser.add_argument("--extensions", type=int, default=1000, help="0 skips the many-extensions part")
    parser.add_argument("--skip-reaction", action="store_true")
    args = parser.parse_args()
    sandbox = Sandbox()
    workdir = Path(tempfile.mkdtemp(prefix="vaultext-bench-"))
    try:
        kube, kafka = sandbox.kube(), sandbox.kafka()
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{PLURAL}.{GROUP}")
        for groups in (int(g) for g in args.groups.split(",") if g):
            bench_poll(kafka.bootstrap, groups, args.runs)
        if not args.skip_reaction:
            bench_reaction(kube, kafka.bootstrap, args.runs, args.polling_interval, workdir)
        if args.extensions:
            base_time, base_rss = bench_many(kube, kafka.bootstrap, 10, workdir)
            many_time, many_rss = bench_many(kube, kafka.bootstrap, args.extensions, workdir)
            print(f"{args.extensions} VaultExtensions reconciled by one operator: {many_time:.1f}s, "
                  f"RSS {many_rss:.0f} MiB; baseline 10 extensions: {base_time:.1f}s, RSS {base_rss:.0f} MiB; "
                  f"time ratio {many_time / base_time:.1f}x")
        print(f"(operator logs in {workdir})")
    finally:
        sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
