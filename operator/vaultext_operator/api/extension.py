"""The VaultExtension custom resource: its spec (the only required field is `image`) and the whole object."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from .autoscaling import AutoscalingSpec
from .common import MAX_LIST, MAX_STRING, ApiModel, LocalObjectReference
from .messaging import KafkaSpec, VaultSpec
from .status import VaultExtensionStatus
from .workload import EnvVar, GpuSpec, PodTemplateOverlay, ResourcesSpec

PullPolicy = Literal["Always", "IfNotPresent", "Never"]


# Lists whose items are keyed by `name`: the apiserver refuses duplicates, as server-side apply would.
KEYED_BY_NAME: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}


def _unique_names(items: list[Any], field: str) -> None:
    names = [item.name for item in items]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"{field}: duplicate names {duplicates}")


class VaultExtensionSpec(ApiModel):
    """Desired state of a Kerberos Vault machine-learning extension."""

    image: str = Field(
        min_length=1,
        max_length=MAX_STRING,
        pattern=r"^[!-~]+$",
        description="Container image of the extension, e.g. `registry.example.com/acme/yolo:1.2`.",
    )
    image_pull_policy: PullPolicy | None = Field(
        default=None, description="`Always`, `IfNotPresent` or `Never`; unset uses the Kubernetes default."
    )
    image_pull_secrets: list[LocalObjectReference] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Secrets for pulling the image.",
        json_schema_extra=KEYED_BY_NAME,
    )
    command: list[str] | None = Field(
        default=None, max_length=MAX_LIST, description="Overrides the image's entrypoint."
    )
    args: list[str] | None = Field(default=None, max_length=MAX_LIST, description="Overrides the image's arguments.")
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Extra environment; a name of the env contract here overrides the operator's value.",
        json_schema_extra=KEYED_BY_NAME,
    )
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Free-form model configuration, handed to the container as JSON in `VAULTEXT_CONFIG`.",
    )
    frames_per_recording: int = Field(
        default=5, ge=1, le=100000, description="Frames sampled per recording (`NUMBER_OF_PREDICTIONS`)."
    )
    metrics_port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the worker's /healthz, /readyz and /metrics."
    )
    gpu: GpuSpec = Field(default_factory=GpuSpec, description="GPUs per replica and where they are.")
    resources: ResourcesSpec | None = Field(
        default=None,
        description="CPU/memory of the worker; unset requests 1 CPU and 2Gi with a 8Gi memory limit.",
    )
    kafka: KafkaSpec = Field(default_factory=KafkaSpec, description="Kafka connection and topics.")
    vault: VaultSpec = Field(default_factory=VaultSpec, description="The Kerberos Vault to read recordings from.")
    replicas: int = Field(
        default=1,
        ge=0,
        le=10000,
        description="Replicas when `autoscaling.engine` is `none` (what `kubectl scale` sets).",
    )
    autoscaling: AutoscalingSpec = Field(
        default_factory=AutoscalingSpec, description="Lag-driven autoscaling."
    )
    termination_grace_period_seconds: int = Field(
        default=60, ge=0, le=86400, description="Time a worker gets to finish its batch after SIGTERM."
    )
    pod_template: PodTemplateOverlay | None = Field(
        default=None,
        description=(
            "Partial pod template merged over the generated one (labels, annotations, volumes, sidecars, "
            "affinity, priorityClassName, hostNetwork, ...); named list items merge by `name`."
        ),
    )


    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        _unique_names(self.image_pull_secrets, "imagePullSecrets")
        _unique_names(self.env, "env")
        return self


class VaultExtension(ApiModel):
    """A whole VaultExtension object as the apiserver returns it."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["vault.kerberos.io/v1alpha1"] = Field(default="vault.kerberos.io/v1alpha1")
    kind: Literal["VaultExtension"] = Field(default="VaultExtension")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: VaultExtensionSpec
    status: VaultExtensionStatus = Field(default_factory=VaultExtensionStatus)
