"""A real Prometheus server on 127.0.0.1 whose scrape targets tests add at run time (file-based discovery)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from .binaries import ensure, progress
from .processes import ManagedProcess, free_port, start_with_free_ports

SCRAPE_INTERVAL = "1s"


def _config(targets_dir: Path) -> str:
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "scrape_configs": [
            {
                "job_name": "sandbox",
                "scrape_interval": SCRAPE_INTERVAL,
                "scrape_timeout": SCRAPE_INTERVAL,
                "file_sd_configs": [{"files": [f"{targets_dir}/*.json"], "refresh_interval": "1s"}],
            }
        ],
    }
    return yaml.safe_dump(config)


@dataclass
class Prometheus:
    workdir: Path
    url: str
    process: ManagedProcess

    @property
    def targets_dir(self) -> Path:
        return self.workdir / "targets"

    def add_target(self, job: str, address: str) -> None:
        """Scrape ``address`` (host:port on 127.0.0.1) every second under the label ``job``."""
        entry = [{"targets": [address], "labels": {"job": job}}]
        staging = self.targets_dir / f".{job}.tmp"
        staging.write_text(json.dumps(entry))
        staging.rename(self.targets_dir / f"{job}.json")  # atomic: discovery never reads half a file

    def remove_target(self, job: str) -> None:
        (self.targets_dir / f"{job}.json").unlink(missing_ok=True)

    def start(self) -> None:
        self.process.start()
        self.process.wait_until(self._ready, timeout=60, what="ready at /-/ready")
        progress(f"Prometheus ready at {self.url}")

    def stop(self) -> None:
        self.process.stop(grace=10)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


def start_prometheus(workdir: Path, detached: bool = False) -> Prometheus:
    return start_with_free_ports(lambda: _launch_prometheus(workdir, detached))


def _launch_prometheus(workdir: Path, detached: bool) -> Prometheus:
    binary = ensure("prometheus") / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "targets").mkdir(exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(workdir / "targets"))
    port = free_port()
    process = ManagedProcess(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--storage.tsdb.retention.time=2h",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        workdir / "prometheus.log",
        detached=detached,
    )
    prometheus = Prometheus(workdir, f"http://127.0.0.1:{port}", process)
    prometheus.start()
    return prometheus
