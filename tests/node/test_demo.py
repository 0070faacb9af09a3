"""`demo --events N --json --keep`, then `status --json` and `down`, as a newcomer runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vaultext_sandbox.node.network import sandbox_bridges
from vaultext_sandbox.node.real_node import NOT_ROOT

pytestmark = [pytest.mark.node, pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT)]
EVENTS = 60


def _cli(*args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultext_sandbox", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def test_demo_runs_a_burst_to_completion_on_the_real_node_and_down_removes_it(tmp_path: Path) -> None:
    env = {**os.environ, "VAULTEXT_SANDBOX_STATE": str(tmp_path / "state.json")}
    demo = _cli("demo", "--events", str(EVENTS), "--json", "--keep", env=env)
    try:
        assert demo.returncode == 0, demo.stderr[-4000:]
        summary = json.loads(demo.stdout.strip().splitlines()[-1])
        assert summary["events"] == EVENTS and summary["results"] == EVENTS
        assert summary["deadLetters"] == 0
        assert summary["maxReplicas"] > 1
        assert summary["workerNodes"] and all(node.startswith("node-") for node in summary["workerNodes"])
        assert Path(summary["report"]).read_text().count("<polyline") >= 5  # lag, results, dead letters, replicas
        status = _cli("status", "--json", env=env, timeout=60)
        assert status.returncode == 0, status.stdout
        described = json.loads(status.stdout)
        assert described["up"] and described["real_node"] in summary["workerNodes"]
        assert described["bridge"] in sandbox_bridges()
    finally:
        down = _cli("down", env=env, timeout=300)
    assert down.returncode == 0, down.stderr
    assert _cli("status", "--json", env=env, timeout=60).returncode == 1
    assert described["bridge"] not in sandbox_bridges(), "down left the demo's bridge behind"
    assert not Path(described["workdir"]).exists()
