"""KEDA's Kafka-scaler lag cases (its unit and e2e tests), replayed through `explain-scaling`.

Where KEDA hands a capped metric to the HPA, the expected replica count here is what KEDA + the HPA end up
with, except for the two quirks we fix on purpose (#4483: P+1, #2908: P-1), which expect exactly P.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from vaultext_operator.scaling.explain import run


def explain(request: dict[str, Any]) -> dict[str, Any]:
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(io.StringIO(json.dumps(request)), stdout, stderr)
    assert code == 0, stderr.getvalue()
    answer: dict[str, Any] = json.loads(stdout.getvalue())
    assert set(answer) == {"totalLag", "totalLagWithPersistent", "active", "desiredReplicas", "reason"}
    return answer


def one_partition(committed: int, latest: int | None, **autoscaling: Any) -> dict[str, Any]:
    return explain(
        {"autoscaling": autoscaling, "partitions": [{"committed": committed, "latest": latest}],
         "currentReplicas": 0}
    )


# KEDA TestGetLagForPartition_MissingPartition and the invalid-offset branches of getLagForPartition.
@pytest.mark.parametrize(
    ("committed", "latest", "autoscaling", "lag"),
    [
        (-1, None, {"offsetResetPolicy": "earliest", "scaleToZeroOnInvalidOffset": True}, 0),
        (-1, None, {"offsetResetPolicy": "earliest", "scaleToZeroOnInvalidOffset": False}, 0),
        (100, None, {"offsetResetPolicy": "earliest"}, 0),
        (100, 150, {"offsetResetPolicy": "earliest"}, 50),
        (-1, 150, {"offsetResetPolicy": "latest", "scaleToZeroOnInvalidOffset": True}, 0),
        (-1, 150, {"offsetResetPolicy": "latest"}, 1),
        (-1, 150, {"offsetResetPolicy": "earliest"}, 150),
        (-1, None, {"offsetResetPolicy": "latest"}, 1),
    ],
)
def test_partition_lag_matches_keda(committed: int, latest: int | None, autoscaling: dict[str, Any],
                                    lag: int) -> None:
    answer = one_partition(committed, latest, **autoscaling)
    assert answer["totalLag"] == lag
    assert answer["totalLagWithPersistent"] == lag


def test_earliest_counts_from_log_start_not_from_zero() -> None:
    answer = explain({"autoscaling": {"offsetResetPolicy": "earliest"},
                      "partitions": [{"committed": -1, "latest": 150, "logStart": 120}],
                      "currentReplicas": 1})
    assert answer["totalLag"] == 30


def test_persistent_lag_is_excluded_from_scaling_but_keeps_activation() -> None:
    # KEDA: previous offset == current offset -> lag 0, lagWithPersistent = latest - committed.
    request = {
        "autoscaling": {"excludePersistentLag": True, "lagThreshold": 1, "minReplicas": 0},
        "partitions": [{"committed": 5, "latest": 10}, {"committed": 3, "latest": 9}],
        "previousCommitted": [5, 1],
        "currentReplicas": 1,
    }
    answer = explain(request)
    assert (answer["totalLag"], answer["totalLagWithPersistent"], answer["active"]) == (6, 11, True)
    assert answer["desiredReplicas"] == 2  # 6 / 1 capped at the 2 partitions
    request["previousCommitted"] = [5, 3]
    stuck = explain(request)
    assert (stuck["totalLag"], stuck["totalLagWithPersistent"]) == (0, 11)
    assert stuck["active"] is True and stuck["desiredReplicas"] == 1  # KEDA e2e: stays at 1, never 0 or more


def test_first_poll_without_previous_counts_all_lag() -> None:
    answer = explain({"autoscaling": {"excludePersistentLag": True},
                      "partitions": [{"committed": 5, "latest": 10}], "previousCommitted": [None],
                      "currentReplicas": 1})
    assert answer["totalLag"] == 5


# KEDA e2e testEarliestPolicy / testLatestPolicy: 3 partitions, lagThreshold 1, activationLagThreshold 1.
def test_activation_threshold_keeps_zero_then_scales_and_caps_at_partitions() -> None:
    spec = {"lagThreshold": 1, "activationLagThreshold": 1, "minReplicas": 0, "maxReplicas": 100}
    parts = [{"committed": 0, "latest": 0}, {"committed": 0, "latest": 0}, {"committed": 0, "latest": 1}]
    assert explain({"autoscaling": spec, "partitions": parts, "currentReplicas": 0})["desiredReplicas"] == 0
    parts[0]["latest"] = 1
    two = explain({"autoscaling": spec, "partitions": parts, "currentReplicas": 0})
    assert (two["active"], two["desiredReplicas"]) == (True, 2)
    parts[1]["latest"] = 5
    assert explain({"autoscaling": spec, "partitions": parts, "currentReplicas": 2})["desiredReplicas"] == 3


# KEDA e2e testScalingOnlyPartitionsWithLag: lag on 1, then 2 partitions -> 1, then 2 replicas.
def test_limit_to_partitions_with_lag() -> None:
    spec = {"lagThreshold": 1, "limitToPartitionsWithLag": True, "maxReplicas": 10}
    parts = [{"committed": 0, "latest": 6}, {"committed": 0, "latest": 0}, {"committed": 0, "latest": 0}]
    assert explain({"autoscaling": spec, "partitions": parts, "currentReplicas": 0})["desiredReplicas"] == 1
    parts[1]["latest"] = 5
    assert explain({"autoscaling": spec, "partitions": parts, "currentReplicas": 1})["desiredReplicas"] == 2


# KEDA TestGetNextFactor (100 partitions, threshold 10) and e2e testScalingEnsureEvenDistributionOfPartitions.
@pytest.mark.parametrize(
    ("total_lag", "replicas"),
    [(10, 1), (20, 2), (40, 4), (50, 5), (99, 10), (100, 10), (101, 20)],
)
def test_even_distribution_factor_for_100_partitions(total_lag: int, replicas: int) -> None:
    parts = [{"committed": 0, "latest": total_lag}] + [{"committed": 0, "latest": 0}] * 99
    answer = explain({"autoscaling": {"ensureEvenDistributionOfPartitions": True, "maxReplicas": 100},
                      "partitions": parts, "currentReplicas": 0})
    assert answer["desiredReplicas"] == replicas


@pytest.mark.parametrize(("lag", "replicas"), [(5, 5), (8, 10)])
def test_even_distribution_over_10_partitions(lag: int, replicas: int) -> None:
    parts = [{"committed": 0, "latest": 1 if i < lag else 0} for i in range(10)]
    answer = explain({"autoscaling": {"ensureEvenDistributionOfPartitions": True, "lagThreshold": 1,
                                      "maxReplicas": 100}, "partitions": parts, "currentReplicas": 0})
    assert answer["desiredReplicas"] == replicas


def test_allow_idle_consumers_goes_beyond_partitions() -> None:
    parts = [{"committed": 0, "latest": 100}] * 3
    capped = explain({"autoscaling": {"maxReplicas": 50}, "partitions": parts, "currentReplicas": 1})
    idle = explain({"autoscaling": {"maxReplicas": 50, "allowIdleConsumers": True}, "partitions": parts,
                    "currentReplicas": 1})
    assert (capped["desiredReplicas"], idle["desiredReplicas"]) == (3, 30)


def test_keda_4483_never_partitions_plus_one() -> None:
    # KEDA caps the metric only when totalLag / threshold (integer division) exceeds P, then the HPA takes
    # ceil(totalLag / threshold): 4 partitions, lag 6+6+6+5 = 23 at threshold 5 -> 23/5 = 4, no cap -> 5.
    parts = [{"committed": 0, "latest": lag} for lag in (6, 6, 6, 5)]
    answer = explain({"autoscaling": {"lagThreshold": 5, "maxReplicas": 20}, "partitions": parts,
                      "currentReplicas": 1})
    assert answer["desiredReplicas"] == 4


def test_keda_2908_never_stuck_at_partitions_minus_one() -> None:
    # The HPA's 10 % tolerance: 63 replicas, metric worth 64 -> ratio 1.016 -> no change. No band here.
    parts = [{"committed": 0, "latest": 10}] * 64
    answer = explain({"autoscaling": {"lagThreshold": 10, "maxReplicas": 100}, "partitions": parts,
                      "currentReplicas": 63})
    assert answer["desiredReplicas"] == 64


def test_bad_input_is_a_clear_error() -> None:
    stderr = io.StringIO()
    code = run(io.StringIO('{"autoscaling": {"lagThreshold": 0}, "partitions": [], "currentReplicas": 0}'),
               io.StringIO(), stderr)
    assert code == 2 and "lagThreshold" in stderr.getvalue()
    stderr = io.StringIO()
    code = run(io.StringIO('{"partitions": [{"committed": 1, "latest": 2}], "previousCommitted": [],'
                           ' "currentReplicas": 0}'), io.StringIO(), stderr)
    assert code == 2 and "previousCommitted" in stderr.getvalue()


def test_the_cli_subcommand_speaks_the_same_json() -> None:
    import subprocess
    import sys

    request = {"autoscaling": {"lagThreshold": 5, "maxReplicas": 20}, "currentReplicas": 1,
               "partitions": [{"committed": 0, "latest": lag} for lag in (6, 6, 6, 5)]}
    done = subprocess.run([sys.executable, "-m", "vaultext_operator", "explain-scaling"], input=json.dumps(request),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"totalLag": 23, "totalLagWithPersistent": 23, "active": True,
                                       "desiredReplicas": 4,
                                       "reason": "lag 23 / lagThreshold 5 -> 5; capped at 4 partitions"}
    refused = subprocess.run([sys.executable, "-m", "vaultext_operator", "explain-scaling"], input="{",
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 2 and "invalid input" in refused.stderr
