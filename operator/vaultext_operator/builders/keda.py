"""`engine: keda`: the KEDA ScaledObject (+ TriggerAuthentication) equivalent to an extension's autoscaling.

Pure. KEDA cannot express `targetDrainSeconds` or the GPU-capacity cap; those stay builtin-only. The HPA
behavior is set so KEDA at least scales up in one step and stabilizes scale-down like the builtin engine.
"""

from __future__ import annotations

from typing import Any

from ..api.autoscaling import AutoscalingSpec

Manifest = dict[str, Any]
KEDA_API_VERSION = "keda.sh/v1alpha1"
# KEDA's `sasl` trigger parameter for our Secret's `mechanism`
SASL_NAMES = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def trigger_metadata(autoscaling: AutoscalingSpec, bootstrap_servers: str, group: str, topic: str,
                     sasl_mechanism: str | None = None, security_protocol: str | None = None) -> dict[str, str]:
    metadata = {
        "bootstrapServers": bootstrap_servers,
        "consumerGroup": group,
        "topic": topic,
        "lagThreshold": str(autoscaling.lag_threshold),
        "activationLagThreshold": str(autoscaling.activation_lag_threshold),
        "offsetResetPolicy": autoscaling.offset_reset_policy,
        "allowIdleConsumers": _flag(autoscaling.allow_idle_consumers),
        "limitToPartitionsWithLag": _flag(autoscaling.limit_to_partitions_with_lag),
        "excludePersistentLag": _flag(autoscaling.exclude_persistent_lag),
        "scaleToZeroOnInvalidOffset": _flag(autoscaling.scale_to_zero_on_invalid_offset),
        "ensureEvenDistributionOfPartitions": _flag(autoscaling.ensure_even_distribution_of_partitions),
    }
    if sasl_mechanism:
        metadata["sasl"] = SASL_NAMES.get(sasl_mechanism.upper(), sasl_mechanism.lower())
    if security_protocol:
        metadata["tls"] = "enable" if security_protocol.upper() in ("SSL", "SASL_SSL") else "disable"
    return metadata


def scaled_object(name: str, namespace: str, metadata: Manifest, autoscaling: AutoscalingSpec,
                  trigger: dict[str, str], auth_name: str | None) -> Manifest:
    """The ScaledObject; `metadata` carries the operator's labels and owner reference."""
    scale_up_pods = autoscaling.max_scale_up_step or autoscaling.max_replicas
    kafka_trigger: Manifest = {"type": "kafka", "metadata": trigger}
    if auth_name is not None:
        kafka_trigger["authenticationRef"] = {"name": auth_name}
    spec: Manifest = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "pollingInterval": autoscaling.polling_interval,
        "cooldownPeriod": autoscaling.cooldown_period,
        "minReplicaCount": autoscaling.min_replicas,
        "maxReplicaCount": autoscaling.max_replicas,
        "advanced": {
            "horizontalPodAutoscalerConfig": {
                "behavior": {
                    "scaleUp": {
                        "stabilizationWindowSeconds": 0,
                        "policies": [{"type": "Pods", "value": scale_up_pods, "periodSeconds": 15}],
                    },
                    "scaleDown": {
                        "stabilizationWindowSeconds": autoscaling.scale_down_stabilization_seconds,
                    },
                }
            }
        },
        "triggers": [kafka_trigger],
    }
    fallback = autoscaling.fallback
    if fallback is not None and fallback.replicas is not None:
        spec["fallback"] = {"failureThreshold": fallback.failure_threshold, "replicas": fallback.replicas}
    return {"apiVersion": KEDA_API_VERSION, "kind": "ScaledObject",
            "metadata": {**metadata, "name": name, "namespace": namespace}, "spec": spec}


def trigger_authentication(name: str, namespace: str, metadata: Manifest, secret_name: str) -> Manifest:
    """Username and password from the extension's Kafka Secret (keys `username`, `password`)."""
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "TriggerAuthentication",
        "metadata": {**metadata, "name": name, "namespace": namespace},
        "spec": {
            "secretTargetRef": [
                {"parameter": "username", "name": secret_name, "key": "username"},
                {"parameter": "password", "name": secret_name, "key": "password"},
            ]
        },
    }
