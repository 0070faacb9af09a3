"""An image that knows nothing of this project (upstream Kerberos names, no HTTP, writes into its working directory)
runs unchanged through the operator on the real node and publishes a result for every recording."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultext_sandbox.images import ImageSpec, ensure_image
from vaultext_sandbox.loop import Extension, Observer, kubectl_logs, wait_for
from vaultext_sandbox.node.real_node import RealNode

pytestmark = pytest.mark.slow
CONTEXT = Path(__file__).parent / "upstream_consumer"
EVENTS = 20


def test_an_upstream_style_image_runs_unchanged_and_answers_every_event(
    extension: Extension, real_node: RealNode
) -> None:
    reference, archive = ensure_image(ImageSpec("upstream-consumer", CONTEXT / "Dockerfile", CONTEXT, (CONTEXT,)))
    real_node.import_image(archive)
    extension.image = reference
    extension.extra_spec = {"scratch": {"paths": ["/data"]}}  # its WORKDIR, where it writes video.mp4
    extension.create()
    extension.upload(EVENTS)
    wait_for(extension.ready, 120, "the extension Ready", explain=extension.diagnostics)
    observer = Observer(extension)
    try:
        observer.run_until(lambda s: len(observer.results.counts) >= EVENTS, timeout=240)
    finally:
        observer.close()
    assert set(observer.results.counts) == set(extension.keys)
    pods = extension.pods()
    for pod in pods:
        container = pod.spec.containers[0]
        assert container.readiness_probe is None and container.liveness_probe is None  # it serves no HTTP
        assert pod.status.container_statuses[0].restart_count == 0
    logs = "".join(kubectl_logs(extension.sandbox, extension.namespace, pod.metadata.name) for pod in pods)
    assert "classified" in logs  # the recordings went through its working directory (a read-only root elsewhere)
