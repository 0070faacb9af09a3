"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, controller-manager, scheduler and kwok."""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from .binaries import ensure, progress
from .processes import ManagedProcess, free_port, start_with_free_ports

SERVICE_CIDR = "10.96.0.0/16"
KWOK_NODE_SELECTOR = "kwok.x-k8s.io/node=fake"
FRONT_PROXY_CLIENT = "front-proxy-client"
# The HPA controller's period (Kubernetes' default, set so the KEDA benchmark's assumption is visible).
HPA_SYNC_PERIOD = "15s"


@dataclass
class ControlPlane:
    workdir: Path
    server: str
    kubeconfig: Path
    ca_file: Path
    processes: list[ManagedProcess]


def _http_ok(url: str, context: ssl.SSLContext | None = None, token: str | None = None) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError):
        return False


def _write_kubeconfig(path: Path, server: str, ca_file: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "admin"}}],
        "current-context": "sandbox",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def _service_account_keys(workdir: Path) -> tuple[Path, Path]:
    private, public = workdir / "sa.key", workdir / "sa.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-out", str(public)], check=True,
                   capture_output=True)
    return private, public


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def front_proxy_flags(workdir: Path) -> list[str]:
    """The aggregation layer's flags: a front-proxy CA and the client certificate the apiserver presents to
    aggregated API servers (KEDA's metrics adapter), which trust the identity headers it sends with it."""
    folder = workdir / "front-proxy"
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt, extensions = (folder / f"client.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    _openssl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-days", "30", "-subj", "/CN=front-proxy-ca",
             "-keyout", str(ca_key), "-out", str(ca_crt))
    _openssl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", f"/CN={FRONT_PROXY_CLIENT}",
             "-keyout", str(key), "-out", str(csr))
    extensions.write_text("extendedKeyUsage = clientAuth\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
             "-days", "30", "-extfile", str(extensions), "-out", str(crt))
    return [
        f"--requestheader-client-ca-file={ca_crt}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={crt}",
        f"--proxy-client-key-file={key}",
        # Reach an aggregated server through its Service (an ExternalName to localhost), not through Endpoints,
        # which refuse loopback addresses.
        "--enable-aggregator-routing=false",
    ]


def _start_etcd(workdir: Path, logs: Path, detached: bool) -> tuple[ManagedProcess, str]:
    client, peer = free_port(), free_port()
    etcd = ManagedProcess(
        "etcd",
        [
            str(ensure("etcd") / "etcd"),
            "--name=sandbox",
            f"--data-dir={workdir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=sandbox=http://127.0.0.1:{peer}",
            "--listen-metrics-urls=",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
        logs / "etcd.log",
        detached=detached,
    )
    etcd.start()
    url = f"http://127.0.0.1:{client}"
    etcd.wait_until(lambda: _http_ok(f"{url}/health"), timeout=30, what="healthy")
    return etcd, url


def _start_apiserver(
    workdir: Path, logs: Path, etcd_url: str, token: str, detached: bool, advertise_address: str | None,
    aggregation: list[str],
) -> tuple[ManagedProcess, str]:
    port = free_port()
    cert_dir = workdir / "certs"
    sa_private, sa_public = _service_account_keys(workdir)
    tokens = workdir / "tokens.csv"
    tokens.write_text(f'{token},admin,admin,"system:masters"\n')
    tokens.chmod(0o600)
    apiserver = ManagedProcess(
        "kube-apiserver",
        [
            str(ensure("kubernetes") / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            # A bridge address here also lands in the serving certificate, so pods can verify the relay to it.
            f"--advertise-address={advertise_address or '127.0.0.1'}",
            f"--secure-port={port}",
            f"--cert-dir={cert_dir}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            f"--service-account-key-file={sa_public}",
            f"--service-account-signing-key-file={sa_private}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false",
            # `kubectl logs` reaches a real node by its bridge address, never through a DNS lookup of its name.
            "--kubelet-preferred-address-types=InternalIP",
            *aggregation,
        ],
        logs / "kube-apiserver.log",
        detached=detached,
    )
    apiserver.start()
    server = f"https://127.0.0.1:{port}"
    ca_file = cert_dir / "apiserver.crt"
    apiserver.wait_until(ca_file.exists, timeout=30, what="serving (no certificate written)")
    verified = ssl.create_default_context(cafile=str(ca_file))
    apiserver.wait_until(lambda: _http_ok(f"{server}/readyz", verified, token), timeout=60, what="ready at /readyz")
    return apiserver, server


def start_control_plane(workdir: Path, detached: bool = False, advertise_address: str | None = None,
                        aggregation: bool = False) -> ControlPlane:
    """Start every control-plane process and wait until the cluster can schedule pods onto kwok nodes; with
    ``aggregation``, the apiserver can also serve aggregated APIs (KEDA's external metrics)."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(16)
    processes: list[ManagedProcess] = []
    aggregation_flags = front_proxy_flags(workdir) if aggregation else []
    try:
        etcd, etcd_url = start_with_free_ports(lambda: _start_etcd(workdir, logs, detached))
        processes.append(etcd)
        apiserver, server = start_with_free_ports(
            lambda: _start_apiserver(workdir, logs, etcd_url, token, detached, advertise_address, aggregation_flags)
        )
        processes.append(apiserver)
        ca_file = workdir / "certs" / "apiserver.crt"
        verified = ssl.create_default_context(cafile=str(ca_file))
        kubeconfig = workdir / "kubeconfig"
        _write_kubeconfig(kubeconfig, server, ca_file, token)
        hpa = [f"--horizontal-pod-autoscaler-sync-period={HPA_SYNC_PERIOD}"] if aggregation else []
        controllers = _start_controllers(workdir, logs, kubeconfig, detached, hpa)
        processes += controllers
        # The controller-manager's service-account controller creating `default` proves it reached the apiserver.
        controllers[0].wait_until(
            lambda: _http_ok(f"{server}/api/v1/namespaces/default/serviceaccounts/default", verified, token),
            timeout=60,
            what="managing the cluster (no default ServiceAccount)",
        )
        for process in controllers[1:]:
            process.fail_if_dead()
    except BaseException:
        for process in reversed(processes):
            process.stop(grace=2)
        raise
    progress(f"control plane ready at {server}")
    return ControlPlane(workdir, server, kubeconfig, ca_file, processes)


def _client_rate() -> list[str]:
    """The controller-manager's requests per second to the apiserver: Kubernetes' default (20, burst 30) unless
    VAULTEXT_SANDBOX_CONTROLLER_QPS says otherwise (the scale benchmark: at the default it creates ReplicaSets and
    reports Deployments for about three new Deployments a second, whatever the operator does)."""
    qps = os.environ.get("VAULTEXT_SANDBOX_CONTROLLER_QPS", "").strip()
    if not qps:
        return []
    if not qps.isdigit() or int(qps) < 1:
        raise ValueError(f"VAULTEXT_SANDBOX_CONTROLLER_QPS must be a positive integer, not {qps!r}")
    return [f"--kube-api-qps={qps}", f"--kube-api-burst={2 * int(qps)}"]


def _start_controllers(workdir: Path, logs: Path, kubeconfig: Path, detached: bool,
                       extra_controller_flags: list[str]) -> list[ManagedProcess]:
    binaries = ensure("kubernetes")
    controller_manager = ManagedProcess(
        "kube-controller-manager",
        [
            str(binaries / "kube-controller-manager"),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            f"--service-account-private-key-file={workdir / 'sa.key'}",
            f"--root-ca-file={workdir / 'certs' / 'apiserver.crt'}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle",
            "--node-monitor-grace-period=60s",
            *extra_controller_flags,
            *_client_rate(),
        ],
        logs / "kube-controller-manager.log",
        detached=detached,
    )
    scheduler = ManagedProcess(
        "kube-scheduler",
        [
            str(binaries / "kube-scheduler"),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
        ],
        logs / "kube-scheduler.log",
        detached=detached,
    )
    kwok = ManagedProcess(
        "kwok",
        [
            str(ensure("kwok") / "kwok"),
            f"--kubeconfig={kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_SELECTOR}",
            "--node-ip=127.0.0.1",
            # Leases renewed every few seconds keep nodes Ready; status heartbeats alone come ~40 s apart.
            "--node-lease-duration-seconds=40",
            "--cidr=10.244.0.0/16",
            f"--server-address=127.0.0.1:{free_port()}",
        ],
        logs / "kwok.log",
        detached=detached,
    )
    started = [controller_manager, scheduler, kwok]
    for process in started:
        process.start()
    return started
