"""The refine assistant offered beside the prompt editor (apps.prompts.panels)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from apps.core.web import role_allows, team_url
from apps.prompts.panels import EditorPanel
from apps.teams.models import PERM_EDIT


def refine_editor_panel(request: Any, *, prompt: Any, base: Any) -> EditorPanel | None:
    if not role_allows(request, PERM_EDIT) or base is None or base.kind != "text":
        return None
    query = urlencode({"target": "editor", "version": base.pk})
    return EditorPanel(
        title="Refine assistant",
        url=team_url(request, "playground:refine_panel") + "?" + query,
        script="playground/refine.js",
    )
