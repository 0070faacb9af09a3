"""Operator-wide settings: defaults for every extension, what to watch, and how the operator itself runs.

Read from `VAULTEXT_OPERATOR_*` environment variables (e.g. `VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS`);
command-line flags of `python -m vaultext_operator run` override them. `docs/operator.md` lists them all.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .api.privileges import POD_PRIVILEGES

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
    allowed_pod_privileges: str = Field(
        default="",
        description="Comma-separated privileges a `podTemplate` may use beyond Pod Security `restricted` "
        f"({', '.join(POD_PRIVILEGES)}); empty grants none.",
    )
    retry_delay_seconds: float = Field(
        default=10.0, gt=0, description="Delay before re-checking an extension whose input is not usable yet."
    )
    resync_seconds: float = Field(
        default=60.0, gt=0, description="How often every extension is checked again (a child deleted by hand "
        "comes back, topics are bound again)."
    )
    leader_election: bool = Field(
        default=True, description="Elect one active replica through a Lease (off: this process always acts)."
    )
    lease_name: str = Field(default="vaultext-operator", description="Name of the leader-election Lease.")
    lease_namespace: str = Field(
        default="", description="Namespace of the Lease; empty: the pod's own namespace in a cluster, else the "
        "first watched namespace, else `default`."
    )
    leader_identity: str = Field(
        default="", description="This replica's name in the Lease; empty: the pod name in a cluster (a restarted "
        "container keeps its Lease), else host name and process id."
    )
    lease_seconds: float = Field(
        default=10.0, ge=2, description="How long a Lease outlives its holder's last renewal (failover time)."
    )
    health_host: str = Field(default="127.0.0.1", description="Address of the operator's /healthz endpoint.")
    health_port: int = Field(default=8081, ge=0, le=65535, description="Port of /healthz; 0 disables it.")
    health_interval_seconds: float = Field(
        default=10.0, gt=0, description="/healthz fails when the autoscaler loop has not completed a tick for "
        "three of these intervals."
    )
    never_committed_grace_seconds: float = Field(
        default=60.0, ge=0, description="Pods ready this long (at least 3 polls) while the consumer group has no "
        "committed offset and lag: condition Consuming=False, a Warning event, and no scale-up on that lag."
    )
    metrics_host: str = Field(default="127.0.0.1", description="Address of the autoscaler's /metrics endpoint.")
    metrics_port: int = Field(default=8082, ge=0, le=65535, description="Port of /metrics; 0 disables it.")

    @field_validator("allowed_pod_privileges")
    @classmethod
    def _known_privileges(cls, value: str) -> str:
        if unknown := sorted(set(_split(value)) - set(POD_PRIVILEGES)):
            raise ValueError(f"unknown pod privileges {unknown}; known: {', '.join(POD_PRIVILEGES)}")
        return value

    def allowed_privileges(self) -> frozenset[str]:
        return frozenset(_split(self.allowed_pod_privileges))

    def watched_namespaces(self) -> list[str]:
        return _split(self.namespaces)

    def lease_location(self, pod_namespace: str | None) -> tuple[str, str]:
        """(namespace, name) of the leader-election Lease."""
        watched = self.watched_namespaces()
        namespace = self.lease_namespace or pod_namespace or (watched[0] if watched else "default")
        return namespace, self.lease_name


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
