"""The consume loop: at-least-once, one recording at a time, nothing dropped.

poll → parse → download → decode → predict → produce the result (or the dead-letter record) → wait for the
broker's acknowledgement → commit that message's offset. A crash anywhere before the commit means the
recording is processed again; SIGTERM stops fetching, finishes the recording in hand, commits and exits.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer

from vaultext_worker.config import KafkaSettings
from vaultext_worker.runtime.errors import ShutdownRequested, WorkerError
from vaultext_worker.runtime.events import VaultEvent, dead_letter_message, parse_event, result_message
from vaultext_worker.runtime.health import Health, Metrics
from vaultext_worker.runtime.pipeline import Analyser

log = logging.getLogger(__name__)
Download = Callable[[VaultEvent], bytes]
_PUBLISH_RETRY_S = 2.0


class DeliveryError(Exception):
    """The broker did not acknowledge a produced record."""


def consumer_config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": settings.group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": min(3_000, settings.session_timeout_ms // 4),
        # a long recording blocks poll(); the group must not evict the worker meanwhile
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        # events are small and each takes seconds: do not prefetch thousands another replica could take
        "queued.max.messages.kbytes": 1024,
        "client.id": f"vaultext-worker-{socket.gethostname()}",
    }


def producer_config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
        "client.id": f"vaultext-worker-{socket.gethostname()}",
    }


class Worker:
    def __init__(
        self,
        settings: KafkaSettings,
        analyser: Analyser,
        download: Download,
        metrics: Metrics,
        health: Health,
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.analyser = analyser
        self.download = download
        self.metrics = metrics
        self.health = health
        self.stopping = stopping
        self.worker_id = socket.gethostname()
        self.consumer = Consumer(consumer_config(settings), logger=log)
        self.producer = Producer(producer_config(settings), logger=log)

    def run(self) -> None:
        """Consume until `stopping` is set; then close the consumer (leaving the group at once)."""
        self.consumer.subscribe(
            [self.settings.input_topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        self.health.ready = True
        log.info("consuming %s as group %s", self.settings.input_topic, self.settings.group)
        try:
            while not self.stopping.is_set():
                message = self.consumer.poll(1.0)
                self.health.beat()
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise KafkaException(error)
                    log.warning("consumer: %s", error)
                    continue
                self.handle(message)
        finally:
            self.health.ready = False
            self.producer.flush(10)
            self.consumer.close()
            log.info("consumer closed")

    def handle(self, message: Message) -> None:
        """Process one message and commit it once its result or dead-letter record is acknowledged."""
        self.metrics.in_flight.inc()
        started = time.perf_counter()
        try:
            try:
                record, topic, outcome = self._process(message)
            except ShutdownRequested as stop:
                log.info("%s; offset %d stays uncommitted", stop, message.offset() or 0)
                return
            if not self._publish(topic, record, message):
                return
            self._commit(message)
            self.metrics.recordings.labels(outcome=outcome).inc()
            self.metrics.observe_stage("message", time.perf_counter() - started)
        finally:
            self.metrics.in_flight.dec()

    def _process(self, message: Message) -> tuple[bytes, str, str]:
        value = message.value()
        try:
            event = parse_event(value)
            data = self.analyser.process(event, self.download)
            self.metrics.frames.inc(len(data["frameTimes"]))
            log.info("%s: %d frames, %s", event.key, len(data["frameTimes"]), data["counts"] or "nothing found")
            return result_message(event, data), self.settings.output_topic, "processed"
        except WorkerError as error:
            return self._dead_letter(value, error.reason, error.message, message)
        except ShutdownRequested:
            raise
        except Exception as error:
            # a bug or a model failure: keep the message (dead-letter topic) and go on with the next one
            log.exception("unexpected failure on offset %d", message.offset() or 0)
            return self._dead_letter(value, "internal-error", f"{type(error).__name__}: {error}", message)

    def _dead_letter(self, value: bytes | None, reason: str, detail: str, message: Message) -> tuple[bytes, str, str]:
        log.warning("dead-letter (%s) offset %d: %s", reason, message.offset() or 0, detail)
        self.metrics.errors.labels(reason=reason).inc()
        record = dead_letter_message(value, reason, detail, 1, self.worker_id)
        return record, self.settings.dead_letter_topic, "dead_letter"

    def _publish(self, topic: str, record: bytes, source: Message) -> bool:
        """Produce and wait for the acknowledgement; retry while the broker is away. False: stopping first."""
        origin = f"{source.topic()}/{source.partition()}/{source.offset()}"
        headers: list[tuple[str, str | bytes | None]] = [("vaultext-source", origin.encode())]
        while True:
            try:
                self._produce_acknowledged(topic, record, headers)
                return True
            except (KafkaException, BufferError, DeliveryError) as error:
                self.metrics.errors.labels(reason="publish").inc()
                log.warning("publishing to %s failed (%s); retrying", topic, error)
                if self.stopping.wait(_PUBLISH_RETRY_S):
                    log.warning("stopping before %s was published; the offset stays uncommitted", topic)
                    return False

    def _produce_acknowledged(self, topic: str, record: bytes, headers: list[tuple[str, str | bytes | None]]) -> None:
        outcome: list[KafkaError | None] = []
        self.producer.produce(topic, record, headers=headers, on_delivery=lambda error, _msg: outcome.append(error))
        self.producer.flush(30)
        if not outcome or outcome[0] is not None:
            raise DeliveryError(str(outcome[0]) if outcome else "no acknowledgement within 30 s")

    def _commit(self, message: Message) -> None:
        try:
            self.consumer.commit(message=message, asynchronous=False)
        except KafkaException as error:
            # e.g. the partition moved to another replica meanwhile: it will deliver the message again
            self.metrics.errors.labels(reason="commit").inc()
            offset = message.offset() or 0
            log.warning("commit of offset %d failed (%s); the message will be redelivered", offset, error)

    def _on_assign(self, consumer: Consumer, partitions: list[Any]) -> None:
        log.info("assigned %s", [f"{p.topic}/{p.partition}" for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        log.info("revoked %s", [f"{p.topic}/{p.partition}" for p in partitions])
