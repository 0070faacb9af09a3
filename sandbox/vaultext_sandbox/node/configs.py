"""Configuration files of the real node: containerd's, the kubelet's and the CNI network's (pure functions)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .network import Bridge
from .pause_image import PAUSE_IMAGE


def containerd_config(root: Path, binaries: Path, cni_conf_dir: Path) -> str:
    """Everything under ``root``; cgroupfs; oom_score_adj clamped (runc fails without it in a container)."""
    cri_runtime = "plugins.'io.containerd.cri.v1.runtime'"
    return f"""version = 3
root = '{root / "lib"}'
state = '{root / "run"}'

[grpc]
  address = '{root / "containerd.sock"}'

[ttrpc]
  address = '{root / "containerd.sock.ttrpc"}'

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{PAUSE_IMAGE}'

[{cri_runtime}]
  enable_selinux = false
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [{cri_runtime}.containerd]
    default_runtime_name = 'runc'
    [{cri_runtime}.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [{cri_runtime}.containerd.runtimes.runc.options]
        BinaryName = '{binaries / "runc"}'
        SystemdCgroup = false
  [{cri_runtime}.cni]
    bin_dirs = ['{binaries / "cni"}']
    conf_dir = '{cni_conf_dir}'
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.internal.v1.opt']
  path = '{root / "opt"}'

[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = '{root / "image-verifier"}'
"""


def kubelet_config(
    root: Path, bridge: Bridge, socket: Path, port: int, healthz_port: int, cgroup_root: str
) -> dict[str, Any]:
    """A kubelet that runs inside a container-like host: cgroup v1 via cgroupfs, no QoS cgroups, no swap check,
    no iptables chains, no host DNS handed to pods (they address the sandbox by IP)."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": bridge.gateway,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "cgroupRoot": cgroup_root,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "failCgroupV1": False,
        "makeIPTablesUtilChains": False,
        "hairpinMode": "none",
        "resolvConf": "",
        "containerRuntimeEndpoint": f"unix://{socket}",
        "podLogsDir": str(root / "pod-logs"),
        "serializeImagePulls": False,
        "registerNode": True,
        "nodeStatusUpdateFrequency": "4s",
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        # The host's disk is shared and often busy: do not evict the sandbox's pods over it.
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "localStorageCapacityIsolation": True,
        "featureGates": {},
    }
