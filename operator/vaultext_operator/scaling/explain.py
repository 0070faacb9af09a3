"""`explain-scaling`: run the policy on one JSON snapshot, without a cluster ("why did it scale to N?").

There is no history in a snapshot: the stabilization window and the cooldown count as elapsed.
"""

from __future__ import annotations

import json
from typing import Any, Self, TextIO

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from vaultext_operator.api.autoscaling import AutoscalingSpec
from vaultext_operator.api.messaging import Consumption
from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets, summarize
from vaultext_operator.scaling.policy import ScalingHistory, ScalingInput, decide
from vaultext_operator.scaling.rates import Rates


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class PartitionIn(_Model):
    """Offsets (`committed`, `latest`, optional `logStart`) or, as a share group's lag is read, `lag` alone."""

    committed: int | None = Field(default=None, ge=NO_COMMIT)
    latest: int | None = Field(default=None, ge=0)
    log_start: int | None = Field(default=None, ge=0)
    lag: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _offsets_or_lag(self) -> Self:
        offsets = self.committed is not None or self.latest is not None or self.log_start is not None
        if self.lag is not None and offsets:
            raise ValueError("give a partition either `lag` or its offsets, not both")
        if self.lag is None and (self.committed is None or "latest" not in self.model_fields_set):
            raise ValueError("a partition needs `committed` and `latest` (null when unknown), or `lag`")
        return self

    def offsets(self) -> PartitionOffsets:
        if self.lag is not None:  # lag alone: as if committed at 0 with the watermark at `lag`
            return PartitionOffsets(0, self.lag)
        return PartitionOffsets(self.committed if self.committed is not None else NO_COMMIT, self.latest,
                                self.log_start)


class ExplainRequest(_Model):
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)
    consumption: Consumption = "group"  # `share`: a share group, no partition cap
    partitions: list[PartitionIn]
    previous_committed: list[int | None] | None = None
    current_replicas: int = Field(ge=0)
    # Optional extras: what the running operator would also know.
    consumption_rate_per_replica: float | None = Field(default=None, gt=0)
    arrival_rate: float | None = Field(default=None, ge=0)
    schedulable_replicas: int | None = Field(default=None, ge=0)
    paused_replicas: int | None = Field(default=None, ge=0)


def explain(request: ExplainRequest) -> dict[str, Any]:
    spec = request.autoscaling
    summary = summarize(
        [p.offsets() for p in request.partitions],
        request.previous_committed,
        spec,
    )
    decision = decide(
        ScalingInput(
            spec=spec,
            current_replicas=request.current_replicas,
            now=0.0,
            summary=summary,
            rates=Rates(per_replica=request.consumption_rate_per_replica, arrival=request.arrival_rate),
            schedulable_replicas=request.schedulable_replicas,
            paused_replicas=request.paused_replicas,
            share_group=request.consumption == "share",
        ),
        ScalingHistory(last_active_at=-float(spec.cooldown_period)),
    )
    return {
        "totalLag": summary.total_lag,
        "totalLagWithPersistent": summary.total_lag_with_persistent,
        "active": summary.total_lag_with_persistent > spec.activation_lag_threshold,
        "desiredReplicas": decision.desired_replicas,
        "reason": decision.reason,
    }


def run(stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Read one request from stdin, print the answer; exit 2 with the validation error on bad input."""
    try:
        request = ExplainRequest.model_validate(json.load(stdin))
        answer = explain(request)
    except (json.JSONDecodeError, ValidationError, ValueError) as error:
        stderr.write(f"explain-scaling: invalid input: {error}\n")
        return 2
    json.dump(answer, stdout)
    stdout.write("\n")
    return 0
