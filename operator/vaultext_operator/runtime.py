"""The operator's long-running threads besides kopf's watches: leader election, the autoscaler loop, the
periodic resync and /healthz.

kopf's per-object daemons and timers would put a finalizer on every extension (so deleting one while the operator
is down would hang); one thread per loop over the extensions the watch reported needs none. Every replica
watches; only the one holding the Lease reconciles, resyncs and scales. A newly elected one resyncs everything
at once, and the autoscaler picks up its memory from each extension's status.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from . import kube
from .autoscaler import CHILD_SELECTOR, LIVE_PODS, Autoscaler
from .leadership import LeaderElector
from .reconcile import bind_topics_now, resync
from .settings import OperatorSettings

log = logging.getLogger(__name__)
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class WorkQueue:
    """Extensions handled by a few threads, each at most once waiting at a time (a request while it runs
    queues one more run)."""

    def __init__(self, work: Callable[[str, str], None], workers: int, name: str) -> None:
        self._work, self._name = work, name
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._pending: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def request(self, namespace: str, name: str) -> None:
        with self._lock:
            if (namespace, name) in self._pending:
                return
            self._pending.add((namespace, name))
        self._pool.submit(self._run, namespace, name)

    def _run(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pending.discard((namespace, name))
        try:
            self._work(namespace, name)
        except kube.KubeError as error:
            log.warning("%s of %s/%s failed: %s", self._name, namespace, name, error)
        except Exception:  # one extension's failure must not stop the others'
            log.exception("%s of %s/%s failed unexpectedly", self._name, namespace, name)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Runtime:
    def __init__(self, settings: OperatorSettings, autoscaler: Autoscaler | None = None) -> None:
        self.settings = settings
        self.elector: LeaderElector | None = None
        if settings.leader_election:
            namespace, name = settings.lease_location(_pod_namespace())
            self.elector = LeaderElector(namespace, name, settings.leader_identity or None,
                                         lease_seconds=settings.lease_seconds,
                                         renew_seconds=settings.lease_seconds / 5, on_change=self._leadership)
        # what the autoscaler reads every tick, kept current by watches instead of a LIST per tick
        self.caches = {"Deployment": kube.Cache("apps/v1", "Deployment", CHILD_SELECTOR),
                       "Node": kube.Cache("v1", "Node"), "Pod": kube.Cache("v1", "Pod", field_selector=LIVE_PODS)}
        self.autoscaler = autoscaler or Autoscaler(settings, prometheus_url=settings.prometheus_url or None,
                                                   leading=self.leading, caches=self.caches)
        self.metrics = self.autoscaler.metrics
        # topics need the Kafka cluster: bound beside the reconcile, never inside it or the autoscaler's tick
        self.topics = WorkQueue(self._bind_topics, workers=4, name="topic binding")
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._health: ThreadingHTTPServer | None = None

    def start(self) -> None:
        self.autoscaler.serve_metrics()
        if self.settings.health_port:
            self._health = ThreadingHTTPServer((self.settings.health_host, self.settings.health_port),
                                               _health_handler(self))
            self._health.daemon_threads = True
            self._start_thread("healthz", self._health.serve_forever)
        if self.elector is not None:
            elector = self.elector
            try:  # decided before kopf's watches deliver anything, so a sole replica handles them at once
                elector.step()
            except kube.KubeError as error:
                log.warning("leader election: %s", error)
            self._start_thread("leader-election", lambda: elector.run(self.stop))
        for kind, cache in self.caches.items():
            self._start_thread(f"cache-{kind.lower()}", partial(cache.run, self.stop))
        for name, target in (("autoscaler", self._autoscale), ("resync", self._resync_loop)):
            self._start_thread(name, target)

    def _bind_topics(self, namespace: str, name: str) -> None:
        if self.leading():
            bind_topics_now(namespace, name, self.settings)

    def leading(self) -> bool:
        return self.elector is None or self.elector.is_leader()

    def _leadership(self, leading: bool) -> None:
        self.metrics.leader.set(1 if leading else 0)
        if leading:  # catch up on whatever changed while another replica (or none) led
            self._start_thread("resync-on-election", self.resync_all)

    def _start_thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def shutdown(self) -> None:
        self.stop.set()  # the elector hands the Lease back on its way out
        self.topics.shutdown()
        if self._health is not None:
            self._health.shutdown()
            self._health.server_close()
        for thread in self._threads:
            thread.join(timeout=5.0)

    def health(self) -> tuple[bool, str]:
        """Healthy while the autoscaler loop completes ticks (three intervals of grace)."""
        stalled = time.monotonic() - self.autoscaler.last_tick_completed
        limit = 3 * self.settings.health_interval_seconds
        if stalled > limit:
            return False, f"the autoscaler loop has not completed a tick for {stalled:.0f} s (limit {limit:.0f} s)"
        return True, "ok"

    def _autoscale(self) -> None:
        self.autoscaler.run(self.stop)

    def resync_all(self) -> None:
        """One resync of every extension the watch reported (a missing child comes back here)."""
        for namespace, name in self.autoscaler.tracked():
            if self.stop.is_set() or not self.leading():
                return
            try:
                resync(namespace, name, self.settings, self.topics.request)
            except kube.KubeError as error:
                self.metrics.reconcile_errors.inc()
                log.warning("resync of %s/%s failed: %s", namespace, name, error)
            except Exception:  # one broken extension must not stop the resync of the others
                self.metrics.reconcile_errors.inc()
                log.exception("resync of %s/%s failed unexpectedly", namespace, name)

    def _resync_loop(self) -> None:
        while not self.stop.wait(self.settings.resync_seconds):
            self.resync_all()


def _pod_namespace() -> str | None:
    """The namespace this pod runs in (from its service account), None outside a cluster."""
    try:
        return Path(SERVICE_ACCOUNT_NAMESPACE).read_text().strip() or None
    except OSError:
        return None


def _health_handler(runtime: Runtime) -> type[BaseHTTPRequestHandler]:
    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            healthy, detail = runtime.health() if self.path == "/healthz" else (False, "not found")
            body = detail.encode()
            self.send_response(200 if healthy else (503 if self.path == "/healthz" else 404))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # probes every few seconds: not worth a line
            return

    return Health
