from __future__ import annotations

import hashlib
import json

import pytest

from vaultext_worker.runtime.errors import BadMessageError
from vaultext_worker.runtime.events import dead_letter_message, parse_event, result_message

from .messages import encoded, vault_event

KEY = "youruser/1630643550_6-967003_highway 4_200-200-400-400_24_769.mp4"


def test_parses_the_vault_event() -> None:
    event = parse_event(encoded(vault_event(KEY)))
    assert (event.key, event.provider, event.file_size, event.signed_url) == (KEY, "storj", 7589031, "")


def test_parses_an_older_minimal_event_and_ignores_unknown_fields() -> None:
    raw = {
        "date": 1,
        "source": "minio",
        "payload": {"fileSize": 10, "key": "a/b.mp4", "metadata": {}},
        "events": [],
        "provider": "kstorage",
        "somethingNew": {"x": 1},
    }
    event = parse_event(json.dumps(raw).encode())
    assert event.key == "a/b.mp4" and event.provider == "minio"


def test_newer_fields_signed_url_and_storage_override() -> None:
    raw = vault_event(
        KEY,
        traceId="t-1",
        fileName="x.mp4",
        operation="persist",
        data={"storage_uri": "http://other:8081", "storage_access_key": "AK", "storage_secret": "SK"},
    )
    raw["payload"]["signedUrl"] = "http://127.0.0.1:1/signed?sig=abc"
    event = parse_event(encoded(raw))
    assert event.signed_url.endswith("sig=abc")
    assert (event.override.uri, event.override.access_key, event.override.secret_key) == (
        "http://other:8081",
        "AK",
        "SK",
    )
    assert event.trace_id == "t-1"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON list"),
        (b'{"source": "s"}', "no 'payload' object"),
        (b'{"source": "s", "payload": {"fileSize": 3}}', "no 'payload.key'"),
        (b'{"source": "s", "payload": {"key": "  "}}', "no 'payload.key'"),
        (b'{"source": "s", "payload": {"key": "k", "fileSize": "big"}}', "not a size"),
        (b'{"payload": {"key": "k"}}', "no 'source'"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(value: bytes, reason: str) -> None:
    with pytest.raises(BadMessageError, match=reason):
        parse_event(value)


def test_result_keeps_the_event_drops_credentials_and_sets_data() -> None:
    raw = vault_event(KEY, data={"storage_uri": "u", "storage_access_key": "AK", "storage_secret": "SK"})
    raw["payload"]["signedUrl"] = "http://x/signed?signature=secret"
    data = {"probabilities": [[0.5]], "labels": [["car"]], "boxes": [[[1.0, 2.0, 3.0, 4.0]]]}
    result = json.loads(result_message(parse_event(encoded(raw)), data))
    assert result["operation"] == "classification"
    assert result["data"] == data
    assert result["payload"]["key"] == KEY
    assert result["payload"]["metadata"]["event-instancename"] == "highway4"
    text = json.dumps(result)
    for secret in ("AK", "SK", "signature=secret", "storage_access_key", "signedUrl"):
        assert secret not in text


def test_dead_letter_carries_reason_and_original() -> None:
    raw = vault_event(KEY, data={"storage_secret": "SK"})
    record = json.loads(dead_letter_message(encoded(raw), "not-found", "404", 1, "w-1"))
    assert record["reason"] == "not-found" and record["detail"] == "404" and record["worker"] == "w-1"
    assert record["message"]["payload"]["key"] == KEY
    assert "SK" not in json.dumps(record)
    broken = json.loads(dead_letter_message(b"{oops", "bad-message", "not JSON", 1, "w-1"))
    assert broken["raw"] == "{oops"


def test_a_huge_message_is_cut_below_the_cap_with_its_size_and_hash() -> None:
    raw = vault_event(KEY, data={"storage_secret": "SK", "padding": "x" * 300_000})
    value = encoded(raw)
    record = dead_letter_message(value, "bad-video", "cannot decode", 1, "w-1", max_bytes=10_000)
    assert len(record) <= 10_000
    parsed = json.loads(record)
    assert parsed["truncated"] == {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    assert parsed["reason"] == "bad-video" and "message" not in parsed
    assert b"SK" not in record  # no fragment of a message that parsed: it could carry credentials


@pytest.mark.parametrize("filler", ["a", "\x01", "é"])  # \x01 grows to 6 bytes in JSON, é to 2 in UTF-8
def test_a_huge_unparsable_message_keeps_a_head_that_fits(filler: str) -> None:
    value = ("{broken " + filler * 200_000).encode()
    record = dead_letter_message(value, "bad-message", "not JSON", 1, "w-1", max_bytes=8_192)
    assert len(record) <= 8_192
    parsed = json.loads(record)
    assert parsed["truncated"]["bytes"] == len(value)
    assert parsed["truncated"]["head"].startswith("{broken " + filler)
    assert len(parsed["truncated"]["head"]) > 500


def test_a_small_record_is_left_whole() -> None:
    value = encoded(vault_event(KEY))
    assert "message" in json.loads(dead_letter_message(value, "not-found", "404", 1, "w-1", max_bytes=10_000))
