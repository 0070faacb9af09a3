"""One level-based reconcile of a VaultExtension: check inputs, apply every child, report status.

Every child goes through here, the Kafka-side ones (KEDA, Strimzi, Admin-API topics) included, under one field
manager. Running it again with nothing changed changes nothing: server-side apply of identical manifests is a
no-op and the status is only written when it differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from . import bindings, kube
from .api import GROUP, KIND, VaultExtensionSpec
from .builders import (
    MANAGER,
    ExtensionRef,
    build_children,
    gpu_resource_name,
    required_secret_keys,
    resolve_kafka,
    selector_string,
)
from .builders.security import forbidden_privileges
from .conditions import (
    APPLY_FAILED,
    GPU_PRODUCT_UNAVAILABLE,
    GPU_RESOURCE_UNAVAILABLE,
    INVALID_SPEC,
    POD_TEMPLATE_FORBIDDEN,
    SECRET_KEY_MISSING,
    SECRET_NOT_FOUND,
    Blocker,
    Verdict,
    blocker_in,
    merged_conditions,
    ready_of,
    status_patch,
)
from .replicas import replicas_to_apply
from .scaling.capacity import GpuDemand, eligible_node, gpu_demand
from .scaling.report import SCALING_ACTIVE, TOPICS_READY
from .settings import OperatorSettings

Json = dict[str, Any]
log = logging.getLogger(__name__)
STATUS_WRITE_ATTEMPTS = 5
CHILDREN_DIGEST = f"{GROUP}/children-digest"  # on the Deployment: the digest of the children last applied
STARTING = ("Reconciling", "DeploymentUnavailable")  # Ready reasons of a Deployment on its way up
# Status writes of one extension are serialized, each from fresh reads, so the last write is never stale.
_status_locks: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)


def extension_ref(body: Json) -> ExtensionRef:
    metadata = body["metadata"]
    return ExtensionRef(name=metadata["name"], namespace=metadata["namespace"], uid=metadata["uid"])


class _NodeSnapshot:
    """The node list, re-read at most every few seconds: a resume reconciles every extension at once."""

    max_age_seconds = 3.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nodes: list[Json] = []
        self._read_at = float("-inf")

    def get(self) -> list[Json]:
        with self._lock:
            if time.monotonic() - self._read_at > self.max_age_seconds:
                self._nodes, self._read_at = kube.list_nodes(), time.monotonic()
            return self._nodes


_nodes = _NodeSnapshot()


def gpu_node_counts(nodes: list[Json], demand: GpuDemand) -> tuple[int, int]:
    """(nodes eligible for the demand whatever their product, of those the ones with `demand.product`)."""
    offering = sum(1 for n in nodes if eligible_node(n, demand.resource, None, demand.tolerations))
    with_product = sum(1 for n in nodes if eligible_node(n, demand.resource, demand.product, demand.tolerations))
    return offering, with_product


def check_inputs(spec: VaultExtensionSpec, ref: ExtensionRef, settings: OperatorSettings) -> Blocker | None:
    """What the schema cannot judge: podTemplate privileges, referenced Secrets and keys, GPU capacity."""
    if forbidden := forbidden_privileges(spec, settings):
        return Blocker(POD_TEMPLATE_FORBIDDEN, f"podTemplate uses {', '.join(forbidden)}, which the operator "
                       "does not allow (setting VAULTEXT_OPERATOR_ALLOWED_POD_PRIVILEGES)")
    for secret, keys in sorted(required_secret_keys(spec, ref, settings).items()):
        present = kube.secret_keys(ref.namespace, secret)
        if present is None:
            return Blocker(SECRET_NOT_FOUND, f"Secret {ref.namespace}/{secret} does not exist (keys {sorted(keys)})")
        if missing := keys - present:
            return Blocker(SECRET_KEY_MISSING, f"Secret {ref.namespace}/{secret} lacks keys {sorted(missing)}")
    demand = gpu_demand(spec, ref, settings)
    if demand is not None and settings.check_gpu_capacity:
        resource = gpu_resource_name(spec, settings)
        offering, with_product = gpu_node_counts(_nodes.get(), demand)
        if offering == 0:
            return Blocker(GPU_RESOURCE_UNAVAILABLE,
                           f"no Ready, schedulable node the pods tolerate offers the resource {resource}")
        if with_product == 0:
            return Blocker(
                GPU_PRODUCT_UNAVAILABLE,
                f"no eligible node offering {resource} is labelled nvidia.com/gpu.product={spec.gpu.product}",
            )
    return None


def children_digest(manifests: list[Json]) -> str:
    """A digest of the children as the operator would apply them: equal digests, nothing to apply."""
    return hashlib.sha256(json.dumps(manifests, sort_keys=True).encode()).hexdigest()[:32]


def apply_children(spec: VaultExtensionSpec, ref: ExtensionRef, settings: OperatorSettings,
                   ) -> tuple[Blocker | None, Json | None]:
    """Applies every child (the Deployment last). Once the Deployment exists, after a server-side dry run of
    all of them: all apply, or none does. Nothing is sent when every child exists and the Deployment carries
    the digest of exactly these manifests.

    Returns what blocks, and the Deployment as it now is (or None)."""
    live = kube.get("apps/v1", "Deployment", ref.namespace, ref.name)
    manifests = build_children(spec, ref, settings, replicas_to_apply(spec, live))
    digest = children_digest(manifests)
    annotations = (live or {}).get("metadata", {}).get("annotations") or {}
    if annotations.get(CHILDREN_DIGEST) == digest and all(
            kube.get(m["apiVersion"], m["kind"], ref.namespace, m["metadata"]["name"]) for m in manifests[:-1]):
        return None, live
    deployment_metadata = manifests[-1]["metadata"]
    deployment_metadata["annotations"] = {**deployment_metadata.get("annotations", {}), CHILDREN_DIGEST: digest}
    try:
        if live is not None:  # a running Deployment never meets half its update; a new one has nothing to lose
            for manifest in manifests:
                kube.apply(manifest, MANAGER, dry_run=True)
        applied = [kube.apply(manifest, MANAGER) for manifest in manifests]
    except kube.ApplyError as error:
        return Blocker(APPLY_FAILED, str(error)), live
    deployment = applied[-1]
    before = (live or {}).get("metadata", {}).get("generation")
    after = deployment["metadata"].get("generation")
    if before != after:
        verb = "created" if live is None else "updated"
        log.info("Deployment %s/%s %s (generation %s)", ref.namespace, ref.name, verb, after)
    return None, deployment


TopicRequests = Callable[[str, str], None]  # (namespace, name): bind that extension's topics soon
# (namespace, name, generation reconciled, further conditions): write that status soon
StatusReports = Callable[[str, str, int, dict[str, Verdict]], None]


def reconcile(body: Json, settings: OperatorSettings, bind_topics_later: TopicRequests | None = None,
              report_later: StatusReports | None = None) -> Blocker | None:
    """Converges the children to the spec; returns what blocks it, if anything (status already says so).

    Topics need the Kafka cluster, which may be slow or gone: with `bind_topics_later` they are bound by a
    background worker (`bind_topics_now`), so a dead cluster never holds up the apply of the other children.
    With `report_later`, an unblocked outcome is handed over for a status write a moment later, which then
    also carries what the new Deployment and the topic binding report by then (one write instead of three).
    """
    ref = extension_ref(body)
    generation = int(body["metadata"].get("generation", 0))
    deployment: Json | None = None
    try:
        spec = VaultExtensionSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        blocker: Blocker | None = Blocker(INVALID_SPEC, str(error))
    else:
        blocker = check_inputs(spec, ref, settings)
        if blocker is None:
            blocker, deployment = apply_children(spec, ref, settings)
    verdicts: dict[str, Verdict] = {}
    if blocker is None:
        verdicts = bindings.converge(spec, ref, settings, topics=bind_topics_later is None)
        if bind_topics_later is not None:
            bind_topics_later(ref.namespace, ref.name)
    if blocker is None and report_later is not None:
        report_later(ref.namespace, ref.name, generation, verdicts)
    else:
        refresh_status(ref.namespace, ref.name, generation=generation, blocker=blocker, extra=verdicts,
                       deployment=deployment)
    return blocker


def bind_topics(namespace: str, name: str, settings: OperatorSettings) -> Verdict | None:
    """Binds one extension's topics as its spec says (as last seen); the TopicsReady verdict (None: gone)."""
    extension = kube.get_extension(namespace, name)
    if extension is None or extension["metadata"].get("deletionTimestamp"):
        return None
    try:
        spec = VaultExtensionSpec.model_validate(extension.get("spec") or {})
    except ValidationError:
        return None  # the reconcile reports it
    ref = extension_ref(extension)
    binding = resolve_kafka(spec, ref, settings)
    return bindings.bind_topics(spec, ref, binding, bindings.kafka_connection(binding, namespace))


def bind_topics_now(namespace: str, name: str, settings: OperatorSettings) -> None:
    """Binds one extension's topics and reports TopicsReady at once."""
    verdict = bind_topics(namespace, name, settings)
    if verdict is not None:
        refresh_status(namespace, name, extra={TOPICS_READY: verdict})


def reconcile_by_name(namespace: str, name: str, settings: OperatorSettings,
                      bind_topics_later: TopicRequests | None = None) -> Blocker | None:
    """Reconciles an extension read afresh; nothing when it is gone or going."""
    extension = kube.get_extension(namespace, name)
    if extension is None or extension["metadata"].get("deletionTimestamp"):
        return None
    return reconcile(extension, settings, bind_topics_later)


def converge(namespace: str, name: str, settings: OperatorSettings,
             bind_topics_later: TopicRequests | None = None, report_later: StatusReports | None = None,
             ) -> Blocker | None:
    """Reconciles an extension (as the watch last saw it) when something is off; returns what blocks it."""
    extension = kube.get_extension(namespace, name)
    if extension is None or extension["metadata"].get("deletionTimestamp") or not _is_off(extension, settings):
        return None
    return reconcile(extension, settings, bind_topics_later, report_later)


def resync(namespace: str, name: str, settings: OperatorSettings,
           bind_topics_later: TopicRequests | None = None) -> None:
    """The periodic safety net: a full reconcile when something is off, else only a status refresh.

    Off means: a child is missing (deleted by hand), the last reconcile was blocked (a Secret or a GPU node may
    have appeared since), the topics were not all bound, or the spec moved past the generation the status
    reports. Topics are bound again on every resync (a cheap metadata read when they exist).
    """
    extension = kube.get_extension(namespace, name)
    if extension is None or extension["metadata"].get("deletionTimestamp"):
        return
    if _is_off(extension, settings):
        reconcile(extension, settings, bind_topics_later)
        return
    if bind_topics_later is not None:
        bind_topics_later(namespace, name)
        refresh_status(namespace, name)
    else:
        bind_topics_now(namespace, name, settings)


def _is_off(extension: Json, settings: OperatorSettings) -> bool:
    status: Json = extension.get("status") or {}
    observed = status.get("observedGeneration")
    if observed != extension["metadata"].get("generation") or blocker_in(status, int(observed or 0)) is not None:
        return True
    if any(c.get("type") in (TOPICS_READY, SCALING_ACTIVE) and c.get("reason") in
           ("TopicBindingFailed", "KedaApplyFailed") for c in status.get("conditions") or []):
        return True
    try:
        spec = VaultExtensionSpec.model_validate(extension.get("spec") or {})
    except ValidationError:
        return True
    ref = extension_ref(extension)
    children = [(m["apiVersion"], m["kind"], m["metadata"]["name"]) for m in build_children(spec, ref, settings, 0)]
    children += bindings.expected_children(spec, ref, settings)
    return any(kube.get(api_version, kind, ref.namespace, name) is None for api_version, kind, name in children)


def refresh_status(
    namespace: str, name: str, generation: int | None = None, blocker: Blocker | None = None,
    extra: dict[str, Verdict] | None = None, deployment: Json | None = None,
) -> None:
    """Writes status from a fresh read of the extension and its Deployment.

    Without `generation` (a Deployment event or a resync) the blocker last recorded for the observed
    generation stays in force until a reconcile clears it. `extra` are further conditions the reconcile decided
    (TopicsReady, ScalingActive of KEDA). The write is conditional on the version read, so a concurrent status
    writer (the autoscaler) never loses its conditions to a stale list. The first attempt reads the watched
    caches (and `deployment`, the one just applied, when given); after a conflict, the apiserver.
    """
    with _status_locks[(namespace, name)]:
        for attempt in range(STATUS_WRITE_ATTEMPTS):
            try:
                if not _write_status(namespace, name, generation, blocker, extra or {}, attempt > 0,
                                     deployment if attempt == 0 else None):
                    _status_locks.pop((namespace, name), None)  # the extension is gone: forget its lock
                return
            except kube.Conflict:
                continue
        log.warning("status of %s/%s: still conflicting after %d attempts", namespace, name, STATUS_WRITE_ATTEMPTS)


def _write_status(namespace: str, name: str, generation: int | None, blocker: Blocker | None,
                  extra: dict[str, Verdict], fresh: bool, deployment: Json | None) -> bool:
    """Writes status if it changed; False when the extension no longer exists (or is being deleted)."""
    extension = kube.get_extension(namespace, name, fresh)
    if extension is None or extension["metadata"].get("deletionTimestamp"):
        return False
    previous: Json = extension.get("status") or {}
    if generation is None:
        generation = int(previous.get("observedGeneration") or extension["metadata"].get("generation", 0))
        blocker = blocker_in(previous, generation)
    if deployment is None:
        deployment = kube.get("apps/v1", "Deployment", namespace, name, fresh)
    now = datetime.now(UTC).replace(microsecond=0)
    patch = status_patch(previous, deployment, blocker, generation, selector_string(extension_ref(extension)), now)
    if extra:
        patch["conditions"] = merged_conditions(patch["conditions"], extra, generation, now)
    if all(previous.get(key) == value for key, value in patch.items()):
        return True
    kube.patch_extension_status(namespace, name, patch, extension["metadata"]["resourceVersion"])
    _announce(extension, previous, patch)
    return True


def _announce(extension: Json, previous: Json, current: Json) -> None:
    """Events for what a person wants to see in `kubectl describe`: Ready flips and image changes."""
    if previous.get("image") and current.get("image") != previous.get("image"):
        kube.post_event(extension, "Normal", "RollingOut", f"image {previous['image']} -> {current['image']}")
    before, after = ready_of(previous), ready_of(current)
    if before is None and after is not None and after[1] in STARTING:
        return  # a new extension whose Deployment is not up yet: the event worth seeing is the one when it is
    if after is not None and after != before:
        ready, reason = after
        message = next(c["message"] for c in current["conditions"] if c["type"] == "Ready")
        kube.post_event(extension, "Normal" if ready == "True" else "Warning", reason, message or reason)


def owner_of(child: Json) -> str | None:
    """Name of the VaultExtension that controls a child, if any."""
    for reference in child.get("metadata", {}).get("ownerReferences") or []:
        if reference.get("kind") == KIND and reference.get("controller"):
            return str(reference["name"])
    return None
