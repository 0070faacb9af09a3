"""The committed CRD and samples are exactly what the models generate, and the CRD is structural."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from vaultext_operator import crdgen
from vaultext_operator.__main__ import main
from vaultext_operator.api.cel import RULES_BY_MODEL

REPOSITORY = Path(__file__).resolve().parents[2]
CRDS = REPOSITORY / "crds"
SAMPLES = REPOSITORY / "manifests" / "samples"
CHART_CRDS = REPOSITORY / "charts" / "vaultext" / "crds"


def schema_nodes(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, child in node.get("properties", {}).items():
            yield from schema_nodes(child, f"{path}.{key}")
        if "items" in node:
            yield from schema_nodes(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def committed_crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CRDS / crdgen.CRD_FILE).read_text())
    return document


def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = committed_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_committed_files_match_the_models() -> None:
    stale = crdgen.stale_files(CRDS, SAMPLES, CHART_CRDS)
    assert stale == [], f"regenerate with `python -m vaultext_operator generate-crd`: {stale}"


def test_generate_crd_check_flags_a_stale_file(tmp_path: Path) -> None:
    folders = ["--crds", str(tmp_path / "c"), "--samples", str(tmp_path / "s"), "--chart-crds", str(tmp_path / "h")]
    assert main(["generate-crd", *folders]) == 0
    assert main(["generate-crd", "--check", *folders]) == 0
    for crd_file in (tmp_path / "c" / crdgen.CRD_FILE, tmp_path / "h" / crdgen.CRD_FILE):
        original = crd_file.read_text()
        crd_file.write_text(original + "# edited\n")
        assert main(["generate-crd", "--check", *folders]) == 1
        crd_file.write_text(original)


def test_schema_is_structural() -> None:
    for path, node in schema_nodes(root_schema()):
        for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "$defs", "title", "const"):
            assert forbidden not in node, f"{path} has {forbidden}"
        assert "type" in node, f"{path} has no type"
        assert node.get("additionalProperties") is not False, path
        if "exclusiveMinimum" in node:
            assert node["exclusiveMinimum"] is True, path


def test_preserve_unknown_fields_only_on_free_form_maps() -> None:
    preserved = {path for path, node in schema_nodes(root_schema()) if node.get("x-kubernetes-preserve-unknown-fields")}
    # podTemplate.spec keeps any PodSpec field; what could weaken the pod is declared inside it, for CEL.
    in_pod_spec = {path for path in preserved if path.startswith(".spec.podTemplate.spec")}
    assert preserved - in_pod_spec == {".spec.config"}
    assert {".spec.podTemplate.spec", ".spec.podTemplate.spec.containers[].securityContext"} <= in_pod_spec
    assert "properties" in root_schema()["properties"]["spec"]["properties"]["podTemplate"]["properties"]["spec"]


def test_optional_fields_are_nullable_and_fields_described() -> None:
    spec = root_schema()["properties"]["spec"]["properties"]
    assert spec["gpu"]["properties"]["product"]["nullable"] is True
    assert spec["image"]["minLength"] == 1
    assert spec["gpu"]["properties"]["count"]["minimum"] == 0
    spec_nodes = schema_nodes(root_schema()["properties"]["spec"])
    undescribed = [path for path, node in spec_nodes if "description" not in node]
    assert all(path.endswith(("[]", "}")) for path in undescribed), undescribed


def test_cel_rules_cover_replica_bounds_and_resources() -> None:
    spec = root_schema()["properties"]["spec"]["properties"]
    autoscaling_rules = [rule["rule"] for rule in spec["autoscaling"]["x-kubernetes-validations"]]
    assert "self.minReplicas <= self.maxReplicas" in autoscaling_rules
    resource_rules = " ".join(rule["rule"] for rule in spec["resources"]["x-kubernetes-validations"])
    assert "quantity(self.requests.cpu)" in resource_rules
    assert "quantity(self.requests.memory)" in resource_rules


def test_defaults_reach_the_apiserver() -> None:
    spec = root_schema()["properties"]["spec"]["properties"]
    assert spec["gpu"]["default"] == {"count": 1}
    assert spec["gpu"]["properties"]["count"]["default"] == 1
    assert spec["replicas"]["default"] == 1
    assert spec["autoscaling"]["default"]["minReplicas"] == spec["autoscaling"]["properties"]["minReplicas"]["default"]


def test_printer_columns_and_subresources() -> None:
    version = committed_crd()["spec"]["versions"][0]
    assert [column["name"] for column in version["additionalPrinterColumns"]] == [
        "Image", "Replicas", "Ready", "Lag", "Age",
    ]  # fmt: skip
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert version["subresources"]["status"] == {}
    names = committed_crd()["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == ("VaultExtension", "vaultextensions", ["vext"])


def test_status_declares_the_autoscaler_fields() -> None:
    status = root_schema()["properties"]["status"]["properties"]
    for name in ("lag", "desiredReplicas", "partitions", "rates", "drainSeconds", "lastScaleTime", "lastScaleReason"):
        assert name in status, name
    assert status["conditions"]["x-kubernetes-list-type"] == "map"


def test_every_rule_for_models_declared_elsewhere_reaches_the_crd() -> None:
    rules_in_crd = {
        rule["rule"] for _, node in schema_nodes(root_schema()) for rule in node.get("x-kubernetes-validations", [])
    }
    for model, rules in RULES_BY_MODEL.items():
        for rule in rules:
            assert rule["rule"] in rules_in_crd, f"{model}: {rule['rule']} (was the model renamed?)"
