"""Two operator processes against the sandbox: the leader is killed, the other takes over within 15 s and goes
on scaling without repeating what the first did; a restarted operator keeps the stabilization window."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..reconcile.cluster_helpers import OperatorProcess, get_json
from .cluster import Cluster, create_vault_secret, extension, install_crd, wait_for
from .kafka_helpers import commit, create_topic, produce, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]
POLL = 1


@pytest.fixture
def two_operators(kube: Any, kafka: Any, namespace: str, tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    operators = [OperatorProcess(kube, namespace, tmp_path / f"operator-{i}.log", metrics_port="0",
                                 kafka_bootstrap_servers=kafka.bootstrap) for i in range(2)]
    for operator in operators:
        operator.start()
    try:
        yield operators
    finally:
        for operator in operators:
            operator.stop()
            print(f"--- {operator.identity} (tail) ---\n{operator.log()}")


def holder(kube: Any, namespace: str) -> str:
    lease = get_json(kube, "lease", "vaultext-operator", "-n", namespace) or {}
    return str(lease.get("spec", {}).get("holderIdentity", ""))


def test_killing_the_leader_fails_over_within_15_s_without_repeated_scaling(
        two_operators: list[OperatorProcess], kube: Any, kafka: Any, namespace: str) -> None:
    cluster = Cluster(kube.api, namespace)
    topic, name = unique("in"), "failover"
    create_topic(kafka.bootstrap, topic, 8)
    cluster.create(extension(name, namespace, topic, {"maxReplicas": 8, "lagThreshold": 10, "pollingInterval": POLL,
                                                      "scaleDownStabilizationSeconds": 300}))
    produce(kafka.bootstrap, topic, {p: 5 for p in range(8)})  # 40 messages: 4 replicas
    cluster.watch_replicas(name, 4, 30)
    leader = next(o for o in two_operators if o.identity == holder(kube, namespace))
    standby = next(o for o in two_operators if o is not leader)
    time.sleep(3 * POLL)  # the standby has watched the leader decide; it must not decide again

    leader.kill()
    killed = time.monotonic()
    wait_for(lambda: holder(kube, namespace) == standby.identity, 20, "the standby holding the Lease", 0.1)
    failover = time.monotonic() - killed
    print(f"failover: the standby held the Lease {failover:.1f} s after the leader was killed")
    assert failover < 15, f"failover took {failover:.1f} s"

    produce(kafka.bootstrap, topic, {p: 5 for p in range(8)})  # 80 messages now: 8 replicas
    cluster.watch_replicas(name, 8, 10)
    time.sleep(3 * POLL)
    scaled = cluster.events(name, "Scaled")
    assert sorted(m.split(":")[0] for m in scaled) == ["1 -> 4", "4 -> 8"], scaled  # each step exactly once
    assert cluster.replicas(name) == 8


def test_a_restarted_operator_keeps_the_stabilization_window(kube: Any, kafka: Any, namespace: str,
                                                             tmp_path: Path) -> None:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    cluster = Cluster(kube.api, namespace)
    window = 20
    topic, name = unique("in"), "window"
    create_topic(kafka.bootstrap, topic, 4)
    operator = OperatorProcess(kube, namespace, tmp_path / "operator.log", metrics_port="0",
                               kafka_bootstrap_servers=kafka.bootstrap)
    # a new process with a new identity: it waits out the killed one's Lease, like a pod on another node would
    replacement = OperatorProcess(kube, namespace, tmp_path / "replacement.log", metrics_port="0",
                                  kafka_bootstrap_servers=kafka.bootstrap, lease_seconds="2")
    operator.settings["lease_seconds"] = "2"
    operator.start()
    try:
        cluster.create(extension(name, namespace, topic, {
            "maxReplicas": 4, "lagThreshold": 10, "pollingInterval": POLL, "scaleDownStabilizationSeconds": window}))
        produce(kafka.bootstrap, topic, {p: 10 for p in range(4)})
        cluster.watch_replicas(name, 4, 30)
        commit(kafka.bootstrap, f"vaultext-{namespace}-{name}", topic, {p: 10 for p in range(4)})
        drained = time.monotonic()
        time.sleep(window / 2)
        operator.kill()
        replacement.start()
        down = cluster.watch_replicas(name, 1, window + 20)
        # the window counts from the last poll that saw the lag, not from the restart
        assert down - drained < window + 4, f"scaled down {down - drained:.1f} s after draining"
        assert down - drained >= window - 2 * POLL
    finally:
        operator.stop()
        replacement.stop()
        print(f"--- replacement (tail) ---\n{replacement.log()}")
