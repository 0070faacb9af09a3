"""Who sets the Deployment's replicas: the spec (engine `none`) or the autoscaler / KEDA (the others)."""

from __future__ import annotations

from typing import Any

from .api import VaultExtensionSpec
from .builders import MANAGER


def replicas_owned_by_others(deployment: dict[str, Any]) -> bool:
    """Whether a field manager other than the operator owns `spec.replicas` (autoscaler, KEDA's HPA)."""
    for entry in deployment.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == MANAGER:
            continue
        fields = entry.get("fieldsV1") or {}
        if "f:replicas" in (fields.get("f:spec") or {}):
            return True
    return False


def replicas_to_apply(spec: VaultExtensionSpec, live: dict[str, Any] | None) -> int | None:
    """The `replicas` the operator's apply carries; None leaves the field to its other owner.

    With autoscaling the operator seeds a new Deployment with `minReplicas` and then keeps the value it set
    until the autoscaler or KEDA takes the field over; from then on it omits it and never fights them.
    """
    if spec.autoscaling.engine == "none":
        return spec.replicas
    if live is None:
        return spec.autoscaling.min_replicas
    if replicas_owned_by_others(live):
        return None
    current = live.get("spec", {}).get("replicas")
    return int(current) if current is not None else spec.autoscaling.min_replicas
