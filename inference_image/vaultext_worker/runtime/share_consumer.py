"""The share-group loop (`VAULTEXT_KAFKA_CONSUMPTION=share`): Kafka queues, any number of workers per partition.

poll (one record, acquired under a lock) → parse → download → decode → predict → produce the result (or the
dead-letter record) → wait for the broker's acknowledgement → acknowledge the record: ACCEPT for a result, REJECT
for a dead-letter record, each committed before the next record is fetched. Nothing is accepted before the record
it produced is on the broker. A crash anywhere before that leaves the record acquired; its lock runs out and the
broker hands it out again with its delivery count raised. The delivery that reaches `VAULTEXT_SHARE_DELIVERY_LIMIT`
is dead-lettered as `poison` unprocessed (the record that kills the worker every time). While Vault fails
transiently the record is held with backoff for `VAULTEXT_SHARE_HOLD_MS`, then RELEASEd for later, and the worker
waits before fetching again: nothing is dead-lettered for an outage. SIGTERM finishes the record in hand, releases
what was fetched but not started, and leaves the group.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from confluent_kafka import AcknowledgeType, IllegalStateException, KafkaException, Message, ShareConsumer
from confluent_kafka.admin import AdminClient

# the admin package re-exports these without declaring them; their own modules are typed
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource
from confluent_kafka.admin._resource import ResourceType

from vaultext_worker.config import KafkaSettings
from vaultext_worker.runtime.errors import ShutdownRequested, TransientError
from vaultext_worker.runtime.processing import Outcome, Processing, PublishFailed

log = logging.getLogger(__name__)
_RESET = "share.auto.offset.reset"
_SET_ON_GROUP = (ConfigSource.GROUP_CONFIG, ConfigSource.DYNAMIC_BROKER_CONFIG,
                 ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)  # fmt: skip


class Released(Exception):
    """Vault kept failing while the record was held: it goes back to the share group for later."""


def share_consumer_config(settings: KafkaSettings) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "group.id": settings.group,
        "share.acknowledgement.mode": "explicit",
        # one record acquired at a time: a long recording must not hold others that idle workers could take
        "max.poll.records": 1,
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        "client.id": f"vaultext-worker-{socket.gethostname()}",
    }


def read_from_earliest(settings: KafkaSettings, timeout_s: float = 10.0) -> None:
    """A new share group starts at the end of the topic (`share.auto.offset.reset=latest`); like the consumer-group
    mode the worker wants the events already waiting. Set `earliest` on the group unless someone chose a value."""
    admin = AdminClient(dict(settings.client_config()))
    group = ConfigResource(ResourceType.GROUP, settings.group)
    try:
        current = admin.describe_configs([group])[group].result(timeout=timeout_s).get(_RESET)
        if current is not None and current.source in _SET_ON_GROUP:
            return
        entry = ConfigEntry(_RESET, "earliest", incremental_operation=AlterConfigOpType.SET)
        change = ConfigResource(ResourceType.GROUP, settings.group, incremental_configs=[entry])
        admin.incremental_alter_configs([change])[change].result(timeout=timeout_s)
    except KafkaException as error:
        # e.g. no ALTER_CONFIGS right on the group: it works, only a brand-new group skips what was already there
        log.warning("cannot set %s=earliest on share group %s (%s)", _RESET, settings.group, error)


class ShareWorker(Processing):
    def _open_consumer(self) -> None:
        self.consumer = ShareConsumer(share_consumer_config(self.settings), logger=log)
        self._outage_wait = self.vault_backoff_s[0]  # the wait before fetching again after a release for Vault

    def run(self) -> None:
        """Consume until `stopping` is set; then close the consumer (acknowledgements sent, group left)."""
        read_from_earliest(self.settings)
        self.consumer.subscribe([self.settings.input_topic])
        self.health.ready = True
        log.info("consuming %s as share group %s", self.settings.input_topic, self.settings.group)
        try:
            while not self.stopping.is_set():
                if self.health.paused and self.stopping.wait(self._outage_wait):
                    break  # Vault failed last time: back off before acquiring the next record
                batch = self.consumer.poll(1.0)
                self.health.beat()
                self.handle_batch([message for message in batch if self._usable(message)])
        finally:
            self.health.ready = False
            self.producer.flush(10)
            self.consumer.close()
            log.info("share consumer closed")

    def _usable(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.fatal():
            raise KafkaException(error)
        log.warning("share consumer: %s", error)
        return False

    def handle_batch(self, messages: list[Message]) -> None:
        """Every record of a poll is acknowledged before the next poll. Records produced in one batch are acquired
        together; those a stop leaves unstarted, or that waited past the hold time (their lock would run out while
        they wait), are released for other workers."""
        polled = time.monotonic()
        for index, message in enumerate(messages):
            waited = time.monotonic() - polled
            if self.stopping.is_set() or (index and waited > self.settings.share_hold_ms / 1000):
                self._release_unstarted(messages[index:])
                return
            try:
                self.handle(message)
            except PublishFailed:
                self._release_unstarted(messages[index + 1 :])
                raise

    def handle(self, message: Message) -> None:
        """Process one record; accept (result) or reject (dead letter) it once that record is on the broker."""
        self.metrics.in_flight.inc()
        started = time.perf_counter()
        count = message.delivery_count() or 1
        try:
            try:
                if count >= self.settings.share_delivery_limit:
                    detail = f"delivered {count - 1} times and the worker never finished it (killed, out of memory?)"
                    record, topic, outcome = self._dead_letter(message.value(), "poison", detail, message, count - 1)
                else:
                    record, topic, outcome = self._process_holding(message)
                self._publish(topic, record, message)
            except (ShutdownRequested, PublishFailed, Released) as stop:
                log.warning("%s; offset %d released", stop, message.offset() or 0)
                self._acknowledge(message, AcknowledgeType.RELEASE)
                if isinstance(stop, PublishFailed):
                    raise
                return
            self._acknowledge(message, AcknowledgeType.ACCEPT if outcome == "processed" else AcknowledgeType.REJECT)
            self.metrics.recordings.labels(outcome=outcome).inc()
            self.metrics.observe_stage("message", time.perf_counter() - started)
        finally:
            self.metrics.in_flight.dec()

    def _process_holding(self, message: Message) -> Outcome:
        """Process; while Vault fails transiently hold the record and retry with backoff, up to the hold time."""
        wait, longest = self._outage_wait, self.vault_backoff_s[1]
        release_at = time.monotonic() + self.settings.share_hold_ms / 1000
        while True:
            try:
                outcome = self._process(message)
            except TransientError as error:
                self.metrics.errors.labels(reason=error.reason).inc()
                if not self.health.paused:
                    log.warning("Vault unavailable (%s): holding offset %d", error, message.offset() or 0)
                self.health.paused = f"Vault unavailable: {error.message}"
                self.metrics.vault_unavailable.set(1)
                if self.stopping.wait(min(wait, max(release_at - time.monotonic(), 0.0))):
                    raise ShutdownRequested("stopping while Vault is unavailable") from error
                wait = min(wait * 2, longest)
                self._outage_wait = wait
                if time.monotonic() >= release_at:
                    raise Released(f"Vault still unavailable after holding the record ({error.message})") from error
                continue
            if self.health.paused:
                self.health.paused = ""
                self.metrics.vault_unavailable.set(0)
                self._outage_wait = self.vault_backoff_s[0]
                log.info("Vault answers again: consuming")
            return outcome

    def _release_unstarted(self, messages: list[Message]) -> None:
        if messages:
            log.info("releasing %d fetched records not started (offsets %s)", len(messages),
                     ", ".join(f"{m.partition()}/{m.offset()}" for m in messages))  # fmt: skip
        for message in messages:
            self._acknowledge(message, AcknowledgeType.RELEASE)

    def _acknowledge(self, message: Message, kind: AcknowledgeType) -> None:
        """Acknowledge one record and commit it now, so that nothing finished waits on the next poll."""
        offset = message.offset() or 0
        try:
            self.consumer.acknowledge(message, kind)
            failures = [str(error) for error in self.consumer.commit_sync(30).values() if error is not None]
        except (KafkaException, IllegalStateException) as error:
            failures = [str(error)]
        if failures:
            # e.g. the record's lock ran out meanwhile: the broker hands it out again (at least once)
            self.metrics.errors.labels(reason="acknowledge").inc()
            log.warning("the broker did not take %s of offset %d (%s)", kind.name, offset, "; ".join(failures))
