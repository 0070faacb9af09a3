"""Pause annotation, engine switch to and from KEDA, and the Prometheus source (with an outage) through the
real operator process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import create_topic, produce, unique
from .test_keda_render import keda_crd_dir

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
POLL = 1
PAUSED = "autoscaling.vault.kerberos.io/paused-replicas"


@pytest.fixture
def operator_metrics(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[tuple[Cluster, int]]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    with running_operator(kube, namespace, tmp_path / "operator.log",
                          kafka_bootstrap_servers=kafka.bootstrap) as metrics_port:
        yield Cluster(kube.api, namespace), metrics_port


def test_pause_annotation_freezes_then_releases(operator_metrics: tuple[Cluster, int], kafka: Any) -> None:
    cluster, _ = operator_metrics
    topic, name = unique("rec"), "paused"
    create_topic(kafka.bootstrap, topic, 6)
    cluster.create(extension(name, cluster.namespace, topic, {"maxReplicas": 6, "pollingInterval": POLL}))
    wait_for(lambda: cluster.replicas(name) == 1, 30, "one replica")
    cluster.annotate(name, {PAUSED: "2"})
    cluster.watch_replicas(name, 2, 10)
    produce(kafka.bootstrap, topic, {p: 50 for p in range(6)})
    time.sleep(4 * POLL)
    assert cluster.replicas(name) == 2
    assert cluster.condition(name, "ScalingActive")["reason"] == "Paused"
    cluster.annotate(name, {PAUSED: None})
    cluster.watch_replicas(name, 6, 10)


def test_engine_keda_renders_a_scaled_object_and_switching_back_removes_it(
        operator_metrics: tuple[Cluster, int], kube: Any, kafka: Any) -> None:
    cluster, _ = operator_metrics
    bases = keda_crd_dir()
    for crd in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(bases / crd))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/scaledobjects.keda.sh")
    topic, name = unique("rec"), "keda"
    create_topic(kafka.bootstrap, topic, 4)
    cluster.create(extension(name, cluster.namespace, topic,
                             {"engine": "keda", "maxReplicas": 4, "lagThreshold": 7, "pollingInterval": POLL}))

    def scaled_object() -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
                "keda.sh", "v1alpha1", cluster.namespace, "scaledobjects", name)
            return found
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    rendered = wait_for(scaled_object, 30, "the ScaledObject")
    assert rendered["spec"]["triggers"][0]["metadata"]["lagThreshold"] == "7"
    assert rendered["spec"]["triggers"][0]["metadata"]["topic"] == topic
    assert rendered["metadata"]["ownerReferences"][0]["name"] == name
    wait_for(lambda: cluster.condition(name, "ScalingActive").get("reason") == "KedaScaledObject", 10,
             "ScalingActive=KedaScaledObject")
    produce(kafka.bootstrap, topic, {p: 50 for p in range(4)})
    time.sleep(3 * POLL)
    assert cluster.replicas(name) == 1  # KEDA's HPA owns replicas now; the builtin engine keeps out
    cluster.patch_autoscaling(name, {"engine": "builtin"})
    wait_for(lambda: scaled_object() is None, 30, "the ScaledObject removed")
    cluster.watch_replicas(name, 4, 15)


@pytest.mark.prometheus
def test_prometheus_source_scales_and_survives_an_outage(operator_metrics: tuple[Cluster, int], kafka: Any,
                                                         prometheus: Any) -> None:
    cluster, metrics_port = operator_metrics
    prometheus.add_target(unique("operator"), f"127.0.0.1:{metrics_port}")
    topic = unique("rec")
    create_topic(kafka.bootstrap, topic, 6)
    produce(kafka.bootstrap, topic, {p: 30 for p in range(3)})
    # "exporter" reads Kafka and exports its group's lag on /metrics; "reader" scales on that series.
    cluster.create(extension("exporter", cluster.namespace, topic, {"maxReplicas": 6, "pollingInterval": POLL}))
    group = f"vaultext-{cluster.namespace}-exporter"
    query = f'sum by (partition) (kafka_consumergroup_lag{{consumergroup="{group}",topic="{{topic}}"}})'
    cluster.create(extension("reader", cluster.namespace, topic, {
        "maxReplicas": 6, "lagThreshold": 30, "pollingInterval": POLL, "scaleDownStabilizationSeconds": 0,
        "source": {"type": "prometheus", "serverAddress": prometheus.url, "query": query}}))
    cluster.watch_replicas("reader", 3, 60)
    prometheus.stop()
    try:
        down = wait_for(lambda: cluster.condition("reader", "ScalingActive").get("reason") == "LagUnreadable"
                        and cluster.condition("reader", "ScalingActive"), 30, "ScalingActive=False")
        assert prometheus.url in down["message"]
        time.sleep(3 * POLL)
        assert cluster.replicas("reader") == 3
    finally:
        prometheus.start()
    wait_for(lambda: cluster.condition("reader", "ScalingActive").get("status") == "True", 60, "recovered")
    produce(kafka.bootstrap, topic, {p: 30 for p in range(3, 6)})
    cluster.watch_replicas("reader", 6, 60)
