"""Start, watch and stop the sandbox's server processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .binaries import progress
from .errors import PortInUseError, StartupError

PORT_IN_USE_MARKERS = ("address already in use", "failed to bind", "bindexception")
_PR_SET_PDEATHSIG = 1
T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel kills it if the test process dies, even by SIGKILL.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    detached: bool = False
    # Runs in the child just before exec (e.g. to enter a network namespace); it must not start threads.
    before_exec: Callable[[], None] | None = None
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def _in_child(self) -> None:
        if not self.detached:
            _die_with_parent()
        if self.before_exec is not None:
            self.before_exec()

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                    start_new_session=True,
                    preexec_fn=self._in_child if self.before_exec or not self.detached else None,
                )
            except subprocess.SubprocessError as error:  # the child's hook failed; the child never ran
                raise StartupError(f"{self.name} could not be started: its set-up before exec failed "
                                   f"({error})") from error
        self.pid = self.popen.pid

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def fail_if_dead(self) -> None:
        if self.running():
            return
        tail = log_tail(self.log_path)
        error = PortInUseError if any(marker in tail.lower() for marker in PORT_IN_USE_MARKERS) else StartupError
        raise error(f"{self.name} exited during start-up; end of {self.log_path}:\n{tail}")

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready`` until true; fail at once with the log tail if the process dies meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.fail_if_dead()
            if ready():
                return
            time.sleep(0.1)
        raise StartupError(
            f"{self.name} not {what} after {timeout:.0f} s; end of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def stop(self, grace: float = 10.0) -> None:
        if self.pid is None:
            return
        terminate_group(self.pid, grace)
        if self.popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=1)
        self.popen = None
        self.pid = None


def rss_mib(pid: int) -> float:
    """Resident memory of a running process, in MiB (NaN when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_group(pid: int, grace: float) -> None:
    """SIGTERM the process group, then SIGKILL whatever is left of it (children too) after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reap our own child, or its zombie keeps the group alive
            if not group_alive(pid):
                return
            time.sleep(0.05)


def start_with_free_ports(launch: Callable[[], T], attempts: int = 3) -> T:
    """Call ``launch`` (which picks fresh ports each time) again when a port it chose turned out to be taken."""
    for attempt in range(1, attempts):
        try:
            return launch()
        except PortInUseError as error:
            progress(f"port taken, retrying with other ports ({attempt}/{attempts}): {str(error).splitlines()[0]}")
    return launch()
