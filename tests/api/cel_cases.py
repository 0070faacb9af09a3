"""One refused VaultExtension per CEL rule of the CRD, keyed by the rule's message.

`tests/api/test_cel_cases.py` requires a case for every rule (so a new rule without one fails) and checks the
pydantic mirror; `tests/reconcile/test_cel_rules.py` has the real apiserver refuse each case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vaultext_operator.api.privileges import PRIVILEGE_CHECKS, privilege_message


@dataclass(frozen=True)
class Refused:
    spec: dict[str, Any]
    name: str = "bad"
    mirrored: bool = True  # the pydantic models refuse it too (metadata is not theirs)


# Each privilege in several spellings; the first is the rule's case below.
PRIVILEGE_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "privileged": [
        {"containers": [{"name": "worker", "securityContext": {"privileged": True}}]},
        {"initContainers": [{"name": "setup", "image": "busybox", "securityContext": {"privileged": True}}]},
    ],
    "privilegeEscalation": [
        {"containers": [{"name": "worker", "securityContext": {"allowPrivilegeEscalation": True}}]},
    ],
    "capabilities": [
        {"containers": [{"name": "worker", "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}]},
        {"containers": [{"name": "side", "image": "busybox", "securityContext": {"capabilities": {"drop": []}}}]},
    ],
    "hostPath": [
        {"volumes": [{"name": "host", "hostPath": {"path": "/var/run"}}]},
    ],
    "hostNamespaces": [{"hostNetwork": True}, {"hostPID": True}, {"hostIPC": True}],
    "hostPorts": [
        {"containers": [{"name": "worker", "ports": [{"containerPort": 8080, "hostPort": 8080}]}]},
    ],
    "runAsRoot": [
        {"securityContext": {"runAsUser": 0}},
        {"securityContext": {"runAsNonRoot": False}},
        {"containers": [{"name": "worker", "securityContext": {"runAsUser": 0}}]},
        {"initContainers": [{"name": "setup", "image": "busybox", "securityContext": {"runAsNonRoot": False}}]},
    ],
    "unconfined": [
        {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
        {"containers": [{"name": "worker", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}]},
        {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
        {"initContainers": [{"name": "setup", "image": "busybox",
                             "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}]},
        {"containers": [{"name": "worker", "securityContext": {"seLinuxOptions": {"type": "spc_t"}}}]},
        {"securityContext": {"seLinuxOptions": {"user": "system_u"}}},
        {"containers": [{"name": "worker", "securityContext": {"procMount": "Unmasked"}}]},
    ],
    "serviceAccount": [
        {"serviceAccountName": "default"},
        {"serviceAccount": "builder"},
        {"automountServiceAccountToken": True},
    ],
}
# Pod annotations that need a privilege; the spec of these overlays is empty.
PRIVILEGED_ANNOTATIONS: dict[str, dict[str, str]] = {
    "unconfined": {"container.apparmor.security.beta.kubernetes.io/worker": "unconfined"},
}
# Overlays that look close to a privilege but use none.
HARMLESS_OVERLAYS: list[dict[str, Any]] = [
    {"securityContext": {"seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"},
                         "appArmorProfile": {"type": "RuntimeDefault"}}},
    {"containers": [{"name": "worker", "securityContext": {"procMount": "Default",
                                                           "seLinuxOptions": {"type": "", "user": ""}}}]},
    {"containers": [{"name": "worker", "securityContext": {"privileged": False, "allowPrivilegeEscalation": False}}]},
    {"containers": [{"name": "worker", "securityContext": {"capabilities": {"drop": ["ALL", "NET_RAW"]}}}]},
    {"containers": [{"name": "worker", "ports": [{"containerPort": 9090, "hostPort": 0}]}]},
    {"hostNetwork": False, "hostPID": False, "automountServiceAccountToken": False},
    {"securityContext": {"runAsUser": 1000, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}},
    {"volumes": [{"name": "models", "emptyDir": {}}], "priorityClassName": "inference"},
]


def overlay_spec(
    pod_spec: dict[str, Any], privileges: list[str] | None = None, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """A VaultExtension spec whose podTemplate.spec is `pod_spec`."""
    overlay: dict[str, Any] = {"spec": pod_spec}
    if annotations is not None:
        overlay["metadata"] = {"annotations": annotations}
    if privileges is not None:
        overlay["privileges"] = privileges
    return {"image": "x", "podTemplate": overlay}


REFUSED: dict[str, Refused] = {
    "metadata.name must be a lowercase DNS label that starts with a letter, at most 55 characters (it also names "
    "the extension's Service)": Refused({"image": "x"}, name="x" * 60, mirrored=False),
    "/tmp, workingDir and scratch.paths must all differ (each is a mount of the scratch volume)": Refused(
        {"image": "x", "workingDir": "/data", "scratch": {"paths": ["/data"]}}
    ),
    "workingDir and scratch.paths must not be /proc, /sys, /dev or under them": Refused(
        {"image": "x", "scratch": {"paths": ["/data", "/sys/fs/cgroup"]}}
    ),
    "env: set value or valueFrom, not both": Refused(
        {"image": "x", "env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}
    ),
    "valueFrom needs exactly one of secretKeyRef, configMapKeyRef, fieldRef": Refused(
        {"image": "x", "env": [{"name": "A", "valueFrom": {}}]}
    ),
    "gpu.product needs gpu.count > 0": Refused({"image": "x", "gpu": {"count": 0, "product": "A100"}}),
    "gpu.resourceName must not be in the kubernetes.io domain": Refused(
        {"image": "x", "gpu": {"resourceName": "kubernetes.io/gpu"}}
    ),
    "a toleration with operator Exists takes no value": Refused(
        {"image": "x", "gpu": {"tolerations": [{"key": "k", "operator": "Exists", "value": "v"}]}}
    ),
    "a toleration without key needs operator Exists": Refused(
        {"image": "x", "gpu": {"tolerations": [{"operator": "Equal", "value": "v"}]}}
    ),
    "tolerationSeconds applies only to effect NoExecute": Refused(
        {"image": "x", "gpu": {"tolerations": [{"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}]}}
    ),
    "resources.requests.cpu exceeds resources.limits.cpu": Refused(
        {"image": "x", "resources": {"requests": {"cpu": "1500m"}, "limits": {"cpu": "1"}}}
    ),
    "resources.requests.memory exceeds resources.limits.memory": Refused(
        {"image": "x", "resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}}
    ),
    "kafka.output.topic must differ from kafka.input.topic": Refused(
        {"image": "x", "kafka": {"input": {"topic": "a"}, "output": {"topic": "a"}}}
    ),
    "kafka.deadLetter.topic must differ from kafka.input.topic": Refused(
        {"image": "x", "kafka": {"input": {"topic": "a"}, "deadLetter": {"topic": "a"}}}
    ),
    "securityProtocol SASL_PLAINTEXT sends the SASL credentials unencrypted: use SASL_SSL, or set allowPlaintext: "
    "true to accept that": Refused(
        {"image": "x", "kafka": {"auth": {"secretRef": {"name": "s"}, "securityProtocol": "SASL_PLAINTEXT"}}}
    ),
    "autoscaling.engine keda cannot scale kafka.consumption share: KEDA's Kafka scaler reads only consumer "
    "groups; use engine builtin (or none)": Refused(
        {"image": "x", "kafka": {"consumption": "share"}, "autoscaling": {"engine": "keda"}}
    ),
    "autoscaling.minReplicas must not exceed maxReplicas": Refused(
        {"image": "x", "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}
    ),
    "allowIdleConsumers and limitToPartitionsWithLag cannot both be true": Refused(
        {"image": "x", "autoscaling": {"allowIdleConsumers": True, "limitToPartitionsWithLag": True}}
    ),
    "allowIdleConsumers and ensureEvenDistributionOfPartitions cannot both be true": Refused(
        {"image": "x", "autoscaling": {"allowIdleConsumers": True, "ensureEvenDistributionOfPartitions": True}}
    ),
    "autoscaling.fallback.replicas must lie within [minReplicas, maxReplicas]": Refused(
        {"image": "x", "autoscaling": {"minReplicas": 1, "maxReplicas": 3, "fallback": {"replicas": 5}}}
    ),
    "`query` and `serverAddress` apply only to `type: prometheus`": Refused(
        {"image": "x", "autoscaling": {"source": {"type": "kafka", "query": "up"}}}
    ),
    "`provisioner: strimzi` needs `strimziCluster`": Refused(
        {"image": "x", "autoscaling": {"topics": {"provisioner": "strimzi"}}}
    ),
    **{
        privilege_message(check): Refused(overlay_spec(PRIVILEGE_VARIANTS[check.name][0]))
        for check in PRIVILEGE_CHECKS
    },
}

