"""Fixtures for reconcile tests against the sandbox: the CRD installed, the operator as a real process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, install_crd


@pytest.fixture(scope="session")
def crd(kube: Kube) -> str:
    """The generated CRD, installed (server-side apply) and established."""
    return install_crd(kube)


@pytest.fixture
def operator(kube: Kube, namespace: str, crd: str, tmp_path: Path) -> Iterator[OperatorProcess]:
    running = OperatorProcess(kube, namespace, tmp_path / "operator.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()
        print(f"--- operator log (tail) ---\n{running.log()}")


@pytest.fixture
def vault_secret(kube: Kube, namespace: str) -> str:
    """The operator-wide default Vault credentials Secret, present in the test namespace."""
    kube.kubectl(
        "create", "secret", "generic", "vault-credentials", "-n", namespace,
        "--from-literal=accessKey=AKIA-test", "--from-literal=secretKey=not-a-real-secret",
    )  # fmt: skip
    return "vault-credentials"


@pytest.fixture
def gpu_nodes(kube: Kube) -> Iterator[tuple[str, list[str]]]:
    """Two fake GPU nodes with a product label of their own, deleted afterwards."""
    product = f"TEST-GPU-{os.urandom(3).hex().upper()}"
    names = kube.add_gpu_nodes(2, gpus_per_node=4, product=product)
    try:
        yield product, names
    finally:
        kube.delete_nodes(names)
