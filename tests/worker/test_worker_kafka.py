"""The worker as a real process against the sandbox's Kafka broker and the Vault stand-in."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vaultext_sandbox import Kafka
from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_sandbox.vault_standin import VaultStandIn

from .kafka_worker import WorkerProcess, produce, wait_for
from .messages import encoded, vault_event
from .spy_server import SpyServer

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SIZES = [(320, 180), (480, 270), (640, 360), (270, 480)]
MakeWorker = Callable[..., WorkerProcess]


def key_for(index: int) -> str:
    return f"youruser/1630643550_6-967003_highway {index}_200-200-400-400_24_769.mp4"


def spec_for(index: int) -> RecordingSpec:
    width, height = SIZES[index % len(SIZES)]
    return RecordingSpec(width=width, height=height, seconds=4.0, fps=10, seed=100 + index)


@pytest.fixture
def make_worker(kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path) -> Iterator[MakeWorker]:
    made: list[WorkerProcess] = []

    def make(**env: str) -> WorkerProcess:
        worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env=env)
        worker.create_topics()
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()


def publish(vault: VaultStandIn, worker: WorkerProcess, indexes: range, **extra: Any) -> None:
    events = []
    for index in indexes:
        data = cached_recording(spec_for(index)).read_bytes()
        vault.put("storj", key_for(index), data)
        events.append(encoded(vault_event(key_for(index), file_size=len(data), **extra)))
    produce(worker.bootstrap, worker.topic, events)


def assert_boxes_match(result: dict[str, object], index: int) -> None:
    spec = spec_for(index)
    data = result["data"]
    assert isinstance(data, dict)
    assert len(data["probabilities"]) == len(data["labels"]) == len(data["boxes"]) == len(data["frameTimes"]) == 3
    assert data["frameSize"] == {"width": spec.width, "height": spec.height}
    for time, labels, boxes in zip(data["frameTimes"], data["labels"], data["boxes"], strict=True):
        truth = spec.boxes_at(time)
        assert sorted(labels) == ["blue", "green", "red"]
        for label, box in zip(labels, boxes, strict=True):
            assert np.abs(np.array(box) - np.array(truth[label])).max() <= 5, (index, time, label, box, truth[label])


def test_fifty_recordings_end_to_end(make_worker: MakeWorker, vault: VaultStandIn) -> None:
    worker = make_worker().start()
    credentials = {"storage_uri": vault.url, "storage_access_key": vault.access_key, "storage_secret": vault.secret_key}
    publish(vault, worker, range(50), data=credentials)
    results = worker.results(50, timeout_s=180)
    assert len(results) == 50, worker.log()
    by_key = {result["payload"]["key"]: result for result in results}
    assert sorted(by_key) == sorted(key_for(i) for i in range(50))
    for index in range(50):
        result = by_key[key_for(index)]
        assert result["operation"] == "classification"
        assert result["provider"] == "kstorage" and result["source"] == "storj"
        assert result["payload"]["metadata"]["event-instancename"] == "highway4"
        assert_boxes_match(result, index)
        text = json.dumps(result)
        assert vault.secret_key not in text and vault.access_key not in text
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")
    status, metrics = worker.get("/metrics")
    assert status == 200
    assert 'vaultext_recordings_total{outcome="processed"} 50.0' in metrics
    assert "vaultext_frames_total 150.0" in metrics
    assert worker.get("/healthz")[0] == 200
    assert worker.dead_letters(1, timeout_s=2) == []


def test_bad_inputs_go_to_the_dead_letter_topic_and_processing_goes_on(
    make_worker: MakeWorker, vault: VaultStandIn
) -> None:
    worker = make_worker(VAULTEXT_DOWNLOAD_TIMEOUT="1", VAULTEXT_DOWNLOAD_ATTEMPTS="2")
    good = cached_recording(spec_for(0)).read_bytes()
    vault.put("storj", "good/first.mp4", good)
    vault.put("storj", "good/last.mp4", good)
    vault.put("storj", "flaky.mp4", good)
    vault.fail("flaky.mp4", 503, times=1)  # transient: retried, then processed
    vault.put("storj", "notvideo.mp4", b"<html>this is not a video</html>" * 50)
    vault.put("storj", "truncated.mp4", good[: len(good) // 3])
    vault.put("storj", "empty.mp4", b"")
    wrong = {"storage_access_key": "intruder", "storage_secret": "guess"}
    spy = SpyServer()
    hostile = {"storage_uri": f"{spy.url}/api"}  # wants the configured keys sent to a host of its choosing
    messages = [
        encoded(vault_event("good/first.mp4")),
        b'{"date": 1630643550, "payload": {"key": ',
        encoded({**vault_event("x"), "payload": {"fileSize": 10, "metadata": {}}}),
        encoded(vault_event("youruser/does-not-exist.mp4")),
        encoded(vault_event("good/first.mp4", data=wrong)),
        encoded(vault_event("good/first.mp4", data=hostile)),
        encoded(vault_event("notvideo.mp4")),
        encoded(vault_event("truncated.mp4")),
        encoded(vault_event("empty.mp4")),
        encoded(vault_event("good/first.mp4", file_size=2 * 1024**3)),
        encoded(vault_event("flaky.mp4")),
        encoded(vault_event("good/last.mp4")),
    ]
    produce(worker.bootstrap, worker.topic, messages)
    with spy:
        worker.start()
        results = worker.results(3, timeout_s=90)
        assert spy.seen == []
    assert [r["payload"]["key"] for r in results] == ["good/first.mp4", "flaky.mp4", "good/last.mp4"], worker.log()
    dead = worker.dead_letters(9, timeout_s=30)
    assert [d["reason"] for d in dead] == [
        "bad-message", "bad-message", "not-found", "unauthorized", "untrusted-location", "bad-video", "bad-video",
        "bad-video", "too-large",
    ]  # fmt: skip
    assert dead[0]["raw"] == messages[1].decode()
    assert "payload.key" in dead[1]["detail"]
    assert dead[3]["message"]["payload"]["key"] == "good/first.mp4"
    assert "guess" not in json.dumps(dead[3]) and "intruder" not in json.dumps(dead[3])
    assert dead[4]["message"]["data"]["storage_uri"] == hostile["storage_uri"]
    assert "empty" in dead[7]["detail"]
    assert "2147483648" in dead[8]["detail"]
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")
    metrics = worker.get("/metrics")[1]
    assert 'vaultext_recordings_total{outcome="dead_letter"} 9.0' in metrics
    assert 'vaultext_recordings_total{outcome="processed"} 3.0' in metrics
    assert 'vaultext_errors_total{reason="bad-video"} 3.0' in metrics
    assert 'vaultext_stage_seconds_count{stage="inference"} 3.0' in metrics
    assert "vaultext_in_flight 0.0" in metrics


def test_sigkill_mid_recording_loses_nothing(make_worker: MakeWorker, vault: VaultStandIn) -> None:
    worker = make_worker().start()
    vault.delay(key_for(3), 4)  # the worker is surely busy with recording 3 when it is killed
    publish(vault, worker, range(8))
    wait_for(lambda: any(r.file_name == key_for(3) for r in vault.requests), 60, "recording 3 in hand")
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    vault.clear()
    worker.start()
    results = worker.results(9, timeout_s=90)
    keys = {r["payload"]["key"] for r in results}
    assert keys == {key_for(i) for i in range(8)}, worker.log()
    for result in results:
        assert_boxes_match(result, int(result["payload"]["key"].split("highway ")[1].split("_")[0]))
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")


def test_sigterm_mid_recording_publishes_and_commits_before_exit(make_worker: MakeWorker, vault: VaultStandIn) -> None:
    worker = make_worker().start()
    vault.delay(key_for(0), 3)
    publish(vault, worker, range(1))
    wait_for(lambda: any(r.file_name == key_for(0) for r in vault.requests), 60, "the recording in hand")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log()
    assert "stopped cleanly" in worker.log()
    assert worker.lag() == 0
    results = worker.results(1, timeout_s=10)
    assert [r["payload"]["key"] for r in results] == [key_for(0)]
