"""Operator-wide settings: defaults for every extension, what to watch, and how the operator itself runs.

Read from `VAULTEXT_OPERATOR_*` environment variables (e.g. `VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS`);
command-line flags of `python -m vaultext_operator run` override them. `docs/operator.md` lists them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class OperatorSettings(BaseSettings):
    """Defaults an extension inherits when its spec leaves a field unset, plus the operator's own knobs."""

    model_config = SettingsConfigDict(env_prefix="VAULTEXT_OPERATOR_", frozen=True)

    namespaces: str = Field(
        default="", description="Comma-separated namespaces to watch; empty watches the whole cluster."
    )
    log_level: LogLevel = Field(default="INFO", description="Operator log level.")
    kafka_bootstrap_servers: str = Field(default="kafka:9092", description="Default Kafka bootstrap servers.")
    kafka_input_topic: str = Field(default="vault-events", description="Default topic with Vault's events.")
    vault_url: str = Field(default="http://vault.kerberos-vault/api", description="Default Vault API URL.")
    vault_credentials_secret: str = Field(
        default="vault-credentials",
        description="Default Secret (in the extension's namespace) with `accessKey`/`secretKey`; empty: none.",
    )
    gpu_resource_name: str = Field(default="nvidia.com/gpu", description="Default GPU extended resource.")
    prometheus_url: str = Field(
        default="", description="Default Prometheus base URL for `autoscaling.source.type: prometheus`."
    )
    check_gpu_capacity: bool = Field(
        default=True,
        description="Refuse (Ready=False) an extension whose GPU resource no node offers; turn off with a "
        "cluster autoscaler that adds GPU nodes on demand.",
    )
    retry_delay_seconds: float = Field(
        default=10.0, gt=0, description="Delay before re-checking an extension whose input is not usable yet."
    )
    resync_seconds: float = Field(
        default=60.0, gt=0, description="How often every extension is checked again (a child deleted by hand "
        "comes back, topics are bound again)."
    )
    health_host: str = Field(default="127.0.0.1", description="Address of the operator's /healthz endpoint.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="Port of /healthz; 0 disables it.")
    health_interval_seconds: float = Field(
        default=10.0, gt=0, description="/healthz fails when the autoscaler loop has not completed a tick for "
        "three of these intervals."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the autoscaler's /metrics endpoint.")
    metrics_port: int = Field(default=8082, ge=0, le=65535, description="Port of /metrics; 0 disables it.")

    def watched_namespaces(self) -> list[str]:
        return [name.strip() for name in self.namespaces.split(",") if name.strip()]
