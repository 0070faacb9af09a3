"""The stand-in as the sandbox CLI runs it: `python -m vaultext_sandbox vault`."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .kafka_worker import free_port


def _get(url: str, headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, answer.read(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_cli_serves_a_directory_of_recordings(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    key = "youruser/1630643550_6-967003_front door_200-200-400-400_24_769.mp4"
    (root / "minio" / "youruser").mkdir(parents=True)
    (root / "minio" / key).write_bytes(b"\x00mp4 bytes" * 100)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "vaultext_sandbox", "vault", "--port", str(port), "--recordings", str(root),
         "--access-key", "ak", "--secret-key", "sk"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]  # the directory it serves, then its address
        assert f"vault stand-in on http://127.0.0.1:{port}/api" in lines[1], lines
        headers = {"X-Kerberos-Storage-FileName": key, "X-Kerberos-Storage-Provider": "minio",
                   "X-Kerberos-Storage-AccessKey": "ak", "X-Kerberos-Storage-SecretAccessKey": "sk",
                   "Accept-Encoding": "gzip"}  # fmt: skip
        status, body, answer = _get(f"http://127.0.0.1:{port}/api/storage/blob", headers)
        assert status == 200 and answer["Content-Type"] == "video/mp4"
        assert gzip.decompress(body) == b"\x00mp4 bytes" * 100
        status, body, _ = _get(
            f"http://127.0.0.1:{port}/api/storage/blob", headers | {"X-Kerberos-Storage-SecretAccessKey": "x"}
        )
        assert status == 401 and json.loads(body) == {"data": "unknown access key or secret"}
        status, body, _ = _get(f"http://127.0.0.1:{port}/api/storage", headers)
        signed = json.loads(body)["data"]
        status, body, _ = _get(signed, {})
        assert status == 200 and body == b"\x00mp4 bytes" * 100
        later = "youruser/1630643999_6-967003_front door_200-200-400-400_24_769.mp4"
        (root / "minio" / later).write_bytes(b"recorded after the start")  # an agent uploads meanwhile
        status, body, _ = _get(f"http://127.0.0.1:{port}/api/storage/blob", headers | {
            "X-Kerberos-Storage-FileName": later, "Accept-Encoding": "identity"})  # fmt: skip
        assert status == 200 and body == b"recorded after the start"
        (tmp_path / "secret.txt").write_bytes(b"outside the folder")
        status, body, _ = _get(f"http://127.0.0.1:{port}/api/storage/blob", headers | {
            "X-Kerberos-Storage-FileName": "../../secret.txt"})  # fmt: skip
        assert status == 404 and b"outside" not in body
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(10)
        assert code == 0, process.stdout.read() if process.stdout else ""
