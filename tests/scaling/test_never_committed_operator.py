"""The operator, as a real process, facing pods that run but never commit under the extension's group."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import commit, create_topic, produce, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
POLL = 1  # seconds: the pollingInterval here
GRACE = 3  # seconds: VAULTEXT_OPERATOR_NEVER_COMMITTED_GRACE_SECONDS here (>= 3 polls)


@pytest.fixture
def cluster(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    nodes = kube.add_gpu_nodes(1, gpus_per_node=1, product=f"TEST-CPU-{unique('n')[-6:].upper()}")  # pods run
    try:
        with running_operator(kube, namespace, tmp_path / "operator.log", kafka_bootstrap_servers=kafka.bootstrap,
                              never_committed_grace_seconds=str(GRACE)):
            yield Cluster(kube.api, namespace)
    finally:
        kube.delete_nodes(nodes)


def ready_replicas(cluster: Cluster, name: str) -> int:
    return int(cluster.apps.read_namespaced_deployment(name, cluster.namespace).status.ready_replicas or 0)


def test_a_group_that_never_commits_is_reported_and_holds_replicas_until_it_commits(
        cluster: Cluster, kafka: Any) -> None:
    topic, name = unique("nc"), "silent"
    create_topic(kafka.bootstrap, topic, 4)
    cluster.create(extension(name, cluster.namespace, topic, {
        "minReplicas": 1, "maxReplicas": 4, "lagThreshold": 10, "pollingInterval": POLL}))
    wait_for(lambda: cluster.replicas(name) == 1 and ready_replicas(cluster, name) == 1, 30, "one ready pod")
    time.sleep(GRACE + POLL)  # the pod has been ready for the whole grace

    produce(kafka.bootstrap, topic, {p: 10 for p in range(4)})  # lag 40 asks for 4 replicas
    blamed = wait_for(lambda: cluster.condition(name, "Consuming").get("status") == "False"
                      and cluster.condition(name, "Consuming"), 6 * POLL, "Consuming=False")
    group = f"vaultext-{cluster.namespace}-{name}"
    assert blamed["reason"] == "GroupNeverCommitted"
    assert group in blamed["message"] and topic in blamed["message"] and "KAFKA_GROUP" in blamed["message"]
    wait_for(lambda: cluster.events(name, "GroupNeverCommitted"), 5, "the GroupNeverCommitted event")
    deadline = time.monotonic() + 4 * POLL
    while time.monotonic() < deadline:  # several polls on a lag of 40: never above the starting 1
        assert cluster.replicas(name) == 1
        time.sleep(0.2)
    warnings = cluster.events(name, "GroupNeverCommitted")
    assert len(warnings) == 1 and group in warnings[0], warnings  # one event, not one per poll
    assert not cluster.events(name, "Scaled")

    commit(kafka.bootstrap, group, topic, {p: 0 for p in range(4)})  # the group commits; the lag stays 40
    wait_for(lambda: cluster.condition(name, "Consuming").get("reason") == "Committing", 6 * POLL, "Consuming=True")
    assert cluster.condition(name, "Consuming")["status"] == "True"
    cluster.watch_replicas(name, 4, 6 * POLL)  # scaling resumes on the same lag
