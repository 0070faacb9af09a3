"""`python -m vaultext_sandbox up|status|down` as a person or a script uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from vaultext_sandbox.processes import pid_alive

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]


def sandbox_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultext_sandbox", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def test_up_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "VAULTEXT_SANDBOX_STATE": str(tmp_path / "state.json")}
    assert sandbox_cli("status", "--json", env=env).returncode == 1

    started = time.monotonic()
    up = sandbox_cli("up", "--gpu-nodes", "2", "--gpus-per-node", "2", env=env)
    warm_start = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stderr
        print(f"warm start of control plane + kwok + Kafka: {warm_start:.1f} s")
        assert "export KUBECONFIG=" in up.stdout and "export KAFKA_BROKER=127.0.0.1:" in up.stdout
        assert "sandbox up in" in up.stderr  # progress with durations goes to stderr

        status = sandbox_cli("status", "--json", env=env)
        assert status.returncode == 0, status.stdout
        report = json.loads(status.stdout)
        assert report["prometheus_url"] is None
        assert report["kafka_bootstrap"].startswith("127.0.0.1:")
        assert {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kafka"} <= set(
            report["processes"]
        )
        for info in report["processes"].values():
            assert info["running"] and Path(info["log"]).exists()

        kubectl = Path(report["processes"]["kube-apiserver"]["log"]).parent  # logs live beside the kubeconfig
        assert kubectl.exists()
        nodes = subprocess.run(
            [str(next(Path.home().glob(".cache/vaultext-sandbox/kubernetes-*/kubectl"))),
             f"--kubeconfig={report['kubeconfig']}", "get", "nodes", "-o", "json"],
            capture_output=True, text=True, check=True,
        )
        gpus = [item["status"]["allocatable"]["nvidia.com/gpu"] for item in json.loads(nodes.stdout)["items"]]
        assert gpus == ["2", "2"]
        assert sandbox_cli("up", env=env).returncode == 1  # refuses to start a second one over the first
    finally:
        down = sandbox_cli("down", env=env)
    assert down.returncode == 0, down.stderr
    pids = [info["pid"] for info in report["processes"].values()]
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not Path(report["workdir"]).exists()
    assert sandbox_cli("status", "--json", env=env).returncode == 1
