"""Bounds on the shape of JSON a tenant sends: how deeply it nests and how many values it
holds, measured without recursion, so a hostile document gets a message naming the limit
instead of a RecursionError (a 500) somewhere later in json.dumps, jsonschema or a template;
and `loads`, json.loads whose every failure is a ValueError fit to show."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any


class JSONInputError(ValueError):
    """JSON that parses in principle but not here: nested too deeply, a huge number."""


def loads(text: str | bytes) -> Any:
    """json.loads for text a tenant wrote. A syntax error is the usual JSONDecodeError;
    thousands of nested brackets (a RecursionError) and a number past Python's limit of
    digits become a JSONInputError saying so. Both are ValueErrors."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise JSONInputError("the JSON is nested too deeply") from None
    except ValueError:
        limit = sys.get_int_max_str_digits()
        raise JSONInputError(f"a number in the JSON has more than {limit} digits") from None


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
