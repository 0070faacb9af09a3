"""The privileges a `podTemplate` may ask for beyond Pod Security `restricted`: what each means, the CEL rule that
spots it (the CRD refuses an overlay that uses one without listing it) and the same test in Python.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from pydantic.config import JsonValue

from .common import cel_rule
from .pod_overlay import (
    APPARMOR_ANNOTATION,
    CONFINED_SELINUX_TYPES,
    Confinement,
    ContainerSecurityContext,
    PodMetadataOverlay,
    PodSecurityContextOverlay,
    PodSpecOverlay,
)

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


def privilege_rules() -> list[JsonValue]:
    return [
        cel_rule(
            f"!(has(self.spec) && ({check.cel})) || (has(self.privileges) && '{check.name}' in self.privileges)",
            privilege_message(check),
        )
        for check in PRIVILEGE_CHECKS
    ]
