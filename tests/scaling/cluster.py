"""Helpers for autoscaling tests against the sandbox: the operator as a real process, reads and waits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubernetes import client

from ..reconcile.cluster_helpers import OperatorProcess, free_port, install_crd, wait_for

__all__ = ["Cluster", "create_vault_secret", "extension", "install_crd", "running_operator", "wait_for"]

GROUP, VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"


def create_vault_secret(kube: Any, namespace: str) -> None:
    kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                 "--from-literal=accessKey=AK-test", "--from-literal=secretKey=not-a-secret")


@contextmanager
def running_operator(kube: Any, namespace: str, log_path: Path, **settings: str) -> Iterator[int]:
    """`python -m vaultext_operator run` watching one namespace; yields its /metrics port."""
    metrics = free_port()
    operator = OperatorProcess(kube, namespace, log_path, metrics_port=str(metrics), **settings)
    operator.start()
    try:
        yield metrics
    finally:
        operator.stop()
        print(f"--- operator log (tail) ---\n{operator.log()}")


def extension(name: str, namespace: str, topic: str, autoscaling: dict[str, Any],
              gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "VaultExtension",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"image": "registry.example.com/acme/yolo:1.2", "gpu": gpu or {"count": 0},
                 "kafka": {"input": {"topic": topic}}, "autoscaling": autoscaling},
    }


class Cluster:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.apps = client.AppsV1Api(api)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def create(self, body: dict[str, Any]) -> None:
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, body)

    def patch_autoscaling(self, name: str, fields: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name,
                                                   {"spec": {"autoscaling": fields}})

    def annotate(self, name: str, annotations: dict[str, str | None]) -> None:
        self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name,
                                                   {"metadata": {"annotations": annotations}})

    def get(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace,
                                                                        PLURAL, name)
        return body

    def replicas(self, name: str) -> int | None:
        try:
            deployment = self.apps.read_namespaced_deployment(name, self.namespace)
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise
        return int(deployment.spec.replicas) if deployment.spec.replicas is not None else None

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        for entry in self.get(name).get("status", {}).get("conditions", []):
            if entry["type"] == kind:
                return dict(entry)
        return {}

    def events(self, name: str, reason: str) -> list[str]:
        items = self.core.list_namespaced_event(self.namespace, field_selector=f"involvedObject.name={name}").items
        return [e.message for e in items if e.reason == reason]

    def pods(self, name: str) -> list[Any]:
        pods: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=f"{GROUP}/extension={name}").items
        return pods

    def watch_replicas(self, name: str, want: int, timeout: float) -> float:
        """Seconds (monotonic clock) at which the Deployment first asked for `want` replicas."""
        wait_for(lambda: self.replicas(name) == want, timeout, f"{name} at {want} replicas", 0.05)
        return time.monotonic()
