"""podTemplate privileges: the model spots each one, the CR must ask for it, and the operator must grant it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.api.privileges import POD_PRIVILEGES, PRIVILEGE_CHECKS, privilege_message
from vaultext_operator.builders import ExtensionRef, build_deployment
from vaultext_operator.builders.security import forbidden_privileges
from vaultext_operator.reconcile import check_inputs
from vaultext_operator.settings import OperatorSettings

from .cel_cases import HARMLESS_OVERLAYS, PRIVILEGE_VARIANTS, PRIVILEGED_ANNOTATIONS, overlay_spec

MESSAGES = {check.name: privilege_message(check) for check in PRIVILEGE_CHECKS}
VARIANTS = [(name, pod) for name, pods in PRIVILEGE_VARIANTS.items() for pod in pods]


def test_every_privilege_has_variants() -> None:
    assert set(PRIVILEGE_VARIANTS) == set(POD_PRIVILEGES)


@pytest.mark.parametrize(("privilege", "pod"), VARIANTS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(VARIANTS)])
def test_a_privilege_must_be_asked_for(privilege: str, pod: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        VaultExtensionSpec.model_validate(overlay_spec(pod))
    assert MESSAGES[privilege] in str(refused.value)
    others = [name for name in POD_PRIVILEGES if name != privilege]
    with pytest.raises(ValidationError):  # asking for every other privilege does not help
        VaultExtensionSpec.model_validate(overlay_spec(pod, others))
    asked = VaultExtensionSpec.model_validate(overlay_spec(pod, [privilege]))
    assert asked.pod_template is not None and asked.pod_template.privileges_used() == {privilege}


@pytest.mark.parametrize("pod", HARMLESS_OVERLAYS)
def test_harmless_overlays_need_no_privilege(pod: dict[str, Any]) -> None:
    spec = VaultExtensionSpec.model_validate(overlay_spec(pod))
    assert spec.pod_template is not None and spec.pod_template.privileges_used() == set()


@pytest.mark.parametrize("privilege", list(PRIVILEGED_ANNOTATIONS))
def test_a_pod_annotation_can_need_a_privilege(privilege: str) -> None:
    annotations = PRIVILEGED_ANNOTATIONS[privilege]
    with pytest.raises(ValidationError) as refused:
        VaultExtensionSpec.model_validate(overlay_spec({}, annotations=annotations))
    assert MESSAGES[privilege] in str(refused.value)
    asked = VaultExtensionSpec.model_validate(overlay_spec({}, [privilege], annotations))
    assert asked.pod_template is not None and asked.pod_template.privileges_used() == {privilege}
    default = dict.fromkeys(annotations, "runtime/default")
    harmless = VaultExtensionSpec.model_validate(overlay_spec({}, annotations=default))
    assert harmless.pod_template is not None and harmless.pod_template.privileges_used() == set()


def test_unknown_pod_spec_fields_are_kept_and_privileges_left_out_of_the_pod() -> None:
    spec = VaultExtensionSpec.model_validate(
        overlay_spec({"hostNetwork": True, "dnsPolicy": "None", "containers": [{"name": "w", "tty": True}]},
                     ["hostNamespaces"])
    )  # fmt: skip
    assert spec.pod_template is not None
    assert spec.pod_template.pod_overlay()["spec"] == {
        "hostNetwork": True, "dnsPolicy": "None", "containers": [{"name": "w", "tty": True}],
    }  # fmt: skip
    assert "privileges" not in spec.pod_template.pod_overlay()


def test_operator_grants_only_what_its_setting_allows() -> None:
    spec = VaultExtensionSpec.model_validate(
        overlay_spec({"hostNetwork": True, "serviceAccountName": "reader"}, ["hostNamespaces", "serviceAccount"])
    )
    assert forbidden_privileges(spec, OperatorSettings()) == ["hostNamespaces", "serviceAccount"]
    allowed = OperatorSettings(allowed_pod_privileges="serviceAccount, hostPath")
    assert forbidden_privileges(spec, allowed) == ["hostNamespaces"]
    everything = OperatorSettings(allowed_pod_privileges=",".join(POD_PRIVILEGES))
    assert forbidden_privileges(spec, everything) == []
    # Asked for but unused grants nothing and costs nothing.
    unused = VaultExtensionSpec.model_validate(overlay_spec({}, ["privileged"]))
    assert forbidden_privileges(unused, OperatorSettings()) == []


def test_unknown_privilege_in_the_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown pod privileges"):
        OperatorSettings(allowed_pod_privileges="hostNamespaces,root")


def test_reconcile_blocks_a_forbidden_pod_template_before_touching_the_cluster() -> None:
    spec = VaultExtensionSpec.model_validate(overlay_spec({"hostPID": True}, ["hostNamespaces"]))
    blocker = check_inputs(spec, ExtensionRef("yolo", "ml", "uid"), OperatorSettings())
    assert blocker is not None and blocker.reason == "PodTemplateForbidden"
    assert "hostNamespaces" in blocker.message and "ALLOWED_POD_PRIVILEGES" in blocker.message


def test_a_granted_privileged_container_is_valid() -> None:
    """`privileged: true` beside our `allowPrivilegeEscalation: false` is a pod the apiserver refuses."""
    spec = VaultExtensionSpec.model_validate(overlay_spec(PRIVILEGE_VARIANTS["privileged"][0], ["privileged"]))
    pod = build_deployment(spec, ExtensionRef("yolo", "ml", "uid"), OperatorSettings(), 1)["spec"]["template"]["spec"]
    context = pod["containers"][0]["securityContext"]
    assert context["privileged"] is True and "allowPrivilegeEscalation" not in context
    assert context["capabilities"] == {"drop": ["ALL"]}
