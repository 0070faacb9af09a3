"""`status` of a VaultExtension: what the operator and the autoscaler observed.

The operator writes the replica counts, `selector` and the conditions it owns (Ready, Progressing, Degraded);
the autoscaler writes the scaling fields. Every field is declared here because the structural schema prunes
anything undeclared from status.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from .common import MAX_LIST, MAX_STRING, ApiModel

ConditionStatus = Literal["True", "False", "Unknown"]
READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"


class Condition(ApiModel):
    """A standard Kubernetes condition."""

    type: str = Field(max_length=316, description="`Ready`, `Progressing` or `Degraded`.")
    status: ConditionStatus = Field(description="`True`, `False` or `Unknown`.")
    reason: str = Field(max_length=1024, description="CamelCase reason for the last transition.")
    message: str = Field(default="", max_length=32768, description="Human-readable details.")
    last_transition_time: datetime = Field(description="When `status` last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="The `.metadata.generation` the condition was set for."
    )


class Recommendation(ApiModel):
    """One replica recommendation of the autoscaler and when it was made."""

    at: float = Field(description="Unix time in seconds.")
    replicas: int = Field(ge=0, description="Replicas recommended.")


class ScalingState(ApiModel):
    """What the autoscaler remembers between polls, kept where a restarted or newly elected operator finds it."""

    recommendations: list[Recommendation] = Field(
        default_factory=list, max_length=MAX_LIST,
        description="Recommendations that can still bound a scale-down (highest per stretch of the window).",
    )
    last_active_time: float | None = Field(default=None, description="Unix time lag last exceeded activation.")
    last_scale_at: float | None = Field(default=None, description="Unix time replicas were last changed.")
    per_replica_rate: float | None = Field(default=None, ge=0, description="Learned messages/s per replica.")
    arrival_rate: float | None = Field(default=None, ge=0, description="Measured messages/s arriving.")


class VaultExtensionStatus(ApiModel):
    """Observed state of the extension."""

    model_config = ConfigDict(extra="ignore")

    observed_generation: int | None = Field(default=None, description="Last generation the operator acted on.")
    replicas: int | None = Field(default=None, ge=0, description="Pods of the Deployment (scale subresource).")
    ready_replicas: int | None = Field(default=None, ge=0, description="Ready pods.")
    updated_replicas: int | None = Field(default=None, ge=0, description="Pods on the current template.")
    available_replicas: int | None = Field(default=None, ge=0, description="Available pods.")
    selector: str | None = Field(
        default=None, max_length=MAX_STRING, description="Label selector of the pods (scale subresource)."
    )
    image: str | None = Field(default=None, max_length=MAX_STRING, description="Image the Deployment runs.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Ready, Progressing and Degraded.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    # Written by the autoscaler.
    lag: int | None = Field(default=None, ge=0, description="Total consumer-group lag on the input topic.")
    desired_replicas: int | None = Field(
        default=None, ge=0, description="Replicas the autoscaling policy asks for."
    )
    partitions: int | None = Field(default=None, ge=0, description="Partitions of the input topic.")
    rates: dict[str, float] | None = Field(
        default=None, description="Measured rates in messages per second (e.g. `arrival`, `perReplica`)."
    )
    drain_seconds: float | None = Field(
        default=None, ge=0, description="Estimated seconds to drain the backlog at the current replicas."
    )
    last_scale_time: datetime | None = Field(default=None, description="When replicas were last changed.")
    last_scale_reason: str | None = Field(
        default=None, max_length=MAX_STRING, description="Why replicas were last changed."
    )
    scaling_state: ScalingState | None = Field(
        default=None, description="The autoscaler's memory (stabilization window, learned rates)."
    )
