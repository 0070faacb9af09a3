"""The same loop under faults: a worker SIGKILLed mid-recording, a worker pod deleted, the broker restarted and the
operator's container SIGKILLed. Nothing is lost; duplicates stay within what was in flight at each fault."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable

import pytest
from kubernetes import client

from vaultext_sandbox.loop import Extension, Observer, container_id, operator_leader, wait_for
from vaultext_sandbox.synthetic.recordings import RecordingSpec

pytestmark = pytest.mark.slow
EVENTS = 300


def _in_flight(pod: client.V1Pod) -> float:
    """The worker's own gauge of recordings in hand, read from its /metrics over the bridge."""
    try:
        with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    found = re.search(r"^vaultext_in_flight (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _busy_worker(extension: Extension, timeout: float = 60) -> client.V1Pod:
    """A ready worker that is in the middle of a recording right now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in extension.pods():
            statuses = pod.status.container_statuses or []
            ready = pod.metadata.deletion_timestamp is None and statuses and statuses[0].ready
            if ready and pod.status.pod_ip and _in_flight(pod) >= 1:
                return pod
        time.sleep(0.05)
    raise LookupError("no worker was busy with a recording")


def test_nothing_is_lost_when_workers_the_broker_and_the_operator_fail(extension: Extension) -> None:
    # Every frame decoded: a recording takes long enough on the CPU that a kill lands in the middle of one.
    extension.env["VAULTEXT_SAMPLING"] = "all"
    extension.create()
    extension.upload(EVENTS, RecordingSpec(seconds=8.0, fps=10))
    wait_for(extension.ready, 120, "the extension Ready", explain=extension.diagnostics)
    observer = Observer(extension)
    node = extension.sandbox.node()
    kafka = extension.sandbox.kafka()
    in_flight: dict[str, int] = {}

    def kill_worker() -> None:
        node.ctr("tasks", "kill", "--signal", "SIGKILL", container_id(_busy_worker(extension)))
        in_flight["worker SIGKILL"] = 1

    def delete_worker() -> None:
        pod = _busy_worker(extension)
        client.CoreV1Api(extension.sandbox.kube().api).delete_namespaced_pod(pod.metadata.name, extension.namespace)
        in_flight["pod deleted"] = 1

    def restart_broker() -> None:
        in_flight["broker restart"] = observer.sample().ready  # each ready worker may hold one recording
        kafka.stop()
        kafka.start()

    def kill_operator() -> None:
        # The leader: the standby takes the Lease over and scaling goes on.
        node.ctr("tasks", "kill", "--signal", "SIGKILL", container_id(operator_leader(extension.sandbox)))
        in_flight["operator leader SIGKILL"] = 0

    faults: list[Callable[[], None]] = [kill_worker, delete_worker, restart_broker, kill_operator]
    try:
        observer.run_until(lambda s: s.ready >= 2, timeout=180)
        for fault in faults:
            observer.run_until(lambda s: s.ready >= 1 and s.lag > 0, timeout=180)
            fault()
            time.sleep(3)
        final = observer.run_until(lambda s: len(observer.results.counts) >= EVENTS and s.lag == 0, timeout=600)
        observer.results.poll(5)
    finally:
        observer.close()
    counts = observer.results.counts
    missing = set(extension.keys) - set(counts)
    duplicates = sum(count - 1 for count in counts.values())
    print(f"chaos: {EVENTS} events, {final.results} results, {len(missing)} lost, {duplicates} duplicates, "
          f"in flight at the faults {in_flight}, {observer.dead_letters.records} dead letters")
    assert not missing, f"{len(missing)} events never got a result"
    assert duplicates <= sum(in_flight.values()), (duplicates, in_flight)
    assert observer.dead_letters.records == 0
    assert set(counts) <= set(extension.keys)
