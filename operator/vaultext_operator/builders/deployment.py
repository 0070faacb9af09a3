"""The extension's Deployment: one GPU worker container per pod, restricted, secrets by reference.

Probes only where the image serves them (runtime `vaultext`); a probe set in podTemplate replaces ours.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..api import VaultExtensionSpec
from ..settings import OperatorSettings
from .environment import config_json, contract_env
from .labels import (
    CONFIG_HASH_ANNOTATION,
    METRICS_PORT_NAME,
    WORKER_CONTAINER,
    ExtensionRef,
    child_metadata,
    common_labels,
    selector_labels,
)
from .overlay import merge_overlay
from .resolve import resource_requirements
from .security import harden_containers, pod_security_context, restricted_container_context

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
# The taint GPU operators put on GPU nodes; a GPU workload tolerates it whatever resource it requests.
GPU_TAINT_KEY = "nvidia.com/gpu"
SCRATCH_VOLUME = "scratch"

Manifest = dict[str, Any]


def _probe(path: str, period: int, failures: int) -> Manifest:
    return {
        "httpGet": {"path": path, "port": METRICS_PORT_NAME},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def scratch_mounts(spec: VaultExtensionSpec) -> list[Manifest]:
    """/tmp, the working directory and `scratch.paths`, each its own folder of the one scratch volume."""
    mounts = [{"name": SCRATCH_VOLUME, "mountPath": "/tmp", "subPath": "tmp"}]
    working_dir = spec.effective_working_dir()
    if working_dir is not None:
        mounts.append({"name": SCRATCH_VOLUME, "mountPath": working_dir, "subPath": "work"})
    mounts += [
        {"name": SCRATCH_VOLUME, "mountPath": path, "subPath": f"path-{index}"}
        for index, path in enumerate(spec.scratch.paths)
    ]
    return mounts


def worker_container(spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings) -> Manifest:
    container: Manifest = {
        "name": WORKER_CONTAINER,
        "image": spec.image,
        "env": contract_env(spec, owner, settings),
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": spec.metrics_port, "protocol": "TCP"}],
        "resources": resource_requirements(spec, settings),
        "securityContext": restricted_container_context(),
        "volumeMounts": scratch_mounts(spec),
    }
    if spec.effective_runtime() == "vaultext":
        # Loading a model onto a GPU can take minutes: the startup probe holds the others back until then.
        container["startupProbe"] = _probe("/healthz", period=5, failures=120)
        container["livenessProbe"] = _probe("/healthz", period=10, failures=3)
        container["readinessProbe"] = _probe("/readyz", period=5, failures=2)
    working_dir = spec.effective_working_dir()
    if working_dir is not None:
        container["workingDir"] = working_dir
    if spec.image_pull_policy:
        container["imagePullPolicy"] = spec.image_pull_policy
    if spec.command is not None:
        container["command"] = list(spec.command)
    if spec.args is not None:
        container["args"] = list(spec.args)
    return container


def pod_spec(spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings) -> Manifest:
    tolerations = [item.model_dump(by_alias=True, exclude_none=True) for item in spec.gpu.tolerations]
    if spec.gpu.count > 0:
        tolerations.insert(0, {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    pod: Manifest = {
        "containers": [worker_container(spec, owner, settings)],
        "securityContext": pod_security_context(),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": spec.termination_grace_period_seconds,
        "tolerations": tolerations,
        "volumes": [{"name": SCRATCH_VOLUME, "emptyDir": {"sizeLimit": spec.scratch.size_limit}}],
    }
    if spec.gpu.product:
        pod["nodeSelector"] = {GPU_PRODUCT_LABEL: spec.gpu.product}
    if spec.gpu.runtime_class_name:
        pod["runtimeClassName"] = spec.gpu.runtime_class_name
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": secret.name} for secret in spec.image_pull_secrets]
    return pod


def pod_template(spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings) -> Manifest:
    config_hash = hashlib.sha256(config_json(spec).encode()).hexdigest()[:16]
    template: Manifest = {
        "metadata": {"labels": common_labels(owner), "annotations": {CONFIG_HASH_ANNOTATION: config_hash}},
        "spec": pod_spec(spec, owner, settings),
    }
    if spec.pod_template is not None:
        template = merge_overlay(template, spec.pod_template.pod_overlay())
        # The overlay may add labels, never move the pods out of the selector.
        template["metadata"]["labels"] = {**template["metadata"]["labels"], **selector_labels(owner)}
        template["spec"] = harden_containers(template["spec"])
    return template


def build_deployment(
    spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings, replicas: int | None
) -> Manifest:
    """The Deployment named like the extension; `replicas=None` leaves the count to its other owner."""
    deployment_spec: Manifest = {
        "selector": {"matchLabels": selector_labels(owner)},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": 600,
        # GPUs are scarce: replace a pod in place rather than needing a spare GPU for a surge pod.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
        "template": pod_template(spec, owner, settings),
    }
    if replicas is not None:
        deployment_spec = {"replicas": replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(owner, owner.name),
        "spec": deployment_spec,
    }
