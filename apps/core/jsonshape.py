"""Bounds on the shape of JSON a tenant sends: how deeply it nests and how many values it
holds, measured without recursion, so a hostile document gets a message naming the limit
instead of a RecursionError (a 500) somewhere later in json.dumps, jsonschema or a template."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def shape_problem(value: Any, *, max_depth: int, max_values: int | None = None) -> str | None:
    """None when `value` is within the bounds, else what is wrong with it, e.g. "is nested
    deeper than 32 levels". A container counts one level ({} and [] are depth 1); every
    value (dict values, list items, scalars and the document itself) counts towards
    `max_values`. Stops at the first excess, so the cost is bounded by the limits."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    values = 0
    while stack:
        item, depth = stack.pop()
        values += 1
        if max_values is not None and values > max_values:
            return f"holds more than {max_values} values"
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            return f"is nested deeper than {max_depth} levels"
        stack.extend((child, depth + 1) for child in children)
    return None
