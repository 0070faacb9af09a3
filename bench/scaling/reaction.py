"""Reaction time of one healthy extension (500 messages land -> 8 replicas), alone and then beside bad
neighbours: extensions whose Kafka address is a black hole (a listener of our own on 127.0.0.1 whose accept
queue is full, so a connect gets no answer at all) and one whose Prometheus query answers NaN."""

from __future__ import annotations

import socket
import statistics
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from fleet import GROUP, PLURAL, VERSION, Operator, load_average, namespace_with_secret, unique
from kubernetes import client


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


class BlackHole:
    """A TCP listener on 127.0.0.1 that never accepts, its accept queue filled by our own connects: the
    kernel then drops every further SYN, so a client waits without any answer."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.fillers: list[socket.socket] = []
        for _ in range(3):  # backlog 0 queues one; the rest only make sure
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(self.listener.getsockname())
            self.fillers.append(filler)
        time.sleep(0.2)

    def close(self) -> None:
        for sock in [*self.fillers, self.listener]:
            sock.close()


def extension(name: str, topic: str, autoscaling: dict[str, Any], kafka: dict[str, Any] | None = None,
              ) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VaultExtension", "metadata": {"name": name},
            "spec": {"image": "registry.example.com/acme/yolo:1.2", "gpu": {"count": 0},
                     "kafka": {"input": {"topic": topic}, **(kafka or {})}, "autoscaling": autoscaling}}


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


def reactions(kube: Any, namespace: str, bootstrap: str, runs: int, polling: int, label: str) -> list[float]:
    custom, apps = client.CustomObjectsApi(kube.api), client.AppsV1Api(kube.api)
    measured = []
    for run in range(runs):
        topic, name = unique("rec"), f"burst-{label}-{run}"
        create_topics(bootstrap, [topic], 12)
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, extension(
            name, topic, {"minReplicas": 0, "maxReplicas": 8, "pollingInterval": polling,
                          "topics": {"provisioner": "none"}}))
        wait(lambda n=name: deployment_replicas(apps, namespace, n) == 0, 120)
        time.sleep(polling * 1.5)  # polled idle at least once, at an arbitrary phase of its interval
        produce(bootstrap, topic, {p: 42 if p < 8 else 41 for p in range(12)})
        landed = time.monotonic()
        try:
            measured.append(wait(lambda n=name: deployment_replicas(apps, namespace, n) == 8, 6 * polling) - landed)
        except TimeoutError:
            measured.append(float("inf"))  # no reaction within six intervals: reported as such
        print(f"  [reaction {label}] run {run + 1}/{runs}: {measured[-1]:.2f} s  load {load_average():.1f}",
              flush=True)
        custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    return measured


def add_bad_neighbours(kube: Any, namespace: str, holes: list[BlackHole], prometheus_url: str) -> None:
    custom = client.CustomObjectsApi(kube.api)
    for index, hole in enumerate(holes):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, extension(
            f"blackhole-{index}", "events", {"minReplicas": 0, "maxReplicas": 2, "pollingInterval": 5,
                                             "topics": {"provisioner": "none"}},
            {"bootstrapServers": hole.address}))
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, extension(
        "nan-query", "events", {"minReplicas": 0, "maxReplicas": 2, "pollingInterval": 5,
                                "topics": {"provisioner": "none"},
                                "source": {"type": "prometheus", "serverAddress": prometheus_url,
                                           "query": "vector(NaN)"}}))


def bench_reaction(kube: Any, bootstrap: str, prometheus_url: str, runs: int, polling: int, black_holes: int,
                   workdir: Path) -> None:
    namespace = namespace_with_secret(kube)
    operator = Operator(kube, namespace, bootstrap, workdir / "reaction.log")
    holes: list[BlackHole] = []
    try:
        cpu = operator.cpu()
        alone = reactions(kube, namespace, bootstrap, runs, polling, "alone")
        cpu_alone, cpu = operator.cpu() - cpu, operator.cpu()
        if black_holes:
            holes = [BlackHole() for _ in range(black_holes)]
            add_bad_neighbours(kube, namespace, holes, prometheus_url)
            time.sleep(3 * polling)  # every bad neighbour reconciled and polled (and failing) a few times
            cpu = operator.cpu()
            beside = reactions(kube, namespace, bootstrap, runs, polling, "beside")
            cpu_beside = operator.cpu() - cpu
    finally:
        operator.stop()
        for hole in holes:
            hole.close()
        client.CoreV1Api(kube.api).delete_namespace(namespace)
    base = statistics.median(alone)
    print(f"reaction (500 msgs -> 8 replicas), pollingInterval {polling}s: alone median {base:.2f}s "
          f"(min {min(alone):.2f}, max {max(alone):.2f}, {runs} runs, operator CPU {cpu_alone:.1f}s); "
          f"ratio to the polling interval {base / polling:.2f}; KEDA's default polling alone: 30 s")
    if black_holes:
        median = statistics.median(beside)
        verdict = "within" if median - base <= polling else "NOT within"
        print(f"reaction beside {black_holes} black-holed Kafka clusters and a NaN Prometheus query: median "
              f"{median:.2f}s (min {min(beside):.2f}, max {max(beside):.2f}, operator CPU {cpu_beside:.1f}s); "
              f"{median - base:+.2f}s against alone, ratio {median / base:.2f}x: {verdict} one polling interval")
