"""Network namespaces for servers that bind every interface (KEDA's metrics adapter has no address flag for its
``/metrics``): inside a namespace of its own, "every interface" is that namespace's loopback only.

Nothing is mounted: a namespace lives as long as a process in it, so stopping its processes removes it. Relays
(relay.py) join it to the host's 127.0.0.1 through Unix sockets; no interface or route on the host is added.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_IFREQ = "16sH22x"  # struct ifreq: the interface name, then ifr_flags in its 24-byte union
_TCP_LISTEN = "0A"
NEEDS_ROOT = ("KEDA's metrics adapter binds its /metrics on every interface, so the sandbox runs it in a network "
              "namespace of its own, and making one needs root")

# Loaded before any fork: the hooks below run in the child between fork and exec.
_libc = ctypes.CDLL(None, use_errno=True)


def can_make_namespaces() -> bool:
    return os.geteuid() == 0


def _check(result: int, call: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{call}: {os.strerror(number)}")


def enter_new_namespace() -> None:
    """Move the calling process into a fresh network namespace and bring its loopback up (it starts down)."""
    _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as control:
        answer = fcntl.ioctl(control, _SIOCGIFFLAGS, struct.pack(_IFREQ, b"lo", 0))
        flags = struct.unpack(_IFREQ, answer)[1]
        fcntl.ioctl(control, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP))


def enter_namespace_of(pid: int) -> None:
    """Move the calling process into the network namespace of process ``pid``."""
    handle = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(handle, CLONE_NEWNET), f"setns(network namespace of pid {pid})")
    finally:
        os.close(handle)


def namespace_id(pid: int | str) -> str:
    """``net:[inode]``: equal for two processes exactly when they share a network namespace."""
    return str(Path(f"/proc/{pid}/ns/net").readlink())


def _address(hex_address: str) -> str:
    # The kernel prints each 32-bit word of the address in the machine's byte order.
    words = [int(hex_address[i:i + 8], 16) for i in range(0, len(hex_address), 8)]
    raw = b"".join(struct.pack("=I", word) for word in words)
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def tcp_listeners(pids: Iterable[int]) -> dict[int, list[tuple[str, int]]]:
    """The TCP sockets each process listens on in the caller's network namespace, as (address, port)."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    found: dict[int, list[tuple[str, int]]] = {}
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/self/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != _TCP_LISTEN or fields[9] not in owner:
                continue
            hex_address, hex_port = fields[1].split(":")
            found.setdefault(owner[fields[9]], []).append((_address(hex_address), int(hex_port, 16)))
    return found
