"""The dashboard's operator panels answer from the sandbox's Prometheus while an extension has lag: the operator runs
as a process outside the cluster (kwok pods have no real containers, so no worker and no operator pod could serve
/metrics) and Prometheus scrapes it as a static target; the worker panels are the node suite's
(tests/node/test_helm_install.py)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from vaultext_sandbox.dashboard import load, panel_queries, variable_queries

from .cluster import Cluster, create_vault_secret, extension, install_crd, running_operator, wait_for
from .kafka_helpers import create_topic, produce, unique

pytestmark = [pytest.mark.kube, pytest.mark.kafka, pytest.mark.prometheus, pytest.mark.slow]


def empty_panels(prometheus: Any, queries: list[Any]) -> list[str]:
    return [f"{q.panel}: {q.expr}" for q in queries if not prometheus.query(q.expr)]


def variable_values(prometheus: Any, query: str) -> set[str]:
    """Grafana's `label_values(SELECTOR, LABEL)` as PromQL."""
    found = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query)
    assert found, f"not a label_values query: {query}"
    selector, label = found.groups()
    return {str(s["metric"].get(label)) for s in prometheus.query(f"count by ({label}) ({selector})")}


def dropped_pod_targets(prometheus: Any, extension_name: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/targets?state=dropped", timeout=10) as response:
        targets = json.load(response)["data"]["droppedTargets"]
    label = "__meta_kubernetes_pod_label_vault_kerberos_io_extension"
    return [t for t in targets if t.get("discoveredLabels", {}).get(label) == extension_name]


def test_operator_panels_answer_while_an_extension_has_lag(
        kube: Any, kafka: Any, prometheus: Any, namespace: str, tmp_path: Path) -> None:
    install_crd(kube)
    create_vault_secret(kube, namespace)
    product = f"TEST-GPU-{uuid.uuid4().hex[:6].upper()}"
    nodes = kube.add_gpu_nodes(1, gpus_per_node=2, product=product)
    job = f"operator-{uuid.uuid4().hex[:6]}"
    try:
        with running_operator(kube, namespace, tmp_path / "operator.log",
                              kafka_bootstrap_servers=kafka.bootstrap) as metrics_port:
            prometheus.add_target(job, f"127.0.0.1:{metrics_port}")
            cluster = Cluster(kube.api, namespace)
            topic, name = unique("rec"), "dash"
            create_topic(kafka.bootstrap, topic, 4)
            produce(kafka.bootstrap, topic, {p: 30 for p in range(4)})
            cluster.create(extension(name, namespace, topic, {
                "minReplicas": 1, "maxReplicas": 4, "lagThreshold": 10, "pollingInterval": 1},
                gpu={"count": 1, "product": product}))
            cluster.watch_replicas(name, 2, 60)  # 4 asked for by the lag, 2 allowed by the GPUs

            dashboard = load()
            queries = [q for q in panel_queries(dashboard, {"namespace": namespace, "extension": name,
                                                            "datasource": "sandbox"}) if not q.from_workers]
            assert len(queries) >= 10, [q.panel for q in queries]
            deadline = time.monotonic() + 60
            while (empty := empty_panels(prometheus, queries)) and time.monotonic() < deadline:
                time.sleep(1)
            assert empty == [], "panels without an answer:\n" + "\n".join(empty)
            lag = prometheus.query(f'vaultext_autoscaler_lag{{namespace="{namespace}", name="{name}"}}')
            assert float(lag[0]["value"][1]) == 120
            variables = variable_queries(dashboard)
            assert namespace in variable_values(prometheus, variables["namespace"])
            extension_query = variables["extension"].replace("$namespace", namespace)
            assert variable_values(prometheus, extension_query) == {name}
            # The pod discovery reaches the apiserver: the extension's kwok pods are found, and left out
            # (made-up addresses nothing answers on). Its watch may still be retrying a just-started apiserver.
            wait_for(lambda: dropped_pod_targets(prometheus, name), 60, "the extension's pods discovered")
    finally:
        prometheus.remove_target(job)
        kube.delete_nodes(nodes)
