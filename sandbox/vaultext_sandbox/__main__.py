"""Command line: ``python -m vaultext_sandbox build|up|status|down|vault``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .binaries import COMPONENTS, cache_root, ensure_all, progress
from .errors import SandboxError
from .processes import ManagedProcess, free_port, pid_alive, terminate_group
from .sandbox import Sandbox
from .vault_standin import main as vault_main


def state_file() -> Path:
    configured = os.environ.get("VAULTEXT_SANDBOX_STATE")
    return Path(configured) if configured else cache_root() / "run" / "state.json"


def read_state() -> dict[str, Any] | None:
    path = state_file()
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def all_processes(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**state["processes"], **state.get("processes_extra", {})}


def running_pids(state: dict[str, Any]) -> dict[str, bool]:
    return {name: pid_alive(info["pid"]) for name, info in all_processes(state).items()}


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    names = args.components or list(COMPONENTS)
    unknown = sorted(set(names) - set(COMPONENTS))
    if unknown:
        print(f"unknown components {unknown}; choose from {list(COMPONENTS)}", file=sys.stderr)
        return 2
    for name, path in ensure_all(names).items():
        progress(f"{name}: {path}")
    progress(f"all binaries ready in {time.monotonic() - started:.1f} s")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    state = read_state()
    if state and any(running_pids(state).values()):
        print(f"the sandbox is already up (see `python -m vaultext_sandbox status`); state in {state_file()}",
              file=sys.stderr)
        return 1
    started = time.monotonic()
    sandbox = Sandbox(detached=True)
    try:
        sandbox.start(kafka=True, prometheus=args.with_prometheus)
        if args.gpu_nodes:
            sandbox.kube().add_gpu_nodes(args.gpu_nodes, gpus_per_node=args.gpus_per_node)
        described = sandbox.describe()
        if args.with_vault:
            described.update(start_vault(sandbox.workdir))
    except BaseException:
        sandbox.close()
        raise
    state_file().parent.mkdir(parents=True, exist_ok=True)
    state_file().write_text(json.dumps(described, indent=2))
    progress(f"sandbox up in {time.monotonic() - started:.1f} s")
    print(f"export KUBECONFIG={described['kubeconfig']}")
    print(f"export KAFKA_BROKER={described['kafka_bootstrap']}")
    if described["prometheus_url"]:
        print(f"export PROMETHEUS_URL={described['prometheus_url']}")
    if described.get("vault_url"):
        print(f"export VAULT_API_URL={described['vault_url']}")
    return 0


def start_vault(workdir: Path) -> dict[str, Any]:
    """Run the Vault stand-in detached; it serves files dropped under ``<workdir>/recordings/<provider>/<key>``."""
    port = free_port()
    recordings = workdir / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess(
        "vault-standin",
        [sys.executable, "-m", "vaultext_sandbox", "vault", "--port", str(port), "--recordings", str(recordings)],
        workdir / "vault.log",
        detached=True,
    )
    process.start()
    process.wait_until(lambda: "vault stand-in on" in process.log_path.read_text(), timeout=30, what="serving")
    return {
        "vault_url": f"http://127.0.0.1:{port}/api",
        "vault_recordings": str(recordings),
        "processes_extra": {"vault-standin": {"pid": process.pid, "log": str(process.log_path)}},
    }


def cmd_status(args: argparse.Namespace) -> int:
    state = read_state()
    if state is None:
        print(json.dumps({"up": False}) if args.json else "the sandbox is not up")
        return 1
    processes = all_processes(state)
    report = {
        "up": all(running_pids(state).values()),
        "kubeconfig": state["kubeconfig"],
        "kafka_bootstrap": state["kafka_bootstrap"],
        "prometheus_url": state["prometheus_url"],
        "vault_url": state.get("vault_url"),
        "workdir": state["workdir"],
        "processes": {
            name: {"pid": info["pid"], "log": info["log"], "running": pid_alive(info["pid"])}
            for name, info in processes.items()
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, info in report["processes"].items():
            print(f"{name:26} pid {info['pid']:>7}  {'running' if info['running'] else 'DEAD':8} {info['log']}")
    return 0 if report["up"] else 1


def cmd_down(_: argparse.Namespace) -> int:
    state = read_state()
    if state is None:
        print("the sandbox is not up", file=sys.stderr)
        return 0
    for name, info in reversed(list(all_processes(state).items())):
        terminate_group(info["pid"], grace=5)
        progress(f"stopped {name} (pid {info['pid']})")
    shutil.rmtree(state["workdir"], ignore_errors=True)
    state_file().unlink()
    return 0


def cmd_vault(args: argparse.Namespace) -> int:
    return vault_main(args.vault_args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m vaultext_sandbox", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build and cache every binary (or the named ones)")
    build.add_argument("components", nargs="*", metavar="COMPONENT", help=f"any of {', '.join(COMPONENTS)}")
    build.set_defaults(run=cmd_build)
    up = commands.add_parser("up", help="start the sandbox in the background and print its addresses")
    up.add_argument("--gpu-nodes", type=int, default=2, help="fake GPU nodes to create (default 2)")
    up.add_argument("--gpus-per-node", type=int, default=1)
    up.add_argument("--with-prometheus", action="store_true")
    up.add_argument("--with-vault", action="store_true", help="also start the Vault stand-in")
    up.set_defaults(run=cmd_up)
    status = commands.add_parser("status", help="where everything runs; exit 1 when the sandbox is not up")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)
    down = commands.add_parser("down", help="stop every process the sandbox started and remove its files")
    down.set_defaults(run=cmd_down)
    vault = commands.add_parser("vault", help="run the Vault stand-in in the foreground", add_help=False)
    vault.add_argument("vault_args", nargs=argparse.REMAINDER)
    vault.set_defaults(run=cmd_vault)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vault"]:
        return vault_main(argv[1:])  # the stand-in parses its own options
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except SandboxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
