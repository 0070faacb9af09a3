"""The relay carries a byte stream TCP → Unix socket → TCP unchanged (the path between two network namespaces),
never replaces a file that is not a socket, and refuses malformed routes with the reason."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from vaultext_sandbox.processes import free_port
from vaultext_sandbox.relay import Endpoint, main, open_routes, parse_route

PAYLOAD = os.urandom(3 * 65536 + 17)  # several reads' worth, so chunks are re-assembled in order


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"echo:" + await reader.readexactly(len(PAYLOAD)))
    await writer.drain()
    writer.close()


async def _round_trip(socket_path: Path) -> bytes:
    entry, target = free_port(), free_port()
    servers = [await asyncio.start_server(_echo, "127.0.0.1", target)]
    try:
        servers += await open_routes([parse_route(f"127.0.0.1:{entry}=unix:{socket_path}"),
                                      parse_route(f"unix:{socket_path}=127.0.0.1:{target}")])
        reader, writer = await asyncio.open_connection("127.0.0.1", entry)
        writer.write(PAYLOAD)
        await writer.drain()
        answer = await asyncio.wait_for(reader.readexactly(len(b"echo:") + len(PAYLOAD)), timeout=10)
        writer.close()
        return answer
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()


def test_a_stream_goes_tcp_to_unix_to_tcp_and_back_unchanged(tmp_path: Path) -> None:
    socket_path = tmp_path / "hop.sock"
    assert asyncio.run(_round_trip(socket_path)) == b"echo:" + PAYLOAD
    assert socket_path.stat().st_mode & 0o077 == 0  # only the sandbox's user may connect


def test_a_file_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "notes.sock"
    precious.write_text("keep me")
    with pytest.raises(OSError, match="not a socket"):
        asyncio.run(_round_trip(precious))
    assert precious.read_text() == "keep me"


def test_routes_parse_into_tcp_and_unix_endpoints() -> None:
    assert parse_route("10.213.0.1:6443=unix:/tmp/x/kube.sock") == (Endpoint(host="10.213.0.1", port=6443),
                                                                    Endpoint(path="/tmp/x/kube.sock"))
    assert str(Endpoint(path="/a.sock")) == "unix:/a.sock" and str(Endpoint(host="::1", port=5)) == "::1:5"


@pytest.mark.parametrize(("route", "reason"), [
    ("127.0.0.1:80", "LISTEN=TARGET"),
    ("127.0.0.1:80=", "HOST:PORT or unix:/path"),
    ("127.0.0.1:http=127.0.0.1:80", "HOST:PORT or unix:/path"),
    ("127.0.0.1:80=127.0.0.1:70000", "HOST:PORT or unix:/path"),
    ("unix:relative.sock=127.0.0.1:80", "absolute"),
    ("127.0.0.1:80=unix:/" + "x" * 107, "at most 107 bytes"),
])
def test_a_malformed_route_is_refused_with_the_reason(route: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_route(route)


def test_the_command_refuses_a_malformed_route_before_serving_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([f"127.0.0.1:{free_port()}=127.0.0.1:80", "unix:x.sock=127.0.0.1:80"]) == 2
    assert "absolute" in capsys.readouterr().err
    assert main([]) == 2
    assert "no route" in capsys.readouterr().err
