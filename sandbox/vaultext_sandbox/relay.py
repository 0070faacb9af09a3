"""A TCP relay from the sandbox bridge to servers that listen on 127.0.0.1 only (the apiserver, the Vault stand-in).

Pods reach the host only through the bridge's address; the servers keep their loopback-only binding.
``python -m vaultext_sandbox relay 10.213.0.1:6443=127.0.0.1:38211 ...``
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


def parse_route(text: str) -> tuple[str, int, str, int]:
    listen, _, target = text.partition("=")
    listen_host, _, listen_port = listen.rpartition(":")
    target_host, _, target_port = target.rpartition(":")
    if not (listen_host and target_host and listen_port.isdigit() and target_port.isdigit()):
        raise ValueError(f"expected HOST:PORT=HOST:PORT, got {text!r}")
    return listen_host, int(listen_port), target_host, int(target_port)


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


async def _serve(routes: list[tuple[str, int, str, int]]) -> None:
    servers = []
    for listen_host, listen_port, target_host, target_port in routes:
        async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter,
                         host: str = target_host, port: int = target_port) -> None:
            try:
                server_reader, server_writer = await asyncio.open_connection(host, port)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

        servers.append(await asyncio.start_server(handle, listen_host, listen_port))
    print("relay serving " + ", ".join(f"{r[0]}:{r[1]} -> {r[2]}:{r[3]}" for r in routes), flush=True)
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
