"""What both consume modes share: one message → its result or dead-letter record, produced and acknowledged.

A consume mode (consumer.py for a consumer group, share_consumer.py for a share group) fetches, calls `_process`
(or `_dead_letter`), `_publish`es the record and only then tells Kafka the message is done.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from vaultext_worker.config import KafkaSettings
from vaultext_worker.runtime.errors import ShutdownRequested, TransientError, WorkerError
from vaultext_worker.runtime.events import VaultEvent, dead_letter_message, parse_event, result_message
from vaultext_worker.runtime.health import Health, Metrics
from vaultext_worker.runtime.pipeline import Analyser

log = logging.getLogger(__name__)
Download = Callable[[VaultEvent], bytes]
Outcome = tuple[bytes, str, str]  # (record, topic, outcome label)
_PUBLISH_RETRY_S = 2.0


class DeliveryError(Exception):
    """The broker did not acknowledge a produced record."""


class PublishFailed(Exception):
    """The broker refused or never acknowledged a record through every attempt: stop, leave it unfinished."""


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": settings.publish_timeout_ms,
        "client.id": f"vaultext-worker-{socket.gethostname()}",
    }


class Processing:
    def __init__(
        self,
        settings: KafkaSettings,
        analyser: Analyser,
        download: Download,
        metrics: Metrics,
        health: Health,
        stopping: threading.Event,
        vault_backoff_s: tuple[float, float] = (1.0, 30.0),
    ) -> None:
        self.settings = settings
        self.analyser = analyser
        self.download = download
        self.metrics = metrics
        self.health = health
        self.stopping = stopping
        self.vault_backoff_s = vault_backoff_s  # first and longest wait while Vault is unavailable
        self.worker_id = socket.gethostname()
        self.producer = Producer(producer_config(settings), logger=log)
        self._open_consumer()

    def _open_consumer(self) -> None:
        """Each consume mode opens its own Kafka consumer here."""
        raise NotImplementedError

    def _process(self, message: Message) -> Outcome:
        value = message.value()
        try:
            event = parse_event(value)
            data = self.analyser.process(event, self.download)
            self.metrics.frames.inc(len(data["frameTimes"]))
            log.info("%s: %d frames, %s", event.key, len(data["frameTimes"]), data["counts"] or "nothing found")
            record = result_message(event, data)
            if len(record) > self.settings.max_record_bytes:
                detail = f"the result has {len(record)} bytes, above VAULTEXT_MAX_RECORD_BYTES"
                return self._dead_letter(value, "result-too-large", detail, message)
            return record, self.settings.output_topic, "processed"
        except (TransientError, ShutdownRequested):
            raise
        except WorkerError as error:
            return self._dead_letter(value, error.reason, error.message, message)
        except Exception as error:
            # a bug or a model failure: keep the message (dead-letter topic) and go on with the next one
            log.exception("unexpected failure on offset %d", message.offset() or 0)
            return self._dead_letter(value, "internal-error", f"{type(error).__name__}: {error}", message)

    def _dead_letter(
        self, value: bytes | None, reason: str, detail: str, message: Message, attempts: int = 1
    ) -> Outcome:
        log.warning("dead-letter (%s) offset %d: %s", reason, message.offset() or 0, detail)
        self.metrics.errors.labels(reason=reason).inc()
        record = dead_letter_message(value, reason, detail, attempts, self.worker_id, self.settings.max_record_bytes)
        return record, self.settings.dead_letter_topic, "dead_letter"

    def _publish(self, topic: str, record: bytes, source: Message) -> None:
        """Produce and wait for the acknowledgement, `publish_attempts` times at most; not ready meanwhile."""
        origin = f"{source.topic()}/{source.partition()}/{source.offset()}"
        headers: list[tuple[str, str | bytes | None]] = [("vaultext-source", origin.encode())]
        attempts = self.settings.publish_attempts
        for attempt in range(1, attempts + 1):
            try:
                self._produce_acknowledged(topic, record, headers)
                self.health.ready = True
                return
            except (KafkaException, BufferError, DeliveryError) as error:
                self.metrics.errors.labels(reason="publish").inc()
                self.health.ready = False
                log.warning("publishing to %s failed (attempt %d of %d): %s", topic, attempt, attempts, error)
                if attempt < attempts and self.stopping.wait(_PUBLISH_RETRY_S):
                    raise ShutdownRequested(f"stopping before {topic} acknowledged the record") from error
        raise PublishFailed(f"{topic} did not acknowledge the record in {attempts} attempts")

    def _produce_acknowledged(self, topic: str, record: bytes, headers: list[tuple[str, str | bytes | None]]) -> None:
        outcome: list[KafkaError | None] = []
        self.producer.produce(topic, record, headers=headers, on_delivery=lambda error, _msg: outcome.append(error))
        self.producer.flush(self.settings.publish_timeout_ms / 1000 + 5)
        if not outcome or outcome[0] is not None:
            raise DeliveryError(str(outcome[0]) if outcome else "no acknowledgement")
