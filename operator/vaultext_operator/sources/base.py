"""The small protocol every lag source implements, and what it returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from vaultext_operator.scaling.lag import PartitionOffsets


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """How to reach one Kafka cluster; sources batch per connection."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = None

    def client_config(self) -> dict[str, str]:
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.username is not None:
            config["sasl.username"] = self.username
        if self.password is not None:
            config["sasl.password"] = self.password
        return config

    def __repr__(self) -> str:  # never print a password
        return f"KafkaConnection({self.bootstrap_servers!r}, {self.security_protocol!r})"

    @classmethod
    def from_secret(cls, bootstrap_servers: str, data: Mapping[str, str]) -> KafkaConnection:
        """From the extension's Kafka Secret (`username`, `password`, `mechanism`, `securityProtocol`)."""
        mechanism = data.get("mechanism") or None
        protocol = data.get("securityProtocol") or ("SASL_PLAINTEXT" if mechanism else "PLAINTEXT")
        return cls(bootstrap_servers, protocol, mechanism, data.get("username"), data.get("password"))


@dataclass(frozen=True, slots=True)
class LagTarget:
    """One extension's input: the consumer group on the topic, and the query when read from Prometheus."""

    connection: KafkaConnection
    group: str
    topic: str
    namespace: str = ""
    name: str = ""
    need_log_start: bool = False  # `offsetResetPolicy: earliest` counts from the log start
    share: bool = False  # `group` is a share group (KIP-932), read with DescribeShareGroupOffsets


@dataclass(frozen=True, slots=True)
class LagReading:
    partition_ids: tuple[int, ...]
    partitions: tuple[PartitionOffsets, ...]
    offsets_known: bool = True  # False: only lag per partition is known (Prometheus), no offsets or rates


@dataclass(frozen=True, slots=True)
class LagFailure:
    error: str


LagResult = LagReading | LagFailure


class LagSource(Protocol):
    def poll(self, targets: Sequence[LagTarget]) -> Mapping[LagTarget, LagResult]:
        """Read lag for all targets at once; never raises for an unreachable backend (failures per target)."""
        ...

    def close(self) -> None: ...
