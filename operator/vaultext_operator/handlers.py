"""kopf handlers: the operator's lifecycle. Importing this module registers them.

kopf runs the process (startup, signals, cleanup); the watches are the operator's own (`cache.Cache`, one LIST
then WATCH per kind and namespace, kept in memory), and `runtime.Runtime` turns their changes into work:
an extension that changed or was not looked at yet -> the reconcile queue; a Deployment that changed -> a status
refresh; a Deployment deleted -> the reconcile queue. kopf would keep per-object state, patch its progress
annotations onto every extension and log every handler call: at thousands of extensions that costs more than
the reconcile itself.
"""

from __future__ import annotations

from typing import Any

import kopf

from .settings import OperatorSettings


def operator_settings(memo: Any) -> OperatorSettings:
    settings: OperatorSettings = memo.settings
    return settings


@kopf.on.startup()
def start_runtime(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    from .runtime import Runtime

    # The operator posts its own events on transitions; kopf's would repeat on every retry of a blocked one.
    settings.posting.enabled = False
    memo.runtime = Runtime(operator_settings(memo))
    memo.runtime.start()


@kopf.on.cleanup()
def stop_runtime(memo: kopf.Memo, **_: Any) -> None:
    memo.runtime.shutdown()
