"""Panels beside the prompt editor that higher apps provide (the playground's refine
assistant), reached through apps.core.hooks: prompts names the hook and what it expects,
the providing app registers an implementation in its AppConfig.ready()."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apps.core.hooks import hook_implementations

EDITOR_PANELS = "prompts.editor_panels"
# An implementation: (request, *, prompt, base) -> EditorPanel | None


@dataclass(frozen=True)
class EditorPanel:
    title: str
    url: str  # loaded into the page (htmx), and a plain link without JavaScript
    script: str = ""  # a static path the panel needs on the page, if any


def editor_panels(request: Any, *, prompt: Any, base: Any) -> list[EditorPanel]:
    panels = []
    for implementation in hook_implementations(EDITOR_PANELS):
        panel = implementation(request, prompt=prompt, base=base)
        if panel is not None:
            panels.append(panel)
    return panels
