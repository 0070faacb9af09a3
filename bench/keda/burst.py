"""One burst scenario: an extension scaled by one engine, a burst of messages, and the Deployment's replicas
sampled from the moment the burst has landed until they settle."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from kafka import KafkaAdminClient, TopicPartition  # type: ignore[attr-defined]
from kafka.errors import KafkaError  # type: ignore[import-untyped]
from kafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from kubernetes import client

REPOSITORY = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"
KEDA_API = ("keda.sh", "v1alpha1", "scaledobjects")
SAMPLE_SECONDS = 0.1


@dataclass(frozen=True)
class Burst:
    engine: str  # keda | builtin
    polling_interval: int
    partitions: int
    messages: int
    target: int | None  # replicas that count as "reached"; None: only watch where it settles
    lag_threshold: int = 10
    max_replicas: int = 12


@dataclass
class Trajectory:
    burst: Burst
    points: list[tuple[float, int]] = field(default_factory=list)  # (seconds since the burst landed, replicas)
    reached_at: float | None = None

    @property
    def settled(self) -> int:
        return self.points[-1][1] if self.points else 0

    def steps(self) -> str:
        return "  ".join(f"{t:5.1f}s→{n}" for t, n in self.points)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class OperatorProcess:
    """The project's operator as a real process, watching one namespace."""

    def __init__(self, kubeconfig: Path, namespace: str, bootstrap: str, log: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "VAULTEXT_OPERATOR_HEALTH_PORT": "0",
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


def wait(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"benchmark step timed out after {timeout:.0f} s: {what}")
        time.sleep(interval)


def create_topic_with_commits(bootstrap: str, topic: str, partitions: int, group: str) -> None:
    """The topic, and offset 0 committed by `group` on every partition: the pods on kwok never consume, and
    without a commit KEDA (offsetResetPolicy `latest` or not) would not see the burst as lag of this group."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        future.result(60)
    offsets = {TopicPartition(topic, p): OffsetAndMetadata(0, "", -1) for p in range(partitions)}
    kafka_admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for attempt in range(60):  # a fresh broker creates its offsets topic on the first group
            try:
                kafka_admin.alter_group_offsets(group, offsets)
                return
            except KafkaError:
                if attempt == 59:
                    raise
                time.sleep(0.5)
    finally:
        kafka_admin.close()


def produce(bootstrap: str, topic: str, partitions: int, messages: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for index in range(messages):
        producer.produce(topic, value=f"m{index}".encode(), partition=index % partitions)
    if producer.flush(60) != 0:
        raise RuntimeError("the burst was not delivered within 60 s")


def extension(name: str, topic: str, group: str, burst: Burst) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "VaultExtension", "metadata": {"name": name},
        "spec": {
            "image": "registry.example.com/acme/yolo:1.2", "gpu": {"count": 1},
            "kafka": {"input": {"topic": topic}, "consumerGroup": group},
            "autoscaling": {"engine": burst.engine, "minReplicas": 0, "maxReplicas": burst.max_replicas,
                            "lagThreshold": burst.lag_threshold, "pollingInterval": burst.polling_interval},
        },
    }


class Bench:
    def __init__(self, api: client.ApiClient, namespace: str, bootstrap: str) -> None:
        self.namespace, self.bootstrap = namespace, bootstrap
        self.apps, self.core = client.AppsV1Api(api), client.CoreV1Api(api)
        self.custom, self.autoscaling = client.CustomObjectsApi(api), client.AutoscalingV2Api(api)

    def replicas(self, name: str) -> int | None:
        try:
            value = self.apps.read_namespaced_deployment(name, self.namespace).spec.replicas
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return int(value or 0)

    def keda_ready(self, name: str) -> bool:
        try:
            scaled = self.custom.get_namespaced_custom_object(*KEDA_API[:2], self.namespace, KEDA_API[2], name)
            self.autoscaling.read_namespaced_horizontal_pod_autoscaler(f"keda-hpa-{name}", self.namespace)
        except client.ApiException as error:
            if error.status == 404:
                return False
            raise
        conditions = scaled.get("status", {}).get("conditions", [])
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def run(self, burst: Burst, quiet_seconds: float, timeout: float) -> Trajectory:
        name, topic, group = unique(burst.engine), unique("burst"), unique("group")
        create_topic_with_commits(self.bootstrap, topic, burst.partitions, group)
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL,
                                                    extension(name, topic, group, burst))
        try:
            wait(lambda: self.replicas(name) == 0, 60, f"Deployment {name} at 0 replicas")
            if burst.engine == "keda":
                wait(lambda: self.keda_ready(name), 90, f"ScaledObject {name} Ready and its HPA present")
            time.sleep(burst.polling_interval * 1.5)  # polled idle at least once, at an arbitrary phase
            return self.observe(name, topic, burst, quiet_seconds, timeout)
        finally:
            self.delete(name)

    def observe(self, name: str, topic: str, burst: Burst, quiet_seconds: float, timeout: float) -> Trajectory:
        """Produce the burst, then sample until the target is reached (if any) and nothing changed for
        `quiet_seconds` with at least one replica."""
        produce(self.bootstrap, topic, burst.partitions, burst.messages)
        landed = time.monotonic()
        trajectory = Trajectory(burst, [(0.0, self.replicas(name) or 0)])
        changed = landed
        while True:
            now = time.monotonic()
            current = self.replicas(name) or 0
            if current != trajectory.points[-1][1]:
                trajectory.points.append((now - landed, current))
                changed = now
            if trajectory.reached_at is None and burst.target is not None and current >= burst.target:
                trajectory.reached_at = now - landed
            done = burst.target is None or trajectory.reached_at is not None
            if done and current > 0 and now - changed >= quiet_seconds:
                return trajectory
            if now - landed > timeout:
                raise TimeoutError(f"{burst}: no settled scale-out within {timeout:.0f} s: {trajectory.steps()}")
            time.sleep(SAMPLE_SECONDS)

    def delete(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        # Wait for the pods too: the builtin engine never schedules more replicas than there are free GPUs.
        wait(lambda: self.replicas(name) is None and not self.core.list_namespaced_pod(self.namespace).items,
             120, f"{name}'s Deployment and pods gone")

