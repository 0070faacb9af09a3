"""A real HTTP server on 127.0.0.1 that records every request's headers: a host that must never see a key."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


class SpyServer:
    """Answers every GET with `status` and `body` (or a redirect to `location`), remembering what it was sent."""

    def __init__(
        self, status: int = 200, body: bytes = b"spy bytes", location: str = "", content_type: str = "video/mp4"
    ) -> None:
        self.status, self.body, self.location, self.content_type = status, body, location, content_type
        self.seen: list[Seen] = []
        spy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

            def do_GET(self) -> None:
                spy.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
                self.send_response(spy.status)
                if spy.location:
                    self.send_header("Location", spy.location)
                self.send_header("Content-Type", spy.content_type)
                self.send_header("Content-Length", str(len(spy.body)))
                self.end_headers()
                self.wfile.write(spy.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="spy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def header_values(self) -> list[str]:
        return [value for seen in self.seen for value in seen.headers.values()]

    def __enter__(self) -> SpyServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
