"""The Grafana dashboard (dashboards/vaultext.json) as PromQL queries to run against the sandbox's Prometheus."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .images import REPO

DASHBOARD = REPO / "dashboards" / "vaultext.json"
# Metrics only the worker pods export: their panels need real workers (the real node), kwok pods export nothing.
WORKER_METRICS = (
    "vaultext_recordings_total", "vaultext_stage_seconds", "vaultext_frames_total", "vaultext_errors_total",
)
# Grafana's own interval variable, as a fixed window long enough for 1 s scrapes.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s"}


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    expr: str

    @property
    def from_workers(self) -> bool:
        return any(re.search(rf"\b{name}", self.expr) for name in WORKER_METRICS)


def load(path: Path = DASHBOARD) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def substitute(expr: str, variables: dict[str, str]) -> str:
    """``$name`` and ``${name}`` replaced; an unknown variable is an error, not an empty string."""
    known = {**GRAFANA_BUILTINS, **variables}

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in known:
            raise KeyError(f"dashboard variable ${name} has no value (known: {sorted(known)})")
        return known[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def panel_queries(dashboard: dict[str, Any], variables: dict[str, str]) -> list[PanelQuery]:
    """Every target of every panel (rows' nested panels too), with the template variables substituted."""
    found: list[PanelQuery] = []
    panels = list(dashboard.get("panels", []))
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            found.append(PanelQuery(str(panel.get("title")), substitute(str(target["expr"]), variables)))
    return found


def variable_queries(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each query variable's PromQL: ``label_values(SELECTOR, label)`` gives the selector and label."""
    found = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            found[str(variable["name"])] = str(query)
    return found
