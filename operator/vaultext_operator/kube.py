"""The one module that talks to the API server: server-side apply, reads, status patches, events, nodes.

Synchronous (kubernetes client); kopf runs the sync handlers in its thread pool.
"""

from __future__ import annotations

import json
import os
import re
import threading
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config

from .api import API_VERSION, GROUP, KIND, PLURAL, VERSION

Json = dict[str, Any]

# Plural resource names of what the operator reads and applies.
_PLURALS = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "Secret": "secrets",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Deployment": "deployments",
    KIND: PLURAL,
}
_lock = threading.Lock()
_api: client.ApiClient | None = None


class ApplyError(RuntimeError):
    """The apiserver refused a manifest (the message is the apiserver's)."""


def use_kubeconfig(kubeconfig: str | None = None) -> client.ApiClient:
    """Connects with in-cluster credentials, else the given kubeconfig (or $KUBECONFIG / ~/.kube/config)."""
    global _api
    with _lock:
        if _api is None:
            if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config()
                _api = client.ApiClient()
            else:
                _api = config.new_client_from_config(config_file=kubeconfig)
        return _api


def api() -> client.ApiClient:
    return _api if _api is not None else use_kubeconfig()


def _path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{_PLURALS[kind]}"
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


def _call(method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None,
          content_type: str = "application/json") -> Json:
    """One request; a non-2xx answer raises `client.ApiException` carrying the apiserver's Status body."""
    connection = api()
    # JSON bodies go as objects (the client encodes them); an apply patch is YAML and needs its own encoding.
    payload = yaml_safe_json(body) if body is not None and "yaml" in content_type else body
    method, url, headers, serialized, _ = connection.param_serialize(
        method, path, query_params=query or [], body=payload,
        header_params={"Accept": "application/json", "Content-Type": content_type},
        auth_settings=["BearerToken"],
    )  # fmt: skip
    response = connection.call_api(method, url, headers, serialized)
    response.read()
    if not 200 <= response.status <= 299:
        raise client.ApiException(http_resp=response)
    document: Json = json.loads(response.data)
    return document


def _apiserver_message(error: client.ApiException) -> str:
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return f"{error.status} {error.reason}"


def apply(manifest: Json, field_manager: str, dry_run: bool = False) -> Json:
    """Server-side apply (force: the operator owns what it declares); returns the object as stored."""
    metadata = manifest["metadata"]
    query = [("fieldManager", field_manager), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
    path = _path(manifest["apiVersion"], manifest["kind"], metadata["namespace"], metadata["name"])
    try:
        return _call("PATCH", path, manifest, query, content_type="application/apply-patch+yaml")
    except client.ApiException as error:
        raise ApplyError(f"{manifest['kind']} {metadata['name']}: {_apiserver_message(error)}") from error


def get(api_version: str, kind: str, namespace: str, name: str) -> Json | None:
    try:
        return _call("GET", _path(api_version, kind, namespace, name))
    except client.ApiException as error:
        if error.status == 404:
            return None
        raise


def get_extension(namespace: str, name: str) -> Json | None:
    return get(API_VERSION, KIND, namespace, name)


def secret_keys(namespace: str, name: str) -> set[str] | None:
    """Keys of a Secret (its values are never looked at), or None when it does not exist."""
    secret = get("v1", "Secret", namespace, name)
    if secret is None:
        return None
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def list_nodes() -> list[Json]:
    items: list[Json] = _call("GET", "/api/v1/nodes")["items"]
    return items


class Conflict(RuntimeError):
    """The object changed since it was read (its resourceVersion moved on)."""


def patch_extension_status(namespace: str, name: str, status: Json, resource_version: str | None = None) -> Json:
    """Merge-patches the status subresource: fields not in `status` (the autoscaler's) stay as they are.

    With `resource_version` the patch applies only to that version of the object, else raises `Conflict`.
    """
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
    body: Json = {"status": status}
    if resource_version is not None:
        body["metadata"] = {"resourceVersion": resource_version}
    try:
        return _call("PATCH", path, body, content_type="application/merge-patch+json")
    except client.ApiException as error:
        if error.status == 409:
            raise Conflict(f"{namespace}/{name} changed since it was read") from error
        raise


def post_event(extension: Json, event_type: str, reason: str, message: str) -> None:
    """A core/v1 Event on the extension, shown by `kubectl describe vext`."""
    metadata = extension["metadata"]
    now = datetime.now(UTC).isoformat()
    event = {
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
    client.CoreV1Api(api()).create_namespaced_event(metadata["namespace"], event)


# --- Lag-driven autoscaling: replicas, capacity, credentials and KEDA/Strimzi objects ---------------------

AUTOSCALER_MANAGER = "vaultext-autoscaler"


def set_deployment_replicas(namespace: str, name: str, replicas: int) -> Json:
    """Server-side applies only `spec.replicas`, owned by the autoscaler's field manager."""
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace}, "spec": {"replicas": replicas}}
    return apply(manifest, AUTOSCALER_MANAGER)


def list_all(api_version: str, plural: str, label_selector: str = "", field_selector: str = "") -> list[Json]:
    """Every object of a kind in all namespaces, in one LIST call."""
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    query = [(k, v) for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v]
    items: list[Json] = _call("GET", f"{base}/{plural}", query=query).get("items") or []
    return items


def secret_data(namespace: str, name: str) -> dict[str, str] | None:
    """A Secret's decoded values (Kafka credentials for the lag source), or None when it does not exist."""
    import base64  # only here: the rest of this module never reads secret values

    secret = get("v1", "Secret", namespace, name)
    if secret is None:
        return None
    decoded = {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}
    return {**decoded, **(secret.get("stringData") or {})}


def _custom_path(source: Json | str, plural: str, namespace: str, name: str) -> str:
    api_version = source if isinstance(source, str) else source["apiVersion"]
    return f"/apis/{api_version}/namespaces/{namespace}/{plural}/{name}"


def apply_custom(manifest: Json, plural: str, field_manager: str = AUTOSCALER_MANAGER,
                 dry_run: bool = False) -> Json:
    """Server-side apply of a resource `apply` does not know by kind (ScaledObject, KafkaTopic, ...)."""
    metadata = manifest["metadata"]
    query = [("fieldManager", field_manager), ("force", "true")] + ([("dryRun", "All")] if dry_run else [])
    path = _custom_path(manifest, plural, metadata["namespace"], metadata["name"])
    try:
        return _call("PATCH", path, manifest, query, content_type="application/apply-patch+yaml")
    except client.ApiException as error:
        raise ApplyError(f"{manifest['kind']} {metadata['name']}: {error.status} {error.body}") from error


def delete_custom(api_version: str, plural: str, namespace: str, name: str) -> bool:
    """Deletes one object; False when it (or its kind) does not exist."""
    try:
        _call("DELETE", _custom_path(api_version, plural, namespace, name))
    except client.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
