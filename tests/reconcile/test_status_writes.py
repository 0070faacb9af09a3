"""Status writes against the real apiserver: conditional on the version read, and sharing status with the autoscaler."""

from __future__ import annotations

import pytest
import yaml

from vaultext_operator import kube as operator_kube
from vaultext_operator.reconcile import refresh_status
from vaultext_sandbox import Kube

from .cluster_helpers import get_json


@pytest.fixture
def extension(kube: Kube, crd: str, namespace: str) -> str:
    operator_kube.use_kubeconfig(str(kube.kubeconfig))
    document = {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": "yolo"},
                "spec": {"image": "registry.example.com/acme/yolo:1.2"}}  # fmt: skip
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))
    return "yolo"


def test_a_stale_status_write_is_refused(kube: Kube, namespace: str, extension: str) -> None:
    stale = (operator_kube.get_extension(namespace, extension) or {})["metadata"]["resourceVersion"]
    operator_kube.patch_extension_status(namespace, extension, {"lag": 1}, stale)
    with pytest.raises(operator_kube.Conflict):
        operator_kube.patch_extension_status(namespace, extension, {"lag": 2}, stale)
    assert (get_json(kube, "vext", extension, "-n", namespace) or {})["status"]["lag"] == 1


def test_refresh_keeps_the_autoscalers_fields_and_conditions(kube: Kube, namespace: str, extension: str) -> None:
    autoscaler_part = {
        "lag": 42,
        "desiredReplicas": 3,
        "rates": {"arrival": 1.5},
        "conditions": [{"type": "ScalingActive", "status": "True", "reason": "LagReadable", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }  # fmt: skip
    version = (operator_kube.get_extension(namespace, extension) or {})["metadata"]["resourceVersion"]
    operator_kube.patch_extension_status(namespace, extension, autoscaler_part, version)
    refresh_status(namespace, extension)
    status = (get_json(kube, "vext", extension, "-n", namespace) or {})["status"]
    assert (status["lag"], status["desiredReplicas"], status["rates"]) == (42, 3, {"arrival": 1.5})
    assert {condition["type"] for condition in status["conditions"]} == {
        "ScalingActive", "Ready", "Progressing", "Degraded",
    }  # fmt: skip
    assert status["selector"] == "vault.kerberos.io/extension=yolo"
