"""Real KEDA (operator and metrics adapter) against the sandbox's apiserver, run out of cluster on 127.0.0.1; the
adapter, which binds its ``/metrics`` on every interface, in a network namespace of its own (netns.py).

Needs a control plane started with aggregation (``Sandbox(with_keda=True)``) and the optional ``keda`` build
(``python -m vaultext_sandbox build --with-keda``). The kube-controller-manager's HPA controller then scales on
KEDA's external metrics exactly as in a cluster.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kubernetes import client

from .binaries import KEDA_VERSION, built, ensure, progress
from .errors import StartupError
from .kube import Kube
from .netns import NEEDS_ROOT, can_make_namespaces, enter_namespace_of, enter_new_namespace
from .processes import ManagedProcess, free_port, log_tail, start_with_free_ports

KEDA_NAMESPACE = "keda"
CERT_SECRET = "kedaorg-certs"
CERT_FILES = ("ca.crt", "tls.crt", "tls.key")
# The name the operator's certificate is issued for; the adapter dials 127.0.0.1 but verifies this name.
OPERATOR_AUTHORITY = f"keda-operator.{KEDA_NAMESPACE}.svc.cluster.local"
METRICS_SERVICE = "keda-metrics-apiserver"
EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io"
ADAPTER_METRICS_PORT = 8080  # KEDA's default; inside the adapter's namespace nothing else listens
MISSING_BUILD = (f"KEDA {KEDA_VERSION} is not built; build it with `python -m vaultext_sandbox build --with-keda` "
                 "(about 5 minutes, once)")


@dataclass
class Keda:
    cert_dir: Path
    operator: ManagedProcess
    relays: list[ManagedProcess]  # host side first, then the one that holds the adapter's network namespace
    adapter: ManagedProcess
    grpc_port: int

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.operator, *self.relays, self.adapter]


def keda_built() -> bool:
    return built("keda") is not None


def _environment(kube: Kube) -> dict[str, str]:
    return {"KUBECONFIG": str(kube.kubeconfig), "WATCH_NAMESPACE": "", "POD_NAMESPACE": KEDA_NAMESPACE,
            "KEDA_CLUSTER_OBJECT_NAMESPACE": KEDA_NAMESPACE}


def _kubectl(kube: Kube, *args: str, input: str | None = None, attempts: int = 3) -> None:
    """kubectl, tried again after a moment (a CRD just applied can briefly be unknown); fails with its stderr."""
    for attempt in range(1, attempts + 1):
        answer = kube.kubectl(*args, input=input, check=False)
        if answer.returncode == 0:
            return
        if attempt == attempts:
            raise StartupError(f"kubectl {' '.join(args[:2])} failed (exit {answer.returncode}): "
                               f"{answer.stderr.strip()[-2000:]}")
        time.sleep(1)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _operator(binaries: Path, kube: Kube, cert_dir: Path, logs: Path,
              detached: bool) -> tuple[ManagedProcess, int, int]:
    probe, grpc = free_port(), free_port()
    process = ManagedProcess(
        "keda-operator",
        [str(binaries / "keda-operator"), "--leader-elect=false", "--zap-log-level=info", "--zap-encoder=console",
         f"--metrics-bind-address=127.0.0.1:{free_port()}", f"--health-probe-bind-address=127.0.0.1:{probe}",
         f"--metrics-service-bind-address=127.0.0.1:{grpc}", "--enable-cert-rotation", f"--cert-dir={cert_dir}",
         # No webhooks and no APIService in this cluster for KEDA to patch: the sandbox registers the adapter itself.
         "--enable-webhook-patching=false", "--enable-apiservice-patching=false"],
        logs / "keda-operator.log", env=_environment(kube), detached=detached,
    )
    return process, probe, grpc


def _certificate_secret(kube: Kube) -> dict[str, bytes] | None:
    try:
        secret = client.CoreV1Api(kube.api).read_namespaced_secret(CERT_SECRET, KEDA_NAMESPACE)
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise
    data = secret.data or {}
    if not all(data.get(name) for name in CERT_FILES):
        return None
    return {name: base64.b64decode(data[name]) for name in CERT_FILES}


def _write_certificates(kube: Kube, binaries: Path, cert_dir: Path, logs: Path, detached: bool) -> None:
    """In a pod the Secret is mounted; here the operator's first run writes the Secret (and then exits to reload
    it), and its files are copied into the folder the operator and the adapter read."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    certificates = _certificate_secret(kube)
    if certificates is None:
        first, _, _ = _operator(binaries, kube, cert_dir, logs, detached)
        first.start()
        deadline = time.monotonic() + 90
        try:
            while (certificates := _certificate_secret(kube)) is None:
                if time.monotonic() > deadline or not first.running():
                    raise StartupError(f"keda-operator wrote no Secret {KEDA_NAMESPACE}/{CERT_SECRET}; end of "
                                       f"{first.log_path}:\n{log_tail(first.log_path)}")
                time.sleep(0.2)
        finally:
            first.stop(grace=5)
    for name, content in certificates.items():
        path = cert_dir / name
        path.write_bytes(content)
        path.chmod(0o600)


def _register_adapter(kube: Kube, port: int) -> None:
    """The apiserver reaches the adapter through a Service; an ExternalName to localhost, since Endpoints refuse
    loopback addresses. The adapter's certificate is issued for the in-cluster name, hence no TLS verification."""
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": METRICS_SERVICE, "namespace": KEDA_NAMESPACE},
               "spec": {"type": "ExternalName", "externalName": "localhost",
                        "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}}
    api_service = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
                   "metadata": {"name": EXTERNAL_METRICS_API},
                   "spec": {"service": {"name": METRICS_SERVICE, "namespace": KEDA_NAMESPACE, "port": port},
                            "group": "external.metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                            "groupPriorityMinimum": 100, "versionPriority": 100}}
    for manifest in (service, api_service):
        _kubectl(kube, "apply", "--server-side", "--force-conflicts", "--field-manager=vaultext-sandbox", "-f", "-",
                 input=json.dumps(manifest))


def _api_available(kube: Kube) -> bool:
    answer = kube.kubectl("get", "apiservice", EXTERNAL_METRICS_API, "-o", "json", check=False)
    if answer.returncode != 0:
        return False
    conditions = json.loads(answer.stdout).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Available" and c.get("status") == "True" for c in conditions)


def _relay(name: str, routes: list[str], log_path: Path, detached: bool,
           before_exec: Callable[[], None] | None = None) -> ManagedProcess:
    return ManagedProcess(name, [sys.executable, "-m", "vaultext_sandbox", "relay", *routes], log_path,
                          detached=detached, before_exec=before_exec)


def _relay_serving(log_path: Path) -> bool:
    return "relay serving" in log_path.read_text()


def _tls_answers(port: int) -> bool:
    """A TLS handshake on 127.0.0.1:port: through the relays, only the adapter itself completes one."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, context.wrap_socket(raw):
            return True
    except (OSError, ssl.SSLError):
        return False


def _start_adapter(binaries: Path, kube: Kube, cert_dir: Path, logs: Path, grpc: int,
                   detached: bool) -> tuple[list[ManagedProcess], ManagedProcess, int]:
    """The adapter in a network namespace of its own, joined to the host's 127.0.0.1 by two relays over Unix
    sockets: into the namespace for the apiserver and the operator's gRPC (same port numbers on both sides, so
    the kubeconfig and flags stay as they are), out of it for the apiserver to reach the adapter's secure port."""
    port, apiserver = free_port(), int(kube.server.rsplit(":", 1)[1])
    sockets = logs.parent / f"sockets-{port}"  # per attempt, like the relays' logs: a retry never reads an old one
    sockets.mkdir(mode=0o700, parents=True, exist_ok=True)
    to_apiserver, to_operator, to_adapter = (f"unix:{sockets / name}.sock" for name in ("kube", "grpc", "adapter"))
    host_side = _relay("keda-relay-host", [f"{to_apiserver}=127.0.0.1:{apiserver}", f"{to_operator}=127.0.0.1:{grpc}",
                                           f"127.0.0.1:{port}={to_adapter}"], logs / f"keda-relay-host-{port}.log",
                       detached)
    inside = _relay("keda-relay-netns", [f"127.0.0.1:{apiserver}={to_apiserver}", f"127.0.0.1:{grpc}={to_operator}",
                                         f"{to_adapter}=127.0.0.1:{port}"], logs / f"keda-relay-netns-{port}.log",
                    detached, enter_new_namespace)
    kubeconfig = str(kube.kubeconfig)
    adapter = ManagedProcess(
        "keda-adapter",
        [str(binaries / "keda-adapter"), f"--secure-port={port}", "--bind-address=127.0.0.1",
         f"--cert-dir={cert_dir}", f"--tls-cert-file={cert_dir / 'tls.crt'}",
         f"--tls-private-key-file={cert_dir / 'tls.key'}", f"--lister-kubeconfig={kubeconfig}",
         f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
         # Bound on every interface of the namespace (the flag takes no address): only its loopback.
         f"--port={ADAPTER_METRICS_PORT}", "--zap-log-level=info", "--zap-encoder=console",
         f"--metrics-service-address=127.0.0.1:{grpc}", f"--metrics-service-grpc-authority={OPERATOR_AUTHORITY}"],
        logs / "keda-adapter.log", env=_environment(kube), detached=detached,
    )
    started: list[ManagedProcess] = []
    try:
        for relay in (host_side, inside):
            relay.start()
            started.append(relay)
            relay.wait_until(partial(_relay_serving, relay.log_path), timeout=30, what="listening")
        namespace_holder = inside.pid
        assert namespace_holder is not None
        adapter.before_exec = lambda: enter_namespace_of(namespace_holder)
        adapter.start()
        started.append(adapter)
        adapter.wait_until(lambda: _tls_answers(port), timeout=60, what="serving (TLS through its relays)")
    except BaseException:
        for process in reversed(started):
            process.stop(grace=5)
        raise
    return [host_side, inside], adapter, port


def _require_hpa_controller(controller_manager: ManagedProcess) -> None:
    """KEDA only feeds metrics; the controller-manager's HPA controller does the scaling."""
    marker = 'controller="horizontal-pod-autoscaler-controller"'
    controller_manager.wait_until(
        lambda: any("Started controller" in line and marker in line
                    for line in controller_manager.log_path.read_text(errors="replace").splitlines()),
        timeout=60, what="running the HPA controller (KEDA's ScaledObjects would never scale)")


def start_keda(workdir: Path, kube: Kube, controller_manager: ManagedProcess, detached: bool = False) -> Keda:
    """Install KEDA's CRDs and start its operator and metrics adapter; returns once the external metrics API
    answers through the apiserver."""
    if not keda_built():
        raise StartupError(MISSING_BUILD)
    if not can_make_namespaces():
        raise StartupError(NEEDS_ROOT)
    started = time.monotonic()
    _require_hpa_controller(controller_manager)
    binaries, logs, cert_dir = ensure("keda"), workdir / "logs", workdir / "certs"
    _kubectl(kube, "apply", "--server-side", "--force-conflicts", "-f", str(binaries / "crds"))
    _kubectl(kube, "wait", "--for=condition=Established", "--timeout=60s", "crd/scaledobjects.keda.sh",
             "crd/triggerauthentications.keda.sh")
    _kubectl(kube, "apply", "--server-side", "-f", "-", input=json.dumps(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KEDA_NAMESPACE}}))
    _write_certificates(kube, binaries, cert_dir, logs, detached)

    def launch_operator() -> tuple[ManagedProcess, int]:
        operator, probe, grpc = _operator(binaries, kube, cert_dir, logs, detached)
        operator.start()
        operator.wait_until(lambda: _http_ok(f"http://127.0.0.1:{probe}/readyz") and _accepts(grpc),
                            timeout=90, what="ready (health probe and gRPC metrics service)")
        return operator, grpc

    operator, grpc = start_with_free_ports(launch_operator)
    try:
        relays, adapter, port = start_with_free_ports(
            lambda: _start_adapter(binaries, kube, cert_dir, logs, grpc, detached))
    except BaseException:
        operator.stop(grace=5)
        raise
    keda = Keda(cert_dir, operator, relays, adapter, grpc)
    try:
        _register_adapter(kube, port)
        adapter.wait_until(lambda: _api_available(kube), timeout=90,
                           what=f"reachable through the apiserver (APIService {EXTERNAL_METRICS_API} not Available)")
    except BaseException:
        for process in reversed(keda.processes):
            process.stop(grace=5)
        raise
    progress(f"KEDA {KEDA_VERSION} up in {time.monotonic() - started:.1f} s")
    return keda
