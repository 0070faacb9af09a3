"""The operator's /metrics: consumer lag under kafka_exporter's metric names, plus the autoscaler's own.

kafka_exporter's names let existing dashboards and the default Prometheus lag query work unchanged. Share groups
(KIP-932) have no kafka_exporter names; theirs follow the same pattern: `kafka_sharegroup_lag{sharegroup, topic,
partition}` and `kafka_sharegroup_lag_sum{sharegroup, topic}`.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from vaultext_operator.scaling.lag import NO_COMMIT
from vaultext_operator.sources.base import LagReading, LagTarget

GROUP_PARTITION = ("consumergroup", "topic", "partition")
SHARE_PARTITION = ("sharegroup", "topic", "partition")
TOPIC_PARTITION = ("topic", "partition")
EXTENSION = ("namespace", "name")


@dataclass(frozen=True)
class ReplicaCounts:
    """One extension's replicas as one autoscaler tick saw and decided them."""

    desired: int
    current: int
    ready: int
    schedulable: int | None  # None: GPU capacity not checked for this extension
    gpu_limited: bool
    lag: int | None  # None: the lag could not be read this tick


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.lag = Gauge("kafka_consumergroup_lag", "Current approximate lag of a consumer group at topic/partition",
                         GROUP_PARTITION, registry=r)
        self.lag_sum = Gauge("kafka_consumergroup_lag_sum", "Current approximate lag of a consumer group at topic",
                             ("consumergroup", "topic"), registry=r)
        self.share_lag = Gauge("kafka_sharegroup_lag", "Current approximate lag of a share group at topic/partition",
                               SHARE_PARTITION, registry=r)
        self.share_lag_sum = Gauge("kafka_sharegroup_lag_sum", "Current approximate lag of a share group at topic",
                                   ("sharegroup", "topic"), registry=r)
        self.current_offset = Gauge("kafka_consumergroup_current_offset",
                                    "Current offset of a consumer group at topic/partition", GROUP_PARTITION,
                                    registry=r)
        self.partition_offset = Gauge("kafka_topic_partition_current_offset",
                                      "Current offset of a broker at topic/partition", TOPIC_PARTITION, registry=r)
        self.partition_oldest = Gauge("kafka_topic_partition_oldest_offset",
                                      "Oldest offset of a broker at topic/partition", TOPIC_PARTITION, registry=r)
        self.partitions = Gauge("kafka_topic_partitions", "Number of partitions for this topic", ("topic",),
                                registry=r)
        self.desired = Gauge("vaultext_autoscaler_desired_replicas", "Replicas the policy asks for", EXTENSION,
                             registry=r)
        self.current = Gauge("vaultext_autoscaler_current_replicas", "Replicas of the Deployment", EXTENSION,
                             registry=r)
        self.extension_lag = Gauge("vaultext_autoscaler_lag", "Total consumer lag the autoscaler last read for an "
                                   "extension (its group on its input topic)", EXTENSION, registry=r)
        self.ready = Gauge("vaultext_autoscaler_ready_replicas", "Ready replicas of the Deployment", EXTENSION,
                           registry=r)
        self.schedulable = Gauge("vaultext_autoscaler_schedulable_replicas",
                                 "Replicas the nodes' free GPUs allow (absent when the GPU capacity is not checked)",
                                 EXTENSION, registry=r)
        self.gpu_limited = Gauge("vaultext_autoscaler_gpu_limited",
                                 "1 while GPU capacity holds the replicas below what the lag asks for", EXTENSION,
                                 registry=r)
        self.poll_seconds = Histogram("vaultext_autoscaler_lag_poll_seconds", "Duration of one batched lag poll",
                                      ("source",), registry=r)
        self.poll_errors = Counter("vaultext_autoscaler_lag_poll_errors", "Lag polls that failed", EXTENSION,
                                   registry=r)
        self.scale_changes = Counter("vaultext_autoscaler_scale_changes", "Replica changes made", EXTENSION,
                                     registry=r)
        self.cluster_poll_seconds = Histogram("vaultext_autoscaler_cluster_poll_seconds",
                                              "Duration of one Kafka cluster's lag poll", ("cluster",), registry=r)
        self.tick_seconds = Histogram("vaultext_autoscaler_tick_seconds", "Duration of one autoscaler tick",
                                      registry=r)
        self.last_tick = Gauge("vaultext_autoscaler_last_successful_tick_timestamp_seconds",
                               "Unix time the autoscaler last completed a tick without error", registry=r)
        self.reconcile_errors = Counter("vaultext_operator_reconcile_errors",
                                        "Reconciles and resyncs that failed (apiserver or unexpected errors)",
                                        registry=r)
        self.leader = Gauge("vaultext_operator_leader", "1 while this replica holds the leader Lease", registry=r)

    def record_lag(self, target: LagTarget, reading: LagReading, lags: list[int]) -> None:
        """Lag per partition and its sum; a consumer group's committed offsets (a share group's `committed` is
        derived from its lag, so it is not exported as an offset); the topic's offsets."""
        total = 0
        lag_gauge, sum_gauge = (self.share_lag, self.share_lag_sum) if target.share else (self.lag, self.lag_sum)
        for partition, offsets, lag in zip(reading.partition_ids, reading.partitions, lags, strict=True):
            p = str(partition)
            lag_gauge.labels(target.group, target.topic, p).set(lag)
            total += lag
            if not reading.offsets_known:
                continue
            if offsets.committed != NO_COMMIT and not target.share:
                self.current_offset.labels(target.group, target.topic, p).set(offsets.committed)
            if offsets.latest is not None:
                self.partition_offset.labels(target.topic, p).set(offsets.latest)
            if offsets.log_start is not None:
                self.partition_oldest.labels(target.topic, p).set(offsets.log_start)
        sum_gauge.labels(target.group, target.topic).set(total)
        self.partitions.labels(target.topic).set(len(reading.partition_ids))

    def record_replicas(self, namespace: str, name: str, replicas: ReplicaCounts) -> None:
        self.desired.labels(namespace, name).set(replicas.desired)
        self.current.labels(namespace, name).set(replicas.current)
        self.ready.labels(namespace, name).set(replicas.ready)
        self.gpu_limited.labels(namespace, name).set(int(replicas.gpu_limited))
        if replicas.lag is not None:
            self.extension_lag.labels(namespace, name).set(replicas.lag)
        for counter in (self.poll_errors, self.scale_changes):
            counter.labels(namespace, name)  # present at 0 from the first tick: rate() and increase() answer
        if replicas.schedulable is None:
            _remove(self.schedulable, namespace, name)
        else:
            self.schedulable.labels(namespace, name).set(replicas.schedulable)

    def forget(self, namespace: str, name: str, target: LagTarget | None, partitions: tuple[int, ...]) -> None:
        """Drop the series of a deleted extension (topic-level series stay: other groups may read the topic)."""
        for gauge in (self.desired, self.current, self.ready, self.schedulable, self.gpu_limited, self.extension_lag):
            _remove(gauge, namespace, name)
        for counter in (self.poll_errors, self.scale_changes):
            _remove(counter, namespace, name)
        if target is not None:
            lag_gauge, sum_gauge = (self.share_lag, self.share_lag_sum) if target.share else (self.lag, self.lag_sum)
            for p in partitions:
                _remove(lag_gauge, target.group, target.topic, str(p))
                _remove(self.current_offset, target.group, target.topic, str(p))
            _remove(sum_gauge, target.group, target.topic)

    def serve(self, port: int, address: str = "127.0.0.1") -> None:
        start_http_server(port, addr=address, registry=self.registry)


def _remove(metric: Gauge | Counter, *labels: str) -> None:
    try:
        metric.remove(*labels)
    except KeyError:
        return  # never recorded: nothing to drop
