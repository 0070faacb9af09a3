"""Lag from Prometheus: one PromQL query per extension, returning lag per partition.

The default query is kafka_exporter's series, which the operator's own /metrics also exports.
Only lag is known this way (no offsets), so `excludePersistentLag` and rate measurement do not apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests import RequestException

from vaultext_operator.api.autoscaling import DEFAULT_PROMETHEUS_QUERY
from vaultext_operator.scaling.lag import PartitionOffsets
from vaultext_operator.sources.base import LagFailure, LagReading, LagResult, LagTarget

ConnectFactory = Callable[[str], Any]


def render_query(template: str | None, target: LagTarget) -> str:
    """Substitute `{group}`, `{topic}`, `{namespace}`, `{name}`; other braces (label matchers) stay as written."""
    query = template or DEFAULT_PROMETHEUS_QUERY
    for key, value in (("group", target.group), ("topic", target.topic), ("namespace", target.namespace),
                       ("name", target.name)):
        query = query.replace("{" + key + "}", value)
    return query


def _connect(url: str) -> Any:
    return PrometheusConnect(url=url, disable_ssl=False)


def reading_from_vector(series: list[dict[str, Any]]) -> LagReading:
    """One partition per series, ordered by its `partition` label (else by position); negative lag counts 0."""
    by_partition: dict[int, int] = {}
    for index, sample in enumerate(series):
        label = sample.get("metric", {}).get("partition")
        partition = int(label) if label is not None and str(label).isdigit() else index
        by_partition[partition] = max(0, round(float(sample["value"][1])))
    ids = tuple(sorted(by_partition))
    return LagReading(
        partition_ids=ids,
        partitions=tuple(PartitionOffsets(committed=0, latest=by_partition[p]) for p in ids),
        offsets_known=False,
    )


class PrometheusLagSource:
    def __init__(self, queries: Mapping[LagTarget, tuple[str, str | None]] | None = None,
                 connect: ConnectFactory = _connect) -> None:
        self._queries: dict[LagTarget, tuple[str, str | None]] = dict(queries or {})
        self._connect = connect
        self._clients: dict[str, Any] = {}

    def set_query(self, target: LagTarget, server_address: str, query: str | None) -> None:
        self._queries[target] = (server_address, query)

    def poll(self, targets: Sequence[LagTarget]) -> Mapping[LagTarget, LagResult]:
        results: dict[LagTarget, LagResult] = {}
        for target in targets:
            if target not in self._queries:
                results[target] = LagFailure("no Prometheus server address configured")
                continue
            url, template = self._queries[target]
            query = render_query(template, target)
            try:
                if url not in self._clients:
                    self._clients[url] = self._connect(url)
                client = self._clients[url]
                series = client.custom_query(query=query)
            except (PrometheusApiClientException, RequestException, ValueError) as error:
                results[target] = LagFailure(f"Prometheus {url}: {type(error).__name__}: {error}")
                continue
            if not series:
                results[target] = LagFailure(f"Prometheus {url}: query returned no series: {query}")
                continue
            results[target] = reading_from_vector(series)
        return results

    def close(self) -> None:
        self._clients.clear()
