"""Strimzi `KafkaTopic` resources, for clusters where the Topic Operator owns topics (pure).

The extension's own topics (output, dead letter) are its children. The input topic is shared by every extension
that reads it: its KafkaTopic is created once, marked shared, and never owned or deleted by an extension.
"""

from __future__ import annotations

from typing import Any

from ..api import GROUP
from .labels import MANAGER

STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"
SHARED_TOPIC_LABEL = f"{GROUP}/shared-topic"


def kafka_topic_name(topic: str) -> str:
    """The resource name must be a DNS name; the real topic name goes in `spec.topicName`."""
    return topic.lower().replace("_", "-").replace(".", "-")[:253].strip("-")


def kafka_topic(topic: str, namespace: str, cluster: str, partitions: int, replicas: int,
                labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": STRIMZI_API_VERSION,
        "kind": "KafkaTopic",
        "metadata": {
            "name": kafka_topic_name(topic),
            "namespace": namespace,
            "labels": {**(labels or {}), "strimzi.io/cluster": cluster},
        },
        "spec": {"topicName": topic, "partitions": partitions, "replicas": replicas},
    }


def shared_kafka_topic(topic: str, namespace: str, cluster: str, partitions: int, replicas: int) -> dict[str, Any]:
    """A topic several extensions read: no owner reference, so deleting an extension never deletes it."""
    return kafka_topic(topic, namespace, cluster, partitions, replicas,
                       {"app.kubernetes.io/managed-by": MANAGER, SHARED_TOPIC_LABEL: "true"})
