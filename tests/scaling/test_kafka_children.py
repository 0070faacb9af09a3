"""The reconcile owns the Kafka-side children: a ScaledObject or KafkaTopic deleted by hand comes back within a
resync, and deleting an extension never deletes the shared input topic's KafkaTopic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import unique
from .test_keda_render import keda_crd_dir

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
RESYNC = 2  # seconds between resyncs in these tests
# Strimzi's CRDs ship with its Java release, which the sandbox does not build: a stand-in of the same group,
# version and kind, with an open schema, is all the operator's apply and the garbage collector look at.
KAFKA_TOPIC_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "kafkatopics.kafka.strimzi.io"},
    "spec": {"group": "kafka.strimzi.io", "scope": "Namespaced",
             "names": {"kind": "KafkaTopic", "plural": "kafkatopics", "singular": "kafkatopic"},
             "versions": [{"name": "v1beta2", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object",
                                                          "x-kubernetes-preserve-unknown-fields": True}}}]},
}  # fmt: skip


@pytest.fixture
def cluster(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[Cluster]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    with running_operator(kube, namespace, tmp_path / "operator.log", kafka_bootstrap_servers=kafka.bootstrap,
                          resync_seconds=str(RESYNC)):
        yield Cluster(kube.api, namespace)


def custom(cluster: Cluster, group: str, plural: str, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(group, "v1beta2" if "strimzi" in group
                                                                            else "v1alpha1", cluster.namespace,
                                                                            plural, name)
        return found
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def delete_custom(cluster: Cluster, group: str, plural: str, name: str) -> None:
    version = "v1beta2" if "strimzi" in group else "v1alpha1"
    cluster.custom.delete_namespaced_custom_object(group, version, cluster.namespace, plural, name)


def test_a_scaled_object_deleted_by_hand_comes_back(cluster: Cluster, kube: Any) -> None:
    bases = keda_crd_dir()
    for crd in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(bases / crd))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/scaledobjects.keda.sh")
    name = "keda-back"
    cluster.create(extension(name, cluster.namespace, unique("in"), {"engine": "keda", "maxReplicas": 3}))
    first = wait_for(lambda: custom(cluster, "keda.sh", "scaledobjects", name), 30, "the ScaledObject")
    delete_custom(cluster, "keda.sh", "scaledobjects", name)
    back = wait_for(lambda: custom(cluster, "keda.sh", "scaledobjects", name), 3 * RESYNC + 10,
                    "the ScaledObject back")
    assert back["metadata"]["uid"] != first["metadata"]["uid"]
    assert back["spec"]["maxReplicaCount"] == 3 and back["metadata"]["ownerReferences"][0]["name"] == name


def test_kafka_topics_come_back_and_the_shared_input_outlives_the_extension(cluster: Cluster, kube: Any) -> None:
    kube.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(KAFKA_TOPIC_CRD))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/kafkatopics.kafka.strimzi.io")
    topic, name = unique("shared-in"), "strimzi"
    topics = {"provisioner": "strimzi", "strimziCluster": "events"}
    cluster.create(extension(name, cluster.namespace, topic, {"maxReplicas": 3, "topics": topics}))
    own = f"{name}-results"
    shared = wait_for(lambda: custom(cluster, "kafka.strimzi.io", "kafkatopics", topic), 30, "the input KafkaTopic")
    wait_for(lambda: custom(cluster, "kafka.strimzi.io", "kafkatopics", own), 30, "the output KafkaTopic")
    assert not shared["metadata"].get("ownerReferences")
    assert shared["metadata"]["labels"]["vault.kerberos.io/shared-topic"] == "true"

    delete_custom(cluster, "kafka.strimzi.io", "kafkatopics", own)
    back = wait_for(lambda: custom(cluster, "kafka.strimzi.io", "kafkatopics", own), 3 * RESYNC + 10,
                    "the output KafkaTopic back")
    assert back["spec"] == {"topicName": own, "partitions": 3, "replicas": 1}

    cluster.custom.delete_namespaced_custom_object("vault.kerberos.io", "v1alpha1", cluster.namespace,
                                                   "vaultextensions", name)
    wait_for(lambda: custom(cluster, "kafka.strimzi.io", "kafkatopics", own) is None, 60,
             "the extension's own KafkaTopic garbage-collected")
    kept = custom(cluster, "kafka.strimzi.io", "kafkatopics", topic)
    assert kept is not None and kept["metadata"]["uid"] == shared["metadata"]["uid"]
