"""Generated pods pass Pod Security `restricted` on the real apiserver; each podTemplate privilege is a real weakening.

Each pod is the generated Deployment's template, created as a Pod (server-side dry run) in a namespace that
enforces `restricted`: that is where the PodSecurity admission plugin judges pods.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.api.privileges import POD_PRIVILEGES
from vaultext_operator.builders import ExtensionRef, build_deployment
from vaultext_operator.crdgen import structural_schema
from vaultext_operator.samples import SAMPLES
from vaultext_operator.settings import OperatorSettings
from vaultext_sandbox import Kube

from ..api.cel_cases import PRIVILEGE_VARIANTS, overlay_spec
from ..api.schema_strategies import from_structural
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


# Sidecars, init containers and a pod security context as a podTemplate may bring them without asking for a
# privilege: restrictive settings, or none at all (then the generated pod's must hold).
_names = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True).filter(lambda name: name != "worker")
_container_contexts = st.fixed_dictionaries({}, optional={
    "readOnlyRootFilesystem": st.booleans(),
    "runAsUser": st.integers(1, 65535),
    "runAsNonRoot": st.just(True),
    "privileged": st.just(False),
    "allowPrivilegeEscalation": st.just(False),
    "capabilities": st.fixed_dictionaries({}, optional={"drop": st.just(["ALL"]), "add": st.just([])}),
    "seccompProfile": st.just({"type": "RuntimeDefault"}),
})  # fmt: skip
_container = st.fixed_dictionaries(
    {"name": _names, "image": st.just("busybox")}, optional={"securityContext": _container_contexts}
)
_pod_specs = st.fixed_dictionaries({
    "containers": st.lists(_container, min_size=1, max_size=3, unique_by=lambda container: container["name"]),
}, optional={
    "initContainers": st.lists(_container, max_size=2, unique_by=lambda container: container["name"]),
    "securityContext": st.fixed_dictionaries({}, optional={
        "runAsUser": st.integers(1, 65535), "runAsGroup": st.integers(0, 65535),
        "seccompProfile": st.just({"type": "RuntimeDefault"}),
    }),
    "hostNetwork": st.just(False),
    "automountServiceAccountToken": st.just(False),
})  # fmt: skip


@pytest.mark.slow
def test_no_spec_without_privileges_yields_a_pod_restricted_refuses(kube: Kube, restricted: str) -> None:
    """Property: whatever else a spec sets, a podTemplate that asks for no privilege never breaks `restricted`.

    The rest of the spec is drawn from the CRD's schema (a made-up RuntimeClass would only be refused for not
    existing). Refusals that are not Pod Security's are the author's to fix and only counted.
    """
    rest = from_structural(structural_schema(VaultExtensionSpec), skip=frozenset({"podTemplate", "runtimeClassName"}))
    documents = st.tuples(rest, _pod_specs).map(lambda pair: {**pair[0], "podTemplate": {"spec": pair[1]}})
    created_with_sidecars = 0

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(document=documents)
    def check(document: dict[str, Any]) -> None:
        nonlocal created_with_sidecars
        try:
            spec = VaultExtensionSpec.model_validate(document)
        except ValidationError:
            return
        assert spec.pod_template is not None and not spec.pod_template.privileges_used()
        code, stderr = create_pod(kube, restricted, document, OperatorSettings())
        assert "violates PodSecurity" not in stderr, stderr
        created_with_sidecars += code == 0 and bool(spec.pod_template.spec.containers)

    check()
    assert created_with_sidecars >= 15, f"only {created_with_sidecars} of 40 draws became a pod with sidecars"
