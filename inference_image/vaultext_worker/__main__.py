"""`vaultext-worker` (the Kafka worker, configured from the environment) and `vaultext-worker predict CLIP.mp4`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from vaultext_worker.config import DEFAULT_MODEL_PATH, ConfigError, ModelSettings, SamplingSettings, WorkerSettings
from vaultext_worker.models.protocol import Model
from vaultext_worker.runtime.health import Health, HealthServer, Metrics
from vaultext_worker.runtime.pipeline import Analyser
from vaultext_worker.runtime.sampling import SAMPLING_MODES

log = logging.getLogger("vaultext_worker")
ModelFactory = Callable[[ModelSettings], Model]
DEFAULT_FACTORY = "vaultext_worker.models.yolo:YoloOnnx"


def load_factory(spec: str) -> ModelFactory:
    """`module:callable` → the callable that builds the model from ModelSettings."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"VAULTEXT_MODEL_FACTORY={spec!r}; expected 'module:callable'")
    factory: ModelFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def run_worker(factory: ModelFactory | None = None, env: dict[str, str] | None = None) -> int:
    """Run the Kafka worker until SIGTERM/SIGINT. Images with their own model call this with their factory."""
    from vaultext_worker.runtime.consumer import Worker  # Kafka client only where the worker runs
    from vaultext_worker.runtime.share_consumer import ShareWorker
    from vaultext_worker.runtime.vault import VaultClient

    environment = dict(os.environ if env is None else env)
    try:
        settings = WorkerSettings.from_env(environment)
        factory = factory or load_factory(environment.get("VAULTEXT_MODEL_FACTORY", "") or DEFAULT_FACTORY)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the recording in hand, then exiting", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    metrics = Metrics()
    health = Health(stall_after_s=settings.kafka.max_poll_interval_ms / 1000)
    server = HealthServer(settings.metrics_host, settings.metrics_port, health, metrics).start()
    log.info("health and metrics on %s:%d", settings.metrics_host, server.port)
    vault = VaultClient(settings.vault, stopping=stopping)
    try:
        model = factory(settings.model)
        analyser = Analyser(model, settings.sampling, metrics.observe_stage, settings.model.batch_size)
        backoff = (max(settings.vault.backoff_s, 0.1), settings.vault.breaker_backoff_max_s)
        mode = ShareWorker if settings.kafka.consumption == "share" else Worker
        mode(settings.kafka, analyser, vault.download, metrics, health, stopping, backoff).run()
    except Exception as error:
        health.failed = f"{type(error).__name__}: {error}"
        log.exception("the worker stopped on an error")
        return 1
    finally:
        vault.close()
        server.stop()
    log.info("stopped cleanly")
    return 0


def predict(args: argparse.Namespace) -> int:
    from vaultext_worker.models.yolo import YoloOnnx

    settings = ModelSettings(
        path=str(args.model),
        classes=tuple(c.strip() for c in args.classes.split(",")) if args.classes else None,
        input_size=args.input_size,
        conf_threshold=args.conf,
        iou_threshold=args.iou,
    )
    sampling = SamplingSettings(mode=args.sampling, frames=args.frames, interval_s=args.interval)
    analyser = Analyser(YoloOnnx(settings), sampling)
    from vaultext_worker.runtime.errors import WorkerError

    try:
        data = analyser.analyse(Path(args.clip).read_bytes())
    except WorkerError as error:
        print(f"{error.reason}: {error.message}", file=sys.stderr)
        return 1
    json.dump(data, sys.stdout, indent=None if args.compact else 2)
    print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vaultext-worker", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="consume Kafka events (the default; configured from the environment)")
    local = commands.add_parser("predict", help="print the result data for a local clip")
    local.add_argument("clip", type=Path)
    local.add_argument("--model", type=Path, default=Path(os.environ.get("VAULTEXT_MODEL_PATH", DEFAULT_MODEL_PATH)))
    local.add_argument("--classes", help="comma-separated class names (default: from the model, else COCO)")
    local.add_argument("--input-size", type=int, default=None)
    local.add_argument("--frames", type=int, default=5)
    local.add_argument("--sampling", choices=SAMPLING_MODES, default="even")
    local.add_argument("--interval", type=float, default=1.0, help="seconds between frames for --sampling interval")
    local.add_argument("--conf", type=float, default=0.25)
    local.add_argument("--iou", type=float, default=0.45)
    local.add_argument("--compact", action="store_true", help="one line of JSON")
    args = parser.parse_args(argv)
    if args.command == "predict":
        return predict(args)
    return run_worker()


if __name__ == "__main__":
    sys.exit(main())
