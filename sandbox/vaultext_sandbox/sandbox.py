"""The whole sandbox: which parts run, where their files live, and how to stop every one of them."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .binaries import progress
from .control_plane import ControlPlane, start_control_plane
from .kafka import Kafka, start_kafka
from .kube import Kube
from .processes import ManagedProcess, pid_alive
from .prometheus import Prometheus, start_prometheus

WORKDIR_PREFIX = "vaultext-sandbox-"


def sweep_stale_workdirs() -> list[Path]:
    """Remove the folders of sandboxes whose owner died without tearing down (killed by SIGKILL)."""
    removed = []
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = workdir / "owner.pid"
        if owner.exists() and not pid_alive(int(owner.read_text())):
            shutil.rmtree(workdir, ignore_errors=True)
            removed.append(workdir)
    return removed


@dataclass
class Sandbox:
    """Starts each part on first use; ``close()`` stops every process it started and removes its folder."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX)))
    detached: bool = False
    control_plane: ControlPlane | None = None
    kube_handle: Kube | None = None
    kafka_broker: Kafka | None = None
    prometheus_server: Prometheus | None = None

    def __post_init__(self) -> None:
        if not self.detached:  # a detached sandbox outlives this process on purpose
            (self.workdir / "owner.pid").write_text(str(os.getpid()))

    def kube(self) -> Kube:
        if self.kube_handle is None:
            started = time.monotonic()
            self.control_plane = start_control_plane(self.workdir / "cluster", detached=self.detached)
            self.kube_handle = Kube(self.control_plane.kubeconfig, self.control_plane.server)
            progress(f"cluster up in {time.monotonic() - started:.1f} s")
        return self.kube_handle

    def kafka(self) -> Kafka:
        if self.kafka_broker is None:
            self.kafka_broker = start_kafka(self.workdir / "kafka", detached=self.detached)
        return self.kafka_broker

    def prometheus(self) -> Prometheus:
        if self.prometheus_server is None:
            self.prometheus_server = start_prometheus(self.workdir / "prometheus", detached=self.detached)
        return self.prometheus_server

    def start(self, kafka: bool = True, prometheus: bool = False) -> None:
        """Start the cluster and, at the same time, the other parts asked for (Kafka's JVM is the slowest)."""
        starters: list[Callable[[], object]] = [self.kube]
        starters += [self.kafka] if kafka else []
        starters += [self.prometheus] if prometheus else []
        if not self.detached:
            # Attached children die with the thread that started them (PR_SET_PDEATHSIG): start them here.
            for starter in starters:
                starter()
            return
        with ThreadPoolExecutor(max_workers=len(starters)) as pool:
            for future in [pool.submit(starter) for starter in starters]:
                future.result()

    def processes(self) -> list[ManagedProcess]:
        found = list(self.control_plane.processes) if self.control_plane else []
        found += [part.process for part in (self.kafka_broker, self.prometheus_server) if part is not None]
        return found

    def close(self) -> None:
        # Stop in reverse start order so clients go before the servers they talk to.
        for process in reversed(self.processes()):
            process.stop(grace=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "kubeconfig": str(self.kube_handle.kubeconfig) if self.kube_handle else None,
            "kube_server": self.kube_handle.server if self.kube_handle else None,
            "kafka_bootstrap": self.kafka_broker.bootstrap if self.kafka_broker else None,
            "prometheus_url": self.prometheus_server.url if self.prometheus_server else None,
            "processes": {
                process.name: {"pid": process.pid, "log": str(process.log_path), "argv": process.argv}
                for process in self.processes()
            },
        }
