from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.request
from typing import Any

import pytest

from vaultext_sandbox.vault_standin import ANY_KEY, VaultStandIn
from vaultext_worker.config import VaultSettings
from vaultext_worker.runtime.errors import (
    BadMessageError,
    NotFoundError,
    PermanentError,
    ShutdownRequested,
    TooLargeError,
    TransientError,
    UnauthorizedError,
)
from vaultext_worker.runtime.events import VaultEvent, parse_event
from vaultext_worker.runtime.origins import api_candidates
from vaultext_worker.runtime.vault import VaultClient

from .messages import encoded, vault_event
from .spy_server import SpyServer

KEY = "youruser/1630643550_6-967003_highway 4_200-200-400-400_24_769.mp4"
BODY = bytes(range(256)) * 400


def client(vault: VaultStandIn, url: str | None = None, **overrides: object) -> VaultClient:
    fields: dict[str, object] = {
        "api_url": url or vault.url,
        "access_key": vault.access_key,
        "secret_key": vault.secret_key,
        "timeout_s": 2.0,
        "attempts": 3,
        "backoff_s": 0.05,
    }
    fields.update(overrides)
    return VaultClient(VaultSettings(**fields))  # type: ignore[arg-type]


def event(key: str = KEY, source: str = "storj", **extra: Any) -> VaultEvent:
    return parse_event(encoded(vault_event(key, source=source, **extra)))


@pytest.mark.parametrize("suffix", ["", "/"])
def test_api_candidates_as_given_first(suffix: str) -> None:
    assert api_candidates(f"http://v:8081{suffix}") == ("http://v:8081", "http://v:8081/api")
    assert api_candidates(f"http://v:8081/api{suffix}") == ("http://v:8081/api", "http://v:8081")


@pytest.mark.parametrize("served_at", ["/api", ""])
@pytest.mark.parametrize("configured", ["/api", "", "/api/"])
def test_download_with_and_without_api_suffix(served_at: str, configured: str) -> None:
    with VaultStandIn(api_prefix=served_at) as vault:
        vault.put("storj", KEY, BODY)
        url = f"http://127.0.0.1:{vault.port}{configured}"
        vault_client = client(vault, url)
        assert vault_client.download(event()) == BODY
        first = len(vault.requests)
        assert first == (1 if configured.rstrip("/") == served_at else 2)  # as given, then the other layout
        assert vault_client.download(event()) == BODY
        assert len(vault.requests) == first + 1  # the working layout was remembered
        assert vault.downloads(KEY) == 2


def test_gzip_bodies_are_undone(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    request = urllib.request.Request(
        f"{vault.url}/storage/blob",
        headers={
            "X-Kerberos-Storage-FileName": KEY,
            "X-Kerberos-Storage-Provider": "storj",
            "X-Kerberos-Storage-AccessKey": vault.access_key,
            "X-Kerberos-Storage-SecretAccessKey": vault.secret_key,
            "Accept-Encoding": "gzip",
        },
    )
    with urllib.request.urlopen(request) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(answer.read()) == BODY
    assert client(vault).download(event()) == BODY


def test_signed_url_in_the_event_is_used_directly(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    url = client(vault).signed_url(event())
    raw = vault_event(KEY)
    raw["payload"]["signedUrl"] = url
    raw["source"] = ""  # a signed URL needs neither provider nor credentials
    anonymous = client(vault, access_key="", secret_key="")
    assert anonymous.download(parse_event(encoded(raw))) == BODY
    tampered = dict(raw, payload=dict(raw["payload"], signedUrl=url.replace("signature=", "signature=0")))
    with pytest.raises(UnauthorizedError):
        anonymous.download(parse_event(encoded(tampered)))


def test_the_web_front_end_page_is_not_taken_for_the_api() -> None:
    with VaultStandIn(web_front_end=True) as vault:
        vault.put("storj", KEY, BODY)
        at_root = client(vault, f"http://127.0.0.1:{vault.port}")  # the web app's host, API under /api
        assert at_root.download(event()) == BODY
        assert at_root.download(event()) == BODY
        # the page, then the API twice: the layout that answered as the API was remembered
        assert [r.path for r in vault.requests] == ["/storage/blob", "/api/storage/blob", "/api/storage/blob"]


def test_a_url_that_leads_to_no_api_holds_instead_of_dead_lettering() -> None:
    with SpyServer(body=b"<!doctype html><p>some web app</p>", content_type="text/html") as web:
        settings = VaultSettings(api_url=web.url, access_key="ak", secret_key="sk", attempts=1)
        with pytest.raises(TransientError, match="web page, not the Vault API"):
            VaultClient(settings).download(event())
        assert [seen.path for seen in web.seen] == ["/storage/blob", "/api/storage/blob"]


def test_an_expired_signed_url_is_refreshed_through_vault(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.expire_signed_urls_after(-60)
    expired = client(vault).signed_url(event())
    vault.expire_signed_urls_after(3600)
    raw = vault_event(KEY)
    raw["payload"]["signedUrl"] = expired
    assert client(vault).download(parse_event(encoded(raw))) == BODY
    assert [(r.path.split("?")[0].split("/")[1], r.status) for r in vault.requests] == [
        ("api", 200), ("signed", 403), ("api", 200), ("signed", 200)
    ]  # fmt: skip


def test_an_expired_signed_url_without_a_provider_is_refused(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.expire_signed_urls_after(-60)
    raw = vault_event(KEY, source="")
    raw["payload"]["signedUrl"] = client(vault).signed_url(event())
    with pytest.raises(UnauthorizedError, match="AccessDenied: Request has expired"):
        client(vault).download(parse_event(encoded(raw)))


def test_storage_override_in_the_event(vault: VaultStandIn) -> None:
    vault.add_account("other-ak", "other-sk")
    vault.put("storj", KEY, BODY)
    data = {
        "storage_uri": vault.url.removesuffix("/api"),
        "storage_access_key": "other-ak",
        "storage_secret": "other-sk",
    }
    wrong = client(vault, url="http://127.0.0.1:9/api", access_key="nope", secret_key="nope")
    assert wrong.download(event(data=data)) == BODY


def test_unknown_credentials_are_permanent(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    with pytest.raises(UnauthorizedError, match="unknown access key"):
        client(vault, secret_key="wrong").download(event())
    assert len(vault.requests) == 1  # not retried


def test_missing_recording_is_permanent(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    with pytest.raises(NotFoundError, match="404"):
        client(vault).download(event(key="youruser/absent.mp4"))
    assert len(vault.requests) == 1  # Vault's own JSON 404: the other layout is not tried
    with pytest.raises(NotFoundError):
        client(vault).download(event(source="other-provider"))


def test_server_errors_are_retried_then_succeed(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.fail(KEY, 500, times=2)
    assert client(vault).download(event()) == BODY
    assert [r.status for r in vault.requests] == [500, 500, 200]


def test_server_errors_give_up_after_the_attempts(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.fail(ANY_KEY, 503)
    with pytest.raises(TransientError, match="gave up after 3 attempts"):
        client(vault).download(event())
    assert len(vault.requests) == 3


def test_a_hanging_vault_times_out(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.delay(KEY, 30)
    started = time.monotonic()
    with pytest.raises(TransientError, match="Timeout"):
        client(vault, timeout_s=0.3, attempts=2).download(event())
    assert time.monotonic() - started < 5


def test_size_cap_on_the_claim_and_on_the_body(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    with pytest.raises(TooLargeError, match="announces 2147483648"):
        client(vault).download(event(file_size=2 * 1024**3))
    assert vault.requests == []  # refused before downloading
    with pytest.raises(TooLargeError, match="1000-byte limit"):
        client(vault, max_download_bytes=1000).download(event(file_size=10))


def test_a_stop_interrupts_the_backoff(vault: VaultStandIn) -> None:
    vault.fail(ANY_KEY, 500)
    stopping = threading.Event()
    settings = VaultSettings(
        api_url=vault.url, access_key=vault.access_key, secret_key=vault.secret_key, attempts=5, backoff_s=10.0
    )
    threading.Timer(0.3, stopping.set).start()
    started = time.monotonic()
    with pytest.raises(ShutdownRequested):
        VaultClient(settings, stopping=stopping).download(event())
    assert time.monotonic() - started < 3


def test_standin_signed_endpoint_answers_json(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    request = urllib.request.Request(
        f"{vault.url}/storage",
        headers={
            "X-Kerberos-Storage-FileName": KEY,
            "X-Kerberos-Storage-Provider": "storj",
            "X-Kerberos-Storage-AccessKey": vault.access_key,
            "X-Kerberos-Storage-SecretAccessKey": vault.secret_key,
        },
    )
    with urllib.request.urlopen(request) as answer:
        body = json.loads(answer.read())
    assert body["data"].startswith(f"http://127.0.0.1:{vault.port}/signed/")


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/recording.mp4", "file:///etc/passwd", "not a url"])
def test_a_signed_url_that_is_not_http_is_a_bad_message_not_an_outage(vault: VaultStandIn, url: str) -> None:
    raw = vault_event(KEY, source="")
    raw["payload"]["signedUrl"] = url
    with pytest.raises(BadMessageError, match="signedUrl"):
        client(vault).download(parse_event(encoded(raw)))


def test_a_redirect_to_another_scheme_is_permanent(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.redirect(KEY, "ftp://127.0.0.1/recording.mp4")
    with pytest.raises(PermanentError, match="cannot request") as raised:
        client(vault).download(event())
    assert not isinstance(raised.value, TransientError)
