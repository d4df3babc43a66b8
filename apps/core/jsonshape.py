"""Bounds on the shape of JSON a tenant sends: how deeply it nests and how many values it
holds, measured without recursion, so a hostile document gets a message naming the limit
instead of a RecursionError (a 500) somewhere later in json.dumps, jsonschema or a template;
and `loads`, json.loads whose every failure is a ValueError fit to show."""

from __future__ import annotations

import json
import sys
from typing import Any

# The same bound the SDK puts on a template's variables; one implementation for both.
from promptyard.render_budget import shape_problem

__all__ = ["JSONInputError", "loads", "shape_problem"]


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
