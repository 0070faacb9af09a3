"""`spec.podTemplate`: a partial pod template merged over the generated one, and the privileges it may ask for.

The generated pod meets Pod Security `restricted`. The overlay is free-form, but the fields that could weaken
the pod are declared here, so CEL can see them: a CR whose overlay uses one of them must name that privilege
in `podTemplate.privileges` (the apiserver refuses it otherwise), and the operator still refuses the pod
(`Ready=False`, `PodTemplateForbidden`) unless its `allowedPodPrivileges` setting grants the privilege.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import ConfigDict, Field, model_validator
from pydantic.config import JsonValue

from .common import DNS_LABEL, KEYED_BY_NAME, MAX_LIST, MAX_STRING, ApiModel, cel_rule, unique_names

PodPrivilege = Literal[
    "privileged",
    "privilegeEscalation",
    "capabilities",
    "hostPath",
    "hostNamespaces",
    "hostPorts",
    "runAsRoot",
    "unconfined",
    "serviceAccount",
]
POD_PRIVILEGES: tuple[str, ...] = get_args(PodPrivilege)
CONTAINER_LISTS = ("containers", "initContainers")
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


# --- each privilege: what it means, how CEL spots it, and the same test in Python ---------------------------


def _has(path: str) -> str:
    """CEL: every step of a dotted path is set (`a.b.c` -> `has(a.b) && has(a.b.c)`)."""
    parts = path.split(".")
    return " && ".join(f"has({'.'.join(parts[: index + 1])})" for index in range(1, len(parts)))


def _in_any_container(predicate: str) -> str:
    return " || ".join(
        f"(has(self.spec.{lists}) && self.spec.{lists}.exists(c, {predicate}))" for lists in CONTAINER_LISTS
    )


def _root_user(context: str) -> str:
    return (
        f"({_has(context + '.runAsUser')} && {context}.runAsUser == 0) || "
        f"({_has(context + '.runAsNonRoot')} && !{context}.runAsNonRoot)"
    )


def _unconfined(context: str) -> str:
    selinux = f"{context}.seLinuxOptions"
    confined_types = ", ".join(f"'{name}'" for name in CONFINED_SELINUX_TYPES)
    return " || ".join([
        f"({_has(context + '.seccompProfile.type')} && {context}.seccompProfile.type == 'Unconfined')",
        f"({_has(context + '.appArmorProfile.type')} && {context}.appArmorProfile.type == 'Unconfined')",
        f"({_has(selinux + '.type')} && !({selinux}.type in [{confined_types}]))",
        f"({_has(selinux + '.user')} && {selinux}.user != '')",
        f"({_has(selinux + '.role')} && {selinux}.role != '')",
    ])  # fmt: skip


def _is_root(context: ContainerSecurityContext | PodSecurityContextOverlay | None) -> bool:
    return context is not None and (context.run_as_user == 0 or context.run_as_non_root is False)


def _is_unconfined(context: Confinement | None) -> bool:
    if context is None:
        return False
    selinux = context.se_linux_options
    return (
        (context.seccomp_profile is not None and context.seccomp_profile.type == "Unconfined")
        or (context.app_armor_profile is not None and context.app_armor_profile.type == "Unconfined")
        or (selinux is not None and (selinux.type or "") not in CONFINED_SELINUX_TYPES)
        or (selinux is not None and bool(selinux.user or selinux.role))
        or (isinstance(context, ContainerSecurityContext) and context.proc_mount == "Unmasked")
    )


def _apparmor_annotation_unconfined(annotations: dict[str, str]) -> bool:
    return any(key.startswith(APPARMOR_ANNOTATION) and value == "unconfined" for key, value in annotations.items())


def _widens_capabilities(context: ContainerSecurityContext | None) -> bool:
    capabilities = context.capabilities if context else None
    if capabilities is None:
        return False
    return bool(capabilities.add) or (capabilities.drop is not None and "ALL" not in capabilities.drop)


@dataclass(frozen=True)
class PrivilegeCheck:
    name: str
    what: str  # completes "podTemplate ..." in messages
    cel: str  # true when the overlay (`self`) uses the privilege
    uses: Callable[[PodSpecOverlay, PodMetadataOverlay], bool]


PRIVILEGE_CHECKS: tuple[PrivilegeCheck, ...] = (
    PrivilegeCheck(
        "privileged", "runs a privileged container",
        _in_any_container(f"{_has('c.securityContext.privileged')} && c.securityContext.privileged"),
        lambda pod, _: any(c.security_context and c.security_context.privileged for c in pod.all_containers()),
    ),
    PrivilegeCheck(
        "privilegeEscalation", "allows privilege escalation",
        _in_any_container(
            f"{_has('c.securityContext.allowPrivilegeEscalation')} && c.securityContext.allowPrivilegeEscalation"
        ),
        lambda pod, _: any(
            c.security_context and c.security_context.allow_privilege_escalation for c in pod.all_containers()
        ),
    ),
    PrivilegeCheck(
        "capabilities", "adds capabilities or drops less than ALL",
        _in_any_container(
            f"{_has('c.securityContext.capabilities')} && ((has(c.securityContext.capabilities.add) && "
            "c.securityContext.capabilities.add.size() > 0) || "
            "(has(c.securityContext.capabilities.drop) && !('ALL' in c.securityContext.capabilities.drop)))"
        ),
        lambda pod, _: any(_widens_capabilities(c.security_context) for c in pod.all_containers()),
    ),
    PrivilegeCheck(
        "hostPath", "mounts a hostPath volume",
        "has(self.spec.volumes) && self.spec.volumes.exists(v, has(v.hostPath))",
        lambda pod, _: any(volume.host_path is not None for volume in pod.volumes or []),
    ),
    PrivilegeCheck(
        "hostNamespaces", "shares a host namespace (hostNetwork, hostPID or hostIPC)",
        " || ".join(f"({_has('self.spec.' + field)} && self.spec.{field})"
                    for field in ("hostNetwork", "hostPID", "hostIPC")),
        lambda pod, _: bool(pod.host_network or pod.host_pid or pod.host_ipc),
    ),
    PrivilegeCheck(
        "hostPorts", "binds a host port",
        _in_any_container("has(c.ports) && c.ports.exists(p, has(p.hostPort) && p.hostPort != 0)"),
        lambda pod, _: any(p.host_port for c in pod.all_containers() for p in c.ports or []),
    ),
    PrivilegeCheck(
        "runAsRoot", "runs as root (runAsUser 0 or runAsNonRoot false)",
        f"({_has('self.spec.securityContext')} && ({_root_user('self.spec.securityContext')})) || "
        + _in_any_container(f"has(c.securityContext) && ({_root_user('c.securityContext')})"),
        lambda pod, _: _is_root(pod.security_context)
        or any(_is_root(c.security_context) for c in pod.all_containers()),
    ),
    PrivilegeCheck(
        "unconfined", "lifts seccomp, AppArmor or SELinux confinement, or unmasks /proc",
        f"({_has('self.spec.securityContext')} && ({_unconfined('self.spec.securityContext')})) || "
        + _in_any_container(
            f"has(c.securityContext) && ({_unconfined('c.securityContext')} || "
            "(has(c.securityContext.procMount) && c.securityContext.procMount == 'Unmasked'))"
        )
        + " || (has(self.metadata) && has(self.metadata.annotations) && self.metadata.annotations.exists(k, "
        f"k.startsWith('{APPARMOR_ANNOTATION}') && self.metadata.annotations[k] == 'unconfined'))",
        lambda pod, metadata: _is_unconfined(pod.security_context)
        or any(_is_unconfined(c.security_context) for c in pod.all_containers())
        or _apparmor_annotation_unconfined(metadata.annotations),
    ),
    PrivilegeCheck(
        "serviceAccount", "sets a service account or mounts its token",
        "has(self.spec.serviceAccountName) || has(self.spec.serviceAccount) || "
        f"({_has('self.spec.automountServiceAccountToken')} && self.spec.automountServiceAccountToken)",
        lambda pod, _: pod.service_account_name is not None or pod.service_account is not None
        or bool(pod.automount_service_account_token),
    ),
)  # fmt: skip
assert tuple(check.name for check in PRIVILEGE_CHECKS) == POD_PRIVILEGES


def privilege_message(check: PrivilegeCheck) -> str:
    return (
        f"podTemplate {check.what}: list `{check.name}` in podTemplate.privileges to ask for it "
        "(the operator must allow it too)"
    )


def _privilege_rules() -> list[JsonValue]:
    return [
        cel_rule(
            f"!(has(self.spec) && ({check.cel})) || (has(self.privileges) && '{check.name}' in self.privileges)",
            privilege_message(check),
        )
        for check in PRIVILEGE_CHECKS
    ]


class PodTemplateOverlay(ApiModel):
    """A partial pod template merged over the generated one, for what the spec does not model.

    Maps merge key by key. Containers merge by `name` (a container named `worker` extends the worker, any
    other name adds a sidecar); volumes and env variables replace the generated one of the same `name`,
    volume mounts the one at the same `mountPath`; a probe replaces the generated probe; other lists
    replace the generated ones.
    """

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _privilege_rules()})

    privileges: list[PodPrivilege] = Field(
        default_factory=list,
        max_length=len(POD_PRIVILEGES),
        description=(
            "Privileges this overlay needs beyond Pod Security `restricted`: " + ", ".join(POD_PRIVILEGES)
            + ". Each must also be granted by the operator's allowedPodPrivileges setting."
        ),
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    metadata: PodMetadataOverlay = Field(default_factory=PodMetadataOverlay, description="Pod metadata.")
    spec: PodSpecOverlay = Field(default_factory=PodSpecOverlay, description="Partial PodSpec.")

    @model_validator(mode="after")
    def _privileges_declared(self) -> Self:
        for check in PRIVILEGE_CHECKS:
            if check.name not in self.privileges and check.uses(self.spec, self.metadata):
                raise ValueError(privilege_message(check))
        return self

    def privileges_used(self) -> set[str]:
        return {check.name for check in PRIVILEGE_CHECKS if check.uses(self.spec, self.metadata)}

    def pod_overlay(self) -> dict[str, Any]:
        """The overlay as a pod template fragment (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, exclude={"privileges"})
