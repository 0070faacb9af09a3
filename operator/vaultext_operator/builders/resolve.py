"""Effective values of an extension: its spec first, then the operator-wide settings, then built-in defaults.

The autoscaler and the topic binder use the same functions, so every part agrees on topics and group.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..api import VaultExtensionSpec
from ..settings import OperatorSettings
from .labels import ExtensionRef

KAFKA_AUTH_KEYS = ("username", "password")
VAULT_KEYS = ("accessKey", "secretKey")
DEFAULT_REQUESTS = {"cpu": "1", "memory": "2Gi"}
DEFAULT_LIMITS = {"memory": "8Gi"}


@dataclass(frozen=True)
class KafkaBinding:
    bootstrap_servers: str
    input_topic: str
    output_topic: str
    dead_letter_topic: str
    consumer_group: str
    auth_secret: str | None
    # From the spec, never the Secret; PLAINTEXT/PLAIN without auth, since clients pass both unconditionally.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"


@dataclass(frozen=True)
class VaultBinding:
    url: str
    credentials_secret: str | None


def resolve_kafka(spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings) -> KafkaBinding:
    kafka = spec.kafka
    auth = kafka.auth
    return KafkaBinding(
        bootstrap_servers=kafka.bootstrap_servers or settings.kafka_bootstrap_servers,
        input_topic=kafka.input.topic if kafka.input else settings.kafka_input_topic,
        output_topic=kafka.output.topic if kafka.output else f"{owner.name}-results",
        dead_letter_topic=kafka.dead_letter.topic if kafka.dead_letter else f"{owner.name}-dead-letter",
        consumer_group=kafka.consumer_group or f"vaultext-{owner.namespace}-{owner.name}",
        auth_secret=auth.secret_ref.name if auth else None,
        security_protocol=auth.security_protocol if auth else "PLAINTEXT",
        sasl_mechanism=auth.mechanism if auth else "PLAIN",
    )


def resolve_vault(spec: VaultExtensionSpec, settings: OperatorSettings) -> VaultBinding:
    secret_ref = spec.vault.credentials_secret_ref
    return VaultBinding(
        url=spec.vault.url or settings.vault_url,
        credentials_secret=secret_ref.name if secret_ref else (settings.vault_credentials_secret or None),
    )


def gpu_resource_name(spec: VaultExtensionSpec, settings: OperatorSettings) -> str:
    return spec.gpu.resource_name or settings.gpu_resource_name


def required_secret_keys(
    spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings
) -> dict[str, set[str]]:
    """Secrets (in the extension's namespace) and the keys the pods read from each: checked before applying."""
    needed: dict[str, set[str]] = {}
    kafka_secret = resolve_kafka(spec, owner, settings).auth_secret
    if kafka_secret:
        needed.setdefault(kafka_secret, set()).update(KAFKA_AUTH_KEYS)
    vault_secret = resolve_vault(spec, settings).credentials_secret
    if vault_secret:
        needed.setdefault(vault_secret, set()).update(VAULT_KEYS)
    for variable in spec.env:
        reference = variable.value_from.secret_key_ref if variable.value_from else None
        if reference is not None and not reference.optional:
            needed.setdefault(reference.name, set()).add(reference.key)
    return needed


def resource_requirements(spec: VaultExtensionSpec, settings: OperatorSettings) -> dict[str, dict[str, str]]:
    """Container resources: the spec's CPU/memory (or the defaults) plus the GPU limit."""
    if spec.resources is None:
        requests, limits = dict(DEFAULT_REQUESTS), dict(DEFAULT_LIMITS)
    else:
        requests = spec.resources.requests.model_dump(exclude_none=True) if spec.resources.requests else {}
        limits = spec.resources.limits.model_dump(exclude_none=True) if spec.resources.limits else {}
    if spec.gpu.count > 0:
        limits[gpu_resource_name(spec, settings)] = str(spec.gpu.count)
    return {key: value for key, value in (("requests", requests), ("limits", limits)) if value}
