"""Leader election on a real Lease, and deletion that never waits for the operator (no finalizers)."""

from __future__ import annotations

import time

import pytest

from vaultext_operator import kube as operator_kube
from vaultext_operator.leadership import LeaderElector
from vaultext_sandbox import Kube

from .cluster_helpers import OperatorProcess, get_json, wait_for
from .test_operator import IMAGE, apply_cr

LEASE_SECONDS = 2.0


def elector(namespace: str, identity: str) -> LeaderElector:
    return LeaderElector(namespace, "leader", identity, lease_seconds=LEASE_SECONDS, renew_seconds=0.5)


def test_one_leader_a_silent_one_is_replaced_a_leaving_one_hands_over(kube: Kube, namespace: str) -> None:
    operator_kube.use_kubeconfig(str(kube.kubeconfig))
    first, second = elector(namespace, "first"), elector(namespace, "second")
    assert first.step() and first.is_leader()
    assert not second.step() and not second.is_leader()
    assert first.step()  # renewing keeps it
    # `first` goes silent (no more renewals): `second` waits out the lease it observed, then takes over
    observed_since = time.monotonic()
    while not second.step():
        assert time.monotonic() - observed_since < LEASE_SECONDS + 2, "no takeover"
        time.sleep(0.2)
    assert time.monotonic() - observed_since >= LEASE_SECONDS - 0.3
    assert not first.is_leader()  # its own renewal is older than the lease: it stops acting by itself
    assert not first.step()  # and a late renewal attempt finds someone else holding a live Lease
    lease = get_json(kube, "lease", "leader", "-n", namespace) or {}
    assert lease["spec"]["holderIdentity"] == "second" and lease["spec"]["leaseTransitions"] == 1

    second.release()  # a graceful stop: no waiting for expiry
    assert first.step() and first.is_leader()


@pytest.mark.slow
def test_deleting_an_extension_while_the_operator_is_down_completes(
    kube: Kube, namespace: str, operator: OperatorProcess, vault_secret: str
) -> None:
    apply_cr(kube, namespace, {"image": IMAGE, "gpu": {"count": 0},
                               "autoscaling": {"minReplicas": 1, "pollingInterval": 1}})
    wait_for(lambda: get_json(kube, "deployment", "yolo", "-n", namespace), 30, "the Deployment")
    time.sleep(3)  # the autoscaler and the resync have seen it
    assert not (get_json(kube, "vext", "yolo", "-n", namespace) or {})["metadata"].get("finalizers")
    operator.kill()
    deleted = kube.kubectl("delete", "vext", "yolo", "-n", namespace, "--timeout=20s", check=False)
    assert deleted.returncode == 0, deleted.stderr
    assert get_json(kube, "vext", "yolo", "-n", namespace) is None
    wait_for(lambda: get_json(kube, "deployment", "yolo", "-n", namespace) is None, 60,
             "the Deployment garbage-collected without the operator")
