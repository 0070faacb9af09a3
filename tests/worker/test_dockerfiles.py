"""What the images promise, checked on the Dockerfiles themselves (no Docker daemon needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

IMAGE_DIR = Path(__file__).resolve().parents[2] / "inference_image"


def final_stage(dockerfile: Path) -> list[str]:
    lines = [line.strip() for line in dockerfile.read_text().splitlines()]
    starts = [index for index, line in enumerate(lines) if line.startswith("FROM ")]
    return lines[starts[-1] :]


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_image_runs_the_worker_as_non_root_with_a_baked_model(name: str) -> None:
    text = (IMAGE_DIR / name).read_text()
    stage = final_stage(IMAGE_DIR / name)
    users = [line for line in stage if line.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0", "USER 0:0")
    assert 'ENTRYPOINT ["vaultext-worker"]' in stage
    assert "ARG MODEL=model.onnx" in stage
    assert any(re.match(r"COPY .*\$\{MODEL\} /opt/vaultext/model.onnx$", line) for line in stage)
    assert "VAULTEXT_MODEL_PATH=/opt/vaultext/model.onnx" in text
    assert "VAULTEXT_METRICS_HOST=0.0.0.0" in text  # probes reach the pod IP
    # installed the one way the install test exercises
    assert re.search(r"RUN /src/install\.sh /opt/venv (cpu|cuda)", text)
    assert not re.search(r"(curl|wget|huggingface|hub\.ultralytics)", text)  # weights are never fetched


def test_install_script_and_package_hold_only_the_worker() -> None:
    pyproject = (IMAGE_DIR / "pyproject.toml").read_text()
    assert 'include = ["vaultext_worker*"]' in pyproject
    for foreign in ("kopf", "kubernetes", "pydantic", "vaultext_operator", "vaultext_sandbox"):
        assert foreign not in pyproject
    assert (IMAGE_DIR / "install.sh").stat().st_mode & 0o111
