"""The operator as a real process against the sandbox: from a five-line CR to running GPU pods, and back."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import yaml

from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, condition, get_json, wait_for

pytestmark = pytest.mark.slow

IMAGE = "registry.example.com/acme/yolo:1.2"
CHILDREN = ("deployment/yolo", "configmap/yolo-config", "service/yolo-metrics", "poddisruptionbudget/yolo")


def apply_cr(kube: Kube, namespace: str, spec: dict[str, Any], name: str = "yolo") -> None:
    document = {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": name}}
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump({**document, "spec": spec}))


def extension(kube: Kube, namespace: str, name: str = "yolo") -> dict[str, Any] | None:
    found: dict[str, Any] | None = get_json(kube, "vext", name, "-n", namespace)
    return found


def ready(kube: Kube, namespace: str, name: str = "yolo") -> dict[str, Any]:
    return condition(extension(kube, namespace, name), "Ready")


def status(kube: Kube, namespace: str, name: str = "yolo") -> dict[str, Any]:
    return dict((extension(kube, namespace, name) or {}).get("status", {}))


def deployment_status(kube: Kube, namespace: str) -> dict[str, Any]:
    return dict((get_json(kube, "deployment", "yolo", "-n", namespace) or {}).get("status", {}))


def scheduled_pods(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    pods = (get_json(kube, "pods", "-n", namespace) or {}).get("items", [])
    return [pod for pod in pods if pod["spec"].get("nodeName")]


def events_of(kube: Kube, namespace: str, reason: str) -> str:
    selector = f"reason={reason},involvedObject.kind=VaultExtension"
    return kube.kubectl("get", "events", "-n", namespace, "--field-selector", selector).stdout


def blocked_by(kube: Kube, namespace: str, reason: str) -> dict[str, Any]:
    found = ready(kube, namespace)
    return found if found.get("reason") == reason else {}


def test_five_line_cr_becomes_ready_gpu_pods(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    started = time.monotonic()
    apply_cr(kube, namespace, {"image": IMAGE})
    deployment = wait_for(lambda: get_json(kube, "deployment", "yolo", "-n", namespace), 5, "the Deployment")
    assert time.monotonic() - started < 5
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    env = {variable["name"]: variable for variable in container["env"]}
    for name in ("QUEUE_SYSTEM", "QUEUE_NAME", "QUEUE_TARGET", "KAFKA_BROKER", "KAFKA_GROUP", "VAULT_API_URL",
                 "VAULT_ACCESS_KEY", "VAULT_SECRET_KEY", "NUMBER_OF_PREDICTIONS", "VAULTEXT_CONFIG"):
        assert name in env, name
    assert env["VAULT_SECRET_KEY"]["valueFrom"]["secretKeyRef"] == {"name": vault_secret, "key": "secretKey"}
    assert "not-a-real-secret" not in str(deployment)
    assert "readinessProbe" not in container  # an image not built on the vaultext runtime serves no /readyz
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    pods = wait_for(lambda: scheduled_pods(kube, namespace), 30, "a scheduled pod")
    node = get_json(kube, "node", pods[0]["spec"]["nodeName"])
    assert node is not None and node["metadata"]["labels"].get("nvidia.com/gpu.present") == "true"

    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True")
    table = kube.kubectl("get", "vext", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "REPLICAS", "READY", "LAG", "AGE"]
    assert table[1].split()[:4] == ["yolo", IMAGE, "1", "True"]
    wait_for(lambda: "pods ready" in events_of(kube, namespace, "Available"), 10, "an Available event")
    stored = extension(kube, namespace) or {}
    assert "kopf" not in stored["status"]  # kopf keeps no per-object state: no status field, no annotation
    assert not [key for key in stored["metadata"].get("annotations") or {}
                if key.startswith(("vault.kerberos.io/", "kopf"))], stored["metadata"]
    assert "Handler '" not in operator.log()  # kopf's per-change lines stay out of the log


def test_reconciling_again_changes_nothing(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    product, _ = gpu_nodes
    apply_cr(kube, namespace, {"image": IMAGE, "gpu": {"product": product}, "autoscaling": {"engine": "none"}})
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True")

    def versions() -> dict[str, Any]:
        found = {child: (get_json(kube, child, "-n", namespace) or {})["metadata"] for child in CHILDREN}
        return {child: (meta["resourceVersion"], meta.get("generation")) for child, meta in found.items()}

    before = versions()
    operator.stop()
    operator.start()  # looks at every extension again
    wait_for(lambda: "VaultExtension cache: 1 listed" in operator.log(), 30, "the extension watch")
    time.sleep(5)  # the reconcile queue looks at it meanwhile
    assert versions() == before


def test_image_change_rolls_and_scale_and_delete(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    product, _ = gpu_nodes
    spec = {"image": IMAGE, "gpu": {"product": product}, "autoscaling": {"engine": "none"}}
    apply_cr(kube, namespace, spec)
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True")

    apply_cr(kube, namespace, {**spec, "image": "registry.example.com/acme/yolo:1.3"})
    wait_for(
        lambda: status(kube, namespace).get("image") == "registry.example.com/acme/yolo:1.3"
        and ready(kube, namespace).get("status") == "True",
        60, "the new image rolled out",
    )  # fmt: skip
    replica_sets = get_json(kube, "replicasets", "-n", namespace) or {}
    assert len(replica_sets["items"]) == 2  # one per template: the rollout made a new one

    kube.kubectl("scale", "vext/yolo", "-n", namespace, "--replicas=3")
    wait_for(lambda: deployment_status(kube, namespace).get("readyReplicas") == 3, 60, "3 ready replicas")
    wait_for(lambda: status(kube, namespace).get("replicas") == 3, 30, "status.replicas=3")

    kube.kubectl("delete", "vext", "yolo", "-n", namespace, "--wait=true")
    wait_for(
        lambda: all(get_json(kube, child, "-n", namespace) is None for child in CHILDREN), 60, "garbage collection"
    )


def test_missing_secret_blocks_then_recovers(
    kube: Kube, namespace: str, operator: OperatorProcess, gpu_nodes: tuple[str, list[str]]
) -> None:
    apply_cr(kube, namespace, {"image": IMAGE, "gpu": {"count": 0}})
    blocked = wait_for(lambda: blocked_by(kube, namespace, "SecretNotFound"), 15, "Ready=False SecretNotFound")
    assert blocked["status"] == "False" and "vault-credentials" in blocked["message"]
    assert get_json(kube, "deployment", "yolo", "-n", namespace) is None  # nothing half-applied
    wait_for(lambda: "vault-credentials" in events_of(kube, namespace, "SecretNotFound"), 10, "a SecretNotFound event")

    kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                 "--from-literal=accessKey=a", "--from-literal=secretKey=b")
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "recovery to Ready=True")
    assert operator.process is not None and operator.process.poll() is None


def test_gpu_resource_no_node_offers_blocks_then_recovers(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str
) -> None:
    resource = f"example.com/gpu-{namespace}"
    apply_cr(kube, namespace, {"image": IMAGE, "gpu": {"resourceName": resource}})
    blocked = wait_for(lambda: blocked_by(kube, namespace, "GpuResourceUnavailable"), 15, "GpuResourceUnavailable")
    assert resource in blocked["message"]
    assert get_json(kube, "deployment", "yolo", "-n", namespace) is None
    nodes = kube.add_gpu_nodes(1, resource=resource)
    try:
        wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "recovery to Ready=True")
    finally:
        kube.delete_nodes(nodes)


def comparable_children(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The children of one extension with its name blanked out and server-set fields dropped."""
    found: dict[str, Any] = {}
    for kind in ("deployment", "configmap", "service", "poddisruptionbudget", "replicaset"):
        items = (get_json(kube, kind, "-n", namespace, "-l", f"app.kubernetes.io/instance={name}") or {})["items"]
        if kind == "replicaset":
            items = (get_json(kube, kind, "-n", namespace, "-l", f"vault.kerberos.io/extension={name}") or {})["items"]
        found[kind] = [
            re.sub(r"pod-template-hash: \S+", "", yaml.safe_dump({"data": item.get("data"), "spec": item.get("spec")}))
            .replace(name, "NAME")
            for item in items
        ]
        for drop in ("clusterIP", "clusterIPs"):
            found[kind] = [text for text in found[kind] if drop not in text] or found[kind]
    return found


def test_sigkill_mid_reconcile_leaves_no_duplicates_and_the_same_state(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    product, _ = gpu_nodes
    spec = {"image": IMAGE, "gpu": {"product": product}, "autoscaling": {"engine": "none"}, "replicas": 2}
    apply_cr(kube, namespace, spec, name="calm")
    wait_for(lambda: ready(kube, namespace, "calm").get("status") == "True", 60, "calm Ready=True")

    apply_cr(kube, namespace, spec, name="crash")
    # The first child is applied: kill before the reconcile can finish the rest.
    wait_for(lambda: get_json(kube, "configmap", "crash-config", "-n", namespace), 10, "the first child", 0.02)
    operator.kill()
    interrupted = get_json(kube, "deployment", "crash", "-n", namespace)
    operator.start()
    wait_for(lambda: ready(kube, namespace, "crash").get("status") == "True", 60, "crash Ready=True after restart")
    wait_for(lambda: status(kube, namespace, "crash").get("readyReplicas") == 2, 30, "2 ready replicas")

    calm, crash = comparable_children(kube, namespace, "calm"), comparable_children(kube, namespace, "crash")
    assert {kind: len(items) for kind, items in crash.items()} == {
        "deployment": 1, "configmap": 1, "service": 1, "poddisruptionbudget": 1, "replicaset": 1,
    }, f"interrupted with Deployment present: {interrupted is not None}"  # fmt: skip
    assert crash == calm


def test_more_extensions_than_worker_threads_all_reconcile(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str
) -> None:
    """Long-lived per-extension handlers must not starve the reconcile of kopf's threads (8 of them)."""
    names = [f"many-{index}" for index in range(12)]
    documents = [
        {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": name},
         "spec": {"image": IMAGE, "gpu": {"count": 0}}}
        for name in names
    ]  # fmt: skip
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(documents))

    def deployments() -> set[str]:
        items = (get_json(kube, "deployments", "-n", namespace) or {}).get("items", [])
        return {item["metadata"]["name"] for item in items}

    wait_for(lambda: deployments() == set(names), 30, "a Deployment for each of 12 extensions")


def test_a_child_the_apiserver_refuses_applies_nothing_and_recovers(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    product, _ = gpu_nodes
    spec: dict[str, Any] = {"image": IMAGE, "gpu": {"product": product}, "autoscaling": {"engine": "none"}}
    apply_cr(kube, namespace, {**spec, "config": {"threshold": 0.5}})
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True")
    config_before = (get_json(kube, "configmap", "yolo-config", "-n", namespace) or {})["data"]

    # A sidecar without an image: the schema cannot tell (free-form podTemplate), the apiserver refuses it.
    broken = {**spec, "image": "registry.example.com/acme/yolo:2.0", "config": {"threshold": 0.9},
              "podTemplate": {"spec": {"containers": [{"name": "sidecar"}]}}}  # fmt: skip
    apply_cr(kube, namespace, broken)
    refused = wait_for(lambda: blocked_by(kube, namespace, "ApplyFailed"), 20, "Ready=False ApplyFailed")
    assert "image" in refused["message"]
    deployment = get_json(kube, "deployment", "yolo", "-n", namespace) or {}
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE  # untouched
    assert (get_json(kube, "configmap", "yolo-config", "-n", namespace) or {})["data"] == config_before

    apply_cr(kube, namespace, {**broken, "podTemplate": None})
    wait_for(
        lambda: status(kube, namespace).get("image") == "registry.example.com/acme/yolo:2.0"
        and ready(kube, namespace).get("status") == "True",
        60, "recovery with the fixed spec",
    )  # fmt: skip


def test_a_deployment_deleted_by_hand_comes_back(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str, gpu_nodes: tuple[str, list[str]]
) -> None:
    product, _ = gpu_nodes
    apply_cr(kube, namespace, {"image": IMAGE, "gpu": {"product": product}, "autoscaling": {"engine": "none"}})
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True")
    first_uid = (get_json(kube, "deployment", "yolo", "-n", namespace) or {})["metadata"]["uid"]
    kube.kubectl("delete", "deployment", "yolo", "-n", namespace, "--wait=true")

    def recreated() -> bool:
        found = get_json(kube, "deployment", "yolo", "-n", namespace)
        return found is not None and found["metadata"]["uid"] != first_uid

    wait_for(recreated, 15, "the Deployment re-created")
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 60, "Ready=True again")
