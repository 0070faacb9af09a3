"""The operator, as a real process, scaling a share group (KIP-932) past the partition count on real Kafka 4.4 lag,
while a consumer group on the same topic stops at the partitions and says why (real apiserver, kwok nodes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient  # type: ignore[attr-defined]

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import commit, create_topic, produce, share_consume, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
POLL = 2  # seconds: the pollingInterval of these tests
SCALING = {"minReplicas": 1, "maxReplicas": 10, "lagThreshold": 75, "pollingInterval": POLL}


@pytest.fixture
def cluster(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    with running_operator(kube, namespace, tmp_path / "operator.log", kafka_bootstrap_servers=kafka.bootstrap):
        yield Cluster(kube.api, namespace)


def consuming(name: str, namespace: str, topic: str, group: str, consumption: str) -> dict[str, Any]:
    body = extension(name, namespace, topic, dict(SCALING))
    body["spec"]["kafka"].update({"consumerGroup": group, "consumption": consumption})
    return body


def status_of(cluster: Cluster, name: str, lag: int) -> dict[str, Any] | None:
    status: dict[str, Any] = cluster.get(name).get("status", {})
    return status if status.get("lag") == lag and status.get("lastScaleReason") else None


def test_a_share_group_scales_past_three_partitions_and_a_consumer_group_stops_at_them(
        cluster: Cluster, kafka: Any) -> None:
    topic, share_group, consumer_group = unique("rec"), unique("s"), unique("g")
    create_topic(kafka.bootstrap, topic, 3)
    produce(kafka.bootstrap, topic, {0: 100, 1: 100, 2: 100})
    share_consume(kafka.bootstrap, share_group, topic, 300)  # the share group has state: 300 accepted
    commit(kafka.bootstrap, consumer_group, topic, {0: 100, 1: 100, 2: 100})
    produce(kafka.bootstrap, topic, {0: 200, 1: 200, 2: 200})  # 600 events behind both groups (900 in the log)

    cluster.create(consuming("shared", cluster.namespace, topic, share_group, "share"))
    cluster.create(consuming("grouped", cluster.namespace, topic, consumer_group, "group"))
    cluster.watch_replicas("shared", 8, 30)  # 600 / 75
    cluster.watch_replicas("grouped", 3, 30)

    shared = wait_for(lambda: status_of(cluster, "shared", 600), 5 * POLL, "status of the share group")
    assert shared["desiredReplicas"] == 8 and shared["partitions"] == 3
    assert "lag 600 / lagThreshold 75 -> 8; share group: no partition cap" in shared["lastScaleReason"]
    assert cluster.condition("shared", "PartitionsBelowMaxReplicas")["reason"] == "ShareGroup"
    assert cluster.condition("shared", "ScalingActive")["status"] == "True"
    grouped = wait_for(lambda: status_of(cluster, "grouped", 600), 5 * POLL, "status of the consumer group")
    assert grouped["desiredReplicas"] == 3
    assert "lag 600 / lagThreshold 75 -> 8; capped at 3 partitions" in grouped["lastScaleReason"]
    assert cluster.condition("grouped", "PartitionsBelowMaxReplicas")["status"] == "True"

    worker = cluster.apps.read_namespaced_deployment("shared", cluster.namespace).spec.template.spec.containers[0]
    env = {variable.name: variable.value for variable in worker.env}
    assert (env["VAULTEXT_KAFKA_CONSUMPTION"], env["KAFKA_GROUP"]) == ("share", share_group)
    assert cluster.replicas("shared") == 8 and cluster.replicas("grouped") == 3  # steady, not one poll's blip


def test_share_groups_switched_off_hold_replicas_with_lag_unreadable(cluster: Cluster, kafka: Any) -> None:
    topic = unique("rec")
    create_topic(kafka.bootstrap, topic, 3)
    produce(kafka.bootstrap, topic, {0: 300, 1: 300, 2: 300})
    features = KafkaAdminClient(bootstrap_servers=[kafka.bootstrap])
    try:
        assert features.update_features({"share.version": ("SAFE_DOWNGRADE", 0)}) == {"share.version": "OK"}
        cluster.create(consuming("off", cluster.namespace, topic, unique("s"), "share"))
        # (a fresh broker may first answer COORDINATOR_NOT_AVAILABLE, also LagUnreadable: wait for the real cause)
        unreadable = wait_for(lambda: "cannot describe share groups" in cluster.condition("off", "ScalingActive")
                              .get("message", "") and cluster.condition("off", "ScalingActive"), 30,
                              "ScalingActive=False for share groups switched off")
        assert (unreadable["status"], unreadable["reason"]) == ("False", "LagUnreadable")
        assert cluster.replicas("off") == 1  # held, not scaled on a guess
        wait_for(lambda: cluster.events("off", "LagUnreadable"), 10, "the LagUnreadable event")
    finally:
        features.update_features({"share.version": ("UPGRADE", 2)})
        features.close()
    cluster.watch_replicas("off", 10, 30)  # readable again: 900 / 75 -> 12, up to maxReplicas
