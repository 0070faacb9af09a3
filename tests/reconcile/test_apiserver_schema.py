"""The generated CRD against the real apiserver: it installs, the samples validate, invalid CRs are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vaultext_sandbox import Kube

REPOSITORY = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPOSITORY / "manifests" / "samples").glob("*.yaml"))


def cr(name: str, spec: dict[str, object]) -> str:
    return yaml.safe_dump(
        {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": name}, "spec": spec}
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=[path.name for path in SAMPLES])
def test_every_sample_validates(kube: Kube, crd: str, namespace: str, sample: Path) -> None:
    applied = kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", str(sample), check=False)
    assert applied.returncode == 0, applied.stderr


def test_apiserver_fills_in_defaults(kube: Kube, crd: str, namespace: str) -> None:
    applied = kube.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-o", "yaml", "-f", "-",
        input=cr("yolo", {"image": "registry.example.com/acme/yolo:1.2"}),
    )  # fmt: skip
    spec = yaml.safe_load(applied.stdout)["spec"]
    assert spec["gpu"]["count"] == 1
    assert spec["replicas"] == 1
    assert spec["autoscaling"]["minReplicas"] <= spec["autoscaling"]["maxReplicas"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"image": "x", "gpu": {"count": -1}}, "spec.gpu.count"),
        ({"image": ""}, "spec.image"),
        ({"gpu": {"count": 1}}, "spec.image: Required value"),
        ({"image": "x", "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}, "minReplicas must not exceed"),
        ({"image": "x", "resources": {"requests": {"memory": "8Gi"}, "limits": {"memory": "4Gi"}}}, "exceeds"),
        ({"image": "x", "kafka": {"input": {"topic": "a"}, "output": {"topic": "a"}}}, "must differ"),
        ({"image": "x", "gpu": {"count": 0, "product": "A100"}}, "gpu.product needs"),
        ({"image": "x", "gpu": {"resourceName": "no-slash"}}, "spec.gpu.resourceName"),
        ({"image": "x", "autoscaling": {"engine": "magic"}}, "spec.autoscaling.engine"),
        ({"image": "x", "env": [{"name": "A", "valueFrom": {}}]}, "exactly one"),
        ({"image": "x", "env": [{"name": "A", "value": "1"}, {"name": "A"}]}, "Duplicate value"),
        ({"image": "x", "autoscaling": {"maxReplicas": 1001}}, "spec.autoscaling.maxReplicas"),
        ({"image": "x", "autoscaling": {"topics": {"partitions": 1001}}}, "spec.autoscaling.topics.partitions"),
        ({"image": "x", "autoscaling": {"topics": {"replicationFactor": 6}}}, "replicationFactor"),
        ({"image": "x", "replicas": 1001}, "spec.replicas"),
        ({"image": "x", "podTemplate": {"spec": {"containers": [{"image": "busybox"}]}}}, "name: Required value"),
    ],
)
def test_invalid_crs_are_refused(kube: Kube, crd: str, namespace: str, spec: dict[str, object], message: str) -> None:
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=cr("bad", spec), check=False)
    assert refused.returncode != 0
    assert message in refused.stderr, refused.stderr


def test_names_that_cannot_name_a_service_are_refused(kube: Kube, crd: str, namespace: str) -> None:
    refused = kube.kubectl("apply", "-n", namespace, "-f", "-", input=cr("x" * 60, {"image": "x"}), check=False)
    assert refused.returncode != 0 and "metadata.name" in refused.stderr, refused.stderr


def test_explain_shows_field_descriptions(kube: Kube, crd: str) -> None:
    explained = kube.kubectl("explain", "vext.spec.gpu.resourceName")
    assert "nvidia.com/mig-1g.10gb" in explained.stdout


def test_install_manifests_apply(kube: Kube, crd: str) -> None:
    kube.kubectl("create", "namespace", "vaultext-system", check=False)
    applied = kube.kubectl(
        "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k", str(REPOSITORY / "manifests"),
        check=False,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    for kind in ("customresourcedefinition", "serviceaccount", "clusterrole", "clusterrolebinding", "deployment"):
        assert kind in applied.stdout, applied.stdout
