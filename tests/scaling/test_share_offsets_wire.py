"""DescribeShareGroupOffsets (API key 90) on the wire: our request against bytes laid out by hand from Kafka's
message schema (flexible versions: compact strings and arrays, tagged-field sections), and responses in both
versions decoded into lag."""

from __future__ import annotations

import struct
import uuid

import pytest

from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets
from vaultext_operator.sources.share_offsets import (
    UNKNOWN,
    DescribeShareGroupOffsetsResponse,
    ShareGroupError,
    ShareGroupOffsets,
    ShareOffsetsUnavailable,
    SharePartition,
    build_request,
    parse_response,
    partition_offsets,
)

NO_TAGS = b"\x00"


def compact_len(n: int) -> bytes:
    """Unsigned varint of n + 1 (all lengths here are below 127)."""
    assert n + 1 < 0x80
    return bytes([n + 1])


def compact_string(text: str | None) -> bytes:
    if text is None:
        return b"\x00"
    raw = text.encode()
    return compact_len(len(raw)) + raw


def partition(index: int, start: int, lag: int | None, error: int = 0, message: str | None = None) -> bytes:
    body = struct.pack(">iqi", index, start, 0)  # PartitionIndex, StartOffset, LeaderEpoch
    if lag is not None:  # version 1 only
        body += struct.pack(">q", lag)
    return body + struct.pack(">h", error) + compact_string(message) + NO_TAGS


def group(name: str, topics: list[tuple[str, list[bytes]]], error: int = 0, message: str | None = None) -> bytes:
    body = compact_string(name) + compact_len(len(topics))
    for topic, partitions in topics:
        body += compact_string(topic) + uuid.uuid4().bytes + compact_len(len(partitions)) + b"".join(partitions)
        body += NO_TAGS
    return body + struct.pack(">h", error) + compact_string(message) + NO_TAGS


def response(groups: list[bytes], version: int) -> dict[str, object]:
    raw = struct.pack(">i", 0) + compact_len(len(groups)) + b"".join(groups) + NO_TAGS
    return parse_response(DescribeShareGroupOffsetsResponse.decode(raw, version=version))  # type: ignore[return-value]


@pytest.mark.parametrize("version", [0, 1])
def test_the_request_is_the_schema_byte_for_byte(version: int) -> None:
    request = build_request({"shared": {"events": [0, 1, 2]}, "other": {"events": [2]}})
    expected = compact_len(2)
    for name, partitions in (("other", [2]), ("shared", [0, 1, 2])):  # groups in name order
        expected += compact_string(name) + compact_len(1) + compact_string("events")
        expected += compact_len(len(partitions)) + b"".join(struct.pack(">i", p) for p in partitions)
        expected += NO_TAGS + NO_TAGS
    expected += NO_TAGS
    assert bytes(request.encode(version=version)) == expected
    assert request.API_KEY == 90


def test_version_1_carries_the_brokers_lag_and_version_0_does_not() -> None:
    parts = [partition(0, 40, 60), partition(1, -1, -1), partition(2, 100, 0)]
    v1 = response([group("shared", [("events", parts)])], version=1)
    assert v1 == {"shared": ShareGroupOffsets({("events", 0): SharePartition(40, 60),
                                               ("events", 1): SharePartition(UNKNOWN, UNKNOWN),
                                               ("events", 2): SharePartition(100, 0)})}
    v0 = response([group("shared", [("events", [partition(0, 40, None)])])], version=0)
    assert v0 == {"shared": ShareGroupOffsets({("events", 0): SharePartition(40, UNKNOWN)})}


def test_errors_stay_with_their_group_and_coordinator_errors_retry() -> None:
    not_found = group("gone", [], error=69, message="Group gone not found.")  # GROUP_ID_NOT_FOUND
    denied = group("denied", [("events", [partition(0, 0, 0, error=29)])])  # TOPIC_AUTHORIZATION_FAILED
    fine = group("fine", [("events", [partition(0, 5, 1)])])
    switched_off = group("off", [], error=35)  # UNSUPPORTED_VERSION: share groups off on this broker
    answer = response([not_found, denied, fine, switched_off], version=1)
    assert isinstance(answer["off"], ShareGroupError) and "share.version" in answer["off"].error
    assert answer["gone"] == ShareGroupOffsets({})  # never started: no offsets, counted like no commits
    assert isinstance(answer["denied"], ShareGroupError) and answer["denied"].error.startswith("events/0: Topic")
    assert answer["fine"] == ShareGroupOffsets({("events", 0): SharePartition(5, 1)})
    with pytest.raises(ShareOffsetsUnavailable, match="NotCoordinator"):
        response([fine, group("moved", [], error=16)], version=1)  # NOT_COORDINATOR
    with pytest.raises(ShareOffsetsUnavailable, match="CoordinatorLoadInProgress"):
        response([group("loading", [("events", [partition(0, 0, 0, error=14)])])], version=1)


def test_a_truncated_answer_is_an_error_not_a_reading() -> None:
    raw = struct.pack(">i", 0) + compact_len(1) + group("shared", [("events", [partition(0, 1, 2)])])
    with pytest.raises(Exception):  # noqa: B017  whatever the decoder raises, never a partial reading
        DescribeShareGroupOffsetsResponse.decode(raw[:-9], version=1)


def test_share_partitions_in_the_terms_of_the_lag_math() -> None:
    assert partition_offsets(SharePartition(40, 60), 100) == PartitionOffsets(40, 100)
    assert partition_offsets(SharePartition(40, 10), 100) == PartitionOffsets(90, 100)  # acked past the start
    assert partition_offsets(SharePartition(40, 500), 100) == PartitionOffsets(40, 100)  # stale watermark
    assert partition_offsets(SharePartition(40, UNKNOWN), 100) == PartitionOffsets(40, 100)  # version 0
    assert partition_offsets(SharePartition(UNKNOWN, UNKNOWN), 100) == PartitionOffsets(NO_COMMIT, 100)
    assert partition_offsets(None, 7) == PartitionOffsets(NO_COMMIT, 7)
    assert partition_offsets(SharePartition(3, 2), None) == PartitionOffsets(3, None)
