"""Whether the extension's consumer group commits at all (pure).

Pods that run but never commit under the configured group (an image that ignores `KAFKA_GROUP`, or never
commits) leave a lag that no number of replicas lowers; scaling on it only walks up to `maxReplicas`.
"""

from __future__ import annotations

from collections.abc import Sequence

from vaultext_operator.conditions import Verdict
from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets

CONSUMING = "Consuming"
NEVER_COMMITTED = "GroupNeverCommitted"
COMMITTING = "Committing"
GRACE_POLLS = 3  # the grace is at least this many polls, so a slow first poll of the pods never counts


def grace_seconds(minimum: float, polling_interval: float) -> float:
    """How long pods must have been ready before a group without any commit is reported."""
    return max(minimum, GRACE_POLLS * polling_interval)


def ready_since(previous: float | None, ready_replicas: int, now: float) -> float | None:
    """Since when the Deployment has had a ready pod without a break; None while it has none."""
    if ready_replicas <= 0:
        return None
    return now if previous is None else previous


def consuming(partitions: Sequence[PartitionOffsets], total_lag: int, ready_at: float | None, now: float,
              grace: float, group: str, topic: str, kind: str = "consumer group") -> Verdict | None:
    """The `Consuming` condition, or None while it cannot be judged (no ready pod for the whole grace, no
    lag, no partition): then the condition keeps what it said."""
    if any(p.committed != NO_COMMIT for p in partitions):
        return Verdict("True", COMMITTING, f"{kind} {group} commits offsets on topic {topic}")
    if not partitions or total_lag <= 0 or ready_at is None or now - ready_at < grace:
        return None
    return Verdict(
        "False", NEVER_COMMITTED,
        f"{kind} {group} has no committed offset on any partition of topic {topic} although pods have "
        f"been ready for {now - ready_at:.0f}s with lag {total_lag}; the image probably ignores KAFKA_GROUP "
        f"(or never commits). Scale-up is held at the current replicas until the group commits.",
    )
