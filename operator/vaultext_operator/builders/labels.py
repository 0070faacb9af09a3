"""Names, labels and owner references shared by every child of a VaultExtension."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..api import API_VERSION, GROUP, KIND

MANAGER = "vaultext-operator"
EXTENSION_LABEL = f"{GROUP}/extension"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
WORKER_CONTAINER = "worker"
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class ExtensionRef:
    """Identity of the VaultExtension a child belongs to."""

    name: str
    namespace: str
    uid: str


def selector_labels(owner: ExtensionRef) -> dict[str, str]:
    """The labels that select an extension's pods; never change them (Deployment selectors are immutable)."""
    return {EXTENSION_LABEL: owner.name}


def common_labels(owner: ExtensionRef) -> dict[str, str]:
    return {
        **selector_labels(owner),
        "app.kubernetes.io/name": "vault-extension",
        "app.kubernetes.io/instance": owner.name,
        "app.kubernetes.io/component": "inference",
        "app.kubernetes.io/part-of": "vaultext",
        "app.kubernetes.io/managed-by": MANAGER,
    }


def selector_string(owner: ExtensionRef) -> str:
    return ",".join(f"{key}={value}" for key, value in selector_labels(owner).items())


def child_metadata(owner: ExtensionRef, name: str) -> dict[str, Any]:
    """Metadata of a child: its name, the extension's namespace and labels, and a controller owner reference."""
    return {
        "name": name,
        "namespace": owner.namespace,
        "labels": common_labels(owner),
        "ownerReferences": [
            {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }


def config_map_name(owner: ExtensionRef) -> str:
    return f"{owner.name}-config"


def metrics_service_name(owner: ExtensionRef) -> str:
    return f"{owner.name}-metrics"
