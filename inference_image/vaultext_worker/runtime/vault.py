"""Download recordings from Kerberos Vault into memory.

`GET {api}/storage/blob` with the X-Kerberos-Storage-* headers, or the event's signed URL (refreshed through
`GET {api}/storage` when the storage answers that it expired). One pooled HTTP client for the process; 5xx
answers, time-outs and broken connections are retried with exponential backoff; 401/403/404 and oversized
recordings fail at once. Credentials follow the rules of `origins.py`; redirects are followed here, not by
httpx, so the key headers never leave their origin.
"""

from __future__ import annotations

import logging
import re
import threading

import httpx

from vaultext_worker.config import VaultSettings
from vaultext_worker.runtime.errors import (
    BadMessageError,
    NotFoundError,
    PermanentError,
    ShutdownRequested,
    TooLargeError,
    TransientError,
    UnauthorizedError,
    UnreachableLocationError,
    UntrustedLocationError,
)
from vaultext_worker.runtime.events import VaultEvent
from vaultext_worker.runtime.origins import (
    CREDENTIAL_HEADERS,
    BadLocationError,
    Origin,
    api_candidates,
    may_receive_configured_keys,
    redirect_keeps_credentials,
)

log = logging.getLogger(__name__)
_CHUNK = 1 << 20
_MAX_REDIRECTS = 5
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,200})</\1>")
# what S3, MinIO, GCS and Azure answer for an expired or otherwise refused signed URL
_SIGNED_URL_REFUSED = (400, 401, 403)


def _error_text(response: httpx.Response) -> str:
    if "xml" in response.headers.get("content-type", "") or response.text.lstrip().startswith("<"):
        fields = dict(_XML_FIELD.findall(response.text))
        if fields:
            return ": ".join(fields[name] for name in ("Code", "Message") if name in fields)
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "data" in body:
        return str(body["data"])[:200]
    return str(body)[:200]


def _is_json(response: httpx.Response) -> bool:
    return "json" in response.headers.get("content-type", "")


def _is_web_page(response: httpx.Response) -> bool:
    return "text/html" in response.headers.get("content-type", "")


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
        self._client = httpx.Client(timeout=timeout, transport=transport, follow_redirects=False)
        self._working_base: dict[str, str] = {}  # base as given → the layout that answered
        self._lock = threading.Lock()

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
                    message = f"{error.message} (gave up after {attempt} attempts)"
                    if self._only_the_event_vouches_for(event):
                        # one message must not hold the partition for a place only it names
                        raise UnreachableLocationError(message) from error
                    raise TransientError(message) from error
                delay = self.settings.backoff_s * 2 ** (attempt - 1)
                log.warning("download of %s failed (%s); retry %d in %.1fs", event.key, error, attempt, delay)
                if self._stopping.wait(delay):
                    raise ShutdownRequested(f"stopping while waiting to retry {event.key}") from error
                attempt += 1

    def signed_url(self, event: VaultEvent) -> str:
        """Ask Vault for a signed URL of the recording (`GET {api}/storage`)."""
        response = self._api("/storage", event)
        try:
            response.read()
            body = response.json()
        except ValueError as error:
            raise PermanentError(f"Vault answered {response.text[:200]!r} instead of a signed URL") from error
        finally:
            response.close()
        if not isinstance(body, dict) or not isinstance(body.get("data"), str):
            raise PermanentError(f"Vault answered {body!r} instead of a signed URL")
        return str(body["data"])

    def _only_the_event_vouches_for(self, event: VaultEvent) -> bool:
        """Whether the download goes to a place neither the configuration nor Vault named: the event's own
        storage_uri (not the configured Vault, not a trusted host), or a signed URL with no provider to ask
        Vault about."""
        if event.signed_url:
            return not event.provider
        uri = event.override.uri
        try:
            return bool(uri) and not may_receive_configured_keys(
                uri, self.settings.api_url, self.settings.trusted_hosts
            )
        except BadLocationError:
            return True

    def _location(self, event: VaultEvent) -> tuple[str, dict[str, str]]:
        """The base URL and the headers for `event`: the event's own keys go wherever the event says; the
        configured keys only to the configured Vault or a trusted host."""
        override = event.override
        base = override.uri or self.settings.api_url
        try:
            trusted = may_receive_configured_keys(base, self.settings.api_url, self.settings.trusted_hosts)
        except BadLocationError as error:
            raise BadMessageError(f"'data.storage_uri': {error}") from error
        if override.access_key or override.secret_key:
            if not (override.access_key and override.secret_key):
                raise BadMessageError("the event carries only one of storage_access_key and storage_secret")
            access, secret = override.access_key, override.secret_key
        else:
            access, secret = self.settings.access_key, self.settings.secret_key
            if not trusted:
                raise UntrustedLocationError(
                    f"the event names {base!r}, which is neither VAULT_API_URL's host nor in "
                    "VAULTEXT_VAULT_TRUSTED_HOSTS, and carries no keys of its own"
                )
        headers = {
            "X-Kerberos-Storage-FileName": event.key,
            "X-Kerberos-Storage-Provider": event.provider,
            "X-Kerberos-Storage-AccessKey": access,
            "X-Kerberos-Storage-SecretAccessKey": secret,
        }
        return base, headers

    def _api(self, path: str, event: VaultEvent) -> httpx.Response:
        """GET `path` of the Vault API, streaming: the base as given, once more with the other layout when that
        did not answer as the API (a 404 that is not Vault's JSON, or a web page), and the layout that answered
        is kept for the next requests."""
        given, headers = self._location(event)
        with self._lock:
            known = self._working_base.get(given)
        bases = (known,) if known else api_candidates(given)
        for index, base in enumerate(bases):
            response = self._send(f"{base}{path}", headers)
            web_page = _is_web_page(response)
            missing_route = response.status_code == 404 and not _is_json(response)
            if (web_page or missing_route) and index + 1 < len(bases):
                response.close()
                log.info("%s%s did not answer as the Vault API (%d); trying %s%s", base, path,
                         response.status_code, bases[index + 1], path)  # fmt: skip
                continue
            if web_page:
                response.close()
                # a wrong VAULT_API_URL: every message would fail alike, so hold them rather than dead-letter them
                raise TransientError(f"{base}{path} answered a web page, not the Vault API: check VAULT_API_URL")
            if response.status_code != 404:
                with self._lock:
                    self._working_base[given] = base
            self._raise_for_status(response, event)
            return response
        raise AssertionError("unreachable: the last candidate always returns or raises")

    def _send(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """GET with streaming, following redirects by hand: key headers are dropped when a redirect leaves the
        origin or goes from https to http."""
        try:
            request = self._client.build_request("GET", url, headers=headers)
            for _ in range(_MAX_REDIRECTS + 1):
                response = self._client.send(request, stream=True)
                if not response.is_redirect:
                    return response
                target = request.url.join(response.headers["location"])
                response.close()
                if not redirect_keeps_credentials(str(request.url), str(target)):
                    headers = {k: v for k, v in headers.items() if k not in CREDENTIAL_HEADERS}
                request = self._client.build_request("GET", target, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:  # an address no retry can fix
            raise PermanentError(f"cannot request {url!r}: {error}") from error
        except (httpx.TimeoutException, httpx.TransportError) as error:
            raise TransientError(f"Vault did not answer: {type(error).__name__}: {error}") from error
        response.close()
        raise PermanentError(f"more than {_MAX_REDIRECTS} redirects from {url}")

    def _raise_for_status(self, response: httpx.Response, event: VaultEvent) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            response.read()
        except (httpx.TimeoutException, httpx.TransportError, httpx.DecodingError) as error:
            raise TransientError(f"Vault answered {status} and then failed: {error}") from error
        finally:
            response.close()
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

    def _signed(self, event: VaultEvent) -> httpx.Response:
        """The event's signed URL; when the storage refuses it (expired), a fresh one from Vault."""
        try:
            Origin.of(event.signed_url)
        except BadLocationError as error:
            raise BadMessageError(f"'payload.signedUrl': {error}") from error
        try:
            response = self._send(event.signed_url, {})
        except TransientError as error:
            if not event.provider:
                raise
            log.info("the signed URL of %s failed (%s); downloading through Vault", event.key, error)
            return self._api("/storage/blob", event)
        if response.status_code not in _SIGNED_URL_REFUSED or not event.provider:
            return response
        try:
            response.read()
        finally:
            response.close()
        log.info("the signed URL of %s was refused (%d: %s); asking Vault for a new one", event.key,
                 response.status_code, _error_text(response))  # fmt: skip
        return self._send(self.signed_url(event), {})

    def _download_once(self, event: VaultEvent) -> bytes:
        response = self._signed(event) if event.signed_url else self._api("/storage/blob", event)
        cap = self.settings.max_download_bytes
        try:
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
        except (httpx.TimeoutException, httpx.TransportError) as error:
            raise TransientError(f"download from Vault failed: {type(error).__name__}: {error}") from error
        except httpx.DecodingError as error:
            raise TransientError(f"Vault sent a broken gzip body: {error}") from error
        finally:
            response.close()
