"""pytest fixtures over one lazily started sandbox per test session.

Load with ``pytest_plugins = ["vaultext_sandbox.pytest_plugin"]``. Each part starts when a test first asks for it;
the session's end stops every process and removes every file, also when tests fail or are interrupted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client

from .kafka import Kafka
from .kube import Kube
from .prometheus import Prometheus
from .sandbox import Sandbox, sweep_stale_workdirs

FIXTURE_MARKERS = {"kube": "kube", "namespace": "kube", "kafka": "kafka", "prometheus": "prometheus"}


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
