"""The autoscaler polls each extension at the Kafka cluster its own spec names, also when extensions of one
namespace name different clusters (one of them dead)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vaultext_operator.autoscaler import Autoscaler
from vaultext_operator.settings import OperatorSettings
from vaultext_operator.sources.base import LagFailure, LagResult, LagTarget


class RecordingSource:
    """Stands in for the lag source at the autoscaler's seam: records what it is asked to poll."""

    def __init__(self) -> None:
        self.asked: list[LagTarget] = []

    def poll(self, targets: Sequence[LagTarget]) -> Mapping[LagTarget, LagResult]:
        self.asked.extend(targets)
        return {target: LagFailure("not polled in this test") for target in targets}

    def close(self) -> None:
        return None


class NoDeployments:
    """A synced watch of Deployments that holds none (the autoscaler then only plans and polls)."""

    kind, namespaces, label_selector, field_selector = "Deployment", (None,), "", ""
    synced = True

    def covers(self, namespace: str | None) -> bool:
        return True

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None

    def items(self) -> list[dict[str, Any]]:
        return []


def extension(name: str, bootstrap: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "vision", "uid": f"uid-{name}", "generation": 1},
            "spec": {"image": "registry.example.com/acme/yolo:1.2", "gpu": {"count": 0},
                     "kafka": {"bootstrapServers": bootstrap}, "autoscaling": {"minReplicas": 0, "maxReplicas": 2}}}


def test_each_extension_is_polled_at_its_own_cluster() -> None:
    source = RecordingSource()
    autoscaler = Autoscaler(OperatorSettings(metrics_port=0, health_port=0), kafka=source,
                            caches={"Deployment": NoDeployments()})
    clusters = {"dead": "127.0.0.1:9", "live": "kafka-live:9092", "other": "kafka-other:9092"}
    for name, bootstrap in clusters.items():
        autoscaler.track(extension(name, bootstrap))
    autoscaler.tick()
    asked = {target.name: target.connection.bootstrap_servers for target in source.asked}
    assert asked == clusters
