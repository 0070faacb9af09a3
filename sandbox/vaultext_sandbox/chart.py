"""The Helm chart (charts/vaultext) and the kustomize base (manifests/) rendered as parsed objects, and the chart
installed into a sandbox with the sandbox's own Helm build."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from .binaries import ensure
from .images import REPO
from .node.real_node import REAL_NODE_TOLERATION
from .sandbox import Sandbox

CHART = REPO / "charts" / "vaultext"
KUSTOMIZE_BASE = REPO / "manifests"
RELEASE = "vaultext"
NAMESPACE = "vaultext-system"
# Labels only Helm adds (release bookkeeping): the kustomize base has no release to name.
HELM_ONLY_LABELS = ("app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "helm.sh/chart")

Manifest = dict[str, Any]


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the sandbox's Helm; with ``check``, a failure raises with Helm's own message."""
    config = [f"--kubeconfig={kubeconfig}"] if kubeconfig else []
    completed = subprocess.run([str(ensure("helm") / "helm"), *config, *args], capture_output=True, text=True,
                               check=False, timeout=300)
    if check and completed.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed (exit {completed.returncode}): "
                           f"{completed.stderr.strip() or completed.stdout.strip()}")
    return completed


def parse_documents(text: str) -> list[Manifest]:
    return [document for document in yaml.safe_load_all(text) if document]


def render_chart(*values: str, chart: Path = CHART) -> list[Manifest]:
    """``helm template`` with the CRDs, into the namespace the kustomize base uses; ``values`` are ``--set`` pairs."""
    sets = [argument for pair in values for argument in ("--set", pair)]
    rendered = helm("template", RELEASE, str(chart), "--namespace", NAMESPACE, "--include-crds", *sets)
    return parse_documents(rendered.stdout)


def render_kustomize(base: Path = KUSTOMIZE_BASE) -> list[Manifest]:
    completed = subprocess.run([str(ensure("kubernetes") / "kubectl"), "kustomize", str(base)], capture_output=True,
                               text=True, check=False, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {base} failed: {completed.stderr.strip()}")
    return parse_documents(completed.stdout)


def comparable(objects: list[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    """Objects by (kind, namespace, name), without Helm's bookkeeping labels (an object left without labels loses
    the empty map too)."""
    found: dict[tuple[str, str, str], Manifest] = {}
    for item in objects:
        metadata = item.get("metadata") or {}
        labels = {k: v for k, v in (metadata.get("labels") or {}).items() if k not in HELM_ONLY_LABELS}
        cleaned = {**item, "metadata": {**metadata, "labels": labels}}
        if not labels:
            del cleaned["metadata"]["labels"]
        key = (str(item.get("kind")), str(metadata.get("namespace", "")), str(metadata.get("name")))
        if key in found:
            raise ValueError(f"{key} rendered twice")
        found[key] = cleaned
    return found


def sandbox_values(sandbox: Sandbox, image: str, vault_url: str, watch: list[str]) -> dict[str, Any]:
    """Values that put the operator on the sandbox's real node with the built image, and give it the sandbox's
    addresses as pods see them (no kube-proxy in the sandbox: the in-cluster apiserver address is the relay)."""
    assert sandbox.apiserver_from_pods, "the real node is not up"
    kafka = sandbox.kafka()
    assert kafka.bridge_bootstrap, "Kafka does not listen on the bridge"
    host, port = sandbox.apiserver_from_pods.rsplit(":", 1)
    repository, tag = image.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag},
        "watchNamespaces": watch,
        "nodeSelector": {"kubernetes.io/hostname": sandbox.node().name},
        "tolerations": [REAL_NODE_TOLERATION],
        "settings": {"kafkaBootstrapServers": kafka.bridge_bootstrap, "vaultUrl": vault_url},
        "extraEnv": [{"name": "KUBERNETES_SERVICE_HOST", "value": host},
                     {"name": "KUBERNETES_SERVICE_PORT", "value": port}],
    }


def install_chart(sandbox: Sandbox, release: str, namespace: str, values: dict[str, Any]) -> None:
    """``helm install`` of charts/vaultext into ``namespace`` (made when missing)."""
    values_file = sandbox.workdir / f"{release}-values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    helm("install", release, str(CHART), "--namespace", namespace, "--create-namespace", "--values",
         str(values_file), kubeconfig=sandbox.kube().kubeconfig)


def uninstall_chart(sandbox: Sandbox, release: str, namespace: str) -> None:
    """``helm uninstall`` (the CRD stays, as Helm leaves every CRD it installed from crds/)."""
    helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "2m",
         kubeconfig=sandbox.kube().kubeconfig)
