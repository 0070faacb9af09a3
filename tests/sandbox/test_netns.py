"""A process in a network namespace of its own binds "every interface" of that namespace only: its listener is
invisible to the host, its loopback is up, and a second process that joins the namespace reaches it."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

from vaultext_sandbox.netns import (
    can_make_namespaces,
    enter_namespace_of,
    enter_new_namespace,
    namespace_id,
    tcp_listeners,
)
from vaultext_sandbox.processes import ManagedProcess, free_port

LISTEN_EVERYWHERE = (
    "import socket,sys,time; s=socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen();"
    "socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5).close();"  # needs lo up
    "print('listening', flush=True); time.sleep(60)"
)
DIAL = "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5); print('reached')"


def test_tcp_listeners_finds_the_listening_sockets_of_a_process() -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        expected = listening.getsockname()
        with socket.create_connection(expected) as dialed, listening.accept()[0]:  # connected: not listening
            found = tcp_listeners([os.getpid()])[os.getpid()]
            assert dialed.getsockname() not in found
    assert found.count(expected) == 1  # not its accepted connection, which has the same local address


@pytest.mark.skipif(not can_make_namespaces(), reason="network namespaces need root")
def test_a_namespaced_server_binding_every_interface_stays_inside(tmp_path: Path) -> None:
    port = free_port()
    server = ManagedProcess("inside", [sys.executable, "-c", LISTEN_EVERYWHERE, str(port)], tmp_path / "inside.log",
                            before_exec=enter_new_namespace)
    server.start()
    try:
        server.wait_until(lambda: "listening" in server.log_path.read_text(), timeout=30, what="listening")
        assert server.pid is not None
        assert namespace_id(server.pid) != namespace_id("self")
        assert tcp_listeners([server.pid]) == {}  # nothing of it in the host's table
        holder = server.pid
        dialer = ManagedProcess("joiner", [sys.executable, "-c", DIAL, str(port)], tmp_path / "joiner.log",
                                before_exec=lambda: enter_namespace_of(holder))
        dialer.start()
        assert dialer.popen is not None and dialer.popen.wait(timeout=30) == 0, dialer.log_path.read_text()
        assert "reached" in dialer.log_path.read_text()
    finally:
        server.stop(grace=2)
