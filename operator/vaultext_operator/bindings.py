"""The reconcile's Kafka-side children: KEDA's ScaledObject and TriggerAuthentication, Strimzi KafkaTopics, and
topics created through the Kafka Admin API. Level-based like the rest of the reconcile: each call converges.

Topics are never deleted here. A KafkaTopic is applied only when this extension controls it (or it does not exist
yet); the input topic is shared by every extension that reads it, so its KafkaTopic carries no owner reference.
"""

from __future__ import annotations

import threading

from confluent_kafka import KafkaException

from . import kube
from .api import VaultExtensionSpec
from .builders import MANAGER, ExtensionRef, KafkaBinding, resolve_kafka
from .builders.keda import KEDA_API_VERSION, scaled_object, trigger_authentication, trigger_metadata
from .builders.labels import child_metadata
from .builders.strimzi import STRIMZI_API_VERSION, kafka_topic, kafka_topic_name, shared_kafka_topic
from .conditions import Verdict, clean_text
from .scaling.report import SCALING_ACTIVE, TOPICS_READY
from .settings import OperatorSettings
from .sources.base import KafkaConnection
from .sources.topics import BindingReport, TopicBinder, TopicWish

Json = dict[str, object]
BINDER_TIMEOUT_SECONDS = 5.0
_binder_lock = threading.Lock()
_binder: TopicBinder | None = None


def binder() -> TopicBinder:
    global _binder
    with _binder_lock:
        if _binder is None:
            _binder = TopicBinder(timeout=BINDER_TIMEOUT_SECONDS)
        return _binder


def kafka_connection(binding: KafkaBinding, namespace: str) -> KafkaConnection:
    """How to reach the extension's Kafka cluster: protocol and mechanism from the spec, and only the username and
    password from its Secret when it names one."""
    if binding.auth_secret is None:
        return KafkaConnection(binding.bootstrap_servers)
    data = kube.secret_data(namespace, binding.auth_secret) or {}
    return KafkaConnection(binding.bootstrap_servers, binding.security_protocol, binding.sasl_mechanism,
                           data.get("username"), data.get("password"))


def controlled_by(child: Json | None, ref: ExtensionRef) -> bool:
    metadata = child.get("metadata") if child else None
    references = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    return any(isinstance(r, dict) and r.get("uid") == ref.uid and r.get("controller") for r in references or [])


def expected_children(spec: VaultExtensionSpec, ref: ExtensionRef, settings: OperatorSettings,
                      ) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of every Kafka-side child the spec asks for: a resync checks they exist."""
    binding = resolve_kafka(spec, ref, settings)
    expected: list[tuple[str, str, str]] = []
    if spec.autoscaling.engine == "keda":
        expected.append((KEDA_API_VERSION, "ScaledObject", ref.name))
        if binding.auth_secret:
            expected.append((KEDA_API_VERSION, "TriggerAuthentication", ref.name))
    if spec.autoscaling.topics.provisioner == "strimzi":
        expected += [(STRIMZI_API_VERSION, "KafkaTopic", kafka_topic_name(topic))
                     for topic in (binding.input_topic, binding.output_topic, binding.dead_letter_topic)]
    return expected


def apply_keda(spec: VaultExtensionSpec, ref: ExtensionRef, binding: KafkaBinding,
               connection: KafkaConnection) -> Verdict | None:
    """ScaledObject (+ TriggerAuthentication) for `engine: keda`, removed otherwise; the ScalingActive verdict
    for the engines the autoscaler does not run (None for `builtin`: the autoscaler writes it)."""
    wanted: list[Json] = []
    if spec.autoscaling.engine == "keda":
        metadata = child_metadata(ref, ref.name)
        trigger = trigger_metadata(spec.autoscaling, binding.bootstrap_servers, binding.consumer_group,
                                   binding.input_topic, connection.sasl_mechanism,
                                   connection.security_protocol if binding.auth_secret else None)
        if binding.auth_secret:
            wanted.append(trigger_authentication(ref.name, ref.namespace, metadata, binding.auth_secret))
        wanted.append(scaled_object(ref.name, ref.namespace, metadata, spec.autoscaling, trigger,
                                    ref.name if binding.auth_secret else None))
    kinds = {manifest["kind"] for manifest in wanted}
    try:
        for manifest in wanted:
            kube.apply(manifest, MANAGER)
        for kind in ("ScaledObject", "TriggerAuthentication"):
            if kind not in kinds and controlled_by(kube.get(KEDA_API_VERSION, kind, ref.namespace, ref.name), ref):
                kube.delete(KEDA_API_VERSION, kind, ref.namespace, ref.name)
    except kube.KubeError as error:
        if spec.autoscaling.engine == "keda":  # e.g. KEDA not installed: say so where the user looks
            return Verdict("False", "KedaApplyFailed", clean_text(str(error)))
        raise
    if spec.autoscaling.engine == "keda":
        return Verdict("True", "KedaScaledObject", "KEDA scales this extension through its ScaledObject")
    if spec.autoscaling.engine == "none":
        return Verdict("False", "AutoscalingOff", "engine: none; replicas come from spec.replicas")
    return None


def _wishes(spec: VaultExtensionSpec, binding: KafkaBinding) -> list[TopicWish]:
    autoscaling = spec.autoscaling
    partitions, replication = autoscaling.topic_partitions(), autoscaling.topics.replication_factor
    return [TopicWish(binding.input_topic, partitions, replication, autoscaling.topics.grow_partitions)] + [
        TopicWish(topic, partitions, replication) for topic in (binding.output_topic, binding.dead_letter_topic)
    ]


def _apply_kafka_topics(spec: VaultExtensionSpec, ref: ExtensionRef, wishes: list[TopicWish]) -> list[str]:
    """KafkaTopics: the shared input created once, the extension's own applied; returns those left alone."""
    cluster = spec.autoscaling.topics.strimzi_cluster or ""
    shared, *own = wishes
    kube.create(shared_kafka_topic(shared.name, ref.namespace, cluster, shared.partitions,
                                   shared.replication_factor))
    foreign: list[str] = []
    for wish in own:
        manifest = kafka_topic(wish.name, ref.namespace, cluster, wish.partitions, wish.replication_factor)
        live = kube.get(STRIMZI_API_VERSION, "KafkaTopic", ref.namespace, manifest["metadata"]["name"])
        if live is not None and not controlled_by(live, ref):
            foreign.append(wish.name)  # someone else's: never touched
            continue
        metadata = child_metadata(ref, manifest["metadata"]["name"])
        manifest["metadata"]["labels"] = {**metadata["labels"], **manifest["metadata"]["labels"]}
        manifest["metadata"]["ownerReferences"] = metadata["ownerReferences"]
        kube.apply(manifest, MANAGER)
    return foreign


def bind_topics(spec: VaultExtensionSpec, ref: ExtensionRef, binding: KafkaBinding,
                connection: KafkaConnection) -> Verdict:
    """Makes the input, output and dead-letter topics exist as `topics.provisioner` says; the TopicsReady verdict."""
    wishes = _wishes(spec, binding)
    provisioner = spec.autoscaling.topics.provisioner
    foreign: list[str] = []
    try:
        if provisioner == "admin":
            report = binder().ensure(connection, wishes)
        else:
            if provisioner == "strimzi":
                foreign = _apply_kafka_topics(spec, ref, wishes)
            report = BindingReport(partitions=binder().existing_partitions(connection, [w.name for w in wishes]))
    except (KafkaException, kube.KubeError, OSError) as error:
        return Verdict("False", "TopicBindingFailed", clean_text(str(error)))
    missing = [w.name for w in wishes if w.name not in report.partitions]
    if missing or report.errors:
        details = "; ".join([f"{n}: missing" for n in missing] + [f"{n}: {e}" for n, e in report.errors.items()])
        return Verdict("False", "TopicsMissing", clean_text(details))
    summary = ", ".join(f"{w.name} ({report.partitions[w.name]} partitions)" for w in wishes)
    created = f"; created {', '.join(report.created)}" if report.created else ""
    left = f"; KafkaTopic of {', '.join(foreign)} belongs to another owner, left alone" if foreign else ""
    return Verdict("True", "TopicsBound", summary + created + left)


def converge(spec: VaultExtensionSpec, ref: ExtensionRef, settings: OperatorSettings,
             topics: bool = True) -> dict[str, Verdict]:
    """Every Kafka-side child of the extension (topics only with `topics`); the conditions they decide."""
    binding = resolve_kafka(spec, ref, settings)
    verdicts: dict[str, Verdict] = {}
    try:
        connection = kafka_connection(binding, ref.namespace)
    except kube.KubeError as error:
        failed = Verdict("False", "TopicBindingFailed", clean_text(f"reading the Kafka Secret: {error}"))
        return {TOPICS_READY: failed}
    keda = apply_keda(spec, ref, binding, connection)
    if keda is not None:
        verdicts[SCALING_ACTIVE] = keda
    if topics:
        verdicts[TOPICS_READY] = bind_topics(spec, ref, binding, connection)
    return verdicts
