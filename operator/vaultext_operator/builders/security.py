"""Pod Security `restricted` for every container of the pod, and the operator's say on podTemplate privileges."""

from __future__ import annotations

from typing import Any

from ..api import VaultExtensionSpec
from ..settings import OperatorSettings
from .overlay import merge_overlay

NON_ROOT_ID = 65532


def pod_security_context() -> dict[str, Any]:
    """Fresh on every call, like `restricted_container_context`, so no two manifests share a dict."""
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_ID,
        "runAsGroup": NON_ROOT_ID,
        "fsGroup": NON_ROOT_ID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def harden_containers(pod: dict[str, Any]) -> dict[str, Any]:
    """Sidecars and init containers added by podTemplate get the restricted context under their own settings.

    What they set themselves wins; the CRD and `forbidden_privileges` have already judged what they may set.
    """
    hardened = dict(pod)
    for field in ("containers", "initContainers"):
        if field in pod:
            hardened[field] = [
                {**container, "securityContext": _restricted_under(container.get("securityContext") or {})}
                for container in pod[field]
            ]
    return hardened


def _restricted_under(own: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = merge_overlay(restricted_container_context(), own)
    if context.get("privileged") and context.get("allowPrivilegeEscalation") is False:
        # A privileged container can always escalate; the apiserver refuses `false` beside `privileged: true`.
        del context["allowPrivilegeEscalation"]
    return context


def forbidden_privileges(spec: VaultExtensionSpec, settings: OperatorSettings) -> list[str]:
    """Privileges the podTemplate uses that the operator's `allowedPodPrivileges` does not grant."""
    if spec.pod_template is None:
        return []
    return sorted(spec.pod_template.privileges_used() - settings.allowed_privileges())
