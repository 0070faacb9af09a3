"""Helpers for reconcile tests against the sandbox: polling, kubectl JSON, the operator as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from vaultext_sandbox import Kube
from vaultext_sandbox.processes import free_port

REPOSITORY = Path(__file__).resolve().parents[2]
CRD_FILE = REPOSITORY / "crds" / "vaultextensions.vault.kerberos.io.yaml"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Polls `check` until it returns something truthy; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def install_crd(kube: Kube) -> str:
    """Applies the generated CRD until it is Established (a just-started apiserver may still answer 429)."""
    name = "vaultextensions.vault.kerberos.io"

    def established() -> bool:
        applied = kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_FILE), check=False)
        waited = kube.kubectl("wait", "--for=condition=Established", "--timeout=10s", f"crd/{name}", check=False)
        return applied.returncode == 0 and waited.returncode == 0

    wait_for(established, 60, "the VaultExtension CRD", interval=1.0)
    return name


def get_json(kube: Kube, *args: str) -> dict[str, Any] | None:
    completed = kube.kubectl("get", *args, "-o", "json", check=False)
    if completed.returncode != 0:
        return None
    document: dict[str, Any] = json.loads(completed.stdout)
    return document


def condition(extension: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for entry in (extension or {}).get("status", {}).get("conditions", []):
        if entry["type"] == kind:
            return dict(entry)
    return {}


class OperatorProcess:
    """`python -m vaultext_operator run --namespace NS` against the sandbox, as a child process."""

    def __init__(
        self, kube: Kube, namespace: str, log_path: Path, kubeconfig: Path | None = None, **settings: str
    ) -> None:
        self.kube, self.namespace, self.log_path, self.settings = kube, namespace, log_path, settings
        self.kubeconfig = kubeconfig or kube.kubeconfig
        self.process: subprocess.Popen[bytes] | None = None
        # one identity per object: a restarted process takes its Lease back at once, like a restarted container
        self.identity = f"test-operator-{os.urandom(4).hex()}"

    def start(self) -> None:
        port = free_port()
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "VAULTEXT_OPERATOR_HEALTH_PORT": str(port),
            "VAULTEXT_OPERATOR_RETRY_DELAY_SECONDS": "1",
            "VAULTEXT_OPERATOR_LEADER_IDENTITY": self.identity,
            # Unless a test names the sandbox's broker: a closed local port, never the default's DNS name `kafka`.
            "VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
            **{f"VAULTEXT_OPERATOR_{key.upper()}": value for key, value in self.settings.items()},
        }
        command = [sys.executable, "-m", "vaultext_operator", "run", "--namespace", self.namespace]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPOSITORY)
        wait_for(lambda: self._healthy(port), 60, "the operator's /healthz")

    def _healthy(self, port: int) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited with {self.process.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, exactly like a crashed or evicted operator pod."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""
