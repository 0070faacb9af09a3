"""The operator's long-running threads besides kopf's watches: the autoscaler loop and the periodic resync.

kopf's per-object daemons and timers would put a finalizer on every extension (so deleting one while the operator
is down would hang); one thread per loop over the extensions the watch reported needs none.
"""

from __future__ import annotations

import logging
import threading

from . import kube
from .autoscaler import Autoscaler
from .reconcile import resync
from .settings import OperatorSettings

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: OperatorSettings, autoscaler: Autoscaler | None = None) -> None:
        self.settings = settings
        self.autoscaler = autoscaler or Autoscaler(settings, prometheus_url=settings.prometheus_url or None)
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.autoscaler.serve_metrics()
        for name, target in (("autoscaler", self._autoscale), ("resync", self._resync_loop)):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def shutdown(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)

    def _autoscale(self) -> None:
        self.autoscaler.run(self.stop)

    def resync_all(self) -> None:
        """One resync of every extension the watch reported (a missing child comes back here)."""
        for namespace, name in self.autoscaler.tracked():
            if self.stop.is_set():
                return
            try:
                resync(namespace, name, self.settings)
            except kube.KubeError as error:
                log.warning("resync of %s/%s failed: %s", namespace, name, error)
            except Exception:  # one broken extension must not stop the resync of the others
                log.exception("resync of %s/%s failed unexpectedly", namespace, name)

    def _resync_loop(self) -> None:
        while not self.stop.wait(self.settings.resync_seconds):
            self.resync_all()
