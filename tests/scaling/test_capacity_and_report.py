"""Pure parts around the policy: GPU capacity from listed nodes/pods, status conditions, KEDA trigger names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.builders.keda import trigger_metadata
from vaultext_operator.conditions import Verdict, merged_conditions
from vaultext_operator.scaling.capacity import GpuDemand, schedulable_replicas

GPU = "nvidia.com/gpu"
OWN = {"vault.kerberos.io/extension": "yolo"}


def node(name: str, gpus: str, product: str = "A100", ready: bool = True, taints: list[Any] | None = None,
         unschedulable: bool = False, resource: str = GPU) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": {resource: gpus, "cpu": "32"},
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(node_name: str | None, gpus: str, labels: dict[str, str] | None = None, phase: str = "Running",
        resource: str = GPU) -> dict[str, Any]:
    return {"metadata": {"labels": labels or {}}, "status": {"phase": phase},
            "spec": {"nodeName": node_name, "containers": [{"resources": {"limits": {resource: gpus}}}]}}


def demand(per_replica: int = 1, product: str | None = None, resource: str = GPU,
           tolerations: tuple[dict[str, Any], ...] = ()) -> GpuDemand:
    return GpuDemand(resource, per_replica, product, tolerations, OWN)


def test_free_gpus_minus_other_pods_own_pods_not_counted() -> None:
    nodes = [node("a", "4"), node("b", "2")]
    pods = [pod("a", "1"), pod("a", "1", OWN), pod("b", "2"), pod(None, "1"), pod("a", "1", phase="Succeeded")]
    assert schedulable_replicas(nodes, pods, demand()) == 3  # a: 4 - 1 other; b: full
    assert schedulable_replicas(nodes, pods, demand(per_replica=2)) == 1


def test_ineligible_nodes_do_not_count() -> None:
    taint = {"key": "dedicated", "value": "ml", "effect": "NoSchedule"}
    nodes = [node("ready", "1"), node("down", "1", ready=False), node("cordoned", "1", unschedulable=True),
             node("other-model", "1", product="T4"), node("tainted", "1", taints=[taint]),
             node("gpu-taint", "1", taints=[{"key": GPU, "effect": "NoSchedule"}])]
    gpu_toleration = ({"key": GPU, "operator": "Exists", "effect": "NoSchedule"},)
    assert schedulable_replicas(nodes, [], demand(product="A100", tolerations=gpu_toleration)) == 2
    tolerate_all = (*gpu_toleration, {"key": "dedicated", "operator": "Equal", "value": "ml"})
    assert schedulable_replicas(nodes, [], demand(tolerations=tolerate_all)) == 4


def test_mig_resources_are_counted_by_their_own_name() -> None:
    mig = "nvidia.com/mig-1g.10gb"
    nodes = [node("a", "7", resource=mig), node("b", "8")]
    assert schedulable_replicas(nodes, [pod("a", "2", resource=mig)], demand(resource=mig)) == 5


def test_conditions_merge_keeps_other_types_and_transition_times() -> None:
    previous = [{"type": "Ready", "status": "True", "reason": "Available", "message": "",
                 "lastTransitionTime": "t0"},
                {"type": "ScalingActive", "status": "True", "reason": "LagRead", "message": "x",
                 "lastTransitionTime": "t1"}]
    t2 = datetime(2026, 1, 2, tzinfo=UTC)
    same = merged_conditions(previous, {"ScalingActive": Verdict("True", "LagRead", "y")}, 3, t2)
    assert {c["type"]: c["lastTransitionTime"] for c in same} == {"Ready": "t0", "ScalingActive": "t1"}
    flipped = merged_conditions(previous, {"ScalingActive": Verdict("False", "LagUnreadable", "e")}, 3, t2)
    active = next(c for c in flipped if c["type"] == "ScalingActive")
    assert (active["status"], active["lastTransitionTime"], active["observedGeneration"]) == (
        "False", t2.isoformat(), 3)


def test_two_writers_merging_their_unchanged_verdicts_leave_the_conditions_as_they_were() -> None:
    """The reconcile (Ready, ...) and the autoscaler (ScalingActive, ...) merge in turn; neither may reorder the
    list, or each would see a change in the other's write and write again (two extra writes per extension)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    reconcile = {"Ready": Verdict("True", "ScaledToZero", "0/0"), "Degraded": Verdict("False", "AsExpected", "")}
    autoscaler = {"ScalingActive": Verdict("True", "LagRead", "lag 0"), "GPUCapacityLimited": Verdict("False", "", "")}
    conditions = merged_conditions(merged_conditions([], reconcile, 1, now), autoscaler, 1, now)
    assert [c["type"] for c in conditions] == ["Ready", "Degraded", "ScalingActive", "GPUCapacityLimited"]
    assert merged_conditions(conditions, reconcile, 1, now) == conditions
    assert merged_conditions(conditions, autoscaler, 1, now) == conditions
    changed = merged_conditions(conditions, {"Ready": Verdict("False", "DeploymentUnavailable", "0/1")}, 1, now)
    assert [c["type"] for c in changed] == [c["type"] for c in conditions] and changed[0]["status"] == "False"


def test_remote_text_in_a_condition_is_cut_and_loses_control_characters() -> None:
    hostile = "broker says:\x1b[31m no\x00pe\n" + "x" * 5000
    merged = merged_conditions([], {"ScalingActive": Verdict("False", "LagUnreadable", hostile)}, 1,
                               datetime(2026, 1, 1, tzinfo=UTC))
    message = merged[0]["message"]
    assert len(message) == 1024 and message.startswith("broker says:[31m nope ") and message.endswith("...")


def test_keda_trigger_uses_kedas_parameter_names() -> None:
    trigger = trigger_metadata(AutoscalingSpec(), "k:9092", "g", "t", "PLAIN", "SASL_PLAINTEXT")
    assert set(trigger) == {
        "bootstrapServers", "consumerGroup", "topic", "lagThreshold", "activationLagThreshold",
        "offsetResetPolicy", "allowIdleConsumers", "limitToPartitionsWithLag", "excludePersistentLag",
        "scaleToZeroOnInvalidOffset", "ensureEvenDistributionOfPartitions", "sasl", "tls"}
    assert (trigger["sasl"], trigger["tls"], trigger["offsetResetPolicy"]) == ("plaintext", "disable", "earliest")
