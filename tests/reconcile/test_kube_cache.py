"""kube.Cache against the real apiserver: one LIST, then watch events keep it current without further LISTs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from vaultext_operator import kube as operator_kube
from vaultext_operator.cache import Cache
from vaultext_sandbox import Kube

from .cluster_helpers import wait_for


@pytest.fixture
def cache(kube: Kube, namespace: str) -> Iterator[Cache]:
    operator_kube.use_kubeconfig(str(kube.kubeconfig))
    watched = Cache("v1", "ConfigMap", f"cache-test={namespace}")
    stop = threading.Event()
    thread = threading.Thread(target=watched.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield watched
    finally:
        stop.set()


def names(cache: Cache) -> set[str] | None:
    items = cache.items()
    return None if items is None else {item["metadata"]["name"] for item in items}


def test_the_cache_follows_creates_updates_and_deletes(kube: Kube, namespace: str,
                                                       cache: Cache) -> None:
    label = f"cache-test={namespace}"
    wait_for(lambda: names(cache) == set(), 10, "the first LIST (empty)")
    kube.kubectl("create", "configmap", "first", "-n", namespace, "--from-literal=k=1")
    kube.kubectl("label", "configmap", "first", "-n", namespace, label)
    kube.kubectl("create", "configmap", "unlabelled", "-n", namespace)
    wait_for(lambda: names(cache) == {"first"}, 10, "the labelled ConfigMap")
    kube.kubectl("patch", "configmap", "first", "-n", namespace, "-p", '{"data": {"k": "2"}}')

    def updated() -> bool:
        return any(item["data"] == {"k": "2"} for item in cache.items() or [])

    wait_for(updated, 10, "the update")
    kube.kubectl("delete", "configmap", "first", "-n", namespace)
    wait_for(lambda: names(cache) == set(), 10, "the delete")
