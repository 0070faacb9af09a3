"""Build the sandbox's binaries once from the registries and cache them.

Each component lands in ``<cache>/<name>-<version>-<pin>/``, where ``pin`` hashes the pinned module files in
``sandbox/go`` or ``sandbox/kafka``: changing a pin builds anew, and a build happens in a temporary folder that is
renamed into place only when complete, so a half-built cache is never used.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

PINS_DIR = Path(__file__).resolve().parent.parent
GO_DIR = PINS_DIR / "go"
KAFKA_POM_DIR = PINS_DIR / "kafka"

ETCD_VERSION = "v3.5.21"
KUBERNETES_VERSION = "v1.33.13"
KWOK_VERSION = "v0.7.0"
PROMETHEUS_VERSION = "v3.5.1"
PROMETHEUS_MODULE_VERSION = "v0.305.1"
KAFKA_VERSION = "4.4.0"
HELM_VERSION = "v3.22.0"
KEDA_VERSION = "v2.21.0"  # optional: `build --with-keda`, for bench/keda
CONTAINERD_VERSION = "v2.4.2"  # with runc v1.5.3 and the CNI plugins v1.10.0: sandbox/go/node/go.mod
NODE_TAGS = "no_btrfs no_devmapper no_zfs"  # snapshotters the node never uses, and whose C headers it lacks
CNI_PLUGINS = ("bridge", "host-local", "loopback")


def cache_root() -> Path:
    configured = os.environ.get("VAULTEXT_SANDBOX_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vaultext-sandbox"


def progress(message: str) -> None:
    print(f"[sandbox] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    pin_files: tuple[Path, ...]
    outputs: tuple[str, ...]
    build: Callable[[Path], None]

    def directory(self) -> Path:
        digest = hashlib.sha256()
        for pin in self.pin_files:
            digest.update(pin.read_bytes())
        return cache_root() / f"{self.name}-{self.version}-{digest.hexdigest()[:10]}"


def run_step(step: str, argv: Sequence[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    """Run one build command; on failure name the step, the command and the end of its output."""
    if shutil.which(argv[0]) is None:
        raise BuildError(f"{step}: `{argv[0]}` is not installed (needed for: {' '.join(argv)})")
    completed = subprocess.run(
        list(argv), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-25:])
        raise BuildError(f"{step} failed (exit {completed.returncode}): {' '.join(argv)}\n{tail}")


def go_env(target: Path) -> dict[str, str]:
    flags = "-buildvcs=false -mod=readonly"
    return {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": flags, "GOBIN": str(target)}


def version_ldflags() -> str:
    major, minor = KUBERNETES_VERSION.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={KUBERNETES_VERSION}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def build_etcd(target: Path) -> None:
    run_step(
        "go build etcd",
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(target / "etcd"), "go.etcd.io/etcd/server/v3"],
        cwd=GO_DIR / "etcd",
        env=go_env(target),
    )


def build_kubernetes(target: Path) -> None:
    commands = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_BINARIES]
    run_step(
        "go build kubernetes",
        ["go", "build", "-trimpath", f"-ldflags={version_ldflags()}", "-o", f"{target}/", *commands],
        cwd=GO_DIR / "k8s",
        env=go_env(target),
    )


def build_kubelet(target: Path) -> None:
    run_step(
        "go build kubelet",
        ["go", "build", "-trimpath", f"-ldflags={version_ldflags()}", "-o", str(target / "kubelet"),
         "k8s.io/kubernetes/cmd/kubelet"],
        cwd=GO_DIR / "k8s",
        env=go_env(target),
    )


def build_node_runtime(target: Path) -> None:
    """containerd, its runc shim, ctr, runc, the CNI plugins and the pause program, from ``sandbox/go/node``."""
    module = GO_DIR / "node"
    containerd = "github.com/containerd/containerd/v2/cmd"
    run_step(
        "go build containerd",
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-tags", NODE_TAGS, "-o", f"{target}/",
         f"{containerd}/containerd", f"{containerd}/containerd-shim-runc-v2", f"{containerd}/ctr", "./pause"],
        cwd=module,
        env=go_env(target),
    )
    plugins = [f"github.com/containernetworking/plugins/plugins/{kind}/{name}"
               for kind, name in (("main", "bridge"), ("ipam", "host-local"), ("main", "loopback"))]
    run_step("go build CNI plugins", ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", f"{target}/cni/", *plugins],
             cwd=module, env=go_env(target))
    if not Path("/usr/include/seccomp.h").exists():
        raise BuildError("go build runc: libseccomp's headers are missing (Debian: apt-get install libseccomp-dev)")
    # runc's namespace setup is C (cgo) and the restricted pods' RuntimeDefault profile needs seccomp.
    run_step("go build runc",
             ["go", "build", "-trimpath", "-ldflags=-s -w", "-tags", "seccomp", "-o", str(target / "runc"),
              "github.com/opencontainers/runc"],
             cwd=module, env={**go_env(target), "CGO_ENABLED": "1"})


def build_kwok(target: Path) -> None:
    run_step("go install kwok", ["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"], env=go_env(target))


def build_prometheus(target: Path) -> None:
    run_step(
        "go build prometheus",
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(target / "prometheus"),
         "github.com/prometheus/prometheus/cmd/prometheus"],
        cwd=GO_DIR / "prometheus",
        env=go_env(target),
    )


def helm_ldflags(go_mod: str) -> str:
    """Helm's version, and the Kubernetes version `helm template` and `helm lint` assume without a cluster: the one
    of the client-go it is built with (v0.X.Y is Kubernetes 1.X), as Helm's own release build sets them."""
    found = re.search(r"^\s*k8s\.io/client-go v0\.(\d+)\.\d+", go_mod, re.MULTILINE)
    if found is None:
        raise BuildError("sandbox/go/helm/go.mod pins no k8s.io/client-go v0.X.Y")
    flags = ["-s", "-w", f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"]
    for package in ("helm.sh/helm/v3/pkg/lint/rules", "helm.sh/helm/v3/pkg/chartutil"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={found.group(1)}"]
    return " ".join(flags)


def build_helm(target: Path) -> None:
    ldflags = helm_ldflags((GO_DIR / "helm" / "go.mod").read_text())
    run_step(
        "go build helm",
        ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(target / "helm"), "helm.sh/helm/v3/cmd/helm"],
        cwd=GO_DIR / "helm",
        env=go_env(target),
    )


def build_keda(target: Path) -> None:
    """keda-operator and keda-adapter, and KEDA's CRDs copied from the same module (never committed here)."""
    module = GO_DIR / "keda"
    commands = "github.com/kedacore/keda/v2/cmd"
    ldflags = f"-s -w -X github.com/kedacore/keda/v2/version.Version={KEDA_VERSION.removeprefix('v')}"
    for name in ("operator", "adapter"):
        run_step(f"go build keda-{name}",
                 ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(target / f"keda-{name}"),
                  f"{commands}/{name}"],
                 cwd=module, env=go_env(target))
    listed = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/kedacore/keda/v2"], cwd=module,
                            env={**os.environ, **go_env(target)}, capture_output=True, text=True, check=False)
    bases = Path(listed.stdout.strip()) / "config" / "crd" / "bases"
    if listed.returncode != 0 or not bases.is_dir():
        raise BuildError(f"KEDA's CRDs not found in the module cache ({bases}): {listed.stderr.strip()}")
    (target / "crds").mkdir()
    for crd in sorted(bases.glob("*.yaml")):
        shutil.copyfile(crd, target / "crds" / crd.name)


def fetch_kafka(target: Path) -> None:
    run_step(
        "mvn copy Kafka jars",
        ["mvn", "-q", "-B", "-f", str(KAFKA_POM_DIR / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={target / 'libs'}", "-DincludeScope=runtime"],
    )


KUBERNETES_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
NODE_BINARIES = ("containerd", "containerd-shim-runc-v2", "ctr", "runc", "pause",
                 *(f"cni/{name}" for name in CNI_PLUGINS))


def go_pins(module: str) -> tuple[Path, ...]:
    return (GO_DIR / module / "go.mod", GO_DIR / module / "go.sum")


COMPONENTS: dict[str, Component] = {
    "etcd": Component("etcd", ETCD_VERSION, go_pins("etcd"), ("etcd",), build_etcd),
    "kubernetes": Component("kubernetes", KUBERNETES_VERSION, go_pins("k8s"), KUBERNETES_BINARIES, build_kubernetes),
    "kwok": Component("kwok", KWOK_VERSION, (), ("kwok",), build_kwok),
    "prometheus": Component("prometheus", PROMETHEUS_VERSION, go_pins("prometheus"), ("prometheus",), build_prometheus),
    "kafka": Component("kafka", KAFKA_VERSION, (KAFKA_POM_DIR / "pom.xml",), ("libs",), fetch_kafka),
    # The chart's lint, render and install (charts/vaultext).
    "helm": Component("helm", HELM_VERSION, go_pins("helm"), ("helm",), build_helm),
    # The real node's parts (`--real-node` and the node tests).
    "kubelet": Component("kubelet", KUBERNETES_VERSION, go_pins("k8s"), ("kubelet",), build_kubelet),
    "node-runtime": Component("node-runtime", CONTAINERD_VERSION,
                              (*go_pins("node"), GO_DIR / "node" / "pause" / "main.go"), NODE_BINARIES,
                              build_node_runtime),
}
# Built only when asked for by name (`build keda` or `build --with-keda`), never by the default build.
OPTIONAL_COMPONENTS: dict[str, Component] = {
    "keda": Component("keda", KEDA_VERSION, go_pins("keda"), ("keda-operator", "keda-adapter", "crds"), build_keda),
}


def component_named(name: str) -> Component:
    known = {**COMPONENTS, **OPTIONAL_COMPONENTS}
    if name not in known:
        raise BuildError(f"unknown component {name!r}; choose from {sorted(known)}")
    return known[name]


def built(name: str) -> Path | None:
    """The cached folder of a component when it is complete, without building it."""
    component = component_named(name)
    final = component.directory()
    return final if all((final / output).exists() for output in component.outputs) else None


def ensure(name: str) -> Path:
    """Return the cached folder of one component, building it first when absent."""
    component = component_named(name)
    final = component.directory()
    if built(name) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    progress(f"building {component.name} {component.version} (cached afterwards in {final}) ...")
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".{component.name}-", dir=final.parent))
    try:
        component.build(staging)
        missing = [output for output in component.outputs if not (staging / output).exists()]
        if missing:
            raise BuildError(f"build of {component.name} finished without producing {missing}")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    progress(f"built {component.name} {component.version} in {time.monotonic() - started:.1f} s")
    return final


def ensure_all(names: Sequence[str] = tuple(COMPONENTS)) -> dict[str, Path]:
    return {name: ensure(name) for name in names}
