"""Build the project's images from their Dockerfiles, unchanged, and cache them as archives the node can import.

There is no registry to pull ``FROM`` bases from: each base is a local stand-in made from Debian's own packages
(debootstrap; bookworm ships Python 3.11) and tagged with the Dockerfile's base name. Builds run in podman with
``--isolation chroot`` and storage under the sandbox's cache; every result is cached by the hash of what went in.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .binaries import cache_root, progress, run_step
from .errors import BuildError

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "docker.io/library/python:3.11-slim"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
# The build's pip trusts the host's CA bundle (mounted read-only at build time only, never over the image's own).
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BUILD_CA = "/run/host-ca.crt"
STAND_IN_RECIPE = (
    "rm -f usr/lib/python3.11/EXTERNALLY-MANAGED",
    "ln -sf /usr/bin/python3 usr/local/bin/python",
    "ln -sf /usr/bin/pip3 usr/local/bin/pip",
    f"printf '[global]\\ncert = {BUILD_CA}\\n' > etc/pip.conf",
    "rm -rf var/cache/apt/archives/*.deb var/lib/apt/lists/* usr/share/doc usr/share/man usr/share/locale",
)
IGNORED = {"__pycache__", ".mypy_cache", ".pytest_cache"}


@dataclass(frozen=True)
class ImageSpec:
    """One image: its Dockerfile, context and build arguments; the tag is the hash of all of them."""

    name: str
    dockerfile: Path
    context: Path
    hashed: tuple[Path, ...]
    build_args: tuple[tuple[str, str], ...] = ()

    def digest(self, base_digest: str) -> str:
        digest = hashlib.sha256(base_digest.encode())
        for key, value in self.build_args:
            digest.update(f"{key}={value}\n".encode())
        for path in _files(self.hashed):
            digest.update(str(path.relative_to(self.context)).encode())
            digest.update(path.read_bytes())
        return digest.hexdigest()[:12]


def _files(roots: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        candidates = [root] if root.is_file() else root.rglob("*")
        found += [p for p in candidates if p.is_file() and not IGNORED.intersection(p.parts)]
    return sorted(found)


def images_dir() -> Path:
    return cache_root() / "images"


def podman(*args: str) -> list[str]:
    storage = images_dir() / "podman"
    return ["podman", f"--root={storage / 'root'}", f"--runroot={storage / 'run'}", "--storage-driver=overlay",
            "--cgroup-manager=cgroupfs", "--events-backend=file", *args]


def base_digest() -> str:
    recipe = "\n".join((DEBIAN_SUITE, *BASE_PACKAGES, *STAND_IN_RECIPE))
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def ensure_base_rootfs() -> Path:
    """The stand-in's root filesystem as a tarball, made once per recipe."""
    archive = images_dir() / f"base-{DEBIAN_SUITE}-{base_digest()}.tar"
    if archive.exists():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    progress(f"making the local stand-in for {BASE_IMAGE} from Debian {DEBIAN_SUITE} (debootstrap, once) ...")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".rootfs-", dir=archive.parent) as staging:
        rootfs = Path(staging) / "rootfs"
        run_step("debootstrap", ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
                                 DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR])
        for command in STAND_IN_RECIPE:
            run_step("prepare the base stand-in", ["sh", "-c", command], cwd=rootfs)
        partial = Path(staging) / "rootfs.tar"
        run_step("pack the base stand-in", ["tar", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.rename(archive)
    progress(f"made the {BASE_IMAGE} stand-in in {time.monotonic() - started:.1f} s")
    return archive


def _has_image(reference: str) -> bool:
    return subprocess.run(podman("image", "exists", reference), capture_output=True, check=False).returncode == 0


def ensure_base_image() -> str:
    digest = base_digest()
    if not _has_image(BASE_IMAGE) or _label(BASE_IMAGE, "vaultext.base") != digest:
        rootfs = ensure_base_rootfs()
        changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8",
                   'CMD ["python3"]', f"LABEL vaultext.base={digest}"]
        run_step("podman import base", podman("import", *(f"--change={c}" for c in changes), str(rootfs), BASE_IMAGE))
    return digest


def _label(reference: str, label: str) -> str:
    completed = subprocess.run(podman("image", "inspect", "--format", f"{{{{index .Labels \"{label}\"}}}}", reference),
                               capture_output=True, text=True, check=False)
    return completed.stdout.strip()


def ensure_image(spec: ImageSpec) -> tuple[str, Path]:
    """Build (or reuse) one image; returns its reference and a docker-archive the node's containerd imports."""
    if shutil.which("podman") is None:
        raise BuildError("building images needs podman (Debian: apt-get install podman buildah)")
    base = base_digest()
    reference = f"localhost/{spec.name}:{spec.digest(base)}"
    archive = images_dir() / f"{spec.name}-{reference.rsplit(':', 1)[1]}.tar"
    if archive.exists():
        return reference, archive
    ensure_base_image()
    progress(f"building {reference} from {spec.dockerfile} ...")
    started = time.monotonic()
    arguments = [f"--build-arg={key}={value}" for key, value in spec.build_args]
    run_step(f"podman build {spec.name}", podman(
        "build", "--isolation=chroot", "--pull=never", f"--volume={HOST_CA}:{BUILD_CA}:ro", *arguments,
        f"--file={spec.dockerfile}", f"--tag={reference}", str(spec.context)))
    partial = archive.with_suffix(".partial")
    run_step(f"podman save {spec.name}", podman("save", "--format=docker-archive", f"--output={partial}", reference))
    partial.rename(archive)
    progress(f"built {reference} in {time.monotonic() - started:.1f} s ({archive.stat().st_size / 2**20:.0f} MiB)")
    _forget_older(spec.name, reference, archive)
    return reference, archive


def _forget_older(name: str, reference: str, archive: Path) -> None:
    """Each source change makes a new image: keep only the newest of each name (archive and podman storage)."""
    for older in images_dir().glob(f"{name}-*.tar"):
        if older != archive:
            older.unlink()
    listed = subprocess.run(podman("images", "--format", "{{.Repository}}:{{.Tag}}", f"localhost/{name}"),
                            capture_output=True, text=True, check=False).stdout.split()
    stale = [tag for tag in listed if tag != reference]
    if stale:
        subprocess.run(podman("rmi", *stale), capture_output=True, check=False)
    subprocess.run(podman("image", "prune", "--force"), capture_output=True, check=False)
