"""Generates the CRD and the samples from the API models (pydantic JSON Schema -> structural OpenAPI v3).

Kubernetes wants a structural schema: every `$ref` inlined, `nullable: true` instead of `anyOf` with null,
boolean `exclusiveMinimum`, no `additionalProperties: false`, and `x-kubernetes-preserve-unknown-fields` only
on free-form maps. A drift test regenerates both outputs and compares them with the committed files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.config import JsonDict

from .api import API_VERSION, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from .api.cel import RULES_BY_MODEL
from .api.common import DNS_LABEL
from .api.extension import VaultExtensionSpec
from .api.status import VaultExtensionStatus
from .chartschema import SCHEMA_FILE, render_schema
from .samples import SAMPLES

Schema = dict[str, Any]

HEADER = "# Generated from vaultext_operator.api by `python -m vaultext_operator generate-crd`; do not edit.\n"
CRD_FILE = f"{PLURAL}.{GROUP}.yaml"
VALIDATIONS = "x-kubernetes-validations"
# Keywords a structural schema may carry; anything else pydantic emits (title, ...) is dropped.
_KEPT = {
    "description", "type", "format", "enum", "default", "nullable", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
    "x-kubernetes-list-type", "x-kubernetes-list-map-keys", "x-kubernetes-preserve-unknown-fields", VALIDATIONS,
}  # fmt: skip
_NAME_RULE = {
    "rule": f"self.metadata.name.size() <= 55 && self.metadata.name.matches('{DNS_LABEL}') "
    "&& self.metadata.name.matches('^[a-z]')",
    "message": "metadata.name must be a lowercase DNS label that starts with a letter, at most 55 characters "
    "(it also names the extension's Service)",
}


class SchemaError(ValueError):
    """A model uses a construct that has no structural OpenAPI form."""


def structural_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of a model, with its own and `api.cel` CEL rules."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    definitions: dict[str, Schema] = schema.pop("$defs", {})
    for name, rules in RULES_BY_MODEL.items():
        if name in definitions:
            _add_rules(definitions[name], rules)
    if model.__name__ in RULES_BY_MODEL:
        _add_rules(schema, RULES_BY_MODEL[model.__name__])
    return _convert(schema, definitions)


def _add_rules(schema: Schema, rules: list[JsonDict]) -> None:
    existing = schema.setdefault(VALIDATIONS, [])
    existing.extend(rule for rule in rules if rule not in existing)


def _convert(node: Schema, definitions: dict[str, Schema]) -> Schema:
    node = _resolve(node, definitions)
    converted: Schema = {key: value for key, value in node.items() if key in _KEPT}
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if bound in node:
            converted[flag] = node[bound]
            converted[bound] = True
    if "const" in node:
        converted["enum"] = [node["const"]]
    if converted.get("default", 0) is None:
        del converted["default"]
    if "items" in node:
        converted["items"] = _convert(node["items"], definitions)
    if "properties" in node:
        required = set(node.get("required", []))
        converted["properties"] = {
            name: _with_object_default(_convert(child, definitions), name in required)
            for name, child in node["properties"].items()
        }
        if required:
            converted["required"] = sorted(required)
    additional = node.get("additionalProperties")
    if isinstance(additional, dict) and additional:
        converted["additionalProperties"] = _convert(additional, definitions)
    else:
        # A free-form map, or a model that declares some fields and keeps any other (extra="allow").
        free_form = "properties" not in node and additional is not False
        if converted.get("type") == "object" and (free_form or additional is True):
            converted["x-kubernetes-preserve-unknown-fields"] = True
    return converted


def _resolve(node: Schema, definitions: dict[str, Schema]) -> Schema:
    """Inlines `$ref`/single `allOf` and turns `anyOf: [X, null]` into `X` + `nullable`."""
    if "$ref" in node:
        target = definitions[node["$ref"].rsplit("/", 1)[-1]]
        rest = {key: value for key, value in node.items() if key != "$ref"}
        return _resolve({**target, **rest}, definitions)
    if "allOf" in node and len(node["allOf"]) == 1:
        rest = {key: value for key, value in node.items() if key != "allOf"}
        return _resolve({**node["allOf"][0], **rest}, definitions)
    if "anyOf" in node:
        choices = [choice for choice in node["anyOf"] if choice.get("type") != "null"]
        if len(choices) != 1:
            raise SchemaError(f"union without a structural form: {node['anyOf']}")
        rest = {key: value for key, value in node.items() if key != "anyOf"}
        merged = _resolve({**choices[0], **rest}, definitions)
        if len(choices) < len(node["anyOf"]):
            merged["nullable"] = True
        return merged
    return node


def _with_object_default(schema: Schema, required: bool) -> Schema:
    """Optional, non-nullable objects default to their children's defaults, so the apiserver fills them in.

    Spelled out rather than `{}`: the apiserver checks a default against the CEL rules as written.
    """
    if not required and schema.get("type") == "object" and not schema.get("nullable") and "default" not in schema:
        children = schema.get("properties", {})
        schema["default"] = {name: child["default"] for name, child in children.items() if "default" in child}
    return schema


def custom_resource_definition() -> Schema:
    """The VaultExtension CRD as a dict."""
    root: Schema = {
        "type": "object",
        "description": "A Kerberos Vault machine-learning extension run as a GPU Deployment.",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": structural_schema(VaultExtensionSpec),
            "status": structural_schema(VaultExtensionStatus),
        },
        "required": ["spec"],
        VALIDATIONS: [_NAME_RULE],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "vaultext"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": SINGULAR,
                "shortNames": list(SHORT_NAMES),
                "categories": ["all", "vaultext"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": _printer_columns(),
                }
            ],
        },
    }


def _printer_columns() -> list[Schema]:
    def column(name: str, kind: str, path: str, description: str) -> Schema:
        return {"name": name, "type": kind, "jsonPath": path, "description": description}

    return [
        column("Image", "string", ".spec.image", "Container image"),
        column("Replicas", "integer", ".status.replicas", "Pods of the Deployment"),
        column("Ready", "string", '.status.conditions[?(@.type=="Ready")].status', "Ready condition"),
        column("Lag", "integer", ".status.lag", "Consumer-group lag on the input topic"),
        column("Age", "date", ".metadata.creationTimestamp", "Age"),
    ]


def render_yaml(document: Schema) -> str:
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=110, allow_unicode=True)


def rendered_files(crds_dir: Path, samples_dir: Path, chart_crds_dir: Path | None = None) -> dict[Path, str]:
    """Every generated file and its content; the Helm chart's `crds/` gets the same CRD file, and the chart its
    values.schema.json (beside `crds/`)."""
    crd = render_yaml(custom_resource_definition())
    files = {crds_dir / CRD_FILE: crd}
    if chart_crds_dir is not None:
        files[chart_crds_dir / CRD_FILE] = crd
        files[chart_crds_dir.parent / SCHEMA_FILE] = render_schema()
    for file_name, sample in SAMPLES.items():
        body = sample.model_dump(by_alias=True, exclude_unset=True, mode="json")
        document = {"apiVersion": API_VERSION, "kind": KIND, **body}
        files[samples_dir / file_name] = render_yaml(document)
    return files


def stale_files(crds_dir: Path, samples_dir: Path, chart_crds_dir: Path | None = None) -> list[Path]:
    """Generated files whose committed content differs from what the models produce now."""
    return [
        path
        for path, content in rendered_files(crds_dir, samples_dir, chart_crds_dir).items()
        if not path.is_file() or path.read_text(encoding="utf-8") != content
    ]


def write_files(crds_dir: Path, samples_dir: Path, chart_crds_dir: Path | None = None) -> list[Path]:
    """Writes every generated file; returns the paths written."""
    files = rendered_files(crds_dir, samples_dir, chart_crds_dir)
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return list(files)
