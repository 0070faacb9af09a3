"""A stream relay for servers that listen on 127.0.0.1 only (the apiserver, the Vault stand-in, KEDA's parts).

Pods reach the host only through the bridge's address; the servers keep their loopback-only binding. A Unix socket
on either side joins two network namespaces: its path in the sandbox folder is reachable from both.
``python -m vaultext_sandbox relay 10.213.0.1:6443=127.0.0.1:38211 127.0.0.1:9666=unix:/tmp/.../grpc.sock ...``
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

UNIX_PREFIX = "unix:"
UNIX_PATH_MAX = 107  # sun_path holds 108 bytes, the last one a NUL


@dataclass(frozen=True)
class Endpoint:
    """``HOST:PORT`` for TCP, or ``unix:/absolute/path`` for a Unix socket."""

    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"{UNIX_PREFIX}{self.path}" if self.path else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    if text.startswith(UNIX_PREFIX):
        path = text.removeprefix(UNIX_PREFIX)
        if not path.startswith("/") or "\0" in path or len(path.encode()) > UNIX_PATH_MAX:
            raise ValueError(f"expected unix:/absolute/path of at most {UNIX_PATH_MAX} bytes, got {text!r}")
        return Endpoint(path=path)
    host, _, port = text.rpartition(":")
    if not (host and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"expected HOST:PORT or unix:/path, got {text!r}")
    return Endpoint(host=host, port=int(port))


def parse_route(text: str) -> tuple[Endpoint, Endpoint]:
    listen, separator, target = text.partition("=")
    if not separator:
        raise ValueError(f"expected LISTEN=TARGET, got {text!r}")
    return parse_endpoint(listen), parse_endpoint(target)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return  # the peer went away: the other direction closes too
    finally:
        with contextlib.suppress(ConnectionError):
            writer.close()


async def _connect(target: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if target.path:
        return await asyncio.open_unix_connection(target.path)
    return await asyncio.open_connection(target.host, target.port)


def _refuse_other_files(path: Path) -> None:
    """asyncio replaces a stale socket file (a killed relay's) itself; any other file there is refused clearly."""
    if path.exists() and not stat.S_ISSOCK(path.lstat().st_mode):
        raise OSError(f"{path} exists and is not a socket; not replacing it")


async def open_routes(routes: list[tuple[Endpoint, Endpoint]]) -> list[asyncio.Server]:
    """Listen on every route's first endpoint; each connection is piped to a fresh connection to its target."""
    servers = []
    for listen, target in routes:
        async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                         target: Endpoint = target) -> None:
            try:
                server_reader, server_writer = await _connect(target)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

        try:
            if listen.path:
                _refuse_other_files(Path(listen.path))
                servers.append(await asyncio.start_unix_server(handle, listen.path))
                Path(listen.path).chmod(0o600)  # only the sandbox's own user may pass through
            else:
                servers.append(await asyncio.start_server(handle, listen.host, listen.port))
        except BaseException:
            for server in servers:
                server.close()
            raise
    return servers


async def _serve(routes: list[tuple[Endpoint, Endpoint]]) -> None:
    servers = await open_routes(routes)
    print("relay serving " + ", ".join(f"{listen} -> {target}" for listen, target in routes), flush=True)
    await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str]) -> int:
    try:
        routes = [parse_route(text) for text in argv]
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not routes:
        print("error: no route given", file=sys.stderr)
        return 2
    asyncio.run(_serve(routes))
    return 0
