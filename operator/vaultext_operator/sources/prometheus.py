"""Lag from Prometheus: one PromQL query per extension, returning lag per partition.

The default query is kafka_exporter's series, which the operator's own /metrics also exports; for a share group
(no kafka_exporter series) it is the operator's `kafka_sharegroup_lag`.
Only lag is known this way (no offsets), so `excludePersistentLag` and rate measurement do not apply.
Every answer is checked before use: anything but an instant vector of finite numbers (NaN, ±Inf, a scalar, a
range vector, a malformed sample) is a failure for that extension alone, never an exception out of `poll`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests import HTTPError, RequestException

from vaultext_operator.api.autoscaling import DEFAULT_PROMETHEUS_QUERY, DEFAULT_SHARE_PROMETHEUS_QUERY
from vaultext_operator.conditions import clean_text
from vaultext_operator.scaling.lag import PartitionOffsets
from vaultext_operator.sources.base import LagFailure, LagReading, LagResult, LagTarget

ConnectFactory = Callable[[str], Any]
QUERY_TIMEOUT_SECONDS = 5.0


class UnusableAnswer(ValueError):
    """Prometheus answered, but not with per-partition lag."""


def render_query(template: str | None, target: LagTarget) -> str:
    """Substitute `{group}`, `{topic}`, `{namespace}`, `{name}`; other braces (label matchers) stay as written."""
    query = template or (DEFAULT_SHARE_PROMETHEUS_QUERY if target.share else DEFAULT_PROMETHEUS_QUERY)
    for key, value in (("group", target.group), ("topic", target.topic), ("namespace", target.namespace),
                       ("name", target.name)):
        query = query.replace("{" + key + "}", value)
    return query


def _connect(url: str) -> Any:
    return PrometheusConnect(url=url, disable_ssl=False)


def _sample_value(sample: Any) -> float:
    if not isinstance(sample, dict):
        raise UnusableAnswer("the query returned a scalar or string, not an instant vector")
    if "values" in sample:
        raise UnusableAnswer("the query returned a range vector, not an instant vector")
    pair = sample.get("value")
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        raise UnusableAnswer(f"malformed sample {str(sample)[:200]}")
    try:
        value = float(pair[1])
    except (TypeError, ValueError) as error:
        raise UnusableAnswer(f"sample value {str(pair[1])[:50]!r} is not a number") from error
    if not math.isfinite(value):
        raise UnusableAnswer(f"sample value is {pair[1]}, not a finite lag")
    return value


def reading_from_vector(series: Any) -> LagReading:
    """One partition per series, ordered by its `partition` label (else by position); negative lag counts 0.

    Raises `UnusableAnswer` for anything that is not an instant vector of finite numbers.
    """
    if not isinstance(series, list):
        raise UnusableAnswer(f"unexpected answer {str(series)[:200]}")
    by_partition: dict[int, int] = {}
    for index, sample in enumerate(series):
        value = _sample_value(sample)
        label = (sample.get("metric") or {}).get("partition")
        partition = int(label) if label is not None and str(label).isdigit() else index
        by_partition[partition] = max(0, round(value))
    ids = tuple(sorted(by_partition))
    return LagReading(
        partition_ids=ids,
        partitions=tuple(PartitionOffsets(committed=0, latest=by_partition[p]) for p in ids),
        offsets_known=False,
    )


class PrometheusLagSource:
    def __init__(self, queries: Mapping[LagTarget, tuple[str, str | None]] | None = None,
                 connect: ConnectFactory = _connect, timeout: float = QUERY_TIMEOUT_SECONDS) -> None:
        self._queries: dict[LagTarget, tuple[str, str | None]] = dict(queries or {})
        self._timeout = timeout
        self._connect = connect
        self._clients: dict[str, Any] = {}

    def set_query(self, target: LagTarget, server_address: str, query: str | None) -> None:
        self._queries[target] = (server_address, query)

    def poll(self, targets: Sequence[LagTarget]) -> Mapping[LagTarget, LagResult]:
        results: dict[LagTarget, LagResult] = {}
        unreachable: dict[str, LagFailure] = {}  # a server that failed to connect is not asked again this poll
        for target in targets:
            if target not in self._queries:
                results[target] = LagFailure("no Prometheus server address configured")
                continue
            url, template = self._queries[target]
            if url in unreachable:
                results[target] = unreachable[url]
                continue
            query = render_query(template, target)
            try:
                if url not in self._clients:
                    self._clients[url] = self._connect(url)
                client = self._clients[url]
                series = client.custom_query(query=query, timeout=self._timeout)
                if not series:
                    raise UnusableAnswer(f"query returned no series: {query}")
                results[target] = reading_from_vector(series)
            except (PrometheusApiClientException, RequestException, ValueError, TypeError, KeyError) as error:
                failure = LagFailure(clean_text(f"Prometheus {url}: {type(error).__name__}: {error}"))
                results[target] = failure
                if isinstance(error, RequestException) and not isinstance(error, HTTPError):
                    unreachable[url] = failure
        return results

    def close(self) -> None:
        self._clients.clear()
