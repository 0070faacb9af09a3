"""Pure status computation: the extension's status from its live Deployment and any input problem."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .api import DEGRADED, PROGRESSING, READY

# Reasons for input only the operator can judge; while one holds, nothing is applied.
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_KEY_MISSING = "SecretKeyMissing"
GPU_RESOURCE_UNAVAILABLE = "GpuResourceUnavailable"
GPU_PRODUCT_UNAVAILABLE = "GpuProductUnavailable"
INVALID_SPEC = "InvalidSpec"
APPLY_FAILED = "ApplyFailed"
POD_TEMPLATE_FORBIDDEN = "PodTemplateForbidden"
BLOCKING_REASONS = {
    SECRET_NOT_FOUND, SECRET_KEY_MISSING, GPU_RESOURCE_UNAVAILABLE, GPU_PRODUCT_UNAVAILABLE, INVALID_SPEC,
    APPLY_FAILED, POD_TEMPLATE_FORBIDDEN,
}  # fmt: skip
OWN_TYPES = (READY, PROGRESSING, DEGRADED)

Json = dict[str, Any]
MAX_MESSAGE = 1024  # a condition message or an event; remote servers' text is cut to this
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text from elsewhere (a broker, Prometheus, the apiserver) made fit for status: no control characters
    (newlines and tabs become spaces), at most `limit` characters."""
    flat = _CONTROL.sub("", text.replace("\n", " ").replace("\t", " ").replace("\r", " "))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@dataclass(frozen=True)
class Blocker:
    """Why the extension's children cannot be applied right now."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """One condition's wanted state; every writer of conditions speaks this type."""

    status: str
    reason: str
    message: str


def blocker_in(status: Json, generation: int) -> Blocker | None:
    """The blocker recorded in `status` for this generation, if any."""
    for condition in status.get("conditions") or []:
        if (
            condition.get("type") == READY
            and condition.get("reason") in BLOCKING_REASONS
            and condition.get("observedGeneration") == generation
        ):
            return Blocker(condition["reason"], condition.get("message", ""))
    return None


def _deployment_condition(deployment: Json, kind: str) -> Json:
    for condition in deployment.get("status", {}).get("conditions") or []:
        if condition.get("type") == kind:
            return dict(condition)
    return {}


def deployment_observed(deployment: Json | None) -> bool:
    """Whether the Deployment's status speaks of its current spec (the controller-manager has seen it)."""
    if deployment is None:
        return False
    generation = deployment.get("metadata", {}).get("generation", 0)
    return bool(deployment.get("status", {}).get("observedGeneration", 0) >= generation)


def same_verdicts(conditions: list[Json], wanted: dict[str, Verdict]) -> bool:
    """Whether the live conditions already say what `wanted` says (status and reason per type)."""
    have = {c.get("type"): (c.get("status"), c.get("reason")) for c in conditions if c.get("type") in wanted}
    return have == {kind: (v.status, v.reason) for kind, v in wanted.items()}


def verdicts(deployment: Json | None, blocker: Blocker | None) -> dict[str, Verdict]:
    """Ready, Progressing and Degraded for the given live Deployment (None: not created yet)."""
    if blocker is not None:
        return {
            READY: Verdict("False", blocker.reason, blocker.message),
            PROGRESSING: Verdict("False", blocker.reason, "waiting for the input to be fixed"),
            DEGRADED: Verdict("True", blocker.reason, blocker.message),
        }
    if deployment is None:
        return {
            READY: Verdict("False", "Reconciling", "the Deployment does not exist yet"),
            PROGRESSING: Verdict("True", "Creating", "creating the Deployment"),
            DEGRADED: Verdict("False", "AsExpected", ""),
        }
    status = deployment.get("status", {})
    desired = deployment.get("spec", {}).get("replicas", 1)
    current = deployment_observed(deployment)
    updated, ready = status.get("updatedReplicas", 0), status.get("readyReplicas", 0)
    counts = f"{ready}/{desired} pods ready, {updated} updated"
    rolled_out = current and updated == desired and status.get("replicas", 0) == desired
    progressing = _deployment_condition(deployment, "Progressing")
    available = _deployment_condition(deployment, "Available")
    failure = _deployment_condition(deployment, "ReplicaFailure")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        degraded = Verdict("True", "ProgressDeadlineExceeded", progressing.get("message", ""))
    elif failure.get("status") == "True":
        degraded = Verdict("True", failure.get("reason", "ReplicaFailure"), failure.get("message", ""))
    else:
        degraded = Verdict("False", "AsExpected", "")
    # maxUnavailable lets a one-replica Deployment call itself Available with no pod: Ready needs a serving pod.
    serving = desired == 0 or status.get("availableReplicas", 0) > 0
    if current and available.get("status") == "True" and serving:
        ready_verdict = Verdict("True", "Available" if desired else "ScaledToZero", counts)
    else:
        detail = available.get("message") or "the Deployment has not reported yet"
        ready_verdict = Verdict("False", "DeploymentUnavailable", f"{counts}; {detail}")
    if rolled_out:
        progressing_verdict = Verdict("False", "RolloutComplete", counts)
    else:
        progressing_verdict = Verdict("True", "RollingOut", counts)
    return {READY: ready_verdict, PROGRESSING: progressing_verdict, DEGRADED: degraded}


def merged_conditions(
    previous: list[Json], verdicts_by_type: dict[str, Verdict], generation: int, now: datetime
) -> list[Json]:
    """New conditions; `lastTransitionTime` moves only when a status flips, other types are kept.

    The one condition merge: the reconcile and the autoscaler both write through it. Each condition keeps its
    place (new types go last), so the two writers never see a change in each other's order and rewrite it.
    """

    def merged(kind: str, verdict: Verdict, before: Json) -> Json:
        flipped = before.get("status") != verdict.status
        return {
            "type": kind,
            "status": verdict.status,
            "reason": verdict.reason,
            "message": clean_text(verdict.message),
            "lastTransitionTime": now.isoformat() if flipped else before.get("lastTransitionTime", now.isoformat()),
            "observedGeneration": generation,
        }

    kept = [condition.get("type") for condition in previous]
    result = [merged(kind, verdicts_by_type[kind], condition) if (kind := condition.get("type")) in verdicts_by_type
              else condition for condition in previous]
    return result + [merged(kind, verdict, {}) for kind, verdict in verdicts_by_type.items() if kind not in kept]


def status_patch(
    previous: Json, deployment: Json | None, blocker: Blocker | None, generation: int, selector: str, now: datetime
) -> Json:
    """The operator's part of `status` (a merge patch: the autoscaler's fields stay untouched)."""
    live = (deployment or {}).get("status", {})
    containers = (deployment or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    conditions = merged_conditions(previous.get("conditions") or [], verdicts(deployment, blocker), generation, now)
    return {
        "observedGeneration": generation,
        "replicas": live.get("replicas", 0),
        "readyReplicas": live.get("readyReplicas", 0),
        "updatedReplicas": live.get("updatedReplicas", 0),
        "availableReplicas": live.get("availableReplicas", 0),
        "selector": selector,
        "image": containers[0].get("image") if containers else previous.get("image"),
        "conditions": conditions,
    }


def ready_of(status: Json) -> tuple[str, str] | None:
    """(status, reason) of the Ready condition, to notice transitions worth an event."""
    for condition in status.get("conditions") or []:
        if condition.get("type") == READY:
            return condition.get("status", "Unknown"), condition.get("reason", "")
    return None
