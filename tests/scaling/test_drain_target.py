"""`targetDrainSeconds` against the real operator, apiserver and Kafka, with consumers of a known speed.

Every Ready pod of the extension (kwok runs them) stands for a consumer that commits RATE messages per second;
a producer adds ARRIVAL messages per second. The operator must learn both rates from the offsets alone and
choose the replica count that drains the backlog within the target.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kubernetes import client

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import create_topic, produce, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
PARTITIONS, BACKLOG, RATE, ARRIVAL, TARGET = 12, 960, 5.0, 2.0, 20


class FakeConsumers:
    """Commits for the group at RATE messages/s per Ready replica; produces ARRIVAL messages/s."""

    def __init__(self, bootstrap: str, group: str, topic: str, apps: client.AppsV1Api, namespace: str,
                 name: str) -> None:
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.apps, self.namespace, self.name = apps, namespace, name
        self.stop = threading.Event()
        self.committed = [0] * PARTITIONS
        self.produced = [BACKLOG // PARTITIONS] * PARTITIONS
        self.thread = threading.Thread(target=self.run, daemon=True)

    def ready(self) -> int:
        return int(self.apps.read_namespaced_deployment(self.name, self.namespace).status.ready_replicas or 0)

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                             "enable.auto.commit": False})
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        credit, arrivals, last, turn = 0.0, 0.0, time.monotonic(), 0
        try:
            while not self.stop.wait(0.2):
                now = time.monotonic()
                elapsed, last = now - last, now
                credit += self.ready() * RATE * elapsed
                arrivals += ARRIVAL * elapsed
                while arrivals >= 1:
                    partition = turn % PARTITIONS
                    producer.produce(self.topic, value=b"late", partition=partition)
                    self.produced[partition] += 1
                    arrivals, turn = arrivals - 1, turn + 1
                producer.flush(10)
                moved = False
                for partition in sorted(range(PARTITIONS), key=lambda p: self.committed[p] - self.produced[p]):
                    take = min(int(credit), self.produced[partition] - self.committed[partition])
                    if take > 0:
                        self.committed[partition] += take
                        credit -= take
                        moved = True
                if moved:
                    consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in enumerate(self.committed)],
                                    asynchronous=False)
                credit = min(credit, 1.0) if all(c == p for c, p in zip(self.committed, self.produced,
                                                                       strict=True)) else credit
        finally:
            consumer.close()

    def backlog(self) -> int:
        return sum(self.produced) - sum(self.committed)


@pytest.fixture
def cluster(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    nodes = kube.add_gpu_nodes(1, gpus_per_node=1, product=f"TEST-CPU-{unique('n')[-6:].upper()}")
    try:
        with running_operator(kube, namespace, tmp_path / "operator.log", kafka_bootstrap_servers=kafka.bootstrap):
            yield Cluster(kube.api, namespace)
    finally:
        kube.delete_nodes(nodes)


def test_chosen_replicas_drain_the_backlog_within_the_target(cluster: Cluster, kafka: Any) -> None:
    topic, name = unique("rec"), "drain"
    create_topic(kafka.bootstrap, topic, PARTITIONS)
    produce(kafka.bootstrap, topic, {p: BACKLOG // PARTITIONS for p in range(PARTITIONS)})
    consumers = FakeConsumers(kafka.bootstrap, f"vaultext-{cluster.namespace}-{name}", topic, cluster.apps,
                              cluster.namespace, name)
    cluster.create(extension(name, cluster.namespace, topic, {
        "minReplicas": 1, "maxReplicas": 12, "lagThreshold": 100000, "pollingInterval": 2,
        "targetDrainSeconds": TARGET, "scaleDownStabilizationSeconds": 60}))
    wait_for(lambda: cluster.replicas(name) == 1, 30, "one replica")
    consumers.thread.start()
    try:
        def sized() -> dict[str, Any] | None:
            status = cluster.get(name).get("status", {})
            return status if (status.get("desiredReplicas") or 0) > 1 and status.get("rates") else None

        status = wait_for(sized, 40, "a rate-based scale-up", 0.2)
        scaled_at = time.monotonic()
        lag, desired = status["lag"], status["desiredReplicas"]
        per_replica, arrival = status["rates"]["perReplica"], status["rates"]["arrival"]
        # measured from offsets alone, not configured; loose bounds because the fake consumers' own timing
        # drifts on a loaded machine (the drain check below holds the operator to what they really do)
        assert 0.5 * RATE <= per_replica <= 1.5 * RATE, status["rates"]
        needed = lag / TARGET + arrival
        assert desired == min(PARTITIONS, math.ceil(needed / per_replica - 1e-6)), status
        assert desired * per_replica - arrival >= lag / TARGET or desired == PARTITIONS
        assert status["drainSeconds"] is not None and status["drainSeconds"] <= TARGET
        # and the consumers, at the chosen count, really do drain it within the target (+ pod start-up)
        wait_for(lambda: consumers.backlog() <= ARRIVAL * 2, TARGET + 8, "the backlog drained", 0.2)
        drained_in = time.monotonic() - scaled_at
        print(f"lag {lag}, perReplica {per_replica}/s, arrival {arrival}/s -> {desired} replicas; "
              f"estimated drain {status['drainSeconds']} s, drained in {drained_in:.1f} s (target {TARGET} s)")
        assert drained_in <= TARGET + 8
    finally:
        consumers.stop.set()
        consumers.thread.join(10)
