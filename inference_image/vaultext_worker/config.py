"""Worker settings, read once from the environment (see docs/env-contract.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vaultext_worker.runtime.origins import BadLocationError, Origin
from vaultext_worker.runtime.sampling import SAMPLING_MODES

DEFAULT_MODEL_PATH = "/opt/vaultext/model.onnx"
CONSUMPTION_MODES = ("group", "share")


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set")
    return value


def _number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r} is not a number") from error
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise ConfigError(f"{name}={raw!r} is not an integer") from error
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


@dataclass(frozen=True)
class ModelSettings:
    path: str = DEFAULT_MODEL_PATH
    classes: tuple[str, ...] | None = None
    input_size: int | None = None
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    batch_size: int = 8
    trt_cache_dir: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ModelSettings:
        classes_raw = env.get("VAULTEXT_MODEL_CLASSES", "").strip()
        size = _integer(env, "VAULTEXT_INPUT_SIZE", 0, minimum=0)
        extra_raw = env.get("VAULTEXT_CONFIG", "").strip() or "{}"
        try:
            extra = json.loads(extra_raw)
        except json.JSONDecodeError as error:
            raise ConfigError(f"VAULTEXT_CONFIG is not JSON: {error}") from error
        if not isinstance(extra, dict):
            raise ConfigError("VAULTEXT_CONFIG must be a JSON object")
        return cls(
            path=env.get("VAULTEXT_MODEL_PATH", "").strip() or DEFAULT_MODEL_PATH,
            classes=tuple(c.strip() for c in classes_raw.split(",")) if classes_raw else None,
            input_size=size or None,
            conf_threshold=_number(env, "VAULTEXT_CONF_THRESHOLD", 0.25),
            iou_threshold=_number(env, "VAULTEXT_IOU_THRESHOLD", 0.45),
            batch_size=_integer(env, "VAULTEXT_BATCH_SIZE", 8, minimum=1),
            trt_cache_dir=env.get("VAULTEXT_TRT_CACHE", "").strip(),
            extra=extra,
        )


@dataclass(frozen=True)
class SamplingSettings:
    mode: str = "even"
    frames: int = 5
    interval_s: float = 1.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SamplingSettings:
        mode = env.get("VAULTEXT_SAMPLING", "").strip() or "even"
        if mode not in SAMPLING_MODES:
            raise ConfigError(f"VAULTEXT_SAMPLING={mode!r}; expected one of {', '.join(SAMPLING_MODES)}")
        return cls(
            mode=mode,
            frames=_integer(env, "NUMBER_OF_PREDICTIONS", 5, minimum=1),
            interval_s=_number(env, "VAULTEXT_SAMPLING_INTERVAL", 1.0, minimum=0.001),
        )


def _host_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """`vault.example.com, 10.0.0.7:8081` → lower-cased `host` or `host:port` entries."""
    entries = tuple(entry.strip().lower() for entry in env.get(name, "").split(",") if entry.strip())
    for entry in entries:
        if "/" in entry or "@" in entry:
            raise ConfigError(f"{name}: {entry!r} is not a host or host:port")
    return entries


@dataclass(frozen=True)
class VaultSettings:
    api_url: str
    access_key: str
    secret_key: str
    max_download_bytes: int = 536_870_912
    timeout_s: float = 30.0
    attempts: int = 4
    backoff_s: float = 0.5
    # hosts besides VAULT_API_URL's that may receive the configured keys when an event names them
    trusted_hosts: tuple[str, ...] = ()
    breaker_backoff_max_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> VaultSettings:
        api_url = _required(env, "VAULT_API_URL")
        try:
            Origin.of(api_url)
        except BadLocationError as error:
            raise ConfigError(f"VAULT_API_URL: {error}") from error
        return cls(
            api_url=api_url,
            access_key=env.get("VAULT_ACCESS_KEY", ""),
            secret_key=env.get("VAULT_SECRET_KEY", ""),
            max_download_bytes=_integer(env, "VAULTEXT_MAX_DOWNLOAD_BYTES", 536_870_912, minimum=1),
            timeout_s=_number(env, "VAULTEXT_DOWNLOAD_TIMEOUT", 30.0, minimum=0.01),
            attempts=_integer(env, "VAULTEXT_DOWNLOAD_ATTEMPTS", 4, minimum=1),
            backoff_s=_number(env, "VAULTEXT_DOWNLOAD_BACKOFF", 0.5),
            trusted_hosts=_host_list(env, "VAULTEXT_VAULT_TRUSTED_HOSTS"),
            breaker_backoff_max_s=_number(env, "VAULTEXT_VAULT_BACKOFF_MAX", 30.0, minimum=0.01),
        )


@dataclass(frozen=True)
class KafkaSettings:
    broker: str
    input_topic: str
    output_topic: str
    group: str
    dead_letter_topic: str
    username: str = ""
    password: str = ""
    mechanism: str = ""
    security: str = "PLAINTEXT"
    max_poll_interval_ms: int = 900_000
    session_timeout_ms: int = 45_000
    publish_attempts: int = 5
    publish_timeout_ms: int = 30_000
    # below the broker's default message.max.bytes (1048588); dead-letter records are cut to fit
    max_record_bytes: int = 1_000_000
    max_deliveries: int = 3
    # `group`: a consumer group (KAFKA_GROUP), offsets committed; `share`: a share group (queue), records acknowledged
    consumption: str = "group"
    # share mode: the delivery at which a record is dead-lettered as `poison` unprocessed; the broker's own limit
    # (group.share.delivery.count.limit, 5 by default) must not be lower, or it drops the record first
    share_delivery_limit: int = 5
    # share mode: how long a record is held while Vault fails before it is released; below the record lock (30 s)
    share_hold_ms: int = 20_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSettings:
        input_topic = _required(env, "QUEUE_NAME")
        consumption = env.get("VAULTEXT_KAFKA_CONSUMPTION", "").strip().lower() or "group"
        if consumption not in CONSUMPTION_MODES:
            raise ConfigError(f"VAULTEXT_KAFKA_CONSUMPTION={consumption!r}; expected group or share")
        default_security = "SASL_PLAINTEXT" if env.get("KAFKA_USERNAME") else "PLAINTEXT"
        return cls(
            broker=_required(env, "KAFKA_BROKER"),
            input_topic=input_topic,
            output_topic=_required(env, "QUEUE_TARGET"),
            group=_required(env, "KAFKA_GROUP"),
            dead_letter_topic=env.get("VAULTEXT_DEAD_LETTER_TOPIC", "").strip() or f"{input_topic}.dlq",
            username=env.get("KAFKA_USERNAME", ""),
            password=env.get("KAFKA_PASSWORD", ""),
            mechanism=env.get("KAFKA_MECHANISM", ""),
            security=env.get("KAFKA_SECURITY", "").strip() or default_security,
            max_poll_interval_ms=_integer(env, "VAULTEXT_MAX_POLL_INTERVAL_MS", 900_000, minimum=10_000),
            session_timeout_ms=_integer(env, "VAULTEXT_SESSION_TIMEOUT_MS", 45_000, minimum=1_000),
            publish_attempts=_integer(env, "VAULTEXT_PUBLISH_ATTEMPTS", 5, minimum=1),
            publish_timeout_ms=_integer(env, "VAULTEXT_PUBLISH_TIMEOUT_MS", 30_000, minimum=1_000),
            max_record_bytes=_integer(env, "VAULTEXT_MAX_RECORD_BYTES", 1_000_000, minimum=4_096),
            max_deliveries=_integer(env, "VAULTEXT_MAX_DELIVERIES", 3, minimum=1),
            consumption=consumption,
            share_delivery_limit=_integer(env, "VAULTEXT_SHARE_DELIVERY_LIMIT", 5, minimum=2),
            share_hold_ms=_integer(env, "VAULTEXT_SHARE_HOLD_MS", 20_000, minimum=0),
        )

    def client_config(self) -> dict[str, str]:
        """librdkafka settings shared by the consumer and the producer."""
        config = {"bootstrap.servers": self.broker, "security.protocol": self.security}
        if self.username:
            config["sasl.username"] = self.username
            config["sasl.password"] = self.password
            config["sasl.mechanism"] = self.mechanism or "PLAIN"
        return config


@dataclass(frozen=True)
class WorkerSettings:
    kafka: KafkaSettings
    vault: VaultSettings
    sampling: SamplingSettings
    model: ModelSettings
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 8080
    log_level: str = "INFO"
    extension_name: str = ""
    namespace: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        level = env.get("VAULTEXT_LOG_LEVEL", "").strip().upper() or "INFO"
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigError(f"VAULTEXT_LOG_LEVEL={level!r}; expected DEBUG, INFO, WARNING or ERROR")
        return cls(
            kafka=KafkaSettings.from_env(env),
            vault=VaultSettings.from_env(env),
            sampling=SamplingSettings.from_env(env),
            model=ModelSettings.from_env(env),
            metrics_host=env.get("VAULTEXT_METRICS_HOST", "").strip() or "127.0.0.1",
            metrics_port=_integer(env, "VAULTEXT_METRICS_PORT", 8080),
            log_level=level,
            extension_name=env.get("VAULTEXT_EXTENSION_NAME", ""),
            namespace=env.get("VAULTEXT_NAMESPACE", ""),
        )
