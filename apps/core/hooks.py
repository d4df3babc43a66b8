"""How an app reaches one it may not import: a higher layer, or a sibling in its own layer.

The app that needs something names a hook ("<app>.<what>") and documents what it expects;
the app that provides it registers an implementation in its AppConfig.ready(). Neither
imports the other: both import only this module.
"""

from __future__ import annotations

from typing import Any

_hooks: dict[str, list[Any]] = {}


def hook_register(name: str, implementation: Any) -> None:
    implementations = _hooks.setdefault(name, [])
    if implementation not in implementations:  # ready() may run more than once
        implementations.append(implementation)


def hook_implementations(name: str) -> list[Any]:
    """What was registered under `name`, in registration (INSTALLED_APPS) order."""
    return list(_hooks.get(name, ()))
