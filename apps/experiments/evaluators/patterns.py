"""Regular expressions a tenant writes, compiled for RE2 (google-re2).

RE2 matches in time linear in the text whatever the pattern, so `(a+)+$` cannot hold a
shared worker; what it cannot run in linear time (backreferences, lookaround) it refuses to
compile, and so do we, at save time, with a message naming the pattern and the reason.
Used by the regex evaluator and by `pattern`/`patternProperties` in JSON Schemas.
"""

from __future__ import annotations

import functools

import re2  # type: ignore[import-untyped]  # google-re2 ships no stubs

RE2_MAX_MEMORY = 8 << 20  # bytes of compiled program per pattern (RE2's own default)
HINT = "Patterns use RE2 syntax (linear time): backreferences and lookaround are not supported"


class PatternRefused(ValueError):
    """A pattern RE2 cannot compile; the message names the pattern and why."""


def re2_options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is the tenant's mistake, not a server log
    options.max_mem = RE2_MAX_MEMORY
    return options


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else str(exc)
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return str(detail)


@functools.lru_cache(maxsize=512)
def compile_pattern(
    pattern: str, *, ignore_case: bool = False, multiline: bool = False, dotall: bool = False
):
    """The compiled RE2 pattern (cached), or PatternRefused naming it and the reason."""
    flags = "".join(
        flag for flag, on in (("i", ignore_case), ("m", multiline), ("s", dotall)) if on
    )
    try:
        return re2.compile(f"(?{flags}){pattern}" if flags else pattern, re2_options())
    except re2.error as exc:
        hint = HINT
        if "\\Z" in pattern:
            hint += "; use \\z for the end of the text"
        raise PatternRefused(
            f"The pattern {_short(pattern)!r} is not a valid regular expression for RE2: "
            f"{_reason(exc)}. {hint}."
        ) from None
