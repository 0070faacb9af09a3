"""A new extension's first status write waits for the controller-manager's word on its Deployment, so that the
outcome and the Deployment's status go in one write; when the controller-manager lags, it waits a bounded time."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from vaultext_sandbox import Kube, Sandbox

from .cluster_helpers import OperatorProcess, get_json, wait_for
from .test_operator import apply_cr, ready, status

pytestmark = pytest.mark.slow


@contextmanager
def controller_manager_paused(sandbox: Sandbox) -> Iterator[None]:
    """SIGSTOP: the sandbox's controller-manager runs without leader election, so it resumes where it stopped."""
    assert sandbox.control_plane is not None
    process = next(p for p in sandbox.control_plane.processes if p.name == "kube-controller-manager")
    assert process.pid is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def test_the_outcome_waits_for_the_deployments_first_status_but_not_for_ever(
    kube: Kube, sandbox: Sandbox, namespace: str, operator: OperatorProcess, vault_secret: str,
    gpu_nodes: tuple[str, list[str]],
) -> None:  # fmt: skip
    product, _ = gpu_nodes
    with controller_manager_paused(sandbox):
        # topics not provisioned: their binding's verdict comes at once, and it too waits for the outcome's write
        apply_cr(kube, namespace, {"image": "registry.example.com/acme/yolo:1.2", "gpu": {"product": product},
                                   "autoscaling": {"topics": {"provisioner": "none"}}})  # fmt: skip
        wait_for(lambda: get_json(kube, "deployment", "yolo", "-n", namespace), 10, "the Deployment")
        applied = time.monotonic()
        time.sleep(4)  # past the second an observed Deployment's news would wait
        assert "observedGeneration" not in status(kube, namespace), "written before the controller-manager spoke"
        wait_for(lambda: status(kube, namespace).get("observedGeneration") == 1, 20, "the outcome after the wait")
        assert time.monotonic() - applied < 16
        assert ready(kube, namespace)["reason"] == "DeploymentUnavailable"
    wait_for(lambda: ready(kube, namespace).get("status") == "True", 30, "Ready=True once the controller-manager runs")
