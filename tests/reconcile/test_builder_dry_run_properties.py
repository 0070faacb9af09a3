"""Property: whatever spec the model accepts, the real apiserver accepts the children built from it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

from vaultext_operator import kube as operator_kube
from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.builders import MANAGER, ExtensionRef, build_children
from vaultext_operator.crdgen import structural_schema
from vaultext_operator.settings import OperatorSettings
from vaultext_sandbox import Kube

from ..api.schema_strategies import from_structural

pytestmark = pytest.mark.slow

SETTINGS = OperatorSettings()


def parse(document: dict[str, Any]) -> VaultExtensionSpec | None:
    try:
        return VaultExtensionSpec.model_validate(document)
    except ValidationError:
        return None


# podTemplate is the free-form escape hatch: what it merges in is the author's to get right.
accepted_specs = (
    from_structural(structural_schema(VaultExtensionSpec), skip=frozenset({"podTemplate"})).map(parse).filter(bool)
)


def test_apiserver_accepts_built_children(kube: Kube, namespace: str) -> None:
    operator_kube.use_kubeconfig(str(kube.kubeconfig))
    owner = ExtensionRef(name="prop", namespace=namespace, uid="00000000-0000-0000-0000-000000000001")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(spec=accepted_specs)
    def check(spec: VaultExtensionSpec) -> None:
        for replicas in (None, 2):
            for child in build_children(spec, owner, SETTINGS, replicas):
                operator_kube.apply(child, MANAGER, dry_run=True)  # raises ApplyError with the apiserver's reason

    check()
