"""`engine: keda`: the rendered ScaledObject and TriggerAuthentication pass a server-side dry-run against
KEDA's real CRDs (from KEDA's Go module, cached by the Go module cache) in the sandbox's apiserver."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from vaultext_operator import kube as kube_module
from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.builders.keda import scaled_object, trigger_authentication, trigger_metadata
from vaultext_operator.builders.strimzi import kafka_topic

pytestmark = [pytest.mark.kube]
KEDA_MODULE = "github.com/kedacore/keda/v2@v2.18.3"
METADATA = {"labels": {"app.kubernetes.io/managed-by": "vaultext-operator"},
            "ownerReferences": [{"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension",
                                 "name": "yolo", "uid": "0b6c1f3e-2a43-4b53-9a43-1f1d6c1e0a01",
                                 "controller": True, "blockOwnerDeletion": True}]}


def keda_crd_dir() -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        answer = subprocess.run(["go", "mod", "download", "-json", KEDA_MODULE], cwd=scratch, check=True,
                                capture_output=True, text=True, timeout=600,
                                env={**os.environ, "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"})
    return Path(json.loads(answer.stdout)["Dir"]) / "config" / "crd" / "bases"


@pytest.fixture(scope="module")
def keda_crds(kube: Any) -> None:
    bases = keda_crd_dir()
    for crd in ("keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(bases / crd))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                 "crd/scaledobjects.keda.sh", "crd/triggerauthentications.keda.sh")
    kube_module.use_kubeconfig(str(kube.kubeconfig))


@pytest.mark.parametrize("fields", [
    {},
    {"minReplicas": 0, "maxReplicas": 40, "lagThreshold": 25, "activationLagThreshold": 3, "cooldownPeriod": 60,
     "pollingInterval": 2, "maxScaleUpStep": 4, "scaleDownStabilizationSeconds": 30,
     "fallback": {"failureThreshold": 2, "replicas": 3}, "offsetResetPolicy": "latest",
     "excludePersistentLag": True, "scaleToZeroOnInvalidOffset": True},
    {"limitToPartitionsWithLag": True, "engine": "keda"},
    {"ensureEvenDistributionOfPartitions": True, "engine": "keda"},
])
def test_scaled_object_passes_dry_run(keda_crds: None, namespace: str, fields: dict[str, Any]) -> None:
    autoscaling = AutoscalingSpec.model_validate(fields)
    trigger = trigger_metadata(autoscaling, "kafka-0:9092,kafka-1:9092", "vaultext-ml-yolo", "vault-events",
                               "SCRAM-SHA-512", "SASL_SSL")
    assert trigger["sasl"] == "scram_sha512" and trigger["tls"] == "enable"
    assert trigger["lagThreshold"] == str(autoscaling.lag_threshold)
    auth = trigger_authentication("yolo", namespace, METADATA, "kafka-credentials")
    stored_auth = kube_module.apply(auth, "vaultext-operator", dry_run=True)
    assert stored_auth["spec"]["secretTargetRef"][0]["parameter"] == "username"
    rendered = scaled_object("yolo", namespace, METADATA, autoscaling, trigger, "yolo")
    stored = kube_module.apply(rendered, "vaultext-operator", dry_run=True)
    assert stored["spec"]["maxReplicaCount"] == autoscaling.max_replicas
    assert stored["spec"]["triggers"][0]["metadata"] == trigger
    assert stored["spec"]["triggers"][0]["authenticationRef"]["name"] == "yolo"
    behavior = stored["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == autoscaling.scale_down_stabilization_seconds
    if autoscaling.fallback is not None:
        assert stored["spec"]["fallback"]["replicas"] == autoscaling.fallback.replicas


def test_a_broken_scaled_object_is_refused(keda_crds: None, namespace: str) -> None:
    rendered = scaled_object("yolo", namespace, METADATA, AutoscalingSpec(), {"topic": "t"}, None)
    rendered["spec"]["minReplicaCount"] = "many"
    with pytest.raises(kube_module.ApplyError, match="minReplicaCount"):
        kube_module.apply(rendered, "vaultext-operator", dry_run=True)


def test_strimzi_topic_names_are_valid_resource_names() -> None:
    topic = kafka_topic("Vault_Events.v2", "ml", "my-cluster", 12, 3)
    assert topic["metadata"]["name"] == "vault-events-v2"
    assert topic["spec"] == {"topicName": "Vault_Events.v2", "partitions": 12, "replicas": 3}
    assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "my-cluster"
