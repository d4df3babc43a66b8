"""What a traced function's version covers: its own code and the code it calls.

A version hash that covers only the decorated function misses most changes that matter: the
prompt-building helper, the retriever, the post-processing it calls. `closure` walks the
globals a function's code refers to (its names, and names read as attributes of a module
it refers to), keeps those that are plain functions defined in the same top-level package
(or the same script), and walks theirs in turn, up to `MAX_FUNCTIONS`. Changing a callee
changes the caller's version; changing an unrelated function, or a library, does not.
"""

from __future__ import annotations

import hashlib
import inspect
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

MAX_FUNCTIONS = 64  # functions in one closure (a bound: a big package is not walked whole)
MAX_SOURCE_CHARS = 32_000  # what a span carries of the closure's code


def source_of(func: Callable[..., Any]) -> str:
    """The function's source (its bytecode and constants when the source is unavailable)."""
    try:
        return textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        if code is None:
            return repr(func)
        return f"<bytecode {code.co_code.hex()} {code.co_consts!r}>"


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # nested functions, lambdas, comprehensions
            yield from _names(const)


def _package(module: str | None) -> str:
    return (module or "").split(".", 1)[0]


def _plain(obj: Any) -> types.FunctionType | None:
    obj = inspect.unwrap(obj) if callable(obj) else obj
    return obj if isinstance(obj, types.FunctionType) else None


def closure(func: Callable[..., Any], *, limit: int = MAX_FUNCTIONS) -> list[tuple[str, str]]:
    """[(qualified name, source)] of `func` (first) and the same-package functions it calls,
    directly or not, in a stable order."""
    root = _plain(func)
    if root is None:
        return [(repr(func), source_of(func))]
    package = _package(root.__module__)
    found: dict[str, str] = {}
    queue: list[types.FunctionType] = [root]
    while queue and len(found) < limit:
        current = queue.pop(0)
        key = f"{current.__module__}.{current.__qualname__}"
        if key in found:
            continue
        found[key] = source_of(current)
        names = list(dict.fromkeys(_names(current.__code__)))
        scope = current.__globals__
        for name in names:
            target = scope.get(name)
            if target is None:
                continue
            candidates = [target]
            if isinstance(target, types.ModuleType):
                if _package(target.__name__) != package:
                    continue
                candidates = [getattr(target, attr, None) for attr in names]
            for candidate in candidates:
                callee = _plain(candidate)
                if callee is not None and _package(callee.__module__) == package:
                    queue.append(callee)
    items = list(found.items())
    return items[:1] + sorted(items[1:])


def closure_hash(func: Callable[..., Any]) -> str:
    """12 hex of sha256 over the closure's names and sources."""
    digest = hashlib.sha256()
    for name, source in closure(func):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(source.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def closure_source(func: Callable[..., Any], limit: int = MAX_SOURCE_CHARS) -> str:
    """The closure's code as one text (the function first, then its callees by name)."""
    parts = []
    for index, (name, source) in enumerate(closure(func)):
        parts.append(source if index == 0 else f"# --- {name}\n{source}")
    text = "\n".join(part.rstrip("\n") + "\n" for part in parts)
    if len(text) > limit:
        text = text[:limit] + f"\n# …[truncated {len(text) - limit} chars]\n"
    return text
