"""The operator process: a podTemplate privilege it does not grant blocks the extension; one it grants applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, get_json, wait_for
from .test_operator import IMAGE, apply_cr, blocked_by, ready

pytestmark = pytest.mark.slow

HOST_NETWORK = {
    "image": IMAGE,
    "gpu": {"count": 0},
    "podTemplate": {"privileges": ["hostNamespaces"], "spec": {"hostNetwork": True}},
}


def test_a_privilege_the_operator_does_not_grant_blocks_the_extension(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str
) -> None:
    apply_cr(kube, namespace, HOST_NETWORK)
    blocked = wait_for(lambda: blocked_by(kube, namespace, "PodTemplateForbidden"), 30, "PodTemplateForbidden")
    assert blocked["status"] == "False" and "hostNamespaces" in blocked["message"]
    assert get_json(kube, "deployment", "yolo", "-n", namespace) is None  # nothing applied


def test_a_privilege_the_operator_grants_reaches_the_pods(
    kube: Kube, namespace: str, crd: str, vault_secret: str, tmp_path: Path
) -> None:
    running = OperatorProcess(kube, namespace, tmp_path / "operator.log", allowed_pod_privileges="hostNamespaces")
    running.start()
    try:
        apply_cr(kube, namespace, HOST_NETWORK)
        deployment = wait_for(lambda: get_json(kube, "deployment", "yolo", "-n", namespace), 30, "the Deployment")
        assert deployment["spec"]["template"]["spec"]["hostNetwork"] is True
        assert ready(kube, namespace).get("reason") != "PodTemplateForbidden"
    finally:
        running.stop()
        print(f"--- operator log (tail) ---\n{running.log()}")
