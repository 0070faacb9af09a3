"""`helm install` against the sandbox's apiserver without a real node: the apiserver accepts every object of the chart
(what `helm template` and `helm lint` cannot tell) and `helm uninstall` takes them away again. No operator runs here:
kwok pods run nothing, so a working operator is the node suite's (tests/node/test_helm_install.py), and one outside the
cluster is tests/scaling/test_dashboard_operator.py's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from vaultext_sandbox import Kube
from vaultext_sandbox.chart import CHART, helm, parse_documents

pytestmark = pytest.mark.kube


def present(kube: Kube, manifest: dict[str, Any]) -> bool:
    metadata = manifest["metadata"]
    where = ["-n", metadata["namespace"]] if metadata.get("namespace") else []
    found = kube.kubectl("get", manifest["kind"], metadata["name"], *where, "-o", "name", check=False)
    return found.returncode == 0


def test_the_apiserver_accepts_every_object_and_uninstall_removes_them(kube: Kube) -> None:
    suffix = uuid.uuid4().hex[:6]
    release, namespace = f"vx-{suffix}", f"vx-{suffix}"
    sets = ["--set", f"fullnameOverride=vx-{suffix}", "--set", f"watchNamespaces={{w-{suffix}}}"]
    installed = False
    kube.kubectl("create", "namespace", f"w-{suffix}")  # a watched namespace gets the Secrets RoleBinding
    try:
        helm("install", release, str(CHART), "--namespace", namespace, "--create-namespace", *sets,
             kubeconfig=kube.kubeconfig)
        installed = True
        manifest = parse_documents(helm("get", "manifest", release, "--namespace", namespace,
                                        kubeconfig=kube.kubeconfig).stdout)
        kinds = sorted(m["kind"] for m in manifest)
        assert kinds == ["ClusterRole", "ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding",
                         "RoleBinding", "Service", "ServiceAccount"]
        bindings = {m["metadata"]["name"]: m["metadata"]["namespace"] for m in manifest if m["kind"] == "RoleBinding"}
        assert bindings[f"vx-{suffix}-secrets"] == f"w-{suffix}"  # Secrets only where it watches
        assert all(present(kube, m) for m in manifest)
        established = kube.kubectl("wait", "--for=condition=Established", "--timeout=30s",
                                   "crd/vaultextensions.vault.kerberos.io", check=False)
        assert established.returncode == 0, established.stderr
        helm("uninstall", release, "--namespace", namespace, "--wait", "--timeout", "2m", kubeconfig=kube.kubeconfig)
        installed = False
        assert [m["kind"] for m in manifest if present(kube, m)] == []
    finally:
        if installed:
            helm("uninstall", release, "--namespace", namespace, kubeconfig=kube.kubeconfig, check=False)
        kube.kubectl("delete", "namespace", namespace, f"w-{suffix}", "--wait=false", check=False)
