"""Logging of the Kafka client libraries: through the operator's logging, WARNING and above, each distinct
message at most once a minute (an unreachable broker would otherwise fill the log several lines a second)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

REPEAT_SECONDS = 60.0
LIBRDKAFKA_LOGGER = "vaultext_operator.librdkafka"  # confluent-kafka's clients log here (config `logger`)
CLIENT_LOGGERS = ("kafka", LIBRDKAFKA_LOGGER)  # kafka-python's root logger and librdkafka's
# kopf's per-object and per-activity lines ("Handler ... succeeded") and the HTTP client's: not events
QUIET_LOGGERS = ("kopf.objects", "kopf.activities", "urllib3")
_NUMBERS = re.compile(r"\d+")


class OncePerInterval(logging.Filter):
    """Passes a message (by logger and text) once, then again only after `interval` seconds; with `prefixes`,
    only records of those loggers (and their children) are limited, the rest always pass."""

    def __init__(self, interval: float = REPEAT_SECONDS, clock: Callable[[], float] = time.monotonic,
                 prefixes: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.interval, self.clock, self.prefixes = interval, clock, prefixes
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.prefixes and not any(record.name == p or record.name.startswith(f"{p}.") for p in self.prefixes):
            return True
        # the formatted text with numbers blanked: "after 0ms" and "after 3ms" are the same complaint
        key = (record.name, _NUMBERS.sub("#", record.getMessage())[:160])
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                return False
            self._last[key] = now
            return True


def tame_client_loggers(handlers: list[logging.Handler] | None = None) -> None:
    """WARNING and above, rate-limited, for the Kafka client libraries' own loggers (kafka-python logs from
    child loggers such as `kafka.net.manager`, which a filter on `kafka` itself would not see, so the limit sits
    on the handlers: by default the root logger's, where the operator's logging writes)."""
    for name in CLIENT_LOGGERS + QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, OncePerInterval) for f in handler.filters):
            handler.addFilter(OncePerInterval(prefixes=(*CLIENT_LOGGERS, "urllib3")))


class StateLog:
    """Logs a per-key failure when the key's state changes, and a persisting failure at most once a minute."""

    def __init__(self, logger: logging.Logger, interval: float = REPEAT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._failing: dict[str, float] = {}  # key -> when last logged
        self._lock = threading.Lock()

    def failed(self, key: str, message: str) -> None:
        now = self.clock()
        with self._lock:
            last = self._failing.get(key)
            if last is not None and now - last < self.interval:
                return
            self._failing[key] = now
        self.logger.warning("%s%s", message, "" if last is None else " (still)")

    def ok(self, key: str, message: str) -> None:
        with self._lock:
            was_failing = self._failing.pop(key, None) is not None
        if was_failing:
            self.logger.info("%s", message)
