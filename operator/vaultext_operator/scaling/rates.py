"""Consumption and arrival rates from successive offset snapshots (pure).

The per-replica consumption rate is only learned from intervals in which the group had a backlog the whole
time and the same number of ready replicas: an idle consumer commits as slowly as messages arrive, which says
nothing about what it could do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

SMOOTHING = 0.5  # weight of the newest sample in the moving average
MIN_STRETCH_SECONDS = 4.0  # shortest busy stretch a per-replica rate is taken from


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
    stretch: OffsetSnapshot | None = None  # start of the current busy stretch with a steady ready count
    before_stretch: float | None = None  # per_replica when that stretch began

    def observe(self, snapshot: OffsetSnapshot) -> Rates:
        previous = self.last
        if previous is None or snapshot.at <= previous.at:
            busy = snapshot.total_lag > 0 and snapshot.replicas > 0
            return replace(self, last=snapshot, stretch=snapshot if busy else None,
                           before_stretch=self.per_replica)
        elapsed = snapshot.at - previous.at
        arrival = max(0.0, (snapshot.latest_sum - previous.latest_sum) / elapsed)
        consumption = max(0.0, (snapshot.committed_sum - previous.committed_sum) / elapsed)
        smoothed_arrival = arrival if self.arrival is None else _smooth(self.arrival, arrival)
        # One estimate per stretch in which the group had a backlog the whole time and the same ready count
        # (a pod becoming ready, or leaving, makes a per-replica figure meaningless), averaged over the whole
        # stretch once it is long enough: commits come in bursts, single intervals are noisy.
        stretch, before, per_replica = self.stretch, self.before_stretch, self.per_replica
        busy = snapshot.total_lag > 0 and snapshot.replicas > 0
        if not busy or stretch is None or stretch.replicas != snapshot.replicas:
            stretch, before = (snapshot if busy else None), per_replica
        elif snapshot.at - stretch.at >= MIN_STRETCH_SECONDS:
            sample = (snapshot.committed_sum - stretch.committed_sum) / (snapshot.at - stretch.at)
            if sample > 0:
                sample /= snapshot.replicas
                per_replica = sample if before is None else _smooth(before, sample)
        return Rates(per_replica, smoothed_arrival, consumption, snapshot, stretch, before)


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
