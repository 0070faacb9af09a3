"""The env contract (docs/env-contract.md): what every container of an extension's pod reads."""

from __future__ import annotations

import json
from typing import Any

from ..api import VaultExtensionSpec
from ..settings import OperatorSettings
from .labels import ExtensionRef, config_map_name
from .resolve import resolve_kafka, resolve_vault

CONFIG_KEY = "config.json"
EnvList = list[dict[str, Any]]


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def config_json(spec: VaultExtensionSpec) -> str:
    """`spec.config` as canonical JSON (sorted keys), so an unchanged config never rolls the pods."""
    return json.dumps(spec.config, sort_keys=True, separators=(",", ":"))


def contract_env(spec: VaultExtensionSpec, owner: ExtensionRef, settings: OperatorSettings) -> EnvList:
    """The operator's variables, then the spec's `env`; a spec variable replaces one of the same name."""
    kafka = resolve_kafka(spec, owner, settings)
    vault = resolve_vault(spec, settings)
    env: EnvList = [
        _value("QUEUE_SYSTEM", "KAFKA"),
        _value("QUEUE_NAME", kafka.input_topic),
        _value("KAFKA_QUEUE_NAME", kafka.input_topic),
        _value("QUEUE_TARGET", kafka.output_topic),
        _value("TARGET_QUEUE_NAME", kafka.output_topic),
        _value("KAFKA_BROKER", kafka.bootstrap_servers),
        _value("KAFKA_GROUP", kafka.consumer_group),  # the share group's id with consumption `share`
        _value("VAULTEXT_KAFKA_CONSUMPTION", spec.kafka.consumption),
        _value("KAFKA_SECURITY", kafka.security_protocol),
        _value("KAFKA_MECHANISM", kafka.sasl_mechanism),
    ]
    if kafka.auth_secret:
        env += [
            _from_secret("KAFKA_USERNAME", kafka.auth_secret, "username"),
            _from_secret("KAFKA_PASSWORD", kafka.auth_secret, "password"),
        ]
    env += [_value("VAULT_API_URL", vault.url), _value("STORAGE_URI", vault.url)]
    if vault.credentials_secret:
        env += [
            _from_secret(name, vault.credentials_secret, key)
            for name, key in (
                ("VAULT_ACCESS_KEY", "accessKey"),
                ("VAULT_SECRET_KEY", "secretKey"),
                ("STORAGE_ACCESS_KEY", "accessKey"),
                ("STORAGE_SECRET", "secretKey"),
                ("STORAGE_SECRET_KEY", "secretKey"),
            )
        ]
    env += [
        _value("NUMBER_OF_PREDICTIONS", str(spec.frames_per_recording)),
        # Upstream images compare with "True"; forwarding to another Vault or Hub stays off unless set in env.
        _value("REMOVE_AFTER_PROCESSED", "True" if spec.vault.remove_after_processed else "False"),
        _value("FORWARDING_MEDIA", "false"),
        _value("FORWARDING_METADATA", "false"),
        _value("FORWARDING_OBJECT_THRESHOLD", "1"),
        _value("VAULTEXT_EXTENSION_NAME", owner.name),
        _value("VAULTEXT_NAMESPACE", owner.namespace),
        _value("VAULTEXT_DEAD_LETTER_TOPIC", kafka.dead_letter_topic),
        {
            "name": "VAULTEXT_CONFIG",
            "valueFrom": {"configMapKeyRef": {"name": config_map_name(owner), "key": CONFIG_KEY}},
        },
        _value("VAULTEXT_METRICS_PORT", str(spec.metrics_port)),
    ]
    overrides = [variable.model_dump(by_alias=True, exclude_none=True) for variable in spec.env]
    overridden = {variable["name"] for variable in overrides}
    return [variable for variable in env if variable["name"] not in overridden] + overrides
