"""The handle tests and people use to reach the sandbox cluster, and its fake GPU nodes."""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config

from .binaries import ensure
from .errors import StartupError

GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_GPU_PRODUCT = "NVIDIA-A100-SXM4-40GB"


def gpu_node_manifest(
    name: str,
    gpus_per_node: int,
    product: str,
    resource: str,
    extra_resources: dict[str, str],
    taint: bool,
) -> dict[str, Any]:
    """A kwok-managed node that advertises GPUs the way the NVIDIA device plugin and GPU feature discovery do."""
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110", "ephemeral-storage": "500Gi",
                 resource: str(gpus_per_node), **extra_resources}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "nvidia.com/gpu.present": "true",
                "nvidia.com/gpu.product": product,
                "nvidia.com/gpu.count": str(gpus_per_node),
            },
        },
        "spec": {"taints": [{"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}] if taint else []},
        "status": {
            "allocatable": resources,
            "capacity": resources,
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake",
                         "kubeProxyVersion": "fake", "containerRuntimeVersion": "fake", "kernelVersion": "fake",
                         "osImage": "fake", "machineID": "", "systemUUID": "", "bootID": ""},
            "phase": "Running",
        },
    }


@dataclass
class Kube:
    kubeconfig: Path
    server: str
    api: client.ApiClient = field(init=False)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))

    @property
    def kubectl_path(self) -> Path:
        return ensure("kubernetes") / "kubectl"

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input, capture_output=True, text=True, check=False, timeout=120,
        )
        if check and completed.returncode != 0:
            raise subprocess.CalledProcessError(
                completed.returncode, completed.args, completed.stdout, completed.stderr
            )
        return completed

    def add_gpu_nodes(
        self,
        count: int,
        gpus_per_node: int = 1,
        product: str = DEFAULT_GPU_PRODUCT,
        resource: str = GPU_RESOURCE,
        extra_resources: dict[str, str] | None = None,
        taint: bool = False,
        prefix: str = "gpu",
    ) -> list[str]:
        """Create ``count`` fake GPU nodes; a plain create (not server-side apply) so their status is kept."""
        core = client.CoreV1Api(self.api)
        batch = uuid.uuid4().hex[:6]
        names = [f"{prefix}-{batch}-{index}" for index in range(count)]
        for name in names:
            manifest = gpu_node_manifest(name, gpus_per_node, product, resource, extra_resources or {}, taint)
            core.create_node(manifest)
        self.wait_nodes_ready(names)
        return names

    def wait_nodes_ready(self, names: list[str], timeout: float = 60) -> None:
        """Wait until kwok reports the nodes Ready and the controller-manager lifted its not-ready taint."""
        core = client.CoreV1Api(self.api)
        deadline = time.monotonic() + timeout
        pending = set(names)
        while pending:
            for name in sorted(pending):
                node = core.read_node(name)
                ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
                tainted = any(t.key.startswith("node.kubernetes.io/") for t in node.spec.taints or [])
                if ready and not tainted:
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise StartupError(f"fake GPU nodes {sorted(pending)} not Ready after {timeout:.0f} s; is kwok up?")
            if pending:
                time.sleep(0.1)

    def delete_nodes(self, names: list[str]) -> None:
        core = client.CoreV1Api(self.api)
        for name in names:
            try:
                core.delete_node(name)
            except client.ApiException as error:
                if error.status != 404:
                    raise
