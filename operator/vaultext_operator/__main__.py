"""Command line: `python -m vaultext_operator run | generate-crd | explain-scaling`.

Each subcommand is one entry of `SUBCOMMANDS` (name -> (add its arguments, run it)); add one there.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .settings import OperatorSettings

REPOSITORY = Path(__file__).resolve().parents[2]


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable)")
    parser.add_argument("--all-namespaces", "-A", action="store_true", help="watch the whole cluster")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="operator log level")


def _run(args: argparse.Namespace) -> int:
    import kopf  # imported here so `generate-crd` works without a cluster library set up

    from . import handlers, kube
    from .logs import tame_client_loggers

    overrides: dict[str, object] = {}
    if args.namespace:
        overrides["namespaces"] = ",".join(args.namespace)
    elif args.all_namespaces:
        overrides["namespaces"] = ""
    if args.log_level:
        overrides["log_level"] = args.log_level
    settings = OperatorSettings().model_copy(update=overrides)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tame_client_loggers()
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it too
    kube.use_kubeconfig(args.kubeconfig)
    namespaces = settings.watched_namespaces()
    logging.getLogger(__name__).info("handlers from %s; watching %s", handlers.__name__, namespaces or "all")
    # kopf runs the process only (the watches are the runtime's, in `namespaces`): nothing for it to scan
    kopf.run(standalone=True, clusterwide=True, memo=kopf.Memo(settings=settings))
    return 0


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--crds", type=Path, default=REPOSITORY / "crds", help="folder of the CRD file")
    parser.add_argument("--samples", type=Path, default=REPOSITORY / "manifests" / "samples", help="samples folder")
    parser.add_argument("--chart-crds", type=Path, default=REPOSITORY / "charts" / "vaultext" / "crds",
                        help="the Helm chart's CRD folder (gets the same CRD)")
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")


def _generate(args: argparse.Namespace) -> int:
    from . import crdgen

    if args.check:
        stale = crdgen.stale_files(args.crds, args.samples, args.chart_crds)
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in crdgen.write_files(args.crds, args.samples, args.chart_crds):
        print(path)
    return 0


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "reads one JSON object on stdin, prints the decision as JSON (see README: why did it scale?)"


def _explain(args: argparse.Namespace) -> int:
    from .scaling.explain import run

    return run(sys.stdin, sys.stdout, sys.stderr)


Subcommand = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
SUBCOMMANDS: dict[str, Subcommand] = {
    "run": ("run the operator against the current cluster", _run_arguments, _run),
    "generate-crd": ("write crds/, the chart's crds/ and manifests/samples/ from the API models",
                     _generate_arguments, _generate),
    "explain-scaling": ("run the scaling policy on a JSON snapshot from stdin", _explain_arguments, _explain),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vaultext-operator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (description, add_arguments, _) in SUBCOMMANDS.items():
        add_arguments(commands.add_parser(name, help=description, description=description))
    args = parser.parse_args(argv)
    return SUBCOMMANDS[args.command][2](args)


if __name__ == "__main__":
    sys.exit(main())
