"""Secrets are read only in the namespaces the operator watches, and the shipped RBAC can grant exactly that."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from vaultext_operator import kube as operator_kube
from vaultext_operator.runtime import Runtime
from vaultext_operator.settings import OperatorSettings
from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, condition, get_json, wait_for

REPOSITORY = Path(__file__).resolve().parents[2]
ACCOUNT = "system:serviceaccount:vaultext-system:vaultext-operator"


@pytest.fixture
def unwatched(kube: Kube) -> Iterator[str]:
    """A second namespace, never watched, holding a Secret of the same name as the watched one's."""
    name = f"unwatched-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("create", "secret", "generic", "kafka-auth", "-n", name, "--from-literal=username=elsewhere")
    try:
        yield name
    finally:
        kube.kubectl("delete", "namespace", name, "--wait=false")


def test_a_secret_outside_the_watched_namespaces_is_never_read(kube: Kube, namespace: str, unwatched: str) -> None:
    kube.kubectl("create", "secret", "generic", "kafka-auth", "-n", namespace, "--from-literal=username=here")
    operator_kube.use_kubeconfig(str(kube.kubeconfig))
    runtime = Runtime(OperatorSettings(namespaces=namespace, health_port=0, metrics_port=0, leader_election=False))
    try:  # the runtime of an operator run with `-n <namespace>` sets the scope
        assert operator_kube.secret_data(namespace, "kafka-auth") == {"username": "here"}
        with pytest.raises(operator_kube.SecretOutsideWatch):
            operator_kube.secret_data(unwatched, "kafka-auth")
        with pytest.raises(operator_kube.SecretOutsideWatch):
            operator_kube.secret_keys(unwatched, "kafka-auth")
    finally:
        runtime.shutdown()
        operator_kube.read_secrets_only_in([])


@pytest.fixture
def namespaced_kubeconfig(kube: Kube, crd: str, namespace: str, tmp_path: Path) -> Iterator[Path]:
    """The install's ServiceAccount with Secrets granted in `namespace` only: the ClusterRole of Secrets bound
    by a RoleBinding there instead of the ClusterRoleBinding (as docs/operations.md says)."""
    kube.kubectl("create", "namespace", "vaultext-system", check=False)
    for manifest in ("service-account.yaml", "rbac.yaml"):
        kube.kubectl("apply", "--server-side", "-f", str(REPOSITORY / "manifests" / manifest))
    kube.kubectl("delete", "clusterrolebinding", "vaultext-operator-secrets")
    kube.kubectl("create", "rolebinding", "vaultext-operator-secrets", "-n", namespace,
                 "--clusterrole=vaultext-operator-secrets", "--serviceaccount=vaultext-system:vaultext-operator")
    token = kube.kubectl("create", "token", "vaultext-operator", "-n", "vaultext-system", "--duration=1h").stdout
    config = yaml.safe_load(kube.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token.strip()}
    path = tmp_path / "operator-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    try:
        yield path
    finally:  # the cluster-wide install again, for the other tests
        kube.kubectl("apply", "--server-side", "-f", str(REPOSITORY / "manifests" / "rbac.yaml"))


def test_the_operator_runs_with_secrets_granted_only_in_its_watched_namespace(
    kube: Kube, namespace: str, unwatched: str, namespaced_kubeconfig: Path, tmp_path: Path,
    gpu_nodes: tuple[str, list[str]],
) -> None:
    for where, allowed in ((namespace, "yes"), (unwatched, "no")):
        answer = kube.kubectl("auth", "can-i", "get", "secrets", f"--as={ACCOUNT}", "-n", where, check=False)
        assert answer.stdout.strip() == allowed, (where, answer.stdout, answer.stderr)
    operator = OperatorProcess(kube, namespace, tmp_path / "operator.log", kubeconfig=namespaced_kubeconfig,
                               lease_namespace="vaultext-system", lease_name=f"vaultext-operator-{namespace}")
    operator.start()
    try:
        kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                     "--from-literal=accessKey=a", "--from-literal=secretKey=b")
        document = {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": "yolo"},
                    "spec": {"image": "registry.example.com/acme/yolo:1.2", "autoscaling": {"engine": "none"}}}
        kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))

        def ready_reason() -> str:
            return str(condition(get_json(kube, "vext", "yolo", "-n", namespace), "Ready").get("reason", ""))

        wait_for(lambda: ready_reason() == "Available", 60, "Ready=True with Secrets granted in one namespace")
        forbidden = [line for line in operator.log().splitlines() if "forbidden" in line.lower()]
        assert not forbidden, forbidden
    finally:
        operator.stop()
