"""`/healthz`, `/readyz` and Prometheus `/metrics` on one small HTTP server thread."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

OUTCOMES = ("processed", "dead_letter")
STAGES = ("download", "decode", "inference", "message")
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.recordings = Counter(
            "vaultext_recordings", "Recordings handled, by outcome", ["outcome"], registry=self.registry
        )
        self.frames = Counter("vaultext_frames", "Frames decoded and passed to the model", registry=self.registry)
        self.errors = Counter("vaultext_errors", "Failures, by reason", ["reason"], registry=self.registry)
        self.stage_seconds = Histogram(
            "vaultext_stage_seconds", "Time per stage", ["stage"], buckets=STAGE_BUCKETS, registry=self.registry
        )
        self.in_flight = Gauge("vaultext_in_flight", "Recordings being processed", registry=self.registry)
        self.vault_unavailable = Gauge(
            "vaultext_vault_unavailable", "1 while consumption is paused because Vault fails", registry=self.registry
        )
        # Series present at 0 from the start: a rate over them answers 0, not nothing, before the first of each.
        for outcome in OUTCOMES:
            self.recordings.labels(outcome=outcome)
        for stage in STAGES:
            self.stage_seconds.labels(stage=stage)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage=stage).observe(seconds)


class Health:
    """Live while the consume loop keeps turning; ready once the model is loaded and the consumer subscribed, and
    not while consumption is paused (`paused` says why) or after the worker gave up."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self.ready = False
        self.paused = ""
        self.failed = ""
        self._beat = time.monotonic()

    def beat(self) -> None:
        self._beat = time.monotonic()

    def live(self) -> tuple[bool, str]:
        if self.failed:
            return False, self.failed
        silent = time.monotonic() - self._beat
        if silent > self.stall_after_s:
            return False, f"the consume loop has not turned for {silent:.0f}s"
        return True, "ok"


class HealthServer:
    def __init__(self, host: str, port: int, health: Health, metrics: Metrics) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(health, metrics))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(health: Health, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Probes every few seconds would drown the log."""

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                live, why = health.live()
                self._send(200 if live else 503, why.encode(), "text/plain")
            elif self.path == "/readyz":
                ready = health.ready and not health.paused and health.live()[0]
                why = "ready" if ready else f"not ready: {health.paused or health.failed or 'starting or stopping'}"
                self._send(200 if ready else 503, why.encode(), "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
