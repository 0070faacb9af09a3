"""The benchmark's figure: replicas over time after the burst, per engine and polling interval."""

from __future__ import annotations

from pathlib import Path

from burst import Trajectory

COLOURS = {"keda": "tab:red", "builtin": "tab:blue"}
STYLES = {5: "-", 30: "--"}


def _draw(axes: object, trajectory: Trajectory, end: float, labelled: bool) -> None:
    burst = trajectory.burst
    times = [t for t, _ in trajectory.points] + [end]
    counts = [n for _, n in trajectory.points] + [trajectory.points[-1][1]]
    engine = "KEDA v2.21.0 + HPA" if burst.engine == "keda" else "builtin"
    label = f"{engine}, pollingInterval {burst.polling_interval} s"
    axes.step(times, counts, where="post", color=COLOURS.get(burst.engine, "black"),  # type: ignore[attr-defined]
              linestyle=STYLES.get(burst.polling_interval, ":"), label=label if labelled else None, alpha=0.75)


def plot(burst_runs: list[Trajectory], cap_runs: list[Trajectory], path: Path) -> None:
    import matplotlib  # only the benchmark needs it (the dev extra has it)

    matplotlib.use("Agg")
    from matplotlib import pyplot

    panels = 2 if cap_runs else 1
    figure, axes = pyplot.subplots(1, panels, figsize=(6.5 * panels, 4.2), squeeze=False)
    left = axes[0][0]
    end = max(t for run in burst_runs for t, _ in run.points) + 10
    seen: set[tuple[str, int]] = set()
    for run in burst_runs:  # every run; one legend entry per engine and polling interval
        key = (run.burst.engine, run.burst.polling_interval)
        _draw(left, run, end, key not in seen)
        seen.add(key)
    left.set(title="500 messages over 12 partitions, lagThreshold 10, maxReplicas 12",
             xlabel="seconds after the burst landed", ylabel="Deployment replicas", ylim=(-0.5, 13))
    left.legend(loc="lower right", fontsize="small")
    if cap_runs:
        right = axes[0][1]
        end = max(t for run in cap_runs for t, _ in run.points) + 10
        for run in cap_runs:
            _draw(right, run, end, True)
        partitions = cap_runs[0].burst.partitions
        right.axhline(partitions, color="grey", linewidth=0.8, linestyle=":")
        right.set(title=f"{cap_runs[0].burst.messages} messages over {partitions} partitions (cap: {partitions})",
                  xlabel="seconds after the burst landed", ylim=(-0.5, partitions + 2))
        right.legend(loc="lower right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
