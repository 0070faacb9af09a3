"""The node's pause image, made locally: one layer holding the sandbox's own `pause` program, as an OCI archive."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

PAUSE_IMAGE = "localhost/vaultext-pause:1"


def _blob(archive: tarfile.TarFile, data: bytes, media_type: str) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(program: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        info = tarfile.TarInfo("pause")
        info.size, info.mode = program.stat().st_size, 0o755
        with program.open("rb") as content:
            layer.addfile(info, content)
    return buffer.getvalue()


def write_pause_archive(program: Path, archive_path: Path) -> Path:
    """Write an OCI image archive that ``ctr images import`` names ``PAUSE_IMAGE``."""
    layer = _layer(program)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}"]},
    }
    with tarfile.open(archive_path, mode="w") as archive:
        layer_descriptor = _blob(archive, layer, "application/vnd.oci.image.layer.v1.tar")
        config_descriptor = _blob(archive, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_descriptor, "layers": [layer_descriptor]}
        manifest_descriptor = _blob(archive, json.dumps(manifest).encode(),
                                    "application/vnd.oci.image.manifest.v1+json")
        manifest_descriptor["annotations"] = {"io.containerd.image.name": PAUSE_IMAGE,
                                              "org.opencontainers.image.ref.name": PAUSE_IMAGE.rsplit(":", 1)[1]}
        for name, content in (("oci-layout", {"imageLayoutVersion": "1.0.0"}),
                              ("index.json", {"schemaVersion": 2, "manifests": [manifest_descriptor]})):
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return archive_path
