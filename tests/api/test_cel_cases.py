"""Every CEL rule of the CRD has a refused case, and the pydantic models refuse each case with the same message."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.crdgen import custom_resource_definition

from .cel_cases import REFUSED
from .test_crd import schema_nodes


def crd_rule_messages() -> list[str]:
    """From the CRD the models generate now (the drift test holds the committed file to it)."""
    root = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    nodes = schema_nodes(root)
    return [rule["message"] for _, node in nodes for rule in node.get("x-kubernetes-validations", [])]


def test_every_rule_in_the_crd_has_a_refused_case() -> None:
    messages = crd_rule_messages()
    assert len(messages) == len(set(messages)), "rule messages must be unique: they key the cases"
    assert sorted(set(messages) - set(REFUSED)) == [], "add a refused case to tests/api/cel_cases.py"
    assert sorted(set(REFUSED) - set(messages)) == [], "a case for a rule the CRD no longer has"


@pytest.mark.parametrize("message", [message for message, case in REFUSED.items() if case.mirrored])
def test_pydantic_refuses_each_case_with_the_rules_message(message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        VaultExtensionSpec.model_validate(REFUSED[message].spec)
    assert message in str(refused.value)


def test_cases_differ_from_a_valid_spec_only_where_the_rule_looks() -> None:
    """Each case minus its offending part is valid, so it is the rule, not something else, that refuses it."""
    def valid(spec: dict[str, Any]) -> bool:
        try:
            VaultExtensionSpec.model_validate(spec)
        except ValidationError:
            return False
        return True

    for message, case in REFUSED.items():
        if case.mirrored:
            assert valid({"image": case.spec["image"]}), message
            assert not valid(case.spec), message
