"""The operator, as a real process, scaling on real Kafka lag against the real apiserver (kwok nodes)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import commit, create_topic, produce, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
POLL = 2  # seconds: the pollingInterval of these tests


@pytest.fixture
def cluster(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    with running_operator(kube, namespace, tmp_path / "operator.log", kafka_bootstrap_servers=kafka.bootstrap):
        yield Cluster(kube.api, namespace)


def test_zero_to_eight_in_one_step_then_exactly_the_partitions_then_back_after_the_window(
        cluster: Cluster, kafka: Any) -> None:
    topic, name = unique("rec"), "burst"
    create_topic(kafka.bootstrap, topic, 12)
    cluster.create(extension(name, cluster.namespace, topic, {
        "minReplicas": 0, "maxReplicas": 8, "lagThreshold": 10, "pollingInterval": POLL,
        "cooldownPeriod": 8, "scaleDownStabilizationSeconds": 8}))
    wait_for(lambda: cluster.replicas(name) == 0, 30, "the Deployment at 0 replicas")
    time.sleep(POLL + 0.5)  # the autoscaler has seen the idle topic at least once

    produce(kafka.bootstrap, topic, {p: 42 if p < 8 else 41 for p in range(12)})  # 500 messages
    landed = time.monotonic()
    scaled = cluster.watch_replicas(name, 8, 4 * POLL)
    assert scaled - landed <= 2 * POLL, f"took {scaled - landed:.2f} s"
    wait_for(lambda: any(m.startswith("0 -> 8") for m in cluster.events(name, "Scaled")), 5, "the Scaled event")
    ups = [m for m in cluster.events(name, "Scaled") if m.startswith("0 -> ")]
    assert len(ups) == 1 and ups[0].startswith("0 -> 8:"), ups  # one step, no 0 -> 4 -> 8
    def lag_reported() -> dict[str, Any] | None:
        status: dict[str, Any] = cluster.get(name).get("status", {})
        return status if status.get("lag") == 500 else None

    status = wait_for(lag_reported, 3 * POLL, "status.lag 500")
    assert status["desiredReplicas"] == 8 and status["partitions"] == 12
    wait_for(lambda: cluster.condition(name, "PartitionsBelowMaxReplicas").get("status") == "False", 3 * POLL,
             "PartitionsBelowMaxReplicas=False")

    topics = wait_for(lambda: cluster.condition(name, "TopicsReady").get("status") == "True"
                      and cluster.condition(name, "TopicsReady"), 3 * POLL, "TopicsReady=True")
    # output and dead-letter topics created with one partition per possible replica; the input kept its 12
    assert f"{topic} (12 partitions)" in topics["message"]
    assert f"{name}-results (8 partitions)" in topics["message"]
    assert f"{name}-dead-letter (8 partitions)" in topics["message"]

    cluster.patch_autoscaling(name, {"maxReplicas": 20})
    cluster.watch_replicas(name, 12, 4 * POLL)
    time.sleep(2 * POLL)
    assert cluster.replicas(name) == 12  # exactly the partition count: never 13, never 11
    wait_for(lambda: cluster.condition(name, "PartitionsBelowMaxReplicas").get("status") == "True", 3 * POLL,
             "PartitionsBelowMaxReplicas=True")

    commit(kafka.bootstrap, f"vaultext-{cluster.namespace}-{name}", topic,
           {p: 42 if p < 8 else 41 for p in range(12)})
    drained = time.monotonic()
    time.sleep(8 - POLL - 0.5)
    assert cluster.replicas(name) == 12, "scaled down before the stabilization window / cooldown"
    down = cluster.watch_replicas(name, 0, 8 + 3 * POLL)
    # the window and the cooldown count from the last poll that still saw the lag (at most one poll earlier)
    assert down - drained >= 8 - POLL


def test_gpu_capacity_caps_replicas_and_no_pod_is_pending(cluster: Cluster, kube: Any, kafka: Any) -> None:
    product = f"TEST-GPU-{unique('p')[-6:].upper()}"
    nodes = kube.add_gpu_nodes(4, gpus_per_node=1, product=product)
    try:
        topic, name = unique("rec"), "gpus"
        create_topic(kafka.bootstrap, topic, 12)
        produce(kafka.bootstrap, topic, {p: 100 for p in range(12)})
        cluster.create(extension(name, cluster.namespace, topic,
                                 {"minReplicas": 1, "maxReplicas": 10, "pollingInterval": POLL},
                                 gpu={"count": 1, "product": product}))
        cluster.watch_replicas(name, 4, 30)
        limited = wait_for(lambda: cluster.condition(name, "GPUCapacityLimited").get("status") == "True"
                           and cluster.condition(name, "GPUCapacityLimited"), 5 * POLL, "GPUCapacityLimited")
        assert "10" in limited["message"] and "4" in limited["message"]
        time.sleep(2 * POLL)
        assert cluster.replicas(name) == 4
        wait_for(lambda: len([p for p in cluster.pods(name) if p.spec.node_name]) == 4, 30, "4 pods placed")
        assert [p.metadata.name for p in cluster.pods(name) if p.status.phase == "Pending"] == []
    finally:
        kube.delete_nodes(nodes)


def test_broker_outage_holds_replicas_with_the_error_then_resumes(cluster: Cluster, kafka: Any) -> None:
    topic, name = unique("rec"), "outage"
    create_topic(kafka.bootstrap, topic, 6)
    produce(kafka.bootstrap, topic, {p: 10 for p in range(3)})
    cluster.create(extension(name, cluster.namespace, topic,
                             {"maxReplicas": 6, "pollingInterval": POLL, "scaleDownStabilizationSeconds": 0}))
    cluster.watch_replicas(name, 3, 30)
    kafka.stop()
    try:
        down = wait_for(lambda: cluster.condition(name, "ScalingActive").get("reason") == "LagUnreadable"
                        and cluster.condition(name, "ScalingActive"), 30, "ScalingActive=False")
        assert down["status"] == "False" and kafka.bootstrap in down["message"]
        time.sleep(3 * POLL)
        assert cluster.replicas(name) == 3
        assert cluster.events(name, "LagUnreadable")
    finally:
        kafka.start()
    wait_for(lambda: cluster.condition(name, "ScalingActive").get("status") == "True", 60, "ScalingActive=True")
    produce(kafka.bootstrap, topic, {p: 10 for p in range(3, 6)})
    cluster.watch_replicas(name, 6, 30)
