"""Versions of traced functions, read back from the server.

    v3 = promptyard.function_version("answer_question", 3)
    print(v3.source)      # the function and the same-package functions it called
    print(v3.settings)    # what @trace(settings=...) recorded (e.g. the model)

The server numbers a function's versions (v1, v2, …) from the spans of `@trace`: a
version is a hash of the function's code and of the functions of its package it calls.
A short name works when one traced function has it; else give the full module path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from promptyard._core import DEFAULT_BASE_URL, __version__
from promptyard.errors import AuthenticationError, FetchError, PromptyardError


class FunctionVersionNotFound(PromptyardError):
    """The server has no such function, or no such version of it."""


@dataclass(frozen=True)
class FunctionVersion:
    name: str
    number: int
    version_hash: str
    source: str
    settings: dict[str, Any] = field(default_factory=dict)


def function_version(
    name: str,
    number: int,
    *,
    client: Any = None,
    api_key: str | None = None,
    base_url: str | None = None,
    timeout: float = 10.0,
) -> FunctionVersion:
    """Version `number` of the traced function `name`: its source and settings (the key
    needs traces:read). `client` (a Promptyard) lends its key and server."""
    if client is not None:
        api_key = api_key or getattr(client, "api_key", None)
        base_url = base_url or getattr(client, "base_url", None)
    key = api_key or os.environ.get("PROMPTYARD_API_KEY") or ""
    if not key:
        raise AuthenticationError("No API key: pass api_key=... or set PROMPTYARD_API_KEY.")
    base = (base_url or os.environ.get("PROMPTYARD_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/api/v1"):
        base = base[: -len("/api/v1")]
    url = f"{base}/api/v1/functions/{quote(name, safe='')}/versions/{int(number)}/"
    headers = {
        "Authorization": f"Bearer {key}",
        "Accept": "application/json",
        "User-Agent": f"promptyard-python/{__version__}",
    }
    try:
        response = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot reach {base}: {exc}") from exc
    if response.status_code == 404:
        raise FunctionVersionNotFound(f"{name} has no version {number} (or is not traced)")
    if response.status_code in (401, 403):
        raise AuthenticationError(f"the key was refused ({response.status_code})")
    if response.status_code >= 400:
        raise FetchError(f"the server answered {response.status_code}", status=response.status_code)
    body = response.json()
    return FunctionVersion(
        name=body["name"],
        number=int(body["number"]),
        version_hash=body["version_hash"],
        source=body["source"],
        settings=dict(body.get("settings") or {}),
    )
