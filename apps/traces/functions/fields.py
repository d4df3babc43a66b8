"""What a span says about its function's version: read from its attributes at ingestion."""

from __future__ import annotations

import json
from typing import Any

ATTR_SOURCE = "promptyard.function.source"
ATTR_SETTINGS = "promptyard.function.settings"
MAX_SOURCE_CHARS = 64_000
MAX_SETTINGS_CHARS = 8_192

Seen = dict[tuple[str, str], tuple[str, dict[str, Any]]]  # (name, hash) -> (source, settings)


def function_seen(seen: Seen, *, name: str, version_hash: str, attributes: dict[str, Any]) -> None:
    """Note a span's function version if it carries its code (first one per hash wins)."""
    if not name or not version_hash or (name, version_hash) in seen:
        return
    source = attributes.get(ATTR_SOURCE)
    if not isinstance(source, str) or not source:
        return
    settings: dict[str, Any] = {}
    raw = attributes.get(ATTR_SETTINGS)
    if isinstance(raw, str) and len(raw) <= MAX_SETTINGS_CHARS:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            settings = parsed
    seen[(name, version_hash)] = (source[:MAX_SOURCE_CHARS], settings)
