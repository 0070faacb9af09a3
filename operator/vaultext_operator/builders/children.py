"""The smaller children of an extension: its config ConfigMap, metrics Service and PodDisruptionBudget."""

from __future__ import annotations

from typing import Any

from ..api import VaultExtensionSpec
from .environment import CONFIG_KEY, config_json
from .labels import (
    METRICS_PORT_NAME,
    ExtensionRef,
    child_metadata,
    config_map_name,
    metrics_service_name,
    selector_labels,
)

Manifest = dict[str, Any]


def build_config_map(spec: VaultExtensionSpec, owner: ExtensionRef) -> Manifest:
    """`spec.config` as JSON; the pods read it through `VAULTEXT_CONFIG`."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(owner, config_map_name(owner)),
        "data": {CONFIG_KEY: config_json(spec)},
    }


def build_metrics_service(spec: VaultExtensionSpec, owner: ExtensionRef) -> Manifest:
    """A headless Service, so Prometheus scrapes every worker pod on its own."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(owner, metrics_service_name(owner)),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(owner),
            "ports": [
                {"name": METRICS_PORT_NAME, "port": spec.metrics_port, "targetPort": METRICS_PORT_NAME}
            ],
        },
    }


def build_disruption_budget(owner: ExtensionRef) -> Manifest:
    """Voluntary evictions (node drains) take one worker at a time; Kafka holds the backlog meanwhile."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(owner, owner.name),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(owner)}},
    }
