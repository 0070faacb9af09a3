"""The project's two images: the operator, and the default worker baked with the synthetic detector."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .images import REPO, ImageSpec, ensure_image, images_dir
from .synthetic.detector import CLASSES, write_detector


@dataclass(frozen=True)
class BuiltImage:
    reference: str
    archive: Path


def operator_spec() -> ImageSpec:
    dockerfile = REPO / "operator" / "Dockerfile"
    return ImageSpec("vaultext-operator", dockerfile, REPO, (dockerfile, REPO / "operator" / "vaultext_operator"))


def worker_spec() -> ImageSpec:
    """``inference_image/`` as it is, plus ``model.onnx``: the detector whose answers the tests can check."""
    context = images_dir() / "worker-context"
    if context.exists():
        shutil.rmtree(context)
    shutil.copytree(REPO / "inference_image", context, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    write_detector(context / "model.onnx")
    return ImageSpec("vaultext-worker", context / "Dockerfile", context, (context,),
                     (("MODEL", "model.onnx"), ("CLASSES", ",".join(CLASSES))))


def build_project_images() -> dict[str, BuiltImage]:
    built = {}
    for spec in (operator_spec(), worker_spec()):
        reference, archive = ensure_image(spec)
        built[spec.name] = BuiltImage(reference, archive)
    return built
