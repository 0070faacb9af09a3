"""Merging `spec.podTemplate` over the generated pod template."""

from __future__ import annotations

from typing import Any


def _is_named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and "name" in item for item in value)


def merge_overlay(base: Any, overlay: Any) -> Any:
    """Deep-merges `overlay` into `base` without mutating either.

    Maps merge key by key; two lists whose items all carry a `name` merge item by item (same name: merged,
    new name: appended); anything else in `overlay` replaces what `base` has.
    """
    if isinstance(base, dict) and isinstance(overlay, dict):
        merged = dict(base)
        for key, value in overlay.items():
            merged[key] = merge_overlay(base[key], value) if key in base else value
        return merged
    if _is_named_list(base) and _is_named_list(overlay) and overlay:
        result = list(base)
        positions = {item["name"]: index for index, item in enumerate(result)}
        for item in overlay:
            if item["name"] in positions:
                index = positions[item["name"]]
                result[index] = merge_overlay(result[index], item)
            else:
                positions[item["name"]] = len(result)
                result.append(item)
        return result
    return overlay
