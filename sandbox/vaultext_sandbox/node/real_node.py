"""Start a real node (containerd + kubelet on the sandbox bridge) and take down everything it made, even after a
SIGKILL of its owner: processes, containers, mounts, cgroups, the bridge and the folder."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from ..binaries import ensure, progress
from ..errors import StartupError
from ..kube import DEFAULT_GPU_PRODUCT, GPU_RESOURCE, Kube
from ..processes import ManagedProcess, free_port
from .configs import containerd_config, kubelet_config
from .network import Bridge, cni_config, delete_bridge
from .pause_image import write_pause_archive

NODE_STATE = "node.json"
REAL_NODE_TAINT = "vaultext.sandbox/real-node"
REAL_NODE_TOLERATION = {"key": REAL_NODE_TAINT, "operator": "Exists", "effect": "NoSchedule"}
CGROUP_FS = Path("/sys/fs/cgroup")
CNI_RESULTS = Path("/var/lib/cni/results")
CONTAINER_LOG_LINKS = Path("/var/log/containers")


NOT_ROOT = "a real node needs root (kubelet, containerd and runc manage mounts, cgroups and network namespaces)"


def require_root() -> None:
    if os.geteuid() != 0:
        raise StartupError(f"{NOT_ROOT}; run as root or leave out --real-node")


@dataclass
class RealNode:
    workdir: Path
    name: str
    bridge: Bridge
    gpus: int
    socket: Path
    containerd: ManagedProcess
    kubelet: ManagedProcess

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.containerd, self.kubelet]

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return ctr(self.workdir, *args)

    def import_image(self, archive: Path) -> None:
        ctr_import(self.workdir, archive)

    def images(self) -> set[str]:
        return {line.split()[0] for line in self.ctr("images", "ls", "-q").stdout.splitlines() if line.strip()}

    def close(self) -> None:
        self.kubelet.stop(grace=5)
        teardown_node(self.workdir)


def ctr(workdir: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """containerd's own client, on the node's socket and the Kubernetes namespace of images and containers."""
    socket = workdir / "containerd" / "containerd.sock"
    binary = ensure("node-runtime") / "ctr"
    completed = subprocess.run([str(binary), "--address", str(socket), "--namespace", "k8s.io", *args],
                               capture_output=True, text=True, check=False, timeout=timeout)
    if completed.returncode != 0:
        raise StartupError(f"ctr {' '.join(args)} failed: {completed.stderr.strip()[-2000:]}")
    return completed


def ctr_import(workdir: Path, archive: Path) -> None:
    progress(f"importing {archive.name} into the node's containerd")
    ctr(workdir, "images", "import", str(archive))


def _write_state(workdir: Path, bridge: Bridge, cgroup_root: str) -> None:
    state = {"bridge": bridge.name, "subnet": str(bridge.subnet), "cgroup_root": cgroup_root,
             "cni_network": f"vaultext-{bridge.name}"}
    (workdir / NODE_STATE).write_text(json.dumps(state))


def _make_cgroup_root(cgroup_root: str) -> None:
    """The kubelet expects its cgroup root in every hierarchy (it does not make it without QoS cgroups)."""
    for hierarchy in CGROUP_FS.iterdir() if CGROUP_FS.exists() else []:
        if not (hierarchy / "cgroup.procs").exists():
            continue
        top = hierarchy / cgroup_root.lstrip("/")
        top.mkdir(exist_ok=True)
        for inherited in ("cpuset.cpus", "cpuset.mems"):  # an empty cpuset admits no process
            if (top / inherited).exists() and not (top / inherited).read_text().strip():
                (top / inherited).write_text((hierarchy / inherited).read_text())


def start_real_node(workdir: Path, kube: Kube, bridge: Bridge, gpus: int, detached: bool = False) -> RealNode:
    """Start containerd and the kubelet; wait until the node is Ready and advertises ``gpus`` GPUs."""
    require_root()
    binaries = ensure("node-runtime")
    kubelet_binary = ensure("kubelet") / "kubelet"
    workdir.mkdir(parents=True, exist_ok=True)
    cgroup_root = f"/vaultext-{bridge.name}"
    _write_state(workdir, bridge, cgroup_root)
    _make_cgroup_root(cgroup_root)
    containerd_root = workdir / "containerd"
    cni_dir = workdir / "cni"
    cni_dir.mkdir(parents=True, exist_ok=True)
    network = cni_config(bridge)
    network["name"] = f"vaultext-{bridge.name}"
    network["plugins"][0]["ipam"]["dataDir"] = str(cni_dir / "ipam")  # type: ignore[index]
    (cni_dir / "10-vaultext.conflist").write_text(json.dumps(network, indent=2))
    config = workdir / "containerd.toml"
    config.write_text(containerd_config(containerd_root, binaries, cni_dir))
    socket = containerd_root / "containerd.sock"
    logs = workdir / "logs"
    env = {"PATH": f"{binaries}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    containerd = ManagedProcess("containerd", [str(binaries / "containerd"), "--config", str(config)],
                                logs / "containerd.log", env=env, detached=detached)
    containerd.start()
    name = f"node-{secrets.token_hex(3)}"
    node = RealNode(workdir, name, bridge, gpus, socket, containerd,
                    ManagedProcess("kubelet", [], logs / "kubelet.log", detached=detached))
    try:
        containerd.wait_until(socket.exists, timeout=60, what="listening on its socket")
        node.import_image(write_pause_archive(binaries / "pause", workdir / "pause.tar"))
        port, healthz = free_port(), free_port()
        kubelet_yaml = workdir / "kubelet.yaml"
        kubelet_yaml.write_text(yaml.safe_dump(
            kubelet_config(workdir, bridge, socket, port, healthz, cgroup_root)))
        labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": DEFAULT_GPU_PRODUCT,
                  "nvidia.com/gpu.count": str(gpus), "vaultext.sandbox/real-node": "true"}
        node.kubelet.argv = [
            str(kubelet_binary), f"--config={kubelet_yaml}", f"--kubeconfig={kube.kubeconfig}",
            f"--root-dir={workdir / 'kubelet'}", f"--cert-dir={workdir / 'kubelet-pki'}",
            f"--node-ip={bridge.gateway}", f"--hostname-override={name}",
            f"--node-labels={','.join(f'{key}={value}' for key, value in labels.items())}",
            # Only pods that ask for the real node land on it: the sandbox's fake-node tests keep their own cluster.
            f"--register-with-taints={REAL_NODE_TAINT}=true:NoSchedule", "--v=1",
        ]
        node.kubelet.env = env
        node.kubelet.start()
        _wait_ready(kube, node)
        if gpus:
            advertise_gpus(kube, name, gpus)
    except BaseException:
        node.close()
        raise
    progress(f"real node {name} Ready on {bridge.gateway} ({gpus} x {GPU_RESOURCE})")
    return node


def _wait_ready(kube: Kube, node: RealNode, timeout: float = 120) -> None:
    core = client.CoreV1Api(kube.api)

    def ready() -> bool:
        try:
            status = core.read_node_status(node.name).status
        except client.ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])

    node.kubelet.wait_until(ready, timeout=timeout, what=f"reporting node {node.name} Ready")


def advertise_gpus(kube: Kube, name: str, gpus: int) -> None:
    """An extended resource in the node's status, the way a device plugin would report it (the kubelet keeps it)."""
    body = [{"op": "add", "path": f"/status/capacity/{GPU_RESOURCE.replace('/', '~1')}", "value": str(gpus)}]
    client.CoreV1Api(kube.api).patch_node_status(name, body)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        allocatable = client.CoreV1Api(kube.api).read_node(name).status.allocatable or {}
        if allocatable.get(GPU_RESOURCE) == str(gpus):
            return
        time.sleep(0.2)
    raise StartupError(f"node {name} did not report {gpus} {GPU_RESOURCE} as allocatable")


def _mentions(pid: str, marker: str) -> bool:
    try:
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


def node_cgroups(workdir: Path, cgroup_root: str) -> list[Path]:
    """Every cgroup of the node in every hierarchy: its root, and the per-container ones containerd makes under
    ``/k8s.io/<id>`` for pod sandboxes (ids read from containerd's state folder, so this works after a crash)."""
    relative = [cgroup_root.lstrip("/")]
    tasks = workdir / "containerd" / "run" / "io.containerd.runtime.v2.task" / "k8s.io"
    relative += [f"k8s.io/{task.name}" for task in tasks.iterdir()] if tasks.is_dir() else []
    hierarchies = list(CGROUP_FS.iterdir()) if CGROUP_FS.exists() else []
    return [hierarchy / path for hierarchy in hierarchies for path in relative if (hierarchy / path).is_dir()]


def _cgroup_pids(cgroups: list[Path]) -> set[int]:
    pids: set[int] = set()
    for top in cgroups:
        for procs in top.rglob("cgroup.procs"):
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except OSError:
                continue
    return pids


def _remove_cgroups(cgroups: list[Path]) -> None:
    for top in cgroups:
        inner = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for directory in [*inner, top]:
            with contextlib.suppress(FileNotFoundError):
                directory.rmdir()
        parent = top.parent
        with contextlib.suppress(FileNotFoundError, OSError):  # gone already, or another node's containers remain
            if parent.name == "k8s.io" and not any(p.is_dir() for p in parent.iterdir()):
                parent.rmdir()  # containerd's namespace folder, once the last of ours is gone


def _mounts_under(folder: Path) -> list[str]:
    prefix = str(folder.resolve())
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            mounts.append(point)
    return sorted(set(mounts), key=len, reverse=True)


def teardown_node(workdir: Path) -> None:
    """Kill the node's processes and containers, unmount, remove its cgroups, bridge, CNI leftovers and folder."""
    state_file = workdir / NODE_STATE
    state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.exists() else {}
    marker = f"{workdir.resolve()}/"
    cgroups = node_cgroups(workdir, state["cgroup_root"]) if state else []
    for _ in range(3):  # containers (their cgroups), kubelet, containerd and shims (their command lines)
        victims = _cgroup_pids(cgroups)
        victims |= {int(entry.name) for entry in Path("/proc").iterdir()
                    if entry.name.isdigit() and _mentions(entry.name, marker)}
        victims.discard(os.getpid())
        if not victims:
            break
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        time.sleep(0.5)
    for point in _mounts_under(workdir):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    _remove_cgroups(cgroups)
    if state:
        delete_bridge(state["bridge"])
        for leftover in CNI_RESULTS.glob(f"{state['cni_network']}-*") if CNI_RESULTS.exists() else []:
            leftover.unlink()
    for link in CONTAINER_LOG_LINKS.glob("*.log") if CONTAINER_LOG_LINKS.exists() else []:
        if link.is_symlink() and str(link.readlink()).startswith(marker):
            link.unlink()
    shutil.rmtree(workdir, ignore_errors=True)
