"""`spec.autoscaling`: how an extension follows its Kafka backlog.

Field names follow KEDA's Kafka trigger and ScaledObject wherever KEDA has one, so people can carry their
knowledge (and their manifests) over; `engine`, `targetDrainSeconds`, `scaleDownStabilizationSeconds`,
`maxScaleUpStep` and the topic/source sections are ours.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

Engine = Literal["builtin", "keda", "none"]
OffsetResetPolicy = Literal["latest", "earliest"]
LagSourceType = Literal["kafka", "prometheus"]
TopicProvisioner = Literal["admin", "strimzi", "none"]

# Upper bounds, enforced by the apiserver: far above any real GPU fleet, low enough to stop a typo from
# creating a thousand-pod Deployment or a topic that strains every broker.
MAX_REPLICAS = 1000
MAX_PARTITIONS = 1000
MAX_REPLICATION_FACTOR = 5

DEFAULT_PROMETHEUS_QUERY = (
    'sum by (partition) (kafka_consumergroup_lag{consumergroup="{group}",topic="{topic}"})'
)
# kafka_exporter has no share-group series; the operator's /metrics exports these under this name.
DEFAULT_SHARE_PROMETHEUS_QUERY = (
    'sum by (partition) (kafka_sharegroup_lag{sharegroup="{group}",topic="{topic}"})'
)


class _CamelModel(BaseModel):
    """camelCase on the wire (the CR), snake_case in Python; unknown fields are an error, never dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class FallbackSpec(_CamelModel):
    """What to do when lag cannot be read (KEDA's `fallback`)."""

    failure_threshold: int = Field(
        default=3, ge=1, description="Consecutive failed lag polls before the fallback applies."
    )
    replicas: int | None = Field(
        default=None,
        ge=0,
        description="Replicas to hold while lag is unreadable; unset holds the current count.",
    )


class LagSourceSpec(_CamelModel):
    """Where lag comes from: the Kafka admin API (default) or a Prometheus query."""

    type: LagSourceType = Field(default="kafka", description="`kafka` (admin API) or `prometheus`.")
    server_address: str | None = Field(
        default=None,
        description="Prometheus base URL (KEDA's `serverAddress`); unset uses the operator-wide setting.",
    )
    query: str | None = Field(
        default=None,
        description=(
            "PromQL returning lag per partition (a `partition` label per series). `{group}`, `{topic}` and "
            "`{namespace}` are substituted. Default: kafka_exporter's kafka_consumergroup_lag by partition "
            "(`kafka_sharegroup_lag`, as the operator's /metrics exports it, for a share group)."
        ),
    )

    @model_validator(mode="after")
    def _query_only_for_prometheus(self) -> Self:
        if self.type == "kafka" and (self.query is not None or self.server_address is not None):
            raise ValueError("`query` and `serverAddress` apply only to `type: prometheus`")
        return self


class TopicBindingSpec(_CamelModel):
    """How the operator makes sure the input, output and dead-letter topics exist."""

    provisioner: TopicProvisioner = Field(
        default="admin",
        description=(
            "`admin`: create missing topics through the Kafka Admin API; `strimzi`: emit Strimzi KafkaTopic "
            "resources; `none`: only check and report."
        ),
    )
    partitions: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTITIONS,
        description="Partitions for topics the operator creates; default `maxReplicas`.",
    )
    replication_factor: int = Field(
        default=1, ge=1, le=MAX_REPLICATION_FACTOR, description="Replication factor for created topics."
    )
    grow_partitions: bool = Field(
        default=False,
        description="Add partitions to an existing input topic with fewer than `partitions` (never shrinks).",
    )
    strimzi_cluster: str | None = Field(
        default=None, description="`strimzi.io/cluster` label of emitted KafkaTopic resources."
    )

    @model_validator(mode="after")
    def _strimzi_needs_cluster(self) -> Self:
        if self.provisioner == "strimzi" and not self.strimzi_cluster:
            raise ValueError("`provisioner: strimzi` needs `strimziCluster`")
        return self


class AutoscalingSpec(_CamelModel):
    """Lag-driven autoscaling of the extension's Deployment."""

    engine: Engine = Field(
        default="builtin",
        description=(
            "`builtin`: the operator scales on lag; `keda`: render a KEDA ScaledObject instead; "
            "`none`: replicas come from `spec.replicas` (scale subresource)."
        ),
    )
    min_replicas: int = Field(
        default=1,
        ge=0,
        le=MAX_REPLICAS,
        description="Lower bound; 0 enables scale to zero (a GPU model takes time to load).",
    )
    max_replicas: int = Field(default=10, ge=1, le=MAX_REPLICAS, description="Upper bound.")
    lag_threshold: int = Field(default=10, gt=0, description="Target lag (messages) per replica.")
    activation_lag_threshold: int = Field(
        default=0, ge=0, description="From zero replicas, scale out only when total lag exceeds this."
    )
    offset_reset_policy: OffsetResetPolicy = Field(
        default="earliest",
        description=(
            "How lag counts a partition without a committed offset; set it like the consumer's "
            "auto.offset.reset (the default worker reads from `earliest`; KEDA defaults to `latest`)."
        ),
    )
    allow_idle_consumers: bool = Field(
        default=False, description="Allow more replicas than partitions (the extra consumers sit idle)."
    )
    limit_to_partitions_with_lag: bool = Field(
        default=False, description="Cap replicas at the number of partitions that have lag."
    )
    exclude_persistent_lag: bool = Field(
        default=False,
        description="Ignore a partition whose committed offset has not moved since the last poll.",
    )
    scale_to_zero_on_invalid_offset: bool = Field(
        default=False,
        description="With `offsetResetPolicy: latest`, count a partition without a commit as lag 0, not 1.",
    )
    ensure_even_distribution_of_partitions: bool = Field(
        default=False,
        description="Round replicas up to a factor of the partition count (equal partitions per consumer).",
    )
    cooldown_period: int = Field(
        default=300, ge=0, description="Seconds without lag before scaling to zero (with `minReplicas: 0`)."
    )
    polling_interval: int = Field(default=5, ge=1, description="Seconds between lag polls.")
    fallback: FallbackSpec | None = Field(
        default=None, description="What to hold when lag cannot be read; unset holds the current count."
    )
    target_drain_seconds: int | None = Field(
        default=None,
        gt=0,
        description=(
            "Size replicas so the backlog drains within this many seconds, from the measured per-replica "
            "consumption rate and the arrival rate; `lagThreshold` applies until a rate is known."
        ),
    )
    scale_down_stabilization_seconds: int = Field(
        default=120,
        ge=0,
        description="Scale down only to the highest recommendation of this trailing window.",
    )
    max_scale_up_step: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REPLICAS,
        description="Most replicas added in one step; unset goes to the target at once.",
    )
    source: LagSourceSpec = Field(default_factory=LagSourceSpec, description="Where lag is read from.")
    topics: TopicBindingSpec = Field(
        default_factory=TopicBindingSpec, description="Creation and checking of the extension's topics."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"autoscaling.minReplicas must not exceed maxReplicas ({self.min_replicas} > {self.max_replicas})"
            )
        if self.allow_idle_consumers and self.limit_to_partitions_with_lag:
            raise ValueError("allowIdleConsumers and limitToPartitionsWithLag cannot both be true")
        if self.allow_idle_consumers and self.ensure_even_distribution_of_partitions:
            raise ValueError("allowIdleConsumers and ensureEvenDistributionOfPartitions cannot both be true")
        fallback_replicas = self.fallback.replicas if self.fallback is not None else None
        if fallback_replicas is not None and not self.min_replicas <= fallback_replicas <= self.max_replicas:
            raise ValueError("autoscaling.fallback.replicas must lie within [minReplicas, maxReplicas]")
        return self

    def topic_partitions(self) -> int:
        """Partitions for topics the operator creates: at least one per possible replica."""
        return self.topics.partitions if self.topics.partitions is not None else self.max_replicas
