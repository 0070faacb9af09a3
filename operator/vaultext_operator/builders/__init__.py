"""Pure builders: a validated spec (+ operator settings) -> the manifests of an extension's children. No I/O."""

from __future__ import annotations

from typing import Any

from ..api import VaultExtensionSpec
from ..settings import OperatorSettings
from .children import build_config_map, build_disruption_budget, build_metrics_service
from .deployment import build_deployment
from .labels import MANAGER, ExtensionRef, selector_string
from .resolve import (
    KafkaBinding,
    VaultBinding,
    gpu_resource_name,
    required_secret_keys,
    resolve_kafka,
    resolve_vault,
)

__all__ = [
    "MANAGER",
    "ExtensionRef",
    "KafkaBinding",
    "VaultBinding",
    "build_children",
    "build_config_map",
    "build_deployment",
    "build_disruption_budget",
    "build_metrics_service",
    "gpu_resource_name",
    "required_secret_keys",
    "resolve_kafka",
    "resolve_vault",
    "selector_string",
]


def build_children(
    spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings, replicas: int | None
) -> list[dict[str, Any]]:
    """Every child in apply order: the Deployment last, so it never starts before what its pods read."""
    return [
        build_config_map(spec, owner),
        build_metrics_service(spec, owner),
        build_disruption_budget(owner),
        build_deployment(spec, owner, settings, replicas),
    ]
