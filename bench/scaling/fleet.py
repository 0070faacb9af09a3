"""Many VaultExtensions against one operator process: cold start (they exist before the operator starts) and
steady state (created while it runs), with the operator's RSS, CPU seconds and the load average, so a result
taken while other work shares the cores can be recognised."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

REPOSITORY = Path(__file__).resolve().parents[2]
GROUP, VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"
TICKS = os.sysconf("SC_CLK_TCK")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def load_average() -> float:
    return os.getloadavg()[0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_mib(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MiB, from /proc."""
    values = {"VmRSS": float("nan"), "VmHWM": float("nan")}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return values["VmRSS"], values["VmHWM"]


class Operator:
    """The operator as a real process, watching one namespace."""

    def __init__(self, kube: Any, namespace: str, bootstrap: str, log: Path) -> None:
        env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig), "VAULTEXT_OPERATOR_HEALTH_PORT": "0",
               "VAULTEXT_OPERATOR_METRICS_PORT": "0", "VAULTEXT_OPERATOR_LOG_LEVEL": "INFO",
               "VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
        self.log_path = log
        self.log = log.open("ab")
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "vaultext_operator", "run", "-n", namespace],
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPOSITORY)
        self.profiler: subprocess.Popen[bytes] | None = None
        if profile := os.environ.get("VAULTEXT_BENCH_PROFILE"):  # a folder: py-spy samples the operator there
            out = Path(profile) / f"{log.stem}.txt"
            self.profiler = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                                              str(self.process.pid), "--rate", "20", "--nonblocking", "--threads",
                                              "--format", "raw", "-o", str(out)], stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL)

    def cpu(self) -> float:
        return cpu_seconds(self.process.pid)

    def memory(self) -> tuple[float, float]:
        return memory_mib(self.process.pid)

    def log_lines(self) -> int:
        return len(self.log_path.read_bytes().splitlines())

    def stop(self) -> None:
        if self.profiler is not None:
            self.profiler.send_signal(signal.SIGINT)
            self.profiler.wait(30)
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


def namespace_with_secret(kube: Any) -> str:
    name = unique("bench")
    client.CoreV1Api(kube.api).create_namespace({"metadata": {"name": name}})
    kube.kubectl("create", "secret", "generic", "vault-credentials", "-n", name,
                 "--from-literal=accessKey=a", "--from-literal=secretKey=b")
    return name


def gpu_extension(name: str, topic: str) -> dict[str, Any]:
    """One GPU each, scaled to zero (kwok nodes offer the GPUs; no pod has to run for Ready)."""
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VaultExtension", "metadata": {"name": name},
            "spec": {"image": "registry.example.com/acme/yolo:1.2", "gpu": {"count": 1},
                     "kafka": {"input": {"topic": topic}},
                     "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "topics": {"provisioner": "none"}}}}


def create_extensions(kube: Any, namespace: str, count: int, topic: str) -> float:
    """Creates `count` extensions (8 at a time); returns the seconds it took."""
    custom = client.CustomObjectsApi(kube.api)
    started = time.monotonic()

    def create(index: int) -> None:
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                               gpu_extension(f"ext-{index}", topic), _preload_content=False)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(count)))
    return time.monotonic() - started


def ready_count(kube: Any, namespace: str) -> int:
    """Extensions whose Ready condition is True (raw JSON: 10,000 typed objects would cost the benchmark more
    than the operator)."""
    response = client.CustomObjectsApi(kube.api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _preload_content=False)
    items = json.loads(response.data).get("items") or []
    return sum(1 for item in items if any(c.get("type") == "Ready" and c.get("status") == "True"
                                          for c in (item.get("status") or {}).get("conditions") or []))


@dataclass
class FleetResult:
    label: str
    count: int
    seconds: float  # from the start (of creating, or of the operator) to all Ready; inf when not reached
    ready: int
    cpu_seconds: float  # the operator's, over `seconds`
    rss_peak: float
    rss_settled: float
    load: list[float] = field(default_factory=list)
    log_lines: int = 0

    def line(self) -> str:
        load = f"{statistics.median(self.load):.1f}" if self.load else "?"
        reached = f"{self.seconds:.1f} s" if self.ready >= self.count else f"NOT all Ready ({self.ready})"
        return (f"{self.label} N={self.count}: all Ready in {reached}; operator CPU {self.cpu_seconds:.1f} s; "
                f"RSS peak {self.rss_peak:.0f} MiB, settled {self.rss_settled:.0f} MiB; "
                f"load average median {load}; {self.log_lines} log lines")


def watch_until_ready(kube: Any, namespace: str, operator: Operator, count: int, started: float, label: str,
                      timeout: float) -> FleetResult:
    interval = 2.0 if count <= 2000 else 5.0
    cpu_at_start = operator.cpu() if operator.started >= started else 0.0
    loads: list[float] = []
    ready = 0
    while True:
        time.sleep(interval)
        ready = ready_count(kube, namespace)
        elapsed = time.monotonic() - started
        loads.append(load_average())
        rss, peak = operator.memory()
        print(f"  [{label} N={count}] t={elapsed:6.1f}s ready {ready:>6}/{count}  operator CPU "
              f"{operator.cpu() - cpu_at_start:6.1f}s  RSS {rss:4.0f} MiB (peak {peak:4.0f})  load {loads[-1]:.1f}",
              flush=True)
        if operator.process.poll() is not None:
            raise RuntimeError(f"the operator exited ({operator.process.returncode}); see {operator.log_path}")
        if ready >= count or elapsed > timeout:
            break
    seconds = elapsed if ready >= count else float("inf")
    cpu = operator.cpu() - cpu_at_start
    time.sleep(30)  # settle: the autoscaler has polled every extension, the resync has run at least once
    rss, peak = operator.memory()
    return FleetResult(label, count, seconds, ready, cpu, peak, rss, loads, operator.log_lines())


def warm(kube: Any, bootstrap: str, count: int, topic: str, workdir: Path, timeout: float) -> FleetResult:
    """Steady state: the operator runs, then `count` extensions are created."""
    namespace = namespace_with_secret(kube)
    operator = Operator(kube, namespace, bootstrap, workdir / f"warm-{count}.log")
    try:
        time.sleep(5)  # started and watching
        started = time.monotonic()
        with ThreadPoolExecutor(1) as creator:  # progress shows while they are still being created
            creation = creator.submit(create_extensions, kube, namespace, count, topic)
            creation.add_done_callback(lambda done: print(
                f"  [warm N={count}] all created {done.result():.1f} s after the first", flush=True))
            return watch_until_ready(kube, namespace, operator, count, started, "warm", timeout)
    finally:
        operator.stop()
        client.CoreV1Api(kube.api).delete_namespace(namespace)


def cold(kube: Any, bootstrap: str, count: int, topic: str, workdir: Path, timeout: float) -> FleetResult:
    """Cold start: `count` extensions exist (never reconciled), then the operator starts."""
    namespace = namespace_with_secret(kube)
    created = create_extensions(kube, namespace, count, topic)
    print(f"  [cold N={count}] created in {created:.1f} s before the operator starts", flush=True)
    operator = Operator(kube, namespace, bootstrap, workdir / f"cold-{count}.log")
    try:
        return watch_until_ready(kube, namespace, operator, count, operator.started, "cold", timeout)
    finally:
        operator.stop()
        client.CoreV1Api(kube.api).delete_namespace(namespace)


def compare(result: FleetResult, baseline: FleetResult) -> str:
    ratio = result.seconds / baseline.seconds if baseline.seconds > 0 else float("nan")
    return (f"{result.line()}\n    baseline N={baseline.count}: {baseline.seconds:.1f} s, CPU "
            f"{baseline.cpu_seconds:.1f} s, RSS settled {baseline.rss_settled:.0f} MiB; time ratio {ratio:.1f}x, "
            f"RSS ratio {result.rss_settled / baseline.rss_settled:.1f}x")
