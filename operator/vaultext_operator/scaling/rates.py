"""Consumption and arrival rates from successive offset snapshots (pure).

The per-replica consumption rate is only learned from intervals in which the group had a backlog the whole
time and the same number of ready replicas: an idle consumer commits as slowly as messages arrive, which says
nothing about what it could do.
"""

from __future__ import annotations

from dataclasses import dataclass

SMOOTHING = 0.5  # weight of the newest sample in the moving average


@dataclass(frozen=True, slots=True)
class OffsetSnapshot:
    at: float  # seconds, monotonic
    committed_sum: int  # sum of committed offsets over partitions that have one
    latest_sum: int  # sum of high watermarks
    total_lag: int
    replicas: int  # replicas running during the interval that ends here


@dataclass(frozen=True, slots=True)
class Rates:
    per_replica: float | None = None  # messages/s one replica commits when busy
    arrival: float | None = None  # messages/s landing on the topic
    consumption: float | None = None  # messages/s the whole group committed in the last interval
    last: OffsetSnapshot | None = None

    def observe(self, snapshot: OffsetSnapshot) -> Rates:
        previous = self.last
        if previous is None or snapshot.at <= previous.at:
            return Rates(self.per_replica, self.arrival, self.consumption, snapshot)
        elapsed = snapshot.at - previous.at
        arrival = max(0.0, (snapshot.latest_sum - previous.latest_sum) / elapsed)
        consumption = max(0.0, (snapshot.committed_sum - previous.committed_sum) / elapsed)
        per_replica = self.per_replica
        # busy the whole interval, with the same replicas throughout (a pod that just became ready, or left,
        # makes the interval's per-replica figure meaningless)
        busy = (previous.total_lag > 0 and snapshot.total_lag > 0 and snapshot.replicas > 0
                and previous.replicas == snapshot.replicas)
        if busy and consumption > 0:
            sample = consumption / snapshot.replicas
            per_replica = sample if per_replica is None else _smooth(per_replica, sample)
        smoothed_arrival = arrival if self.arrival is None else _smooth(self.arrival, arrival)
        return Rates(per_replica, smoothed_arrival, consumption, snapshot)


def _smooth(old: float, new: float) -> float:
    return (1 - SMOOTHING) * old + SMOOTHING * new


def drain_seconds(total_lag: int, replicas: int, rates: Rates) -> float | None:
    """Seconds until the backlog is gone at `replicas`; None when unknown or never (arrivals outpace them)."""
    if total_lag == 0:
        return 0.0
    if rates.per_replica is None or replicas == 0:
        return None
    net = replicas * rates.per_replica - (rates.arrival or 0.0)
    return total_lag / net if net > 0 else None
