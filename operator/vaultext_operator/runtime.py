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
from .api import API_VERSION, KIND
from .autoscaler import CHILD_SELECTOR, LIVE_PODS, Autoscaler
from .cache import Cache, Changed, Trim, deployment_essentials, only_identity
from .conditions import INVALID_SPEC, Verdict, deployment_observed
from .leadership import LeaderElector
from .reconcile import bind_topics, converge, owner_of, refresh_status, resync
from .scaling.report import TOPICS_READY
from .settings import OperatorSettings

log = logging.getLogger(__name__)
STATUS_SETTLE_SECONDS = 1.0
# A new Deployment's first status comes from the controller-manager, usually within a second; the outcome waits
# for it (one status write, not two) but no longer than this when the controller-manager lags.
OUTCOME_WAIT_SECONDS = 10.0
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


Work = Callable[[str, str], float | None]  # (namespace, name) -> seconds until it should run again, or None


class WorkQueue:
    """Extensions handled by a few threads, each at most once waiting at a time (a request while it runs
    queues one more run). Work may ask to run again later (a blocked input, a failed call), as may `later`."""

    def __init__(self, work: Work, workers: int, name: str, retry_seconds: float = 10.0) -> None:
        self._work, self._name, self._retry_seconds = work, name, retry_seconds
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._pending: set[tuple[str, str]] = set()
        self._due: dict[tuple[str, str], float] = {}  # retries: key -> monotonic time
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        threading.Thread(target=self._retry_loop, name=f"{name} retries", daemon=True).start()

    def request(self, namespace: str, name: str) -> None:
        with self._lock:
            if (namespace, name) in self._pending or self._stopped:
                return
            self._pending.add((namespace, name))
        self._pool.submit(self._run, namespace, name)

    def later(self, namespace: str, name: str, seconds: float) -> None:
        with self._lock:
            due = time.monotonic() + seconds
            self._due[(namespace, name)] = min(due, self._due.get((namespace, name), due))

    def _retry_loop(self) -> None:
        while not self._wake.wait(0.5):
            now = time.monotonic()
            with self._lock:
                ready = [key for key, due in self._due.items() if due <= now]
                for key in ready:
                    del self._due[key]
            for namespace, name in ready:
                self.request(namespace, name)

    def _run(self, namespace: str, name: str) -> None:
        with self._lock:
            self._pending.discard((namespace, name))
        again: float | None = None
        try:
            again = self._work(namespace, name)
        except kube.KubeError as error:
            log.warning("%s of %s/%s failed: %s", self._name, namespace, name, error)
            again = self._retry_seconds
        except Exception:  # one extension's failure must not stop the others'
            log.exception("%s of %s/%s failed unexpectedly", self._name, namespace, name)
            again = self._retry_seconds
        if again is not None:
            self.later(namespace, name, again)

    def shutdown(self) -> None:
        with self._lock:
            self._stopped = True
        self._wake.set()
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
        namespaces = settings.watched_namespaces()
        kube.read_secrets_only_in(namespaces)
        # Everything the operator reads repeatedly comes from watches kept in memory, never a GET or LIST per
        # extension; pods and nodes cluster-wide (GPU capacity), the rest only in the watched namespaces.
        def children(kind: str, api_version: str, trim: Trim = only_identity, on_change: Changed | None = None,
                     ) -> Cache:
            return Cache(api_version, kind, CHILD_SELECTOR, namespaces=namespaces, trim=trim, on_change=on_change)

        self.caches = {
            KIND: Cache(API_VERSION, KIND, namespaces=namespaces, on_change=self._extension_changed),
            "Deployment": children("Deployment", "apps/v1", deployment_essentials, self._deployment_changed),
            "ConfigMap": children("ConfigMap", "v1"), "Service": children("Service", "v1"),
            "PodDisruptionBudget": children("PodDisruptionBudget", "policy/v1"),
            "Node": Cache("v1", "Node"), "Pod": Cache("v1", "Pod", field_selector=LIVE_PODS),
        }
        for cache in self.caches.values():
            kube.serve_from(cache)
        self.autoscaler = autoscaler or Autoscaler(settings, prometheus_url=settings.prometheus_url or None,
                                                   leading=self.leading, caches=self.caches)
        self.metrics = self.autoscaler.metrics
        # the one applier, fed by the watches; status refreshes after Deployment changes; topics need the Kafka
        # cluster, so they are bound beside the reconcile, never inside it or the autoscaler's tick
        retry = settings.retry_delay_seconds
        self.reconciles = WorkQueue(self._converge, workers=16, name="reconcile", retry_seconds=retry)
        self.statuses = WorkQueue(self._refresh_status, workers=16, name="status refresh", retry_seconds=retry)
        self.topics = WorkQueue(self._bind_topics, workers=4, name="topic binding", retry_seconds=retry)
        self._looked_at: set[tuple[str, str]] = set()  # extensions this process has converged at least once
        self._topics_ready: dict[tuple[str, str], Verdict] = {}  # the last binding's TopicsReady per extension
        self._reconciled: dict[tuple[str, str], tuple[int, dict[str, Verdict]]] = {}  # outcomes not written yet
        self._lock = threading.Lock()
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

    def _extension_changed(self, change: str, body: kube.Json) -> None:
        """An extension seen by the watch: the autoscaler follows it; the reconcile looks at it when the spec
        moved past what status reports, or when this process has not looked at it yet (it may have drifted)."""
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        if change == "DELETED" or metadata.get("deletionTimestamp"):
            self.autoscaler.untrack(*key)
            self._looked_at.discard(key)
            self._topics_ready.pop(key, None)
            return
        self.autoscaler.track(body)
        status = body.get("status") or {}
        if key not in self._looked_at or status.get("observedGeneration") != metadata.get("generation"):
            self.reconciles.request(*key)

    def _deployment_changed(self, change: str, deployment: kube.Json) -> None:
        owner = owner_of(deployment)
        if owner is None:
            return
        namespace = deployment["metadata"]["namespace"]
        if change == "DELETED":  # deleted by hand: put it back (nothing happens when its extension is going)
            self.reconciles.request(namespace, owner)
        elif deployment_observed(deployment):  # a rollout changes its status several times a second: one write
            self.statuses.later(namespace, owner, STATUS_SETTLE_SECONDS)
        # else a spec the controller-manager has not seen yet: its status update is the news worth writing

    def _converge(self, namespace: str, name: str) -> float | None:
        if not self.leading():
            return None  # a newly elected replica resyncs every extension first
        self._looked_at.add((namespace, name))
        blocker = converge(namespace, name, self.settings, self.topics.request, self._report_later)
        if blocker is not None and blocker.reason != INVALID_SPEC:
            return self.settings.retry_delay_seconds  # a Secret or a GPU node may appear: look again
        return None

    def _report_later(self, namespace: str, name: str, generation: int, verdicts: dict[str, Verdict]) -> None:
        with self._lock:
            self._reconciled[(namespace, name)] = (generation, verdicts)
        observed = deployment_observed(kube.get("apps/v1", "Deployment", namespace, name))
        self.statuses.later(namespace, name, STATUS_SETTLE_SECONDS if observed else OUTCOME_WAIT_SECONDS)

    def _refresh_status(self, namespace: str, name: str) -> None:
        """One status write with everything known by now: the last unblocked reconcile's generation and
        conditions (if not written yet), the topic binding's verdict, the Deployment as watched."""
        if not self.leading():
            return
        with self._lock:
            reconciled = self._reconciled.pop((namespace, name), None)
        extra = dict(reconciled[1]) if reconciled else {}
        if topics := self._topics_ready.get((namespace, name)):
            extra[TOPICS_READY] = topics
        refresh_status(namespace, name, generation=reconciled[0] if reconciled else None, extra=extra or None)

    def _bind_topics(self, namespace: str, name: str) -> None:
        """Binds; the verdict joins the next status refresh, so it and the Deployment's news share one write."""
        if self.leading() and (verdict := bind_topics(namespace, name, self.settings)) is not None:
            with self._lock:
                self._topics_ready[(namespace, name)] = verdict
                outcome_pending = (namespace, name) in self._reconciled
            if not outcome_pending:  # else it goes with the outcome, which waits for the Deployment's news
                self.statuses.later(namespace, name, STATUS_SETTLE_SECONDS)

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
        for queue in (self.reconciles, self.statuses, self.topics):
            queue.shutdown()
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
