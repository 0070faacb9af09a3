"""Hypothesis strategies drawn from the generated structural schema (the CRD's openAPIV3Schema)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Schema = dict[str, Any]


def from_structural(schema: Schema, skip: frozenset[str] = frozenset()) -> st.SearchStrategy[Any]:
    """Documents matching `schema`'s types, enums, patterns and bounds (CEL rules are not applied).

    `skip` names properties (anywhere) never to generate, e.g. free-form escape hatches.
    """
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        properties = {name: child for name, child in schema["properties"].items() if name not in skip}
        required = {name: from_structural(properties[name], skip) for name in schema.get("required", [])}
        optional = {
            name: from_structural(child, skip) for name, child in properties.items() if name not in required
        }
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        keys = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
        return st.dictionaries(keys, from_structural(schema["additionalProperties"], skip), max_size=3)
    if kind == "object":  # free-form map
        scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
        return st.dictionaries(st.text(min_size=1, max_size=6), scalars, max_size=3)
    if kind == "array":
        return st.lists(from_structural(schema["items"], skip), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum", 0), max_value=1e6, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return _strings(schema)
    raise ValueError(f"no strategy for {schema}")


def _strings(schema: Schema) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if "pattern" in schema:
        pattern: str = schema["pattern"]
        drawn = st.from_regex(pattern, fullmatch=True)
        return drawn.filter(lambda text: low <= len(text) <= schema.get("maxLength", 10**6))
    if schema.get("format") == "date-time":
        return st.just("2026-01-01T00:00:00Z")
    return st.text(min_size=low, max_size=max(low, high))
