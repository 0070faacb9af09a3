"""The worker starts from a fresh virtual environment installed exactly as the images install it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vaultext_sandbox import Kafka
from vaultext_sandbox.vault_standin import VaultStandIn

from .conftest import LONG
from .kafka_worker import WorkerProcess, produce
from .messages import encoded, vault_event

pytestmark = pytest.mark.slow
INSTALL = Path(__file__).resolve().parents[2] / "inference_image" / "install.sh"


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("image") / "venv"
    done = subprocess.run(
        [str(INSTALL), str(venv), "cpu"],
        env={"PYTHON": sys.base_prefix + "/bin/python3", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv


def test_the_image_environment_holds_only_the_worker(image_venv: Path) -> None:
    listed = subprocess.run([str(image_venv / "bin" / "pip"), "list", "--format=json"], capture_output=True, check=True)
    names = {package["name"].lower() for package in json.loads(listed.stdout)}
    assert {"vaultext-worker", "onnxruntime", "av", "confluent-kafka", "httpx", "numpy"} <= names
    assert not names & {"vaultext", "kopf", "kubernetes", "pydantic", "onnx", "pytest", "onnxruntime-gpu"}
    for module in ("vaultext_operator", "vaultext_sandbox"):
        found = subprocess.run([str(image_venv / "bin" / "python"), "-c", f"import {module}"], capture_output=True)
        assert found.returncode != 0


def test_predict_from_the_image_environment(image_venv: Path, detector: Path, long_clip: bytes, tmp_path: Path) -> None:
    clip = tmp_path / "clip with spaces.mp4"
    clip.write_bytes(long_clip)
    done = subprocess.run(
        [str(image_venv / "bin" / "vaultext-worker"), "predict", "--model", str(detector), "--compact", str(clip)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["frameTimes"] == [0.0, 2.0, 4.0, 6.0, 8.0] and data["sampling"]["plan"] == "keyframes"
    for time, labels, boxes in zip(data["frameTimes"], data["labels"], data["boxes"], strict=True):
        truth = LONG.boxes_at(time)
        for label, box in zip(labels, boxes, strict=True):
            assert np.abs(np.array(box) - np.array(truth[label])).max() <= 3


@pytest.mark.kafka
def test_worker_from_the_image_environment_consumes_and_stops_on_sigterm(
    image_venv: Path, kafka: Kafka, vault: VaultStandIn, detector: Path, long_clip: bytes, tmp_path: Path
) -> None:
    command = (str(image_venv / "bin" / "vaultext-worker"),)
    worker = WorkerProcess(kafka.bootstrap, vault, detector, tmp_path, command=command)
    worker.create_topics()
    vault.put("storj", "cam/one.mp4", long_clip)
    produce(kafka.bootstrap, worker.topic, [encoded(vault_event("cam/one.mp4"))])
    try:
        worker.start()
        results = worker.results(1, timeout_s=60)
        assert [r["payload"]["key"] for r in results] == ["cam/one.mp4"], worker.log()
        worker.signal(signal.SIGTERM)
        assert worker.wait(30) == 0, worker.log()
    finally:
        worker.stop()
    assert worker.lag() == 0
