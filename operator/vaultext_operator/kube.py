"""The one module that talks to the API server: one apply, one list, reads, status patches, events, leases.

Synchronous (kubernetes client); kopf runs the sync handlers in its thread pool. Every request carries a timeout,
and every failure is one of this module's errors (`KubeError` and below), so no other module imports the client.
"""

from __future__ import annotations

import base64
import json
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any

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
_lock = threading.Lock()
_api: client.ApiClient | None = None


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
            try:
                if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config()
                    _api = client.ApiClient()
                else:
                    _api = config.new_client_from_config(config_file=kubeconfig)
            except config.ConfigException as error:
                raise KubeError(f"no usable Kubernetes configuration: {error}") from error
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


def _call(method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Json:
    """One request with a timeout; a non-2xx answer raises `ApiError` with the apiserver's message."""
    connection = api()
    # JSON bodies go as objects (the client encodes them); an apply patch is YAML and needs its own encoding.
    payload = yaml_safe_json(body) if body is not None and "yaml" in content_type else body
    method, url, headers, serialized, _ = connection.param_serialize(
        method, path, query_params=query or [], body=payload,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    try:
        response = connection.call_api(method, url, headers, serialized, _request_timeout=REQUEST_TIMEOUT)
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


def get(api_version: str, kind: str, namespace: str | None, name: str) -> Json | None:
    """One object, or None when it (or its kind) does not exist."""
    try:
        return _call("GET", _path(api_version, kind, namespace, name))
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


def list_all(api_version: str, kind: str, label_selector: str = "", field_selector: str = "") -> list[Json]:
    """Every object of a kind in all namespaces, in one LIST call."""
    query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
    items: list[Json] = _call("GET", _path(api_version, kind, None), query=query).get("items") or []
    return items


def get_extension(namespace: str, name: str) -> Json | None:
    return get(API_VERSION, KIND, namespace, name)


def secret_keys(namespace: str, name: str) -> set[str] | None:
    """Keys of a Secret (its values are never looked at), or None when it does not exist."""
    secret = get("v1", "Secret", namespace, name)
    if secret is None:
        return None
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def secret_data(namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's decoded values (Kafka credentials), or None when it does not exist."""
    secret = get("v1", "Secret", namespace, name)
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
