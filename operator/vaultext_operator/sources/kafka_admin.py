"""Lag from the Kafka admin API, batched per cluster.

Per poll and per cluster: one metadata request for the partitions of every topic involved, one OffsetFetch
per group coordinator for ALL consumer groups (KIP-709, Kafka 3.0+), and one ListOffsets per partition leader
for the high watermarks of every partition (plus one for log starts when an extension counts from
`earliest`). Never one admin round-trip per extension. Share groups (KIP-932) get one DescribeShareGroupOffsets
per group coordinator for all of them (`share_offsets.py`); a broker without that API fails only the share groups.

kafka-python, not confluent-kafka, does this part: librdkafka's admin OffsetFetch crashes the process when the
group coordinator answers NOT_COORDINATOR (librdkafka issue #5040), which is exactly what a restarting
broker does. A pure-Python client turns that into an exception we report and retry.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from kafka import KafkaAdminClient, TopicPartition  # type: ignore[attr-defined]
from kafka.admin import OffsetSpec  # type: ignore[import-untyped]
from kafka.errors import IncompatibleBrokerVersion, KafkaError, UnsupportedVersionError  # type: ignore[import-untyped]

from vaultext_operator.conditions import clean_text
from vaultext_operator.logs import StateLog
from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets
from vaultext_operator.sources.base import KafkaConnection, LagFailure, LagReading, LagResult, LagTarget
from vaultext_operator.sources.share_offsets import (
    UNSUPPORTED,
    ShareGroupError,
    ShareGroupResult,
    describe_share_group_offsets,
    partition_offsets,
)

AdminFactory = Callable[..., Any]
LatencyObserver = Callable[[str, float], None]
METADATA_TTL = 30.0  # seconds partition ids are trusted
MAX_PARALLEL_CLUSTERS = 8  # clusters that answered their last poll
MAX_SUSPECT_CLUSTERS = 16  # new or failing ones: mostly threads waiting for a timeout
log = logging.getLogger(__name__)


def admin_config(connection: KafkaConnection, timeout: float) -> dict[str, Any]:
    config: dict[str, Any] = {
        "bootstrap_servers": connection.bootstrap_servers.split(","),
        "security_protocol": connection.security_protocol,
        "request_timeout_ms": int(timeout * 1000),
        "bootstrap_timeout_ms": int(timeout * 1000),  # its default, 30 s, would keep a dead cluster's thread busy
        "client_id": "vaultext-operator",
    }
    if connection.sasl_mechanism is not None:
        config["sasl_mechanism"] = connection.sasl_mechanism
        config["sasl_plain_username"] = connection.username
        config["sasl_plain_password"] = connection.password
    return config


class KafkaAdminLagSource:
    """Clusters are polled concurrently, each within `timeout` seconds: a dead or slow cluster costs its own
    extensions a `LagFailure` and nobody else any time. A cluster whose previous poll has not returned yet is
    not polled again (its client is busy) until it does.

    Two lanes: clusters whose last poll answered use one thread pool and `poll` waits for them; the others (new,
    failing, black-holed) use a pool of their own and `poll` waits for them only when no answering cluster is
    polled with them. Otherwise their answer is taken at the next poll, so a hundred dead clusters never make a
    live one wait, neither for a thread nor for the poll to return."""

    def __init__(self, timeout: float = 5.0, admin_factory: AdminFactory = KafkaAdminClient,
                 observe_latency: LatencyObserver | None = None) -> None:
        self._timeout = timeout
        self._admin_factory = admin_factory
        self._observe = observe_latency
        self._admins: dict[KafkaConnection, Any] = {}
        self._metadata: dict[int, tuple[float, dict[str, list[int]]]] = {}
        self._pool = ThreadPoolExecutor(MAX_PARALLEL_CLUSTERS, thread_name_prefix="kafka-lag")
        self._suspect_pool = ThreadPoolExecutor(MAX_SUSPECT_CLUSTERS, thread_name_prefix="kafka-lag-suspect")
        self._running: dict[KafkaConnection, Future[dict[LagTarget, LagResult]]] = {}
        self._answering: set[KafkaConnection] = set()  # the last poll of these answered
        self._state = StateLog(log)

    def poll(self, targets: Sequence[LagTarget]) -> Mapping[LagTarget, LagResult]:
        by_cluster: dict[KafkaConnection, list[LagTarget]] = defaultdict(list)
        for target in targets:
            by_cluster[target.connection].append(target)
        results: dict[LagTarget, LagResult] = {}
        started: dict[Future[dict[LagTarget, LagResult]], tuple[KafkaConnection, list[LagTarget]]] = {}
        for connection, cluster_targets in by_cluster.items():
            running = self._running.get(connection)
            if running is not None and not running.done():
                failure = LagFailure(f"Kafka {connection.bootstrap_servers}: the previous poll has not returned")
                results.update({target: failure for target in cluster_targets})
            elif running is not None:  # answered since the last poll (a late or a suspect cluster's answer)
                del self._running[connection]
                answer = running.result()
                missing = LagFailure(f"Kafka {connection.bootstrap_servers}: not polled yet")
                results.update({target: answer.get(target, missing) for target in cluster_targets})
            else:
                lane = self._pool if connection in self._answering else self._suspect_pool
                future = lane.submit(self._poll_one, connection, cluster_targets)
                self._running[connection] = future
                started[future] = (connection, cluster_targets)
        answering = [f for f, (connection, _) in started.items() if connection in self._answering]
        waited = answering or list(started)
        done, _ = wait(waited, timeout=self._timeout + 1.0)
        for future, (connection, cluster_targets) in started.items():
            if future in done:
                del self._running[connection]
                results.update(future.result())
                continue
            if future in waited:  # left running; its answer is taken at a later poll
                self._report(connection, f"no answer within {self._timeout + 1.0:.0f} s")
                problem = f"no answer within {self._timeout + 1.0:.0f} s"
            else:
                problem = "did not answer its last poll; polled again, its answer is taken at the next poll"
            failure = LagFailure(f"Kafka {connection.bootstrap_servers}: {problem}")
            results.update({target: failure for target in cluster_targets})
        return results

    def close(self) -> None:
        for connection in list(self._admins):
            if connection not in self._running:
                self._forget(connection)
        for pool in (self._pool, self._suspect_pool):
            pool.shutdown(wait=False, cancel_futures=True)

    def _poll_one(self, connection: KafkaConnection, targets: list[LagTarget]) -> dict[LagTarget, LagResult]:
        """One cluster's poll; never raises (a thread's exception would only surface later)."""
        started = time.monotonic()
        try:
            results = self._poll_cluster(self._admin(connection), targets)
        except Exception as error:  # anything from the client library: this cluster's failure only
            log.debug("poll of %s failed", connection.bootstrap_servers, exc_info=True)
            self._forget(connection)  # reconnect from scratch next poll
            self._answering.discard(connection)
            self._report(connection, _describe(error))
            failure = LagFailure(clean_text(f"Kafka {connection.bootstrap_servers}: {_describe(error)}"))
            return {target: failure for target in targets}
        finally:
            if self._observe is not None:
                self._observe(connection.bootstrap_servers, time.monotonic() - started)
        self._answering.add(connection)
        self._state.ok(connection.bootstrap_servers, f"Kafka {connection.bootstrap_servers} answers lag polls again")
        return results

    def _report(self, connection: KafkaConnection, problem: str) -> None:
        self._state.failed(connection.bootstrap_servers,
                           clean_text(f"Kafka {connection.bootstrap_servers}: lag poll failed: {problem}"))

    def _admin(self, connection: KafkaConnection) -> Any:
        """One long-lived client per cluster: connections, metadata and coordinators are reused."""
        if connection not in self._admins:
            self._admins[connection] = self._admin_factory(**admin_config(connection, self._timeout))
        return self._admins[connection]

    def _forget(self, connection: KafkaConnection) -> None:
        admin = self._admins.pop(connection, None)
        if admin is not None:
            self._metadata.pop(id(admin), None)
            try:
                admin.close()
            except (KafkaError, OSError) as error:
                log.debug("closing the admin client of %s: %s", connection.bootstrap_servers, error)

    def _partitions(self, admin: Any, topics: set[str]) -> dict[str, list[int]]:
        """Partition ids per topic; cached for METADATA_TTL seconds (they change rarely), refreshed at once
        when a topic is not in the cache (created, or asked for the first time)."""
        now = time.monotonic()
        cache = self._metadata.get(id(admin))
        if cache is None or now - cache[0] > METADATA_TTL or not topics <= cache[1].keys():
            found = {
                topic["name"]: sorted(p["partition_index"] for p in topic["partitions"])
                for topic in admin.describe_topics(sorted(topics | (cache[1].keys() if cache else set())))
                if topic["error_code"] == 0 and topic["partitions"]
            }
            cache = (now, found)
            self._metadata[id(admin)] = cache
        return {topic: cache[1][topic] for topic in topics if topic in cache[1]}

    def _poll_cluster(self, admin: Any, targets: list[LagTarget]) -> dict[LagTarget, LagResult]:
        results: dict[LagTarget, LagResult] = {}
        partitions_of = self._partitions(admin, {t.topic for t in targets})
        for target in targets:
            if target.topic not in partitions_of:
                results[target] = LagFailure(f"topic {target.topic} does not exist")
        readable = [t for t in targets if t.topic in partitions_of]
        if not readable:
            return results

        wanted: dict[str, list[Any]] = defaultdict(list)
        for target in readable:
            if not target.share:
                wanted[target.group].extend(TopicPartition(target.topic, p) for p in partitions_of[target.topic])
        committed = admin.list_group_offsets(dict(wanted)) if wanted else {}
        shared = _share_groups(admin, [t for t in readable if t.share], partitions_of)
        all_partitions = [TopicPartition(t, p) for t in {t.topic for t in readable} for p in partitions_of[t]]
        latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in all_partitions})
        log_topics = {t.topic for t in readable if t.need_log_start}
        log_start = (
            admin.list_partition_offsets(
                {tp: OffsetSpec.EARLIEST for tp in all_partitions if tp.topic in log_topics}
            )
            if log_topics
            else {}
        )
        for target in readable:
            ids = tuple(partitions_of[target.topic])
            if target.share:
                results[target] = _share_reading(target, ids, shared[target.group], latest, log_start)
                continue
            group_offsets = committed.get(target.group, {})
            results[target] = LagReading(
                partition_ids=ids,
                partitions=tuple(_partition(target.topic, p, group_offsets, latest, log_start) for p in ids),
            )
        return results


def _share_groups(admin: Any, targets: list[LagTarget], partitions_of: Mapping[str, list[int]]
                  ) -> dict[str, ShareGroupResult]:
    """Offsets of every share group on this cluster in one request per coordinator; a broker that has no
    DescribeShareGroupOffsets fails these groups, not the consumer groups beside them."""
    wanted: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for target in targets:
        wanted[target.group][target.topic] = partitions_of[target.topic]
    try:
        return describe_share_group_offsets(admin, wanted)
    except (IncompatibleBrokerVersion, UnsupportedVersionError) as error:
        failure = ShareGroupError(f"{UNSUPPORTED}: {_describe(error)}")
        return dict.fromkeys(wanted, failure)


def _share_reading(target: LagTarget, ids: tuple[int, ...], share: ShareGroupResult, latest: Mapping[Any, Any],
                   log_start: Mapping[Any, Any]) -> LagResult:
    if isinstance(share, ShareGroupError):
        return LagFailure(clean_text(f"share group {target.group}: {share.error}"))
    partitions = []
    for p in ids:
        high, low = latest.get((target.topic, p)), log_start.get((target.topic, p))
        offsets = partition_offsets(share.partitions.get((target.topic, p)), high.offset if high is not None else None)
        partitions.append(replace(offsets, log_start=low.offset if low is not None else None))
    return LagReading(partition_ids=ids, partitions=tuple(partitions))


def _partition(topic: str, partition: int, committed: Mapping[Any, Any], latest: Mapping[Any, Any],
               log_start: Mapping[Any, Any]) -> PartitionOffsets:
    tp = (topic, partition)  # TopicPartition is a namedtuple: a plain tuple finds the same key
    commit = committed.get(tp)
    high = latest.get(tp)
    low = log_start.get(tp)
    return PartitionOffsets(
        committed=commit.offset if commit is not None and commit.offset >= 0 else NO_COMMIT,
        latest=high.offset if high is not None else None,
        log_start=low.offset if low is not None else None,
    )


def _describe(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}"
