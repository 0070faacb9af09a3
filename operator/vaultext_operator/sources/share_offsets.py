"""Share-group offsets and lag (KIP-932) through kafka-python's protocol classes.

kafka-python 3.0 has no DescribeShareGroupOffsets (API key 90), and confluent-kafka's admin client has no
call for it either, so the request is declared here: its schema (`schemas/`, in the JSON form kafka-python's
protocol classes load) gives the encoding, kafka-python's connection gives version negotiation, SASL and
coordinator lookup. Version 1 (KIP-1226, Kafka 4.2) carries the broker's own lag per partition; from a
version-0 broker the lag is counted from the share-partition start offset.

One request per group coordinator covers every share group that coordinator hosts (the request takes many
groups), like the batched OffsetFetch of consumer groups.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka.errors import for_code  # type: ignore[import-untyped]
from kafka.protocol.api_message import ApiMessage  # type: ignore[import-untyped]

from vaultext_operator.scaling.lag import NO_COMMIT, PartitionOffsets

SCHEMAS = "vaultext_operator.sources.schemas"
UNKNOWN = -1  # start offset of a partition the group has not started on; lag a version-0 broker does not send
# Errors that mean "ask again, perhaps elsewhere": the whole cluster poll fails and reconnects, as for OffsetFetch.
NOT_STARTED = "GroupIdNotFoundError"
UNSUPPORTED = (
    "the broker cannot describe share groups (DescribeShareGroupOffsets needs Kafka 4.x with share groups enabled, "
    "feature share.version >= 1)"
)
RETRIABLE = {"NotCoordinatorError", "CoordinatorNotAvailableError", "CoordinatorLoadInProgressError"}


class DescribeShareGroupOffsetsRequest(ApiMessage, load_json=SCHEMAS):  # type: ignore[misc,call-arg]
    pass


class DescribeShareGroupOffsetsResponse(ApiMessage, load_json=SCHEMAS):  # type: ignore[misc,call-arg]
    pass


_Group = DescribeShareGroupOffsetsRequest.DescribeShareGroupOffsetsRequestGroup
_Topic = _Group.DescribeShareGroupOffsetsRequestTopic


class ShareOffsetsUnavailable(Exception):
    """The coordinator could not answer right now (moved, loading): retry on a fresh connection."""


@dataclass(frozen=True, slots=True)
class SharePartition:
    start_offset: int  # UNKNOWN: the group has no state for this partition yet
    lag: int  # UNKNOWN: not sent (version 0) or not known to the broker


@dataclass(frozen=True, slots=True)
class ShareGroupOffsets:
    partitions: Mapping[tuple[str, int], SharePartition]


@dataclass(frozen=True, slots=True)
class ShareGroupError:
    error: str


ShareGroupResult = ShareGroupOffsets | ShareGroupError


def build_request(wanted: Mapping[str, Mapping[str, Sequence[int]]]) -> Any:
    """One request for several groups: group -> topic -> partitions."""
    return DescribeShareGroupOffsetsRequest(groups=[
        _Group(group_id=group, topics=[_Topic(topic_name=topic, partitions=list(partitions))
                                       for topic, partitions in sorted(topics.items())])
        for group, topics in sorted(wanted.items())
    ])


def _error(code: int, message: str | None) -> tuple[bool, str]:
    """(whether to retry elsewhere, the error in words)."""
    name = for_code(code).__name__
    return name in RETRIABLE, f"{name}: {message}" if message else name


def parse_response(response: Any) -> dict[str, ShareGroupResult]:
    """Group -> its partitions, or why the broker could not describe it. Raises `ShareOffsetsUnavailable` for a
    coordinator error, anything else stays with its group."""
    results: dict[str, ShareGroupResult] = {}
    for group in response.groups:
        errors = [("", *_error(group.error_code, group.error_message))] if group.error_code else []
        partitions: dict[tuple[str, int], SharePartition] = {}
        for topic in group.topics:
            for p in topic.partitions:
                if p.error_code:
                    errors.append((f"{topic.topic_name}/{p.partition_index}: ",
                                   *_error(p.error_code, p.error_message)))
                else:  # version 0 has no lag field: the schema's default, UNKNOWN, stands in
                    partitions[(topic.topic_name, p.partition_index)] = SharePartition(p.start_offset, p.lag)
        for where, retriable, text in errors:
            if retriable:
                raise ShareOffsetsUnavailable(f"share group {group.group_id}: {where}{text}")
        code = for_code(group.error_code).__name__ if group.error_code else None
        if code == NOT_STARTED:
            results[group.group_id] = ShareGroupOffsets({})  # no member ever joined: no offsets, like no commits
        elif code == "UnsupportedVersionError":  # key 90 advertised, share groups switched off (share.version 0)
            results[group.group_id] = ShareGroupError(f"{UNSUPPORTED}: {errors[0][2]}")
        elif errors:
            where, _, text = errors[0]
            results[group.group_id] = ShareGroupError(f"{where}{text}")
        else:
            results[group.group_id] = ShareGroupOffsets(partitions)
    return results


def partition_offsets(share: SharePartition | None, latest: int | None) -> PartitionOffsets:
    """A share partition in the terms of the lag math: `committed` is the offset the lag counts from.

    With the broker's lag (version 1) that is `latest - lag`, kept within [start offset, latest]; without it,
    the start offset (records past it that are in flight or acknowledged out of order count as lag)."""
    if share is None or share.start_offset < 0:
        return PartitionOffsets(NO_COMMIT, latest)
    committed = share.start_offset
    if share.lag >= 0 and latest is not None:
        committed = min(latest, max(share.start_offset, latest - share.lag))
    return PartitionOffsets(committed, latest)


async def _describe(admin: Any, wanted: Mapping[str, Mapping[str, Sequence[int]]]) -> dict[str, ShareGroupResult]:
    coordinators = await admin._find_coordinator_ids(list(wanted))
    groups_of: dict[int, list[str]] = defaultdict(list)
    for group, node in coordinators.items():
        groups_of[node].append(group)
    results: dict[str, ShareGroupResult] = {}
    for node, groups in sorted(groups_of.items()):
        response = await admin._manager.send(build_request({g: wanted[g] for g in groups}), node_id=node)
        results.update(parse_response(response))
    for group in wanted:
        results.setdefault(group, ShareGroupError("the coordinator did not describe this group"))
    return results


def describe_share_group_offsets(admin: Any, wanted: Mapping[str, Mapping[str, Sequence[int]]]
                                 ) -> dict[str, ShareGroupResult]:
    """Share-group offsets for many groups on one cluster, through a kafka-python `KafkaAdminClient`.

    Its private coordinator lookup and network manager are used (kafka-python has no public call that sends
    an arbitrary request); `IncompatibleBrokerVersion` comes out unchanged from a broker without key 90."""
    if not wanted:
        return {}
    result: dict[str, ShareGroupResult] = admin._manager.run(_describe, admin, wanted)
    return result
