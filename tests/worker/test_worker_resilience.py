"""No stuck partition, no mass dead-lettering: the worker process against the sandbox's Kafka when the broker
refuses results, when a message kills the worker, and when Vault goes away for a while."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
from confluent_kafka.cimpl import NewTopic

from vaultext_sandbox import Kafka
from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_sandbox.vault_standin import VaultStandIn
from vaultext_worker.runtime.deliveries import decode

from .kafka_worker import WorkerProcess, create_topics, produce, wait_for
from .messages import encoded, vault_event

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
HERE = Path(__file__).resolve().parent


def clip(index: int, width: int = 320, height: int = 180) -> bytes:
    spec = RecordingSpec(width=width, height=height, seconds=2.0, fps=10, seed=300 + index)
    return cached_recording(spec).read_bytes()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    made: list[WorkerProcess] = []
    yield made
    for worker in made:
        worker.stop()


def set_max_message_bytes(bootstrap: str, topic: str, value: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry("max.message.bytes", str(value), incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)


def test_an_unacknowledged_result_is_never_committed(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env={"VAULTEXT_PUBLISH_ATTEMPTS": "2"})
    workers.append(worker)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    # the broker refuses every result: the output topic takes records of 256 bytes at most
    refusing = NewTopic(worker.output, num_partitions=1, replication_factor=1, config={"max.message.bytes": "256"})
    for future in admin.create_topics([refusing]).values():
        future.result(30)
    create_topics(kafka.bootstrap, [worker.topic, worker.dead_letter])
    vault.put("storj", "cam/1.mp4", clip(1))
    produce(kafka.bootstrap, worker.topic, [encoded(vault_event("cam/1.mp4"))])
    worker.start()
    assert worker.wait(60) == 1, worker.log()
    log = worker.log()
    assert "did not acknowledge the record in 2 attempts" in log and "stays uncommitted" in log
    assert worker.lag() == 1  # fails if the offset were committed before the broker acknowledged
    assert worker.dead_letters(1, timeout_s=2) == []
    set_max_message_bytes(kafka.bootstrap, worker.output, 1_048_588)
    worker.start()  # the next consumer gets the message again
    results = worker.results(1, timeout_s=60)
    assert [r["payload"]["key"] for r in results] == ["cam/1.mp4"], worker.log()
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")


def test_a_message_that_kills_the_worker_is_dead_lettered_as_poison(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    env = {"VAULTEXT_MODEL_FACTORY": "crashing_model:build", "PYTHONPATH": str(HERE), "VAULTEXT_MAX_DELIVERIES": "2"}
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env=env)
    workers.append(worker)
    worker.create_topics()
    vault.put("storj", "cam/good-1.mp4", clip(1))
    vault.put("storj", "cam/killer.mp4", clip(2, 200, 200))  # the crashing model dies on square frames
    vault.put("storj", "cam/good-2.mp4", clip(3))
    keys = ["cam/good-1.mp4", "cam/killer.mp4", "cam/good-2.mp4"]
    produce(kafka.bootstrap, worker.topic, [encoded(vault_event(key)) for key in keys])
    deadline = time.monotonic() + 150
    while worker.starts < 6 and time.monotonic() < deadline:
        worker.start()
        try:
            worker.wait(20)  # killed by the poison, or still running once it is past it
        except subprocess.TimeoutExpired:
            break
    assert worker.starts == 3, worker.log()  # two deliveries killed it, the third was dead-lettered
    dead = worker.dead_letters(1, timeout_s=30)
    assert [(d["reason"], d["attempts"], d["message"]["payload"]["key"]) for d in dead] == [
        ("poison", 2, "cam/killer.mp4")
    ], worker.log()
    assert "delivered 2 times" in dead[0]["detail"]
    results = worker.results(2, timeout_s=60)
    assert sorted(r["payload"]["key"] for r in results) == ["cam/good-1.mp4", "cam/good-2.mp4"]
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")


def test_a_vault_outage_dead_letters_nothing_and_every_event_gets_its_result(
    kafka: Kafka, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    folder = tmp_path / "recordings"
    keys = [f"cam/{index}.mp4" for index in range(40)]
    for index, key in enumerate(keys):
        (folder / "storj" / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / "storj" / key).write_bytes(clip(index % 4))
    vault = VaultStandIn(recordings=folder).start()
    env = {"VAULTEXT_DOWNLOAD_TIMEOUT": "1", "VAULTEXT_DOWNLOAD_ATTEMPTS": "2", "VAULTEXT_VAULT_BACKOFF_MAX": "1"}
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env=env)
    workers.append(worker)
    worker.create_topics()
    worker.start()
    events = [encoded(vault_event(key)) for key in keys]
    produce(kafka.bootstrap, worker.topic, events[:20])
    assert len(worker.results(20, timeout_s=60)) == 20, worker.log()
    port = vault.port
    vault.stop()  # Vault goes away: connections are refused
    try:
        produce(kafka.bootstrap, worker.topic, events[20:])
        wait_for(lambda: "Vault unavailable" in worker.get("/readyz")[1], 20, "/readyz to say Vault is unavailable")
        assert worker.get("/readyz")[0] == 503
        time.sleep(6)  # the outage goes on for a while
        assert worker.dead_letters(1, timeout_s=2) == []
        assert worker.lag() == 20
        assert 'vaultext_vault_unavailable 1.0' in worker.get("/metrics")[1]
    finally:
        vault = VaultStandIn(port=port, recordings=folder).start()  # back on the same address
    try:
        results = worker.results(40, timeout_s=60)
        assert sorted(r["payload"]["key"] for r in results) == sorted(keys), worker.log()
        wait_for(lambda: worker.get("/readyz")[0] == 200, 20, "ready again")
        wait_for(lambda: worker.lag() == 0, 30, "lag 0")
        assert worker.dead_letters(1, timeout_s=2) == []
        assert 'vaultext_recordings_total{outcome="processed"} 40.0' in worker.get("/metrics")[1]
    finally:
        vault.stop()


def test_records_above_the_cap_are_dead_lettered_and_cut_to_fit(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    env = {"VAULTEXT_MAX_RECORD_BYTES": "4096", "VAULTEXT_SAMPLING": "all"}  # 40 frames of boxes exceed 4 KiB
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env=env)
    workers.append(worker)
    worker.create_topics()
    vault.put("storj", "cam/long.mp4", cached_recording(RecordingSpec(320, 180, 4.0, 10, seed=301)).read_bytes())
    padded = encoded(vault_event("cam/absent.mp4", notes="x" * 50_000))  # not found, and too big to quote whole
    produce(kafka.bootstrap, worker.topic, [encoded(vault_event("cam/long.mp4")), padded])
    worker.start()
    dead = worker.dead_letters(2, timeout_s=60)
    assert [d["reason"] for d in dead] == ["result-too-large", "not-found"], worker.log()
    assert "above VAULTEXT_MAX_RECORD_BYTES" in dead[0]["detail"]
    assert dead[1]["truncated"]["bytes"] == len(padded) and "message" not in dead[1]
    assert all(len(json.dumps(d, separators=(",", ":"))) <= 4096 for d in dead)
    assert worker.results(1, timeout_s=2) == []
    wait_for(lambda: worker.lag() == 0, 30, "lag 0")


def test_sigterm_while_vault_is_away_leaves_the_message_for_later_and_uncounted(
    kafka: Kafka, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    vault = VaultStandIn().start()
    vault.stop()  # refused connections from the start
    env = {"VAULTEXT_DOWNLOAD_ATTEMPTS": "1", "VAULTEXT_VAULT_BACKOFF_MAX": "1"}
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, env=env)
    workers.append(worker)
    worker.create_topics()
    produce(kafka.bootstrap, worker.topic, [encoded(vault_event("cam/1.mp4"))])
    worker.start()
    wait_for(lambda: "Vault unavailable" in worker.get("/readyz")[1], 30, "/readyz to say Vault is unavailable")
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0, worker.log()
    assert worker.lag() == 1 and worker.dead_letters(1, timeout_s=2) == []
    reader = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": worker.group})
    try:
        committed = reader.committed([TopicPartition(worker.topic, 0)], timeout=10)[0]
    finally:
        reader.close()
    assert (committed.offset, decode(committed.metadata)) == (0, (0, 0))  # the stop did not count as a delivery
