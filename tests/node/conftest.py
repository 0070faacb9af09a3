"""The operator running in a pod on the real node, shared by the node tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from vaultext_sandbox import Sandbox
from vaultext_sandbox.loop import PROVIDER, Extension, install_operator, uninstall_operator
from vaultext_sandbox.node.real_node import RealNode
from vaultext_sandbox.project_images import BuiltImage
from vaultext_sandbox.vault_standin import VaultStandIn


@pytest.fixture(scope="module")
def operator_in_pod(
    sandbox: Sandbox, real_node: RealNode, project_images: dict[str, BuiltImage],
    vault_for_pods: tuple[VaultStandIn, str],
) -> Iterator[str]:
    """`kubectl apply -k` of the install manifests with the built operator image; returns that image. Removed after
    the module: an operator watching every namespace would also act on the other suites' extensions (a directory
    without `__init__.py` is no pytest package, so "package" scope would last the whole session)."""
    image = project_images["vaultext-operator"].reference
    install_operator(sandbox, image, vault_for_pods[1])
    yield image
    uninstall_operator(sandbox)


@pytest.fixture
def extension(
    sandbox: Sandbox, operator_in_pod: str, project_images: dict[str, BuiltImage],
    vault_for_pods: tuple[VaultStandIn, str],
) -> Iterator[Extension]:
    """A fresh namespace with the Vault Secret and one VaultExtension on the built worker image (not yet created)."""
    suffix = uuid.uuid4().hex[:6]
    vault = vault_for_pods[0]
    made = Extension(sandbox, (vault.access_key, vault.secret_key),
                     lambda key, data: vault.put(PROVIDER, key, data), f"e2e-{suffix}", f"yolo-{suffix}",
                     project_images["vaultext-worker"].reference)
    yield made
    client.CoreV1Api(sandbox.kube().api).delete_namespace(made.namespace)
