"""Property: for every spec the model accepts, the builders produce consistent children and never raise."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.builders import ExtensionRef, build_children, gpu_resource_name
from vaultext_operator.crdgen import structural_schema
from vaultext_operator.settings import OperatorSettings

from .schema_strategies import from_structural

OWNER = ExtensionRef(name="ext", namespace="ns", uid="uid-1")
SETTINGS = OperatorSettings()
SECRET_VARIABLES = {"KAFKA_PASSWORD", "KAFKA_USERNAME", "VAULT_SECRET_KEY", "VAULT_ACCESS_KEY"}


def parse(document: dict[str, Any]) -> VaultExtensionSpec | None:
    try:
        return VaultExtensionSpec.model_validate(document)
    except ValidationError:
        return None


accepted_specs = from_structural(structural_schema(VaultExtensionSpec)).map(parse).filter(bool)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(spec=accepted_specs, replicas=st.none() | st.integers(min_value=0, max_value=50))
def test_builders_never_raise_and_stay_consistent(spec: VaultExtensionSpec, replicas: int | None) -> None:
    children = build_children(spec, OWNER, SETTINGS, replicas)
    json.dumps(children)  # plain JSON, ready for the apiserver
    deployment = children[-1]
    template = deployment["spec"]["template"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    worker = template["spec"]["containers"][0]
    assert worker["name"] == "worker" and worker["image"] == spec.image
    limits = worker.get("resources", {}).get("limits", {})
    assert (gpu_resource_name(spec, SETTINGS) in limits) == (spec.gpu.count > 0)
    overridden = {variable.name for variable in spec.env}
    for variable in worker["env"]:
        if variable["name"] in SECRET_VARIABLES and variable["name"] not in overridden:
            assert "value" not in variable and "secretKeyRef" in variable["valueFrom"]
    assert ("replicas" in deployment["spec"]) == (replicas is not None)


def test_strategy_reaches_the_interesting_fields() -> None:
    """Guards the property above against a strategy that only ever draws the five-line CR."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(spec=accepted_specs)
    def collect(spec: VaultExtensionSpec) -> None:
        seen.update(spec.model_dump(exclude_unset=True))
        if spec.gpu.product:
            seen.add("gpu.product")

    collect()
    assert {"gpu", "kafka", "env", "resources", "pod_template", "config"} <= seen
    assert "gpu.product" in seen
