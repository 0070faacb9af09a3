"""Run the worker as a real subprocess against the sandbox's Kafka and the Vault stand-in, and read what it wrote."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from vaultext_sandbox.processes import free_port
from vaultext_sandbox.vault_standin import VaultStandIn


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names])
    for future in futures.values():
        future.result(30)


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0


def read_all(bootstrap: str, topic: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
    """Read `count` JSON records from the start of `topic` (fewer if the time runs out)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            records.append(json.loads(message.value() or b"null"))
    finally:
        consumer.close()
    return records


def lag(bootstrap: str, group: str, topic: str) -> int:
    """Messages in `topic` the group has not committed."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        total = 0
        for position in committed:
            _, high = consumer.get_watermark_offsets(position, timeout=10)
            total += high - max(position.offset, 0)
        return total
    finally:
        consumer.close()


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class WorkerProcess:
    """`python -m vaultext_worker` with the operator's environment contract."""

    def __init__(
        self,
        bootstrap: str,
        vault: VaultStandIn,
        model: Path,
        log_dir: Path,
        command: tuple[str, ...] = (sys.executable, "-m", "vaultext_worker"),
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = list(command)
        self.topic, self.output, self.dead_letter = unique("events"), unique("results"), unique("dead")
        self.group = unique("workers")
        self.metrics_port = free_port()
        self.bootstrap = bootstrap
        self.log_dir = log_dir
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "QUEUE_SYSTEM": "KAFKA",
            "QUEUE_NAME": self.topic,
            "QUEUE_TARGET": self.output,
            "KAFKA_BROKER": bootstrap,
            "KAFKA_GROUP": self.group,
            "VAULT_API_URL": vault.url,
            "VAULT_ACCESS_KEY": vault.access_key,
            "VAULT_SECRET_KEY": vault.secret_key,
            "NUMBER_OF_PREDICTIONS": "3",
            "VAULTEXT_DEAD_LETTER_TOPIC": self.dead_letter,
            "VAULTEXT_MODEL_PATH": str(model),
            "VAULTEXT_INPUT_SIZE": "320",
            "VAULTEXT_METRICS_PORT": str(self.metrics_port),
            "VAULTEXT_SESSION_TIMEOUT_MS": "6000",
            "VAULTEXT_DOWNLOAD_TIMEOUT": "5",
            "VAULTEXT_DOWNLOAD_BACKOFF": "0.1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def create_topics(self, partitions: int = 1) -> None:
        create_topics(self.bootstrap, [self.topic, self.output, self.dead_letter], partitions)

    def start(self) -> WorkerProcess:
        self.starts += 1
        log = (self.log_dir / f"worker-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 60, "the worker's /readyz")
        return self

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=2) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return 0, ""

    def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
        return self.get("/readyz")[0] == 200

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout_s: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout_s)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("worker-*.log")))

    def results(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        return read_all(self.bootstrap, self.output, count, timeout_s)

    def dead_letters(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        return read_all(self.bootstrap, self.dead_letter, count, timeout_s)

    def lag(self) -> int:
        return lag(self.bootstrap, self.group, self.topic)
