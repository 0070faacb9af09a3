"""No sandbox process outlives the test session that started it, however that session ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vaultext_sandbox.processes import pid_alive
from vaultext_sandbox.sandbox import sweep_stale_workdirs

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

INNER_TEST = '''
import json, os, time
from pathlib import Path

def test_holds_the_broker(kafka, sandbox):
    Path(os.environ["REPORT"]).write_text(json.dumps({"pid": kafka.process.pid, "workdir": str(sandbox.workdir)}))
    time.sleep(300)
'''


def run_inner_session(tmp_path: Path, stop: signal.Signals) -> dict[str, object]:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["vaultext_sandbox.pytest_plugin"]\n')
    report = tmp_path / "report.json"
    session = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env={**os.environ, "REPORT": str(report)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not report.exists() and time.monotonic() < deadline:
        assert session.poll() is None, "the inner session ended before its broker was up"
        time.sleep(0.2)
    started: dict[str, object] = json.loads(report.read_text())
    assert pid_alive(int(str(started["pid"])))
    session.send_signal(stop)
    session.wait(timeout=60)
    return started


def wait_dead(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not pid_alive(pid)


def test_an_interrupted_session_stops_its_processes_and_removes_its_files(tmp_path: Path) -> None:
    started = run_inner_session(tmp_path, signal.SIGINT)
    assert wait_dead(int(str(started["pid"])))
    assert not Path(str(started["workdir"])).exists()


def test_a_killed_session_takes_its_processes_with_it(tmp_path: Path) -> None:
    started = run_inner_session(tmp_path, signal.SIGKILL)
    assert wait_dead(int(str(started["pid"])))
    workdir = Path(str(started["workdir"]))
    assert workdir in sweep_stale_workdirs()  # what a killed session left, the next one removes
    assert not workdir.exists()
