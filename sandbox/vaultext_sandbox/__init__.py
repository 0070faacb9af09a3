"""Local sandbox: a real Kubernetes control plane with fake GPU nodes, a real Kafka broker and a real Prometheus."""

from .errors import BuildError, SandboxError, StartupError
from .kafka import Kafka
from .kube import Kube
from .prometheus import Prometheus
from .sandbox import Sandbox

__all__ = ["BuildError", "Kafka", "Kube", "Prometheus", "Sandbox", "SandboxError", "StartupError"]
