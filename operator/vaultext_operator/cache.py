"""Watched caches: one kind's objects kept current in memory by a LIST and then WATCHes (through `kube`), so
readers never call the apiserver, and trims that keep only what readers use."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .kube import KubeError, list_versioned, watch

Json = dict[str, Any]
log = logging.getLogger(__name__)


def key_of(item: Json) -> tuple[str, str]:
    metadata = item.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


Trim = Callable[[Json], Json]
Changed = Callable[[str, Json], None]  # (ADDED | MODIFIED | DELETED, object)


class Cache:
    """One kind's objects kept current in memory by a LIST and then WATCHes (one thread per namespace, or one
    for the whole cluster when `namespaces` is empty): readers never call the apiserver.

    `items()` is None until every namespace's first LIST, and after a failure until the next one. `trim` keeps
    only what readers use (memory at thousands of objects); `on_change` hears every change after a LIST (the
    LIST's objects as ADDED, objects gone since the last one as DELETED), in the cache's own thread.
    """

    def __init__(self, api_version: str, kind: str, label_selector: str = "", field_selector: str = "",
                 namespaces: Sequence[str] = (), trim: Trim | None = None, on_change: Changed | None = None) -> None:
        self.api_version, self.kind = api_version, kind
        self.label_selector, self.field_selector = label_selector, field_selector
        self.namespaces: tuple[str | None, ...] = tuple(namespaces) or (None,)
        self.trim, self.on_change = trim or without_managed_fields, on_change
        self._objects: dict[tuple[str, str], Json] = {}
        self._synced: set[str | None] = set()
        self._listed_once = False
        self._lock = threading.Lock()

    @property
    def synced(self) -> bool:
        with self._lock:
            return len(self._synced) == len(self.namespaces)

    def covers(self, namespace: str | None) -> bool:
        return self.namespaces == (None,) or namespace in self.namespaces

    def items(self) -> list[Json] | None:
        with self._lock:
            return list(self._objects.values()) if len(self._synced) == len(self.namespaces) else None

    def get(self, namespace: str, name: str) -> Json | None:
        with self._lock:
            return self._objects.get((namespace, name))

    def run(self, stop: threading.Event, retry_seconds: float = 2.0) -> None:
        others = [threading.Thread(target=self._follow, args=(namespace, stop, retry_seconds), daemon=True,
                                   name=f"cache-{self.kind.lower()}-{namespace}") for namespace in self.namespaces[1:]]
        for thread in others:
            thread.start()
        self._follow(self.namespaces[0], stop, retry_seconds)
        for thread in others:
            thread.join(timeout=5.0)

    def _follow(self, namespace: str | None, stop: threading.Event, retry_seconds: float) -> None:
        while not stop.is_set():
            try:
                self._list_and_watch(namespace, stop)
            except KubeError as error:  # 410 Gone, the apiserver away, ...: start again from a fresh LIST
                with self._lock:
                    self._synced.discard(namespace)
                log.info("%s cache: %s; listing again", self.kind, error)
                stop.wait(retry_seconds)
            except Exception:  # never a silently stale cache: readers fall back to the apiserver until it recovers
                with self._lock:
                    self._synced.discard(namespace)
                log.exception("%s cache failed; listing again", self.kind)
                stop.wait(retry_seconds)

    def _list_and_watch(self, namespace: str | None, stop: threading.Event) -> None:
        items, version = list_versioned(self.api_version, self.kind, self.label_selector, self.field_selector,
                                        namespace)
        listed = {key_of(item): self.trim(item) for item in items}
        with self._lock:
            gone = [obj for key, obj in self._objects.items()
                    if key not in listed and (namespace is None or key[0] == namespace)]
            for obj in gone:
                self._objects.pop(key_of(obj), None)
            self._objects.update(listed)
            first = not self._synced and not self._listed_once
            self._synced.add(namespace)
            self._listed_once = True
        if first:
            log.info("%s cache: %d listed in %s", self.kind, len(listed), namespace or "all namespaces")
        self._tell([("DELETED", obj) for obj in gone] + [("ADDED", obj) for obj in listed.values()])
        while not stop.is_set():
            for kind, item in watch(self.api_version, self.kind, version, self.label_selector,
                                    self.field_selector, namespace):
                version = str((item.get("metadata") or {}).get("resourceVersion") or version)
                if kind not in ("ADDED", "MODIFIED", "DELETED"):
                    continue  # a BOOKMARK only moves the resourceVersion on
                trimmed = self.trim(item)
                with self._lock:
                    if kind == "DELETED":
                        self._objects.pop(key_of(item), None)
                    else:
                        self._objects[key_of(item)] = trimmed
                self._tell([(kind, trimmed)])
                if stop.is_set():
                    return

    def _tell(self, changes: list[tuple[str, Json]]) -> None:
        if self.on_change is None:
            return
        for kind, obj in changes:
            try:
                self.on_change(kind, obj)
            except Exception:  # a listener's bug must not stop the cache
                log.exception("%s cache: handling a change of %s failed", self.kind, key_of(obj))


def without_managed_fields(item: Json) -> Json:
    """The object without `managedFields` and kubectl's last-applied copy: most of its size, read by no one."""
    metadata = dict(item.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations")
    if annotations and "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        metadata["annotations"] = {k: v for k, v in annotations.items()
                                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return {**item, "metadata": metadata}


def only_identity(item: Json) -> Json:
    """Name, namespace, uid, resourceVersion, labels and owners: all that an existence check reads."""
    metadata = item.get("metadata") or {}
    kept = {key: metadata[key] for key in ("name", "namespace", "uid", "resourceVersion", "labels",
                                           "ownerReferences") if key in metadata}
    return {"apiVersion": item.get("apiVersion"), "kind": item.get("kind"), "metadata": kept}


def deployment_essentials(item: Json) -> Json:
    """What status, the autoscaler and the reconcile read of a Deployment: its metadata (of `managedFields`
    only who owns `spec.replicas`), replicas, the containers' names and images, and status."""
    trimmed = without_managed_fields(item)
    owners = [{"manager": entry.get("manager"), "fieldsV1": {"f:spec": {"f:replicas": {}}}}
              for entry in (item.get("metadata") or {}).get("managedFields") or []
              if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {})]
    spec = item.get("spec") or {}
    containers = [{"name": c.get("name"), "image": c.get("image")}
                  for c in ((spec.get("template") or {}).get("spec") or {}).get("containers") or []]
    return {"apiVersion": item.get("apiVersion"), "kind": item.get("kind"),
            "metadata": {**trimmed["metadata"], "managedFields": owners},
            "spec": {"replicas": spec.get("replicas"), "template": {"spec": {"containers": containers}}},
            "status": item.get("status") or {}}
