"""Where an extension reads and writes: its Kafka topics and the Kerberos Vault it downloads recordings from."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from .common import MAX_STRING, NO_WHITESPACE, ApiModel, LocalObjectReference, TopicName, cel_rule


class TopicRef(ApiModel):
    """A Kafka topic."""

    topic: TopicName = Field(description="Topic name.")


SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Consumption = Literal["group", "share"]
SaslProtocol = Literal["SASL_SSL", "SASL_PLAINTEXT"]
PLAINTEXT_NEEDS_CONSENT = (
    "securityProtocol SASL_PLAINTEXT sends the SASL credentials unencrypted: use SASL_SSL, or set "
    "allowPlaintext: true to accept that"
)


class KafkaAuthSpec(ApiModel):
    """SASL authentication; the credentials come from a Secret, so none ever appears in a pod spec."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule("self.securityProtocol != 'SASL_PLAINTEXT' || self.allowPlaintext", PLAINTEXT_NEEDS_CONSENT)
            ]
        }
    )

    secret_ref: LocalObjectReference = Field(description="Secret with keys `username` and `password`.")
    mechanism: SaslMechanism = Field(
        default="PLAIN", description="SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`."
    )
    security_protocol: SaslProtocol = Field(
        default="SASL_SSL",
        description="`SASL_SSL` (TLS), or `SASL_PLAINTEXT`, which needs `allowPlaintext: true`.",
    )
    allow_plaintext: bool = Field(
        default=False, description="Accept `SASL_PLAINTEXT`: credentials and data cross the network unencrypted."
    )

    @model_validator(mode="after")
    def _tls_unless_allowed(self) -> Self:
        if self.security_protocol == "SASL_PLAINTEXT" and not self.allow_plaintext:
            raise ValueError(PLAINTEXT_NEEDS_CONSENT)
        return self


class KafkaSpec(ApiModel):
    """The extension's Kafka connection and topics; unset fields use the operator-wide defaults."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                cel_rule(
                    "!has(self.input) || !has(self.output) || self.input.topic != self.output.topic",
                    "kafka.output.topic must differ from kafka.input.topic",
                ),
                cel_rule(
                    "!has(self.input) || !has(self.deadLetter) || self.input.topic != self.deadLetter.topic",
                    "kafka.deadLetter.topic must differ from kafka.input.topic",
                ),
            ]
        }
    )

    bootstrap_servers: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_STRING,
        pattern=NO_WHITESPACE,
        description="Comma-separated `host:port` list; unset uses the operator-wide default.",
    )
    input: TopicRef | None = Field(
        default=None, description="Topic with Vault's recording events; unset uses the operator-wide default."
    )
    output: TopicRef | None = Field(
        default=None, description="Topic for results; default `<name>-results`."
    )
    dead_letter: TopicRef | None = Field(
        default=None,
        description="Topic for messages that can never succeed; default `<name>-dead-letter`.",
    )
    consumer_group: str | None = Field(
        default=None,
        min_length=1,
        max_length=249,
        pattern=NO_WHITESPACE,
        description=(
            "Consumer group shared by all replicas (the share group with `consumption: share`); default "
            "`vaultext-<namespace>-<name>`."
        ),
    )
    consumption: Consumption = Field(
        default="group",
        description=(
            "`group`: the replicas form a consumer group, so at most one replica per partition does work "
            "(replicas are capped at the partition count); `share`: they form a share group (KIP-932; a Kafka 4.x "
            "broker with share groups enabled) and read the same partitions together, so replicas go up to "
            "`maxReplicas`. Lag of a share group is read with DescribeShareGroupOffsets; KEDA cannot scale one."
        ),
    )
    auth: KafkaAuthSpec | None = Field(
        default=None, description="SASL authentication; unset connects with PLAINTEXT and no SASL."
    )

    @model_validator(mode="after")
    def _distinct_topics(self) -> Self:
        if self.input is not None:
            if self.output is not None and self.output.topic == self.input.topic:
                raise ValueError("kafka.output.topic must differ from kafka.input.topic")
            if self.dead_letter is not None and self.dead_letter.topic == self.input.topic:
                raise ValueError("kafka.deadLetter.topic must differ from kafka.input.topic")
        return self


class VaultSpec(ApiModel):
    """The Kerberos Vault whose recordings the extension downloads; unset fields use operator-wide defaults."""

    url: str | None = Field(
        default=None,
        max_length=MAX_STRING,
        pattern=r"^https?://\S+$",
        description="Vault API base URL, with or without a trailing `/api`.",
    )
    credentials_secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="Secret with keys `accessKey` and `secretKey`; unset uses the operator-wide default Secret.",
    )
    remove_after_processed: bool = Field(
        default=False,
        description=(
            "Ask the extension to delete each recording from the Vault once processed (`REMOVE_AFTER_PROCESSED`, "
            "honoured by upstream Kerberos images; the vaultext worker never deletes)."
        ),
    )
