"""The sandbox's Prometheus scrapes what a test adds, and prometheus_api_client reads it back."""

from __future__ import annotations

import time
import uuid

import prometheus_client
from prometheus_api_client import PrometheusConnect

from vaultext_sandbox import Prometheus


def test_scraped_series_read_back(prometheus: Prometheus) -> None:
    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge("sandbox_probe_value", "a value the test sets", registry=registry)
    gauge.set(42)
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1", registry=registry)
    job = f"probe-{uuid.uuid4().hex[:8]}"
    try:
        prometheus.add_target(job, f"127.0.0.1:{server.server_port}")
        connection = PrometheusConnect(url=prometheus.url, disable_ssl=True)
        deadline = time.monotonic() + 30
        result: list[dict[str, object]] = []
        while not result and time.monotonic() < deadline:
            result = connection.custom_query(f'sandbox_probe_value{{job="{job}"}}')
            time.sleep(0.5)
        assert result, "the series never appeared"
        assert float(result[0]["value"][1]) == 42.0  # type: ignore[index]
    finally:
        prometheus.remove_target(job)
        server.shutdown()
        thread.join(5)
