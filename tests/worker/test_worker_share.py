"""Share mode (`VAULTEXT_KAFKA_CONSUMPTION=share`): worker processes on one share group of the sandbox's Kafka.

Every event results exactly once although more workers than partitions take records at once; Vault failing
releases a record for later; a record that kills the worker every time is dead-lettered as `poison`; SIGTERM
hands back what the worker will not finish."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import AcknowledgeType, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from vaultext_sandbox import Kafka
from vaultext_sandbox.synthetic.recordings import RecordingSpec, cached_recording
from vaultext_sandbox.vault_standin import VaultStandIn

from .kafka_worker import WorkerProcess, read_all, wait_for
from .messages import encoded, vault_event

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
HERE = Path(__file__).resolve().parent
PARTITIONS = 3
SHARE = {"VAULTEXT_KAFKA_CONSUMPTION": "share"}


def clip(index: int, width: int = 320, height: int = 180) -> bytes:
    spec = RecordingSpec(width=width, height=height, seconds=2.0, fps=10, seed=300 + index)
    return cached_recording(spec).read_bytes()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    made: list[WorkerProcess] = []
    yield made
    for worker in made:
        worker.stop()


def share_workers(kafka: Kafka, vault: VaultStandIn, model: Path, tmp_path: Path, count: int,
                  env: dict[str, str], lock_ms: int) -> list[WorkerProcess]:  # fmt: skip
    """`count` workers on one input topic (3 partitions) and one share group, whose record lock is `lock_ms`."""
    made = []
    for index in range(count):
        (tmp_path / f"worker-{index}").mkdir()
        made.append(WorkerProcess(kafka.bootstrap, vault, model, tmp_path / f"worker-{index}", env=SHARE | env))
    first = made[0]
    for worker in made[1:]:
        worker.topic, worker.output, worker.dead_letter, worker.group = (first.topic, first.output,
                                                                         first.dead_letter, first.group)  # fmt: skip
        worker.env |= {"QUEUE_NAME": first.topic, "QUEUE_TARGET": first.output, "KAFKA_GROUP": first.group,
                       "VAULTEXT_DEAD_LETTER_TOPIC": first.dead_letter}  # fmt: skip
    first.create_topics(PARTITIONS)
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    entry = ConfigEntry("share.record.lock.duration.ms", str(lock_ms), incremental_operation=AlterConfigOpType.SET)
    group = ConfigResource(ResourceType.GROUP, first.group, incremental_configs=[entry])
    admin.incremental_alter_configs([group])[group].result(timeout=30)
    return made


def produce_one_by_one(bootstrap: str, topic: str, keys: list[str]) -> None:
    """As Vault publishes: one event per request, so each is a record batch of its own, spread over partitions."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for index, key in enumerate(keys):
        producer.produce(topic, encoded(vault_event(key)), partition=index % PARTITIONS)
        assert producer.flush(30) == 0


def exactly_once(worker: WorkerProcess, keys: list[str], timeout_s: float = 120) -> None:
    """One result per key: none missing, and no second one turning up a while after the last."""
    found = sorted(r["payload"]["key"] for r in worker.results(len(keys), timeout_s=timeout_s))
    assert found == sorted(keys), worker.log()
    again = read_all(worker.bootstrap, worker.output, len(keys) + 1, timeout_s=5)
    assert len(again) == len(keys), sorted(r["payload"]["key"] for r in again)


def left_in_group(worker: WorkerProcess, seconds: float = 8) -> list[bytes]:
    """What the share group still hands out: records no worker accepted or rejected."""
    consumer = ShareConsumer({"bootstrap.servers": worker.bootstrap, "group.id": worker.group,
                              "share.acknowledgement.mode": "explicit"})  # fmt: skip
    consumer.subscribe([worker.topic])
    left: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            for message in consumer.poll(0.5):
                if message.error() is None:
                    left.append(message.value() or b"")
                    consumer.acknowledge(message, AcknowledgeType.RELEASE)
            consumer.commit_sync(10)
    finally:
        consumer.close()
    return left


def processed_by(worker: WorkerProcess) -> int:
    return sum(" frames, " in line for line in worker.log().splitlines())


def test_more_workers_than_partitions_each_event_results_exactly_once(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    pool = share_workers(kafka, vault, detector, tmp_path, 4, {}, lock_ms=15_000)
    workers.extend(pool)
    keys = [f"cam/{index}.mp4" for index in range(24)]
    for index, key in enumerate(keys):
        vault.put("storj", key, clip(index % 4))
        vault.delay(key, 0.4)  # each recording takes a while, so that every worker gets some
    produce_one_by_one(kafka.bootstrap, pool[0].topic, keys[:3])  # waiting before the share group exists
    for worker in pool:
        worker.start()
    produce_one_by_one(kafka.bootstrap, pool[0].topic, keys[3:])
    exactly_once(pool[0], keys)
    assert all(processed_by(worker) >= 1 for worker in pool), [processed_by(worker) for worker in pool]
    assert sum(processed_by(worker) for worker in pool) == len(keys)
    assert pool[0].dead_letters(1, timeout_s=2) == []
    for worker in pool:
        worker.stop()
    assert left_in_group(pool[0]) == []


def test_vault_failing_releases_the_record_and_it_results_once_later(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    # one failed download per delivery, released at once: Vault fails the first two deliveries
    env = {"VAULTEXT_DOWNLOAD_ATTEMPTS": "1", "VAULTEXT_SHARE_HOLD_MS": "0", "VAULTEXT_VAULT_BACKOFF_MAX": "1"}
    [worker] = share_workers(kafka, vault, detector, tmp_path, 1, env, lock_ms=15_000)
    workers.append(worker)
    keys = ["cam/good-1.mp4", "cam/flaky.mp4", "cam/good-2.mp4"]
    for index, key in enumerate(keys):
        vault.put("storj", key, clip(index))
    vault.fail("cam/flaky.mp4", 503, times=2)
    produce_one_by_one(kafka.bootstrap, worker.topic, keys)
    worker.start()
    exactly_once(worker, keys)
    assert worker.log().count("Vault still unavailable after holding the record") == 2, worker.log()
    assert [r.status for r in vault.requests if r.file_name == "cam/flaky.mp4"] == [503, 503, 200]
    assert worker.dead_letters(1, timeout_s=2) == []
    worker.stop()
    assert left_in_group(worker) == []


def test_a_record_that_kills_the_worker_every_time_is_dead_lettered_as_poison(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    env = {"VAULTEXT_MODEL_FACTORY": "crashing_model:build", "PYTHONPATH": str(HERE),
           "VAULTEXT_SHARE_DELIVERY_LIMIT": "3"}  # fmt: skip
    [worker] = share_workers(kafka, vault, detector, tmp_path, 1, env, lock_ms=2_000)
    workers.append(worker)
    good = [f"cam/good-{index}.mp4" for index in range(6)]
    for index, key in enumerate(good):
        vault.put("storj", key, clip(index))
    vault.put("storj", "cam/killer.mp4", clip(9, 200, 200))  # the crashing model dies on square frames
    produce_one_by_one(kafka.bootstrap, worker.topic, ["cam/killer.mp4", *good])
    deadline = time.monotonic() + 180
    while worker.starts < 6 and time.monotonic() < deadline:
        worker.start()
        try:
            worker.wait(25)  # killed by the poison, or still running once it is past it
        except subprocess.TimeoutExpired:
            break
    assert worker.starts == 3, worker.log()  # two deliveries killed it, the third was dead-lettered
    dead = worker.dead_letters(1, timeout_s=30)
    assert [(d["reason"], d["attempts"], d["message"]["payload"]["key"]) for d in dead] == [
        ("poison", 2, "cam/killer.mp4")
    ], worker.log()
    exactly_once(worker, good)
    assert len(worker.dead_letters(2, timeout_s=3)) == 1
    worker.stop()
    assert left_in_group(worker) == []


def test_sigterm_hands_back_the_record_in_hand_at_once(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    # the first worker's Vault refuses connections: it holds the record (for up to a minute) when told to stop
    env = {"VAULTEXT_DOWNLOAD_ATTEMPTS": "1", "VAULTEXT_SHARE_HOLD_MS": "60000", "VAULTEXT_VAULT_BACKOFF_MAX": "1"}
    first, second = share_workers(kafka, vault, detector, tmp_path, 2, env, lock_ms=60_000)
    workers.extend([first, second])
    away = VaultStandIn().start()
    away.stop()
    first.env["VAULT_API_URL"] = away.url
    vault.put("storj", "cam/held.mp4", clip(1))
    produce_one_by_one(kafka.bootstrap, first.topic, ["cam/held.mp4"])
    first.start()
    wait_for(lambda: "Vault unavailable" in first.get("/readyz")[1], 60, "the first worker to hold the record")
    second.start()
    stopped = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(20) == 0, first.log()
    assert "offset 0 released" in first.log()
    results = second.results(1, timeout_s=30)
    assert [r["payload"]["key"] for r in results] == ["cam/held.mp4"], second.log()
    assert time.monotonic() - stopped < 40  # long before the record's one-minute lock would have run out
    assert processed_by(first) == 0 and processed_by(second) == 1
    exactly_once(second, ["cam/held.mp4"])
    assert second.dead_letters(1, timeout_s=2) == []


def test_sigterm_finishes_the_recording_in_hand_and_hands_back_the_rest_of_its_batch(
    kafka: Kafka, vault: VaultStandIn, detector: Path, tmp_path: Path, workers: list[WorkerProcess]
) -> None:
    first, second = share_workers(kafka, vault, detector, tmp_path, 2, {}, lock_ms=60_000)
    workers.extend([first, second])
    keys = ["cam/slow.mp4", "cam/next-1.mp4", "cam/next-2.mp4"]
    for index, key in enumerate(keys):
        vault.put("storj", key, clip(index))
    vault.delay("cam/slow.mp4", 3)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 200})
    for key in keys:  # one record batch: the first worker acquires all three at once
        producer.produce(first.topic, encoded(vault_event(key)), partition=0)
    assert producer.flush(30) == 0
    first.start()
    wait_for(lambda: "vaultext_in_flight 1.0" in first.get("/metrics")[1], 60, "the first worker to be processing")
    stopped = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.log()
    assert "releasing 2 fetched records not started" in first.log()
    second.start()
    exactly_once(second, keys)
    assert time.monotonic() - stopped < 40  # long before the records' one-minute lock would have run out
    assert (processed_by(first), processed_by(second)) == (1, 2), first.log()
    assert second.dead_letters(1, timeout_s=2) == []
