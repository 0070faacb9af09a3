"""The typed part of `spec.podTemplate`: every field that could weaken the pod, declared so CEL can see it.

Each model keeps any other field of its Kubernetes type as written (`extra="allow"`); the declared ones are
those `privileges.py` judges.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .common import DNS_LABEL, KEYED_BY_NAME, MAX_LIST, MAX_STRING, ApiModel, unique_names

Capability = Annotated[str, Field(min_length=1, max_length=64)]
UserId = Annotated[int, Field(ge=0, le=2147483647)]


class OpenModel(ApiModel):
    """Declared fields are checked; any other field of the Kubernetes type is kept as written."""

    model_config = ConfigDict(extra="allow")


# SELinux types Pod Security `baseline` accepts; any other (e.g. spc_t) lifts the container's confinement.
CONFINED_SELINUX_TYPES = ("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
UNCONFINED_NOTE = "needs privilege `unconfined`"
Annotations = Annotated[dict[str, Annotated[str, Field(max_length=MAX_STRING)]], Field(max_length=MAX_LIST)]


class SeccompProfile(OpenModel):
    type: Literal["RuntimeDefault", "Localhost", "Unconfined"] = Field(description="Seccomp profile type.")


class AppArmorProfile(OpenModel):
    type: Literal["RuntimeDefault", "Localhost", "Unconfined"] = Field(description="AppArmor profile type.")


class SELinuxOptions(OpenModel):
    type: str | None = Field(default=None, max_length=253, description="SELinux type.")
    user: str | None = Field(default=None, max_length=253, description="SELinux user.")
    role: str | None = Field(default=None, max_length=253, description="SELinux role.")


class Confinement(OpenModel):
    """The security-context fields that confine a process; lifting any of them needs privilege `unconfined`."""

    seccomp_profile: SeccompProfile | None = Field(default=None, description=f"`Unconfined` {UNCONFINED_NOTE}.")
    app_armor_profile: AppArmorProfile | None = Field(
        default=None, description=f"`Unconfined` {UNCONFINED_NOTE}."
    )
    se_linux_options: SELinuxOptions | None = Field(
        default=None,
        alias="seLinuxOptions",
        description=f"A user, role or a type other than {', '.join(filter(None, CONFINED_SELINUX_TYPES))} "
        f"{UNCONFINED_NOTE}.",
    )


class Capabilities(OpenModel):
    add: list[Capability] | None = Field(default=None, max_length=MAX_LIST, description="Capabilities added.")
    drop: list[Capability] | None = Field(default=None, max_length=MAX_LIST, description="Capabilities dropped.")


class ContainerSecurityContext(Confinement):
    privileged: bool | None = Field(default=None, description="Privileged mode (privilege `privileged`).")
    allow_privilege_escalation: bool | None = Field(
        default=None, description="`true` needs privilege `privilegeEscalation`."
    )
    capabilities: Capabilities | None = Field(
        default=None, description="Adding any, or a `drop` without `ALL`, needs privilege `capabilities`."
    )
    run_as_user: UserId | None = Field(default=None, description="`0` needs privilege `runAsRoot`.")
    run_as_non_root: bool | None = Field(default=None, description="`false` needs privilege `runAsRoot`.")
    proc_mount: Literal["Default", "Unmasked"] | None = Field(
        default=None, description=f"`Unmasked` {UNCONFINED_NOTE}."
    )


class ContainerPort(OpenModel):
    host_port: int | None = Field(
        default=None, ge=0, le=65535, description="A host port needs privilege `hostPorts`."
    )


class ContainerOverlay(OpenModel):
    """A container: `worker` extends the generated worker, any other name adds a sidecar."""

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL, description="Container name.")
    security_context: ContainerSecurityContext | None = Field(default=None, description="Security context.")
    ports: list[ContainerPort] | None = Field(default=None, max_length=MAX_LIST, description="Ports.")


class VolumeOverlay(OpenModel):
    """A pod volume; one of the same name as a generated volume replaces it."""

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL, description="Volume name.")
    host_path: dict[str, Any] | None = Field(default=None, description="A hostPath volume needs privilege `hostPath`.")


class PodSecurityContextOverlay(Confinement):
    run_as_user: UserId | None = Field(default=None, description="`0` needs privilege `runAsRoot`.")
    run_as_non_root: bool | None = Field(default=None, description="`false` needs privilege `runAsRoot`.")


class PodSpecOverlay(OpenModel):
    """A partial PodSpec: affinity, priorityClassName, volumes, sidecars, ... (any PodSpec field)."""

    host_network: bool | None = Field(
        default=None, alias="hostNetwork", description="`true` needs privilege `hostNamespaces`."
    )
    host_pid: bool | None = Field(default=None, alias="hostPID", description="`true` needs privilege `hostNamespaces`.")
    host_ipc: bool | None = Field(default=None, alias="hostIPC", description="`true` needs privilege `hostNamespaces`.")
    service_account_name: str | None = Field(
        default=None, max_length=253, description="Setting it needs privilege `serviceAccount`."
    )
    service_account: str | None = Field(
        default=None, max_length=253, description="Deprecated alias of serviceAccountName; same privilege."
    )
    automount_service_account_token: bool | None = Field(
        default=None, description="`true` needs privilege `serviceAccount`."
    )
    security_context: PodSecurityContextOverlay | None = Field(default=None, description="Pod security context.")
    volumes: list[VolumeOverlay] | None = Field(
        default=None, max_length=MAX_LIST, description="Volumes, merged by name.", json_schema_extra=KEYED_BY_NAME
    )
    containers: list[ContainerOverlay] | None = Field(
        default=None, max_length=MAX_LIST, description="Containers, merged by name.", json_schema_extra=KEYED_BY_NAME
    )
    init_containers: list[ContainerOverlay] | None = Field(
        default=None, max_length=MAX_LIST, description="Init containers, merged by name.",
        json_schema_extra=KEYED_BY_NAME,
    )  # fmt: skip

    @model_validator(mode="after")
    def _names_unique(self) -> Self:
        for field, items in (("volumes", self.volumes), ("containers", self.containers),
                             ("initContainers", self.init_containers)):
            unique_names(items or [], f"podTemplate.spec.{field}")
        return self

    def all_containers(self) -> Iterator[ContainerOverlay]:
        yield from self.containers or []
        yield from self.init_containers or []


class PodMetadataOverlay(ApiModel):
    """Labels and annotations added to the pods."""

    labels: dict[str, str] = Field(default_factory=dict, description="Extra pod labels.")
    annotations: Annotations = Field(
        default_factory=dict,
        description=f"Extra pod annotations; `{APPARMOR_ANNOTATION}<container>: unconfined` {UNCONFINED_NOTE}.",
    )
