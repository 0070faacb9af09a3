"""Helpers for autoscaling tests against the sandbox: the operator as a real process, reads and waits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client

REPOSITORY = Path(__file__).resolve().parents[2]
CRD_FILE = REPOSITORY / "crds" / "vaultextensions.vault.kerberos.io.yaml"
GROUP, VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def install_crd(kube: Any) -> None:
    """Applies the CRD until it is Established (a just-started apiserver may still answer 429/NotFound)."""
    def established() -> bool:
        applied = kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE), check=False)
        waited = kube.kubectl("wait", "--for=condition=Established", "--timeout=10s", f"crd/{PLURAL}.{GROUP}",
                              check=False)
        return bool(applied.returncode == 0 and waited.returncode == 0)

    wait_for(established, 60, "the VaultExtension CRD", 1.0)


def create_vault_secret(kube: Any, namespace: str) -> None:
    kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                 "--from-literal=accessKey=AK-test", "--from-literal=secretKey=not-a-secret")


@contextmanager
def running_operator(kube: Any, namespace: str, log_path: Path, **settings: str) -> Iterator[int]:
    """`python -m vaultext_operator run` watching one namespace; yields its /metrics port."""
    health, metrics = free_port(), free_port()
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "VAULTEXT_OPERATOR_HEALTH_PORT": str(health),
           "VAULTEXT_OPERATOR_METRICS_PORT": str(metrics), "VAULTEXT_OPERATOR_RETRY_DELAY_SECONDS": "1",
           **{f"VAULTEXT_OPERATOR_{key.upper()}": value for key, value in settings.items()}}
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "vaultext_operator", "run", "--namespace", namespace],
                                   env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"operator exited: {log_path.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz", timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    try:
        wait_for(healthy, 60, "the operator's /healthz", 0.3)
        yield metrics
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        print(f"--- operator log (tail) ---\n{log_path.read_text(errors='replace')[-5000:]}")


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
