"""Merging `spec.podTemplate` over the generated pod template."""

from __future__ import annotations

from typing import Any

# Fields the overlay replaces whole: a probe has exactly one handler, so merging an exec probe into our
# httpGet probe would give one the apiserver refuses.
REPLACED_FIELDS = frozenset({"startupProbe", "livenessProbe", "readinessProbe"})
# Lists merged item by item: field -> (key of an item, whether an item of the same key merges deeply).
# Volumes and env variables hold exactly one source each, so one of the same key replaces ours; a volume
# can be mounted many times, so mounts are keyed by where they go.
KEYED_LISTS: dict[str, tuple[str, bool]] = {
    "containers": ("name", True),
    "initContainers": ("name", True),
    "volumes": ("name", False),
    "env": ("name", False),
    "volumeMounts": ("mountPath", False),
}
DEFAULT_LIST_KEY = ("name", True)


def _keyed(items: Any, key: str) -> bool:
    return isinstance(items, list) and all(isinstance(item, dict) and key in item for item in items)


def merge_overlay(base: Any, overlay: Any, field: str = "") -> Any:
    """Deep-merges `overlay` into `base` without mutating either.

    Maps merge key by key. Lists in `KEYED_LISTS` (and any other list whose items all carry a `name`)
    merge item by item: an item with a new key is appended, one with a known key merges into or replaces
    the existing item; an empty one changes nothing (`containers: []` must not drop the worker). Anything
    else in `overlay`, and every field in `REPLACED_FIELDS`, replaces `base`.
    """
    if field in REPLACED_FIELDS:
        return overlay
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge_overlay(base[key], value, key) if key in base else value
        return merged
    key, deep = KEYED_LISTS.get(field, DEFAULT_LIST_KEY)
    if _keyed(base, key) and _keyed(overlay, key):  # an empty keyed list adds nothing, never clears ours
        result = list(base)
        positions = {item[key]: index for index, item in enumerate(result)}
        for item in overlay:
            if item[key] not in positions:
                positions[item[key]] = len(result)
                result.append(item)
            else:
                index = positions[item[key]]
                result[index] = merge_overlay(result[index], item) if deep else item
        return result
    return overlay
