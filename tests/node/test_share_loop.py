"""Share mode (KIP-932) on real pods: a 3-partition topic, and the Deployment grows past 3 to 8 workers that all
read it as one share group; every event gets exactly one result and the group's lag, read from the broker, ends at 0.
The node advertises 8 GPUs for this module only (4 otherwise): the operator never plans more workers than GPUs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vaultext_sandbox import Sandbox
from vaultext_sandbox.loop import Extension, Observer, Sample
from vaultext_sandbox.node.real_node import RealNode, advertise_gpus

pytestmark = pytest.mark.slow
EVENTS, PARTITIONS, WORKERS = 600, 3, 8


@pytest.fixture(scope="module", autouse=True)
def gpus_for_every_worker(sandbox: Sandbox, real_node: RealNode) -> Iterator[None]:
    advertise_gpus(sandbox.kube(), real_node.name, WORKERS)
    yield
    advertise_gpus(sandbox.kube(), real_node.name, real_node.gpus)


def _line(s: Sample) -> str:
    return f"{s.seconds:5.0f} s  replicas {s.ready}/{s.replicas}  lag {s.lag}  results {s.results}"


def test_eight_share_workers_drain_three_partitions_with_one_result_per_event(extension: Extension) -> None:
    extension.partitions, extension.consumption, extension.max_replicas = PARTITIONS, "share", WORKERS
    extension.lag_threshold = EVENTS // WORKERS // 2  # the target stays at 8 until half the backlog is done
    extension.stabilization_seconds = 600  # and no scale-down before the end
    extension.create()
    extension.upload(EVENTS)  # recordings as test_loop's: 600 of them take a few minutes on the shared CPUs
    observer = Observer(extension)  # from the start: the trajectory shows the scale-up
    try:
        observer.run_until(lambda s: len(observer.results.counts) >= EVENTS and s.lag == 0, timeout=600,
                           on_sample=lambda s: print(_line(s)), explain=extension.diagnostics)
        observer.results.poll(3)  # anything published late (a duplicate) would show up here
    finally:
        observer.close()
    samples, counts = observer.samples, observer.results.counts
    assert max(s.ready for s in samples if s.lag > 0) == WORKERS, "never 8 ready workers while there was lag"
    assert sorted(counts) == sorted(extension.keys), "some event got no result"
    assert set(counts.values()) == {1}, f"{sum(counts.values()) - len(counts)} duplicate results"
    assert observer.dead_letters.records == 0, observer.dead_letters.reasons
    assert all(s.unschedulable == 0 for s in samples), "a GPU pod was Pending as unschedulable"
