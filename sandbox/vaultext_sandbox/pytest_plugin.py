"""pytest fixtures over one lazily started sandbox per test session.

Load with ``pytest_plugins = ["vaultext_sandbox.pytest_plugin"]``. Each part starts when a test first asks for it;
the session's end stops every process and removes every file, also when tests fail or are interrupted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from .kafka import Kafka
from .keda import MISSING_BUILD, keda_built
from .kube import Kube
from .netns import NEEDS_ROOT, can_make_namespaces
from .node.real_node import NOT_ROOT, RealNode
from .project_images import BuiltImage, build_project_images
from .prometheus import Prometheus
from .sandbox import Sandbox, sweep_stale_workdirs
from .vault_standin import VaultStandIn

FIXTURE_MARKERS = {"kube": "kube", "namespace": "kube", "kafka": "kafka", "prometheus": "prometheus",
                   "real_node": "node", "project_images": "node", "vault_for_pods": "node",
                   "keda_sandbox": "keda"}
REAL_NODE_GPUS = 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses a sandbox fixture carries its marker, so `-m "not kube"` selects the pure suites."""
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    sweep_stale_workdirs()
    running = Sandbox()
    try:
        if os.geteuid() == 0:
            running.with_bridge()  # before the servers start, so that they also listen where pods can reach them
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def kube(sandbox: Sandbox) -> Kube:
    return sandbox.kube()


@pytest.fixture(scope="session")
def kafka(sandbox: Sandbox) -> Kafka:
    return sandbox.kafka()


@pytest.fixture(scope="session")
def prometheus(sandbox: Sandbox) -> Prometheus:
    return sandbox.prometheus()


@pytest.fixture(scope="session")
def keda_sandbox() -> Iterator[Sandbox]:
    """A second sandbox whose apiserver serves aggregated APIs, running real KEDA (operator and metrics adapter);
    skipped, with the reason, when KEDA's optional build is absent."""
    if not keda_built():
        pytest.skip(MISSING_BUILD)
    if not can_make_namespaces():
        pytest.skip(NEEDS_ROOT)
    running = Sandbox(with_keda=True)
    try:
        running.keda()
        yield running
    finally:
        running.close()


@pytest.fixture(scope="session")
def real_node(sandbox: Sandbox) -> RealNode:
    """A real kubelet + containerd node advertising GPUs; skipped (with the reason) when not root."""
    if os.geteuid() != 0:
        pytest.skip(NOT_ROOT)
    return sandbox.node(REAL_NODE_GPUS)


@pytest.fixture(scope="session")
def project_images(real_node: RealNode) -> dict[str, BuiltImage]:
    """The operator and worker images, built from their Dockerfiles and loaded into the node's containerd."""
    built = build_project_images()
    for image in built.values():
        real_node.import_image(image.archive)
    return built


@pytest.fixture(scope="session")
def vault_for_pods(sandbox: Sandbox, real_node: RealNode) -> Iterator[tuple[VaultStandIn, str]]:
    """The Vault stand-in, and its API URL as pods see it (through the bridge)."""
    with VaultStandIn() as vault:
        yield vault, f"http://{sandbox.relay('vault', vault.port)}/api"


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards (its objects go with it)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube.api)
    core.create_namespace({"metadata": {"name": name}})
    try:
        yield name
    finally:
        core.delete_namespace(name)
