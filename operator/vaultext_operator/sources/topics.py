"""Topic binding: make sure an extension's input, output and dead-letter topics exist.

Missing topics are created with `partitions` (>= maxReplicas by default: a consumer beyond the partition count
sits idle). Existing topics are never shrunk; growing the input topic is opt-in (`growPartitions`), because
adding partitions changes which partition a keyed message lands on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # type: ignore[attr-defined]

from vaultext_operator.logs import LIBRDKAFKA_LOGGER
from vaultext_operator.sources.base import KafkaConnection


@dataclass(frozen=True, slots=True)
class TopicWish:
    name: str
    partitions: int
    replication_factor: int = 1
    grow: bool = False


@dataclass(slots=True)
class BindingReport:
    partitions: dict[str, int] = field(default_factory=dict)  # actual partition count per topic
    created: list[str] = field(default_factory=list)
    grown: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class TopicBinder:
    def __init__(self, timeout: float = 10.0,
                 admin_factory: Callable[[dict[str, Any]], Any] = AdminClient) -> None:
        self._timeout = timeout
        self._admin_factory = admin_factory
        self._admins: dict[KafkaConnection, Any] = {}

    def _admin(self, connection: KafkaConnection) -> Any:
        if connection not in self._admins:
            # librdkafka's log through the operator's (rate-limited) logging, not straight to stderr
            config: dict[str, Any] = {**connection.client_config(), "logger": logging.getLogger(LIBRDKAFKA_LOGGER),
                                      "log.connection.close": False}
            self._admins[connection] = self._admin_factory(config)
        return self._admins[connection]

    def existing_partitions(self, connection: KafkaConnection, names: Sequence[str]) -> dict[str, int]:
        admin = self._admin(connection)
        try:
            metadata = admin.list_topics(timeout=self._timeout)
        finally:
            admin.poll(0)  # hands librdkafka's queued log lines to the logger (they pile up otherwise)
        return {
            name: len(metadata.topics[name].partitions)
            for name in names
            if name in metadata.topics and metadata.topics[name].error is None
        }

    def ensure(self, connection: KafkaConnection, wishes: Sequence[TopicWish]) -> BindingReport:
        """Create what is missing, grow what may grow; raises KafkaException when the cluster is unreachable."""
        report = BindingReport()
        admin = self._admin(connection)
        existing = self.existing_partitions(connection, [w.name for w in wishes])
        report.partitions.update(existing)
        missing = [w for w in wishes if w.name not in existing]
        if missing:
            futures = admin.create_topics(
                [NewTopic(w.name, num_partitions=w.partitions, replication_factor=w.replication_factor)
                 for w in missing],
                request_timeout=self._timeout,
            )
            for wish in missing:
                try:
                    futures[wish.name].result(timeout=self._timeout)
                    report.created.append(wish.name)
                    report.partitions[wish.name] = wish.partitions
                except KafkaException as error:
                    if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        report.errors[wish.name] = str(error.args[0].str())
        growing = [w for w in wishes if w.grow and w.name in existing and existing[w.name] < w.partitions]
        if growing:
            futures = admin.create_partitions(
                [NewPartitions(w.name, w.partitions) for w in growing], request_timeout=self._timeout
            )
            for wish in growing:
                try:
                    futures[wish.name].result(timeout=self._timeout)
                    report.grown.append(wish.name)
                    report.partitions[wish.name] = wish.partitions
                except KafkaException as error:
                    report.errors[wish.name] = str(error.args[0].str())
        unknown = [w.name for w in wishes if w.name not in report.partitions and w.name not in report.errors]
        if unknown:  # created concurrently by someone else: read what they made
            report.partitions.update(self.existing_partitions(connection, unknown))
        return report
