"""The sandbox's Prometheus scrapes what a test adds, and prometheus_api_client reads it back."""

from __future__ import annotations

import ipaddress
import re
import time
import uuid

import prometheus_client
import pytest
from prometheus_api_client import PrometheusConnect

from vaultext_sandbox import Prometheus
from vaultext_sandbox.prometheus import address_pattern


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


def test_pod_addresses_kept_are_the_bridge_subnets_only() -> None:
    pattern = re.compile(address_pattern(ipaddress.IPv4Network("10.213.7.0/24")))
    assert pattern.fullmatch("10.213.7.42")
    for other in ("10.213.70.1", "10.213.8.42", "10.0.0.7", "10x213.7.42"):  # kwok's made-up addresses among them
        assert not pattern.fullmatch(other), other
    with pytest.raises(ValueError, match="octet"):
        address_pattern(ipaddress.IPv4Network("10.213.0.0/20"))
