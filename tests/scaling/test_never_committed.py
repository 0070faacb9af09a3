"""A consumer group that never commits: the `Consuming` verdict and the held scale-up (pure)."""

from __future__ import annotations

from typing import Any

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.scaling.commits import consuming, grace_seconds, ready_since
from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets, summarize
from vaultext_operator.scaling.policy import ScalingHistory, ScalingInput, decide

GROUP, TOPIC = "vaultext-ns-det", "vault-events"
NONE_COMMITTED = [PartitionOffsets(NO_COMMIT, 50, 0), PartitionOffsets(NO_COMMIT, 30, 0)]


def judge(partitions: list[PartitionOffsets], lag: int, ready_at: float | None, now: float, grace: float = 60.0) -> Any:
    return consuming(partitions, lag, ready_at, now, grace, GROUP, TOPIC)


def test_reported_only_after_pods_were_ready_for_the_whole_grace() -> None:
    assert judge(NONE_COMMITTED, 80, ready_at=100.0, now=159.9) is None
    verdict = judge(NONE_COMMITTED, 80, ready_at=100.0, now=160.0)
    assert (verdict.status, verdict.reason) == ("False", "GroupNeverCommitted")
    assert GROUP in verdict.message and TOPIC in verdict.message and "KAFKA_GROUP" in verdict.message
    assert judge(NONE_COMMITTED, 80, ready_at=None, now=1e9) is None  # no ready pod: nobody to blame


def test_one_committed_partition_is_enough_and_no_lag_is_no_blame() -> None:
    one = [PartitionOffsets(NO_COMMIT, 50, 0), PartitionOffsets(0, 30, 0)]
    verdict = judge(one, 80, ready_at=0.0, now=1e6)
    assert (verdict.status, verdict.reason) == ("True", "Committing")
    assert judge(NONE_COMMITTED, 0, ready_at=0.0, now=1e6) is None
    assert judge([], 0, ready_at=0.0, now=1e6) is None


def test_the_grace_counts_from_the_first_ready_pod_and_restarts_after_a_gap() -> None:
    since = ready_since(None, 0, 10.0)
    assert since is None
    since = ready_since(since, 2, 20.0)
    assert since == 20.0
    assert ready_since(since, 3, 90.0) == 20.0
    assert ready_since(ready_since(since, 0, 95.0), 1, 99.0) == 99.0
    assert grace_seconds(60.0, 5) == 60.0 and grace_seconds(60.0, 30) == 90.0 and grace_seconds(0.0, 1) == 3.0


def test_a_held_scale_up_never_grows_on_that_lag_but_still_scales_down_and_reaches_min() -> None:
    s = AutoscalingSpec.model_validate({"maxReplicas": 10, "lagThreshold": 10, "scaleDownStabilizationSeconds": 0})
    summary = summarize([PartitionOffsets(NO_COMMIT, 100, 0)] * 10, None, s)  # 1000 -> asks for 10
    free = decide(ScalingInput(s, 2, 0.0, summary), ScalingHistory())
    assert free.desired_replicas == 10
    held = decide(ScalingInput(s, 2, 0.0, summary, hold_scale_up="never committed"), ScalingHistory())
    assert held.desired_replicas == 2 and "held at 2: never committed" in held.reason
    small = summarize([PartitionOffsets(NO_COMMIT, 1, 0)] * 2, None, s)  # asks for 1
    down = decide(ScalingInput(s, 4, 100.0, small, hold_scale_up="never committed"), ScalingHistory())
    assert down.desired_replicas == 1
    s_min = AutoscalingSpec.model_validate({"maxReplicas": 10, "minReplicas": 3, "lagThreshold": 10})
    up_to_min = decide(ScalingInput(s_min, 1, 0.0, summary, hold_scale_up="never committed"), ScalingHistory())
    assert up_to_min.desired_replicas == 3
