"""Command line: ``python -m vaultext_sandbox build|up|status|down|vault``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from .binaries import COMPONENTS, KEDA_VERSION, OPTIONAL_COMPONENTS, ensure_all, progress
from .demo import add_demo_arguments, run_demo
from .errors import SandboxError
from .node.real_node import RealNode, ctr_import
from .processes import pid_alive, terminate_group
from .project_images import build_project_images
from .relay import main as relay_main
from .sandbox import Sandbox, teardown_workdir
from .state import read_state, state_file, write_state
from .vault_standin import main as vault_main

# `python -m vaultext_operator run` on this host serves /metrics at its default address (VAULTEXT_OPERATOR_METRICS_*).
OPERATOR_OUTSIDE_JOB, OPERATOR_OUTSIDE_METRICS = "operator-outside", "127.0.0.1:8082"


def all_processes(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {**state["processes"], **state.get("processes_extra", {})}


def running_pids(state: dict[str, Any]) -> dict[str, bool]:
    return {name: pid_alive(info["pid"]) for name, info in all_processes(state).items()}


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    names = args.components or list(COMPONENTS)
    names += ["keda"] if args.with_keda and "keda" not in names else []
    known = [*COMPONENTS, *OPTIONAL_COMPONENTS]
    unknown = sorted(set(names) - set(known))
    if unknown:
        print(f"unknown components {unknown}; choose from {known}", file=sys.stderr)
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
        sandbox.start(kafka=True, prometheus=args.with_prometheus,
                      real_node_gpus=args.real_node_gpus if args.real_node else None)
        gpu_nodes = args.gpu_nodes if args.gpu_nodes is not None else (0 if args.real_node else 2)
        if gpu_nodes:
            sandbox.kube().add_gpu_nodes(gpu_nodes, gpus_per_node=args.gpus_per_node)
        images = load_images(sandbox.node()) if args.real_node else {}
        if args.with_vault:
            sandbox.vault_process(sandbox.workdir / "recordings")
        if args.with_prometheus:
            # an operator run by hand on this host serves /metrics here by default (docs/operator.md)
            sandbox.prometheus().add_target(OPERATOR_OUTSIDE_JOB, OPERATOR_OUTSIDE_METRICS)
        described = {**sandbox.describe(), "images": images}
    except BaseException:
        sandbox.close()
        raise
    write_state(described)
    progress(f"sandbox up in {time.monotonic() - started:.1f} s")
    print(f"export KUBECONFIG={described['kubeconfig']}")
    print(f"export KAFKA_BROKER={described['kafka_bootstrap']}")
    if described["prometheus_url"]:
        print(f"export PROMETHEUS_URL={described['prometheus_url']}")
        print(f"# Prometheus scrapes the project's pods on the real node, and an operator run on this host at "
              f"{OPERATOR_OUTSIDE_METRICS}")
    if described.get("vault_url"):
        print(f"export VAULT_API_URL={described['vault_url']}")
    for name, reference in images.items():
        print(f"# image {name}: {reference}")
    return 0


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
        "real_node": state.get("real_node"),
        "bridge": state.get("bridge"),
        "from_pods": {"kafka_bootstrap": state.get("kafka_bootstrap_from_pods"),
                      "apiserver": state.get("apiserver_from_pods"), "vault_url": state.get("vault_url_from_pods")},
        "images": state.get("images", {}),
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
    teardown_workdir(Path(state["workdir"]))  # a real node's containers, mounts, cgroups and bridge too
    state_file().unlink()
    return 0


def load_images(node: RealNode) -> dict[str, str]:
    """Build (or reuse) the project's images and import them into the real node's containerd."""
    loaded = {}
    for name, image in build_project_images().items():
        node.import_image(image.archive)
        loaded[name] = image.reference
    return loaded


def cmd_images(_: argparse.Namespace) -> int:
    """Build both images; when a sandbox with a real node is up, load them into its containerd too."""
    built = build_project_images()
    state = read_state()
    if state and state.get("real_node") and any(running_pids(state).values()):
        node_dir = Path(state["workdir"]) / "node"
        for image in built.values():
            ctr_import(node_dir, image.archive)
        progress(f"loaded into the containerd of node {state['real_node']}")
    for name, image in built.items():
        print(f"{name} {image.reference} {image.archive}")
    return 0


def cmd_vault(args: argparse.Namespace) -> int:
    return vault_main(args.vault_args)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m vaultext_sandbox", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build and cache every binary (or the named ones)")
    build.add_argument("components", nargs="*", metavar="COMPONENT",
                       help=f"any of {', '.join([*COMPONENTS, *OPTIONAL_COMPONENTS])} (default: all but the optional "
                            f"{', '.join(OPTIONAL_COMPONENTS)})")
    build.add_argument("--with-keda", action="store_true",
                       help=f"also build KEDA {KEDA_VERSION} (operator, metrics adapter, CRDs) for bench/keda")
    build.set_defaults(run=cmd_build)
    up = commands.add_parser("up", help="start the sandbox in the background and print its addresses")
    up.add_argument("--gpu-nodes", type=int, default=None,
                    help="fake GPU nodes to create (default 2, or 0 with --real-node)")
    up.add_argument("--real-node", action="store_true",
                    help="also run a real node (kubelet, containerd; needs root) and load the project's images into it")
    up.add_argument("--real-node-gpus", type=int, default=4, help="GPUs the real node advertises (default 4)")
    up.add_argument("--gpus-per-node", type=int, default=1)
    up.add_argument("--with-prometheus", action="store_true")
    up.add_argument("--with-vault", action="store_true", help="also start the Vault stand-in")
    up.set_defaults(run=cmd_up)
    status = commands.add_parser("status", help="where everything runs; exit 1 when the sandbox is not up")
    status.add_argument("--json", action="store_true")
    status.set_defaults(run=cmd_status)
    down = commands.add_parser("down", help="stop every process the sandbox started and remove its files")
    down.set_defaults(run=cmd_down)
    images = commands.add_parser("images", help="build the operator and worker images (cached by content hash)")
    images.set_defaults(run=cmd_images)
    demo = commands.add_parser("demo", help="the whole loop on a real node, with a live table and an HTML report")
    add_demo_arguments(demo)
    demo.set_defaults(run=run_demo)
    vault = commands.add_parser("vault", help="run the Vault stand-in in the foreground", add_help=False)
    vault.add_argument("vault_args", nargs=argparse.REMAINDER)
    vault.set_defaults(run=cmd_vault)
    return root


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["vault"]:
        return vault_main(argv[1:])  # the stand-in parses its own options
    if argv[:1] == ["relay"]:
        return relay_main(argv[1:])
    args = parser().parse_args(argv)
    try:
        result: int = args.run(args)
    except SandboxError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
