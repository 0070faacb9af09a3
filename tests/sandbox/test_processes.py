"""Start-up failures surface at once with the log, taken ports are retried, and stopping leaves nothing behind."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from vaultext_sandbox.errors import PortInUseError, StartupError
from vaultext_sandbox.processes import ManagedProcess, free_port, pid_alive, start_with_free_ports

BIND_AND_SERVE = (
    "import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen();"
    "print('listening', flush=True); time.sleep(60)"
)


def test_a_process_dying_at_start_up_fails_at_once_with_its_log(tmp_path: Path) -> None:
    process = ManagedProcess("doomed", [sys.executable, "-c", "print('missing --etcd-servers'); raise SystemExit(3)"],
                             tmp_path / "doomed.log")
    process.start()
    started = time.monotonic()
    with pytest.raises(StartupError, match="missing --etcd-servers") as raised:
        process.wait_until(lambda: False, timeout=120, what="ready")
    assert time.monotonic() - started < 60  # not the 120 s time-out
    assert not isinstance(raised.value, PortInUseError)


def test_a_taken_port_is_detected_and_another_chosen(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        offered = iter([taken, free_port()])
        launched: list[ManagedProcess] = []

        def launch() -> ManagedProcess:
            port = next(offered)
            process = ManagedProcess("server", [sys.executable, "-c", BIND_AND_SERVE, str(port)],
                                     tmp_path / f"server-{port}.log")
            process.start()
            launched.append(process)
            log = tmp_path / f"server-{port}.log"
            process.wait_until(lambda: "listening" in log.read_text(), timeout=30, what="listening")
            return process

        try:
            server = start_with_free_ports(launch)
            assert server is launched[1] and server.running()
            assert _listening(int(server.argv[-1]))
            assert "Address already in use" in (tmp_path / f"server-{taken}.log").read_text()
        finally:
            for process in launched:
                process.stop(grace=1)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_stop_kills_the_whole_process_group(tmp_path: Path) -> None:
    child_pid_file = tmp_path / "child.pid"
    # The child ignores SIGTERM and says so only once it does; its parent exits on SIGTERM at once.
    child_code = (
        "import os,pathlib,signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(os.getpid())); time.sleep(120)"
    )
    script = f"import subprocess,sys,time; subprocess.Popen([sys.executable, '-c', {child_code!r}]); time.sleep(120)"
    process = ManagedProcess("parent", [sys.executable, "-c", script], tmp_path / "parent.log")
    process.start()
    process.wait_until(child_pid_file.exists, timeout=30, what="forking")
    child = int(child_pid_file.read_text())
    parent = process.pid
    assert parent is not None
    process.stop(grace=1)
    deadline = time.monotonic() + 10
    while (pid_alive(child) or pid_alive(parent)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(parent)
    assert not pid_alive(child)  # it ignored SIGTERM: the group SIGKILL got it
