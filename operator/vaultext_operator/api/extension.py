"""The VaultExtension custom resource: its spec (the only required field is `image`) and the whole object."""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .autoscaling import MAX_REPLICAS, AutoscalingSpec
from .common import KEYED_BY_NAME, MAX_LIST, MAX_STRING, ApiModel, LocalObjectReference, cel_rule, unique_names
from .messaging import KafkaSpec, VaultSpec
from .pod_template import PodTemplateOverlay
from .status import VaultExtensionStatus
from .workload import AbsolutePath, EnvVar, GpuSpec, ResourcesSpec, ScratchSpec

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
Runtime = Literal["vaultext", "plain"]
# Images of this name (any registry, tag or digest) run the vaultext worker runtime unless `runtime` says otherwise.
DEFAULT_WORKER_IMAGE = "vaultext-worker"
VAULTEXT_WORKING_DIR = "/work"
SCRATCH_PATHS_DISTINCT = "/tmp, workingDir and scratch.paths must all differ (each is a mount of the scratch volume)"
# Kernel filesystems a container runtime refuses to mount over; the pod would never start.
KERNEL_FILESYSTEMS = ("/proc", "/sys", "/dev")
NOT_ON_KERNEL_FILESYSTEMS = "workingDir and scratch.paths must not be /proc, /sys, /dev or under them"
KEDA_CANNOT_SCALE_SHARE_GROUPS = (
    "autoscaling.engine keda cannot scale kafka.consumption share: KEDA's Kafka scaler reads only consumer "
    "groups; use engine builtin (or none)"
)


def _on_kernel_filesystem_cel(path: str) -> str:
    return " || ".join(f"{path} == '{root}' || {path}.startsWith('{root}/')" for root in KERNEL_FILESYSTEMS)


def on_kernel_filesystem(path: str) -> bool:
    return any(path == root or path.startswith(root + "/") for root in KERNEL_FILESYSTEMS)


def image_name(image: str) -> str:
    """The last path component of an image reference, without tag or digest (`r.io/a/b:1@sha256:..` -> `b`)."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


class VaultExtensionSpec(ApiModel):
    """Desired state of a Kerberos Vault machine-learning extension."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "(!has(self.workingDir) || self.workingDir != '/tmp') && (!has(self.scratch) || "
                    "!has(self.scratch.paths) || (!('/tmp' in self.scratch.paths) && "
                    "(!has(self.workingDir) || !(self.workingDir in self.scratch.paths))))",
                    SCRATCH_PATHS_DISTINCT,
                ),
                cel_rule(
                    f"(!has(self.workingDir) || !({_on_kernel_filesystem_cel('self.workingDir')})) && "
                    "(!has(self.scratch) || !has(self.scratch.paths) || "
                    f"self.scratch.paths.all(p, !({_on_kernel_filesystem_cel('p')})))",
                    NOT_ON_KERNEL_FILESYSTEMS,
                ),
                cel_rule(
                    "!has(self.kafka) || !has(self.kafka.consumption) || self.kafka.consumption != 'share' || "
                    "!has(self.autoscaling) || !has(self.autoscaling.engine) || self.autoscaling.engine != 'keda'",
                    KEDA_CANNOT_SCALE_SHARE_GROUPS,
                ),
            ]
        }
    )

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
    runtime: Runtime | None = Field(
        default=None,
        description=(
            "`vaultext`: the image runs the vaultext worker runtime, which serves /healthz and /readyz on "
            "`metricsPort`, so the pods get HTTP startup, liveness and readiness probes. `plain`: any other "
            "image, e.g. an unchanged upstream Kerberos one; no probes unless `podTemplate` sets them. "
            f"Unset: `vaultext` for images named `{DEFAULT_WORKER_IMAGE}`, else `plain`."
        ),
    )
    working_dir: AbsolutePath | None = Field(
        default=None,
        description=(
            "Directory the container starts in, on the scratch volume (so it starts empty and is writable). "
            f"Unset: `{VAULTEXT_WORKING_DIR}` for runtime `vaultext`; for `plain` images the image's own "
            "WORKDIR, read-only (their entrypoints often name a script relative to it)."
        ),
    )
    scratch: ScratchSpec = Field(
        default_factory=ScratchSpec,
        description="Writable scratch space: /tmp, the working directory and `paths`, on one emptyDir.",
    )
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
        le=MAX_REPLICAS,
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
            "affinity, priorityClassName, probes, ...). Whatever would weaken Pod Security `restricted` "
            "must be listed in `privileges` and allowed by the operator."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unique_names(self.image_pull_secrets, "imagePullSecrets")
        unique_names(self.env, "env")
        mounted = ["/tmp", *([self.working_dir] if self.working_dir else []), *self.scratch.paths]
        if len(set(mounted)) < len(mounted):
            raise ValueError(SCRATCH_PATHS_DISTINCT)
        if any(on_kernel_filesystem(path) for path in mounted):
            raise ValueError(NOT_ON_KERNEL_FILESYSTEMS)
        if self.kafka.consumption == "share" and self.autoscaling.engine == "keda":
            raise ValueError(KEDA_CANNOT_SCALE_SHARE_GROUPS)
        return self

    def effective_runtime(self) -> Runtime:
        if self.runtime is not None:
            return self.runtime
        return "vaultext" if image_name(self.image) == DEFAULT_WORKER_IMAGE else "plain"

    def effective_working_dir(self) -> str | None:
        if self.working_dir is not None:
            return self.working_dir
        return VAULTEXT_WORKING_DIR if self.effective_runtime() == "vaultext" else None


class VaultExtension(ApiModel):
    """A whole VaultExtension object as the apiserver returns it."""

    model_config = ConfigDict(extra="ignore")

    api_version: Literal["vault.kerberos.io/v1alpha1"] = Field(default="vault.kerberos.io/v1alpha1")
    kind: Literal["VaultExtension"] = Field(default="VaultExtension")
    metadata: dict[str, Any] = Field(default_factory=dict)
    spec: VaultExtensionSpec
    status: VaultExtensionStatus = Field(default_factory=VaultExtensionStatus)
