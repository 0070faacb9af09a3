"""``python -m vaultext_sandbox demo``: the whole loop for a newcomer in one command.

A sandbox with a real node, the project's images, the operator in a pod, one VaultExtension on the worker image,
and simulated Kerberos agents uploading recordings (a steady trickle with a burst). A live table while it runs, an
HTML report with a plot afterwards; ``--events N --json`` runs one burst to completion and prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from .binaries import cache_root, progress
from .loop import PROVIDER, Extension, Observer, Sample, install_operator, wait_for
from .node.real_node import NOT_ROOT
from .project_images import build_project_images
from .report import write_report
from .sandbox import Sandbox
from .state import write_state
from .vault_standin import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY

DEMO_GPUS = 4
AGENT_SECONDS, AGENT_RATE, AGENT_BURST = 120, 1.0, 80  # two minutes of one recording a second, a burst of 80
AGENT_RECORDINGS = int(AGENT_SECONDS * AGENT_RATE) + AGENT_BURST + 10


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=None,
                        help="one burst of N events run to completion (default: about two minutes of agents)")
    parser.add_argument("--json", action="store_true", help="print one JSON summary instead of the live table")
    parser.add_argument("--keep", action="store_true", help="leave the sandbox up afterwards (`status`, `down`)")
    parser.add_argument("--report", type=Path, default=None, help="where to write the HTML report")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for every result")


class Agents:
    """Simulated Kerberos agents: each upload stores a recording where the Vault stand-in serves it, then the
    extension publishes the Vault event for it."""

    def __init__(self, extension: Extension, stored: list[str], seconds: float, rate: float, burst: int) -> None:
        self.extension, self.seconds, self.rate, self.burst = extension, seconds, rate, burst
        self.stored = stored  # recordings already in the Vault stand-in, published as the agents "upload" them
        self.started = time.monotonic()
        self.sent = 0
        self.burst_sent = False

    def step(self) -> None:
        elapsed = time.monotonic() - self.started
        if elapsed > self.seconds:
            return
        due = int(elapsed * self.rate) - self.sent
        if not self.burst_sent and elapsed > self.seconds / 4:
            due += self.burst
            self.burst_sent = True
        if due > 0:
            self.sent += len(self.extension.publish(self.stored[self.sent:self.sent + due]))

    @property
    def done(self) -> bool:
        return time.monotonic() - self.started > self.seconds


def _table_line(sample: Sample, previous: Sample | None) -> str:
    rate = 0.0
    if previous is not None and sample.seconds > previous.seconds:
        rate = (sample.results - previous.results) / (sample.seconds - previous.seconds)
    return (f"{sample.seconds:7.1f} s  lag {sample.lag:5d}  replicas {sample.replicas:2d} ({sample.ready} ready)  "
            f"results {sample.results:5d}  {rate:5.1f}/s  dead letters {sample.dead_letters}")


def run_demo(args: argparse.Namespace) -> int:
    if os.geteuid() != 0:
        print(f"error: the demo runs a real node; {NOT_ROOT}", file=sys.stderr)
        return 2
    started = time.monotonic()
    sandbox = Sandbox(detached=args.keep)
    quiet = args.json
    try:
        sandbox.start(kafka=True, prometheus=True, real_node_gpus=DEMO_GPUS)
        node = sandbox.node()
        progress(f"Prometheus at {sandbox.prometheus().url} scrapes the operator and worker pods "
                 "(queries: dashboards/vaultext.json)")
        images = build_project_images()
        for image in images.values():
            node.import_image(image.archive)
        recordings = sandbox.workdir / "recordings"

        def store(key: str, data: bytes) -> None:
            path = recordings / PROVIDER / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        extension = Extension(sandbox, (DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY), store,
                              f"demo-{uuid.uuid4().hex[:6]}", "yolo", images["vaultext-worker"].reference)
        # Every recording the run will need is stored before the stand-in starts serving the folder.
        stored = extension.prepare(args.events if args.events is not None else AGENT_RECORDINGS)
        sandbox.vault_process(recordings)
        assert sandbox.vault_url_from_pods is not None
        install_operator(sandbox, images["vaultext-operator"].reference, sandbox.vault_url_from_pods)
        summary = _run(extension, stored, args, quiet)
        summary["seconds"] = round(time.monotonic() - started, 1)
        if args.keep:
            write_state(sandbox.describe())
    except BaseException:
        sandbox.close()
        raise
    if not args.keep:
        sandbox.close()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"report: {summary['report']}")
    ok = summary["results"] >= summary["events"] and summary["deadLetters"] == 0
    return 0 if ok else 1


def _run(extension: Extension, stored: list[str], args: argparse.Namespace, quiet: bool) -> dict[str, Any]:
    extension.create()
    wait_for(extension.ready, 180, "the extension Ready")
    observer = Observer(extension)
    previous: list[Sample] = []

    def show(sample: Sample) -> None:
        if not quiet:
            print(_table_line(sample, previous[-1] if previous else None), flush=True)
        previous.append(sample)

    try:
        if args.events is not None:
            extension.publish(stored)
            target = args.events
            observer.run_until(lambda s: s.results >= target and s.lag == 0, args.timeout, show)
        else:
            agents = Agents(extension, stored, seconds=AGENT_SECONDS, rate=AGENT_RATE, burst=AGENT_BURST)
            if not quiet:
                progress("simulated agents upload for about two minutes, with a burst after 30 s")

            def finished(sample: Sample) -> bool:
                agents.step()
                return agents.done and sample.results >= agents.sent and sample.lag == 0

            observer.run_until(finished, AGENT_SECONDS + args.timeout, show)
            target = agents.sent
        final = observer.sample()
    finally:
        observer.close()
    report = args.report or cache_root() / "demo" / f"report-{extension.namespace}.html"
    write_report(report, extension, observer.samples)
    return {
        "namespace": extension.namespace, "extension": extension.name, "inputTopic": extension.input_topic,
        "outputTopic": extension.output_topic, "events": target, "results": final.results,
        "deadLetters": final.dead_letters, "maxReplicas": max(s.replicas for s in observer.samples),
        "finalReplicas": final.replicas, "workerNodes": sorted(observer.worker_nodes),
        "report": str(report),
    }
