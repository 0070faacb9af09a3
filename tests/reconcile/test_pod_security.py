"""Generated pods pass Pod Security `restricted` on the real apiserver; each podTemplate privilege is a real weakening.

Each pod is the generated Deployment's template, created as a Pod (server-side dry run) in a namespace that
enforces `restricted`: that is where the PodSecurity admission plugin judges pods.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.api.privileges import POD_PRIVILEGES
from vaultext_operator.builders import ExtensionRef, build_deployment
from vaultext_operator.samples import SAMPLES
from vaultext_operator.settings import OperatorSettings
from vaultext_sandbox import Kube

from ..api.cel_cases import PRIVILEGE_VARIANTS, overlay_spec
from .cluster_helpers import get_json, wait_for

ALLOW_ALL = OperatorSettings(allowed_pod_privileges=",".join(POD_PRIVILEGES))
SIDECAR = {"containers": [{"name": "shipper", "image": "busybox", "args": ["sleep", "1d"]}],
           "initContainers": [{"name": "setup", "image": "busybox"}]}  # fmt: skip
ACCEPTED = {
    "five-line": {"image": "registry.example.com/acme/yolo:1.2"},
    "vaultext-runtime": {"image": "vaultext-worker:cuda", "scratch": {"paths": ["/models"]}},
    "sidecar-without-security-context": overlay_spec(SIDECAR),
    **{f"sample-{name}": sample.spec.model_dump(by_alias=True, exclude_unset=True) for name, sample in SAMPLES.items()},
}
# serviceAccount is no Pod Security matter: it widens what the pod may do through the API, checked by RBAC.
WEAKENING = [name for name in POD_PRIVILEGES if name != "serviceAccount"]


@pytest.fixture(scope="module")
def sample_cluster_objects(kube: Kube) -> None:
    """The PriorityClass and RuntimeClass the full sample names; admission refuses a pod without them."""
    for document in (
        {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "inference"},
         "value": 1000},
        {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nvidia"}, "handler": "nvidia"},
    ):  # fmt: skip
        kube.kubectl("apply", "-f", "-", input=json.dumps(document))


@pytest.fixture
def restricted(kube: Kube, namespace: str, sample_cluster_objects: None) -> str:
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                 "pod-security.kubernetes.io/enforce-version=latest")  # fmt: skip
    wait_for(lambda: get_json(kube, "serviceaccount", "default", "-n", namespace), 30, "the default ServiceAccount")
    return namespace


def create_pod(kube: Kube, namespace: str, spec: dict[str, Any], settings: OperatorSettings) -> tuple[int, str]:
    owner = ExtensionRef("pss", namespace, "00000000-0000-0000-0000-000000000002")
    template = build_deployment(VaultExtensionSpec.model_validate(spec), owner, settings, 1)["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pss", **template["metadata"]},
           "spec": template["spec"]}  # fmt: skip
    created = kube.kubectl("create", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(pod), check=False)
    return created.returncode, created.stderr


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_generated_pods_pass_restricted(kube: Kube, restricted: str, name: str) -> None:
    code, stderr = create_pod(kube, restricted, ACCEPTED[name], OperatorSettings())
    assert code == 0, stderr
    assert "PodSecurity" not in stderr, stderr


@pytest.mark.parametrize("privilege", WEAKENING)
def test_each_privilege_breaks_restricted(kube: Kube, restricted: str, privilege: str) -> None:
    """Granted by the operator, the privilege reaches the pod, and Pod Security refuses it: the list is honest."""
    spec = overlay_spec(PRIVILEGE_VARIANTS[privilege][0], [privilege])
    code, stderr = create_pod(kube, restricted, spec, ALLOW_ALL)
    assert code != 0 and 'violates PodSecurity "restricted' in stderr, stderr
