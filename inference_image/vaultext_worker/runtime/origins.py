"""Where Vault credentials may go: pure rules on URLs, no I/O.

The configured keys (VAULT_ACCESS_KEY / VAULT_SECRET_KEY) are sent only to VAULT_API_URL's origin and to the
hosts of VAULTEXT_VAULT_TRUSTED_HOSTS, never from an https setting to an http address. A redirect keeps the
key headers only while it stays on the same origin and scheme.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

CREDENTIAL_HEADERS = ("X-Kerberos-Storage-AccessKey", "X-Kerberos-Storage-SecretAccessKey")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadLocationError(ValueError):
    """Not an http(s) URL with a host."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as error:
            raise BadLocationError(f"{url!r} is not a URL: {error}") from error
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise BadLocationError(f"{url!r} is not an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise BadLocationError(f"{url!r} carries user information")
        return cls(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme])

    def matches(self, entry: str) -> bool:
        """`entry` is `host` (any port) or `host:port`."""
        host, _, port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if not host:
            return False
        return host == self.host and (not port or port == str(self.port))


def may_receive_configured_keys(url: str, configured: str, trusted_hosts: tuple[str, ...]) -> bool:
    """Whether the configured keys may be sent to `url`."""
    target, home = Origin.of(url), Origin.of(configured)
    if home.scheme == "https" and target.scheme != "https":
        return False
    return target == home or any(target.matches(entry) for entry in trusted_hosts)


def redirect_keeps_credentials(source: str, target: str) -> bool:
    """A redirect keeps the key headers only on the same origin (same scheme, host and port)."""
    try:
        return Origin.of(source) == Origin.of(target)
    except BadLocationError:
        return False


def api_candidates(base: str) -> tuple[str, str]:
    """The base as given, then the other layout: Vault serves its API at `/api` behind the web front end and
    at `/` on a host of its own."""
    given = base.strip().rstrip("/")
    other = given.removesuffix("/api") if given.endswith("/api") else f"{given}/api"
    return given, other
