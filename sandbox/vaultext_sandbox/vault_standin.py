"""A Kerberos Vault stand-in: the storage endpoints extensions use, with failures on demand.

- `GET /api/storage/blob` with `X-Kerberos-Storage-FileName`, `-Provider`, `-AccessKey`, `-SecretAccessKey`
  answers the recording (`video/mp4`, gzip when the client accepts it and `gzip` is on);
- `GET /api/storage` with the same headers answers `{"data": "<signed URL>"}`; the signed URL serves the bytes
  without headers until it expires, then answers 403 with an S3-style XML error (`AccessDenied`,
  `Request has expired`), as S3 and MinIO do;
- API errors are JSON `{"data": "<message>"}`: 401 for unknown credentials, 404 for unknown recordings, and any
  status, delay or redirect set with `fail()` / `delay()` / `redirect()`.
- `api_prefix=""` serves the API at the root (Vault's API on a host of its own) instead of under `/api`;
  `web_front_end=True` answers an HTML page (200) for unknown paths, as the web app in front of `/api` does.
- With `recordings=<folder>`, files `<folder>/<provider>/<key…>` are served, also those added after the start.

Use it as a library (`with VaultStandIn() as vault: vault.put(...)`) or run `python -m vaultext_sandbox vault`.
It binds 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import hmac
import json
import logging
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

log = logging.getLogger(__name__)

DEFAULT_ACCESS_KEY = "vault-access-key"
DEFAULT_SECRET_KEY = "vault-secret-key"
ANY_KEY = "*"
_SIGNATURE_MISMATCH = "The request signature we calculated does not match the signature you provided."


@dataclass
class Fault:
    status: int
    remaining: int | None  # None: for ever
    message: str


@dataclass
class Request:
    """One request the stand-in answered, for tests to inspect."""

    path: str
    file_name: str
    provider: str
    status: int


@dataclass
class _State:
    accounts: dict[str, str] = field(default_factory=dict)
    recordings: dict[tuple[str, str], bytes] = field(default_factory=dict)
    folder: Path | None = None
    api_prefix: str = "/api"
    web_front_end: bool = False
    signed_url_ttl_s: float = 3600.0
    faults: dict[str, Fault] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    redirects: dict[str, Fault] = field(default_factory=dict)  # message: the Location
    requests: list[Request] = field(default_factory=list)
    gzip: bool = True
    signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.Lock = field(default_factory=threading.Lock)


class VaultStandIn:
    def __init__(
        self,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        port: int = 0,
        gzip_bodies: bool = True,
        api_prefix: str = "/api",
        recordings: Path | None = None,
        web_front_end: bool = False,
    ) -> None:
        if api_prefix not in ("/api", ""):
            raise ValueError(f"api_prefix {api_prefix!r}: Vault serves its API at '/api' or at the root ''")
        self._state = _State(
            accounts={access_key: secret_key}, gzip=gzip_bodies, api_prefix=api_prefix, web_front_end=web_front_end,
            folder=recordings.resolve() if recordings is not None else None,
        )  # fmt: skip
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(self._state, self._stopping))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.access_key, self.secret_key = access_key, secret_key

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The API base URL: ending in `/api` unless the API is served at the root."""
        return f"http://127.0.0.1:{self.port}{self._state.api_prefix}"

    def start(self) -> VaultStandIn:
        self._thread = threading.Thread(target=self._server.serve_forever, name="vault-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> VaultStandIn:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def add_account(self, access_key: str, secret_key: str) -> None:
        with self._state.lock:
            self._state.accounts[access_key] = secret_key

    def put(self, provider: str, key: str, data: bytes) -> None:
        with self._state.lock:
            self._state.recordings[(provider, key)] = data

    def fail(self, key: str, status: int, times: int | None = None, message: str = "") -> None:
        """Answer `status` for `key` (or every key: `ANY_KEY`), `times` times or until `clear()`."""
        with self._state.lock:
            self._state.faults[key] = Fault(status, times, message or f"injected failure {status}")

    def delay(self, key: str, seconds: float) -> None:
        """Wait `seconds` before answering requests for `key` (or `ANY_KEY`): a slow or hanging Vault."""
        with self._state.lock:
            self._state.delays[key] = seconds

    def redirect(self, key: str, location: str, times: int | None = None) -> None:
        """Answer API requests for `key` (or `ANY_KEY`) with `302 Location: location`, `times` times or until
        `clear()`."""
        with self._state.lock:
            self._state.redirects[key] = Fault(302, times, location)

    def expire_signed_urls_after(self, seconds: float) -> None:
        """Lifetime of the signed URLs handed out from now on (negative: already expired)."""
        with self._state.lock:
            self._state.signed_url_ttl_s = seconds

    def clear(self) -> None:
        with self._state.lock:
            self._state.faults.clear()
            self._state.delays.clear()
            self._state.redirects.clear()

    def set_gzip(self, enabled: bool) -> None:
        self._state.gzip = enabled

    @property
    def requests(self) -> list[Request]:
        with self._state.lock:
            return list(self._state.requests)

    def downloads(self, key: str) -> int:
        """How many times `key`'s bytes were served successfully."""
        return sum(1 for r in self.requests if r.file_name == key and r.status == 200 and "blob" in r.path)


def sign(signing_key: bytes, provider: str, key: str, expires: int) -> str:
    return hmac.new(signing_key, f"{provider}\n{key}\n{expires}".encode(), hashlib.sha256).hexdigest()


def _handler_class(state: _State, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            if stopping.is_set():  # a kept-alive connection outlives the listening socket: a stopped Vault is gone
                self.close_connection = True
                return
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/")
            if path == f"{state.api_prefix}/storage/blob":
                self._storage(signed=False)
            elif path == f"{state.api_prefix}/storage":
                self._storage(signed=True)
            elif path.startswith("/signed/"):
                self._signed(path, parse_qs(parts.query))
            elif path in ("/api/health", "/health"):
                self._json(200, {"data": "ok"})
            else:
                self._unknown_path()

        def _record(self, file_name: str, provider: str, status: int) -> None:
            with state.lock:
                state.requests.append(Request(self.path, file_name, provider, status))

        def _injected(self, key: str) -> Fault | None:
            with state.lock:
                delay = state.delays.get(key, state.delays.get(ANY_KEY, 0.0))
            if delay and stopping.wait(delay):
                return Fault(503, None, "the stand-in is stopping")
            return _take(state, state.faults, key)

        def _storage(self, signed: bool) -> None:
            file_name = self.headers.get("X-Kerberos-Storage-FileName", "")
            provider = self.headers.get("X-Kerberos-Storage-Provider", "")
            access = self.headers.get("X-Kerberos-Storage-AccessKey", "")
            secret = self.headers.get("X-Kerberos-Storage-SecretAccessKey", "")
            fault = self._injected(file_name)
            if fault is not None:
                self._record(file_name, provider, fault.status)
                self._json(fault.status, {"data": fault.message})
                return
            moved = _take(state, state.redirects, file_name)
            if moved is not None:
                self._record(file_name, provider, 302)
                self.send_response(302)
                self.send_header("Location", moved.message)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with state.lock:
                known = access in state.accounts and hmac.compare_digest(state.accounts[access], secret)
            data = _recording(state, provider, file_name)
            if not known:
                self._record(file_name, provider, 401)
                self._json(401, {"data": "unknown access key or secret"})
            elif not file_name or data is None:
                self._record(file_name, provider, 404)
                self._json(404, {"data": f"file {file_name!r} not found at provider {provider!r}"})
            elif signed:
                expires = int(time.time() + state.signed_url_ttl_s)
                signature = sign(state.signing_key, provider, file_name, expires)
                host = self.headers.get("Host") or f"127.0.0.1:{getattr(self.server, 'server_port', 0)}"
                url = (
                    f"http://{host}/signed/{quote(provider, safe='')}/{quote(file_name, safe='')}"
                    f"?expires={expires}&signature={signature}"
                )
                self._record(file_name, provider, 200)
                self._json(200, {"data": url})
            else:
                self._record(file_name, provider, 200)
                self._video(data)

        def _signed(self, path: str, query: dict[str, list[str]]) -> None:
            pieces = path.split("/")
            if len(pieces) != 4:
                self._json(404, {"data": "malformed signed URL"})
                return
            provider, file_name = unquote(pieces[2]), unquote(pieces[3])
            expires = int((query.get("expires") or ["0"])[0] or 0)
            given = (query.get("signature") or [""])[0]
            expected = sign(state.signing_key, provider, file_name, expires)
            fault = self._injected(file_name)
            if fault is not None:
                self._record(file_name, provider, fault.status)
                self._json(fault.status, {"data": fault.message})
                return
            data = _recording(state, provider, file_name)
            if not hmac.compare_digest(given, expected):
                self._record(file_name, provider, 403)
                self._xml_error(403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH, file_name)
            elif expires < time.time():
                self._record(file_name, provider, 403)
                self._xml_error(403, "AccessDenied", "Request has expired", file_name)
            elif data is None:
                self._record(file_name, provider, 404)
                self._xml_error(404, "NoSuchKey", "The specified key does not exist.", file_name)
            else:
                self._record(file_name, provider, 200)
                self._video(data)

        def _video(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            if state.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                data = gzip.compress(data, compresslevel=1)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _xml_error(self, status: int, code: str, message: str, key: str) -> None:
            """The shape of an S3/MinIO error body."""
            data = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{escape(message)}</Message><Key>{escape(key)}</Key>"
                f"<RequestId>{secrets.token_hex(8).upper()}</RequestId></Error>"
            ).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _unknown_path(self) -> None:
            file_name = self.headers.get("X-Kerberos-Storage-FileName", "")
            if state.web_front_end:  # the web app's server answers its page for any path it does not know
                self._record(file_name, "", 200)
                self._text(200, "<!doctype html><title>Kerberos Vault</title><div id=root></div>", "text/html")
            else:
                self._record(file_name, "", 404)
                self._text(404, "404 page not found")  # what Go's routers answer for an unknown path

        def _text(self, status: int, text: str, content_type: str = "text/plain") -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _json(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _take(state: _State, table: dict[str, Fault], key: str) -> Fault | None:
    """The fault set for `key` (else for every key), counted down when it is limited."""
    with state.lock:
        fault = table.get(key) or table.get(ANY_KEY)
        if fault is None or fault.remaining == 0:
            return None
        if fault.remaining is not None:
            fault.remaining -= 1
        return fault


def _recording(state: _State, provider: str, key: str) -> bytes | None:
    """A recording put() into the stand-in, else the file `<folder>/<provider>/<key>` as it is now."""
    with state.lock:
        data = state.recordings.get((provider, key))
    if data is not None or state.folder is None or not provider or not key:
        return data
    path = (state.folder / provider / key).resolve()
    if not path.is_relative_to(state.folder) or not path.is_file():  # `..` in a key never leaves the folder
        return None
    try:
        return path.read_bytes()
    except OSError:
        return None


def count_recordings(root: Path) -> int:
    return sum(1 for path in root.glob("*/**/*") if path.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vaultext_sandbox vault", description="Kerberos Vault stand-in")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    parser.add_argument("--secret-key", default=DEFAULT_SECRET_KEY)
    parser.add_argument("--recordings", type=Path, help="directory laid out as <provider>/<key>")
    parser.add_argument("--no-gzip", action="store_true", help="never gzip bodies")
    parser.add_argument("--api-at-root", action="store_true", help="serve /storage… instead of /api/storage…")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser_prefix = "" if args.api_at_root else "/api"
    vault = VaultStandIn(args.access_key, args.secret_key, args.port, not args.no_gzip, parser_prefix, args.recordings)
    if args.recordings is not None:
        log.info("serving %s (%d recordings now; files added later are served too)", args.recordings,
                 count_recordings(args.recordings))  # fmt: skip
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    vault.start()
    print(f"vault stand-in on {vault.url} (access key {args.access_key!r})", flush=True)
    done.wait()
    vault.stop()
    return 0
