"""The consumer-group loop: at-least-once, one recording at a time, nothing dropped, no partition stuck.

poll → count the delivery → parse → download → decode → predict → produce the result (or the dead-letter
record) → wait for the broker's acknowledgement → commit that message's offset. A crash anywhere before the
commit means the recording is processed again; a message whose deliveries keep killing the worker is
dead-lettered as `poison` (deliveries.py). While Vault fails transiently the message is held, consumption
paused and /readyz not ready, until Vault answers: nothing is dead-lettered for an outage. When the broker
will not acknowledge a record after the bounded attempts the worker stops, uncommitted, and exits non-zero.
SIGTERM stops fetching, finishes the recording in hand, commits and exits.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from vaultext_worker.config import KafkaSettings
from vaultext_worker.runtime.deliveries import DeliveryCounter
from vaultext_worker.runtime.errors import ShutdownRequested, TransientError
from vaultext_worker.runtime.processing import Outcome, Processing, PublishFailed

log = logging.getLogger(__name__)


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


class Worker(Processing):
    def _open_consumer(self) -> None:
        self.consumer = Consumer(consumer_config(self.settings), logger=log)
        self.deliveries = DeliveryCounter(self.consumer)

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
        count = self.deliveries.begin(message)
        try:
            try:
                if count > self.settings.max_deliveries:
                    detail = f"delivered {count - 1} times and the worker never finished it (killed, out of memory?)"
                    record, topic, outcome = self._dead_letter(message.value(), "poison", detail, message, count - 1)
                else:
                    record, topic, outcome = self._process_holding(message)
                self._publish(topic, record, message)
            except (ShutdownRequested, PublishFailed) as stop:
                log.warning("%s; offset %d stays uncommitted", stop, message.offset() or 0)
                self.deliveries.give_back(message, count)
                if isinstance(stop, PublishFailed):
                    raise
                return
            self._commit(message)
            self.metrics.recordings.labels(outcome=outcome).inc()
            self.metrics.observe_stage("message", time.perf_counter() - started)
        finally:
            self.metrics.in_flight.dec()

    def _process_holding(self, message: Message) -> Outcome:
        """Process; while Vault fails transiently keep the message, pause consumption and retry with backoff."""
        wait, longest = self.vault_backoff_s
        try:
            while True:
                try:
                    return self._process(message)
                except TransientError as error:
                    self.metrics.errors.labels(reason=error.reason).inc()
                    if not self.health.paused:
                        log.warning("Vault unavailable (%s): pausing consumption, holding offset %d", error,
                                    message.offset() or 0)  # fmt: skip
                    self._pause(f"Vault unavailable: {error.message}")
                    if self._idle(wait):
                        raise ShutdownRequested("stopping while Vault is unavailable") from error
                    wait = min(wait * 2, longest)
        finally:
            self._resume()

    def _pause(self, why: str) -> None:
        self.health.paused = why
        self.metrics.vault_unavailable.set(1)
        self.consumer.pause(self.consumer.assignment())

    def _resume(self) -> None:
        if self.health.paused:
            self.consumer.resume(self.consumer.assignment())
            self.health.paused = ""
            self.metrics.vault_unavailable.set(0)
            log.info("Vault answers again: consuming")

    def _idle(self, seconds: float) -> bool:
        """Wait while paused, polling so the group keeps the worker; True when stopping. A message that arrives
        anyway (a partition assigned meanwhile) is put back for later."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.stopping.is_set():
                return True
            self.consumer.pause(self.consumer.assignment())  # also partitions assigned meanwhile
            stray = self.consumer.poll(min(left, 1.0))
            self.health.beat()
            if stray is not None and stray.error() is None:
                position = TopicPartition(stray.topic() or "", stray.partition() or 0, stray.offset() or 0)
                self.consumer.seek(position)
                self.consumer.pause([position])
        return self.stopping.is_set()

    def _commit(self, message: Message) -> None:
        try:
            self.consumer.commit(message=message, asynchronous=False)
            self.deliveries.finished(message)
        except KafkaException as error:
            # e.g. the partition moved to another replica meanwhile: it will deliver the message again
            self.metrics.errors.labels(reason="commit").inc()
            offset = message.offset() or 0
            log.warning("commit of offset %d failed (%s); the message will be redelivered", offset, error)

    def _on_assign(self, consumer: Consumer, partitions: list[Any]) -> None:
        log.info("assigned %s", [f"{p.topic}/{p.partition}" for p in partitions])
        self.deliveries.forget()

    def _on_revoke(self, consumer: Consumer, partitions: list[Any]) -> None:
        log.info("revoked %s", [f"{p.topic}/{p.partition}" for p in partitions])
        self.deliveries.forget()
