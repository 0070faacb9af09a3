"""Kerberos Vault events in, results out (JSON; unknown fields are kept or ignored, never rejected)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vaultext_worker.runtime.errors import BadMessageError

RESULT_SCHEMA = "vaultext.result/v1"
# Names that carry secrets anywhere in a message; they never reach the output or dead-letter topics.
CREDENTIAL_KEYS = frozenset(
    {"storage_access_key", "storage_secret", "accessKey", "secretKey", "secretAccessKey", "password", "signedUrl"}
)


@dataclass(frozen=True)
class StorageOverride:
    """Per-message Vault location/credentials a newer event may carry in `data`."""

    uri: str = ""
    access_key: str = ""
    secret_key: str = ""


@dataclass(frozen=True)
class VaultEvent:
    raw: Mapping[str, Any]
    key: str
    provider: str
    file_size: int | None
    signed_url: str
    override: StorageOverride

    @property
    def trace_id(self) -> str:
        return str(self.raw.get("traceId", ""))


def parse_event(value: bytes | None) -> VaultEvent:
    """Parse one input message; raises BadMessageError with a readable reason."""
    if not value:
        raise BadMessageError("the message is empty")
    try:
        raw = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadMessageError(f"the message is not JSON: {error}") from error
    if not isinstance(raw, dict):
        raise BadMessageError(f"the message is a JSON {type(raw).__name__}, expected an object")
    payload = raw.get("payload")
    if not isinstance(payload, dict):
        raise BadMessageError("the message has no 'payload' object")
    key = payload.get("key")
    if not isinstance(key, str) or not key.strip():
        raise BadMessageError("the message has no 'payload.key'")
    size = payload.get("fileSize")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int | float) or size < 0):
        raise BadMessageError(f"'payload.fileSize' is not a size: {size!r}")
    signed_url = payload.get("signedUrl") or ""
    source = raw.get("source")
    if not signed_url and (not isinstance(source, str) or not source):
        raise BadMessageError("the message has no 'source' (storage provider) and no 'payload.signedUrl'")
    data = raw.get("data")
    data = data if isinstance(data, dict) else {}
    override = StorageOverride(
        uri=str(data.get("storage_uri") or ""),
        access_key=str(data.get("storage_access_key") or ""),
        secret_key=str(data.get("storage_secret") or ""),
    )
    return VaultEvent(raw, key, str(source or ""), int(size) if size is not None else None, str(signed_url), override)


def without_credentials(value: Any) -> Any:
    """A deep copy of a message with every credential-bearing field removed."""
    if isinstance(value, dict):
        return {k: without_credentials(v) for k, v in value.items() if k not in CREDENTIAL_KEYS}
    if isinstance(value, list):
        return [without_credentials(item) for item in value]
    return copy.copy(value)


def result_message(event: VaultEvent, data: Mapping[str, Any]) -> bytes:
    """The input message without credentials, with `operation` and the result `data` set."""
    message = without_credentials(dict(event.raw))
    message["operation"] = "classification"
    message["data"] = dict(data)
    return json.dumps(message, separators=(",", ":")).encode()


def dead_letter_message(
    value: bytes | None, reason: str, detail: str, attempts: int, worker: str, max_bytes: int = 1_000_000
) -> bytes:
    """The original message (credentials removed when it parses) with why it can never succeed. A record that
    would exceed `max_bytes` carries the original's size, SHA-256 and as much of its start as fits instead."""
    original: Any
    try:
        original = without_credentials(json.loads(value)) if value else None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        original = None
    record: dict[str, Any] = {
        "schema": "vaultext.dead-letter/v1",
        "reason": reason,
        "detail": detail[:2000],
        "attempts": attempts,
        "worker": worker,
    }
    if original is not None:
        record["message"] = original
    else:
        record["raw"] = (value or b"").decode("utf-8", errors="replace")
    encoded = json.dumps(record, separators=(",", ":")).encode()
    if len(encoded) <= max_bytes:
        return encoded
    return _truncated(record, value or b"", max_bytes)


def _truncated(record: dict[str, Any], value: bytes, max_bytes: int) -> bytes:
    """The record with `truncated` in place of the original: its size, SHA-256 and a head that fits. A head is
    kept only for a message that did not parse (a fragment of a parsed one could carry credentials)."""
    unparsed = "raw" in record
    record = {k: v for k, v in record.items() if k not in ("message", "raw")}
    record["truncated"] = {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    head = value.decode("utf-8", errors="replace") if unparsed else ""
    length = min(len(head), max_bytes)
    while length > 0:
        record["truncated"]["head"] = head[:length]
        encoded = json.dumps(record, separators=(",", ":")).encode()
        if len(encoded) <= max_bytes:
            return encoded
        length //= 2  # JSON escaping can grow a character to 12 bytes
    record["truncated"].pop("head", None)
    return json.dumps(record, separators=(",", ":")).encode()
