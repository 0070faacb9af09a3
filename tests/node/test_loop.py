"""The whole loop on real pods: events arrive, worker pods start from the built image on the real node, consume,
lag falls, replicas come back down. The operator itself runs in a pod, installed with `kubectl apply -k`."""

from __future__ import annotations

import pytest

from vaultext_sandbox.loop import Extension, Observer, Sample, wait_for

pytestmark = pytest.mark.slow
EVENTS = 120


def test_replicas_follow_the_lag_and_every_event_gets_exactly_one_result(extension: Extension) -> None:
    extension.create()
    extension.upload(EVENTS)  # before any worker is up: the backlog is there when the first poll sees the topic
    observer = Observer(extension)
    try:
        wait_for(extension.ready, 120, "the extension Ready", explain=extension.diagnostics)
        drained = observer.run_until(lambda s: s.results + s.dead_letters >= EVENTS and s.lag == 0, timeout=400)
        back_down = observer.run_until(lambda s: s.replicas == 1, timeout=extension.stabilization_seconds + 120)
        observer.results.poll(3)  # anything published late (a duplicate) would show up here
    finally:
        observer.close()
    samples: list[Sample] = observer.samples
    print("seconds lag replicas ready results: " + "; ".join(
        f"{s.seconds:.0f} {s.lag} {s.replicas} {s.ready} {s.results}" for s in samples[::5]))
    assert max(s.replicas for s in samples) > 1, "replicas never rose above 1 on a backlog"
    assert sorted(observer.results.counts) == sorted(extension.keys), "some event got no result"
    assert set(observer.results.counts.values()) == {1}, "some event got more than one result"
    assert observer.dead_letters.records == 0, observer.dead_letters.reasons
    assert drained.lag == 0 and back_down.replicas == 1
    assert all(s.unschedulable == 0 for s in samples), "a GPU pod was Pending as unschedulable"
    assert observer.worker_nodes == {extension.sandbox.node().name}
