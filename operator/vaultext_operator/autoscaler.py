"""The autoscaling loop: every extension on its `pollingInterval`, all due extensions measured in ONE batched
poll per Kafka cluster, decided by the pure policy, replicas and the autoscaler's own status fields written.

It applies no children (the reconcile does) and writes only `spec.replicas`, its status fields and its
conditions. One thread runs `Autoscaler.run`; kopf's event handler registers and unregisters extensions.
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
from pydantic import ValidationError

from . import kube
from .api import GROUP, VaultExtensionSpec
from .bindings import kafka_connection
from .builders import MANAGER, ExtensionRef, resolve_kafka
from .conditions import Verdict, clean_text, merged_conditions, same_verdicts
from .metrics import OperatorMetrics, ReplicaCounts
from .scaling.capacity import GpuDemand, gpu_demand, schedulable_replicas
from .scaling.commits import CONSUMING, NEVER_COMMITTED, consuming, grace_seconds, ready_since
from .scaling.lag import NO_COMMIT, LagSummary, summarize
from .scaling.policy import Decision, ScalingHistory, ScalingInput, decide
from .scaling.rates import OffsetSnapshot, Rates
from .scaling.report import (
    PARTITIONS_LIMIT_REPLICAS,
    partition_condition,
    restore,
    scaling_conditions,
    scaling_state,
    state_moved,
    status_fields,
)
from .settings import OperatorSettings
from .sources.base import KafkaConnection, LagReading, LagResult, LagSource, LagTarget
from .sources.kafka_admin import KafkaAdminLagSource
from .sources.prometheus import PrometheusLagSource

log = logging.getLogger(__name__)
PAUSED_REPLICAS = f"autoscaling.{GROUP}/paused-replicas"
PAUSED = f"autoscaling.{GROUP}/paused"
TICK_SECONDS = 0.2
STATUS_REFRESH_SECONDS = 15.0
STATUS_WRITE_ATTEMPTS = 3
CHILD_SELECTOR = f"app.kubernetes.io/managed-by={MANAGER}"
LIVE_PODS = "status.phase!=Succeeded,status.phase!=Failed"
VOLATILE = ("lag", "rates", "drainSeconds", "scalingState")
Failures = (kube.KubeError, KafkaException, OSError)


@dataclass
class Tracked:
    body: Mapping[str, Any]  # the latest VaultExtension seen by the watch
    history: ScalingHistory = field(default_factory=ScalingHistory)
    rates: Rates = field(default_factory=Rates)
    next_poll: float = 0.0
    previous_committed: dict[int, int] = field(default_factory=dict)
    last_status_at: float = float("-inf")
    last_scale: tuple[str, str] | None = None  # (time, reason)
    seeded: bool = False
    unwritten: bool = False  # the last status write lost every conflict: write at the next poll
    seen: tuple[LagTarget, tuple[int, ...]] | None = None  # what /metrics exports for it
    ready_since: float | None = None  # since when the Deployment has had a ready pod
    warned_never_committed: bool = False  # the Warning event is posted once per stretch, not per poll


@dataclass(frozen=True)
class Plan:
    tracked: Tracked
    spec: VaultExtensionSpec
    ref: ExtensionRef
    target: LagTarget
    source: str
    demand: GpuDemand | None


def _kind(target: LagTarget) -> str:
    return "share group" if target.share else "consumer group"


def _paused(annotations: Mapping[str, str], current: int) -> int | None:
    if PAUSED_REPLICAS in annotations and annotations[PAUSED_REPLICAS].strip().isdigit():
        return int(annotations[PAUSED_REPLICAS])
    return current if annotations.get(PAUSED, "").lower() == "true" else None


class Autoscaler:
    def __init__(self, settings: OperatorSettings, kafka: LagSource | None = None,
                 prometheus: PrometheusLagSource | None = None, metrics: OperatorMetrics | None = None,
                 prometheus_url: str | None = None, clock: Callable[[], float] = time.time,
                 leading: Callable[[], bool] = lambda: True, caches: Mapping[str, kube.Watched] | None = None) -> None:
        self.settings = settings
        self.caches = dict(caches or {})  # kind -> watched objects; a LIST per tick only while one is not synced
        self.leading = leading  # only the elected replica acts
        self.metrics = metrics or OperatorMetrics()
        self.kafka = kafka or KafkaAdminLagSource(observe_latency=self._observe_cluster)
        self.prometheus = prometheus or PrometheusLagSource()
        self.prometheus_url = prometheus_url
        self.clock = clock  # wall clock: times in the policy's history are comparable across restarts
        self._tracked: dict[tuple[str, str], Tracked] = {}
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, str | None, str], KafkaConnection] = {}  # Secrets read once per tick
        self.last_tick_completed = time.monotonic()  # success or a handled failure: /healthz reads it

    def _observe_cluster(self, cluster: str, seconds: float) -> None:
        self.metrics.cluster_poll_seconds.labels(cluster).observe(seconds)

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

    def tracked(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self._tracked)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.tick()
                self.metrics.last_tick.set(time.time())
            except Failures as error:  # the API server or a backend hiccuped: next tick retries
                log.warning("autoscaler tick failed: %s", error)
            except Exception:  # a dead loop would silently stop all scaling: log with traceback, go on
                log.exception("autoscaler tick failed unexpectedly")
            self.last_tick_completed = time.monotonic()
            self.metrics.tick_seconds.observe(self.last_tick_completed - started)
            stop.wait(TICK_SECONDS)

    def tick(self) -> None:
        now = self.clock()
        self._connections = {}
        if not self.leading():
            with self._lock:
                for t in self._tracked.values():  # when elected, start again from what status remembers
                    t.seeded, t.next_poll = False, 0.0
            return
        with self._lock:
            due = [t for t in self._tracked.values() if now >= t.next_poll]
        plans = [plan for t in due if (plan := self._plan(t, now)) is not None]
        if not plans:
            return
        deployments = {
            (d["metadata"]["namespace"], d["metadata"]["name"]): d
            for d in self._objects("apps/v1", "Deployment", CHILD_SELECTOR)
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
            nodes = self._objects("v1", "Node")
            pods = self._objects("v1", "Pod", field_selector=LIVE_PODS)
        for plan in plans:
            deployment = deployments.get((plan.ref.namespace, plan.ref.name))
            if deployment is None:
                continue  # not applied yet: the reconcile creates it
            try:
                self._act(plan, deployment, results[plan.target], nodes, pods, now)
            except Failures as error:
                log.warning("autoscaling %s/%s failed: %s", plan.ref.namespace, plan.ref.name, error)

    def _objects(self, api_version: str, kind: str, label_selector: str = "",
                 field_selector: str = "") -> list[dict[str, Any]]:
        cached = self.caches[kind].items() if kind in self.caches else None
        if cached is not None:
            return cached
        return kube.list_all(api_version, kind, label_selector, field_selector)

    def _connection(self, spec: VaultExtensionSpec, ref: ExtensionRef) -> KafkaConnection:
        binding = resolve_kafka(spec, ref, self.settings)
        key = (ref.namespace, binding.auth_secret, binding.bootstrap_servers)
        if key not in self._connections:
            self._connections[key] = kafka_connection(binding, ref.namespace)
        return self._connections[key]

    def _plan(self, t: Tracked, now: float) -> Plan | None:
        meta = t.body["metadata"]
        ref = ExtensionRef(meta["name"], meta["namespace"], meta.get("uid", ""))
        try:
            spec = VaultExtensionSpec.model_validate(dict(t.body.get("spec") or {}))
        except ValidationError as error:
            log.debug("%s/%s: invalid spec (the reconcile reports it): %s", ref.namespace, ref.name, error)
            t.next_poll = now + 5.0
            return None
        autoscaling = spec.autoscaling
        # on a grid of the interval: extensions with the same interval share one batched poll
        t.next_poll = (math.floor(now / autoscaling.polling_interval) + 1) * autoscaling.polling_interval
        if autoscaling.engine != "builtin":
            return None  # KEDA or spec.replicas decide; the reconcile says so in ScalingActive
        binding = resolve_kafka(spec, ref, self.settings)
        try:
            connection = self._connection(spec, ref)
        except Failures as error:
            log.warning("%s/%s: reading its Kafka Secret: %s", ref.namespace, ref.name, error)
            return None
        target = LagTarget(connection, binding.consumer_group, binding.input_topic, ref.namespace, ref.name,
                           need_log_start=autoscaling.offset_reset_policy == "earliest",
                           share=spec.kafka.consumption == "share")
        source = autoscaling.source
        if source.type == "prometheus":
            self.prometheus.set_query(target, source.server_address or self.prometheus_url or "", source.query)
        return Plan(t, spec, ref, target, source.type, gpu_demand(spec, ref, self.settings))

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
            # /metrics tells Kafka's truth, never a Prometheus query's echo
            self.metrics.record_lag(plan.target, reading, [p.lag for p in summary.partitions])
            t.seen = (plan.target, ids)
        return summary

    def _act(self, plan: Plan, deployment: dict[str, Any], result: LagResult, nodes: list[dict[str, Any]],
             pods: list[dict[str, Any]], now: float) -> None:
        t, ref = plan.tracked, plan.ref
        current = int(deployment.get("spec", {}).get("replicas", 1))
        ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
        if not t.seeded:
            self._seed(t, current, now)
        paused = _paused(t.body["metadata"].get("annotations") or {}, current)
        summary, error, commits = None, None, None
        t.ready_since = ready_since(t.ready_since, ready, now)
        if isinstance(result, LagReading):
            summary = self._summary(t, plan, result, ready, now)
            if result.offsets_known:  # a Prometheus series tells lag, not whether the group commits
                grace = grace_seconds(self.settings.never_committed_grace_seconds,
                                      plan.spec.autoscaling.polling_interval)
                commits = consuming(result.partitions, summary.total_lag, t.ready_since, now, grace,
                                    plan.target.group, plan.target.topic, _kind(plan.target))
        else:
            error = clean_text(result.error)
            self.metrics.poll_errors.labels(ref.namespace, ref.name).inc()
        schedulable = schedulable_replicas(nodes, pods, plan.demand) if plan.demand is not None else None
        previous_failures = t.history.failed_polls
        stalled = commits is not None and commits.reason == NEVER_COMMITTED
        hold = f"{_kind(plan.target)} {plan.target.group} never committed" if stalled else None
        decision = decide(ScalingInput(plan.spec.autoscaling, current, now, summary, t.rates, schedulable,
                                       paused, error, hold, share_group=plan.target.share), t.history)
        t.history = decision.history
        if not self.leading():
            return  # lost the Lease while deciding: the new leader acts
        scaling = decision.desired_replicas != current
        if scaling:
            t.last_scale = (datetime.now(UTC).isoformat(), clean_text(decision.reason))
        # status first: the reconcile refreshes status on the Deployment change and then reads ours
        reported = any(c.get("type") == CONSUMING and c.get("reason") == NEVER_COMMITTED
                       for c in (t.body.get("status") or {}).get("conditions") or [])  # by a previous leader
        self._write_status(t, plan, decision, summary, result, paused is not None, error, now, commits,
                           force=scaling)
        extension = dict(t.body)
        if stalled and not t.warned_never_committed and not reported:
            kube.post_event(extension, "Warning", NEVER_COMMITTED,
                            f"{_kind(plan.target)} {plan.target.group} never committed on topic {plan.target.topic} "
                            f"while pods are ready; does the image ignore KAFKA_GROUP? Scale-up held at {current}")
        if commits is not None:
            t.warned_never_committed = stalled
        if scaling:
            kube.set_deployment_replicas(ref.namespace, ref.name, decision.desired_replicas)
            self.metrics.scale_changes.labels(ref.namespace, ref.name).inc()
            kube.post_event(extension, "Normal", "Scaled",
                            f"{current} -> {decision.desired_replicas}: {decision.reason}")
        if error is not None and previous_failures == 0:
            kube.post_event(extension, "Warning", "LagUnreadable", f"{error}; holding {decision.desired_replicas}")
        elif error is None and previous_failures > 0:
            kube.post_event(extension, "Normal", "LagReadable", f"lag readable again: {decision.reason}")
        self.metrics.record_replicas(ref.namespace, ref.name, ReplicaCounts(
            decision.desired_replicas, current, ready, schedulable, decision.gpu_limited,
            summary.total_lag if summary is not None else None))

    def _seed(self, t: Tracked, current: int, now: float) -> None:
        """Memory from `status.scalingState` (written by whichever replica led before); without it, a
        scale-down waits one full window from now."""
        restored = restore((t.body.get("status") or {}).get("scalingState"))
        if restored is not None:
            t.history, rates = restored
            t.rates = Rates(per_replica=rates.per_replica, arrival=rates.arrival)
        else:
            t.history = ScalingHistory(recommendations=((now, current),), last_active_at=now)
        t.previous_committed, t.seeded, t.ready_since = {}, True, None

    def _write_status(self, t: Tracked, plan: Plan, decision: Decision, summary: LagSummary | None,
                      result: LagResult, paused: bool, error: str | None, now: float, commits: Verdict | None,
                      force: bool = False) -> None:
        verdicts = scaling_conditions(decision, paused, error)
        if commits is not None:
            verdicts[CONSUMING] = commits
        fields: dict[str, Any] = {}
        if isinstance(result, LagReading) and summary is not None:
            fields = status_fields(decision, summary.total_lag, summary.partition_count, t.rates)
            verdicts[PARTITIONS_LIMIT_REPLICAS] = partition_condition(
                summary.partition_count, plan.spec.autoscaling.max_replicas,
                plan.spec.autoscaling.allow_idle_consumers, plan.target.share)
        else:
            fields = {"desiredReplicas": decision.desired_replicas}
        if t.last_scale is not None:
            fields["lastScaleTime"], fields["lastScaleReason"] = t.last_scale
        fields["scalingState"] = scaling_state(t.history, t.rates)
        # Level-based: compare with the live object, not with what we last sent, so a concurrent status write
        # of the reconcile is repaired on the next poll.
        live = t.body.get("status") or {}
        stale = any(live.get(k) != v for k, v in fields.items() if k not in VOLATILE) or state_moved(
            live.get("scalingState"), fields["scalingState"], STATUS_REFRESH_SECONDS,
            plan.spec.autoscaling.min_replicas)
        # lag/rates/drain alone are refreshed at most every STATUS_REFRESH_SECONDS, and not at all while idle
        moving = live.get("lag") != fields.get("lag") and now - t.last_status_at >= STATUS_REFRESH_SECONDS
        if (same_verdicts(live.get("conditions") or [], verdicts) and not stale and not force and not moving
                and not t.unwritten):
            return
        t.unwritten = not self._patch_status(t, plan.ref, fields, verdicts)
        if not t.unwritten:
            t.last_status_at = now

    def _patch_status(self, t: Tracked, ref: ExtensionRef, fields: dict[str, Any],
                      verdicts: dict[str, Verdict]) -> bool:
        """Merge-patches our fields and conditions onto the version read; on a conflict, again on a fresh read.
        False when every attempt conflicted."""
        body: Mapping[str, Any] | None = t.body
        for _ in range(STATUS_WRITE_ATTEMPTS):
            if body is None:
                return True  # gone: the watch untracks it
            previous = (body.get("status") or {}).get("conditions") or []
            generation = int(body["metadata"].get("generation", 0))
            patch = {**fields, "conditions": merged_conditions(list(previous), verdicts, generation,
                                                               datetime.now(UTC).replace(microsecond=0))}
            try:
                t.body = kube.patch_extension_status(ref.namespace, ref.name, patch,
                                                     body["metadata"]["resourceVersion"])
                return True
            except kube.Conflict:
                body = kube.get_extension(ref.namespace, ref.name, fresh=True)
        log.info("status of %s/%s kept moving while writing; the next poll writes again", ref.namespace, ref.name)
        return False
