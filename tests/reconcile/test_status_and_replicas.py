"""Pure parts of the reconcile: status from a live Deployment, and who owns `replicas`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from vaultext_operator.api import VaultExtensionSpec
from vaultext_operator.conditions import SECRET_NOT_FOUND, Blocker, blocker_in, status_patch, verdicts
from vaultext_operator.reconcile import gpu_node_counts
from vaultext_operator.replicas import replicas_owned_by_others, replicas_to_apply
from vaultext_operator.scaling.capacity import GpuDemand

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def live_deployment(
    replicas: int = 2, ready: int = 2, updated: int = 2, available: str = "True", generation: int = 3,
    observed: int = 3, progressing_reason: str = "NewReplicaSetAvailable",
) -> dict[str, Any]:  # fmt: skip
    return {
        "metadata": {"generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": "img:2"}]}}},
        "status": {
            "observedGeneration": observed,
            "replicas": replicas,
            "readyReplicas": ready,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "conditions": [
                {"type": "Available", "status": available, "message": "msg"},
                {"type": "Progressing", "status": "True", "reason": progressing_reason, "message": "p"},
            ],
        },
    }


def test_available_deployment_is_ready_and_done() -> None:
    result = verdicts(live_deployment(), None)
    assert (result["Ready"].status, result["Ready"].reason) == ("True", "Available")
    assert result["Progressing"].status == "False"
    assert result["Degraded"].status == "False"


def test_available_without_a_serving_pod_is_not_ready() -> None:
    # A one-replica Deployment with maxUnavailable 1 reports Available before any pod runs.
    result = verdicts(live_deployment(replicas=1, ready=0, updated=0), None)
    assert result["Ready"].status == "False"
    assert verdicts(live_deployment(replicas=0, ready=0, updated=0), None)["Ready"].reason == "ScaledToZero"


def test_rollout_in_progress_and_stale_generation() -> None:
    rolling = verdicts(live_deployment(updated=1), None)
    assert rolling["Progressing"].status == "True"
    stale = verdicts(live_deployment(observed=2), None)
    assert stale["Ready"].status == "False"


def test_unavailable_and_deadline_exceeded() -> None:
    result = verdicts(live_deployment(ready=0, available="False", progressing_reason="ProgressDeadlineExceeded"), None)
    assert (result["Ready"].status, result["Ready"].reason) == ("False", "DeploymentUnavailable")
    assert (result["Degraded"].status, result["Degraded"].reason) == ("True", "ProgressDeadlineExceeded")


def test_blocker_wins_and_is_remembered_for_its_generation() -> None:
    blocker = Blocker(SECRET_NOT_FOUND, "Secret ml/vault does not exist")
    patch = status_patch({}, live_deployment(), blocker, 4, "a=b", NOW)
    ready = next(c for c in patch["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("False", SECRET_NOT_FOUND, 4)
    assert blocker_in(patch, 4) == blocker
    assert blocker_in(patch, 5) is None


def test_transition_time_moves_only_when_status_flips() -> None:
    first = status_patch({}, live_deployment(ready=1, available="False"), None, 1, "a=b", NOW)
    later = NOW + timedelta(minutes=5)
    same = status_patch(first, live_deployment(ready=1, available="False"), None, 1, "a=b", later)
    flipped = status_patch(same, live_deployment(), None, 1, "a=b", later)

    def ready_time(status: dict[str, Any]) -> str:
        return str(next(c["lastTransitionTime"] for c in status["conditions"] if c["type"] == "Ready"))

    assert ready_time(same) == ready_time(first) == NOW.isoformat()
    assert ready_time(flipped) == later.isoformat()


def test_conditions_of_other_writers_are_kept() -> None:
    previous = {"conditions": [{"type": "Scaling", "status": "True", "reason": "Lag", "lastTransitionTime": "x"}]}
    patch = status_patch(previous, None, None, 1, "a=b", NOW)
    assert {c["type"] for c in patch["conditions"]} == {"Scaling", "Ready", "Progressing", "Degraded"}
    assert patch["selector"] == "a=b" and patch["replicas"] == 0


def spec(engine: str, **fields: Any) -> VaultExtensionSpec:
    return VaultExtensionSpec.model_validate({"image": "x", "autoscaling": {"engine": engine}, **fields})


def owned_by(manager: str, replicas: int = 4) -> dict[str, Any]:
    return {
        "metadata": {
            "managedFields": [
                {"manager": "vaultext-operator", "fieldsV1": {"f:spec": {"f:template": {}}}},
                {"manager": manager, "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            ]
        },
        "spec": {"replicas": replicas},
    }


def test_engine_none_always_applies_spec_replicas() -> None:
    assert replicas_to_apply(spec("none", replicas=3), None) == 3
    assert replicas_to_apply(spec("none", replicas=3), owned_by("vaultext-autoscaler")) == 3


def test_autoscaled_deployment_is_seeded_then_left_to_the_autoscaler() -> None:
    builtin = spec("builtin", autoscaling={"engine": "builtin", "minReplicas": 2, "maxReplicas": 5})
    assert replicas_to_apply(builtin, None) == 2
    assert replicas_to_apply(builtin, owned_by("vaultext-operator", replicas=2)) == 2
    assert replicas_owned_by_others(owned_by("vaultext-autoscaler"))
    assert replicas_to_apply(builtin, owned_by("vaultext-autoscaler")) is None
    assert replicas_to_apply(spec("keda"), owned_by("kube-controller-manager")) is None


def test_gpu_node_counts_by_resource_and_product() -> None:
    def node(resources: dict[str, str], product: str, ready: str = "True", unschedulable: bool = False,
             taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
        return {"metadata": {"labels": {"nvidia.com/gpu.product": product}},
                "spec": {"unschedulable": unschedulable, "taints": taints or []},
                "status": {"allocatable": resources, "conditions": [{"type": "Ready", "status": ready}]}}

    def demand(resource: str, product: str | None) -> GpuDemand:
        return GpuDemand(resource, 1, product, ({"key": "nvidia.com/gpu", "operator": "Exists"},), {})

    nodes = [
        node({"nvidia.com/gpu": "4"}, "A100"),
        node({"nvidia.com/gpu": "0"}, "A100"),
        node({"nvidia.com/mig-1g.10gb": "7"}, "A100"),
        node({"cpu": "8"}, "none"),
        node({"nvidia.com/gpu": "1"}, "T4", taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]),
        # the same rule as the autoscaler's capacity: not Ready, cordoned or an untolerated taint do not count
        node({"nvidia.com/gpu": "8"}, "H100", ready="False"),
        node({"nvidia.com/gpu": "8"}, "H100", unschedulable=True),
        node({"nvidia.com/gpu": "8"}, "H100", taints=[{"key": "dedicated", "effect": "NoExecute"}]),
    ]
    assert gpu_node_counts(nodes, demand("nvidia.com/gpu", None)) == (2, 2)
    assert gpu_node_counts(nodes, demand("nvidia.com/gpu", "T4")) == (2, 1)
    assert gpu_node_counts(nodes, demand("nvidia.com/gpu", "H100")) == (2, 0)
    assert gpu_node_counts(nodes, demand("nvidia.com/mig-1g.10gb", "H100")) == (1, 0)
    assert gpu_node_counts(nodes, demand("example.com/fpga", None)) == (0, 0)
