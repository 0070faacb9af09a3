"""A real node leaves nothing behind: not after `close()`, and not after its owner was killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vaultext_sandbox.node.network import sandbox_bridges
from vaultext_sandbox.node.real_node import CGROUP_FS, NOT_ROOT, require_root
from vaultext_sandbox.sandbox import sweep_stale_workdirs

OWNER = textwrap.dedent("""
    import json, time
    from kubernetes import client
    from vaultext_sandbox import Sandbox
    from vaultext_sandbox.node.pause_image import PAUSE_IMAGE
    from vaultext_sandbox.node.real_node import REAL_NODE_TOLERATION

    sandbox = Sandbox()
    sandbox.start(kafka=False, real_node_gpus=1)
    node = sandbox.node()
    core = client.CoreV1Api(sandbox.kube().api)
    core.create_namespaced_pod("default", {"metadata": {"name": "holder"}, "spec": {
        "nodeName": node.name, "tolerations": [REAL_NODE_TOLERATION],
        "containers": [{"name": "pause", "image": PAUSE_IMAGE, "imagePullPolicy": "Never"}]}})
    while core.read_namespaced_pod("holder", "default").status.phase != "Running":
        time.sleep(0.5)
    state = json.loads((sandbox.workdir / "node" / "node.json").read_text())
    print(json.dumps({"workdir": str(sandbox.workdir), **state}), flush=True)
    time.sleep(600)
""")


def _leftovers(workdir: str, bridge: str, cgroup_root: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and workdir.encode() in (entry / "cmdline").read_bytes():
                found.append(f"process {entry.name}")
        except OSError:
            continue
    found += [f"mount {line.split()[4]}" for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(workdir)]
    found += [f"bridge {bridge}"] if bridge in sandbox_bridges() else []
    found += [f"cgroup {path}" for path in CGROUP_FS.glob(f"*/{cgroup_root.lstrip('/')}")]
    found += [f"folder {workdir}"] if Path(workdir).exists() else []
    return found


@pytest.mark.node
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT)
def test_a_killed_owner_leaves_nothing_after_the_next_sweep() -> None:
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()
        state = json.loads(line)
        running = _leftovers(state["workdir"], state["bridge"], state["cgroup_root"])
        # Before the sweep there is something to clean up: processes (the pod's), mounts and the bridge.
        assert any(item.startswith("process") for item in running), running
        assert any(item.startswith("mount") for item in running), running
        assert f"bridge {state['bridge']}" in running
    finally:
        os.killpg(owner.pid, signal.SIGKILL)
        owner.wait()
    swept = sweep_stale_workdirs()
    assert Path(state["workdir"]) in swept
    assert _leftovers(state["workdir"], state["bridge"], state["cgroup_root"]) == []


def test_without_root_a_real_node_is_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(Exception, match="needs root"):
        require_root()
