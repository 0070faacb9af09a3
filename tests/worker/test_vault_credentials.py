"""The configured Vault keys reach the configured Vault (and trusted hosts) only, whatever an event says."""

from __future__ import annotations

from typing import Any

import pytest

from vaultext_sandbox.processes import free_port
from vaultext_sandbox.vault_standin import ANY_KEY, VaultStandIn
from vaultext_worker.config import VaultSettings
from vaultext_worker.runtime.errors import (
    BadMessageError,
    TransientError,
    UnauthorizedError,
    UnreachableLocationError,
    UntrustedLocationError,
)
from vaultext_worker.runtime.events import VaultEvent, parse_event
from vaultext_worker.runtime.origins import Origin, may_receive_configured_keys, redirect_keeps_credentials
from vaultext_worker.runtime.vault import VaultClient

from .messages import encoded, vault_event
from .spy_server import SpyServer

KEY = "youruser/1630643550_6-967003_highway 4_200-200-400-400_24_769.mp4"
BODY = b"recording bytes" * 100


def client(vault: VaultStandIn, trusted: tuple[str, ...] = ()) -> VaultClient:
    settings = VaultSettings(
        api_url=vault.url, access_key=vault.access_key, secret_key=vault.secret_key, timeout_s=2.0, attempts=1,
        trusted_hosts=trusted,
    )  # fmt: skip
    return VaultClient(settings)


def event(**data: Any) -> VaultEvent:
    return parse_event(encoded(vault_event(KEY, data=data)))


def assert_no_configured_key(spy: SpyServer, vault: VaultStandIn) -> None:
    values = spy.header_values()
    assert vault.secret_key not in values and vault.access_key not in values, spy.seen


def test_a_hostile_storage_uri_never_receives_the_configured_keys(vault: VaultStandIn) -> None:
    with SpyServer() as spy:
        with pytest.raises(UntrustedLocationError, match="VAULTEXT_VAULT_TRUSTED_HOSTS"):
            client(vault).download(event(storage_uri=f"{spy.url}/api"))
        assert spy.seen == []
        assert_no_configured_key(spy, vault)


def test_a_trusted_host_receives_the_configured_keys(vault: VaultStandIn) -> None:
    with SpyServer(body=BODY) as spy:
        port = spy.url.rsplit(":", 1)[1]
        assert client(vault, trusted=(f"127.0.0.1:{port}",)).download(event(storage_uri=spy.url)) == BODY
        assert spy.seen[0].path == "/storage/blob"
        assert spy.seen[0].headers["x-kerberos-storage-secretaccesskey"] == vault.secret_key


def test_an_event_with_its_own_keys_sends_only_those(vault: VaultStandIn) -> None:
    with SpyServer(body=BODY) as spy:
        own = {"storage_uri": spy.url, "storage_access_key": "event-ak", "storage_secret": "event-sk"}
        assert client(vault).download(event(**own)) == BODY
        assert spy.seen[0].headers["x-kerberos-storage-secretaccesskey"] == "event-sk"
        assert_no_configured_key(spy, vault)


@pytest.mark.parametrize("half", [{"storage_access_key": "event-ak"}, {"storage_secret": "event-sk"}])
def test_half_a_key_pair_is_never_completed_with_the_configured_half(vault: VaultStandIn, half: Any) -> None:
    with SpyServer() as spy:
        with pytest.raises(BadMessageError, match="only one of"):
            client(vault).download(event(storage_uri=spy.url, **half))
        assert spy.seen == []


def test_a_redirect_to_another_host_loses_the_keys(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    with SpyServer(body=BODY) as spy:
        vault.redirect(ANY_KEY, f"{spy.url}/bucket/recording.mp4")
        assert client(vault).download(event()) == BODY
        assert [seen.path for seen in spy.seen] == ["/bucket/recording.mp4"]
        assert_no_configured_key(spy, vault)


def test_a_redirect_within_vault_keeps_the_keys(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    vault.redirect(KEY, f"{vault.url}/storage/blob?moved=1", times=1)
    assert client(vault).download(event()) == BODY  # the stand-in answers 401 to a request without the keys
    assert [r.status for r in vault.requests] == [302, 200]


def test_a_redirect_chain_that_leaves_and_comes_back_stays_without_keys(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    with SpyServer(status=302, location=f"{vault.url}/storage/blob") as spy:
        vault.redirect(KEY, spy.url, times=1)
        with pytest.raises(UnauthorizedError, match="401"):
            client(vault).download(event())
        assert len(spy.seen) == 1
        assert_no_configured_key(spy, vault)


def test_https_settings_never_send_keys_over_http() -> None:
    assert not may_receive_configured_keys("http://vault.example/api", "https://vault.example/api", ())
    assert not may_receive_configured_keys("http://other.example", "https://vault.example", ("other.example",))
    assert may_receive_configured_keys("https://other.example:8443", "https://vault.example", ("other.example",))
    assert may_receive_configured_keys("http://vault.example:80/x", "http://vault.example/api", ())
    assert not may_receive_configured_keys("http://vault.example:8080", "http://vault.example", ())
    assert not redirect_keeps_credentials("https://vault.example/a", "http://vault.example/a")
    assert not redirect_keeps_credentials("https://vault.example/a", "https://vault.example.evil/a")
    assert redirect_keeps_credentials("https://vault.example/a", "https://VAULT.example:443/b")


@pytest.mark.parametrize(
    ("entry", "url", "expected"),
    [
        ("vault.example", "http://vault.example:9000", True),
        ("vault.example:9000", "http://vault.example:9000", True),
        ("vault.example:9000", "http://vault.example:9001", False),
        ("vault.example", "http://vault.example.evil", False),
        ("example", "http://vault.example", False),
    ],
)
def test_trusted_host_entries(entry: str, url: str, expected: bool) -> None:
    assert Origin.of(url).matches(entry) is expected


@pytest.mark.parametrize("uri", ["file:///etc/passwd", "ftp://vault.example", "http://user:pw@vault.example", "vault"])
def test_a_storage_uri_that_is_not_http_is_a_bad_message(vault: VaultStandIn, uri: str) -> None:
    with pytest.raises(BadMessageError, match="storage_uri"):
        client(vault).download(event(storage_uri=uri, storage_access_key="a", storage_secret="b"))


def test_a_dead_location_only_the_event_names_is_dead_lettered_not_held(vault: VaultStandIn) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    own = {"storage_uri": closed, "storage_access_key": "event-ak", "storage_secret": "event-sk"}
    with pytest.raises(UnreachableLocationError, match="gave up after 1 attempts"):
        client(vault).download(event(**own))
    raw = vault_event(KEY, source="")
    raw["payload"]["signedUrl"] = f"{closed}/bucket/recording.mp4?X-Amz-Signature=abc"
    with pytest.raises(UnreachableLocationError):
        client(vault).download(parse_event(encoded(raw)))


def test_the_configured_vault_being_down_stays_an_outage(vault: VaultStandIn) -> None:
    url = vault.url
    vault.stop()
    settings = VaultSettings(api_url=url, access_key="ak", secret_key="sk", timeout_s=2.0, attempts=1)
    with pytest.raises(TransientError) as raised:
        VaultClient(settings).download(event(storage_uri=url))  # the configured Vault, named by the event too
    assert not isinstance(raised.value, UnreachableLocationError)
    raw = vault_event(KEY)  # a provider: the storage and Vault both down is an outage too
    raw["payload"]["signedUrl"] = f"http://127.0.0.1:{free_port()}/bucket/recording.mp4"
    with pytest.raises(TransientError) as raised:
        VaultClient(settings).download(parse_event(encoded(raw)))
    assert not isinstance(raised.value, UnreachableLocationError)


def test_a_dead_signed_url_falls_back_to_vault(vault: VaultStandIn) -> None:
    vault.put("storj", KEY, BODY)
    raw = vault_event(KEY)
    raw["payload"]["signedUrl"] = f"http://127.0.0.1:{free_port()}/bucket/recording.mp4"
    assert client(vault).download(parse_event(encoded(raw))) == BODY
    assert vault.downloads(KEY) == 1
