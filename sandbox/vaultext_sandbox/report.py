"""The demo's HTML report: lag, replicas and results over time as inline SVG (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .loop import Extension, Sample

WIDTH, HEIGHT = 900, 220


def polyline(samples: Sequence[Sample], value: Callable[[Sample], float], duration: float, top: float) -> str:
    """SVG points for one series, x scaled to ``duration`` seconds and y to ``top``."""
    scale_x = (WIDTH - 20) / max(duration, 1e-9)
    scale_y = (HEIGHT - 30) / max(top, 1e-9)
    return " ".join(f"{10 + s.seconds * scale_x:.1f},{HEIGHT - 20 - value(s) * scale_y:.1f}" for s in samples)


def _chart(title: str, samples: Sequence[Sample], series: list[tuple[str, str, Callable[[Sample], float]]],
           duration: float) -> dict[str, Any]:
    top = max((value(s) for s in samples for _, _, value in series), default=1) or 1
    return {"title": title, "lines": [
        {"label": label, "colour": colour, "maximum": max(value(s) for s in samples),
         "points": polyline(samples, value, duration, top)}
        for label, colour, value in series]}


def write_report(path: Path, extension: Extension, samples: Sequence[Sample]) -> Path:
    if not samples:
        raise ValueError("no samples to report")
    duration = samples[-1].seconds
    charts = [
        _chart("Lag and results", samples, [("lag", "#d62728", lambda s: s.lag),
                                            ("results", "#2ca02c", lambda s: s.results),
                                            ("dead letters", "#7f7f7f", lambda s: s.dead_letters)], duration),
        _chart("Replicas", samples, [("desired", "#1f77b4", lambda s: s.replicas),
                                     ("ready", "#ff7f0e", lambda s: s.ready)], duration),
    ]
    last = samples[-1]
    summary = (f"{last.results} results, {last.dead_letters} dead letters, up to "
               f"{max(s.replicas for s in samples)} replicas, {duration:.0f} s observed.")
    environment = Environment(loader=PackageLoader("vaultext_sandbox", "templates"), autoescape=select_autoescape())
    html = environment.get_template("demo_report.html.j2").render(
        extension=extension.name, namespace=extension.namespace, summary=summary, charts=charts, samples=samples,
        width=WIDTH, height=HEIGHT, duration=f"{duration:.0f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html)
    return path
