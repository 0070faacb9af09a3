"""The whole sandbox: which parts run, where their files live, and how to stop every one of them."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .binaries import progress
from .control_plane import ControlPlane, start_control_plane
from .errors import StartupError
from .kafka import Kafka, start_kafka
from .keda import Keda, start_keda
from .kube import Kube
from .netns import NEEDS_ROOT, can_make_namespaces
from .node.network import Bridge, create_bridge, delete_bridge
from .node.real_node import RealNode, require_root, start_real_node, teardown_node
from .processes import ManagedProcess, free_port, pid_alive
from .prometheus import ClusterAccess, Prometheus, start_prometheus

WORKDIR_PREFIX = "vaultext-sandbox-"
BRIDGE_FILE = "bridge"


def sweep_stale_workdirs() -> list[Path]:
    """Remove what sandboxes whose owner died without tearing down (killed by SIGKILL) left: a real node's
    containers, mounts, cgroups and bridge, then the folder."""
    removed = []
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        owner = workdir / "owner.pid"
        if owner.exists() and not pid_alive(int(owner.read_text())):
            teardown_workdir(workdir)
            removed.append(workdir)
    return removed


def teardown_workdir(workdir: Path) -> None:
    if (workdir / "node").exists():
        teardown_node(workdir / "node")
    if (workdir / BRIDGE_FILE).exists():
        delete_bridge((workdir / BRIDGE_FILE).read_text().strip())
    shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Sandbox:
    """Starts each part on first use; ``close()`` stops every process it started and removes its folder."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX)))
    detached: bool = False
    with_keda: bool = False  # an apiserver that serves aggregated APIs, so that `keda()` can run real KEDA
    control_plane: ControlPlane | None = None
    kube_handle: Kube | None = None
    kafka_broker: Kafka | None = None
    prometheus_server: Prometheus | None = None
    keda_install: Keda | None = None
    bridge: Bridge | None = None
    real_node: RealNode | None = None
    relays: list[ManagedProcess] = field(default_factory=list)  # relays and other helper processes
    apiserver_from_pods: str | None = None
    vault_url: str | None = None
    vault_url_from_pods: str | None = None

    def __post_init__(self) -> None:
        if not self.detached:  # a detached sandbox outlives this process on purpose
            (self.workdir / "owner.pid").write_text(str(os.getpid()))

    def with_bridge(self) -> Bridge:
        """The sandbox's own bridge (made before the servers that listen on it)."""
        if self.bridge is None:
            require_root()
            self.bridge = create_bridge()
            (self.workdir / BRIDGE_FILE).write_text(self.bridge.name)
        return self.bridge

    def relay(self, name: str, port: int) -> str:
        """Make ``127.0.0.1:port`` reachable from pods; returns the HOST:PORT pods use."""
        bridge = self.with_bridge()
        listen = f"{bridge.gateway}:{free_port()}"
        process = ManagedProcess(f"relay-{name}", [sys.executable, "-m", "vaultext_sandbox", "relay",
                                                   f"{listen}=127.0.0.1:{port}"],
                                 self.workdir / "logs" / f"relay-{name}.log", detached=self.detached)
        process.start()
        process.wait_until(lambda: "relay serving" in process.log_path.read_text(), timeout=30, what="listening")
        self.relays.append(process)
        return listen

    def vault_process(self, recordings: Path) -> str:
        """Run the Vault stand-in as a process serving ``recordings/<provider>/<key>``; returns its API URL."""
        port = free_port()
        recordings.mkdir(parents=True, exist_ok=True)
        process = ManagedProcess(
            "vault-standin",
            [sys.executable, "-m", "vaultext_sandbox", "vault", "--port", str(port), "--recordings", str(recordings)],
            self.workdir / "logs" / "vault.log",
            detached=self.detached,
        )
        process.start()
        process.wait_until(lambda: "vault stand-in on" in process.log_path.read_text(), timeout=30, what="serving")
        self.relays.append(process)
        self.vault_url = f"http://127.0.0.1:{port}/api"
        if self.bridge is not None:
            self.vault_url_from_pods = f"http://{self.relay('vault', port)}/api"
        return self.vault_url

    def node(self, gpus: int = 2) -> RealNode:
        """A real kubelet + containerd node on the sandbox bridge, advertising ``gpus`` GPUs."""
        if self.real_node is None:
            kube = self.kube()
            self.real_node = start_real_node(self.workdir / "node", kube, self.with_bridge(), gpus, self.detached)
            self.apiserver_from_pods = self.relay("apiserver", int(kube.server.rsplit(":", 1)[1]))
        return self.real_node

    def kube(self) -> Kube:
        if self.kube_handle is None:
            started = time.monotonic()
            self.control_plane = start_control_plane(
                self.workdir / "cluster", detached=self.detached,
                advertise_address=self.bridge.gateway if self.bridge else None, aggregation=self.with_keda,
            )
            self.kube_handle = Kube(self.control_plane.kubeconfig, self.control_plane.server)
            progress(f"cluster up in {time.monotonic() - started:.1f} s")
            self._prometheus_discovers_pods()
        return self.kube_handle

    def kafka(self) -> Kafka:
        if self.kafka_broker is None:
            self.kafka_broker = start_kafka(self.workdir / "kafka", detached=self.detached,
                                            bridge_host=self.bridge.gateway if self.bridge else None)
        return self.kafka_broker

    def prometheus(self) -> Prometheus:
        if self.prometheus_server is None:
            self.prometheus_server = start_prometheus(self.workdir / "prometheus", detached=self.detached)
            self._prometheus_discovers_pods()
        return self.prometheus_server

    def _prometheus_discovers_pods(self) -> None:
        """Once both run, Prometheus finds the project's pods through the apiserver (whichever started first)."""
        if self.prometheus_server is not None and self.kube_handle is not None:
            subnet = self.bridge.subnet if self.bridge else None
            self.prometheus_server.discover_pods(ClusterAccess(self.kube_handle.kubeconfig, subnet))

    def keda(self) -> Keda:
        """Real KEDA (operator and metrics adapter) scaling through the controller-manager's HPA controller."""
        if not self.with_keda:
            raise StartupError("KEDA needs a sandbox made with Sandbox(with_keda=True): its apiserver must serve "
                               "aggregated APIs")
        if not can_make_namespaces():
            raise StartupError(NEEDS_ROOT)
        if self.keda_install is None:
            kube = self.kube()
            assert self.control_plane is not None
            controller_manager = next(p for p in self.control_plane.processes if p.name == "kube-controller-manager")
            self.keda_install = start_keda(self.workdir / "keda", kube, controller_manager, detached=self.detached)
        return self.keda_install

    def start(self, kafka: bool = True, prometheus: bool = False, real_node_gpus: int | None = None) -> None:
        """Start the cluster and, at the same time, the other parts asked for (Kafka's JVM is the slowest);
        with ``real_node_gpus``, the bridge first and then a real node."""
        if real_node_gpus is not None:
            self.with_bridge()
        starters: list[Callable[[], object]] = [self.kube]
        starters += [self.kafka] if kafka else []
        starters += [self.prometheus] if prometheus else []
        if not self.detached:
            # Attached children die with the thread that started them (PR_SET_PDEATHSIG): start them here.
            for starter in starters:
                starter()
        else:
            with ThreadPoolExecutor(max_workers=len(starters)) as pool:
                for future in [pool.submit(starter) for starter in starters]:
                    future.result()
        if real_node_gpus is not None:
            self.node(real_node_gpus)

    def processes(self) -> list[ManagedProcess]:
        found = list(self.control_plane.processes) if self.control_plane else []
        found += [part.process for part in (self.kafka_broker, self.prometheus_server) if part is not None]
        found += self.real_node.processes if self.real_node else []
        return found + self.relays + (self.keda_install.processes if self.keda_install else [])

    def close(self) -> None:
        if self.real_node is not None:
            self.real_node.close()  # containers and kubelet first, while the apiserver still answers
        # Stop in reverse start order so clients go before the servers they talk to.
        for process in reversed(self.processes()):
            process.stop(grace=5)
        teardown_workdir(self.workdir)

    def describe(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir),
            "kubeconfig": str(self.kube_handle.kubeconfig) if self.kube_handle else None,
            "kube_server": self.kube_handle.server if self.kube_handle else None,
            "kafka_bootstrap": self.kafka_broker.bootstrap if self.kafka_broker else None,
            "prometheus_url": self.prometheus_server.url if self.prometheus_server else None,
            "kafka_bootstrap_from_pods": self.kafka_broker.bridge_bootstrap if self.kafka_broker else None,
            "apiserver_from_pods": self.apiserver_from_pods,
            "vault_url": self.vault_url,
            "vault_url_from_pods": self.vault_url_from_pods,
            "real_node": self.real_node.name if self.real_node else None,
            "bridge": self.bridge.name if self.bridge else None,
            "processes": {
                process.name: {"pid": process.pid, "log": str(process.log_path), "argv": process.argv}
                for process in self.processes()
            },
        }
