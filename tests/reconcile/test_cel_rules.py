"""The real apiserver refuses a case for every CEL rule of the CRD; podTemplate privileges as the models judge them."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from vaultext_sandbox import Kube

from ..api.cel_cases import HARMLESS_OVERLAYS, PRIVILEGE_VARIANTS, PRIVILEGED_ANNOTATIONS, REFUSED, overlay_spec

VARIANTS = [(name, pod) for name, pods in PRIVILEGE_VARIANTS.items() for pod in pods]


def dry_run(kube: Kube, namespace: str, spec: dict[str, Any], name: str = "cel") -> tuple[int, str]:
    document = {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": name},
                "spec": spec}  # fmt: skip
    applied = kube.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(document), check=False
    )
    return applied.returncode, applied.stderr


@pytest.mark.parametrize("message", list(REFUSED), ids=[message[:60] for message in REFUSED])
def test_apiserver_refuses_each_rules_case(kube: Kube, crd: str, namespace: str, message: str) -> None:
    code, stderr = dry_run(kube, namespace, REFUSED[message].spec, REFUSED[message].name)
    assert code != 0 and message in stderr, stderr


@pytest.mark.parametrize(("privilege", "pod"), VARIANTS, ids=[f"{name}-{i}" for i, (name, _) in enumerate(VARIANTS)])
def test_apiserver_wants_each_privilege_asked_for(
    kube: Kube, crd: str, namespace: str, privilege: str, pod: dict[str, Any]
) -> None:
    code, stderr = dry_run(kube, namespace, overlay_spec(pod))
    assert code != 0 and f"list `{privilege}` in podTemplate.privileges" in stderr, stderr
    code, stderr = dry_run(kube, namespace, overlay_spec(pod, [privilege]))
    assert code == 0, stderr


@pytest.mark.parametrize("privilege", list(PRIVILEGED_ANNOTATIONS))
def test_apiserver_wants_a_privilege_for_an_annotation(kube: Kube, crd: str, namespace: str, privilege: str) -> None:
    annotations = PRIVILEGED_ANNOTATIONS[privilege]
    code, stderr = dry_run(kube, namespace, overlay_spec({}, annotations=annotations))
    assert code != 0 and f"list `{privilege}` in podTemplate.privileges" in stderr, stderr
    for spec in (overlay_spec({}, [privilege], annotations),
                 overlay_spec({}, annotations=dict.fromkeys(annotations, "runtime/default"))):
        code, stderr = dry_run(kube, namespace, spec)
        assert code == 0, stderr


def test_apiserver_accepts_harmless_overlays_and_explicit_nulls(kube: Kube, crd: str, namespace: str) -> None:
    nulls = {"hostNetwork": None, "containers": [{"name": "worker", "securityContext": {"privileged": None}}]}
    for pod in [*HARMLESS_OVERLAYS, nulls]:
        code, stderr = dry_run(kube, namespace, overlay_spec(pod))
        assert code == 0, f"{pod}: {stderr}"
