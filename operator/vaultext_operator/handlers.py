"""kopf handlers: thin wiring from cluster events to `reconcile`. Importing this module registers them."""

from __future__ import annotations

import threading
from typing import Any

import kopf

from .api import GROUP, PLURAL, VERSION
from .builders import MANAGER
from .conditions import INVALID_SPEC
from .reconcile import owner_of, reconcile, reconcile_by_name, refresh_status, resync
from .settings import OperatorSettings

EXTENSIONS = (GROUP, VERSION, PLURAL)
CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGER}
RESYNC_SECONDS = 60.0


def operator_settings(memo: Any) -> OperatorSettings:
    settings: OperatorSettings = memo.settings
    return settings


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf keeps its progress in annotations: the structural schema would prune it from status.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    # The operator posts its own events on transitions; kopf's would repeat on every retry of a blocked one.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.execution.max_workers = 8


@kopf.on.resume(*EXTENSIONS)
@kopf.on.create(*EXTENSIONS)
@kopf.on.update(*EXTENSIONS, field="spec")
def reconcile_extension(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    settings = operator_settings(memo)
    blocker = reconcile(dict(body), settings)
    if blocker is not None and blocker.reason == INVALID_SPEC:
        raise kopf.PermanentError(blocker.message)
    if blocker is not None:
        raise kopf.TemporaryError(f"{blocker.reason}: {blocker.message}", delay=settings.retry_delay_seconds)


@kopf.on.event("apps", "v1", "deployments", labels=CHILD_LABELS)
def deployment_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    owner = owner_of(dict(body))
    if owner is None:
        return
    if type == "DELETED":  # deleted by hand: put it back (nothing happens when its extension is going)
        reconcile_by_name(body["metadata"]["namespace"], owner, operator_settings(memo))
    else:
        refresh_status(body["metadata"]["namespace"], owner)


@kopf.timer(*EXTENSIONS, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS)
def resync_extension(name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace is not None:
        resync(namespace, name, operator_settings(memo))


# --- Lag-driven autoscaling: one loop thread for all extensions, a daemon per extension registers it ---------


@kopf.on.startup()
def start_autoscaler(memo: kopf.Memo, **_: Any) -> None:
    from .autoscaler import Autoscaler

    settings = operator_settings(memo)
    memo.autoscaler = Autoscaler(settings, prometheus_url=settings.prometheus_url or None)
    memo.autoscaler_stop = threading.Event()
    memo.autoscaler.serve_metrics()
    threading.Thread(target=memo.autoscaler.run, args=(memo.autoscaler_stop,), name="autoscaler",
                     daemon=True).start()


@kopf.on.cleanup()
def stop_autoscaler(memo: kopf.Memo, **_: Any) -> None:
    memo.autoscaler_stop.set()


@kopf.daemon(*EXTENSIONS, cancellation_timeout=10.0)
async def follow_lag(stopped: kopf.DaemonStopped, body: kopf.Body, name: str, namespace: str | None,
                     memo: Any, **_: Any) -> None:
    # Async on purpose: a sync daemon would hold one of kopf's executor threads per extension for its whole
    # life, and with more extensions than threads no other sync handler (the reconcile) would ever run.
    memo.autoscaler.track(body)  # the live body: spec changes reach the loop without a restart
    await stopped.wait()
    memo.autoscaler.untrack(namespace or "", name)
