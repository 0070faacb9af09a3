"""`engine: keda` against real KEDA: the ScaledObject the operator renders drives a Deployment through KEDA's
metrics adapter and the controller-manager's HPA, and KEDA's own partition cap lands at partitions + 1 (the case
docs/autoscaling.md explains and the builtin engine avoids). Skipped, with the reason, without KEDA's optional build."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.builders.keda import scaled_object, trigger_metadata
from vaultext_sandbox import Sandbox
from vaultext_sandbox.errors import StartupError
from vaultext_sandbox.kafka import Kafka
from vaultext_sandbox.netns import namespace_id, tcp_listeners

from .kafka_helpers import commit, create_topic, produce, unique

PARTITIONS, LAG_PER_PARTITION = 5, 11  # lag 55: 55 // 10 = 5 is not above 5 partitions, so KEDA does not cap


def test_keda_needs_a_sandbox_made_for_it(tmp_path: Path) -> None:
    sandbox = Sandbox(workdir=tmp_path)
    with pytest.raises(StartupError, match=r"Sandbox\(with_keda=True\)"):
        sandbox.keda()
    assert sandbox.control_plane is None  # refused before starting anything


@pytest.mark.kube
def test_no_keda_process_listens_beyond_loopback_on_the_host(keda_sandbox: Sandbox) -> None:
    """The adapter binds its /metrics on every interface: in its own network namespace that is its loopback only,
    and every socket KEDA's processes and their relays listen on in the host's namespace is on 127.0.0.1."""
    keda = keda_sandbox.keda()
    pids = {process.name: process.pid for process in keda.processes}
    assert None not in pids.values() and set(pids) >= {"keda-operator", "keda-adapter", "keda-relay-host"}
    listeners = tcp_listeners(pid for pid in pids.values() if pid is not None)
    names = {pid: name for name, pid in pids.items()}
    on_host = sorted((names[pid], address, port) for pid, found in listeners.items() for address, port in found)
    assert [entry for entry in on_host if entry[1] != "127.0.0.1"] == []
    # The adapter's secure port reaches the host only through the relay; its /metrics not at all.
    assert {name for name, _, _ in on_host} == {"keda-operator", "keda-relay-host"}, on_host
    assert namespace_id(pids["keda-adapter"]) == namespace_id(pids["keda-relay-netns"]) != namespace_id("self")


def deployment(name: str, namespace: str) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"nodeSelector": {"type": "kwok"},
                                           "containers": [{"name": "worker", "image": "registry.example.com/w:1"}]}}}}


def replicas(apps: client.AppsV1Api, name: str, namespace: str) -> int:
    return int(apps.read_namespaced_deployment(name, namespace).spec.replicas or 0)


@pytest.mark.kube
@pytest.mark.slow
def test_real_keda_scales_the_rendered_scaled_object_to_partitions_plus_one(keda_sandbox: Sandbox,
                                                                              kafka: Kafka) -> None:
    kube = keda_sandbox.kube()
    nodes = kube.add_gpu_nodes(1)
    namespace, name, topic, group = unique("keda"), "yolo", unique("live"), unique("group")
    core, apps = client.CoreV1Api(kube.api), client.AppsV1Api(kube.api)
    core.create_namespace({"metadata": {"name": namespace}})
    try:
        create_topic(kafka.bootstrap, topic, PARTITIONS)
        commit(kafka.bootstrap, group, topic, dict.fromkeys(range(PARTITIONS), 0))
        produce(kafka.bootstrap, topic, dict.fromkeys(range(PARTITIONS), LAG_PER_PARTITION))
        apps.create_namespaced_deployment(namespace, deployment(name, namespace))
        spec = AutoscalingSpec(engine="keda", min_replicas=1, max_replicas=12, lag_threshold=10, polling_interval=2)
        rendered = scaled_object(name, namespace, {}, spec, trigger_metadata(spec, kafka.bootstrap, group, topic),
                                 None)
        client.CustomObjectsApi(kube.api).create_namespaced_custom_object("keda.sh", "v1alpha1", namespace,
                                                                          "scaledobjects", rendered)
        deadline = time.monotonic() + 120
        while replicas(apps, name, namespace) == 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        # One HPA step straight to the count (the rendered behavior allows it), and it stays there.
        assert replicas(apps, name, namespace) == PARTITIONS + 1
        time.sleep(20)  # longer than one HPA sync period (15 s)
        assert replicas(apps, name, namespace) == PARTITIONS + 1
        hpa = client.AutoscalingV2Api(kube.api).read_namespaced_horizontal_pod_autoscaler(f"keda-hpa-{name}",
                                                                                           namespace)
        assert [(p.type, p.value) for p in hpa.spec.behavior.scale_up.policies] == [("Pods", 12)]
    finally:
        core.delete_namespace(namespace)
        kube.delete_nodes(nodes)
