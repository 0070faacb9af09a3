"""kopf handlers: thin wiring from cluster events to `reconcile`. Importing this module registers them."""

from __future__ import annotations

from typing import Any

import kopf

from . import kube
from .api import GROUP, PLURAL, VERSION
from .builders import MANAGER
from .conditions import INVALID_SPEC
from .reconcile import owner_of, reconcile, reconcile_by_name, refresh_status
from .settings import OperatorSettings

EXTENSIONS = (GROUP, VERSION, PLURAL)
CHILD_LABELS = {"app.kubernetes.io/managed-by": MANAGER}


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
    if not memo.runtime.leading():
        return  # the leader reconciles; a newly elected replica resyncs every extension first
    settings = operator_settings(memo)
    try:
        blocker = reconcile(dict(body), settings, memo.runtime.topics.request)
    except kube.KubeError as error:  # the apiserver hiccuped: kopf retries
        memo.runtime.metrics.reconcile_errors.inc()
        raise kopf.TemporaryError(str(error), delay=settings.retry_delay_seconds) from error
    if blocker is not None and blocker.reason == INVALID_SPEC:
        raise kopf.PermanentError(blocker.message)
    if blocker is not None:
        raise kopf.TemporaryError(f"{blocker.reason}: {blocker.message}", delay=settings.retry_delay_seconds)


@kopf.on.event("apps", "v1", "deployments", labels=CHILD_LABELS)
def deployment_changed(body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> None:
    owner = owner_of(dict(body))
    if owner is None or not memo.runtime.leading():
        return
    if type == "DELETED":  # deleted by hand: put it back (nothing happens when its extension is going)
        reconcile_by_name(body["metadata"]["namespace"], owner, operator_settings(memo), memo.runtime.topics.request)
    else:
        refresh_status(body["metadata"]["namespace"], owner)


# --- The autoscaler and the resync: one thread each, fed by the watch (no per-object daemon, no finalizer) ------


@kopf.on.startup()
def start_runtime(memo: kopf.Memo, **_: Any) -> None:
    from .runtime import Runtime

    memo.runtime = Runtime(operator_settings(memo))
    memo.runtime.start()


@kopf.on.cleanup()
def stop_runtime(memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.shutdown()


@kopf.on.event(*EXTENSIONS)
def extension_seen(body: kopf.Body, type: str | None, name: str, namespace: str | None, memo: kopf.Memo,
                   **_: Any) -> None:
    if type == "DELETED" or body["metadata"].get("deletionTimestamp"):
        memo.runtime.autoscaler.untrack(namespace or "", name)
    else:
        memo.runtime.autoscaler.track(dict(body))
