"""The one module that talks to the API server: one apply, one list, reads, status patches, events, leases.

Synchronous (kubernetes client); kopf runs the sync handlers in its thread pool. Every request carries a timeout,
and every failure is one of this module's errors (`KubeError` and below), so no other module imports the client.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from kubernetes import client, config
from urllib3.exceptions import HTTPError

from .api import API_VERSION, GROUP, KIND, PLURAL, VERSION

Json = dict[str, Any]

# Plural resource names of what the operator reads and applies.
_PLURALS = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "Secret": "secrets",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Deployment": "deployments",
    "Pod": "pods",
    "Node": "nodes",
    "Lease": "leases",
    "ScaledObject": "scaledobjects",
    "TriggerAuthentication": "triggerauthentications",
    "KafkaTopic": "kafkatopics",
    KIND: PLURAL,
}
_CLUSTER_SCOPED = {"Node"}
# (connect, read) seconds: a hung apiserver costs one call this long, never a stuck loop
REQUEST_TIMEOUT = (3.05, 15.0)
AUTOSCALER_MANAGER = "vaultext-autoscaler"  # owns only the Deployment's spec.replicas
CONNECTIONS = 48  # kept open to the apiserver: every worker and watch thread at once
WATCH_SECONDS = 60  # one watch request's server-side timeout; the cache then resumes from its resourceVersion
_lock = threading.Lock()
_api: client.ApiClient | None = None
log = logging.getLogger(__name__)


class KubeError(RuntimeError):
    """The API server could not be reached or refused a request."""


class ApiError(KubeError):
    """A non-2xx answer; `status` is its HTTP status, the message the apiserver's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApplyError(ApiError):
    """The apiserver refused a manifest (the message is the apiserver's)."""


class Conflict(ApiError):
    """The object changed since it was read (its resourceVersion moved on), or already exists."""


def use_kubeconfig(kubeconfig: str | None = None) -> client.ApiClient:
    """Connects with in-cluster credentials, else the given kubeconfig (or $KUBECONFIG / ~/.kube/config)."""
    global _api
    with _lock:
        if _api is None:
            configuration = client.Configuration()
            try:
                if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config(client_configuration=configuration)
                else:
                    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
            except config.ConfigException as error:
                raise KubeError(f"no usable Kubernetes configuration: {error}") from error
            # one connection per thread that may call at once (work queues, caches, autoscaler), none discarded
            configuration.connection_pool_maxsize = CONNECTIONS
            _api = client.ApiClient(configuration)
        return _api


def api() -> client.ApiClient:
    return _api if _api is not None else use_kubeconfig()


def _base(api_version: str) -> str:
    return f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"


def _path(api_version: str, kind: str, namespace: str | None, name: str | None = None) -> str:
    scope = "" if kind in _CLUSTER_SCOPED or namespace is None else f"/namespaces/{namespace}"
    path = f"{_base(api_version)}{scope}/{_PLURALS[kind]}"
    return f"{path}/{name}" if name else path


# Characters YAML does not allow unescaped (its printable set is the complement).
_NOT_YAML_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def yaml_safe_json(body: Any) -> str:
    """JSON that is also valid YAML, as an apply patch is parsed as YAML.

    The client's own ASCII escapes would turn characters beyond the BMP into surrogate pairs, which YAML
    refuses; raw control characters are refused too, so exactly those are escaped.
    """
    text = json.dumps(body, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _message(status: int, reason: str, body: Any) -> str:
    try:
        return str(json.loads(body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{status} {reason}"


def _request(method: str, path: str, body: Any, query: list[tuple[str, str]] | None, content_type: str,
             timeout: tuple[float, float]) -> Any:
    """Sends one request; returns the client's response with its body not read yet."""
    connection = api()
    # JSON bodies go as objects (the client encodes them); an apply patch is YAML and needs its own encoding.
    payload = yaml_safe_json(body) if body is not None and "yaml" in content_type else body
    method, url, headers, serialized, _ = connection.param_serialize(
        method, path, query_params=query or [], body=payload,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    try:
        return connection.call_api(method, url, headers, serialized, _request_timeout=timeout)
    except (HTTPError, OSError) as error:
        raise KubeError(f"{method} {path}: {type(error).__name__}: {error}") from error


def _call(method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Json:
    """One request with a timeout; a non-2xx answer raises `ApiError` with the apiserver's message."""
    response = _request(method, path, body, query, content_type, REQUEST_TIMEOUT)
    try:
        response.read()
    except (HTTPError, OSError) as error:
        raise KubeError(f"{method} {path}: {type(error).__name__}: {error}") from error
    if not 200 <= response.status <= 299:
        message = _message(response.status, response.reason, response.data)
        error_type = Conflict if response.status == 409 else ApiError
        raise error_type(response.status, message)
    document: Json = json.loads(response.data)
    return document


def apply(manifest: Json, field_manager: str, dry_run: bool = False) -> Json:
    """Server-side apply (force: the operator owns what it declares); returns the object as stored."""
    metadata = manifest["metadata"]
    query = [("fieldManager", field_manager), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
    path = _path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])
    try:
        return _call("PATCH", path, manifest, query, content_type="application/apply-patch+yaml")
    except ApiError as error:
        raise ApplyError(error.status, f"{manifest['kind']} {metadata['name']}: {error}") from error


def create(manifest: Json) -> Json | None:
    """Creates an object; None when one of that name exists already (it is left as it is)."""
    metadata = manifest["metadata"]
    try:
        return _call("POST", _path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace")), manifest)
    except Conflict:
        return None
    except ApiError as error:
        raise ApplyError(error.status, f"{manifest['kind']} {metadata['name']}: {error}") from error


def replace(manifest: Json) -> Json:
    """PUT carrying the resourceVersion read; raises `Conflict` when the object moved on since."""
    metadata = manifest["metadata"]
    path = _path(manifest["apiVersion"], manifest["kind"], metadata.get("namespace"), metadata["name"])
    return _call("PUT", path, manifest)


def get(api_version: str, kind: str, namespace: str | None, name: str, fresh: bool = False) -> Json | None:
    """One object, or None when it (or its kind) does not exist; from a synced cache unless `fresh`."""
    cache = _caches.get(kind)
    if not fresh and cache is not None and cache.covers(namespace) and cache.synced:
        return cache.get(namespace or "", name)
    # not fresh: the apiserver's own watch cache may answer (resourceVersion 0), sparing etcd a quorum read
    query = None if fresh else [("resourceVersion", "0")]
    try:
        return _call("GET", _path(api_version, kind, namespace, name), query=query)
    except ApiError as error:
        if error.status == 404:
            return None
        raise


def delete(api_version: str, kind: str, namespace: str, name: str) -> bool:
    """Deletes one object; False when it (or its kind) does not exist."""
    try:
        _call("DELETE", _path(api_version, kind, namespace, name))
    except ApiError as error:
        if error.status == 404:
            return False
        raise
    return True


def _selectors(label_selector: str, field_selector: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]


def list_all(api_version: str, kind: str, label_selector: str = "", field_selector: str = "") -> list[Json]:
    """Every object of a kind in all namespaces: from a synced cluster-wide cache of the same selection, else in
    one LIST call."""
    cache = _caches.get(kind)
    if (cache is not None and cache.namespaces == (None,)
            and (cache.label_selector, cache.field_selector) == (label_selector, field_selector)):
        items = cache.items()
        if items is not None:
            return items
    return list_versioned(api_version, kind, label_selector, field_selector)[0]


def list_versioned(api_version: str, kind: str, label_selector: str = "", field_selector: str = "",
                   namespace: str | None = None) -> tuple[list[Json], str]:
    """Every object of a kind in a namespace (None: all), and the list's resourceVersion (where a watch starts)."""
    # resourceVersion 0: served from the apiserver's watch cache (as informers do), not a range read of etcd
    query = [("resourceVersion", "0"), *_selectors(label_selector, field_selector)]
    answer = _call("GET", _path(api_version, kind, namespace), query=query)
    return answer.get("items") or [], str((answer.get("metadata") or {}).get("resourceVersion", ""))


def watch(api_version: str, kind: str, resource_version: str, label_selector: str = "",
          field_selector: str = "", namespace: str | None = None) -> Iterator[tuple[str, Json]]:
    """(type, object) events after `resource_version` for up to WATCH_SECONDS; `ApiError` 410 when it is too old."""
    query = [("watch", "1"), ("resourceVersion", resource_version), ("allowWatchBookmarks", "true"),
             ("timeoutSeconds", str(WATCH_SECONDS)), *_selectors(label_selector, field_selector)]
    path = _path(api_version, kind, namespace)
    response = _request("GET", path, None, query, "application/json", (REQUEST_TIMEOUT[0], WATCH_SECONDS + 15))
    stream = response.response
    try:
        if response.status != 200:
            raise ApiError(response.status, _message(response.status, response.reason, stream.data))
        for line in stream:
            if not line.strip():
                continue
            event = json.loads(line)
            if event.get("type") == "ERROR":
                status = event.get("object") or {}
                raise ApiError(int(status.get("code") or 500), str(status.get("message", "watch error")))
            yield str(event.get("type")), event.get("object") or {}
    except (HTTPError, OSError, ValueError) as error:
        raise KubeError(f"watch {path}: {type(error).__name__}: {error}") from error
    finally:
        stream.release_conn()


class Watched(Protocol):
    """A kind's objects kept in memory by a watch (`cache.Cache`)."""

    kind: str
    namespaces: tuple[str | None, ...]  # (None,): the whole cluster
    label_selector: str
    field_selector: str

    @property
    def synced(self) -> bool: ...
    def covers(self, namespace: str | None) -> bool: ...
    def get(self, namespace: str, name: str) -> Json | None: ...
    def items(self) -> list[Json] | None: ...


_caches: dict[str, Watched] = {}  # kind -> the cache `get` answers from


def serve_from(cache: Watched) -> None:
    """`get` of this kind in the cache's namespaces answers from the cache once it is synced (a label-selected
    cache thus says None for objects without the label: use it for the operator's own children)."""
    _caches[cache.kind] = cache


def get_extension(namespace: str, name: str, fresh: bool = False) -> Json | None:
    return get(API_VERSION, KIND, namespace, name, fresh)


class SecretOutsideWatch(KubeError):
    """A Secret was asked for in a namespace the operator does not watch; it is not read."""


_secret_namespaces: frozenset[str] | None = None  # None: the operator watches (and may read) every namespace


def read_secrets_only_in(namespaces: Sequence[str]) -> None:
    """Secrets are read only in these namespaces (the watched ones); empty: in every namespace."""
    global _secret_namespaces
    _secret_namespaces = frozenset(namespaces) or None


def _secret(namespace: str, name: str) -> Json | None:
    if _secret_namespaces is not None and namespace not in _secret_namespaces:
        raise SecretOutsideWatch(f"Secret {namespace}/{name} is outside the watched namespaces "
                                 f"({', '.join(sorted(_secret_namespaces))}); not read")
    return get("v1", "Secret", namespace, name)


def secret_keys(namespace: str, name: str) -> set[str] | None:
    """Keys of a Secret (its values are never looked at), or None when it does not exist."""
    secret = _secret(namespace, name)
    if secret is None:
        return None
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def secret_data(namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's decoded values (Kafka credentials), or None when it does not exist."""
    secret = _secret(namespace, name)
    if secret is None:
        return None
    decoded = {key: base64.b64decode(value).decode(errors="replace")
               for key, value in (secret.get("data") or {}).items()}
    return {**decoded, **(secret.get("stringData") or {})}


def list_nodes() -> list[Json]:
    return list_all("v1", "Node")


def patch_extension_status(namespace: str, name: str, status: Json, resource_version: str) -> Json:
    """Merge-patches the status subresource: fields not in `status` (another writer's) stay as they are.

    The patch applies only to the version of the object it was computed from, else raises `Conflict`.
    """
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
    body: Json = {"status": status, "metadata": {"resourceVersion": resource_version}}
    return _call("PATCH", path, body, content_type="application/merge-patch+json")


def set_deployment_replicas(namespace: str, name: str, replicas: int) -> Json:
    """Server-side applies only `spec.replicas`, owned by the autoscaler's field manager."""
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": replicas}}
    return apply(manifest, AUTOSCALER_MANAGER)


def post_event(extension: Json, event_type: str, reason: str, message: str) -> None:
    """A core/v1 Event on the extension, shown by `kubectl describe vext`."""
    metadata = extension["metadata"]
    now = datetime.now(UTC).isoformat()
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata['name']}.", "namespace": metadata["namespace"]},
        "involvedObject": {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
        },
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": "vaultext-operator"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    _call("POST", f"/api/v1/namespaces/{metadata['namespace']}/events", event)
