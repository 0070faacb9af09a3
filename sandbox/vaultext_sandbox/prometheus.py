"""A real Prometheus server on 127.0.0.1: static targets tests add at run time (file-based discovery, e.g. an
operator running outside the cluster), and the project's pods found through Kubernetes service discovery against the
sandbox's apiserver (only pods on the real node's bridge: kwok pods have made-up addresses)."""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from .binaries import ensure, progress
from .processes import ManagedProcess, free_port, start_with_free_ports

SCRAPE_INTERVAL = "1s"
POD_JOB = "vaultext-pods"
# Which pods are scraped: the project's (operator and workers), on a container port named `metrics`.
POD_LABEL = ("app.kubernetes.io/part-of", "vaultext")
METRICS_PORT_NAME = "metrics"


@dataclass(frozen=True)
class ClusterAccess:
    """How Prometheus reaches the sandbox's apiserver, and the subnet of the pods it can reach (None: none)."""

    kubeconfig: Path
    pod_subnet: ipaddress.IPv4Network | None


def _meta_label(label: str) -> str:
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def address_pattern(subnet: ipaddress.IPv4Network) -> str:
    """A regular expression for the addresses of ``subnet`` (whole octets only: the sandbox's bridges are /24)."""
    if subnet.prefixlen % 8:
        raise ValueError(f"pod subnet {subnet} is not on an octet boundary")
    fixed = str(subnet.network_address).split(".")[: subnet.prefixlen // 8]
    return r"\.".join([*fixed, *([r"\d+"] * (4 - len(fixed)))])


def pod_scrape_config(cluster: ClusterAccess) -> dict[str, object]:
    """Pods of the project with a `metrics` port on reachable addresses; the operator's own `namespace` label
    (an extension's) wins over the pod's (honor_labels)."""
    reachable = address_pattern(cluster.pod_subnet) if cluster.pod_subnet else "unreachable"
    keep = [
        ([_meta_label(POD_LABEL[0])], re.escape(POD_LABEL[1])),
        (["__meta_kubernetes_pod_container_port_name"], METRICS_PORT_NAME),
        (["__meta_kubernetes_pod_phase"], "Running"),
        (["__meta_kubernetes_pod_ip"], reachable),
    ]
    relabel: list[dict[str, object]] = [{"source_labels": labels, "regex": regex, "action": "keep"}
                                        for labels, regex in keep]
    for source, target in (("__meta_kubernetes_namespace", "namespace"), ("__meta_kubernetes_pod_name", "pod"),
                           (_meta_label("vault.kerberos.io/extension"), "extension"),
                           (_meta_label("app.kubernetes.io/name"), "app")):
        relabel.append({"source_labels": [source], "target_label": target})
    return {
        "job_name": POD_JOB,
        "scrape_interval": SCRAPE_INTERVAL,
        "scrape_timeout": SCRAPE_INTERVAL,
        "honor_labels": True,
        "kubernetes_sd_configs": [{"role": "pod", "kubeconfig_file": str(cluster.kubeconfig)}],
        "relabel_configs": relabel,
    }


def _config(targets_dir: Path, cluster: ClusterAccess | None = None) -> str:
    scrape_configs: list[dict[str, object]] = [
        {
            "job_name": "sandbox",
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "honor_labels": True,
            "file_sd_configs": [{"files": [f"{targets_dir}/*.json"], "refresh_interval": "1s"}],
        }
    ]
    if cluster is not None:
        scrape_configs.append(pod_scrape_config(cluster))
    config = {"global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
              "scrape_configs": scrape_configs}
    return yaml.safe_dump(config)


@dataclass
class Prometheus:
    workdir: Path
    url: str
    process: ManagedProcess

    @property
    def targets_dir(self) -> Path:
        return self.workdir / "targets"

    def add_target(self, job: str, address: str) -> None:
        """Scrape ``address`` (host:port on 127.0.0.1) every second under the label ``job``."""
        entry = [{"targets": [address], "labels": {"job": job}}]
        staging = self.targets_dir / f".{job}.tmp"
        staging.write_text(json.dumps(entry))
        staging.rename(self.targets_dir / f"{job}.json")  # atomic: discovery never reads half a file

    def discover_pods(self, cluster: ClusterAccess) -> None:
        """Add (or change) the Kubernetes pod discovery and reload the configuration."""
        (self.workdir / "prometheus.yml").write_text(_config(self.targets_dir, cluster))
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"Prometheus refused its new configuration: {error.read().decode()[:500]}") from error

    def query(self, promql: str) -> list[dict[str, object]]:
        """An instant query's result vector (an error answer raises with Prometheus' message)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise ValueError(f"query {promql!r}: {error.read().decode()[:500]}") from error
        result: list[dict[str, object]] = answer["data"]["result"]
        return result

    def remove_target(self, job: str) -> None:
        (self.targets_dir / f"{job}.json").unlink(missing_ok=True)

    def start(self) -> None:
        self.process.start()
        self.process.wait_until(self._ready, timeout=60, what="ready at /-/ready")
        progress(f"Prometheus ready at {self.url}")

    def stop(self) -> None:
        self.process.stop(grace=10)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


def start_prometheus(workdir: Path, detached: bool = False) -> Prometheus:
    return start_with_free_ports(lambda: _launch_prometheus(workdir, detached))


def _launch_prometheus(workdir: Path, detached: bool) -> Prometheus:
    binary = ensure("prometheus") / "prometheus"
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "targets").mkdir(exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(workdir / "targets"))
    port = free_port()
    process = ManagedProcess(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            "--storage.tsdb.retention.time=2h",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            "--web.enable-lifecycle",  # POST /-/reload when the pod discovery is added
        ],
        workdir / "prometheus.log",
        detached=detached,
    )
    prometheus = Prometheus(workdir, f"http://127.0.0.1:{port}", process)
    prometheus.start()
    return prometheus
