"""Counts shown as badges in the navigation. Each app registers its own counter."""

from __future__ import annotations

from collections.abc import Callable

_counters: dict[str, Callable] = {}


def register_inbox_counter(name: str, counter: Callable) -> None:
    """`counter(request) -> int` runs inside the request's team scope."""
    _counters[name] = counter


def inbox_counts(request) -> dict[str, int]:
    return {name: counter(request) for name, counter in _counters.items()}
