"""The sandbox's control plane is a real, version-stamped Kubernetes that validates, schedules and collects garbage."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from vaultext_sandbox import Kube
from vaultext_sandbox.binaries import KUBERNETES_VERSION

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.sandbox.test"},
    "spec": {
        "group": "sandbox.test",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {"size": {"type": "integer", "minimum": 1}},
                }},
            }},
        }],
    },
}


def eventually(check: Callable[[], Any], timeout: float = 60, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def test_kubectl_reports_the_pinned_server_version(kube: Kube) -> None:
    version = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert version["clientVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_crd_is_served_and_its_schema_enforced(kube: Kube, namespace: str) -> None:
    kube.kubectl("apply", "-f", "-", input=json.dumps(WIDGET_CRD))
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.sandbox.test", "--timeout=30s")
    good = {"apiVersion": "sandbox.test/v1", "kind": "Widget", "metadata": {"name": "ok", "namespace": namespace},
            "spec": {"size": 3}}
    kube.kubectl("apply", "-f", "-", input=json.dumps(good))
    assert kube.kubectl("get", "widget", "ok", "-n", namespace, "-o", "name").stdout.strip() == "widget.sandbox.test/ok"

    bad = {**good, "metadata": {"name": "bad", "namespace": namespace}, "spec": {"size": 0}}
    refused = kube.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode != 0
    assert "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1" in refused.stderr


def test_gpu_pods_beyond_capacity_stay_pending_with_the_schedulers_reason(kube: Kube, namespace: str) -> None:
    product = "SANDBOX-TEST-GPU"
    nodes = kube.add_gpu_nodes(2, gpus_per_node=1, product=product)
    try:
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "gpu-hungry", "namespace": namespace},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "gpu-hungry"}},
                "template": {
                    "metadata": {"labels": {"app": "gpu-hungry"}},
                    "spec": {
                        "nodeSelector": {"nvidia.com/gpu.product": product},
                        "containers": [{"name": "model", "image": "example.invalid/model:1",
                                        "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
                    },
                },
            },
        }
        client.AppsV1Api(kube.api).create_namespaced_deployment(namespace, deployment)
        core = client.CoreV1Api(kube.api)

        def phases() -> dict[str, int] | None:
            pods = core.list_namespaced_pod(namespace, label_selector="app=gpu-hungry").items
            counted: dict[str, int] = {}
            for pod in pods:
                counted[pod.status.phase] = counted.get(pod.status.phase, 0) + 1
            return counted if counted == {"Running": 2, "Pending": 1} else None

        assert eventually(phases), core.list_namespaced_pod(namespace).items
        pending = next(pod for pod in core.list_namespaced_pod(namespace, label_selector="app=gpu-hungry").items
                       if pod.status.phase == "Pending")
        scheduled = next(c for c in pending.status.conditions if c.type == "PodScheduled")
        assert scheduled.reason == "Unschedulable"
        assert "Insufficient nvidia.com/gpu" in scheduled.message
        running_on = {pod.spec.node_name for pod in core.list_namespaced_pod(namespace).items
                      if pod.status.phase == "Running"}
        assert running_on == set(nodes)
    finally:
        kube.delete_nodes(nodes)


def test_deleting_an_owner_garbage_collects_its_dependents(kube: Kube, namespace: str) -> None:
    core = client.CoreV1Api(kube.api)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    core.create_namespaced_config_map(namespace, {"metadata": {
        "name": "dependent",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}],
    }})
    core.delete_namespaced_config_map("owner", namespace)

    def collected() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except client.ApiException as error:
            return error.status == 404
        return False

    assert eventually(collected, timeout=60)


@pytest.mark.parametrize("resource", ["nvidia.com/mig-1g.10gb", "nvidia.com/gpu.shared"])
def test_gpu_nodes_can_offer_mig_and_time_sliced_resources(kube: Kube, resource: str) -> None:
    nodes = kube.add_gpu_nodes(1, extra_resources={resource: "7"}, taint=True)
    try:
        node = client.CoreV1Api(kube.api).read_node(nodes[0])
        assert node.status.allocatable[resource] == "7"
        assert node.status.allocatable["nvidia.com/gpu"] == "1"
        assert node.metadata.labels["nvidia.com/gpu.present"] == "true"
        assert [(t.key, t.effect) for t in node.spec.taints] == [("nvidia.com/gpu", "NoSchedule")]
    finally:
        kube.delete_nodes(nodes)


def test_fake_nodes_renew_their_lease_so_they_stay_ready(kube: Kube) -> None:
    nodes = kube.add_gpu_nodes(1)
    leases = client.CoordinationV1Api(kube.api)
    try:
        def renew_time() -> Any:
            try:
                return leases.read_namespaced_lease(nodes[0], "kube-node-lease").spec.renew_time
            except client.ApiException as error:
                if error.status == 404:
                    return None
                raise

        first = eventually(renew_time, timeout=30)
        assert first is not None, "kwok keeps no lease: the controller-manager would mark the node NotReady"
        assert eventually(lambda: (renew_time() or first) > first, timeout=30)
    finally:
        kube.delete_nodes(nodes)
