"""Download recordings from Kerberos Vault into memory.

`GET {api}/storage/blob` with the X-Kerberos-Storage-* headers (or the event's signed URL). One pooled HTTP
client for the process; 5xx answers, time-outs and broken connections are retried with exponential backoff;
401/403/404 and oversized recordings fail at once.
"""

from __future__ import annotations

import logging
import threading

import httpx

from vaultext_worker.config import VaultSettings
from vaultext_worker.runtime.errors import (
    NotFoundError,
    PermanentError,
    ShutdownRequested,
    TooLargeError,
    TransientError,
    UnauthorizedError,
)
from vaultext_worker.runtime.events import VaultEvent

log = logging.getLogger(__name__)
_CHUNK = 1 << 20


def api_base(url: str) -> str:
    """`http://vault`, `http://vault/` and `http://vault/api/` all become `http://vault/api`."""
    base = url.strip().rstrip("/")
    return base if base.endswith("/api") else f"{base}/api"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "data" in body:
        return str(body["data"])[:200]
    return str(body)[:200]


class VaultClient:
    def __init__(
        self,
        settings: VaultSettings,
        transport: httpx.BaseTransport | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.settings = settings
        self._stopping = stopping or threading.Event()
        timeout = httpx.Timeout(settings.timeout_s, connect=min(settings.timeout_s, 10.0))
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def download(self, event: VaultEvent) -> bytes:
        """The recording's bytes (gzip already undone); raises PermanentError or, after retries, TransientError."""
        cap = self.settings.max_download_bytes
        if event.file_size is not None and event.file_size > cap:
            raise TooLargeError(f"the event announces {event.file_size} bytes, above the {cap}-byte limit")
        attempt = 1
        while True:
            try:
                return self._download_once(event)
            except TransientError as error:
                if attempt >= self.settings.attempts:
                    raise TransientError(f"{error.message} (gave up after {attempt} attempts)") from error
                delay = self.settings.backoff_s * 2 ** (attempt - 1)
                log.warning("download of %s failed (%s); retry %d in %.1fs", event.key, error, attempt, delay)
                if self._stopping.wait(delay):
                    raise ShutdownRequested(f"stopping while waiting to retry {event.key}") from error
                attempt += 1

    def signed_url(self, event: VaultEvent) -> str:
        """Ask Vault for a signed URL of the recording (`GET {api}/storage`)."""
        response = self._request(f"{self._base(event)}/storage", event)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("data"), str):
            raise PermanentError(f"Vault answered {body!r} instead of a signed URL")
        return str(body["data"])

    def _base(self, event: VaultEvent) -> str:
        return api_base(event.override.uri or self.settings.api_url)

    def _headers(self, event: VaultEvent) -> dict[str, str]:
        return {
            "X-Kerberos-Storage-FileName": event.key,
            "X-Kerberos-Storage-Provider": event.provider,
            "X-Kerberos-Storage-AccessKey": event.override.access_key or self.settings.access_key,
            "X-Kerberos-Storage-SecretAccessKey": event.override.secret_key or self.settings.secret_key,
        }

    def _request(self, url: str, event: VaultEvent) -> httpx.Response:
        try:
            response = self._client.get(url, headers=self._headers(event))
        except (httpx.TimeoutException, httpx.TransportError) as error:
            raise TransientError(f"Vault did not answer: {type(error).__name__}: {error}") from error
        self._raise_for_status(response, event)
        return response

    def _raise_for_status(self, response: httpx.Response, event: VaultEvent) -> None:
        status = response.status_code
        if status < 400:
            return
        text = _error_text(response)
        if status in (401, 403):
            raise UnauthorizedError(f"Vault refused the credentials ({status}): {text}")
        if status == 404:
            raise NotFoundError(f"Vault has no recording {event.key!r} (404): {text}")
        if status == 413:
            raise TooLargeError(f"Vault refused the size (413): {text}")
        if status >= 500 or status in (408, 429):
            raise TransientError(f"Vault answered {status}: {text}")
        raise PermanentError(f"Vault answered {status}: {text}")

    def _download_once(self, event: VaultEvent) -> bytes:
        if event.signed_url:
            request = self._client.build_request("GET", event.signed_url)
        else:
            url = f"{self._base(event)}/storage/blob"
            request = self._client.build_request("GET", url, headers=self._headers(event))
        cap = self.settings.max_download_bytes
        try:
            response = self._client.send(request, stream=True)
            try:
                if response.status_code >= 400:
                    response.read()
                    self._raise_for_status(response, event)
                declared = response.headers.get("content-length")
                if declared is not None and "content-encoding" not in response.headers and int(declared) > cap:
                    raise TooLargeError(f"Vault announces {declared} bytes, above the {cap}-byte limit")
                body = bytearray()
                for chunk in response.iter_bytes(_CHUNK):
                    body += chunk
                    if len(body) > cap:
                        raise TooLargeError(f"the recording exceeds the {cap}-byte limit")
                return bytes(body)
            finally:
                response.close()
        except (httpx.TimeoutException, httpx.TransportError) as error:
            raise TransientError(f"download from Vault failed: {type(error).__name__}: {error}") from error
        except httpx.DecodingError as error:
            raise TransientError(f"Vault sent a broken gzip body: {error}") from error
