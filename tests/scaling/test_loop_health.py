"""The operator's own health and log hygiene: /healthz follows the autoscaler loop, Kafka clients' repeats are
rate-limited, a failing cluster is logged when its state changes."""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request

import pytest
from confluent_kafka import KafkaException

from vaultext_operator.logs import (
    CLIENT_LOGGERS,
    LIBRDKAFKA_LOGGER,
    OncePerInterval,
    StateLog,
    tame_client_loggers,
)
from vaultext_operator.runtime import Runtime
from vaultext_operator.settings import OperatorSettings
from vaultext_operator.sources.base import KafkaConnection
from vaultext_operator.sources.topics import TopicBinder
from vaultext_sandbox.processes import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_healthz_fails_once_the_loop_stops_completing_ticks() -> None:
    port = free_port()
    settings = OperatorSettings(health_port=port, metrics_port=0, health_interval_seconds=0.3, leader_election=False)
    runtime = Runtime(settings)  # no extension tracked: the loop ticks without touching a cluster
    runtime.start()
    try:
        time.sleep(0.5)
        assert healthz(port) == 200
        runtime.stop.set()  # the loop exits: no tick completes any more, the health server keeps answering
        time.sleep(3 * 0.3 + 0.5)
        assert healthz(port) == 503
    finally:
        runtime.shutdown()


def test_client_library_repeats_pass_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    record_filter = OncePerInterval(clock=clock)
    logger = logging.getLogger("test.kafka-client")
    logger.addFilter(record_filter)
    try:
        with caplog.at_level(logging.WARNING, logger=logger.name):
            for second in range(0, 130):
                clock.now = float(second)
                logger.error("connect to %s failed: Connection refused", "10.0.0.1:9092")
        assert len(caplog.records) == 3  # t=0, t=60, t=120
    finally:
        logger.removeFilter(record_filter)


def test_client_loggers_are_tamed_to_warning_and_their_children_rate_limited(
        caplog: pytest.LogCaptureFixture) -> None:
    tame_client_loggers([caplog.handler])
    tame_client_loggers([caplog.handler])  # idempotent: one filter
    assert sum(isinstance(f, OncePerInterval) for f in caplog.handler.filters) == 1
    for name in CLIENT_LOGGERS:
        assert logging.getLogger(name).level == logging.WARNING
    for _ in range(5):
        logging.getLogger("kafka.net.manager").info("Bootstrap bootstrap-0 not ready; waiting 0.5 secs")
        logging.getLogger("kafka.net.manager").warning("Bootstrap bootstrap-0 not ready; waiting 0.5 secs")
        logging.getLogger("vaultext_operator.other").warning("our own line")
    assert [r.getMessage() for r in caplog.records] == [
        "Bootstrap bootstrap-0 not ready; waiting 0.5 secs", *["our own line"] * 5]


def test_a_failing_cluster_is_logged_on_change_then_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    state = StateLog(logging.getLogger("test.state"), clock=clock)
    with caplog.at_level(logging.INFO, logger="test.state"):
        for second in range(0, 90, 5):
            clock.now = float(second)
            state.failed("kafka-a:9092", "Kafka kafka-a:9092 unreachable")
        state.ok("kafka-a:9092", "Kafka kafka-a:9092 is reachable again")
        state.ok("kafka-a:9092", "Kafka kafka-a:9092 is reachable again")
        state.failed("kafka-a:9092", "Kafka kafka-a:9092 unreachable")
    assert [r.getMessage() for r in caplog.records] == [
        "Kafka kafka-a:9092 unreachable",
        "Kafka kafka-a:9092 unreachable (still)",
        "Kafka kafka-a:9092 is reachable again",
        "Kafka kafka-a:9092 unreachable",
    ]


def test_librdkafka_complaints_about_a_dead_cluster_reach_the_log_once(caplog: pytest.LogCaptureFixture) -> None:
    """librdkafka retries a refused connection many times a second; each complaint reaches the log once a minute."""
    tame_client_loggers([caplog.handler])
    binder = TopicBinder(timeout=1.5)
    dead = KafkaConnection("127.0.0.1:1")  # nothing listens on port 1: every connect is refused at once
    with caplog.at_level(logging.WARNING, logger=LIBRDKAFKA_LOGGER):
        for _ in range(2):
            with pytest.raises(KafkaException):
                binder.existing_partitions(dead, ["vault-events"])
    lines = [r.getMessage() for r in caplog.records if r.name == LIBRDKAFKA_LOGGER]
    assert any("Connection refused" in line for line in lines), lines  # through our logging, not stderr
    refused = [line for line in lines if "Connection refused" in line]
    assert len(refused) == 1, refused
