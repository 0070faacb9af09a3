"""Leader election on a coordination.k8s.io Lease, so two operator replicas never act at once.

The holder renews the Lease every `renew_seconds`; another replica takes it over once it has seen the same
record unchanged for `lease_seconds` (judged on its own monotonic clock, so clock skew between nodes does not
matter). A leader that cannot renew stops acting when its own lease would have run out, before anyone else
may take over. A replica that stops gracefully hands the Lease back at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import kube

log = logging.getLogger(__name__)
LEASE_API_VERSION = "coordination.k8s.io/v1"


def default_identity() -> str:
    """The pod name in a cluster (one per pod, kept across container restarts), else host name and process id."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return socket.gethostname()
    return f"{socket.gethostname()}-{os.getpid()}"


def _micro_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(self, namespace: str, name: str, identity: str | None = None, lease_seconds: float = 10.0,
                 renew_seconds: float = 2.0, on_change: Callable[[bool], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.namespace, self.name = namespace, name
        self.identity = identity or default_identity()
        self.lease_seconds, self.renew_seconds = lease_seconds, renew_seconds
        self.on_change = on_change
        self.clock = clock
        self._renewed_at: float | None = None  # when we last wrote the Lease as its holder
        self._observed: tuple[Any, ...] | None = None  # the record as last seen, and since when
        self._observed_at = 0.0
        self._leading = False
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        """True while this replica holds a Lease it renewed less than `lease_seconds` ago."""
        with self._lock:
            return self._renewed_at is not None and self.clock() - self._renewed_at < self.lease_seconds

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.step()
            except kube.KubeError as error:
                log.warning("leader election: %s", error)
            self._notify()
            stop.wait(self.renew_seconds)
        self.release()
        self._notify()

    def step(self) -> bool:
        """One attempt to acquire or renew; returns whether this replica leads afterwards."""
        now = self.clock()
        lease = kube.get(LEASE_API_VERSION, "Lease", self.namespace, self.name, fresh=True)
        if lease is None:
            return self._write(self._manifest(None, transitions=0), create=True, now=now)
        spec = lease.get("spec") or {}
        record = (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("leaseTransitions"))
        if record != self._observed:
            self._observed, self._observed_at = record, now
        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        if holder == self.identity:
            return self._write(self._manifest(lease, int(spec.get("leaseTransitions") or 0)), False, now)
        if holder and now - self._observed_at < duration:
            self._lost()
            return False  # someone else holds a live Lease
        log.info("taking over the Lease %s/%s from %r", self.namespace, self.name, holder or "nobody")
        return self._write(self._manifest(lease, int(spec.get("leaseTransitions") or 0) + 1), False, now)

    def release(self) -> None:
        """Hands the Lease back (graceful stop): the other replica takes over without waiting for expiry."""
        if not self.is_leader():
            return
        try:
            lease = kube.get(LEASE_API_VERSION, "Lease", self.namespace, self.name, fresh=True)
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                kube.replace(lease)
        except kube.KubeError as error:
            log.warning("releasing the Lease: %s", error)
        self._lost()

    def _manifest(self, lease: dict[str, Any] | None, transitions: int) -> dict[str, Any]:
        now = _micro_time(datetime.now(UTC))
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = now
        spec.update(holderIdentity=self.identity, leaseDurationSeconds=int(self.lease_seconds), renewTime=now,
                    leaseTransitions=transitions)
        metadata = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            metadata["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {"apiVersion": LEASE_API_VERSION, "kind": "Lease", "metadata": metadata, "spec": spec}

    def _write(self, manifest: dict[str, Any], create: bool, now: float) -> bool:
        try:
            written = kube.create(manifest) if create else kube.replace(manifest)
        except kube.Conflict:
            written = None  # another replica wrote first
        if written is None:
            self._lost()
            return False
        with self._lock:
            self._renewed_at = now
        return True

    def _lost(self) -> None:
        with self._lock:
            self._renewed_at = None

    def _notify(self) -> None:
        leading = self.is_leader()
        if leading != self._leading:
            self._leading = leading
            log.info("%s the leader (Lease %s/%s, identity %s)", "became" if leading else "no longer",
                     self.namespace, self.name, self.identity)
            if self.on_change is not None:
                self.on_change(leading)
