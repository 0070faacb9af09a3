"""`python -m vaultext_sandbox up|status|down` as a person or a script uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from vaultext_sandbox.binaries import ensure
from vaultext_sandbox.processes import pid_alive

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.slow]


def sandbox_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vaultext_sandbox", *args], capture_output=True, text=True,
                          env=env, timeout=300, check=False)


def assert_vault_refuses_unknown_credentials(vault_url: str) -> None:
    request = urllib.request.Request(f"{vault_url}/storage/blob", headers={
        "X-Kerberos-Storage-FileName": "cam/1.mp4", "X-Kerberos-Storage-Provider": "local",
        "X-Kerberos-Storage-AccessKey": "nobody", "X-Kerberos-Storage-SecretAccessKey": "nothing"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 401
    assert "data" in json.loads(refused.value.read())


def test_up_status_down(tmp_path: Path) -> None:
    env = {**os.environ, "VAULTEXT_SANDBOX_STATE": str(tmp_path / "state.json")}
    assert sandbox_cli("status", "--json", env=env).returncode == 1

    started = time.monotonic()
    up = sandbox_cli("up", "--gpu-nodes", "2", "--gpus-per-node", "2", "--with-prometheus", "--with-vault", env=env)
    warm_start = time.monotonic() - started
    try:
        assert up.returncode == 0, up.stderr
        print(f"warm start of control plane + kwok + Kafka + Prometheus + Vault stand-in: {warm_start:.1f} s")
        assert "export KUBECONFIG=" in up.stdout and "export KAFKA_BROKER=127.0.0.1:" in up.stdout
        assert "sandbox up in" in up.stderr  # progress with durations goes to stderr

        status = sandbox_cli("status", "--json", env=env)
        assert status.returncode == 0, status.stdout
        report = json.loads(status.stdout)
        with urllib.request.urlopen(f"{report['prometheus_url']}/-/ready", timeout=5) as ready:
            assert ready.status == 200
        assert_vault_refuses_unknown_credentials(report["vault_url"])
        assert report["kafka_bootstrap"].startswith("127.0.0.1:")
        assert {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kafka", "prometheus",
                "vault-standin"} <= set(
            report["processes"]
        )
        for info in report["processes"].values():
            assert info["running"] and Path(info["log"]).exists()

        nodes = subprocess.run(
            [str(ensure("kubernetes") / "kubectl"),
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
