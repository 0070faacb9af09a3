"""`helm install` of charts/vaultext onto the real node: the operator in pods from the built image, one
VaultExtension through it to Ready and results, and every dashboard panel (worker panels included) answering from
the sandbox's Prometheus, which finds the operator and worker pods through the apiserver."""

from __future__ import annotations

import time
import uuid

import pytest
from kubernetes import client

from vaultext_sandbox import Prometheus, Sandbox
from vaultext_sandbox.chart import install_chart, sandbox_values, uninstall_chart
from vaultext_sandbox.dashboard import load, panel_queries
from vaultext_sandbox.loop import PROVIDER, Extension, Observer, wait_for
from vaultext_sandbox.node.real_node import RealNode
from vaultext_sandbox.project_images import BuiltImage
from vaultext_sandbox.prometheus import POD_JOB
from vaultext_sandbox.vault_standin import VaultStandIn

pytestmark = pytest.mark.slow
EVENTS = 12
# Names of its own: a kustomize install of another node module may have left its ClusterRole and ServiceAccount.
RELEASE, NAMESPACE, NAME = "vaultext-helm", "vaultext-helm", "vaultext-helm"


def test_helm_install_runs_an_extension_and_every_dashboard_panel_answers(
        sandbox: Sandbox, real_node: RealNode, project_images: dict[str, BuiltImage],
        vault_for_pods: tuple[VaultStandIn, str], prometheus: Prometheus) -> None:
    vault, vault_url = vault_for_pods
    suffix = uuid.uuid4().hex[:6]
    extension = Extension(sandbox, (vault.access_key, vault.secret_key),
                          lambda key, data: vault.put(PROVIDER, key, data), f"helm-{suffix}", f"yolo-{suffix}",
                          project_images["vaultext-worker"].reference, max_replicas=2)
    values = sandbox_values(sandbox, project_images["vaultext-operator"].reference, vault_url, [extension.namespace])
    values["fullnameOverride"] = NAME
    apps = client.AppsV1Api(sandbox.kube().api)
    core = client.CoreV1Api(sandbox.kube().api)
    started = time.monotonic()
    extension.provision()  # first: the chart binds the Secrets role in the watched namespace, which must exist
    installed = False
    try:
        install_chart(sandbox, RELEASE, NAMESPACE, values)
        installed = True
        wait_for(lambda: bool(apps.read_namespaced_deployment(NAME, NAMESPACE).status.available_replicas), 180,
                 "the operator Deployment available")
        extension.create()
        extension.upload(EVENTS)
        observer = Observer(extension)
        try:
            wait_for(extension.ready, 120, "the extension Ready", explain=extension.diagnostics)
            observer.run_until(lambda s: s.results >= 2, timeout=240)
        finally:
            observer.close()
        print(f"helm install to first results: {time.monotonic() - started:.0f} s")
        scraped = {str(t["metric"].get("app")) for t in prometheus.query(f'up{{job="{POD_JOB}"}} == 1')}
        assert scraped == {NAME, "vault-extension"}, f"pods scraped: {scraped}"
        queries = panel_queries(load(), {"namespace": extension.namespace, "extension": extension.name,
                                         "datasource": "sandbox"})
        assert any(q.from_workers for q in queries)
        deadline = time.monotonic() + 60
        while (empty := [f"{q.panel}: {q.expr}" for q in queries if not prometheus.query(q.expr)]) and \
                time.monotonic() < deadline:
            time.sleep(2)
        assert empty == [], "panels without an answer:\n" + "\n".join(empty)
    finally:
        core.delete_namespace(extension.namespace)
        if installed:
            uninstall_chart(sandbox, RELEASE, NAMESPACE)
            core.delete_namespace(NAMESPACE)
