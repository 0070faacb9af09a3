"""The pydantic models accept the five-line CR with defaults and refuse what the CRD's rules refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.api.common import parse_quantity

IMAGE = "registry.example.com/acme/yolo:1.2"


def spec(**fields: Any) -> VaultExtensionSpec:
    return VaultExtensionSpec.model_validate({"image": IMAGE, **fields})


def test_image_alone_gets_sensible_defaults() -> None:
    minimal = spec()
    assert minimal.gpu.count == 1
    assert minimal.gpu.resource_name is None  # the operator-wide default applies
    assert minimal.frames_per_recording == 5
    assert minimal.metrics_port == 8080
    assert minimal.replicas == 1
    assert minimal.termination_grace_period_seconds == 60
    assert minimal.autoscaling.min_replicas <= minimal.autoscaling.max_replicas


def test_camel_case_on_the_wire() -> None:
    parsed = spec(imagePullPolicy="Always", kafka={"deadLetter": {"topic": "dlq"}, "consumerGroup": "g"})
    dumped = parsed.model_dump(by_alias=True, exclude_none=True)
    assert dumped["imagePullPolicy"] == "Always"
    assert dumped["kafka"] == {"deadLetter": {"topic": "dlq"}, "consumerGroup": "g", "consumption": "group"}


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"image": ""}, "image"),
        ({"image": "has space"}, "image"),
        ({"gpu": {"count": -1}}, "count"),
        ({"gpu": {"count": 0, "product": "NVIDIA-A100"}}, "gpu.product needs"),
        ({"gpu": {"resourceName": "gpu"}}, "resourceName"),
        ({"gpu": {"resourceName": "kubernetes.io/gpu"}}, "kubernetes.io"),
        ({"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "minReplicas"),
        ({"resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}}, "exceeds"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "cpu"),
        ({"kafka": {"input": {"topic": "a"}, "output": {"topic": "a"}}}, "must differ"),
        ({"kafka": {"input": {"topic": "bad topic"}}}, "topic"),
        ({"vault": {"url": "ftp://vault"}}, "url"),
        ({"env": [{"name": "A", "value": "1", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]}, "not both"),
        ({"env": [{"name": "A", "valueFrom": {}}]}, "exactly one"),
        ({"gpu": {"tolerations": [{"operator": "Equal", "value": "x"}]}}, "without key"),
        ({"gpu": {"tolerations": [{"key": "k", "tolerationSeconds": 5}]}}, "NoExecute"),
        ({"replicas": -1}, "replicas"),
        ({"imagePullSecrets": [{"name": "a"}, {"name": "a"}]}, "duplicate names"),
        ({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "duplicate names"),
        ({"unknownField": 1}, "unknownField"),
        ({"autoscaling": {"maxReplicas": 1001}}, "maxReplicas"),
        ({"autoscaling": {"topics": {"partitions": 1001}}}, "partitions"),
        ({"autoscaling": {"topics": {"replicationFactor": 6}}}, "replicationFactor"),
        ({"replicas": 1001}, "replicas"),
        ({"kafka": {"auth": {"secretRef": {"name": "s"}, "securityProtocol": "SASL_PLAINTEXT"}}}, "allowPlaintext"),
        ({"kafka": {"auth": {"secretRef": {"name": "s"}, "securityProtocol": "PLAINTEXT"}}}, "securityProtocol"),
        ({"kafka": {"auth": {"secretRef": {"name": "s"}, "mechanism": "GSSAPI"}}}, "mechanism"),
        ({"runtime": "docker"}, "runtime"),
        ({"workingDir": "work"}, "workingDir"),
        ({"workingDir": "/tmp"}, "must all differ"),
        ({"scratch": {"paths": ["/data/../etc"]}}, "paths"),
        ({"scratch": {"paths": ["/tmp"]}}, "must all differ"),
        ({"scratch": {"sizeLimit": "lots"}}, "sizeLimit"),
        ({"workingDir": "/proc"}, "must not be /proc"),
        ({"scratch": {"paths": ["/dev/shm"]}}, "must not be /proc"),
        ({"podTemplate": {"spec": {"containers": [{"image": "busybox"}]}}}, "name"),
        ({"podTemplate": {"spec": {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a"}]}}}, "duplicate names"),
        ({"podTemplate": {"privileges": ["root"]}}, "privileges"),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_message(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as refused:
        spec(**fields)
    assert fragment in str(refused.value)


def test_plaintext_sasl_only_with_consent_and_runtime_from_the_image_name() -> None:
    consented = spec(kafka={"auth": {"secretRef": {"name": "s"}, "securityProtocol": "SASL_PLAINTEXT",
                                     "allowPlaintext": True}})  # fmt: skip
    assert consented.kafka.auth is not None and consented.kafka.auth.security_protocol == "SASL_PLAINTEXT"
    assert spec(kafka={"auth": {"secretRef": {"name": "s"}}}).kafka.auth.security_protocol == "SASL_SSL"  # type: ignore[union-attr]
    assert spec().effective_runtime() == "plain"
    assert spec(image="ghcr.io/acme/vaultext-worker:1.0@sha256:00").effective_runtime() == "vaultext"
    assert spec(image="vaultext-worker-fork").effective_runtime() == "plain"
    assert spec(image="vaultext-worker", runtime="plain").effective_working_dir() is None
    assert spec(image="vaultext-worker").effective_working_dir() == "/work"
    assert spec(workingDir="/process", scratch={"paths": ["/devices", "/system"]}).working_dir == "/process"


def test_mig_and_time_sliced_resource_names_are_accepted() -> None:
    assert spec(gpu={"resourceName": "nvidia.com/mig-1g.10gb"}).gpu.resource_name == "nvidia.com/mig-1g.10gb"
    assert spec(gpu={"resourceName": "nvidia.com/gpu.shared"}).gpu.resource_name == "nvidia.com/gpu.shared"


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", "0.5"), ("2", "2"), ("1Ki", "1024"), ("1.5Gi", str(int(1.5 * 2**30))), ("3k", "3000")],
)
def test_quantities_parse_like_kubernetes(text: str, value: str) -> None:
    assert parse_quantity(text) == type(parse_quantity(text))(value)
