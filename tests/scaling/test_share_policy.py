"""The replica policy for share groups (KIP-932): no partition cap, everything else as for consumer groups."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from typing import Any

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.explain import run
from vaultext_operator.scaling.lag import PartitionOffsets, summarize
from vaultext_operator.scaling.policy import Decision, ScalingHistory, ScalingInput, decide
from vaultext_operator.scaling.rates import Rates

THREE_PARTITIONS = [{"lag": 100}, {"lag": 100}, {"lag": 100}]


def explain(request: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(io.StringIO(json.dumps(request)), stdout, stderr)
    return code, json.loads(stdout.getvalue()) if code == 0 else stderr.getvalue()


def share_step(lags: list[int], current: int, now: float, history: ScalingHistory, share: bool = True,
               **fields: Any) -> Decision:
    extra = {k: fields.pop(k) for k in ("rates", "schedulable_replicas") if k in fields}
    s = AutoscalingSpec.model_validate(fields)
    summary = summarize([PartitionOffsets(0, lag) for lag in lags], None, s)
    return decide(ScalingInput(spec=s, current_replicas=current, now=now, summary=summary, share_group=share,
                               **extra), history)


def test_the_cli_scales_a_share_group_past_its_partitions_and_a_consumer_group_stops_at_them() -> None:
    request = {"autoscaling": {"lagThreshold": 10, "maxReplicas": 20}, "consumption": "share",
               "partitions": THREE_PARTITIONS, "currentReplicas": 1}
    done = subprocess.run([sys.executable, "-m", "vaultext_operator", "explain-scaling"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["desiredReplicas"] == 20 and answer["totalLag"] == 300
    assert "no partition cap" in answer["reason"] and "capped at maxReplicas 20" in answer["reason"]
    del request["consumption"]
    code, group = explain(request)
    assert code == 0 and isinstance(group, dict)
    assert group["desiredReplicas"] == 3
    assert "capped at 3 partitions" in group["reason"]


def test_a_partition_is_lag_or_offsets_never_both_nor_neither() -> None:
    for partition, fragment in (({"lag": 1, "committed": 0, "latest": 1}, "not both"),
                                ({"committed": 0}, "needs"), ({}, "needs"), ({"lag": -1}, "lag")):
        code, error = explain({"consumption": "share", "partitions": [partition], "currentReplicas": 0})
        assert code == 2 and fragment in str(error), (partition, error)
    code, error = explain({"consumption": "queue", "partitions": THREE_PARTITIONS, "currentReplicas": 0})
    assert code == 2 and "consumption" in str(error)


def test_share_ignores_even_distribution_and_partitions_with_lag() -> None:
    history = ScalingHistory()
    even = share_step([50, 0, 0], 1, 0.0, history, lagThreshold=10, maxReplicas=20,
                      ensureEvenDistributionOfPartitions=True)
    assert even.desired_replicas == 5, even.reason
    only_lagging = share_step([50, 0, 0], 1, 0.0, history, lagThreshold=10, maxReplicas=20,
                              limitToPartitionsWithLag=True)
    assert only_lagging.desired_replicas == 5, only_lagging.reason
    group = share_step([50, 0, 0], 1, 0.0, history, share=False, lagThreshold=10, maxReplicas=20,
                       limitToPartitionsWithLag=True)
    assert group.desired_replicas == 1 and "capped at 1 partitions with lag" in group.reason


def test_activation_keeps_an_idle_share_group_at_zero_then_scales_past_partitions() -> None:
    fields: dict[str, Any] = {"minReplicas": 0, "maxReplicas": 20, "lagThreshold": 10, "activationLagThreshold": 50}
    quiet = share_step([10, 10, 10], 0, 0.0, ScalingHistory(), **fields)
    assert quiet.desired_replicas == 0 and not quiet.active
    busy = share_step([20, 20, 20], 0, 5.0, quiet.history, **fields)
    assert busy.active and busy.desired_replicas == 6


def test_stabilization_and_step_limit_apply_to_share_groups() -> None:
    fields: dict[str, Any] = {"maxReplicas": 20, "lagThreshold": 10, "scaleDownStabilizationSeconds": 60}
    up = share_step([100, 100, 100], 1, 0.0, ScalingHistory(), maxScaleUpStep=4, **fields)
    assert up.desired_replicas == 5 and "step limited to +4" in up.reason
    full = share_step([100, 100, 100], 1, 0.0, ScalingHistory(), **fields)
    assert full.desired_replicas == 20
    held = share_step([10, 10, 10], 20, 30.0, full.history, **fields)
    assert held.desired_replicas == 20 and "held at 20" in held.reason
    down = share_step([10, 10, 10], 20, 61.0, held.history, **fields)
    assert down.desired_replicas == 3


def test_gpu_capacity_and_drain_time_bound_a_share_group() -> None:
    gpu = share_step([100, 100, 100], 1, 0.0, ScalingHistory(), maxReplicas=20, lagThreshold=10,
                     schedulable_replicas=7)
    assert gpu.desired_replicas == 7 and gpu.gpu_limited and gpu.recommendation == 20
    rates = Rates(per_replica=2.0, arrival=1.0)
    drain = share_step([100, 100, 100], 1, 0.0, ScalingHistory(), maxReplicas=20, targetDrainSeconds=30,
                       rates=rates)
    assert drain.desired_replicas == 6, drain.reason  # (300 / 30 + 1) / 2 = 5.5 -> 6, above 3 partitions
    assert drain.drain_seconds is not None and drain.drain_seconds < 30
