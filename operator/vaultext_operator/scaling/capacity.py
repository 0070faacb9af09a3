"""Which nodes can run an extension's GPU pods, and how many replicas their GPUs hold (pure).

`eligible_node` is the one eligibility rule: the reconcile's "does any node offer this GPU?" and the autoscaler's
capacity cap both ask it.

Per eligible node: allocatable of the GPU resource minus what pods of OTHER workloads request there, divided
by the GPUs one replica asks for. The extension's own pods do not count against it: they are the replicas
being sized. Eligible: schedulable, Ready, carrying the resource, matching `gpu.product`, and with no
NoSchedule/NoExecute taint the pod does not tolerate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.builders.deployment import GPU_TAINT_KEY
from vaultext_operator.builders.labels import ExtensionRef, selector_labels
from vaultext_operator.builders.resolve import gpu_resource_name
from vaultext_operator.settings import OperatorSettings

Json = Mapping[str, Any]
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
FINISHED_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class GpuDemand:
    resource: str  # e.g. nvidia.com/gpu, nvidia.com/mig-1g.10gb
    per_replica: int  # > 0
    product: str | None
    tolerations: tuple[Json, ...]  # as in the pod spec
    own_labels: Mapping[str, str]  # selector of the extension's pods


def gpu_demand(spec: VaultExtensionSpec, ref: ExtensionRef, settings: OperatorSettings) -> GpuDemand | None:
    """What one replica of the extension asks of a node (None without GPUs), tolerations as its pods carry."""
    if spec.gpu.count <= 0:
        return None
    tolerations = ({"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
                   *(x.model_dump(by_alias=True, exclude_none=True) for x in spec.gpu.tolerations))
    return GpuDemand(gpu_resource_name(spec, settings), spec.gpu.count, spec.gpu.product, tolerations,
                     selector_labels(ref))


def _quantity(value: Any) -> Decimal:
    text = str(value or "0")
    return Decimal(text[:-1]) / 1000 if text.endswith("m") else Decimal(text)


def _tolerated(taint: Json, tolerations: Iterable[Json]) -> bool:
    for toleration in tolerations:
        effect_ok = not toleration.get("effect") or toleration.get("effect") == taint.get("effect")
        if toleration.get("operator") == "Exists":
            key_ok = not toleration.get("key") or toleration.get("key") == taint.get("key")
        else:
            key_ok = toleration.get("key") == taint.get("key") and toleration.get("value") == taint.get("value")
        if effect_ok and key_ok:
            return True
    return False


def eligible_node(node: Json, resource: str, product: str | None, tolerations: Iterable[Json]) -> bool:
    """Schedulable, Ready, offering `resource`, labelled `product` (if given), no untolerated NoSchedule or
    NoExecute taint."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    if spec.get("unschedulable"):
        return False
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    if not ready:
        return False
    labels = (node.get("metadata") or {}).get("labels") or {}
    if product is not None and labels.get(GPU_PRODUCT_LABEL) != product:
        return False
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerated(taint, tolerations):
            return False
    return _quantity((status.get("allocatable") or {}).get(resource)) > 0


def _requested(pod: Json, resource: str) -> Decimal:
    spec = pod.get("spec") or {}
    containers = sum(
        _quantity(((c.get("resources") or {}).get("requests") or (c.get("resources") or {}).get("limits") or {})
                  .get(resource))
        for c in spec.get("containers") or []
    ) + Decimal(0)
    init = max(
        (_quantity(((c.get("resources") or {}).get("requests") or {}).get(resource))
         for c in spec.get("initContainers") or []),
        default=Decimal(0),
    )
    return max(containers, init)


def schedulable_replicas(nodes: Iterable[Json], pods: Iterable[Json], demand: GpuDemand) -> int:
    used: dict[str, Decimal] = defaultdict(Decimal)
    for pod in pods:
        node_name = (pod.get("spec") or {}).get("nodeName")
        if not node_name or (pod.get("status") or {}).get("phase") in FINISHED_PHASES:
            continue
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in demand.own_labels.items()):
            continue
        used[node_name] += _requested(pod, demand.resource)
    total = 0
    for node in nodes:
        if not eligible_node(node, demand.resource, demand.product, demand.tolerations):
            continue
        name = (node.get("metadata") or {}).get("name", "")
        free = _quantity((node.get("status") or {}).get("allocatable", {}).get(demand.resource)) - used[name]
        total += max(0, int(free // demand.per_replica))
    return total
