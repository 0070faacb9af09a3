"""Pod-level parts of the spec: GPU, CPU/memory, environment and tolerations."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .common import (
    DNS_SUBDOMAIN,
    ENV_VAR_NAME,
    EXTENDED_RESOURCE_NAME,
    LABEL_VALUE,
    MAX_LIST,
    MAX_STRING,
    QUALIFIED_NAME,
    SECRET_KEY,
    ApiModel,
    ObjectName,
    Quantity,
    cel_rule,
    parse_quantity,
)

FieldPath = Literal[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.podIP",
]


class Toleration(ApiModel):
    """A pod toleration (the Kubernetes shape), e.g. for tainted GPU nodes."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "!(self.operator == 'Exists' && has(self.value) && self.value != '')",
                    "a toleration with operator Exists takes no value",
                ),
                cel_rule(
                    "(has(self.key) && self.key != '') || self.operator == 'Exists'",
                    "a toleration without key needs operator Exists",
                ),
                cel_rule(
                    "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                    "tolerationSeconds applies only to effect NoExecute",
                ),
            ]
        }
    )

    key: str | None = Field(default=None, max_length=316, pattern=QUALIFIED_NAME, description="Taint key.")
    operator: Literal["Exists", "Equal"] = Field(default="Equal", description="`Exists` or `Equal`.")
    value: str | None = Field(default=None, max_length=63, pattern=LABEL_VALUE, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; unset tolerates all effects."
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="How long a NoExecute taint is tolerated."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without key needs operator Exists")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("tolerationSeconds applies only to effect NoExecute")
        return self


class GpuSpec(ApiModel):
    """The accelerators each replica gets."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule("!has(self.product) || self.count > 0", "gpu.product needs gpu.count > 0"),
                cel_rule(
                    "!has(self.resourceName) || !self.resourceName.startsWith('kubernetes.io/')",
                    "gpu.resourceName must not be in the kubernetes.io domain",
                ),
            ]
        }
    )

    count: int = Field(default=1, ge=0, le=64, description="GPUs per replica; 0 runs on CPU only.")
    resource_name: str | None = Field(
        default=None,
        max_length=317,
        pattern=EXTENDED_RESOURCE_NAME,
        description=(
            "Extended resource to request, e.g. `nvidia.com/gpu`, a MIG slice such as `nvidia.com/mig-1g.10gb`, "
            "or time-sliced `nvidia.com/gpu.shared`. Unset uses the operator-wide default (`nvidia.com/gpu`)."
        ),
    )
    product: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=LABEL_VALUE,
        description="GPU model; becomes the nodeSelector `nvidia.com/gpu.product` (e.g. `NVIDIA-A100-SXM4-40GB`).",
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=MAX_LIST, description="Extra tolerations, e.g. for tainted GPU nodes."
    )
    runtime_class_name: str | None = Field(
        default=None,
        max_length=253,
        pattern=DNS_SUBDOMAIN,
        description="RuntimeClass of the pod, e.g. `nvidia`.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.product is not None and self.count == 0:
            raise ValueError("gpu.product needs gpu.count > 0")
        if self.resource_name is not None and self.resource_name.startswith("kubernetes.io/"):
            raise ValueError("gpu.resourceName must not be in the kubernetes.io domain")
        return self


class ResourceAmounts(ApiModel):
    """CPU and memory amounts, as Kubernetes quantities."""

    cpu: Quantity | None = Field(default=None, description="CPU, e.g. `500m` or `2`.")
    memory: Quantity | None = Field(default=None, description="Memory, e.g. `2Gi`.")


_REQUEST_WITHIN_LIMIT = (
    "!has(self.requests) || !has(self.limits) || !has(self.requests.{r}) || !has(self.limits.{r}) "
    "|| quantity(self.requests.{r}).compareTo(quantity(self.limits.{r})) <= 0"
)


class ResourcesSpec(ApiModel):
    """CPU/memory requests and limits of the worker container (GPUs come from `gpu`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(_REQUEST_WITHIN_LIMIT.format(r=r), f"resources.requests.{r} exceeds resources.limits.{r}")
                for r in ("cpu", "memory")
            ]
        }
    )

    requests: ResourceAmounts | None = Field(default=None, description="Guaranteed amounts (scheduling).")
    limits: ResourceAmounts | None = Field(default=None, description="Upper bounds.")

    @model_validator(mode="after")
    def _requests_within_limits(self) -> Self:
        for resource in ("cpu", "memory"):
            request = getattr(self.requests, resource, None) if self.requests else None
            limit = getattr(self.limits, resource, None) if self.limits else None
            if request is not None and limit is not None and parse_quantity(request) > parse_quantity(limit):
                raise ValueError(f"resources.requests.{resource} exceeds resources.limits.{resource}")
        return self


class KeySelector(ApiModel):
    """One key of a Secret or ConfigMap in the extension's namespace."""

    name: ObjectName = Field(description="Name of the Secret or ConfigMap.")
    key: str = Field(min_length=1, max_length=253, pattern=SECRET_KEY, description="The key.")
    optional: bool | None = Field(default=None, description="Start even when the key is missing.")


class FieldSelector(ApiModel):
    """A field of the pod itself (downward API)."""

    field_path: FieldPath = Field(description="Pod field, e.g. `status.podIP`.")


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from; exactly one source."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "[has(self.secretKeyRef), has(self.configMapKeyRef), has(self.fieldRef)]"
                    ".filter(x, x).size() == 1",
                    "valueFrom needs exactly one of secretKeyRef, configMapKeyRef, fieldRef",
                )
            ]
        }
    )

    secret_key_ref: KeySelector | None = Field(default=None, description="A key of a Secret.")
    config_map_key_ref: KeySelector | None = Field(default=None, description="A key of a ConfigMap.")
    field_ref: FieldSelector | None = Field(default=None, description="A field of the pod.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        sources = [self.secret_key_ref, self.config_map_key_ref, self.field_ref]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("valueFrom needs exactly one of secretKeyRef, configMapKeyRef, fieldRef")
        return self


class EnvVar(ApiModel):
    """An extra environment variable; it overrides an operator-provided variable of the same name."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule("!(has(self.value) && has(self.valueFrom))", "env: set value or valueFrom, not both")
            ]
        }
    )

    name: str = Field(min_length=1, max_length=256, pattern=ENV_VAR_NAME, description="Variable name.")
    value: str | None = Field(default=None, max_length=MAX_STRING * 32, description="Literal value.")
    value_from: EnvVarSource | None = Field(default=None, description="Value from a Secret, ConfigMap or the pod.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.value is not None and self.value_from is not None:
            raise ValueError("env: set value or valueFrom, not both")
        return self


# An absolute path of plain segments: no `.` or `..`, no `:` (a mount path may not hold one).
ABSOLUTE_PATH = r"^(/\.?[-_a-zA-Z0-9][-._a-zA-Z0-9]*)+$"
AbsolutePath = Annotated[str, Field(min_length=2, max_length=256, pattern=ABSOLUTE_PATH)]


class ScratchSpec(ApiModel):
    """The pod's writable scratch space: one size-limited emptyDir; the root filesystem stays read-only."""

    size_limit: Quantity = Field(default="2Gi", description="Most the scratch volume may hold (emptyDir sizeLimit).")
    paths: list[AbsolutePath] = Field(
        default_factory=list,
        max_length=16,
        description=(
            "More writable directories on the scratch volume, besides /tmp and the working directory, e.g. "
            "`/ml/data` for an image that saves downloads under its install folder. Each starts empty."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
