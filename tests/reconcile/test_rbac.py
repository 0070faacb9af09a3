"""The install's ClusterRole is enough for the operator, and no more than it needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, condition, get_json, wait_for

REPOSITORY = Path(__file__).resolve().parents[2]
ACCOUNT = "system:serviceaccount:vaultext-system:vaultext-operator"


@pytest.fixture
def operator_kubeconfig(kube: Kube, crd: str, tmp_path: Path) -> Iterator[Path]:
    """A kubeconfig that authenticates as the install's ServiceAccount, bound to the install's ClusterRole."""
    kube.kubectl("create", "namespace", "vaultext-system", check=False)
    manifests = REPOSITORY / "manifests"
    for manifest in ("service-account.yaml", "rbac.yaml"):
        kube.kubectl("apply", "--server-side", "-f", str(manifests / manifest))
    created = kube.kubectl("create", "token", "vaultext-operator", "-n", "vaultext-system", "--duration=1h")
    token = created.stdout.strip()
    config = yaml.safe_load(kube.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path = tmp_path / "operator-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("patch", "deployments.apps", "yes"),
        ("get", "secrets", "yes"),
        ("list", "secrets", "no"),
        ("watch", "secrets", "no"),
        ("delete", "deployments.apps", "no"),
        ("create", "pods", "no"),
        ("patch", "vaultextensions.vault.kerberos.io/status", "yes"),
        ("delete", "vaultextensions.vault.kerberos.io", "no"),
        ("delete", "kafkatopics.kafka.strimzi.io", "no"),
        ("update", "leases.coordination.k8s.io", "no"),  # only in the operator's own namespace
    ],
)
def test_the_role_allows_what_it_needs_and_no_more(
    kube: Kube, operator_kubeconfig: Path, verb: str, resource: str, allowed: str
) -> None:
    subresource = resource.split("/", 1)
    extra = ["--subresource", subresource[1]] if len(subresource) == 2 else []
    question = ["auth", "can-i", verb, subresource[0], *extra, f"--as={ACCOUNT}", "-n", "default"]
    answer = kube.kubectl(*question, check=False)
    assert answer.stdout.strip() == allowed, f"{verb} {resource}: {answer.stdout} {answer.stderr}"


def test_operator_reconciles_with_the_install_role(
    kube: Kube, namespace: str, operator_kubeconfig: Path, tmp_path: Path, gpu_nodes: tuple[str, list[str]]
) -> None:
    # the Lease where the install's Role allows it, under a name of this test's own
    operator = OperatorProcess(kube, namespace, tmp_path / "operator.log", kubeconfig=operator_kubeconfig,
                               lease_namespace="vaultext-system", lease_name=f"vaultext-operator-{namespace}")
    operator.start()
    try:
        document = {"apiVersion": "vault.kerberos.io/v1alpha1", "kind": "VaultExtension", "metadata": {"name": "yolo"},
                    "spec": {"image": "registry.example.com/acme/yolo:1.2", "autoscaling": {"engine": "none"}}}
        kube.kubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(document))

        def ready_reason() -> str:
            return str(condition(get_json(kube, "vext", "yolo", "-n", namespace), "Ready").get("reason", ""))

        wait_for(lambda: ready_reason() == "SecretNotFound", 20, "SecretNotFound (Secrets read, nodes listed)")
        kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", namespace,
                     "--from-literal=accessKey=a", "--from-literal=secretKey=b")  # fmt: skip
        wait_for(lambda: ready_reason() == "Available", 60, "Ready=True with the install's permissions")
        forbidden = [line for line in operator.log().splitlines() if "forbidden" in line.lower()]
        assert not forbidden, forbidden
        lease = get_json(kube, "lease", f"vaultext-operator-{namespace}", "-n", "vaultext-system") or {}
        assert lease["spec"]["holderIdentity"] == operator.identity
    finally:
        operator.stop()
