"""Strimzi `KafkaTopic` resources, for clusters where the Topic Operator owns topics (pure)."""

from __future__ import annotations

from typing import Any

STRIMZI_API_VERSION = "kafka.strimzi.io/v1beta2"


def kafka_topic(topic: str, namespace: str, cluster: str, partitions: int, replicas: int,
                labels: dict[str, str] | None = None) -> dict[str, Any]:
    """The resource name must be a DNS name; the real topic name goes in `spec.topicName`."""
    resource_name = topic.lower().replace("_", "-").replace(".", "-")[:253].strip("-")
    return {
        "apiVersion": STRIMZI_API_VERSION,
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource_name,
            "namespace": namespace,
            "labels": {**(labels or {}), "strimzi.io/cluster": cluster},
        },
        "spec": {"topicName": topic, "partitions": partitions, "replicas": replicas},
    }
