"""The whole loop on the real node: the operator in a pod, one VaultExtension on the built worker image, recordings
in the Vault stand-in and their events on the input topic; and what to watch while it runs."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from kubernetes import client

from .images import REPO
from .node.real_node import REAL_NODE_TOLERATION
from .readings import TopicCounter, group_lag, share_group_lag
from .sandbox import Sandbox
from .synthetic.recordings import RecordingSpec, cached_recording

OPERATOR_NAMESPACE = "vaultext-system"
API_GROUP, API_VERSION, PLURAL = "vault.kerberos.io", "v1alpha1", "vaultextensions"
VAULT_SECRET = "vault-credentials"
PROVIDER = "storj"  # the storage provider an event names in `source` (where Vault keeps the recording)


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 1.0,
             explain: Callable[[], str] | None = None) -> None:
    """Poll ``check``; on timeout the error carries ``explain()`` (what a person would look at next)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{explain() if explain else ''}")
        time.sleep(interval)


def install_operator(sandbox: Sandbox, image: str, vault_url: str) -> None:
    """``kubectl apply -k`` of an overlay over ``manifests/``: the built image, and the sandbox's addresses as pods
    see them (no kube-proxy in the sandbox, so the in-cluster apiserver address is the relay on the bridge)."""
    kube = sandbox.kube()
    node = sandbox.node()
    kafka = sandbox.kafka()
    assert sandbox.apiserver_from_pods and kafka.bridge_bootstrap
    host, port = sandbox.apiserver_from_pods.rsplit(":", 1)
    overlay = sandbox.workdir / "operator-overlay"
    overlay.mkdir(exist_ok=True)
    name, tag = image.rsplit(":", 1)
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
           "VAULTEXT_OPERATOR_KAFKA_BOOTSTRAP_SERVERS": kafka.bridge_bootstrap,
           "VAULTEXT_OPERATOR_VAULT_URL": vault_url}
    patch = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "vaultext-operator", "namespace": OPERATOR_NAMESPACE},
             "spec": {"template": {"spec": {
                 "nodeSelector": {"kubernetes.io/hostname": node.name},
                 "tolerations": [REAL_NODE_TOLERATION],
                 "containers": [{"name": "operator", "env": [{"name": k, "value": v} for k, v in env.items()]}]}}}}
    (overlay / "operator-patch.yaml").write_text(yaml.safe_dump(patch))
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "manifests", overlay)],  # kustomize takes relative paths only
        "images": [{"name": "vaultext-operator", "newName": name, "newTag": tag}],
        "patches": [{"path": "operator-patch.yaml"}],
    }))
    applied = kube.kubectl("apply", "--server-side", "-k", str(overlay), check=False)
    if applied.returncode != 0:
        raise RuntimeError(f"kubectl apply -k {overlay} failed: {applied.stderr.strip()}")
    apps = client.AppsV1Api(kube.api)

    def available() -> bool:
        status = apps.read_namespaced_deployment("vaultext-operator", OPERATOR_NAMESPACE).status
        return bool(status.available_replicas)

    wait_for(available, 180, "the operator Deployment available")


def uninstall_operator(sandbox: Sandbox) -> None:
    """Remove the operator's Deployment (the CRD and RBAC stay) and wait until its pods are gone."""
    apps = client.AppsV1Api(sandbox.kube().api)
    try:
        apps.delete_namespaced_deployment("vaultext-operator", OPERATOR_NAMESPACE)
    except client.ApiException as error:
        if error.status != 404:
            raise
    wait_for(lambda: not operator_pods(sandbox), 120, "the operator pods gone")


def operator_pods(sandbox: Sandbox) -> list[Any]:
    core = client.CoreV1Api(sandbox.kube().api)
    return list(core.list_namespaced_pod(OPERATOR_NAMESPACE,
                                         label_selector="app.kubernetes.io/name=vaultext-operator").items)


def operator_leader(sandbox: Sandbox) -> Any:
    """The operator pod that holds the leader-election Lease (its identity is the pod name)."""
    lease = client.CoordinationV1Api(sandbox.kube().api).read_namespaced_lease("vaultext-operator", OPERATOR_NAMESPACE)
    holder = lease.spec.holder_identity
    for pod in operator_pods(sandbox):
        if pod.metadata.name == holder:
            return pod
    raise LookupError(f"no operator pod named {holder!r}, the Lease's holder")


@dataclass
class Extension:
    """One VaultExtension and its topics, as the loop drives and observes it."""

    sandbox: Sandbox
    vault_keys: tuple[str, str]  # access and secret key the workers get
    store: Callable[[str, bytes], None]  # puts one recording (key, bytes) where the Vault stand-in serves it
    namespace: str
    name: str
    image: str
    partitions: int = 8
    max_replicas: int = 4
    lag_threshold: int = 5
    stabilization_seconds: int = 15
    consumption: str = "group"  # or "share": the workers read as one share group (KIP-932)
    env: dict[str, str] = field(default_factory=lambda: {"VAULTEXT_LOG_LEVEL": "INFO"})
    extra_spec: dict[str, Any] = field(default_factory=dict)  # more VaultExtension spec fields, e.g. `scratch`
    keys: list[str] = field(default_factory=list)
    provisioned: bool = field(default=False, init=False)

    @property
    def input_topic(self) -> str:
        return f"{self.name}-events"

    @property
    def output_topic(self) -> str:
        return f"{self.name}-results"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.name}-dead-letter"

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "VaultExtension",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "image": self.image,
                "imagePullPolicy": "IfNotPresent",
                "env": [{"name": name, "value": value} for name, value in self.env.items()],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
                "gpu": {"tolerations": [REAL_NODE_TOLERATION]},
                "kafka": {"input": {"topic": self.input_topic}, "output": {"topic": self.output_topic},
                          "deadLetter": {"topic": self.dead_letter_topic}, "consumption": self.consumption},
                "autoscaling": {"minReplicas": 1, "maxReplicas": self.max_replicas,
                                "lagThreshold": self.lag_threshold, "pollingInterval": 2,
                                "scaleDownStabilizationSeconds": self.stabilization_seconds},
                **self.extra_spec,
            },
        }

    def provision(self) -> None:
        """Its namespace, Vault Secret and input topic, without the VaultExtension yet."""
        core = client.CoreV1Api(self.sandbox.kube().api)
        core.create_namespace({"metadata": {"name": self.namespace}})
        core.create_namespaced_secret(self.namespace, {
            "metadata": {"name": VAULT_SECRET},
            "stringData": {"accessKey": self.vault_keys[0], "secretKey": self.vault_keys[1]}})
        admin = AdminClient({"bootstrap.servers": self.sandbox.kafka().bootstrap})
        topics = [NewTopic(self.input_topic, num_partitions=self.partitions, replication_factor=1)]
        for future in admin.create_topics(topics).values():
            future.result(30)
        self.provisioned = True

    def create(self) -> None:
        if not self.provisioned:
            self.provision()
        client.CustomObjectsApi(self.sandbox.kube().api).create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, self.manifest())

    def upload(self, count: int, spec: RecordingSpec | None = None) -> list[str]:
        """Store ``count`` recordings in the Vault stand-in and publish one Vault event for each."""
        return self.publish(self.prepare(count, spec))

    def prepare(self, count: int, spec: RecordingSpec | None = None) -> list[str]:
        """Store ``count`` recordings where the Vault stand-in serves them; returns their keys."""
        recording = cached_recording(spec or RecordingSpec(seconds=2.0, fps=5)).read_bytes()
        keys = [f"{int(time.time())}_{self.name}_{uuid.uuid4().hex[:12]}.mp4" for _ in range(count)]  # as agents do
        for key in keys:
            self.store(key, recording)
        return keys

    def publish(self, keys: list[str]) -> list[str]:
        """One Vault event per stored recording on the input topic, acknowledged by the broker."""
        # One event per producer batch, as Vault sends one per request: a share group hands out whole batches.
        producer = Producer({"bootstrap.servers": self.sandbox.kafka().bootstrap, "linger.ms": 5,
                             "batch.num.messages": 1})
        for key in keys:
            producer.produce(self.input_topic, json.dumps(vault_event(key)).encode(), key=key)
        if producer.flush(30) != 0:
            raise KafkaException("events not acknowledged by the broker")
        self.keys += keys
        return keys

    def status(self) -> dict[str, Any]:
        found: dict[str, Any] = client.CustomObjectsApi(self.sandbox.kube().api).get_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, self.name)
        return dict(found.get("status") or {})

    def ready(self) -> bool:
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in self.status().get("conditions", []))

    def deployment_replicas(self) -> tuple[int, int]:
        deployment = client.AppsV1Api(self.sandbox.kube().api).read_namespaced_deployment(self.name, self.namespace)
        return int(deployment.spec.replicas or 0), int(deployment.status.ready_replicas or 0)

    def diagnostics(self) -> str:
        """Status, pods and the ends of the operator's and workers' logs: what to read when the loop is stuck."""
        lines = [f"status: {json.dumps(self.status(), default=str)}"]
        for pod in self.pods():
            lines.append(f"pod {pod.metadata.name} on {pod.spec.node_name}: {pod.status.phase} "
                         f"{[(c.type, c.status, c.reason) for c in pod.status.conditions or []]}")
            lines.append(kubectl_logs(self.sandbox, self.namespace, pod.metadata.name))
        for pod in operator_pods(self.sandbox):
            lines.append(f"operator {pod.metadata.name}: {pod.status.phase}")
            lines.append(kubectl_logs(self.sandbox, OPERATOR_NAMESPACE, pod.metadata.name))
        return "\n".join(lines)

    def pods(self) -> list[Any]:
        core = client.CoreV1Api(self.sandbox.kube().api)
        selector = f"app.kubernetes.io/instance={self.name}"
        return list(core.list_namespaced_pod(self.namespace, label_selector=selector).items)


def vault_event(key: str) -> dict[str, Any]:
    """An event in the shape Kerberos Vault publishes for one stored recording."""
    now = int(time.time())
    return {
        "date": now, "events": ["monitor", "sequence", "analysis"], "provider": PROVIDER, "request": "persist",
        "source": "storj",
        "payload": {"key": key, "fileSize": 0, "is_fragmented": False, "bytes_ranges": "",
                    "bytes_range_on_time": None,
                    "metadata": {"uploadtime": str(now), "event-instancename": "camera1", "capture": "IPCamera",
                                 "productid": "sandbox", "event-timestamp": str(now)}},
    }


def container_id(pod: Any) -> str:
    """The containerd id of a pod's first container (``containerd://<id>`` in its status)."""
    statuses = pod.status.container_statuses or []
    if not statuses or not statuses[0].container_id:
        raise LookupError(f"pod {pod.metadata.name} has no running container")
    return str(statuses[0].container_id).split("://", 1)[1]


def kubectl_logs(sandbox: Sandbox, namespace: str, pod: str) -> str:
    completed = sandbox.kube().kubectl("-n", namespace, "logs", pod, "--tail=50", check=False)
    return completed.stdout + completed.stderr


@dataclass(frozen=True)
class Sample:
    seconds: float
    lag: int
    replicas: int
    ready: int
    results: int
    dead_letters: int
    unschedulable: int


class Observer:
    """Samples one extension from outside: its group's lag, its Deployment, and its output and dead-letter topics."""

    def __init__(self, extension: Extension) -> None:
        self.extension = extension
        bootstrap = extension.sandbox.kafka().bootstrap
        self.results = TopicCounter(bootstrap, extension.output_topic)
        self.dead_letters = TopicCounter(bootstrap, extension.dead_letter_topic)
        self.samples: list[Sample] = []
        self.started = time.monotonic()
        self.worker_nodes: set[str] = set()

    def sample(self) -> Sample:
        extension = self.extension
        self.results.poll(0.3)
        self.dead_letters.poll(0.1)
        try:
            replicas, ready = extension.deployment_replicas()
        except client.ApiException:
            replicas, ready = 0, 0
        pods = extension.pods()
        self.worker_nodes |= {pod.spec.node_name for pod in pods if pod.spec.node_name}
        unschedulable = sum(
            1 for pod in pods for condition in (pod.status.conditions or [])
            if condition.type == "PodScheduled" and condition.reason == "Unschedulable"
        )
        group = f"vaultext-{extension.namespace}-{extension.name}"
        read = share_group_lag if extension.consumption == "share" else group_lag
        try:
            lag = read(extension.sandbox.kafka().bootstrap, group, extension.input_topic, extension.partitions)
        except KafkaException:
            lag = self.samples[-1].lag if self.samples else -1  # broker restarting: keep the last reading
        sample = Sample(round(time.monotonic() - self.started, 1), lag, replicas, ready, self.results.records,
                        self.dead_letters.records, unschedulable)
        self.samples.append(sample)
        return sample

    def run_until(self, done: Callable[[Sample], bool], timeout: float,
                  on_sample: Callable[[Sample], None] | None = None, interval: float = 1.0,
                  explain: Callable[[], str] | None = None) -> Sample:
        deadline = time.monotonic() + timeout
        while True:
            sample = self.sample()
            if on_sample is not None:
                on_sample(sample)
            if done(sample):
                return sample
            if time.monotonic() > deadline:
                raise TimeoutError(f"not done within {timeout:.0f} s; last sample {sample}\n"
                                   f"{explain() if explain else ''}")
            time.sleep(interval)

    def close(self) -> None:
        self.results.close()
        self.dead_letters.close()
