"""The API's JSON parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES): DRF's, refusing with a
400 what would otherwise fail later as a 500:

- nesting deeper than MAX_DEPTH (Python's decoder, and everything that walks the value
  afterwards, recurses: a few thousand `[` were a RecursionError);
- a NUL character in any key or string (PostgreSQL's text and jsonb cannot store one); the
  answer names where it is, e.g. `messages[0].content`.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

from apps.core.errors import ValidationFailed

MAX_DEPTH = 100


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels.") from None
        check_storable(data)
        return data


def check_storable(data: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse (ValidationFailed naming the place) a parsed JSON value nested deeper than
    `max_depth` or holding a NUL character; walked without recursion."""
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                _refuse_nul(path)
            continue
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        if depth > max_depth:
            raise ValidationFailed(
                f"{path or 'The body'} is nested deeper than {max_depth} levels.",
                field=path or "non_field_errors",
            )
        for key, child in reversed(items):
            if isinstance(key, str):
                if "\x00" in key:
                    _refuse_nul(path)
                child_path = f"{path}.{key}" if path else key
            else:
                child_path = f"{path}[{key}]"
            stack.append((child, child_path, depth + 1))


def _refuse_nul(path: str) -> None:
    where = path or "The body"
    raise ValidationFailed(
        f"{where} contains a NUL character (\\u0000), which cannot be stored.",
        field=path or "non_field_errors",
    )
