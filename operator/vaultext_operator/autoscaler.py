"""The autoscaling loop: every extension on its `pollingInterval`, all due extensions measured in ONE batched
poll per Kafka cluster, decided by the pure policy, replicas patched, status and events written.

One thread runs `Autoscaler.run`; kopf daemons register and unregister extensions (`track`/`untrack`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException
from kubernetes.client import ApiException
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from . import kube
from .api import GROUP, VaultExtensionSpec
from .builders import MANAGER, ExtensionRef, KafkaBinding, resolve_kafka
from .builders.deployment import GPU_TAINT_KEY
from .builders.keda import KEDA_API_VERSION, scaled_object, trigger_authentication, trigger_metadata
from .builders.labels import child_metadata, selector_labels
from .builders.resolve import gpu_resource_name
from .builders.strimzi import kafka_topic
from .metrics import OperatorMetrics
from .scaling.capacity import GpuDemand, schedulable_replicas
from .scaling.lag import NO_COMMIT, LagSummary, summarize
from .scaling.policy import Decision, ScalingHistory, ScalingInput, decide
from .scaling.rates import OffsetSnapshot, Rates
from .scaling.report import (
    PARTITIONS_LIMIT_REPLICAS,
    SCALING_ACTIVE,
    TOPICS_READY,
    ConditionVerdict,
    merge_conditions,
    partition_condition,
    scaling_conditions,
    status_fields,
)  # fmt: skip
from .settings import OperatorSettings
from .sources.base import KafkaConnection, LagReading, LagResult, LagSource, LagTarget
from .sources.kafka_admin import KafkaAdminLagSource
from .sources.prometheus import PrometheusLagSource
from .sources.topics import BindingReport, TopicBinder, TopicWish

log = logging.getLogger(__name__)
logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python logs every connection at INFO
PAUSED_REPLICAS = f"autoscaling.{GROUP}/paused-replicas"
PAUSED = f"autoscaling.{GROUP}/paused"
TICK_SECONDS = 0.2
STATUS_REFRESH_SECONDS = 15.0
BIND_RETRY_SECONDS = 30.0
VOLATILE = ("lag", "rates", "drainSeconds")
Failures = (ApiException, kube.ApplyError, HTTPError, KafkaException, OSError)


@dataclass
class Tracked:
    body: Mapping[str, Any]  # kopf's live view of the VaultExtension
    history: ScalingHistory = field(default_factory=ScalingHistory)
    rates: Rates = field(default_factory=Rates)
    next_poll: float = 0.0
    previous_committed: dict[int, int] = field(default_factory=dict)
    last_status_at: float = float("-inf")
    last_scale: tuple[str, str] | None = None  # (time, reason)
    bound_generation: int | None = None
    next_bind: float = 0.0
    topic_verdict: ConditionVerdict | None = None
    keda_generation: int | None = None
    seeded: bool = False
    seen: tuple[LagTarget, tuple[int, ...]] | None = None  # what /metrics exports for it


@dataclass(frozen=True)
class Plan:
    tracked: Tracked
    spec: VaultExtensionSpec
    ref: ExtensionRef
    target: LagTarget
    source: str
    demand: GpuDemand | None


def _paused(annotations: Mapping[str, str], current: int) -> int | None:
    if PAUSED_REPLICAS in annotations and annotations[PAUSED_REPLICAS].strip().isdigit():
        return int(annotations[PAUSED_REPLICAS])
    return current if annotations.get(PAUSED, "").lower() == "true" else None


class Autoscaler:
    def __init__(self, settings: OperatorSettings, kafka: LagSource | None = None,
                 prometheus: PrometheusLagSource | None = None, binder: TopicBinder | None = None,
                 metrics: OperatorMetrics | None = None, prometheus_url: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.kafka = kafka or KafkaAdminLagSource()
        self.prometheus = prometheus or PrometheusLagSource()
        self.binder = binder or TopicBinder(timeout=3.0)
        self.metrics = metrics or OperatorMetrics()
        self.prometheus_url = prometheus_url
        self.clock = clock
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._lock = threading.Lock()
        self._secrets: dict[tuple[str, str], dict[str, str]] = {}  # read once per tick
        self._keda_objects: set[tuple[str, str]] | None = None  # listed once per tick, when needed

    def serve_metrics(self) -> None:
        """/metrics on the settings' metrics host and port (0 disables it)."""
        port, host = self.settings.metrics_port, self.settings.metrics_host
        if port:
            try:
                self.metrics.serve(port, host)
            except OSError as error:  # scaling goes on without /metrics
                log.error("cannot serve /metrics on %s:%s: %s", host, port, error)

    def track(self, body: Mapping[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        with self._lock:
            self._tracked.setdefault(key, Tracked(body=body)).body = body

    def untrack(self, namespace: str, name: str) -> None:
        with self._lock:
            tracked = self._tracked.pop((namespace, name), None)
        seen = tracked.seen if tracked is not None else None
        self.metrics.forget(namespace, name, seen[0] if seen else None, seen[1] if seen else ())

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Failures as error:  # the API server or a backend hiccuped: next tick retries
                log.warning("autoscaler tick failed: %s", error)
            except Exception:  # a dead loop would silently stop all scaling: log with traceback, go on
                log.exception("autoscaler tick failed unexpectedly")
            stop.wait(TICK_SECONDS)

    def tick(self) -> None:
        now = self.clock()
        self._secrets = {}
        self._keda_objects = None
        with self._lock:
            due = [t for t in self._tracked.values() if now >= t.next_poll]
        plans = [plan for t in due if (plan := self._plan(t, now)) is not None]
        if not plans:
            return
        deployments = {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d
            for d in kube.list_all("apps/v1", "deployments", f"app.kubernetes.io/managed-by={MANAGER}")
        }
        results: dict[LagTarget, LagResult] = {}
        for name, source in (("kafka", self.kafka), ("prometheus", self.prometheus)):
            targets = [p.target for p in plans if p.source == name]
            if targets:
                with self.metrics.poll_seconds.labels(name).time():
                    results.update(source.poll(targets))
        nodes: list[dict[str, Any]] = []
        pods: list[dict[str, Any]] = []
        if any(p.demand is not None for p in plans):
            nodes = kube.list_all("v1", "nodes")
            pods = kube.list_all("v1", "pods", field_selector="status.phase!=Succeeded,status.phase!=Failed")
        for plan in plans:
            deployment = deployments.get((plan.ref.namespace, plan.ref.name))
            if deployment is None:
                continue  # not applied yet: the reconcile creates it
            try:
                self._act(plan, deployment, results[plan.target], nodes, pods, now)
            except Failures as error:
                log.warning("autoscaling %s/%s failed: %s", plan.ref.namespace, plan.ref.name, error)

    def _connection(self, binding: KafkaBinding, namespace: str) -> KafkaConnection:
        bootstrap, secret = binding.bootstrap_servers, binding.auth_secret
        if secret is None:
            return KafkaConnection(bootstrap)
        if (namespace, secret) not in self._secrets:
            self._secrets[(namespace, secret)] = kube.secret_data(namespace, secret) or {}
        data = self._secrets[(namespace, secret)]  # the credentials; protocol and mechanism are in the spec
        return KafkaConnection(bootstrap, binding.security_protocol, binding.sasl_mechanism,
                               data.get("username"), data.get("password"))

    def _plan(self, t: Tracked, now: float) -> Plan | None:
        meta = t.body["metadata"]
        ref = ExtensionRef(meta["name"], meta["namespace"], meta.get("uid", ""))
        try:
            spec = VaultExtensionSpec.model_validate(dict(t.body.get("spec") or {}))  # kopf's view -> dict
        except ValidationError as error:
            log.debug("%s/%s: invalid spec (the reconcile reports it): %s", ref.namespace, ref.name, error)
            t.next_poll = now + 5.0
            return None
        autoscaling = spec.autoscaling
        # on a grid of the interval: extensions with the same interval share one batched poll
        t.next_poll = (math.floor(now / autoscaling.polling_interval) + 1) * autoscaling.polling_interval
        binding = resolve_kafka(spec, ref, self.settings)
        try:
            connection = self._connection(binding, ref.namespace)
            self._sync_keda(t, spec, ref, meta.get("generation", 0), connection)
        except Failures as error:
            log.warning("%s/%s: %s", ref.namespace, ref.name, error)
            if autoscaling.engine == "keda":  # e.g. KEDA not installed: say so where the user looks
                self._set_conditions(t, ref, {SCALING_ACTIVE: ConditionVerdict("False", "KedaApplyFailed",
                                                                               str(error))})
            return None
        if autoscaling.engine != "builtin":
            self._set_conditions(t, ref, {SCALING_ACTIVE: ConditionVerdict(
                "True", "KedaScaledObject", "KEDA scales this extension through its ScaledObject")
                if autoscaling.engine == "keda" else ConditionVerdict(
                "False", "AutoscalingOff", "engine: none; replicas come from spec.replicas")})
            return None
        target = LagTarget(connection, binding.consumer_group, binding.input_topic, ref.namespace, ref.name,
                           need_log_start=autoscaling.offset_reset_policy == "earliest")
        source = autoscaling.source
        if source.type == "prometheus":
            self.prometheus.set_query(target, source.server_address or self.prometheus_url or "", source.query)
        if t.history.failed_polls == 0:
            wishes = [TopicWish(binding.input_topic, autoscaling.topic_partitions(),
                                autoscaling.topics.replication_factor, autoscaling.topics.grow_partitions)] + [
                TopicWish(topic, autoscaling.topic_partitions(), autoscaling.topics.replication_factor)
                for topic in (binding.output_topic, binding.dead_letter_topic)
            ]
            self._bind_topics(t, spec, ref, connection, wishes, meta.get("generation", 0), now)
        demand = None
        if spec.gpu.count > 0:
            tolerations = ({"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"},
                           *(x.model_dump(by_alias=True, exclude_none=True) for x in spec.gpu.tolerations))
            demand = GpuDemand(gpu_resource_name(spec, self.settings), spec.gpu.count, spec.gpu.product,
                               tolerations, selector_labels(ref))
        return Plan(t, spec, ref, target, source.type, demand)

    def _bind_topics(self, t: Tracked, spec: VaultExtensionSpec, ref: ExtensionRef,
                     connection: KafkaConnection, wishes: list[TopicWish], generation: int, now: float) -> None:
        if t.bound_generation == generation or now < t.next_bind:
            return
        topics = spec.autoscaling.topics
        try:
            if topics.provisioner == "admin":
                report = self.binder.ensure(connection, wishes)
            else:
                if topics.provisioner == "strimzi":
                    for wish in wishes:
                        manifest = kafka_topic(wish.name, ref.namespace, topics.strimzi_cluster or "",
                                               wish.partitions, wish.replication_factor)
                        manifest["metadata"]["ownerReferences"] = child_metadata(ref, "")["ownerReferences"]
                        kube.apply_custom(manifest, "kafkatopics")
                report = BindingReport(partitions=self.binder.existing_partitions(connection,
                                                                                  [w.name for w in wishes]))
        except Failures as error:
            t.topic_verdict = ConditionVerdict("False", "TopicBindingFailed", str(error))
            t.next_bind = now + BIND_RETRY_SECONDS
            return
        missing = [w.name for w in wishes if w.name not in report.partitions]
        if missing or report.errors:
            details = "; ".join([f"{n}: missing" for n in missing] + [f"{n}: {e}" for n, e in report.errors.items()])
            t.topic_verdict = ConditionVerdict("False", "TopicsMissing", details)
            t.next_bind = now + BIND_RETRY_SECONDS
            return
        summary = ", ".join(f"{n} ({report.partitions[n]} partitions)" for n in (w.name for w in wishes))
        created = f"; created {', '.join(report.created)}" if report.created else ""
        t.topic_verdict = ConditionVerdict("True", "TopicsBound", summary + created)
        t.bound_generation = generation

    def _sync_keda(self, t: Tracked, spec: VaultExtensionSpec, ref: ExtensionRef, generation: int,
                   connection: KafkaConnection) -> None:
        if t.keda_generation == generation:
            return
        if spec.autoscaling.engine == "keda":
            binding = resolve_kafka(spec, ref, self.settings)
            metadata = child_metadata(ref, ref.name)
            trigger = trigger_metadata(spec.autoscaling, binding.bootstrap_servers, binding.consumer_group,
                                       binding.input_topic, connection.sasl_mechanism,
                                       connection.security_protocol if binding.auth_secret else None)
            if binding.auth_secret:
                kube.apply_custom(trigger_authentication(ref.name, ref.namespace, metadata, binding.auth_secret),
                                  "triggerauthentications")
            kube.apply_custom(scaled_object(ref.name, ref.namespace, metadata, spec.autoscaling, trigger,
                                            ref.name if binding.auth_secret else None), "scaledobjects")
        elif (ref.namespace, ref.name) in self._keda_present():
            kube.delete_custom(KEDA_API_VERSION, "scaledobjects", ref.namespace, ref.name)
            kube.delete_custom(KEDA_API_VERSION, "triggerauthentications", ref.namespace, ref.name)
        t.keda_generation = generation

    def _set_conditions(self, t: Tracked, ref: ExtensionRef, verdicts: dict[str, ConditionVerdict]) -> None:
        """Writes conditions alone, only when the live object says otherwise."""
        previous = (t.body.get("status") or {}).get("conditions") or []
        have = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous if c.get("type") in verdicts}
        if have == {k: (v.status, v.reason) for k, v in verdicts.items()}:
            return
        conditions = merge_conditions(list(previous), verdicts, int(t.body["metadata"].get("generation", 0)),
                                      datetime.now(UTC).isoformat())
        kube.patch_extension_status(ref.namespace, ref.name, {"conditions": conditions})

    def _keda_present(self) -> set[tuple[str, str]]:
        """ScaledObjects this operator rendered (none when KEDA is not installed)."""
        if self._keda_objects is None:
            try:
                found = kube.list_all(KEDA_API_VERSION, "scaledobjects", f"app.kubernetes.io/managed-by={MANAGER}")
            except ApiException as error:
                if error.status != 404:
                    raise
                found = []
            self._keda_objects = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in found}
        return self._keda_objects

    def _summary(self, t: Tracked, plan: Plan, reading: LagReading, ready: int, now: float) -> LagSummary:
        ids = reading.partition_ids
        previous = [t.previous_committed.get(p) for p in ids] if reading.offsets_known else None
        summary = summarize(reading.partitions, previous, plan.spec.autoscaling)
        if reading.offsets_known:
            t.previous_committed = {p: o.committed for p, o in zip(ids, reading.partitions, strict=True)}
            t.rates = t.rates.observe(OffsetSnapshot(
                at=now,
                committed_sum=sum(o.committed for o in reading.partitions if o.committed != NO_COMMIT),
                latest_sum=sum(o.latest or 0 for o in reading.partitions),
                total_lag=summary.total_lag,
                replicas=ready,
            ))  # fmt: skip
        if reading.offsets_known:  # /metrics tells Kafka's truth, never a Prometheus query's echo
            self.metrics.record_lag(plan.target, reading, [p.lag for p in summary.partitions])
            t.seen = (plan.target, ids)
        return summary

    def _act(self, plan: Plan, deployment: dict[str, Any], result: LagResult, nodes: list[dict[str, Any]],
             pods: list[dict[str, Any]], now: float) -> None:
        t, ref = plan.tracked, plan.ref
        current = int(deployment.get("spec", {}).get("replicas", 1))
        ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
        if not t.seeded:  # after a restart, a scale-down waits one full window like any other
            t.history = ScalingHistory(recommendations=((now, current),), last_active_at=now)
            t.seeded = True
        paused = _paused(t.body["metadata"].get("annotations") or {}, current)
        summary, error = None, None
        if isinstance(result, LagReading):
            summary = self._summary(t, plan, result, ready, now)
        else:
            error = result.error
            self.metrics.poll_errors.labels(ref.namespace, ref.name).inc()
        schedulable = schedulable_replicas(nodes, pods, plan.demand) if plan.demand is not None else None
        previous_failures = t.history.failed_polls
        decision = decide(ScalingInput(plan.spec.autoscaling, current, now, summary, t.rates, schedulable,
                                       paused, error), t.history)
        t.history = decision.history
        extension = dict(t.body)
        scaling = decision.desired_replicas != current
        if scaling:
            t.last_scale = (datetime.now(UTC).isoformat(), decision.reason[:1024])
        # status first: the reconcile refreshes status on the Deployment change and then reads ours
        self._write_status(t, plan, decision, summary, result, paused is not None, error, now, force=scaling)
        if scaling:
            kube.set_deployment_replicas(ref.namespace, ref.name, decision.desired_replicas)
            self.metrics.scale_changes.labels(ref.namespace, ref.name).inc()
            kube.post_event(extension, "Normal", "Scaled",
                            f"{current} -> {decision.desired_replicas}: {decision.reason}")
        if error is not None and previous_failures == 0:
            kube.post_event(extension, "Warning", "LagUnreadable", f"{error}; holding {decision.desired_replicas}")
        elif error is None and previous_failures > 0:
            kube.post_event(extension, "Normal", "LagReadable", f"lag readable again: {decision.reason}")
        self.metrics.record_replicas(ref.namespace, ref.name, decision.desired_replicas, current)

    def _write_status(self, t: Tracked, plan: Plan, decision: Decision, summary: LagSummary | None,
                      result: LagResult, paused: bool, error: str | None, now: float, force: bool = False) -> None:
        verdicts = scaling_conditions(decision, paused, error)
        fields: dict[str, Any] = {}
        if isinstance(result, LagReading) and summary is not None:
            fields = status_fields(decision, summary.total_lag, summary.partition_count, t.rates)
            verdicts[PARTITIONS_LIMIT_REPLICAS] = partition_condition(
                summary.partition_count, plan.spec.autoscaling.max_replicas,
                plan.spec.autoscaling.allow_idle_consumers)
        else:
            fields = {"desiredReplicas": decision.desired_replicas}
        if t.topic_verdict is not None:
            verdicts[TOPICS_READY] = t.topic_verdict
        if t.last_scale is not None:
            fields["lastScaleTime"], fields["lastScaleReason"] = t.last_scale
        # Level-based: compare with the live object, not with what we last sent, so a concurrent status write
        # of the reconcile (which rewrites the whole conditions list) is repaired on the next poll.
        live = t.body.get("status") or {}
        previous = live.get("conditions") or []
        have = {c.get("type"): (c.get("status"), c.get("reason")) for c in previous if c.get("type") in verdicts}
        want = {k: (v.status, v.reason) for k, v in verdicts.items()}
        stale = any(live.get(k) != v for k, v in fields.items() if k not in VOLATILE)
        # lag/rates/drain alone are refreshed at most every STATUS_REFRESH_SECONDS, and not at all while idle
        moving = live.get("lag") != fields.get("lag") and now - t.last_status_at >= STATUS_REFRESH_SECONDS
        if have == want and not stale and not force and not moving:
            return
        generation = int(t.body["metadata"].get("generation", 0))
        fields["conditions"] = merge_conditions(list(previous), verdicts, generation, datetime.now(UTC).isoformat())
        kube.patch_extension_status(plan.ref.namespace, plan.ref.name, fields)
        t.last_status_at = now
